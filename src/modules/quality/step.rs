//! Workflow steps: `quality.score` (score and store, outputs the score) and `quality.gate` (fails
//! the step when the template does not pass). Both take `template_id` or `name`, as
//! `templates.instantiate` does.

use futures::future::BoxFuture;
use serde_json::Value;

use super::service::QualityService;
use crate::platform::steps::{StepContext, StepFailure, StepType};

pub struct ScoreStep(pub QualityService);
pub struct GateStep(pub QualityService);

/// The template's id, looked up by name when the step names it.
async fn template_id(
    service: &QualityService,
    ctx: &StepContext,
    with: &Value,
) -> Result<String, StepFailure> {
    let text = |key: &str| {
        with.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (text("template_id"), text("name")) {
        (Some(id), _) => Ok(id.to_string()),
        (None, Some(name)) => service
            .templates()
            .find_by_name(&ctx.tenant, name)
            .await
            .map(|t| t.id)
            .map_err(StepFailure::from),
        (None, None) => Err(StepFailure::Permanent(
            "`with.template_id` or `with.name` is required".into(),
        )),
    }
}

fn check_with(with: &Value, allow_min: bool) -> Result<(), String> {
    let obj = with.as_object().ok_or("`with` must be an object")?;
    if !obj.contains_key("template_id") && !obj.contains_key("name") {
        return Err("`with.template_id` or `with.name` is required".into());
    }
    for key in obj.keys() {
        let known = key == "template_id" || key == "name" || (allow_min && key == "min_score");
        if !known {
            return Err(format!("unknown field `with.{key}`"));
        }
    }
    if allow_min
        && let Some(v) = obj.get("min_score")
        && !(v.is_u64() && v.as_u64().is_some_and(|n| n <= 100)
            || v.as_str().is_some_and(|s| s.contains("${{")))
    {
        return Err("`with.min_score` must be a number from 0 to 100".into());
    }
    Ok(())
}

impl StepType for ScoreStep {
    fn name(&self) -> &'static str {
        "quality.score"
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        check_with(with, false)
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let id = template_id(&service, &ctx, &with).await?;
            let scored = service
                .score(&ctx.actor, &id)
                .await
                .map_err(StepFailure::from)?;
            serde_json::to_value(scored).map_err(|e| StepFailure::Permanent(e.to_string()))
        })
    }
}

impl StepType for GateStep {
    fn name(&self) -> &'static str {
        "quality.gate"
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        check_with(with, true)
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let id = template_id(&service, &ctx, &with).await?;
            let min = with
                .get("min_score")
                .and_then(Value::as_u64)
                .map(|n| n as u32)
                .unwrap_or(service.settings().min_score);
            let scored = service
                .score(&ctx.actor, &id)
                .await
                .map_err(StepFailure::from)?;
            if !scored.passed || scored.quality_score < min {
                return Err(StepFailure::Permanent(format!(
                    "quality gate failed: {} scores {} (needs {min}{}); {}",
                    id,
                    scored.quality_score,
                    if scored.passed {
                        ""
                    } else {
                        " and no failed check"
                    },
                    scored.recommendations.join(" ")
                )));
            }
            Ok(serde_json::json!({
                "template_id": id,
                "quality_score": scored.quality_score,
                "passed": true,
                "min_score": min,
                "commit": scored.commit,
            }))
        })
    }
}

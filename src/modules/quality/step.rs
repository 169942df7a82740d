//! Workflow steps: `quality.score` (score and store, outputs the score) and `quality.gate` (fails
//! the step when the template does not pass). Both take `template_id` or `name`, as
//! `templates.instantiate` does.

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::service::QualityService;
use crate::platform::steps::{OrExpr, StepContext, StepFailure, StepType, parse_with, resolved};

pub struct ScoreStep(pub QualityService);
pub struct GateStep(pub QualityService);

/// Both steps' `with:`, read when the definition is saved and when the step runs (`min_score`
/// is the gate's only).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityWith {
    #[serde(default)]
    template_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    min_score: Option<OrExpr<u32>>,
}

impl QualityWith {
    fn parse(with: &Value, allow_min: bool) -> Result<Self, String> {
        let w: QualityWith = parse_with(with)?;
        let given = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        if !given(&w.template_id) && !given(&w.name) {
            return Err("`with.template_id` or `with.name` is required".into());
        }
        match &w.min_score {
            Some(_) if !allow_min => {
                Err("unknown field `min_score`, expected `template_id` or `name`".into())
            }
            Some(OrExpr::Value(n)) if *n > 100 => {
                Err("`with.min_score` must be a number from 0 to 100".into())
            }
            _ => Ok(w),
        }
    }

    /// The template's id, looked up by name when the step names it.
    async fn template_id(
        &self,
        service: &QualityService,
        ctx: &StepContext,
    ) -> Result<String, StepFailure> {
        match (&self.template_id, &self.name) {
            (Some(id), _) if !id.is_empty() => Ok(id.clone()),
            (_, Some(name)) => service
                .templates()
                .find_by_name(&ctx.tenant, name)
                .await
                .map(|t| t.id)
                .map_err(StepFailure::from),
            _ => Err(StepFailure::Permanent(
                "`with.template_id` or `with.name` is required".into(),
            )),
        }
    }
}

impl StepType for ScoreStep {
    fn name(&self) -> &'static str {
        "quality.score"
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        QualityWith::parse(with, false).map(|_| ())
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let with = QualityWith::parse(&with, false).map_err(StepFailure::Permanent)?;
            let id = with.template_id(&service, &ctx).await?;
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
        QualityWith::parse(with, true).map(|_| ())
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let with = QualityWith::parse(&with, true).map_err(StepFailure::Permanent)?;
            let id = with.template_id(&service, &ctx).await?;
            let min =
                resolved(with.min_score, "min_score")?.unwrap_or(service.settings().min_score);
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

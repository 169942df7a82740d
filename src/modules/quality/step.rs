//! Workflow steps: `quality.score` (score and store, outputs the score) and `quality.gate` (fails
//! the step when the template does not pass). Both take `template_id` or `name`, as
//! `templates.instantiate` does.

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::service::QualityService;
use crate::platform::steps::{OrExpr, StepContext, StepFailure, StepType, parse_with, resolved};

/// `quality.score`, or `quality.gate` when `gate` is set: both score the template the same way;
/// the gate then fails the step below its minimum.
pub struct QualityStep {
    pub service: QualityService,
    pub gate: bool,
}

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

impl StepType for QualityStep {
    fn name(&self) -> &'static str {
        if self.gate {
            "quality.gate"
        } else {
            "quality.score"
        }
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        QualityWith::parse(with, self.gate).map(|_| ())
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let (service, gate) = (self.service.clone(), self.gate);
        Box::pin(async move {
            let with = QualityWith::parse(&with, gate).map_err(StepFailure::Permanent)?;
            let id = with.template_id(&service, &ctx).await?;
            let min = if gate {
                resolved(with.min_score, "min_score")?.unwrap_or(service.settings().min_score)
            } else {
                0
            };
            let scored = service
                .score(&ctx.actor, &id)
                .await
                .map_err(StepFailure::from)?;
            if !gate {
                return serde_json::to_value(scored)
                    .map_err(|e| StepFailure::Permanent(e.to_string()));
            }
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

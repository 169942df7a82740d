//! Workflow step types of the healing module:
//! - `healing.analyze` — `with: {report_id}` → runs every strategy on each failure the report
//!   stored → `{report_id, failures, chosen_id, chosen: [...], proposals: [...]}` (`chosen_id`:
//!   the first failure's chosen proposal, or null; a failure that already
//!   has proposals keeps them, so a retried step does not propose twice);
//! - `healing.apply` — `with: {healing_id, approve_risk?, owner?, expires_in?}` → applies the
//!   proposal → the healing (already applied by an earlier attempt: returned as it is).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{ApplyRequest, HealRequest, HealingView};
use super::service::HealingService;
use crate::platform::steps::{
    OrExpr, StepContext, StepFailure, StepRegistry, StepType, TypedStep, parse_with, resolved,
};

pub fn register(steps: &StepRegistry, service: &HealingService) {
    steps.register(Arc::new(Analyze(service.clone())));
    steps.register(Arc::new(Apply(service.clone())));
}

/// `healing.analyze`'s `with:`, read when the definition is saved and when the step runs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzeWith {
    /// The id POST /api/v1/healing/reports returned.
    report_id: String,
}

struct Analyze(HealingService);

impl StepType for Analyze {
    fn name(&self) -> &'static str {
        "healing.analyze"
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        parse_with::<AnalyzeWith>(with).map(|_| ()).map_err(|e| {
            format!("{e} (`report_id` is the id POST /api/v1/healing/reports returned)")
        })
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let w: AnalyzeWith = parse_with(&with).map_err(StepFailure::Permanent)?;
            let failures = service
                .failure_ids_of_report(&ctx.tenant, &w.report_id)
                .await?;
            let mut proposals: Vec<HealingView> = Vec::new();
            let actor = ctx.actor.display_name();
            for failure_id in &failures {
                let existing = service.latest_proposals(&ctx.tenant, failure_id).await?;
                if !existing.is_empty() {
                    proposals.extend(existing);
                    continue;
                }
                let healed = service
                    .heal(&ctx.tenant, &actor, failure_id, HealRequest::default())
                    .await?;
                proposals.extend(healed.proposals);
            }
            let chosen: Vec<&HealingView> = proposals.iter().filter(|p| p.chosen).collect();
            Ok(json!({
                "report_id": w.report_id,
                "failures": failures.len(),
                // The first failure's chosen proposal, for a following `healing.apply`.
                "chosen_id": chosen.first().map(|p| p.id.clone()),
                "chosen": chosen,
                "proposals": proposals,
            }))
        })
    }
}

/// `healing.apply`'s `with:`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyWith {
    healing_id: String,
    #[serde(default)]
    approve_risk: Option<OrExpr<bool>>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    expires_in: Option<String>,
}

struct Apply(HealingService);

impl TypedStep for Apply {
    type With = ApplyWith;

    fn name(&self) -> &'static str {
        "healing.apply"
    }

    fn run_with(
        &self,
        ctx: StepContext,
        w: ApplyWith,
    ) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let approve_risk = resolved(w.approve_risk, "approve_risk")?.unwrap_or(false);
            let current = service.healing(&ctx.tenant, &w.healing_id).await?;
            // A retried step whose first attempt applied it.
            if current.status == "applied"
                && current.decided_by.as_deref() == Some(ctx.actor.display_name().as_str())
            {
                return Ok(serde_json::to_value(current).unwrap_or(Value::Null));
            }
            let applied = service
                .apply(
                    &ctx.actor,
                    &w.healing_id,
                    ApplyRequest {
                        approve_risk,
                        owner: w.owner,
                        expires_in: w.expires_in,
                    },
                )
                .await?;
            Ok(serde_json::to_value(applied).unwrap_or(Value::Null))
        })
    }
}

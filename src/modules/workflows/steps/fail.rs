use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::platform::steps::{OrExpr, StepContext, StepFailure, TypedStep};

/// `fail`'s `with:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailWith {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    retryable: Option<bool>,
    #[serde(default)]
    attempts: Option<OrExpr<u64>>,
}

/// Fails, for tests and demos: `message` (default "step failed on purpose"), `retryable`
/// (default true) and `attempts` (fail only the first N attempts, then succeed; default: always).
pub struct Fail;

impl TypedStep for Fail {
    type With = FailWith;

    fn name(&self) -> &'static str {
        "fail"
    }

    fn run_with(
        &self,
        ctx: StepContext,
        with: FailWith,
    ) -> BoxFuture<'static, Result<Value, StepFailure>> {
        Box::pin(async move {
            if let Some(n) = &with.attempts {
                let n = *n.resolved("attempts").map_err(StepFailure::Permanent)?;
                if u64::from(ctx.attempt) > n {
                    return Ok(json!({"succeeded_on_attempt": ctx.attempt}));
                }
            }
            let message = format!(
                "{} (attempt {})",
                with.message.as_deref().unwrap_or("step failed on purpose"),
                ctx.attempt
            );
            Err(if with.retryable.unwrap_or(true) {
                StepFailure::Retryable(message)
            } else {
                StepFailure::Permanent(message)
            })
        })
    }
}

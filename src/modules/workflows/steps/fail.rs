use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::platform::steps::{StepContext, StepFailure, StepType};

/// Fails, for tests and demos: `message` (default "step failed on purpose"), `retryable`
/// (default true) and `attempts` (fail only the first N attempts, then succeed; default: always).
pub struct Fail;

impl StepType for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        match with.get("message") {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err("`message` must be a string".into()),
        }
        match with.get("retryable") {
            None | Some(Value::Bool(_)) => {}
            Some(_) => return Err("`retryable` must be true or false".into()),
        }
        match with.get("attempts") {
            None => Ok(()),
            Some(v) if v.as_u64().is_some() => Ok(()),
            Some(Value::String(s)) if s.contains("${{") => Ok(()),
            Some(_) => Err("`attempts` must be a non-negative integer".into()),
        }
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        Box::pin(async move {
            let message = with
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("step failed on purpose")
                .to_string();
            if let Some(n) = with.get("attempts").and_then(Value::as_u64)
                && u64::from(ctx.attempt) > n
            {
                return Ok(json!({"succeeded_on_attempt": ctx.attempt}));
            }
            let retryable = with
                .get("retryable")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let message = format!("{message} (attempt {})", ctx.attempt);
            Err(if retryable {
                StepFailure::Retryable(message)
            } else {
                StepFailure::Permanent(message)
            })
        })
    }
}

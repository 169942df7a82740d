use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::platform::steps::{StepContext, StepFailure, StepType};

pub const NOOP: &str = "noop";
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// Does nothing, optionally for a while (`sleep: 200ms`), and returns `outputs` as given. With
/// `effect: true` the engine records the step's effect, keyed by (run, step), in the same
/// transaction that commits the step: benchmarks and crash tests count executions with it.
pub struct Noop;

impl StepType for Noop {
    fn name(&self) -> &'static str {
        NOOP
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        super::check_duration(with, "sleep", MAX_SLEEP)?;
        match with.get("outputs") {
            None | Some(Value::Object(_)) => {}
            Some(Value::String(s)) if s.contains("${{") => {}
            Some(_) => return Err("`outputs` must be an object".into()),
        }
        match with.get("effect") {
            None | Some(Value::Bool(_)) => Ok(()),
            Some(Value::String(s)) if s.contains("${{") => Ok(()),
            Some(_) => Err("`effect` must be true or false".into()),
        }
    }

    fn run(
        &self,
        _ctx: StepContext,
        with: Value,
    ) -> BoxFuture<'static, Result<Value, StepFailure>> {
        Box::pin(async move {
            let sleep = super::duration_of(&with, "sleep").map_err(StepFailure::Permanent)?;
            if let Some(d) = sleep {
                tokio::time::sleep(d.min(MAX_SLEEP)).await;
            }
            let mut out = match with.get("outputs") {
                Some(Value::Object(map)) => map.clone(),
                _ => serde_json::Map::new(),
            };
            if with.get("effect").and_then(Value::as_bool) == Some(true) {
                out.insert("effect".into(), json!(true));
            }
            Ok(Value::Object(out))
        })
    }
}

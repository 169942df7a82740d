use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::HumanDuration;
use crate::platform::steps::{OrExpr, StepContext, StepFailure, TypedStep};

pub const NOOP: &str = "noop";
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// `noop`'s `with:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoopWith {
    /// Do nothing for this long first (at most an hour).
    #[serde(default)]
    sleep: Option<OrExpr<HumanDuration>>,
    /// Returned as the step's outputs.
    #[serde(default)]
    outputs: Option<OrExpr<Map<String, Value>>>,
    /// Record the step's effect, keyed by (run, step).
    #[serde(default)]
    effect: Option<OrExpr<bool>>,
}

/// Does nothing, optionally for a while (`sleep: 200ms`), and returns `outputs` as given. With
/// `effect: true` the engine records the step's effect, keyed by (run, step), in the same
/// transaction that commits the step: benchmarks and crash tests count executions with it.
pub struct Noop;

impl TypedStep for Noop {
    type With = NoopWith;

    fn name(&self) -> &'static str {
        NOOP
    }

    fn check(&self, with: &NoopWith) -> Result<(), String> {
        super::check_max("sleep", with.sleep.as_ref(), MAX_SLEEP)
    }

    fn run_with(
        &self,
        _ctx: StepContext,
        with: NoopWith,
    ) -> BoxFuture<'static, Result<Value, StepFailure>> {
        Box::pin(async move {
            if let Some(sleep) = &with.sleep {
                let d = sleep.resolved("sleep").map_err(StepFailure::Permanent)?;
                tokio::time::sleep(d.get().min(MAX_SLEEP)).await;
            }
            let mut out = match &with.outputs {
                Some(outputs) => outputs
                    .resolved("outputs")
                    .map_err(StepFailure::Permanent)?
                    .clone(),
                None => Map::new(),
            };
            if let Some(effect) = &with.effect
                && *effect.resolved("effect").map_err(StepFailure::Permanent)?
            {
                out.insert("effect".into(), json!(true));
            }
            Ok(Value::Object(out))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::steps::StepType;

    #[test]
    fn with_is_typed_and_a_misspelt_parameter_is_refused() {
        assert!(Noop.validate(&json!({})).is_ok());
        assert!(
            Noop.validate(&json!({"sleep": "200ms", "outputs": {"a": 1}, "effect": true}))
                .is_ok()
        );
        assert!(Noop.validate(&json!({"effect": "${{ inputs.e }}"})).is_ok());
        let e = Noop.validate(&json!({"sleeep": "1s"})).unwrap_err();
        assert!(
            e.contains("unknown field `sleeep`") && e.contains("`sleep`"),
            "{e}"
        );
        let e = Noop.validate(&json!({"sleep": "soon"})).unwrap_err();
        assert!(e.contains("`sleep`") && e.contains("not a duration"), "{e}");
        let e = Noop.validate(&json!({"sleep": "2h"})).unwrap_err();
        assert!(e.contains("at most"), "{e}");
        assert!(Noop.validate(&json!({"outputs": [1]})).is_err());
        assert!(Noop.validate(&json!({"effect": "yes"})).is_err());
    }
}

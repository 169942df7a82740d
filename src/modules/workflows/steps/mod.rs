//! Built-in step types registered in the platform's step registry: `noop`, `fail` and
//! `http.request`. (`wait` and `wait_for_event` are implemented by the engine itself, because
//! they wait durably instead of running code.)

mod fail;
mod http;
mod noop;

use std::sync::Arc;
use std::time::Duration;

use crate::config::HumanDuration;
use crate::platform::steps::{OrExpr, StepRegistry};

pub use noop::NOOP;

pub fn register(registry: &StepRegistry) -> anyhow::Result<()> {
    registry.register(Arc::new(noop::Noop));
    registry.register(Arc::new(fail::Fail));
    registry.register(Arc::new(http::HttpRequest::new()?));
    Ok(())
}

/// A duration parameter given as a value must be at most `max` (an expression is checked when
/// it resolves).
fn check_max(
    key: &str,
    value: Option<&OrExpr<HumanDuration>>,
    max: Duration,
) -> Result<(), String> {
    match value {
        Some(OrExpr::Value(d)) if d.get() > max => Err(format!(
            "`{key}` must be at most {}",
            humantime::format_duration(max)
        )),
        _ => Ok(()),
    }
}

//! Built-in step types registered in the platform's step registry: `noop`, `fail` and
//! `http.request`. (`wait` and `wait_for_event` are implemented by the engine itself, because
//! they wait durably instead of running code.)

mod fail;
mod http;
mod noop;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::platform::steps::StepRegistry;

pub use noop::NOOP;

pub fn register(registry: &StepRegistry) -> anyhow::Result<()> {
    registry.register(Arc::new(noop::Noop));
    registry.register(Arc::new(fail::Fail));
    registry.register(Arc::new(http::HttpRequest::new()?));
    Ok(())
}

/// A `with` value that must be a duration (or an expression resolved at run time).
fn check_duration(with: &Value, key: &str, max: Duration) -> Result<(), String> {
    match with.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.contains("${{") => Ok(()),
        Some(Value::String(s)) => match humantime::parse_duration(s.trim()) {
            Ok(d) if d <= max => Ok(()),
            Ok(_) => Err(format!(
                "`{key}` must be at most {}",
                humantime::format_duration(max)
            )),
            Err(e) => Err(format!("`{key}`: `{s}` is not a duration ({e})")),
        },
        Some(_) => Err(format!("`{key}` must be a duration like `2s`")),
    }
}

fn duration_of(with: &Value, key: &str) -> Result<Option<Duration>, String> {
    match with.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => humantime::parse_duration(s.trim())
            .map(Some)
            .map_err(|e| format!("`{key}`: `{s}` is not a duration ({e})")),
        Some(_) => Err(format!("`{key}` must be a duration like `2s`")),
    }
}

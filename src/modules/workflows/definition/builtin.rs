//! The `with:` of the step types the engine implements itself, because they wait durably
//! instead of running code: `wait` (`duration`) and `wait_for_event` (`event`, `timeout`).
//! Read into typed structs once, when the definition is validated.

use std::time::Duration;

use serde::Deserialize;

use crate::config::HumanDuration;
use crate::platform::steps::OrExpr;

/// `wait`: `with: {duration}`; the duration may be an expression, resolved when the step arms.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitWith {
    pub duration: OrExpr<HumanDuration>,
}

/// `wait_for_event`: `with: {event, timeout?}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventWith {
    pub event: String,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

/// A compiled wait.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    Timer(WaitWith),
    /// Waits for `event` at most `timeout` (24 hours unless the step says otherwise).
    Event {
        event: String,
        timeout: Duration,
    },
}

//! What the workflows module tells other modules (in-process bus) and what it takes from the
//! Redis Streams edge.

use crate::platform::bus::Event;

/// A run reached succeeded, failed, cancelled or dead_lettered (published after commit).
#[derive(Debug, Clone)]
pub struct WorkflowRunFinished {
    pub tenant_id: String,
    pub run_id: String,
    pub workflow_id: String,
    pub status: String,
}

impl Event for WorkflowRunFinished {
    const NAME: &'static str = "workflows.run_finished";
}

/// Inbound stream for `wait_for_event`: `<prefix>:streams:workflows:events`, consumer group
/// `maestro-workflow-workers`, fields `tenant_id`, `run_id`, `event`, `payload` (JSON).
pub const EVENTS_STREAM: &str = "workflows:events";
pub const EVENTS_GROUP: &str = "maestro-workflow-workers";

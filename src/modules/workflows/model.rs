//! Run and step statuses, and the request/response DTOs of the API (the database rows are in
//! `store.rs`).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::definition::DefinitionDoc;
use super::store::{AuditRow, DefinitionRow, RunRow, StepRunRow, VersionRow};

// ---------------------------------------------------------------------------------------------
// Statuses

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Paused,
    Succeeded,
    Failed,
    Cancelled,
    DeadLettered,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::DeadLettered => "dead_lettered",
        }
    }

    pub fn parse(raw: &str) -> Option<RunStatus> {
        Some(match raw {
            "pending" => RunStatus::Pending,
            "running" => RunStatus::Running,
            "paused" => RunStatus::Paused,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            "dead_lettered" => RunStatus::DeadLettered,
            _ => return None,
        })
    }

    /// Steps of the run may execute.
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Pending | RunStatus::Running)
    }

    /// Nothing will happen to the run any more (DLQ runs can still be redriven).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Waiting for the steps it needs.
    Pending,
    /// Ready, in the queue.
    Queued,
    Running,
    /// A `wait` or `wait_for_event` step waiting for its time or event.
    Waiting,
    /// Failed; the next attempt is scheduled.
    Retrying,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Queued => "queued",
            StepStatus::Running => "running",
            StepStatus::Waiting => "waiting",
            StepStatus::Retrying => "retrying",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> StepStatus {
        match raw {
            "queued" => StepStatus::Queued,
            "running" => StepStatus::Running,
            "waiting" => StepStatus::Waiting,
            "retrying" => StepStatus::Retrying,
            "succeeded" => StepStatus::Succeeded,
            "failed" => StepStatus::Failed,
            "skipped" => StepStatus::Skipped,
            "cancelled" => StepStatus::Cancelled,
            _ => StepStatus::Pending,
        }
    }

    /// The step will not run again in this run (unless redriven).
    pub fn is_done(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Cancelled
        )
    }

    /// The step still needs the engine (queued, executing, waiting or backing off).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            StepStatus::Queued | StepStatus::Running | StepStatus::Waiting | StepStatus::Retrying
        )
    }
}

// ---------------------------------------------------------------------------------------------
// DTOs

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

fn json_or_null(raw: Option<&str>) -> Value {
    raw.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// A workflow in lists.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkflowSummary {
    pub id: String,
    pub name: String,
    pub latest_version: i64,
    /// New runs start paused and running ones are paused while this is true.
    pub paused: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DefinitionRow> for WorkflowSummary {
    fn from(r: DefinitionRow) -> Self {
        WorkflowSummary {
            id: r.id,
            name: r.name,
            latest_version: r.latest_version,
            paused: r.paused,
            created_by: r.created_by,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    pub version: i64,
    /// sha256 of the canonical definition.
    pub checksum: String,
    pub step_count: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<&VersionRow> for VersionInfo {
    fn from(r: &VersionRow) -> Self {
        VersionInfo {
            version: r.version,
            checksum: r.checksum.clone(),
            step_count: r.step_count,
            created_by: r.created_by.clone(),
            created_at: utc(r.created_at),
        }
    }
}

/// A workflow with the definition of one version and the list of all versions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkflowDetail {
    #[serde(flatten)]
    pub summary: WorkflowSummary,
    /// The version `definition` belongs to.
    pub version: i64,
    pub definition: DefinitionDoc,
    pub versions: Vec<VersionInfo>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// Run inputs, checked against the workflow's input schema.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: serde_json::Map<String, Value>,
    /// Run this version instead of the latest.
    #[serde(default)]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptRecord {
    pub attempt: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    /// `succeeded`, `failed`, `timed_out` or `lost` (the process running it stopped).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The backoff chosen before the next attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepRunView {
    pub id: String,
    pub uses: String,
    pub status: StepStatus,
    pub attempts: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    /// The resolved `with` of the latest attempt.
    #[schema(value_type = Option<Object>)]
    pub inputs: Value,
    #[schema(value_type = Option<Object>)]
    pub outputs: Value,
    pub error: Option<String>,
    /// For `wait` and `wait_for_event`: when the wait ends.
    pub wake_at: Option<DateTime<Utc>>,
    pub attempt_log: Vec<AttemptRecord>,
}

impl From<&StepRunRow> for StepRunView {
    fn from(r: &StepRunRow) -> Self {
        StepRunView {
            id: r.step_id.clone(),
            uses: r.uses.clone(),
            status: r.step_status(),
            attempts: r.attempts,
            started_at: r.started_at.map(utc),
            finished_at: r.finished_at.map(utc),
            duration_ms: match (r.started_at, r.finished_at) {
                (Some(s), Some(f)) if r.step_status().is_done() => {
                    Some((f - s).num_milliseconds().max(0))
                }
                _ => None,
            },
            inputs: json_or_null(r.inputs.as_deref()),
            outputs: json_or_null(r.outputs.as_deref()),
            error: r.error.clone(),
            wake_at: r.wake_at.map(utc),
            attempt_log: r.log(),
        }
    }
}

/// A run with its steps.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub workflow_id: String,
    pub workflow_name: String,
    /// The definition version this run is pinned to.
    pub version: i64,
    pub status: RunStatus,
    /// Why a paused run is paused: `user`, `workflow` or `retries_exhausted`.
    pub pause_reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub inputs: Value,
    #[schema(value_type = Option<Object>)]
    pub outputs: Value,
    pub error: Option<String>,
    pub failed_step: Option<String>,
    pub idempotency_key: Option<String>,
    /// Who started the run (user id or email).
    pub started_by: String,
    /// W3C traceparent of the run's trace.
    pub trace_parent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub steps: Vec<StepRunView>,
}

pub fn actor_name(actor_json: &str) -> String {
    serde_json::from_str::<crate::platform::auth::Principal>(actor_json)
        .map(|p| p.display_name())
        .unwrap_or_else(|_| "unknown".into())
}

impl RunView {
    pub(super) fn new(run: &RunRow, workflow_name: String, mut steps: Vec<StepRunRow>) -> RunView {
        steps.sort_by_key(|s| s.position);
        RunView {
            id: run.id.clone(),
            workflow_id: run.workflow_id.clone(),
            workflow_name,
            version: run.version,
            status: run.run_status(),
            pause_reason: run.pause_reason.clone(),
            inputs: json_or_null(Some(&run.inputs)),
            outputs: json_or_null(run.outputs.as_deref()),
            error: run.error.clone(),
            failed_step: run.failed_step.clone(),
            idempotency_key: run.idempotency_key.clone(),
            started_by: actor_name(&run.actor),
            trace_parent: run.trace_parent.clone(),
            created_at: utc(run.created_at),
            started_at: run.started_at.map(utc),
            finished_at: run.finished_at.map(utc),
            deadline_at: run.deadline_at.map(utc),
            steps: steps.iter().map(StepRunView::from).collect(),
        }
    }
}

/// A run in lists (no steps).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunSummary {
    pub id: String,
    pub workflow_id: String,
    pub version: i64,
    pub status: RunStatus,
    /// A step failed and waits for its next attempt (the run itself is `running`); the list
    /// filter for these runs is `?status=retrying`.
    #[serde(default)]
    pub retrying: bool,
    pub error: Option<String>,
    pub failed_step: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<RunRow> for RunSummary {
    fn from(r: RunRow) -> Self {
        RunSummary {
            status: r.run_status(),
            retrying: false,
            id: r.id,
            workflow_id: r.workflow_id,
            version: r.version,
            error: r.error,
            failed_step: r.failed_step,
            created_at: utc(r.created_at),
            started_at: r.started_at.map(utc),
            finished_at: r.finished_at.map(utc),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only runs of this workflow.
    pub workflow_id: Option<String>,
    /// Only runs in this status; `retrying` is the running runs with a step waiting for its
    /// next attempt.
    pub status: Option<String>,
    /// Only runs created at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only runs created before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DlqQuery {
    /// Only runs of this workflow.
    pub workflow_id: Option<String>,
}

/// A dead-lettered run: what failed, how often, and with which inputs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DlqEntry {
    pub run_id: String,
    pub workflow_id: String,
    pub version: i64,
    pub failed_step: Option<String>,
    pub uses: Option<String>,
    pub error: Option<String>,
    /// Attempts the failed step made.
    pub attempts: i64,
    /// The failed step's resolved inputs (`with`).
    #[schema(value_type = Option<Object>)]
    pub step_inputs: Value,
    /// The run's inputs.
    #[schema(value_type = Object)]
    pub run_inputs: Value,
    pub attempt_log: Vec<AttemptRecord>,
    pub dead_lettered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {
    /// Dead-lettered runs to redrive (at most 1000).
    #[serde(default)]
    pub run_ids: Vec<String>,
    /// Or: every dead-lettered run of this workflow (at most 1000 per call).
    #[serde(default)]
    pub workflow_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RedriveSkip {
    pub run_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RedriveResponse {
    /// Runs restarted from their failed step.
    pub redriven: Vec<String>,
    pub skipped: Vec<RedriveSkip>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventDelivery {
    pub event_id: String,
    pub run_id: String,
    pub event: String,
    /// True when a waiting step received it; false when it is kept until a step waits for it.
    pub delivered: bool,
    pub step_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// e.g. `run.created`, `step.succeeded`, `step.retry_scheduled`, `run.dead_lettered`.
    pub event: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub step_id: Option<String>,
    pub actor: String,
    #[schema(value_type = Option<Object>)]
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            seq: r.seq,
            at: utc(r.at),
            event: r.event,
            from_status: r.from_status,
            to_status: r.to_status,
            step_id: r.step_id,
            actor: r.actor,
            detail: serde_json::from_str(&r.detail).unwrap_or(Value::String(r.detail)),
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditVerification {
    pub run_id: String,
    /// True when every entry's hash matches its content and the previous entry's hash, and the
    /// chain ends at the head recorded on the run.
    pub valid: bool,
    pub entries: i64,
    pub head_hash: String,
    /// The first entry that does not verify.
    pub first_invalid_seq: Option<i64>,
    pub reason: Option<String>,
}

//! `WorkflowsError`: every failure the workflows module answers with, one variant per failure and
//! one code per variant (`workflows.<reason>`, listed in docs/errors.md). `Display` is the
//! problem's `detail` and says what to fix. Generic input problems (a malformed body: 400
//! `request.invalid_json`; run inputs that do not fit the schema: 422 `request.validation_failed`)
//! and role checks (403 `auth.forbidden`) stay the platform's.

use crate::platform::http::error::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowsError {
    /// No such workflow in the caller's tenant (or another tenant's: never confirm it exists).
    #[error("No workflow with this id in your tenant.")]
    NotFound,

    #[error("No workflow run with this id in your tenant.")]
    RunNotFound,

    /// `GET /api/v1/workflows/{id}?version=` names a version that does not exist.
    #[error("Workflow `{name}` has no version {version}; its latest is {latest}.")]
    VersionNotFound {
        name: String,
        version: i64,
        latest: i64,
    },

    /// A run asks for a version that does not exist (the request's `version` is wrong, the
    /// workflow exists: a 422, not the 404 of `VersionNotFound`).
    #[error("Workflow `{name}` has no version {version}; its latest is {latest}.")]
    UnknownRunVersion {
        name: String,
        version: i64,
        latest: i64,
    },

    /// The body is not a readable JSON or YAML object (a 400, apart from `InvalidDefinition`'s 422
    /// for a readable definition whose content is wrong).
    #[error("{0}")]
    DefinitionSyntax(String),

    /// The definition's shape or content is invalid; `errors` names each field (and step).
    #[error("The workflow definition is invalid: {}", .0.first().map(|e| e.message.as_str()).unwrap_or("see `errors`"))]
    InvalidDefinition(Vec<FieldError>),

    /// The version sent is not the next one, or another version was added at the same time.
    #[error("{0}")]
    VersionConflict(String),

    #[error("`Idempotency-Key` must be 1-{max} printable ASCII characters.")]
    InvalidIdempotencyKey { max: usize },

    #[error(
        "This Idempotency-Key was already used with different inputs; use a new key for a \
         different run."
    )]
    IdempotencyKeyReused,

    #[error("The inputs are {size} bytes; at most {max} are accepted.")]
    InputsTooLarge { size: usize, max: usize },

    #[error("The event payload is {size} bytes; at most {max} are accepted.")]
    PayloadTooLarge { size: usize, max: usize },

    #[error(
        "`{0}` is not a run status; use pending, running, retrying, paused, succeeded, failed, \
         cancelled or dead_lettered."
    )]
    InvalidStatus(String),

    #[error("Event names are 1-100 letters, digits, `_`, `-` or `.`.")]
    InvalidEventName,

    /// The run has finished: it cannot be cancelled and takes no more events.
    #[error("{0}")]
    RunFinished(String),

    #[error("The run cannot be paused: it is {status}.")]
    RunNotActive { status: &'static str },

    #[error("The run cannot be resumed: it is {status}, not paused.")]
    RunNotPaused { status: &'static str },

    #[error("The run cannot be redriven: it is {status}, not dead_lettered.")]
    RunNotDeadLettered { status: &'static str },
}

crate::problem_codes! {
    WorkflowsError {
        Self::NotFound => (NOT_FOUND, "workflows.not_found"),
        Self::RunNotFound => (NOT_FOUND, "workflows.run_not_found"),
        Self::VersionNotFound { .. } => (NOT_FOUND, "workflows.version_not_found"),
        Self::UnknownRunVersion { .. } => (UNPROCESSABLE_ENTITY, "workflows.unknown_run_version"),
        Self::DefinitionSyntax(_) => (BAD_REQUEST, "workflows.unreadable_definition"),
        Self::InvalidDefinition(_) => (UNPROCESSABLE_ENTITY, "workflows.invalid_definition"),
        Self::VersionConflict(_) => (CONFLICT, "workflows.version_conflict"),
        Self::InvalidIdempotencyKey { .. } => (BAD_REQUEST, "workflows.invalid_idempotency_key"),
        Self::IdempotencyKeyReused => (UNPROCESSABLE_ENTITY, "workflows.idempotency_key_reused"),
        Self::InputsTooLarge { .. } => (PAYLOAD_TOO_LARGE, "workflows.inputs_too_large"),
        Self::PayloadTooLarge { .. } => (PAYLOAD_TOO_LARGE, "workflows.payload_too_large"),
        Self::InvalidStatus(_) => (BAD_REQUEST, "workflows.invalid_status"),
        Self::InvalidEventName => (BAD_REQUEST, "workflows.invalid_event_name"),
        Self::RunFinished(_) => (CONFLICT, "workflows.run_finished"),
        Self::RunNotActive { .. } => (CONFLICT, "workflows.run_not_active"),
        Self::RunNotPaused { .. } => (CONFLICT, "workflows.run_not_paused"),
        Self::RunNotDeadLettered { .. } => (CONFLICT, "workflows.run_not_dead_lettered"),
    }
    field_errors(self) {
        match self {
            Self::InvalidDefinition(errors) => errors.clone(),
            _ => Vec::new(),
        }
    }
}

//! `K8sError`: every failure the k8s module answers with, one code per variant (`k8s.<reason>`,
//! listed in docs/errors.md). `Display` is the problem's `detail` and says what to fix.

use crate::platform::http::error::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// No cluster is configured or reachable; the detail names the configuration to set.
    #[error("{0}")]
    ClusterUnavailable(String),

    /// The cluster answered a request with an error Maestro cannot act on (it is logged).
    #[error("The Kubernetes API refused the request: {0}")]
    Cluster(String),

    #[error("No environment with this id in your tenant.")]
    NotFound,

    /// The request's fields are invalid; `errors` names each one.
    #[error("The environment is invalid: {}", .0.first().map(|e| format!("{}: {}", e.field, e.message)).unwrap_or_default())]
    InvalidSpec(Vec<FieldError>),

    /// The id was already used (by this tenant) for an environment with a different spec.
    #[error(
        "Environment {0} already exists with a different spec; use a new id for a different environment."
    )]
    IdConflict(String),

    /// The id hashes to the namespace of another environment (rare): pick another id.
    #[error("The namespace {0} is taken by another environment; use another id.")]
    NamespaceTaken(String),

    /// The environment was deleted; it cannot be extended or get jobs.
    #[error("Environment {0} is deleted.")]
    Deleted(String),

    #[error("No job with this id in this environment.")]
    JobNotFound,

    /// The job's pod has not started (or has no log yet); the detail says why.
    #[error("The job has no log yet: {0}")]
    JobNotStarted(String),

    #[error("`{0}` is not a phase; use provisioning, ready, failed, terminating or deleted.")]
    InvalidPhase(String),
}

crate::problem_codes! {
    K8sError {
        Self::ClusterUnavailable(_) => (SERVICE_UNAVAILABLE, "k8s.cluster_unavailable"),
        Self::Cluster(_) => (BAD_GATEWAY, "k8s.cluster_error"),
        Self::NotFound => (NOT_FOUND, "k8s.environment_not_found"),
        Self::InvalidSpec(_) => (UNPROCESSABLE_ENTITY, "k8s.invalid_spec"),
        Self::IdConflict(_) => (CONFLICT, "k8s.id_conflict"),
        Self::NamespaceTaken(_) => (CONFLICT, "k8s.namespace_taken"),
        Self::Deleted(_) => (CONFLICT, "k8s.environment_deleted"),
        Self::InvalidPhase(_) => (BAD_REQUEST, "k8s.invalid_phase"),
        Self::JobNotFound => (NOT_FOUND, "k8s.job_not_found"),
        Self::JobNotStarted(_) => (CONFLICT, "k8s.job_not_started"),
    }
    field_errors(self) {
        match self {
            Self::InvalidSpec(errors) => errors.clone(),
            _ => Vec::new(),
        }
    }
}

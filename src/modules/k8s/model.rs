//! Request and response types of the k8s module's API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What to provision: an app, databases, a lifetime and a quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentRequest {
    /// A client-chosen UUID: creating the same id again returns the same environment.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    #[serde(default)]
    pub app: Option<AppSpec>,
    #[serde(default)]
    pub databases: Vec<DatabaseKind>,
    /// Lifetime from creation, e.g. `30m`, `2h` (default `k8s.default_ttl`, at most
    /// `k8s.max_ttl`).
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub quota: Option<QuotaSpec>,
}

/// The application under test: one Deployment and a Service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub image: String,
    /// The container port (also the Service's port).
    pub port: u16,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Overrides the image's entrypoint.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// An HTTP readiness probe; without it the pod is ready once the port accepts connections.
    #[serde(default)]
    pub readiness: Option<ReadinessSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSpec {
    /// HTTP path answered with 2xx when the app is ready, e.g. `/health`.
    pub path: String,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    Postgres,
    Mysql,
    Mongodb,
    Redis,
}

impl DatabaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Postgres => "postgres",
            DatabaseKind::Mysql => "mysql",
            DatabaseKind::Mongodb => "mongodb",
            DatabaseKind::Redis => "redis",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            DatabaseKind::Postgres => 5432,
            DatabaseKind::Mysql => 3306,
            DatabaseKind::Mongodb => 27017,
            DatabaseKind::Redis => 6379,
        }
    }
}

/// The environment's ResourceQuota (CPU and memory as Kubernetes quantities).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    /// Total CPU limit of all pods, e.g. `4` or `2500m`.
    pub cpu: String,
    /// Total memory limit, e.g. `8Gi`.
    pub memory: String,
    pub pods: u32,
}

/// Where an environment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = EnvironmentPhase)]
pub enum Phase {
    /// Applied; waiting for the databases and the app to become available.
    Provisioning,
    /// Every Deployment is available.
    Ready,
    /// Something will not become ready without a change; `reason` says what.
    Failed,
    /// Deleted; the namespace is being removed.
    Terminating,
    /// The namespace is gone.
    Deleted,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Provisioning => "provisioning",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
            Phase::Terminating => "terminating",
            Phase::Deleted => "deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Phase> {
        Some(match raw {
            "provisioning" => Phase::Provisioning,
            "ready" => Phase::Ready,
            "failed" => Phase::Failed,
            "terminating" => Phase::Terminating,
            "deleted" => Phase::Deleted,
            _ => return None,
        })
    }
}

/// How to reach a service of the environment from inside the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = EnvironmentEndpoint)]
pub struct Endpoint {
    /// `app`, `postgres`, `mysql`, `mongodb` or `redis`.
    pub name: String,
    /// `<service>.<namespace>.svc.cluster.local`
    pub host: String,
    pub port: u16,
    /// Where its credentials are (a Secret key reference; never the values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CredentialsRef {
    pub secret: String,
    pub username_key: String,
    pub password_key: String,
    /// A key holding a ready connection URL.
    pub url_key: String,
}

/// An environment as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentView {
    pub id: String,
    pub namespace: String,
    pub phase: Phase,
    /// Why the phase is `failed` (or what `provisioning` is waiting for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The user who created it.
    pub owner: String,
    pub spec: EnvironmentRequest,
    pub endpoints: Vec<Endpoint>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/environments/{id}/extend`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EnvironmentExtendRequest)]
pub struct ExtendRequest {
    /// The new lifetime counted from now, e.g. `2h` (at most `k8s.max_ttl`).
    pub ttl: String,
}

/// `POST /api/v1/environments/{id}/jobs`: a test Job in the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// A client-chosen UUID: creating the same id again returns the same job.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    pub image: String,
    /// The command to run (needed with `results_path`, which wraps it).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Deadline of the whole Job (`activeDeadlineSeconds`), e.g. `20m` (default
    /// `k8s.job_default_timeout`, at most `k8s.job_max_timeout`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Retries of a failed pod: 0 (default) or 1.
    #[serde(default)]
    pub backoff_limit: Option<i32>,
    /// A JUnit XML file the command writes; its content is streamed out at the end of the log
    /// and handed to the healing module when it is on.
    #[serde(default)]
    pub results_path: Option<String>,
    /// The project the tests belong to (healing keeps history per project; default `default`).
    #[serde(default)]
    pub project: Option<String>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = EnvironmentJobStatus)]
pub enum JobStatus {
    /// Created; no pod runs yet.
    Pending,
    Running,
    /// It cannot start: quota, Pod Security or scheduling; `reason` says which.
    Blocked,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Blocked => "blocked",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<JobStatus> {
        Some(match raw {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "blocked" => JobStatus::Blocked,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// The JUnit results of a finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobResults {
    /// Bytes of JUnit XML collected.
    pub bytes: usize,
    /// `ingested` (handed to the healing module), `healing_off`, or `rejected: …`.
    pub healing: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub environment_id: String,
    /// The Kubernetes Job's name in the environment's namespace.
    pub name: String,
    pub status: JobStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub spec: JobRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<JobResults>,
    /// The log is stored (bounded by `k8s.max_log_bytes`, keeping its end) once the job ends.
    pub log_stored: bool,
    pub log_truncated: bool,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// What `render` returns (as YAML): the manifests in apply order, as a `v1` `List`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenderedManifests {
    /// `v1`
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `List`
    pub kind: String,
    /// Namespace, LimitRange, ResourceQuota, NetworkPolicy, Secret, then a Deployment and a
    /// Service per database and for the app.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

//! How test results produced by one module (the k8s module's test Jobs) reach the module that
//! analyses them (healing) in-process, without either importing the other's types: the healing
//! module registers a [`TestResults`] in the service registry; a producer looks it up and treats
//! `None` as "healing is off".

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::platform::auth::TenantId;
use crate::platform::http::error::ApiResult;

/// JUnit XML reports of one test run, with where they came from.
#[derive(Debug, Clone)]
pub struct JunitUpload {
    pub tenant: TenantId,
    /// The project the tests belong to (history and quarantine are per project).
    pub project: String,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    /// The CI run (or Maestro environment/job) the reports came from.
    pub ci_run_id: Option<String>,
    /// 1 for the first attempt of that run.
    pub attempt: u32,
    /// Who produced them, e.g. `k8s`.
    pub source: &'static str,
    /// (file name, XML bytes); a name is used in error messages.
    pub files: Vec<(String, Vec<u8>)>,
}

/// What the receiver stored.
#[derive(Debug, Clone)]
pub struct JunitIngested {
    pub report_id: String,
    pub tests: u64,
    pub failures: u64,
}

pub trait TestResultsSink: Send + Sync + 'static {
    fn ingest(&self, upload: JunitUpload) -> BoxFuture<'static, ApiResult<JunitIngested>>;
}

/// The registered receiver (`platform.services.get::<TestResults>()`).
#[derive(Clone)]
pub struct TestResults(pub Arc<dyn TestResultsSink>);

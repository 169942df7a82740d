//! Workflow step types of the k8s module:
//! - `k8s.provision` — `with:` an environment request (`app`, `databases`, `ttl`, `quota`) and
//!   `wait_ready` (default true) → `{environment_id, namespace, phase, endpoints}`;
//! - `k8s.run_job` — `with: {environment_id, image, command?, env?, timeout?, backoff_limit?,
//!   results_path?, project?}` → waits for the end → `{job_id, status, exit_code, results}`;
//! - `k8s.teardown` — `with: {environment_id}` → `{phase}`.
//!
//! Ids derive from the run and step, so a retried step finds what its earlier attempt created.
//! Whatever the run's outcome (succeeded, failed, cancelled, dead-lettered), the environments it
//! provisioned are deleted when it ends (`WorkflowRunFinished` on the bus; see `mod.rs`).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::{EnvironmentRequest, JobRequest, JobStatus, Phase};
use super::service::K8sService;
use crate::platform::steps::{OrExpr, StepContext, StepFailure, StepRegistry, TypedStep, resolved};

/// How often a waiting step looks again (the runner and the status reads do the real work).
const POLL: Duration = Duration::from_secs(1);

pub fn register(steps: &StepRegistry, service: &K8sService) {
    steps.register(Arc::new(Provision(service.clone())));
    steps.register(Arc::new(RunJob(service.clone())));
    steps.register(Arc::new(Teardown(service.clone())));
}

/// A UUID fixed by the run and step (and what it is for).
fn derived_id(ctx: &StepContext, what: &str) -> uuid::Uuid {
    let digest =
        Sha256::digest(format!("{}/{}/{}/{what}", ctx.tenant, ctx.run_id, ctx.step_id).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The request's fields without `id` (the step derives it), and whether to wait until ready.
/// Read when the definition is saved and when the step runs; a field that is not a string may
/// be given whole as a `${{ … }}` expression.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvisionWith {
    #[serde(default)]
    wait_ready: Option<OrExpr<bool>>,
    #[serde(default)]
    app: Option<OrExpr<super::model::AppSpec>>,
    #[serde(default)]
    databases: Option<OrExpr<Vec<super::model::DatabaseKind>>>,
    #[serde(default)]
    ttl: Option<String>,
    #[serde(default)]
    quota: Option<OrExpr<super::model::QuotaSpec>>,
}

struct Provision(K8sService);

impl TypedStep for Provision {
    type With = ProvisionWith;

    fn name(&self) -> &'static str {
        "k8s.provision"
    }

    fn run_with(
        &self,
        ctx: StepContext,
        with: ProvisionWith,
    ) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let wait_ready = resolved(with.wait_ready, "wait_ready")?.unwrap_or(true);
            let request = EnvironmentRequest {
                id: Some(derived_id(&ctx, "environment")),
                app: resolved(with.app, "app")?,
                databases: resolved(with.databases, "databases")?.unwrap_or_default(),
                ttl: with.ttl,
                quota: resolved(with.quota, "quota")?,
            };
            let created = service
                .create(&ctx.actor, request, Some(&ctx.run_id))
                .await?;
            let mut view = created.view;
            while wait_ready && view.phase == Phase::Provisioning {
                tokio::time::sleep(POLL).await;
                view = service.get(&ctx.tenant, &view.id).await?;
            }
            if matches!(
                view.phase,
                Phase::Failed | Phase::Terminating | Phase::Deleted
            ) {
                return Err(StepFailure::Permanent(format!(
                    "environment {} is {}: {}",
                    view.id,
                    view.phase.as_str(),
                    view.reason.unwrap_or_default()
                )));
            }
            Ok(json!({
                "environment_id": view.id,
                "namespace": view.namespace,
                "phase": view.phase,
                "endpoints": view.endpoints,
            }))
        })
    }
}

/// `k8s.run_job`'s `with:` (the job request without `id`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunJobWith {
    environment_id: String,
    image: String,
    #[serde(default)]
    command: Option<OrExpr<Vec<String>>>,
    #[serde(default)]
    env: Option<OrExpr<std::collections::BTreeMap<String, String>>>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    backoff_limit: Option<OrExpr<i32>>,
    #[serde(default)]
    results_path: Option<String>,
    #[serde(default)]
    project: Option<String>,
}

struct RunJob(K8sService);

impl TypedStep for RunJob {
    type With = RunJobWith;

    fn name(&self) -> &'static str {
        "k8s.run_job"
    }

    fn run_with(
        &self,
        ctx: StepContext,
        w: RunJobWith,
    ) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let request = JobRequest {
                id: Some(derived_id(&ctx, "job")),
                image: w.image,
                command: resolved(w.command, "command")?,
                env: resolved(w.env, "env")?.unwrap_or_default(),
                timeout: w.timeout,
                backoff_limit: resolved(w.backoff_limit, "backoff_limit")?,
                results_path: w.results_path,
                project: w.project,
            };
            let (mut job, _) = service
                .create_job(&ctx.actor, &w.environment_id, request)
                .await?;
            while !job.status.is_terminal() {
                tokio::time::sleep(POLL).await;
                job = service
                    .get_job(&ctx.tenant, &w.environment_id, &job.id)
                    .await?;
            }
            if job.status == JobStatus::Failed {
                return Err(StepFailure::Permanent(format!(
                    "job {} failed (exit code {}): {}",
                    job.id,
                    job.exit_code.map_or("none".to_string(), |c| c.to_string()),
                    job.reason.unwrap_or_default()
                )));
            }
            Ok(json!({
                "job_id": job.id,
                "status": job.status,
                "exit_code": job.exit_code,
                "results": job.results,
            }))
        })
    }
}

/// `k8s.teardown`'s `with:`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeardownWith {
    environment_id: String,
}

struct Teardown(K8sService);

impl TypedStep for Teardown {
    type With = TeardownWith;

    fn name(&self) -> &'static str {
        "k8s.teardown"
    }

    fn run_with(
        &self,
        ctx: StepContext,
        w: TeardownWith,
    ) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.0.clone();
        Box::pin(async move {
            let view = service.delete(&ctx.tenant, &w.environment_id).await?;
            Ok(json!({"environment_id": view.id, "phase": view.phase}))
        })
    }
}

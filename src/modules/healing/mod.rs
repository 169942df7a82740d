//! The healing module (CARS): ingest test results (JUnit XML in every common dialect, or JSON),
//! keep each test's history under a normalised identity, and serve failures with their
//! evidence. Other modules reach ingest in-process through the platform's
//! [`TestResults`] seam, registered here.

mod archive;
pub mod classify;
pub mod error;
pub mod eval;
pub mod junit;
pub mod model;
mod repo;
mod routes;
mod schema;
pub mod service;
pub mod settings;
mod steps;
mod store;
pub mod strategies;
mod stream;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::platform::Platform;
use crate::platform::auth::TenantId;
use crate::platform::edge::StreamHandler;
use crate::platform::http::error::ApiResult;
use crate::platform::module::{BackgroundTask, Module};
use crate::platform::sealed::log_sealing_pass;
use crate::platform::test_results::{JunitIngested, JunitUpload, TestResults, TestResultsSink};

pub use service::HealingService;
pub use store::{FailureFilter, HealingFilter};

pub struct HealingModule {
    service: HealingService,
    auth: crate::platform::auth::AuthService,
}

/// In-process producers (the k8s module's test Jobs) hand their reports to ingest here.
struct Sink(HealingService);

impl TestResultsSink for Sink {
    fn ingest(&self, upload: JunitUpload) -> BoxFuture<'static, ApiResult<JunitIngested>> {
        let service = self.0.clone();
        Box::pin(async move {
            let tenant = upload.tenant.clone();
            let stored = service
                .ingest(
                    &tenant,
                    service::Upload {
                        project: upload.project,
                        commit_sha: upload.commit_sha,
                        branch: upload.branch,
                        ci_run_id: upload.ci_run_id,
                        attempt: Some(upload.attempt.max(1)),
                        framework: None,
                        source: upload.source.to_string(),
                        files: upload.files,
                        cases: Vec::new(),
                    },
                )
                .await?;
            Ok(JunitIngested {
                report_id: stored.report_id,
                tests: stored.counts.tests as u64,
                failures: (stored.counts.failed + stored.counts.errors) as u64,
            })
        })
    }
}

pub fn build(platform: &Platform) -> anyhow::Result<Arc<dyn Module>> {
    let service = HealingService::new(platform);
    platform.services.insert(service.clone());
    platform
        .services
        .insert(TestResults(Arc::new(Sink(service.clone()))));
    steps::register(&platform.steps, &service);
    Ok(Arc::new(HealingModule {
        service,
        auth: platform.auth.clone(),
    }))
}

impl Module for HealingModule {
    fn name(&self) -> &'static str {
        "healing"
    }

    fn configure(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
        routes::configure(cfg, self.service.clone());
    }

    fn description(&self) -> Option<&'static str> {
        Some(
            "Test results (JUnit XML in every common dialect, or JSON), failures with their evidence, test history, flaky tests and quarantine, seven deterministic healing strategies with their proposals (abstentions included), registered repositories for patches, verified heal figures",
        )
    }

    /// At start: seal repository secrets stored in the clear. Every
    /// `healing.revert_check_interval`: applied patch heals whose commit is gone become false heals.
    fn tasks(&self) -> Vec<BackgroundTask> {
        let service = self.service.clone();
        let sealing = self.service.clone();
        let seal = BackgroundTask::new("healing-seal-secrets", move |_cancel| {
            Box::pin(async move {
                log_sealing_pass("repository secrets", sealing.seal_stored_secrets().await);
                Ok(())
            })
        });
        let revert_check = BackgroundTask::new("healing-revert-check", move |cancel| {
            Box::pin(async move {
                let every = service.settings().revert_check_interval.get();
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(every) => {}
                    }
                    match service.check_reverted().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(heals = n, "heal commits gone: marked false heals"),
                        Err(e) => tracing::debug!(error = ?e, "revert check failed"),
                    }
                }
            })
        });
        vec![seal, revert_check]
    }

    /// `automation:errors` (group `maestro-automation-workers`): a failure in, proposals out.
    fn stream_handlers(&self) -> Vec<StreamHandler> {
        vec![stream::handler(self.service.clone(), self.auth.clone())]
    }

    fn stats(&self, tenant: TenantId) -> BoxFuture<'_, ApiResult<Value>> {
        Box::pin(async move { self.service.admin_stats(&tenant).await })
    }

    fn collect_metrics(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.service.collect_metrics())
    }
}

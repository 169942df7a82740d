//! The k8s module: ephemeral Kubernetes environments for test runs. An environment is a
//! namespace `maestro-<id>` with a LimitRange, a ResourceQuota, a NetworkPolicy and a Pod
//! Security label, its databases (PostgreSQL, MySQL, MongoDB, Redis; random credentials in a
//! Secret) and the app under test, applied by server-side apply (field manager `maestro`).
//! Expiry lives on the namespace (`maestro.io/expires-at`). Without a cluster the module stays
//! mounted and answers 503 naming the missing configuration; `render` works without one. The
//! TTL reaper (`reaper.rs`) deletes expired namespaces, reading the expiry from the cluster.

mod cluster;
mod error;
pub mod manifests;
pub mod model;
mod reaper;
mod routes;
mod schema;
mod service;
pub mod settings;
mod steps;
mod store;
mod stream;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::modules::workflows::events::WorkflowRunFinished;
use crate::platform::Platform;
use crate::platform::edge::StreamHandler;
use crate::platform::health::DependencyCheck;
use crate::platform::module::{BackgroundTask, Module};

pub use cluster::Cluster;
pub use error::K8sError;
pub use service::{JobLog, K8sService, ListFilter, render};

pub struct K8sModule {
    service: K8sService,
    reaper: reaper::Reaper,
    bus: crate::platform::bus::Bus,
    auth: crate::platform::auth::AuthService,
}

/// Builds the module; the cluster is looked up on first use (so a start without one is fine).
pub fn build(platform: &Platform) -> anyhow::Result<Arc<dyn Module>> {
    let settings = Arc::new(platform.settings.k8s.clone());
    let cluster = Cluster::new(settings.clone());
    Ok(build_with(platform, cluster))
}

/// The module over a given cluster handle (tests pass an in-process fake).
pub fn build_with(platform: &Platform, cluster: Cluster) -> Arc<dyn Module> {
    let settings = Arc::new(platform.settings.k8s.clone());
    let mut reaper = reaper::Reaper {
        db: platform.db.clone(),
        cluster: cluster.clone(),
        settings: settings.clone(),
        holder: uuid::Uuid::new_v4().to_string(),
        service: None,
    };
    let service = K8sService::new(
        platform.db.clone(),
        cluster,
        settings,
        platform.services.clone(),
        platform.edge.clone(),
    );
    platform.services.insert(service.clone());
    reaper.service = Some(service.clone());
    steps::register(&platform.steps, &service);
    Arc::new(K8sModule {
        service,
        reaper,
        bus: platform.bus.clone(),
        auth: platform.auth.clone(),
    })
}

impl K8sModule {
    async fn check(&self) -> DependencyCheck {
        match self.service.cluster().unavailable_reason().await {
            None => DependencyCheck {
                status: "up".into(),
                detail: None,
            },
            Some(reason) => DependencyCheck {
                status: "down".into(),
                detail: Some(reason),
            },
        }
    }
}

impl Module for K8sModule {
    fn name(&self) -> &'static str {
        "k8s"
    }

    fn configure(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
        routes::configure(cfg, self.service.clone());
    }

    fn description(&self) -> Option<&'static str> {
        Some(
            "Ephemeral Kubernetes environments: namespaces with quotas, limits, network isolation and Pod Security; databases with generated credentials; the app under test; expiry; manifests rendered without a cluster",
        )
    }

    /// `k8s`: `connected`, or `unavailable` with `k8s_detail` saying what to configure (the
    /// module does not make Maestro unhealthy).
    fn health(&self) -> BoxFuture<'_, Map<String, Value>> {
        Box::pin(async move {
            let check = self.check().await;
            let mut map = Map::new();
            let connected = check.status == "up";
            map.insert(
                "k8s".into(),
                if connected {
                    "connected"
                } else {
                    "unavailable"
                }
                .into(),
            );
            if let Some(detail) = check.detail {
                map.insert("k8s_detail".into(), detail.into());
            }
            map
        })
    }

    fn tasks(&self) -> Vec<BackgroundTask> {
        let reaper = self.reaper.clone();
        let service = self.service.clone();
        let teardown = self.service.clone();
        let refresher = self.service.clone();
        let bus = self.bus.clone();
        vec![
            BackgroundTask::new("k8s-reaper", move |cancel| Box::pin(reaper.run(cancel))),
            // A run that provisioned environments tears them down when it ends, whatever the
            // outcome (succeeded, failed, cancelled, dead-lettered).
            BackgroundTask::new("k8s-run-teardown", move |cancel| {
                bus.handler_loop::<WorkflowRunFinished, _>("k8s-run-teardown", cancel, move |event| {
                    let service = teardown.clone();
                    Box::pin(async move {
                        let tenant = crate::platform::auth::TenantId(event.tenant_id.clone());
                        let n = service
                            .teardown_run(&tenant, &event.run_id)
                            .await
                            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                        if n > 0 {
                            tracing::info!(run_id = %event.run_id, environments = n, status = %event.status, "tore down the run's environments");
                        }
                        Ok(())
                    })
                })
            }),
            BackgroundTask::new("k8s-status", move |cancel| {
                Box::pin(async move {
                    loop {
                        tokio::select! {
                            _ = cancel.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(refresher.settings().status_interval()) => {}
                        }
                        if refresher.cluster().unavailable_reason().await.is_none()
                            && let Err(e) = refresher.refresh_round(100).await
                        {
                            tracing::debug!(error = ?e, "environment status refresh failed");
                        }
                    }
                })
            }),
            BackgroundTask::new("k8s-jobs", move |cancel| {
                Box::pin(async move {
                    // Unfinished jobs are followed again (their watch re-lists).
                    match service.resume_jobs().await {
                        Ok(n) if n > 0 => {
                            tracing::info!(jobs = n, "following unfinished k8s jobs again")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = ?e, "could not resume k8s jobs"),
                    }
                    cancel.cancelled().await;
                    service.stop();
                    Ok(())
                })
            }),
        ]
    }

    fn stream_handlers(&self) -> Vec<StreamHandler> {
        vec![stream::handler(self.service.clone(), self.auth.clone())]
    }

    fn readiness(&self) -> BoxFuture<'_, Option<DependencyCheck>> {
        Box::pin(async move { Some(self.check().await) })
    }
}

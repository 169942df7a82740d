//! The workflows module: a durable workflow engine. Definitions are versioned DAGs of steps
//! (`POST /api/v1/workflows`, JSON or YAML); runs are pinned to a version; steps run in-process
//! behind the platform's step-type interface, with retries and backoff, per-step and per-run
//! timeouts, a dead-letter queue with redrive, pause/resume/cancel, events for `wait_for_event`
//! (API or the `workflows:events` stream) and a hash-chained audit log. State lives in the
//! database (runs, step runs, a ready queue claimed with leases), so a crashed or duplicated
//! process never loses or double-runs a step; Redis is never needed for correctness.

mod audit;
mod definition;
mod dialect;
mod engine;
mod error;
pub mod events;
mod listener;
mod machine;
pub mod model;
mod routes;
mod schema;
mod service;
pub mod settings;
mod steps;
mod store;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::platform::Platform;
use crate::platform::auth::TenantId;
use crate::platform::edge::StreamHandler;
use crate::platform::http::error::ApiResult;
use crate::platform::module::{BackgroundTask, Module};

pub use definition::DefinitionDoc;
pub use engine::Engine;
pub use error::WorkflowsError;
pub use service::WorkflowsService;

pub struct WorkflowsModule {
    service: WorkflowsService,
    engine: Engine,
}

/// Registers the built-in step types and the service; returns the module.
pub fn build(platform: &Platform) -> anyhow::Result<Arc<dyn Module>> {
    steps::register(&platform.steps)?;
    let engine = Engine::new(
        &platform.settings,
        platform.db.clone(),
        platform.steps.clone(),
        platform.bus.clone(),
    );
    let service =
        WorkflowsService::new(platform.db.clone(), engine.clone(), platform.steps.clone());
    platform.services.insert(service.clone());
    Ok(Arc::new(WorkflowsModule { service, engine }))
}

impl Module for WorkflowsModule {
    fn name(&self) -> &'static str {
        "workflows"
    }

    fn configure(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
        routes::configure(cfg, self.service.clone());
    }

    fn description(&self) -> Option<&'static str> {
        Some(
            "Durable workflows: versioned DAG definitions (JSON or YAML), idempotent runs, retries with backoff, timeouts, dead-letter queue and redrive, pause/resume/cancel, events, hash-chained audit log",
        )
    }

    fn tasks(&self) -> Vec<BackgroundTask> {
        self.engine.tasks()
    }

    fn stream_handlers(&self) -> Vec<StreamHandler> {
        vec![StreamHandler::new(
            events::EVENTS_STREAM,
            events::EVENTS_GROUP,
            self.service.clone(),
            |service, message| async move {
                let field = |name: &str| {
                    message
                        .field(name)
                        .map(str::to_string)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| anyhow::anyhow!("the message has no `{name}` field"))
                };
                let tenant = TenantId(field("tenant_id")?);
                let run_id = field("run_id")?;
                let event = field("event")?;
                let payload = match message.field("payload") {
                    None | Some("") => Value::Null,
                    Some(raw) => serde_json::from_str(raw)
                        .map_err(|e| anyhow::anyhow!("`payload` is not JSON: {e}"))?,
                };
                let delivery = service
                    .send_event(&tenant, "stream".into(), run_id, event, payload, "stream")
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
                tracing::info!(run_id = %delivery.run_id, event = %delivery.event, delivered = delivery.delivered, "workflow event from stream");
                Ok(())
            },
        )]
    }

    fn stats(&self, tenant: TenantId) -> BoxFuture<'_, ApiResult<Value>> {
        Box::pin(async move { self.service.stats(&tenant).await })
    }

    fn collect_metrics(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(depth) = self.engine.queue_depth().await {
                metrics::gauge!("maestro_workflow_queue_depth").set(depth as f64);
            }
        })
    }
}

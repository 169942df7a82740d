//! The quality module: explainable template scores, the publish and regression gates, reports.
//!
//! It plugs into the templates module only through its public contracts: it registers the
//! publish gate (`templates::PublishGate`), scores new versions when the templates module
//! announces them on the bus (reusing the gate's evaluation of the same content digest), and
//! reads content through `TemplatesService`.

#[cfg(test)]
mod calibration;
pub mod checks;
pub mod error;
pub mod model;
pub mod report;
mod routes;
mod schema;
pub mod service;
pub mod settings;
mod step;
mod store;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::modules::templates::events::{
    TemplateCreated, TemplateDeleted, TemplateRestored, TemplateUpdated,
};
use crate::modules::templates::{GateVerdict, PublishCandidate, PublishGate, TemplatesService};
use crate::platform::Platform;
use crate::platform::auth::TenantId;
use crate::platform::http::error::ApiResult;
use crate::platform::module::{BackgroundTask, Module};
use crate::render::SourceFile;

pub use service::QualityService;

pub struct QualityModule {
    service: QualityService,
    platform: Platform,
}

struct Gate(QualityService);

impl PublishGate for Gate {
    /// Scores the content (kept per digest for `check` and the write's event).
    fn prepare<'a>(
        &'a self,
        digest: &'a str,
        files: &'a [SourceFile],
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.0
                .evaluation_of(digest, || files.to_vec())
                .await
                .map(|_| ())
        })
    }

    fn check<'a>(
        &'a self,
        candidate: &'a PublishCandidate,
    ) -> BoxFuture<'a, ApiResult<GateVerdict>> {
        Box::pin(self.0.gate(candidate))
    }
}

/// Builds the module; it needs the templates module (its service) to score anything.
pub fn build(platform: &Platform) -> anyhow::Result<Option<Arc<dyn Module>>> {
    let Some(templates) = platform.services.get::<TemplatesService>() else {
        tracing::warn!("the quality module needs the templates module; it stays off");
        return Ok(None);
    };
    let service = QualityService::new(platform, templates);
    platform.services.insert(service.clone());
    platform
        .services
        .insert::<Arc<dyn PublishGate>>(Arc::new(Gate(service.clone())));
    for gate in [false, true] {
        let step = step::QualityStep {
            service: service.clone(),
            gate,
        };
        platform.steps.register(Arc::new(step));
    }
    Ok(Some(Arc::new(QualityModule {
        service,
        platform: platform.clone(),
    })))
}

macro_rules! score_on {
    ($bus:expr, $service:expr, $event:ty, $name:literal) => {{
        let bus = $bus.clone();
        let service = $service.clone();
        BackgroundTask::new($name, move |cancel| {
            bus.handler_loop::<$event, _>($name, cancel, move |e| {
                let service = service.clone();
                Box::pin(async move {
                    let subject = service::Subject {
                        template_id: &e.template_id,
                        commit: &e.commit,
                        name: &e.name,
                        version: &e.version,
                        category: &e.category,
                    };
                    service
                        .record_announced(&e.tenant, &subject, e.digest.as_deref())
                        .await?;
                    Ok(())
                })
            })
        })
    }};
}

impl Module for QualityModule {
    fn name(&self) -> &'static str {
        "quality"
    }

    fn configure(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
        routes::configure(cfg, self.service.clone());
    }

    fn description(&self) -> Option<&'static str> {
        Some(
            "Template scores (documentation 30, examples 20, metadata 20, structure 15, dependencies 15), the publish and regression gates, reports",
        )
    }

    fn tasks(&self) -> Vec<BackgroundTask> {
        let bus = &self.platform.bus;
        let forget = {
            let bus = bus.clone();
            let service = self.service.clone();
            BackgroundTask::new("quality-forget-deleted", move |cancel| {
                bus.handler_loop::<TemplateDeleted, _>("quality-forget-deleted", cancel, move |e| {
                    let service = service.clone();
                    Box::pin(async move { Ok(service.forget(&e.tenant, &e.template_id).await?) })
                })
            })
        };
        vec![
            score_on!(bus, self.service, TemplateCreated, "quality-score-created"),
            score_on!(bus, self.service, TemplateUpdated, "quality-score-updated"),
            score_on!(
                bus,
                self.service,
                TemplateRestored,
                "quality-score-restored"
            ),
            forget,
        ]
    }

    fn stats(&self, tenant: TenantId) -> BoxFuture<'_, ApiResult<Value>> {
        Box::pin(async move { self.service.stats(&tenant).await })
    }

    fn collect_metrics(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.service.collect_metrics())
    }
}

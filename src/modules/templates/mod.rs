//! The templates module: a registry of project templates with git history (one repository per
//! tenant, gix), search, cookiecutter-compatible instantiation through the renderer (`crate::render`), an
//! instantiation ledger, the starter catalog, git sync and a Redis Streams edge.

pub mod archive;
pub mod diff;
pub mod error;
pub mod events;
pub mod gate;
pub mod git;
pub mod index;
pub mod model;
mod routes;
mod schema;
pub mod search;
pub mod seed;
pub mod service;
pub mod settings;
pub mod spec;
pub mod step;
mod store;
pub mod stream;
pub mod sync;

// Issue 15: keeping generated projects current (answers file, three-way update, drift).
pub mod answers;
pub mod merge;
// Issue 14 (import from git, derived manifests).
pub mod derive;
pub mod git_import;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::platform::Platform;
use crate::platform::auth::TenantId;
use crate::platform::edge::StreamHandler;
use crate::platform::http::error::ApiResult;
use crate::platform::module::{BackgroundTask, Module};
use crate::platform::sealed::log_sealing_pass;

pub use gate::{ForcedPublish, GateVerdict, PublishCandidate, PublishGate, content_digest};
pub use service::{TemplateContent, TemplatesService, files_from_json};

pub struct TemplatesModule {
    service: TemplatesService,
    platform: Platform,
}

/// Builds the module, registers `TemplatesService` and the `templates.instantiate` step.
pub fn build(platform: &Platform) -> anyhow::Result<Arc<dyn Module>> {
    let service = TemplatesService::new(platform);
    platform.services.insert(service.clone());
    platform
        .steps
        .register(Arc::new(step::InstantiateStep::new(service.clone())));
    Ok(Arc::new(TemplatesModule {
        service,
        platform: platform.clone(),
    }))
}

impl Module for TemplatesModule {
    fn name(&self) -> &'static str {
        "templates"
    }

    fn configure(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
        routes::configure(cfg, self.service.clone());
    }

    fn description(&self) -> Option<&'static str> {
        Some(
            "Template registry: CRUD with git history (one commit per change), search, \
             instantiation (native manifest.yaml and cookiecutter templates), the instantiation \
             ledger. Writes need the editor role; `PUT` needs `If-Match`.",
        )
    }

    fn tasks(&self) -> Vec<BackgroundTask> {
        let service = self.service.clone();
        let settings = self.platform.settings.clone();
        let prune = {
            let service = self.service.clone();
            let every = settings.templates.search_index_max_age.get();
            BackgroundTask::new("templates-change-feed-prune", move |cancel| {
                Box::pin(async move {
                    loop {
                        tokio::select! {
                            _ = cancel.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(every) => {}
                        }
                        match service.prune_change_feed().await {
                            Ok(0) => {}
                            Ok(n) => tracing::debug!(pruned = n, "old change-feed entries pruned"),
                            Err(e) => {
                                tracing::warn!(error = %e.detail, "pruning the change feed failed")
                            }
                        }
                    }
                })
            })
        };
        vec![
            prune,
            BackgroundTask::new("templates-startup", move |cancel| {
                Box::pin(async move {
                    let work = async {
                        log_sealing_pass(
                            "git remote credentials",
                            service.seal_stored_remotes().await,
                        );
                        if let Err(e) = service.reconcile_all().await {
                            tracing::error!(error = ?e, "reconciling template rows with git failed");
                        }
                        if settings.templates.seed_on_start {
                            let storage = settings.templates.storage_path.clone();
                            if storage.is_dir() {
                                match seed::run(&service, &storage).await {
                                    Ok(report) => tracing::info!(
                                        created = report.created.len(),
                                        updated = report.updated.len(),
                                        unchanged = report.unchanged.len(),
                                        skipped = ?report.skipped,
                                        "starter catalog imported into tenant `default`"
                                    ),
                                    Err(e) => {
                                        tracing::error!(error = %format!("{e:#}"), "importing the starter catalog failed")
                                    }
                                }
                            } else {
                                tracing::warn!(path = %storage.display(), "templates.storage_path is not a folder; no starter catalog imported");
                            }
                        }
                    };
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = work => {}
                    }
                    Ok(())
                })
            }),
        ]
    }

    fn stream_handlers(&self) -> Vec<StreamHandler> {
        vec![stream::handler(self.service.clone())]
    }

    fn health(&self) -> BoxFuture<'_, Map<String, Value>> {
        Box::pin(async move {
            let mut out = Map::new();
            if let Ok(count) = self.service.count_all().await {
                out.insert("templates_count".into(), count.into());
            }
            out
        })
    }

    fn stats(&self, tenant: TenantId) -> BoxFuture<'_, ApiResult<Value>> {
        Box::pin(async move { self.service.stats(&tenant).await })
    }

    fn collect_metrics(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Ok(counts) = self.service.counts_by_category().await {
                let counts: std::collections::HashMap<String, i64> = counts.into_iter().collect();
                for category in crate::render::CATEGORIES {
                    metrics::gauge!("maestro_templates", "category" => category)
                        .set(counts.get(category).copied().unwrap_or(0) as f64);
                }
                for (category, n) in &counts {
                    if !crate::render::CATEGORIES.contains(&category.as_str()) {
                        metrics::gauge!("maestro_templates", "category" => category.clone())
                            .set(*n as f64);
                    }
                }
            }
            let (_, _, ratio) = self.service.cache_hit_ratio();
            metrics::gauge!("maestro_templates_cache_hit_ratio").set(ratio);
            // Issue 15: generated projects behind their template's current version.
            if let Err(e) = self.service.collect_drift_metrics().await {
                tracing::warn!(error = ?e, "counting projects behind failed");
            }
        })
    }
}

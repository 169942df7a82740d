//! What a module gives the platform. The server mounts only enabled modules, so a disabled
//! module's routes, OpenAPI paths, background tasks and stream consumers simply do not exist.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::platform::auth::TenantId;
use crate::platform::edge::StreamHandler;
use crate::platform::http::error::ApiResult;

/// A long-running task owned by a module (worker loop, scheduler, bus subscriber).
pub struct BackgroundTask {
    pub name: &'static str,
    pub run: Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, anyhow::Result<()>> + Send>,
}

impl BackgroundTask {
    pub fn new<F>(name: &'static str, run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> BoxFuture<'static, anyhow::Result<()>> + Send + 'static,
    {
        BackgroundTask {
            name,
            run: Box::new(run),
        }
    }
}

/// OpenAPI content that only describes the tag `name`.
fn tagged_openapi(name: &str, description: &str) -> utoipa::openapi::OpenApi {
    let mut tag = utoipa::openapi::tag::Tag::new(name);
    tag.description = Some(description.to_string());
    utoipa::openapi::OpenApiBuilder::new()
        .tags(Some(vec![tag]))
        .build()
}

pub trait Module: Send + Sync + 'static {
    /// The module's name: its config flag, OpenAPI tag and metrics label.
    fn name(&self) -> &'static str;

    /// Mounts the module's handlers (each one `#[utoipa::path]`-annotated so the route and its
    /// OpenAPI entry come from one declaration).
    fn configure(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig);

    /// What the module does: the description of its OpenAPI tag.
    fn description(&self) -> Option<&'static str> {
        None
    }

    /// Extra OpenAPI content (schemas not reachable from paths); by default the module's tag
    /// with its [`description`](Module::description).
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        match self.description() {
            Some(description) => tagged_openapi(self.name(), description),
            None => utoipa::openapi::OpenApiBuilder::new().build(),
        }
    }

    /// Background tasks, started after the HTTP server is bound.
    fn tasks(&self) -> Vec<BackgroundTask> {
        Vec::new()
    }

    /// Consumers for the module's inbound Redis streams (run only when Redis is configured).
    fn stream_handlers(&self) -> Vec<StreamHandler> {
        Vec::new()
    }

    /// Extra `/health` fields (e.g. `templates_count`).
    fn health(&self) -> BoxFuture<'_, Map<String, Value>> {
        Box::pin(async { Map::new() })
    }

    /// A dependency of the module for `/readyz` (e.g. the k8s module's cluster). It is reported
    /// under `modules.<name>` and never makes Maestro unready: the module answers 503 itself.
    fn readiness(&self) -> BoxFuture<'_, Option<crate::platform::health::DependencyCheck>> {
        Box::pin(async { None })
    }

    /// The module's section of `/api/v1/admin/stats` for one tenant.
    fn stats(&self, _tenant: TenantId) -> BoxFuture<'_, ApiResult<Value>> {
        Box::pin(async { Ok(Value::Null) })
    }

    /// Refreshes gauges just before `/metrics` renders.
    fn collect_metrics(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Typed services modules offer each other (a module registers its service at build time;
/// consumers look it up and treat `None` as "module disabled").
#[derive(Clone, Default)]
pub struct ServiceRegistry {
    services: Arc<RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl ServiceRegistry {
    pub fn insert<T: Any + Send + Sync + Clone>(&self, service: T) {
        if let Ok(mut map) = self.services.write() {
            map.insert(TypeId::of::<T>(), Arc::new(service));
        }
    }

    /// Drops every registered service. Services may hold each other (the quality gate holds the
    /// templates service, which looks the gate up here), so a platform is only freed after this.
    pub fn clear(&self) {
        if let Ok(mut map) = self.services.write() {
            map.clear();
        }
    }

    pub fn get<T: Any + Send + Sync + Clone>(&self) -> Option<T> {
        self.services
            .read()
            .ok()?
            .get(&TypeId::of::<T>())?
            .downcast_ref::<T>()
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Svc(u8);

    #[test]
    fn registry_returns_registered_services_only() {
        let reg = ServiceRegistry::default();
        assert_eq!(reg.get::<Svc>(), None);
        reg.insert(Svc(3));
        assert_eq!(reg.get::<Svc>(), Some(Svc(3)));
    }
}

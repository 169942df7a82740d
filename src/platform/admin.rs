//! `/api/v1/admin/stats` and `/api/v1/admin/cache/clear`.

use actix_web::{get, post, web};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::platform::Platform;
use crate::platform::auth::{Admin, Authorized};
use crate::platform::cache::CacheStats;
use crate::platform::health::Modules;
use crate::platform::http::error::{ApiError, ApiResult};
use crate::platform::http::openapi::AdminErrors;

crate::problem_responses! {
    struct CacheUnavailable = [503 => "Redis (or the database) is unreachable; retry after `Retry-After` seconds"];
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(stats).service(clear_cache);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub version: String,
    pub uptime_seconds: u64,
    pub database_backend: String,
    /// `connected`, `disconnected` or `disabled`.
    pub redis: String,
    pub cache: CacheStats,
    /// Users in your tenant.
    pub users: i64,
    pub modules: Vec<String>,
    /// One section per enabled module, scoped to your tenant.
    #[schema(value_type = Object)]
    pub module_stats: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheCleared {
    /// Entries removed (only Maestro's own keys are touched).
    pub removed: u64,
}

/// Service statistics for your tenant.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "Statistics", body = Stats),
        AdminErrors,
    ),
    security(("bearer" = ["admin"]))
)]
#[get("/api/v1/admin/stats")]
async fn stats(
    caller: Authorized<Admin>,
    platform: web::Data<Platform>,
    modules: web::Data<Modules>,
) -> ApiResult<web::Json<Stats>> {
    let users = platform.auth.count_users(caller.tenant()).await?;
    let mut module_stats = Map::new();
    for module in modules.0.iter() {
        let section = module.stats(caller.tenant().clone()).await?;
        if !section.is_null() {
            module_stats.insert(module.name().to_string(), section);
        }
    }
    Ok(web::Json(Stats {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: platform.started_at.elapsed().as_secs(),
        database_backend: platform.db.backend().as_str().to_string(),
        redis: match &platform.redis {
            None => "disabled".into(),
            Some(r) if r.is_up() => "connected".into(),
            Some(_) => "disconnected".into(),
        },
        cache: platform.cache.stats(),
        users,
        modules: modules.0.iter().map(|m| m.name().to_string()).collect(),
        module_stats,
    }))
}

/// Clear Maestro's cache (keys under `<redis.key_prefix>:cache:`; nothing else in Redis).
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "Cleared", body = CacheCleared),
        AdminErrors, CacheUnavailable,
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/api/v1/admin/cache/clear")]
async fn clear_cache(
    caller: Authorized<Admin>,
    platform: web::Data<Platform>,
) -> ApiResult<web::Json<CacheCleared>> {
    let removed = platform.cache.clear().await.map_err(|e| {
        ApiError::unavailable(
            "cache.unavailable",
            "The cache could not be cleared; Redis is unreachable.",
        )
        .with_source(e)
    })?;
    tracing::info!(user = %caller.display_name(), removed, "cache cleared");
    Ok(web::Json(CacheCleared { removed }))
}

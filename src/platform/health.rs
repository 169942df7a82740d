//! `/healthz` (alive), `/readyz` (can serve: database reachable and migrated; Redis reported but
//! never fatal), `/health` (the seed's status document) and `/metrics` (Prometheus text).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::platform::Platform;
use crate::platform::db::migrate;
use crate::platform::module::Module;

/// The mounted modules, shared with handlers that aggregate over them.
#[derive(Clone)]
pub struct Modules(pub Arc<Vec<Arc<dyn Module>>>);

/// Set once the schema was seen current, so `/readyz` stops re-reading the migration table.
static MIGRATED: AtomicBool = AtomicBool::new(false);

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(health)
        .service(metrics_endpoint);
}

/// One dependency's state in `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyCheck {
    /// `up`, `down`, `degraded` or `disabled`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (serving without Redis) or `unavailable`.
    pub status: String,
    pub database: DependencyCheck,
    pub redis: DependencyCheck,
    /// Dependencies of modules (e.g. `k8s`: its cluster); reported, never fatal to readiness.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub modules: std::collections::BTreeMap<String, DependencyCheck>,
}

async fn check_database(platform: &Platform) -> DependencyCheck {
    if let Some(reason) = platform.db.breaker_open() {
        return DependencyCheck {
            status: "down".into(),
            detail: Some(format!(
                "circuit breaker open: {reason}; requests needing the database get 503 until a probe answers"
            )),
        };
    }
    let db = platform.db.clone();
    let probe = async move {
        db.run(|conn| -> Result<usize, ProbeError> {
            use diesel::r2d2::R2D2Connection;
            conn.ping().map_err(|e| ProbeError(e.to_string()))?;
            if MIGRATED.load(Ordering::Relaxed) {
                return Ok(0);
            }
            migrate::pending_count(conn).map_err(|e| ProbeError(e.to_string()))
        })
        .await
    };
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(0)) => {
            MIGRATED.store(true, Ordering::Relaxed);
            DependencyCheck {
                status: "up".into(),
                detail: None,
            }
        }
        Ok(Ok(pending)) => DependencyCheck {
            status: "down".into(),
            detail: Some(format!(
                "{pending} migrations pending; run `maestro migrate`"
            )),
        },
        Ok(Err(e)) => DependencyCheck {
            status: "down".into(),
            detail: Some(e.0),
        },
        Err(_) => DependencyCheck {
            status: "down".into(),
            detail: Some("no answer within 2 s".into()),
        },
    }
}

async fn check_redis(platform: &Platform) -> DependencyCheck {
    match &platform.redis {
        None => DependencyCheck {
            status: "disabled".into(),
            detail: None,
        },
        Some(redis) => match redis.ping().await {
            Ok(()) => DependencyCheck {
                status: "up".into(),
                detail: None,
            },
            Err(e) => DependencyCheck {
                status: "degraded".into(),
                detail: Some(format!(
                    "unreachable ({e:#}); serving from the database, stream edge paused"
                )),
            },
        },
    }
}

#[derive(Debug)]
struct ProbeError(String);

impl From<crate::platform::db::DbError> for ProbeError {
    fn from(e: crate::platform::db::DbError) -> Self {
        ProbeError(e.to_string())
    }
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(tag = "health", responses((status = 200, description = "Alive", body = Object)), security(()))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "alive"}))
}

/// Readiness: 200 while Maestro can serve (database reachable and migrated), even when Redis is
/// down — the body then says `degraded`. 503 when the database is not usable.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready (possibly degraded)", body = Readiness),
        (status = 503, description = "Database unreachable or not migrated", body = Readiness),
    ),
    security(())
)]
#[get("/readyz")]
async fn readyz(platform: web::Data<Platform>, modules: web::Data<Modules>) -> HttpResponse {
    let (database, redis) = tokio::join!(check_database(&platform), check_redis(&platform));
    let mut module_checks = std::collections::BTreeMap::new();
    for module in modules.0.iter() {
        if let Ok(Some(check)) = tokio::time::timeout(CHECK_TIMEOUT, module.readiness()).await {
            module_checks.insert(module.name().to_string(), check);
        }
    }
    let status = if database.status != "up" {
        "unavailable"
    } else if redis.status == "degraded" {
        "degraded"
    } else {
        "ready"
    };
    let body = Readiness {
        status: status.into(),
        database,
        redis,
        modules: module_checks,
    };
    if status == "unavailable" {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// Service status in the seed's shape: status, service, version, database, redis and, with the
/// templates module on, templates_count.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Healthy or degraded", body = Object),
        (status = 503, description = "Database unreachable", body = Object),
    ),
    security(())
)]
#[get("/health")]
async fn health(platform: web::Data<Platform>, modules: web::Data<Modules>) -> HttpResponse {
    let (database, redis) = tokio::join!(check_database(&platform), check_redis(&platform));
    let db_ok = database.status == "up";
    let mut body = Map::new();
    let status = match (db_ok, redis.status.as_str()) {
        (false, _) => "unhealthy",
        (true, "degraded") => "degraded",
        _ => "healthy",
    };
    body.insert("status".into(), status.into());
    body.insert("service".into(), "maestro".into());
    body.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    body.insert(
        "database".into(),
        if db_ok { "connected" } else { "disconnected" }.into(),
    );
    body.insert(
        "redis".into(),
        match redis.status.as_str() {
            "up" => "connected",
            "disabled" => "disabled",
            _ => "disconnected",
        }
        .into(),
    );
    body.insert(
        "database_backend".into(),
        platform.db.backend().as_str().into(),
    );
    body.insert(
        "uptime_seconds".into(),
        platform.started_at.elapsed().as_secs().into(),
    );
    let enabled: Vec<Value> = modules.0.iter().map(|m| m.name().into()).collect();
    body.insert("modules".into(), Value::Array(enabled));
    if db_ok {
        for module in modules.0.iter() {
            if let Ok(extra) = tokio::time::timeout(CHECK_TIMEOUT, module.health()).await {
                body.extend(extra);
            }
        }
    }
    if db_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")),
    security(())
)]
#[get("/metrics")]
async fn metrics_endpoint(
    platform: web::Data<Platform>,
    modules: web::Data<Modules>,
) -> HttpResponse {
    let (open, idle, max) = platform.db.pool_state();
    metrics::gauge!("maestro_db_pool_connections", "state" => "in_use")
        .set(open.saturating_sub(idle) as f64);
    metrics::gauge!("maestro_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("maestro_db_pool_max_connections").set(max as f64);
    metrics::gauge!("maestro_db_breaker_open").set(if platform.db.breaker_open().is_some() {
        1.0
    } else {
        0.0
    });
    if let Some(redis) = &platform.redis {
        metrics::gauge!("maestro_redis_up").set(if redis.is_up() { 1.0 } else { 0.0 });
    }
    for module in modules.0.iter() {
        let _ = tokio::time::timeout(CHECK_TIMEOUT, module.collect_metrics()).await;
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::platform::telemetry::prometheus().render())
}

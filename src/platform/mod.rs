//! What every module uses: storage, cache, bus, the Redis Streams edge, auth, HTTP conventions,
//! telemetry and health. [`Platform`] bundles them (cheap to clone).

pub mod admin;
pub mod auth;
pub mod blocking;
pub mod bus;
pub mod cache;
pub mod db;
pub mod edge;
pub mod git_remote;
pub mod health;
pub mod http;
pub mod module;
pub mod redis;
pub mod sealed;
pub mod steps;
pub mod telemetry;
pub mod test_results;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::config::Settings;

/// Locks `m` even if a holder panicked: the platform's mutexes guard counters, buffers and
/// connection slots that stay consistent between statements, so a panic elsewhere must not
/// poison them for every later request.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone)]
pub struct Platform {
    pub settings: Arc<Settings>,
    pub db: db::Db,
    pub cache: cache::Cache,
    pub bus: bus::Bus,
    pub redis: Option<redis::RedisHandle>,
    pub edge: Option<edge::Edge>,
    pub auth: auth::AuthService,
    /// Seals secrets kept in the database (key from `auth.secret_key`).
    pub sealer: sealed::Sealer,
    pub services: module::ServiceRegistry,
    /// Workflow step types registered by the enabled modules.
    pub steps: steps::StepRegistry,
    pub started_at: Instant,
}

impl Platform {
    /// Wires the shared pieces from configuration. Touches no external service, so it succeeds
    /// while the database or Redis is down; readiness reports that.
    pub fn new(settings: Settings) -> anyhow::Result<Platform> {
        let db = db::Db::new(&settings.database)?;
        let redis = if settings.redis.enabled() {
            Some(redis::RedisHandle::new(&settings.redis)?)
        } else {
            None
        };
        let cache = match &redis {
            Some(handle) => cache::Cache::redis(handle.clone(), &settings.cache),
            None => cache::Cache::in_memory(&settings.cache),
        };
        let edge = redis
            .as_ref()
            .map(|handle| edge::Edge::new(handle.clone(), settings.streams.clone()));
        let auth = auth::AuthService::new(&settings.auth, db.clone(), cache.clone())?;
        let sealer = sealed::Sealer::new(&settings.auth.secret_key)?;
        Ok(Platform {
            settings: Arc::new(settings),
            db,
            cache,
            bus: bus::Bus::new(),
            redis,
            edge,
            auth,
            sealer,
            services: module::ServiceRegistry::default(),
            steps: steps::StepRegistry::default(),
            started_at: Instant::now(),
        })
    }

    /// The platform's own background work: the cache's invalidation channel and the writer of
    /// buffered stream events (both only with Redis).
    pub fn background_tasks(&self) -> Vec<module::BackgroundTask> {
        let mut tasks = Vec::new();
        if self.redis.is_some() {
            let cache = self.cache.clone();
            tasks.push(module::BackgroundTask::new("cache-sync", move |cancel| {
                cache.sync_task(cancel)
            }));
        }
        if let Some(edge) = &self.edge {
            let edge = edge.clone();
            tasks.push(module::BackgroundTask::new(
                "stream-events",
                move |cancel| edge.flush_task(cancel),
            ));
        }
        tasks
    }

    /// Releases what modules registered (services and step types refer to each other, so they
    /// are only freed this way). Called when the application has stopped.
    pub fn release(&self) {
        self.services.clear();
        self.steps.clear();
    }

    /// Applies pending migrations, waiting up to `wait` for the database to come up.
    pub async fn migrate(&self, wait: std::time::Duration) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + wait;
        let mut delay = std::time::Duration::from_millis(200);
        loop {
            let result = self
                .db
                .run_unbounded(|conn| -> Result<Vec<String>, MigrateError> {
                    db::migrate::run_pending(conn).map_err(MigrateError::Migration)
                })
                .await;
            match result {
                Ok(applied) => return Ok(applied),
                Err(MigrateError::Db(e)) if Instant::now() < deadline => {
                    tracing::warn!(error = %e, "database not reachable yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(3));
                }
                Err(MigrateError::Db(e)) => {
                    return Err(anyhow::anyhow!(
                        "the database at {} is not reachable: {e}",
                        crate::config::redact_url_password(&self.settings.database.url)
                    ));
                }
                Err(MigrateError::Migration(e)) => return Err(e),
            }
        }
    }
}

#[derive(Debug)]
enum MigrateError {
    Db(db::DbError),
    Migration(anyhow::Error),
}

impl From<db::DbError> for MigrateError {
    fn from(e: db::DbError) -> Self {
        MigrateError::Db(e)
    }
}

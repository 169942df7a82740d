//! The shared Redis connection pool (cache and stream publishing) and its health. Redis is an
//! accelerator and an edge, never a dependency for correctness: every caller tolerates failures,
//! and the health flag lets `/readyz` report "degraded" instead of failing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};

use crate::config::RedisSettings;

/// Whether an error means Redis could not be reached (as opposed to Redis answering with an
/// error).
pub fn is_transport_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

#[derive(Clone)]
pub struct RedisHandle {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    url: String,
    prefix: String,
    command_timeout: Duration,
    up: AtomicBool,
    last_error: std::sync::Mutex<Option<String>>,
}

impl RedisHandle {
    pub fn new(settings: &RedisSettings) -> anyhow::Result<RedisHandle> {
        let timeout = Duration::from_millis(settings.command_timeout_ms.max(50));
        let mut cfg = deadpool_redis::Config::from_url(settings.url.trim());
        cfg.pool = Some(PoolConfig {
            max_size: settings.pool_size,
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        });
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| anyhow::anyhow!("cannot create the Redis pool: {e}"))?;
        Ok(RedisHandle {
            inner: Arc::new(Inner {
                pool,
                url: settings.url.trim().to_string(),
                prefix: settings.key_prefix.clone(),
                command_timeout: timeout,
                up: AtomicBool::new(true),
                last_error: std::sync::Mutex::new(None),
            }),
        })
    }

    /// `<prefix>:<suffix>`: every key Maestro writes.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.inner.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    pub fn url(&self) -> &str {
        &self.inner.url
    }

    pub fn command_timeout(&self) -> Duration {
        self.inner.command_timeout
    }

    /// Runs one Redis interaction with a pooled connection under the command timeout, and keeps
    /// the health flag current.
    pub async fn run<T, F, Fut>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        // Ok(Err(_)): Redis answered with an error (e.g. NOGROUP); it is reachable.
        let attempt = async {
            let conn = self.inner.pool.get().await?;
            Ok::<redis::RedisResult<T>, anyhow::Error>(f(conn).await)
        };
        match tokio::time::timeout(self.inner.command_timeout * 2, attempt).await {
            Ok(Ok(Ok(value))) => {
                self.mark_up();
                Ok(value)
            }
            Ok(Ok(Err(e))) if !is_transport_error(&e) => {
                self.mark_up();
                Err(e.into())
            }
            Ok(Ok(Err(e))) => {
                self.mark_down(&format!("{e:#}"));
                Err(e.into())
            }
            Ok(Err(e)) => {
                self.mark_down(&format!("{e:#}"));
                Err(e)
            }
            Err(_) => {
                self.mark_down("Redis did not answer in time");
                Err(anyhow::anyhow!("Redis did not answer in time"))
            }
        }
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        self.run(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .map(|_| ())
    }

    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn mark_up(&self) {
        if !self.inner.up.swap(true, Ordering::Relaxed) {
            tracing::info!("Redis is reachable again");
        }
        metrics::gauge!("maestro_redis_up").set(1.0);
    }

    pub fn mark_down(&self, error: &str) {
        if self.inner.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(error, "Redis unreachable; serving from the database");
        }
        if let Ok(mut last) = self.inner.last_error.lock() {
            *last = Some(error.to_string());
        }
        metrics::gauge!("maestro_redis_up").set(0.0);
    }
}

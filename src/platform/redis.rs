//! The shared Redis connections (cache and stream publishing) and their health. Redis is an
//! accelerator and an edge, never a dependency for correctness: every caller tolerates failures,
//! and the health flag lets `/readyz` report "degraded" instead of failing.
//!
//! Commands go over a few multiplexed connections (`redis.pool_size`, taken in turn): concurrent
//! commands are pipelined on one socket, so a command never waits for a free connection nor pays
//! a check round trip first (a checkout pool's `UNWATCH`+`PING` doubled every call's round
//! trips). A connection that failed or timed out is replaced on its next use, so a half-open
//! socket (Redis moved, a NAT forgot it) is not kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisSettings;
use crate::platform::lock;

/// Whether an error means Redis could not be reached (as opposed to Redis answering with an
/// error).
pub fn is_transport_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

/// The error of a call the circuit breaker did not let through (Redis failed
/// `redis.breaker_failures` times in a row; calls resume after `redis.breaker_open`).
#[derive(Debug, thiserror::Error)]
#[error("Redis is unreachable (circuit open after consecutive failures)")]
pub struct CircuitOpen;

/// Stops calling Redis after `threshold` consecutive transport failures: for `open_for` every
/// call fails at once; then one call (the probe) goes through, and its outcome closes or re-opens
/// the circuit. Other calls keep failing at once while the probe runs.
struct Breaker {
    threshold: u32,
    open_for: Duration,
    started: Instant,
    failures: AtomicU32,
    /// Milliseconds since `started` until which the circuit is open; 0 = closed.
    open_until_ms: AtomicU64,
    probing: AtomicBool,
}

/// How a call the breaker let through must be reported back.
enum Permit {
    Closed,
    Probe,
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    fn admit(&self) -> Option<Permit> {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return Some(Permit::Closed);
        }
        if self.now_ms() < until || self.probing.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Permit::Probe)
    }

    fn success(&self, permit: &Permit) {
        self.failures.store(0, Ordering::Release);
        if matches!(permit, Permit::Probe) || self.open_until_ms.load(Ordering::Acquire) != 0 {
            if self.open_until_ms.swap(0, Ordering::AcqRel) != 0 {
                tracing::info!("Redis circuit closed");
                metrics::gauge!("maestro_redis_circuit_open").set(0.0);
            }
            self.probing.store(false, Ordering::Release);
        }
    }

    fn failure(&self, permit: &Permit) {
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if matches!(permit, Permit::Probe) || n >= self.threshold {
            let was = self.open_until_ms.swap(
                self.now_ms() + self.open_for.as_millis() as u64,
                Ordering::AcqRel,
            );
            self.probing.store(false, Ordering::Release);
            if was == 0 {
                tracing::warn!(
                    failures = n,
                    open_for_ms = self.open_for.as_millis() as u64,
                    "Redis circuit opened: calls fail at once for a while"
                );
                metrics::counter!("maestro_redis_circuit_opened_total").increment(1);
                metrics::gauge!("maestro_redis_circuit_open").set(1.0);
            }
        }
    }

    fn is_open(&self) -> bool {
        self.open_until_ms.load(Ordering::Acquire) != 0
    }
}

/// Reports a call that was dropped before it finished (its request was cancelled) as a failure,
/// so a cancelled probe cannot leave the breaker half-open for ever.
struct PermitGuard<'a> {
    breaker: &'a Breaker,
    permit: Option<Permit>,
}

impl PermitGuard<'_> {
    fn success(mut self) {
        if let Some(p) = self.permit.take() {
            self.breaker.success(&p);
        }
    }

    fn failure(mut self) {
        if let Some(p) = self.permit.take() {
            self.breaker.failure(&p);
        }
    }
}

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        if let Some(Permit::Probe) = self.permit.take() {
            self.breaker.probing.store(false, Ordering::Release);
        }
    }
}

#[derive(Clone)]
pub struct RedisHandle {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    manager: ConnectionManagerConfig,
    /// Connected on first use; emptied when a call over it fails to reach Redis.
    connections: Box<[std::sync::Mutex<Option<ConnectionManager>>]>,
    next: AtomicUsize,
    url: String,
    prefix: String,
    command_timeout: Duration,
    breaker: Breaker,
    up: AtomicBool,
    last_error: std::sync::Mutex<Option<String>>,
}

impl RedisHandle {
    pub fn new(settings: &RedisSettings) -> anyhow::Result<RedisHandle> {
        let timeout = Duration::from_millis(settings.command_timeout_ms.max(10));
        let client = redis::Client::open(settings.url.trim())
            .map_err(|e| anyhow::anyhow!("cannot use the Redis URL: {e}"))?;
        // One connection attempt per use: the breaker, not the connection, decides when to try
        // again, and every attempt is bounded by the command timeout.
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        Ok(RedisHandle {
            inner: Arc::new(Inner {
                client,
                manager,
                connections: (0..settings.pool_size.max(1))
                    .map(|_| std::sync::Mutex::new(None))
                    .collect(),
                next: AtomicUsize::new(0),
                url: settings.url.trim().to_string(),
                prefix: settings.key_prefix.clone(),
                command_timeout: timeout,
                breaker: Breaker {
                    threshold: settings.breaker_failures.max(1),
                    open_for: settings.breaker_open.get(),
                    started: Instant::now(),
                    failures: AtomicU32::new(0),
                    open_until_ms: AtomicU64::new(0),
                    probing: AtomicBool::new(false),
                },
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

    /// The next connection in turn (made now if it has none: connecting happens on its first
    /// command), and its slot.
    fn connection(&self) -> anyhow::Result<(usize, ConnectionManager)> {
        let slot = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.connections.len();
        let mut held = lock(&self.inner.connections[slot]);
        if let Some(conn) = &*held {
            return Ok((slot, conn.clone()));
        }
        let conn = ConnectionManager::new_lazy_with_config(
            self.inner.client.clone(),
            self.inner.manager.clone(),
        )?;
        *held = Some(conn.clone());
        Ok((slot, conn))
    }

    /// The connection in `slot` did not reach Redis: its next use connects again.
    fn forget(&self, slot: usize) {
        lock(&self.inner.connections[slot]).take();
    }

    pub fn command_timeout(&self) -> Duration {
        self.inner.command_timeout
    }

    /// Whether the circuit breaker currently refuses calls.
    pub fn circuit_open(&self) -> bool {
        self.inner.breaker.is_open()
    }

    /// Runs one Redis interaction on one of the shared connections. The whole call (connecting
    /// when needed, the command) is bounded by `redis.command_timeout_ms`; while the circuit is
    /// open it fails at once without touching the network. Keeps the health flag current.
    pub async fn run<T, F, Fut>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let Some(permit) = self.inner.breaker.admit() else {
            metrics::counter!("maestro_redis_calls_total", "outcome" => "short_circuited")
                .increment(1);
            return Err(CircuitOpen.into());
        };
        let guard = PermitGuard {
            breaker: &self.inner.breaker,
            permit: Some(permit),
        };
        let (slot, conn) = match self.connection() {
            Ok(picked) => picked,
            Err(e) => {
                guard.failure();
                self.mark_down(&format!("{e:#}"));
                return Err(e);
            }
        };
        match tokio::time::timeout(self.inner.command_timeout, f(conn)).await {
            Ok(Ok(value)) => {
                guard.success();
                self.mark_up();
                Ok(value)
            }
            // Redis answered with an error (e.g. NOGROUP): it is reachable.
            Ok(Err(e)) if !is_transport_error(&e) => {
                guard.success();
                self.mark_up();
                Err(e.into())
            }
            Ok(Err(e)) => {
                self.forget(slot);
                guard.failure();
                self.mark_down(&format!("{e:#}"));
                Err(e.into())
            }
            Err(_) => {
                self.forget(slot);
                guard.failure();
                self.mark_down("Redis did not answer in time");
                Err(anyhow::anyhow!(
                    "Redis did not answer within {} ms",
                    self.inner.command_timeout.as_millis()
                ))
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
        lock(&self.inner.last_error).clone()
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
        *lock(&self.inner.last_error) = Some(error.to_string());
        metrics::gauge!("maestro_redis_up").set(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_for: Duration) -> Breaker {
        Breaker {
            threshold: 3,
            open_for,
            started: Instant::now(),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    #[test]
    fn the_circuit_opens_after_consecutive_failures_and_one_probe_closes_it() {
        let b = breaker(Duration::from_millis(50));
        for _ in 0..2 {
            let p = b.admit().expect("closed");
            b.failure(&p);
        }
        let p = b.admit().expect("still closed after two failures");
        b.success(&p);
        for _ in 0..3 {
            let p = b.admit().expect("closed");
            b.failure(&p);
        }
        assert!(b.is_open());
        assert!(b.admit().is_none(), "open: calls fail at once");
        std::thread::sleep(Duration::from_millis(60));
        let probe = b.admit().expect("one probe after the open period");
        assert!(matches!(probe, Permit::Probe));
        assert!(b.admit().is_none(), "only one probe at a time");
        b.failure(&probe);
        assert!(
            b.admit().is_none(),
            "a failed probe opens the circuit again"
        );
        std::thread::sleep(Duration::from_millis(60));
        let probe = b.admit().expect("probe");
        b.success(&probe);
        assert!(!b.is_open());
        assert!(matches!(b.admit(), Some(Permit::Closed)));
    }

    #[test]
    fn a_cancelled_probe_lets_the_next_call_probe() {
        let b = breaker(Duration::from_millis(1));
        for _ in 0..3 {
            let p = b.admit().unwrap();
            b.failure(&p);
        }
        std::thread::sleep(Duration::from_millis(5));
        let guard = PermitGuard {
            breaker: &b,
            permit: b.admit(),
        };
        assert!(b.admit().is_none());
        drop(guard);
        assert!(matches!(b.admit(), Some(Permit::Probe)));
    }

    #[tokio::test]
    async fn a_call_to_a_silent_server_fails_within_the_command_timeout() {
        // Accepts connections and never answers (what a frozen Redis looks like).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let handle = RedisHandle::new(&RedisSettings {
            url: format!("redis://127.0.0.1:{port}/0"),
            key_prefix: "t".into(),
            pool_size: 4,
            command_timeout_ms: 200,
            breaker_failures: 2,
            breaker_open: crate::config::HumanDuration(Duration::from_secs(60)),
        })
        .unwrap();
        for _ in 0..2 {
            // Failed by the timeout (connecting or the command; a loose bound on time: the
            // machine may be busy), not by the circuit yet.
            let started = Instant::now();
            let err = handle.ping().await.unwrap_err();
            assert!(err.downcast_ref::<CircuitOpen>().is_none(), "{err:#}");
            assert!(started.elapsed() < Duration::from_secs(3));
        }
        assert!(handle.circuit_open());
        let err = handle.ping().await.unwrap_err();
        assert!(err.downcast_ref::<CircuitOpen>().is_some(), "{err:#}");
        held.abort();
    }
}

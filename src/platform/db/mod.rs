//! Storage: one diesel schema over SQLite (embedded default) and PostgreSQL (production), picked by
//! URL scheme. Diesel is synchronous, so every query runs on the blocking pool through [`Db::run`].
//!
//! A database that is down, or that stops answering without closing connections (a frozen host,
//! a network partition), becomes [`DbError::Unavailable`] (a 503 with `Retry-After`), never a
//! hang. [`Db::run`] watches its blocking work from the async side, phase by phase, with deadlines
//! that hold even while the blocking thread stays stuck in libpq: the checkout (waiting for a
//! pooled connection, then a `SELECT 1` health check on PostgreSQL unless the connection answered
//! within `check_bypass_window`) within `acquire_timeout_ms`, the work within `query_timeout`.
//! Work given up on before it started never starts. A slow checkout (or slow work in place of a
//! skipped check) or any failure makes the [`breaker`] probe the database on a connection of its
//! own (see `ProbeConnection`); when the probe gets no answer either, the breaker opens and work is
//! refused at once (waiting work too) until a probe answers. PostgreSQL connections carry TCP
//! keepalive and `TCP_USER_TIMEOUT`, so a partition breaks stuck connections instead of keeping
//! them (and their threads) forever; r2d2 replaces broken connections, so Maestro recovers by
//! itself when the database comes back.

pub mod breaker;
pub mod migrate;
pub mod schema;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{Pool, PooledConnection, R2D2Connection};

use crate::config::DatabaseSettings;
use crate::platform::http::error::ApiResult;
use crate::platform::http::pagination::{Page, PageQuery};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    // Keep SQLite last: its `establish` accepts any string as a path.
    Sqlite(diesel::SqliteConnection),
}

/// `INSERT … ON CONFLICT DO NOTHING` on either backend (diesel has no on-conflict clause for
/// the multi-connection); evaluates to the `QueryResult` of the number of rows written. An
/// upsert, not insert-and-catch: on PostgreSQL a unique violation aborts the transaction.
#[macro_export]
macro_rules! insert_or_ignore {
    ($conn:expr, $table:expr, $values:expr) => {
        match $conn {
            $crate::platform::db::DbConnection::Postgres(c) => ::diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
            $crate::platform::db::DbConnection::Sqlite(c) => ::diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from the URL scheme; an unknown scheme is an error, never a silently
    /// created SQLite file.
    pub fn from_url(url: &str) -> Result<Backend, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.is_empty() {
            Err("is empty; use sqlite://data/maestro.db or postgres://user:pass@host/db".into())
        } else {
            Err(format!(
                "unsupported scheme in `{}`; use sqlite://<path> or postgres://user:pass@host/db",
                crate::config::redact_url_password(url)
            ))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// The file path inside a `sqlite:` URL (`sqlite://data/x.db`, `sqlite:///abs/x.db`, `sqlite::memory:`).
pub fn sqlite_path(url: &str) -> String {
    let rest = url.trim().trim_start_matches("sqlite:");
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    rest.split('?').next().unwrap_or(rest).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection within the acquire timeout: the database is down or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("database worker failed: {0}")]
    Worker(String),
}

/// True for errors that mean the connection, not the query, failed (server restart, network).
pub fn is_connection_error(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(_, info) => {
            let msg = info.message().to_ascii_lowercase();
            [
                "terminating connection",
                "server closed the connection",
                "connection to server",
                "could not connect",
                "no connection to the server",
                "the database system is starting up",
                "the database system is shutting down",
                "database is locked",
                "connection reset",
                "broken pipe",
            ]
            .iter()
            .any(|needle| msg.contains(needle))
        }
        _ => false,
    }
}

/// Opens connections for the pool, configured per backend.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    backend: Backend,
    url: String,
    busy_timeout_ms: u64,
    statement_timeout_ms: u64,
}

impl ConnectionManager {
    pub fn new(settings: &DatabaseSettings) -> Result<Self, String> {
        let backend = Backend::from_url(&settings.url)?;
        let url = match backend {
            Backend::Postgres => postgres_url(settings),
            Backend::Sqlite => sqlite_path(&settings.url),
        };
        Ok(ConnectionManager {
            backend,
            url,
            busy_timeout_ms: settings.busy_timeout_ms,
            statement_timeout_ms: settings.statement_timeout_ms,
        })
    }

    fn establish(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&self.url)?;
                if self.statement_timeout_ms > 0 {
                    conn.batch_execute(&format!(
                        "SET statement_timeout = {}",
                        self.statement_timeout_ms
                    ))
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(DbConnection::Postgres(conn))
            }
            Backend::Sqlite => {
                if self.url != ":memory:"
                    && let Some(parent) = PathBuf::from(&self.url).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        diesel::ConnectionError::BadConnection(format!(
                            "cannot create the directory for {}: {e}",
                            self.url
                        ))
                    })?;
                }
                let mut conn = diesel::SqliteConnection::establish(&self.url)?;
                // WAL lets readers run beside the single writer; busy_timeout makes writers queue
                // instead of failing with "database is locked".
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                    self.busy_timeout_ms
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// The breaker's probe on PostgreSQL: `SELECT 1` on a connection of its own, outside the pool
/// (which stuck work may have exhausted), kept from one probe to the next. A kept connection
/// costs the probe one round trip, which a saturated host still answers within the probe's
/// deadline; a new connection each time (a backend forked, authenticated, its caches loaded)
/// did not, so a pile-up of slow work on a busy two-core host once opened the breaker for a
/// database that was only slow. When the kept connection fails (the server restarted, the
/// connection was terminated or timed out), a new connection decides, so a stale connection
/// never reports a live database as down.
struct ProbeConnection {
    manager: ConnectionManager,
    kept: std::sync::Mutex<Option<DbConnection>>,
}

impl ProbeConnection {
    fn new(manager: ConnectionManager) -> ProbeConnection {
        ProbeConnection {
            manager,
            kept: std::sync::Mutex::new(None),
        }
    }

    /// Blocking; `Err` says why the database did not answer.
    fn check(&self) -> Result<(), String> {
        let mut kept = crate::platform::lock(&self.kept);
        if let Some(conn) = kept.as_mut() {
            if conn.ping().is_ok() {
                return Ok(());
            }
            *kept = None;
        }
        let mut conn = self.manager.establish().map_err(|e| e.to_string())?;
        conn.ping().map_err(|e| e.to_string())?;
        *kept = Some(conn);
        Ok(())
    }

    /// The server process behind the kept connection (tests).
    #[cfg(test)]
    fn backend_pid(&self) -> Option<i32> {
        let mut kept = crate::platform::lock(&self.kept);
        backend_pid(kept.as_mut()?).ok()
    }
}

/// The PostgreSQL server process behind `conn` (tests).
#[cfg(test)]
fn backend_pid(conn: &mut DbConnection) -> QueryResult<i32> {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let row: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result(conn)?;
    Ok(row.pid)
}

/// The libpq URL of every PostgreSQL connection this process opens, pooled or not (the workflows
/// LISTEN connection): the configured URL with a connect timeout, TCP keepalive and
/// `tcp_user_timeout`, so no connection waits forever on a host that vanished.
pub fn postgres_url(settings: &DatabaseSettings) -> String {
    with_tcp_settings(
        &with_connect_timeout(&settings.url),
        settings.tcp_keepalive_idle.get(),
        settings.tcp_user_timeout.get(),
    )
}

/// libpq waits for the OS TCP timeout by default; bound it so an unreachable host fails fast.
pub fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&connect_timeout=3")
    } else {
        format!("{url}?connect_timeout=3")
    }
}

/// Adds TCP keepalive (`keepalives_idle`, a third of it as `keepalives_interval`, 3 probes) and
/// `tcp_user_timeout` to a libpq URL, so a connection to a host that vanished (partition, frozen
/// machine) breaks instead of blocking forever. A zero duration leaves the OS default; a key
/// already in the URL wins.
pub fn with_tcp_settings(url: &str, keepalive_idle: Duration, user_timeout: Duration) -> String {
    let mut params: Vec<(&str, String)> = Vec::new();
    if !keepalive_idle.is_zero() {
        let idle = keepalive_idle.as_secs().max(1);
        params.push(("keepalives", "1".into()));
        params.push(("keepalives_idle", idle.to_string()));
        params.push(("keepalives_interval", (idle / 3).max(1).to_string()));
        params.push(("keepalives_count", "3".into()));
    }
    if !user_timeout.is_zero() {
        params.push(("tcp_user_timeout", user_timeout.as_millis().to_string()));
    }
    let present: Vec<&str> = url
        .split_once('?')
        .map(|(_, query)| {
            query
                .split('&')
                .map(|pair| pair.split('=').next().unwrap_or(pair))
                .collect()
        })
        .unwrap_or_default();
    let mut out = url.to_string();
    for (key, value) in params {
        if present.contains(&key) {
            continue;
        }
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(key);
        out.push('=');
        out.push_str(&value);
    }
    out
}

impl diesel::r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.establish()
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Runs `f` in a write transaction, committed when it returns `Ok` and rolled back otherwise:
/// an ordinary transaction on PostgreSQL, `BEGIN IMMEDIATE` on SQLite. SQLite's default deferred
/// transaction starts as a reader and fails at once with "database is locked" when it later
/// writes while another connection holds the write lock (busy_timeout does not apply to that
/// upgrade); taking the lock up front makes concurrent writers queue instead.
///
/// The transaction goes through diesel's transaction manager, so a `conn.transaction(…)` inside
/// `f` becomes a savepoint, and a panic leaves the connection marked in-transaction, which the
/// pool then discards rather than reuses.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        DbConnection::Postgres(_) => conn.transaction(f),
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            match f(&mut *conn) {
                Ok(value) => {
                    <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(e) => {
                    let _ = <DbConnection as Connection>::TransactionManager::rollback_transaction(
                        conn,
                    );
                    Err(e)
                }
            }
        }
    }
}

pub type DbPool = Pool<ConnectionManager>;
pub type PooledDb = PooledConnection<ConnectionManager>;

/// The storage handle every module shares. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    max_size: u32,
    deadlines: Deadlines,
    breaker: Arc<breaker::Breaker>,
}

#[derive(Debug, Clone, Copy)]
struct Deadlines {
    /// A checkout: waiting for a pooled connection, then its health check.
    acquire: Duration,
    /// A checkout slower than this makes the breaker probe the database.
    probe_after: Duration,
    /// Whether checked-out connections are health-checked (PostgreSQL; not a local SQLite file).
    check: bool,
    /// `check_bypass_window`: see [`AnsweredAt`].
    check_bypass: Duration,
    /// One unit of work; `None`: no limit.
    work: Option<Duration>,
}

/// When a pooled connection last answered, kept in r2d2's per-connection extensions: one that
/// answered less than `database.check_bypass_window` ago (default 500 ms, HikariCP's
/// `aliveBypassWindowMs`) is not health-checked again at checkout. The check is a round trip —
/// and on a busy host a wake-up of the server's backend — in front of every unit of work, and a
/// connection that has just answered is as proven as a `SELECT 1` would make it. Should the
/// server have gone silent since, the work is watched as the check would have been: slower than
/// `checkout_probe_after`, it makes the breaker probe (see [`Phase::Work`]).
struct AnsweredAt(Instant);

/// Whether the connection answered less than `window` ago.
fn answered_within(conn: &PooledDb, window: Duration) -> bool {
    PooledConnection::extensions(conn)
        .get::<AnsweredAt>()
        .is_some_and(|at| at.0.elapsed() < window)
}

fn mark_answered(conn: &mut PooledDb) {
    let extensions = PooledConnection::extensions_mut(conn);
    match extensions.get_mut::<AnsweredAt>() {
        Some(at) => at.0 = Instant::now(),
        None => {
            extensions.insert(AnsweredAt(Instant::now()));
        }
    }
}

/// Where the blocking side of [`Db::run`] is, so the async side applies the right deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a blocking thread: no hard limit (a loaded machine is not an outage).
    Queued,
    Checkout,
    Check,
    /// `unchecked`: the health check was skipped ([`AnsweredAt`]), so until the work
    /// answers it is the only sign of life, and slowness reports as the check's would.
    Work {
        unchecked: bool,
    },
}

impl Phase {
    fn describe(self) -> &'static str {
        match self {
            Phase::Queued => "no thread was free for the database work",
            Phase::Checkout => "no database connection was free",
            Phase::Check => "the database did not answer the connection check",
            Phase::Work { .. } => "the database work did not finish",
        }
    }
}

/// How the blocking side of [`Db::run`] ended.
enum Attempt<R> {
    Done {
        result: R,
        broken: bool,
    },
    NoConnection(String),
    CheckFailed(String),
    /// The async side gave up first; nothing ran.
    Abandoned,
}

impl Db {
    /// Builds the pool without touching the database (so a server can start and report 503s
    /// while the database is down); connections open lazily.
    pub fn new(settings: &DatabaseSettings) -> anyhow::Result<Db> {
        let manager = ConnectionManager::new(settings).map_err(|e| anyhow::anyhow!(e))?;
        let backend = manager.backend;
        let max_size = match backend {
            // An in-memory SQLite database exists per connection: one connection or nothing works.
            Backend::Sqlite if manager.url == ":memory:" => 1,
            _ => settings.pool_size,
        };
        let acquire = Duration::from_millis(settings.acquire_timeout_ms);
        // An embedded SQLite file has no server that can go silent: a slow checkout there is a
        // busy pool or a busy machine, never an outage, so its probe always answers and the
        // breaker stays closed (a probe on a fresh connection could wait on the file's locks).
        let probe: breaker::Probe = match backend {
            Backend::Sqlite => Arc::new(|| Ok(())),
            Backend::Postgres => {
                let connection = ProbeConnection::new(manager.clone());
                Arc::new(move || connection.check())
            }
        };
        let breaker = breaker::Breaker::new(
            probe,
            settings.probe_timeout.get(),
            settings.probe_interval.get(),
        );
        // The checkout health check runs in `Db::run`, under a deadline: r2d2's own
        // `test_on_check_out` would block `get()` without one.
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .connection_timeout(acquire)
            .test_on_check_out(false)
            .error_handler(Box::new(LogPoolErrors))
            .build_unchecked(manager);
        let work = settings.query_timeout.get();
        Ok(Db {
            pool,
            backend,
            max_size,
            deadlines: Deadlines {
                acquire,
                probe_after: settings.checkout_probe_after.get(),
                check: backend == Backend::Postgres,
                check_bypass: settings.check_bypass_window.get(),
                work: (!work.is_zero()).then_some(work),
            },
            breaker,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for synchronous callers (CLI, blocking tasks), health-checked on every
    /// checkout (their work is not watched, so a recent answer does not stand in for the check)
    /// and without [`Db::run`]'s deadlines.
    pub fn get(&self) -> Result<PooledDb, DbError> {
        self.breaker.admit().map_err(breaker_open)?;
        let mut conn = self
            .pool
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        if self.deadlines.check {
            conn.ping()
                .map_err(|e| DbError::Unavailable(format!("connection check failed: {e}")))?;
        }
        Ok(conn)
    }

    /// Runs `f` with a pooled connection on the blocking pool, within the deadlines (see the
    /// module documentation). Past a deadline, or while the breaker is open, the answer is
    /// [`DbError::Unavailable`] at once; if `f` had not started yet, it never does.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.run_within(self.deadlines.work, f).await
    }

    /// One page of a list: `query` gets the page's limit and offset and gives that page's rows
    /// and the total across all pages; `view` turns each row into what the page shows.
    pub async fn page<R, T, Q, V>(
        &self,
        page: &PageQuery,
        query: Q,
        mut view: V,
    ) -> ApiResult<Page<T>>
    where
        Q: FnOnce(&mut DbConnection, i64, i64) -> ApiResult<(Vec<R>, i64)> + Send + 'static,
        R: Send + 'static,
        V: FnMut(R) -> T,
    {
        self.try_page(page, query, |row| Ok(view(row))).await
    }

    /// [`Db::page`] for a `view` that can fail (a stored value that no longer parses): the first
    /// failure is the answer.
    pub async fn try_page<R, T, Q, V>(
        &self,
        page: &PageQuery,
        query: Q,
        view: V,
    ) -> ApiResult<Page<T>>
    where
        Q: FnOnce(&mut DbConnection, i64, i64) -> ApiResult<(Vec<R>, i64)> + Send + 'static,
        R: Send + 'static,
        V: FnMut(R) -> ApiResult<T>,
    {
        let (limit, offset) = (page.limit(), page.offset());
        let (rows, total) = self.run(move |conn| query(conn, limit, offset)).await?;
        let items = rows.into_iter().map(view).collect::<ApiResult<Vec<T>>>()?;
        Ok(Page::new(items, total, page))
    }

    /// Like [`Db::run`], but the work itself has no deadline (migrations, which may wait for
    /// another replica's lock and build indexes); getting and checking the connection still do.
    pub async fn run_unbounded<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.run_within(None, f).await
    }

    async fn run_within<T, E, F>(&self, work_deadline: Option<Duration>, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.breaker.admit().map_err(|r| E::from(breaker_open(r)))?;
        let mut breaker_open_rx = self.breaker.subscribe();
        let (phase_tx, mut phase_rx) = tokio::sync::watch::channel(Phase::Queued);
        let abandoned = Arc::new(AtomicBool::new(false));
        let job = {
            let pool = self.pool.clone();
            let (check, check_bypass) = (self.deadlines.check, self.deadlines.check_bypass);
            let abandoned = abandoned.clone();
            crate::platform::blocking::run_blocking("db", move || {
                phase_tx.send_replace(Phase::Checkout);
                let mut conn = match pool.get() {
                    Ok(conn) => conn,
                    Err(e) => return Attempt::NoConnection(e.to_string()),
                };
                let unchecked = check && answered_within(&conn, check_bypass);
                if check && !unchecked {
                    if abandoned.load(Ordering::SeqCst) {
                        return Attempt::Abandoned;
                    }
                    phase_tx.send_replace(Phase::Check);
                    // A failed ping leaves the connection broken; the pool drops it.
                    if let Err(e) = conn.ping() {
                        return Attempt::CheckFailed(e.to_string());
                    }
                }
                if abandoned.load(Ordering::SeqCst) {
                    return Attempt::Abandoned;
                }
                phase_tx.send_replace(Phase::Work { unchecked });
                let result = f(&mut conn);
                // A connection the server closed is broken once used (libpq's status), so the
                // pool drops it either way.
                let broken = conn.is_broken();
                if unchecked && broken && result.is_err() {
                    // What the skipped check would have found: answered as its failure (a 503,
                    // the breaker probes), not as a failure of the work.
                    return Attempt::CheckFailed(
                        "the connection failed; it had answered moments before, so it was not checked"
                            .into(),
                    );
                }
                if check && !broken {
                    mark_answered(&mut conn);
                }
                Attempt::Done { result, broken }
            })
        };
        tokio::pin!(job);
        let started = tokio::time::Instant::now();
        let slow_at = started + self.deadlines.probe_after;
        let mut slow_reported = false;
        let mut phase = Phase::Queued;
        let mut phase_started = started;
        let mut watching_phases = true;
        loop {
            // Hard limits: a checkout (r2d2 stops waiting at `acquire` itself; this guards it),
            // the health check, the work.
            let limit = match phase {
                Phase::Queued => None,
                Phase::Checkout => Some(self.deadlines.acquire + Duration::from_millis(250)),
                Phase::Check => Some(self.deadlines.acquire),
                Phase::Work { .. } => work_deadline,
            };
            let hard = limit.map(|limit| phase_started + limit);
            // Checked work that is slow is a slow query, not a sign of a silent database.
            let watched = !matches!(phase, Phase::Work { unchecked: false });
            let soft = (watched && !slow_reported).then_some(slow_at);
            tokio::select! {
                attempt = &mut job => {
                    let attempt = attempt.map_err(|e| E::from(DbError::from(e)))?;
                    return match attempt {
                        Attempt::Done { result, broken } => {
                            if broken {
                                self.breaker.record_failure("a connection broke during database work");
                            } else {
                                self.breaker.record_answer();
                            }
                            result
                        }
                        Attempt::NoConnection(msg) | Attempt::CheckFailed(msg) => {
                            self.breaker.record_failure(&msg);
                            Err(E::from(DbError::Unavailable(msg)))
                        }
                        Attempt::Abandoned => Err(E::from(DbError::Unavailable(
                            "the database work was given up".into(),
                        ))),
                    };
                }
                changed = phase_rx.changed(), if watching_phases => {
                    match changed {
                        Ok(()) => {
                            phase = *phase_rx.borrow_and_update();
                            phase_started = tokio::time::Instant::now();
                        }
                        // The blocking side finished; its result is next.
                        Err(_) => watching_phases = false,
                    }
                }
                () = sleep_until(soft) => {
                    // Slow: maybe a busy pool, maybe a silent database. Keep waiting; the probe
                    // decides, and an open breaker releases this request below.
                    slow_reported = true;
                    self.breaker.record_slow();
                }
                () = sleep_until(hard) => {
                    abandoned.store(true, Ordering::SeqCst);
                    let msg = format!(
                        "{} within {}",
                        phase.describe(),
                        humantime::format_duration(limit.unwrap_or_default())
                    );
                    self.breaker.record_failure(&msg);
                    return Err(E::from(DbError::Unavailable(msg)));
                }
                () = opened(&mut breaker_open_rx) => {
                    abandoned.store(true, Ordering::SeqCst);
                    let reason = self.breaker.admit().err().unwrap_or_default();
                    return Err(E::from(breaker_open(reason)));
                }
            }
        }
    }

    /// Like [`Db::run`] inside one write transaction (see [`write_transaction`]).
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.run(move |conn| write_transaction(conn, f)).await
    }

    /// Like [`Db::transaction`], but on PostgreSQL the commit does not wait for its WAL flush
    /// (`synchronous_commit = off` for this transaction only), so the rows it locked are released
    /// without waiting for an fsync. For work whose loss in a database crash is acceptable
    /// (derived data computed again), or which the caller makes durable with [`Db::flush`]
    /// before telling anyone it is done. SQLite: the same as [`Db::transaction`].
    pub async fn transaction_unflushed<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                if let DbConnection::Postgres(pg) = conn {
                    pg.batch_execute("SET LOCAL synchronous_commit = off")?;
                }
                f(conn)
            })
        })
        .await
    }

    /// Returns once every transaction committed before the call is durable. PostgreSQL: one
    /// small transaction with an id, whose synchronous commit waits for the WAL to be flushed up
    /// to its commit record, which covers every earlier commit (concurrent callers share the
    /// fsync). SQLite: its commits are durable when they return; nothing to do.
    pub async fn flush(&self) -> Result<(), DbError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        self.run(|conn| {
            write_transaction(conn, |conn| {
                conn.batch_execute("SELECT txid_current()")
                    .map_err(DbError::Query)
            })
        })
        .await
    }

    /// Round trip to the database.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| conn.ping().map_err(DbError::Query)).await
    }

    /// `Some(reason)` while the circuit breaker is open (the database did not answer a probe).
    pub fn breaker_open(&self) -> Option<String> {
        self.breaker.admit().err()
    }

    /// (connections open, idle, max) for metrics.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections, self.max_size)
    }
}

/// Returns when the breaker is open.
async fn opened(rx: &mut tokio::sync::watch::Receiver<bool>) {
    if rx.wait_for(|open| *open).await.is_err() {
        std::future::pending::<()>().await
    }
}

/// Sleeps until `at`; forever without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn breaker_open(reason: String) -> DbError {
    DbError::Unavailable(format!(
        "circuit breaker open, the database did not answer ({reason}); probing"
    ))
}

#[derive(Debug)]
struct LogPoolErrors;

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for LogPoolErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(error = %error, "database connection failed");
    }
}

/// The default database settings (config/default.toml), for unit tests.
#[cfg(test)]
pub(crate) fn test_settings() -> DatabaseSettings {
    crate::config::Settings::load_with_env(
        &crate::config::LoadOptions {
            environment: Some(crate::config::Environment::Test),
            read_process_env: false,
            ..Default::default()
        },
        Vec::new(),
    )
    .expect("the default configuration loads")
    .database
}

#[cfg(test)]
mod tests;

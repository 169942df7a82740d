//! Storage: one diesel schema over SQLite (embedded default) and PostgreSQL (production), picked by
//! URL scheme. Diesel is synchronous, so every query runs on the blocking pool through [`Db::run`].
//! An exhausted pool or an unreachable database becomes [`DbError::Unavailable`] (a 503) after
//! `acquire_timeout_ms`, never a hang; r2d2 replaces broken connections, so Maestro recovers by
//! itself when the database comes back.

pub mod migrate;
pub mod schema;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{Pool, PooledConnection, R2D2Connection};

use crate::config::DatabaseSettings;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    // Keep SQLite last: its `establish` accepts any string as a path.
    Sqlite(diesel::SqliteConnection),
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
            Backend::Postgres => with_connect_timeout(&settings.url),
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
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_millis(settings.acquire_timeout_ms))
            .test_on_check_out(true)
            .error_handler(Box::new(LogPoolErrors))
            .build_unchecked(manager);
        Ok(Db {
            pool,
            backend,
            max_size,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for synchronous callers (CLI, blocking tasks).
    pub fn get(&self) -> Result<PooledDb, DbError> {
        self.pool
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        crate::platform::blocking::run_blocking("db", move || {
            let mut conn = pool
                .get()
                .map_err(|e| E::from(DbError::Unavailable(e.to_string())))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::from(e)))?
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

    /// Round trip to the database.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| conn.ping().map_err(DbError::Query)).await
    }

    /// (connections open, idle, max) for metrics.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections, self.max_size)
    }
}

#[derive(Debug)]
struct LogPoolErrors;

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for LogPoolErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(error = %error, "database connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme_and_unknown_schemes_are_refused() {
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("sqlite://data/x.db").unwrap(),
            Backend::Sqlite
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
        assert!(Backend::from_url("data/x.db").is_err());
    }

    #[test]
    fn sqlite_paths_are_extracted() {
        assert_eq!(sqlite_path("sqlite://data/maestro.db"), "data/maestro.db");
        assert_eq!(sqlite_path("sqlite:///tmp/x.db"), "/tmp/x.db");
        assert_eq!(sqlite_path("sqlite::memory:"), ":memory:");
    }

    #[test]
    fn sqlite_writers_queue_instead_of_failing_on_lock_upgrade() {
        use diesel::sql_types::BigInt;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::DatabaseSettings {
            url: format!("sqlite://{}", dir.path().join("t.db").display()),
            pool_size: 4,
            acquire_timeout_ms: 2000,
            busy_timeout_ms: 5000,
            statement_timeout_ms: 0,
            migrate_on_start: false,
        };
        let db = Db::new(&settings).unwrap();
        db.get()
            .unwrap()
            .batch_execute("CREATE TABLE c (n BIGINT NOT NULL); INSERT INTO c VALUES (0);")
            .unwrap();
        // Each writer reads, pauses, then writes: with deferred transactions some fail with
        // "database is locked"; with BEGIN IMMEDIATE all of them commit.
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let mut conn = db.get().unwrap();
                    for _ in 0..10 {
                        write_transaction(&mut conn, |c| -> QueryResult<()> {
                            let n: N = diesel::sql_query("SELECT n FROM c").get_result(c)?;
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            diesel::sql_query(format!("UPDATE c SET n = {}", n.n + 1))
                                .execute(c)?;
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let n: N = diesel::sql_query("SELECT n FROM c")
            .get_result(&mut db.get().unwrap())
            .unwrap();
        assert_eq!(n.n, 40, "no update was lost");

        // A failing closure rolls back; the connection stays usable.
        let mut conn = db.get().unwrap();
        let failed: QueryResult<()> = write_transaction(&mut conn, |c| {
            diesel::sql_query("UPDATE c SET n = 0").execute(c)?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(failed.is_err());
        let n: N = diesel::sql_query("SELECT n FROM c")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(n.n, 40);
    }

    #[test]
    fn connect_timeout_is_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://h/db"),
            "postgres://h/db?connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable"),
            "postgres://h/db?sslmode=disable&connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9"),
            "postgres://h/db?connect_timeout=9"
        );
    }
}

//! Unit tests of the storage handle: backends, deadlines, the breaker's users, PostgreSQL
//! connections (skipped without `MAESTRO_TEST_DATABASE_URL`).

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
        ..test_settings()
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
                        diesel::sql_query(format!("UPDATE c SET n = {}", n.n + 1)).execute(c)?;
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

fn sqlite_db(dir: &std::path::Path, tune: impl FnOnce(&mut DatabaseSettings)) -> Db {
    let mut settings = DatabaseSettings {
        url: format!("sqlite://{}", dir.join("t.db").display()),
        pool_size: 1,
        ..test_settings()
    };
    tune(&mut settings);
    Db::new(&settings).unwrap()
}

#[tokio::test]
async fn work_past_its_deadline_answers_unavailable_without_waiting_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path(), |s| {
        s.query_timeout = crate::config::HumanDuration(Duration::from_millis(100))
    });
    let started = std::time::Instant::now();
    let err = db
        .run(|_| -> Result<(), DbError> {
            std::thread::sleep(Duration::from_millis(1500));
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, DbError::Unavailable(m) if m.contains("did not finish")),
        "{err}"
    );
}

#[tokio::test]
async fn a_busy_pool_answers_unavailable_and_is_not_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path(), |s| s.acquire_timeout_ms = 200);
    let held = db.get().unwrap();
    let err = db.ping().await.unwrap_err();
    assert!(matches!(err, DbError::Unavailable(_)), "{err}");
    drop(held);
    // The failure started a probe; it answers and the breaker stays closed.
    db.ping().await.unwrap();
    breaker::tests::wait_until("the probe to answer", || db.breaker.probe_answered()).await;
    assert_eq!(db.breaker_open(), None);
    db.ping().await.unwrap();
}

#[tokio::test]
async fn work_released_by_the_opening_breaker_never_runs_later() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path(), |s| s.acquire_timeout_ms = 5000);
    let held = db.get().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let waiting = tokio::spawn({
        let db = db.clone();
        async move {
            db.run(move |_| -> Result<(), DbError> {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.breaker.force_probe_result(Err("test: silent".into()));
    let err = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, DbError::Unavailable(m) if m.contains("test: silent")),
        "{err}"
    );
    // The connection frees up; the released work must not run on it.
    drop(held);
    breaker::tests::wait_until("the connection to come back", || db.pool_state().1 >= 1).await;
    db.breaker.force_probe_result(Ok(()));
    db.ping().await.unwrap();
    assert!(
        !ran.load(Ordering::SeqCst),
        "work given up on never starts later"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_opens_the_breaker_and_then_answers_at_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = DatabaseSettings {
        url: format!("postgres://nobody@127.0.0.1:{port}/none"),
        acquire_timeout_ms: 3000,
        ..test_settings()
    };
    let db = Db::new(&settings).unwrap();
    // Nothing listens: r2d2 alone would wait the whole acquire timeout; the slow checkout
    // starts a probe, the probe is refused, the breaker opens and releases the request.
    let started = std::time::Instant::now();
    let err = db.ping().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, DbError::Unavailable(m) if m.contains("circuit breaker open")),
        "{err}"
    );
    assert!(db.breaker_open().is_some());
    let started = std::time::Instant::now();
    let err = db.ping().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "refused at once: {:?}",
        started.elapsed()
    );
    assert!(matches!(err, DbError::Unavailable(_)), "{err}");
}

/// The probe keeps its connection between probes and replaces one the server closed.
#[tokio::test]
async fn the_postgres_probe_keeps_its_connection_and_replaces_a_closed_one() {
    let Ok(url) = std::env::var("MAESTRO_TEST_DATABASE_URL") else {
        eprintln!("MAESTRO_TEST_DATABASE_URL is not set; PostgreSQL probe test skipped");
        return;
    };
    let settings = DatabaseSettings {
        url,
        ..test_settings()
    };
    let manager = ConnectionManager::new(&settings).unwrap();
    let probe = ProbeConnection::new(manager.clone());
    assert_eq!(
        probe.backend_pid(),
        None,
        "no connection before the first probe"
    );
    probe.check().unwrap();
    let first = probe.backend_pid().expect("the probe keeps its connection");
    probe.check().unwrap();
    assert_eq!(probe.backend_pid(), Some(first), "the next probe reuses it");

    let mut admin = manager.establish().unwrap();
    diesel::sql_query(format!("SELECT pg_terminate_backend({first}, 5000)"))
        .execute(&mut admin)
        .unwrap();
    probe
        .check()
        .expect("a closed connection is replaced, not reported as an outage");
    let second = probe.backend_pid().expect("a new connection is kept");
    assert_ne!(second, first);
}

/// A pooled connection that answered within the skip window goes to work without a
/// `SELECT 1`: one the server closed meanwhile fails that work as the check would have (a
/// 503), and is not reused. Past the window the check runs first and catches it.
#[tokio::test]
async fn a_connection_that_just_answered_goes_to_work_unchecked_and_a_closed_one_is_a_503() {
    let Ok(url) = std::env::var("MAESTRO_TEST_DATABASE_URL") else {
        eprintln!("MAESTRO_TEST_DATABASE_URL is not set; PostgreSQL check-skip test skipped");
        return;
    };
    let mut settings = DatabaseSettings {
        url,
        pool_size: 1,
        ..test_settings()
    };
    let mut admin = ConnectionManager::new(&settings)
        .unwrap()
        .establish()
        .unwrap();
    let mut terminate = |pid: i32| {
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid}, 5000)"))
            .execute(&mut admin)
            .unwrap();
    };
    let pid_of = |db: &Db| {
        let db = db.clone();
        async move {
            db.run(|conn| backend_pid(conn).map_err(DbError::Query))
                .await
        }
    };

    // Inside the window (long enough that a slow host cannot leave it).
    settings.check_bypass_window = crate::config::HumanDuration(Duration::from_secs(60));
    let db = Db::new(&settings).unwrap();
    let first = pid_of(&db).await.unwrap();
    assert_eq!(pid_of(&db).await.unwrap(), first, "one pooled connection");
    terminate(first);
    let err = pid_of(&db).await.unwrap_err();
    assert!(
        matches!(&err, DbError::Unavailable(m) if m.contains("it was not checked")),
        "the unchecked work met the closed connection: {err}"
    );
    let second = pid_of(&db).await.unwrap();
    assert_ne!(second, first, "the closed connection is not reused");

    // No window (`0s`): the check meets the closed connection before the work runs.
    settings.check_bypass_window = crate::config::HumanDuration(Duration::ZERO);
    let db = Db::new(&settings).unwrap();
    let first = pid_of(&db).await.unwrap();
    terminate(first);
    let err = pid_of(&db).await.unwrap_err();
    assert!(
        matches!(&err, DbError::Unavailable(m) if !m.contains("it was not checked")),
        "the check failed: {err}"
    );
    assert_ne!(pid_of(&db).await.unwrap(), first);
}

#[test]
fn tcp_settings_are_added_unless_the_url_has_them() {
    let d = Duration::from_secs;
    assert_eq!(
        with_tcp_settings("postgres://h/db?connect_timeout=3", d(9), d(15)),
        "postgres://h/db?connect_timeout=3&keepalives=1&keepalives_idle=9&keepalives_interval=3&keepalives_count=3&tcp_user_timeout=15000"
    );
    assert_eq!(
        with_tcp_settings(
            "postgres://h/db?keepalives_idle=60&tcp_user_timeout=0",
            d(9),
            d(15)
        ),
        "postgres://h/db?keepalives_idle=60&tcp_user_timeout=0&keepalives=1&keepalives_interval=3&keepalives_count=3"
    );
    assert_eq!(
        with_tcp_settings("postgres://h/db", Duration::ZERO, Duration::ZERO),
        "postgres://h/db"
    );
}

/// The pool and the workflows LISTEN connection share this URL, so both get the same timeouts.
#[test]
fn postgres_urls_carry_the_configured_timeouts() {
    let mut settings = test_settings();
    settings.url = "postgres://h/db".into();
    settings.tcp_keepalive_idle = crate::config::HumanDuration(Duration::from_secs(30));
    settings.tcp_user_timeout = crate::config::HumanDuration(Duration::from_secs(20));
    assert_eq!(
        postgres_url(&settings),
        "postgres://h/db?connect_timeout=3&keepalives=1&keepalives_idle=30&keepalives_interval=10&keepalives_count=3&tcp_user_timeout=20000"
    );
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

//! Outages while serving: Redis stopped (a private redis-server), PostgreSQL restarted (a TCP
//! proxy that severs every connection and refuses new ones, as a restart does), pool exhausted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{PgSchema, PrivateRedis, TestApp, test_database_url};

#[tokio::test]
async fn requests_keep_succeeding_when_redis_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut redis) = PrivateRedis::start(dir.path()).await else {
        return;
    };
    let app = TestApp::builder().private_redis(&redis).spawn().await;
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&app.viewer.token)).await.0,
        200
    );

    redis.kill();

    // Cache misses fall through to the database; nothing fails.
    for user in [&app.viewer, &app.editor, &app.admin] {
        let (status, body) = app.get("/api/v1/auth/me", Some(&user.token)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = app.get("/api/v1/admin/users", Some(&app.admin.token)).await;
    assert_eq!(status, 200);
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(status, 200, "still ready without Redis: {ready}");
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["redis"]["status"], "degraded");
    let (_, health) = app.get("/health", None).await;
    assert_eq!(health["redis"], "disconnected");

    // Redis back: Maestro notices without a restart.
    redis.restart().await;
    app.eventually(
        "Redis to be reported up again",
        Duration::from_secs(10),
        || {
            let app = &app;
            async move {
                let (_, ready) = app.get("/readyz", None).await;
                (ready["status"] == "ready").then_some(())
            }
        },
    )
    .await;
}

/// Forwards TCP to a target; `cut()` severs every connection and refuses new ones until
/// `restore()`.
pub(crate) struct ChaosProxy {
    pub(crate) port: u16,
    up: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl ChaosProxy {
    pub(crate) async fn start(target: String) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let (up_c, gen_c) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up_c.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut = gen_c.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        ChaosProxy {
            port,
            up,
            generation,
        }
    }

    pub(crate) fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub(crate) fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_postgres_restart_gives_503s_then_recovers_without_restarting_maestro() {
    let Some(admin_url) = test_database_url() else {
        eprintln!("skipped: set MAESTRO_TEST_DATABASE_URL to run the PostgreSQL restart test");
        return;
    };
    let schema = PgSchema::create(&admin_url);
    let mut url = url::Url::parse(&schema.url).unwrap();
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let proxy = ChaosProxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    let app = TestApp::builder()
        .database_url(url.to_string())
        .with(|s| s.database.acquire_timeout_ms = 1000)
        .spawn()
        .await;
    assert_eq!(
        app.get("/api/v1/admin/users", Some(&app.admin.token))
            .await
            .0,
        200
    );

    proxy.cut();
    let started = Instant::now();
    let (status, body) = app.get("/api/v1/admin/users", Some(&app.admin.token)).await;
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "db.unavailable");
    assert!(
        waited < Duration::from_secs(10),
        "a 503, not a hang ({waited:?})"
    );
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(status, 503, "{ready}");

    proxy.restore();
    app.eventually("requests to succeed again", Duration::from_secs(20), || {
        let app = &app;
        async move {
            let (status, _) = app.get("/api/v1/admin/users", Some(&app.admin.token)).await;
            (status == 200).then_some(())
        }
    })
    .await;
    assert_eq!(app.get("/readyz", None).await.0, 200);
    drop(schema);
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_quickly() {
    let app = TestApp::builder()
        .with(|s| {
            s.database.pool_size = 1;
            s.database.acquire_timeout_ms = 300;
        })
        .spawn()
        .await;
    let db = app.platform.db.clone();
    let held = tokio::task::spawn_blocking(move || db.get().expect("the only connection"))
        .await
        .unwrap();
    let (status, body) = app.get("/api/v1/admin/users", Some(&app.admin.token)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "db.unavailable");
    drop(held);
    let (status, _) = app.get("/api/v1/admin/users", Some(&app.admin.token)).await;
    assert_eq!(status, 200);
}

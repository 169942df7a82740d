//! Spawns a real Maestro on 127.0.0.1:<random> and talks HTTP to it. Storage is isolated per
//! test: a fresh SQLite file in a temp dir, or — when `MAESTRO_TEST_DATABASE_URL` is set — a fresh
//! PostgreSQL schema (dropped afterwards); with `MAESTRO_TEST_REDIS_URL`, Redis with a unique key
//! prefix (so streams and cache keys never collide between tests).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use maestro::config::{Environment, LoadOptions, Settings};
use maestro::platform::Platform;
use maestro::platform::auth::Role;
use maestro::server::{Application, ModuleFactory, ShutdownHandle};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub fn test_database_url() -> Option<String> {
    std::env::var("MAESTRO_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

pub fn test_redis_url() -> Option<String> {
    std::env::var("MAESTRO_TEST_REDIS_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber_init();
    }
});

fn tracing_subscriber_init() -> anyhow::Result<()> {
    let mut settings = base_settings();
    settings.telemetry.log_level = std::env::var("TEST_LOG").unwrap_or_else(|_| "info".into());
    std::mem::forget(maestro::platform::telemetry::init(&settings)?);
    Ok(())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `config/default.toml` + `config/test.toml`, ignoring the process environment.
pub fn base_settings() -> Settings {
    Settings::load(&LoadOptions {
        config_dir: repo_root().join("config"),
        environment: Some(Environment::Test),
        read_process_env: false,
    })
    .expect("test configuration loads")
}

/// A PostgreSQL schema owned by one test.
pub struct PgSchema {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgSchema {
    pub fn create(admin_url: &str) -> PgSchema {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn =
            diesel::PgConnection::establish(admin_url).expect("connect to test PostgreSQL");
        conn.batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create schema");
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-c%20search_path%3D{name}");
        PgSchema {
            admin_url: admin_url.to_string(),
            name,
            url,
        }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Off the async runtime: Drop may run inside a tokio worker.
        let _ = std::thread::spawn(move || {
            if let Ok(mut conn) = diesel::PgConnection::establish(&url) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
            }
        })
        .join();
    }
}

/// Removes a test's Redis keys afterwards.
pub struct RedisPrefix {
    pub url: String,
    pub prefix: String,
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let _ = std::thread::spawn(move || {
            let Ok(client) = redis::Client::open(url) else {
                return;
            };
            let Ok(mut conn) = client.get_connection() else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}:*"))
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        })
        .join();
    }
}

pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub tenant: String,
    pub tenant_id: String,
    pub role: Role,
    pub token: String,
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub platform: Platform,
    pub settings: Settings,
    pub handle: ShutdownHandle,
    pub join: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// tenant "acme": admin, editor, viewer; tenant "globex": other_admin.
    pub admin: TestUser,
    pub editor: TestUser,
    pub viewer: TestUser,
    pub other_admin: TestUser,
    pub dir: tempfile::TempDir,
    pub redis: Option<RedisPrefix>,
    _pg: Option<PgSchema>,
}

type SettingsFn = Box<dyn FnOnce(&mut Settings) + Send>;

pub struct TestAppBuilder {
    customize: Vec<SettingsFn>,
    modules: Vec<ModuleFactory>,
    redis: bool,
    database_url: Option<String>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            customize: Vec::new(),
            modules: Vec::new(),
            redis: true,
            database_url: None,
        }
    }

    /// All configured modules, users in two tenants, SQLite or PostgreSQL+Redis per environment.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req
    }

    /// GET with a token; returns (status, JSON body or Null).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        send(self.request(Method::GET, path, token)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        send(self.request(Method::POST, path, token).json(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        send(self.request(Method::PUT, path, token).json(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        send(self.request(Method::DELETE, path, token)).await
    }

    /// Polls `check` every 50 ms until it returns `Some`, or panics with `what` after `timeout`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        eventually(what, timeout, &mut check).await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn stream_name(&self, suffix: &str) -> String {
        format!("{}:streams:{suffix}", self.settings.redis.key_prefix)
    }

    /// Runs backend-specific SQL in the test's database (fault injection, rows as an earlier
    /// version wrote them).
    pub async fn exec_sql(&self, sqlite: &str, postgres: &str) {
        use maestro::platform::db::Backend;
        let sql = match self.platform.db.backend() {
            Backend::Sqlite => sqlite.to_string(),
            Backend::Postgres => postgres.to_string(),
        };
        let db = self.platform.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get().expect("a connection");
            conn.batch_execute(&sql).expect("test SQL runs");
        })
        .await
        .unwrap();
    }

    /// The rows of a query whose columns are three texts named `a`, `b` and `c` (what a table
    /// holds, as the API never shows it).
    pub async fn select_texts(&self, sql: &str) -> Vec<[Option<String>; 3]> {
        use diesel::RunQueryDsl;
        use diesel::sql_types::{Nullable, Text};

        #[derive(diesel::QueryableByName)]
        struct Texts {
            #[diesel(sql_type = Nullable<Text>)]
            a: Option<String>,
            #[diesel(sql_type = Nullable<Text>)]
            b: Option<String>,
            #[diesel(sql_type = Nullable<Text>)]
            c: Option<String>,
        }
        let (db, sql) = (self.platform.db.clone(), sql.to_string());
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get().expect("a connection");
            let rows: Vec<Texts> = diesel::sql_query(sql)
                .load(&mut *conn)
                .expect("the test query runs");
            rows.into_iter().map(|r| [r.a, r.b, r.c]).collect()
        })
        .await
        .unwrap()
    }

    /// A synchronous Redis connection to the test's Redis (None without Redis).
    pub fn redis_conn(&self) -> Option<redis::Connection> {
        let url = &self.redis.as_ref()?.url;
        redis::Client::open(url.as_str())
            .ok()?
            .get_connection()
            .ok()
    }

    /// Stops the server and starts a new one on the same data directory, database and Redis
    /// prefix, as a process restart would (default modules); users and tokens stay valid.
    pub async fn restart(&mut self) {
        self.handle.shutdown().await;
        if let Some(join) = self.join.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), join).await;
        }
        self.platform.release();
        let app = Application::build(self.settings.clone())
            .await
            .expect("application builds again");
        self.port = app.port();
        self.address = format!("http://127.0.0.1:{}", self.port);
        self.platform = app.platform().clone();
        self.handle = app.shutdown_handle();
        self.join = Some(tokio::spawn(app.run_until_stopped()));
    }

    pub async fn shutdown(mut self) {
        self.handle.shutdown().await;
        if let Some(join) = self.join.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), join).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Break the module services' reference cycles so this test's pool (and its database
        // connections) is freed once the server and tasks stop with the test's runtime.
        self.platform.release();
    }
}

pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, check: &mut F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let res = req.send().await.expect("request reaches the server");
    let status = res.status();
    let bytes = res.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        if bytes.is_empty() {
            Value::Null
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
    });
    (status, body)
}

impl TestAppBuilder {
    /// Adjust settings before the server is built.
    pub fn with(mut self, f: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.customize.push(Box::new(f));
        self
    }

    pub fn module(mut self, factory: ModuleFactory) -> Self {
        self.modules.push(factory);
        self
    }

    /// Run without Redis even when the environment provides one.
    pub fn without_redis(mut self) -> Self {
        self.redis = false;
        self
    }

    /// Use this test's own redis-server (instead of the environment's Redis, if any).
    pub fn private_redis(self, redis: &PrivateRedis) -> Self {
        let url = redis.url();
        self.with(move |s| {
            s.redis.url = url;
            s.redis.key_prefix = "private".into();
        })
    }

    /// Use this database URL instead of the per-test SQLite/PostgreSQL default.
    pub fn database_url(mut self, url: String) -> Self {
        self.database_url = Some(url);
        self
    }

    pub async fn spawn(self) -> TestApp {
        LazyLock::force(&TRACING);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = base_settings();
        settings.data_dir = dir.path().join("data");
        settings.database.pool_size = 4;
        settings.server.workers = 2;
        settings.server.shutdown_timeout_secs = 5;
        let pg = match (&self.database_url, test_database_url()) {
            (Some(_), _) => None,
            (None, Some(url)) => Some(PgSchema::create(&url)),
            (None, None) => None,
        };
        settings.database.url = match (&self.database_url, &pg) {
            (Some(url), _) => url.clone(),
            (None, Some(schema)) => schema.url.clone(),
            (None, None) => format!("sqlite://{}", dir.path().join("maestro.db").display()),
        };
        let redis = match (self.redis, test_redis_url()) {
            (true, Some(url)) => {
                let prefix = format!("mtest-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
                settings.redis.url = url.clone();
                settings.redis.key_prefix = prefix.clone();
                Some(RedisPrefix { url, prefix })
            }
            _ => {
                settings.redis.url = String::new();
                None
            }
        };
        for f in self.customize {
            f(&mut settings);
        }
        settings.validate().expect("test settings are valid");

        let app = Application::build_with(settings.clone(), self.modules)
            .await
            .expect("application builds");
        let port = app.port();
        let platform = app.platform().clone();
        let handle = app.shutdown_handle();
        let join = tokio::spawn(app.run_until_stopped());

        let admin = make_user(&platform, "acme", "admin@acme.test", Role::Admin).await;
        let editor = make_user(&platform, "acme", "editor@acme.test", Role::Editor).await;
        let viewer = make_user(&platform, "acme", "viewer@acme.test", Role::Viewer).await;
        let other_admin = make_user(&platform, "globex", "admin@globex.test", Role::Admin).await;

        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            platform,
            settings,
            handle,
            join: Some(join),
            admin,
            editor,
            viewer,
            other_admin,
            dir,
            redis,
            _pg: pg,
        }
    }
}

pub const TEST_PASSWORD: &str = "correct-horse-battery";

async fn make_user(platform: &Platform, tenant: &str, email: &str, role: Role) -> TestUser {
    let user = platform
        .auth
        .create_user_in_tenant_named(tenant, email, TEST_PASSWORD, role)
        .await
        .expect("create test user");
    let token = platform
        .auth
        .token_for_email(email)
        .await
        .expect("token for test user");
    TestUser {
        id: user.id,
        email: email.to_string(),
        password: TEST_PASSWORD.to_string(),
        tenant: tenant.to_string(),
        tenant_id: user.tenant_id,
        role,
        token,
    }
}

/// Path of the compiled `maestro` binary (for process-level tests).
pub fn maestro_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_maestro"))
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `maestro serve` child process (process-level tests): its own port and log file, test
/// configuration, no Redis unless `extra` sets `MAESTRO__REDIS__URL`. Killed (SIGKILL) on drop.
/// `url` is final once [`MaestroProcess::wait_ready`] returned: a port another process took
/// between [`free_port`] and the child's bind is replaced by a new one there.
pub struct MaestroProcess {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
    launch: Launch,
}

/// What a [`MaestroProcess`] was started with (to start it again on another port).
struct Launch {
    dir: PathBuf,
    name: String,
    database_url: String,
    extra: Vec<(String, String)>,
}

impl Launch {
    fn spawn(&self) -> (Child, String, PathBuf) {
        let port = free_port();
        let log = self.dir.join(format!("{}.log", self.name));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(maestro_bin());
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MAESTRO_ENV", "test")
            .env("MAESTRO_CONFIG_DIR", repo_root().join("config"))
            .env("MAESTRO__SERVER__PORT", port.to_string())
            .env("MAESTRO__DATA_DIR", self.dir.join("data"))
            .env("MAESTRO__DATABASE__URL", &self.database_url)
            .env("MAESTRO__DATABASE__POOL_SIZE", "8")
            .env("MAESTRO__REDIS__URL", "")
            .env("MAESTRO__TELEMETRY__LOG_LEVEL", "warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start maestro");
        (child, format!("http://127.0.0.1:{port}"), log)
    }
}

impl MaestroProcess {
    pub fn start(
        dir: &Path,
        name: &str,
        database_url: &str,
        extra: &[(&str, &str)],
    ) -> MaestroProcess {
        let launch = Launch {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            database_url: database_url.to_string(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let (child, url, log) = launch.spawn();
        MaestroProcess {
            child,
            url,
            log,
            launch,
        }
    }

    /// Waits for `/readyz`; panics with the log when the process exits, unless it exited
    /// because its port was taken meanwhile (parallel tests): then it starts again on another.
    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        for _ in 0..5 {
            let (child, url, log) = (&mut self.child, &self.url, &self.log);
            let exited = eventually(
                &format!("maestro at {url} to become ready (log: {})", log.display()),
                Duration::from_secs(30),
                &mut || {
                    let exited = match child.try_wait() {
                        Ok(Some(status)) => Some(status),
                        _ => None,
                    };
                    let req = client.get(format!("{url}/readyz")).send();
                    async move {
                        if let Some(status) = exited {
                            return Some(Some(status));
                        }
                        req.await
                            .ok()
                            .filter(|r| r.status().is_success())
                            .map(|_| None)
                    }
                },
            )
            .await;
            let Some(status) = exited else {
                return;
            };
            let output = std::fs::read_to_string(&self.log).unwrap_or_default();
            assert!(
                output.contains("Address already in use"),
                "maestro exited with {status}: {output}"
            );
            (self.child, self.url, self.log) = self.launch.spawn();
        }
        panic!("maestro found no free port in five tries");
    }

    /// SIGKILL (std's `Child::kill` on Unix): no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MaestroProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A redis-server owned by one test (never the shared one): its own port and data directory
/// (`SAVE` writes `dump.rdb` there, and a restart loads it). Killed on drop.
pub struct PrivateRedis {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    /// None when redis-server is not installed (said on stderr: the caller's test is skipped).
    pub async fn start(dir: &Path) -> Option<PrivateRedis> {
        let mut redis = PrivateRedis {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
        };
        if !redis.spawn() {
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        redis.wait_listening().await;
        Some(redis)
    }

    fn spawn(&mut self) -> bool {
        std::fs::create_dir_all(&self.dir).expect("redis dir");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--dbfilename",
                "dump.rdb",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        self.child = child.ok();
        self.child.is_some()
    }

    async fn wait_listening(&self) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server does not listen on {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to the private redis-server")
    }

    /// SIGKILL: no shutdown save; what the data directory holds is what a restart loads.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port and directory (loading `dump.rdb` when there is one).
    pub async fn restart(&mut self) {
        self.kill();
        assert!(self.spawn(), "redis-server starts again");
        self.wait_listening().await;
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {signal}");
        }
    }

    /// SIGSTOP: connections stay open and nothing answers (a hung host).
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.thaw();
        self.kill();
    }
}

/// Shared pointer alias used by test modules.
pub type Shared<T> = Arc<std::sync::Mutex<T>>;

/// Settings for the in-test platform that shares the processes' database (users, checks).
pub async fn platform_for(database_url: &str, dir: &Path) -> Platform {
    let mut settings: Settings = base_settings();
    settings.database.url = database_url.to_string();
    settings.data_dir = dir.join("data");
    settings.redis.url = String::new();
    let platform = Platform::new(settings).unwrap();
    platform.migrate(Duration::from_secs(10)).await.unwrap();
    platform
}

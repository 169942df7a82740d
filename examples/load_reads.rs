//! Read-path load run, measured from outside like a client would, with the floor in the same run.
//!
//! For each configuration — SQLite, PostgreSQL with the in-process cache, PostgreSQL + Redis —
//! it starts the release `maestro` binary as a child process, seeds `--templates` varied,
//! realistic templates into one tenant through `POST /api/v1/templates` (once per database: the
//! two PostgreSQL configurations share the data), restarts the server — the configurations of
//! one database side by side, each its own process — reads their idle RSS, then runs `wrk`
//! (`--connections` connections, `--threads` threads, `--warmup` s not counted, then `--seconds` s
//! measured) with `benches/load_reads.lua` on:
//!
//! - `get hot`: `GET /api/v1/templates/{id}`, one id;
//! - `get cold`: the same over every seeded id, one picked at random per request;
//! - `search`: `POST /api/v1/templates/search` with one of a few hundred realistic queries per
//!   request, its letters in random case, so almost no request is answered by the cache (the
//!   measured hit ratio is printed);
//! - `list`: `GET /api/v1/templates?category=…&limit=20&offset=20` over the 15 categories.
//!
//! The floor (`examples/floor.rs`, a copy of `../shared/bench/floor`: actix-web + HS256 JWT +
//! a fixed JSON, no storage) answers `get hot` and `get cold` right before Maestro does; every
//! read is printed with requests/s, p50, p99 and its ratio to the floor (search and list to the
//! floor's hot GET). RSS idle and after the reads close each configuration.
//!
//! With `--rounds N` (N > 1) every read is measured in N alternating A/B rounds (each read: the
//! floor, then every configuration, the order reversed every other round), as
//! `../shared/bench/bench.sh ab` does: drift of the shared machine between rounds then falls on
//! both sides alike. The summary gives each read's median figures and, for
//! PostgreSQL + Redis against PostgreSQL in-process, every round's ratio and their median.
//!
//! Only the templates module is on (quality, workflows, healing and k8s off: nothing scores or
//! schedules in the background while measuring); everything else is the default configuration.
//!
//! ```text
//! cargo build --release --bin maestro --example load_reads --example floor
//! target/release/examples/load_reads \
//!     --database-url postgres://postgres@127.0.0.1:5432/maestro_test \
//!     --redis-url redis://127.0.0.1:6379/0
//! ```
//!
//! Flags: `--templates N` (10000), `--configs sqlite,postgres,postgres+redis` (those whose
//! URLs are given; add `postgres+redis-priority` for a second PostgreSQL + Redis server, its own
//! keys, measured with the local redis-server reniced to -10 — as root — and set back after each
//! read: Redis as if it had a core of its own), `--reads get-hot,get-cold,search,list`,
//! `--seconds N` (20), `--warmup N` (5), `--rounds N` (1), `--connections N` (64),
//! `--threads N` (2), `--seed-concurrency N` (8), `--maestro-bin`, `--floor-bin` (default:
//! beside this binary), `--lua PATH`, `--server-log PATH` (append the servers' output — warnings
//! and errors — there, e.g. to see why a request was not a 2xx). The URLs default to
//! `MAESTRO_TEST_DATABASE_URL` / `MAESTRO_TEST_REDIS_URL`. A PostgreSQL run works in a scratch
//! schema and a Redis run under a scratch key prefix, both removed at the end.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use maestro::render::CATEGORIES;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const USAGE: &str = "flags: --templates N --configs sqlite,postgres,postgres+redis[,postgres+redis-priority] \
    --reads get-hot,get-cold,search,list --seconds N --warmup N --rounds N --connections N \
    --threads N \
    --seed-concurrency N --database-url URL --redis-url URL --maestro-bin PATH --floor-bin PATH \
    --lua PATH --server-log PATH";

type Error = Box<dyn std::error::Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    Sqlite,
    Postgres,
    PostgresRedis,
    /// PostgreSQL + Redis with redis-server reniced to [`REDIS_NICE`] while this configuration is
    /// measured: on a shared two-core host Redis otherwise waits on the run queue behind `wrk`,
    /// PostgreSQL and the server (a deployed Redis has cores of its own).
    PostgresRedisPriority,
}

/// The nice value `postgres+redis-priority` gives redis-server while it is measured.
const REDIS_NICE: i32 = -10;

impl Config {
    fn label(self) -> &'static str {
        match self {
            Config::Sqlite => "SQLite, in-process cache",
            Config::Postgres => "PostgreSQL, in-process cache",
            Config::PostgresRedis => "PostgreSQL + Redis",
            Config::PostgresRedisPriority => "PostgreSQL + Redis, Redis at nice -10",
        }
    }

    fn uses_redis(self) -> bool {
        matches!(self, Config::PostgresRedis | Config::PostgresRedisPriority)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    GetHot,
    GetCold,
    Search,
    List,
}

impl Read {
    fn label(self) -> &'static str {
        match self {
            Read::GetHot => "GET /templates/{id}, one id",
            Read::GetCold => "GET /templates/{id}, all ids",
            Read::Search => "POST /templates/search, varied",
            Read::List => "GET /templates?category=…&offset=20",
        }
    }
}

struct Args {
    templates: usize,
    configs: Vec<Config>,
    reads: Vec<Read>,
    seconds: u64,
    warmup: u64,
    /// Alternating A/B rounds per read (1: each configuration once).
    rounds: usize,
    connections: usize,
    threads: usize,
    seed_concurrency: usize,
    database_url: Option<String>,
    redis_url: Option<String>,
    maestro_bin: PathBuf,
    floor_bin: PathBuf,
    lua: PathBuf,
    server_log: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let examples = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut args = Args {
        templates: 10_000,
        configs: Vec::new(),
        reads: vec![Read::GetHot, Read::GetCold, Read::Search, Read::List],
        seconds: 20,
        warmup: 5,
        rounds: 1,
        connections: 64,
        threads: 2,
        seed_concurrency: 8,
        database_url: env("MAESTRO_TEST_DATABASE_URL"),
        redis_url: env("MAESTRO_TEST_REDIS_URL"),
        maestro_bin: examples.parent().unwrap_or(&examples).join("maestro"),
        floor_bin: examples.join("floor"),
        lua: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/load_reads.lua"),
        server_log: None,
    };
    let mut configs = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String, name: &str| -> Result<usize, String> {
            v.parse().map_err(|e| format!("{name}: {e}"))
        };
        match flag.as_str() {
            "--templates" => args.templates = number(value()?, "--templates")?,
            "--seconds" => args.seconds = number(value()?, "--seconds")? as u64,
            "--warmup" => args.warmup = number(value()?, "--warmup")? as u64,
            "--rounds" => args.rounds = number(value()?, "--rounds")?,
            "--connections" => args.connections = number(value()?, "--connections")?,
            "--threads" => args.threads = number(value()?, "--threads")?,
            "--seed-concurrency" => args.seed_concurrency = number(value()?, "--seed-concurrency")?,
            "--database-url" => args.database_url = Some(value()?),
            "--redis-url" => args.redis_url = Some(value()?),
            "--maestro-bin" => args.maestro_bin = PathBuf::from(value()?),
            "--floor-bin" => args.floor_bin = PathBuf::from(value()?),
            "--lua" => args.lua = PathBuf::from(value()?),
            "--server-log" => args.server_log = Some(PathBuf::from(value()?)),
            "--configs" => {
                let mut list = Vec::new();
                for name in value()?.split(',').map(str::trim) {
                    list.push(match name {
                        "sqlite" => Config::Sqlite,
                        "postgres" => Config::Postgres,
                        "postgres+redis" => Config::PostgresRedis,
                        "postgres+redis-priority" => Config::PostgresRedisPriority,
                        other => return Err(format!("--configs: unknown `{other}`; {USAGE}")),
                    });
                }
                configs = Some(list);
            }
            "--reads" => {
                args.reads.clear();
                for name in value()?.split(',').map(str::trim) {
                    args.reads.push(match name {
                        "get-hot" => Read::GetHot,
                        "get-cold" => Read::GetCold,
                        "search" => Read::Search,
                        "list" => Read::List,
                        other => return Err(format!("--reads: unknown `{other}`; {USAGE}")),
                    });
                }
            }
            other => return Err(format!("unknown argument {other}; {USAGE}")),
        }
    }
    args.configs = configs.unwrap_or_else(|| {
        let mut all = vec![Config::Sqlite];
        if args.database_url.is_some() {
            all.push(Config::Postgres);
            if args.redis_url.is_some() {
                all.push(Config::PostgresRedis);
            }
        }
        all
    });
    let postgres = args.configs.iter().any(|c| *c != Config::Sqlite);
    if postgres && args.database_url.is_none() {
        return Err("PostgreSQL runs need --database-url (or MAESTRO_TEST_DATABASE_URL)".into());
    }
    if args.configs.iter().any(|c| c.uses_redis()) && args.redis_url.is_none() {
        return Err("the Redis run needs --redis-url (or MAESTRO_TEST_REDIS_URL)".into());
    }
    if args.templates == 0
        || args.seconds == 0
        || args.rounds == 0
        || args.connections == 0
        || args.threads == 0
    {
        return Err(
            "--templates, --seconds, --rounds, --connections and --threads must be at least 1"
                .into(),
        );
    }
    for (path, what) in [
        (
            &args.maestro_bin,
            "the maestro binary (cargo build --release)",
        ),
        (
            &args.floor_bin,
            "the floor (cargo build --release --example floor)",
        ),
        (&args.lua, "the wrk script"),
    ] {
        if !path.exists() {
            return Err(format!("{} not found: {what}", path.display()));
        }
    }
    Ok(args)
}

// ----- the data set (shared with `benches/templates.rs`) -----

#[path = "../benches/support/catalog.rs"]
mod catalog;
use catalog::{Rng, queries, template};

// ----- processes -----

/// The local redis-server behind `--redis-url`, for `postgres+redis-priority`.
struct RedisProcess {
    pid: u32,
    /// Its nice value before the run, given back after each measurement and at the end.
    usual: i32,
}

impl RedisProcess {
    fn local(url: &str) -> Result<RedisProcess, Error> {
        let mut conn = redis::Client::open(url)?.get_connection()?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn)?;
        let pid: u32 = info
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("INFO server gave no process_id")?;
        // Field 19 of /proc/<pid>/stat, counted after the command name's closing parenthesis.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| {
            format!("postgres+redis-priority needs redis-server on this host (pid {pid}): {e}")
        })?;
        // A Redis elsewhere whose pid happens to exist here must not get another process reniced.
        if !stat.contains("(redis-server)") {
            return Err(format!(
                "postgres+redis-priority needs redis-server on this host; pid {pid} here is not it"
            )
            .into());
        }
        let usual = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(16))
            .and_then(|v| v.parse().ok())
            .ok_or("unreadable /proc/<redis>/stat")?;
        Ok(RedisProcess { pid, usual })
    }

    fn set(&self, nice: i32) -> Result<(), Error> {
        let status = std::process::Command::new("renice")
            .args(["-n", &nice.to_string(), "-p", &self.pid.to_string()])
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("renice -n {nice} -p {} failed (needs root)", self.pid).into());
        }
        Ok(())
    }
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Resident memory of a process, MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

async fn wait_ready(url: &str, child: &mut Child) -> Result<(), Error> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(res) = client.get(url).send().await
            && res.status().is_success()
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("{url}: the process exited with {status}").into());
        }
        if Instant::now() > deadline {
            return Err(format!("{url} not ready after 120 s").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(40), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// Where one configuration keeps its state, and how the server is configured.
#[derive(Clone)]
struct Storage {
    data_dir: PathBuf,
    database_url: String,
    redis_url: String,
    key_prefix: String,
    secret: String,
    /// Where the servers' output (warnings and errors, JSON) goes; discarded without it.
    log: Option<PathBuf>,
}

impl Storage {
    fn command(&self, bin: &Path) -> Command {
        let mut cmd = Command::new(bin);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("MAESTRO_ENV", "development")
            .env("MAESTRO__DATA_DIR", &self.data_dir)
            .env("MAESTRO__DATABASE__URL", &self.database_url)
            .env("MAESTRO__REDIS__URL", &self.redis_url)
            .env("MAESTRO__REDIS__KEY_PREFIX", &self.key_prefix)
            .env("MAESTRO__AUTH__SECRET_KEY", &self.secret)
            .env("MAESTRO__SERVER__HOST", "127.0.0.1")
            .env("MAESTRO__TELEMETRY__LOG_LEVEL", "warn")
            .env("MAESTRO__TELEMETRY__LOG_FORMAT", "json")
            .env("MAESTRO__TEMPLATES__SEED_ON_START", "false")
            .env("MAESTRO__MODULES__QUALITY", "false")
            .env("MAESTRO__MODULES__WORKFLOWS", "false")
            .env("MAESTRO__MODULES__HEALING", "false")
            .env("MAESTRO__MODULES__K8S", "false")
            // As deployed: a developer's shell may set these, and then every error of the
            // server captures a backtrace.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let log = self.log.as_ref().and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        cmd.stdout(log.map_or_else(Stdio::null, Stdio::from));
        cmd
    }

    async fn serve(&self, bin: &Path) -> Result<(Child, String), Error> {
        let port = free_port()?;
        let mut child = self
            .command(bin)
            .env("MAESTRO__SERVER__PORT", port.to_string())
            .arg("serve")
            .spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&format!("{base}/readyz"), &mut child).await?;
        Ok((child, base))
    }
}

async fn login(base: &str, email: &str, password: &str) -> Result<String, Error> {
    let pair: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(pair["access_token"]
        .as_str()
        .ok_or("no access_token")?
        .to_string())
}

/// Creates the templates through the API with `concurrency` clients; returns their ids.
async fn seed(
    base: &str,
    token: &str,
    count: usize,
    concurrency: usize,
) -> Result<Vec<String>, Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let mut rng = Rng(0x7E4A_1A7E);
    let bodies: Arc<Vec<Value>> = Arc::new((0..count).map(|i| template(&mut rng, i)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, bodies, next, done) =
            (client.clone(), bodies.clone(), next.clone(), done.clone());
        let (url, token) = (format!("{base}/api/v1/templates"), token.to_string());
        workers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    return Ok::<_, String>(ids);
                }
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&bodies[i])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = res.status();
                let body: Value = res.json().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("create {i}: {status} {body}"));
                }
                ids.push(body["id"].as_str().unwrap_or_default().to_string());
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 1000 == 0 {
                    println!(
                        "  seeded {n} templates, {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for worker in workers {
        ids.extend(worker.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  seeded {} templates in {secs:.0} s ({:.0}/s)",
        ids.len(),
        ids.len() as f64 / secs
    );
    Ok(ids)
}

// ----- measuring -----

#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    status_errors: u64,
    socket_errors: u64,
}

struct Wrk<'a> {
    args: &'a Args,
    dir: &'a Path,
}

impl Wrk<'_> {
    /// Writes the request file of a read.
    fn requests(&self, name: &str, lines: &[String]) -> Result<PathBuf, Error> {
        let path = self.dir.join(format!("{name}.requests"));
        std::fs::write(&path, lines.join("\n") + "\n")?;
        Ok(path)
    }

    async fn once(
        &self,
        base: &str,
        file: &Path,
        token: &str,
        seconds: u64,
    ) -> Result<Figures, Error> {
        let out = Command::new("wrk")
            .arg(format!("-t{}", self.args.threads))
            .arg(format!("-c{}", self.args.connections))
            .arg(format!("-d{seconds}s"))
            .arg("--timeout")
            .arg("10s")
            .arg("-s")
            .arg(&self.args.lua)
            .arg(base)
            .env("LOAD_READS_FILE", file)
            .env("LOAD_READS_TOKEN", token)
            .stdin(Stdio::null())
            .output()
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("LOAD_READS "))
            .ok_or_else(|| {
                format!(
                    "wrk gave no figures: {stdout}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        let field = |name: &str| -> f64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        Ok(Figures {
            rps: field("requests") / (field("duration_us") / 1e6).max(1e-9),
            p50_ms: field("p50_us") / 1000.0,
            p99_ms: field("p99_us") / 1000.0,
            status_errors: field("status_errors") as u64,
            socket_errors: field("socket_errors") as u64,
        })
    }

    /// Warm-up (not counted), then the measured run.
    async fn run(&self, base: &str, file: &Path, token: &str) -> Result<Figures, Error> {
        if self.args.warmup > 0 {
            self.once(base, file, token, self.args.warmup).await?;
        }
        self.once(base, file, token, self.args.seconds).await
    }
}

/// The templates' cache hits and misses so far (`/api/v1/admin/stats`).
async fn cache_counts(base: &str, token: &str) -> Option<(f64, f64)> {
    let stats: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/admin/stats"))
        .bearer_auth(token)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let cache = &stats["module_stats"]["templates"]["cache"];
    Some((cache["hits"].as_f64()?, cache["misses"].as_f64()?))
}

struct Row {
    round: usize,
    config: Config,
    read: Read,
    figures: Figures,
    floor: Option<Figures>,
    hit_ratio: Option<f64>,
}

fn print_row(row: &Row) {
    let ratio = row
        .floor
        .map(|f| format!("{:.0} %", 100.0 * row.figures.rps / f.rps.max(1e-9)))
        .unwrap_or_else(|| "—".into());
    let floor = row
        .floor
        .map(|f| format!("{:.0}", f.rps))
        .unwrap_or_else(|| "—".into());
    let hits = row
        .hit_ratio
        .map(|h| format!("{:.0} %", 100.0 * h))
        .unwrap_or_else(|| "?".into());
    let errors = row.figures.status_errors + row.figures.socket_errors;
    println!(
        "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} |{}",
        row.config.label(),
        row.read.label(),
        row.figures.rps,
        row.figures.p50_ms,
        row.figures.p99_ms,
        floor,
        ratio,
        hits,
        if errors > 0 {
            format!(
                " {} non-2xx, {} socket errors",
                row.figures.status_errors, row.figures.socket_errors
            )
        } else {
            String::new()
        }
    );
}

/// One configuration's server while its database is measured.
struct Server {
    config: Config,
    child: Child,
    pid: u32,
    base: String,
    token: String,
    idle: Option<f64>,
}

/// The request files of the reads over one database's templates.
struct ReadFiles {
    hot: PathBuf,
    cold: PathBuf,
    search: PathBuf,
    list: PathBuf,
}

impl ReadFiles {
    fn write(wrk: &Wrk<'_>, ids: &[String], queries: &[String]) -> Result<ReadFiles, Error> {
        let hot = format!("GET\t/api/v1/templates/{}", ids[ids.len() / 2]);
        let cold: Vec<String> = ids
            .iter()
            .map(|id| format!("GET\t/api/v1/templates/{id}"))
            .collect();
        let search: Vec<String> = queries
            .iter()
            .map(|q| {
                let quoted = serde_json::to_string(q).unwrap_or_default();
                format!(
                    "POST\t/api/v1/templates/search\t{{\"query\":\"{{{{q}}}}\",\"limit\":20}}\t{}",
                    &quoted[1..quoted.len() - 1]
                )
            })
            .collect();
        let list: Vec<String> = CATEGORIES
            .iter()
            .map(|c| format!("GET\t/api/v1/templates?category={c}&limit=20&offset=20"))
            .collect();
        Ok(ReadFiles {
            hot: wrk.requests("get-hot", std::slice::from_ref(&hot))?,
            cold: wrk.requests("get-cold", &cold)?,
            search: wrk.requests("search", &search)?,
            list: wrk.requests("list", &list)?,
        })
    }

    /// A read's request file, and whether the floor answers it too (only GETs by id).
    fn of(&self, read: Read) -> (&Path, bool) {
        match read {
            Read::GetHot => (&self.hot, true),
            Read::GetCold => (&self.cold, true),
            Read::Search => (&self.search, false),
            Read::List => (&self.list, false),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// One configuration's read over every round: the median of each figure, errors summed.
fn median_row(rows: &[Row], config: Config, read: Read) -> Option<Row> {
    let of: Vec<&Row> = rows
        .iter()
        .filter(|r| r.config == config && r.read == read)
        .collect();
    if of.is_empty() {
        return None;
    }
    let m = |f: &dyn Fn(&Figures) -> f64| median(of.iter().map(|r| f(&r.figures)).collect());
    let floors: Vec<f64> = of.iter().filter_map(|r| r.floor.map(|f| f.rps)).collect();
    let hits: Vec<f64> = of.iter().filter_map(|r| r.hit_ratio).collect();
    Some(Row {
        round: 0,
        config,
        read,
        figures: Figures {
            rps: m(&|f| f.rps),
            p50_ms: m(&|f| f.p50_ms),
            p99_ms: m(&|f| f.p99_ms),
            status_errors: of.iter().map(|r| r.figures.status_errors).sum(),
            socket_errors: of.iter().map(|r| r.figures.socket_errors).sum(),
        },
        floor: (!floors.is_empty()).then(|| Figures {
            rps: median(floors),
            ..Figures::default()
        }),
        hit_ratio: (!hits.is_empty()).then(|| median(hits)),
    })
}

fn header() {
    println!(
        "| configuration | read | req/s | p50 ms | p99 ms | floor req/s | of floor | cache hits |"
    );
    println!("|---|---|---|---|---|---|---|---|");
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let dir = tempfile::tempdir()?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let secret = format!("load-reads-{}", uuid::Uuid::new_v4().simple());
    let wrk = Wrk {
        args: &args,
        dir: dir.path(),
    };
    println!(
        "load_reads: {} templates, wrk {} connections / {} threads, {} s warm-up + {} s measured per read; {} cores",
        args.templates,
        args.connections,
        args.threads,
        args.warmup,
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // The floor, up for the whole run.
    let floor_port = free_port()?;
    let mut floor = Command::new(&args.floor_bin)
        .env("FLOOR_JWT_SECRET", &secret)
        .env("FLOOR_BIND", format!("127.0.0.1:{floor_port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let floor_base = format!("http://127.0.0.1:{floor_port}");
    wait_ready(&format!("{floor_base}/healthz"), &mut floor).await?;

    let schema = format!("load_{run_id}");
    let queries = queries();
    let email = "load-reads@bench.test";
    let password = "correct-horse-battery-staple";
    let mut rows = Vec::new();
    let mut memory = Vec::new();
    // The configurations by database: each database is seeded once, and its configurations are
    // up side by side while they are measured.
    let mut databases: Vec<(bool, Vec<Config>)> = Vec::new();
    for &config in &args.configs {
        let postgres = config != Config::Sqlite;
        match databases.iter_mut().find(|(pg, _)| *pg == postgres) {
            Some((_, configs)) => configs.push(config),
            None => databases.push((postgres, vec![config])),
        }
    }
    let redis_priority = match (
        args.configs.contains(&Config::PostgresRedisPriority),
        &args.redis_url,
    ) {
        (true, Some(url)) => Some(RedisProcess::local(url)?),
        _ => None,
    };
    let result: Result<(), Error> = async {
        for (postgres, configs) in &databases {
            let postgres = *postgres;
            let storage = Storage {
                data_dir: dir.path().join(if postgres { "pg" } else { "sqlite" }),
                database_url: if postgres {
                    let url = args.database_url.clone().unwrap_or_default();
                    use diesel::Connection;
                    use diesel::connection::SimpleConnection;
                    diesel::PgConnection::establish(&url)?
                        .batch_execute(&format!("CREATE SCHEMA {schema}"))?;
                    let sep = if url.contains('?') { '&' } else { '?' };
                    format!("{url}{sep}options=-c%20search_path%3D{schema}")
                } else {
                    format!(
                        "sqlite://{}",
                        dir.path().join("sqlite/maestro.db").display()
                    )
                },
                redis_url: String::new(),
                key_prefix: format!("mload-{run_id}"),
                secret: secret.clone(),
                log: args.server_log.clone(),
            };
            println!(
                "seeding {} ({})",
                if postgres { "PostgreSQL" } else { "SQLite" },
                storage.database_url.split('?').next().unwrap_or_default()
            );
            let status = storage
                .command(&args.maestro_bin)
                .args([
                    "user", "create", "--tenant", "loadtest", "--email", email, "--role", "admin",
                ])
                .env("MAESTRO_USER_PASSWORD", password)
                .status()
                .await?;
            if !status.success() {
                return Err(format!("maestro user create: {status}").into());
            }
            let (child, base) = storage.serve(&args.maestro_bin).await?;
            let token = login(&base, email, password).await?;
            let ids = seed(&base, &token, args.templates, args.seed_concurrency).await?;
            stop(child).await;

            let mut servers = Vec::new();
            for &config in configs {
                let mut storage = storage.clone();
                if config.uses_redis() {
                    storage.redis_url = args.redis_url.clone().unwrap_or_default();
                }
                if config == Config::PostgresRedisPriority {
                    // Its own keys: sharing the other server's would share its L2 answers.
                    storage.key_prefix = format!("{}-priority", storage.key_prefix);
                }
                let (child, base) = storage.serve(&args.maestro_bin).await?;
                servers.push(Server {
                    config,
                    pid: child.id().unwrap_or(0),
                    child,
                    token: String::new(),
                    base,
                    idle: None,
                });
            }
            // Idle RSS before logging in: a login's password hash (argon2) takes ~19 MiB.
            tokio::time::sleep(Duration::from_secs(2)).await;
            for server in &mut servers {
                server.idle = rss_mib(server.pid);
                server.token = login(&server.base, email, password).await?;
            }
            let files = ReadFiles::write(&wrk, &ids, &queries)?;
            for round in 0..args.rounds {
                if args.rounds > 1 {
                    println!("round {}/{}", round + 1, args.rounds);
                }
                // The order flips every round, so drift between the two halves falls on both.
                let order: Vec<&Server> = if round % 2 == 0 {
                    servers.iter().collect()
                } else {
                    servers.iter().rev().collect()
                };
                let mut floor_hot = None;
                for &read in &args.reads {
                    let (file, on_floor) = files.of(read);
                    let floor_figures = if on_floor {
                        let figures = wrk.run(&floor_base, file, &servers[0].token).await?;
                        if read == Read::GetHot {
                            floor_hot = Some(figures);
                        }
                        Some(figures)
                    } else {
                        floor_hot
                    };
                    for server in &order {
                        let before = cache_counts(&server.base, &server.token).await;
                        let priority = (server.config == Config::PostgresRedisPriority)
                            .then_some(redis_priority.as_ref())
                            .flatten();
                        if let Some(redis) = priority {
                            redis.set(REDIS_NICE)?;
                        }
                        let figures = wrk.run(&server.base, file, &server.token).await;
                        if let Some(redis) = priority {
                            redis.set(redis.usual)?;
                        }
                        let figures = figures?;
                        let after = cache_counts(&server.base, &server.token).await;
                        let hit_ratio = match (before, after) {
                            (Some((h0, m0)), Some((h1, m1))) if h1 + m1 > h0 + m0 => {
                                Some((h1 - h0) / ((h1 - h0) + (m1 - m0)))
                            }
                            _ => None,
                        };
                        let row = Row {
                            round,
                            config: server.config,
                            read,
                            figures,
                            floor: floor_figures,
                            hit_ratio,
                        };
                        print_row(&row);
                        rows.push(row);
                    }
                }
                if args.rounds > 1 {
                    let rss: Vec<String> = servers
                        .iter()
                        .map(|s| {
                            let mib = rss_mib(s.pid).map_or("?".into(), |v| format!("{v:.0} MiB"));
                            format!("{}: {mib}", s.config.label())
                        })
                        .collect();
                    println!("RSS after round {}: {}", round + 1, rss.join(", "));
                }
            }
            for server in servers {
                memory.push((server.config, server.idle, rss_mib(server.pid)));
                stop(server.child).await;
            }
        }
        Ok(())
    }
    .await;

    stop(floor).await;
    if args.configs.iter().any(|c| *c != Config::Sqlite)
        && let Some(url) = &args.database_url
    {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        if let Ok(mut conn) = diesel::PgConnection::establish(url) {
            let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
    if let Some(redis) = &redis_priority {
        let _ = redis.set(redis.usual);
    }
    if args.configs.iter().any(|c| c.uses_redis())
        && let Some(url) = &args.redis_url
        && let Ok(mut conn) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection())
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("mload-{run_id}*"))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
    result?;

    println!();
    println!(
        "{} templates; wrk -t{} -c{}, {} s per read after {} s warm-up; floor = examples/floor.rs",
        args.templates, args.threads, args.connections, args.seconds, args.warmup
    );
    if args.rounds == 1 {
        header();
        for row in &rows {
            print_row(row);
        }
    } else {
        println!("medians of {} alternating rounds:", args.rounds);
        header();
        for &config in &args.configs {
            for &read in &args.reads {
                if let Some(row) = median_row(&rows, config, read) {
                    print_row(&row);
                }
            }
        }
        for with_redis in [Config::PostgresRedis, Config::PostgresRedisPriority] {
            if !(args.configs.contains(&Config::Postgres) && args.configs.contains(&with_redis)) {
                continue;
            }
            println!();
            println!(
                "{} ÷ PostgreSQL in-process, req/s of the same round:",
                with_redis.label()
            );
            println!();
            println!("| read | each round | median |");
            println!("|---|---|---|");
            for &read in &args.reads {
                let ratios: Vec<f64> = (0..args.rounds)
                    .filter_map(|round| {
                        let rps = |config| {
                            rows.iter()
                                .find(|r| r.round == round && r.config == config && r.read == read)
                                .map(|r| r.figures.rps)
                        };
                        Some(rps(with_redis)? / rps(Config::Postgres)?.max(1e-9))
                    })
                    .collect();
                let each: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
                println!(
                    "| {} | {} | **{:.3}** |",
                    read.label(),
                    each.join(" · "),
                    median(ratios.clone())
                );
            }
        }
    }
    println!();
    println!("| configuration | RSS idle | RSS after the reads |");
    println!("|---|---|---|");
    for (config, idle, after) in memory {
        let mib = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.0} MiB"));
        println!("| {} | {} | {} |", config.label(), mib(idle), mib(after));
    }
    Ok(())
}

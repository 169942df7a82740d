//! Write-path load run: starts Maestro in this process on a free loopback port (SQLite and the
//! in-process cache by default; `--database-url` / `--redis-url` for PostgreSQL and Redis), with
//! the quality module and its publish gate on, then seeds `--templates` templates into one tenant
//! through `POST /api/v1/templates` with `--concurrency` clients. Each template is a copy of a
//! catalog template (`--template-dir`, default the FastAPI cookiecutter service) under its own
//! name. For every `--every` creates it prints the rate and the latency percentiles (p50, p95,
//! p99, max) of that window, so the curve shows whether a create costs more as the catalog grows.
//! With N closed-loop clients, latency ≈ N / rate (Little's law): `--concurrency 1` measures the
//! latency of one create, `--concurrency 8` the sustained rate.
//!
//! cargo run --release --example load_create_templates -- --templates 10000 --concurrency 8
//!
//! Other flags: `--gate off` (publish gate off; scoring on the event still runs),
//! `--no-quality` (quality module off), `--database-url URL`, `--redis-url URL`, `--sql-profile`
//! (count and time every SQL statement the server runs, creates and the scoring behind them, and
//! print them per create at the end), `--single N --at 1000,5000,...` (when the catalog reaches
//! each of those sizes, N more creates by one client, printed as their own row: the latency of one
//! create at that size, beside the window the concurrent clients just ran).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use maestro::config::{Environment, LoadOptions, Settings};
use maestro::platform::auth::Role;
use maestro::server::Application;
use serde_json::{Map, Value, json};

struct Args {
    templates: usize,
    concurrency: usize,
    every: usize,
    gate: bool,
    quality: bool,
    template_dir: PathBuf,
    database_url: Option<String>,
    redis_url: Option<String>,
    sql_profile: bool,
    single: usize,
    at: Vec<usize>,
}

const USAGE: &str = "use --templates N --concurrency N --every N [--gate on|off] [--no-quality] \
                     [--template-dir DIR] [--database-url URL] [--redis-url URL] [--sql-profile] \
                     [--single N --at N,N,...]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        templates: 10_000,
        concurrency: 8,
        every: 1_000,
        gate: true,
        quality: true,
        template_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("templates_storage/backend_developer/fastapi-service"),
        database_url: None,
        redis_url: None,
        sql_profile: false,
        single: 0,
        at: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String, name: &str| -> Result<usize, String> {
            v.parse().map_err(|e| format!("{name}: {e}"))
        };
        match flag.as_str() {
            "--templates" => args.templates = number(value()?, "--templates")?,
            "--concurrency" => args.concurrency = number(value()?, "--concurrency")?,
            "--every" => args.every = number(value()?, "--every")?,
            "--gate" => {
                args.gate = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("--gate {other}: use on or off")),
                }
            }
            "--no-quality" => args.quality = false,
            "--template-dir" => args.template_dir = PathBuf::from(value()?),
            "--database-url" => args.database_url = Some(value()?),
            "--redis-url" => args.redis_url = Some(value()?),
            "--sql-profile" => args.sql_profile = true,
            "--single" => args.single = number(value()?, "--single")?,
            "--at" => {
                args.at = value()?
                    .split(',')
                    .map(|n| number(n.trim().to_string(), "--at"))
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown argument {other}; {USAGE}")),
        }
    }
    if args.templates == 0 || args.concurrency == 0 || args.every == 0 {
        return Err("--templates, --concurrency and --every must be at least 1".into());
    }
    Ok(args)
}

/// A create body's two parts: `manifest` (from manifest.yaml) and `files`.
struct Body {
    manifest: Map<String, Value>,
    files: Map<String, Value>,
}

/// The template folder as a create body.
fn read_template(dir: &PathBuf) -> Result<Body, String> {
    let mut manifest = None;
    let mut files = Map::new();
    let mut stack = vec![dir.clone()];
    while let Some(folder) = stack.pop() {
        let entries =
            std::fs::read_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .replace('\\', "/");
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if rel == "manifest.yaml" {
                let parsed: Value = yaml_serde::from_slice(&bytes).map_err(|e| e.to_string())?;
                manifest = parsed.as_object().cloned();
                continue;
            }
            let value = match String::from_utf8(bytes) {
                Ok(text) => Value::String(text),
                Err(e) => {
                    json!({"base64": base64::engine::general_purpose::STANDARD.encode(e.into_bytes())})
                }
            };
            files.insert(rel, value);
        }
    }
    let manifest = manifest.ok_or_else(|| format!("{} has no manifest.yaml", dir.display()))?;
    Ok(Body { manifest, files })
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

/// What every client needs to create templates.
struct Ctx {
    client: reqwest::Client,
    base: Arc<String>,
    token: Arc<String>,
    manifest: Map<String, Value>,
    files: Value,
}

/// One closed-loop run of creates: latencies of the successful ones (µs), failures, duration.
struct Batch {
    latencies: Vec<u64>,
    errors: usize,
    secs: f64,
    first_error: Option<String>,
}

impl Batch {
    fn row(&self, from: usize, to: usize, clients: usize) -> String {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        format!(
            "{:>6}-{:<6}  {:>7}  {:>9.1}  {:>8.2}  {:>8.2}  {:>8.2}  {:>8.2}  {:>6}",
            from,
            to,
            clients,
            (sorted.len() + self.errors) as f64 / self.secs.max(1e-9),
            percentile(&sorted, 50.0),
            percentile(&sorted, 95.0),
            percentile(&sorted, 99.0),
            percentile(&sorted, 100.0),
            self.errors
        )
    }
}

/// Creates templates `load-{from}` .. `load-{to - 1}` with `clients` closed-loop clients.
async fn batch(
    ctx: &Arc<Ctx>,
    from: usize,
    to: usize,
    clients: usize,
) -> Result<Batch, Box<dyn std::error::Error>> {
    let next = Arc::new(AtomicUsize::new(from));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (ctx, next) = (ctx.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0usize, None);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    break;
                }
                let mut m = ctx.manifest.clone();
                m.insert("name".into(), json!(format!("load-{i:06}")));
                let body = json!({"manifest": m, "files": &ctx.files});
                let t0 = Instant::now();
                let outcome = ctx
                    .client
                    .post(format!("{}/api/v1/templates", ctx.base))
                    .bearer_auth(ctx.token.as_str())
                    .json(&body)
                    .send()
                    .await;
                let ok = match outcome {
                    Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                    Ok(res) => {
                        let status = res.status();
                        let text = res.text().await.unwrap_or_default();
                        first_error.get_or_insert(format!("{status}: {text}"));
                        false
                    }
                    Err(e) => {
                        first_error.get_or_insert(e.to_string());
                        false
                    }
                };
                if ok {
                    latencies.push(t0.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut out = Batch {
        latencies: Vec::with_capacity(to - from),
        errors: 0,
        secs: 0.0,
        first_error: None,
    };
    for w in workers {
        let (mut latencies, errors, first_error) = w.await?;
        out.latencies.append(&mut latencies);
        out.errors += errors;
        out.first_error = out.first_error.or(first_error);
    }
    out.secs = started.elapsed().as_secs_f64();
    Ok(out)
}

/// `--sql-profile`: every statement of every database connection the server opens, counted and
/// timed by its SQL text (binds left out), through diesel's instrumentation hook.
mod sql_profile {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Instant;

    use diesel::connection::{Instrumentation, InstrumentationEvent};

    static STATS: Mutex<Option<HashMap<String, (u64, u128)>>> = Mutex::new(None);

    struct Timer(Option<Instant>);

    fn key(query: &dyn std::fmt::Display) -> String {
        let text = query.to_string();
        let sql = text.split("-- binds").next().unwrap_or("").trim();
        sql.chars().take(90).collect()
    }

    impl Instrumentation for Timer {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            match event {
                InstrumentationEvent::StartQuery { .. } => self.0 = Some(Instant::now()),
                InstrumentationEvent::FinishQuery { query, .. } => {
                    let took = self.0.take().map(|t| t.elapsed().as_nanos()).unwrap_or(0);
                    let mut stats = STATS.lock().unwrap_or_else(|p| p.into_inner());
                    let entry = stats
                        .get_or_insert_with(HashMap::new)
                        .entry(key(query))
                        .or_default();
                    entry.0 += 1;
                    entry.1 += took;
                }
                _ => {}
            }
        }
    }

    pub fn install() {
        let _ = diesel::connection::set_default_instrumentation(|| Some(Box::new(Timer(None))));
    }

    pub fn print(creates: usize) {
        let stats = STATS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        let mut rows: Vec<_> = stats.into_iter().collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.1.1));
        let n = creates.max(1) as f64;
        let (count, nanos) = rows
            .iter()
            .fold((0u64, 0u128), |(c, t), (_, (k, ns))| (c + k, t + ns));
        println!(
            "SQL: {:.1} statements and {:.2} ms of statement time per create ({} creates)",
            count as f64 / n,
            nanos as f64 / 1e6 / n,
            creates
        );
        for (sql, (k, ns)) in rows.iter().take(25) {
            println!(
                "  {:>6.2}/create  {:>7.3} ms/create  {:>7.3} ms each  {sql}",
                *k as f64 / n,
                *ns as f64 / 1e6 / n,
                *ns as f64 / 1e6 / (*k).max(1) as f64
            );
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    if args.sql_profile {
        sql_profile::install();
    }
    let Body { manifest, files } = read_template(&args.template_dir)?;
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::load(&LoadOptions {
        config_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
        environment: Some(Environment::Test),
        read_process_env: false,
    })?;
    settings.data_dir = dir.path().join("data");
    settings.quality.gates = args.gate;
    settings.modules.quality = args.quality;
    settings.modules.workflows = false;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let schema = format!("load_{run_id}");
    settings.database.url = match &args.database_url {
        Some(url) => {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            diesel::PgConnection::establish(url)?
                .batch_execute(&format!("CREATE SCHEMA {schema}"))?;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options=-c%20search_path%3D{schema}")
        }
        None => format!("sqlite://{}", dir.path().join("load.db").display()),
    };
    settings.redis.url = args.redis_url.clone().unwrap_or_default();
    settings.redis.key_prefix = format!("mload-{run_id}");
    settings.database.pool_size = 16;
    let app = Application::build(settings).await?;
    let port = app.port();
    let platform = app.platform().clone();
    let handle = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());

    let email = format!("load-{}@bench.test", uuid::Uuid::new_v4().simple());
    platform
        .auth
        .create_user_in_tenant_named("loadtest", &email, "correct-horse-battery", Role::Editor)
        .await
        .map_err(|e| e.detail)?;
    let token = Arc::new(
        platform
            .auth
            .token_for_email(&email)
            .await
            .map_err(|e| e.detail)?,
    );
    let base = Arc::new(format!("http://127.0.0.1:{port}"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    println!(
        "POST /api/v1/templates: {} templates of {} files ({}), {} clients, backend {}, cache {}, quality {}, gate {}",
        args.templates,
        files.len() + 1,
        args.template_dir.display(),
        args.concurrency,
        platform.db.backend().as_str(),
        platform.cache.stats().backend,
        if args.quality { "on" } else { "off" },
        if args.gate && args.quality {
            "on"
        } else {
            "off"
        },
    );
    println!(
        "{:>13}  {:>7}  {:>9}  {:>8}  {:>8}  {:>8}  {:>8}  {:>6}",
        "templates", "clients", "creates/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
    );

    let ctx = Arc::new(Ctx {
        client: client.clone(),
        base: base.clone(),
        token: token.clone(),
        manifest,
        files: Value::Object(files),
    });
    let started = Instant::now();
    let (mut all, mut errors, mut first_error) = (Vec::with_capacity(args.templates), 0, None);
    let mut done = 0usize;
    while done < args.templates {
        let mut end = (done + args.every).min(args.templates);
        if let Some(&c) = args.at.iter().filter(|&&c| c > done).min() {
            end = end.min(c);
        }
        let mut b = batch(&ctx, done, end, args.concurrency).await?;
        println!("{}", b.row(done, end, args.concurrency));
        all.append(&mut b.latencies);
        errors += b.errors;
        first_error = first_error.or(b.first_error);
        done = end;
        if args.single > 0 && args.at.contains(&done) {
            let to = done + args.single;
            let b = batch(&ctx, done, to, 1).await?;
            println!("{}", b.row(done, to, 1));
            first_error = first_error.or(b.first_error);
            done = to;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(e) = first_error {
        println!("first error: {e}");
    }
    all.sort_unstable();
    println!(
        "all ({} clients): {} creates in {:.1} s = {:.1}/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} errors",
        args.concurrency,
        all.len(),
        elapsed,
        (all.len() + errors) as f64 / elapsed,
        percentile(&all, 50.0),
        percentile(&all, 95.0),
        percentile(&all, 99.0),
        errors
    );
    if args.sql_profile {
        sql_profile::print(done);
    }

    // Scoring on the created event runs behind the writes: report how far behind it is.
    if args.quality {
        let waited = Instant::now();
        let mut last = (0i64, Instant::now());
        loop {
            let report: Value = client
                .get(format!("{base}/api/v1/quality/report"))
                .bearer_auth(token.as_str())
                .send()
                .await?
                .json()
                .await?;
            let scored = report["templates_scored"].as_i64().unwrap_or(0);
            if scored as usize >= all.len() {
                println!(
                    "quality: all {scored} templates scored {:.1} s after the last create",
                    waited.elapsed().as_secs_f64()
                );
                break;
            }
            if scored != last.0 {
                last = (scored, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(15) {
                println!(
                    "quality: {scored} of {} templates scored; no progress for 15 s",
                    all.len()
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // With the gate on, each content is evaluated once (by the gate) and the event handler
        // reuses that evaluation (`kept`); `computed` above the creates would mean a second one.
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        for line in metrics
            .lines()
            .filter(|l| l.starts_with("maestro_quality_evaluations_total"))
        {
            println!("quality: {line}");
        }
    }

    handle.shutdown().await;
    let _ = server.await;
    if let Some(url) = &args.database_url {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        diesel::PgConnection::establish(url)?
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))?;
    }
    if let Some(url) = &args.redis_url {
        let mut conn = redis::Client::open(url.as_str())?.get_connection()?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("mload-{run_id}:*"))
            .query(&mut conn)?;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query(&mut conn)?;
        }
    }
    Ok(())
}

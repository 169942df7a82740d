//! Workflow engine benchmark against a local PostgreSQL (`MAESTRO_BENCH_DATABASE_URL`, e.g.
//! `postgres://postgres@127.0.0.1:5432/maestro_bench`; the database is created if missing).
//!
//! 1. Calibrates the machine with pgbench on a separate database (`<db>_pgbench`):
//!    `pgbench -N -c 8 -j 2` gives the commit ceiling C, `pgbench -N -c 1` the single-connection
//!    commit latency.
//! 2. (a) Burn-down: N runs × 10 sequential no-op steps are inserted with the engine stopped,
//!    then drained; reports steps/s and commits per step (Δ `pg_stat_database.xact_commit`).
//!    (b) One run of 400 sequential no-op steps: milliseconds per step transition.
//!    (c) Fan-out 1 → 50 → join: one run at a time (latency) and many at once (throughput).
//!    Every no-op step writes its effect keyed by (run, step); the bench checks that each
//!    effect exists exactly once (a duplicate would show as executions > 1).
//!
//! `cargo bench --bench workflow_engine` (env: `BENCH_RUNS` default 10000, `BENCH_PGBENCH_SECS`
//! default 30, `BENCH_REPEAT` default 3).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use maestro::config::{Environment, LoadOptions, Settings};
use maestro::modules::workflows::WorkflowsService;
use maestro::modules::workflows::model::ExecuteRequest;
use maestro::platform::Platform;
use maestro::platform::auth::{AuthSource, Principal, Role, TenantId};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings(url: &str, engine: bool) -> Settings {
    let mut s = Settings::load(&LoadOptions {
        config_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
        environment: Some(Environment::Test),
        read_process_env: false,
    })
    .expect("settings");
    s.database.url = url.to_string();
    s.database.pool_size = 12;
    s.redis.url = String::new();
    s.workflows.engine = engine;
    s
}

fn principal() -> Principal {
    Principal {
        user_id: "bench".into(),
        tenant_id: TenantId("bench".into()),
        email: Some("bench@maestro.local".into()),
        role: Role::Editor,
        source: AuthSource::Local,
    }
}

#[derive(diesel::QueryableByName)]
struct Num {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

struct Bench {
    admin_url: String,
    db_name: String,
}

impl Bench {
    fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.admin_url).expect("connect to the bench database")
    }

    fn commits(&self) -> i64 {
        let mut c = self.conn();
        // Backends flush their statistics within about a second of a transaction ending.
        std::thread::sleep(Duration::from_millis(1500));
        c.batch_execute("SELECT pg_stat_clear_snapshot()").unwrap();
        diesel::sql_query(format!(
            "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = '{}'",
            self.db_name
        ))
        .get_result::<Num>(&mut c)
        .unwrap()
        .n
    }

    /// A fresh schema for one scenario; returns its URL.
    fn schema(&self) -> (String, String) {
        let name = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.conn()
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        let sep = if self.admin_url.contains('?') {
            '&'
        } else {
            '?'
        };
        (
            name.clone(),
            format!("{}{sep}options=-c%20search_path%3D{name}", self.admin_url),
        )
    }

    fn drop_schema(&self, name: &str) {
        if std::env::var("BENCH_KEEP").is_ok() {
            println!("(kept schema {name})");
            return;
        }
        let _ = self
            .conn()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
    }

    fn count(&self, schema: &str, sql: &str) -> i64 {
        let mut c = self.conn();
        c.batch_execute(&format!("SET search_path = {schema}"))
            .unwrap();
        diesel::sql_query(sql).get_result::<Num>(&mut c).unwrap().n
    }
}

/// An API-only platform (engine off) or a full one, on `url`.
async fn start(url: &str, engine: bool) -> (Platform, WorkflowsService, CancellationToken) {
    let platform = Platform::new(settings(url, engine)).expect("platform");
    platform
        .migrate(Duration::from_secs(10))
        .await
        .expect("migrate");
    let module = maestro::modules::workflows::build(&platform).expect("workflows module");
    let cancel = CancellationToken::new();
    for task in module.tasks() {
        tokio::spawn((task.run)(cancel.child_token()));
    }
    let service = platform
        .services
        .get::<WorkflowsService>()
        .expect("service");
    (platform, service, cancel)
}

async fn define(service: &WorkflowsService, def: &Value) -> String {
    let created = service
        .create_definition(
            &principal(),
            def.to_string().as_bytes(),
            Some("application/json"),
        )
        .await
        .unwrap_or_else(|e| panic!("definition refused: {e:?}"));
    created.detail.summary.id
}

fn chain(name: &str, n: usize) -> Value {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            let mut s = json!({"id": format!("s{i}"), "uses": "noop", "with": {"effect": true}});
            if i > 0 {
                s["needs"] = json!([format!("s{}", i - 1)]);
            }
            s
        })
        .collect();
    json!({"name": name, "steps": steps})
}

fn fan_out(width: usize) -> Value {
    let mut steps = vec![json!({"id": "start", "uses": "noop", "with": {"effect": true}})];
    let mut ids = Vec::new();
    for i in 0..width {
        steps.push(json!({"id": format!("p{i}"), "uses": "noop", "needs": ["start"], "with": {"effect": true}}));
        ids.push(format!("p{i}"));
    }
    steps.push(json!({"id": "join", "uses": "noop", "needs": ids, "with": {"effect": true}}));
    json!({"name": "fan-out", "steps": steps})
}

async fn run_once(service: &WorkflowsService, wf: &str) -> String {
    let (run, _) = service
        .execute(
            &principal(),
            wf.to_string(),
            ExecuteRequest::default(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("execute failed: {e:?}"));
    run.id
}

async fn wait_run(
    service: &WorkflowsService,
    run_id: &str,
) -> maestro::modules::workflows::model::RunView {
    loop {
        let run = service
            .run_view(TenantId("bench".into()), run_id.to_string())
            .await
            .unwrap();
        let status = serde_json::to_value(run.status).unwrap();
        if status == "succeeded" {
            return run;
        }
        if status != "running" && status != "pending" {
            panic!("bench run ended {status}: {:?}", run.error);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn pgbench(url: &url::Url, db: &str, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new("pgbench");
    cmd.arg("-h").arg(url.host_str().unwrap_or("127.0.0.1"));
    cmd.arg("-p").arg(url.port().unwrap_or(5432).to_string());
    cmd.arg("-U").arg(if url.username().is_empty() {
        "postgres"
    } else {
        url.username()
    });
    if let Some(pw) = url.password() {
        cmd.env("PGPASSWORD", pw);
    }
    cmd.args(args).arg(db);
    let out = cmd.output().expect("pgbench is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pgbench failed: {text}");
    text
}

fn grab(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(raw) = std::env::var("MAESTRO_BENCH_DATABASE_URL") else {
        eprintln!(
            "MAESTRO_BENCH_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/maestro_bench); nothing to do"
        );
        return;
    };
    let url = url::Url::parse(&raw).expect("MAESTRO_BENCH_DATABASE_URL is a URL");
    let db_name = url.path().trim_start_matches('/').to_string();
    let mut server = url.clone();
    server.set_path("/postgres");
    let mut admin = PgConnection::establish(server.as_str()).expect("connect to PostgreSQL");
    for db in [db_name.clone(), format!("{db_name}_pgbench")] {
        let exists = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM pg_database WHERE datname = '{db}'"
        ))
        .get_result::<Num>(&mut admin)
        .unwrap()
        .n;
        if exists == 0 {
            admin
                .batch_execute(&format!("CREATE DATABASE {db}"))
                .unwrap();
        }
    }
    let show = |name: &str| -> String {
        #[derive(diesel::QueryableByName)]
        struct S {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        diesel::sql_query(format!("SELECT current_setting('{name}') AS v"))
            .get_result::<S>(&mut PgConnection::establish(server.as_str()).unwrap())
            .map(|s| s.v)
            .unwrap_or_default()
    };
    let runs_n: usize = env_or("BENCH_RUNS", 10_000);
    let pg_secs: u64 = env_or("BENCH_PGBENCH_SECS", 30);
    let repeat: usize = env_or("BENCH_REPEAT", 3);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wants = |x: &str| only.is_empty() || only.split(',').any(|o| o.trim() == x);
    println!("# Maestro workflow engine benchmark");
    println!(
        "machine: {} CPUs; PostgreSQL {}; fsync={}, synchronous_commit={}, shared_buffers={}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        show("server_version"),
        show("fsync"),
        show("synchronous_commit"),
        show("shared_buffers")
    );

    // Calibration.
    let pgdb = format!("{db_name}_pgbench");
    pgbench(&url, &pgdb, &["-i", "-s", "10", "-q"]);
    let t = pg_secs.to_string();
    let multi = pgbench(&url, &pgdb, &["-N", "-c", "8", "-j", "2", "-T", &t]);
    let single = pgbench(
        &url,
        &pgdb,
        &["-N", "-c", "1", "-T", &(pg_secs / 2).max(5).to_string()],
    );
    let ceiling = grab(&multi, "tps =");
    println!(
        "pgbench -N -c 8 -j 2 -T {pg_secs}: {ceiling:.0} tps (commit ceiling C); -c 1: {:.0} tps, {:.3} ms per commit",
        grab(&single, "tps ="),
        grab(&single, "latency average =")
    );

    let bench = Bench {
        admin_url: raw.clone(),
        db_name: db_name.clone(),
    };

    let mut rates = Vec::new();
    let mut cps = Vec::new();
    let mut per_step = Vec::new();
    let mut latencies = Vec::new();
    let mut fan_rate = f64::NAN;
    let mut idle_rate = f64::NAN;
    if wants("a") {
        // (a) Burn-down.
        for rep in 0..repeat {
            let (schema, schema_url) = bench.schema();
            let (p_api, api, stop_api) = start(&schema_url, false).await;
            let wf = define(&api, &chain("burn-down", 10)).await;
            let inserting = Instant::now();
            let mut pending = Vec::new();
            for _ in 0..runs_n {
                let api = api.clone();
                let wf = wf.clone();
                pending.push(tokio::spawn(async move { run_once(&api, &wf).await }));
                if pending.len() >= 16 {
                    for h in pending.drain(..) {
                        h.await.unwrap();
                    }
                }
            }
            for h in pending.drain(..) {
                h.await.unwrap();
            }
            let insert_secs = inserting.elapsed().as_secs_f64();
            stop_api.cancel();
            drop((p_api, api));
            let before = bench.commits();
            let started = Instant::now();
            let (_p, _svc, stop) = start(&schema_url, true).await;
            let mut polls = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                polls += 1;
                let done = bench.count(
                    &schema,
                    "SELECT COUNT(*) AS n FROM workflow_runs WHERE status = 'succeeded'",
                );
                if done as usize >= runs_n {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(900),
                    "burn-down did not finish"
                );
            }
            let secs = started.elapsed().as_secs_f64();
            stop.cancel();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let after = bench.commits();
            let steps = (runs_n * 10) as f64;
            // The bench's own reads (polls and the two statistics reads) are not engine commits.
            let commits = (after - before - polls * 2 - 2) as f64;
            let effects = bench.count(&schema, "SELECT COUNT(*) AS n FROM workflow_effects");
            let executions = bench.count(
                &schema,
                "SELECT CAST(COALESCE(SUM(executions),0) AS BIGINT) AS n FROM workflow_effects",
            );
            assert_eq!(
                (effects as f64, executions as f64),
                (steps, steps),
                "every effect exactly once"
            );
            println!(
                "(a) burn-down #{}: {runs_n} runs x 10 steps inserted in {insert_secs:.1} s; drained in {secs:.2} s = {:.0} steps/s ({:.0} runs/s); {:.0} commits = {:.3} commits/step; effects {effects} rows, {executions} executions",
                rep + 1,
                steps / secs,
                runs_n as f64 / secs,
                commits,
                commits / steps
            );
            rates.push(steps / secs);
            cps.push(commits / steps);
            bench.drop_schema(&schema);
        }
    }
    if wants("b") {
        // (b) Sequential step overhead.
        let (schema, schema_url) = bench.schema();
        let (_p, svc, stop) = start(&schema_url, true).await;
        let wf = define(&svc, &chain("sequential", 400)).await;
        for rep in 0..repeat + 1 {
            let id = run_once(&svc, &wf).await;
            let run = wait_run(&svc, &id).await;
            let first = run.steps.first().and_then(|s| s.started_at).unwrap();
            let last = run.steps.last().and_then(|s| s.finished_at).unwrap();
            let ms = (last - first).num_microseconds().unwrap() as f64 / 1000.0 / 400.0;
            if rep > 0 {
                per_step.push(ms);
            }
            println!(
                "(b) 400 sequential steps{}: {:.1} ms total, {ms:.2} ms per step transition",
                if rep == 0 { " (warm-up)" } else { "" },
                ms * 400.0
            );
        }
        let effects = bench.count(
            &schema,
            "SELECT CAST(COALESCE(MAX(executions),0) AS BIGINT) AS n FROM workflow_effects",
        );
        assert_eq!(effects, 1);
        stop.cancel();
        bench.drop_schema(&schema);
    }
    if wants("c") {
        // (c) Fan-out 1 -> 50 -> join.
        let (schema, schema_url) = bench.schema();
        let (_p, svc, stop) = start(&schema_url, true).await;
        let wf = define(&svc, &fan_out(50)).await;
        for rep in 0..repeat + 1 {
            let id = run_once(&svc, &wf).await;
            let run = wait_run(&svc, &id).await;
            let start_step = run.steps.iter().find(|s| s.id == "start").unwrap();
            let join = run.steps.iter().find(|s| s.id == "join").unwrap();
            let ms = (join.finished_at.unwrap() - start_step.started_at.unwrap())
                .num_microseconds()
                .unwrap() as f64
                / 1000.0;
            if rep > 0 {
                latencies.push(ms);
            }
            println!(
                "(c) one fan-out run (52 steps){}: {ms:.1} ms from start to join",
                if rep == 0 { " (warm-up)" } else { "" }
            );
        }
        let concurrent = 100;
        let t0 = Instant::now();
        let mut ids = Vec::new();
        for _ in 0..concurrent {
            ids.push(run_once(&svc, &wf).await);
        }
        for id in &ids {
            wait_run(&svc, id).await;
        }
        let secs = t0.elapsed().as_secs_f64();
        fan_rate = (concurrent * 52) as f64 / secs;
        println!(
            "(c) {concurrent} fan-out runs started back to back: {secs:.2} s, {fan_rate:.0} steps/s"
        );
        let dup = bench.count(
            &schema,
            "SELECT CAST(COALESCE(MAX(executions),0) AS BIGINT) AS n FROM workflow_effects",
        );
        let rows = bench.count(&schema, "SELECT COUNT(*) AS n FROM workflow_effects");
        assert_eq!((rows, dup), (((repeat + 1 + concurrent) * 52) as i64, 1));
        stop.cancel();
        bench.drop_schema(&schema);
    }
    if wants("d") {
        // (d) Idle cost: an engine with nothing to do.
        let (schema, schema_url) = bench.schema();
        let (_p, _svc, stop) = start(&schema_url, true).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = bench.commits();
        let idle_secs = 20.0;
        tokio::time::sleep(Duration::from_secs_f64(idle_secs)).await;
        let after = bench.commits();
        // Two statistics reads are the bench's own.
        idle_rate = (after - before - 1) as f64 / (idle_secs + 1.5);
        println!("(d) idle engine: {:.2} transactions/s", idle_rate);
        stop.cancel();
        bench.drop_schema(&schema);
    }
    let (rate, rate_lo, rate_hi) = median(rates);
    let (c, c_lo, c_hi) = median(cps);
    let (ms, ms_lo, ms_hi) = median(per_step);
    let (fan, fan_lo, fan_hi) = median(latencies);
    println!();
    println!("## Summary (median, min-max over {repeat} repetitions)");
    println!("| figure | result | target |");
    println!("|---|---|---|");
    println!("| pgbench -N commit ceiling C | {ceiling:.0} tps | |");
    println!(
        "| (a) burn-down throughput | {rate:.0} steps/s ({rate_lo:.0}-{rate_hi:.0}) = {:.2} x C | >= 0.5 x C = {:.0} |",
        rate / ceiling,
        ceiling / 2.0
    );
    println!("| (a) commits per step | {c:.3} ({c_lo:.3}-{c_hi:.3}) | <= 2 |");
    println!("| (b) sequential step transition | {ms:.2} ms ({ms_lo:.2}-{ms_hi:.2}) | <= 5 ms |");
    println!("| (c) fan-out 1 -> 50 -> join, one run | {fan:.1} ms ({fan_lo:.1}-{fan_hi:.1}) | |");
    println!("| (c) 100 fan-out runs | {fan_rate:.0} steps/s | |");
    println!("| duplicated or lost effects | 0 | 0 |");
    println!("| (d) idle engine | {idle_rate:.2} transactions/s | near 0 |");
}

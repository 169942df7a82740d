//! Healing scale benchmark against a local PostgreSQL (`MAESTRO_BENCH_DATABASE_URL`, e.g.
//! `postgres://postgres@127.0.0.1:5432/maestro_bench`; the database is created if missing, each
//! run uses a fresh schema).
//!
//! 1. Ingest: a report set of `BENCH_CASES` (default 10,000) test cases in 50 JUnit files (5 %
//!    failing with a stack trace and captured output) — parse alone, and parse + store through
//!    `HealingService::ingest`. Peak heap (a counting allocator) while parsing, beside the input
//!    size, and again for one report whose single test printed `BENCH_BIG_OUTPUT_MB` (default 64)
//!    of output: the stored output is bounded, so the parse's peak must not follow it.
//! 2. Flaky list over `BENCH_RESULTS` (default 1,000,000) results: 2,000 tests × 500 runs in the
//!    window, 2 % of the tests flaky, 1 % broken. The history is bulk-loaded with SQL (ingesting a
//!    million results through the API takes minutes and measures the ingest again), with the
//!    evidence rows ingest would have written; then `HealingService::flaky` is timed, beside the
//!    full-window read it replaced.
//!
//! `cargo bench --bench healing`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use maestro::config::{Environment, LoadOptions, Settings};
use maestro::modules::healing::HealingService;
use maestro::modules::healing::junit::{self, TextLimits};
use maestro::modules::healing::service::Upload;
use maestro::platform::Platform;
use maestro::platform::auth::TenantId;
use maestro::platform::http::pagination::PageQuery;

/// Counts live heap bytes and their peak, so a parse's memory can be read without a profiler.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap above what was live when `f` started.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One JUnit file of `cases` test cases; every 20th fails with a stack trace and output.
fn junit_file(file: usize, cases: usize) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites>\n");
    xml.push_str(&format!(
        "<testsuite name=\"pytest\" tests=\"{cases}\" failures=\"0\">\n"
    ));
    for i in 0..cases {
        let class = format!("tests.test_module_{file}");
        let name = format!("test_case_{i}[param-{}]", i % 7);
        if i % 20 == 0 {
            let trace = "  File \"tests/test_module.py\", line 42, in test_case\n    assert result == expected\n".repeat(20);
            let output = "DEBUG connecting to 127.0.0.1:5432 attempt 3\n".repeat(60);
            xml.push_str(&format!(
                "<testcase classname=\"{class}\" name=\"{name}\" time=\"0.{i:03}\">\
                 <failure message=\"AssertionError: assert 41 == 42\" type=\"AssertionError\">{trace}</failure>\
                 <system-out>{output}</system-out></testcase>\n"
            ));
        } else {
            xml.push_str(&format!(
                "<testcase classname=\"{class}\" name=\"{name}\" time=\"0.{i:03}\"/>\n"
            ));
        }
    }
    xml.push_str("</testsuite>\n</testsuites>\n");
    xml
}

/// One report whose single failing test printed `bytes` of output.
fn noisy_file(bytes: usize) -> String {
    let line = "INFO a very chatty test prints this line again and again\n";
    let output = line.repeat(bytes / line.len());
    format!(
        "<testsuite name=\"noisy\"><testcase classname=\"noisy\" name=\"test_noisy\">\
         <failure message=\"boom\">trace</failure><system-out>{output}</system-out>\
         </testcase></testsuite>"
    )
}

#[derive(diesel::QueryableByName)]
struct Num {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn settings(url: &str) -> Settings {
    let mut s = Settings::load(&LoadOptions {
        config_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
        environment: Some(Environment::Test),
        read_process_env: false,
    })
    .expect("settings");
    s.database.url = url.to_string();
    s.database.pool_size = 4;
    s.redis.url = String::new();
    s
}

/// The bench database (created if missing) and a fresh schema in it: (admin url, schema url).
fn fresh_schema(raw: &str) -> (String, String, String) {
    let url = url::Url::parse(raw).expect("MAESTRO_BENCH_DATABASE_URL is a URL");
    let db_name = url.path().trim_start_matches('/').to_string();
    let mut server = url.clone();
    server.set_path("/postgres");
    let mut admin = PgConnection::establish(server.as_str()).expect("connect to PostgreSQL");
    let exists = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM pg_database WHERE datname = '{db_name}'"
    ))
    .get_result::<Num>(&mut admin)
    .unwrap()
    .n;
    if exists == 0 {
        admin
            .batch_execute(&format!("CREATE DATABASE {db_name}"))
            .unwrap();
    }
    let schema = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    PgConnection::establish(raw)
        .unwrap()
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if raw.contains('?') { '&' } else { '?' };
    let scoped = format!("{raw}{sep}options=-c%20search_path%3D{schema}");
    (raw.to_string(), schema, scoped)
}

fn bench_ingest_parse(cases: usize) -> Vec<(String, Vec<u8>)> {
    let per_file = cases.div_ceil(50);
    let files: Vec<(String, Vec<u8>)> = (0..50)
        .map(|f| {
            (
                format!("reports/TEST-module-{f}.xml"),
                junit_file(f, per_file).into_bytes(),
            )
        })
        .collect();
    let input: usize = files.iter().map(|(_, b)| b.len()).sum();
    let limits = TextLimits {
        output_bytes: 16_384,
        message_bytes: 2_048,
    };
    let started = Instant::now();
    let (parsed, peak) = peak_during(|| {
        files
            .iter()
            .map(|(name, bytes)| {
                junit::parse(name, bytes, None, limits)
                    .expect("parses")
                    .cases
            })
            .collect::<Vec<_>>()
    });
    // Every file's cases are kept until the end, as ingest keeps them until they are stored.
    let parsed: usize = parsed.iter().map(Vec::len).sum();
    println!(
        "ingest parse: {parsed} cases in 50 files ({:.1} MB of XML): {:.0} ms, peak heap {:.1} MB",
        mb(input),
        ms(started.elapsed()),
        mb(peak)
    );
    for out_mb in [1usize, env_or("BENCH_BIG_OUTPUT_MB", 64)] {
        let file = noisy_file(out_mb * 1_048_576).into_bytes();
        let started = Instant::now();
        let (_, peak) = peak_during(|| junit::parse("noisy.xml", &file, None, limits).unwrap());
        println!(
            "ingest parse: one test with {out_mb} MB of output: {:.0} ms, peak heap {:.2} MB beyond the {:.0} MB input",
            ms(started.elapsed()),
            mb(peak),
            mb(file.len())
        );
    }
    files
}

async fn bench_ingest_store(service: &HealingService, files: Vec<(String, Vec<u8>)>) {
    let tenant = TenantId("bench".into());
    let mut times = Vec::new();
    for attempt in 1..=3u32 {
        let upload = Upload {
            project: "ingest-bench".into(),
            commit_sha: Some("c0ffee".into()),
            branch: Some("main".into()),
            ci_run_id: Some("bench".into()),
            attempt: Some(attempt),
            framework: None,
            source: "bench".into(),
            files: files.clone(),
            cases: Vec::new(),
        };
        let started = Instant::now();
        let stored = service.ingest(&tenant, upload).await.expect("ingest");
        times.push(started.elapsed());
        println!(
            "ingest parse+store (attempt {attempt}): {} tests, {} failures: {:.0} ms",
            stored.counts.tests,
            stored.failures,
            ms(*times.last().unwrap())
        );
    }
}

/// A million results in the window, written with SQL; evidence rows as ingest writes them.
fn load_history(scoped: &str, results: i64) {
    let tests: i64 = 2_000;
    let runs = results / tests;
    let started = Instant::now();
    let mut c = PgConnection::establish(scoped).unwrap();
    c.batch_execute(&format!(
        r#"
        INSERT INTO healing_reports (id, tenant_id, project, commit_sha, branch, ci_run_id, attempt,
            source, framework, files, tests, passed, failed, errors, skipped, flaky, duration_ms,
            created_at)
        SELECT 'r' || r, 'bench', 'flaky-bench', 'sha' || (r / 2), 'main', 'ci' || r, 1 + r % 2,
            'bench', 'pytest', 1, {tests}, {tests}, 0, 0, 0, 0, NULL,
            now() - interval '13 days' + r * interval '2 minutes'
        FROM generate_series(0, {runs} - 1) AS r;

        INSERT INTO healing_tests (id, tenant_id, project, identity_hash, framework, scope,
            classname, name, file, created_at)
        SELECT 't' || t, 'bench', 'flaky-bench', md5('t' || t), 'pytest', '', 'tests.mod',
            'test_' || t, NULL, now() - interval '14 days'
        FROM generate_series(0, {tests} - 1) AS t;

        -- Tests 0..39 are flaky (a retried pass now and then, or a failure the rerun of the
        -- same commit passes), 40..59 broke in the last 20 runs, the rest pass.
        INSERT INTO healing_results (id, tenant_id, project, report_id, test_id, commit_sha,
            branch, outcome, attempts, duration_ms, created_at)
        SELECT 'x' || r || '-' || t, 'bench', 'flaky-bench', 'r' || r, 't' || t,
            'sha' || (r / 2), 'main',
            CASE
              WHEN t < 40 AND (r * 7 + t) % 23 = 0 THEN 'flaky'
              WHEN t < 40 AND (r * 5 + t) % 31 = 0 AND r % 2 = 0 THEN 'failed'
              WHEN t >= 40 AND t < 60 AND r >= {runs} - 20 THEN 'failed'
              ELSE 'passed'
            END,
            1, 10, now() - interval '13 days' + r * interval '2 minutes'
        FROM generate_series(0, {runs} - 1) AS r, generate_series(0, {tests} - 1) AS t;

        -- What ingest notes: a flaky result, or a result that disagrees with an earlier attempt
        -- of its commit.
        INSERT INTO healing_flaky_evidence (tenant_id, project, test_id, last_evidence_at)
        SELECT x.tenant_id, x.project, x.test_id, MAX(x.created_at)
        FROM healing_results x
        WHERE x.outcome = 'flaky' OR EXISTS (
            SELECT 1 FROM healing_results e
            WHERE e.tenant_id = x.tenant_id AND e.project = x.project
              AND e.commit_sha = x.commit_sha AND e.test_id = x.test_id
              AND e.created_at < x.created_at
              AND (e.outcome IN ('passed', 'flaky')) <> (x.outcome IN ('passed', 'flaky')))
        GROUP BY x.tenant_id, x.project, x.test_id;
        "#
    ))
    .expect("load the history");
    // As autovacuum leaves a settled table: statistics, and a visibility map for index-only reads.
    c.batch_execute("VACUUM ANALYZE").expect("vacuum");
    let n = diesel::sql_query("SELECT COUNT(*) AS n FROM healing_results")
        .get_result::<Num>(&mut c)
        .unwrap()
        .n;
    let ev = diesel::sql_query("SELECT COUNT(*) AS n FROM healing_flaky_evidence")
        .get_result::<Num>(&mut c)
        .unwrap()
        .n;
    println!(
        "flaky: loaded {n} results of {tests} tests ({ev} with flaky evidence) in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    ms(sorted[i])
}

async fn bench_flaky(service: &HealingService, scoped: &str) {
    let tenant = TenantId("bench".into());
    let page = PageQuery::new(50, 0);
    let list = service
        .flaky(&tenant, "flaky-bench", &page)
        .await
        .expect("flaky list");
    let broken = list.items.iter().filter(|t| t.status == "broken").count();
    println!(
        "flaky: the list holds {} tests ({} on this page, {broken} broken)",
        list.total,
        list.items.len()
    );
    let mut times = Vec::new();
    for _ in 0..env_or("BENCH_REPEAT", 30) {
        let started = Instant::now();
        service
            .flaky(&tenant, "flaky-bench", &page)
            .await
            .expect("flaky list");
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "flaky: HealingService::flaky over the 14-day window: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 1.0)
    );
    // The read the list made before evidence rows: every result of the project in the window.
    let mut c = PgConnection::establish(scoped).unwrap();
    let mut old = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let rows = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM (SELECT test_id, commit_sha, outcome, created_at \
             FROM healing_results WHERE tenant_id = 'bench' AND project = 'flaky-bench' \
             AND created_at >= now() - interval '14 days' ORDER BY created_at) w",
        )
        .get_result::<Num>(&mut c)
        .unwrap()
        .n;
        old.push(started.elapsed());
        assert!(rows > 0);
    }
    old.sort();
    println!(
        "flaky: the full-window read alone (before): p50 {:.0} ms (server side, without transfer or detection)",
        percentile(&old, 0.5)
    );
}

#[tokio::main]
async fn main() {
    let cases: usize = env_or("BENCH_CASES", 10_000);
    let files = bench_ingest_parse(cases);
    let Ok(raw) = std::env::var("MAESTRO_BENCH_DATABASE_URL") else {
        eprintln!(
            "MAESTRO_BENCH_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/maestro_bench); the database parts are skipped"
        );
        return;
    };
    let (admin, schema, scoped) = fresh_schema(&raw);
    let platform = Platform::new(settings(&scoped)).expect("platform");
    platform
        .migrate(Duration::from_secs(30))
        .await
        .expect("migrate");
    let service = HealingService::new(&platform);
    bench_ingest_store(&service, files).await;
    load_history(&scoped, env_or("BENCH_RESULTS", 1_000_000));
    bench_flaky(&service, &scoped).await;
    if std::env::var("BENCH_KEEP").is_err() {
        let _ = PgConnection::establish(&admin)
            .unwrap()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    } else {
        println!("(kept schema {schema})");
    }
}

//! Criterion benches for the quality module: scoring one template (the five checks plus rendering
//! its paths) and the tenant report at 10,000 templates (the uncached path: read every current
//! score and 30 days of evaluations, aggregate). `cargo bench --bench quality`; set
//! `MAESTRO_BENCH_DATABASE_URL=postgres://…` to run the report on PostgreSQL too (a scratch
//! schema is created and dropped).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};

use maestro::config::{Environment, LoadOptions, Settings};
use maestro::modules::quality::checks::CATEGORIES;
use maestro::modules::quality::service::QualityService;
use maestro::modules::templates::TemplatesService;
use maestro::modules::templates::seed::read_folder;
use maestro::platform::Platform;
use maestro::platform::auth::TenantId;
use maestro::platform::db::Db;
use maestro::render::SourceFile;

const TEMPLATES: usize = 10_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench_scoring(c: &mut Criterion) {
    let mut group = c.benchmark_group("quality/score");
    group.sample_size(30);
    for path in [
        "templates_storage/backend_developer/axum-service",
        "templates_storage/backend_developer/fastapi-service",
    ] {
        let files: Vec<SourceFile> = read_folder(&root().join(path)).expect("catalog template");
        let name = Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        group.bench_function(name, |b| {
            b.iter(|| QualityService::evaluate_files(&files, 70).score)
        });
    }
    group.finish();
}

/// 10,000 current scores and three evaluations each within the last 30 days, written straight
/// into the module's tables (the rows scoring would store; scoring 10,000 templates through the
/// service would take minutes).
fn fill(db: &Db, tenant: &TenantId) {
    let mut conn = db.get().expect("connection");
    let now = Utc::now().naive_utc();
    let ts = |t: chrono::NaiveDateTime| format!("'{}'", t.format("%Y-%m-%d %H:%M:%S"));
    let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
    let t = tenant.as_str();
    let all: Vec<usize> = (0..TEMPLATES).collect();
    for chunk in all.chunks(500) {
        let mut latest = Vec::new();
        let mut scores = Vec::new();
        for &i in chunk {
            let id = format!("00000000-0000-0000-0000-{i:012}");
            let category = CATEGORIES[i % CATEGORIES.len()];
            let score = (40 + (i * 37) % 61) as i64;
            let failing = if score < 60 { "documentation" } else { "" };
            let warning = if score < 80 { "examples" } else { "" };
            latest.push(format!(
                "('{t}', '{id}', '{i:040x}', '{category}', {score}, {}, '{failing}', '{warning}', {})",
                flag(score >= 70),
                ts(now)
            ));
            for v in 0..3i64 {
                scores.push(format!(
                    "('{}', '{t}', '{id}', '{i:036x}{v:04x}', 'template-{i}', '1.{v}.0', '{category}', {}, {}, '{{}}', NULL, NULL, {})",
                    uuid::Uuid::new_v4(),
                    score - v,
                    flag(score - v >= 70),
                    ts(now - chrono::Duration::hours((i % 700) as i64 + v))
                ));
            }
        }
        conn.batch_execute(&format!(
            "INSERT INTO quality_latest (tenant_id, template_id, commit_id, category, score, passed, failing_checks, warning_checks, updated_at) VALUES {};
             INSERT INTO quality_scores (id, tenant_id, template_id, commit_id, template_name, version, category, score, passed, evaluation, forced_by, forced_reason, created_at) VALUES {};",
            latest.join(", "),
            scores.join(", ")
        ))
        .expect("fill");
    }
}

/// A quality service on its own database (`url`), migrated.
fn service(runtime: &tokio::runtime::Runtime, url: &str, data: &Path) -> (QualityService, Db) {
    runtime.block_on(async {
        let mut settings = Settings::load(&LoadOptions {
            config_dir: root().join("config"),
            environment: Some(Environment::Test),
            read_process_env: false,
        })
        .expect("settings");
        settings.data_dir = data.to_path_buf();
        settings.database.url = url.to_string();
        settings.redis.url = String::new();
        let platform = Platform::new(settings).expect("platform");
        platform
            .migrate(Duration::from_secs(30))
            .await
            .expect("migrations");
        let templates = TemplatesService::new(&platform);
        (
            QualityService::new(&platform, templates),
            platform.db.clone(),
        )
    })
}

fn bench_report(c: &mut Criterion) {
    let mut group = c.benchmark_group("quality/report_10k");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let tenant = TenantId("bench-tenant".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = |service: &QualityService| {
        runtime
            .block_on(service.report_uncached(&tenant))
            .expect("report")
            .templates_scored
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (sqlite, db) = service(&runtime, &sqlite_url, &dir.path().join("data"));
    fill(&db, &tenant);
    assert_eq!(report(&sqlite), TEMPLATES);
    group.bench_function("sqlite", |b| b.iter(|| report(&sqlite)));

    if let Ok(admin) = std::env::var("MAESTRO_BENCH_DATABASE_URL") {
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin_conn = diesel::PgConnection::establish(&admin).expect("PostgreSQL");
        admin_conn
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("schema");
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
        let (pg, db) = service(&runtime, &url, &dir.path().join("data-pg"));
        fill(&db, &tenant);
        assert_eq!(report(&pg), TEMPLATES);
        group.bench_function("postgres", |b| b.iter(|| report(&pg)));
        drop((pg, db));
        let _ = diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE")).execute(&mut admin_conn);
    }
    group.finish();
}

criterion_group!(benches, bench_scoring, bench_report);
criterion_main!(benches);

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

use maestro::modules::quality::checks::CATEGORIES;
use maestro::modules::quality::report;
use maestro::modules::quality::service::QualityService;
use maestro::modules::quality::store::{self, LatestRow, ScoreRow};
use maestro::modules::templates::seed::read_folder;
use maestro::platform::auth::TenantId;
use maestro::platform::db::{Db, migrate};
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

/// 10,000 current scores and three evaluations each within the last 30 days.
fn fill(db: &Db, tenant: &TenantId) {
    let mut conn = db.get().expect("connection");
    let now = Utc::now().naive_utc();
    conn.transaction(|conn| -> diesel::QueryResult<()> {
        for i in 0..TEMPLATES {
            let id = format!("00000000-0000-0000-0000-{i:012}");
            let category = CATEGORIES[i % CATEGORIES.len()];
            let score = (40 + (i * 37) % 61) as i64;
            store::put_latest(
                conn,
                &LatestRow {
                    tenant_id: tenant.0.clone(),
                    template_id: id.clone(),
                    commit_id: format!("{i:040x}"),
                    category: category.to_string(),
                    score,
                    passed: score >= 70,
                    failing_checks: if score < 60 {
                        "documentation".into()
                    } else {
                        String::new()
                    },
                    warning_checks: if score < 80 {
                        "examples".into()
                    } else {
                        String::new()
                    },
                    updated_at: now,
                },
            )?;
            for v in 0..3i64 {
                store::insert_score(
                    conn,
                    &ScoreRow {
                        id: uuid::Uuid::new_v4().to_string(),
                        tenant_id: tenant.0.clone(),
                        template_id: id.clone(),
                        commit_id: format!("{i:036x}{v:04x}"),
                        template_name: format!("template-{i}"),
                        version: format!("1.{v}.0"),
                        category: category.to_string(),
                        score: score - v,
                        passed: score - v >= 70,
                        evaluation: "{}".into(),
                        forced_by: None,
                        forced_reason: None,
                        created_at: now - chrono::Duration::hours((i % 700) as i64 + v),
                    },
                )?;
            }
        }
        Ok(())
    })
    .expect("fill");
}

fn report_once(db: &Db, tenant: &TenantId) -> usize {
    let mut conn = db.get().expect("connection");
    let since = (Utc::now() - chrono::Duration::days(report::TREND_DAYS)).naive_utc();
    let latest = store::all_latest(&mut conn, tenant).expect("latest");
    let recent = store::scores_since(&mut conn, tenant, since).expect("recent");
    report::build(&latest, &recent, 70, Utc::now()).templates_scored
}

fn database(url: &str) -> Db {
    let mut settings = maestro::config::Settings::load(&maestro::config::LoadOptions {
        config_dir: root().join("config"),
        environment: Some(maestro::config::Environment::Test),
        read_process_env: false,
    })
    .expect("settings")
    .database;
    settings.url = url.to_string();
    let db = Db::new(&settings).expect("pool");
    migrate::run_pending(&mut db.get().expect("connection")).expect("migrations");
    db
}

fn bench_report(c: &mut Criterion) {
    let mut group = c.benchmark_group("quality/report_10k");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let tenant = TenantId("bench-tenant".into());

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = database(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ));
    fill(&sqlite, &tenant);
    assert_eq!(report_once(&sqlite, &tenant), TEMPLATES);
    group.bench_function("sqlite", |b| b.iter(|| report_once(&sqlite, &tenant)));

    if let Ok(admin) = std::env::var("MAESTRO_BENCH_DATABASE_URL") {
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin_conn = diesel::PgConnection::establish(&admin).expect("PostgreSQL");
        admin_conn
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("schema");
        let sep = if admin.contains('?') { '&' } else { '?' };
        let pg = database(&format!("{admin}{sep}options=-c%20search_path%3D{schema}"));
        fill(&pg, &tenant);
        assert_eq!(report_once(&pg, &tenant), TEMPLATES);
        group.bench_function("postgres", |b| b.iter(|| report_once(&pg, &tenant)));
        drop(pg);
        let _ = diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE")).execute(&mut admin_conn);
    }
    group.finish();
}

criterion_group!(benches, bench_scoring, bench_report);
criterion_main!(benches);

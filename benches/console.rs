//! Render time and size of the web console's heaviest pages: the catalog (one page of 25 out of
//! 10,000 templates) and a run with 400 steps (each with an attempt log, failures with
//! details, outputs). Rendering only: the data the services return is made up here, because the
//! queries behind these pages are measured by the templates and workflow_engine benches.
//! `cargo bench --bench console`; prints the bytes of each page once.

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

use maestro::console::bench::{catalog_page, run_page};
use maestro::modules::templates::model::TemplateSummary;
use maestro::modules::workflows::model::RunView;
use maestro::platform::http::pagination::{Page, PageQuery};

const TEMPLATES: i64 = 10_000;
const STEPS: usize = 400;

fn catalog() -> Page<TemplateSummary> {
    let now = Utc::now();
    let items: Vec<TemplateSummary> = (0..25)
        .map(|i| {
            serde_json::from_value(json!({
                "id": format!("00000000-0000-0000-0000-{i:012}"),
                "name": format!("service-template-{i}"),
                "version": "1.4.2",
                "description": "A production-ready HTTP service with CI, container image, health checks and a README that explains every choice.",
                "category": "backend_developer",
                "author": "Platform Team",
                "tags": ["rust", "http", "service", "ci"],
                "format": "native",
                "quality_score": 60.0 + (i % 40) as f64,
                "current_commit": format!("{i:040x}"),
                "file_count": 24,
                "size_bytes": 48_213,
                "has_hooks": false,
                "created_by": "editor@acme.example",
                "updated_by": "editor@acme.example",
                "created_at": (now - Duration::days(30)).to_rfc3339(),
                "updated_at": (now - Duration::hours(i)).to_rfc3339(),
            }))
            .expect("summary")
        })
        .collect();
    Page::new(items, TEMPLATES, &PageQuery::new(25, 5_000))
}

fn run() -> RunView {
    let start = Utc::now() - Duration::minutes(30);
    let steps: Vec<Value> = (0..STEPS)
        .map(|i| {
            let t0 = start + Duration::seconds(i as i64 * 4);
            let failed_once = i % 7 == 0;
            let mut log = Vec::new();
            if failed_once {
                log.push(json!({
                    "attempt": 1, "started_at": t0.to_rfc3339(),
                    "finished_at": (t0 + Duration::seconds(1)).to_rfc3339(),
                    "outcome": "retryable_failure",
                    "error": format!("connection refused by upstream-{i}\n  at http.request (step {i})\n  at engine.execute\n  status 503"),
                    "retry_delay_ms": 1000,
                }));
            }
            let a0 = if failed_once { t0 + Duration::seconds(2) } else { t0 };
            log.push(json!({
                "attempt": if failed_once { 2 } else { 1 },
                "started_at": a0.to_rfc3339(),
                "finished_at": (a0 + Duration::seconds(2)).to_rfc3339(),
                "outcome": "succeeded",
            }));
            json!({
                "id": format!("step-{i:03}"),
                "uses": if i % 3 == 0 { "http.request" } else { "noop" },
                "status": "succeeded",
                "attempts": if failed_once { 2 } else { 1 },
                "started_at": t0.to_rfc3339(),
                "finished_at": (a0 + Duration::seconds(2)).to_rfc3339(),
                "duration_ms": 2000,
                "inputs": {"url": format!("https://svc.example/{i}"), "retries": 3},
                "outputs": {"status": 200, "body": {"ok": true, "id": i}},
                "error": null,
                "wake_at": null,
                "attempt_log": log,
            })
        })
        .collect();
    serde_json::from_value(json!({
        "id": "11111111-2222-3333-4444-555555555555",
        "workflow_id": "66666666-7777-8888-9999-000000000000",
        "workflow_name": "release-train",
        "version": 3,
        "status": "succeeded",
        "pause_reason": null,
        "inputs": {"service": "billing", "env": "staging"},
        "outputs": {"deployed": true},
        "error": null,
        "failed_step": null,
        "idempotency_key": null,
        "started_by": "editor@acme.example",
        "trace_parent": null,
        "created_at": start.to_rfc3339(),
        "started_at": start.to_rfc3339(),
        "finished_at": (start + Duration::seconds(STEPS as i64 * 4 + 3)).to_rfc3339(),
        "deadline_at": null,
        "steps": steps,
    }))
    .expect("run view")
}

fn bench_pages(c: &mut Criterion) {
    let page = catalog();
    let run = run();
    let catalog_html = catalog_page(&page).expect("catalog renders");
    let run_html = run_page(&run).expect("run renders");
    println!(
        "console page sizes (uncompressed, vendor files excluded): catalog {} bytes, run with {STEPS} steps {} bytes",
        catalog_html.len(),
        run_html.len()
    );
    if let Some(dir) = std::env::var_os("MAESTRO_BENCH_DUMP") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("catalog.html"), &catalog_html).expect("dump catalog");
        std::fs::write(dir.join("run.html"), &run_html).expect("dump run");
    }
    let mut group = c.benchmark_group("console/render");
    group.bench_function("catalog_25_of_10000", |b| {
        b.iter(|| catalog_page(&page).expect("catalog").len())
    });
    group.bench_function("run_400_steps", |b| {
        b.iter(|| run_page(&run).expect("run").len())
    });
    group.finish();
}

criterion_group!(benches, bench_pages);
criterion_main!(benches);

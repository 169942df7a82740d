//! Page rendering without HTTP or a database, for `benches/console.rs`: the same templates and
//! the same view-building code as the handlers, fed with data the benchmark makes up.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::pages::{templates as tpages, workflows as wpages};
use super::view::{self, Ctx};
use crate::modules::templates::model::TemplateSummary;
use crate::modules::workflows::model::RunView;
use crate::platform::http::error::ApiError;
use crate::platform::http::pagination::{Page, PageQuery};

/// The catalog's size in the benchmark, and the run's steps.
pub const TEMPLATES: i64 = 10_000;
pub const STEPS: usize = 400;

/// The catalog page (full layout) for one page of results.
pub fn catalog_page(page: &Page<TemplateSummary>) -> Result<String, ApiError> {
    let ctx = tpages::catalog_ctx(
        Ctx::blank(),
        Some(page),
        None,
        &Default::default(),
        70,
        true,
    )
    .set(
        "categories",
        json!([{"category": "backend_developer", "count": page.total}]),
    );
    view::render("catalog.html", ctx)
}

/// The run page (full layout) for one run.
pub fn run_page(run: &RunView) -> Result<String, ApiError> {
    let ctx = wpages::run_ctx(Ctx::blank(), run, chrono::Utc::now(), true, true);
    view::render("run.html", ctx)
}

/// One page of 25 out of 10,000 made-up templates.
pub fn sample_catalog() -> Page<TemplateSummary> {
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
            .expect("a valid summary")
        })
        .collect();
    Page::new(items, TEMPLATES, &PageQuery::new(25, 5_000))
}

/// A finished run with `steps` steps, a seventh of them with a failed first attempt (message
/// and stack), every step with inputs and outputs.
pub fn sample_run(steps: usize) -> RunView {
    let start = Utc::now() - Duration::minutes(30);
    let step_views: Vec<Value> = (0..steps)
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
        "finished_at": (start + Duration::seconds(steps as i64 * 4 + 3)).to_rfc3339(),
        "deadline_at": null,
        "steps": step_views,
    }))
    .expect("a valid run view")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The budget: under 100 KB uncompressed (vendor files are cached apart).
    #[test]
    fn the_heaviest_pages_stay_under_100_kb() {
        let catalog = catalog_page(&sample_catalog()).unwrap();
        assert!(catalog.len() < 100_000, "catalog {} bytes", catalog.len());
        let run = run_page(&sample_run(STEPS)).unwrap();
        eprintln!(
            "page sizes: catalog {} bytes, run with {STEPS} steps {} bytes",
            catalog.len(),
            run.len()
        );
        assert!(
            run.len() < 100_000,
            "run with {STEPS} steps: {} bytes",
            run.len()
        );
        assert_eq!(run.matches("<tr>").count(), STEPS + 1, "one row per step");
        assert!(run.contains("connection refused by upstream-7"));
    }
}

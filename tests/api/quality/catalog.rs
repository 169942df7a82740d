//! The starter catalog against the real gate and engine: every template is published through the
//! quality gate on its merits, and the workflow definition the catalog generates runs.

use std::time::Duration;

use base64::Engine;
use maestro::modules::templates::{TemplatesService, seed};
use maestro::platform::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TEST_PASSWORD, TestApp, repo_root};
use crate::workflows::{MockHttp, step};

/// Seeds the real catalog into tenant `default` with the publish gate on; returns the app and an
/// editor token of that tenant.
async fn seeded() -> (TestApp, String, seed::SeedReport) {
    let app = TestApp::builder()
        .with(|s| {
            s.quality.gates = true;
            s.database.pool_size = 8;
        })
        .spawn()
        .await;
    let service = app.platform.services.get::<TemplatesService>().unwrap();
    let report = seed::run(&service, &repo_root().join("templates_storage"))
        .await
        .expect("the catalog seeds");
    app.platform
        .auth
        .create_user_in_tenant_named(
            "default",
            "builder@default.test",
            TEST_PASSWORD,
            Role::Editor,
        )
        .await
        .unwrap();
    let token = app
        .platform
        .auth
        .token_for_email("builder@default.test")
        .await
        .unwrap();
    (app, token, report)
}

#[tokio::test]
async fn every_catalog_template_passes_the_publish_gate_on_its_merits() {
    let (app, token, report) = seeded().await;
    assert!(
        report.skipped.is_empty(),
        "the gate refused catalog templates: {:#?}",
        report.skipped
    );
    let seeded = report.created.len();
    assert!(seeded >= 45, "{seeded} templates seeded");

    let summary = app
        .eventually(
            "every seeded template to be scored",
            Duration::from_secs(60),
            || async {
                let (_, r) = app.get("/api/v1/quality/report", Some(&token)).await;
                (r["templates_scored"] == seeded).then_some(r)
            },
        )
        .await;
    assert_eq!(summary["passed"], seeded, "{summary}");
    assert_eq!(summary["pass_rate"], 1.0);
    let low = summary["distribution"].as_array().unwrap()[..8]
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(low, 0, "no catalog template scores below 80: {summary}");
}

#[tokio::test]
async fn the_catalog_workflow_definition_registers_and_runs_on_the_engine() {
    let (app, token, _) = seeded().await;
    let http = MockHttp::start().await;
    let (_, found) = app
        .get(
            "/api/v1/templates?text=maestro-workflow-definition",
            Some(&token),
        )
        .await;
    let id = found["items"][0]["id"]
        .as_str()
        .expect("the workflow template is seeded");

    let (status, rendered) = app
        .post(
            &format!("/api/v1/templates/{id}/instantiate"),
            Some(&token),
            &json!({
                "parameters": {"notify_webhook": format!("{}/ok", http.url), "min_quality_score": 80},
                "format": "json"
            }),
        )
        .await;
    assert_eq!(status, 200, "{rendered}");
    let file = rendered["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "workflows/golden-path-bootstrap.yaml")
        .unwrap_or_else(|| panic!("the definition is generated: {rendered}"));
    let yaml = base64::engine::general_purpose::STANDARD
        .decode(file["content_base64"].as_str().unwrap())
        .unwrap();

    let res = app
        .request(reqwest::Method::POST, "/api/v1/workflows", Some(&token))
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let workflow: Value = res.json().await.unwrap();

    let (status, run) = app
        .post(
            &format!(
                "/api/v1/workflows/{}/execute",
                workflow["id"].as_str().unwrap()
            ),
            Some(&token),
            &json!({"inputs": {"project_name": "Billing API", "requested_by": "alice"}}),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();
    app.eventually(
        "the run to wait for its approval",
        Duration::from_secs(30),
        || async {
            let (_, run) = app
                .get(&format!("/api/v1/workflows/runs/{run_id}"), Some(&token))
                .await;
            (step(&run, "approval")["status"] == "waiting").then_some(())
        },
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/runs/{run_id}/events/approved"),
            Some(&token),
            &json!({"by": "bob"}),
        )
        .await;
    assert_eq!(status, 202);

    let run = app
        .eventually("the run to succeed", Duration::from_secs(60), || async {
            let (_, run) = app
                .get(&format!("/api/v1/workflows/runs/{run_id}"), Some(&token))
                .await;
            (run["status"] == "succeeded").then_some(run)
        })
        .await;
    let text = step(&run, "notify")["outputs"]["body"]["received"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.starts_with("Billing API was created from fastapi-service for alice (score "),
        "{text}"
    );
    assert!(
        step(&run, "quality")["outputs"]["quality_score"]
            .as_u64()
            .unwrap()
            >= 80
    );
    http.stop().await;
}

//! Black-box tests of the quality module: the score shape, the publish gate, the regression gate
//! with forced publishes, history, report, metrics, and the module switched off.

mod catalog;

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TestApp;

const README: &str = r#"# Greeter service

This template generates a small Python HTTP service that greets people by name, with a health
endpoint, settings read from the environment and a pytest suite. Use it when you need a minimal
but production-shaped starting point for an internal API.

## Usage

Instantiate it through the Maestro API:

```bash
curl -X POST "$MAESTRO_URL/api/v1/templates/$TEMPLATE_ID/instantiate" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"parameters": {"project_name": "greeter"}, "format": "zip"}' -o greeter.zip
```

Then install the requirements, run the tests and start it:

```bash
unzip greeter.zip && cd greeter
pip install -r requirements.txt
pytest && flask --app app run
```

## Parameters

| Name | Type | Default | Meaning |
|---|---|---|---|
| `project_name` | string | `greeter` | Folder and package name |
| `port` | integer | `8080` | Port the service listens on |

## What you get

A folder named after the project with the Flask application, its requirements pinned to
compatible ranges, and tests that call every route through the Flask test client. The service
answers on the configured port, logs one line per request, and exposes a health endpoint that
load balancers and Kubernetes probes can call without touching any dependency, so a slow
database never takes the instance out of rotation by accident. Settings come from environment
variables, which keeps one image usable in every environment from a laptop to production.

## Extending it

Add routes in the application module and a test next to each; keep configuration in the
environment and secrets out of the repository.
"#;

/// A template that passes every check.
pub fn good(name: &str) -> Value {
    json!({
        "manifest": {
            "name": name,
            "version": "1.0.0",
            "description": "A small Flask greeting service with tests",
            "category": "backend_developer",
            "author": "Quality Tests",
            "tags": ["python", "flask", "api"],
            "dependencies": [{"flask": ">=3,<4"}, {"pytest": ">=8"}],
            "files": ["{{ project_name }}/"],
            "parameters": [
                {"name": "project_name", "type": "string", "default": "greeter", "help": "Folder and package name"},
                {"name": "port", "type": "integer", "default": 8080, "help": "Port the service listens on"}
            ]
        },
        "files": {
            "README.md": README,
            "examples/basic.json": "{\"project_name\": \"greeter\"}\n",
            "examples/README.md": "`basic.json` generates the default greeter service.\n",
            "{{ project_name }}/app.py": "from flask import Flask\napp = Flask(__name__)\nPORT = {{ port }}\n",
            "{{ project_name }}/requirements.txt": "flask>=3,<4\npytest>=8\n",
            "{{ project_name }}/test_app.py": "def test_ok():\n    assert True\n"
        }
    })
}

fn gated() -> crate::helpers::TestAppBuilder {
    TestApp::builder().with(|s| s.quality.gates = true)
}

async fn create(app: &TestApp, body: &Value) -> (reqwest::StatusCode, Value) {
    app.post("/api/v1/templates", Some(&app.editor.token), body)
        .await
}

/// Waits until the template's current version has a stored score (scored from the bus event).
async fn wait_for_history(app: &TestApp, id: &str, versions: i64) -> Value {
    app.eventually(
        "the new version to be scored",
        Duration::from_secs(15),
        || async {
            let (status, page) = app
                .get(
                    &format!("/api/v1/quality/templates/{id}/history"),
                    Some(&app.viewer.token),
                )
                .await;
            (status == 200 && page["total"] == versions).then_some(page)
        },
    )
    .await
}

#[tokio::test]
async fn score_has_the_seed_shape_with_evidence_and_recommendations() {
    let app = gated().spawn().await;
    let (status, created) = create(&app, &good("greeter")).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();

    let (status, score) = app
        .post(
            "/api/v1/quality/score",
            Some(&app.editor.token),
            &json!({"template_id": id}),
        )
        .await;
    assert_eq!(status, 200, "{score}");
    assert_eq!(score["template_id"], id);
    let quality = score["quality_score"].as_u64().unwrap();
    assert!(quality >= 90, "{score}");
    assert_eq!(score["passed"], true);
    for check in [
        "documentation",
        "examples",
        "metadata",
        "structure",
        "dependencies",
    ] {
        assert!(
            ["pass", "warning", "fail"].contains(&score["checks"][check].as_str().unwrap()),
            "checks.{check}: {score}"
        );
        let detail = &score["details"][check];
        assert!(
            detail["evidence"].as_array().is_some_and(|e| !e.is_empty()),
            "{check} evidence"
        );
        assert!(detail["max_score"].as_f64().unwrap() > 0.0);
    }
    assert!(score["recommendations"].is_array());
    assert_eq!(score["commit"], created["current_commit"]);

    // The stored score shows on the template itself.
    app.eventually(
        "the template to carry its score",
        Duration::from_secs(10),
        || async {
            let (_, t) = app
                .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
                .await;
            (t["quality_score"].as_f64() == Some(quality as f64)).then_some(())
        },
    )
    .await;

    let (status, _) = app
        .post(
            "/api/v1/quality/score",
            Some(&app.viewer.token),
            &json!({"template_id": id}),
        )
        .await;
    assert_eq!(status, 403, "viewers cannot store scores");
    let (status, _) = app
        .post(
            "/api/v1/quality/score",
            Some(&app.other_admin.token),
            &json!({"template_id": id}),
        )
        .await;
    assert_eq!(
        status, 404,
        "another tenant's template does not exist for them"
    );
}

#[tokio::test]
async fn a_template_without_readme_is_refused_until_it_gets_a_real_one() {
    let app = gated().spawn().await;
    let mut body = good("no-readme");
    body["files"].as_object_mut().unwrap().remove("README.md");
    let (status, refused) = create(&app, &body).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "quality.gate_failed");
    let docs = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "checks.documentation")
        .unwrap_or_else(|| panic!("the documentation check is named: {refused}"));
    assert!(
        docs["message"]
            .as_str()
            .unwrap()
            .contains("Add a README.md"),
        "{docs}"
    );
    let (_, list) = app.get("/api/v1/templates", Some(&app.viewer.token)).await;
    assert_eq!(list["total"], 0, "nothing was stored");

    // A stub README is not enough either.
    body["files"]["README.md"] = json!("# No readme\n\nTODO: write this.\n");
    let (status, refused) = create(&app, &body).await;
    assert_eq!(status, 422, "{refused}");

    body["files"]["README.md"] = json!(README);
    let (status, created) = create(&app, &body).await;
    assert_eq!(status, 201, "{created}");
}

#[tokio::test]
async fn history_has_one_score_per_version_and_regressions_need_an_admin() {
    let app = gated().spawn().await;
    let (_, created) = create(&app, &good("regress")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let first = wait_for_history(&app, &id, 1).await;
    let first_score = first["items"][0]["quality_score"].as_i64().unwrap();

    // Version 2: same quality, new version number.
    let mut v2 = good("regress");
    v2["manifest"]["version"] = json!("1.1.0");
    let etag = format!("\"{}\"", created["current_commit"].as_str().unwrap());
    let res = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/templates/{id}"),
            Some(&app.editor.token),
        )
        .header("if-match", &etag)
        .json(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    let history = wait_for_history(&app, &id, 2).await;
    let versions: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["version"].as_str().unwrap())
        .collect();
    assert_eq!(
        versions,
        vec!["1.1.0", "1.0.0"],
        "newest first, one per version"
    );

    // Version 3's README loses its usage and output headings and its parameters table: still
    // above the pass mark with no failed check, but a drop of more than 10 points.
    let mut v3 = good("regress");
    v3["manifest"]["version"] = json!("1.2.0");
    let start = README.find("## Parameters").unwrap();
    let end = README.find("## What you get").unwrap();
    let readme = format!("{}{}", &README[..start], &README[end..])
        .replace("## Usage", "## Instantiating")
        .replace("## What you get", "## Details");
    v3["files"]["README.md"] = json!(readme);
    let etag = format!("\"{}\"", updated["current_commit"].as_str().unwrap());
    let put = |token: &str, body: &Value| {
        app.request(
            reqwest::Method::PUT,
            &format!("/api/v1/templates/{id}"),
            Some(token),
        )
        .header("if-match", &etag)
        .json(body)
        .send()
    };
    let res = put(&app.editor.token, &v3).await.unwrap();
    assert_eq!(res.status(), 422);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["code"], "quality.regression", "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains(&first_score.to_string())
    );

    // An editor cannot force; an admin can, with a reason that is recorded.
    let mut forced = v3.clone();
    forced["force"] = json!({"reason": "examples move to the docs site this sprint"});
    let res = put(&app.editor.token, &forced).await.unwrap();
    assert_eq!(res.status(), 403);
    let res = put(&app.admin.token, &forced).await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let history = wait_for_history(&app, &id, 3).await;
    let newest = &history["items"][0];
    assert_eq!(newest["version"], "1.2.0");
    assert_eq!(newest["forced_by"], "admin@acme.test");
    assert_eq!(
        newest["forced_reason"],
        "examples move to the docs site this sprint"
    );
    assert!(newest["quality_score"].as_i64().unwrap() < first_score - 10);

    let (_, overrides) = app
        .get(
            &format!("/api/v1/quality/overrides?template_id={id}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(overrides["total"], 1);
    assert_eq!(overrides["items"][0]["actor"], "admin@acme.test");
    assert_eq!(overrides["items"][0]["previous_score"], first_score);
    assert!(
        overrides["items"][0]["commit"].is_string(),
        "linked to the commit it produced"
    );
}

#[tokio::test]
async fn validate_scores_inline_templates_without_storing() {
    let app = gated().spawn().await;
    let mut body = good("inline");
    body["files"]["README.md"] = json!("# Inline\n");
    let (status, eval) = app
        .post(
            "/api/v1/quality/validate",
            Some(&app.viewer.token),
            &json!({"template": body}),
        )
        .await;
    assert_eq!(status, 200, "{eval}");
    assert_eq!(eval["passed"], false);
    assert_eq!(eval["checks"]["documentation"], "fail");
    assert!(eval["template_id"].is_null());

    let (status, err) = app
        .post(
            "/api/v1/quality/validate",
            Some(&app.viewer.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    let (_, report) = app
        .get("/api/v1/quality/report", Some(&app.viewer.token))
        .await;
    assert_eq!(report["templates_scored"], 0, "validate stores nothing");
}

#[tokio::test]
async fn the_report_metrics_and_stats_summarise_the_tenant() {
    let app = TestApp::spawn().await; // gates off: a failing template can be published
    let (_, a) = create(&app, &good("good-one")).await;
    let mut weak = good("weak-one");
    weak["files"].as_object_mut().unwrap().remove("README.md");
    weak["manifest"]["category"] = json!("qa_engineer");
    let (status, b) = create(&app, &weak).await;
    assert_eq!(status, 201, "{b}");
    for t in [&a, &b] {
        wait_for_history(&app, t["id"].as_str().unwrap(), 1).await;
    }
    let (status, report) = app
        .get("/api/v1/quality/report", Some(&app.viewer.token))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["templates_scored"], 2);
    assert_eq!(report["passed"], 1);
    assert_eq!(report["pass_rate"], 0.5);
    assert_eq!(report["distribution"].as_array().unwrap().len(), 10);
    assert_eq!(report["by_category"].as_array().unwrap().len(), 2);
    assert_eq!(report["failing_checks"][0]["check"], "documentation");
    assert_eq!(report["trend"].as_array().unwrap().len(), 1);

    // Another tenant's report is its own.
    let (_, other) = app
        .get("/api/v1/quality/report", Some(&app.other_admin.token))
        .await;
    assert_eq!(other["templates_scored"], 0);

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("maestro_quality_pass_rate{category=\"backend_developer\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("maestro_quality_pass_rate{category=\"qa_engineer\"} 0"));
    assert!(metrics.contains("maestro_quality_score_bucket{category=\"qa_engineer\""));

    let (_, stats) = app.get("/api/v1/admin/stats", Some(&app.admin.token)).await;
    assert_eq!(
        stats["module_stats"]["quality"]["templates_scored"], 2,
        "{stats}"
    );
}

#[tokio::test]
async fn with_the_module_off_templates_publish_ungated_and_quality_paths_are_gone() {
    let app = TestApp::builder()
        .with(|s| {
            s.modules.quality = false;
            s.quality.gates = true;
        })
        .spawn()
        .await;
    let mut body = good("ungated");
    body["files"].as_object_mut().unwrap().remove("README.md");
    let (status, created) = create(&app, &body).await;
    assert_eq!(status, 201, "no gate without the module: {created}");

    let (status, body) = app
        .get("/api/v1/quality/report", Some(&app.viewer.token))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "route.not_found");
    let (_, doc) = app.get("/openapi.json", None).await;
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.iter().all(|p| !p.starts_with("/api/v1/quality")),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.starts_with("/api/v1/templates")));
}

#[tokio::test]
async fn the_templates_module_off_removes_its_paths_too() {
    let app = TestApp::builder()
        .with(|s| {
            s.modules.templates = false;
            s.modules.quality = false;
        })
        .spawn()
        .await;
    let (status, _) = app.get("/api/v1/templates", Some(&app.viewer.token)).await;
    assert_eq!(status, 404);
    let (_, doc) = app.get("/openapi.json", None).await;
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.iter().all(|p| !p.starts_with("/api/v1/templates")),
        "{paths:?}"
    );
    let (_, health) = app.get("/health", None).await;
    assert!(health.get("templates_count").is_none());
}

#[tokio::test]
async fn concurrent_scoring_of_one_version_stores_it_once() {
    let app = gated().spawn().await;
    let (_, created) = create(&app, &good("raced")).await;
    let id = created["id"].as_str().unwrap().to_string();
    // Racing the bus-triggered scoring of the same version, and each other.
    let body = json!({"template_id": id});
    let calls = (0..6).map(|_| app.post("/api/v1/quality/score", Some(&app.editor.token), &body));
    for (status, response) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{response}");
    }
    let history = wait_for_history(&app, &id, 1).await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
    let (_, report) = app
        .get("/api/v1/quality/report", Some(&app.viewer.token))
        .await;
    assert_eq!(report["templates_scored"], 1);
}

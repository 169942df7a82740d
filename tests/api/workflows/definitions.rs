//! Creating, versioning and validating workflow definitions.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{create, execute, spawn, wait_status};
use crate::helpers::send;

fn errors_text(body: &Value) -> String {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| {
                    format!(
                        "{}: {}",
                        x["field"].as_str().unwrap_or(""),
                        x["message"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn definitions_are_created_from_json_or_yaml_and_versioned() {
    let app = spawn().await;
    let v1 = json!({
        "name": "render-and-check",
        "description": "demo",
        "inputs": {"template": {"type": "string", "required": true}},
        "steps": [
            {"id": "render", "uses": "test.instantiate", "with": {"template": "${{ inputs.template }}"}},
            {"id": "gate", "uses": "test.gate", "needs": "render", "with": {"score": 90}}
        ]
    });
    let created = create(&app, &v1).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["latest_version"], 1);
    assert_eq!(created["version"], 1);
    assert_eq!(
        created["definition"]["steps"][1]["needs"],
        json!(["render"])
    );

    // The same definition again adds nothing.
    let (status, again) = app
        .post("/api/v1/workflows", Some(&app.editor.token), &v1)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["latest_version"], 1);

    // A changed definition, sent as YAML, is version 2 of the same workflow.
    let yaml = "name: render-and-check\ninputs:\n  template: {type: string, required: true}\nsteps:\n  - id: render\n    uses: test.instantiate\n    with: {template: \"${{ inputs.template }}\"}\n    retry: {max_attempts: 5, initial_interval: 250ms}\n";
    let (status, v2) = send(
        app.request(Method::POST, "/api/v1/workflows", Some(&app.editor.token))
            .header("content-type", "application/yaml")
            .body(yaml),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    assert_eq!(v2["id"], id.as_str());
    assert_eq!(v2["latest_version"], 2);
    assert_eq!(v2["versions"].as_array().unwrap().len(), 2);

    // Version 1 stays readable, and a run started on it is pinned to it.
    let (status, old) = app
        .get(
            &format!("/api/v1/workflows/{id}?version=1"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old["definition"]["steps"].as_array().unwrap().len(), 2);
    let (status, run) = app
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            Some(&app.editor.token),
            &json!({"inputs": {"template": "api"}, "version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    assert_eq!(run["version"], 1);
    let run = wait_status(&app, run["id"].as_str().unwrap(), "succeeded", 30).await;
    assert_eq!(run["steps"].as_array().unwrap().len(), 2);
    let latest = execute(&app, &id, json!({"template": "api"})).await;
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["steps"].as_array().unwrap().len(), 1);

    // A version the workflow does not have: reading it is a 404, running it a 422 (the workflow
    // exists, the request's `version` is wrong); one code per status, the detail gives the latest.
    let (status, body) = app
        .get(
            &format!("/api/v1/workflows/{id}?version=9"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "workflows.version_not_found", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("latest is 2"),
        "{body}"
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            Some(&app.editor.token),
            &json!({"inputs": {"template": "api"}, "version": 9}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "workflows.unknown_run_version", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("latest is 2"),
        "{body}"
    );

    // Optimistic versioning: asking for a version that is not next is a conflict.
    let mut stale = v1.clone();
    stale["version"] = json!(2);
    stale["description"] = json!("changed");
    let (status, body) = app
        .post("/api/v1/workflows", Some(&app.editor.token), &stale)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Listing shows it once.
    let (status, list) = app.get("/api/v1/workflows", Some(&app.viewer.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_definitions_are_refused_naming_the_step() {
    let app = spawn().await;
    let cases = [
        (
            json!({"name": "w", "steps": [{"id": "render", "uses": "templates.nonexistent"}]}),
            "steps[0].uses",
            "step `render` uses `templates.nonexistent`, an unknown step type or one whose module is disabled",
        ),
        (
            json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "needs": ["ghost"]}]}),
            "steps[0].needs",
            "step `a` needs `ghost`",
        ),
        (
            json!({"name": "w", "steps": [
                {"id": "a", "uses": "noop", "needs": ["b"]},
                {"id": "b", "uses": "noop", "needs": ["a"]}
            ]}),
            "needs",
            "cycle",
        ),
        (
            json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "with": {"outputs": {"x": "${{ inputs. }}"}}}]}),
            "steps[0].with.outputs.x",
            "step `a`: bad expression",
        ),
        (
            json!({"name": "w", "steps": [{"id": "call", "uses": "http.request", "with": {"method": "GET"}}]}),
            "steps[0].with",
            "step `call`: `url` is required",
        ),
        (
            json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": {"initial_interval": "fast"}}]}),
            "steps[0].retry.initial_interval",
            "not a duration",
        ),
        (
            json!({"name": "w", "steps": [{"id": "a", "uses": "wait_for_event", "with": {}}]}),
            "steps[0].with.event",
            "needs `event`",
        ),
        (
            json!({"name": "Bad Name!", "steps": [{"id": "a", "uses": "noop"}]}),
            "name",
            "lowercase",
        ),
        (
            json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": {"max_attempts": "many"}}]}),
            "steps[0].retry.max_attempts",
            "",
        ),
        // A misspelt step parameter is refused when the definition is sent, not when it runs.
        (
            json!({"name": "w", "steps": [{"id": "nap", "uses": "noop", "with": {"sleeep": "1s"}}]}),
            "steps[0].with",
            "step `nap`: unknown field `sleeep`, expected one of `sleep`, `outputs`, `effect`",
        ),
        (
            json!({"name": "w", "steps": [{"id": "call", "uses": "http.request", "with": {"url": "https://example.com", "header": {}}}]}),
            "steps[0].with",
            "step `call`: unknown field `header`",
        ),
        (
            json!({"name": "w", "steps": [{"id": "boom", "uses": "fail", "with": {"retriable": false}}]}),
            "steps[0].with",
            "step `boom`: unknown field `retriable`",
        ),
        // Modules' step types read `with:` into the same structs they run with.
        (
            json!({"name": "w", "steps": [{"id": "r", "uses": "templates.instantiate", "with": {"name": "t", "parameter": {}}}]}),
            "steps[0].with",
            "step `r`: unknown field `parameter`, expected one of `template_id`, `name`, `parameters`, `version`",
        ),
        (
            json!({"name": "w", "steps": [{"id": "r", "uses": "templates.instantiate", "with": {"template_id": "a", "name": "b"}}]}),
            "steps[0].with",
            "step `r`: give `template_id` or `name`, not both",
        ),
        (
            json!({"name": "w", "steps": [{"id": "h", "uses": "healing.analyze", "with": {"reportid": "x"}}]}),
            "steps[0].with",
            "step `h`: unknown field `reportid`, expected `report_id`",
        ),
        (
            json!({"name": "w", "steps": [{"id": "h", "uses": "healing.apply", "with": {"healing_id": "x", "approve": true}}]}),
            "steps[0].with",
            "step `h`: unknown field `approve`, expected one of `healing_id`, `approve_risk`",
        ),
        (
            json!({"name": "w", "steps": [{"id": "h", "uses": "healing.apply", "with": {"healing_id": "x", "approve_risk": "yes"}}]}),
            "steps[0].with",
            "step `h`: `approve_risk`: invalid type",
        ),
        (
            json!({"name": "w", "steps": [{"id": "q", "uses": "quality.gate", "with": {"name": "t", "min_scor": 80}}]}),
            "steps[0].with",
            "step `q`: unknown field `min_scor`, expected one of `template_id`, `name`, `min_score`",
        ),
    ];
    for (definition, field, message) in cases {
        let (status, body) = app
            .post("/api/v1/workflows", Some(&app.editor.token), &definition)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{definition} -> {body}"
        );
        assert_eq!(body["code"], "workflows.invalid_definition", "{body}");
        let text = errors_text(&body);
        assert!(
            text.contains(field) && text.contains(message),
            "expected `{field}` / `{message}` in:\n{text}"
        );
    }

    // Syntax errors, unsupported types and huge definitions are 4xx, never 500.
    let (status, body) = send(
        app.request(Method::POST, "/api/v1/workflows", Some(&app.editor.token))
            .header("content-type", "application/yaml")
            .body("name: [unclosed"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "workflows.unreadable_definition", "{body}");
    let (status, _) = send(
        app.request(Method::POST, "/api/v1/workflows", Some(&app.editor.token))
            .header("content-type", "text/plain")
            .body("name: x"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let steps: Vec<Value> = (0..1500)
        .map(|i| json!({"id": format!("s{i}"), "uses": "noop"}))
        .collect();
    let (status, body) = app
        .post(
            "/api/v1/workflows",
            Some(&app.editor.token),
            &json!({"name": "huge", "steps": steps}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let big = "x".repeat(2 * 1024 * 1024);
    let (status, _) = app
        .post(
            "/api/v1/workflows",
            Some(&app.editor.token),
            &json!({"name": "big", "description": big, "steps": []}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing was stored by any of these.
    let (_, list) = app.get("/api/v1/workflows", Some(&app.viewer.token)).await;
    assert_eq!(list["total"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn module_steps_accept_expressions_where_values_are_not_strings() {
    let app = spawn().await;
    let definition = json!({"name": "exprs",
    "inputs": {"name": {"type": "string"}, "report": {"type": "string"}, "params": {"type": "object", "default": {}}, "approve": {"type": "boolean", "default": false}, "min": {"type": "integer", "default": 70}},
    "steps": [
        {"id": "r", "uses": "templates.instantiate", "with": {"name": "${{ inputs.name }}", "parameters": "${{ inputs.params }}"}},
        {"id": "a", "uses": "healing.analyze", "with": {"report_id": "${{ inputs.report }}"}},
        {"id": "h", "uses": "healing.apply", "needs": "a", "with": {"healing_id": "${{ steps.a.outputs.chosen_id }}", "approve_risk": "${{ inputs.approve }}"}},
        {"id": "q", "uses": "quality.gate", "with": {"name": "t", "min_score": "${{ inputs.min }}"}},
    ]});
    let (status, body) = app
        .post("/api/v1/workflows", Some(&app.editor.token), &definition)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn roles_and_tenants_are_enforced() {
    let app = spawn().await;
    let def = json!({"name": "w", "steps": [{"id": "a", "uses": "noop"}]});
    let (status, _) = app
        .post("/api/v1/workflows", Some(&app.viewer.token), &def)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/api/v1/workflows", None, &def).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let created = create(&app, &def).await;
    let id = created["id"].as_str().unwrap();

    // Viewers cannot start runs; another tenant cannot see or start them at all.
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            Some(&app.viewer.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get(
            &format!("/api/v1/workflows/{id}"),
            Some(&app.other_admin.token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            Some(&app.other_admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let run = execute(&app, id, json!({})).await;
    let run_id = run["id"].as_str().unwrap();
    let (status, _) = app
        .get(
            &format!("/api/v1/workflows/runs/{run_id}"),
            Some(&app.other_admin.token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/runs/{run_id}/cancel"),
            Some(&app.other_admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, runs) = app
        .get("/api/v1/workflows/runs", Some(&app.other_admin.token))
        .await;
    assert_eq!(runs["total"], 0);

    // Redrive and workflow-wide pause are for admins.
    let (status, _) = app
        .post(
            "/api/v1/workflows/dlq/redrive",
            Some(&app.editor.token),
            &json!({"run_ids": [run_id]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/{id}/pause"),
            Some(&app.editor.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Bad inputs are 422 with the field named.
    let typed = create(
        &app,
        &json!({"name": "typed", "inputs": {"n": {"type": "integer", "required": true}}, "steps": [{"id": "a", "uses": "noop"}]}),
    )
    .await;
    let (status, body) = app
        .post(
            &format!(
                "/api/v1/workflows/{}/execute",
                typed["id"].as_str().unwrap()
            ),
            Some(&app.editor.token),
            &json!({"inputs": {"n": "seven"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "inputs.n");
    app.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_workflow_endpoints_with_security() {
    let app = spawn().await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/workflows", "post"),
        ("/api/v1/workflows/{id}/execute", "post"),
        ("/api/v1/workflows/runs/{run_id}", "get"),
        ("/api/v1/workflows/runs/{run_id}/events/{name}", "post"),
        ("/api/v1/workflows/dlq/redrive", "post"),
        ("/api/v1/workflows/runs/{run_id}/audit/verify", "get"),
    ] {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
        assert!(op["security"].is_array(), "{path} {method} has no security");
        assert!(
            op["responses"]["401"].is_object(),
            "{path} {method} has no 401"
        );
    }
    app.shutdown().await;
}

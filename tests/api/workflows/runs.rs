//! Running workflows: end to end, idempotency, retries, the dead-letter queue, pause/resume/
//! cancel, audit, metrics (steps that wait: `waits.rs`).

use std::sync::atomic::Ordering;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    MockHttp, create, drain_workflows, execute, get_run, spawn, step, time, wait_status, wait_step,
};
use crate::helpers::{TestApp, send};

async fn post_ok(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, body) = app.post(path, Some(token), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

#[tokio::test]
async fn instantiate_gate_and_http_request_run_end_to_end_with_timings_and_outputs() {
    let app = spawn().await;
    let http = MockHttp::start().await;
    let def = create(
        &app,
        &json!({
            "name": "ship-service",
            "inputs": {"service": {"type": "string", "required": true}, "min_score": {"type": "number", "default": 70}},
            "steps": [
                {"id": "render", "uses": "test.instantiate", "with": {"template": "backend-api", "parameters": {"name": "${{ inputs.service }}"}}},
                {"id": "gate", "uses": "test.gate", "needs": "render", "with": {"score": 85, "threshold": "${{ inputs.min_score }}"}},
                {"id": "deploy", "uses": "http.request", "needs": ["gate"], "with": {
                    "method": "POST",
                    "url": format!("{}/ok", http.url),
                    "body": {"service": "${{ inputs.service }}", "checksum": "${{ steps.render.outputs.checksum }}", "files": "${{ steps.render.outputs.files }}"},
                    "expected_status": 200
                }}
            ],
            "outputs": {"checksum": "${{ steps.render.outputs.checksum }}", "deployed": "${{ steps.deploy.outputs.body.deployed }}"}
        }),
    )
    .await;
    let run = execute(
        &app,
        def["id"].as_str().unwrap(),
        json!({"service": "billing"}),
    )
    .await;
    assert!(
        ["pending", "running", "succeeded"].contains(&run["status"].as_str().unwrap()),
        "{run}"
    );
    let run = wait_status(&app, run["id"].as_str().unwrap(), "succeeded", 30).await;

    assert_eq!(run["version"], 1);
    assert_eq!(run["workflow_name"], "ship-service");
    for id in ["render", "gate", "deploy"] {
        let s = step(&run, id);
        assert_eq!(s["status"], "succeeded", "{s}");
        assert_eq!(s["attempts"], 1);
        assert!(time(&s["finished_at"]) >= time(&s["started_at"]), "{s}");
        assert!(s["duration_ms"].as_i64().unwrap() >= 0);
        assert!(s["error"].is_null());
    }
    // Steps ran in dependency order.
    assert!(time(&step(&run, "gate")["started_at"]) >= time(&step(&run, "render")["finished_at"]));
    assert!(time(&step(&run, "deploy")["started_at"]) >= time(&step(&run, "gate")["finished_at"]));
    let checksum = step(&run, "render")["outputs"]["checksum"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(checksum.len(), 64);
    assert_eq!(
        step(&run, "render")["outputs"]["author"],
        "editor@acme.test"
    );
    assert_eq!(step(&run, "gate")["outputs"]["passed"], true);
    let deploy = step(&run, "deploy");
    assert_eq!(deploy["outputs"]["status"], 200);
    // The request carried values from the inputs and from the previous steps, typed.
    assert_eq!(
        deploy["outputs"]["body"]["received"],
        json!({"service": "billing", "checksum": checksum, "files": 3})
    );
    assert_eq!(deploy["inputs"]["body"]["files"], 3);
    assert_eq!(
        run["outputs"],
        json!({"checksum": checksum, "deployed": true})
    );
    assert_eq!(http.hits.load(Ordering::SeqCst), 1);

    // A gate below its threshold stops the run before the deploy.
    let run = execute(
        &app,
        def["id"].as_str().unwrap(),
        json!({"service": "x", "min_score": 95}),
    )
    .await;
    let run = wait_status(&app, run["id"].as_str().unwrap(), "dead_lettered", 30).await;
    assert_eq!(step(&run, "gate")["status"], "failed");
    assert_eq!(
        step(&run, "gate")["attempts"],
        1,
        "a permanent failure is not retried"
    );
    assert!(
        step(&run, "gate")["error"]
            .as_str()
            .unwrap()
            .contains("below 95")
    );
    assert_eq!(step(&run, "deploy")["status"], "pending");
    assert_eq!(http.hits.load(Ordering::SeqCst), 1);
    http.stop().await;
    app.shutdown().await;
}

/// The real modules end to end: instantiate a stored template, gate on its quality, and call a
/// service with what the previous steps produced.
#[tokio::test]
async fn templates_quality_http_end_to_end() {
    let app = TestApp::builder()
        .with(|s| s.database.pool_size = 8)
        .spawn()
        .await;
    let http = MockHttp::start().await;
    let (status, template) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &crate::quality::good("e2e-service"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let template_id = template["id"].as_str().unwrap().to_string();
    let def = create(
        &app,
        &json!({
            "name": "real-end-to-end",
            "steps": [
                {"id": "render", "uses": "templates.instantiate", "with": {"template_id": template_id, "parameters": {"project_name": "${{ inputs.name }}"}}},
                {"id": "gate", "uses": "quality.gate", "needs": "render", "with": {"template_id": template_id, "min_score": 80}},
                {"id": "notify", "uses": "http.request", "needs": "gate", "with": {
                    "method": "POST", "url": format!("{}/ok", http.url),
                    "body": {"checksum": "${{ steps.render.outputs.checksum }}", "score": "${{ steps.gate.outputs.quality_score }}"}
                }}
            ]
        }),
    )
    .await;
    let run = execute(
        &app,
        def["id"].as_str().unwrap(),
        json!({"name": "billing"}),
    )
    .await;
    let run = wait_status(&app, run["id"].as_str().unwrap(), "succeeded", 60).await;
    for id in ["render", "gate", "notify"] {
        let s = step(&run, id);
        assert_eq!(s["status"], "succeeded", "{run}");
        assert!(s["started_at"].is_string() && s["finished_at"].is_string());
        assert!(s["outputs"].is_object());
    }
    let render = &step(&run, "render")["outputs"];
    assert!(
        render["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("billing/")),
        "the workflow input reached the template: {render}"
    );
    let gate = &step(&run, "gate")["outputs"];
    assert!(gate["quality_score"].as_u64().unwrap() >= 80, "{gate}");
    let received = &step(&run, "notify")["outputs"]["body"]["received"];
    assert_eq!(received["checksum"], render["checksum"], "{received}");
    assert_eq!(http.hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The ledger recorded the workflow's instantiation.
    let (_, ledger) = app
        .get(
            &format!("/api/v1/templates/{template_id}/instantiations"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(ledger["total"], 1, "{ledger}");

    // A template without a README fails the gate, and the run fails without retrying.
    let mut weak = crate::quality::good("weak-service");
    weak["files"].as_object_mut().unwrap().remove("README.md");
    let (status, weak) = app
        .post("/api/v1/templates", Some(&app.editor.token), &weak)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the suite publishes without the gate: {weak}"
    );
    let strict = create(
        &app,
        &json!({"name": "gated", "steps": [{"id": "gate", "uses": "quality.gate", "with": {"template_id": weak["id"]}}]}),
    )
    .await;
    let run = execute(&app, strict["id"].as_str().unwrap(), json!({})).await;
    let run = wait_status(&app, run["id"].as_str().unwrap(), "dead_lettered", 30).await;
    let gate = step(&run, "gate");
    assert_eq!(gate["attempts"], 1, "a failed gate is permanent: {gate}");
    assert!(
        gate["error"]
            .as_str()
            .unwrap()
            .contains("quality gate failed")
    );
    http.stop().await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_run() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "once", "steps": [{"id": "a", "uses": "noop", "with": {"effect": true}}]}),
    )
    .await;
    let path = format!("/api/v1/workflows/{}/execute", def["id"].as_str().unwrap());
    let request = |key: &str, inputs: Value| {
        app.request(Method::POST, &path, Some(&app.editor.token))
            .header("Idempotency-Key", key)
            .json(&json!({"inputs": inputs}))
    };
    let (s1, first) = send(request("order-42", json!({"x": 1}))).await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    // Concurrent repeats and later repeats all return the same run.
    let (a, b, c) = tokio::join!(
        send(request("order-42", json!({"x": 1}))),
        send(request("order-42", json!({"x": 1}))),
        send(request("order-42", json!({"x": 1}))),
    );
    for (status, body) in [a, b, c] {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], first["id"]);
    }
    wait_status(&app, first["id"].as_str().unwrap(), "succeeded", 30).await;
    let (_, again) = send(request("order-42", json!({"x": 1}))).await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["status"], "succeeded");
    // Reusing the key for different inputs is refused, not silently merged.
    let (status, body) = send(request("order-42", json!({"x": 2}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, runs) = app
        .get(
            &format!(
                "/api/v1/workflows/runs?workflow_id={}",
                def["id"].as_str().unwrap()
            ),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(runs["total"], 1);
    // A different key is a different run.
    let (status, other) = send(request("order-43", json!({"x": 1}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(other["id"], first["id"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_step_failing_twice_then_succeeding_shows_three_attempts_with_growing_delays() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "flaky", "steps": [{
            "id": "call", "uses": "fail",
            "with": {"message": "upstream busy", "attempts": 2},
            "retry": {"max_attempts": 4, "initial_interval": "200ms", "multiplier": 3, "jitter": 0}
        }]}),
    )
    .await;
    let run = execute(&app, def["id"].as_str().unwrap(), json!({})).await;
    let run = wait_status(&app, run["id"].as_str().unwrap(), "succeeded", 30).await;
    let call = step(&run, "call");
    assert_eq!(call["attempts"], 3);
    assert_eq!(call["outputs"]["succeeded_on_attempt"], 3);
    let log = call["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 3, "{call:#}");
    assert_eq!(log[0]["outcome"], "failed");
    assert!(log[0]["error"].as_str().unwrap().contains("upstream busy"));
    assert_eq!(log[0]["retry_delay_ms"], 200);
    assert_eq!(log[1]["retry_delay_ms"], 600);
    assert_eq!(log[2]["outcome"], "succeeded");
    // Each retry started no earlier than scheduled.
    for i in 0..2 {
        let scheduled = time(&log[i]["next_attempt_at"]);
        let next_started = time(&log[i + 1]["started_at"]);
        assert!(
            next_started >= scheduled,
            "attempt {} started before its backoff ended",
            i + 2
        );
        let gap = (next_started - time(&log[i]["finished_at"])).num_milliseconds();
        assert!(
            gap >= log[i]["retry_delay_ms"].as_i64().unwrap() - 1,
            "gap {gap} ms"
        );
    }
    // The audit log shows the retries.
    let (_, audit) = app
        .get(
            &format!(
                "/api/v1/workflows/runs/{}/audit",
                run["id"].as_str().unwrap()
            ),
            Some(&app.viewer.token),
        )
        .await;
    let events: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == "step.retry_scheduled")
            .count(),
        2,
        "{events:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_always_failing_step_dead_letters_the_run_and_redrive_after_the_fix_completes_it() {
    let app = spawn().await;
    let http = MockHttp::start().await;
    let def = create(
        &app,
        &json!({"name": "health-check", "inputs": {"env": {"type": "string"}}, "steps": [
            {"id": "prepare", "uses": "noop", "with": {"effect": true}},
            {"id": "check", "uses": "http.request", "needs": "prepare",
             "with": {"url": format!("{}/flaky", http.url)},
             "retry": {"max_attempts": 3, "initial_interval": "50ms", "jitter": 0}},
            {"id": "after", "uses": "noop", "needs": "check", "with": {"effect": true}}
        ]}),
    )
    .await;
    let wf = def["id"].as_str().unwrap().to_string();
    let mut runs = Vec::new();
    for env in ["a", "b"] {
        runs.push(
            execute(&app, &wf, json!({"env": env})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for id in &runs {
        let run = wait_status(&app, id, "dead_lettered", 30).await;
        assert_eq!(run["failed_step"], "check");
        assert_eq!(step(&run, "check")["attempts"], 3);
        assert_eq!(step(&run, "after")["status"], "pending");
    }
    assert_eq!(http.hits.load(Ordering::SeqCst), 6);

    // The DLQ shows the error, the attempts and the inputs.
    let (status, dlq) = app
        .get(
            &format!("/api/v1/workflows/dlq?workflow_id={wf}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dlq["total"], 2);
    let entry = &dlq["items"][0];
    assert_eq!(entry["failed_step"], "check");
    assert_eq!(entry["uses"], "http.request");
    assert_eq!(entry["attempts"], 3);
    assert!(
        entry["error"].as_str().unwrap().contains("answered 500"),
        "{entry}"
    );
    assert!(
        entry["step_inputs"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/flaky")
    );
    assert!(entry["run_inputs"]["env"].is_string());
    assert_eq!(entry["attempt_log"].as_array().unwrap().len(), 3);

    // Redriving a run that is not dead-lettered is reported, not an error for the batch.
    http.fixed.store(true, Ordering::SeqCst);
    let (status, result) = app
        .post(
            "/api/v1/workflows/dlq/redrive",
            Some(&app.admin.token),
            &json!({"run_ids": [runs[0], runs[1], "00000000-0000-0000-0000-000000000000"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["redriven"].as_array().unwrap().len(), 2);
    assert_eq!(result["skipped"].as_array().unwrap().len(), 1);
    for id in &runs {
        let run = wait_status(&app, id, "succeeded", 30).await;
        let check = step(&run, "check");
        assert_eq!(
            check["attempts"], 4,
            "3 failed attempts + 1 after the redrive"
        );
        assert_eq!(
            step(&run, "prepare")["attempts"],
            1,
            "steps before the failed one are not re-run"
        );
        assert_eq!(step(&run, "after")["status"], "succeeded");
    }
    let (_, dlq) = app
        .get("/api/v1/workflows/dlq", Some(&app.viewer.token))
        .await;
    assert_eq!(dlq["total"], 0);
    http.stop().await;
    app.shutdown().await;
}

#[tokio::test]
async fn exhausted_retries_can_pause_the_run_instead_and_resume_retries_the_step() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "pausing", "steps": [
            {"id": "a", "uses": "fail", "with": {"attempts": 2}, "retry": {"max_attempts": 2, "initial_interval": "20ms"}, "on_failure": "pause"},
            {"id": "b", "uses": "noop", "needs": "a"}
        ]}),
    )
    .await;
    let run = execute(&app, def["id"].as_str().unwrap(), json!({})).await;
    let id = run["id"].as_str().unwrap();
    let run = wait_status(&app, id, "paused", 30).await;
    assert_eq!(run["pause_reason"], "retries_exhausted");
    assert_eq!(step(&run, "a")["status"], "failed");
    let run = post_ok(
        &app,
        &format!("/api/v1/workflows/runs/{id}/resume"),
        &app.editor.token,
    )
    .await;
    assert_ne!(run["status"], "paused");
    let run = wait_status(&app, id, "succeeded", 30).await;
    assert_eq!(step(&run, "a")["attempts"], 3);
    assert_eq!(step(&run, "b")["status"], "succeeded");
    app.shutdown().await;
}

#[tokio::test]
async fn pause_resume_and_cancel_work_mid_run() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "slow-chain", "steps": [
            {"id": "one", "uses": "noop", "with": {"sleep": "1s", "effect": true}},
            {"id": "two", "uses": "noop", "needs": "one", "with": {"sleep": "1s", "effect": true}},
            {"id": "three", "uses": "noop", "needs": "two", "with": {"effect": true}}
        ]}),
    )
    .await;
    let wf = def["id"].as_str().unwrap().to_string();

    // Pause while `one` runs: it finishes, but `two` does not start until resumed.
    let run = execute(&app, &wf, json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    wait_step(&app, &id, "one", "running").await;
    let paused = post_ok(
        &app,
        &format!("/api/v1/workflows/runs/{id}/pause"),
        &app.editor.token,
    )
    .await;
    assert_eq!(paused["status"], "paused");
    wait_step(&app, &id, "one", "succeeded").await;
    drain_workflows(&app).await;
    let run = get_run(&app, &id).await;
    assert_eq!(run["status"], "paused");
    assert_eq!(step(&run, "two")["status"], "queued", "{run:#}");
    assert_eq!(step(&run, "two")["attempts"], 0);
    // Pausing twice is a conflict; resuming continues where it stopped.
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/runs/{id}/pause"),
            Some(&app.editor.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    post_ok(
        &app,
        &format!("/api/v1/workflows/runs/{id}/resume"),
        &app.editor.token,
    )
    .await;
    let run = wait_status(&app, &id, "succeeded", 30).await;
    for s in ["one", "two", "three"] {
        assert_eq!(step(&run, s)["attempts"], 1);
    }

    // Cancel mid-run: the running step stops and nothing after it runs.
    let run = execute(&app, &wf, json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    wait_step(&app, &id, "one", "running").await;
    let cancelled = post_ok(
        &app,
        &format!("/api/v1/workflows/runs/{id}/cancel"),
        &app.editor.token,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    drain_workflows(&app).await;
    let run = get_run(&app, &id).await;
    assert_eq!(run["status"], "cancelled");
    for s in ["one", "two", "three"] {
        assert_eq!(step(&run, s)["status"], "cancelled", "{run:#}");
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/runs/{id}/cancel"),
            Some(&app.editor.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/runs/{id}/resume"),
            Some(&app.editor.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Pausing the whole workflow pauses its active runs and starts new ones paused.
    let running = execute(&app, &wf, json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paused_wf = post_ok(
        &app,
        &format!("/api/v1/workflows/{wf}/pause"),
        &app.admin.token,
    )
    .await;
    assert_eq!(paused_wf["paused"], true);
    let fresh = execute(&app, &wf, json!({})).await;
    assert_eq!(fresh["status"], "paused");
    let fresh = fresh["id"].as_str().unwrap().to_string();
    let r = get_run(&app, &running).await;
    assert_eq!(r["status"], "paused");
    assert_eq!(r["pause_reason"], "workflow");
    post_ok(
        &app,
        &format!("/api/v1/workflows/{wf}/resume"),
        &app.admin.token,
    )
    .await;
    wait_status(&app, &running, "succeeded", 30).await;
    let fresh = wait_status(&app, &fresh, "succeeded", 30).await;
    assert_eq!(step(&fresh, "three")["status"], "succeeded");
    app.shutdown().await;
}

#[tokio::test]
async fn the_audit_chain_verifies_and_detects_a_row_altered_by_hand() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "audited", "steps": [
            {"id": "a", "uses": "fail", "with": {"attempts": 1}, "retry": {"initial_interval": "10ms"}},
            {"id": "b", "uses": "noop", "needs": "a"}
        ]}),
    )
    .await;
    let run = execute(&app, def["id"].as_str().unwrap(), json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    wait_status(&app, &id, "succeeded", 30).await;
    let (status, audit) = app
        .get(
            &format!("/api/v1/workflows/runs/{id}/audit?limit=100"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let entries = audit["items"].as_array().unwrap();
    let events: Vec<&str> = entries
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "run.created",
            "run.started",
            "step.retry_scheduled",
            "step.succeeded",
            "step.succeeded",
            "run.succeeded"
        ],
    );
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    assert_eq!(entries[0]["actor"], "editor@acme.test");
    let (_, verify) = app
        .get(
            &format!("/api/v1/workflows/runs/{id}/audit/verify"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(verify["valid"], true, "{verify}");
    assert_eq!(verify["entries"], 6);

    // Someone edits a row in the database: verification fails at that row.
    let run_id = id.clone();
    app.platform
        .db
        .run(move |conn| -> Result<(), maestro::platform::db::DbError> {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!(
                "UPDATE workflow_audit SET detail = '{{\"attempt\":9}}' WHERE run_id = '{run_id}' AND seq = 3"
            ))
            .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let (_, verify) = app
        .get(
            &format!("/api/v1/workflows/runs/{id}/audit/verify"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(verify["valid"], false, "{verify}");
    assert_eq!(verify["first_invalid_seq"], 3);
    assert!(verify["reason"].as_str().unwrap().contains("altered"));
    let (status, _) = app
        .get(
            &format!("/api/v1/workflows/runs/{id}/audit/verify"),
            Some(&app.other_admin.token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

#[tokio::test]
async fn runs_are_listed_with_filters_and_metrics_are_exported() {
    let app = spawn().await;
    let ok = create(
        &app,
        &json!({"name": "ok", "steps": [{"id": "a", "uses": "noop"}]}),
    )
    .await;
    let bad = create(&app, &json!({"name": "bad", "steps": [{"id": "a", "uses": "fail", "retry": {"max_attempts": 2, "initial_interval": "10ms"}}]})).await;
    let (ok, bad) = (
        ok["id"].as_str().unwrap().to_string(),
        bad["id"].as_str().unwrap().to_string(),
    );
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let r1 = execute(&app, &ok, json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r2 = execute(&app, &bad, json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_status(&app, &r1, "succeeded", 30).await;
    wait_status(&app, &r2, "dead_lettered", 30).await;

    let (_, all) = app
        .get("/api/v1/workflows/runs", Some(&app.viewer.token))
        .await;
    assert_eq!(all["total"], 2);
    let (_, by_wf) = app
        .get(
            &format!("/api/v1/workflows/runs?workflow_id={ok}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(by_wf["total"], 1);
    assert_eq!(by_wf["items"][0]["id"], r1.as_str());
    let (_, by_status) = app
        .get(
            "/api/v1/workflows/runs?status=dead_lettered",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(by_status["items"][0]["id"], r2.as_str());
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, recent) = app
        .get(
            &format!("/api/v1/workflows/runs?since={since}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(recent["total"], 2);
    let (_, none) = app
        .get(
            &format!("/api/v1/workflows/runs?until={since}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(none["total"], 0);
    let (status, _) = app
        .get(
            "/api/v1/workflows/runs?status=exploded",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, text) = app.get("/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap_or_default().to_string();
    for name in [
        "maestro_workflow_runs_started_total",
        "maestro_workflow_runs_finished_total{outcome=\"succeeded\"}",
        "maestro_workflow_runs_finished_total{outcome=\"dead_lettered\"}",
        "maestro_workflow_step_duration_seconds_bucket{type=\"noop\"",
        "maestro_workflow_queue_depth",
        "maestro_workflow_ready_to_start_seconds_bucket",
        "maestro_workflow_step_retries_total",
        "maestro_workflow_dead_lettered_total",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}");
    }
    let (_, stats) = app.get("/api/v1/admin/stats", Some(&app.admin.token)).await;
    assert!(stats.to_string().contains("runs_by_status"), "{stats}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_run_whose_first_step_waits_is_running_with_started_at_and_listed_as_running() {
    let app = spawn().await;
    let timer = create(
        &app,
        &json!({"name": "timer-first", "steps": [
            {"id": "pause", "uses": "wait", "with": {"duration": "1h"}},
            {"id": "after", "uses": "noop", "needs": "pause"}
        ]}),
    )
    .await;
    let event = create(
        &app,
        &json!({"name": "event-first", "steps": [
            {"id": "approval", "uses": "wait_for_event", "with": {"event": "go", "timeout": "1h"}}
        ]}),
    )
    .await;
    let mut ids = Vec::new();
    for (wf, waiting) in [(&timer, "pause"), (&event, "approval")] {
        let run = execute(&app, wf["id"].as_str().unwrap(), json!({})).await;
        // The wait arms in the transaction that creates the run, so the answer already shows it.
        assert_eq!(run["status"], "running", "{run:#}");
        assert!(run["started_at"].is_string(), "{run:#}");
        assert_eq!(step(&run, waiting)["status"], "waiting", "{run:#}");
        let id = run["id"].as_str().unwrap().to_string();
        let run = get_run(&app, &id).await;
        assert_eq!(run["status"], "running", "{run:#}");
        ids.push(id);
    }
    let (status, running) = app
        .get(
            "/api/v1/workflows/runs?status=running",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{running}");
    let listed: Vec<&str> = running["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for id in &ids {
        assert!(listed.contains(&id.as_str()), "{id} missing in {running:#}");
    }
    let (_, pending) = app
        .get(
            "/api/v1/workflows/runs?status=pending",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(pending["total"], 0, "{pending:#}");
    // The audit trail says when it started.
    let (_, audit) = app
        .get(
            &format!("/api/v1/workflows/runs/{}/audit", ids[0]),
            Some(&app.viewer.token),
        )
        .await;
    let events: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(
        &events[..3],
        ["run.created", "run.started", "step.waiting"],
        "{audit:#}"
    );
    app.shutdown().await;
}

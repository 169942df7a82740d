//! Steps that wait: `wait_for_event` resumed by the API or a stream message (and events sent
//! before the step waits), durable sleeps, step and run timeouts, conditions and fan-out.

use reqwest::StatusCode;
use serde_json::json;

use super::{create, execute, spawn, step, time, wait_status, wait_step};

#[tokio::test]
async fn wait_for_event_resumes_on_the_api_and_times_out_when_nothing_comes() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "approval", "steps": [
            {"id": "ask", "uses": "noop"},
            {"id": "approval", "uses": "wait_for_event", "needs": "ask", "with": {"event": "approved", "timeout": "5m"}, "on_failure": "fail"},
            {"id": "ship", "uses": "noop", "needs": "approval", "with": {"outputs": {"by": "${{ steps.approval.outputs.payload.by }}"}}}
        ]}),
    )
    .await;
    let wf = def["id"].as_str().unwrap().to_string();
    let short = create(
        &app,
        &json!({"name": "approval-short", "steps": [
            {"id": "ask", "uses": "noop"},
            {"id": "approval", "uses": "wait_for_event", "needs": "ask", "with": {"event": "approved", "timeout": "1s"}, "on_failure": "fail"},
            {"id": "ship", "uses": "noop", "needs": "approval"}
        ]}),
    )
    .await;
    let short = short["id"].as_str().unwrap().to_string();

    // The API call resumes it, and the payload flows on.
    let run = execute(&app, &wf, json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    wait_step(&app, &id, "approval", "waiting").await;
    let (status, delivery) = app
        .post(
            &format!("/api/v1/workflows/runs/{id}/events/approved"),
            Some(&app.editor.token),
            &json!({"by": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{delivery}");
    assert_eq!(delivery["delivered"], true);
    assert_eq!(delivery["step_id"], "approval");
    let run = wait_status(&app, &id, "succeeded", 30).await;
    assert_eq!(
        step(&run, "approval")["outputs"]["payload"],
        json!({"by": "alice"})
    );
    assert_eq!(step(&run, "ship")["outputs"]["by"], "alice");

    // Nothing comes: the step times out and the run fails.
    let run = execute(&app, &short, json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    let run = wait_status(&app, &id, "failed", 30).await;
    let approval = step(&run, "approval");
    assert_eq!(approval["status"], "failed");
    assert!(
        approval["error"].as_str().unwrap().contains("timed out"),
        "{approval}"
    );
    assert_eq!(approval["attempt_log"][0]["outcome"], "timed_out");
    assert_eq!(step(&run, "ship")["status"], "cancelled");
    // A finished run takes no events.
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/runs/{id}/events/approved"),
            Some(&app.editor.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    app.shutdown().await;
}

#[tokio::test]
async fn wait_for_event_resumes_on_a_stream_message() {
    let app = spawn().await;
    let Some(mut redis) = app.redis_conn() else {
        eprintln!(
            "MAESTRO_TEST_REDIS_URL is not set; the stream part of wait_for_event is not tested here"
        );
        app.shutdown().await;
        return;
    };
    let def = create(
        &app,
        &json!({"name": "stream-approval", "steps": [
            {"id": "approval", "uses": "wait_for_event", "with": {"event": "deployed", "timeout": "1m"}}
        ]}),
    )
    .await;
    let run = execute(&app, def["id"].as_str().unwrap(), json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    // A message that arrives before the step waits is kept for it, too; send it now anyway.
    let stream = app.stream_name("workflows:events");
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("tenant_id")
        .arg(&app.editor.tenant_id)
        .arg("run_id")
        .arg(&id)
        .arg("event")
        .arg("deployed")
        .arg("payload")
        .arg(r#"{"version":"1.2.3"}"#)
        .query(&mut redis)
        .unwrap();
    let run = wait_status(&app, &id, "succeeded", 30).await;
    let approval = step(&run, "approval");
    assert_eq!(approval["outputs"]["payload"]["version"], "1.2.3");
    assert_eq!(approval["outputs"]["source"], "stream");
    app.shutdown().await;
}

#[tokio::test]
async fn events_sent_before_the_step_waits_are_kept_for_it() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "early-event", "steps": [
            {"id": "slow", "uses": "noop", "with": {"sleep": "2s"}},
            {"id": "wait", "uses": "wait_for_event", "needs": "slow", "with": {"event": "go"}}
        ]}),
    )
    .await;
    let run = execute(&app, def["id"].as_str().unwrap(), json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    let (status, delivery) = app
        .post(
            &format!("/api/v1/workflows/runs/{id}/events/go"),
            Some(&app.editor.token),
            &json!(7),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(delivery["delivered"], false);
    let run = wait_status(&app, &id, "succeeded", 30).await;
    assert_eq!(step(&run, "wait")["outputs"]["payload"], 7);
    let (status, _) = app
        .post(
            &format!("/api/v1/workflows/runs/{id}/events/bad%20name"),
            Some(&app.editor.token),
            &json!(1),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.shutdown().await;
}

#[tokio::test]
async fn durable_waits_step_timeouts_run_timeouts_conditions_and_fan_out() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "shapes", "inputs": {"deploy": {"type": "boolean", "default": false}}, "steps": [
            {"id": "start", "uses": "noop"},
            {"id": "nap", "uses": "wait", "needs": "start", "with": {"duration": "300ms"}},
            {"id": "b1", "uses": "noop", "needs": "nap", "with": {"outputs": {"n": 1}}},
            {"id": "b2", "uses": "noop", "needs": "nap", "with": {"outputs": {"n": 2}}},
            {"id": "b3", "uses": "noop", "needs": "nap", "with": {"outputs": {"n": 3}}},
            {"id": "deploy", "uses": "noop", "needs": "nap", "if": "${{ inputs.deploy }}"},
            {"id": "join", "uses": "noop", "needs": ["b1", "b2", "b3", "deploy"],
             "with": {"outputs": {"sum": "${{ steps.b1.outputs.n + steps.b2.outputs.n + steps.b3.outputs.n }}"}}}
        ], "outputs": {"sum": "${{ steps.join.outputs.sum }}"}}),
    )
    .await;
    let run = execute(&app, def["id"].as_str().unwrap(), json!({})).await;
    let run = wait_status(&app, run["id"].as_str().unwrap(), "succeeded", 30).await;
    assert_eq!(run["outputs"]["sum"], 6);
    assert_eq!(step(&run, "deploy")["status"], "skipped");
    let nap = step(&run, "nap");
    assert!((time(&nap["finished_at"]) - time(&nap["started_at"])).num_milliseconds() >= 300);
    let join_started = time(&step(&run, "join")["started_at"]);
    for b in ["b1", "b2", "b3"] {
        assert!(join_started >= time(&step(&run, b)["finished_at"]));
    }

    // A step over its timeout is retried, then fails; a run over its timeout fails.
    let def = create(
        &app,
        &json!({"name": "timeouts", "steps": [
            {"id": "slow", "uses": "noop", "with": {"sleep": "5s"}, "timeout": "100ms", "retry": {"max_attempts": 2, "initial_interval": "10ms"}, "on_failure": "fail"}
        ]}),
    )
    .await;
    let run = execute(&app, def["id"].as_str().unwrap(), json!({})).await;
    let run = wait_status(&app, run["id"].as_str().unwrap(), "failed", 30).await;
    let slow = step(&run, "slow");
    assert_eq!(slow["attempts"], 2);
    assert_eq!(slow["attempt_log"][0]["outcome"], "timed_out");
    assert!(
        slow["error"].as_str().unwrap().contains("timeout of 100ms"),
        "{slow}"
    );

    let def = create(
        &app,
        &json!({"name": "run-timeout", "timeout": "500ms", "steps": [
            {"id": "nap", "uses": "wait", "with": {"duration": "1h"}},
            {"id": "never", "uses": "noop", "needs": "nap"}
        ]}),
    )
    .await;
    let run = execute(&app, def["id"].as_str().unwrap(), json!({})).await;
    let run = wait_status(&app, run["id"].as_str().unwrap(), "failed", 30).await;
    assert!(run["error"].as_str().unwrap().contains("timeout"), "{run}");
    assert_eq!(step(&run, "nap")["status"], "cancelled");
    assert_eq!(step(&run, "never")["status"], "cancelled");
    app.shutdown().await;
}

/// A `wait` whose duration comes from the run's data is bounded as a literal one is at
/// definition time: past the longest wait (a year) — even past what a timestamp can hold — the
/// step fails with the reason, whether it is the first step or follows another.
#[tokio::test]
async fn a_wait_duration_from_an_expression_past_the_longest_wait_fails_the_step() {
    let app = spawn().await;
    let def = create(
        &app,
        &json!({"name": "long-naps", "inputs": {"d": {"type": "string"}}, "steps": [
            {"id": "first", "uses": "wait", "with": {"duration": "${{ inputs.d }}"}, "on_failure": "fail"}
        ]}),
    )
    .await;
    let later = create(
        &app,
        &json!({"name": "later-naps", "inputs": {"d": {"type": "string"}}, "steps": [
            {"id": "start", "uses": "noop"},
            {"id": "first", "uses": "wait", "needs": "start", "with": {"duration": "${{ inputs.d }}"},
             "on_failure": "fail"}
        ]}),
    )
    .await;
    for wf in [&def, &later] {
        for d in ["300000y", "18446744073709551615s", "2y"] {
            let run = execute(&app, wf["id"].as_str().unwrap(), json!({"d": d})).await;
            let run = wait_status(&app, run["id"].as_str().unwrap(), "failed", 30).await;
            let nap = step(&run, "first");
            assert_eq!(nap["status"], "failed", "{d}: {run}");
            assert!(
                nap["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("a wait lasts at most"),
                "{d}: {nap}"
            );
        }
    }
    app.shutdown().await;
}

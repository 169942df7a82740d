//! Workflow steps `k8s.provision` → `k8s.run_job` → `k8s.teardown` against the simulated
//! cluster: no namespace is left behind when the run succeeds, when the job fails, and when the
//! run is cancelled.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, with_fake_cluster};
use crate::support::k8s_fake::Script;

fn definition(name: &str, image: &str) -> Value {
    json!({"name": name, "steps": [
        {"id": "env", "uses": "k8s.provision", "with": {"databases": ["postgres"], "ttl": "30m"}},
        {"id": "tests", "uses": "k8s.run_job", "needs": "env",
         "with": {"environment_id": "${{ steps.env.outputs.environment_id }}", "image": image},
         "retry": {"max_attempts": 1}},
        {"id": "down", "uses": "k8s.teardown", "needs": "tests",
         "with": {"environment_id": "${{ steps.env.outputs.environment_id }}"}},
    ]})
}

async fn start(env: &Env, name: &str, image: &str) -> String {
    let token = env.app.editor.token.clone();
    let (status, wf) = env
        .app
        .post("/api/v1/workflows", Some(&token), &definition(name, image))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{wf}");
    let (status, run) = env
        .app
        .post(
            &format!("/api/v1/workflows/{}/execute", wf["id"].as_str().unwrap()),
            Some(&token),
            &json!({"inputs": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    run["id"].as_str().unwrap().to_string()
}

async fn run_until(env: &Env, run_id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/workflows/runs/{run_id}");
    let token = env.app.viewer.token.clone();
    env.app
        .eventually("the run", Duration::from_secs(40), || {
            let (path, token, check) = (path.clone(), token.clone(), &check);
            async move {
                let (_, run) = env.app.get(&path, Some(&token)).await;
                check(&run).then_some(run)
            }
        })
        .await
}

/// Waits until no Maestro namespace is left in the cluster.
async fn no_namespace_left(env: &Env) {
    env.cluster
        .wait_until("no maestro namespace left", |c| {
            (!c.namespaces().iter().any(|n| n.starts_with("maestro-"))).then_some(())
        })
        .await;
}

#[tokio::test]
async fn simulated_provision_run_job_teardown_leaves_no_namespace() {
    let env = with_fake_cluster().await;
    env.cluster.script_image(
        "ghcr.io/acme/tests:ok",
        Script::logs_then_exits(&["passed"], 0),
    );
    let run_id = start(&env, "k8s-ok", "ghcr.io/acme/tests:ok").await;
    let run = run_until(&env, &run_id, |r| r["status"] == "succeeded").await;
    let steps = run["steps"].as_array().unwrap();
    let tests = steps.iter().find(|s| s["id"] == "tests").unwrap();
    assert_eq!(tests["outputs"]["status"], "succeeded", "{run}");
    no_namespace_left(&env).await;
    let (_, list) = env
        .app
        .get("/api/v1/environments", Some(&env.app.viewer.token))
        .await;
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn k8s_step_parameters_are_checked_when_the_definition_is_saved() {
    let env = with_fake_cluster().await;
    let token = env.app.editor.token.clone();
    let refused = [
        (
            json!({"id": "env", "uses": "k8s.provision", "with": {"database": ["postgres"]}}),
            "unknown field `database`, expected one of",
        ),
        (
            json!({"id": "env", "uses": "k8s.provision", "with": {"databases": ["oracle"]}}),
            "`databases`: unknown variant `oracle`, expected one of `postgres`",
        ),
        (
            json!({"id": "job", "uses": "k8s.run_job", "with": {"environment_id": "e", "image": "i", "timout": "1m"}}),
            "unknown field `timout`",
        ),
        (
            json!({"id": "job", "uses": "k8s.run_job", "with": {"environment_id": "e"}}),
            "missing field `image`",
        ),
        (
            json!({"id": "down", "uses": "k8s.teardown", "with": {"environment": "e"}}),
            "unknown field `environment`, expected `environment_id`",
        ),
    ];
    for (step, message) in refused {
        let (status, body) = env
            .app
            .post(
                "/api/v1/workflows",
                Some(&token),
                &json!({"name": "w", "steps": [step]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{step} -> {body}");
        assert!(body.to_string().contains(message), "{message} in {body}");
    }
    // Fields that are not strings take a `${{ … }}` expression whole.
    let (status, body) = env
        .app
        .post(
            "/api/v1/workflows",
            Some(&token),
            &json!({"name": "w", "inputs": {
                "dbs": {"type": "array", "default": []}, "wait": {"type": "boolean", "default": true},
                "command": {"type": "array", "default": []}, "retries": {"type": "integer", "default": 0}}, "steps": [
                {"id": "env", "uses": "k8s.provision", "with": {"databases": "${{ inputs.dbs }}", "wait_ready": "${{ inputs.wait }}"}},
                {"id": "job", "uses": "k8s.run_job", "needs": "env", "with": {
                    "environment_id": "${{ steps.env.outputs.environment_id }}", "image": "i",
                    "command": "${{ inputs.command }}", "backoff_limit": "${{ inputs.retries }}"}},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn simulated_failing_job_still_tears_the_environment_down() {
    let env = with_fake_cluster().await;
    env.cluster.script_image(
        "ghcr.io/acme/tests:bad",
        Script::logs_then_exits(&["2 failed"], 1),
    );
    let run_id = start(&env, "k8s-bad", "ghcr.io/acme/tests:bad").await;
    let run = run_until(&env, &run_id, |r| {
        matches!(r["status"].as_str(), Some("failed" | "dead_lettered"))
    })
    .await;
    let error = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "tests")
        .unwrap()["error"]
        .to_string();
    assert!(error.contains("exit code 1"), "{error}");
    no_namespace_left(&env).await;
}

#[tokio::test]
async fn simulated_cancelled_run_tears_the_environment_down() {
    let env = with_fake_cluster().await;
    env.cluster.script_image(
        "ghcr.io/acme/tests:slow",
        Script::new().log("running").wait_for("never"),
    );
    let run_id = start(&env, "k8s-cancel", "ghcr.io/acme/tests:slow").await;
    env.cluster
        .wait_until("the job's pod runs", |c| {
            c.namespaces()
                .iter()
                .find(|n| n.starts_with("maestro-"))
                .and_then(|ns| {
                    c.list::<k8s_openapi::api::core::v1::Pod>(Some(ns))
                        .into_iter()
                        .find(|p| {
                            p.metadata
                                .name
                                .as_deref()
                                .is_some_and(|n| n.starts_with("test-"))
                        })
                })
                .map(|_| ())
        })
        .await;
    let (status, body) = env
        .app
        .post(
            &format!("/api/v1/workflows/runs/{run_id}/cancel"),
            Some(&env.app.editor.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    run_until(&env, &run_id, |r| r["status"] == "cancelled").await;
    no_namespace_left(&env).await;
}

//! Test Jobs against the simulated cluster: Complete and Failed seen by watch, logs streamed and
//! still readable after the environment is deleted, quota-blocked jobs reported with the reason,
//! JUnit results handed to the healing module when one is registered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures::future::BoxFuture;
use maestro::platform::http::error::ApiResult;
use maestro::platform::module::Module;
use maestro::platform::test_results::{JunitIngested, JunitUpload, TestResults, TestResultsSink};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, with_cluster, with_fake_cluster};
use crate::helpers::TestApp;
use crate::support::k8s_fake::{FakeCluster, Script};

const XML: &str = r#"<testsuite name="api" tests="2" failures="1"><testcase name="a"/><testcase name="b"><failure message="boom"/></testcase></testsuite>"#;

fn results_lines() -> Vec<String> {
    vec![
        "collected 2 items".to_string(),
        "=====MAESTRO-JUNIT-BEGIN=====".to_string(),
        base64::engine::general_purpose::STANDARD.encode(XML),
        "=====MAESTRO-JUNIT-END=====".to_string(),
    ]
}

async fn environment(env: &Env, body: Value) -> String {
    let (status, created) = env
        .app
        .post("/api/v1/environments", Some(&env.app.editor.token), &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn job_until(env: &Env, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let token = env.app.editor.token.clone();
    env.app
        .eventually(what, Duration::from_secs(30), || {
            let token = token.clone();
            let check = &check;
            async move {
                let (status, body) = env.app.get(path, Some(&token)).await;
                (status == StatusCode::OK && check(&body)).then_some(body)
            }
        })
        .await
}

async fn text(env: &Env, path: &str) -> (StatusCode, String) {
    let res = env
        .app
        .request(reqwest::Method::GET, path, Some(&env.app.viewer.token))
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn simulated_job_runs_to_complete_and_its_log_outlives_the_environment() {
    let env = with_fake_cluster().await;
    let lines = results_lines();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    env.cluster
        .script_image("ghcr.io/acme/tests:1", Script::logs_then_exits(&lines, 0));
    let id = environment(&env, json!({"databases": ["postgres"]})).await;
    let (status, job) = env
        .app
        .post(
            &format!("/api/v1/environments/{id}/jobs"),
            Some(&env.app.editor.token),
            &json!({"image": "ghcr.io/acme/tests:1", "command": ["pytest"],
                    "results_path": "/results/junit.xml", "timeout": "10m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let path = format!(
        "/api/v1/environments/{id}/jobs/{}",
        job["id"].as_str().unwrap()
    );
    let done = job_until(&env, &path, "the job succeeds", |j| {
        j["status"] == "succeeded"
    })
    .await;
    assert_eq!(done["exit_code"], 0, "{done}");
    assert_eq!(done["results"]["bytes"], XML.len(), "{done}");
    // The healing module is on by default: the results reach the real one, in-process.
    assert_eq!(done["results"]["healing"], "ingested", "{done}");
    assert_eq!(
        (&done["results"]["tests"], &done["results"]["failures"]),
        (&json!(2), &json!(1))
    );
    let (_, failures) = env
        .app
        .get(
            "/api/v1/healing/failures?project=default",
            Some(&env.app.viewer.token),
        )
        .await;
    assert_eq!(failures["total"], 1, "{failures}");
    assert_eq!(failures["items"][0]["message"], "boom");
    assert_eq!(done["log_stored"], true);

    // The Job as applied: once, Never, deadline, no TTL, results wrapper.
    let ns = env
        .app
        .get(
            &format!("/api/v1/environments/{id}"),
            Some(&env.app.editor.token),
        )
        .await
        .1["namespace"]
        .as_str()
        .unwrap()
        .to_string();
    let k8s_job = env
        .cluster
        .get_json("batch/v1", "Job", &ns, done["name"].as_str().unwrap())
        .unwrap();
    assert_eq!(k8s_job["spec"]["backoffLimit"], 0);
    assert_eq!(k8s_job["spec"]["activeDeadlineSeconds"], 600);
    assert!(k8s_job["spec"].get("ttlSecondsAfterFinished").is_none());
    let pod = &k8s_job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["containers"][0]["command"][0], "/bin/sh");

    let (status, _) = env
        .app
        .delete(
            &format!("/api/v1/environments/{id}"),
            Some(&env.app.editor.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    env.cluster
        .wait_for_gone::<k8s_openapi::api::core::v1::Namespace>("", &ns)
        .await;
    let (status, log) = text(&env, &format!("{path}/logs")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert!(log.contains("collected 2 items"), "{log}");
    assert!(log.contains("bytes of JUnit results collected"), "{log}");
    assert!(
        !log.contains("MAESTRO-JUNIT-BEGIN"),
        "the results block is not kept in the log"
    );
}

#[tokio::test]
async fn simulated_failing_job_is_reported_failed_with_its_reason_and_exit_code() {
    let env = with_fake_cluster().await;
    env.cluster.script_image(
        "ghcr.io/acme/tests:2",
        Script::logs_then_exits(&["1 failed"], 3),
    );
    let id = environment(&env, json!({"databases": ["redis"]})).await;
    let (status, job) = env
        .app
        .post(
            &format!("/api/v1/environments/{id}/jobs"),
            Some(&env.app.editor.token),
            &json!({"image": "ghcr.io/acme/tests:2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let path = format!(
        "/api/v1/environments/{id}/jobs/{}",
        job["id"].as_str().unwrap()
    );
    let failed = job_until(&env, &path, "the job fails", |j| j["status"] == "failed").await;
    assert_eq!(failed["exit_code"], 3, "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("BackoffLimitExceeded"),
        "{failed}"
    );
    let (_, log) = text(&env, &format!("{path}/logs")).await;
    assert!(log.contains("1 failed"), "{log}");
}

#[tokio::test]
async fn simulated_logs_stream_while_the_job_runs() {
    let env = with_fake_cluster().await;
    env.cluster.script_image(
        "ghcr.io/acme/tests:3",
        Script::new()
            .log("first line")
            .wait_for("go")
            .log("last line")
            .exit(0),
    );
    let id = environment(&env, json!({"databases": ["redis"]})).await;
    let (_, job) = env
        .app
        .post(
            &format!("/api/v1/environments/{id}/jobs"),
            Some(&env.app.editor.token),
            &json!({"image": "ghcr.io/acme/tests:3"}),
        )
        .await;
    let path = format!(
        "/api/v1/environments/{id}/jobs/{}",
        job["id"].as_str().unwrap()
    );
    job_until(&env, &path, "the job runs", |j| j["status"] == "running").await;
    let mut res = env
        .app
        .request(
            reqwest::Method::GET,
            &format!("{path}/logs?follow=true"),
            Some(&env.app.viewer.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let first = res
        .chunk()
        .await
        .unwrap()
        .expect("a first chunk while the job runs");
    assert!(String::from_utf8_lossy(&first).contains("first line"));
    env.cluster.open_gate("go");
    let mut rest = String::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains("last line"), "{rest}");
    job_until(&env, &path, "the job succeeds", |j| {
        j["status"] == "succeeded"
    })
    .await;
}

#[tokio::test]
async fn simulated_quota_blocked_job_is_reported_blocked_with_the_reason() {
    let env = with_fake_cluster().await;
    let id = environment(
        &env,
        json!({"databases": ["redis"], "quota": {"cpu": "4", "memory": "8Gi", "pods": 1}}),
    )
    .await;
    let (status, job) = env
        .app
        .post(
            &format!("/api/v1/environments/{id}/jobs"),
            Some(&env.app.editor.token),
            &json!({"image": "ghcr.io/acme/tests:4"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let path = format!(
        "/api/v1/environments/{id}/jobs/{}",
        job["id"].as_str().unwrap()
    );
    let blocked = job_until(&env, &path, "the job is blocked", |j| {
        j["status"] == "blocked"
    })
    .await;
    let reason = blocked["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("QuotaExceeded") && reason.contains("exceeded quota"),
        "{reason}"
    );
}

/// Records what reaches "healing".
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<JunitUpload>>>);

impl TestResultsSink for Sink {
    fn ingest(&self, upload: JunitUpload) -> BoxFuture<'static, ApiResult<JunitIngested>> {
        self.0.lock().unwrap().push(upload);
        Box::pin(async {
            Ok(JunitIngested {
                report_id: "r-1".into(),
                tests: 2,
                failures: 1,
            })
        })
    }
}

struct Healing;
impl Module for Healing {
    fn name(&self) -> &'static str {
        "test-healing"
    }
    fn configure(&self, _cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {}
}

#[tokio::test]
async fn simulated_junit_results_reach_the_healing_module_when_it_is_on() {
    let sink = Sink::default();
    let registered = sink.clone();
    let builder = TestApp::builder().module(Box::new(move |platform| {
        platform
            .services
            .insert(TestResults(Arc::new(registered) as Arc<dyn TestResultsSink>));
        Ok(Arc::new(Healing) as Arc<dyn Module>)
    }));
    let env = with_cluster(FakeCluster::new(), builder).await;
    let lines = results_lines();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    env.cluster
        .script_image("ghcr.io/acme/tests:5", Script::logs_then_exits(&lines, 1));
    let id = environment(&env, json!({"databases": ["redis"]})).await;
    let (_, job) = env
        .app
        .post(
            &format!("/api/v1/environments/{id}/jobs"),
            Some(&env.app.editor.token),
            &json!({"image": "ghcr.io/acme/tests:5", "command": ["pytest"],
                    "results_path": "/r/junit.xml", "project": "billing"}),
        )
        .await;
    let path = format!(
        "/api/v1/environments/{id}/jobs/{}",
        job["id"].as_str().unwrap()
    );
    let done = job_until(&env, &path, "the job ends", |j| j["status"] == "failed").await;
    assert_eq!(done["results"]["healing"], "ingested", "{done}");
    assert_eq!(done["results"]["report_id"], "r-1");
    let uploads = sink.0.lock().unwrap().clone();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].project, "billing");
    assert_eq!(uploads[0].source, "k8s");
    assert_eq!(uploads[0].tenant.as_str(), env.app.editor.tenant_id);
    assert_eq!(uploads[0].files[0].1, XML.as_bytes());
}

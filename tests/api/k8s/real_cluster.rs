//! Against a real cluster (kind or k3d), never in the default suite:
//! `MAESTRO_TEST_KUBECONFIG=$HOME/.kube/config cargo test --test api k8s::real_cluster -- --ignored`.
//! It creates (and deletes) one `maestro-…` namespace; pulling `redis:7.4-alpine` and
//! `busybox:1.36` needs registry access from the cluster.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
#[ignore = "needs a real cluster: set MAESTRO_TEST_KUBECONFIG (kind or k3d) and run with --ignored"]
async fn real_cluster_environment_becomes_ready_runs_a_job_and_is_deleted() {
    let Some(kubeconfig) = std::env::var("MAESTRO_TEST_KUBECONFIG")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("MAESTRO_TEST_KUBECONFIG is not set; skipping the real-cluster test");
        return;
    };
    let app = TestApp::builder()
        .with(move |s| s.k8s.kubeconfig = kubeconfig)
        .spawn()
        .await;
    let token = app.editor.token.clone();
    let (status, env) = app
        .post(
            "/api/v1/environments",
            Some(&token),
            &json!({"databases": ["redis"], "ttl": "15m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{env}");
    let id = env["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/environments/{id}");
    let poll = |path: String, want: &'static str, field: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            app.eventually(want, Duration::from_secs(300), || {
                let (path, token) = (path.clone(), token.clone());
                async move {
                    let (_, v): (StatusCode, Value) = app.get(&path, Some(&token)).await;
                    assert_ne!(v[field], "failed", "{v}");
                    (v[field] == want).then_some(v)
                }
            })
            .await
        }
    };
    poll(path.clone(), "ready", "phase").await;

    let (status, job) = app
        .post(
            &format!("{path}/jobs"),
            Some(&token),
            &json!({"image": "busybox:1.36", "command": ["sh", "-c", "echo hello from maestro"],
                    "timeout": "5m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_path = format!("{path}/jobs/{}", job["id"].as_str().unwrap());
    poll(job_path.clone(), "succeeded", "status").await;

    let (status, deleted) = app.delete(&path, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    poll(path, "deleted", "phase").await;
    let res = app
        .request(
            reqwest::Method::GET,
            &format!("{job_path}/logs"),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("hello from maestro"));
}

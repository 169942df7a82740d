//! The Redis Streams edge against the simulated cluster: a request on `k8s:jobs` creates an
//! environment and a job; `k8s:status` carries the acceptance and phase changes, `k8s:results`
//! the job's end (needs MAESTRO_TEST_REDIS_URL; skipped without).

use std::time::Duration;

use serde_json::json;

use super::with_fake_cluster;
use crate::helpers::test_redis_url;
use crate::support::k8s_fake::Script;
use crate::templates::stream::{entries, xadd};

#[tokio::test]
async fn simulated_stream_request_creates_environment_and_job_and_publishes_status_and_results() {
    let Some(url) = test_redis_url() else {
        eprintln!("MAESTRO_TEST_REDIS_URL is not set; the stream edge is tested in CI with Redis");
        return;
    };
    let env = with_fake_cluster().await;
    env.cluster.script_image(
        "ghcr.io/acme/stream-tests:1",
        Script::logs_then_exits(&["ok"], 0),
    );
    let app = &env.app;
    let environment_id = uuid::Uuid::new_v4().to_string();
    xadd(
        &url,
        &app.stream_name("k8s:jobs"),
        &[
            ("request_id", "req-1".into()),
            ("tenant_id", app.editor.tenant_id.clone()),
            ("user_id", app.editor.id.clone()),
            (
                "environment",
                json!({"id": environment_id, "databases": ["redis"]}).to_string(),
            ),
            (
                "job",
                json!({"image": "ghcr.io/acme/stream-tests:1"}).to_string(),
            ),
        ],
    );
    // A viewer may not create environments through the edge either.
    xadd(
        &url,
        &app.stream_name("k8s:jobs"),
        &[
            ("request_id", "req-2".into()),
            ("tenant_id", app.viewer.tenant_id.clone()),
            ("user_id", app.viewer.id.clone()),
            ("environment", json!({"databases": ["redis"]}).to_string()),
        ],
    );
    let status_stream = app.stream_name("k8s:status");
    let accepted = app
        .eventually("both requests answered", Duration::from_secs(20), || {
            let all = entries(app, &status_stream);
            let one = all
                .iter()
                .find(|e| e.get("request_id").map(String::as_str) == Some("req-1"))
                .cloned();
            let two = all
                .iter()
                .find(|e| e.get("request_id").map(String::as_str) == Some("req-2"))
                .cloned();
            async move { one.zip(two) }
        })
        .await;
    assert_eq!(accepted.0["status"], "accepted", "{:?}", accepted.0);
    assert_eq!(accepted.0["environment_id"], environment_id);
    assert_eq!(accepted.1["status"], "error", "{:?}", accepted.1);
    assert!(
        accepted.1["error"].contains("auth.forbidden"),
        "{:?}",
        accepted.1
    );
    let job_id = accepted.0["job_id"].clone();

    let results_stream = app.stream_name("k8s:results");
    let result = app
        .eventually("the job's result", Duration::from_secs(30), || {
            let found = entries(app, &results_stream)
                .into_iter()
                .find(|e| e.get("job_id") == Some(&job_id));
            async move { found }
        })
        .await;
    assert_eq!(result["status"], "succeeded", "{result:?}");
    assert_eq!(result["environment_id"], environment_id);
    let phases: Vec<String> = entries(app, &status_stream)
        .into_iter()
        .filter(|e| e.get("environment_id") == Some(&environment_id))
        .filter_map(|e| e.get("phase").cloned())
        .collect();
    assert!(phases.contains(&"provisioning".to_string()), "{phases:?}");
}

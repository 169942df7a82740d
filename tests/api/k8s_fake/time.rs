//! The fake under paused tokio time: deadlines, backoffs and linger measured in hours pass at
//! once, and object timestamps move with tokio time.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use super::obj;
use crate::support::k8s_fake::{FakeCluster, Linger, Script};

#[tokio::test(start_paused = true)]
async fn simulated_hour_long_deadline_backoff_and_linger_under_paused_time() {
    let cluster = FakeCluster::new();
    cluster.configure(|k| {
        k.wait_limit = Duration::from_secs(24 * 3600);
        k.namespace_linger = Linger::For(Duration::from_secs(600));
    });
    cluster.script_image(
        "registry.local/tests:hang",
        Script::new().log("started").wait_for("never"),
    );
    cluster.script_image("crashy:1", Script::crashes(&["boom"], 1));
    let client = cluster.client();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "env-t"}})),
    )
    .await
    .unwrap();

    let jobs: Api<Job> = Api::namespaced(client.clone(), "env-t");
    let job: Job = obj(
        json!({"metadata": {"name": "slow"}, "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 3600,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "registry.local/tests:hang"}]}}}}),
    );
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let failed = cluster
        .wait_for_condition::<Job>("env-t", "slow", "Failed", "True")
        .await;
    let status = failed.status.unwrap();
    let started = status.start_time.unwrap().0;
    let condition = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .unwrap();
    assert_eq!(condition.reason.as_deref(), Some("DeadlineExceeded"));
    let elapsed = condition
        .last_transition_time
        .unwrap()
        .0
        .duration_since(started);
    assert!(
        elapsed.as_secs() >= 3600,
        "timestamps follow tokio time: {elapsed:?}"
    );

    // Crash-loop restarts back off 10s, 20s, 40s… of tokio time.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "env-t");
    let pod: Pod = obj(
        json!({"metadata": {"name": "crashy"}, "spec": {"containers": [{"name": "c", "image": "crashy:1"}]}}),
    );
    pods.create(&PostParams::default(), &pod).await.unwrap();
    cluster
        .wait_for::<Pod>("env-t", "crashy", |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| cs[0].restart_count >= 4)
        })
        .await;
    assert_eq!(
        cluster.logs_of("env-t", "crashy", "c").len(),
        4,
        "one line per run so far"
    );

    // A namespace lingers in Terminating for ten minutes, then goes.
    nss.delete("env-t", &DeleteParams::default()).await.unwrap();
    let terminating = cluster
        .wait_for::<Namespace>("", "env-t", |n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some()
        })
        .await;
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    cluster.wait_for_gone::<Namespace>("", "env-t").await;
    cluster.assert_no_failures();
}

//! The TTL reaper, started fresh against a simulated cluster that already holds expired and
//! unexpired Maestro namespaces plus foreign ones: exactly the expired Maestro ones go.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams};
use maestro::config::HumanDuration;
use reqwest::StatusCode;
use serde_json::json;

use super::{Env, with_cluster};
use crate::helpers::TestApp;
use crate::support::k8s_fake::{FakeCluster, Script};

fn namespace(name: &str, labels: serde_json::Value, expires_in: Option<i64>) -> serde_json::Value {
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": name, "labels": labels}});
    if let Some(secs) = expires_in {
        let at = (Utc::now() + chrono::Duration::seconds(secs))
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        ns["metadata"]["annotations"] = json!({"maestro.io/expires-at": at});
    }
    ns
}

#[tokio::test]
async fn simulated_reaper_on_a_fresh_start_deletes_exactly_the_expired_maestro_namespaces() {
    let cluster = FakeCluster::new();
    let maestro = |id: &str| json!({"app.kubernetes.io/managed-by": "maestro", "maestro.io/environment-id": id});
    cluster.create_json(namespace("maestro-expired1", maestro("e1"), Some(-3600)));
    cluster.create_json(namespace("maestro-expired2", maestro("e2"), Some(-120)));
    cluster.create_json(namespace("maestro-alive", maestro("a1"), Some(3600)));
    // Expired by the annotation, but not Maestro's: never touched.
    cluster.create_json(namespace(
        "team-payments",
        json!({"app.kubernetes.io/managed-by": "helm"}),
        Some(-3600),
    ));
    cluster.create_json(namespace("plain", json!({}), Some(-3600)));
    let Env { app, cluster, .. } = &with_cluster(cluster, TestApp::builder()).await;
    cluster
        .wait_for_gone::<Namespace>("", "maestro-expired1")
        .await;
    cluster
        .wait_for_gone::<Namespace>("", "maestro-expired2")
        .await;
    let left = cluster.namespaces();
    for kept in [
        "maestro-alive",
        "team-payments",
        "plain",
        "default",
        "kube-system",
    ] {
        assert!(
            left.contains(&kept.to_string()),
            "{kept} was deleted: {left:?}"
        );
    }
    let deletes: Vec<String> = cluster
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert!(
        deletes.iter().all(|p| p.contains("maestro-expired")),
        "{deletes:?}"
    );
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    cluster.assert_no_failures();
}

#[tokio::test]
async fn simulated_an_expired_environment_is_reaped_and_its_record_says_so() {
    let builder = TestApp::builder().with(|s| {
        s.k8s.reaper_interval = HumanDuration(Duration::from_secs(1));
        s.k8s.reaper_grace = HumanDuration(Duration::ZERO);
    });
    let env = with_cluster(FakeCluster::new(), builder).await;
    let (app, cluster) = (&env.app, &env.cluster);
    let token = app.editor.token.clone();
    let id = uuid::Uuid::new_v4().to_string();
    let (status, created) = app
        .post(
            "/api/v1/environments",
            Some(&token),
            &json!({"id": id, "databases": ["redis"], "ttl": "1m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let ns = created["namespace"].as_str().unwrap().to_string();
    // A job still running when the environment expires: its log is stored before the reaping.
    cluster.script_image(
        "ghcr.io/acme/slow-tests:1",
        Script::new().log("still testing").wait_for("never"),
    );
    let (status, job) = app
        .post(
            &format!("/api/v1/environments/{id}/jobs"),
            Some(&token),
            &json!({"image": "ghcr.io/acme/slow-tests:1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_path = format!(
        "/api/v1/environments/{id}/jobs/{}",
        job["id"].as_str().unwrap()
    );
    app.eventually("the job runs", Duration::from_secs(20), || async {
        let (_, j) = app.get(&job_path, Some(&token)).await;
        (j["status"] == "running").then_some(())
    })
    .await;
    // Make it expired on the cluster, where the reaper reads it.
    let past =
        (Utc::now() - chrono::Duration::seconds(5)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let namespaces: Api<Namespace> = Api::all(env.server.client().await);
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"maestro.io/expires-at": past}}})),
        )
        .await
        .unwrap();
    cluster.wait_for_gone::<Namespace>("", &ns).await;
    let path = format!("/api/v1/environments/{id}");
    let env = app
        .eventually(
            "the record shows the reaping",
            Duration::from_secs(20),
            || async {
                let (_, env) = app.get(&path, Some(&token)).await;
                (env["phase"] == "deleted").then_some(env)
            },
        )
        .await;
    assert!(env["deleted_at"].is_string(), "{env}");
    let res = app
        .request(
            reqwest::Method::GET,
            &format!("{job_path}/logs"),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("still testing"));
}

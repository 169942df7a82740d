//! Environments against the simulated cluster: provisioning to ready, idempotent create,
//! delete twice, stuck terminating, extend, failure reasons (image pull, quota), tenants and
//! roles.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::render::documents;
use super::with_fake_cluster;
use crate::support::k8s_fake::{Linger, Script};

fn stack(id: &str) -> Value {
    json!({
        "id": id,
        "app": {"image": "ghcr.io/acme/api:1.2", "port": 8080, "readiness": {"path": "/health"}},
        "databases": ["postgres", "redis"],
        "ttl": "1h",
    })
}

#[tokio::test]
async fn simulated_environment_with_postgres_and_redis_provisions_to_ready_as_rendered() {
    let env = with_fake_cluster().await;
    let id = uuid::Uuid::new_v4().to_string();
    let token = env.app.editor.token.clone();
    let (status, created) = env
        .app
        .post("/api/v1/environments", Some(&token), &stack(&id))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], id);
    assert_eq!(created["phase"], "provisioning");
    let ns = created["namespace"].as_str().unwrap().to_string();

    let ready = env
        .until(&id, "the environment is ready", |e| e["phase"] == "ready")
        .await;
    let endpoints = ready["endpoints"].as_array().unwrap();
    let pg = endpoints.iter().find(|e| e["name"] == "postgres").unwrap();
    assert_eq!(pg["host"], format!("postgres.{ns}.svc.cluster.local"));
    assert_eq!(pg["port"], 5432);
    assert_eq!(pg["credentials"]["password_key"], "postgres-password");
    assert!(
        !ready.to_string().contains("postgresql://"),
        "no secret values in views"
    );

    // What create applied is what render shows for the same request and caller.
    let res = env
        .app
        .request(
            reqwest::Method::POST,
            "/api/v1/environments/render",
            Some(&token),
        )
        .json(&stack(&id))
        .send()
        .await
        .unwrap();
    let rendered = documents(&res.text().await.unwrap());
    for (kind, name, doc) in &rendered {
        let in_ns = if kind == "Namespace" { "" } else { ns.as_str() };
        let api_version = doc["apiVersion"].as_str().unwrap();
        let stored = env
            .cluster
            .get_json(api_version, kind, in_ns, name)
            .unwrap_or_else(|| panic!("{kind} {name} was applied"));
        for (key, value) in doc["metadata"]["labels"].as_object().unwrap() {
            assert_eq!(
                &stored["metadata"]["labels"][key], value,
                "{kind} {name} {key}"
            );
        }
        if kind == "Deployment" {
            assert_eq!(
                stored["spec"]["template"]["spec"]["containers"][0]["image"],
                doc["spec"]["template"]["spec"]["containers"][0]["image"]
            );
        }
    }
    assert_eq!(
        env.cluster.list::<Deployment>(Some(&ns)).len(),
        3,
        "postgres, redis and app"
    );
    env.cluster.assert_no_failures();
}

#[tokio::test]
async fn simulated_same_id_twice_is_one_environment_and_reapplying_changes_nothing() {
    let env = with_fake_cluster().await;
    let id = uuid::Uuid::new_v4().to_string();
    let token = env.app.editor.token.clone();
    let (status, first) = env
        .app
        .post("/api/v1/environments", Some(&token), &stack(&id))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let ns = first["namespace"].as_str().unwrap().to_string();
    env.until(&id, "ready", |e| e["phase"] == "ready").await;
    let secret_before = env
        .cluster
        .get::<Secret>(&ns, "maestro-credentials")
        .unwrap();
    let version_before = env.cluster.resource_version();
    let secrets_events = env.cluster.history::<Secret>().len();
    let deployment_events = env.cluster.history::<Deployment>().len();
    let ns_events = env.cluster.history::<Namespace>().len();

    let (status, second) = env
        .app
        .post("/api/v1/environments", Some(&token), &stack(&id))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["namespace"], ns);
    assert_eq!(
        env.cluster.history::<Secret>().len(),
        secrets_events,
        "secret untouched"
    );
    assert_eq!(env.cluster.history::<Deployment>().len(), deployment_events);
    assert_eq!(env.cluster.history::<Namespace>().len(), ns_events);
    assert_eq!(
        env.cluster.resource_version(),
        version_before,
        "no object changed"
    );
    let secret_after = env
        .cluster
        .get::<Secret>(&ns, "maestro-credentials")
        .unwrap();
    assert_eq!(
        secret_after.data, secret_before.data,
        "credentials generated once"
    );

    let (_, list) = env.app.get("/api/v1/environments", Some(&token)).await;
    assert_eq!(list["total"], 1, "{list}");

    let mut other = stack(&id);
    other["databases"] = json!(["mysql"]);
    let (status, body) = env
        .app
        .post("/api/v1/environments", Some(&token), &other)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "k8s.id_conflict");
}

#[tokio::test]
async fn simulated_delete_twice_succeeds_twice_and_reports_a_namespace_stuck_terminating() {
    let env = with_fake_cluster().await;
    env.cluster
        .configure(|k| k.namespace_linger = Linger::UntilReleased);
    let id = uuid::Uuid::new_v4().to_string();
    let token = env.app.editor.token.clone();
    let (_, created) = env
        .app
        .post(
            "/api/v1/environments",
            Some(&token),
            &json!({"id": id, "databases": ["redis"]}),
        )
        .await;
    let ns = created["namespace"].as_str().unwrap().to_string();
    let path = format!("/api/v1/environments/{id}");

    let (status, first) = env.app.delete(&path, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["phase"], "terminating");
    assert!(first["deleted_at"].is_string());
    env.cluster
        .wait_for::<Namespace>("", &ns, |n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some()
        })
        .await;
    let (status, second) = env.app.delete(&path, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["phase"], "terminating");
    let reason = second["reason"].as_str().unwrap();
    assert!(
        reason.contains("stuck terminating") && reason.contains("NamespaceFinalizersRemaining"),
        "{reason}"
    );

    env.cluster.release_namespace(&ns);
    env.cluster.wait_for_gone::<Namespace>("", &ns).await;
    let (status, third) = env.app.delete(&path, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third["phase"], "deleted");
    assert_eq!(
        third["deleted_at"], first["deleted_at"],
        "the first delete is kept"
    );
    let (_, got) = env.app.get(&path, Some(&token)).await;
    assert_eq!(got["phase"], "deleted");
    let (_, list) = env
        .app
        .get("/api/v1/environments?phase=deleted", Some(&token))
        .await;
    assert_eq!(list["total"], 1, "{list}");

    // Extending a deleted environment is refused; the same create names the deleted one.
    let (status, body) = env
        .app
        .post(
            &format!("{path}/extend"),
            Some(&token),
            &json!({"ttl": "1h"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "k8s.environment_deleted");
}

#[tokio::test]
async fn simulated_extend_moves_the_namespace_expiry_up_to_the_maximum() {
    let env = with_fake_cluster().await;
    let id = uuid::Uuid::new_v4().to_string();
    let token = env.app.editor.token.clone();
    let (_, created) = env
        .app
        .post(
            "/api/v1/environments",
            Some(&token),
            &json!({"id": id, "databases": ["postgres"], "ttl": "10m"}),
        )
        .await;
    let ns = created["namespace"].as_str().unwrap().to_string();
    let path = format!("/api/v1/environments/{id}/extend");
    let (status, body) = env
        .app
        .post(&path, Some(&token), &json!({"ttl": "25h"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("k8s.max_ttl")
    );

    let (status, extended) = env
        .app
        .post(&path, Some(&token), &json!({"ttl": "3h"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{extended}");
    let expires: chrono::DateTime<chrono::Utc> =
        extended["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((expires - chrono::Utc::now()).num_minutes() > 170);
    let namespace = env.cluster.get::<Namespace>("", &ns).unwrap();
    let annotation = &namespace.metadata.annotations.unwrap()["maestro.io/expires-at"];
    let annotated: chrono::DateTime<chrono::Utc> = annotation.parse().unwrap();
    assert_eq!(annotated.timestamp(), expires.timestamp());
    let labels = namespace.metadata.labels.unwrap();
    assert_eq!(
        labels["app.kubernetes.io/managed-by"], "maestro",
        "labels kept"
    );
    assert!(env.cluster.get::<Service>(&ns, "postgres").is_some());
}

#[tokio::test]
async fn simulated_image_pull_failure_is_reported_with_its_reason() {
    let env = with_fake_cluster().await;
    env.cluster
        .script_image("ghcr.io/acme/missing:0", Script::image_pull_fails());
    let id = uuid::Uuid::new_v4().to_string();
    let token = env.app.editor.token.clone();
    let (status, _) = env
        .app
        .post(
            "/api/v1/environments",
            Some(&token),
            &json!({"id": id, "app": {"image": "ghcr.io/acme/missing:0", "port": 80}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let failed = env.until(&id, "failed", |e| e["phase"] == "failed").await;
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("app: ")
            && (reason.contains("ErrImagePull") || reason.contains("ImagePullBackOff")),
        "{reason}"
    );
    let (_, list) = env
        .app
        .get("/api/v1/environments?phase=failed&owner=me", Some(&token))
        .await;
    assert_eq!(list["total"], 1, "{list}");
}

#[tokio::test]
async fn simulated_quota_exceeded_is_reported_with_its_reason() {
    let env = with_fake_cluster().await;
    let id = uuid::Uuid::new_v4().to_string();
    let token = env.app.editor.token.clone();
    let (status, body) = env
        .app
        .post(
            "/api/v1/environments",
            Some(&token),
            &json!({"id": id, "databases": ["postgres", "redis"],
                    "quota": {"cpu": "4", "memory": "8Gi", "pods": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let failed = env.until(&id, "failed", |e| e["phase"] == "failed").await;
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.contains("QuotaExceeded") && reason.contains("exceeded quota"),
        "{reason}"
    );
}

#[tokio::test]
async fn simulated_environments_are_tenant_scoped_and_role_checked() {
    let env = with_fake_cluster().await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"id": id, "databases": ["redis"]});
    let (status, _) = env
        .app
        .post("/api/v1/environments", Some(&env.app.viewer.token), &body)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = env
        .app
        .post("/api/v1/environments", Some(&env.app.editor.token), &body)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/api/v1/environments/{id}");
    let other = env.app.other_admin.token.clone();
    let (status, problem) = env.app.get(&path, Some(&other)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "k8s.environment_not_found");
    let (status, _) = env.app.delete(&path, Some(&other)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = env.app.get("/api/v1/environments", Some(&other)).await;
    assert_eq!(list["total"], 0);
    // The other tenant may use the same id: it gets its own namespace.
    let (status, theirs) = env
        .app
        .post("/api/v1/environments", Some(&other), &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let (_, ours) = env.app.get(&path, Some(&env.app.viewer.token)).await;
    assert_ne!(theirs["namespace"], ours["namespace"]);
    let (status, _) = env.app.delete(&path, Some(&env.app.viewer.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = env
        .app
        .get(
            "/api/v1/environments?phase=sleeping",
            Some(&env.app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn simulated_lists_follow_the_cluster_without_anyone_reading_the_environment() {
    let builder = crate::helpers::TestApp::builder().with(|s| {
        s.k8s.status_interval =
            maestro::config::HumanDuration(std::time::Duration::from_millis(200));
    });
    let env = super::with_cluster(crate::support::k8s_fake::FakeCluster::new(), builder).await;
    let token = env.app.viewer.token.clone();
    let (status, _) = env
        .app
        .post(
            "/api/v1/environments",
            Some(&env.app.editor.token),
            &json!({"databases": ["redis"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Only lists are read: the background refresh moves the record to ready.
    env.app
        .eventually(
            "the list shows it ready",
            // Generous: the whole suite's servers share this process and two cores.
            std::time::Duration::from_secs(60),
            || {
                let token = token.clone();
                let app = &env.app;
                async move {
                    let (_, list) = app
                        .get("/api/v1/environments?phase=ready", Some(&token))
                        .await;
                    (list["total"] == 1).then_some(())
                }
            },
        )
        .await;
}

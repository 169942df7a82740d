//! Cluster access: without a cluster the module stays mounted, answers 503 naming what to
//! configure, and /readyz and /health say why while Maestro stays ready; with `modules.k8s`
//! off its paths are gone.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn without_a_cluster_the_module_answers_503_naming_the_configuration_and_maestro_stays_ready()
{
    let missing = tempfile::tempdir()
        .unwrap()
        .path()
        .join("no-such-kubeconfig");
    let shown = missing.display().to_string();
    let app = TestApp::builder()
        .with(move |s| s.k8s.kubeconfig = missing.display().to_string())
        .spawn()
        .await;
    let token = app.editor.token.clone();

    let (status, body) = app
        .post(
            "/api/v1/environments",
            Some(&token),
            &json!({"databases": ["postgres"]}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "k8s.cluster_unavailable");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&shown) && detail.contains("k8s.kubeconfig"),
        "{detail}"
    );
    let (status, _) = app.get("/api/v1/environments", Some(&token)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the tenant's records need no cluster"
    );

    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["modules"]["k8s"]["status"], "down", "{ready}");
    assert!(
        ready["modules"]["k8s"]["detail"]
            .as_str()
            .unwrap()
            .contains("k8s.kubeconfig"),
        "{ready}"
    );
    let (status, health) = app.get("/health", None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["k8s"], "unavailable", "{health}");
    assert!(health["k8s_detail"].as_str().unwrap().contains(&shown));

    // Everything else serves, and render needs no cluster.
    let (status, _) = app.get("/api/v1/workflows", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    let res = app
        .request(
            reqwest::Method::POST,
            "/api/v1/environments/render",
            Some(&token),
        )
        .json(&json!({"databases": ["redis"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_the_module_off_its_paths_are_gone() {
    let app = TestApp::builder()
        .with(|s| s.modules.k8s = false)
        .spawn()
        .await;
    let token = app.admin.token.clone();
    let (status, body) = app.get("/api/v1/environments", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, doc) = app.get("/openapi.json", None).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.keys().all(|p| !p.starts_with("/api/v1/environments")));
    let (_, ready) = app.get("/readyz", None).await;
    assert!(ready.get("modules").is_none(), "{ready}");
}

#[tokio::test]
async fn simulated_cluster_is_reported_up_and_environments_are_in_the_openapi_document() {
    let env = super::with_fake_cluster().await;
    let (_, ready) = env.app.get("/readyz", None).await;
    assert_eq!(ready["modules"]["k8s"]["status"], "up", "{ready}");
    let (_, health) = env.app.get("/health", None).await;
    assert_eq!(health["k8s"], "connected", "{health}");
    let (_, doc) = env.app.get("/openapi.json", None).await;
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/environments",
        "/api/v1/environments/render",
        "/api/v1/environments/{id}",
        "/api/v1/environments/{id}/extend",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
}

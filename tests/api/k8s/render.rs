//! `POST /api/v1/environments/render` and `maestro env render`: the manifests create applies,
//! as YAML that parses back into k8s-openapi types.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, maestro_bin};

/// Each item of the rendered `List` as (kind, name, JSON).
pub fn documents(yaml: &str) -> Vec<(String, String, Value)> {
    let list: Value = yaml_serde::from_str(yaml).expect("one YAML document");
    assert_eq!(
        (list["apiVersion"].as_str(), list["kind"].as_str()),
        (Some("v1"), Some("List"))
    );
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| {
            let kind = v["kind"].as_str().expect("kind").to_string();
            let name = v["metadata"]["name"].as_str().expect("name").to_string();
            (kind, name, v.clone())
        })
        .collect()
}

fn typed<K: serde::de::DeserializeOwned>(v: &Value) -> K {
    serde_json::from_value(v.clone()).expect("the document is a valid k8s-openapi object")
}

fn request(id: &str) -> Value {
    json!({
        "id": id,
        "app": {"image": "ghcr.io/acme/api:1.2", "port": 8080, "env": {"MODE": "test"},
                "readiness": {"path": "/health"}},
        "databases": ["postgres", "redis"],
        "ttl": "90m",
    })
}

async fn render(app: &TestApp, body: &Value) -> (StatusCode, String) {
    let res = app
        .request(
            reqwest::Method::POST,
            "/api/v1/environments/render",
            Some(&app.viewer.token),
        )
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = res.text().await.unwrap();
    if status == StatusCode::OK {
        assert_eq!(ct.as_deref(), Some("application/yaml"));
    }
    (status, text)
}

#[tokio::test]
async fn render_returns_yaml_that_parses_into_k8s_openapi_types_in_apply_order() {
    let app = TestApp::spawn().await;
    let id = "8d0b7c1e-6a55-4d0e-9a57-2f1c0f3b7d11";
    let (status, yaml) = render(&app, &request(id)).await;
    assert_eq!(status, StatusCode::OK, "{yaml}");
    let docs = documents(&yaml);
    let order: Vec<(&str, &str)> = docs
        .iter()
        .map(|(k, n, _)| (k.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        order,
        vec![
            ("Namespace", order[0].1),
            ("LimitRange", "maestro-defaults"),
            ("ResourceQuota", "maestro-quota"),
            ("NetworkPolicy", "maestro-isolation"),
            ("Secret", "maestro-credentials"),
            ("Deployment", "postgres"),
            ("Service", "postgres"),
            ("Deployment", "redis"),
            ("Service", "redis"),
            ("Deployment", "app"),
            ("Service", "app"),
        ]
    );

    let ns: Namespace = typed(&docs[0].2);
    let name = ns.metadata.name.clone().unwrap();
    assert!(
        name.starts_with("maestro-") && name.len() == "maestro-".len() + 8,
        "{name}"
    );
    let labels = ns.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "maestro");
    assert_eq!(labels["maestro.io/environment-id"], id);
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
    assert!(labels.contains_key("maestro.io/tenant") && labels.contains_key("maestro.io/owner"));
    let expires = &ns.metadata.annotations.unwrap()["maestro.io/expires-at"];
    let expires = chrono::DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
    let in_minutes = (expires.to_utc() - chrono::Utc::now()).num_minutes();
    assert!(
        (85..=90).contains(&in_minutes),
        "ttl 90m gives {in_minutes} min"
    );

    let lr: LimitRange = typed(&docs[1].2);
    assert!(
        lr.spec.unwrap().limits[0]
            .default
            .as_ref()
            .unwrap()
            .contains_key("cpu")
    );
    let quota: ResourceQuota = typed(&docs[2].2);
    let hard = quota.spec.unwrap().hard.unwrap();
    assert_eq!(hard["pods"].0, "20");
    assert_eq!(hard["limits.memory"].0, "8Gi");
    let np: NetworkPolicy = typed(&docs[3].2);
    let spec = np.spec.unwrap();
    assert_eq!(spec.policy_types.unwrap(), vec!["Ingress", "Egress"]);
    assert!(spec.egress.unwrap().iter().any(|r| {
        r.ports
            .as_ref()
            .is_some_and(|p| p.iter().any(|p| p.protocol.as_deref() == Some("UDP")))
    }));

    let secret: Secret = typed(&docs[4].2);
    let data = secret.data.unwrap();
    let password = String::from_utf8(data["postgres-password"].0.clone()).unwrap();
    assert!(password.len() >= 24, "a generated password");
    let url = String::from_utf8(data["postgres-url"].0.clone()).unwrap();
    assert!(url.contains(&password) && url.starts_with("postgresql://"));
    assert!(data.contains_key("redis-password"));

    let pg: Deployment = typed(&docs[5].2);
    let pod = pg.spec.unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    assert!(
        c.readiness_probe.is_some(),
        "databases have readiness probes"
    );
    let env = c.env.as_ref().unwrap();
    let from_secret = env
        .iter()
        .find(|e| e.name == "POSTGRES_PASSWORD")
        .and_then(|e| e.value_from.as_ref())
        .and_then(|v| v.secret_key_ref.as_ref())
        .unwrap();
    assert_eq!(
        (from_secret.name.as_str(), from_secret.key.as_str()),
        ("maestro-credentials", "postgres-password")
    );
    let svc: Service = typed(&docs[6].2);
    assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, 5432);

    let app_dep: Deployment = typed(&docs[9].2);
    let app_c = app_dep.spec.unwrap().template.spec.unwrap().containers[0].clone();
    assert_eq!(app_c.image.as_deref(), Some("ghcr.io/acme/api:1.2"));
    let probe = app_c.readiness_probe.unwrap().http_get.unwrap();
    assert_eq!(probe.path.as_deref(), Some("/health"));
    let names: Vec<_> = app_c.env.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, vec!["MODE", "POSTGRES_URL", "REDIS_URL"]);

    // The same request renders the same objects, except the fresh passwords.
    let (_, again) = render(&app, &request(id)).await;
    let again = documents(&again);
    assert_eq!(again.len(), docs.len());
    assert_eq!(
        again[5].2, docs[5].2,
        "deployments reference the secret, not values"
    );
    assert_ne!(again[4].2, docs[4].2, "render generates fresh credentials");
}

#[tokio::test]
async fn render_refuses_invalid_requests_naming_each_field() {
    let app = TestApp::spawn().await;
    let (status, text) = render(
        &app,
        &json!({
            "app": {"image": "bad image", "port": 0, "env": {"1X": "a"}},
            "databases": ["redis", "redis"],
            "ttl": "100d",
            "quota": {"cpu": "lots", "memory": "8Gi", "pods": 0},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["code"], "k8s.invalid_spec");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "app.image",
        "app.port",
        "app.env.1X",
        "databases[1]",
        "ttl",
        "quota.cpu",
        "quota.pods",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    let (status, text) = render(&app, &json!({"databases": ["oracle"]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, _) = render(&app, &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// `maestro env render FILE` in `dir` with the embedded default configuration.
fn maestro_env_render(dir: &std::path::Path, file: &std::path::Path) -> std::process::Output {
    std::process::Command::new(maestro_bin())
        .current_dir(dir)
        .args(["env", "render", &file.display().to_string()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("maestro runs")
}

#[test]
fn env_render_prints_the_same_manifests_offline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env.yaml");
    std::fs::write(
        &file,
        "id: 8d0b7c1e-6a55-4d0e-9a57-2f1c0f3b7d11\ndatabases: [mysql, mongodb]\napp:\n  image: nginx:1.27\n  port: 80\n",
    )
    .unwrap();
    let out = maestro_env_render(dir.path(), &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = documents(&String::from_utf8(out.stdout).unwrap());
    let kinds: Vec<(&str, &str)> = docs
        .iter()
        .skip(4)
        .map(|(k, n, _)| (k.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("Secret", "maestro-credentials"),
            ("Deployment", "mysql"),
            ("Service", "mysql"),
            ("Deployment", "mongodb"),
            ("Service", "mongodb"),
            ("Deployment", "app"),
            ("Service", "app"),
        ]
    );
    let _: Namespace = typed(&docs[0].2);

    std::fs::write(&file, "databases: [oracle]\n").unwrap();
    let out = maestro_env_render(dir.path(), &file);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("oracle"));
}

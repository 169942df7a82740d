//! The templates module in the OpenAPI document, and its absence when disabled.

use crate::helpers::TestApp;

#[tokio::test]
async fn every_templates_operation_is_documented_with_security_and_errors() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/templates", vec!["get", "post"]),
        ("/api/v1/templates/search", vec!["post"]),
        ("/api/v1/templates/categories", vec!["get"]),
        ("/api/v1/templates/{id}", vec!["get", "put", "delete"]),
        ("/api/v1/templates/{id}/versions", vec!["get"]),
        ("/api/v1/templates/{id}/versions/{commit}", vec!["get"]),
        ("/api/v1/templates/{id}/diff", vec!["get"]),
        ("/api/v1/templates/{id}/restore", vec!["post"]),
        ("/api/v1/templates/{id}/files/{path}", vec!["get"]),
        ("/api/v1/templates/{id}/instantiate", vec!["post"]),
        ("/api/v1/templates/{id}/instantiations", vec!["get"]),
        ("/api/v1/admin/git/remote", vec!["get", "put"]),
        ("/api/v1/admin/git/sync", vec!["post"]),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not documented"));
        for method in methods {
            let op = &item[method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(
                !op["summary"].as_str().unwrap_or_default().is_empty(),
                "{method} {path} has no summary"
            );
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} has no security"));
            assert!(
                security.iter().any(|s| s.get("bearer").is_some()),
                "{method} {path}: {security:?}"
            );
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} documents no 401"
            );
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_disabled_templates_module_has_no_routes_and_no_paths() {
    let app = TestApp::builder()
        .with(|s| s.modules.templates = false)
        .spawn()
        .await;
    let (status, body) = app.get("/api/v1/templates", Some(&app.viewer.token)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "route.not_found");
    let (_, doc) = app.get("/openapi.json", None).await;
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| !p.starts_with("/api/v1/templates") && !p.starts_with("/api/v1/admin/git")),
        "templates paths are documented while the module is off"
    );
    let (_, health) = app.get("/health", None).await;
    assert!(health.get("templates_count").is_none());
    app.shutdown().await;
}

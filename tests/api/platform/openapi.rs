//! The OpenAPI document: every operation documented with its security and error responses, and
//! only the mounted modules' paths present.

use serde_json::Value;

use crate::helpers::TestApp;
use crate::support::{Recorder, test_module};

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_operation_has_a_summary_security_and_error_responses() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let ops = operations(&doc);
    assert!(ops.len() >= 14, "{} operations", ops.len());
    for (method, path, op) in ops {
        let name = format!("{method} {path}");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{name} has no summary"
        );
        assert!(op.get("security").is_some(), "{name} declares no security");
        let protected = op["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("bearer").is_some());
        if protected {
            assert!(
                op["responses"].get("401").is_some(),
                "{name} is protected but documents no 401"
            );
        }
        if path.starts_with("/api/") {
            let has_error = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|code| code.starts_with('4') || code.starts_with('5'));
            assert!(has_error, "{name} documents no error response");
        }
    }
}

#[tokio::test]
async fn a_modules_paths_exist_only_while_it_is_mounted() {
    let with = TestApp::builder()
        .module(test_module(Recorder::default()))
        .spawn()
        .await;
    let (_, doc) = with.get("/openapi.json", None).await;
    assert!(doc["paths"].get("/api/v1/testmod/ping").is_some());
    let (status, _) = with
        .get("/api/v1/testmod/ping", Some(&with.viewer.token))
        .await;
    assert_eq!(status, 200);

    let without = TestApp::spawn().await;
    let (_, doc) = without.get("/openapi.json", None).await;
    assert!(doc["paths"].get("/api/v1/testmod/ping").is_none());
    let (status, body) = without
        .get("/api/v1/testmod/ping", Some(&without.viewer.token))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "route.not_found");
}

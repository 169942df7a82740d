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

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The statuses an operation can give whatever it does, derived from what the document itself
/// says about it: every API operation can meet a malformed URL (400, e.g. a NUL character), a bad
/// bearer token (401) and an unavailable database (503); a role above viewer means 403; a body
/// means 413 (too large) and 422 (invalid, e.g. a NUL character in a string); a path parameter
/// means 404.
fn required_statuses(path: &str, op: &Value) -> Vec<&'static str> {
    let mut required = vec!["400", "401", "503"];
    let scopes: Vec<&str> = op["security"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["bearer"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if scopes.iter().any(|s| *s == "editor" || *s == "admin") {
        required.push("403");
    }
    if op.get("requestBody").is_some() {
        required.extend(["413", "422"]);
    }
    if path.contains('{') {
        required.push("404");
    }
    required
}

#[tokio::test]
async fn every_operation_documents_every_error_it_can_give_in_one_shape() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let mut unauthorized = std::collections::BTreeSet::new();
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        if !path.starts_with("/api/") {
            continue;
        }
        let name = format!("{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        for status in required_statuses(&path, &op) {
            assert!(
                responses.contains_key(status),
                "{name} does not document {status}; it has {:?}",
                responses.keys().collect::<Vec<_>>()
            );
        }
        for (status, response) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let problem = &response["content"]["application/problem+json"]["schema"]["$ref"];
            assert_eq!(
                problem, "#/components/schemas/Problem",
                "{name} {status} is not documented as problem+json: {response}"
            );
            assert!(
                !response["description"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty(),
                "{name} {status} has no description"
            );
        }
        assert!(
            responses["503"]["headers"].get("Retry-After").is_some(),
            "{name}: 503 without Retry-After"
        );
        unauthorized.insert(responses["401"]["description"].to_string());
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} API operations");
    assert_eq!(
        unauthorized.len(),
        1,
        "401 is worded several ways: {unauthorized:?}"
    );

    // Every reference resolves, and /readyz is documented with its own shape.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
    let ready = &doc["paths"]["/readyz"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["$ref"];
    let ready = ready.as_str().unwrap().rsplit('/').next().unwrap();
    let database = &doc["components"]["schemas"][ready]["properties"]["database"]["$ref"];
    let database = database.as_str().unwrap().rsplit('/').next().unwrap();
    let check = &doc["components"]["schemas"][database];
    let mut fields: Vec<&String> = check["properties"].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["detail", "status"], "/readyz check: {check}");
    app.shutdown().await;
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

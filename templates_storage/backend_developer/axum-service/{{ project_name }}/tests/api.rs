use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use {{ crate_name }}::{AppState, Config, app};

fn test_app() -> Router {
    app(AppState::new(Config::default()))
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app.clone().oneshot(request).await.expect("request failed");
    let status = response.status();
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().expect("ascii header").to_owned());
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("json body")
    };
    (status, request_id, body)
}

fn json_request(method: &str, uri: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

#[tokio::test]
async fn liveness_reports_version_and_request_id() {
    let app = test_app();
    let (status, request_id, body) =
        send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        request_id.is_some(),
        "x-request-id must be set on every response"
    );
}

#[tokio::test]
async fn incoming_request_id_is_propagated() {
    let app = test_app();
    let request = Request::get("/readyz")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let (_, request_id, _) = send(&app, request).await;
    assert_eq!(request_id.as_deref(), Some("abc-123"));
}

#[tokio::test]
async fn item_lifecycle() {
    let app = test_app();
    let (status, _, created) = send(
        &app,
        json_request(
            "POST",
            "/api/v1/items",
            json!({"name": "widget", "price_cents": 1299}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().expect("id").to_owned();

    let (status, _, fetched) = send(
        &app,
        Request::get(format!("/api/v1/items/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    let (_, _, listed) = send(
        &app,
        Request::get("/api/v1/items").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    let delete = Request::delete(format!("/api/v1/items/{id}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, delete).await.0, StatusCode::NO_CONTENT);

    let (status, _, problem) = send(
        &app,
        Request::get(format!("/api/v1/items/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["status"], 404);
}

#[tokio::test]
async fn blank_name_is_rejected() {
    let app = test_app();
    let (status, _, problem) = send(
        &app,
        json_request(
            "POST",
            "/api/v1/items",
            json!({"name": "  ", "price_cents": 1}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["title"], "Unprocessable Entity");
}

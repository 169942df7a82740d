use serde_json::json;

use crate::helpers::TestApp;
use crate::support::{Recorder, test_module};

#[tokio::test]
async fn errors_are_problem_json_that_say_what_to_fix() {
    let app = TestApp::spawn().await;

    let res = app
        .client
        .get(app.url("/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "route.not_found");
    assert_eq!(body["status"], 404);
    assert!(body["type"].as_str().unwrap().starts_with("https://"));
    assert_eq!(body["trace_id"].as_str().unwrap().len(), 32);

    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "request.invalid_json");

    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("content-type", "text/plain")
        .body("email=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);

    let (status, body) = app
        .post("/api/v1/auth/token", None, &json!({"email": "a@b.c"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("password"),
        "{body}"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let app = TestApp::builder()
        .with(|s| s.server.json_body_limit = 4096)
        .spawn()
        .await;
    let big = "x".repeat(10_000);
    let (status, body) = app
        .post(
            "/api/v1/auth/token",
            None,
            &json!({"email": big, "password": "p"}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "request.body_too_large");
    assert!(body["detail"].as_str().unwrap().contains("4096"));
}

#[tokio::test]
async fn request_id_and_trace_context_propagate() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "req-abc-123")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-abc-123");
    let traceparent = res.headers()["traceparent"].to_str().unwrap();
    assert!(
        traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "the caller's trace continues: {traceparent}"
    );
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "a new span id for our span"
    );

    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(
        generated.len(),
        36,
        "a UUID request id is generated: {generated}"
    );

    // The trace id in an error body is the one in the response's traceparent.
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["trace_id"], "11111111111111111111111111111111");
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = TestApp::builder()
        .with(|s| s.server.cors_allowed_origins = vec!["https://portal.example".into()])
        .spawn()
        .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://portal.example").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://portal.example"
    );
    let denied = preflight("https://evil.example").await.unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn http_metrics_use_route_templates() {
    let app = TestApp::builder()
        .module(test_module(Recorder::default()))
        .spawn()
        .await;
    let (status, _) = app
        .get("/api/v1/testmod/slow?ms=1", Some(&app.viewer.token))
        .await;
    assert_eq!(status, 200);
    app.get(
        &format!("/api/v1/admin/users/{}", app.editor.id),
        Some(&app.admin.token),
    )
    .await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"route="/api/v1/admin/users/{id}""#),
        "route label is the template, not the raw path"
    );
    assert!(!metrics.contains(&app.editor.id), "no ids in metric labels");
    for name in [
        "maestro_http_requests_total",
        "maestro_http_request_duration_seconds_bucket",
        "maestro_db_pool_connections",
        "maestro_build_info",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_requests_finish() {
    let app = TestApp::builder()
        .module(test_module(Recorder::default()))
        .spawn()
        .await;
    let slow = app
        .request(
            reqwest::Method::GET,
            "/api/v1/testmod/slow?ms=1500",
            Some(&app.viewer.token),
        )
        .send();
    let in_flight = tokio::spawn(slow);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let address = app.address.clone();
    let handle = app.handle.clone();
    let stopping = tokio::spawn(async move { handle.shutdown().await });
    let res = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(res.status(), 200);
    stopping.await.unwrap();
    let after = reqwest::Client::new()
        .get(format!("{address}/healthz"))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await;
    assert!(after.is_err(), "no new connections after shutdown");
}

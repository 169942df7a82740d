use crate::helpers::TestApp;

#[tokio::test]
async fn health_endpoints_answer() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "alive");

    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"]["status"], "up");

    let (status, body) = app.get("/health", None).await;
    assert_eq!(status, 200);
    for field in ["status", "service", "version", "database", "redis"] {
        assert!(body.get(field).is_some(), "/health lacks {field}: {body}");
    }
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "connected");
    app.shutdown().await;
}

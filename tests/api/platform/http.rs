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

    // Also for bodies read by hand, JSON and YAML (both pass the NUL check on their way), with
    // and without a declared length.
    for content_type in ["application/json", "application/yaml"] {
        let text = format!("name: w\ndescription: \"{big}\"\nsteps: []\n");
        let text = if content_type == "application/json" {
            json!({"name": "w", "description": big}).to_string()
        } else {
            text
        };
        let (status, body) = crate::helpers::send(
            app.request(
                reqwest::Method::POST,
                "/api/v1/workflows",
                Some(&app.editor.token),
            )
            .header("content-type", content_type)
            .body(text.clone()),
        )
        .await;
        assert_eq!(status, 413, "{content_type}: {body}");
        // Chunked, without a length: written by hand.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .unwrap();
        let mut request = format!(
            "POST /api/v1/workflows HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            app.editor.token
        );
        for chunk in text.as_bytes().chunks(1000) {
            request.push_str(&format!(
                "{:x}\r\n{}\r\n",
                chunk.len(),
                String::from_utf8_lossy(chunk)
            ));
        }
        request.push_str("0\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "chunked {content_type}: {answer}"
        );
    }
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
    let port = app.port;
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
        "a running server holds its port"
    );
    let handle = app.handle.clone();
    let stopping = tokio::spawn(async move { handle.shutdown().await });
    let res = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(res.status(), 200);
    stopping.await.unwrap();
    // No new connections: the server let go of its port, which can be bound again at once. (A
    // request to the port proves less: in the parallel suite another test's server can take the
    // freed port and answer it.)
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the server still holds its port after shutdown"
    );
}

/// NUL in any text input is a 4xx naming the input, on SQLite and on PostgreSQL alike (where it
/// used to be a 500), and nothing is written.
#[tokio::test]
async fn nul_characters_in_any_text_input_get_4xx_naming_the_input_and_write_nothing() {
    use reqwest::Method;

    use crate::helpers::send;
    use crate::templates::{create_sample, sample, total};

    let app = TestApp::spawn().await;
    let (id, etag) = create_sample(&app, "nul-target").await;
    let admin = app.admin.token.clone();
    let editor = app.editor.token.clone();
    let (_, users_before) = app.get("/api/v1/admin/users", Some(&admin)).await;
    let (_, remote_before) = app.get("/api/v1/admin/git/remote", Some(&admin)).await;

    enum Body {
        None,
        Json(serde_json::Value),
        Raw(&'static str, String),
    }
    let nul = "\u{0}";
    let mut bad_manifest = sample("nul-target");
    bad_manifest["manifest"]["description"] = json!(format!("evil{nul}description"));
    let mut bad_file = sample("nul-file");
    bad_file["files"][format!("a{nul}b.txt")] = json!("x");
    let steps = json!([{"id": "a", "uses": "noop"}]);
    let editor_id = app.editor.id.clone();
    #[rustfmt::skip]
    let cases: Vec<(Method, String, &str, Body, u16, &str, String)> = vec![
        // Path parameters.
        (Method::GET, "/api/v1/templates/a%00b".into(), &editor, Body::None, 400, "request.nul_in_path", "id".into()),
        (Method::PUT, "/api/v1/templates/a%00b".into(), &editor, Body::Json(sample("x")), 400, "request.nul_in_path", "id".into()),
        (Method::DELETE, "/api/v1/templates/a%00b".into(), &editor, Body::None, 400, "request.nul_in_path", "id".into()),
        (Method::GET, format!("/api/v1/templates/{id}/files/dir/a%00b"), &editor, Body::None, 400, "request.nul_in_path", "path".into()),
        (Method::GET, format!("/api/v1/templates/{id}/versions/%00"), &editor, Body::None, 400, "request.nul_in_path", "commit".into()),
        (Method::POST, "/api/v1/templates/a%00/instantiate".into(), &editor, Body::Json(json!({"parameters": {}})), 400, "request.nul_in_path", "id".into()),
        (Method::GET, "/api/v1/admin/users/x%00".into(), &admin, Body::None, 400, "request.nul_in_path", "id".into()),
        (Method::PUT, "/api/v1/admin/users/x%00/role".into(), &admin, Body::Json(json!({"role": "viewer"})), 400, "request.nul_in_path", "id".into()),
        (Method::GET, "/api/v1/workflows/w%00".into(), &editor, Body::None, 400, "request.nul_in_path", "id".into()),
        (Method::POST, "/api/v1/workflows/runs/r%00/events/go".into(), &editor, Body::Json(json!({})), 400, "request.nul_in_path", "run_id".into()),
        (Method::POST, "/api/v1/workflows/runs/r/events/g%00o".into(), &editor, Body::Json(json!({})), 400, "request.nul_in_path", "name".into()),
        (Method::GET, "/api/v1/quality/templates/x%00/history".into(), &editor, Body::None, 400, "request.nul_in_path", "id".into()),
        // Query parameters (names and values).
        (Method::GET, "/api/v1/templates?category=a%00".into(), &editor, Body::None, 400, "request.nul_in_query", "category".into()),
        (Method::GET, "/api/v1/templates?limit=5&text=x%00y".into(), &editor, Body::None, 400, "request.nul_in_query", "text".into()),
        (Method::GET, "/api/v1/templates?ta%00gs=x".into(), &editor, Body::None, 400, "request.nul_in_query", "ta\\u0000gs".into()),
        (Method::GET, format!("/api/v1/templates/{id}/diff?from=%00&to={etag}"), &editor, Body::None, 400, "request.nul_in_query", "from".into()),
        (Method::GET, "/api/v1/workflows/runs?status=%00".into(), &editor, Body::None, 400, "request.nul_in_query", "status".into()),
        // JSON bodies: values and keys, at any depth.
        (Method::POST, "/api/v1/auth/token".into(), "", Body::Json(json!({"email": format!("a{nul}@acme.test"), "password": "x"})), 422, "request.nul_in_body", "email".into()),
        (Method::POST, "/api/v1/auth/refresh".into(), "", Body::Json(json!({"refresh_token": nul})), 422, "request.nul_in_body", "refresh_token".into()),
        (Method::POST, "/api/v1/templates".into(), &editor, Body::Json(sample(&format!("nul{nul}name"))), 422, "request.nul_in_body", "manifest.name".into()),
        (Method::POST, "/api/v1/templates".into(), &editor, Body::Json(bad_file), 422, "request.nul_in_body", "files[\"a\\u0000b.txt\"]".into()),
        (Method::PUT, format!("/api/v1/templates/{id}"), &editor, Body::Json(bad_manifest), 422, "request.nul_in_body", "manifest.description".into()),
        (Method::POST, "/api/v1/templates/search".into(), &editor, Body::Json(json!({"query": format!("a{nul}")})), 422, "request.nul_in_body", "query".into()),
        (Method::POST, format!("/api/v1/templates/{id}/instantiate"), &editor, Body::Json(json!({"parameters": {"project_name": format!("a{nul}")}})), 422, "request.nul_in_body", "parameters.project_name".into()),
        (Method::POST, "/api/v1/admin/users".into(), &admin, Body::Json(json!({"email": format!("n{nul}@acme.test"), "password": "correct-horse-battery", "role": "viewer"})), 422, "request.nul_in_body", "email".into()),
        (Method::PUT, format!("/api/v1/admin/users/{editor_id}/role"), &admin, Body::Json(json!({"role": format!("admin{nul}")})), 422, "request.nul_in_body", "role".into()),
        (Method::PUT, "/api/v1/admin/git/remote".into(), &admin, Body::Json(json!({"url": format!("https://example.com/{nul}.git")})), 422, "request.nul_in_body", "url".into()),
        (Method::POST, "/api/v1/workflows".into(), &editor, Body::Json(json!({"name": format!("w{nul}"), "steps": steps})), 422, "request.nul_in_body", "name".into()),
        (Method::POST, "/api/v1/workflows/runs/some-run/events/go".into(), &editor, Body::Json(json!({"k": ["ok", nul]})), 422, "request.nul_in_body", "k[1]".into()),
        (Method::POST, "/api/v1/quality/validate".into(), &editor, Body::Json(json!({"template": sample(&format!("q{nul}"))})), 422, "request.nul_in_body", "template.manifest.name".into()),
        // JSON without a content type, and YAML.
        (Method::POST, "/api/v1/templates".into(), &editor, Body::Raw("", r#"{"manifest": {"name": "x\u0000"}}"#.into()), 422, "request.nul_in_body", "manifest.name".into()),
        (Method::POST, "/api/v1/workflows".into(), &editor, Body::Raw("application/yaml", "name: \"w\\0\"\nsteps:\n  - {id: a, uses: noop}\n".into()), 422, "request.nul_in_body", "name".into()),
    ];
    for (method, path, token, body, status, code, field) in cases {
        let token = (!token.is_empty()).then_some(token);
        let mut req = app.request(method.clone(), &path, token);
        if method == Method::PUT && path.starts_with("/api/v1/templates/") {
            req = req.header("If-Match", format!("\"{etag}\""));
        }
        req = match body {
            Body::None => req,
            Body::Json(value) => req.json(&value),
            Body::Raw("", text) => req.body(text),
            Body::Raw(content_type, text) => req.header("content-type", content_type).body(text),
        };
        let (got, problem) = send(req).await;
        let label = format!("{method} {path}");
        assert_eq!(got.as_u16(), status, "{label}: {problem}");
        assert_eq!(problem["code"], code, "{label}: {problem}");
        assert_eq!(
            problem["errors"][0]["field"],
            field.as_str(),
            "{label}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains("NUL"),
            "{label}: {problem}"
        );
    }

    // An unauthenticated request is still a 401 first.
    let (status, _) = app
        .get("/api/v1/templates/a%00b", Some("not-a-token"))
        .await;
    assert_eq!(status, 401);
    for (content_type, body) in [
        ("application/json", r#"{"name": "w\u0000"}"#),
        ("application/yaml", "name: \"w\\0\"\n"),
    ] {
        let (status, problem) = send(
            app.request(Method::POST, "/api/v1/workflows", None)
                .header("content-type", content_type)
                .body(body),
        )
        .await;
        assert_eq!(status, 401, "{content_type}: {problem}");
    }

    // Nothing was written anywhere.
    assert_eq!(total(&app, &app.viewer.token).await, 1);
    let (_, detail) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(detail["current_commit"], etag.as_str());
    assert_eq!(
        crate::templates::git_log(&app, &app.editor.tenant_id).len(),
        1
    );
    let (_, users_after) = app.get("/api/v1/admin/users", Some(&admin)).await;
    assert_eq!(users_after["total"], users_before["total"]);
    let (_, me) = app.get("/api/v1/auth/me", Some(&editor)).await;
    assert_eq!(me["role"], "editor");
    let (_, remote_after) = app.get("/api/v1/admin/git/remote", Some(&admin)).await;
    assert_eq!(remote_after, remote_before);
    let (_, workflows) = app.get("/api/v1/workflows", Some(&editor)).await;
    assert_eq!(workflows["total"], 0, "{workflows}");

    // Text that merely looks like an escape is fine.
    let (status, found) = app
        .post(
            "/api/v1/templates/search",
            Some(&editor),
            &json!({"query": "\\u0000"}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    app.shutdown().await;
}

/// Every operation in the OpenAPI document, probed with a NUL in each path parameter, each query
/// parameter and its JSON/YAML body: never a 5xx, the exact problem for path and query (the
/// middleware answers before any handler), and nothing written.
#[tokio::test]
async fn every_documented_operation_refuses_nul_input() {
    use reqwest::Method;

    use crate::helpers::send;

    let app = TestApp::spawn().await;
    let admin = app.admin.token.clone();
    let (_, doc) = app.get("/openapi.json", None).await;
    let (_, users_before) = app.get("/api/v1/admin/users", Some(&admin)).await;
    let fill = |path: &str, with: &str| {
        let mut out = String::new();
        let mut first = None;
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').unwrap() + open;
            out.push_str(&rest[..open]);
            first.get_or_insert_with(|| rest[open + 1..close].to_string());
            out.push_str(with);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        (out, first)
    };
    let mut probes = 0;
    let mut body_not_read = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let label = format!("{method} {path}");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let content = op["requestBody"]["content"].as_object().cloned();
            // Path parameters.
            let (url, first) = fill(path, "p%00q");
            if let Some(first) = first {
                let (status, problem) = send(app.request(method.clone(), &url, Some(&admin))).await;
                assert_eq!(status, 400, "{label}: {problem}");
                assert_eq!(problem["code"], "request.nul_in_path", "{label}");
                assert_eq!(problem["errors"][0]["field"], first.as_str(), "{label}");
                probes += 1;
            }
            let (url, _) = fill(path, "probe");
            // Query parameters.
            for param in params.iter().filter(|p| p["in"] == "query") {
                let name = param["name"].as_str().unwrap();
                let (status, problem) =
                    send(app.request(method.clone(), &format!("{url}?{name}=a%00b"), Some(&admin)))
                        .await;
                assert_eq!(status, 400, "{label} ?{name}: {problem}");
                assert_eq!(problem["code"], "request.nul_in_query", "{label}");
                assert_eq!(problem["errors"][0]["field"], name, "{label}");
                probes += 1;
            }
            // Bodies.
            for content_type in content.iter().flat_map(|c| c.keys()) {
                let body = match content_type.as_str() {
                    "application/json" => r#"{"probe": "a\u0000b"}"#,
                    "application/yaml" => "probe: \"a\\0b\"\n",
                    _ => continue,
                };
                let (status, problem) = send(
                    app.request(method.clone(), &url, Some(&admin))
                        .header("content-type", content_type.as_str())
                        .header("if-match", "*")
                        .body(body),
                )
                .await;
                assert!(
                    status.is_client_error(),
                    "{label} {content_type}: {status} {problem}"
                );
                if status == 422 && problem["code"] == "request.nul_in_body" {
                    assert_eq!(problem["errors"][0]["field"], "probe", "{label}");
                } else {
                    body_not_read.push(format!(
                        "{label} ({content_type}): {status} {}",
                        problem["code"]
                    ));
                }
                probes += 1;
            }
        }
    }
    assert!(probes > 60, "{probes} probes");
    // Handlers that answer before reading the body (nothing of it was used) are listed here.
    assert!(body_not_read.is_empty(), "{body_not_read:#?}");

    // Nothing was written.
    let (_, users_after) = app.get("/api/v1/admin/users", Some(&admin)).await;
    assert_eq!(users_after["total"], users_before["total"]);
    assert_eq!(crate::templates::total(&app, &admin).await, 0);
    let (_, workflows) = app.get("/api/v1/workflows", Some(&admin)).await;
    assert_eq!(workflows["total"], 0, "{workflows}");
    let (_, remote) = app.get("/api/v1/admin/git/remote", Some(&admin)).await;
    assert!(remote["url"].is_null(), "{remote}");
    app.shutdown().await;
}

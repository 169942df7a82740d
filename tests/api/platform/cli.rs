//! The real `maestro` binary: embedded defaults, CLI errors, users made on the command line.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::helpers::{free_port, maestro_bin};

/// Runs the binary in `dir` with only the given MAESTRO variables (no config directory there,
/// so it uses the defaults embedded at build time).
fn maestro(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(maestro_bin());
    cmd.current_dir(dir).args(args).env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("maestro runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_flags_and_bad_config_get_one_line_that_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = maestro(dir.path(), &["--bogus"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--bogus") && err.contains("--help"), "{err}");

    let out = maestro(dir.path(), &["user", "create", "--tenant", "t"], &[]);
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--email"), "{err}");

    let out = maestro(
        dir.path(),
        &["config"],
        &[("MAESTRO__SERVER__PORT", "eighty")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("server.port"), "{err}");

    let out = maestro(dir.path(), &["config"], &[("MAESTRO__DATABSE__URL", "x")]);
    assert!(stderr(&out).contains("databse"), "{}", stderr(&out));

    let out = maestro(dir.path(), &["config"], &[("MAESTRO_ENV", "staging")]);
    assert!(stderr(&out).contains("MAESTRO_ENV"), "{}", stderr(&out));
}

#[test]
fn production_refuses_the_default_secret_and_config_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = maestro(dir.path(), &["serve"], &[("MAESTRO_ENV", "production")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("auth.secret_key"), "{}", stderr(&out));

    let secret = "a-very-long-production-secret-value-0123456789";
    let out = maestro(
        dir.path(),
        &["config"],
        &[
            ("MAESTRO_ENV", "production"),
            ("SECRET_KEY", secret),
            ("DATABASE_URL", "postgres://maestro:hunter2@db/maestro"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("auth.secret_key = \"[redacted]\""),
        "{printed}"
    );
    assert!(!printed.contains(secret));
    assert!(!printed.contains("hunter2"));
    assert!(printed.contains("database.url"));
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_on_embedded_defaults_and_cli_users_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = maestro(
        dir.path(),
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--email",
            "ops@acme.test",
            "--password",
            "cli-password-1",
            "--role",
            "admin",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        dir.path().join("data/maestro.db").exists(),
        "SQLite under data/ by default"
    );

    let port = free_port();
    let child = Command::new(maestro_bin())
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MAESTRO__SERVER__PORT", port.to_string())
        .env("MAESTRO__SERVER__HOST", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server became ready");
    for path in [
        "/healthz",
        "/readyz",
        "/health",
        "/metrics",
        "/openapi.json",
        "/docs/",
    ] {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }

    let res = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": "ops@acme.test", "password": "cli-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: serde_json::Value = res.json().await.unwrap();
    let me: serde_json::Value = client
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ops@acme.test");
    assert_eq!(me["role"], "admin");

    // `maestro token` prints a token the server accepts.
    let out = maestro(dir.path(), &["token", "--email", "ops@acme.test"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let res = client
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // `healthcheck` exits 0 against the live server.
    let out = maestro(
        dir.path(),
        &["healthcheck"],
        &[("MAESTRO__SERVER__PORT", &port.to_string())],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // SIGTERM: a clean exit.
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let mut server = server;
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.0.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = exited.expect("exits after SIGTERM");
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
}

/// Starts the binary in `dir` with `env`, waits for `/readyz`, returns (server, base URL).
async fn start_server(dir: &Path, env: &[(&str, String)]) -> (Server, String) {
    let port = free_port();
    let mut cmd = Command::new(maestro_bin());
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MAESTRO__SERVER__PORT", port.to_string())
        .env("MAESTRO__SERVER__HOST", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let server = Server(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return (server, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready");
}

#[tokio::test]
async fn production_logs_are_json_lines_with_trace_and_span_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = start_server(
        dir.path(),
        &[
            ("MAESTRO_ENV", "production".into()),
            (
                "MAESTRO__AUTH__SECRET_KEY",
                "0123456789abcdef0123456789abcdef-test".into(),
            ),
        ],
    )
    .await;
    let res = reqwest::Client::new()
        .get(format!("{base}/api/v1/auth/me"))
        .header(
            "traceparent",
            "00-abcdefabcdefabcdefabcdefabcdef12-1234567812345678-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    let output = std::mem::replace(&mut server.0, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "the server logged something");
    let request_line = lines
        .iter()
        .find(|l| l["span"]["http.route"] == "/api/v1/auth/me")
        .unwrap_or_else(|| panic!("a log line for the request: {stdout}"));
    assert_eq!(
        request_line["span"]["trace_id"],
        "abcdefabcdefabcdefabcdefabcdef12"
    );
    assert_eq!(request_line["span"]["span_id"].as_str().unwrap().len(), 16);
    assert_eq!(request_line["level"], "INFO");
}

#[tokio::test]
async fn spans_are_exported_over_otlp_when_an_endpoint_is_set() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let counter = counter.clone();
                async move {
                    if !body.is_empty() {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let collector_handle = server.handle();
    tokio::spawn(server);

    let dir = tempfile::tempdir().unwrap();
    let (mut maestro, base) = start_server(
        dir.path(),
        &[("MAESTRO__TELEMETRY__OTLP_ENDPOINT", collector.clone())],
    )
    .await;
    for _ in 0..5 {
        reqwest::get(format!("{base}/health")).await.unwrap();
    }
    // Graceful shutdown flushes the batch exporter.
    Command::new("kill")
        .args(["-TERM", &maestro.0.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..100 {
        if maestro.0.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        received.load(Ordering::SeqCst) >= 1,
        "the collector received spans"
    );
    collector_handle.stop(false).await;
}

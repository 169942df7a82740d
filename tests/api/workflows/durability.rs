//! Process-level durability: the real binary is killed with SIGKILL mid-workload and restarted,
//! and two processes share one PostgreSQL. Every `noop` step with `effect: true` records its
//! (run, step) in `workflow_effects` in the transaction that commits the step; a duplicate
//! execution would show as `executions > 1`, a lost one as a missing row.
//!
//! Run with `cargo test --test api -- --ignored crash` (and `two_processes`); `.ci/run` does.

use std::time::Duration;

use maestro::platform::Platform;
use maestro::platform::auth::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{MaestroProcess, PgSchema, eventually, platform_for, send, test_database_url};

async fn token(platform: &Platform) -> String {
    let email = "durable@acme.test";
    if platform.auth.token_for_email(email).await.is_err() {
        platform
            .auth
            .create_user_in_tenant_named("acme", email, "correct-horse-battery", Role::Editor)
            .await
            .unwrap();
    }
    platform.auth.token_for_email(email).await.unwrap()
}

fn chain(name: &str, steps: usize, sleep: &str) -> Value {
    let steps: Vec<Value> = (0..steps)
        .map(|i| {
            let mut s = json!({"id": format!("s{i}"), "uses": "noop", "with": {"effect": true, "sleep": sleep}});
            if i > 0 {
                s["needs"] = json!([format!("s{}", i - 1)]);
            }
            s
        })
        .collect();
    json!({"name": name, "steps": steps})
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Value) {
    send(client.post(url).bearer_auth(token).json(body)).await
}

/// (effect rows, sum of executions, max executions).
async fn effects(platform: &Platform) -> (i64, i64, i64) {
    platform
        .db
        .run(
            |conn| -> Result<(i64, i64, i64), maestro::platform::db::DbError> {
                use diesel::RunQueryDsl;
                #[derive(diesel::QueryableByName)]
                struct Row {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    total: i64,
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    most: i64,
                }
                let r: Row = diesel::sql_query(
                    "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(executions), 0) AS BIGINT) AS total, \
                 CAST(COALESCE(MAX(executions), 0) AS BIGINT) AS most FROM workflow_effects",
                )
                .get_result(conn)?;
                Ok((r.n, r.total, r.most))
            },
        )
        .await
        .unwrap()
}

/// `Some(())` once every run has succeeded.
async fn all_succeeded(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    runs: &[String],
) -> Option<()> {
    for id in runs {
        let (status, run) = send(
            client
                .get(format!("{base}/api/v1/workflows/runs/{id}"))
                .bearer_auth(token),
        )
        .await;
        if status != StatusCode::OK || run["status"] != "succeeded" {
            return None;
        }
    }
    Some(())
}

/// A counter's value in Prometheus text (0 when absent).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test]
#[ignore = "process-level crash test; run with `cargo test --test api -- --ignored crash`"]
async fn crash_sigkill_mid_workload_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pg = test_database_url().map(|url| PgSchema::create(&url));
    let database_url = match &pg {
        Some(schema) => schema.url.clone(),
        None => format!("sqlite://{}", dir.path().join("crash.db").display()),
    };
    let platform = platform_for(&database_url, dir.path()).await;
    let token = token(&platform).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // A short lease so the killed process's claims are taken over quickly after the restart.
    let extra = [("MAESTRO__WORKFLOWS__LEASE", "3s")];

    let mut first = MaestroProcess::start(dir.path(), "first", &database_url, &extra);
    first.wait_ready(&client).await;
    let (status, wf) = post(
        &client,
        &format!("{}/api/v1/workflows", first.url),
        &token,
        &chain("crash", 10, "30ms"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{wf}");
    let wf = wf["id"].as_str().unwrap().to_string();
    let runs_n = 40;
    let mut runs = Vec::new();
    for i in 0..runs_n {
        let (status, run) = send(
            client
                .post(format!("{}/api/v1/workflows/{wf}/execute", first.url))
                .bearer_auth(&token)
                .header("Idempotency-Key", format!("crash-{i}"))
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{run}");
        runs.push(run["id"].as_str().unwrap().to_string());
    }
    let expected = (runs_n * 10) as i64;
    // Kill it once a fair part of the work is done, but well before the end.
    let mut done_at_kill = 0;
    for _ in 0..600 {
        done_at_kill = effects(&platform).await.0;
        if done_at_kill >= expected / 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    let after_kill = effects(&platform).await;
    assert!(
        after_kill.0 < expected,
        "the workload finished before the kill ({after_kill:?}); nothing was tested"
    );
    eprintln!(
        "killed with {} of {expected} effects committed",
        after_kill.0
    );

    // Retrying the same requests after the crash does not create runs.
    let mut second = MaestroProcess::start(dir.path(), "second", &database_url, &extra);
    second.wait_ready(&client).await;
    let (status, again) = send(
        client
            .post(format!("{}/api/v1/workflows/{wf}/execute", second.url))
            .bearer_auth(&token)
            .header("Idempotency-Key", "crash-0")
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], runs[0].as_str());

    eventually(
        &format!(
            "every run to complete after the restart (log: {})",
            second.log.display()
        ),
        Duration::from_secs(60),
        &mut || all_succeeded(&client, &second.url, &token, &runs),
    )
    .await;
    let (rows, total, most) = effects(&platform).await;
    assert_eq!(rows, expected, "lost effects");
    assert_eq!(total, expected, "duplicated effects");
    assert_eq!(most, 1);
    // Steps that were executing at the kill were taken over and run again, and still left their
    // effect once: the attempt that died never committed.
    let retaken =
        platform
            .db
            .run(|conn| -> Result<i64, maestro::platform::db::DbError> {
                use diesel::RunQueryDsl;
                #[derive(diesel::QueryableByName)]
                struct N {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                Ok(diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM workflow_step_runs WHERE attempts > 1",
                )
                .get_result::<N>(conn)?
                .n)
            })
            .await
            .unwrap();
    assert!(
        retaken > 0,
        "no step was interrupted by the kill; nothing was tested"
    );
    eprintln!("{retaken} steps were interrupted by the kill and taken over");
    // Every run's audit chain still verifies.
    for id in runs.iter().take(5) {
        let (_, v) = send(
            client
                .get(format!(
                    "{}/api/v1/workflows/runs/{id}/audit/verify",
                    second.url
                ))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(v["valid"], true, "{v}");
    }
    let (_, list) = send(
        client
            .get(format!(
                "{}/api/v1/workflows/runs?workflow_id={wf}",
                second.url
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(list["total"], runs_n);
    eprintln!(
        "crash test: {} effects before the kill, {rows} after the restart, 0 lost, 0 duplicated",
        done_at_kill
    );
    second.kill();
}

fn noop_executions(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("maestro_workflow_step_duration_seconds_count{type=\"noop\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test]
#[ignore = "process-level test on PostgreSQL; run with `cargo test --test api -- --ignored two_processes`"]
async fn two_processes_share_a_workload_and_never_run_a_step_twice() {
    let Some(admin_url) = test_database_url() else {
        eprintln!(
            "MAESTRO_TEST_DATABASE_URL is not set: the two-process test needs PostgreSQL; skipped"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = PgSchema::create(&admin_url);
    let platform = platform_for(&schema.url, dir.path()).await;
    let token = token(&platform).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // Little capacity each, so work spills into the shared queue and both claim from it.
    let extra = [
        ("MAESTRO__WORKFLOWS__MAX_IN_FLIGHT", "4"),
        ("MAESTRO__WORKFLOWS__CLAIM_BATCH_SIZE", "4"),
    ];
    let mut a = MaestroProcess::start(dir.path(), "a", &schema.url, &extra);
    let mut b = MaestroProcess::start(dir.path(), "b", &schema.url, &extra);
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;
    let (status, wf) = post(
        &client,
        &format!("{}/api/v1/workflows", a.url),
        &token,
        &chain("shared", 10, "5ms"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{wf}");
    let wf = wf["id"].as_str().unwrap().to_string();
    let runs_n = 60;
    let mut runs = Vec::new();
    for _ in 0..runs_n {
        let (status, run) = post(
            &client,
            &format!("{}/api/v1/workflows/{wf}/execute", a.url),
            &token,
            &json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{run}");
        runs.push(run["id"].as_str().unwrap().to_string());
    }
    eventually("the runs to finish", Duration::from_secs(90), &mut || {
        all_succeeded(&client, &b.url, &token, &runs)
    })
    .await;
    let expected = (runs_n * 10) as u64;
    let (rows, total, most) = effects(&platform).await;
    assert_eq!((rows as u64, total as u64, most), (expected, expected, 1));
    let (_, ma) = send(client.get(format!("{}/metrics", a.url))).await;
    let (_, mb) = send(client.get(format!("{}/metrics", b.url))).await;
    let (ea, eb) = (
        noop_executions(ma.as_str().unwrap_or("")),
        noop_executions(mb.as_str().unwrap_or("")),
    );
    eprintln!("process a executed {ea} steps, process b {eb}");
    assert_eq!(
        ea + eb,
        expected,
        "every step executed exactly once across both processes"
    );
    assert!(
        ea > 0 && eb > 0,
        "both processes took part (a {ea}, b {eb})"
    );
    a.kill();
    b.kill();
}

#[tokio::test]
#[ignore = "process-level test on PostgreSQL; run with `cargo test --test api -- --ignored two_processes`"]
async fn two_processes_an_api_node_wakes_the_engine_node_through_listen_notify() {
    let Some(admin_url) = test_database_url() else {
        eprintln!(
            "MAESTRO_TEST_DATABASE_URL is not set: the LISTEN/NOTIFY test needs PostgreSQL; skipped"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = PgSchema::create(&admin_url);
    let platform = platform_for(&schema.url, dir.path()).await;
    let token = token(&platform).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // The API node runs no engine; the engine node would otherwise look for work only hourly.
    let mut api = MaestroProcess::start(
        dir.path(),
        "api",
        &schema.url,
        &[("MAESTRO__WORKFLOWS__ENGINE", "false")],
    );
    let mut worker = MaestroProcess::start(
        dir.path(),
        "worker",
        &schema.url,
        &[("MAESTRO__WORKFLOWS__POLL_INTERVAL", "1h")],
    );
    api.wait_ready(&client).await;
    worker.wait_ready(&client).await;
    let (status, wf) = post(
        &client,
        &format!("{}/api/v1/workflows", api.url),
        &token,
        &chain("notify", 3, "1ms"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{wf}");
    let wf = wf["id"].as_str().unwrap().to_string();
    // Wait until the worker's startup claim and the claim its listener asks for once connected
    // have passed: from then on only a notification can wake it.
    eventually(
        "the worker to claim twice (at start and when its listener connected)",
        Duration::from_secs(30),
        &mut || {
            let req = client.get(format!("{}/metrics", worker.url)).send();
            async move {
                let text = req.await.ok()?.text().await.ok()?;
                (metric(&text, "maestro_workflow_claim_transactions_total") >= 2).then_some(())
            }
        },
    )
    .await;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let (status, run) = post(
            &client,
            &format!("{}/api/v1/workflows/{wf}/execute", api.url),
            &token,
            &json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{run}");
        runs.push(run["id"].as_str().unwrap().to_string());
    }
    eventually(
        &format!(
            "the engine node to be woken by the API node's NOTIFY and finish the runs (log: {})",
            worker.log.display()
        ),
        Duration::from_secs(10),
        &mut || all_succeeded(&client, &api.url, &token, &runs),
    )
    .await;
    api.kill();
    worker.kill();
}

//! The Redis Streams edge: a request added with `redis-cli XADD` is answered on the results
//! stream through the same service code as HTTP (needs MAESTRO_TEST_REDIS_URL; skipped without).

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::{create_sample, git_log, sample};
use crate::helpers::{TestApp, test_redis_url};

/// XADD through the redis-cli binary (as an operator would), or the client library when the
/// binary is not installed.
pub fn xadd(url: &str, stream: &str, fields: &[(&str, String)]) {
    let mut args: Vec<String> = vec![
        "-u".into(),
        url.into(),
        "XADD".into(),
        stream.into(),
        "*".into(),
    ];
    for (k, v) in fields {
        args.push(k.to_string());
        args.push(v.clone());
    }
    match Command::new("redis-cli").args(&args).output() {
        Ok(out) => assert!(
            out.status.success(),
            "redis-cli: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_connection().unwrap();
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let _: String = redis::cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg(&pairs)
                .query(&mut conn)
                .unwrap();
        }
    }
}

pub type Entry = HashMap<String, String>;

pub fn entries(app: &TestApp, stream: &str) -> Vec<Entry> {
    let mut conn = app.redis_conn().unwrap();
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    reply
        .ids
        .into_iter()
        .map(|id| {
            id.map
                .into_iter()
                .map(|(k, v)| (k, redis::from_redis_value::<String>(v).unwrap_or_default()))
                .collect()
        })
        .collect()
}

/// The result entry answering `request_id`, once it is there.
pub async fn result_for(app: &TestApp, request_id: &str) -> Entry {
    let stream = app.stream_name("templates:results");
    app.eventually(
        &format!("a result for {request_id}"),
        Duration::from_secs(20),
        || {
            let found = entries(app, &stream)
                .into_iter()
                .find(|e| e.get("request_id").map(String::as_str) == Some(request_id));
            async move { found }
        },
    )
    .await
}

#[tokio::test]
async fn stream_requests_get_results_through_the_service() {
    let Some(url) = test_redis_url() else {
        eprintln!("MAESTRO_TEST_REDIS_URL is not set; the stream edge is tested in CI with Redis");
        return;
    };
    let app = TestApp::spawn().await;
    let requests = app.stream_name("templates:requests");
    let (id, etag) = create_sample(&app, "streamed").await;

    // retrieve, as a viewer named by email in a tenant named by name.
    xadd(
        &url,
        &requests,
        &[
            ("request_id", "req-retrieve".into()),
            ("template_id", id.clone()),
            ("operation", "retrieve".into()),
            ("tenant_id", "acme".into()),
            ("user_id", app.viewer.email.clone()),
            ("parameters", "{}".into()),
            ("timestamp", "2026-11-22T12:00:00Z".into()),
        ],
    );
    let result = result_for(&app, "req-retrieve").await;
    assert_eq!(result["status"], "success", "{result:?}");
    assert_eq!(result["template_id"], id);
    let body: Value = serde_json::from_str(&result["result"]).unwrap();
    assert_eq!(body["current_commit"], etag.as_str());
    assert!(result["duration_ms"].parse::<u64>().is_ok());

    // create, as the editor by id: one commit authored by the editor.
    let mut create = sample("made-by-stream");
    create["manifest"]["description"] = json!("Created over Redis Streams");
    xadd(
        &url,
        &requests,
        &[
            ("request_id", "req-create".into()),
            ("template_id", String::new()),
            ("operation", "create".into()),
            ("tenant_id", app.editor.tenant_id.clone()),
            ("user_id", app.editor.id.clone()),
            ("parameters", create.to_string()),
            ("timestamp", "2026-11-22T12:00:01Z".into()),
        ],
    );
    let result = result_for(&app, "req-create").await;
    assert_eq!(result["status"], "success", "{result:?}");
    let created: Value = serde_json::from_str(&result["result"]).unwrap();
    let new_id = created["id"].as_str().unwrap();
    assert_eq!(result["template_id"], new_id);
    let (status, _) = app
        .get(
            &format!("/api/v1/templates/{new_id}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200);
    let log = git_log(&app, &app.editor.tenant_id);
    assert_eq!(
        (log[0].1.as_str(), log[0].2.as_str()),
        (
            app.editor.email.as_str(),
            "Create made-by-stream 1.0.0 (6 files)"
        )
    );

    // Refusals are answered (and acknowledged), not retried: unknown user, viewer deleting.
    xadd(
        &url,
        &requests,
        &[
            ("request_id", "req-nobody".into()),
            ("template_id", id.clone()),
            ("operation", "retrieve".into()),
            ("tenant_id", "acme".into()),
            ("user_id", "nobody@acme.test".into()),
            ("parameters", "{}".into()),
        ],
    );
    xadd(
        &url,
        &requests,
        &[
            ("request_id", "req-viewer-delete".into()),
            ("template_id", id.clone()),
            ("operation", "delete".into()),
            ("tenant_id", "acme".into()),
            ("user_id", app.viewer.id.clone()),
            ("parameters", "{}".into()),
        ],
    );
    xadd(
        &url,
        &requests,
        &[
            ("request_id", "req-other-tenant".into()),
            ("template_id", id.clone()),
            ("operation", "retrieve".into()),
            ("tenant_id", "globex".into()),
            ("user_id", app.other_admin.email.clone()),
            ("parameters", "{}".into()),
        ],
    );
    for (request, status) in [
        ("req-nobody", 403),
        ("req-viewer-delete", 403),
        ("req-other-tenant", 404),
    ] {
        let result = result_for(&app, request).await;
        assert_eq!(result["status"], "error", "{request}: {result:?}");
        let problem: Value = serde_json::from_str(&result["error"]).unwrap();
        assert_eq!(problem["status"], status, "{request}: {problem}");
    }
    let (status, _) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(status, 200, "the viewer's delete was refused");
    let mut conn = app.redis_conn().unwrap();
    let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
        .arg(&requests)
        .arg("maestro-template-workers")
        .query(&mut conn)
        .unwrap();
    assert_eq!(pending.count(), 0, "every request was acknowledged");

    // Views and instantiations are usage events.
    let (status, _) = app
        .post(
            &format!("/api/v1/templates/{id}/instantiate"),
            Some(&app.viewer.token),
            &json!({"format": "json"}),
        )
        .await;
    assert_eq!(status, 200);
    let usage = app.stream_name("templates:usage");
    app.eventually("usage events", Duration::from_secs(10), || {
        let events = entries(&app, &usage);
        let ok = events
            .iter()
            .any(|e| e.get("event").map(String::as_str) == Some("view"))
            && events.iter().any(|e| {
                e.get("event").map(String::as_str) == Some("instantiation")
                    && e.get("template_id") == Some(&id)
            });
        async move { ok.then_some(()) }
    })
    .await;
    app.shutdown().await;
}

/// Views are written coalesced: repeats of the same view within the window are one entry whose
/// `count` says how many. Whatever the timing, the counts add up to exactly the views made.
#[tokio::test]
async fn view_events_carry_counts_that_add_up_to_the_views() {
    if test_redis_url().is_none() {
        eprintln!("MAESTRO_TEST_REDIS_URL is not set; usage events are tested in CI with Redis");
        return;
    }
    let app = TestApp::spawn().await;
    let (id, _) = create_sample(&app, "viewed").await;
    let path = format!("/api/v1/templates/{id}");
    let views = futures::future::join_all((0..12).map(|_| app.get(&path, Some(&app.viewer.token))));
    for (status, _) in views.await {
        assert_eq!(status, 200);
    }
    let (status, _) = app.get(&path, Some(&app.editor.token)).await;
    assert_eq!(status, 200);

    let usage = app.stream_name("templates:usage");
    let counted = |events: &[Entry], user: &str| -> u64 {
        events
            .iter()
            .filter(|e| {
                e.get("event").map(String::as_str) == Some("view")
                    && e.get("template_id") == Some(&id)
                    && e.get("user_id").map(String::as_str) == Some(user)
            })
            .map(|e| e["count"].parse::<u64>().expect("a numeric count"))
            .sum()
    };
    app.eventually("all views counted", Duration::from_secs(10), || {
        let events = entries(&app, &usage);
        let done = counted(&events, &app.viewer.id) >= 12 && counted(&events, &app.editor.id) >= 1;
        async move { done.then_some(()) }
    })
    .await;
    let events = entries(&app, &usage);
    assert_eq!(counted(&events, &app.viewer.id), 12, "{events:?}");
    assert_eq!(counted(&events, &app.editor.id), 1, "{events:?}");
    for e in &events {
        assert!(
            chrono::DateTime::parse_from_rfc3339(&e["timestamp"]).is_ok(),
            "every entry is stamped: {e:?}"
        );
    }
    app.shutdown().await;
}

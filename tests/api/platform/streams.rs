//! The Redis Streams edge, against real Redis (skipped without `MAESTRO_TEST_REDIS_URL`).

use std::time::Duration;

use redis::Commands;

use crate::helpers::{TestApp, test_redis_url};
use crate::support::{GROUP, Recorder, STREAM, test_module};

fn skip() -> bool {
    if test_redis_url().is_none() {
        eprintln!("skipped: set MAESTRO_TEST_REDIS_URL to run the Redis Streams tests");
        return true;
    }
    false
}

fn pending_count(conn: &mut redis::Connection, stream: &str) -> usize {
    let reply: redis::streams::StreamPendingReply = conn.xpending(stream, GROUP).unwrap();
    reply.count()
}

#[tokio::test]
async fn a_message_added_with_xadd_is_handled_and_acknowledged() {
    if skip() {
        return;
    }
    let recorder = Recorder::default();
    let app = TestApp::builder()
        .module(test_module(recorder.clone()))
        .spawn()
        .await;
    let stream = app.stream_name(STREAM);
    let mut conn = app.redis_conn().unwrap();
    let id: String = conn
        .xadd(
            &stream,
            "*",
            &[("template_id", "t-1"), ("operation", "retrieve")],
        )
        .unwrap();

    app.eventually(
        "the handler to see the message",
        Duration::from_secs(10),
        || {
            let found = recorder.handled_ids().contains(&id);
            async move { found.then_some(()) }
        },
    )
    .await;
    app.eventually(
        "the message to be acknowledged",
        Duration::from_secs(5),
        || {
            let n = pending_count(&mut conn, &stream);
            async move { (n == 0).then_some(()) }
        },
    )
    .await;
    assert_eq!(recorder.handled_field("operation"), vec!["retrieve"]);
}

#[tokio::test]
async fn a_message_taken_by_a_consumer_that_died_before_acking_is_redelivered() {
    if skip() {
        return;
    }
    let recorder = Recorder::default();
    let app = TestApp::builder()
        .module(test_module(recorder.clone()))
        .with(|s| s.streams.claim_idle_ms = 500)
        .spawn()
        .await;
    let stream = app.stream_name(STREAM);
    let mut conn = app.redis_conn().unwrap();
    // Another consumer of the group takes the message and dies before acking. XADD and its
    // XREADGROUP run in one MULTI, so Maestro's consumer cannot read it first: it can only get
    // it by re-claiming it (XAUTOCLAIM) once it has been idle for claim_idle_ms.
    let (id, _read): (String, redis::Value) = redis::pipe()
        .atomic()
        .cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("payload")
        .arg("survives-a-crash")
        .cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("crashed-consumer")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut conn)
        .unwrap();

    app.eventually(
        "the re-claimed message to be handled",
        Duration::from_secs(15),
        || {
            let found = recorder.handled_ids().contains(&id);
            async move { found.then_some(()) }
        },
    )
    .await;
    app.eventually("no message left pending", Duration::from_secs(5), || {
        let n = pending_count(&mut conn, &stream);
        async move { (n == 0).then_some(()) }
    })
    .await;
    assert_eq!(recorder.handled_field("payload"), vec!["survives-a-crash"]);
}

#[tokio::test]
async fn a_message_whose_handler_keeps_failing_lands_in_the_dead_letter_stream() {
    if skip() {
        return;
    }
    let recorder = Recorder::default();
    let app = TestApp::builder()
        .module(test_module(recorder.clone()))
        .with(|s| {
            s.streams.claim_idle_ms = 300;
            s.streams.max_deliveries = 3;
        })
        .spawn()
        .await;
    let stream = app.stream_name(STREAM);
    let dead = format!("{stream}:dead");
    let mut conn = app.redis_conn().unwrap();
    let id: String = conn
        .xadd(&stream, "*", &[("fail", "always"), ("template_id", "t-9")])
        .unwrap();
    let ok_id: String = conn.xadd(&stream, "*", &[("template_id", "t-10")]).unwrap();

    let entries: redis::streams::StreamRangeReply = app
        .eventually("a dead letter", Duration::from_secs(20), || {
            let reply: redis::streams::StreamRangeReply = conn.xrange_all(&dead).unwrap();
            async move { (!reply.ids.is_empty()).then_some(reply) }
        })
        .await;
    assert_eq!(entries.ids.len(), 1);
    let entry = &entries.ids[0];
    let field = |name: &str| entry.get::<String>(name).unwrap_or_default();
    assert_eq!(field("_original_id"), id);
    assert_eq!(field("template_id"), "t-9", "original fields are kept");
    assert!(
        field("_error").contains("fail=always"),
        "the error is recorded"
    );
    assert_eq!(field("_deliveries"), "3");
    let attempts = recorder
        .attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| **a == id)
        .count();
    assert_eq!(attempts, 3, "delivered exactly max_deliveries times");
    assert_eq!(
        pending_count(&mut conn, &stream),
        0,
        "acked after dead-lettering"
    );
    assert!(
        recorder.handled_ids().contains(&ok_id),
        "other messages keep flowing"
    );

    // The dead-letter count shows up in /metrics (sampled every few seconds).
    app.eventually("dead-letter gauge", Duration::from_secs(10), || {
        let client = app.client.clone();
        let url = app.url("/metrics");
        async move {
            let text = client.get(url).send().await.ok()?.text().await.ok()?;
            text.lines()
                .any(|l| {
                    l.starts_with("maestro_stream_dead_letters{stream=\"testmod:requests\"} 1")
                })
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn cache_clear_removes_only_maestros_keys() {
    if skip() {
        return;
    }
    // Without the quality module: its background scoring is a later write (a key after the clear).
    let app = TestApp::builder()
        .with(|s| s.modules.quality = false)
        .spawn()
        .await;
    // Fill the cache: a write counts the tenant's generation in Redis.
    crate::templates::create_sample(&app, "cache-clear").await;
    let mut conn = app.redis_conn().unwrap();
    let foreign = format!("not-maestro-{}", uuid::Uuid::new_v4().simple());
    let _: () = conn.set(&foreign, "keep me").unwrap();
    let ours: Vec<String> = conn
        .keys(format!("{}:cache:*", app.settings.redis.key_prefix))
        .unwrap();
    assert!(!ours.is_empty(), "the cache holds Maestro keys");

    let (status, body) = app
        .post(
            "/api/v1/admin/cache/clear",
            Some(&app.admin.token),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["removed"].as_u64().unwrap() >= 1);
    // Only the record of the new epoch the clear announced (see docs/cache.md).
    let left: Vec<String> = conn
        .keys(format!("{}:cache:*", app.settings.redis.key_prefix))
        .unwrap();
    let epoch = format!("{}:cache:epoch", app.settings.redis.key_prefix);
    assert!(left.iter().all(|k| *k == epoch), "{left:?}");
    let kept: String = conn.get(&foreign).unwrap();
    assert_eq!(kept, "keep me");
    let _: () = conn.del(&foreign).unwrap();

    let (status, _) = app
        .post(
            "/api/v1/admin/cache/clear",
            Some(&app.viewer.token),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403);
}

//! The Redis Streams edge: how external systems talk to Maestro asynchronously. For each enabled
//! module's inbound stream, a consumer in the module's group reads with XREADGROUP, acknowledges
//! only after its handler succeeded, re-claims messages left pending by crashed consumers with
//! XAUTOCLAIM after `streams.claim_idle_ms`, and moves a message that failed
//! `streams.max_deliveries` times to `<stream>:dead` together with its last error. Outbound events
//! go out with XADD (length capped). Stream names are `<redis.key_prefix>:streams:<suffix>`, which
//! with the default prefix are exactly the seed names (`maestro:streams:templates:requests`).

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use redis::AsyncCommands;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamPendingReply, StreamReadOptions, StreamReadReply,
};
use tokio_util::sync::CancellationToken;

use crate::config::StreamSettings;
use crate::platform::http::error::{ApiError, FieldError};
use crate::platform::lock;
use crate::platform::redis::RedisHandle;

/// One message as a handler sees it.
#[derive(Debug, Clone)]
pub struct StreamMessage {
    /// Full stream name.
    pub stream: String,
    pub id: String,
    pub fields: BTreeMap<String, String>,
}

impl StreamMessage {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// A field without its surrounding white space; `None` when it is missing or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.field(name).map(str::trim).filter(|s| !s.is_empty())
    }

    /// The `request_id` a result answers to, as sent; the message id when there is none.
    pub fn request_id(&self) -> String {
        self.field("request_id")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(&self.id)
            .to_string()
    }

    /// A field holding JSON: `None` when it is missing or blank, a 422 naming it when it is
    /// not a `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.text(name) {
            None => Ok(None),
            Some(raw) => serde_json::from_str(raw)
                .map(Some)
                .map_err(|e| malformed(name, format!("is not a valid value: {e}"))),
        }
    }
}

/// The 422 a stream handler answers for a message whose `field` cannot be used.
pub fn malformed(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(
        "The stream message is malformed.",
        vec![FieldError::new(field, message)],
    )
}

/// A failure as the `error` field of a result event: the problem+json document as text.
pub fn problem_text(e: &ApiError) -> String {
    serde_json::to_string(&e.to_problem()).unwrap_or_else(|_| e.detail.clone())
}

/// Who an inbound stream message acts as: its `tenant_id` and `user_id` must name a tenant and one
/// of its editors or admins (by id). Anything else is a 403 that does not say which part is
/// wrong; an unavailable user store stays a 5xx (the edge redelivers).
pub async fn stream_actor(
    auth: &crate::platform::auth::AuthService,
    message: &StreamMessage,
) -> Result<crate::platform::auth::Principal, ApiError> {
    use crate::platform::auth::{Role, TenantId};
    let unknown = || {
        ApiError::forbidden(
            "tenant_id and user_id must name a tenant and one of its editors or admins (by id).",
        )
    };
    let (Some(tenant), Some(user_id)) = (message.text("tenant_id"), message.text("user_id")) else {
        return Err(unknown());
    };
    let user = auth
        .get_user(&TenantId(tenant.to_string()), user_id)
        .await
        .map_err(|e| {
            if e.status.is_server_error() {
                e
            } else {
                unknown()
            }
        })?;
    if user.role < Role::Editor {
        return Err(unknown());
    }
    Ok(user.into_principal())
}

pub type StreamHandlerFn =
    Arc<dyn Fn(StreamMessage) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// A module's consumer for one inbound stream.
#[derive(Clone)]
pub struct StreamHandler {
    /// Stream name after the `<prefix>:streams:` part, e.g. `templates:requests`.
    pub stream: &'static str,
    /// Consumer group, e.g. `maestro-template-workers`.
    pub group: &'static str,
    pub handler: StreamHandlerFn,
}

impl StreamHandler {
    /// A consumer calling `handle` with its own clone of `state` (the module's services) for
    /// each message.
    pub fn new<S, F, Fut>(stream: &'static str, group: &'static str, state: S, handle: F) -> Self
    where
        S: Clone + Send + Sync + 'static,
        F: Fn(S, StreamMessage) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        StreamHandler {
            stream,
            group,
            handler: Arc::new(move |message| Box::pin(handle(state.clone(), message))),
        }
    }
}

/// Distinct events [`Edge::publish_buffered`] holds at most before dropping (and counting) new ones.
pub const EVENT_BUFFER: usize = 50_000;
/// Distinct events written in one round trip. A window of reads spread over a catalog holds an
/// event per template viewed (10,000 and more); written as one pipeline they outlasted
/// `redis.command_timeout_ms` on a saturated host, so the window was lost and the timeout counted
/// against Redis, which then sent reads to the database for a while.
const WRITE_CHUNK: usize = 500;

/// Events waiting for [`Edge::flush_task`]: identical events queued within one window are one
/// entry with a count. A repeat is found by comparing the caller's borrowed fields with the
/// thread's last event (hashing them only when it differs), so on the read path (a view of a hot
/// template) it allocates nothing. The waiting events are split into shards and a thread keeps to
/// one, so the request threads neither wait for one lock nor pass its cache line between cores on
/// every view; [`EventBuffer::take`] merges the shards.
struct EventBuffer {
    shards: Box<[Shard]>,
    /// Distinct events waiting across the shards, for the [`EVENT_BUFFER`] cap.
    distinct: AtomicUsize,
    hasher: hashbrown::DefaultHashBuilder,
    /// Woken when a shard stops being empty.
    arrived: tokio::sync::Notify,
}

/// How many shards: more than the request threads of a typical replica, so that two rarely share.
const SHARDS: usize = 16;

/// One shard, alone on its cache lines (two neighbouring locks would otherwise share one).
#[repr(align(128))]
#[derive(Default)]
struct Shard(std::sync::Mutex<ShardEvents>);

#[derive(Default)]
struct ShardEvents {
    waiting: Waiting,
    /// The hash of the event pushed last: a thread usually repeats it (a hot template's views),
    /// and then finds it without hashing the fields again.
    last: Option<u64>,
}

type Waiting = hashbrown::HashTable<Pending>;

/// One distinct waiting event.
struct Pending {
    hash: u64,
    stream: &'static str,
    /// Without the timestamp, which is stamped at the first occurrence.
    fields: Vec<(&'static str, String)>,
    count: u64,
    first_seen: chrono::DateTime<chrono::Utc>,
}

impl Pending {
    fn is(&self, stream: &str, fields: &[(&'static str, &str)]) -> bool {
        self.stream == stream
            && self.fields.len() == fields.len()
            && self
                .fields
                .iter()
                .zip(fields)
                .all(|((k, v), (key, value))| k == key && v == value)
    }
}

/// What [`EventBuffer::push`] did with an event.
#[derive(Debug, PartialEq, Eq)]
enum Pushed {
    /// The first event waiting in its shard: the flush task needs waking.
    First,
    /// Added, or counted on an identical waiting one.
    Queued,
    /// [`EVENT_BUFFER`] distinct events were already waiting.
    Dropped,
}

impl Default for EventBuffer {
    fn default() -> Self {
        EventBuffer {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            distinct: AtomicUsize::new(0),
            hasher: hashbrown::DefaultHashBuilder::default(),
            arrived: tokio::sync::Notify::new(),
        }
    }
}

impl EventBuffer {
    fn push(&self, stream: &'static str, fields: &[(&'static str, &str)]) -> Pushed {
        // Threads are dealt shards in turn when they first push.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        self.push_to(SHARD.with(|at| *at), stream, fields)
    }

    fn push_to(
        &self,
        shard: usize,
        stream: &'static str,
        fields: &[(&'static str, &str)],
    ) -> Pushed {
        let mut shard = lock(&self.shards[shard % self.shards.len()].0);
        let ShardEvents {
            waiting: pending,
            last,
        } = &mut *shard;
        if let Some(repeat) = last.and_then(|h| pending.find_mut(h, |p| p.is(stream, fields))) {
            repeat.count += 1;
            return Pushed::Queued;
        }
        let hash = self.hasher.hash_one((stream, fields));
        let first = pending.is_empty();
        if let Some(waiting) = pending.find_mut(hash, |p| p.is(stream, fields)) {
            waiting.count += 1;
        } else if self.distinct.fetch_add(1, Ordering::Relaxed) >= EVENT_BUFFER {
            self.distinct.fetch_sub(1, Ordering::Relaxed);
            return Pushed::Dropped;
        } else {
            let fields = fields.iter().map(|(k, v)| (*k, v.to_string())).collect();
            let event = Pending {
                hash,
                stream,
                fields,
                count: 1,
                first_seen: chrono::Utc::now(),
            };
            pending.insert_unique(hash, event, |p| p.hash);
        }
        *last = Some(hash);
        if first { Pushed::First } else { Pushed::Queued }
    }

    /// Empties every shard; an event waiting in several shards (viewed from several threads)
    /// comes out once, with the counts added and the earliest first occurrence.
    fn take(&self) -> Waiting {
        let mut merged = Waiting::default();
        for shard in &self.shards {
            let taken = {
                let mut shard = lock(&shard.0);
                shard.last = None;
                std::mem::take(&mut shard.waiting)
            };
            self.distinct.fetch_sub(taken.len(), Ordering::Relaxed);
            for event in taken {
                let same_event = |p: &Pending| p.stream == event.stream && p.fields == event.fields;
                match merged.find_mut(event.hash, same_event) {
                    Some(same) => {
                        same.count += event.count;
                        same.first_seen = same.first_seen.min(event.first_seen);
                    }
                    None => {
                        merged.insert_unique(event.hash, event, |p| p.hash);
                    }
                }
            }
        }
        merged
    }
}

#[derive(Clone)]
pub struct Edge {
    redis: RedisHandle,
    settings: StreamSettings,
    consumer: String,
    buffer: Arc<EventBuffer>,
}

impl Edge {
    pub fn new(redis: RedisHandle, settings: StreamSettings) -> Edge {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "maestro".to_string());
        let short = uuid::Uuid::new_v4().simple().to_string();
        Edge {
            redis,
            settings,
            consumer: format!("{host}-{}-{}", std::process::id(), &short[..8]),
            buffer: Arc::default(),
        }
    }

    /// Queues an outbound event for [`Edge::flush_task`]; the caller never waits for Redis.
    /// Repeats of the same fields within `streams.flush_interval` are written once, with `count`
    /// (how many) and `timestamp` (the first) added. When [`EVENT_BUFFER`] distinct events are
    /// waiting (Redis slow or away) a new one is dropped and counted in
    /// `maestro_stream_events_dropped_total`.
    pub fn publish_buffered(&self, stream: &'static str, fields: &[(&'static str, &str)]) {
        match self.buffer.push(stream, fields) {
            Pushed::First => self.buffer.arrived.notify_one(),
            Pushed::Queued => {}
            Pushed::Dropped => {
                metrics::counter!("maestro_stream_events_dropped_total", "stream" => stream)
                    .increment(1);
            }
        }
    }

    /// Writes buffered events until `cancel` fires, then what is still queued.
    pub fn flush_task(&self, cancel: CancellationToken) -> BoxFuture<'static, anyhow::Result<()>> {
        let edge = self.clone();
        Box::pin(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = edge.buffer.arrived.notified() => {}
                }
                // Let the burst's repeats gather; an ending process writes at once. Reads spread
                // over a large catalog repeat each template only a few times a second, so a short
                // window is nearly an XADD per view, served on the cores the reads need.
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(edge.settings.flush_interval.get()) => {}
                }
                edge.write_pending().await;
                if cancel.is_cancelled() {
                    break;
                }
            }
            edge.write_pending().await;
            Ok(())
        })
    }

    /// Writes everything waiting as pipelined XADDs, [`WRITE_CHUNK`] to a round trip (each
    /// stream capped at about `streams.max_len`).
    async fn write_pending(&self) {
        let pending: Vec<Pending> = self.buffer.take().into_iter().collect();
        let mut failed: Option<(usize, anyhow::Error)> = None;
        for chunk in pending.chunks(WRITE_CHUNK) {
            if let Err(error) = self.write_chunk(chunk).await {
                let (chunks, _) = failed.get_or_insert((0, error));
                *chunks += 1;
            }
        }
        // Once per flush, not per chunk: with Redis away every chunk fails (at once).
        if let Some((chunks, error)) = failed {
            tracing::warn!(
                error = %format!("{error:#}"),
                failed_chunks = chunks,
                "buffered stream events not written"
            );
        }
    }

    async fn write_chunk(&self, chunk: &[Pending]) -> anyhow::Result<()> {
        let mut pipe = redis::pipe();
        // Per stream: its full name (built once per chunk, not per event) and the events' count.
        let mut per_stream: BTreeMap<&'static str, (String, u64)> = BTreeMap::new();
        for p in chunk {
            let (name, count) = per_stream
                .entry(p.stream)
                .or_insert_with(|| (self.stream_name(p.stream), 0));
            *count += p.count;
            let cmd = pipe
                .cmd("XADD")
                .arg(name.as_str())
                .arg("MAXLEN")
                .arg("~")
                .arg(self.settings.max_len)
                .arg("*");
            for (k, v) in &p.fields {
                cmd.arg(*k).arg(v);
            }
            cmd.arg("count")
                .arg(p.count)
                .arg("timestamp")
                .arg(p.first_seen.to_rfc3339());
            cmd.ignore();
        }
        let result = self
            .redis
            .run(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
            .await;
        let outcome = if result.is_ok() {
            "published"
        } else {
            "failed"
        };
        for (stream, (_, n)) in per_stream {
            metrics::counter!("maestro_stream_published_total", "stream" => stream, "outcome" => outcome)
                .increment(n);
        }
        result
    }

    pub fn consumer_name(&self) -> &str {
        &self.consumer
    }

    /// `<prefix>:streams:<suffix>`.
    pub fn stream_name(&self, suffix: &str) -> String {
        self.redis.key(&format!("streams:{suffix}"))
    }

    /// XADD an outbound event (stream length capped at about `streams.max_len`). Failures are
    /// returned for the caller to log; they never fail the request that caused the event.
    pub async fn publish(&self, suffix: &str, fields: &[(&str, String)]) -> anyhow::Result<String> {
        let stream = self.stream_name(suffix);
        let max_len = self.settings.max_len;
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let result = self
            .redis
            .run(|mut conn| async move {
                conn.xadd_maxlen::<_, _, _, _, String>(
                    &stream,
                    redis::streams::StreamMaxlen::Approx(max_len),
                    "*",
                    &fields,
                )
                .await
            })
            .await;
        let outcome = if result.is_ok() {
            "published"
        } else {
            "failed"
        };
        metrics::counter!("maestro_stream_published_total", "stream" => suffix.to_string(), "outcome" => outcome)
            .increment(1);
        result
    }

    /// Publishes and logs a failure (for events whose loss must not fail the caller).
    pub async fn publish_or_log(&self, suffix: &str, fields: &[(&str, String)]) {
        if let Err(error) = self.publish(suffix, fields).await {
            tracing::warn!(stream = suffix, error = %format!("{error:#}"), "could not publish stream event");
        }
    }

    /// The consumer loop for one handler; runs until `cancel` fires, reconnecting with backoff
    /// while Redis is away.
    pub fn consumer_loop(
        &self,
        handler: StreamHandler,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, anyhow::Result<()>> {
        let edge = self.clone();
        Box::pin(async move {
            let stream = edge.stream_name(handler.stream);
            let mut backoff = Duration::from_millis(100);
            while !cancel.is_cancelled() {
                match edge.consume(&stream, &handler, &cancel).await {
                    Ok(()) => break,
                    Err(error) => {
                        let unreachable = error
                            .downcast_ref::<redis::RedisError>()
                            .is_none_or(crate::platform::redis::is_transport_error);
                        if unreachable {
                            edge.redis.mark_down(&format!("{error:#}"));
                        }
                        tracing::warn!(%stream, error = %format!("{error:#}"), retry_in_ms = backoff.as_millis() as u64, "stream consumer lost Redis");
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            edge.leave_group(&stream, handler.group).await;
            Ok(())
        })
    }

    /// A dedicated connection: a blocking XREADGROUP must not share the pool's short timeout.
    async fn connect(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.redis.url())?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(
                Duration::from_millis(self.settings.block_ms) + Duration::from_secs(2),
            ));
        Ok(client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    async fn consume(
        &self,
        stream: &str,
        handler: &StreamHandler,
        cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut conn = self.connect().await?;
        ensure_group(&mut conn, stream, handler.group).await?;
        self.redis.mark_up();
        tracing::info!(%stream, group = handler.group, consumer = %self.consumer, "stream consumer started");

        let claim_every = Duration::from_millis((self.settings.claim_idle_ms / 2).max(100));
        let mut last_claim: Option<Instant> = None;
        let read_opts = StreamReadOptions::default()
            .group(handler.group, &self.consumer)
            .count(self.settings.batch_size)
            .block(self.settings.block_ms as usize);
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            if last_claim.is_none_or(|at| at.elapsed() >= claim_every) {
                last_claim = Some(Instant::now());
                let mut start = "0-0".to_string();
                // Walk the whole pending list once per pass, a batch at a time.
                loop {
                    let reply: StreamAutoClaimReply = conn
                        .xautoclaim_options(
                            stream,
                            handler.group,
                            &self.consumer,
                            self.settings.claim_idle_ms,
                            &start,
                            StreamAutoClaimOptions::default().count(self.settings.batch_size),
                        )
                        .await?;
                    for message in reply.claimed {
                        tracing::info!(%stream, id = %message.id, "re-claimed a pending message");
                        self.process(&mut conn, stream, handler, message).await?;
                    }
                    if reply.next_stream_id == "0-0" || cancel.is_cancelled() {
                        break;
                    }
                    start = reply.next_stream_id;
                }
            }
            let streams = [stream];
            let reply: Option<StreamReadReply> = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                r = conn.xread_options(&streams, &[">"], &read_opts) => r?,
            };
            for key in reply.map(|r| r.keys).unwrap_or_default() {
                for message in key.ids {
                    self.process(&mut conn, stream, handler, message).await?;
                }
            }
        }
    }

    async fn process(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        stream: &str,
        handler: &StreamHandler,
        raw: StreamId,
    ) -> anyhow::Result<()> {
        let fields: BTreeMap<String, String> = raw
            .map
            .iter()
            .map(|(k, v)| {
                let text =
                    redis::from_redis_value_ref::<String>(v).unwrap_or_else(|_| format!("{v:?}"));
                (k.clone(), text)
            })
            .collect();
        let message = StreamMessage {
            stream: stream.to_string(),
            id: raw.id.clone(),
            fields: fields.clone(),
        };
        let budget = Duration::from_millis(self.settings.claim_idle_ms.max(1000));
        let outcome = match tokio::time::timeout(budget, (handler.handler)(message)).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!(
                "handler did not finish within {} ms",
                budget.as_millis()
            )),
        };
        let label = handler.stream.to_string();
        match outcome {
            Ok(()) => {
                let _: i64 = conn.xack(stream, handler.group, &[&raw.id]).await?;
                metrics::counter!("maestro_stream_messages_total", "stream" => label, "outcome" => "acked").increment(1);
            }
            Err(error) => {
                let error = format!("{error:#}");
                let pending: StreamPendingCountReply = conn
                    .xpending_count(stream, handler.group, &raw.id, &raw.id, 1)
                    .await?;
                let deliveries = pending
                    .ids
                    .first()
                    .map(|p| p.times_delivered as u64)
                    .unwrap_or(1);
                if deliveries >= self.settings.max_deliveries {
                    let dead = format!("{stream}:dead");
                    let mut entry: Vec<(String, String)> = fields.into_iter().collect();
                    entry.push(("_original_id".into(), raw.id.clone()));
                    entry.push(("_group".into(), handler.group.to_string()));
                    entry.push(("_error".into(), error.clone()));
                    entry.push(("_deliveries".into(), deliveries.to_string()));
                    entry.push(("_failed_at".into(), chrono::Utc::now().to_rfc3339()));
                    redis::pipe()
                        .atomic()
                        .xadd(&dead, "*", &entry)
                        .ignore()
                        .xack(stream, handler.group, &[&raw.id])
                        .ignore()
                        .query_async::<()>(conn)
                        .await?;
                    metrics::counter!("maestro_stream_messages_total", "stream" => label, "outcome" => "dead_lettered").increment(1);
                    tracing::warn!(%stream, id = %raw.id, deliveries, %error, "message moved to the dead-letter stream");
                } else {
                    metrics::counter!("maestro_stream_messages_total", "stream" => label, "outcome" => "failed").increment(1);
                    tracing::warn!(%stream, id = %raw.id, deliveries, %error, "stream handler failed; the message will be retried");
                }
            }
        }
        Ok(())
    }

    /// Removes this consumer from the group on shutdown when it holds no pending messages, so
    /// restarts do not pile up dead consumer names.
    async fn leave_group(&self, stream: &str, group: &str) {
        let Ok(mut conn) = self.connect().await else {
            return;
        };
        let pending: redis::RedisResult<StreamPendingCountReply> = redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .arg("-")
            .arg("+")
            .arg(1)
            .arg(&self.consumer)
            .query_async(&mut conn)
            .await;
        if matches!(pending, Ok(p) if p.ids.is_empty()) {
            let _: redis::RedisResult<i64> =
                conn.xgroup_delconsumer(stream, group, &self.consumer).await;
        }
    }

    /// Updates `maestro_stream_pending` and `maestro_stream_dead_letters` for these handlers.
    pub async fn sample_metrics(&self, handlers: &[(String, &'static str, &'static str)]) {
        for (stream, suffix, group) in handlers {
            let (stream_c, group_c) = (stream.clone(), *group);
            let pending = self
                .redis
                .run(|mut conn| async move {
                    conn.xpending::<_, _, StreamPendingReply>(&stream_c, group_c)
                        .await
                })
                .await;
            if let Ok(reply) = pending {
                metrics::gauge!("maestro_stream_pending", "stream" => suffix.to_string())
                    .set(reply.count() as f64);
            }
            let dead = format!("{stream}:dead");
            let dead_len = self
                .redis
                .run(|mut conn| async move { conn.xlen::<_, u64>(&dead).await })
                .await;
            if let Ok(len) = dead_len {
                metrics::gauge!("maestro_stream_dead_letters", "stream" => suffix.to_string())
                    .set(len as f64);
            }
        }
    }
}

/// XGROUP CREATE … 0 MKSTREAM: a new group starts at the beginning, so messages added before
/// Maestro first started are handled too. An existing group is fine.
async fn ensure_group(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    group: &str,
) -> anyhow::Result<()> {
    let created: redis::RedisResult<()> = conn.xgroup_create_mkstream(stream, group, "0").await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(user: &str) -> [(&'static str, &str); 2] {
        [("event", "view"), ("user_id", user)]
    }

    fn count(taken: &Waiting, stream: &str, user: &str) -> u64 {
        let matching: Vec<&Pending> = taken.iter().filter(|p| p.is(stream, &view(user))).collect();
        assert!(matching.len() <= 1, "one entry per distinct event");
        matching.first().map_or(0, |p| p.count)
    }

    #[test]
    fn identical_events_wait_as_one_entry_with_a_count() {
        let buffer = EventBuffer::default();
        assert_eq!(buffer.push("templates:usage", &view("ann")), Pushed::First);
        assert_eq!(buffer.push("templates:usage", &view("ann")), Pushed::Queued);
        assert_eq!(buffer.push("templates:usage", &view("ann")), Pushed::Queued);
        // Same fields on another stream, right after them, are another event.
        assert_eq!(buffer.push("other", &view("ann")), Pushed::Queued);
        assert_eq!(buffer.push("templates:usage", &view("bob")), Pushed::Queued);
        // A field more is another event too.
        let more = [("event", "view"), ("user_id", "ann"), ("detail", "{}")];
        assert_eq!(buffer.push("templates:usage", &more), Pushed::Queued);
        // Repeats of an earlier event (not the last one) count on it too.
        assert_eq!(buffer.push("templates:usage", &view("ann")), Pushed::Queued);
        assert_eq!(buffer.push("templates:usage", &view("bob")), Pushed::Queued);

        let taken = buffer.take();
        assert_eq!(taken.len(), 4);
        assert_eq!(count(&taken, "templates:usage", "ann"), 4);
        assert_eq!(count(&taken, "templates:usage", "bob"), 2);
        assert_eq!(count(&taken, "other", "ann"), 1);
        // Taking empties the buffer: the next event wakes the flush task again.
        assert_eq!(buffer.push("templates:usage", &view("ann")), Pushed::First);
    }

    #[test]
    fn an_event_waiting_in_several_shards_is_taken_once_with_the_counts_added() {
        let buffer = EventBuffer::default();
        let push = |shard, user| buffer.push_to(shard, "templates:usage", &view(user));
        assert_eq!(push(0, "ann"), Pushed::First);
        assert_eq!(push(0, "ann"), Pushed::Queued);
        // Another thread's shard: empty until now, so it wakes the flush task too.
        assert_eq!(push(1, "ann"), Pushed::First);
        assert_eq!(push(1, "bob"), Pushed::Queued);

        let taken = buffer.take();
        assert_eq!(taken.len(), 2);
        assert_eq!(count(&taken, "templates:usage", "ann"), 3);
        assert_eq!(count(&taken, "templates:usage", "bob"), 1);
        assert!(buffer.take().is_empty());
    }

    #[test]
    fn a_full_buffer_drops_new_events_but_still_counts_waiting_ones() {
        let buffer = EventBuffer::default();
        // The cap counts the events of every shard together.
        for i in 0..EVENT_BUFFER {
            buffer.push_to(i, "templates:usage", &view(&i.to_string()));
        }
        assert_eq!(
            buffer.push("templates:usage", &view("late")),
            Pushed::Dropped
        );
        // A repeat of a waiting event is still counted (it waits in shard 0).
        assert_eq!(
            buffer.push_to(0, "templates:usage", &view("0")),
            Pushed::Queued
        );
        let taken = buffer.take();
        assert_eq!(taken.len(), EVENT_BUFFER);
        assert_eq!(count(&taken, "templates:usage", "0"), 2);
        assert_eq!(count(&taken, "templates:usage", "late"), 0);
    }
}

//! The invalidation channel (with Redis): each replica's subscription to `<prefix>:cache:events`,
//! the PING that proves it, and what a replica keeps of its in-process state when it
//! (re)subscribes.
//!
//! A subscription that was lost and is back costs nothing when nothing was missed: right after
//! subscribing, one Lua call reads the Redis process's run id, the recorded epoch (with the run
//! id it was announced on), the generation of every tenant this replica knows and the eviction
//! counter of every identity topic, and publishes a marker on the channel. What arrives before
//! the marker was published before those reads, so once the marker is back the replica compares:
//!
//! - Redis is another process than the one the epoch was announced on (restarted, maybe from a
//!   stale dump; failed over), the epoch key is gone (flushed) or holds another epoch (one was
//!   announced while this replica was away), or an invalidation of this replica could not be
//!   published: a new epoch for every replica, as before — L1, generations and identities go.
//! - Otherwise only what moved goes: a tenant whose generation counter is not the one this
//!   replica knows gets the new one (its old L1 entries are never read again), and a topic whose
//!   eviction counter is not the count of evictions this replica applied drops all its
//!   identities. Everything else stays.
//!
//! The subscription runs on its own thread and runtime, so request handling can never delay its
//! PING or the messages behind it. A PING answered late only delays the proof (in-process entries
//! older than `cache.local_ttl` are not served meanwhile); the subscription is given up only when
//! the connection closes or a PING goes unanswered for [`PATIENCE`].

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{Cache, Generation, random_nonzero};
use crate::platform::redis::RedisHandle;
use std::sync::atomic::Ordering;

/// How often the subscription is checked with a PING (a hung Redis does not close connections).
/// The proof of the channel is as old as the last answered PING was when sent, so after a stall
/// of Redis it is the stall plus at most this: short, so a stall shorter than `cache.local_ttl`
/// (seconds-long ones were seen on a saturated two-core host) does not cost L1 its older entries.
const HEARTBEAT: Duration = Duration::from_millis(250);
/// PINGs sent and not yet answered, at most: one per [`HEARTBEAT`] for [`PATIENCE`].
const PINGS_IN_FLIGHT: usize = (PATIENCE.as_millis() / HEARTBEAT.as_millis()) as usize;
/// How long an unanswered PING is waited for before the subscription is given up and made
/// again. Waiting costs nothing but the proof (see the module docs); under CPU saturation a PING
/// can take seconds.
const PATIENCE: Duration = Duration::from_secs(5);
/// Longest wait between attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// KEYS[1]: the epoch key; ARGV: channel, epoch (hex). Records the epoch with the run id of the
/// Redis process it is announced on, and publishes it.
const ANNOUNCE: &str = "local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') \
    redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. run) \
    return redis.call('PUBLISH', ARGV[1], 'epoch ' .. ARGV[2])";

/// KEYS: the keys to read; ARGV: channel, marker. Returns the run id, then each key's value
/// (nil when absent), and publishes the marker after reading them.
const CHECK: &str = "local out = {string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')} \
    for i, key in ipairs(KEYS) do out[i + 1] = redis.call('GET', key) end \
    redis.call('PUBLISH', ARGV[1], ARGV[2]) \
    return out";

/// KEYS[1]: a generation's counter; ARGV: channel, message. Announces the message with the new
/// count appended.
pub(super) const BUMP: &str = "local n = redis.call('INCR', KEYS[1]) \
    redis.call('PUBLISH', ARGV[1], ARGV[2] .. n) return n";

/// KEYS[1]: the topic's eviction counter; ARGV: channel, message.
pub(super) const EVICT: &str = "redis.call('INCR', KEYS[1]) \
    return redis.call('PUBLISH', ARGV[1], ARGV[2])";

/// What the check after (re)subscribing decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// First subscription of this process on an epoch it could join.
    Joined,
    /// In-process state kept, except the tenants and topics that moved.
    Kept,
    /// A new epoch for every replica.
    NewEpoch,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Joined => "joined",
            Outcome::Kept => "kept",
            Outcome::NewEpoch => "new_epoch",
        }
    }
}

type PingAnswer = redis::RedisResult<redis::Value>;

enum Event {
    Message(Option<redis::Msg>),
    Beat,
    /// A PING's answer, with the moment it was sent; `None` when none came within [`PATIENCE`].
    Pong(Instant, Option<PingAnswer>),
}

impl Cache {
    pub(super) fn epoch_key(handle: &RedisHandle) -> String {
        Self::redis_key(handle, "epoch")
    }

    pub(super) fn evictions_key(handle: &RedisHandle, topic: &str) -> String {
        Self::redis_key(handle, &format!("evicts:{topic}"))
    }

    /// The command that announces `epoch` (see [`ANNOUNCE`]).
    pub(super) fn announce_cmd(handle: &RedisHandle, epoch: u64) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ANNOUNCE)
            .arg(1)
            .arg(Self::epoch_key(handle))
            .arg(Self::channel(handle))
            .arg(format!("{epoch:x}"));
        cmd
    }

    pub(super) fn on_message(&self, payload: &str) {
        let mut parts = payload.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("epoch"), Some(raw), None) => {
                if let Ok(epoch) = u64::from_str_radix(raw, 16)
                    && epoch != self.inner.epoch.load(Ordering::Acquire)
                {
                    self.adopt_epoch(epoch);
                }
            }
            (Some("gen"), Some(name), Some(raw)) => {
                // `gen <namespace>:<tenant> <counter>`
                let Ok(n) = raw.parse::<u64>() else {
                    return;
                };
                let name = name.to_string();
                let mut map = self.write_generations();
                match map.get_mut(&name) {
                    Some(g) if n > g.shared => {
                        g.shared = n;
                        g.local = None;
                        g.checked = Instant::now();
                    }
                    // Not newer than what is known (a counter restored from an older dump):
                    // private keys until the next check, never a possibly used generation.
                    Some(g) => g.local = Some(random_nonzero()),
                    // Recorded even when unknown here, so a lookup racing this message cannot
                    // settle on an older counter.
                    None => {
                        map.insert(
                            name,
                            Generation {
                                shared: n,
                                local: None,
                                checked: Instant::now(),
                            },
                        );
                    }
                }
            }
            (Some("evict"), Some(topic), Some(id)) => {
                self.run_evictors(Some(topic), Some(id));
                if let Some(n) = self.lock_evictions().get_mut(topic) {
                    *n += 1;
                }
            }
            (Some("mark"), Some(_), None) => {}
            _ => tracing::debug!(payload, "unknown cache event ignored"),
        }
    }

    /// One item from the subscription stream; `None` means the connection closed.
    fn on_delivery(&self, message: Option<redis::Msg>) -> anyhow::Result<()> {
        let Some(message) = message else {
            anyhow::bail!("the subscription connection closed");
        };
        if let Ok(payload) = message.get_payload::<String>() {
            self.on_message(&payload);
        }
        Ok(())
    }

    /// With Redis: keeps this replica subscribed to the invalidation channel (see the module
    /// docs), on a thread of its own; returns when `cancel` fires. Without Redis: returns at once.
    pub fn sync_task(&self, cancel: CancellationToken) -> BoxFuture<'static, anyhow::Result<()>> {
        let cache = self.clone();
        Box::pin(async move {
            let Some(handle) = cache.inner.redis.clone() else {
                return Ok(());
            };
            // Not on the server's runtimes: under saturation a task there waits behind request
            // handling, and a late PING once cost every replica its whole L1.
            let (done, outcome) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("cache-sync".into())
                .spawn(move || {
                    let result = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(anyhow::Error::from)
                        .and_then(|rt| rt.block_on(cache.keep_in_sync(&handle, cancel)));
                    let _ = done.send(result);
                })?;
            outcome.await.unwrap_or(Ok(()))
        })
    }

    async fn keep_in_sync(
        &self,
        handle: &RedisHandle,
        cancel: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut backoff = Duration::from_millis(100);
        while !cancel.is_cancelled() {
            let outcome = self.subscribed(handle, &cancel, &mut backoff).await;
            self.inner.proven_at_ms.store(0, Ordering::Release);
            if self.inner.synced.swap(false, Ordering::AcqRel) {
                // `{:#}`: the error's chain, without the backtrace anyhow's Debug adds.
                let error = outcome.as_ref().err().map(|e| format!("{e:#}"));
                tracing::warn!(error = ?error, "cache invalidation channel lost; in-process entries older than cache.local_ttl are not served until it is back");
                metrics::counter!("maestro_cache_channel_lost_total").increment(1);
            }
            if outcome.is_ok() {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        Ok(())
    }

    /// One subscription: Ok when cancelled, Err when the connection failed.
    async fn subscribed(
        &self,
        handle: &RedisHandle,
        cancel: &CancellationToken,
        backoff: &mut Duration,
    ) -> anyhow::Result<()> {
        let limit = handle.command_timeout();
        let client = redis::Client::open(handle.url())?;
        let pubsub = tokio::time::timeout(limit, client.get_async_pubsub()).await??;
        let (mut sink, mut stream) = pubsub.split();
        tokio::time::timeout(limit, sink.subscribe(Self::channel(handle))).await??;
        // Its own connection for the check and announcements: the pool's breaker may be open
        // under load, and the channel must not depend on it.
        let mut control =
            tokio::time::timeout(limit, client.get_multiplexed_async_connection()).await??;
        let outcome = self
            .catch_up(handle, &mut control, &mut stream, limit)
            .await?;
        metrics::counter!("maestro_cache_channel_syncs_total", "outcome" => outcome.label())
            .increment(1);
        tracing::info!(
            outcome = outcome.label(),
            "cache invalidation channel in sync; Redis tier in use"
        );
        *backoff = Duration::from_millis(100);
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Answered in the order sent; each gives up after `PATIENCE`.
        let mut pings: FuturesOrdered<BoxFuture<'static, (Instant, Option<PingAnswer>)>> =
            FuturesOrdered::new();
        loop {
            let event = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                message = stream.next() => Event::Message(message),
                _ = beat.tick(), if pings.len() < PINGS_IN_FLIGHT => Event::Beat,
                Some((sent, answer)) = pings.next(), if !pings.is_empty() => Event::Pong(sent, answer),
            };
            match event {
                Event::Message(message) => self.on_delivery(message)?,
                Event::Beat => {
                    let mut sink = sink.clone();
                    let sent = Instant::now();
                    let answer = async move {
                        let answer = tokio::time::timeout(PATIENCE, sink.ping::<redis::Value>());
                        (sent, answer.await.ok())
                    };
                    pings.push_back(answer.boxed());
                }
                Event::Pong(sent, answer) => {
                    let Some(answer) = answer else {
                        anyhow::bail!(
                            "Redis did not answer the subscription's PING within {} s",
                            PATIENCE.as_secs()
                        );
                    };
                    answer?;
                    if sent.elapsed() > limit {
                        metrics::counter!("maestro_cache_late_pings_total").increment(1);
                        tracing::debug!(
                            waited_ms = sent.elapsed().as_millis() as u64,
                            "the subscription's PING was answered late"
                        );
                    }
                    // Redis answers in order: what was published before the PING reached the
                    // stream before its answer. Apply it, then the channel is proven up to `sent`.
                    while let Some(message) = stream.next().now_or_never() {
                        self.on_delivery(message)?;
                    }
                    self.prove(sent);
                    if self.inner.resync.swap(false, Ordering::AcqRel)
                        && let Err(e) = self.announce(handle, &mut control, limit).await
                    {
                        self.inner.resync.store(true, Ordering::Release);
                        tracing::debug!(error = %e, "new cache epoch not announced yet");
                    }
                }
            }
        }
    }

    /// Announces a new epoch and moves to it.
    async fn announce(
        &self,
        handle: &RedisHandle,
        control: &mut redis::aio::MultiplexedConnection,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let epoch = random_nonzero();
        let cmd = Self::announce_cmd(handle, epoch);
        tokio::time::timeout(limit, cmd.query_async::<i64>(control)).await??;
        self.adopt_epoch(epoch);
        Ok(())
    }

    /// Right after subscribing: what of the in-process state stays (see the module docs). On
    /// return the replica is in sync and the channel proven.
    async fn catch_up(
        &self,
        handle: &RedisHandle,
        control: &mut redis::aio::MultiplexedConnection,
        stream: &mut redis::aio::PubSubStream,
        limit: Duration,
    ) -> anyhow::Result<Outcome> {
        let names: Vec<String> = self.read_generations().keys().cloned().collect();
        let topics = self.topics();
        let mut keys = vec![Self::epoch_key(handle)];
        keys.extend(
            names
                .iter()
                .map(|n| Self::redis_key(handle, &format!("gen:{n}"))),
        );
        keys.extend(topics.iter().map(|t| Self::evictions_key(handle, t)));
        let mark = format!("mark {:x}", random_nonzero());
        let sent = Instant::now();
        let mut check = redis::cmd("EVAL");
        check
            .arg(CHECK)
            .arg(keys.len())
            .arg(&keys)
            .arg(Self::channel(handle))
            .arg(&mark);
        let values: Vec<Option<String>> =
            tokio::time::timeout(limit, check.query_async(control)).await??;
        anyhow::ensure!(
            values.len() == keys.len() + 1,
            "unexpected answer to the cache check"
        );
        // What was published before the check is applied first (so it is in what is compared).
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let message = tokio::time::timeout_at(deadline, stream.next())
                .await
                .map_err(|_| anyhow::anyhow!("the cache check's marker did not come back"))?;
            let Some(message) = message else {
                anyhow::bail!("the subscription connection closed");
            };
            let payload = message.get_payload::<String>().unwrap_or_default();
            if payload == mark {
                break;
            }
            self.on_message(&payload);
        }
        let (run, epoch) = (values[0].as_deref(), values[1].as_deref());
        let recorded = epoch.and_then(|v| v.split_once(' ')).and_then(|(e, r)| {
            let e = u64::from_str_radix(e, 16).ok()?;
            (Some(r) == run).then_some(e)
        });
        let counter = |i: usize| -> u64 {
            values[i + 2]
                .as_deref()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let first = !self.inner.joined.load(Ordering::Acquire);
        let resync = self.inner.resync.swap(false, Ordering::AcqRel);
        let current = self.inner.epoch.load(Ordering::Acquire);
        let outcome = match recorded {
            Some(e) if !resync && e == current => {
                self.keep_what_did_not_move(&names, &counter);
                Outcome::Kept
            }
            Some(e) if !resync && first => {
                self.adopt_epoch(e);
                Outcome::Joined
            }
            _ => {
                if let Err(e) = self.announce(handle, control, limit).await {
                    self.inner.resync.store(true, Ordering::Release);
                    return Err(e);
                }
                Outcome::NewEpoch
            }
        };
        // The topics: a count that differs from Redis's means an eviction may have been missed.
        let mut applied = self.lock_evictions();
        for (i, topic) in topics.iter().enumerate() {
            let now = counter(names.len() + i);
            if applied.insert(topic.to_string(), now) != Some(now) && outcome == Outcome::Kept {
                self.run_evictors(Some(topic), None);
                metrics::counter!("maestro_cache_topics_dropped_total").increment(1);
            }
        }
        drop(applied);
        self.inner.joined.store(true, Ordering::Release);
        self.inner.synced.store(true, Ordering::Release);
        self.prove(sent);
        Ok(outcome)
    }

    /// Same epoch after a lost subscription: each known tenant whose counter moved meanwhile
    /// gets it (its old entries are never read again); the others are current again.
    fn keep_what_did_not_move(&self, names: &[String], counter: &dyn Fn(usize) -> u64) {
        let mut map = self.write_generations();
        let mut moved = 0u64;
        for (i, name) in names.iter().enumerate() {
            let n = counter(i);
            let Some(g) = map.get_mut(name) else {
                continue;
            };
            if n > g.shared {
                g.shared = n;
                g.local = None;
                moved += 1;
            } else if n < g.shared {
                // Went back (keys deleted behind Maestro's back): never a possibly used one.
                g.local = Some(random_nonzero());
                moved += 1;
            }
            g.checked = Instant::now();
        }
        metrics::counter!("maestro_cache_tenants_moved_total").increment(moved);
    }
}

//! The platform cache, in two tiers.
//!
//! - **Responses** ([`Cache::response`]): serialised response bytes plus their ETag, keyed by a
//!   namespace (e.g. `templates`), a tenant and the tenant's *generation* in that namespace. The
//!   in-process tier (L1, moka) answers without any network round trip; with Redis configured,
//!   Redis is the shared tier (L2) behind it. A write calls [`Cache::bump`]: the tenant's
//!   generation changes, so every cached read of the tenant is stale from then on (old entries are
//!   never read again and expire with their TTL; no keyspace scan per write).
//! - **Keyed JSON** ([`Cache::get_json`], …): one tier, Redis when configured (keys under
//!   `<prefix>:cache:`), otherwise in-process.
//!
//! Cross-replica invalidation (with Redis): generations live in Redis (`INCR`), and every bump,
//! every [`Cache::evict`] (e.g. a user's role changed; it also counts the topic's evictions in
//! Redis) and every *epoch* change is published on the channel `<prefix>:cache:events`, which
//! each replica's [`Cache::sync_task`] subscribes to (on a thread of its own). A replica uses
//! Redis as L2 only while it is subscribed and has compared its state with Redis since
//! (re)subscribing (`sync.rs`): when nothing was missed it keeps its L1, known generations and
//! identities; a tenant whose generation moved meanwhile gets the new one, a topic whose
//! evictions were missed drops its identities, and when Redis is not the process the current
//! epoch was announced on (restarted, maybe from a stale dump, or failed over) a new random epoch
//! is announced and every replica drops its L1, its known generations and everything registered
//! with [`Cache::on_evict`]. The epoch is part of every L2 key, so entries written before the
//! announcement (including stale ones restored from a dump) are never read again. A write whose
//! bump or eviction could not be published (Redis unreachable or hung) marks the replica for a
//! new epoch as soon as Redis answers again.
//!
//! **Bound**: while the channel works, another replica stops serving a changed entry as soon as
//! the pub/sub message arrives (milliseconds). While it does not (Redis down, hung, or the
//! subscription lost), a replica serves an in-process entry at most `cache.local_ttl` (default
//! 2 s) after the channel was last proven live (a PING on the subscription, sent every 250 ms,
//! answered after the messages published before it), and after the channel is back nothing missed
//! is served again. Without Redis there is one process and writes invalidate at once. A Redis
//! failure is always a miss, so callers fall through to the database; it never empties L1.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use futures::future::BoxFuture;
use moka::Expiry;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::CacheSettings;
use crate::platform::redis::RedisHandle;

/// Stores of computed answers into Redis that may be under way at once; more are skipped
/// (counted in `maestro_cache_shared_stores_skipped_total`).
const STORES_IN_FLIGHT: usize = 8;

/// A cached response: the serialised body and its entity tag (without quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedBody {
    pub body: Bytes,
    pub tag: Option<String>,
    /// Only for callers who may see unpublished work (e.g. a draft template's detail): carried
    /// beside the body so a hit needs no parsing to decide.
    pub restricted: bool,
}

impl CachedBody {
    /// The JSON serialisation of `value`.
    pub fn json<T: Serialize>(value: &T, tag: Option<String>) -> anyhow::Result<CachedBody> {
        Ok(CachedBody {
            body: Bytes::from(serde_json::to_vec(value)?),
            tag,
            restricted: false,
        })
    }

    /// Marks it [`CachedBody::restricted`] or not.
    pub fn restricted(self, restricted: bool) -> CachedBody {
        CachedBody { restricted, ..self }
    }

    /// L2 framing: `r` (restricted) or `p`, the tag, a newline, the body.
    fn encode(&self) -> Vec<u8> {
        let tag = self.tag.as_deref().unwrap_or("");
        let mut out = Vec::with_capacity(tag.len() + 2 + self.body.len());
        out.push(if self.restricted { b'r' } else { b'p' });
        out.extend_from_slice(tag.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(raw: Vec<u8>) -> Option<CachedBody> {
        let restricted = match raw.first()? {
            b'r' => true,
            b'p' => false,
            _ => return None,
        };
        let split = raw.iter().position(|b| *b == b'\n')?;
        let tag = std::str::from_utf8(&raw[1..split]).ok()?.to_string();
        let body = Bytes::from(raw).slice(split + 1..);
        Some(CachedBody {
            body,
            tag: (!tag.is_empty()).then_some(tag),
            restricted,
        })
    }
}

/// Where a [`Cache::response`] answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// In-process.
    Local,
    /// Redis.
    Shared,
    /// Computed (a miss in both tiers).
    Computed,
}

/// Which tiers may hold a [`Cache::response`] answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// In-process and Redis: worth sharing, because computing it costs more than a round trip.
    Shared,
    /// In-process only: computed in memory faster than Redis could answer (e.g. an answer of the
    /// in-process search index), so a round trip to share it would only slow the read down.
    Local,
}

type Evictor = Arc<dyn Fn(Option<&str>) + Send + Sync>;

#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Option<RedisHandle>,
    /// The keyed-JSON tier without Redis.
    memory: moka::future::Cache<String, Entry>,
    /// L1 of responses.
    local: moka::sync::Cache<String, LocalEntry>,
    /// Known generations per `<namespace>:<tenant>`.
    generations: RwLock<HashMap<String, Generation>>,
    /// The epoch last announced on the channel (part of every key).
    epoch: AtomicU64,
    /// Subscribed and an epoch was heard since: L2 may be used.
    synced: AtomicBool,
    /// An invalidation could not be published: announce a new epoch once Redis answers.
    resync: AtomicBool,
    /// This process has been in sync once (so it has in-process state worth comparing).
    joined: AtomicBool,
    /// Per identity topic: the eviction counter in Redis as this replica has applied it (see
    /// `sync.rs`).
    evictions: Mutex<HashMap<String, u64>>,
    evictors: RwLock<Vec<(&'static str, Evictor)>>,
    /// Stores of computed answers into Redis under way (at most [`STORES_IN_FLIGHT`]).
    stores: Arc<tokio::sync::Semaphore>,
    default_ttl: Duration,
    local_ttl: Duration,
    /// Milliseconds after `started` at which the last answered PING on the invalidation channel
    /// was sent (0: not proven since the last subscription): every invalidation published before
    /// then has been applied here.
    proven_at_ms: AtomicU64,
    started: Instant,
    hits: AtomicU64,
    misses: AtomicU64,
    local_hits: AtomicU64,
    shared_hits: AtomicU64,
}

/// An L1 response and when it was cached here.
#[derive(Clone)]
struct LocalEntry {
    at: Instant,
    body: Arc<CachedBody>,
}

/// Bookkeeping per L1 entry besides its key and bytes (allocations, moka's node), so a budget
/// of tiny entries is not undercounted.
const ENTRY_OVERHEAD: usize = 128;

impl LocalEntry {
    /// Its share of `cache.max_bytes`.
    fn weight(&self, key: &str) -> u32 {
        let tag = self.body.tag.as_deref().map_or(0, str::len);
        u32::try_from(key.len() + tag + self.body.body.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
    }
}

/// A tenant's generation in a namespace as this replica knows it: the shared counter (from
/// Redis), or a local token that makes this replica's keys private (after a local write the
/// channel has not confirmed yet, or without Redis).
#[derive(Debug, Clone, Copy)]
struct Generation {
    shared: u64,
    local: Option<u64>,
    checked: Instant,
}

impl Generation {
    fn token(&self) -> (String, bool) {
        match self.local {
            Some(l) => (format!("l{l:x}"), false),
            None => (format!("s{}", self.shared), true),
        }
    }
}

#[derive(Clone)]
struct Entry {
    json: Arc<str>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CacheStats {
    /// `redis` (in-process tier in front of Redis) or `memory` (in-process only).
    pub backend: &'static str,
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses), 0 when unused.
    pub hit_ratio: f64,
    /// Response hits answered in-process.
    pub local_hits: u64,
    /// Response hits answered by Redis.
    pub shared_hits: u64,
    /// Entries in the in-process response tier.
    pub local_entries: u64,
    /// With Redis: whether this replica hears invalidations (and so uses Redis as a tier).
    pub synced: bool,
}

fn random_nonzero() -> u64 {
    rand::random::<u64>() | 1
}

impl Cache {
    /// In-process only.
    pub fn in_memory(settings: &CacheSettings) -> Cache {
        Self::build(None, settings)
    }

    /// In-process tier in front of Redis.
    pub fn redis(handle: RedisHandle, settings: &CacheSettings) -> Cache {
        Self::build(Some(handle), settings)
    }

    fn build(redis: Option<RedisHandle>, settings: &CacheSettings) -> Cache {
        let default_ttl = Duration::from_secs(settings.default_ttl_secs.max(1));
        let local_ttl = match redis {
            Some(_) => settings
                .local_ttl
                .get()
                .clamp(Duration::from_millis(1), default_ttl),
            None => default_ttl,
        };
        let memory = moka::future::Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        // With Redis an entry older than `local_ttl` is still served while the invalidation
        // channel is proven live (see `trusts`), so L1 keeps entries as long as L2 does.
        // Weighed in bytes: a count would let a catalog's many small answers churn through it,
        // and every L1 miss costs a Redis round trip and often a database read.
        let local = moka::sync::Cache::builder()
            .max_capacity(settings.max_bytes.get())
            .weigher(|key: &String, entry: &LocalEntry| entry.weight(key))
            .time_to_live(default_ttl)
            .build();
        Cache {
            inner: Arc::new(Inner {
                redis,
                memory,
                local,
                generations: RwLock::new(HashMap::new()),
                epoch: AtomicU64::new(random_nonzero()),
                synced: AtomicBool::new(false),
                resync: AtomicBool::new(false),
                joined: AtomicBool::new(false),
                evictions: Mutex::new(HashMap::new()),
                evictors: RwLock::new(Vec::new()),
                stores: Arc::new(tokio::sync::Semaphore::new(STORES_IN_FLIGHT)),
                default_ttl,
                local_ttl,
                proven_at_ms: AtomicU64::new(0),
                started: Instant::now(),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                local_hits: AtomicU64::new(0),
                shared_hits: AtomicU64::new(0),
            }),
        }
    }

    /// How long in-process state (responses, identities) may be served without hearing about a
    /// change: `cache.local_ttl` with Redis, `cache.default_ttl_secs` without.
    pub fn local_ttl(&self) -> Duration {
        self.inner.local_ttl
    }

    fn redis_key(handle: &RedisHandle, key: &str) -> String {
        handle.key(&format!("cache:{key}"))
    }

    fn channel(handle: &RedisHandle) -> String {
        Self::redis_key(handle, "events")
    }

    /// Redis as the shared tier: configured, and this replica hears invalidations.
    fn shared_tier(&self) -> Option<&RedisHandle> {
        self.inner
            .redis
            .as_ref()
            .filter(|_| self.inner.synced.load(Ordering::Acquire))
    }

    // ----- responses -----

    /// The cached response for `key` in `tenant`'s `namespace`, or `compute`'s answer (then
    /// cached; errors are not). Keys carry the tenant's generation: see [`Cache::bump`].
    pub async fn response<E, F, Fut>(
        &self,
        namespace: &'static str,
        tenant: &str,
        key: &str,
        reach: Reach,
        compute: F,
    ) -> Result<(Arc<CachedBody>, Tier), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedBody, E>>,
    {
        // One reading of the clock for both trust checks (none without Redis).
        let now = self.clock();
        let (generation, shareable) = self.generation(namespace, tenant, now).await;
        let epoch = self.inner.epoch.load(Ordering::Acquire);
        let full = format!("{namespace}:{tenant}:{epoch:x}:{generation}:{key}");
        if let Some(hit) = self.inner.local.get(&full)
            && self.trusts_at(hit.at, now)
        {
            self.count(Tier::Local);
            return Ok((hit.body, Tier::Local));
        }
        let shared = self
            .shared_tier()
            .filter(|_| shareable && reach == Reach::Shared)
            .cloned();
        if let Some(handle) = &shared {
            let raw = redis_get::<Vec<u8>>(handle, Self::redis_key(handle, &format!("r:{full}")));
            if let Some(hit) = raw.await.and_then(CachedBody::decode) {
                let hit = Arc::new(hit);
                self.remember(full, hit.clone());
                self.count(Tier::Shared);
                return Ok((hit, Tier::Shared));
            }
        }
        self.count(Tier::Computed);
        let value = Arc::new(compute().await?);
        self.remember(full.clone(), value.clone());
        // Off the request: the answer is ready, storing it for the other replicas can lag, or be
        // skipped when [`STORES_IN_FLIGHT`] stores are under way (a burst of misses would
        // otherwise queue thousands of them in Redis in front of the reads, time reads out and
        // open the breaker).
        let permit = shared
            .as_ref()
            .and_then(|_| self.inner.stores.clone().try_acquire_owned().ok());
        if shared.is_some() && permit.is_none() {
            metrics::counter!("maestro_cache_shared_stores_skipped_total").increment(1);
        }
        if let (Some(handle), Some(permit)) = (shared, permit) {
            let k = Self::redis_key(&handle, &format!("r:{full}"));
            let (raw, ttl) = (value.encode(), self.inner.default_ttl.as_millis() as u64);
            tokio::spawn(async move {
                let _permit = permit;
                let _ = handle
                    .run(|mut conn| async move {
                        redis::cmd("SET")
                            .arg(&k)
                            .arg(raw)
                            .arg("PX")
                            .arg(ttl)
                            .query_async::<()>(&mut conn)
                            .await
                    })
                    .await;
            });
        }
        Ok((value, Tier::Computed))
    }

    fn remember(&self, key: String, body: Arc<CachedBody>) {
        let at = Instant::now();
        self.inner.local.insert(key, LocalEntry { at, body });
    }

    /// Whether an in-process entry cached at `at` may be served (L1 responses, identities). Without Redis every write is seen here.
    /// With Redis: if it is younger than `local_ttl`, or if the invalidation channel was proven
    /// live less than `local_ttl` ago (a missed invalidation would then be older than that), so
    /// a changed entry is never served more than `local_ttl` after the change was published.
    pub fn trusts(&self, at: Instant) -> bool {
        self.trusts_at(at, self.clock())
    }

    /// The time [`Cache::trusts_at`] compares with: `None` without Redis, where nothing needs it
    /// (a hot read then reads no clock; with Redis it reads one, not one per check).
    fn clock(&self) -> Option<Instant> {
        self.inner.redis.as_ref().map(|_| Instant::now())
    }

    /// [`Cache::trusts`] at `now`, from [`Cache::clock`].
    fn trusts_at(&self, at: Instant, now: Option<Instant>) -> bool {
        let Some(now) = now else {
            return true;
        };
        let ttl = self.inner.local_ttl;
        // The channel's proof first: while it is live (the usual case) that one comparison
        // settles it for every entry, however old.
        let proven = self.inner.proven_at_ms.load(Ordering::Acquire);
        if proven != 0 {
            let now_ms = now
                .saturating_duration_since(self.inner.started)
                .as_millis() as u64;
            if now_ms.saturating_sub(proven) < ttl.as_millis() as u64 {
                return true;
            }
        }
        now.saturating_duration_since(at) < ttl
    }

    /// Everything published on the channel before `sent` has been applied here.
    fn prove(&self, sent: Instant) {
        let ms = sent.duration_since(self.inner.started).as_millis() as u64;
        self.inner.proven_at_ms.store(ms.max(1), Ordering::Release);
    }

    fn count(&self, tier: Tier) {
        let (counter, label) = match tier {
            Tier::Local => {
                self.inner.local_hits.fetch_add(1, Ordering::Relaxed);
                (&self.inner.hits, "local")
            }
            Tier::Shared => {
                self.inner.shared_hits.fetch_add(1, Ordering::Relaxed);
                (&self.inner.hits, "shared")
            }
            Tier::Computed => (&self.inner.misses, "miss"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("maestro_cache_responses_total", "tier" => label).increment(1);
    }

    /// The tenant's generation token in `namespace`, and whether entries under it may be shared
    /// through Redis.
    async fn generation(
        &self,
        namespace: &str,
        tenant: &str,
        now: Option<Instant>,
    ) -> (String, bool) {
        let name = format!("{namespace}:{tenant}");
        let known = self.read_generations().get(&name).copied();
        // A shared counter heard on a channel proven live since is current (every bump is
        // published): no round trip on the hot path. A private token is re-read every
        // `local_ttl`, so a replica that could not read the counter shares again.
        let fresh = known.filter(|g| match g.local {
            None => self.trusts_at(g.checked, now),
            Some(_) => now
                .is_none_or(|now| now.saturating_duration_since(g.checked) < self.inner.local_ttl),
        });
        if let Some(g) = fresh {
            return g.token();
        }
        let epoch = self.inner.epoch.load(Ordering::Acquire);
        let from_redis = match self.shared_tier() {
            // A missing counter is generation 0; a failed call leaves the generation unknown.
            Some(handle) => {
                let key = Self::redis_key(handle, &format!("gen:{name}"));
                handle
                    .run(|mut conn| async move {
                        redis::cmd("GET")
                            .arg(&key)
                            .query_async::<Option<u64>>(&mut conn)
                            .await
                    })
                    .await
                    .ok()
                    .map(Option::unwrap_or_default)
            }
            None => None,
        };
        let mut map = self.write_generations();
        // An epoch announced meanwhile cleared the map; what was read belongs to the old one.
        if self.inner.epoch.load(Ordering::Acquire) != epoch {
            let g = map.entry(name).or_insert_with(Self::private_generation);
            return g.token();
        }
        let g = map.entry(name).or_insert_with(|| match from_redis {
            Some(_) => Generation {
                shared: 0,
                local: None,
                checked: Instant::now(),
            },
            None => Self::private_generation(),
        });
        if let Some(n) = from_redis {
            g.shared = g.shared.max(n);
        }
        g.checked = Instant::now();
        g.token()
    }

    /// The tenant's generation in `namespace` with the epoch, for state kept outside this cache
    /// (the templates' search index): it changes whenever a response cached for the tenant
    /// would be stale. Read it before reading the data; pair it with [`Cache::trusts`] for the
    /// bound while the invalidation channel is down.
    pub async fn generation_token(&self, namespace: &str, tenant: &str) -> String {
        let (generation, _) = self.generation(namespace, tenant, self.clock()).await;
        let epoch = self.inner.epoch.load(Ordering::Acquire);
        format!("{epoch:x}:{generation}")
    }

    fn private_generation() -> Generation {
        Generation {
            shared: 0,
            local: Some(random_nonzero()),
            checked: Instant::now(),
        }
    }

    fn read_generations(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Generation>> {
        self.inner
            .generations
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write_generations(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Generation>> {
        self.inner
            .generations
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A write in `tenant`'s `namespace`: every cached response of the tenant there is stale from
    /// now on, on this replica at once and on the others when the pub/sub message arrives.
    pub async fn bump(&self, namespace: &'static str, tenant: &str) {
        let name = format!("{namespace}:{tenant}");
        {
            let mut map = self.write_generations();
            let g = map
                .entry(name.clone())
                .or_insert_with(Self::private_generation);
            g.local = Some(random_nonzero());
            g.checked = Instant::now();
        }
        let Some(handle) = &self.inner.redis else {
            return;
        };
        let key = Self::redis_key(handle, &format!("gen:{name}"));
        // The generation's counter and its announcement, atomically.
        self.publish_counted(handle, sync::BUMP, key, format!("gen {name} "))
            .await;
    }

    /// Drops `id` from what is registered under `topic` (e.g. a cached identity) on this replica
    /// at once and on the others through the channel.
    pub async fn evict(&self, topic: &'static str, id: &str) {
        self.run_evictors(Some(topic), Some(id));
        let Some(handle) = &self.inner.redis else {
            return;
        };
        let key = Self::evictions_key(handle, topic);
        // With the topic's counter, so a replica that was not listening can tell it missed one.
        self.publish_counted(handle, sync::EVICT, key, format!("evict {topic} {id}"))
            .await;
    }

    /// Runs `script` (one of [`sync`]'s: KEYS[1] the counter `key`, ARGV the channel and
    /// `message`) in one round trip; a failure marks the invalidation undelivered. Boxed: every
    /// write awaits it, and one more nested future layer overflows rustc's query depth limit in
    /// the largest callers (`benches/templates.rs`).
    fn publish_counted<'a>(
        &'a self,
        handle: &'a RedisHandle,
        script: &'static str,
        key: String,
        message: String,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let channel = Self::channel(handle);
            let published = handle
                .run(|mut conn| async move {
                    redis::cmd("EVAL")
                        .arg(script)
                        .arg(1)
                        .arg(&key)
                        .arg(&channel)
                        .arg(&message)
                        .query_async::<i64>(&mut conn)
                        .await
                })
                .await;
            if let Err(error) = published {
                self.undelivered(&format!("{error:#}"));
            }
        })
    }

    /// Registers in-process state that [`Cache::evict`] messages for `topic` drop one id of, and
    /// that every epoch change drops entirely (`None`).
    pub fn on_evict(&self, topic: &'static str, f: impl Fn(Option<&str>) + Send + Sync + 'static) {
        self.inner
            .evictors
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((topic, Arc::new(f)));
    }

    /// Runs the evictors of `topic` (all of them for `None`) for `id` (everything for `None`).
    fn run_evictors(&self, topic: Option<&str>, id: Option<&str>) {
        let evictors: Vec<Evictor> = self
            .inner
            .evictors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(t, _)| topic.is_none_or(|topic| *t == topic))
            .map(|(_, f)| f.clone())
            .collect();
        for f in evictors {
            f(id);
        }
    }

    /// The topics evictors are registered for.
    fn topics(&self) -> Vec<&'static str> {
        let mut topics: Vec<&'static str> = self
            .inner
            .evictors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(t, _)| *t)
            .collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    fn lock_evictions(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        crate::platform::lock(&self.inner.evictions)
    }

    fn undelivered(&self, error: &str) {
        if !self.inner.resync.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error,
                "a cache invalidation could not be published; every replica drops its in-process cache when Redis answers again"
            );
        }
        metrics::counter!("maestro_cache_undelivered_invalidations_total").increment(1);
    }

    /// Drops every in-process response, generation and registered identity, and moves to
    /// `epoch`.
    fn adopt_epoch(&self, epoch: u64) {
        self.inner.epoch.store(epoch, Ordering::Release);
        self.write_generations().clear();
        self.inner.local.invalidate_all();
        self.run_evictors(None, None);
        metrics::counter!("maestro_cache_epochs_total").increment(1);
    }

    // ----- keyed JSON -----

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let raw: Option<String> = match &self.inner.redis {
            None => self.inner.memory.get(key).await.map(|e| e.json.to_string()),
            Some(handle) => redis_get::<String>(handle, Self::redis_key(handle, key)).await,
        };
        let value = raw.and_then(|json| serde_json::from_str(&json).ok());
        if value.is_some() {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("maestro_cache_hits_total").increment(1);
        } else {
            self.inner.misses.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("maestro_cache_misses_total").increment(1);
        }
        value
    }

    pub async fn set_json<T: Serialize>(&self, key: &str, value: &T, ttl: Option<Duration>) {
        let Ok(json) = serde_json::to_string(value) else {
            return;
        };
        let ttl = ttl.unwrap_or(self.inner.default_ttl);
        match &self.inner.redis {
            None => {
                self.inner
                    .memory
                    .insert(
                        key.to_string(),
                        Entry {
                            json: json.into(),
                            ttl,
                        },
                    )
                    .await
            }
            Some(handle) => {
                let k = Self::redis_key(handle, key);
                let _ = handle
                    .run(|mut conn| async move {
                        redis::cmd("SET")
                            .arg(&k)
                            .arg(json)
                            .arg("PX")
                            .arg(ttl.as_millis() as u64)
                            .query_async::<()>(&mut conn)
                            .await
                    })
                    .await;
            }
        }
    }

    pub async fn delete(&self, key: &str) {
        match &self.inner.redis {
            None => self.inner.memory.invalidate(key).await,
            Some(handle) => {
                let k = Self::redis_key(handle, key);
                let _ = handle
                    .run(|mut conn| async move {
                        redis::cmd("DEL").arg(&k).query_async::<()>(&mut conn).await
                    })
                    .await;
            }
        }
    }

    /// Removes every keyed-JSON entry whose key starts with `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) {
        match &self.inner.redis {
            None => {
                let prefix = prefix.to_string();
                let _ = self
                    .inner
                    .memory
                    .invalidate_entries_if(move |k, _| k.starts_with(&prefix));
            }
            Some(handle) => {
                let pattern = format!("{}*", escape_glob(&Self::redis_key(handle, prefix)));
                let _ = delete_matching(handle, &pattern).await;
            }
        }
    }

    /// Clears Maestro's cache entries only (other keys in the same Redis database survive), and
    /// every replica's in-process tier. Returns how many entries were removed.
    pub async fn clear(&self) -> anyhow::Result<u64> {
        let local = self.inner.local.entry_count();
        let epoch = random_nonzero();
        self.adopt_epoch(epoch);
        match &self.inner.redis {
            None => {
                let count = self.inner.memory.entry_count() + local;
                self.inner.memory.invalidate_all();
                self.inner.memory.run_pending_tasks().await;
                Ok(count)
            }
            Some(handle) => {
                let pattern = format!("{}*", escape_glob(&Self::redis_key(handle, "")));
                let removed = delete_matching(handle, &pattern).await?;
                // The generation counters went with the keys: a new epoch for every replica.
                let announce = Self::announce_cmd(handle, epoch);
                let announced = handle
                    .run(|mut conn| async move { announce.query_async::<i64>(&mut conn).await })
                    .await;
                if announced.is_err() {
                    self.inner.resync.store(true, Ordering::Release);
                }
                Ok(removed)
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let hits = self.inner.hits.load(Ordering::Relaxed);
        let misses = self.inner.misses.load(Ordering::Relaxed);
        let total = hits + misses;
        CacheStats {
            backend: match self.inner.redis {
                None => "memory",
                Some(_) => "redis",
            },
            hits,
            misses,
            hit_ratio: if total == 0 {
                0.0
            } else {
                hits as f64 / total as f64
            },
            local_hits: self.inner.local_hits.load(Ordering::Relaxed),
            shared_hits: self.inner.shared_hits.load(Ordering::Relaxed),
            local_entries: self.inner.local.entry_count(),
            synced: self.inner.synced.load(Ordering::Acquire),
        }
    }
}

/// GET under the command timeout and the breaker; any failure is `None` (a miss).
async fn redis_get<T: redis::FromRedisValue + Send + 'static>(
    handle: &RedisHandle,
    key: String,
) -> Option<T> {
    handle
        .run(|mut conn| async move {
            redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<T>>(&mut conn)
                .await
        })
        .await
        .ok()
        .flatten()
}

/// SCAN + UNLINK in batches (never KEYS, which blocks Redis).
async fn delete_matching(handle: &RedisHandle, pattern: &str) -> anyhow::Result<u64> {
    let mut cursor: u64 = 0;
    let mut removed: u64 = 0;
    loop {
        let pattern = pattern.to_string();
        let (next, keys): (u64, Vec<String>) = handle
            .run(|mut conn| async move {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        if !keys.is_empty() {
            let n: u64 = handle
                .run(|mut conn| async move {
                    redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await
                })
                .await?;
            removed += n;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// Escapes Redis glob metacharacters so a prefix matches literally.
fn escape_glob(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

mod sync;
#[cfg(test)]
mod tests;

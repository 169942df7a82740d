//! One cache interface: Redis when configured (shared by replicas, keys under
//! `<prefix>:cache:`), otherwise in-process (moka). Values are JSON. A Redis failure is a miss,
//! so callers fall through to the database and keep serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::CacheSettings;
use crate::platform::redis::RedisHandle;

#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    default_ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

enum Backend {
    Memory(moka::future::Cache<String, Entry>),
    Redis(RedisHandle),
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
    /// `redis` or `memory`.
    pub backend: &'static str,
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses), 0 when unused.
    pub hit_ratio: f64,
}

impl Cache {
    pub fn in_memory(settings: &CacheSettings) -> Cache {
        let store = moka::future::Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        Self::with_backend(Backend::Memory(store), settings)
    }

    pub fn redis(handle: RedisHandle, settings: &CacheSettings) -> Cache {
        Self::with_backend(Backend::Redis(handle), settings)
    }

    fn with_backend(backend: Backend, settings: &CacheSettings) -> Cache {
        Cache {
            inner: Arc::new(Inner {
                backend,
                default_ttl: Duration::from_secs(settings.default_ttl_secs.max(1)),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    fn redis_key(handle: &RedisHandle, key: &str) -> String {
        handle.key(&format!("cache:{key}"))
    }

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let raw: Option<String> = match &self.inner.backend {
            Backend::Memory(store) => store.get(key).await.map(|e| e.json.to_string()),
            Backend::Redis(handle) => {
                let k = Self::redis_key(handle, key);
                handle
                    .run(|mut conn| async move {
                        redis::cmd("GET")
                            .arg(&k)
                            .query_async::<Option<String>>(&mut conn)
                            .await
                    })
                    .await
                    .unwrap_or(None)
            }
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
        match &self.inner.backend {
            Backend::Memory(store) => {
                store
                    .insert(
                        key.to_string(),
                        Entry {
                            json: json.into(),
                            ttl,
                        },
                    )
                    .await
            }
            Backend::Redis(handle) => {
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
        match &self.inner.backend {
            Backend::Memory(store) => store.invalidate(key).await,
            Backend::Redis(handle) => {
                let k = Self::redis_key(handle, key);
                let _ = handle
                    .run(|mut conn| async move {
                        redis::cmd("DEL").arg(&k).query_async::<()>(&mut conn).await
                    })
                    .await;
            }
        }
    }

    /// Removes every entry whose key starts with `prefix` (e.g. all list pages of a tenant).
    pub async fn delete_prefix(&self, prefix: &str) {
        match &self.inner.backend {
            Backend::Memory(store) => {
                let prefix = prefix.to_string();
                let _ = store.invalidate_entries_if(move |k, _| k.starts_with(&prefix));
            }
            Backend::Redis(handle) => {
                let pattern = format!("{}*", escape_glob(&Self::redis_key(handle, prefix)));
                let _ = delete_matching(handle, &pattern).await;
            }
        }
    }

    /// Clears Maestro's cache entries only (other keys in the same Redis database survive).
    /// Returns how many entries were removed.
    pub async fn clear(&self) -> anyhow::Result<u64> {
        match &self.inner.backend {
            Backend::Memory(store) => {
                let count = store.entry_count();
                store.invalidate_all();
                store.run_pending_tasks().await;
                Ok(count)
            }
            Backend::Redis(handle) => {
                let pattern = format!("{}*", escape_glob(&Self::redis_key(handle, "")));
                delete_matching(handle, &pattern).await
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let hits = self.inner.hits.load(Ordering::Relaxed);
        let misses = self.inner.misses.load(Ordering::Relaxed);
        let total = hits + misses;
        CacheStats {
            backend: match self.inner.backend {
                Backend::Memory(_) => "memory",
                Backend::Redis(_) => "redis",
            },
            hits,
            misses,
            hit_ratio: if total == 0 {
                0.0
            } else {
                hits as f64 / total as f64
            },
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CacheSettings {
        CacheSettings {
            default_ttl_secs: 60,
            max_entries: 100,
        }
    }

    #[tokio::test]
    async fn memory_cache_counts_hits_misses_and_expires() {
        let cache = Cache::in_memory(&settings());
        assert_eq!(cache.get_json::<String>("a").await, None);
        cache.set_json("a", &"x", None).await;
        assert_eq!(cache.get_json::<String>("a").await.as_deref(), Some("x"));
        cache
            .set_json("short", &1, Some(Duration::from_millis(50)))
            .await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get_json::<i32>("short").await, None);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2));
    }

    #[tokio::test]
    async fn prefix_delete_only_touches_the_prefix() {
        let cache = Cache::in_memory(&settings());
        cache.set_json("t1:list:1", &1, None).await;
        cache.set_json("t1:list:2", &2, None).await;
        cache.set_json("t2:list:1", &3, None).await;
        cache.delete_prefix("t1:list:").await;
        assert_eq!(cache.get_json::<i32>("t1:list:1").await, None);
        assert_eq!(cache.get_json::<i32>("t1:list:2").await, None);
        assert_eq!(cache.get_json::<i32>("t2:list:1").await, Some(3));
    }

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(escape_glob("a*b?[c]"), "a\\*b\\?\\[c\\]");
    }
}

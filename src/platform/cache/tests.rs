//! Unit tests of the two-tier cache: the in-process tier, generations, epochs, the Redis framing.

use super::*;
use crate::config::{HumanBytes, HumanDuration};

fn settings() -> CacheSettings {
    CacheSettings {
        default_ttl_secs: 60,
        max_entries: 100,
        max_bytes: HumanBytes(1 << 20),
        local_ttl: HumanDuration(Duration::from_secs(2)),
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

async fn read(cache: &Cache, tenant: &str, value: &str) -> (Bytes, Tier) {
    let value = value.to_string();
    let (body, tier) = cache
        .response::<std::convert::Infallible, _, _>(
            "ns",
            tenant,
            "k",
            Reach::Shared,
            || async move {
                Ok(CachedBody {
                    body: Bytes::from(value),
                    tag: Some("t".into()),
                    restricted: false,
                })
            },
        )
        .await
        .unwrap();
    (body.body.clone(), tier)
}

async fn read_key(cache: &Cache, key: &str, size: usize) -> Tier {
    let (_, tier) = cache
        .response::<std::convert::Infallible, _, _>("ns", "t1", key, Reach::Shared, || async move {
            Ok(CachedBody {
                body: Bytes::from(vec![b'x'; size]),
                tag: Some("t".into()),
                restricted: false,
            })
        })
        .await
        .unwrap();
    tier
}

#[tokio::test]
async fn the_in_process_tier_is_a_byte_budget_not_a_count() {
    let cache = Cache::in_memory(&settings());
    // Many small answers (far more than `max_entries`) all stay in-process…
    let keys: Vec<String> = (0..2_000).map(|i| format!("small:{i}")).collect();
    for key in &keys {
        assert_eq!(read_key(&cache, key, 64).await, Tier::Computed);
    }
    cache.inner.local.run_pending_tasks();
    assert_eq!(cache.stats().local_entries, 2_000);
    for key in &keys {
        assert_eq!(read_key(&cache, key, 64).await, Tier::Local, "{key}");
    }
    // …while large ones are held only up to `max_bytes` (1 MiB here).
    for i in 0..40 {
        read_key(&cache, &format!("large:{i}"), 100 << 10).await;
    }
    cache.inner.local.run_pending_tasks();
    assert!(cache.inner.local.weighted_size() <= 1 << 20);
}

#[tokio::test]
async fn responses_are_served_in_process_until_the_tenant_is_bumped() {
    let cache = Cache::in_memory(&settings());
    assert_eq!(
        read(&cache, "t1", "v1").await,
        ("v1".into(), Tier::Computed)
    );
    assert_eq!(read(&cache, "t1", "v2").await, ("v1".into(), Tier::Local));
    assert_eq!(
        read(&cache, "t2", "w1").await,
        ("w1".into(), Tier::Computed)
    );
    cache.bump("ns", "t1").await;
    assert_eq!(
        read(&cache, "t1", "v2").await,
        ("v2".into(), Tier::Computed)
    );
    assert_eq!(read(&cache, "t2", "w2").await, ("w1".into(), Tier::Local));
    let stats = cache.stats();
    assert_eq!((stats.local_hits, stats.misses), (2, 3));
}

#[tokio::test]
async fn an_epoch_drops_responses_and_registered_state() {
    let cache = Cache::in_memory(&settings());
    let dropped = Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let seen = dropped.clone();
    cache.on_evict("users", move |id| {
        seen.lock().unwrap().push(id.map(str::to_string))
    });
    read(&cache, "t1", "v1").await;
    cache.evict("users", "u1").await;
    cache.on_message("evict users u2");
    cache.on_message("epoch abc");
    assert_eq!(
        read(&cache, "t1", "v2").await,
        ("v2".into(), Tier::Computed)
    );
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![Some("u1".into()), Some("u2".into()), None]
    );
}

#[tokio::test]
async fn generation_messages_only_move_forward() {
    let cache = Cache::in_memory(&settings());
    cache.write_generations().insert(
        "ns:t1".into(),
        Generation {
            shared: 5,
            local: None,
            checked: Instant::now(),
        },
    );
    read(&cache, "t1", "v1").await;
    cache.on_message("gen ns:t1 6");
    assert_eq!(read(&cache, "t1", "v2").await.1, Tier::Computed);
    assert_eq!(read(&cache, "t1", "v3").await.1, Tier::Local);
    // An older counter (a Redis restored from a dump) never brings back a used generation.
    cache.on_message("gen ns:t1 5");
    let (token, shareable) = cache.read_generations()["ns:t1"].token();
    assert!(!shareable && token.starts_with('l'), "{token}");
    assert_eq!(read(&cache, "t1", "v4").await.1, Tier::Computed);
}

#[test]
fn cached_bodies_round_trip_through_the_redis_framing() {
    let body = CachedBody {
        body: Bytes::from_static(b"{\"a\":\"x\ny\"}"),
        tag: Some("abc".into()),
        restricted: true,
    };
    assert_eq!(CachedBody::decode(body.encode()), Some(body));
    let untagged = CachedBody {
        body: Bytes::from_static(b"[]"),
        tag: None,
        restricted: false,
    };
    assert_eq!(CachedBody::decode(untagged.encode()), Some(untagged));
    // The framing before `restricted` (a commit, never starting with `r` or `p`) is a miss.
    assert_eq!(CachedBody::decode(b"abc\n[]".to_vec()), None);
}

//! The two-tier cache across replicas and Redis failures, with a private redis-server per test
//! (never the shared one):
//! - two `maestro serve` processes on one PostgreSQL: a write on one is served by the other as
//!   soon as the pub/sub message arrives (well within 1 s, although the in-process TTL is 30 s);
//! - Redis restarted from its own stale dump after writes made during the outage: the next reads
//!   return the current version and a demoted user's next request has the new role; during the
//!   outage no request fails and nothing stale is served past `cache.local_ttl`;
//! - the subscription lost and made again while Redis stays up: the in-process tier and
//!   identities are kept unless a write or an eviction was missed meanwhile;
//! - Redis frozen (SIGSTOP): a read costs at most about one `command_timeout_ms`, then reads run
//!   without calling Redis while the circuit is open.
//!
//! The process-level tests need PostgreSQL: `cargo test --test api -- --ignored two_replicas`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use maestro::config::{CacheSettings, HumanBytes, HumanDuration, RedisSettings, Settings};
use maestro::platform::Platform;
use maestro::platform::auth::Role;
use maestro::platform::cache::{Cache, CachedBody, Reach, Tier};
use maestro::platform::redis::RedisHandle;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    MaestroProcess, PgSchema, PrivateRedis, TestApp, base_settings, eventually, send,
    test_database_url,
};
use crate::platform::resilience::ChaosProxy;
use crate::templates::sample;

struct Replica {
    process: MaestroProcess,
}

struct Cluster {
    client: reqwest::Client,
    a: Replica,
    b: Replica,
    admin: String,
    editor: String,
    /// An admin who gets demoted, and their user id.
    demotee: (String, String),
    _platform: Platform,
    _schema: PgSchema,
}

async fn user(platform: &Platform, email: &str, role: Role) -> (String, String) {
    let created = platform
        .auth
        .create_user_in_tenant_named("acme", email, "correct-horse-battery", role)
        .await
        .unwrap();
    (
        platform.auth.token_for_email(email).await.unwrap(),
        created.id,
    )
}

impl Cluster {
    async fn start(dir: &std::path::Path, redis: &PrivateRedis, local_ttl: &str) -> Cluster {
        let admin_url = test_database_url().expect("checked by the caller");
        let schema = PgSchema::create(&admin_url);
        let mut settings: Settings = base_settings();
        settings.database.url = schema.url.clone();
        settings.data_dir = dir.join("data");
        settings.redis.url = String::new();
        let platform = Platform::new(settings).unwrap();
        platform.migrate(Duration::from_secs(10)).await.unwrap();
        let (admin, _) = user(&platform, "admin@acme.test", Role::Admin).await;
        let (editor, _) = user(&platform, "editor@acme.test", Role::Editor).await;
        let demotee = user(&platform, "demotee@acme.test", Role::Admin).await;
        let url = redis.url();
        let extra = [
            ("MAESTRO__REDIS__URL", url.as_str()),
            ("MAESTRO__REDIS__KEY_PREFIX", "replicas"),
            ("MAESTRO__REDIS__COMMAND_TIMEOUT_MS", "300"),
            ("MAESTRO__CACHE__LOCAL_TTL", local_ttl),
            // Scoring each new version is another write of the tenant; keep the sequence exact.
            ("MAESTRO__MODULES__QUALITY", "false"),
        ];
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut a = MaestroProcess::start(dir, "a", &schema.url, &extra);
        let mut b = MaestroProcess::start(dir, "b", &schema.url, &extra);
        a.wait_ready(&client).await;
        b.wait_ready(&client).await;
        let cluster = Cluster {
            client,
            a: Replica { process: a },
            b: Replica { process: b },
            admin,
            editor,
            demotee,
            _platform: platform,
            _schema: schema,
        };
        cluster.wait_synced(&cluster.a).await;
        cluster.wait_synced(&cluster.b).await;
        cluster
    }

    async fn get(&self, on: &Replica, path: &str, token: &str) -> (StatusCode, Value, String) {
        let res = self
            .client
            .get(format!("{}{path}", on.process.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let etag = res
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body, etag)
    }

    async fn cache_stats(&self, on: &Replica) -> Value {
        let (status, stats, _) = self.get(on, "/api/v1/admin/stats", &self.admin).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        stats["cache"].clone()
    }

    /// Until the replica hears the invalidation channel (and so uses Redis as a tier).
    async fn wait_synced(&self, on: &Replica) {
        let mut check =
            move || async move { (self.cache_stats(on).await["synced"] == true).then_some(()) };
        eventually(
            "the replica to hear the invalidation channel",
            Duration::from_secs(15),
            &mut check,
        )
        .await;
    }

    async fn create(&self, on: &Replica, name: &str) -> (String, String) {
        let (status, body) = send(
            self.client
                .post(format!("{}/api/v1/templates", on.process.url))
                .bearer_auth(&self.editor)
                .json(&sample(name)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["id"].as_str().unwrap().to_string(),
            format!("\"{}\"", body["current_commit"].as_str().unwrap()),
        )
    }

    /// A new description; returns the new ETag.
    async fn update(&self, on: &Replica, id: &str, etag: &str, description: &str) -> String {
        let mut next = sample("replicated");
        next["manifest"]["description"] = json!(description);
        let res = self
            .client
            .put(format!("{}/api/v1/templates/{id}", on.process.url))
            .bearer_auth(&self.editor)
            .header("if-match", etag)
            .json(&next)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.headers()["etag"].to_str().unwrap().to_string()
    }

    /// How many templates a text search on `on` finds (through the response cache and the
    /// replica's search index).
    async fn search_total(&self, on: &Replica, query: &str) -> u64 {
        let (status, body) = send(
            self.client
                .post(format!("{}/api/v1/templates/search", on.process.url))
                .bearer_auth(&self.editor)
                .json(&json!({"query": query})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["total"].as_u64().unwrap()
    }

    async fn set_role(&self, on: &Replica, user_id: &str, role: &str) {
        let (status, body) = send(
            self.client
                .put(format!(
                    "{}/api/v1/admin/users/{user_id}/role",
                    on.process.url
                ))
                .bearer_auth(&self.admin)
                .json(&json!({"role": role})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Until some cached answer is stored in the (private) Redis.
async fn wait_for_cached_answers(redis: &PrivateRedis) {
    let mut stored = move || async move {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("replicas:cache:r:*")
            .query(&mut redis.conn())
            .unwrap();
        (!keys.is_empty()).then_some(())
    };
    eventually(
        "cached answers in Redis",
        Duration::from_secs(10),
        &mut stored,
    )
    .await;
}

fn skip_without_postgres() -> bool {
    if test_database_url().is_none() {
        eprintln!("skipped: the two-replica cache tests need MAESTRO_TEST_DATABASE_URL");
        return true;
    }
    false
}

/// A private redis-server under `dir` for a two-replica test; `None` (the test is skipped)
/// without PostgreSQL or redis-server.
async fn replica_redis(dir: &std::path::Path) -> Option<PrivateRedis> {
    if skip_without_postgres() {
        return None;
    }
    PrivateRedis::start(&dir.join("redis")).await
}

#[tokio::test]
#[ignore = "process-level test on PostgreSQL; run with `cargo test --test api -- --ignored two_replicas`"]
async fn two_replicas_a_write_on_one_is_served_by_the_other_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = replica_redis(dir.path()).await else {
        return;
    };
    // A long in-process TTL: only the pub/sub invalidation can make B see the write in time.
    let cluster = Cluster::start(dir.path(), &redis, "30s").await;
    let (a, b) = (&cluster.a, &cluster.b);
    let (id, first) = cluster.create(a, "replicated").await;
    let path = format!("/api/v1/templates/{id}");

    // A reads (and stores the answer in Redis); B is then answered from Redis, then in-process.
    let (status, _, etag) = cluster.get(a, &path, &cluster.editor).await;
    assert_eq!((status, etag.as_str()), (StatusCode::OK, first.as_str()));
    wait_for_cached_answers(&redis).await;
    let (_, _, etag) = cluster.get(b, &path, &cluster.editor).await;
    assert_eq!(etag, first);
    let stats = cluster.cache_stats(b).await;
    assert!(stats["shared_hits"].as_u64() > Some(0), "{stats}");
    let before = stats["local_hits"].as_u64().unwrap();
    let (_, _, etag) = cluster.get(b, &path, &cluster.editor).await;
    assert_eq!(etag, first);
    assert!(cluster.cache_stats(b).await["local_hits"].as_u64().unwrap() > before);

    for round in 0..3 {
        let current = cluster.get(a, &path, &cluster.editor).await.2;
        let next = cluster
            .update(a, &id, &current, &format!("Round {round}"))
            .await;
        let written = Instant::now();
        let (cluster, path, next) = (&cluster, &path, &next);
        let mut seen = move || async move {
            let (_, body, etag) = cluster.get(b, path, &cluster.editor).await;
            (etag == *next).then_some(body)
        };
        let body = eventually("B to serve the write", Duration::from_secs(5), &mut seen).await;
        let took = written.elapsed();
        assert_eq!(body["description"], format!("Round {round}"));
        assert!(
            took < Duration::from_secs(1),
            "B served the old version for {took:?} after the write (bound: the pub/sub delivery)"
        );
        eprintln!("round {round}: B served the write after {took:?}");
    }
}

/// The search index of replica B follows writes made on A (creates, updates, deletes) as soon as
/// the invalidation message arrives, although B built its index before them.
#[tokio::test]
#[ignore = "process-level test on PostgreSQL; run with `cargo test --test api -- --ignored two_replicas`"]
async fn two_replicas_a_write_on_one_is_found_by_search_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = replica_redis(dir.path()).await else {
        return;
    };
    let cluster = Cluster::start(dir.path(), &redis, "30s").await;
    let (a, b) = (&cluster.a, &cluster.b);
    let (id, mut etag) = cluster.create(a, "replicated").await;
    // B builds its index now; what follows must reach it as refreshes.
    assert_eq!(cluster.search_total(b, "replicated").await, 1);
    assert_eq!(cluster.search_total(b, "zebra0").await, 0);
    // Text searches stay in the replica (its index answers faster than Redis could); a read by
    // id made after them is shared, so once it is in Redis the searches would be too.
    let (status, _, _) = cluster
        .get(b, &format!("/api/v1/templates/{id}"), &cluster.editor)
        .await;
    assert_eq!(status, StatusCode::OK);
    wait_for_cached_answers(&redis).await;
    let shared: Vec<String> = redis::cmd("KEYS")
        .arg("replicas:cache:r:*")
        .query(&mut redis.conn())
        .unwrap();
    assert!(shared.iter().any(|k| k.contains(":detail:")), "{shared:?}");
    assert!(!shared.iter().any(|k| k.contains(":search:")), "{shared:?}");
    let cluster = &cluster;
    for round in 0..3 {
        etag = cluster
            .update(a, &id, &etag, &format!("Round {round}: zebra{round}"))
            .await;
        let written = Instant::now();
        let word = format!("zebra{round}");
        let word = &word;
        let mut found =
            move || async move { (cluster.search_total(b, word).await == 1).then_some(()) };
        eventually(
            "B's search to find the write",
            Duration::from_secs(5),
            &mut found,
        )
        .await;
        let took = written.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "B's search missed the write for {took:?} (bound: the pub/sub delivery)"
        );
        if round > 0 {
            let old = format!("zebra{}", round - 1);
            assert_eq!(
                cluster.search_total(b, &old).await,
                0,
                "the old words are gone"
            );
        }
        eprintln!("round {round}: B's search found the write after {took:?}");
    }
    let (other, _) = cluster.create(a, "okapi-service").await;
    let mut created =
        move || async move { (cluster.search_total(b, "okapi").await == 1).then_some(()) };
    eventually(
        "B's search to find a new template",
        Duration::from_secs(1),
        &mut created,
    )
    .await;
    let (status, _) = send(
        cluster
            .client
            .delete(format!("{}/api/v1/templates/{other}", a.process.url))
            .bearer_auth(&cluster.editor),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut deleted =
        move || async move { (cluster.search_total(b, "okapi").await == 0).then_some(()) };
    eventually(
        "B's search to drop a deleted template",
        Duration::from_secs(1),
        &mut deleted,
    )
    .await;
}

#[tokio::test]
#[ignore = "process-level test on PostgreSQL; run with `cargo test --test api -- --ignored two_replicas`"]
async fn two_replicas_after_redis_restarts_from_a_stale_dump_reads_and_roles_are_current() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut redis) = replica_redis(dir.path()).await else {
        return;
    };
    let local_ttl = Duration::from_secs(2);
    let cluster = Cluster::start(dir.path(), &redis, "2s").await;
    let (a, b) = (&cluster.a, &cluster.b);
    let (id, first) = cluster.create(a, "replicated").await;
    let path = format!("/api/v1/templates/{id}");
    let (demotee, demotee_id) = cluster.demotee.clone();
    for replica in [a, b] {
        assert_eq!(cluster.get(replica, &path, &cluster.editor).await.2, first);
        let (status, body, _) = cluster.get(replica, "/api/v1/admin/users", &demotee).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // B's search index is built before the outage.
    assert_eq!(cluster.search_total(b, "outage").await, 0);
    // Cached answers are in Redis when it saves.
    wait_for_cached_answers(&redis).await;
    let _: () = redis::cmd("SAVE").query(&mut redis.conn()).unwrap();
    redis.kill();

    // The outage: writes on A; B answers every request, and nothing stale past the bound.
    let outage = Instant::now();
    let second = cluster
        .update(a, &id, &first, "Written during the outage")
        .await;
    cluster.set_role(a, &demotee_id, "viewer").await;
    let changed = Instant::now();
    let (cluster_ref, path_ref, second_ref, demotee_ref) = (&cluster, &path, &second, &demotee);
    let mut current_on_b = move || async move {
        let (cluster, path, second, demotee) = (cluster_ref, path_ref, second_ref, demotee_ref);
        let (status, _, etag) = cluster.get(b, path, &cluster.editor).await;
        assert_eq!(status, StatusCode::OK);
        let (role_status, _, _) = cluster.get(b, "/api/v1/admin/users", demotee).await;
        assert!(role_status == StatusCode::OK || role_status == StatusCode::FORBIDDEN);
        (etag == *second && role_status == StatusCode::FORBIDDEN).then_some(())
    };
    eventually(
        "B to serve the outage's writes",
        local_ttl + Duration::from_secs(3),
        &mut current_on_b,
    )
    .await;
    eprintln!(
        "during the outage B was current {:?} after the writes",
        changed.elapsed()
    );
    // Its search index too, within the same bound.
    let cluster_ref = &cluster;
    let mut found =
        move || async move { (cluster_ref.search_total(b, "outage").await == 1).then_some(()) };
    eventually(
        "B's search to find the outage's write",
        local_ttl + Duration::from_secs(3),
        &mut found,
    )
    .await;

    // Redis comes back with the dump taken before the writes.
    redis.restart().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("replicas:cache:r:*")
        .query(&mut redis.conn())
        .unwrap();
    assert!(!keys.is_empty(), "the stale dump was loaded");
    cluster.wait_synced(a).await;
    cluster.wait_synced(b).await;
    eprintln!("outage and recovery took {:?}", outage.elapsed());
    for replica in [b, a] {
        let (status, body, etag) = cluster.get(replica, &path, &cluster.editor).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(etag, second, "current version after the restart");
        assert_eq!(body["description"], "Written during the outage");
        let (status, body, _) = cluster.get(replica, "/api/v1/admin/users", &demotee).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "demoted: {body}");
        let (_, me, _) = cluster.get(replica, "/api/v1/auth/me", &demotee).await;
        assert_eq!(me["role"], "viewer", "{me}");
    }
    // And the shared tier works again: a new write is seen by the other replica at once.
    let third = cluster.update(b, &id, &second, "After the restart").await;
    let (cluster, path, third) = (&cluster, &path, &third);
    let mut seen = move || async move {
        (cluster.get(a, path, &cluster.editor).await.2 == *third).then_some(())
    };
    eventually("A to serve B's write", Duration::from_secs(1), &mut seen).await;
}

/// A frozen Redis (SIGSTOP: connections stay open, nothing answers) costs a read at most about
/// one `redis.command_timeout_ms`; then reads run without calling Redis. In-process server, a
/// private redis-server.
#[tokio::test]
async fn a_frozen_redis_costs_one_timeout_then_reads_run_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = PrivateRedis::start(dir.path()).await else {
        return;
    };
    let app = TestApp::builder()
        .private_redis(&redis)
        .with(|s| s.redis.command_timeout_ms = 300)
        .spawn()
        .await;
    let (status, body) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &sample("frozen"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    app.eventually("the cache to be in sync", Duration::from_secs(10), || {
        let app = &app;
        async move {
            let (_, stats) = app.get("/api/v1/admin/stats", Some(&app.admin.token)).await;
            (stats["cache"]["synced"] == true).then_some(())
        }
    })
    .await;

    redis.freeze();
    // Reads the cache has never seen (each one would be a Redis lookup).
    let search = |i: usize| {
        let app = &app;
        async move {
            let started = Instant::now();
            let (status, body) = app
                .post(
                    "/api/v1/templates/search",
                    Some(&app.viewer.token),
                    &json!({"query": format!("greets {i}")}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            started.elapsed()
        }
    };
    let first = search(0).await;
    eprintln!("first read with Redis frozen: {first:?}");
    // Loose bounds on time (the test machine may be busy); without the per-call timeout and
    // the circuit a read waited seconds.
    assert!(
        first < Duration::from_millis(2000),
        "one read waited {first:?} (command_timeout_ms = 300)"
    );
    // At most a few more reads pay a timeout before the circuit opens or the lost subscription
    // is noticed; then none does.
    let mut slow_in_a_row = 0;
    let mut fast_in_a_row = 0;
    for i in 1..300 {
        let took = search(i).await;
        if took >= Duration::from_millis(250) {
            slow_in_a_row += 1;
            fast_in_a_row = 0;
            assert!(
                slow_in_a_row <= 5,
                "read {i} still waits for Redis ({took:?})"
            );
        } else {
            fast_in_a_row += 1;
            slow_in_a_row = 0;
            if fast_in_a_row == 20 {
                break;
            }
        }
    }
    assert_eq!(
        fast_in_a_row, 20,
        "reads did not get fast with Redis frozen"
    );
    let (status, _) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(status, 200);

    redis.thaw();
    app.eventually(
        "the cache to be in sync again",
        Duration::from_secs(15),
        || {
            let app = &app;
            async move {
                let (_, stats) = app.get("/api/v1/admin/stats", Some(&app.admin.token)).await;
                (stats["cache"]["synced"] == true).then_some(())
            }
        },
    )
    .await;
    app.shutdown().await;
}

/// One replica's cache in this process (the two-tier cache of `maestro serve`, without HTTP).
fn replica_cache(redis_url: String, local_ttl: Duration) -> Cache {
    let handle = RedisHandle::new(&RedisSettings {
        url: redis_url,
        key_prefix: "lost".into(),
        pool_size: 4,
        command_timeout_ms: 300,
        breaker_failures: 3,
        breaker_open: HumanDuration(Duration::from_secs(1)),
    })
    .unwrap();
    Cache::redis(
        handle,
        &CacheSettings {
            default_ttl_secs: 300,
            max_entries: 100,
            max_bytes: HumanBytes(1 << 20),
            local_ttl: HumanDuration(local_ttl),
        },
    )
}

/// A read of one cached answer of tenant `t1`: what was served, and from which tier.
async fn cached_read(cache: &Cache, value: &'static str) -> (String, Tier) {
    let (body, tier) = cache
        .response::<std::convert::Infallible, _, _>("ns", "t1", "k", Reach::Shared, || async {
            Ok(CachedBody {
                body: value.into(),
                tag: Some("t".into()),
                restricted: false,
            })
        })
        .await
        .unwrap();
    (String::from_utf8_lossy(&body.body).into_owned(), tier)
}

async fn wait_synced_cache(cache: &Cache, synced: bool) {
    let mut check = move || async move { (cache.stats().synced == synced).then_some(()) };
    eventually(
        if synced {
            "the cache to be in sync"
        } else {
            "the cache to lose its channel"
        },
        Duration::from_secs(15),
        &mut check,
    )
    .await;
}

/// The subscription of replica B is lost and made again while Redis stays up (B reaches Redis
/// through a proxy the test cuts). With nothing written meanwhile B keeps its in-process answer
/// and its identities; a write and an eviction made on A meanwhile are not served by B after it
/// is back. The in-process TTL is 30 s, so only the check after resubscribing can drop B's entry.
#[tokio::test]
async fn a_lost_subscription_keeps_the_in_process_tier_unless_something_was_missed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = PrivateRedis::start(dir.path()).await else {
        return;
    };
    let proxy = ChaosProxy::start(format!("127.0.0.1:{}", redis.port)).await;
    let local_ttl = Duration::from_secs(30);
    let a = replica_cache(redis.url(), local_ttl);
    let b = replica_cache(format!("redis://127.0.0.1:{}/0", proxy.port), local_ttl);
    let evicted = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let seen = evicted.clone();
    b.on_evict("users", move |id| {
        seen.lock().unwrap().push(id.map(str::to_string))
    });
    let cancel = CancellationToken::new();
    tokio::spawn(a.sync_task(cancel.clone()));
    wait_synced_cache(&a, true).await;
    tokio::spawn(b.sync_task(cancel.clone()));
    wait_synced_cache(&b, true).await;
    evicted.lock().unwrap().clear();
    assert_eq!(cached_read(&b, "v1").await, ("v1".into(), Tier::Computed));
    assert_eq!(cached_read(&b, "v2").await, ("v1".into(), Tier::Local));

    // Lost and back, nothing written meanwhile: everything stays.
    proxy.cut();
    wait_synced_cache(&b, false).await;
    proxy.restore();
    wait_synced_cache(&b, true).await;
    assert_eq!(cached_read(&b, "v2").await, ("v1".into(), Tier::Local));
    assert_eq!(*evicted.lock().unwrap(), Vec::<Option<String>>::new());
    let misses = b.stats().misses;

    // Lost while A writes the tenant and evicts a user: B hears neither, and catches up.
    proxy.cut();
    wait_synced_cache(&b, false).await;
    a.bump("ns", "t1").await;
    a.evict("users", "u1").await;
    proxy.restore();
    wait_synced_cache(&b, true).await;
    assert_eq!(cached_read(&b, "v3").await, ("v3".into(), Tier::Computed));
    assert_eq!(b.stats().misses, misses + 1);
    assert_eq!(*evicted.lock().unwrap(), vec![None], "the missed eviction");
    // A's own state was never dropped: its next eviction is one id, heard by B at once.
    a.evict("users", "u2").await;
    let (evicted_ref, want) = (&evicted, vec![None, Some("u2".to_string())]);
    let want = &want;
    let mut heard = move || async move { (*evicted_ref.lock().unwrap() == *want).then_some(()) };
    eventually("B to hear A's eviction", Duration::from_secs(5), &mut heard).await;
    cancel.cancel();
}

/// Redis stalls for a second (SIGSTOP, as a saturated host's scheduler did for 0.8–1.4 s):
/// an in-process answer older than `cache.local_ttl` (2 s), so served only on the channel's
/// proof, stays in process through the stall and after it — the PINGs sent meanwhile are
/// answered when Redis runs again, and the proof is never older than the stall plus one
/// heartbeat (250 ms). Nothing calls Redis on these reads, so none waits for it.
#[tokio::test]
async fn a_redis_stall_shorter_than_the_in_process_ttl_keeps_older_entries_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = PrivateRedis::start(dir.path()).await else {
        return;
    };
    let local_ttl = Duration::from_secs(2);
    let cache = replica_cache(redis.url(), local_ttl);
    let cancel = CancellationToken::new();
    tokio::spawn(cache.sync_task(cancel.clone()));
    wait_synced_cache(&cache, true).await;
    assert_eq!(
        cached_read(&cache, "v1").await,
        ("v1".into(), Tier::Computed)
    );
    // The entry's age is what this test is about: past `local_ttl`, only the proof serves it.
    tokio::time::sleep(local_ttl + Duration::from_millis(200)).await;
    assert_eq!(cached_read(&cache, "v2").await, ("v1".into(), Tier::Local));

    let read_for = |period: Duration| {
        let cache = &cache;
        async move {
            let until = Instant::now() + period;
            while Instant::now() < until {
                assert_eq!(
                    cached_read(cache, "v2").await,
                    ("v1".into(), Tier::Local),
                    "an entry older than cache.local_ttl left the in-process tier"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    redis.freeze();
    read_for(Duration::from_secs(1)).await;
    redis.thaw();
    read_for(Duration::from_secs(1)).await;
    assert!(cache.stats().synced, "the stall cost the subscription");
    cancel.cancel();
}

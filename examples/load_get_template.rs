//! Load run against `GET /api/v1/templates/{id}`: starts Maestro in this process on a free
//! loopback port (SQLite and the in-process cache by default; `--database-url` / `--redis-url`
//! for PostgreSQL and Redis), creates a user and one template, then `--concurrency` clients
//! request that template for `--seconds` and the run prints requests/s and latency percentiles.
//!
//! cargo run --release --example load_get_template -- --concurrency 32 --seconds 20

use std::sync::Arc;
use std::time::{Duration, Instant};

use maestro::config::{Environment, LoadOptions, Settings};
use maestro::platform::auth::Role;
use maestro::server::Application;
use serde_json::json;

struct Args {
    concurrency: usize,
    seconds: u64,
    database_url: Option<String>,
    redis_url: Option<String>,
    include_content: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        concurrency: 32,
        seconds: 20,
        database_url: None,
        redis_url: None,
        include_content: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            "--database-url" => args.database_url = Some(value()?),
            "--redis-url" => args.redis_url = Some(value()?),
            "--include-content" => args.include_content = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; use --concurrency N --seconds N [--database-url URL] [--redis-url URL] [--include-content]"
                ));
            }
        }
    }
    if args.concurrency == 0 || args.seconds == 0 {
        return Err("--concurrency and --seconds must be at least 1".into());
    }
    Ok(args)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::load(&LoadOptions {
        config_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
        environment: Some(Environment::Test),
        read_process_env: false,
    })?;
    settings.data_dir = dir.path().join("data");
    // PostgreSQL: a scratch schema, dropped at the end; Redis: a scratch key prefix, likewise.
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let schema = format!("load_{run_id}");
    settings.database.url = match &args.database_url {
        Some(url) => {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            diesel::PgConnection::establish(url)?
                .batch_execute(&format!("CREATE SCHEMA {schema}"))?;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options=-c%20search_path%3D{schema}")
        }
        None => format!("sqlite://{}", dir.path().join("load.db").display()),
    };
    settings.redis.url = args.redis_url.clone().unwrap_or_default();
    settings.redis.key_prefix = format!("mload-{run_id}");
    settings.database.pool_size = 16;
    let app = Application::build(settings).await?;
    let port = app.port();
    let platform = app.platform().clone();
    let handle = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());

    let email = format!("load-{}@bench.test", uuid::Uuid::new_v4().simple());
    platform
        .auth
        .create_user_in_tenant_named("loadtest", &email, "correct-horse-battery", Role::Editor)
        .await
        .map_err(|e| e.detail)?;
    let token = platform
        .auth
        .token_for_email(&email)
        .await
        .map_err(|e| e.detail)?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let body = json!({
        "manifest": {
            "name": "load-target", "version": "1.0.0", "description": "A FastAPI service template used for the load run",
            "category": "backend_developer", "author": "Bench", "tags": ["python", "api"],
            "parameters": [{"name": "project_name", "type": "string", "default": "svc"}]
        },
        "files": (0..24).map(|i| (format!("{{{{ project_name }}}}/module_{i}.py"), json!("def handler():\n    return {'name': '{{ project_name }}'}\n".repeat(20)))).collect::<serde_json::Map<_, _>>()
    });
    let created: serde_json::Value = client
        .post(format!("{base}/api/v1/templates"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_str().ok_or("no id")?.to_string();
    let url = if args.include_content {
        format!("{base}/api/v1/templates/{id}?include=content")
    } else {
        format!("{base}/api/v1/templates/{id}")
    };
    let size = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await?
        .bytes()
        .await?
        .len();

    // Warm-up (connections, cache), then the measured run.
    let warm_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < warm_until {
        client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .bytes()
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let url = Arc::new(url);
    let token = Arc::new(token);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(16_384);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match client
                    .get(url.as_str())
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                {
                    Ok(res) if res.status().is_success() => {
                        if res.bytes().await.is_err() {
                            errors += 1;
                            continue;
                        }
                        latencies.push(t0.elapsed().as_micros() as u64);
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let hit_ratio = metrics
        .lines()
        .find(|l| l.starts_with("maestro_templates_cache_hit_ratio"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("?")
        .to_string();
    println!(
        "GET /api/v1/templates/{{id}}{}  ({} bytes per response)",
        if args.include_content {
            "?include=content"
        } else {
            ""
        },
        size
    );
    println!(
        "backend: {}  cache: {}",
        platform.db.backend().as_str(),
        platform.cache.stats().backend
    );
    println!(
        "concurrency {}  duration {:.1} s  requests {}  errors {}",
        args.concurrency,
        elapsed,
        all.len(),
        errors
    );
    println!("throughput {:.0} requests/s", all.len() as f64 / elapsed);
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        percentile(&all, 50.0),
        percentile(&all, 90.0),
        percentile(&all, 99.0),
        percentile(&all, 99.9),
        percentile(&all, 100.0)
    );
    println!("templates cache hit ratio: {hit_ratio}");
    handle.shutdown().await;
    let _ = server.await;
    if let Some(url) = &args.database_url {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        diesel::PgConnection::establish(url)?
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))?;
    }
    if let Some(url) = &args.redis_url {
        let mut conn = redis::Client::open(url.as_str())?.get_connection()?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("mload-{run_id}:*"))
            .query(&mut conn)?;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query(&mut conn)?;
        }
    }
    Ok(())
}

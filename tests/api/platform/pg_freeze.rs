//! A PostgreSQL that stops answering without closing connections (`SIGSTOP` on the postmaster and
//! every backend: what a frozen host or a network partition looks like to Maestro). Requests that
//! need the database answer 503 problem+json with `Retry-After` within 1 s, `/readyz` reports the
//! database down, and after `SIGCONT` everything recovers without restarting Maestro.
//!
//! Process-level: the real binary (default database settings) against a private PostgreSQL
//! (initdb in a temp dir, its own port; the shared server is never signalled). Run with
//! `cargo test --test api -- --ignored frozen_postgres`; skipped when the PostgreSQL server
//! binaries are missing (`MAESTRO_TEST_PG_BIN` names their directory, default: the newest
//! `/usr/lib/postgresql/<version>/bin`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use maestro::platform::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{MaestroProcess, free_port, platform_for};

/// The bound the issue sets for an answer while the database is frozen.
const BOUND: Duration = Duration::from_secs(1);

fn pg_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("MAESTRO_TEST_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| d.join("pg_ctl").exists());
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A throwaway PostgreSQL server. PostgreSQL refuses to run as root, so under root it runs as
/// the `postgres` user. Dropping it resumes and stops it.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    frozen: Vec<u32>,
}

impl PrivatePostgres {
    fn start() -> Result<PrivatePostgres, String> {
        let bin = pg_bin_dir().ok_or("no PostgreSQL server binaries (initdb, pg_ctl) found")?;
        let as_postgres = is_root();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if as_postgres {
            let owned = Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .status()
                .map_err(|e| e.to_string())?;
            if !owned.success() {
                return Err("running as root and there is no `postgres` user to run it".into());
            }
        }
        let pg = PrivatePostgres {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            frozen: Vec::new(),
        };
        let data = pg.data_dir().display().to_string();
        pg.run_tool(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.port,
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("postgres.log").display().to_string();
        pg.run_tool(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        )?;
        Ok(pg)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run_tool(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(&program);
            cmd
        } else {
            Command::new(&program)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The postmaster (first line of `postmaster.pid`) and its children, postmaster first.
    fn pids(&self) -> Vec<u32> {
        let pidfile = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .expect("postmaster.pid of the private server");
        let postmaster: u32 = pidfile.lines().next().unwrap().trim().parse().unwrap();
        let children = Command::new("pgrep")
            .args(["-P", &postmaster.to_string()])
            .output()
            .expect("pgrep");
        let mut pids = vec![postmaster];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok()),
        );
        pids
    }

    fn signal(pids: &[u32], signal: &str) {
        if pids.is_empty() {
            return;
        }
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .args(pids.iter().map(u32::to_string))
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {pids:?}");
    }

    /// SIGSTOP the postmaster first (it forks no new backend after that), then every child.
    fn freeze(&mut self) {
        let pids = self.pids();
        Self::signal(&pids, "STOP");
        self.frozen = pids;
    }

    fn thaw(&mut self) {
        Self::signal(&std::mem::take(&mut self.frozen), "CONT");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.thaw();
        let data = self.data_dir().display().to_string();
        let _ = self.run_tool("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}

/// One request, timed; (status, Retry-After, content type, body, elapsed).
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    content_type: String,
    body: serde_json::Value,
    elapsed: Duration,
}

async fn call(client: &reqwest::Client, req: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let res = client
        .execute(req.build().unwrap())
        .await
        .expect("Maestro answers (no client timeout)");
    let status = res.status();
    let header = |name| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header(reqwest::header::RETRY_AFTER);
    let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
    let body = res.json().await.unwrap_or_default();
    Answer {
        status,
        retry_after,
        content_type,
        body,
        elapsed: started.elapsed(),
    }
}

#[tokio::test]
#[ignore = "process-level; run with `cargo test --test api -- --ignored frozen_postgres`"]
async fn frozen_postgres_gives_fast_503s_and_recovers_on_sigcont_without_restart() {
    let mut pg = match PrivatePostgres::start() {
        Ok(pg) => pg,
        Err(why) => {
            eprintln!("skipped: cannot start a private PostgreSQL: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_for(&pg.url(), dir.path()).await;
    let email = "frozen@acme.test";
    let password = "correct-horse-battery";
    platform
        .auth
        .create_user_in_tenant_named("acme", email, password, Role::Admin)
        .await
        .unwrap();
    let token = platform.auth.token_for_email(email).await.unwrap();
    drop(platform);

    let mut maestro = MaestroProcess::start(dir.path(), "maestro", &pg.url(), &[]);
    // Generous client timeout: a hang shows as a slow answer in the assertions, not a stuck test.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    maestro.wait_ready(&client).await;
    let log = maestro.log.clone();
    let base = maestro.url.clone();
    // Requests that need the database (no cache in front): a read, a write, a sign-in.
    let serial = std::sync::atomic::AtomicUsize::new(0);
    let requests = |client: &reqwest::Client| {
        let n = serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let workflow =
            json!({"name": format!("frozen-{n}"), "steps": [{"id": "a", "uses": "noop"}]});
        vec![
            (
                "GET /api/v1/workflows/runs",
                client
                    .get(format!("{base}/api/v1/workflows/runs"))
                    .bearer_auth(&token),
                StatusCode::OK,
            ),
            (
                "POST /api/v1/workflows",
                client
                    .post(format!("{base}/api/v1/workflows"))
                    .bearer_auth(&token)
                    .json(&workflow),
                StatusCode::CREATED,
            ),
            (
                "POST /api/v1/auth/token",
                client
                    .post(format!("{base}/api/v1/auth/token"))
                    .json(&json!({"email": email, "password": password})),
                StatusCode::OK,
            ),
        ]
    };
    let show_log = |log: &Path| std::fs::read_to_string(log).unwrap_or_default();
    for (what, req, ok) in requests(&client) {
        let a = call(&client, req).await;
        assert_eq!(a.status, ok, "{what} before the freeze: {}", a.body);
    }

    pg.freeze();

    // One request after another: the first ones find the database silent, the later ones find
    // the breaker open. Every one answers a 503 problem within the bound.
    let mut slowest = Vec::new();
    for round in 0..4 {
        for (what, req, _) in requests(&client) {
            let a = call(&client, req).await;
            slowest.push((a.elapsed, what));
            assert_eq!(
                a.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "round {round}, {what}: {}\n{}",
                a.body,
                show_log(&log)
            );
            assert!(
                a.elapsed < BOUND,
                "round {round}, {what}: answered after {:?}",
                a.elapsed
            );
            assert_eq!(a.content_type, "application/problem+json", "{what}");
            assert_eq!(a.body["code"], "db.unavailable", "{what}: {}", a.body);
            assert!(a.retry_after.is_some(), "{what}: 503 without Retry-After");
        }
    }
    let first = slowest[0];
    slowest.sort();
    eprintln!(
        "frozen: first request {first:?}, slowest {:?}",
        slowest.last()
    );
    // Many at once: none queues behind another.
    let burst = (0..24).map(|i| {
        let client = client.clone();
        let req = requests(&client).swap_remove(i % 3).1;
        async move { call(&client, req).await }
    });
    let burst = futures::future::join_all(burst).await;
    eprintln!(
        "frozen, 24 at once: slowest {:?}",
        burst.iter().map(|a| a.elapsed).max()
    );
    for a in burst {
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
        assert!(
            a.elapsed < BOUND,
            "a concurrent request answered after {:?}",
            a.elapsed
        );
        assert!(a.retry_after.is_some());
    }
    let ready = call(&client, client.get(format!("{base}/readyz"))).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.body
    );
    assert_eq!(ready.body["database"]["status"], "down", "{}", ready.body);
    assert!(
        ready.elapsed < BOUND,
        "/readyz answered after {:?}",
        ready.elapsed
    );

    pg.thaw();

    let recovered = Instant::now();
    crate::helpers::eventually(
        "every request to succeed again",
        Duration::from_secs(20),
        &mut || {
            let (client, requests, base) = (&client, &requests, base.as_str());
            async move {
                for (_, req, ok) in requests(client) {
                    if call(client, req).await.status != ok {
                        return None;
                    }
                }
                let ready = call(client, client.get(format!("{base}/readyz"))).await;
                (ready.status == StatusCode::OK).then_some(())
            }
        },
    )
    .await;
    eprintln!("recovered {:?} after SIGCONT", recovered.elapsed());
    assert!(
        maestro.child.try_wait().unwrap().is_none(),
        "the same Maestro process serves again (no restart)"
    );
}

//! Everything the fake holds behind its one lock: the store, the knobs a test turns, injected
//! faults, registered scripts, the simulated runtimes (pods, jobs, replica sets, namespaces),
//! the request log and recorded internal failures.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::kubelet::PodRuntime;
use super::scripts::Scripts;
use super::store::Store;

/// How long a deleted namespace stays `Terminating` after its content is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linger {
    /// Gone as soon as its content is removed.
    No,
    /// Stays for this long (tokio time).
    For(Duration),
    /// Stays until `FakeCluster::release_namespace` (a stuck finalizer).
    UntilReleased,
}

/// Switches and timings of the simulation. All controllers are on by default.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub job_controller: bool,
    pub deployment_controller: bool,
    /// Pods get scheduled and their containers run (per scripts).
    pub kubelet: bool,
    pub namespace_controller: bool,
    /// ResourceQuota admission (and quota status).
    pub quota_admission: bool,
    /// LimitRange defaults for pods.
    pub limit_ranger: bool,
    /// `pod-security.kubernetes.io/enforce` on namespaces is enforced (baseline, restricted).
    pub pod_security: bool,
    /// When set, pods stay Pending with `PodScheduled=False`, reason Unschedulable, this message.
    pub unschedulable: Option<String>,
    pub namespace_linger: Linger,
    /// Jobs get `SuccessCriteriaMet` / `FailureTarget` but not `Complete` / `Failed` until
    /// `FakeCluster::release_job`.
    pub hold_job_terminal: bool,
    /// Delay before a failed Job pod is replaced (the real controller uses 10s, doubling).
    pub job_retry_backoff: Duration,
    /// Delay before a controller retries a pod create that admission refused.
    pub create_retry_interval: Duration,
    /// ErrImagePull turns into ImagePullBackOff after this long.
    pub image_pull_backoff_after: Duration,
    /// First CrashLoopBackOff delay (doubles per restart, capped at 5 min).
    pub crash_backoff: Duration,
    /// Watches with `allowWatchBookmarks` get a BOOKMARK this often.
    pub bookmark_interval: Duration,
    /// Watches without `timeoutSeconds` close after this long.
    pub default_watch_timeout: Duration,
    /// How long the `wait_*` helpers wait (tokio time: raise it under `time::pause()`).
    pub wait_limit: Duration,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            job_controller: true,
            deployment_controller: true,
            kubelet: true,
            namespace_controller: true,
            quota_admission: true,
            limit_ranger: true,
            pod_security: true,
            unschedulable: None,
            namespace_linger: Linger::No,
            hold_job_terminal: false,
            job_retry_backoff: Duration::from_millis(10),
            create_retry_interval: Duration::from_secs(1),
            image_pull_backoff_after: Duration::from_millis(200),
            crash_backoff: Duration::from_secs(10),
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            wait_limit: Duration::from_secs(60),
        }
    }
}

/// An injected error: the next `remaining` requests whose method matches (None = any) and whose
/// path contains `path_contains` get `code` with a Status body.
#[derive(Debug, Clone)]
pub struct ErrorRule {
    pub method: Option<String>,
    pub path_contains: String,
    pub remaining: u32,
    pub code: u16,
}

#[derive(Debug, Default)]
pub struct Faults {
    pub errors: Vec<ErrorRule>,
    /// The next N watch requests get an `ERROR` 410 event and close.
    pub gone_next_watches: u32,
    /// The next request whose path contains this makes the handler panic (tests the guard).
    pub panic_next: Option<String>,
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub status: u16,
}

impl RequestRecord {
    /// A query parameter's value.
    pub fn param(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// Job controller memory per Job uid.
#[derive(Debug, Default)]
pub struct JobRuntime {
    /// No pod create before this (retry after a refused create or a failed pod).
    pub not_before: Option<Instant>,
    /// Failed pods already counted for the backoff delay.
    pub seen_failures: i64,
    /// The pod name of a create admission refused (reused so repeats count on one Event).
    pub pending_name: Option<String>,
}

/// Namespace controller memory per namespace name.
#[derive(Debug)]
pub struct NamespaceRuntime {
    pub emptied_at: Instant,
}

pub struct State {
    pub store: Store,
    pub knobs: Knobs,
    pub faults: Faults,
    pub scripts: Scripts,
    pub gates: HashSet<String>,
    pub pods: HashMap<String, PodRuntime>,
    pub jobs: HashMap<String, JobRuntime>,
    /// ReplicaSet uid → no pod create before.
    pub replicasets: HashMap<String, Instant>,
    pub namespaces: HashMap<String, NamespaceRuntime>,
    pub released_namespaces: HashSet<String>,
    /// (namespace, name) of Jobs whose terminal condition may be set despite `hold_job_terminal`.
    pub released_jobs: HashSet<(String, String)>,
    pub requests: Vec<RequestRecord>,
    pub failures: Vec<String>,
    pub next_ip: u32,
    /// Ticks on every log line and container state change (log followers wait on it).
    pub log_tick: watch::Sender<u64>,
    /// Ticks when the test asks to drop every open watch connection.
    pub drop_watches: watch::Sender<u64>,
}

impl State {
    pub fn tick_logs(&self) {
        self.log_tick.send_modify(|n| *n += 1);
    }
}

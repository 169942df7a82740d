//! The engine: claims ready steps in batches, executes them in-process, and commits their results
//! in batches. One claimer leases due queue rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL) up to
//! the free capacity; each step runs as a task under its timeout; completers drain finished
//! steps and commit as many as are ready in one transaction, claiming the steps they unblock for
//! this engine in that same transaction, so a sequential workflow needs one commit per step and
//! no queue round trip. A heartbeat renews the leases of steps in flight; a crashed replica's
//! leases expire and its steps are taken over (the attempt counts).
//!
//! Wake-ups: in-process (`Notify`) when this process enqueues work, PostgreSQL LISTEN/NOTIFY
//! when another replica (or API node) does, and a timer for the next due row (backoffs, `wait`,
//! event timeouts, run timeouts, expired leases), capped by `poll_interval`. An idle engine runs
//! one small query per `poll_interval`.
//!
//! Files: this one (the engine's state, compiled definitions, loading runs), `transact.rs` (the
//! one transaction recipe every run change follows), `execute.rs` (running one step), `tasks.rs`
//! (claimer, completers, heartbeat).

mod execute;
mod tasks;
mod transact;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::definition::{self, Definition, StepCatalog};
use super::dialect;
use super::machine::{self, Done, ExecTask, MachineError, RunCtx};
use super::model::RunStatus;
use super::settings::WorkflowsSettings;
use super::store;
use crate::config::Settings;
use crate::platform::auth::TenantId;
use crate::platform::db::{Db, DbConnection, DbError};
use crate::platform::steps::StepRegistry;

const DEFINITION_CACHE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Machine(#[from] MachineError),
    #[error("workflow {workflow_id} has no version {version}")]
    NoVersion { workflow_id: String, version: i64 },
    /// A stored run or definition the engine cannot work with any more.
    #[error("{0}")]
    Unloadable(String),
}

impl From<EngineError> for crate::platform::http::error::ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Db(d) => d.into(),
            EngineError::Query(q) | EngineError::Machine(MachineError::Store(q)) => q.into(),
            other => crate::platform::http::error::ApiError::internal(other),
        }
    }
}

/// Accepts every step type: a stored definition was validated when it was created; a type that
/// has since disappeared fails the step at run time with a clear error instead.
struct AnyType;
impl StepCatalog for AnyType {
    fn check(&self, _uses: &str, _with: &Value) -> Option<Result<(), String>> {
        Some(Ok(()))
    }
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    registry: StepRegistry,
    settings: WorkflowsSettings,
    bus: crate::platform::bus::Bus,
    /// PostgreSQL only: the URL of the LISTEN connection (the pool's timeouts and keepalive).
    listen_url: Option<String>,
    owner: String,
    lease: Duration,
    poll: Duration,
    wake: Notify,
    channel: Mutex<Option<String>>,
    definitions: Mutex<HashMap<(String, i64), Arc<Definition>>>,
    in_flight: AtomicUsize,
    /// Transactions of [`Engine::transact`] under way (until their executions have started).
    transacting: AtomicUsize,
    tokens: Mutex<HashMap<String, usize>>,
    results_tx: mpsc::UnboundedSender<Done>,
    results_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Done>>,
    /// Runs with executions in this process: their cancel token and how many are in flight.
    local_runs: Mutex<HashMap<String, (CancellationToken, usize)>>,
}

impl Engine {
    pub fn new(
        settings: &Settings,
        db: Db,
        registry: StepRegistry,
        bus: crate::platform::bus::Bus,
    ) -> Engine {
        let ws = settings.workflows.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "maestro".into());
        let owner = format!(
            "{host}-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Engine {
            inner: Arc::new(Inner {
                db,
                registry,
                lease: ws.lease(),
                poll: ws.poll_interval(),
                settings: ws,
                bus,
                listen_url: (crate::platform::db::Backend::from_url(&settings.database.url)
                    == Ok(crate::platform::db::Backend::Postgres))
                .then(|| crate::platform::db::postgres_url(&settings.database)),
                owner,
                wake: Notify::new(),
                channel: Mutex::new(None),
                definitions: Mutex::new(HashMap::new()),
                in_flight: AtomicUsize::new(0),
                transacting: AtomicUsize::new(0),
                tokens: Mutex::new(HashMap::new()),
                results_tx: tx,
                results_rx: tokio::sync::Mutex::new(rx),
                local_runs: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn settings(&self) -> &WorkflowsSettings {
        &self.inner.settings
    }

    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// Free execution slots in this process (0 when the engine does not run here).
    pub fn capacity(&self) -> usize {
        if !self.inner.settings.engine {
            return 0;
        }
        self.inner
            .settings
            .max_in_flight
            .saturating_sub(self.inner.in_flight.load(Ordering::Relaxed))
    }

    /// The NOTIFY channel of this deployment (PostgreSQL), once known.
    pub fn channel(&self) -> Option<String> {
        self.inner.channel.lock().ok().and_then(|c| c.clone())
    }

    /// Wakes the local claimer.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops local executions of a run (after it was cancelled).
    pub fn cancel_local(&self, run_id: &str) {
        if let Ok(map) = self.inner.local_runs.lock()
            && let Some((token, _)) = map.get(run_id)
        {
            token.cancel();
        }
    }

    /// A definition version, compiled once and cached (versions never change).
    pub fn definition(
        &self,
        conn: &mut DbConnection,
        tenant: &TenantId,
        workflow_id: &str,
        version: i64,
    ) -> Result<Arc<Definition>, EngineError> {
        let key = (workflow_id.to_string(), version);
        if let Ok(cache) = self.inner.definitions.lock()
            && let Some(def) = cache.get(&key)
        {
            return Ok(def.clone());
        }
        let row = store::version(conn, tenant, workflow_id, version)?.ok_or_else(|| {
            EngineError::NoVersion {
                workflow_id: workflow_id.to_string(),
                version,
            }
        })?;
        let def = Arc::new(self.compile(&row.definition)?);
        if let Ok(mut cache) = self.inner.definitions.lock() {
            if cache.len() >= DEFINITION_CACHE {
                cache.clear();
            }
            cache.insert(key, def.clone());
        }
        Ok(def)
    }

    fn compile(&self, stored: &str) -> Result<Definition, EngineError> {
        let doc = serde_json::from_str(stored).map_err(|e| {
            EngineError::Unloadable(format!("its stored definition is unreadable: {e}"))
        })?;
        let mut lenient = self.inner.settings.clone();
        lenient.max_steps = usize::MAX;
        definition::validate(doc, &AnyType, &lenient).map_err(|errors| {
            EngineError::Unloadable(format!(
                "its stored definition no longer validates: {}",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })
    }

    /// Loads and locks runs and their steps into contexts.
    pub fn load_runs(
        &self,
        conn: &mut DbConnection,
        run_ids: &[String],
    ) -> Result<BTreeMap<String, RunCtx>, EngineError> {
        self.load_runs_with(conn, run_ids, false)
    }

    pub(super) fn load_runs_with(
        &self,
        conn: &mut DbConnection,
        run_ids: &[String],
        skip_locked: bool,
    ) -> Result<BTreeMap<String, RunCtx>, EngineError> {
        let runs = dialect::lock_runs(conn, run_ids, skip_locked)?;
        let mut out = BTreeMap::new();
        for run in runs {
            let tenant = TenantId(run.tenant_id.clone());
            let steps = Vec::new();
            let id = run.id.clone();
            match self.definition(conn, &tenant, &run.workflow_id, run.version) {
                Ok(def) => match RunCtx::new(run, def, steps) {
                    Some(ctx) => {
                        out.insert(id, ctx);
                    }
                    None => {
                        self.quarantine(conn, &id, "its step rows do not match its definition")?
                    }
                },
                Err(e @ (EngineError::NoVersion { .. } | EngineError::Unloadable(_))) => {
                    self.quarantine(conn, &id, &e.to_string())?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A run that cannot be loaded any more is failed (with an audit entry) so it never blocks
    /// the queue.
    fn quarantine(
        &self,
        conn: &mut DbConnection,
        run_id: &str,
        why: &str,
    ) -> Result<(), EngineError> {
        tracing::error!(run_id, why, "workflow run cannot be loaded; failing it");
        let Some(mut run) = store::runs_of(conn, &[run_id.to_string()])?.pop() else {
            return Ok(());
        };
        let from = run.status.clone();
        let now = machine::now();
        let entry = super::audit::append(
            &mut run,
            super::audit::Transition {
                at: now,
                event: "run.failed",
                from: Some(&from),
                to: Some(RunStatus::Failed.as_str()),
                step_id: None,
                actor: "engine",
                detail: serde_json::json!({"reason": why}),
            },
        );
        run.status = RunStatus::Failed.as_str().into();
        run.error = Some(format!("the run cannot continue: {why}"));
        run.finished_at = Some(now);
        run.updated_at = now;
        store::update_run(conn, &run)?;
        store::insert_audit(conn, &[entry])?;
        store::delete_queue_for_run(conn, run_id)?;
        Ok(())
    }

    fn track(&self, token: &str, delta: isize) {
        if let Ok(mut map) = self.inner.tokens.lock() {
            let entry = map.entry(token.to_string()).or_insert(0);
            if delta >= 0 {
                *entry += delta as usize;
            } else {
                *entry = entry.saturating_sub(delta.unsigned_abs());
            }
            if *entry == 0 {
                map.remove(token);
            }
        }
    }

    /// The LISTEN connection's URL; `None` on SQLite.
    pub(super) fn listen_url(&self) -> Option<&str> {
        self.inner.listen_url.as_deref()
    }

    /// Ready, unleased queue rows (for `/metrics`).
    pub async fn queue_depth(&self) -> Option<i64> {
        self.inner
            .db
            .run(|conn| store::queue_depth(conn, machine::now()).map_err(EngineError::from))
            .await
            .ok()
    }

    /// Whether this engine has nothing to do right now: no transaction under way, no step
    /// executing or waiting to be committed, and no queue row due (held rows of paused runs and
    /// timers in the future are not due). Tests use it to check that something did *not*
    /// happen, instead of sleeping.
    pub async fn is_idle(&self) -> bool {
        if self.inner.transacting.load(Ordering::SeqCst) > 0
            || self.inner.in_flight.load(Ordering::SeqCst) > 0
        {
            return false;
        }
        self.queue_depth().await == Some(0)
            && self.inner.transacting.load(Ordering::SeqCst) == 0
            && self.inner.in_flight.load(Ordering::SeqCst) == 0
    }
}

/// `maestro_workflows_<schema>`: NOTIFY channels are global to a database, so deployments (and
/// tests) in different schemas must not wake each other.
fn channel_name(schema: &str) -> String {
    let clean: String = schema
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("maestro_workflows_{clean}");
    name.truncate(63);
    name
}

/// The step's span joins the run's trace (stored as a W3C traceparent on the run).
fn step_span(task: &ExecTask) -> tracing::Span {
    let trace_id = task
        .trace_parent
        .as_deref()
        .and_then(crate::platform::telemetry::parse_traceparent)
        .map(|(t, _, _)| t)
        .unwrap_or_default();
    let span = tracing::info_span!(
        "workflow.step",
        otel.name = %format!("step {}", task.step_id),
        run_id = %task.run_id,
        workflow_id = %task.workflow_id,
        step_id = %task.step_id,
        step_type = %task.uses,
        attempt = task.attempt,
        tenant_id = %task.tenant,
        trace_id = %trace_id,
    );
    set_remote_parent(&span, task.trace_parent.as_deref());
    span
}

pub fn set_remote_parent(span: &tracing::Span, trace_parent: Option<&str>) {
    if !crate::platform::telemetry::otel_enabled() {
        return;
    }
    let Some((trace_id, span_id, sampled)) =
        trace_parent.and_then(crate::platform::telemetry::parse_traceparent)
    else {
        return;
    };
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let (Ok(trace_id), Ok(span_id)) = (TraceId::from_hex(&trace_id), SpanId::from_hex(&span_id))
    else {
        return;
    };
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

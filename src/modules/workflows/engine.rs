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

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::definition::{self, Definition, StepCatalog};
use super::dialect;
use super::machine::{self, Done, ExecTask, Failure, Machine, RunCtx};
use super::model::*;
use super::store;
use crate::config::{Settings, WorkflowsSettings};
use crate::platform::auth::TenantId;
use crate::platform::db::{Db, DbConnection, DbError};
use crate::platform::module::BackgroundTask;
use crate::platform::steps::{StepContext, StepFailure, StepRegistry};

const DEFINITION_CACHE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("{0}")]
    State(String),
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
    database_url: String,
    owner: String,
    lease: Duration,
    poll: Duration,
    wake: Notify,
    channel: Mutex<Option<String>>,
    definitions: Mutex<HashMap<(String, i64), Arc<Definition>>>,
    in_flight: AtomicUsize,
    tokens: Mutex<HashMap<String, usize>>,
    results_tx: mpsc::UnboundedSender<Done>,
    results_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Done>>,
    /// Runs with executions in this process: their cancel token and how many are in flight.
    local_runs: Mutex<HashMap<String, (CancellationToken, usize)>>,
}

/// A claim transaction's result: rows claimed, what to do after commit, finished runs, and when
/// the next row is due.
type ClaimOutcome = (
    usize,
    Option<AfterCommit>,
    Vec<(String, String, String, RunStatus)>,
    Option<chrono::NaiveDateTime>,
);

/// What a transaction decided that must happen after it commits.
pub struct AfterCommit {
    pub tasks: Vec<ExecTask>,
    pub wake: bool,
    pub finished: Vec<(RunStatus, String)>,
    pub retries: u64,
    pub started_runs: u64,
}

impl AfterCommit {
    pub fn from_machine(m: Machine) -> AfterCommit {
        AfterCommit {
            tasks: m.tasks,
            wake: m.wake,
            finished: m.finished,
            retries: m.retries,
            started_runs: m.started_runs,
        }
    }
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
                lease: definition::settings_duration(&ws.lease, Duration::from_secs(30)),
                poll: definition::settings_duration(&ws.poll_interval, Duration::from_secs(2)),
                settings: ws,
                bus,
                database_url: settings.database.url.clone(),
                owner,
                wake: Notify::new(),
                channel: Mutex::new(None),
                definitions: Mutex::new(HashMap::new()),
                in_flight: AtomicUsize::new(0),
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
            EngineError::State(format!("workflow {workflow_id} has no version {version}"))
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
        let doc = serde_json::from_str(stored)
            .map_err(|e| EngineError::State(format!("stored definition is unreadable: {e}")))?;
        let mut lenient = self.inner.settings.clone();
        lenient.max_steps = usize::MAX;
        definition::validate(doc, &AnyType, &lenient).map_err(|errors| {
            EngineError::State(format!(
                "stored definition no longer validates: {}",
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

    fn load_runs_with(
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
                Err(EngineError::State(msg)) => self.quarantine(conn, &id, &msg)?,
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

    /// After a transaction committed: start its executions, wake the claimer, count.
    pub fn after_commit(&self, after: AfterCommit) {
        for (status, workflow_id) in &after.finished {
            metrics::counter!("maestro_workflow_runs_finished_total", "outcome" => status.as_str())
                .increment(1);
            if *status == RunStatus::DeadLettered {
                metrics::counter!("maestro_workflow_dead_lettered_total").increment(1);
            }
            tracing::debug!(
                workflow_id,
                outcome = status.as_str(),
                "workflow run finished"
            );
        }
        if after.retries > 0 {
            metrics::counter!("maestro_workflow_step_retries_total").increment(after.retries);
        }
        if after.wake {
            self.wake();
        }
        for task in after.tasks {
            self.spawn(task);
        }
    }

    /// Publishes run outcomes on the bus (after commit).
    pub fn publish(&self, finished: &[(String, String, String, RunStatus)]) {
        for (tenant, run_id, workflow_id, status) in finished {
            self.inner.bus.publish(super::events::WorkflowRunFinished {
                tenant_id: tenant.clone(),
                run_id: run_id.clone(),
                workflow_id: workflow_id.clone(),
                status: status.as_str().to_string(),
            });
        }
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

    /// Runs one step execution as a task; its result goes to the completers.
    pub fn spawn(&self, task: ExecTask) {
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        self.track(&task.token, 1);
        let run_cancel = {
            let mut map = self
                .inner
                .local_runs
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let entry = map.entry(task.run_id.clone()).or_default();
            entry.1 += 1;
            entry.0.clone()
        };
        let engine = self.clone();
        let span = step_span(&task);
        tokio::spawn(
            async move {
                let done = engine.execute(task, run_cancel).await;
                if let Some(done) = done
                    && engine.inner.results_tx.send(done).is_err()
                {
                    {
                        tracing::warn!(
                            "workflow completers stopped; result dropped (its lease will expire)"
                        );
                    }
                }
            }
            .instrument(span),
        );
    }

    async fn execute(&self, task: ExecTask, cancel: CancellationToken) -> Option<Done> {
        let started_at = machine::now();
        let waited = (started_at - task.ready_at)
            .num_microseconds()
            .unwrap_or(0)
            .max(0) as f64
            / 1e6;
        metrics::histogram!("maestro_workflow_ready_to_start_seconds").record(waited);
        let clock = Instant::now();
        let rendered = match &task.context {
            Some(ctx) => definition::render(&task.with, ctx),
            None => Ok(task.with.clone()),
        };
        let inputs = rendered.as_ref().ok().cloned();
        let result = match rendered {
            Err(e) => Err(Failure::Permanent(e)),
            Ok(with) => match self.inner.registry.get(&task.uses) {
                None => Err(Failure::Permanent(format!(
                    "step type `{}` is not available: unknown, or its module is disabled in this deployment",
                    task.uses
                ))),
                Some(step) => {
                    let ctx = StepContext {
                        tenant: task.tenant.clone(),
                        actor: task.actor.clone(),
                        run_id: task.run_id.clone(),
                        step_id: task.step_id.clone(),
                        attempt: task.attempt,
                    };
                    let fut = std::panic::AssertUnwindSafe(step.run(ctx, with)).catch_unwind();
                    tokio::select! {
                        _ = cancel.cancelled() => {
                            self.finish_untracked(&task);
                            return None;
                        }
                        outcome = tokio::time::timeout(task.timeout, fut) => match outcome {
                            Err(_) => Err(Failure::TimedOut(format!(
                                "the step did not finish within its timeout of {}",
                                humantime::format_duration(task.timeout)
                            ))),
                            Ok(Err(_panic)) => Err(Failure::Permanent("the step type panicked".into())),
                            Ok(Ok(Ok(v))) if v.is_object() => Ok(v),
                            Ok(Ok(Ok(v))) => Ok(serde_json::json!({"value": v})),
                            Ok(Ok(Err(StepFailure::Retryable(m)))) => Err(Failure::Retryable(m)),
                            Ok(Ok(Err(StepFailure::Permanent(m)))) => Err(Failure::Permanent(m)),
                        }
                    }
                }
            },
        };
        metrics::histogram!("maestro_workflow_step_duration_seconds", "type" => task.uses.clone())
            .record(clock.elapsed().as_secs_f64());
        match &result {
            Ok(_) => tracing::debug!("step succeeded"),
            Err(e) => tracing::info!(error = ?e, "step attempt failed"),
        }
        Some(Done {
            started_at,
            finished_at: machine::now(),
            inputs,
            result,
            task,
        })
    }

    /// A step that ends without a result to commit (its run was cancelled).
    fn finish_untracked(&self, task: &ExecTask) {
        self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.track(&task.token, -1);
        self.release_run(&task.run_id);
    }

    fn release_run(&self, run_id: &str) {
        if let Ok(mut map) = self.inner.local_runs.lock()
            && let Some(entry) = map.get_mut(run_id)
        {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                map.remove(run_id);
            }
        }
    }

    /// The engine's background tasks (none when `workflows.engine` is false).
    pub fn tasks(&self) -> Vec<BackgroundTask> {
        if !self.inner.settings.engine {
            return Vec::new();
        }
        let mut tasks = Vec::new();
        let e = self.clone();
        tasks.push(BackgroundTask::new("workflows-claimer", move |cancel| {
            Box::pin(async move { e.claimer(cancel).await })
        }));
        for _ in 0..self.inner.settings.completers.max(1) {
            let e = self.clone();
            tasks.push(BackgroundTask::new("workflows-completer", move |cancel| {
                Box::pin(async move { e.completer(cancel).await })
            }));
        }
        let e = self.clone();
        tasks.push(BackgroundTask::new("workflows-heartbeat", move |cancel| {
            Box::pin(async move { e.heartbeat(cancel).await })
        }));
        if self.inner.settings.listen_notify && self.inner.database_url.starts_with("postgres") {
            let e = self.clone();
            tasks.push(BackgroundTask::new("workflows-listener", move |cancel| {
                Box::pin(async move { super::listener::run(e, cancel).await })
            }));
        }
        tasks
    }

    pub(super) fn database_url(&self) -> &str {
        &self.inner.database_url
    }

    /// Learns the NOTIFY channel (PostgreSQL: per schema, since channel names are global to the
    /// database and tests run one schema each).
    pub async fn resolve_channel(&self) -> Result<Option<String>, EngineError> {
        if let Some(c) = self.channel() {
            return Ok(Some(c));
        }
        let engine = self.clone();
        self.inner
            .db
            .run(move |conn| engine.channel_for(conn))
            .await
    }

    /// The channel, learned from this connection's schema the first time (PostgreSQL only).
    fn channel_for(&self, conn: &mut DbConnection) -> Result<Option<String>, EngineError> {
        if let Some(c) = self.channel() {
            return Ok(Some(c));
        }
        let channel = dialect::current_schema(conn)?.map(|schema| channel_name(&schema));
        if let Ok(mut slot) = self.inner.channel.lock() {
            slot.clone_from(&channel);
        }
        Ok(channel)
    }

    // -----------------------------------------------------------------------------------------
    // Claimer

    async fn claimer(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let _ = self.resolve_channel().await;
        let mut backoff = Duration::from_millis(100);
        while !cancel.is_cancelled() {
            let free = self.capacity();
            if free == 0 {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = self.inner.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
            let limit = free.min(self.inner.settings.claim_batch_size);
            match self.claim_once(limit).await {
                Ok((n, next)) => {
                    backoff = Duration::from_millis(100);
                    if n >= limit {
                        continue;
                    }
                    let wait = self.wait_until(next);
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = self.inner.wake.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "claiming workflow steps failed");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        Ok(())
    }

    /// How long to sleep when nothing is due: until the next due row, at most `poll_interval`.
    fn wait_until(&self, next: Option<chrono::NaiveDateTime>) -> Duration {
        let poll = self.inner.poll;
        match next {
            Some(at) => machine::to_std(at - machine::now()).min(poll) + Duration::from_millis(2),
            None => poll,
        }
    }

    /// One claim transaction; returns the number of rows claimed and, when that was less than
    /// `limit`, when the next row becomes due (read in the same transaction, so an idle engine
    /// costs one read-only transaction per wake-up).
    async fn claim_once(
        &self,
        limit: usize,
    ) -> Result<(usize, Option<chrono::NaiveDateTime>), EngineError> {
        let engine = self.clone();
        let (claimed, after, finished, next) = self
            .inner
            .db
            .run(move |conn| {
                dialect::write_tx(conn, |conn| -> Result<ClaimOutcome, EngineError> {
                    let mut m = Machine::new("engine", &engine.inner.owner, engine.inner.lease, 0);
                    let now = m.now;
                    let until = now + machine::from_std(engine.inner.lease);
                    let rows = dialect::claim(
                        conn,
                        &engine.inner.owner,
                        &m.token,
                        now,
                        until,
                        limit as i64,
                    )?;
                    if rows.is_empty() {
                        return Ok((0, None, Vec::new(), store::next_due(conn)?));
                    }
                    m.claim_budget = engine.capacity().saturating_sub(rows.len());
                    tracing::trace!(
                        claimed = rows.len(),
                        first = rows[0].id,
                        "claimed queue rows"
                    );
                    let mut ids: Vec<String> = rows.iter().map(|r| r.run_id.clone()).collect();
                    ids.sort();
                    ids.dedup();
                    let mut ctxs = engine.load_runs_with(conn, &ids, true)?;
                    let wanted: Vec<String> = rows.iter().map(|r| r.step_id.clone()).collect();
                    prefetch(conn, &mut ctxs, wanted)?;
                    let retry_at = now + chrono::Duration::milliseconds(20);
                    for row in &rows {
                        match ctxs.get_mut(&row.run_id) {
                            Some(ctx) => {
                                m.claimed(conn, ctx, &row.step_id, &row.kind, row.ready_at)
                                    .map_err(EngineError::State)?;
                            }
                            // Its run is busy in another transaction (or was failed while
                            // loading): hand the row back for a moment.
                            None => {
                                store::release_claim(conn, row.id, retry_at)?;
                            }
                        }
                    }
                    let mut refs: Vec<&mut RunCtx> = ctxs.values_mut().collect();
                    m.flush(conn, &mut refs)?;
                    notify_if(conn, &engine, m.wake)?;
                    let finished = finished_of(&ctxs, &m);
                    let next = if rows.len() < limit {
                        store::next_due(conn)?
                    } else {
                        None
                    };
                    Ok((
                        rows.len(),
                        Some(AfterCommit::from_machine(m)),
                        finished,
                        next,
                    ))
                })
            })
            .await?;
        self.publish(&finished);
        if let Some(after) = after {
            self.after_commit(after);
        }
        Ok((claimed, next))
    }

    // -----------------------------------------------------------------------------------------
    // Completers

    async fn completer(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let max = self.inner.settings.completion_batch_size.max(1);
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let batch = {
                let mut rx = self.inner.results_rx.lock().await;
                let first = if cancel.is_cancelled() {
                    // Shutting down: commit what is finished, give running steps a little time.
                    let deadline = *drain_deadline
                        .get_or_insert_with(|| Instant::now() + Duration::from_secs(8));
                    if self.inner.in_flight.load(Ordering::Relaxed) == 0
                        || Instant::now() >= deadline
                    {
                        match rx.try_recv() {
                            Ok(d) => d,
                            Err(_) => return Ok(()),
                        }
                    } else {
                        match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
                            Ok(Some(d)) => d,
                            Ok(None) => return Ok(()),
                            Err(_) => continue,
                        }
                    }
                } else {
                    tokio::select! {
                        _ = cancel.cancelled() => continue,
                        d = rx.recv() => match d {
                            Some(d) => d,
                            None => return Ok(()),
                        },
                    }
                };
                let mut batch = vec![first];
                while batch.len() < max {
                    match rx.try_recv() {
                        Ok(d) => batch.push(d),
                        Err(_) => break,
                    }
                }
                batch
            };
            self.commit_results(batch).await;
        }
    }

    /// Commits a batch of results; retries on database trouble, then falls back to one result
    /// per transaction so one bad result cannot hold the others back.
    async fn commit_results(&self, batch: Vec<Done>) {
        let batch = Arc::new(batch);
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=6 {
            match self.complete_tx(batch.clone()).await {
                Ok(after) => {
                    self.release(&batch);
                    self.after_commit(after);
                    return;
                }
                Err(e) if attempt < 6 => {
                    tracing::warn!(error = %e, attempt, size = batch.len(), "committing step results failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    if batch.len() > 1 && attempt >= 2 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "step results could not be committed; their leases will expire and the steps run again");
                    self.release(&batch);
                    return;
                }
            }
        }
        // One by one.
        let items = match Arc::try_unwrap(batch) {
            Ok(items) => items,
            Err(shared) => {
                self.release(&shared);
                return;
            }
        };
        for done in items {
            let single = Arc::new(vec![done]);
            let mut ok = false;
            for _ in 0..3 {
                match self.complete_tx(single.clone()).await {
                    Ok(after) => {
                        self.after_commit(after);
                        ok = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "committing a step result failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            if !ok {
                tracing::error!(run_id = %single[0].task.run_id, step_id = %single[0].task.step_id, "step result dropped after repeated failures; the step will run again when its lease expires");
            }
            self.release(&single);
        }
    }

    fn release(&self, batch: &[Done]) {
        for done in batch {
            self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.track(&done.task.token, -1);
            self.release_run(&done.task.run_id);
        }
    }

    async fn complete_tx(&self, batch: Arc<Vec<Done>>) -> Result<AfterCommit, EngineError> {
        let engine = self.clone();
        let (after, finished) = self
            .inner
            .db
            .run(move |conn| {
                dialect::write_tx(conn, |conn| -> Result<_, EngineError> {
                    let budget = engine.capacity() + batch.len();
                    let mut m = Machine::new("engine", &engine.inner.owner, engine.inner.lease, budget);
                    let mut ids: Vec<String> = batch.iter().map(|d| d.task.run_id.clone()).collect();
                    ids.sort();
                    ids.dedup();
                                        let mut ctxs = engine.load_runs(conn, &ids)?;
                    // The rows these results touch: the steps, what they unblock, and what
                    // those need.
                    let mut wanted = Vec::new();
                    for done in batch.iter() {
                        if let Some(ctx) = ctxs.get(&done.task.run_id)
                            && let Some(i) = ctx.index(&done.task.step_id)
                        {
                            wanted.push(done.task.step_id.clone());
                            for &d in &ctx.def.steps[i].dependents {
                                wanted.push(ctx.def.steps[d].id.clone());
                                for &n in &ctx.def.steps[d].needs {
                                    wanted.push(ctx.def.steps[n].id.clone());
                                }
                            }
                        }
                    }
                    prefetch(conn, &mut ctxs, wanted)?;
                    let mut lost = 0u64;
                    let keys: Vec<(String, String, String)> = batch
                        .iter()
                        .map(|d| (d.task.run_id.clone(), d.task.step_id.clone(), d.task.token.clone()))
                        .collect();
                    let fenced = dialect::fence_many(conn, &keys)?;
                    for done in batch.iter() {
                        let t = &done.task;
                        if !fenced.contains(&(t.run_id.clone(), t.step_id.clone())) {
                            lost += 1;
                            continue;
                        }
                        if let Some(ctx) = ctxs.get_mut(&t.run_id) {
                            m.complete(conn, ctx, done).map_err(EngineError::State)?;
                        }
                    }
                    if lost > 0 {
                        metrics::counter!("maestro_workflow_stale_results_total").increment(lost);
                        tracing::info!(lost, "results of steps whose lease was lost or whose run stopped were discarded");
                    }
                    let mut refs: Vec<&mut RunCtx> = ctxs.values_mut().collect();
                    m.flush(conn, &mut refs)?;
                    notify_if(conn, &engine, m.wake)?;
                    let finished = finished_of(&ctxs, &m);
                    Ok((AfterCommit::from_machine(m), finished))
                })
            })
            .await?;
        self.publish(&finished);
        Ok(after)
    }

    // -----------------------------------------------------------------------------------------
    // Heartbeat

    async fn heartbeat(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let every = self.inner.lease / 3;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(every) => {}
            }
            let tokens: Vec<String> = match self.inner.tokens.lock() {
                Ok(map) => map.keys().cloned().collect(),
                Err(_) => continue,
            };
            if tokens.is_empty() {
                continue;
            }
            let owner = self.inner.owner.clone();
            let until = machine::now() + machine::from_std(self.inner.lease);
            let result = self
                .inner
                .db
                .run(move |conn| {
                    store::extend_leases(conn, &owner, &tokens, until).map_err(EngineError::from)
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "renewing workflow step leases failed");
            }
        }
    }

    /// Ready, unleased queue rows (for `/metrics`).
    pub async fn queue_depth(&self) -> Option<i64> {
        self.inner
            .db
            .run(|conn| store::queue_depth(conn, machine::now()).map_err(EngineError::from))
            .await
            .ok()
    }
}

/// Loads, in one query, the step rows the transaction will need (see [`RunCtx::ensure`]).
fn prefetch(
    conn: &mut DbConnection,
    ctxs: &mut BTreeMap<String, RunCtx>,
    mut step_ids: Vec<String>,
) -> Result<(), EngineError> {
    if ctxs.is_empty() || step_ids.is_empty() {
        return Ok(());
    }
    step_ids.sort();
    step_ids.dedup();
    let run_ids: Vec<String> = ctxs.keys().cloned().collect();
    let mut by_run: HashMap<String, Vec<StepRunRow>> = HashMap::new();
    for row in store::step_runs_subset(conn, &run_ids, &step_ids)? {
        by_run.entry(row.run_id.clone()).or_default().push(row);
    }
    for (run, rows) in by_run {
        if let Some(ctx) = ctxs.get_mut(&run) {
            ctx.absorb(rows);
        }
    }
    Ok(())
}

fn finished_of(
    ctxs: &BTreeMap<String, RunCtx>,
    m: &Machine,
) -> Vec<(String, String, String, RunStatus)> {
    if m.finished.is_empty() {
        return Vec::new();
    }
    ctxs.values()
        .filter(|c| c.status().is_final() || c.status() == RunStatus::DeadLettered)
        .map(|c| {
            (
                c.run.tenant_id.clone(),
                c.run.id.clone(),
                c.run.workflow_id.clone(),
                c.status(),
            )
        })
        .collect()
}

/// Sends the cross-replica wake-up inside the transaction (delivered on commit).
pub fn notify_if(conn: &mut DbConnection, engine: &Engine, wake: bool) -> Result<(), EngineError> {
    if wake && let Some(channel) = engine.channel_for(conn)? {
        dialect::notify(conn, &channel)?;
    }
    Ok(())
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

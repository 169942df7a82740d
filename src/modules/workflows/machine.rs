//! The run state machine. Every change to a run happens here, inside one database transaction
//! that holds the run's row lock: a [`RunCtx`] is loaded, transitions change it in memory and
//! record audit entries, queue changes and effects, and [`Machine::flush`] writes all of it before
//! the transaction commits. So a step's result, the enqueueing of the steps it unblocks, its
//! effect and the audit trail commit together or not at all.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::audit::{self, Transition};
use super::definition::{self, Definition, OnFailure, WAIT, WAIT_FOR_EVENT};
use super::model::*;
use super::steps::NOOP;
use super::store;
use crate::platform::auth::{AuthSource, Principal, Role, TenantId};
use crate::platform::db::DbConnection;

/// Largest serialized step output kept.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

pub fn now() -> NaiveDateTime {
    audit::audit_time(chrono::Utc::now().naive_utc())
}

pub fn to_std(d: chrono::Duration) -> Duration {
    d.to_std().unwrap_or_default()
}

pub fn from_std(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A step execution handed to the engine (after its transaction commits).
#[derive(Debug, Clone)]
pub struct ExecTask {
    pub tenant: TenantId,
    pub workflow_id: String,
    pub run_id: String,
    pub step_id: String,
    pub uses: String,
    pub attempt: u32,
    pub token: String,
    pub with: Value,
    /// The expression context, when `with` has expressions.
    pub context: Option<Value>,
    pub timeout: Duration,
    pub actor: Principal,
    pub trace_parent: Option<String>,
    /// When the step became ready (for the ready-to-start latency).
    pub ready_at: NaiveDateTime,
}

/// What a step execution produced.
#[derive(Debug, Clone)]
pub enum Failure {
    Retryable(String),
    Permanent(String),
    /// The attempt ran out of time (retried like a retryable error).
    TimedOut(String),
    /// A wait ran out of time (not retried).
    Expired(String),
}

impl Failure {
    fn message(&self) -> &str {
        match self {
            Failure::Retryable(m)
            | Failure::Permanent(m)
            | Failure::TimedOut(m)
            | Failure::Expired(m) => m,
        }
    }
}

#[derive(Debug)]
pub struct Done {
    pub task: ExecTask,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub inputs: Option<Value>,
    pub result: Result<Value, Failure>,
}

/// A run's step rows, indexed like `def.steps`, loaded on demand: a transition reads only the
/// rows it needs (the finished step, its dependents and their needs), so a step of a long
/// sequential run costs the same as a step of a short one.
pub struct Slots(Vec<Option<StepRunRow>>);

impl Slots {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_loaded(&self, i: usize) -> bool {
        self.0.get(i).is_some_and(Option::is_some)
    }

    fn all_loaded(&self) -> bool {
        self.0.iter().all(Option::is_some)
    }

    fn loaded(&self) -> impl Iterator<Item = &StepRunRow> {
        self.0.iter().flatten()
    }

    pub fn fill(&mut self, i: usize, row: StepRunRow) {
        if let Some(slot) = self.0.get_mut(i)
            && slot.is_none()
        {
            *slot = Some(row);
        }
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = StepRunRow;
    fn index(&self, i: usize) -> &StepRunRow {
        // Invariant: transitions call `RunCtx::ensure` before touching a row.
        self.0[i]
            .as_ref()
            .expect("step row used before it was loaded")
    }
}

impl std::ops::IndexMut<usize> for Slots {
    fn index_mut(&mut self, i: usize) -> &mut StepRunRow {
        self.0[i]
            .as_mut()
            .expect("step row used before it was loaded")
    }
}

/// A run loaded (and locked) for a transaction.
pub struct RunCtx {
    pub run: RunRow,
    pub def: Arc<Definition>,
    pub steps: Slots,
    run_dirty: bool,
    dirty: BTreeSet<usize>,
    /// The run's queue rows are to be deleted (it stopped), before any inserts.
    clear_queue: bool,
    hold: Option<bool>,
}

impl RunCtx {
    /// Pairs (some of) the run's rows with the definition; `None` if a row does not belong to
    /// it (a corrupted run).
    pub fn new(run: RunRow, def: Arc<Definition>, rows: Vec<StepRunRow>) -> Option<RunCtx> {
        let mut slots: Vec<Option<StepRunRow>> = vec![None; def.steps.len()];
        for row in rows {
            let i = *def.index.get(&row.step_id)?;
            slots[i] = Some(row);
        }
        Some(RunCtx {
            run,
            def,
            steps: Slots(slots),
            run_dirty: false,
            dirty: BTreeSet::new(),
            clear_queue: false,
            hold: None,
        })
    }

    pub fn status(&self) -> RunStatus {
        self.run.run_status()
    }

    /// Loads the given step rows if they are not loaded yet.
    pub fn ensure(&mut self, conn: &mut DbConnection, indices: &[usize]) -> Result<(), String> {
        let missing: Vec<String> = indices
            .iter()
            .filter(|&&i| i < self.steps.len() && !self.steps.is_loaded(i))
            .map(|&i| self.def.steps[i].id.clone())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let rows = store::step_runs_subset(conn, std::slice::from_ref(&self.run.id), &missing)
            .map_err(|e| e.to_string())?;
        self.absorb(rows);
        if indices
            .iter()
            .all(|&i| i >= self.steps.len() || self.steps.is_loaded(i))
        {
            Ok(())
        } else {
            Err(format!("run {} is missing step rows", self.run.id))
        }
    }

    pub fn ensure_all(&mut self, conn: &mut DbConnection) -> Result<(), String> {
        if self.steps.all_loaded() {
            return Ok(());
        }
        let all: Vec<usize> = (0..self.steps.len()).collect();
        self.ensure(conn, &all)
    }

    /// Takes rows fetched elsewhere (batch prefetch); rows already loaded are kept.
    pub fn absorb(&mut self, rows: Vec<StepRunRow>) {
        for row in rows {
            if let Some(&i) = self.def.index.get(&row.step_id) {
                self.steps.fill(i, row);
            }
        }
    }

    pub fn index(&self, step_id: &str) -> Option<usize> {
        self.def.index.get(step_id).copied()
    }

    fn step_status(&self, i: usize) -> StepStatus {
        self.steps[i].step_status()
    }

    fn set_step_status(&mut self, i: usize, status: StepStatus) {
        self.steps[i].status = status.as_str().to_string();
        self.dirty.insert(i);
    }

    /// The `${{ … }}` context: inputs, finished steps and the run.
    pub fn expression_context(&self) -> Value {
        let mut steps = Map::new();
        for row in self.steps.loaded() {
            let status = row.step_status();
            let outputs = row
                .outputs
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_else(|| json!({}));
            steps.insert(
                row.step_id.clone(),
                json!({
                    "outputs": outputs,
                    "status": status.as_str(),
                    "attempts": row.attempts,
                    "error": row.error,
                }),
            );
        }
        json!({
            "inputs": serde_json::from_str::<Value>(&self.run.inputs).unwrap_or_else(|_| json!({})),
            "steps": steps,
            "run": {"id": self.run.id, "workflow_id": self.run.workflow_id, "version": self.run.version},
        })
    }

    fn actor_principal(&self) -> Principal {
        serde_json::from_str(&self.run.actor).unwrap_or_else(|_| Principal {
            user_id: "unknown".into(),
            tenant_id: TenantId(self.run.tenant_id.clone()),
            email: None,
            role: Role::Viewer,
            source: AuthSource::Local,
        })
    }
}

/// One transaction's worth of transitions over one or more runs.
pub struct Machine {
    pub now: NaiveDateTime,
    /// Who causes the transitions (`engine` or the API caller).
    pub actor: String,
    pub owner: String,
    pub token: String,
    pub lease: Duration,
    /// Steps this transaction may claim for the engine right away (0 from API calls).
    pub claim_budget: usize,
    pub tasks: Vec<ExecTask>,
    /// Unclaimed ready rows were inserted: wake the engine.
    pub wake: bool,
    pub finished: Vec<(RunStatus, String)>,
    pub retries: u64,
    pub started_runs: u64,
    audit: Vec<AuditRow>,
    inserts: Vec<NewQueueRow>,
    deletes: Vec<(String, String, String)>,
    effects: Vec<EffectRow>,
    consumed: Vec<(String, String)>,
}

impl Machine {
    pub fn new(
        actor: impl Into<String>,
        owner: &str,
        lease: Duration,
        claim_budget: usize,
    ) -> Machine {
        Machine {
            now: now(),
            actor: actor.into(),
            owner: owner.to_string(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            lease,
            claim_budget,
            tasks: Vec::new(),
            wake: false,
            finished: Vec::new(),
            retries: 0,
            started_runs: 0,
            audit: Vec::new(),
            inserts: Vec::new(),
            deletes: Vec::new(),
            effects: Vec::new(),
            consumed: Vec::new(),
        }
    }

    fn record(
        &mut self,
        ctx: &mut RunCtx,
        event: &str,
        from: Option<&str>,
        to: Option<&str>,
        step: Option<&str>,
        detail: Value,
    ) {
        let row = audit::append(
            &mut ctx.run,
            Transition {
                at: self.now,
                event,
                from,
                to,
                step_id: step,
                actor: &self.actor,
                detail,
            },
        );
        ctx.run_dirty = true;
        self.audit.push(row);
    }

    /// Moves the run to `to`, with an audit entry.
    fn set_run_status(&mut self, ctx: &mut RunCtx, to: RunStatus, event: &str, detail: Value) {
        let from = ctx.status();
        ctx.run.status = to.as_str().to_string();
        ctx.run.updated_at = self.now;
        ctx.run_dirty = true;
        if to.is_final() || to == RunStatus::DeadLettered {
            ctx.run.finished_at = Some(self.now);
            self.finished.push((to, ctx.run.workflow_id.clone()));
        }
        self.record(
            ctx,
            event,
            Some(from.as_str()),
            Some(to.as_str()),
            None,
            detail,
        );
    }

    fn enqueue(
        &mut self,
        ctx: &RunCtx,
        step_id: &str,
        kind: &str,
        ready_at: NaiveDateTime,
        leased: bool,
    ) {
        let held = ctx.status() == RunStatus::Paused;
        let leased = leased && !held;
        if !leased && !held && ready_at <= self.now {
            self.wake = true;
        }
        self.inserts.push(NewQueueRow {
            tenant_id: ctx.run.tenant_id.clone(),
            run_id: ctx.run.id.clone(),
            step_id: step_id.to_string(),
            kind: kind.to_string(),
            ready_at,
            held,
            lease_owner: leased.then(|| self.owner.clone()),
            lease_token: leased.then(|| self.token.clone()),
            lease_until: leased.then(|| self.now + from_std(self.lease)),
            enqueued_at: self.now,
        });
    }

    fn dequeue(&mut self, ctx: &RunCtx, step_id: &str, kind: &str) {
        self.deletes
            .push((ctx.run.id.clone(), step_id.to_string(), kind.to_string()));
    }

    // -----------------------------------------------------------------------------------------
    // Starting

    /// Creates the first transitions of a new run (its rows are already built by the caller).
    pub fn begin(&mut self, conn: &mut DbConnection, ctx: &mut RunCtx) -> Result<(), String> {
        let status = ctx.status();
        self.record(
            ctx,
            "run.created",
            None,
            Some(status.as_str()),
            None,
            json!({"workflow_id": ctx.run.workflow_id, "version": ctx.run.version, "idempotency_key": ctx.run.idempotency_key}),
        );
        if let Some(deadline) = ctx.run.deadline_at {
            self.enqueue(ctx, "", KIND_RUN_TIMEOUT, deadline, false);
        }
        let roots: Vec<usize> = (0..ctx.steps.len())
            .filter(|&i| ctx.def.steps[i].needs.is_empty())
            .collect();
        for i in roots {
            self.consider(conn, ctx, i)?;
        }
        self.maybe_finish(conn, ctx)?;
        Ok(())
    }

    /// A pending step whose needs are all done: evaluate `if`, then skip it or make it ready.
    fn consider(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), String> {
        let mut wanted = ctx.def.steps[i].needs.clone();
        wanted.push(i);
        ctx.ensure(conn, &wanted)?;
        if ctx.step_status(i) != StepStatus::Pending {
            return Ok(());
        }
        let deps_done = ctx.def.steps[i].needs.iter().all(|&n| {
            let s = ctx.step_status(n);
            matches!(s, StepStatus::Succeeded | StepStatus::Skipped)
                || (s == StepStatus::Failed && ctx.def.steps[n].on_failure == OnFailure::Continue)
        });
        if !deps_done {
            return Ok(());
        }
        if let Some(cond) = ctx.def.steps[i].condition.clone() {
            ctx.ensure_all(conn)?;
            match definition::eval_condition(&cond, &ctx.expression_context()) {
                Ok(true) => {}
                Ok(false) => {
                    let id = ctx.steps[i].step_id.clone();
                    ctx.set_step_status(i, StepStatus::Skipped);
                    ctx.steps[i].finished_at = Some(self.now);
                    self.record(
                        ctx,
                        "step.skipped",
                        Some("pending"),
                        Some("skipped"),
                        Some(&id),
                        json!({"if": cond}),
                    );
                    return self.advance(conn, ctx, i);
                }
                Err(e) => {
                    return self.fail_step(conn, ctx, i, Failure::Permanent(e), None);
                }
            }
        }
        self.make_ready(conn, ctx, i)
    }

    /// Puts a step on its way: `wait`/`wait_for_event` arm at once; other steps are claimed for
    /// this engine (if the budget allows) or queued.
    fn make_ready(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), String> {
        let uses = ctx.def.steps[i].uses.clone();
        if uses == WAIT {
            return self.arm_wait(conn, ctx, i);
        }
        if uses == WAIT_FOR_EVENT {
            return self.arm_event(conn, ctx, i);
        }
        let id = ctx.steps[i].step_id.clone();
        ctx.set_step_status(i, StepStatus::Queued);
        if ctx.status().is_active() && self.claim_budget > 0 {
            self.claim_budget -= 1;
            self.enqueue(ctx, &id, KIND_STEP, self.now, true);
            let task = self.start_attempt(conn, ctx, i, self.now)?;
            self.tasks.push(task);
        } else {
            self.enqueue(ctx, &id, KIND_STEP, self.now, false);
        }
        Ok(())
    }

    /// Counts an attempt and builds the execution (the queue row is leased to this engine).
    pub fn start_attempt(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
        ready_at: NaiveDateTime,
    ) -> Result<ExecTask, String> {
        if ctx.def.steps[i].templated {
            ctx.ensure_all(conn)?;
        }
        self.mark_started(ctx);
        let step = &ctx.def.steps[i];
        let row = &mut ctx.steps[i];
        row.attempts += 1;
        row.status = StepStatus::Running.as_str().to_string();
        row.started_at = Some(self.now);
        row.finished_at = None;
        ctx.dirty.insert(i);
        let context = step.templated.then(|| ctx.expression_context());
        Ok(ExecTask {
            tenant: TenantId(ctx.run.tenant_id.clone()),
            workflow_id: ctx.run.workflow_id.clone(),
            run_id: ctx.run.id.clone(),
            step_id: step.id.clone(),
            uses: step.uses.clone(),
            attempt: u32::try_from(ctx.steps[i].attempts).unwrap_or(u32::MAX),
            token: self.token.clone(),
            with: step.with.clone(),
            context,
            timeout: step.timeout,
            actor: ctx.actor_principal(),
            trace_parent: ctx.run.trace_parent.clone(),
            ready_at,
        })
    }

    /// A pending run starts when its first step does (an attempt, or a wait that arms).
    fn mark_started(&mut self, ctx: &mut RunCtx) {
        if ctx.status() == RunStatus::Pending {
            ctx.run.started_at = Some(self.now);
            self.started_runs += 1;
            self.set_run_status(ctx, RunStatus::Running, "run.started", json!({}));
        }
    }

    fn arm_wait(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), String> {
        ctx.ensure_all(conn)?;
        let with = definition::render(&ctx.def.steps[i].with, &ctx.expression_context());
        let duration = with
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|w| match w.get("duration") {
                Some(Value::String(s)) => humantime::parse_duration(s.trim())
                    .map_err(|e| format!("`duration` `{s}` is not a duration ({e})")),
                _ => Err("`duration` must be a duration like `30s`".into()),
            });
        let duration = match duration {
            Ok(d) => d,
            Err(e) => return self.fail_step(conn, ctx, i, Failure::Permanent(e), with.ok()),
        };
        self.mark_started(ctx);
        let id = ctx.steps[i].step_id.clone();
        let wake_at = self.now + from_std(duration);
        let row = &mut ctx.steps[i];
        row.attempts += 1;
        row.started_at = Some(self.now);
        row.wake_at = Some(wake_at);
        row.inputs = with.ok().map(|w| w.to_string());
        ctx.set_step_status(i, StepStatus::Waiting);
        self.enqueue(ctx, &id, KIND_STEP, wake_at, false);
        self.record(
            ctx,
            "step.waiting",
            Some("pending"),
            Some("waiting"),
            Some(&id),
            json!({"until": model_time(wake_at)}),
        );
        Ok(())
    }

    fn arm_event(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), String> {
        let with = &ctx.def.steps[i].with;
        let event = with
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let timeout = match with.get("timeout").and_then(Value::as_str) {
            Some(raw) => {
                humantime::parse_duration(raw.trim()).unwrap_or(definition::DEFAULT_EVENT_TIMEOUT)
            }
            None => definition::DEFAULT_EVENT_TIMEOUT,
        };
        self.mark_started(ctx);
        let id = ctx.steps[i].step_id.clone();
        let deadline = self.now + from_std(timeout);
        let row = &mut ctx.steps[i];
        row.attempts += 1;
        row.started_at = Some(self.now);
        row.wake_at = Some(deadline);
        row.inputs = Some(
            json!({"event": event, "timeout": humantime::format_duration(timeout).to_string()})
                .to_string(),
        );
        ctx.set_step_status(i, StepStatus::Waiting);
        self.record(
            ctx,
            "step.waiting",
            Some("pending"),
            Some("waiting"),
            Some(&id),
            json!({"event": event, "until": model_time(deadline)}),
        );
        // An event that arrived before the step got here is delivered now.
        if let Some(buffered) =
            store::oldest_unconsumed_event(conn, &ctx.run.id, &event).map_err(|e| e.to_string())?
        {
            return self.receive_event(conn, ctx, i, &buffered);
        }
        self.enqueue(ctx, &id, KIND_STEP, deadline, false);
        Ok(())
    }

    fn receive_event(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
        event: &EventRow,
    ) -> Result<(), String> {
        let id = ctx.steps[i].step_id.clone();
        self.consumed.push((event.id.clone(), id));
        let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
        let outputs = json!({
            "event": event.name,
            "payload": payload,
            "received_at": model_time(event.received_at),
            "source": event.source,
        });
        self.succeed_step(conn, ctx, i, outputs, None)
    }

    // -----------------------------------------------------------------------------------------
    // Results

    /// Applies an execution result. `false` when the result is stale (run stopped, or the step
    /// is no longer this attempt) and was discarded.
    pub fn complete(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        done: &Done,
    ) -> Result<bool, String> {
        let Some(i) = ctx.index(&done.task.step_id) else {
            return Ok(false);
        };
        ctx.ensure(conn, &[i])?;
        if ctx.step_status(i) != StepStatus::Running
            || ctx.steps[i].attempts != i64::from(done.task.attempt)
            || !(ctx.status().is_active() || ctx.status() == RunStatus::Paused)
        {
            return Ok(false);
        }
        ctx.steps[i].started_at = Some(done.started_at);
        match done.result.clone() {
            Ok(outputs) => {
                let size = serde_json::to_vec(&outputs).map_or(usize::MAX, |v| v.len());
                if size > MAX_OUTPUT_BYTES {
                    let e = Failure::Permanent(format!(
                        "the step's outputs are {size} bytes; at most {MAX_OUTPUT_BYTES} are kept"
                    ));
                    self.fail_step(conn, ctx, i, e, done.inputs.clone())?;
                } else {
                    if ctx.def.steps[i].uses == NOOP
                        && outputs.get("effect") == Some(&Value::Bool(true))
                    {
                        self.effects.push(EffectRow {
                            run_id: ctx.run.id.clone(),
                            step_id: ctx.steps[i].step_id.clone(),
                            tenant_id: ctx.run.tenant_id.clone(),
                            executions: 1,
                            first_at: self.now,
                        });
                    }
                    ctx.steps[i].finished_at = Some(done.finished_at);
                    self.succeed_step(conn, ctx, i, outputs, done.inputs.clone())?;
                }
            }
            Err(failure) => {
                ctx.steps[i].finished_at = Some(done.finished_at);
                self.fail_step(conn, ctx, i, failure, done.inputs.clone())?;
            }
        }
        Ok(true)
    }

    fn push_log(&mut self, ctx: &mut RunCtx, i: usize, record: AttemptRecord) {
        let mut log = ctx.steps[i].log();
        log.push(record);
        // Keep the log bounded (a step may be retried up to 100 times per budget).
        if log.len() > 200 {
            log.drain(..log.len() - 200);
        }
        ctx.steps[i].attempt_log = serde_json::to_string(&log).unwrap_or_else(|_| "[]".into());
        ctx.dirty.insert(i);
    }

    fn succeed_step(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
        outputs: Value,
        inputs: Option<Value>,
    ) -> Result<(), String> {
        let from = ctx.step_status(i);
        let id = ctx.steps[i].step_id.clone();
        let attempt = ctx.steps[i].attempts;
        let finished = ctx.steps[i].finished_at.unwrap_or(self.now);
        let started = ctx.steps[i].started_at;
        {
            let row = &mut ctx.steps[i];
            row.outputs = Some(outputs.to_string());
            row.error = None;
            row.finished_at = Some(finished);
            row.wake_at = None;
            if let Some(inputs) = inputs {
                row.inputs = Some(inputs.to_string());
            }
        }
        ctx.set_step_status(i, StepStatus::Succeeded);
        self.push_log(
            ctx,
            i,
            AttemptRecord {
                attempt,
                started_at: started.map(utc),
                finished_at: utc(finished),
                outcome: "succeeded".into(),
                error: None,
                retry_delay_ms: None,
                next_attempt_at: None,
            },
        );
        self.record(
            ctx,
            "step.succeeded",
            Some(from.as_str()),
            Some("succeeded"),
            Some(&id),
            json!({"attempt": attempt}),
        );
        self.advance(conn, ctx, i)
    }

    /// After step `i` is done: dependents whose needs are all done go next, and the run may be
    /// finished.
    fn advance(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), String> {
        if ctx.status().is_active() || ctx.status() == RunStatus::Paused {
            for d in ctx.def.steps[i].dependents.clone() {
                self.consider(conn, ctx, d)?;
            }
        }
        self.maybe_finish(conn, ctx)?;
        Ok(())
    }

    /// Handles a failed attempt: retry with backoff while the budget lasts (and the error is
    /// retryable), otherwise the step fails and `on_failure` decides the run's fate.
    pub fn fail_step(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        i: usize,
        failure: Failure,
        inputs: Option<Value>,
    ) -> Result<(), String> {
        let step = ctx.def.steps[i].clone();
        let id = step.id.clone();
        let from = ctx.step_status(i);
        let message = failure.message().to_string();
        let attempt = ctx.steps[i].attempts;
        let started = ctx.steps[i].started_at;
        let finished = ctx.steps[i].finished_at.unwrap_or(self.now);
        if let Some(inputs) = inputs {
            ctx.steps[i].inputs = Some(inputs.to_string());
        }
        ctx.steps[i].error = Some(message.clone());
        let retryable = matches!(failure, Failure::Retryable(_) | Failure::TimedOut(_))
            && !step.retry.is_non_retryable(&message);
        let budget_used = u32::try_from(ctx.steps[i].budget_attempts()).unwrap_or(u32::MAX);
        let outcome = if matches!(failure, Failure::TimedOut(_) | Failure::Expired(_)) {
            "timed_out"
        } else {
            "failed"
        };
        if retryable && budget_used < step.retry.max_attempts && from == StepStatus::Running {
            let delay = step.retry.delay(budget_used.max(1), rand::random::<f64>());
            let next = self.now + from_std(delay);
            ctx.steps[i].wake_at = Some(next);
            ctx.steps[i].finished_at = Some(finished);
            ctx.set_step_status(i, StepStatus::Retrying);
            self.push_log(
                ctx,
                i,
                AttemptRecord {
                    attempt,
                    started_at: started.map(utc),
                    finished_at: utc(finished),
                    outcome: outcome.into(),
                    error: Some(message.clone()),
                    retry_delay_ms: Some(delay.as_millis() as u64),
                    next_attempt_at: Some(utc(next)),
                },
            );
            self.enqueue(ctx, &id, KIND_STEP, next, false);
            self.retries += 1;
            self.record(
                ctx,
                "step.retry_scheduled",
                Some(from.as_str()),
                Some("retrying"),
                Some(&id),
                json!({"attempt": attempt, "error": message, "delay_ms": delay.as_millis() as u64}),
            );
            return Ok(());
        }
        ctx.steps[i].finished_at = Some(finished);
        ctx.steps[i].wake_at = None;
        ctx.set_step_status(i, StepStatus::Failed);
        self.push_log(
            ctx,
            i,
            AttemptRecord {
                attempt,
                started_at: started.map(utc),
                finished_at: utc(finished),
                outcome: outcome.into(),
                error: Some(message.clone()),
                retry_delay_ms: None,
                next_attempt_at: None,
            },
        );
        let why = if retryable {
            "retries exhausted"
        } else {
            "not retryable"
        };
        self.record(
            ctx,
            "step.failed",
            Some(from.as_str()),
            Some("failed"),
            Some(&id),
            json!({"attempt": attempt, "error": message, "reason": why}),
        );
        if !(ctx.status().is_active() || ctx.status() == RunStatus::Paused) {
            return Ok(());
        }
        let run_error = format!("step `{id}` failed after {attempt} attempt(s): {message}");
        match step.on_failure {
            OnFailure::Continue => self.advance(conn, ctx, i),
            OnFailure::Fail => {
                self.stop_steps(conn, ctx)?;
                ctx.run.error = Some(run_error);
                ctx.run.failed_step = Some(id);
                self.set_run_status(
                    ctx,
                    RunStatus::Failed,
                    "run.failed",
                    json!({"on_failure": "fail"}),
                );
                Ok(())
            }
            OnFailure::DeadLetter => {
                // Other branches stop where they are; a redrive picks them up again.
                ctx.clear_queue = true;
                ctx.run.error = Some(run_error);
                ctx.run.failed_step = Some(id);
                ctx.run.pause_reason = None;
                self.set_run_status(
                    ctx,
                    RunStatus::DeadLettered,
                    "run.dead_lettered",
                    json!({"attempts": attempt}),
                );
                Ok(())
            }
            OnFailure::Pause => {
                ctx.run.error = Some(run_error);
                ctx.run.failed_step = Some(id);
                if ctx.status() != RunStatus::Paused {
                    ctx.hold = Some(true);
                    self.set_run_status(
                        ctx,
                        RunStatus::Paused,
                        "run.paused",
                        json!({"reason": "retries_exhausted"}),
                    );
                }
                ctx.run.pause_reason = Some("retries_exhausted".into());
                Ok(())
            }
        }
    }

    /// Marks every unfinished step cancelled and drops the run's queue rows.
    fn stop_steps(&mut self, conn: &mut DbConnection, ctx: &mut RunCtx) -> Result<(), String> {
        ctx.ensure_all(conn)?;
        for i in 0..ctx.steps.len() {
            let s = ctx.step_status(i);
            if !s.is_done() {
                ctx.set_step_status(i, StepStatus::Cancelled);
                ctx.steps[i].wake_at = None;
                if s.is_live() {
                    ctx.steps[i].finished_at = Some(self.now);
                }
            }
        }
        ctx.clear_queue = true;
        Ok(())
    }

    /// Finishes the run when every step is done.
    fn maybe_finish(&mut self, conn: &mut DbConnection, ctx: &mut RunCtx) -> Result<(), String> {
        let status = ctx.status();
        if !(status.is_active() || status == RunStatus::Paused) {
            return Ok(());
        }
        // Cheap first: a loaded step that is not done settles it without reading the others.
        if !ctx.steps.loaded().all(|s| s.step_status().is_done()) {
            return Ok(());
        }
        ctx.ensure_all(conn)?;
        if !ctx.steps.loaded().all(|s| s.step_status().is_done()) {
            return Ok(());
        }
        let outputs = if ctx.def.doc.outputs.is_empty() {
            Ok(json!({}))
        } else {
            let value = Value::Object(ctx.def.doc.outputs.clone().into_iter().collect());
            definition::render(&value, &ctx.expression_context())
        };
        ctx.clear_queue = true;
        ctx.run.pause_reason = None;
        if ctx.run.started_at.is_none() {
            ctx.run.started_at = Some(self.now);
        }
        match outputs {
            Ok(outputs) => {
                ctx.run.outputs = Some(outputs.to_string());
                self.set_run_status(ctx, RunStatus::Succeeded, "run.succeeded", json!({}));
            }
            Err(e) => {
                ctx.run.error = Some(format!("the run's outputs could not be computed: {e}"));
                self.set_run_status(
                    ctx,
                    RunStatus::Failed,
                    "run.failed",
                    json!({"reason": "outputs"}),
                );
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Claimed queue rows that need no execution, and takeovers

    /// A claimed queue row. Returns true when it became an execution (its row stays leased).
    pub fn claimed(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        step_id: &str,
        kind: &str,
        ready_at: NaiveDateTime,
    ) -> Result<bool, String> {
        if kind == KIND_RUN_TIMEOUT {
            self.dequeue(ctx, step_id, kind);
            let status = ctx.status();
            if status.is_active() || status == RunStatus::Paused {
                self.stop_steps(conn, ctx)?;
                let limit = ctx
                    .def
                    .run_timeout
                    .map(|d| humantime::format_duration(d).to_string())
                    .unwrap_or_default();
                ctx.run.error = Some(format!(
                    "the run did not finish within its timeout of {limit}"
                ));
                ctx.run.pause_reason = None;
                self.set_run_status(
                    ctx,
                    RunStatus::Failed,
                    "run.timed_out",
                    json!({"timeout": limit}),
                );
            }
            return Ok(false);
        }
        let Some(i) = ctx.index(step_id) else {
            self.dequeue(ctx, step_id, kind);
            return Ok(false);
        };
        ctx.ensure(conn, &[i])?;
        let status = ctx.status();
        if status == RunStatus::Paused {
            // Raced with a pause: put the row back, held.
            self.dequeue(ctx, step_id, kind);
            self.enqueue(ctx, step_id, kind, ready_at, false);
            return Ok(false);
        }
        if !status.is_active() {
            self.dequeue(ctx, step_id, kind);
            return Ok(false);
        }
        let uses = ctx.def.steps[i].uses.clone();
        match ctx.step_status(i) {
            StepStatus::Queued | StepStatus::Retrying if uses == WAIT || uses == WAIT_FOR_EVENT => {
                self.dequeue(ctx, step_id, kind);
                ctx.set_step_status(i, StepStatus::Pending);
                self.make_ready(conn, ctx, i)?;
                Ok(false)
            }
            StepStatus::Queued | StepStatus::Retrying => {
                let task = self.start_attempt(conn, ctx, i, ready_at)?;
                self.tasks.push(task);
                Ok(true)
            }
            StepStatus::Running => {
                // The engine that ran this attempt stopped without a result (its lease expired).
                let attempt = ctx.steps[i].attempts;
                let started = ctx.steps[i].started_at;
                self.push_log(
                    ctx,
                    i,
                    AttemptRecord {
                        attempt,
                        started_at: started.map(utc),
                        finished_at: utc(self.now),
                        outcome: "lost".into(),
                        error: Some("the process running this attempt stopped; taken over".into()),
                        retry_delay_ms: None,
                        next_attempt_at: None,
                    },
                );
                self.record(
                    ctx,
                    "step.attempt_lost",
                    Some("running"),
                    Some("running"),
                    Some(step_id),
                    json!({"attempt": attempt}),
                );
                let budget = u32::try_from(ctx.steps[i].budget_attempts()).unwrap_or(u32::MAX);
                if budget >= ctx.def.steps[i].retry.max_attempts {
                    self.dequeue(ctx, step_id, kind);
                    ctx.steps[i].finished_at = Some(self.now);
                    let e = Failure::Permanent(format!(
                        "attempt {attempt} was lost (the process running it stopped) and no attempts are left"
                    ));
                    self.fail_step(conn, ctx, i, e, None)?;
                    return Ok(false);
                }
                let task = self.start_attempt(conn, ctx, i, ready_at)?;
                self.tasks.push(task);
                Ok(true)
            }
            StepStatus::Waiting => {
                self.dequeue(ctx, step_id, kind);
                let wake_at = ctx.steps[i].wake_at.unwrap_or(self.now);
                if wake_at > self.now {
                    self.enqueue(ctx, step_id, kind, wake_at, false);
                    return Ok(false);
                }
                if uses == WAIT {
                    ctx.steps[i].finished_at = Some(self.now);
                    self.succeed_step(
                        conn,
                        ctx,
                        i,
                        json!({"waited_until": model_time(wake_at)}),
                        None,
                    )?;
                } else {
                    let event = ctx.steps[i]
                        .inputs
                        .as_deref()
                        .and_then(|s| serde_json::from_str::<Value>(s).ok())
                        .and_then(|v| v.get("event").and_then(Value::as_str).map(str::to_string))
                        .unwrap_or_default();
                    let timeout = ctx.def.steps[i]
                        .with
                        .get("timeout")
                        .and_then(Value::as_str)
                        .unwrap_or("24h")
                        .to_string();
                    ctx.steps[i].finished_at = Some(self.now);
                    // A missing event is not retried: the wait itself was the attempt.
                    let e = Failure::Expired(format!(
                        "timed out: no event `{event}` arrived within {timeout}"
                    ));
                    self.fail_step(conn, ctx, i, e, None)?;
                }
                Ok(false)
            }
            _ => {
                self.dequeue(ctx, step_id, kind);
                Ok(false)
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // API operations

    pub fn pause(&mut self, ctx: &mut RunCtx, reason: &str) -> bool {
        if !ctx.status().is_active() {
            return false;
        }
        ctx.run.pause_reason = Some(reason.to_string());
        ctx.hold = Some(true);
        self.set_run_status(
            ctx,
            RunStatus::Paused,
            "run.paused",
            json!({"reason": reason}),
        );
        true
    }

    /// Resumes a paused run (retrying its failed step if it paused on exhaustion).
    pub fn resume(&mut self, conn: &mut DbConnection, ctx: &mut RunCtx) -> Result<bool, String> {
        if ctx.status() != RunStatus::Paused {
            return Ok(false);
        }
        ctx.ensure_all(conn)?;
        let to = if ctx.run.started_at.is_some() {
            RunStatus::Running
        } else {
            RunStatus::Pending
        };
        let reason = ctx.run.pause_reason.take();
        ctx.hold = Some(false);
        self.set_run_status(ctx, to, "run.resumed", json!({"paused_for": reason}));
        self.restart_failed_step(conn, ctx)?;
        self.requeue_live_steps(conn, ctx)?;
        self.maybe_finish(conn, ctx)?;
        Ok(true)
    }

    /// Redrives a dead-lettered run from its failed step.
    pub fn redrive(&mut self, conn: &mut DbConnection, ctx: &mut RunCtx) -> Result<bool, String> {
        if ctx.status() != RunStatus::DeadLettered {
            return Ok(false);
        }
        ctx.ensure_all(conn)?;
        ctx.run.finished_at = None;
        let to = if ctx.run.started_at.is_some() {
            RunStatus::Running
        } else {
            RunStatus::Pending
        };
        self.set_run_status(
            ctx,
            to,
            "run.redriven",
            json!({"failed_step": ctx.run.failed_step}),
        );
        if let Some(timeout) = ctx.def.run_timeout {
            let deadline = self.now + from_std(timeout);
            ctx.run.deadline_at = Some(deadline);
            self.dequeue(ctx, "", KIND_RUN_TIMEOUT);
            self.enqueue(ctx, "", KIND_RUN_TIMEOUT, deadline, false);
        }
        self.restart_failed_step(conn, ctx)?;
        self.requeue_live_steps(conn, ctx)?;
        self.maybe_finish(conn, ctx)?;
        Ok(true)
    }

    /// The failed step gets a fresh retry budget and runs again.
    fn restart_failed_step(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
    ) -> Result<(), String> {
        ctx.run.error = None;
        let Some(step) = ctx.run.failed_step.take() else {
            return Ok(());
        };
        ctx.run_dirty = true;
        let Some(i) = ctx.index(&step) else {
            return Ok(());
        };
        if ctx.step_status(i) != StepStatus::Failed {
            return Ok(());
        }
        let row = &mut ctx.steps[i];
        row.budget_start = row.attempts;
        row.error = None;
        row.wake_at = None;
        row.finished_at = None;
        ctx.set_step_status(i, StepStatus::Pending);
        self.record(
            ctx,
            "step.restarted",
            Some("failed"),
            Some("pending"),
            Some(&step),
            json!({}),
        );
        self.consider(conn, ctx, i)?;
        // Steps after a failed `continue` step may have been waiting on it.
        for j in 0..ctx.steps.len() {
            if ctx.step_status(j) == StepStatus::Pending && j != i {
                self.consider(conn, ctx, j)?;
            }
        }
        Ok(())
    }

    /// Makes sure every step still in flight has its queue row (rows were dropped when the run
    /// was dead-lettered; attempts that were running then are re-run).
    fn requeue_live_steps(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
    ) -> Result<(), String> {
        let mut existing: BTreeSet<(String, String)> = store::queue_keys_for_run(conn, &ctx.run.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        if ctx.clear_queue {
            existing.clear();
        }
        for (run, step, kind) in &self.deletes {
            if run == &ctx.run.id {
                existing.remove(&(step.clone(), kind.clone()));
            }
        }
        for row in self.inserts.iter().filter(|r| r.run_id == ctx.run.id) {
            existing.insert((row.step_id.clone(), row.kind.clone()));
        }
        for i in 0..ctx.steps.len() {
            let status = ctx.step_status(i);
            if !status.is_live() {
                continue;
            }
            let id = ctx.steps[i].step_id.clone();
            if existing.contains(&(id.clone(), KIND_STEP.to_string())) {
                continue;
            }
            let at = match status {
                StepStatus::Retrying | StepStatus::Waiting => {
                    ctx.steps[i].wake_at.unwrap_or(self.now)
                }
                _ => self.now,
            };
            self.enqueue(ctx, &id, KIND_STEP, at, false);
        }
        Ok(())
    }

    pub fn cancel(&mut self, conn: &mut DbConnection, ctx: &mut RunCtx) -> Result<bool, String> {
        if ctx.status().is_final() {
            return Ok(false);
        }
        self.stop_steps(conn, ctx)?;
        ctx.run.pause_reason = None;
        self.set_run_status(ctx, RunStatus::Cancelled, "run.cancelled", json!({}));
        Ok(true)
    }

    /// Delivers an event to a step waiting for it. `None` when no step waits for it now (the
    /// caller keeps it for a later `wait_for_event`).
    pub fn deliver(
        &mut self,
        conn: &mut DbConnection,
        ctx: &mut RunCtx,
        event: &EventRow,
    ) -> Result<Option<String>, String> {
        ctx.ensure_all(conn)?;
        let waiting = (0..ctx.steps.len()).find(|&i| {
            ctx.step_status(i) == StepStatus::Waiting
                && ctx.def.steps[i].uses == WAIT_FOR_EVENT
                && ctx.def.steps[i].with.get("event").and_then(Value::as_str)
                    == Some(event.name.as_str())
        });
        let Some(i) = waiting else {
            self.record(
                ctx,
                "run.event_buffered",
                None,
                None,
                None,
                json!({"event": event.name, "event_id": event.id}),
            );
            return Ok(None);
        };
        let id = ctx.steps[i].step_id.clone();
        self.dequeue(ctx, &id, KIND_STEP);
        ctx.steps[i].finished_at = Some(self.now);
        self.receive_event(conn, ctx, i, event)?;
        Ok(Some(id))
    }

    // -----------------------------------------------------------------------------------------

    /// Writes everything the transitions decided. Call once per transaction, after all runs.
    pub fn flush(
        &mut self,
        conn: &mut DbConnection,
        runs: &mut [&mut RunCtx],
    ) -> diesel::QueryResult<()> {
        {
            let run_rows: Vec<&RunRow> = runs
                .iter()
                .filter(|c| c.run_dirty)
                .map(|c| &c.run)
                .collect();
            super::dialect::save_runs(conn, &run_rows)?;
            let step_rows: Vec<&StepRunRow> = runs
                .iter()
                .flat_map(|c| c.dirty.iter().map(move |&i| &c.steps[i]))
                .collect();
            super::dialect::save_step_runs(conn, &step_rows)?;
        }
        for ctx in runs.iter_mut() {
            ctx.run_dirty = false;
            ctx.dirty.clear();
            if ctx.clear_queue {
                store::delete_queue_for_run(conn, &ctx.run.id)?;
                self.inserts.retain(|r| r.run_id != ctx.run.id);
                ctx.clear_queue = false;
            }
        }
        for (run, step, kind) in std::mem::take(&mut self.deletes) {
            store::delete_queue_row(conn, &run, &step, &kind)?;
        }
        for ctx in runs.iter_mut() {
            if let Some(held) = ctx.hold.take() {
                store::set_queue_held(conn, &ctx.run.id, held)?;
            }
        }
        store::insert_queue(conn, &std::mem::take(&mut self.inserts))?;
        store::insert_audit(conn, &std::mem::take(&mut self.audit))?;
        super::dialect::upsert_effects(conn, &std::mem::take(&mut self.effects))?;
        for (event, step) in std::mem::take(&mut self.consumed) {
            store::consume_event(conn, &event, &step)?;
        }
        // Tasks whose run stopped in this same transaction must not run.
        let stopped: BTreeSet<String> = runs
            .iter()
            .filter(|c| !c.status().is_active())
            .map(|c| c.run.id.clone())
            .collect();
        self.tasks.retain(|t| !stopped.contains(&t.run_id));
        Ok(())
    }
}

fn model_time(t: NaiveDateTime) -> String {
    utc(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

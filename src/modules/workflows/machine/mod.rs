//! The run state machine. Every change to a run happens here, inside one database transaction
//! that holds the run's row lock: a [`RunCtx`] is loaded, transitions change it in memory and
//! record audit entries, queue changes and effects, and [`Machine::flush`] writes all of it before
//! the transaction commits. So a step's result, the enqueueing of the steps it unblocks, its
//! effect and the audit trail commit together or not at all.
//!
//! The transitions never write: what they read beyond the rows they were given goes through
//! [`RunStore`] (the database in production, a map in the unit tests), and what they decide is a
//! [`WriteSet`] that [`Machine::flush`] writes. So every decision (retry, backoff, timeout,
//! cancel, pause, redrive, exhaustion) is tested without a database (`tests.rs`).
//!
//! Files: `ctx.rs` (a loaded run), `start.rs` (starting steps and waits), `results.rs` (step
//! results, retries, failure policies, finishing), `claimed.rs` (due queue rows and takeovers),
//! `ops.rs` (pause, resume, redrive, cancel, events).

mod claimed;
mod ctx;
mod ops;
mod results;
mod start;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde_json::Value;

use super::audit::{self, Transition};
use super::model::{RunStatus, utc};
use super::store::{self, AuditRow, EffectRow, EventRow, NewQueueRow, RunRow, StepRunRow};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::db::DbConnection;

pub use ctx::RunCtx;

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

/// `at + d`, saturating at the latest time chrono holds: chrono's `+` panics past it, and a
/// duration can come from a run's data (a `wait` whose `duration` is an expression).
pub fn after(at: NaiveDateTime, d: Duration) -> NaiveDateTime {
    at.checked_add_signed(from_std(d))
        .unwrap_or(NaiveDateTime::MAX)
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

/// Why a transition could not be applied (the transaction rolls back).
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// Step rows the run's definition names are missing (a corrupted run).
    #[error("run {run_id} is missing step rows: {}", steps.join(", "))]
    MissingRows { run_id: String, steps: Vec<String> },
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
}

/// What the transitions read beyond the rows they were given.
pub trait RunStore {
    /// The run's step rows with these ids.
    fn step_rows(
        &mut self,
        run_id: &str,
        step_ids: &[String],
    ) -> Result<Vec<StepRunRow>, MachineError>;
    /// The oldest event of this name sent to the run that no step consumed yet.
    fn oldest_unconsumed_event(
        &mut self,
        run_id: &str,
        name: &str,
    ) -> Result<Option<EventRow>, MachineError>;
    /// (step id, kind) of the run's queue rows.
    fn queue_keys(&mut self, run_id: &str) -> Result<Vec<(String, String)>, MachineError>;
}

impl RunStore for DbConnection {
    fn step_rows(
        &mut self,
        run_id: &str,
        step_ids: &[String],
    ) -> Result<Vec<StepRunRow>, MachineError> {
        Ok(store::step_runs_subset(
            self,
            &[run_id.to_string()],
            step_ids,
        )?)
    }

    fn oldest_unconsumed_event(
        &mut self,
        run_id: &str,
        name: &str,
    ) -> Result<Option<EventRow>, MachineError> {
        Ok(store::oldest_unconsumed_event(self, run_id, name)?)
    }

    fn queue_keys(&mut self, run_id: &str) -> Result<Vec<(String, String)>, MachineError> {
        Ok(store::queue_keys_for_run(self, run_id)?)
    }
}

/// A run that a transaction finished, published on the bus once it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun {
    pub tenant_id: String,
    pub run_id: String,
    pub workflow_id: String,
    pub status: RunStatus,
}

/// Everything one transaction's transitions decided to write, in the order it is written:
/// changed runs and steps, queue rows of stopped runs dropped, single queue rows dropped, queue
/// rows held or released, new queue rows, audit entries, effects, consumed events.
pub struct WriteSet {
    /// Indices (into the runs given to [`Machine::write_set`]) of changed runs.
    pub runs: Vec<usize>,
    /// (run index, step index) of changed step rows.
    pub steps: Vec<(usize, usize)>,
    pub cleared: Vec<String>,
    pub deletes: Vec<(String, String, String)>,
    pub held: Vec<(String, bool)>,
    pub inserts: Vec<NewQueueRow>,
    pub audit: Vec<AuditRow>,
    pub effects: Vec<EffectRow>,
    pub consumed: Vec<(String, String)>,
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
    /// Runs this transaction finished (succeeded, failed, cancelled or dead-lettered).
    pub finished: Vec<FinishedRun>,
    pub retries: u64,
    pub started_runs: u64,
    /// Draws the jitter of retry delays, uniform in [0, 1) (fixed in unit tests).
    pub sample: fn() -> f64,
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
            sample: rand::random::<f64>,
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
            self.finished.push(FinishedRun {
                tenant_id: ctx.run.tenant_id.clone(),
                run_id: ctx.run.id.clone(),
                workflow_id: ctx.run.workflow_id.clone(),
                status: to,
            });
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
            lease_until: leased.then(|| after(self.now, self.lease)),
            enqueued_at: self.now,
        });
    }

    fn dequeue(&mut self, ctx: &RunCtx, step_id: &str, kind: &str) {
        self.deletes
            .push((ctx.run.id.clone(), step_id.to_string(), kind.to_string()));
    }

    // -----------------------------------------------------------------------------------------

    /// Takes what the transitions decided, marks the runs clean, and drops executions of runs
    /// that stopped in this same transaction. Call once per transaction, after all runs.
    pub fn write_set(&mut self, runs: &mut [&mut RunCtx]) -> WriteSet {
        let mut set = WriteSet {
            runs: Vec::new(),
            steps: Vec::new(),
            cleared: Vec::new(),
            deletes: std::mem::take(&mut self.deletes),
            held: Vec::new(),
            inserts: Vec::new(),
            audit: std::mem::take(&mut self.audit),
            effects: std::mem::take(&mut self.effects),
            consumed: std::mem::take(&mut self.consumed),
        };
        let mut inserts = std::mem::take(&mut self.inserts);
        for (r, ctx) in runs.iter_mut().enumerate() {
            if ctx.run_dirty {
                set.runs.push(r);
            }
            set.steps.extend(ctx.dirty.iter().map(|&i| (r, i)));
            ctx.run_dirty = false;
            ctx.dirty.clear();
            if ctx.clear_queue {
                set.cleared.push(ctx.run.id.clone());
                inserts.retain(|row| row.run_id != ctx.run.id);
                ctx.clear_queue = false;
            }
            if let Some(held) = ctx.hold.take() {
                set.held.push((ctx.run.id.clone(), held));
            }
        }
        set.inserts = inserts;
        // Tasks whose run stopped in this same transaction must not run.
        let stopped: BTreeSet<&str> = runs
            .iter()
            .filter(|c| !c.status().is_active())
            .map(|c| c.run.id.as_str())
            .collect();
        self.tasks.retain(|t| !stopped.contains(t.run_id.as_str()));
        set
    }

    /// Writes everything the transitions decided (see [`Machine::write_set`]).
    pub fn flush(
        &mut self,
        conn: &mut DbConnection,
        runs: &mut [&mut RunCtx],
    ) -> diesel::QueryResult<()> {
        let set = self.write_set(runs);
        let run_rows: Vec<&RunRow> = set.runs.iter().map(|&r| &runs[r].run).collect();
        super::dialect::save_runs(conn, &run_rows)?;
        let step_rows: Vec<&StepRunRow> =
            set.steps.iter().map(|&(r, i)| &runs[r].steps[i]).collect();
        super::dialect::save_step_runs(conn, &step_rows)?;
        for run_id in &set.cleared {
            store::delete_queue_for_run(conn, run_id)?;
        }
        for (run, step, kind) in &set.deletes {
            store::delete_queue_row(conn, run, step, kind)?;
        }
        for (run_id, held) in &set.held {
            store::set_queue_held(conn, run_id, *held)?;
        }
        store::insert_queue(conn, &set.inserts)?;
        store::insert_audit(conn, &set.audit)?;
        super::dialect::upsert_effects(conn, &set.effects)?;
        for (event, step) in &set.consumed {
            store::consume_event(conn, event, step)?;
        }
        Ok(())
    }
}

fn model_time(t: NaiveDateTime) -> String {
    utc(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

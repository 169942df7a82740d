//! The one recipe every run change follows, in [`Engine::transact`]: in one write transaction,
//! lock the runs (or create one) → apply the machine's transitions → write what they decided →
//! wake other replicas (PostgreSQL NOTIFY, delivered on commit) → list the runs it finished; after
//! the commit, publish those runs on the bus and start the executions it claimed. The API's
//! operations (start, pause, resume, cancel, redrive, events) and the engine's claims and
//! completions all go through it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use super::{Engine, EngineError};
use crate::modules::workflows::dialect;
use crate::modules::workflows::machine::{ExecTask, FinishedRun, Machine, RunCtx};
use crate::modules::workflows::model::RunStatus;
use crate::modules::workflows::store::{self, StepRunRow};
use crate::platform::auth::TenantId;
use crate::platform::db::{DbConnection, DbError};

/// What a transaction decided that must happen after it commits.
pub struct AfterCommit {
    pub tasks: Vec<ExecTask>,
    pub wake: bool,
    pub finished: Vec<FinishedRun>,
    pub retries: u64,
}

/// One transaction of transitions: its connection, its machine and the runs it locked.
pub struct Tx<'c> {
    conn: &'c mut DbConnection,
    m: Machine,
    runs: BTreeMap<String, RunCtx>,
    engine: &'c Engine,
}

impl<'c> Tx<'c> {
    fn new(engine: &'c Engine, conn: &'c mut DbConnection, actor: String, budget: usize) -> Self {
        Tx {
            m: Machine::new(actor, engine.owner(), engine.lease(), budget),
            conn,
            runs: BTreeMap::new(),
            engine,
        }
    }

    /// The connection, the machine and the locked runs, for applying transitions.
    pub fn parts(
        &mut self,
    ) -> (
        &mut DbConnection,
        &mut Machine,
        &mut BTreeMap<String, RunCtx>,
    ) {
        (&mut *self.conn, &mut self.m, &mut self.runs)
    }

    pub fn conn(&mut self) -> &mut DbConnection {
        &mut *self.conn
    }

    pub fn machine(&mut self) -> &mut Machine {
        &mut self.m
    }

    /// Locks and loads runs by id; with `skip_locked`, runs locked by another transaction are
    /// left out (and runs that cannot be loaded any more are failed and left out).
    pub fn lock_runs(&mut self, run_ids: &[String], skip_locked: bool) -> Result<(), EngineError> {
        let loaded = self
            .engine
            .load_runs_with(self.conn, run_ids, skip_locked)?;
        self.runs.extend(loaded);
        Ok(())
    }

    /// Locks one run of the tenant; false when the tenant has no such run (another tenant's run
    /// is not found either).
    pub fn lock_run(&mut self, tenant: &TenantId, run_id: &str) -> Result<bool, EngineError> {
        if store::run(self.conn, tenant, run_id)?.is_none() {
            return Ok(false);
        }
        self.lock_runs(&[run_id.to_string()], false)?;
        Ok(self.runs.contains_key(run_id))
    }

    /// A run created in this transaction (its rows are inserted by the caller).
    pub fn adopt(&mut self, ctx: RunCtx) {
        self.runs.insert(ctx.run.id.clone(), ctx);
    }

    /// Loads, in one query, the step rows the transitions will need (see [`RunCtx::ensure`]).
    pub fn prefetch(&mut self, mut step_ids: Vec<String>) -> Result<(), EngineError> {
        if self.runs.is_empty() || step_ids.is_empty() {
            return Ok(());
        }
        step_ids.sort();
        step_ids.dedup();
        let run_ids: Vec<String> = self.runs.keys().cloned().collect();
        let mut by_run: HashMap<String, Vec<StepRunRow>> = HashMap::new();
        for row in store::step_runs_subset(self.conn, &run_ids, &step_ids)? {
            by_run.entry(row.run_id.clone()).or_default().push(row);
        }
        for (run, rows) in by_run {
            if let Some(ctx) = self.runs.get_mut(&run) {
                ctx.absorb(rows);
            }
        }
        Ok(())
    }

    /// Writes what the transitions decided, asks other replicas to look for work, and lists
    /// the runs this transaction finished (each once, with its final status).
    fn finish(mut self) -> Result<AfterCommit, EngineError> {
        let mut refs: Vec<&mut RunCtx> = self.runs.values_mut().collect();
        self.m.flush(self.conn, &mut refs)?;
        if self.m.wake
            && let Some(channel) = self.engine.channel_for(self.conn)?
        {
            dialect::notify(self.conn, &channel)?;
        }
        let mut finished: Vec<FinishedRun> = Vec::new();
        for run in std::mem::take(&mut self.m.finished) {
            finished.retain(|f| f.run_id != run.run_id);
            finished.push(run);
        }
        // A run that finished and was then revived in this transaction is not finished.
        finished.retain(|f| {
            self.runs
                .get(&f.run_id)
                .is_none_or(|c| c.status() == f.status)
        });
        Ok(AfterCommit {
            tasks: std::mem::take(&mut self.m.tasks),
            wake: self.m.wake,
            finished,
            retries: self.m.retries,
        })
    }
}

/// Counts a transaction as under way until it is dropped (after its executions started, or on
/// an error).
struct Transacting<'e>(&'e Engine);

impl<'e> Transacting<'e> {
    fn enter(engine: &'e Engine) -> Self {
        engine.inner.transacting.fetch_add(1, Ordering::SeqCst);
        Transacting(engine)
    }
}

impl Drop for Transacting<'_> {
    fn drop(&mut self) {
        self.0.inner.transacting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Engine {
    /// Runs `body` in one write transaction with a fresh `Machine` acting as `actor`, which
    /// may claim up to `claim_budget` steps for this engine: the body locks (or creates) runs
    /// and applies transitions; then the recipe above. A body that fails rolls everything back.
    pub async fn transact<T, E, F>(
        &self,
        actor: String,
        claim_budget: usize,
        body: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<EngineError> + From<DbError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        let engine = self.clone();
        let _busy = Transacting::enter(self);
        let (value, after) = self
            .inner
            .db
            .run(move |conn| {
                dialect::write_tx(conn, |conn| -> Result<(T, AfterCommit), E> {
                    let mut tx = Tx::new(&engine, conn, actor, claim_budget);
                    let value = body(&mut tx)?;
                    let after = tx.finish()?;
                    Ok((value, after))
                })
            })
            .await?;
        self.publish(&after.finished);
        self.after_commit(after);
        Ok(value)
    }

    /// Publishes run outcomes on the bus (after commit).
    fn publish(&self, finished: &[FinishedRun]) {
        for run in finished {
            self.inner
                .bus
                .publish(crate::modules::workflows::events::WorkflowRunFinished {
                    tenant_id: run.tenant_id.clone(),
                    run_id: run.run_id.clone(),
                    workflow_id: run.workflow_id.clone(),
                    status: run.status.as_str().to_string(),
                });
        }
    }

    /// After a transaction committed: count, wake the claimer, start its executions.
    fn after_commit(&self, after: AfterCommit) {
        for run in &after.finished {
            metrics::counter!("maestro_workflow_runs_finished_total", "outcome" => run.status.as_str())
                .increment(1);
            if run.status == RunStatus::DeadLettered {
                metrics::counter!("maestro_workflow_dead_lettered_total").increment(1);
            }
            tracing::debug!(
                workflow_id = %run.workflow_id,
                outcome = run.status.as_str(),
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
}

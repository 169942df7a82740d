//! Operations from the API: pause, resume, redrive (a fresh retry budget for the failed step),
//! cancel, and events delivered to `wait_for_event` steps.

use std::collections::BTreeSet;

use serde_json::json;

use super::{Machine, MachineError, RunCtx, RunStore, after};
use crate::modules::workflows::definition::Wait;
use crate::modules::workflows::model::{RunStatus, StepStatus};
use crate::modules::workflows::store::{EventRow, KIND_RUN_TIMEOUT, KIND_STEP};

impl Machine {
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
    pub fn resume(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
    ) -> Result<bool, MachineError> {
        if ctx.status() != RunStatus::Paused {
            return Ok(false);
        }
        ctx.ensure_all(store)?;
        let to = if ctx.run.started_at.is_some() {
            RunStatus::Running
        } else {
            RunStatus::Pending
        };
        let reason = ctx.run.pause_reason.take();
        ctx.hold = Some(false);
        self.set_run_status(ctx, to, "run.resumed", json!({"paused_for": reason}));
        self.restart_failed_step(store, ctx)?;
        self.requeue_live_steps(store, ctx)?;
        self.maybe_finish(store, ctx)?;
        Ok(true)
    }

    /// Redrives a dead-lettered run from its failed step.
    pub fn redrive(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
    ) -> Result<bool, MachineError> {
        if ctx.status() != RunStatus::DeadLettered {
            return Ok(false);
        }
        ctx.ensure_all(store)?;
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
            let deadline = after(self.now, timeout);
            ctx.run.deadline_at = Some(deadline);
            self.dequeue(ctx, "", KIND_RUN_TIMEOUT);
            self.enqueue(ctx, "", KIND_RUN_TIMEOUT, deadline, false);
        }
        self.restart_failed_step(store, ctx)?;
        self.requeue_live_steps(store, ctx)?;
        self.maybe_finish(store, ctx)?;
        Ok(true)
    }

    /// The failed step gets a fresh retry budget and runs again.
    pub(super) fn restart_failed_step(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
    ) -> Result<(), MachineError> {
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
        self.consider(store, ctx, i)?;
        // Steps after a failed `continue` step may have been waiting on it.
        for j in 0..ctx.steps.len() {
            if ctx.step_status(j) == StepStatus::Pending && j != i {
                self.consider(store, ctx, j)?;
            }
        }
        Ok(())
    }

    /// Makes sure every step still in flight has its queue row (rows were dropped when the run
    /// was dead-lettered; attempts that were running then are re-run).
    pub(super) fn requeue_live_steps(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
    ) -> Result<(), MachineError> {
        let mut existing: BTreeSet<(String, String)> =
            store.queue_keys(&ctx.run.id)?.into_iter().collect();
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

    pub fn cancel(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
    ) -> Result<bool, MachineError> {
        if ctx.status().is_final() {
            return Ok(false);
        }
        self.stop_steps(store, ctx)?;
        ctx.run.pause_reason = None;
        self.set_run_status(ctx, RunStatus::Cancelled, "run.cancelled", json!({}));
        Ok(true)
    }

    /// Delivers an event to a step waiting for it. `None` when no step waits for it now (the
    /// caller keeps it for a later `wait_for_event`).
    pub fn deliver(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        event: &EventRow,
    ) -> Result<Option<String>, MachineError> {
        ctx.ensure_all(store)?;
        let waiting = (0..ctx.steps.len()).find(|&i| {
            ctx.step_status(i) == StepStatus::Waiting
                && matches!(&ctx.def.steps[i].wait, Some(Wait::Event { event: name, .. }) if *name == event.name)
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
        self.receive_event(store, ctx, i, event)?;
        Ok(Some(id))
    }
}

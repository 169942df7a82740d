//! Step results: success, retries with backoff while the budget lasts, the step's `on_failure`
//! once it has failed for good (dead letter, pause, fail, continue), and finishing the run.

use serde_json::{Value, json};

use super::{Done, Failure, MAX_OUTPUT_BYTES, Machine, MachineError, RunCtx, RunStore, after};
use crate::modules::workflows::definition::{self, OnFailure};
use crate::modules::workflows::model::{AttemptRecord, RunStatus, StepStatus, utc};
use crate::modules::workflows::steps::NOOP;
use crate::modules::workflows::store::{EffectRow, KIND_STEP};

impl Machine {
    /// Applies an execution result. `false` when the result is stale (run stopped, or the step
    /// is no longer this attempt) and was discarded.
    pub fn complete(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        done: &Done,
    ) -> Result<bool, MachineError> {
        let Some(i) = ctx.index(&done.task.step_id) else {
            return Ok(false);
        };
        ctx.ensure(store, &[i])?;
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
                    self.fail_step(store, ctx, i, e, done.inputs.clone())?;
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
                    self.succeed_step(store, ctx, i, outputs, done.inputs.clone())?;
                }
            }
            Err(failure) => {
                ctx.steps[i].finished_at = Some(done.finished_at);
                self.fail_step(store, ctx, i, failure, done.inputs.clone())?;
            }
        }
        Ok(true)
    }

    pub(super) fn push_log(&mut self, ctx: &mut RunCtx, i: usize, record: AttemptRecord) {
        let mut log = ctx.steps[i].log();
        log.push(record);
        // Keep the log bounded (a step may be retried up to 100 times per budget).
        if log.len() > 200 {
            log.drain(..log.len() - 200);
        }
        ctx.steps[i].attempt_log = serde_json::to_string(&log).unwrap_or_else(|_| "[]".into());
        ctx.dirty.insert(i);
    }

    pub(super) fn succeed_step(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
        outputs: Value,
        inputs: Option<Value>,
    ) -> Result<(), MachineError> {
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
        self.advance(store, ctx, i)
    }

    /// After step `i` is done: dependents whose needs are all done go next, and the run may be
    /// finished.
    pub(super) fn advance(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), MachineError> {
        if ctx.status().is_active() || ctx.status() == RunStatus::Paused {
            for d in ctx.def.steps[i].dependents.clone() {
                self.consider(store, ctx, d)?;
            }
        }
        self.maybe_finish(store, ctx)?;
        Ok(())
    }

    /// Handles a failed attempt: retry with backoff while the budget lasts (and the error is
    /// retryable), otherwise the step fails and `on_failure` decides the run's fate.
    pub fn fail_step(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
        failure: Failure,
        inputs: Option<Value>,
    ) -> Result<(), MachineError> {
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
        let log = |retry: Option<(u64, chrono::NaiveDateTime)>| AttemptRecord {
            attempt,
            started_at: started.map(utc),
            finished_at: utc(finished),
            outcome: outcome.into(),
            error: Some(message.clone()),
            retry_delay_ms: retry.map(|(ms, _)| ms),
            next_attempt_at: retry.map(|(_, next)| utc(next)),
        };
        if retryable && budget_used < step.retry.max_attempts && from == StepStatus::Running {
            let delay = step.retry.delay(budget_used.max(1), (self.sample)());
            let next = after(self.now, delay);
            ctx.steps[i].wake_at = Some(next);
            ctx.steps[i].finished_at = Some(finished);
            ctx.set_step_status(i, StepStatus::Retrying);
            self.push_log(ctx, i, log(Some((delay.as_millis() as u64, next))));
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
        self.push_log(ctx, i, log(None));
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
            OnFailure::Continue => self.advance(store, ctx, i),
            OnFailure::Fail => {
                self.stop_steps(store, ctx)?;
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
    pub(super) fn stop_steps(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
    ) -> Result<(), MachineError> {
        ctx.ensure_all(store)?;
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
    pub(super) fn maybe_finish(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
    ) -> Result<(), MachineError> {
        let status = ctx.status();
        if !(status.is_active() || status == RunStatus::Paused) {
            return Ok(());
        }
        // Cheap first: a loaded step that is not done settles it without reading the others.
        if !ctx.steps.loaded().all(|s| s.step_status().is_done()) {
            return Ok(());
        }
        ctx.ensure_all(store)?;
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
}

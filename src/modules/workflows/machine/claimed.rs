//! Due queue rows the engine claimed: run timeouts, retries and queued steps that become
//! attempts, waits that expire, and takeovers of attempts whose process stopped.

use chrono::NaiveDateTime;
use serde_json::json;

use super::{Failure, Machine, MachineError, RunCtx, RunStore, model_time};
use crate::modules::workflows::definition::{WAIT, WAIT_FOR_EVENT, Wait};
use crate::modules::workflows::model::{AttemptRecord, RunStatus, StepStatus, utc};
use crate::modules::workflows::store::KIND_RUN_TIMEOUT;

impl Machine {
    /// A claimed queue row. Returns true when it became an execution (its row stays leased).
    pub fn claimed(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        step_id: &str,
        kind: &str,
        ready_at: NaiveDateTime,
    ) -> Result<bool, MachineError> {
        if kind == KIND_RUN_TIMEOUT {
            self.dequeue(ctx, step_id, kind);
            let status = ctx.status();
            if status.is_active() || status == RunStatus::Paused {
                self.stop_steps(store, ctx)?;
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
        ctx.ensure(store, &[i])?;
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
                self.make_ready(store, ctx, i)?;
                Ok(false)
            }
            StepStatus::Queued | StepStatus::Retrying => {
                let task = self.start_attempt(store, ctx, i, ready_at)?;
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
                    self.fail_step(store, ctx, i, e, None)?;
                    return Ok(false);
                }
                let task = self.start_attempt(store, ctx, i, ready_at)?;
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
                        store,
                        ctx,
                        i,
                        json!({"waited_until": model_time(wake_at)}),
                        None,
                    )?;
                } else {
                    let (event, timeout) = match &ctx.def.steps[i].wait {
                        Some(Wait::Event { event, timeout }) => (
                            event.clone(),
                            humantime::format_duration(*timeout).to_string(),
                        ),
                        _ => (String::new(), String::new()),
                    };
                    ctx.steps[i].finished_at = Some(self.now);
                    // A missing event is not retried: the wait itself was the attempt.
                    let e = Failure::Expired(format!(
                        "timed out: no event `{event}` arrived within {timeout}"
                    ));
                    self.fail_step(store, ctx, i, e, None)?;
                }
                Ok(false)
            }
            _ => {
                self.dequeue(ctx, step_id, kind);
                Ok(false)
            }
        }
    }
}

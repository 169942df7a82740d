//! Starting steps: a new run's roots, `if` conditions, steps whose needs are done, attempts
//! (claimed for this engine right away when the budget allows), and the durable waits (`wait`,
//! `wait_for_event`) that arm instead of running code.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::{ExecTask, Failure, Machine, MachineError, RunCtx, RunStore, after, model_time};
use crate::modules::workflows::definition::{
    self, OnFailure, WAIT, WAIT_FOR_EVENT, Wait, WaitWith,
};
use crate::modules::workflows::model::{RunStatus, StepStatus};
use crate::modules::workflows::store::{EventRow, KIND_RUN_TIMEOUT, KIND_STEP};
use crate::platform::auth::TenantId;
use crate::platform::steps::{OrExpr, parse_with};

impl Machine {
    /// Creates the first transitions of a new run (its rows are already built by the caller).
    pub fn begin(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
    ) -> Result<(), MachineError> {
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
            self.consider(store, ctx, i)?;
        }
        self.maybe_finish(store, ctx)?;
        Ok(())
    }

    /// A pending step whose needs are all done: evaluate `if`, then skip it or make it ready.
    pub(super) fn consider(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), MachineError> {
        let mut wanted = ctx.def.steps[i].needs.clone();
        wanted.push(i);
        ctx.ensure(store, &wanted)?;
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
            ctx.ensure_all(store)?;
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
                    return self.advance(store, ctx, i);
                }
                Err(e) => {
                    return self.fail_step(store, ctx, i, Failure::Permanent(e), None);
                }
            }
        }
        self.make_ready(store, ctx, i)
    }

    /// Puts a step on its way: `wait`/`wait_for_event` arm at once; other steps are claimed for
    /// this engine (if the budget allows) or queued.
    pub(super) fn make_ready(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), MachineError> {
        let uses = ctx.def.steps[i].uses.clone();
        if uses == WAIT {
            return self.arm_wait(store, ctx, i);
        }
        if uses == WAIT_FOR_EVENT {
            return self.arm_event(store, ctx, i);
        }
        let id = ctx.steps[i].step_id.clone();
        ctx.set_step_status(i, StepStatus::Queued);
        if ctx.status().is_active() && self.claim_budget > 0 {
            self.claim_budget -= 1;
            self.enqueue(ctx, &id, KIND_STEP, self.now, true);
            let task = self.start_attempt(store, ctx, i, self.now)?;
            self.tasks.push(task);
        } else {
            self.enqueue(ctx, &id, KIND_STEP, self.now, false);
        }
        Ok(())
    }

    /// Counts an attempt and builds the execution (the queue row is leased to this engine).
    pub fn start_attempt(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
        ready_at: NaiveDateTime,
    ) -> Result<ExecTask, MachineError> {
        if ctx.def.steps[i].templated {
            ctx.ensure_all(store)?;
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
    pub(super) fn mark_started(&mut self, ctx: &mut RunCtx) {
        if ctx.status() == RunStatus::Pending {
            ctx.run.started_at = Some(self.now);
            self.started_runs += 1;
            self.set_run_status(ctx, RunStatus::Running, "run.started", json!({}));
        }
    }

    pub(super) fn arm_wait(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), MachineError> {
        let given = match &ctx.def.steps[i].wait {
            Some(Wait::Timer(w)) => w.duration.clone(),
            _ => OrExpr::Expr(String::new()),
        };
        // A literal duration was read at validation; an expression is resolved now.
        let (duration, inputs) = match given {
            OrExpr::Value(d) => (Ok(d.get()), ctx.def.steps[i].with.clone()),
            OrExpr::Expr(_) => {
                ctx.ensure_all(store)?;
                match definition::render(&ctx.def.steps[i].with, &ctx.expression_context()) {
                    Err(e) => (Err(e), Value::Null),
                    Ok(w) => {
                        let d = parse_with::<WaitWith>(&w)
                            .and_then(|p| p.duration.resolved("duration").map(|d| d.get()));
                        (d, w)
                    }
                }
            }
        };
        // An expression's value is bounded here as a literal is at validation.
        let duration = duration.and_then(|d| {
            if d > definition::MAX_WAIT {
                Err(format!(
                    "`duration` is {}; a wait lasts at most {}",
                    humantime::format_duration(d),
                    humantime::format_duration(definition::MAX_WAIT)
                ))
            } else {
                Ok(d)
            }
        });
        let duration = match duration {
            Ok(d) => d,
            Err(e) => {
                let inputs = (!inputs.is_null()).then_some(inputs);
                return self.fail_step(store, ctx, i, Failure::Permanent(e), inputs);
            }
        };
        let wake_at = after(self.now, duration);
        let id = self.arm(
            ctx,
            i,
            wake_at,
            inputs,
            json!({"until": model_time(wake_at)}),
        );
        self.enqueue(ctx, &id, KIND_STEP, wake_at, false);
        Ok(())
    }

    /// A wait starts: the run starts (if it had not), the step counts an attempt and waits
    /// until `until`. Returns the step's id.
    fn arm(
        &mut self,
        ctx: &mut RunCtx,
        i: usize,
        until: NaiveDateTime,
        inputs: Value,
        detail: Value,
    ) -> String {
        self.mark_started(ctx);
        let id = ctx.steps[i].step_id.clone();
        let row = &mut ctx.steps[i];
        row.attempts += 1;
        row.started_at = Some(self.now);
        row.wake_at = Some(until);
        row.inputs = Some(inputs.to_string());
        ctx.set_step_status(i, StepStatus::Waiting);
        self.record(
            ctx,
            "step.waiting",
            Some("pending"),
            Some("waiting"),
            Some(&id),
            detail,
        );
        id
    }

    pub(super) fn arm_event(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
    ) -> Result<(), MachineError> {
        let (event, timeout) = match &ctx.def.steps[i].wait {
            Some(Wait::Event { event, timeout }) => (event.clone(), *timeout),
            _ => (String::new(), definition::DEFAULT_EVENT_TIMEOUT),
        };
        let deadline = after(self.now, timeout);
        let inputs =
            json!({"event": event, "timeout": humantime::format_duration(timeout).to_string()});
        let id = self.arm(
            ctx,
            i,
            deadline,
            inputs,
            json!({"event": event, "until": model_time(deadline)}),
        );
        // An event that arrived before the step got here is delivered now.
        if let Some(buffered) = store.oldest_unconsumed_event(&ctx.run.id, &event)? {
            return self.receive_event(store, ctx, i, &buffered);
        }
        self.enqueue(ctx, &id, KIND_STEP, deadline, false);
        Ok(())
    }

    pub(super) fn receive_event(
        &mut self,
        store: &mut dyn RunStore,
        ctx: &mut RunCtx,
        i: usize,
        event: &EventRow,
    ) -> Result<(), MachineError> {
        let id = ctx.steps[i].step_id.clone();
        self.consumed.push((event.id.clone(), id));
        let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
        let outputs = json!({
            "event": event.name,
            "payload": payload,
            "received_at": model_time(event.received_at),
            "source": event.source,
        });
        self.succeed_step(store, ctx, i, outputs, None)
    }
}

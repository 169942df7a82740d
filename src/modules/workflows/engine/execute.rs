//! Running one step: the execution task (under the step's timeout, cancellable with its run),
//! expressions in `with` resolved first, the outcome sent to the completers.

use std::sync::atomic::Ordering;
use std::time::Instant;

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Engine, step_span};
use crate::modules::workflows::definition;
use crate::modules::workflows::machine::{self, Done, ExecTask, Failure};
use crate::platform::steps::{StepContext, StepFailure};

impl Engine {
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
    pub(super) fn finish_untracked(&self, task: &ExecTask) {
        self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.track(&task.token, -1);
        self.release_run(&task.run_id);
    }

    pub(super) fn release_run(&self, run_id: &str) {
        if let Ok(mut map) = self.inner.local_runs.lock()
            && let Some(entry) = map.get_mut(run_id)
        {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                map.remove(run_id);
            }
        }
    }
}

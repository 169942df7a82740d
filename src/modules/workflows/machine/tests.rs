//! The machine's decisions without a database: each case runs a definition through a sequence
//! of transactions (step results, due queue rows, API operations) against an in-memory queue
//! and event store, and checks where the run and its steps end up, the audit trail and the retry
//! delays. The clock only moves when a queue row becomes due, and jitter is fixed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::*;
use crate::modules::workflows::definition::{self, Definition, Format, StepCatalog};
use crate::modules::workflows::model::StepStatus;
use crate::modules::workflows::store::{KIND_RUN_TIMEOUT, KIND_STEP};

struct AnyStep;
impl StepCatalog for AnyStep {
    fn check(&self, _uses: &str, _with: &Value) -> Option<Result<(), String>> {
        Some(Ok(()))
    }
}

fn compile(doc: &Value) -> Arc<Definition> {
    let settings = crate::config::Settings::load(&crate::config::LoadOptions {
        config_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
        environment: Some(crate::config::Environment::Test),
        read_process_env: false,
    })
    .unwrap()
    .workflows;
    let doc = definition::parse(doc.to_string().as_bytes(), Format::Json).unwrap();
    Arc::new(definition::validate(doc, &AnyStep, &settings).unwrap())
}

/// A queue row in the in-memory queue.
#[derive(Debug, Clone)]
struct Queued {
    ready_at: NaiveDateTime,
    held: bool,
}

/// What the transitions read: the queue's keys and the events not consumed yet.
struct Mem {
    queue: Vec<(String, String)>,
    events: Vec<EventRow>,
}

impl RunStore for Mem {
    fn step_rows(
        &mut self,
        _run: &str,
        _steps: &[String],
    ) -> Result<Vec<StepRunRow>, MachineError> {
        // Every row is loaded when the run is built.
        Ok(Vec::new())
    }

    fn oldest_unconsumed_event(
        &mut self,
        _run: &str,
        name: &str,
    ) -> Result<Option<EventRow>, MachineError> {
        Ok(self.events.iter().find(|e| e.name == name).cloned())
    }

    fn queue_keys(&mut self, _run: &str) -> Result<Vec<(String, String)>, MachineError> {
        Ok(self.queue.clone())
    }
}

/// One input to the machine, each applied in its own transaction.
#[derive(Debug, Clone, Copy)]
enum Ev {
    /// The run is created.
    Start,
    /// The step's running attempt succeeds.
    Ok(&'static str),
    /// The step's running attempt fails with a retryable error (`transient`).
    Fail(&'static str),
    /// The step's running attempt fails for good (`bad input`).
    Permanent(&'static str),
    /// The step's running attempt runs out of time.
    TimedOut(&'static str),
    /// The step's queue row becomes due (the clock moves there) and is claimed.
    Due(&'static str),
    /// The run's deadline comes.
    RunTimeout,
    /// The process running the step's attempt stops: its lease expires and the row is claimed
    /// again.
    Lost(&'static str),
    /// An event with this name is sent to the run.
    Event(&'static str),
    Cancel,
    Pause,
    Resume,
    Redrive,
}

struct World {
    ctx: RunCtx,
    now: NaiveDateTime,
    queue: BTreeMap<(String, String), Queued>,
    events: Vec<EventRow>,
    tasks: BTreeMap<String, ExecTask>,
    audit: Vec<String>,
    delays: Vec<u64>,
    applied: Vec<bool>,
    finished: Vec<RunStatus>,
}

impl World {
    fn new(def: Arc<Definition>) -> World {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let run = RunRow {
            deadline_at: def.run_timeout.map(|d| now + from_std(d)),
            ..RunRow::sample("run-1", "wf", now)
        };
        let steps = def
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepRunRow::pending(&run, i, &s.id, &s.uses))
            .collect();
        World {
            ctx: RunCtx::new(run, def, steps).unwrap(),
            now,
            queue: BTreeMap::new(),
            events: Vec::new(),
            tasks: BTreeMap::new(),
            audit: Vec::new(),
            delays: Vec::new(),
            applied: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// One transaction: a fresh machine at the world's clock, then its write set applied to the
    /// in-memory queue and event store.
    fn tx(
        &mut self,
        f: impl FnOnce(&mut Machine, &mut Mem, &mut RunCtx) -> Result<(), MachineError>,
    ) {
        let mut m = Machine::new("test", "engine-1", Duration::from_secs(30), 100);
        m.now = self.now;
        m.sample = || 0.5;
        let mut mem = Mem {
            queue: self.queue.keys().cloned().collect(),
            events: self.events.clone(),
        };
        f(&mut m, &mut mem, &mut self.ctx).unwrap();
        let set = m.write_set(&mut [&mut self.ctx]);
        if !set.cleared.is_empty() {
            self.queue.clear();
        }
        for (_, step, kind) in set.deletes {
            self.queue.remove(&(step, kind));
        }
        for (_, held) in set.held {
            for row in self.queue.values_mut() {
                row.held = held;
            }
        }
        for row in set.inserts {
            self.queue.insert(
                (row.step_id, row.kind),
                Queued {
                    ready_at: row.ready_at,
                    held: row.held,
                },
            );
        }
        for entry in &set.audit {
            if entry.event == "step.retry_scheduled" {
                let detail: Value = serde_json::from_str(&entry.detail).unwrap();
                self.delays.push(detail["delay_ms"].as_u64().unwrap());
            }
            self.audit.push(entry.event.clone());
        }
        for (event, _) in set.consumed {
            self.events.retain(|e| e.id != event);
        }
        for task in std::mem::take(&mut m.tasks) {
            self.tasks.insert(task.step_id.clone(), task);
        }
        self.finished.extend(m.finished.iter().map(|f| f.status));
    }

    /// The step's attempt ends: its leased queue row goes (the completion's fence), then the
    /// result is applied.
    fn result(&mut self, step: &str, result: Result<Value, Failure>) {
        let task = self
            .tasks
            .remove(step)
            .unwrap_or_else(|| panic!("step {step} has no running attempt"));
        self.queue
            .remove(&(step.to_string(), KIND_STEP.to_string()));
        let done = Done {
            task,
            started_at: self.now,
            finished_at: self.now,
            inputs: None,
            result,
        };
        self.tx(|m, mem, ctx| m.complete(mem, ctx, &done).map(|_| ()));
    }

    fn claim(&mut self, step: &str, kind: &str, after: chrono::Duration) {
        let key = (step.to_string(), kind.to_string());
        let row = self
            .queue
            .get(&key)
            .unwrap_or_else(|| panic!("no queue row {key:?} in {:?}", self.queue))
            .clone();
        assert!(!row.held, "{key:?} is held");
        self.now = self.now.max(row.ready_at) + after;
        let (step, kind) = key;
        self.tx(|m, mem, ctx| m.claimed(mem, ctx, &step, &kind, row.ready_at).map(|_| ()));
    }

    fn apply(&mut self, ev: Ev) {
        match ev {
            Ev::Start => self.tx(|m, mem, ctx| m.begin(mem, ctx)),
            Ev::Ok(step) => self.result(step, Ok(json!({"done": true}))),
            Ev::Fail(step) => self.result(step, Err(Failure::Retryable("transient".into()))),
            Ev::Permanent(step) => self.result(step, Err(Failure::Permanent("bad input".into()))),
            Ev::TimedOut(step) => self.result(step, Err(Failure::TimedOut("too slow".into()))),
            Ev::Due(step) => self.claim(step, KIND_STEP, chrono::Duration::zero()),
            Ev::RunTimeout => self.claim("", KIND_RUN_TIMEOUT, chrono::Duration::zero()),
            Ev::Lost(step) => {
                self.tasks.remove(step);
                self.claim(step, KIND_STEP, chrono::Duration::seconds(31));
            }
            Ev::Event(name) => {
                let event = EventRow {
                    id: format!("ev-{}", self.audit.len()),
                    tenant_id: "t".into(),
                    run_id: "run-1".into(),
                    name: name.into(),
                    payload: "{\"ok\":1}".into(),
                    source: "api".into(),
                    received_at: self.now,
                    consumed_by: None,
                };
                self.events.push(event.clone());
                self.tx(|m, mem, ctx| m.deliver(mem, ctx, &event).map(|_| ()));
            }
            Ev::Cancel | Ev::Pause | Ev::Resume | Ev::Redrive => {
                let mut applied = false;
                self.tx(|m, mem, ctx| {
                    applied = match ev {
                        Ev::Cancel => m.cancel(mem, ctx)?,
                        Ev::Pause => m.pause(ctx, "user"),
                        Ev::Resume => m.resume(mem, ctx)?,
                        _ => m.redrive(mem, ctx)?,
                    };
                    Ok(())
                });
                self.applied.push(applied);
            }
        }
    }

    fn step(&self, id: &str) -> &StepRunRow {
        &self.ctx.steps[self.ctx.index(id).unwrap()]
    }
}

struct Case {
    name: &'static str,
    def: Value,
    events: Vec<Ev>,
    run: RunStatus,
    /// (step, status, attempts)
    steps: Vec<(&'static str, StepStatus, i64)>,
    /// Must appear in this order in the audit trail (other entries may come between).
    audit: Vec<&'static str>,
    /// Retry delays in ms, in order.
    delays: Vec<u64>,
    /// Results of the API operations, in order.
    applied: Vec<bool>,
}

fn retry(max: u32) -> Value {
    json!({"max_attempts": max, "initial_interval": "100ms", "multiplier": 2.0, "max_interval": "1s", "jitter": 0.0})
}

fn cases() -> Vec<Case> {
    use Ev::*;
    use RunStatus as R;
    use StepStatus as S;
    vec![
        Case {
            name: "retry: a retryable failure is retried after a backoff, then succeeds",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": retry(3)}]}),
            events: vec![Start, Fail("a"), Due("a"), Fail("a"), Due("a"), Ok("a")],
            run: R::Succeeded,
            steps: vec![("a", S::Succeeded, 3)],
            audit: vec![
                "run.created",
                "run.started",
                "step.retry_scheduled",
                "step.retry_scheduled",
                "step.succeeded",
                "run.succeeded",
            ],
            delays: vec![100, 200],
            applied: vec![],
        },
        Case {
            name: "backoff: delays grow by the multiplier up to max_interval; exhaustion dead-letters",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": {
                "max_attempts": 5, "initial_interval": "100ms", "multiplier": 3.0,
                "max_interval": "500ms", "jitter": 0.5}}]}),
            events: vec![
                Start,
                Fail("a"),
                Due("a"),
                Fail("a"),
                Due("a"),
                Fail("a"),
                Due("a"),
                Fail("a"),
                Due("a"),
                Fail("a"),
            ],
            run: R::DeadLettered,
            steps: vec![("a", S::Failed, 5)],
            audit: vec!["step.retry_scheduled", "step.failed", "run.dead_lettered"],
            // Jitter ±50 % with the sample fixed at the middle: the base delays.
            delays: vec![100, 300, 500, 500],
            applied: vec![],
        },
        Case {
            name: "exhaustion with on_failure fail: the run fails and later steps are cancelled",
            def: json!({"name": "w", "steps": [
                {"id": "a", "uses": "noop", "retry": retry(2), "on_failure": "fail"},
                {"id": "b", "uses": "noop", "needs": "a"}]}),
            events: vec![Start, Fail("a"), Due("a"), Fail("a")],
            run: R::Failed,
            steps: vec![("a", S::Failed, 2), ("b", S::Cancelled, 0)],
            audit: vec!["step.retry_scheduled", "step.failed", "run.failed"],
            delays: vec![100],
            applied: vec![],
        },
        Case {
            name: "a permanent error is not retried",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": retry(5)}]}),
            events: vec![Start, Permanent("a")],
            run: R::DeadLettered,
            steps: vec![("a", S::Failed, 1)],
            audit: vec!["step.failed", "run.dead_lettered"],
            delays: vec![],
            applied: vec![],
        },
        Case {
            name: "an error matching non_retryable is not retried",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "on_failure": "fail",
                "retry": {"max_attempts": 5, "non_retryable": ["transient"]}}]}),
            events: vec![Start, Fail("a")],
            run: R::Failed,
            steps: vec![("a", S::Failed, 1)],
            audit: vec!["step.failed", "run.failed"],
            delays: vec![],
            applied: vec![],
        },
        Case {
            name: "timeout: an attempt that runs out of time is retried",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "timeout": "1s", "retry": retry(2)}]}),
            events: vec![Start, TimedOut("a"), Due("a"), Ok("a")],
            run: R::Succeeded,
            steps: vec![("a", S::Succeeded, 2)],
            audit: vec!["step.retry_scheduled", "step.succeeded", "run.succeeded"],
            delays: vec![100],
            applied: vec![],
        },
        Case {
            name: "timeout: the run's deadline fails it and cancels what is still waiting",
            def: json!({"name": "w", "timeout": "1m", "steps": [
                {"id": "a", "uses": "wait", "with": {"duration": "1h"}},
                {"id": "b", "uses": "noop", "needs": "a"}]}),
            events: vec![Start, RunTimeout],
            run: R::Failed,
            steps: vec![("a", S::Cancelled, 1), ("b", S::Cancelled, 0)],
            audit: vec!["run.started", "step.waiting", "run.timed_out"],
            delays: vec![],
            applied: vec![],
        },
        Case {
            name: "timeout: a wait_for_event whose event never comes fails without a retry",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "wait_for_event", "retry": retry(3),
                "on_failure": "fail", "with": {"event": "go", "timeout": "1m"}}]}),
            events: vec![Start, Due("a")],
            run: R::Failed,
            steps: vec![("a", S::Failed, 1)],
            audit: vec!["step.waiting", "step.failed", "run.failed"],
            delays: vec![],
            applied: vec![],
        },
        Case {
            name: "cancel: every unfinished step is cancelled, a late result is discarded, a second cancel is refused",
            def: json!({"name": "w", "steps": [
                {"id": "a", "uses": "noop"}, {"id": "b", "uses": "noop", "needs": "a"}]}),
            events: vec![Start, Cancel, Ok("a"), Cancel],
            run: R::Cancelled,
            steps: vec![("a", S::Cancelled, 1), ("b", S::Cancelled, 0)],
            audit: vec!["run.started", "run.cancelled"],
            delays: vec![],
            applied: vec![true, false],
        },
        Case {
            name: "pause: the running step finishes, the next one waits held until resume",
            def: json!({"name": "w", "steps": [
                {"id": "a", "uses": "noop"}, {"id": "b", "uses": "noop", "needs": "a"}]}),
            events: vec![Start, Pause, Ok("a"), Pause, Resume, Due("b"), Ok("b")],
            run: R::Succeeded,
            steps: vec![("a", S::Succeeded, 1), ("b", S::Succeeded, 1)],
            audit: vec![
                "run.paused",
                "step.succeeded",
                "run.resumed",
                "run.succeeded",
            ],
            delays: vec![],
            applied: vec![true, false, true],
        },
        Case {
            name: "pause on exhaustion: resuming retries the step with a fresh budget",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": retry(1), "on_failure": "pause"}]}),
            events: vec![Start, Fail("a"), Resume, Ok("a")],
            run: R::Succeeded,
            steps: vec![("a", S::Succeeded, 2)],
            audit: vec![
                "step.failed",
                "run.paused",
                "run.resumed",
                "step.restarted",
                "run.succeeded",
            ],
            delays: vec![],
            applied: vec![true],
        },
        Case {
            name: "redrive: a dead-lettered run continues from its failed step",
            def: json!({"name": "w", "steps": [
                {"id": "a", "uses": "noop", "retry": retry(1)},
                {"id": "b", "uses": "noop", "needs": "a"}]}),
            events: vec![Start, Redrive, Fail("a"), Redrive, Ok("a"), Ok("b")],
            run: R::Succeeded,
            steps: vec![("a", S::Succeeded, 2), ("b", S::Succeeded, 1)],
            audit: vec![
                "run.dead_lettered",
                "run.redriven",
                "step.restarted",
                "run.succeeded",
            ],
            delays: vec![],
            applied: vec![false, true],
        },
        Case {
            name: "on_failure continue: the run goes on past the failed step",
            def: json!({"name": "w", "steps": [
                {"id": "a", "uses": "noop", "retry": retry(1), "on_failure": "continue"},
                {"id": "b", "uses": "noop", "needs": "a"}]}),
            events: vec![Start, Fail("a"), Ok("b")],
            run: R::Succeeded,
            steps: vec![("a", S::Failed, 1), ("b", S::Succeeded, 1)],
            audit: vec!["step.failed", "step.succeeded", "run.succeeded"],
            delays: vec![],
            applied: vec![],
        },
        Case {
            name: "takeover: a lost attempt runs again while the budget lasts",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": retry(2)}]}),
            events: vec![Start, Lost("a"), Ok("a")],
            run: R::Succeeded,
            steps: vec![("a", S::Succeeded, 2)],
            audit: vec!["step.attempt_lost", "step.succeeded"],
            delays: vec![],
            applied: vec![],
        },
        Case {
            name: "takeover: a lost last attempt fails the step",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": retry(1)}]}),
            events: vec![Start, Lost("a")],
            run: R::DeadLettered,
            steps: vec![("a", S::Failed, 1)],
            audit: vec!["step.attempt_lost", "step.failed", "run.dead_lettered"],
            delays: vec![],
            applied: vec![],
        },
        Case {
            name: "a wait as the first step starts the run; it succeeds when due",
            def: json!({"name": "w", "steps": [
                {"id": "a", "uses": "wait", "with": {"duration": "10s"}},
                {"id": "b", "uses": "noop", "needs": "a"}]}),
            events: vec![Start, Due("a"), Ok("b")],
            run: R::Succeeded,
            steps: vec![("a", S::Succeeded, 1), ("b", S::Succeeded, 1)],
            audit: vec![
                "run.created",
                "run.started",
                "step.waiting",
                "step.succeeded",
                "run.succeeded",
            ],
            delays: vec![],
            applied: vec![],
        },
        Case {
            name: "a wait_for_event as the first step starts the run; the event completes it",
            def: json!({"name": "w", "steps": [{"id": "a", "uses": "wait_for_event", "with": {"event": "go"}}]}),
            events: vec![Start, Event("other"), Event("go")],
            run: R::Succeeded,
            steps: vec![("a", S::Succeeded, 1)],
            audit: vec![
                "run.started",
                "step.waiting",
                "run.event_buffered",
                "step.succeeded",
            ],
            delays: vec![],
            applied: vec![],
        },
    ]
}

#[test]
fn transitions() {
    for case in cases() {
        let mut world = World::new(compile(&case.def));
        for ev in &case.events {
            world.apply(*ev);
        }
        let name = case.name;
        assert_eq!(
            world.ctx.status(),
            case.run,
            "{name}: run status; audit {:?}",
            world.audit
        );
        for (id, status, attempts) in &case.steps {
            let row = world.step(id);
            assert_eq!(
                row.step_status(),
                *status,
                "{name}: step {id}; audit {:?}",
                world.audit
            );
            assert_eq!(row.attempts, *attempts, "{name}: attempts of {id}");
        }
        let mut rest = world.audit.iter();
        for wanted in &case.audit {
            assert!(
                rest.any(|e| e == wanted),
                "{name}: `{wanted}` missing (in order) from {:?}",
                world.audit
            );
        }
        assert_eq!(world.delays, case.delays, "{name}: retry delays");
        assert_eq!(world.applied, case.applied, "{name}: operations applied");
        if case.run.is_final() || case.run == RunStatus::DeadLettered {
            assert_eq!(
                world.finished.last(),
                Some(&case.run),
                "{name}: finished runs"
            );
            assert!(
                world.queue.is_empty(),
                "{name}: queue left {:?}",
                world.queue
            );
        }
    }
}

#[test]
fn a_paused_run_holds_the_steps_it_unblocks_and_resume_releases_them() {
    let def = json!({"name": "w", "steps": [
        {"id": "a", "uses": "noop"}, {"id": "b", "uses": "noop", "needs": "a"}]});
    let mut world = World::new(compile(&def));
    world.apply(Ev::Start);
    world.apply(Ev::Pause);
    world.apply(Ev::Ok("a"));
    let b = ("b".to_string(), KIND_STEP.to_string());
    assert!(world.queue[&b].held, "{:?}", world.queue);
    assert!(world.tasks.is_empty(), "nothing starts while paused");
    world.apply(Ev::Resume);
    assert!(!world.queue[&b].held, "{:?}", world.queue);
}

#[test]
fn a_result_for_an_older_attempt_is_discarded() {
    let def = json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "retry": retry(3)}]});
    let mut world = World::new(compile(&def));
    world.apply(Ev::Start);
    let stale = world.tasks["a"].clone();
    world.apply(Ev::Fail("a"));
    world.apply(Ev::Due("a"));
    let done = Done {
        task: stale,
        started_at: world.now,
        finished_at: world.now,
        inputs: None,
        result: Ok(json!({})),
    };
    let mut applied = true;
    world.tx(|m, mem, ctx| {
        applied = m.complete(mem, ctx, &done)?;
        Ok(())
    });
    assert!(!applied);
    assert_eq!(world.step("a").step_status(), StepStatus::Running);
    assert_eq!(world.step("a").attempts, 2);
}

//! Runs: start one (pinned to a version, idempotent with a key), read and list them, pause,
//! resume and cancel them, and send them events. Every change goes through the engine's one
//! transaction recipe ([`crate::modules::workflows::engine::Engine::transact`]).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{MAX_IDEMPOTENCY_KEY, MAX_PAYLOAD_BYTES, WfError, WorkflowsService};
use crate::modules::workflows::audit;
use crate::modules::workflows::definition;
use crate::modules::workflows::engine::EngineError;
use crate::modules::workflows::error::WorkflowsError;
use crate::modules::workflows::machine::{self, RunCtx};
use crate::modules::workflows::model::{
    EventDelivery, ExecuteRequest, RunStatus, RunSummary, RunView, RunsQuery,
};
use crate::modules::workflows::store::{self, EventRow, RunFilter, RunRow, StepRunRow};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::ApiError;
use crate::platform::http::pagination::{Page, PageQuery};

impl WorkflowsService {
    /// Starts a run of the workflow (pinned to the latest version, or the one asked for). With an
    /// idempotency key, the same key always returns the same run. Returns (run, created).
    pub async fn execute(
        &self,
        principal: &Principal,
        workflow_id: String,
        request: ExecuteRequest,
        idempotency_key: Option<String>,
    ) -> Result<(RunView, bool), ApiError> {
        if let Some(key) = &idempotency_key
            && (key.is_empty()
                || key.len() > MAX_IDEMPOTENCY_KEY
                || key.chars().any(char::is_control))
        {
            return Err(WorkflowsError::InvalidIdempotencyKey {
                max: MAX_IDEMPOTENCY_KEY,
            }
            .into());
        }
        let inputs_size = serde_json::to_vec(&request.inputs).map_or(0, |v| v.len());
        if inputs_size > MAX_PAYLOAD_BYTES {
            return Err(WorkflowsError::InputsTooLarge {
                size: inputs_size,
                max: MAX_PAYLOAD_BYTES,
            }
            .into());
        }
        let request_hash = hex::encode(Sha256::digest(
            json!({"inputs": request.inputs, "version": request.version})
                .to_string()
                .as_bytes(),
        ));
        let tenant = principal.tenant_id.clone();
        let actor_json = serde_json::to_string(principal).map_err(ApiError::internal)?;
        let actor = principal.display_name();
        let engine = self.engine.clone();
        let budget = engine.capacity();
        let run_span = tracing::info_span!("workflow.run", otel.name = "workflow run", workflow_id = %workflow_id, run_id = tracing::field::Empty);
        let run_id = uuid::Uuid::new_v4().to_string();
        run_span.record("run_id", run_id.as_str());
        let trace_parent = trace_parent_of(&run_span);
        let new_run_id = run_id.clone();
        let key = idempotency_key.clone();
        let hash = request_hash.clone();
        let t = tenant.clone();
        let wf = workflow_id.clone();
        let outcome = self
            .engine
            .transact(actor, budget, move |tx| -> Result<ExecOutcome, WfError> {
                let conn = tx.conn();
                let def_row = store::definition(conn, &t, &wf)?.ok_or(WorkflowsError::NotFound)?;
                if let Some(key) = &key
                    && let Some(existing) = store::run_by_idempotency_key(conn, &t, &wf, key)?
                {
                    return Ok(ExecOutcome::Existing(Box::new(existing)));
                }
                let version = request.version.unwrap_or(def_row.latest_version);
                let def = match engine.definition(conn, &t, &wf, version) {
                    Ok(d) => d,
                    Err(EngineError::NoVersion { .. }) => {
                        return Err(WorkflowsError::UnknownRunVersion {
                            name: def_row.name.clone(),
                            version,
                            latest: def_row.latest_version,
                        }
                        .into());
                    }
                    Err(e) => return Err(e.into()),
                };
                let inputs = def.resolve_inputs(&request.inputs).map_err(|errors| {
                    ApiError::validation(
                        "The run inputs do not match the workflow's input schema.",
                        errors,
                    )
                })?;
                let now = machine::now();
                let status = if def_row.paused {
                    RunStatus::Paused
                } else {
                    RunStatus::Pending
                };
                let run = RunRow {
                    id: run_id.clone(),
                    tenant_id: t.0.clone(),
                    workflow_id: wf.clone(),
                    version,
                    status: status.as_str().into(),
                    pause_reason: def_row.paused.then(|| "workflow".to_string()),
                    inputs: Value::Object(inputs).to_string(),
                    outputs: None,
                    error: None,
                    failed_step: None,
                    actor: actor_json.clone(),
                    idempotency_key: key.clone(),
                    request_hash: hash.clone(),
                    trace_parent: trace_parent.clone(),
                    created_at: now,
                    started_at: None,
                    finished_at: None,
                    deadline_at: def.run_timeout.map(|d| machine::after(now, d)),
                    updated_at: now,
                    audit_seq: 0,
                    audit_hash: audit::GENESIS.into(),
                };
                let steps: Vec<StepRunRow> = def
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| StepRunRow::pending(&run, i, &s.id, &s.uses))
                    .collect();
                store::insert_run(conn, &run)?;
                store::insert_step_runs(conn, &steps)?;
                let ctx = RunCtx::new(run, def, steps).ok_or_else(|| {
                    EngineError::Unloadable("the new run does not match its definition".into())
                })?;
                tx.adopt(ctx);
                let (conn, m, runs) = tx.parts();
                if let Some(ctx) = runs.get_mut(&run_id) {
                    m.begin(conn, ctx).map_err(EngineError::from)?;
                }
                Ok(ExecOutcome::Created)
            })
            .await;
        match outcome {
            Ok(ExecOutcome::Existing(run)) => {
                if run.request_hash != request_hash {
                    return Err(WorkflowsError::IdempotencyKeyReused.into());
                }
                Ok((self.run_view(tenant, run.id).await?, false))
            }
            Ok(ExecOutcome::Created) => {
                metrics::counter!("maestro_workflow_runs_started_total").increment(1);
                Ok((self.run_view(tenant, new_run_id).await?, true))
            }
            // Two requests with one key raced: the other one created the run.
            Err(WfError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) if idempotency_key.is_some() => {
                let (t, wf, key) = (
                    tenant.clone(),
                    workflow_id.clone(),
                    idempotency_key.unwrap_or_default(),
                );
                let existing = self
                    .db
                    .run(move |conn| {
                        store::run_by_idempotency_key(conn, &t, &wf, &key).map_err(WfError::from)
                    })
                    .await?
                    .ok_or(WorkflowsError::RunNotFound)?;
                if existing.request_hash != request_hash {
                    return Err(WorkflowsError::IdempotencyKeyReused.into());
                }
                Ok((self.run_view(tenant, existing.id).await?, false))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn run_view(&self, tenant: TenantId, run_id: String) -> Result<RunView, ApiError> {
        self.db
            .run(move |conn| -> Result<_, WfError> {
                let run = store::run(conn, &tenant, &run_id)?.ok_or(WorkflowsError::RunNotFound)?;
                let steps = store::step_runs(conn, &tenant, &run_id)?;
                let name =
                    store::workflow_names(conn, &tenant, std::slice::from_ref(&run.workflow_id))?
                        .pop()
                        .map(|(_, n)| n)
                        .unwrap_or_default();
                Ok(RunView::new(&run, name, steps))
            })
            .await
            .map_err(ApiError::from)
    }

    pub async fn list_runs(
        &self,
        tenant: &TenantId,
        query: RunsQuery,
        page: &PageQuery,
    ) -> Result<Page<RunSummary>, ApiError> {
        let retrying = query.status.as_deref() == Some("retrying");
        let status = match query.status.as_deref() {
            None | Some("") => None,
            // A retrying run is running; its step is what waits.
            Some("retrying") => Some(RunStatus::Running),
            Some(raw) => Some(
                RunStatus::parse(raw).ok_or_else(|| WorkflowsError::InvalidStatus(raw.into()))?,
            ),
        };
        let filter = RunFilter {
            workflow_id: query.workflow_id.clone().filter(|s| !s.is_empty()),
            status,
            retrying,
            since: query.since.map(|t| t.naive_utc()),
            until: query.until.map(|t| t.naive_utc()),
        };
        let (tenant, q) = (tenant.clone(), page.clone());
        let (rows, total, retrying) = self
            .db
            .run(move |conn| {
                let (rows, total) = store::list_runs(conn, &tenant, &filter, &q)?;
                let running: Vec<String> = rows
                    .iter()
                    .filter(|r| r.run_status() == RunStatus::Running)
                    .map(|r| r.id.clone())
                    .collect();
                let retrying = if running.is_empty() {
                    Vec::new()
                } else {
                    store::retrying_runs(conn, &tenant, &running)?
                };
                Ok::<_, WfError>((rows, total, retrying))
            })
            .await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let mut summary = RunSummary::from(row);
                summary.retrying = retrying.contains(&summary.id);
                summary
            })
            .collect();
        Ok(Page::new(items, total, page))
    }

    /// Applies a run operation under the run's lock.
    pub(super) async fn run_op(
        &self,
        principal: &Principal,
        run_id: String,
        op: RunOp,
    ) -> Result<RunView, ApiError> {
        let tenant = principal.tenant_id.clone();
        let budget = match op {
            RunOp::Resume | RunOp::ResumeForWorkflow | RunOp::Redrive => self.engine.capacity(),
            RunOp::Cancel | RunOp::Pause | RunOp::PauseForWorkflow => 0,
        };
        let (t, id) = (tenant.clone(), run_id.clone());
        self.engine
            .transact(
                principal.display_name(),
                budget,
                move |tx| -> Result<(), WfError> {
                    if !tx.lock_run(&t, &id)? {
                        return Err(WorkflowsError::RunNotFound.into());
                    }
                    let (conn, m, runs) = tx.parts();
                    let ctx = runs.get_mut(&id).ok_or(WorkflowsError::RunNotFound)?;
                    let status = ctx.status().as_str();
                    let applied = match op {
                        RunOp::Cancel => m.cancel(conn, ctx).map_err(EngineError::from)?,
                        RunOp::Pause => m.pause(ctx, "user"),
                        RunOp::PauseForWorkflow => m.pause(ctx, "workflow"),
                        RunOp::Resume | RunOp::ResumeForWorkflow => {
                            m.resume(conn, ctx).map_err(EngineError::from)?
                        }
                        RunOp::Redrive => m.redrive(conn, ctx).map_err(EngineError::from)?,
                    };
                    if applied {
                        return Ok(());
                    }
                    Err(match op {
                        RunOp::Cancel => WorkflowsError::RunFinished(
                            "The run cannot be cancelled: it has already finished.".into(),
                        ),
                        RunOp::Pause | RunOp::PauseForWorkflow => {
                            WorkflowsError::RunNotActive { status }
                        }
                        RunOp::Resume | RunOp::ResumeForWorkflow => {
                            WorkflowsError::RunNotPaused { status }
                        }
                        RunOp::Redrive => WorkflowsError::RunNotDeadLettered { status },
                    }
                    .into())
                },
            )
            .await?;
        if matches!(op, RunOp::Cancel) {
            self.engine.cancel_local(&run_id);
        }
        self.run_view(tenant, run_id).await
    }

    pub async fn cancel(&self, principal: &Principal, run_id: String) -> Result<RunView, ApiError> {
        self.run_op(principal, run_id, RunOp::Cancel).await
    }

    pub async fn pause(&self, principal: &Principal, run_id: String) -> Result<RunView, ApiError> {
        self.run_op(principal, run_id, RunOp::Pause).await
    }

    pub async fn resume(&self, principal: &Principal, run_id: String) -> Result<RunView, ApiError> {
        self.run_op(principal, run_id, RunOp::Resume).await
    }

    /// Sends an event to a run: a step waiting for it (`wait_for_event`) completes; otherwise the
    /// event is kept until a step waits for it.
    pub async fn send_event(
        &self,
        tenant: &TenantId,
        actor: String,
        run_id: String,
        name: String,
        payload: Value,
        source: &str,
    ) -> Result<EventDelivery, ApiError> {
        if !definition::valid_event_name(&name) {
            return Err(WorkflowsError::InvalidEventName.into());
        }
        let size = payload.to_string().len();
        if size > MAX_PAYLOAD_BYTES {
            return Err(WorkflowsError::PayloadTooLarge {
                size,
                max: MAX_PAYLOAD_BYTES,
            }
            .into());
        }
        let t = tenant.clone();
        let source = source.to_string();
        let budget = self.engine.capacity();
        let delivery = self
            .engine
            .transact(actor, budget, move |tx| -> Result<_, WfError> {
                if !tx.lock_run(&t, &run_id)? {
                    return Err(WorkflowsError::RunNotFound.into());
                }
                let (conn, m, runs) = tx.parts();
                let ctx = runs.get_mut(&run_id).ok_or(WorkflowsError::RunNotFound)?;
                if ctx.status().is_final() {
                    return Err(WorkflowsError::RunFinished(format!(
                        "The run is {}; it takes no more events.",
                        ctx.status().as_str()
                    ))
                    .into());
                }
                let event = EventRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: t.0.clone(),
                    run_id: run_id.clone(),
                    name: name.clone(),
                    payload: payload.to_string(),
                    source: source.clone(),
                    received_at: machine::now(),
                    consumed_by: None,
                };
                store::insert_event(conn, &event)?;
                let step = m.deliver(conn, ctx, &event).map_err(EngineError::from)?;
                Ok(EventDelivery {
                    event_id: event.id,
                    run_id: run_id.clone(),
                    event: name.clone(),
                    delivered: step.is_some(),
                    step_id: step,
                })
            })
            .await?;
        Ok(delivery)
    }
}

#[derive(Clone, Copy)]
pub(super) enum RunOp {
    Cancel,
    Pause,
    PauseForWorkflow,
    Resume,
    ResumeForWorkflow,
    Redrive,
}
/// The run's trace context: the OpenTelemetry span context when exporting, otherwise the
/// request's trace id with a fresh span id (so logs of all steps carry the same trace id).
fn trace_parent_of(span: &tracing::Span) -> Option<String> {
    if crate::platform::telemetry::otel_enabled() {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let context = span.context();
        let span_ref = context.span();
        let sc = span_ref.span_context();
        if sc.is_valid() {
            return Some(format!("00-{}-{}-01", sc.trace_id(), sc.span_id()));
        }
    }
    let trace = crate::platform::telemetry::current_trace_id()
        .unwrap_or_else(crate::platform::telemetry::random_trace_id);
    Some(format!(
        "00-{trace}-{}-01",
        crate::platform::telemetry::random_span_id()
    ))
}

enum ExecOutcome {
    Existing(Box<RunRow>),
    Created,
}

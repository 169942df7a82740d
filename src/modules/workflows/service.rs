//! `WorkflowsService`: the workflows API for handlers and other modules. It owns the rules and
//! the transactions; every run change goes through the state machine under the run's row lock.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::audit;
use super::definition::{self, DefinitionDoc, DefinitionError, Format, StepCatalog};
use super::dialect;
use super::engine::{AfterCommit, Engine, EngineError, notify_if};
use super::machine::{Machine, RunCtx};
use super::model::*;
use super::store::{self, RunFilter};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::db::{Db, DbConnection, DbError};
use crate::platform::http::error::{ApiError, FieldError};
use crate::platform::http::pagination::{Page, PageQuery};
use crate::platform::steps::StepRegistry;

/// Most bytes of run inputs or event payloads.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
pub const MAX_REDRIVE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum WfError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<WfError> for ApiError {
    fn from(e: WfError) -> ApiError {
        match e {
            WfError::Api(a) => a,
            WfError::Db(d) => d.into(),
            WfError::Query(q) => q.into(),
            WfError::Engine(EngineError::Db(d)) => d.into(),
            WfError::Engine(EngineError::Query(q)) => q.into(),
            WfError::Engine(EngineError::State(s)) => ApiError::internal(anyhow::anyhow!(s)),
        }
    }
}

fn not_found_workflow() -> ApiError {
    ApiError::not_found(
        "workflows.not_found",
        "No workflow with this id in your tenant.",
    )
}

fn not_found_run() -> ApiError {
    ApiError::not_found(
        "workflows.run_not_found",
        "No workflow run with this id in your tenant.",
    )
}

fn conflict(code: &str, detail: impl Into<String>) -> ApiError {
    ApiError::conflict(code.to_string(), detail)
}

struct Catalog<'a>(&'a StepRegistry);

impl StepCatalog for Catalog<'_> {
    fn check(&self, uses: &str, with: &Value) -> Option<Result<(), String>> {
        self.0.get(uses).map(|t| t.validate(with))
    }
}

#[derive(Clone)]
pub struct WorkflowsService {
    db: Db,
    engine: Engine,
    registry: StepRegistry,
}

/// Result of creating a definition: whether a new version was stored.
pub struct Created {
    pub detail: WorkflowDetail,
    pub created: bool,
}

impl WorkflowsService {
    pub fn new(db: Db, engine: Engine, registry: StepRegistry) -> Self {
        WorkflowsService {
            db,
            engine,
            registry,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    // -----------------------------------------------------------------------------------------
    // Definitions

    /// Validates a definition (JSON or YAML) and stores it as a new version of the workflow with
    /// its name (creating the workflow on first use). Posting a definition identical to the
    /// latest version returns that version instead of adding one.
    pub async fn create_definition(
        &self,
        principal: &Principal,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Created, ApiError> {
        let format = match content_type {
            None => Format::Json,
            Some(ct) => Format::from_content_type(ct).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "request.unsupported_media_type",
                    "Send the definition as `application/json` or `application/yaml`.",
                )
            })?,
        };
        let doc = definition::parse(body, format).map_err(|e| match e {
            DefinitionError::Syntax(msg) => {
                ApiError::bad_request("workflows.invalid_definition", msg)
            }
            DefinitionError::Invalid(errors) => {
                ApiError::validation("The workflow definition is invalid; see `errors`.", errors)
            }
        })?;
        let settings = self.engine.settings().clone();
        let def =
            definition::validate(doc, &Catalog(&self.registry), &settings).map_err(|errors| {
                let first = errors
                    .first()
                    .map(|e| e.message.clone())
                    .unwrap_or_default();
                let mut e = ApiError::validation(
                    format!("The workflow definition is invalid: {first}"),
                    errors,
                );
                e.code = "workflows.invalid_definition".into();
                e
            })?;
        let requested_version = def.doc.version;
        let mut stored = def.doc.clone();
        stored.version = None;
        let canonical = serde_json::to_string(&stored).map_err(ApiError::internal)?;
        let checksum = hex::encode(Sha256::digest(canonical.as_bytes()));
        let step_count = def.steps.len() as i64;
        let tenant = principal.tenant_id.clone();
        let actor = principal.display_name();
        let result = self
            .db
            .run(move |conn| {
                dialect::write_tx(conn, |conn| -> Result<(DefinitionRow, i64, bool), WfError> {
                    let now = super::machine::now();
                    let existing = store::definition_by_name(conn, &tenant, &stored.name)?;
                    let (row, version, created) = match existing {
                        None => {
                            if let Some(v) = requested_version
                                && v != 1
                            {
                                return Err(conflict("workflows.version_conflict", format!("`{}` does not exist yet, so its first version is 1, not {v}.", stored.name)).into());
                            }
                            let row = DefinitionRow {
                                id: uuid::Uuid::new_v4().to_string(),
                                tenant_id: tenant.0.clone(),
                                name: stored.name.clone(),
                                latest_version: 1,
                                paused: false,
                                created_by: actor.clone(),
                                created_at: now,
                                updated_at: now,
                            };
                            store::insert_definition(conn, &row)?;
                            (row, 1, true)
                        }
                        Some(mut row) => {
                            let latest = store::version(conn, &tenant, &row.id, row.latest_version)?;
                            let same = latest.as_ref().is_some_and(|l| l.checksum == checksum);
                            match requested_version {
                                Some(v) if v == row.latest_version && same => {
                                    (row.clone(), v, false)
                                }
                                Some(v) if v != row.latest_version + 1 => {
                                    return Err(conflict("workflows.version_conflict", format!(
                                        "`{}` is at version {}; send version {} (or leave `version` out) to add one.",
                                        row.name, row.latest_version, row.latest_version + 1
                                    )).into());
                                }
                                None if same => (row.clone(), row.latest_version, false),
                                _ => {
                                    let v = row.latest_version + 1;
                                    if store::set_latest_version(conn, &tenant, &row.id, v, now)? != 1 {
                                        return Err(conflict("workflows.version_conflict", "Another version was added at the same time; retry.").into());
                                    }
                                    row.latest_version = v;
                                    row.updated_at = now;
                                    (row, v, true)
                                }
                            }
                        }
                    };
                    if created {
                        store::insert_version(conn, &VersionRow {
                            workflow_id: row.id.clone(),
                            version,
                            tenant_id: tenant.0.clone(),
                            definition: canonical.clone(),
                            checksum: checksum.clone(),
                            step_count,
                            created_by: actor.clone(),
                            created_at: now,
                        })?;
                    }
                    Ok((row, version, created))
                })
            })
            .await;
        let (row, version, created) = match result {
            Err(WfError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) => {
                return Err(conflict(
                    "workflows.version_conflict",
                    "The workflow was created or changed at the same time; retry.",
                ));
            }
            other => other?,
        };
        let detail = self
            .definition_detail(principal.tenant_id.clone(), row.id.clone(), Some(version))
            .await?;
        Ok(Created { detail, created })
    }

    pub async fn list_definitions(
        &self,
        tenant: &TenantId,
        page: PageQuery,
    ) -> Result<Page<WorkflowSummary>, ApiError> {
        let tenant = tenant.clone();
        let q = page.clone();
        let (rows, total) = self
            .db
            .run(move |conn| store::list_definitions(conn, &tenant, &q).map_err(WfError::from))
            .await?;
        Ok(Page::new(
            rows.into_iter().map(Into::into).collect(),
            total,
            &page,
        ))
    }

    /// A workflow with one version's definition (the latest by default) and all versions.
    pub async fn definition_detail(
        &self,
        tenant: TenantId,
        id: String,
        version: Option<i64>,
    ) -> Result<WorkflowDetail, ApiError> {
        let found = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                let Some(row) = store::definition(conn, &tenant, &id)? else {
                    return Ok(None);
                };
                let versions = store::versions(conn, &tenant, &id)?;
                Ok(Some((row, versions)))
            })
            .await?;
        let (row, versions) = found.ok_or_else(not_found_workflow)?;
        let wanted = version.unwrap_or(row.latest_version);
        let chosen = versions
            .iter()
            .find(|v| v.version == wanted)
            .ok_or_else(|| {
                ApiError::not_found(
                    "workflows.version_not_found",
                    format!(
                        "Workflow `{}` has no version {wanted}; its latest is {}.",
                        row.name, row.latest_version
                    ),
                )
            })?;
        let definition: DefinitionDoc = serde_json::from_str(&chosen.definition).map_err(|e| {
            ApiError::internal(anyhow::anyhow!("stored definition unreadable: {e}"))
        })?;
        Ok(WorkflowDetail {
            version: wanted,
            definition,
            versions: versions.iter().map(VersionInfo::from).collect(),
            summary: row.into(),
        })
    }

    /// Pauses (or resumes) a whole workflow: its active runs pause, and new runs start paused.
    pub async fn set_workflow_paused(
        &self,
        principal: &Principal,
        id: String,
        paused: bool,
    ) -> Result<WorkflowSummary, ApiError> {
        let tenant = principal.tenant_id.clone();
        let t = tenant.clone();
        let i = id.clone();
        let found = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                let n = store::set_definition_paused(conn, &t, &i, paused, super::machine::now())?;
                Ok(n == 1)
            })
            .await?;
        if !found {
            return Err(not_found_workflow());
        }
        // Runs in chunks, each chunk one transaction (new runs already see the flag).
        loop {
            let (t, i) = (tenant.clone(), id.clone());
            let ids = self
                .db
                .run(move |conn| -> Result<_, WfError> {
                    Ok(if paused {
                        store::run_ids_in_status(conn, &t, &i, &["pending", "running"], None, 200)?
                    } else {
                        store::run_ids_in_status(conn, &t, &i, &["paused"], Some("workflow"), 200)?
                    })
                })
                .await?;
            if ids.is_empty() {
                break;
            }
            let n = ids.len();
            let mut changed = 0;
            for run_id in ids {
                let op = if paused {
                    RunOp::PauseForWorkflow
                } else {
                    RunOp::ResumeForWorkflow
                };
                if self.run_op(principal, run_id, op).await.is_ok() {
                    changed += 1;
                }
            }
            if changed == 0 || n < 200 {
                break;
            }
        }
        let t = tenant.clone();
        let row = self
            .db
            .run(move |conn| store::definition(conn, &t, &id).map_err(WfError::from))
            .await?
            .ok_or_else(not_found_workflow)?;
        Ok(row.into())
    }

    // -----------------------------------------------------------------------------------------
    // Runs

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
            return Err(ApiError::bad_request(
                "workflows.invalid_idempotency_key",
                format!("`Idempotency-Key` must be 1-{MAX_IDEMPOTENCY_KEY} printable characters."),
            ));
        }
        let inputs_size = serde_json::to_vec(&request.inputs).map_or(0, |v| v.len());
        if inputs_size > MAX_PAYLOAD_BYTES {
            return Err(ApiError::payload_too_large(
                "workflows.inputs_too_large",
                format!(
                    "The inputs are {inputs_size} bytes; at most {MAX_PAYLOAD_BYTES} are accepted."
                ),
            ));
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
            .db
            .run(move |conn| {
                dialect::write_tx(conn, |conn| -> Result<ExecOutcome, WfError> {
                    let def_row =
                        store::definition(conn, &t, &wf)?.ok_or_else(not_found_workflow)?;
                    if let Some(key) = &key
                        && let Some(existing) = store::run_by_idempotency_key(conn, &t, &wf, key)?
                    {
                        return Ok(ExecOutcome::Existing(Box::new(existing)));
                    }
                    let version = request.version.unwrap_or(def_row.latest_version);
                    let def = match engine.definition(conn, &t, &wf, version) {
                        Ok(d) => d,
                        Err(EngineError::State(_)) => {
                            return Err(ApiError::unprocessable(
                                "workflows.version_not_found",
                                format!(
                                    "Workflow `{}` has no version {version}; its latest is {}.",
                                    def_row.name, def_row.latest_version
                                ),
                            )
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
                    let now = super::machine::now();
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
                        deadline_at: def.run_timeout.map(|d| now + super::machine::from_std(d)),
                        updated_at: now,
                        audit_seq: 0,
                        audit_hash: audit::GENESIS.into(),
                    };
                    let steps: Vec<StepRunRow> = def
                        .steps
                        .iter()
                        .enumerate()
                        .map(|(i, s)| StepRunRow {
                            run_id: run_id.clone(),
                            step_id: s.id.clone(),
                            tenant_id: t.0.clone(),
                            position: i as i64,
                            uses: s.uses.clone(),
                            status: StepStatus::Pending.as_str().into(),
                            attempts: 0,
                            budget_start: 0,
                            inputs: None,
                            outputs: None,
                            error: None,
                            attempt_log: "[]".into(),
                            wake_at: None,
                            started_at: None,
                            finished_at: None,
                        })
                        .collect();
                    store::insert_run(conn, &run)?;
                    store::insert_step_runs(conn, &steps)?;
                    let mut ctx = RunCtx::new(run, def, steps).ok_or_else(|| {
                        EngineError::State("new run does not match its definition".into())
                    })?;
                    let mut m = Machine::new(
                        actor.clone(),
                        engine.owner(),
                        engine.lease(),
                        engine.capacity(),
                    );
                    m.begin(conn, &mut ctx).map_err(EngineError::State)?;
                    m.flush(conn, &mut [&mut ctx])?;
                    notify_if(conn, &engine, m.wake)?;
                    let finished = finished_list(&[&ctx], &m);
                    Ok(ExecOutcome::Created(AfterCommit::from_machine(m), finished))
                })
            })
            .await;
        let reused = || {
            ApiError::unprocessable(
                "workflows.idempotency_key_reused",
                "This Idempotency-Key was already used with different inputs; use a new key for a different run.",
            )
        };
        match outcome {
            Ok(ExecOutcome::Existing(run)) => {
                if run.request_hash != request_hash {
                    return Err(reused());
                }
                Ok((self.run_view(tenant, run.id).await?, false))
            }
            Ok(ExecOutcome::Created(after, finished)) => {
                metrics::counter!("maestro_workflow_runs_started_total").increment(1);
                self.engine.publish(&finished);
                self.engine.after_commit(after);
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
                    .ok_or_else(not_found_run)?;
                if existing.request_hash != request_hash {
                    return Err(reused());
                }
                Ok((self.run_view(tenant, existing.id).await?, false))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn run_view(&self, tenant: TenantId, run_id: String) -> Result<RunView, ApiError> {
        let found = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                let Some(run) = store::run(conn, &tenant, &run_id)? else {
                    return Ok(None);
                };
                let steps = store::step_runs(conn, &tenant, &run_id)?;
                let name =
                    store::workflow_names(conn, &tenant, std::slice::from_ref(&run.workflow_id))?
                        .pop()
                        .map(|(_, n)| n)
                        .unwrap_or_default();
                Ok(Some(RunView::new(&run, name, steps)))
            })
            .await?;
        found.ok_or_else(not_found_run)
    }

    pub async fn list_runs(
        &self,
        tenant: &TenantId,
        query: RunsQuery,
    ) -> Result<Page<RunSummary>, ApiError> {
        let status = match query.status.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(RunStatus::parse(raw).ok_or_else(|| {
                ApiError::bad_request(
                    "workflows.invalid_status",
                    format!("`{raw}` is not a run status; use pending, running, paused, succeeded, failed, cancelled or dead_lettered."),
                )
            })?),
        };
        let filter = RunFilter {
            workflow_id: query.workflow_id.clone().filter(|s| !s.is_empty()),
            status,
            since: query.since.map(|t| t.naive_utc()),
            until: query.until.map(|t| t.naive_utc()),
        };
        let page = PageQuery {
            limit: query.limit,
            offset: query.offset,
        };
        let (tenant, q) = (tenant.clone(), page.clone());
        let (rows, total) = self
            .db
            .run(move |conn| store::list_runs(conn, &tenant, &filter, &q).map_err(WfError::from))
            .await?;
        Ok(Page::new(
            rows.into_iter().map(Into::into).collect(),
            total,
            &page,
        ))
    }

    /// Applies a run operation under the run's lock.
    async fn run_op(
        &self,
        principal: &Principal,
        run_id: String,
        op: RunOp,
    ) -> Result<RunView, ApiError> {
        let tenant = principal.tenant_id.clone();
        let actor = principal.display_name();
        let engine = self.engine.clone();
        let t = tenant.clone();
        let id = run_id.clone();
        let (after, finished) = self
            .db
            .run(move |conn| {
                dialect::write_tx(conn, |conn| -> Result<_, WfError> {
                    let mut ctx = lock_run(&engine, conn, &t, &id)?;
                    let budget = if matches!(
                        op,
                        RunOp::Resume | RunOp::ResumeForWorkflow | RunOp::Redrive
                    ) {
                        engine.capacity()
                    } else {
                        0
                    };
                    let mut m = Machine::new(actor.clone(), engine.owner(), engine.lease(), budget);
                    let status = ctx.status();
                    let applied = match op {
                        RunOp::Cancel => m.cancel(conn, &mut ctx).map_err(EngineError::State)?,
                        RunOp::Pause => m.pause(&mut ctx, "user"),
                        RunOp::PauseForWorkflow => m.pause(&mut ctx, "workflow"),
                        RunOp::Resume | RunOp::ResumeForWorkflow => {
                            m.resume(conn, &mut ctx).map_err(EngineError::State)?
                        }
                        RunOp::Redrive => m.redrive(conn, &mut ctx).map_err(EngineError::State)?,
                    };
                    if !applied {
                        let (code, what) = match op {
                            RunOp::Cancel => (
                                "workflows.run_finished",
                                "cancelled: it has already finished".to_string(),
                            ),
                            RunOp::Pause | RunOp::PauseForWorkflow => (
                                "workflows.run_not_active",
                                format!("paused: it is {}", status.as_str()),
                            ),
                            RunOp::Resume | RunOp::ResumeForWorkflow => (
                                "workflows.run_not_paused",
                                format!("resumed: it is {}, not paused", status.as_str()),
                            ),
                            RunOp::Redrive => (
                                "workflows.run_not_dead_lettered",
                                format!("redriven: it is {}, not dead_lettered", status.as_str()),
                            ),
                        };
                        return Err(conflict(code, format!("The run cannot be {what}.")).into());
                    }
                    m.flush(conn, &mut [&mut ctx])?;
                    notify_if(conn, &engine, m.wake)?;
                    let finished = finished_list(&[&ctx], &m);
                    Ok((AfterCommit::from_machine(m), finished))
                })
            })
            .await?;
        if matches!(op, RunOp::Cancel) {
            self.engine.cancel_local(&run_id);
        }
        self.engine.publish(&finished);
        self.engine.after_commit(after);
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
            return Err(ApiError::bad_request(
                "workflows.invalid_event_name",
                "Event names are 1-100 letters, digits, `_`, `-` or `.`.",
            ));
        }
        let size = payload.to_string().len();
        if size > MAX_PAYLOAD_BYTES {
            return Err(ApiError::payload_too_large(
                "workflows.payload_too_large",
                format!(
                    "The event payload is {size} bytes; at most {MAX_PAYLOAD_BYTES} are accepted."
                ),
            ));
        }
        let engine = self.engine.clone();
        let t = tenant.clone();
        let source = source.to_string();
        let (delivery, after, finished) = self
            .db
            .run(move |conn| {
                dialect::write_tx(conn, |conn| -> Result<_, WfError> {
                    let mut ctx = lock_run(&engine, conn, &t, &run_id)?;
                    if ctx.status().is_final() {
                        return Err(conflict(
                            "workflows.run_finished",
                            format!(
                                "The run is {}; it takes no more events.",
                                ctx.status().as_str()
                            ),
                        )
                        .into());
                    }
                    let event = EventRow {
                        id: uuid::Uuid::new_v4().to_string(),
                        tenant_id: t.0.clone(),
                        run_id: run_id.clone(),
                        name: name.clone(),
                        payload: payload.to_string(),
                        source: source.clone(),
                        received_at: super::machine::now(),
                        consumed_by: None,
                    };
                    store::insert_event(conn, &event)?;
                    let mut m = Machine::new(
                        actor.clone(),
                        engine.owner(),
                        engine.lease(),
                        engine.capacity(),
                    );
                    let step = m
                        .deliver(conn, &mut ctx, &event)
                        .map_err(EngineError::State)?;
                    m.flush(conn, &mut [&mut ctx])?;
                    notify_if(conn, &engine, m.wake)?;
                    let finished = finished_list(&[&ctx], &m);
                    let delivery = EventDelivery {
                        event_id: event.id,
                        run_id: run_id.clone(),
                        event: name.clone(),
                        delivered: step.is_some(),
                        step_id: step,
                    };
                    Ok((delivery, AfterCommit::from_machine(m), finished))
                })
            })
            .await?;
        self.engine.publish(&finished);
        self.engine.after_commit(after);
        Ok(delivery)
    }

    // -----------------------------------------------------------------------------------------
    // Dead-letter queue

    pub async fn list_dlq(
        &self,
        tenant: &TenantId,
        query: DlqQuery,
    ) -> Result<Page<DlqEntry>, ApiError> {
        let page = PageQuery {
            limit: query.limit,
            offset: query.offset,
        };
        let (t, q) = (tenant.clone(), page.clone());
        let workflow = query.workflow_id.filter(|s| !s.is_empty());
        let (entries, total) = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                let (runs, total) = store::list_dlq(conn, &t, workflow.as_deref(), &q)?;
                let mut entries = Vec::with_capacity(runs.len());
                for run in runs {
                    let step = match &run.failed_step {
                        Some(s) => store::step_run(conn, &t, &run.id, s)?,
                        None => None,
                    };
                    entries.push(DlqEntry {
                        run_id: run.id.clone(),
                        workflow_id: run.workflow_id.clone(),
                        version: run.version,
                        failed_step: run.failed_step.clone(),
                        uses: step.as_ref().map(|s| s.uses.clone()),
                        error: run.error.clone(),
                        attempts: step.as_ref().map_or(0, |s| s.attempts),
                        step_inputs: step
                            .as_ref()
                            .and_then(|s| s.inputs.as_deref())
                            .and_then(|s| serde_json::from_str(s).ok())
                            .unwrap_or(Value::Null),
                        run_inputs: serde_json::from_str(&run.inputs).unwrap_or(Value::Null),
                        attempt_log: step.as_ref().map(|s| s.log()).unwrap_or_default(),
                        dead_lettered_at: run.finished_at.map(utc),
                    });
                }
                Ok((entries, total))
            })
            .await?;
        Ok(Page::new(entries, total, &page))
    }

    /// Redrives dead-lettered runs from their failed step (listed ids, or all of a workflow's).
    pub async fn redrive(
        &self,
        principal: &Principal,
        request: RedriveRequest,
    ) -> Result<RedriveResponse, ApiError> {
        let tenant = principal.tenant_id.clone();
        let mut ids = request.run_ids.clone();
        if ids.len() > MAX_REDRIVE {
            return Err(ApiError::validation(
                format!("At most {MAX_REDRIVE} runs per redrive."),
                vec![FieldError::new(
                    "run_ids",
                    format!("has {} entries", ids.len()),
                )],
            ));
        }
        if let Some(wf) = request.workflow_id.clone().filter(|s| !s.is_empty()) {
            let t = tenant.clone();
            let exists = {
                let (t2, wf2) = (t.clone(), wf.clone());
                self.db
                    .run(move |conn| store::definition(conn, &t2, &wf2).map_err(WfError::from))
                    .await?
                    .is_some()
            };
            if !exists {
                return Err(not_found_workflow());
            }
            let more = self
                .db
                .run(move |conn| {
                    store::run_ids_in_status(
                        conn,
                        &t,
                        &wf,
                        &["dead_lettered"],
                        None,
                        MAX_REDRIVE as i64,
                    )
                    .map_err(WfError::from)
                })
                .await?;
            ids.extend(more);
        }
        if ids.is_empty() {
            return Err(ApiError::validation(
                "Name the runs to redrive.",
                vec![FieldError::new(
                    "run_ids",
                    "give run ids, or `workflow_id` to redrive all of its dead-lettered runs",
                )],
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        let mut redriven = Vec::new();
        let mut skipped = Vec::new();
        for id in ids.into_iter().take(MAX_REDRIVE) {
            match self.run_op(principal, id.clone(), RunOp::Redrive).await {
                Ok(_) => redriven.push(id),
                Err(e) => skipped.push(RedriveSkip {
                    run_id: id,
                    reason: e.detail,
                }),
            }
        }
        Ok(RedriveResponse { redriven, skipped })
    }

    // -----------------------------------------------------------------------------------------
    // Audit

    pub async fn audit(
        &self,
        tenant: &TenantId,
        run_id: String,
        page: PageQuery,
    ) -> Result<Page<AuditEntry>, ApiError> {
        let (t, q) = (tenant.clone(), page.clone());
        let found = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                if store::run(conn, &t, &run_id)?.is_none() {
                    return Ok(None);
                }
                Ok(Some(store::audit_page(conn, &t, &run_id, &q)?))
            })
            .await?;
        let (rows, total) = found.ok_or_else(not_found_run)?;
        Ok(Page::new(
            rows.into_iter().map(Into::into).collect(),
            total,
            &page,
        ))
    }

    pub async fn verify_audit(
        &self,
        tenant: &TenantId,
        run_id: String,
    ) -> Result<AuditVerification, ApiError> {
        let t = tenant.clone();
        let found = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                let Some(run) = store::run(conn, &t, &run_id)? else {
                    return Ok(None);
                };
                let entries = store::audit_all(conn, &t, &run_id)?;
                Ok(Some(audit::verify(&run, &entries)))
            })
            .await?;
        found.ok_or_else(not_found_run)
    }

    // -----------------------------------------------------------------------------------------

    /// `/api/v1/admin/stats` section.
    pub async fn stats(&self, tenant: &TenantId) -> Result<Value, ApiError> {
        let t = tenant.clone();
        let (defs, by_status) = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                Ok((
                    store::count_definitions(conn, &t)?,
                    store::count_runs_by_status(conn, &t)?,
                ))
            })
            .await?;
        let runs: BTreeMap<String, i64> = by_status.into_iter().collect();
        Ok(json!({"workflows": defs, "runs_by_status": runs}))
    }
}

#[derive(Clone, Copy)]
enum RunOp {
    Cancel,
    Pause,
    PauseForWorkflow,
    Resume,
    ResumeForWorkflow,
    Redrive,
}

enum ExecOutcome {
    Existing(Box<RunRow>),
    Created(AfterCommit, Vec<(String, String, String, RunStatus)>),
}

fn finished_list(ctxs: &[&RunCtx], m: &Machine) -> Vec<(String, String, String, RunStatus)> {
    if m.finished.is_empty() {
        return Vec::new();
    }
    ctxs.iter()
        .filter(|c| c.status().is_final() || c.status() == RunStatus::DeadLettered)
        .map(|c| {
            (
                c.run.tenant_id.clone(),
                c.run.id.clone(),
                c.run.workflow_id.clone(),
                c.status(),
            )
        })
        .collect()
}

/// Locks one run of the tenant and loads it (404 for another tenant's run).
fn lock_run(
    engine: &Engine,
    conn: &mut DbConnection,
    tenant: &TenantId,
    run_id: &str,
) -> Result<RunCtx, WfError> {
    if store::run(conn, tenant, run_id)?.is_none() {
        return Err(not_found_run().into());
    }
    let mut ctxs = engine.load_runs(conn, &[run_id.to_string()])?;
    ctxs.remove(run_id).ok_or_else(|| not_found_run().into())
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

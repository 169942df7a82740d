//! The workflows module's database rows and diesel queries. Tenant-facing functions take the `TenantId` and filter
//! by it; the engine's internal functions work on ids the engine itself claimed (queue rows,
//! locked runs), which carry their tenant. Backend-specific SQL lives in `dialect.rs`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::QueryResult;

use super::model::{AttemptRecord, RunStatus, StepStatus};
use super::schema::*;
use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;
use crate::platform::http::pagination::PageQuery;

/// Queue row kinds.
pub const KIND_STEP: &str = "step";
pub const KIND_RUN_TIMEOUT: &str = "run_timeout";

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = workflow_definitions)]
pub struct DefinitionRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub latest_version: i64,
    pub paused: bool,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = workflow_versions)]
pub struct VersionRow {
    pub workflow_id: String,
    pub version: i64,
    pub tenant_id: String,
    pub definition: String,
    pub checksum: String,
    pub step_count: i64,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = workflow_runs, treat_none_as_null = true)]
pub struct RunRow {
    pub id: String,
    pub tenant_id: String,
    pub workflow_id: String,
    pub version: i64,
    pub status: String,
    pub pause_reason: Option<String>,
    pub inputs: String,
    pub outputs: Option<String>,
    pub error: Option<String>,
    pub failed_step: Option<String>,
    pub actor: String,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub trace_parent: Option<String>,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub deadline_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
    pub audit_seq: i64,
    pub audit_hash: String,
}

impl RunRow {
    pub fn run_status(&self) -> RunStatus {
        RunStatus::parse(&self.status).unwrap_or(RunStatus::Failed)
    }
}

#[cfg(test)]
impl RunRow {
    /// A pending run of version 1, created at `now`, with empty inputs and a fresh audit chain:
    /// the one sample the unit tests build on.
    pub fn sample(id: &str, workflow_id: &str, now: NaiveDateTime) -> RunRow {
        RunRow {
            id: id.into(),
            tenant_id: "t".into(),
            workflow_id: workflow_id.into(),
            version: 1,
            status: RunStatus::Pending.as_str().into(),
            pause_reason: None,
            inputs: "{}".into(),
            outputs: None,
            error: None,
            failed_step: None,
            actor: "{}".into(),
            idempotency_key: None,
            request_hash: String::new(),
            trace_parent: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            deadline_at: None,
            updated_at: now,
            audit_seq: 0,
            audit_hash: super::audit::GENESIS.into(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = workflow_step_runs, primary_key(run_id, step_id), treat_none_as_null = true)]
pub struct StepRunRow {
    pub run_id: String,
    pub step_id: String,
    pub tenant_id: String,
    pub position: i64,
    pub uses: String,
    pub status: String,
    pub attempts: i64,
    pub budget_start: i64,
    pub inputs: Option<String>,
    pub outputs: Option<String>,
    pub error: Option<String>,
    pub attempt_log: String,
    pub wake_at: Option<NaiveDateTime>,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
}

impl StepRunRow {
    /// The row of a new run's step: pending, no attempts yet.
    pub fn pending(run: &RunRow, position: usize, step_id: &str, uses: &str) -> StepRunRow {
        StepRunRow {
            run_id: run.id.clone(),
            step_id: step_id.to_string(),
            tenant_id: run.tenant_id.clone(),
            position: position as i64,
            uses: uses.to_string(),
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
        }
    }

    pub fn step_status(&self) -> StepStatus {
        StepStatus::parse(&self.status)
    }

    /// Attempts made in the current retry budget (a redrive or resume starts a new budget).
    pub fn budget_attempts(&self) -> i64 {
        self.attempts - self.budget_start
    }

    pub fn log(&self) -> Vec<AttemptRecord> {
        serde_json::from_str(&self.attempt_log).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = workflow_queue)]
pub struct NewQueueRow {
    pub tenant_id: String,
    pub run_id: String,
    pub step_id: String,
    pub kind: String,
    pub ready_at: NaiveDateTime,
    pub held: bool,
    pub lease_owner: Option<String>,
    pub lease_token: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub enqueued_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = workflow_events)]
pub struct EventRow {
    pub id: String,
    pub tenant_id: String,
    pub run_id: String,
    pub name: String,
    pub payload: String,
    pub source: String,
    pub received_at: NaiveDateTime,
    pub consumed_by: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = workflow_audit)]
pub struct AuditRow {
    pub run_id: String,
    pub seq: i64,
    pub tenant_id: String,
    pub at: NaiveDateTime,
    pub event: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub step_id: Option<String>,
    pub actor: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = workflow_effects)]
pub struct EffectRow {
    pub run_id: String,
    pub step_id: String,
    pub tenant_id: String,
    pub executions: i64,
    pub first_at: NaiveDateTime,
}

// ---------------------------------------------------------------------------------------------
// Definitions and versions

pub(super) fn definition_by_name(
    conn: &mut DbConnection,
    tenant: &TenantId,
    name: &str,
) -> QueryResult<Option<DefinitionRow>> {
    workflow_definitions::table
        .filter(workflow_definitions::tenant_id.eq(tenant.as_str()))
        .filter(workflow_definitions::name.eq(name))
        .select(DefinitionRow::as_select())
        .first(conn)
        .optional()
}

pub(super) fn definition(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<DefinitionRow>> {
    workflow_definitions::table
        .filter(workflow_definitions::tenant_id.eq(tenant.as_str()))
        .filter(workflow_definitions::id.eq(id))
        .select(DefinitionRow::as_select())
        .first(conn)
        .optional()
}

pub(super) fn insert_definition(conn: &mut DbConnection, row: &DefinitionRow) -> QueryResult<()> {
    diesel::insert_into(workflow_definitions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub(super) fn set_latest_version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    version: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        workflow_definitions::table
            .filter(workflow_definitions::tenant_id.eq(tenant.as_str()))
            .filter(workflow_definitions::id.eq(id))
            // Optimistic: only moves forward from the version the caller saw.
            .filter(workflow_definitions::latest_version.eq(version - 1)),
    )
    .set((
        workflow_definitions::latest_version.eq(version),
        workflow_definitions::updated_at.eq(now),
    ))
    .execute(conn)
}

pub(super) fn set_definition_paused(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    paused: bool,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        workflow_definitions::table
            .filter(workflow_definitions::tenant_id.eq(tenant.as_str()))
            .filter(workflow_definitions::id.eq(id)),
    )
    .set((
        workflow_definitions::paused.eq(paused),
        workflow_definitions::updated_at.eq(now),
    ))
    .execute(conn)
}

pub(super) fn list_definitions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<DefinitionRow>, i64)> {
    let total = workflow_definitions::table
        .filter(workflow_definitions::tenant_id.eq(tenant.as_str()))
        .count()
        .get_result(conn)?;
    let rows = workflow_definitions::table
        .filter(workflow_definitions::tenant_id.eq(tenant.as_str()))
        .order((workflow_definitions::name.asc(),))
        .limit(limit)
        .offset(offset)
        .select(DefinitionRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub(super) fn insert_version(conn: &mut DbConnection, row: &VersionRow) -> QueryResult<()> {
    diesel::insert_into(workflow_versions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub(super) fn version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    workflow_id: &str,
    version: i64,
) -> QueryResult<Option<VersionRow>> {
    workflow_versions::table
        .filter(workflow_versions::tenant_id.eq(tenant.as_str()))
        .filter(workflow_versions::workflow_id.eq(workflow_id))
        .filter(workflow_versions::version.eq(version))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()
}

pub(super) fn versions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    workflow_id: &str,
) -> QueryResult<Vec<VersionRow>> {
    workflow_versions::table
        .filter(workflow_versions::tenant_id.eq(tenant.as_str()))
        .filter(workflow_versions::workflow_id.eq(workflow_id))
        .order(workflow_versions::version.asc())
        .select(VersionRow::as_select())
        .load(conn)
}

pub(super) fn workflow_names(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> QueryResult<Vec<(String, String)>> {
    workflow_definitions::table
        .filter(workflow_definitions::tenant_id.eq(tenant.as_str()))
        .filter(workflow_definitions::id.eq_any(ids))
        .select((workflow_definitions::id, workflow_definitions::name))
        .load(conn)
}

// ---------------------------------------------------------------------------------------------
// Runs and step runs

pub(super) fn insert_run(conn: &mut DbConnection, row: &RunRow) -> QueryResult<()> {
    diesel::insert_into(workflow_runs::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub(super) fn insert_step_runs(conn: &mut DbConnection, rows: &[StepRunRow]) -> QueryResult<()> {
    super::dialect::insert_many!(conn, workflow_step_runs::table, rows)
}

pub(super) fn run_by_idempotency_key(
    conn: &mut DbConnection,
    tenant: &TenantId,
    workflow_id: &str,
    key: &str,
) -> QueryResult<Option<RunRow>> {
    workflow_runs::table
        .filter(workflow_runs::tenant_id.eq(tenant.as_str()))
        .filter(workflow_runs::workflow_id.eq(workflow_id))
        .filter(workflow_runs::idempotency_key.eq(key))
        .select(RunRow::as_select())
        .first(conn)
        .optional()
}

pub(super) fn run(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<RunRow>> {
    workflow_runs::table
        .filter(workflow_runs::tenant_id.eq(tenant.as_str()))
        .filter(workflow_runs::id.eq(id))
        .select(RunRow::as_select())
        .first(conn)
        .optional()
}

pub(super) fn step_runs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    run_id: &str,
) -> QueryResult<Vec<StepRunRow>> {
    workflow_step_runs::table
        .filter(workflow_step_runs::tenant_id.eq(tenant.as_str()))
        .filter(workflow_step_runs::run_id.eq(run_id))
        .order(workflow_step_runs::position.asc())
        .select(StepRunRow::as_select())
        .load(conn)
}

/// Some steps of some runs (only the rows a transition needs).
pub(super) fn step_runs_subset(
    conn: &mut DbConnection,
    run_ids: &[String],
    step_ids: &[String],
) -> QueryResult<Vec<StepRunRow>> {
    workflow_step_runs::table
        .filter(workflow_step_runs::run_id.eq_any(run_ids))
        .filter(workflow_step_runs::step_id.eq_any(step_ids))
        .select(StepRunRow::as_select())
        .load(conn)
}

pub(super) fn runs_of(conn: &mut DbConnection, run_ids: &[String]) -> QueryResult<Vec<RunRow>> {
    workflow_runs::table
        .filter(workflow_runs::id.eq_any(run_ids))
        .select(RunRow::as_select())
        .load(conn)
}

pub(super) fn update_run(conn: &mut DbConnection, row: &RunRow) -> QueryResult<()> {
    diesel::update(workflow_runs::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

pub struct RunFilter {
    pub workflow_id: Option<String>,
    pub status: Option<RunStatus>,
    /// Only runs with a step waiting for its next attempt (`?status=retrying`).
    pub retrying: bool,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

pub(super) fn list_runs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &RunFilter,
    page: &PageQuery,
) -> QueryResult<(Vec<RunRow>, i64)> {
    let query = || {
        let mut q = workflow_runs::table
            .filter(workflow_runs::tenant_id.eq(tenant.as_str()))
            .into_boxed();
        if let Some(w) = &filter.workflow_id {
            q = q.filter(workflow_runs::workflow_id.eq(w.clone()));
        }
        if let Some(s) = filter.status {
            q = q.filter(workflow_runs::status.eq(s.as_str()));
        }
        if filter.retrying {
            q = q.filter(
                workflow_runs::id.eq_any(
                    workflow_step_runs::table
                        .filter(workflow_step_runs::tenant_id.eq(tenant.as_str()))
                        .filter(workflow_step_runs::status.eq(StepStatus::Retrying.as_str()))
                        .select(workflow_step_runs::run_id),
                ),
            );
        }
        if let Some(t) = filter.since {
            q = q.filter(workflow_runs::created_at.ge(t));
        }
        if let Some(t) = filter.until {
            q = q.filter(workflow_runs::created_at.lt(t));
        }
        q
    };
    let total = query().count().get_result(conn)?;
    let rows = query()
        .order((workflow_runs::created_at.desc(), workflow_runs::id.desc()))
        .limit(page.limit())
        .offset(page.offset())
        .select(RunRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Which of these runs have a step waiting for its next attempt.
pub(super) fn retrying_runs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    run_ids: &[String],
) -> QueryResult<Vec<String>> {
    workflow_step_runs::table
        .filter(workflow_step_runs::tenant_id.eq(tenant.as_str()))
        .filter(workflow_step_runs::run_id.eq_any(run_ids))
        .filter(workflow_step_runs::status.eq(StepStatus::Retrying.as_str()))
        .select(workflow_step_runs::run_id)
        .distinct()
        .load(conn)
}

/// Active runs of a workflow (for workflow-wide pause/resume).
pub(super) fn run_ids_in_status(
    conn: &mut DbConnection,
    tenant: &TenantId,
    workflow_id: &str,
    statuses: &[&str],
    pause_reason: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<String>> {
    let mut q = workflow_runs::table
        .filter(workflow_runs::tenant_id.eq(tenant.as_str()))
        .filter(workflow_runs::workflow_id.eq(workflow_id))
        .filter(workflow_runs::status.eq_any(statuses))
        .select(workflow_runs::id)
        .order(workflow_runs::created_at.asc())
        .limit(limit)
        .into_boxed();
    if let Some(reason) = pause_reason {
        q = q.filter(workflow_runs::pause_reason.eq(reason));
    }
    q.load(conn)
}

pub(super) fn list_dlq(
    conn: &mut DbConnection,
    tenant: &TenantId,
    workflow_id: Option<&str>,
    page: &PageQuery,
) -> QueryResult<(Vec<RunRow>, i64)> {
    let query = || {
        let mut q = workflow_runs::table
            .filter(workflow_runs::tenant_id.eq(tenant.as_str()))
            .filter(workflow_runs::status.eq(RunStatus::DeadLettered.as_str()))
            .into_boxed();
        if let Some(w) = workflow_id {
            q = q.filter(workflow_runs::workflow_id.eq(w.to_string()));
        }
        q
    };
    let total = query().count().get_result(conn)?;
    let rows = query()
        .order((workflow_runs::updated_at.desc(), workflow_runs::id.asc()))
        .limit(page.limit())
        .offset(page.offset())
        .select(RunRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub(super) fn step_run(
    conn: &mut DbConnection,
    tenant: &TenantId,
    run_id: &str,
    step_id: &str,
) -> QueryResult<Option<StepRunRow>> {
    workflow_step_runs::table
        .filter(workflow_step_runs::tenant_id.eq(tenant.as_str()))
        .filter(workflow_step_runs::run_id.eq(run_id))
        .filter(workflow_step_runs::step_id.eq(step_id))
        .select(StepRunRow::as_select())
        .first(conn)
        .optional()
}

pub(super) fn count_runs_by_status(
    conn: &mut DbConnection,
    tenant: &TenantId,
) -> QueryResult<Vec<(String, i64)>> {
    use diesel::dsl::count_star;
    workflow_runs::table
        .filter(workflow_runs::tenant_id.eq(tenant.as_str()))
        .group_by(workflow_runs::status)
        .select((workflow_runs::status, count_star()))
        .load(conn)
}

pub(super) fn count_definitions(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<i64> {
    workflow_definitions::table
        .filter(workflow_definitions::tenant_id.eq(tenant.as_str()))
        .count()
        .get_result(conn)
}

// ---------------------------------------------------------------------------------------------
// Queue

pub(super) fn insert_queue(conn: &mut DbConnection, rows: &[NewQueueRow]) -> QueryResult<()> {
    super::dialect::insert_many!(conn, workflow_queue::table, rows)
}

/// Gives a claimed row back (its run was busy in another transaction); it becomes claimable
/// again at `retry_at`.
pub(super) fn release_claim(
    conn: &mut DbConnection,
    id: i64,
    retry_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(workflow_queue::table.filter(workflow_queue::id.eq(id)))
        .set((
            workflow_queue::lease_owner.eq(None::<String>),
            workflow_queue::lease_token.eq(None::<String>),
            workflow_queue::lease_until.eq(Some(retry_at)),
        ))
        .execute(conn)
}

pub(super) fn delete_queue_for_run(conn: &mut DbConnection, run_id: &str) -> QueryResult<usize> {
    diesel::delete(workflow_queue::table.filter(workflow_queue::run_id.eq(run_id))).execute(conn)
}

pub(super) fn delete_queue_row(
    conn: &mut DbConnection,
    run_id: &str,
    step_id: &str,
    kind: &str,
) -> QueryResult<usize> {
    diesel::delete(
        workflow_queue::table
            .filter(workflow_queue::run_id.eq(run_id))
            .filter(workflow_queue::step_id.eq(step_id))
            .filter(workflow_queue::kind.eq(kind)),
    )
    .execute(conn)
}

pub(super) fn set_queue_held(
    conn: &mut DbConnection,
    run_id: &str,
    held: bool,
) -> QueryResult<usize> {
    diesel::update(workflow_queue::table.filter(workflow_queue::run_id.eq(run_id)))
        .set(workflow_queue::held.eq(held))
        .execute(conn)
}

pub(super) fn queue_keys_for_run(
    conn: &mut DbConnection,
    run_id: &str,
) -> QueryResult<Vec<(String, String)>> {
    workflow_queue::table
        .filter(workflow_queue::run_id.eq(run_id))
        .select((workflow_queue::step_id, workflow_queue::kind))
        .load(conn)
}

/// Renews the leases this process holds for steps still executing (or not yet committed).
pub(super) fn extend_leases(
    conn: &mut DbConnection,
    owner: &str,
    tokens: &[String],
    until: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        workflow_queue::table
            .filter(workflow_queue::lease_owner.eq(owner))
            .filter(workflow_queue::lease_token.eq_any(tokens)),
    )
    .set(workflow_queue::lease_until.eq(until))
    .execute(conn)
}

/// When the next queue row becomes claimable: the earliest `ready_at` of unleased rows or
/// `lease_until` of leased ones (held rows never).
pub(super) fn next_due(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
    use diesel::dsl::min;
    let ready: Option<NaiveDateTime> = workflow_queue::table
        .filter(workflow_queue::held.eq(false))
        .filter(workflow_queue::lease_until.is_null())
        .select(min(workflow_queue::ready_at))
        .first(conn)?;
    let lease: Option<NaiveDateTime> = workflow_queue::table
        .filter(workflow_queue::held.eq(false))
        .filter(workflow_queue::lease_until.is_not_null())
        .select(min(workflow_queue::lease_until))
        .first(conn)?;
    Ok(match (ready, lease) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Rows ready to run now and not being executed (the `maestro_workflow_queue_depth` gauge).
pub(super) fn queue_depth(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<i64> {
    workflow_queue::table
        .filter(workflow_queue::held.eq(false))
        .filter(workflow_queue::ready_at.le(now))
        .filter(
            workflow_queue::lease_until
                .is_null()
                .or(workflow_queue::lease_until.lt(now)),
        )
        .count()
        .get_result(conn)
}

// ---------------------------------------------------------------------------------------------
// Events

pub(super) fn insert_event(conn: &mut DbConnection, row: &EventRow) -> QueryResult<()> {
    diesel::insert_into(workflow_events::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub(super) fn oldest_unconsumed_event(
    conn: &mut DbConnection,
    run_id: &str,
    name: &str,
) -> QueryResult<Option<EventRow>> {
    workflow_events::table
        .filter(workflow_events::run_id.eq(run_id))
        .filter(workflow_events::name.eq(name))
        .filter(workflow_events::consumed_by.is_null())
        .order((
            workflow_events::received_at.asc(),
            workflow_events::id.asc(),
        ))
        .select(EventRow::as_select())
        .first(conn)
        .optional()
}

pub(super) fn consume_event(
    conn: &mut DbConnection,
    id: &str,
    step_id: &str,
) -> QueryResult<usize> {
    diesel::update(workflow_events::table.find(id))
        .set(workflow_events::consumed_by.eq(step_id))
        .execute(conn)
}

// ---------------------------------------------------------------------------------------------
// Audit

pub(super) fn insert_audit(conn: &mut DbConnection, rows: &[AuditRow]) -> QueryResult<()> {
    super::dialect::insert_many!(conn, workflow_audit::table, rows)
}

pub(super) fn audit_page(
    conn: &mut DbConnection,
    tenant: &TenantId,
    run_id: &str,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<AuditRow>, i64)> {
    let total = workflow_audit::table
        .filter(workflow_audit::tenant_id.eq(tenant.as_str()))
        .filter(workflow_audit::run_id.eq(run_id))
        .count()
        .get_result(conn)?;
    let rows = workflow_audit::table
        .filter(workflow_audit::tenant_id.eq(tenant.as_str()))
        .filter(workflow_audit::run_id.eq(run_id))
        .order(workflow_audit::seq.asc())
        .limit(limit)
        .offset(offset)
        .select(AuditRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub(super) fn audit_all(
    conn: &mut DbConnection,
    tenant: &TenantId,
    run_id: &str,
) -> QueryResult<Vec<AuditRow>> {
    workflow_audit::table
        .filter(workflow_audit::tenant_id.eq(tenant.as_str()))
        .filter(workflow_audit::run_id.eq(run_id))
        .order(workflow_audit::seq.asc())
        .select(AuditRow::as_select())
        .load(conn)
}

//! Diesel rows and queries of the k8s module. Every function takes the caller's tenant.

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;

use super::schema::{k8s_environments, k8s_jobs, k8s_leases};
use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = k8s_environments)]
pub struct EnvironmentRow {
    pub tenant_id: String,
    pub id: String,
    pub namespace: String,
    pub owner_id: String,
    /// The request as JSON (`EnvironmentRequest`, with its id).
    pub spec: String,
    pub phase: String,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    /// The workflow run that provisioned it (torn down when the run ends).
    pub run_id: Option<String>,
}

/// Inserts the row unless the id (or the namespace) exists; returns whether it was written.
/// An upsert, not insert-and-catch: on PostgreSQL a unique violation aborts the transaction.
pub fn insert_environment(conn: &mut DbConnection, row: &EnvironmentRow) -> QueryResult<bool> {
    let written = crate::insert_or_ignore!(conn, k8s_environments::table, row)?;
    Ok(written > 0)
}

/// The environment `id` of `tenant`, deleted or not: what every read or write of one starts from.
#[dsl::auto_type(no_type_alias)]
fn environment<'a>(tenant: &'a str, id: &'a str) -> _ {
    k8s_environments::table
        .filter(k8s_environments::tenant_id.eq(tenant))
        .filter(k8s_environments::id.eq(id))
}

pub fn get_environment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<EnvironmentRow>> {
    environment(tenant.as_str(), id)
        .select(EnvironmentRow::as_select())
        .first(conn)
        .optional()
}

/// Whether another environment (any tenant) holds `namespace`.
pub fn namespace_taken(conn: &mut DbConnection, namespace: &str) -> QueryResult<bool> {
    let n: i64 = k8s_environments::table
        .filter(k8s_environments::namespace.eq(namespace))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

#[derive(Debug, Default, Clone)]
pub struct EnvironmentFilter {
    pub owner_id: Option<String>,
    pub phase: Option<String>,
}

pub fn list_environments(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &EnvironmentFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<EnvironmentRow>, i64)> {
    let query = || {
        let mut q = k8s_environments::table
            .filter(k8s_environments::tenant_id.eq(tenant.as_str()))
            .into_boxed();
        if let Some(owner) = &filter.owner_id {
            q = q.filter(k8s_environments::owner_id.eq(owner.clone()));
        }
        if let Some(phase) = &filter.phase {
            q = q.filter(k8s_environments::phase.eq(phase.clone()));
        }
        q
    };
    let total = query().count().get_result(conn)?;
    let rows = query()
        .order((
            k8s_environments::created_at.desc(),
            k8s_environments::id.desc(),
        ))
        .limit(limit)
        .offset(offset)
        .select(EnvironmentRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Records the phase seen on the cluster (not for deleted environments).
pub fn set_phase(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    phase: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(environment(tenant.as_str(), id).filter(k8s_environments::deleted_at.is_null()))
        .set((
            k8s_environments::phase.eq(phase),
            k8s_environments::reason.eq(reason),
            k8s_environments::updated_at.eq(now),
        ))
        .execute(conn)
}

pub fn set_expires_at(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(environment(tenant.as_str(), id))
        .set((
            k8s_environments::expires_at.eq(expires_at),
            k8s_environments::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Records a delete: the phase, and when it was (first) deleted.
pub fn mark_deleted(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    phase: &str,
    reason: Option<&str>,
    deleted_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(environment(tenant.as_str(), id))
        .set((
            k8s_environments::phase.eq(phase),
            k8s_environments::reason.eq(reason),
            k8s_environments::updated_at.eq(now),
            k8s_environments::deleted_at.eq(Some(deleted_at)),
        ))
        .execute(conn)
}

/// Takes or renews the lease `name` for `holder` until `expires_at`: succeeds when nobody holds
/// it, when `holder` already does, or when the other holder's lease has expired.
pub fn acquire_lease(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<bool> {
    let row = (
        k8s_leases::name.eq(name),
        k8s_leases::holder.eq(holder),
        k8s_leases::expires_at.eq(expires_at),
    );
    let inserted = crate::insert_or_ignore!(conn, k8s_leases::table, row)?;
    if inserted > 0 {
        return Ok(true);
    }
    let updated = diesel::update(
        k8s_leases::table.filter(k8s_leases::name.eq(name)).filter(
            k8s_leases::holder
                .eq(holder)
                .or(k8s_leases::expires_at.lt(now)),
        ),
    )
    .set((
        k8s_leases::holder.eq(holder),
        k8s_leases::expires_at.eq(expires_at),
    ))
    .execute(conn)?;
    Ok(updated > 0)
}

/// Environments not known to be gone (any tenant), those updated longest ago first.
pub fn live_environments(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<EnvironmentRow>> {
    k8s_environments::table
        .filter(k8s_environments::phase.ne("deleted"))
        .order(k8s_environments::updated_at.asc())
        .limit(limit)
        .select(EnvironmentRow::as_select())
        .load(conn)
}

/// Live environments a workflow run provisioned.
pub fn environments_of_run(
    conn: &mut DbConnection,
    tenant: &TenantId,
    run_id: &str,
) -> QueryResult<Vec<String>> {
    k8s_environments::table
        .filter(k8s_environments::tenant_id.eq(tenant.as_str()))
        .filter(k8s_environments::run_id.eq(run_id))
        .filter(k8s_environments::deleted_at.is_null())
        .select(k8s_environments::id)
        .load(conn)
}

/// The environment in `namespace`, whatever its tenant (for the reaper).
pub fn environment_by_namespace(
    conn: &mut DbConnection,
    namespace: &str,
) -> QueryResult<Option<EnvironmentRow>> {
    k8s_environments::table
        .filter(k8s_environments::namespace.eq(namespace))
        .select(EnvironmentRow::as_select())
        .first(conn)
        .optional()
}

/// Records that the reaper deleted the environment in `namespace` (whatever its tenant: the
/// reaper works for all of them); returns whether a live record was updated.
pub fn mark_reaped(
    conn: &mut DbConnection,
    namespace: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        k8s_environments::table
            .filter(k8s_environments::namespace.eq(namespace))
            .filter(k8s_environments::deleted_at.is_null()),
    )
    .set((
        k8s_environments::phase.eq("terminating"),
        k8s_environments::reason.eq(reason),
        k8s_environments::updated_at.eq(now),
        k8s_environments::deleted_at.eq(Some(now)),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = k8s_jobs)]
pub struct JobRow {
    pub tenant_id: String,
    pub id: String,
    pub environment_id: String,
    pub name: String,
    /// The request as JSON (`JobRequest`, with its id).
    pub spec: String,
    pub status: String,
    pub reason: Option<String>,
    pub exit_code: Option<i64>,
    /// `JobResults` as JSON.
    pub results: Option<String>,
    pub log: Option<String>,
    pub log_truncated: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

/// Inserts the job unless its id exists; returns whether it was written.
pub fn insert_job(conn: &mut DbConnection, row: &JobRow) -> QueryResult<bool> {
    let written = crate::insert_or_ignore!(conn, k8s_jobs::table, row)?;
    Ok(written > 0)
}

/// The job `id` of `tenant`: what every read or write of one starts from.
#[dsl::auto_type(no_type_alias)]
fn job<'a>(tenant: &'a str, id: &'a str) -> _ {
    k8s_jobs::table
        .filter(k8s_jobs::tenant_id.eq(tenant))
        .filter(k8s_jobs::id.eq(id))
}

pub fn get_job(
    conn: &mut DbConnection,
    tenant: &TenantId,
    environment_id: &str,
    id: &str,
) -> QueryResult<Option<JobRow>> {
    job(tenant.as_str(), id)
        .filter(k8s_jobs::environment_id.eq(environment_id))
        .select(JobRow::as_select())
        .first(conn)
        .optional()
}

/// An environment's jobs, newest first, and how many it has.
pub fn list_jobs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    environment_id: &str,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<JobRow>, i64)> {
    let query = || {
        k8s_jobs::table
            .filter(k8s_jobs::tenant_id.eq(tenant.as_str()))
            .filter(k8s_jobs::environment_id.eq(environment_id))
    };
    let total = query().count().get_result(conn)?;
    let rows = query()
        .order((k8s_jobs::created_at.desc(), k8s_jobs::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(JobRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Jobs not finished yet (any tenant): the runners to resume after a restart.
pub fn open_jobs(conn: &mut DbConnection) -> QueryResult<Vec<JobRow>> {
    k8s_jobs::table
        .filter(k8s_jobs::status.ne_all(["succeeded", "failed"]))
        .select(JobRow::as_select())
        .load(conn)
}

/// Jobs of an environment whose log is not stored yet.
pub fn jobs_without_log(
    conn: &mut DbConnection,
    tenant: &TenantId,
    environment_id: &str,
) -> QueryResult<Vec<JobRow>> {
    k8s_jobs::table
        .filter(k8s_jobs::tenant_id.eq(tenant.as_str()))
        .filter(k8s_jobs::environment_id.eq(environment_id))
        .filter(k8s_jobs::log.is_null())
        .select(JobRow::as_select())
        .load(conn)
}

/// Records a non-terminal status (never overwrites a finished job).
pub fn set_job_status(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    status: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(job(tenant, id).filter(k8s_jobs::finished_at.is_null()))
        .set((
            k8s_jobs::status.eq(status),
            k8s_jobs::reason.eq(reason),
            k8s_jobs::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Stores the log (once: a stored log is kept).
pub fn store_log(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    log: &str,
    truncated: bool,
) -> QueryResult<usize> {
    diesel::update(job(tenant, id).filter(k8s_jobs::log.is_null()))
        .set((k8s_jobs::log.eq(log), k8s_jobs::log_truncated.eq(truncated)))
        .execute(conn)
}

/// Records the end of a job (once).
#[allow(clippy::too_many_arguments)]
pub fn finish_job(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    status: &str,
    reason: Option<&str>,
    exit_code: Option<i64>,
    results: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(job(tenant, id).filter(k8s_jobs::finished_at.is_null()))
        .set((
            k8s_jobs::status.eq(status),
            k8s_jobs::reason.eq(reason),
            k8s_jobs::exit_code.eq(exit_code),
            k8s_jobs::results.eq(results),
            k8s_jobs::updated_at.eq(now),
            k8s_jobs::finished_at.eq(Some(now)),
        ))
        .execute(conn)
}

//! Rows and queries for healing proposals (every strategy's answer, abstentions too) and the
//! projects' registered repositories. Every function takes the caller's tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::super::schema::{
    healing_failures, healing_healings, healing_repositories, healing_results,
};
use super::{CHUNK, ResultRow};
use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = healing_healings, treat_none_as_null = true)]
pub struct HealingRow {
    pub id: String,
    pub tenant_id: String,
    pub project: String,
    pub failure_id: String,
    pub test_id: String,
    /// Shared by the proposals of one heal request.
    pub request_id: String,
    /// The proposal `strategies::best` picked for the request.
    pub chosen: bool,
    pub strategy: String,
    pub action: String,
    /// `strategies::FilePatch` as JSON.
    pub patch: Option<String>,
    /// The config change as JSON.
    pub config: Option<String>,
    pub confidence: f64,
    /// `Vec<String>` as JSON.
    pub evidence: String,
    pub risk: String,
    pub abstain_reason: Option<String>,
    pub status: String,
    pub failure_commit: Option<String>,
    pub branch: Option<String>,
    pub commit_sha: Option<String>,
    pub quarantine_id: Option<String>,
    pub detail: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub verified_at: Option<NaiveDateTime>,
    pub time_to_green_ms: Option<i64>,
    pub false_heal_at: Option<NaiveDateTime>,
}

pub fn insert_healings(conn: &mut DbConnection, rows: &[HealingRow]) -> QueryResult<()> {
    insert_chunks!(conn, healing_healings::table, rows);
    Ok(())
}

/// What the healing list may be filtered by.
#[derive(Debug, Clone, Default)]
pub struct HealingFilter {
    pub project: Option<String>,
    pub strategy: Option<String>,
    pub status: Option<String>,
    pub test_id: Option<String>,
    pub failure_id: Option<String>,
}

pub fn healings(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &HealingFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<HealingRow>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut q = healing_healings::table
                .filter(healing_healings::tenant_id.eq(tenant.as_str().to_string()))
                .into_boxed();
            if let Some(v) = &filter.project {
                q = q.filter(healing_healings::project.eq(v.clone()));
            }
            if let Some(v) = &filter.strategy {
                q = q.filter(healing_healings::strategy.eq(v.clone()));
            }
            if let Some(v) = &filter.status {
                q = q.filter(healing_healings::status.eq(v.clone()));
            }
            if let Some(v) = &filter.test_id {
                q = q.filter(healing_healings::test_id.eq(v.clone()));
            }
            if let Some(v) = &filter.failure_id {
                q = q.filter(healing_healings::failure_id.eq(v.clone()));
            }
            q
        }};
    }
    let total: i64 = filtered!().count().get_result(conn)?;
    let rows = filtered!()
        .order((
            healing_healings::created_at.desc(),
            healing_healings::request_id.desc(),
            healing_healings::id.asc(),
        ))
        .limit(limit)
        .offset(offset)
        .select(HealingRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn healing(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<HealingRow>> {
    healing_healings::table
        .filter(healing_healings::tenant_id.eq(tenant.as_str()))
        .filter(healing_healings::id.eq(id))
        .select(HealingRow::as_select())
        .first(conn)
        .optional()
}

/// Moves a proposal from `proposed` to `applied` or `rejected` (compare-and-set: a concurrent
/// decision wins once). Returns whether it moved.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    status: &str,
    by: &str,
    at: NaiveDateTime,
    applied: &Applied,
) -> QueryResult<bool> {
    let n = diesel::update(
        healing_healings::table
            .filter(healing_healings::tenant_id.eq(tenant.as_str()))
            .filter(healing_healings::id.eq(id))
            .filter(healing_healings::status.eq("proposed")),
    )
    .set((
        healing_healings::status.eq(status),
        healing_healings::decided_by.eq(by),
        healing_healings::decided_at.eq(at),
        healing_healings::branch.eq(applied.branch.clone()),
        healing_healings::commit_sha.eq(applied.commit_sha.clone()),
        healing_healings::quarantine_id.eq(applied.quarantine_id.clone()),
        healing_healings::detail.eq(applied.detail.clone()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// What applying a proposal produced.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub branch: Option<String>,
    pub commit_sha: Option<String>,
    pub quarantine_id: Option<String>,
    pub detail: Option<String>,
}

/// The applied or verified heals of these tests (what a new result may verify or refute).
pub fn live_heals(
    conn: &mut DbConnection,
    tenant: &TenantId,
    test_ids: &[String],
) -> QueryResult<Vec<HealingRow>> {
    let mut out = Vec::new();
    for chunk in test_ids.chunks(CHUNK) {
        let rows: Vec<HealingRow> = healing_healings::table
            .filter(healing_healings::tenant_id.eq(tenant.as_str()))
            .filter(healing_healings::test_id.eq_any(chunk))
            .filter(healing_healings::status.eq_any(["applied", "verified"]))
            .select(HealingRow::as_select())
            .load(conn)?;
        out.extend(rows);
    }
    Ok(out)
}

pub fn mark_verified(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
    time_to_green_ms: Option<i64>,
) -> QueryResult<usize> {
    diesel::update(
        healing_healings::table
            .filter(healing_healings::id.eq(id))
            .filter(healing_healings::status.eq("applied")),
    )
    .set((
        healing_healings::status.eq("verified"),
        healing_healings::verified_at.eq(at),
        healing_healings::time_to_green_ms.eq(time_to_green_ms),
    ))
    .execute(conn)
}

pub fn mark_false_heal(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
    detail: &str,
) -> QueryResult<usize> {
    diesel::update(
        healing_healings::table
            .filter(healing_healings::id.eq(id))
            .filter(healing_healings::status.eq_any(["applied", "verified"])),
    )
    .set((
        healing_healings::status.eq("false_heal"),
        healing_healings::false_heal_at.eq(at),
        healing_healings::detail.eq(detail),
    ))
    .execute(conn)
}

/// (strategy, status, chosen, time to green, failure id) of every proposal, optionally of one
/// project: what the stats add up.
pub type StatRow = (String, String, bool, Option<i64>, String);

pub fn stat_rows(
    conn: &mut DbConnection,
    tenant: &TenantId,
    project: Option<&str>,
) -> QueryResult<Vec<StatRow>> {
    let mut q = healing_healings::table
        .filter(healing_healings::tenant_id.eq(tenant.as_str().to_string()))
        .into_boxed();
    if let Some(p) = project {
        q = q.filter(healing_healings::project.eq(p.to_string()));
    }
    q.select((
        healing_healings::strategy,
        healing_healings::status,
        healing_healings::chosen,
        healing_healings::time_to_green_ms,
        healing_healings::failure_id,
    ))
    .load(conn)
}

/// (failures, failures with at least one heal request) of the tenant (or one project).
pub fn coverage_counts(
    conn: &mut DbConnection,
    tenant: &TenantId,
    project: Option<&str>,
) -> QueryResult<(i64, i64)> {
    let mut all = healing_failures::table
        .filter(healing_failures::tenant_id.eq(tenant.as_str().to_string()))
        .into_boxed();
    let mut attempted = healing_healings::table
        .filter(healing_healings::tenant_id.eq(tenant.as_str().to_string()))
        .into_boxed();
    if let Some(p) = project {
        all = all.filter(healing_failures::project.eq(p.to_string()));
        attempted = attempted.filter(healing_healings::project.eq(p.to_string()));
    }
    let all: i64 = all.count().get_result(conn)?;
    let attempted: i64 = attempted
        .select(diesel::dsl::count(healing_healings::failure_id).aggregate_distinct())
        .first(conn)?;
    Ok((all, attempted))
}

/// Every status count of the whole table (for `/metrics`), across tenants.
pub fn status_counts(conn: &mut DbConnection) -> QueryResult<Vec<(String, String, i64)>> {
    healing_healings::table
        .group_by((healing_healings::strategy, healing_healings::status))
        .select((
            healing_healings::strategy,
            healing_healings::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)
}

/// The newest `n` results of a test (only those on `branch` when given), newest first.
pub fn recent_results(
    conn: &mut DbConnection,
    tenant: &TenantId,
    test_id: &str,
    branch: Option<&str>,
    n: i64,
) -> QueryResult<Vec<ResultRow>> {
    let mut q = healing_results::table
        .filter(healing_results::tenant_id.eq(tenant.as_str().to_string()))
        .filter(healing_results::test_id.eq(test_id.to_string()))
        .into_boxed();
    if let Some(b) = branch {
        q = q.filter(healing_results::branch.eq(b.to_string()));
    }
    q.order((
        healing_results::created_at.desc(),
        healing_results::id.desc(),
    ))
    .limit(n)
    .select(ResultRow::as_select())
    .load(conn)
}

/// A test's results with the category of their failure (if any), oldest first, up to `n`
/// newest: the history strategies read.
pub fn samples(
    conn: &mut DbConnection,
    tenant: &TenantId,
    test_id: &str,
    n: i64,
) -> QueryResult<Vec<(ResultRow, Option<String>)>> {
    let mut rows: Vec<(ResultRow, Option<String>)> = healing_results::table
        .left_join(healing_failures::table)
        .filter(healing_results::tenant_id.eq(tenant.as_str()))
        .filter(healing_results::test_id.eq(test_id))
        .order((
            healing_results::created_at.desc(),
            healing_results::id.desc(),
        ))
        .limit(n)
        .select((
            ResultRow::as_select(),
            healing_failures::category.nullable(),
        ))
        .load(conn)?;
    rows.reverse();
    Ok(rows)
}

/// Failures stored for one report.
pub fn failures_in_report(
    conn: &mut DbConnection,
    tenant: &TenantId,
    report_id: &str,
) -> QueryResult<i64> {
    healing_failures::table
        .filter(healing_failures::tenant_id.eq(tenant.as_str()))
        .filter(healing_failures::report_id.eq(report_id))
        .count()
        .get_result(conn)
}

/// The failure ids of one report, in insertion order.
pub fn failure_ids_of_report(
    conn: &mut DbConnection,
    tenant: &TenantId,
    report_id: &str,
) -> QueryResult<Vec<String>> {
    healing_failures::table
        .filter(healing_failures::tenant_id.eq(tenant.as_str()))
        .filter(healing_failures::report_id.eq(report_id))
        .order(healing_failures::id.asc())
        .select(healing_failures::id)
        .load(conn)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = healing_repositories, treat_none_as_null = true)]
pub struct RepositoryRow {
    pub id: String,
    pub tenant_id: String,
    pub project: String,
    pub url: String,
    pub default_branch: String,
    pub username: Option<String>,
    /// Password or token in the clear: only in rows from before secrets were sealed (sealed at
    /// start). Never returned by the API.
    pub secret: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    /// The password or token, sealed for the tenant (`platform::sealed`).
    pub secret_sealed: Option<String>,
}

/// Repositories stored before secrets were sealed that may hold one in the clear: a `secret`, or
/// a user part in the URL.
pub fn unsealed_repositories(conn: &mut DbConnection) -> QueryResult<Vec<RepositoryRow>> {
    healing_repositories::table
        .filter(
            healing_repositories::secret
                .is_not_null()
                .or(healing_repositories::url.like("%@%")),
        )
        .select(RepositoryRow::as_select())
        .load(conn)
}

/// Replaces a repository's clear secret (`before`, as read) with `url` and `secret_sealed`,
/// unless it was sealed or registered again meanwhile (a new registration is a new id).
pub fn seal_repository(
    conn: &mut DbConnection,
    before: &RepositoryRow,
    url: &str,
    secret_sealed: Option<&str>,
) -> QueryResult<bool> {
    let changed = diesel::update(
        healing_repositories::table
            .filter(healing_repositories::tenant_id.eq(&before.tenant_id))
            .filter(healing_repositories::id.eq(&before.id))
            .filter(healing_repositories::url.eq(&before.url))
            .filter(healing_repositories::secret_sealed.is_null()),
    )
    .set((
        healing_repositories::url.eq(url),
        healing_repositories::secret.eq(None::<String>),
        healing_repositories::secret_sealed.eq(secret_sealed),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Registers (or replaces) the project's repository.
pub fn upsert_repository(conn: &mut DbConnection, row: &RepositoryRow) -> QueryResult<()> {
    diesel::delete(
        healing_repositories::table
            .filter(healing_repositories::tenant_id.eq(&row.tenant_id))
            .filter(healing_repositories::project.eq(&row.project)),
    )
    .execute(conn)?;
    diesel::insert_into(healing_repositories::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn repository(
    conn: &mut DbConnection,
    tenant: &TenantId,
    project: &str,
) -> QueryResult<Option<RepositoryRow>> {
    healing_repositories::table
        .filter(healing_repositories::tenant_id.eq(tenant.as_str()))
        .filter(healing_repositories::project.eq(project))
        .select(RepositoryRow::as_select())
        .first(conn)
        .optional()
}

pub fn repository_by_id(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<RepositoryRow>> {
    healing_repositories::table
        .filter(healing_repositories::tenant_id.eq(tenant.as_str()))
        .filter(healing_repositories::id.eq(id))
        .select(RepositoryRow::as_select())
        .first(conn)
        .optional()
}

pub fn repositories(
    conn: &mut DbConnection,
    tenant: &TenantId,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<RepositoryRow>, i64)> {
    let total = healing_repositories::table
        .filter(healing_repositories::tenant_id.eq(tenant.as_str()))
        .count()
        .get_result(conn)?;
    let rows = healing_repositories::table
        .filter(healing_repositories::tenant_id.eq(tenant.as_str()))
        .order(healing_repositories::project.asc())
        .limit(limit)
        .offset(offset)
        .select(RepositoryRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn delete_repository(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<usize> {
    diesel::delete(
        healing_repositories::table
            .filter(healing_repositories::tenant_id.eq(tenant.as_str()))
            .filter(healing_repositories::id.eq(id)),
    )
    .execute(conn)
}

/// When each of these failures was stored.
pub fn failure_times(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<std::collections::HashMap<String, NaiveDateTime>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<(String, NaiveDateTime)> = healing_failures::table
            .filter(healing_failures::id.eq_any(chunk))
            .select((healing_failures::id, healing_failures::created_at))
            .load(conn)?;
        out.extend(rows);
    }
    Ok(out)
}

/// Which of these tests are quarantined (not released, not expired) at `now`, and since when.
pub fn quarantined_among(
    conn: &mut DbConnection,
    tenant: &TenantId,
    test_ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    use super::super::schema::healing_quarantine;
    let mut out = Vec::new();
    for chunk in test_ids.chunks(CHUNK) {
        let rows: Vec<(String, NaiveDateTime)> = healing_quarantine::table
            .filter(healing_quarantine::tenant_id.eq(tenant.as_str()))
            .filter(healing_quarantine::test_id.eq_any(chunk))
            .filter(healing_quarantine::released_at.is_null())
            .filter(healing_quarantine::expires_at.gt(now))
            .select((healing_quarantine::test_id, healing_quarantine::created_at))
            .load(conn)?;
        out.extend(rows);
    }
    Ok(out)
}

/// The report an upload from `source` stored (stream events carry their message id there, so a
/// redelivered event finds its report).
pub fn report_by_source(
    conn: &mut DbConnection,
    tenant: &TenantId,
    source: &str,
) -> QueryResult<Option<String>> {
    use super::super::schema::healing_reports;
    healing_reports::table
        .filter(healing_reports::tenant_id.eq(tenant.as_str()))
        .filter(healing_reports::source.eq(source))
        .select(healing_reports::id)
        .first(conn)
        .optional()
}

/// Applied or verified patch heals (with their branch), all tenants, oldest first: what the
/// revert check looks at.
pub fn live_patch_heals(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<HealingRow>> {
    healing_healings::table
        .filter(healing_healings::status.eq_any(["applied", "verified"]))
        .filter(healing_healings::action.eq("patch"))
        .filter(healing_healings::branch.is_not_null())
        .filter(healing_healings::commit_sha.is_not_null())
        .order(healing_healings::decided_at.asc())
        .limit(limit)
        .select(HealingRow::as_select())
        .load(conn)
}

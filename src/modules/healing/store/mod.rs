//! Diesel rows and queries for reports, tests, results and failures. Every function takes the
//! caller's tenant; inserts go in chunks (bind-parameter limits of both backends) and per
//! backend (the multi-backend connection has no batch insert).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    healing_failures, healing_flaky_evidence, healing_quarantine, healing_reports, healing_results,
    healing_tests,
};
use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;

/// Rows per multi-row INSERT: the widest row (a failure, 17 columns) × 400 stays below
/// SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
const CHUNK: usize = 400;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = healing_reports, treat_none_as_null = true)]
pub struct ReportRow {
    pub id: String,
    pub tenant_id: String,
    pub project: String,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    pub ci_run_id: Option<String>,
    pub attempt: i64,
    pub source: String,
    pub framework: String,
    pub files: i64,
    pub tests: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    pub skipped: i64,
    pub flaky: i64,
    pub duration_ms: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = healing_tests, treat_none_as_null = true)]
pub struct TestRow {
    pub id: String,
    pub tenant_id: String,
    pub project: String,
    pub identity_hash: String,
    pub framework: String,
    pub scope: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub created_at: NaiveDateTime,
}

impl From<TestRow> for crate::modules::healing::model::TestView {
    fn from(t: TestRow) -> Self {
        Self {
            id: t.id,
            project: t.project,
            framework: t.framework,
            scope: t.scope,
            classname: t.classname,
            name: t.name,
            file: t.file,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = healing_results, treat_none_as_null = true)]
pub struct ResultRow {
    pub id: String,
    pub tenant_id: String,
    pub project: String,
    pub report_id: String,
    pub test_id: String,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    pub outcome: String,
    pub attempts: i64,
    pub duration_ms: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = healing_failures, treat_none_as_null = true)]
pub struct FailureRow {
    pub id: String,
    pub tenant_id: String,
    pub project: String,
    pub report_id: String,
    pub result_id: String,
    pub test_id: String,
    pub outcome: String,
    pub kind: String,
    pub message: Option<String>,
    pub failure_type: Option<String>,
    pub body: String,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
    /// Every failing attempt (`Vec<junit::Evidence>`) as JSON.
    pub attempts_json: String,
    pub created_at: NaiveDateTime,
    /// `classify::Category` as text.
    pub category: String,
    /// The `classify::Classification` as JSON (none when the runner kept no evidence).
    pub classification: Option<String>,
}

/// Inserts rows of one table in chunks, per backend.
macro_rules! insert_chunks {
    ($conn:expr, $table:expr, $rows:expr) => {{
        for chunk in $rows.chunks(CHUNK) {
            match &mut *$conn {
                DbConnection::Postgres(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
                DbConnection::Sqlite(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
        }
    }};
}

pub fn insert_report(conn: &mut DbConnection, row: &ReportRow) -> QueryResult<()> {
    diesel::insert_into(healing_reports::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The ids of the project's tests with these identities, creating the missing ones (two
/// concurrent uploads naming a new test both end up with the one row). Returns
/// identity hash → test id.
///
/// An upload of more than one chunk reads the project's whole identity map in one query
/// instead of an `= ANY(…)` lookup per chunk: on PostgreSQL, before the table's statistics have
/// caught up with a fast-growing project, those lookups are planned as sequential scans
/// (~100 ms each at 10,000 tests), while one pass over the project costs a few milliseconds.
pub fn ensure_tests(
    conn: &mut DbConnection,
    tenant: &TenantId,
    project: &str,
    wanted: &[TestRow],
) -> QueryResult<HashMap<String, String>> {
    if wanted.len() <= CHUNK {
        insert_tests(conn, wanted)?;
        let hashes: Vec<&str> = wanted.iter().map(|t| t.identity_hash.as_str()).collect();
        return healing_tests::table
            .filter(healing_tests::tenant_id.eq(tenant.as_str()))
            .filter(healing_tests::project.eq(project))
            .filter(healing_tests::identity_hash.eq_any(hashes))
            .select((healing_tests::identity_hash, healing_tests::id))
            .load::<(String, String)>(conn)
            .map(|found| found.into_iter().collect());
    }
    let project_map = |conn: &mut DbConnection| -> QueryResult<HashMap<String, String>> {
        healing_tests::table
            .filter(healing_tests::tenant_id.eq(tenant.as_str()))
            .filter(healing_tests::project.eq(project))
            .select((healing_tests::identity_hash, healing_tests::id))
            .load::<(String, String)>(conn)
            .map(|found| found.into_iter().collect())
    };
    let known = project_map(conn)?;
    let missing: Vec<&TestRow> = wanted
        .iter()
        .filter(|t| !known.contains_key(&t.identity_hash))
        .collect();
    if missing.is_empty() {
        return Ok(known);
    }
    insert_tests(conn, missing)?;
    project_map(conn)
}

/// Inserts the tests that do not exist yet; an identity that does is left as it is.
fn insert_tests<'a>(
    conn: &mut DbConnection,
    rows: impl IntoIterator<Item = &'a TestRow>,
) -> QueryResult<()> {
    let rows: Vec<&TestRow> = rows.into_iter().collect();
    for chunk in rows.chunks(CHUNK) {
        match &mut *conn {
            DbConnection::Postgres(c) => {
                diesel::insert_into(healing_tests::table)
                    .values(chunk.to_vec())
                    .on_conflict_do_nothing()
                    .execute(c)?;
            }
            // Diesel has no multi-row ON CONFLICT for SQLite; INSERT OR IGNORE is the same here
            // (the only constraints are the id and the identity).
            DbConnection::Sqlite(c) => {
                diesel::insert_or_ignore_into(healing_tests::table)
                    .values(chunk.to_vec())
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

pub fn insert_results(conn: &mut DbConnection, rows: &[ResultRow]) -> QueryResult<()> {
    insert_chunks!(conn, healing_results::table, rows);
    Ok(())
}

pub fn insert_failures(conn: &mut DbConnection, rows: &[FailureRow]) -> QueryResult<()> {
    insert_chunks!(conn, healing_failures::table, rows);
    Ok(())
}

/// What the failure list may be filtered by.
#[derive(Debug, Clone, Default)]
pub struct FailureFilter {
    pub project: Option<String>,
    pub test_id: Option<String>,
    pub outcome: Option<String>,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    pub report_id: Option<String>,
    pub category: Option<String>,
}

/// A failure with its test and result (commit, branch, attempts).
pub type FailureJoined = (FailureRow, TestRow, ResultRow);

pub fn failures(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &FailureFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<FailureJoined>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut q = healing_failures::table
                .inner_join(healing_results::table)
                .filter(healing_failures::tenant_id.eq(tenant.as_str().to_string()))
                .into_boxed();
            if let Some(v) = &filter.project {
                q = q.filter(healing_failures::project.eq(v.clone()));
            }
            if let Some(v) = &filter.test_id {
                q = q.filter(healing_failures::test_id.eq(v.clone()));
            }
            if let Some(v) = &filter.outcome {
                q = q.filter(healing_failures::outcome.eq(v.clone()));
            }
            if let Some(v) = &filter.report_id {
                q = q.filter(healing_failures::report_id.eq(v.clone()));
            }
            if let Some(v) = &filter.category {
                q = q.filter(healing_failures::category.eq(v.clone()));
            }
            if let Some(v) = &filter.commit_sha {
                q = q.filter(healing_results::commit_sha.eq(v.clone()));
            }
            if let Some(v) = &filter.branch {
                q = q.filter(healing_results::branch.eq(v.clone()));
            }
            q
        }};
    }
    let total: i64 = filtered!().count().get_result(conn)?;
    let rows: Vec<(FailureRow, ResultRow)> = filtered!()
        .order((
            healing_failures::created_at.desc(),
            healing_failures::id.desc(),
        ))
        .limit(limit)
        .offset(offset)
        .select((FailureRow::as_select(), ResultRow::as_select()))
        .load(conn)?;
    let tests = tests_by_id(conn, tenant, rows.iter().map(|(f, _)| f.test_id.as_str()))?;
    let joined = rows
        .into_iter()
        .filter_map(|(f, r)| {
            let t = tests.get(&f.test_id)?.clone();
            Some((f, t, r))
        })
        .collect();
    Ok((joined, total))
}

pub fn tests_by_id<'a>(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: impl Iterator<Item = &'a str>,
) -> QueryResult<HashMap<String, TestRow>> {
    let ids: Vec<&str> = ids.collect();
    let rows: Vec<TestRow> = healing_tests::table
        .filter(healing_tests::tenant_id.eq(tenant.as_str()))
        .filter(healing_tests::id.eq_any(ids))
        .select(TestRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|t| (t.id.clone(), t)).collect())
}

pub fn failure(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<FailureJoined>> {
    let found: Option<(FailureRow, ResultRow)> = healing_failures::table
        .inner_join(healing_results::table)
        .filter(healing_failures::tenant_id.eq(tenant.as_str()))
        .filter(healing_failures::id.eq(id))
        .select((FailureRow::as_select(), ResultRow::as_select()))
        .first(conn)
        .optional()?;
    let Some((f, r)) = found else {
        return Ok(None);
    };
    let Some(t) = test(conn, tenant, &f.test_id)? else {
        return Ok(None);
    };
    Ok(Some((f, t, r)))
}

pub fn test(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> QueryResult<Option<TestRow>> {
    healing_tests::table
        .filter(healing_tests::tenant_id.eq(tenant.as_str()))
        .filter(healing_tests::id.eq(id))
        .select(TestRow::as_select())
        .first(conn)
        .optional()
}

/// A result and the id of its failure, if it failed.
pub type HistoryRow = (ResultRow, Option<String>);

/// A test's results, newest first, each with its failure id when it failed.
pub fn history(
    conn: &mut DbConnection,
    tenant: &TenantId,
    test_id: &str,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<HistoryRow>, i64)> {
    let total = healing_results::table
        .filter(healing_results::tenant_id.eq(tenant.as_str()))
        .filter(healing_results::test_id.eq(test_id))
        .count()
        .get_result(conn)?;
    let rows: Vec<ResultRow> = healing_results::table
        .filter(healing_results::tenant_id.eq(tenant.as_str()))
        .filter(healing_results::test_id.eq(test_id))
        .order((
            healing_results::created_at.desc(),
            healing_results::id.desc(),
        ))
        .limit(limit)
        .offset(offset)
        .select(ResultRow::as_select())
        .load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let failures: HashMap<String, String> = healing_failures::table
        .filter(healing_failures::tenant_id.eq(tenant.as_str()))
        .filter(healing_failures::result_id.eq_any(ids))
        .select((healing_failures::result_id, healing_failures::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let rows = rows
        .into_iter()
        .map(|r| {
            let failure = failures.get(&r.id).cloned();
            (r, failure)
        })
        .collect();
    Ok((rows, total))
}

/// (test id, commit, outcome, when) of one test's result: what flaky detection reads.
pub type WindowRow = (String, Option<String>, String, NaiveDateTime);

/// The results of these tests since `since`, each test's oldest first (index-only reads of
/// `healing_results_test_idx`).
pub fn test_windows(
    conn: &mut DbConnection,
    tenant: &TenantId,
    test_ids: &[String],
    since: NaiveDateTime,
) -> QueryResult<Vec<WindowRow>> {
    let mut rows = Vec::new();
    for chunk in test_ids.chunks(CHUNK) {
        rows.extend(
            healing_results::table
                .filter(healing_results::tenant_id.eq(tenant.as_str()))
                .filter(healing_results::test_id.eq_any(chunk))
                .filter(healing_results::created_at.ge(since))
                .order((healing_results::test_id, healing_results::created_at.asc()))
                .select((
                    healing_results::test_id,
                    healing_results::commit_sha,
                    healing_results::outcome,
                    healing_results::created_at,
                ))
                .load::<WindowRow>(conn)?,
        );
    }
    Ok(rows)
}

/// (test id, outcome) of the project's results on one commit: the earlier attempts an
/// ingest compares its results with.
pub fn commit_outcomes(
    conn: &mut DbConnection,
    tenant: &TenantId,
    project: &str,
    commit_sha: &str,
) -> QueryResult<Vec<(String, String)>> {
    healing_results::table
        .filter(healing_results::tenant_id.eq(tenant.as_str()))
        .filter(healing_results::project.eq(project))
        .filter(healing_results::commit_sha.eq(commit_sha))
        .select((healing_results::test_id, healing_results::outcome))
        .load(conn)
}

/// Records that these tests showed flaky evidence at `at` (one row per test, newest wins).
pub fn note_flaky_evidence(
    conn: &mut DbConnection,
    tenant: &TenantId,
    project: &str,
    test_ids: &[&str],
    at: NaiveDateTime,
) -> QueryResult<()> {
    for test_id in test_ids {
        let row = (
            healing_flaky_evidence::tenant_id.eq(tenant.as_str()),
            healing_flaky_evidence::project.eq(project),
            healing_flaky_evidence::test_id.eq(*test_id),
            healing_flaky_evidence::last_evidence_at.eq(at),
        );
        let key = (
            healing_flaky_evidence::tenant_id,
            healing_flaky_evidence::test_id,
        );
        let newer = healing_flaky_evidence::last_evidence_at.eq(at);
        match &mut *conn {
            DbConnection::Postgres(c) => diesel::insert_into(healing_flaky_evidence::table)
                .values(row)
                .on_conflict(key)
                .do_update()
                .set(newer)
                .execute(c)?,
            DbConnection::Sqlite(c) => diesel::insert_into(healing_flaky_evidence::table)
                .values(row)
                .on_conflict(key)
                .do_update()
                .set(newer)
                .execute(c)?,
        };
    }
    Ok(())
}

/// The project's tests with flaky evidence since `since`: the only ones flaky detection reads.
pub fn flaky_candidates(
    conn: &mut DbConnection,
    tenant: &TenantId,
    project: &str,
    since: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    healing_flaky_evidence::table
        .filter(healing_flaky_evidence::tenant_id.eq(tenant.as_str()))
        .filter(healing_flaky_evidence::project.eq(project))
        .filter(healing_flaky_evidence::last_evidence_at.ge(since))
        .select(healing_flaky_evidence::test_id)
        .load(conn)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = healing_quarantine, treat_none_as_null = true)]
pub struct QuarantineRow {
    pub id: String,
    pub tenant_id: String,
    pub project: String,
    pub test_id: String,
    pub owner: String,
    pub reason: String,
    /// The flaky evidence at the time, as JSON.
    pub evidence: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub released_at: Option<NaiveDateTime>,
    pub released_by: Option<String>,
}

pub fn insert_quarantine(conn: &mut DbConnection, row: &QuarantineRow) -> QueryResult<()> {
    diesel::insert_into(healing_quarantine::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The test's quarantine that is neither released nor expired at `now`.
pub fn active_quarantine(
    conn: &mut DbConnection,
    tenant: &TenantId,
    test_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<QuarantineRow>> {
    healing_quarantine::table
        .filter(healing_quarantine::tenant_id.eq(tenant.as_str()))
        .filter(healing_quarantine::test_id.eq(test_id))
        .filter(healing_quarantine::released_at.is_null())
        .filter(healing_quarantine::expires_at.gt(now))
        .select(QuarantineRow::as_select())
        .first(conn)
        .optional()
}

/// Closes the test's unreleased entry (active or expired); returns how many were closed.
pub fn release(
    conn: &mut DbConnection,
    tenant: &TenantId,
    test_id: &str,
    now: NaiveDateTime,
    by: &str,
) -> QueryResult<usize> {
    diesel::update(
        healing_quarantine::table
            .filter(healing_quarantine::tenant_id.eq(tenant.as_str()))
            .filter(healing_quarantine::test_id.eq(test_id))
            .filter(healing_quarantine::released_at.is_null()),
    )
    .set((
        healing_quarantine::released_at.eq(now),
        healing_quarantine::released_by.eq(by),
    ))
    .execute(conn)
}

/// A project's active quarantine with each test, oldest first.
pub fn quarantined(
    conn: &mut DbConnection,
    tenant: &TenantId,
    project: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<(QuarantineRow, TestRow)>> {
    healing_quarantine::table
        .inner_join(healing_tests::table)
        .filter(healing_quarantine::tenant_id.eq(tenant.as_str()))
        .filter(healing_quarantine::project.eq(project))
        .filter(healing_quarantine::released_at.is_null())
        .filter(healing_quarantine::expires_at.gt(now))
        .order(healing_quarantine::created_at.asc())
        .select((QuarantineRow::as_select(), TestRow::as_select()))
        .load(conn)
}

mod healings;
pub use healings::*;

//! Diesel queries for scores, the latest score per template, and forced publishes. Every
//! function takes the caller's tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{quality_latest, quality_overrides, quality_scores};
use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = quality_scores)]
pub struct ScoreRow {
    pub id: String,
    pub tenant_id: String,
    pub template_id: String,
    pub commit_id: String,
    pub template_name: String,
    pub version: String,
    pub category: String,
    pub score: i64,
    pub passed: bool,
    /// The full evaluation as JSON.
    pub evaluation: String,
    pub forced_by: Option<String>,
    pub forced_reason: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = quality_latest, primary_key(tenant_id, template_id))]
pub struct LatestRow {
    pub tenant_id: String,
    pub template_id: String,
    pub commit_id: String,
    pub category: String,
    pub score: i64,
    pub passed: bool,
    /// Comma-separated check names.
    pub failing_checks: String,
    pub warning_checks: String,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = quality_overrides)]
pub struct OverrideRow {
    pub id: String,
    pub tenant_id: String,
    pub template_id: String,
    pub previous_commit: Option<String>,
    pub commit_id: Option<String>,
    pub actor_id: String,
    pub actor_name: String,
    pub reason: String,
    pub previous_score: i64,
    pub new_score: i64,
    pub created_at: NaiveDateTime,
}

/// Stores a version's score once; a second score of the same commit is ignored (scores are a
/// pure function of the content). Returns whether a row was written. An upsert, not
/// insert-and-catch: on PostgreSQL a unique violation aborts the surrounding transaction.
pub fn insert_score(conn: &mut DbConnection, row: &ScoreRow) -> QueryResult<bool> {
    let written = crate::insert_or_ignore!(conn, quality_scores::table, row)?;
    Ok(written > 0)
}

/// Sets the template's current score (insert or replace, per backend).
pub fn put_latest(conn: &mut DbConnection, row: &LatestRow) -> QueryResult<()> {
    let key = (quality_latest::tenant_id, quality_latest::template_id);
    match conn {
        DbConnection::Postgres(c) => diesel::insert_into(quality_latest::table)
            .values(row)
            .on_conflict(key)
            .do_update()
            .set(row)
            .execute(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(quality_latest::table)
            .values(row)
            .on_conflict(key)
            .do_update()
            .set(row)
            .execute(c)?,
    };
    Ok(())
}

pub fn delete_latest(
    conn: &mut DbConnection,
    tenant: &TenantId,
    template_id: &str,
) -> QueryResult<usize> {
    diesel::delete(
        quality_latest::table
            .filter(quality_latest::tenant_id.eq(tenant.as_str()))
            .filter(quality_latest::template_id.eq(template_id)),
    )
    .execute(conn)
}

pub fn latest(
    conn: &mut DbConnection,
    tenant: &TenantId,
    template_id: &str,
) -> QueryResult<Option<LatestRow>> {
    quality_latest::table
        .filter(quality_latest::tenant_id.eq(tenant.as_str()))
        .filter(quality_latest::template_id.eq(template_id))
        .select(LatestRow::as_select())
        .first(conn)
        .optional()
}

/// Every live template's current score in the tenant (the report aggregates them).
pub fn all_latest(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<LatestRow>> {
    quality_latest::table
        .filter(quality_latest::tenant_id.eq(tenant.as_str()))
        .select(LatestRow::as_select())
        .load(conn)
}

/// (category, score, passed) of every live template across tenants, for `/metrics`.
pub fn latest_across_tenants(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64, bool)>> {
    quality_latest::table
        .select((
            quality_latest::category,
            quality_latest::score,
            quality_latest::passed,
        ))
        .load(conn)
}

/// (when, score, passed) of every evaluation since `since`, for the trend.
pub fn scores_since(
    conn: &mut DbConnection,
    tenant: &TenantId,
    since: NaiveDateTime,
) -> QueryResult<Vec<(NaiveDateTime, i64, bool)>> {
    quality_scores::table
        .filter(quality_scores::tenant_id.eq(tenant.as_str()))
        .filter(quality_scores::created_at.ge(since))
        .select((
            quality_scores::created_at,
            quality_scores::score,
            quality_scores::passed,
        ))
        .order(quality_scores::created_at.asc())
        .load(conn)
}

pub fn history(
    conn: &mut DbConnection,
    tenant: &TenantId,
    template_id: &str,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<ScoreRow>, i64)> {
    let filter = quality_scores::tenant_id
        .eq(tenant.as_str().to_string())
        .and(quality_scores::template_id.eq(template_id.to_string()));
    let total = quality_scores::table
        .filter(filter.clone())
        .count()
        .get_result(conn)?;
    let rows = quality_scores::table
        .filter(filter)
        .order((quality_scores::created_at.desc(), quality_scores::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(ScoreRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn insert_override(conn: &mut DbConnection, row: &OverrideRow) -> QueryResult<()> {
    diesel::insert_into(quality_overrides::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Links the newest unlinked forced publish of a template to the commit it produced, and marks
/// that version's score as forced. Returns the override when there was one.
pub fn attach_override(
    conn: &mut DbConnection,
    tenant: &TenantId,
    template_id: &str,
    commit: &str,
) -> QueryResult<Option<OverrideRow>> {
    let pending: Option<OverrideRow> = quality_overrides::table
        .filter(quality_overrides::tenant_id.eq(tenant.as_str()))
        .filter(quality_overrides::template_id.eq(template_id))
        .filter(quality_overrides::commit_id.is_null())
        .order(quality_overrides::created_at.desc())
        .select(OverrideRow::as_select())
        .first(conn)
        .optional()?;
    let Some(mut found) = pending else {
        return Ok(None);
    };
    diesel::update(quality_overrides::table.filter(quality_overrides::id.eq(&found.id)))
        .set(quality_overrides::commit_id.eq(commit))
        .execute(conn)?;
    diesel::update(
        quality_scores::table
            .filter(quality_scores::tenant_id.eq(tenant.as_str()))
            .filter(quality_scores::template_id.eq(template_id))
            .filter(quality_scores::commit_id.eq(commit)),
    )
    .set((
        quality_scores::forced_by.eq(&found.actor_name),
        quality_scores::forced_reason.eq(&found.reason),
    ))
    .execute(conn)?;
    found.commit_id = Some(commit.to_string());
    Ok(Some(found))
}

pub fn overrides(
    conn: &mut DbConnection,
    tenant: &TenantId,
    template_id: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<OverrideRow>, i64)> {
    let mut count = quality_overrides::table
        .filter(quality_overrides::tenant_id.eq(tenant.as_str()))
        .into_boxed();
    let mut query = quality_overrides::table
        .filter(quality_overrides::tenant_id.eq(tenant.as_str()))
        .into_boxed();
    if let Some(id) = template_id {
        count = count.filter(quality_overrides::template_id.eq(id.to_string()));
        query = query.filter(quality_overrides::template_id.eq(id.to_string()));
    }
    let total = count.count().get_result(conn)?;
    let rows = query
        .order(quality_overrides::created_at.desc())
        .limit(limit)
        .offset(offset)
        .select(OverrideRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

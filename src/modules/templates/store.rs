//! Diesel queries for the templates module. Every function takes the connection and the caller's
//! tenant first, and every query filters by that tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{template_instantiations, template_repos, template_tags, templates};
use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;

/// A template's metadata row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = templates)]
#[diesel(treat_none_as_null = true)]
pub struct TemplateRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub category: String,
    pub version: String,
    pub description: String,
    pub author: String,
    pub tags: String,
    pub format: String,
    pub manifest: String,
    pub parameters: String,
    pub search_text: String,
    pub file_count: i64,
    pub size_bytes: i64,
    pub has_hooks: bool,
    pub quality_score: Option<f64>,
    pub quality_commit: Option<String>,
    pub current_commit: String,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The columns lists and search need (no manifest or parameter schema).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = templates)]
pub struct SummaryRow {
    pub id: String,
    pub name: String,
    pub category: String,
    pub version: String,
    pub description: String,
    pub author: String,
    pub tags: String,
    pub format: String,
    pub search_text: String,
    pub file_count: i64,
    pub size_bytes: i64,
    pub has_hooks: bool,
    pub quality_score: Option<f64>,
    pub current_commit: String,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = template_instantiations)]
pub struct InstantiationRow {
    pub id: String,
    pub tenant_id: String,
    pub template_id: String,
    pub template_name: String,
    pub category: String,
    pub commit_id: String,
    pub version: String,
    pub user_id: String,
    pub actor: String,
    pub parameters: String,
    pub checksum: String,
    pub file_count: i64,
    pub total_bytes: i64,
    pub output_format: String,
    pub source: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = template_repos)]
pub struct RepoRow {
    pub tenant_id: String,
    pub head_commit: Option<String>,
    pub remote_url: Option<String>,
    pub remote_branch: Option<String>,
    pub last_sync_at: Option<NaiveDateTime>,
    pub last_sync_status: Option<String>,
    pub last_sync_detail: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// How a list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Updated,
    Created,
    Quality,
}

/// Filters every list and search shares; `terms` are lowercase words that must all occur in the
/// template's search text.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub terms: Vec<String>,
    pub min_quality: Option<f64>,
    pub author: Option<String>,
}

pub fn find(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<TemplateRow>> {
    templates::table
        .filter(templates::tenant_id.eq(tenant.as_str()))
        .filter(templates::id.eq(id))
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()
}

/// Whether template `id` belongs to a tenant other than `tenant` (ids are unique across tenants,
/// so a git import must not take one that is already used elsewhere). Says nothing else about it.
pub fn id_taken_by_another_tenant(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<bool> {
    templates::table
        .filter(templates::id.eq(id))
        .filter(templates::tenant_id.ne(tenant.as_str()))
        .count()
        .get_result::<i64>(conn)
        .map(|n| n > 0)
}

pub fn find_by_name(
    conn: &mut DbConnection,
    tenant: &TenantId,
    name: &str,
) -> QueryResult<Option<TemplateRow>> {
    templates::table
        .filter(templates::tenant_id.eq(tenant.as_str()))
        .filter(templates::name.eq(name))
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()
}

/// Every template id of the tenant with its current commit (reconciliation).
pub fn ids_and_commits(
    conn: &mut DbConnection,
    tenant: &TenantId,
) -> QueryResult<Vec<(String, String)>> {
    templates::table
        .filter(templates::tenant_id.eq(tenant.as_str()))
        .select((templates::id, templates::current_commit))
        .load(conn)
}

/// What writing a template row came to. Names are unique per tenant; the service checks the
/// name first, so `NameTaken` means another writer took it meanwhile (the statement failed and,
/// on PostgreSQL, the transaction with it: return the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowWrite {
    Written,
    NameTaken,
    /// No such template (update).
    Missing,
}

fn name_taken_or(result: QueryResult<usize>) -> QueryResult<Option<usize>> {
    match result {
        Ok(n) => Ok(Some(n)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    row: &TemplateRow,
) -> QueryResult<RowWrite> {
    debug_assert_eq!(row.tenant_id, tenant.as_str());
    let inserted = name_taken_or(
        diesel::insert_into(templates::table)
            .values(row)
            .execute(conn),
    )?;
    if inserted.is_none() {
        return Ok(RowWrite::NameTaken);
    }
    insert_tags(conn, tenant, &row.id, &tags_of(row))?;
    Ok(RowWrite::Written)
}

pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    row: &TemplateRow,
) -> QueryResult<RowWrite> {
    let updated = name_taken_or(
        diesel::update(
            templates::table
                .filter(templates::tenant_id.eq(tenant.as_str()))
                .filter(templates::id.eq(&row.id)),
        )
        .set(row)
        .execute(conn),
    )?;
    match updated {
        None => Ok(RowWrite::NameTaken),
        Some(0) => Ok(RowWrite::Missing),
        Some(_) => {
            delete_tags(conn, tenant, &row.id)?;
            insert_tags(conn, tenant, &row.id, &tags_of(row))?;
            Ok(RowWrite::Written)
        }
    }
}

pub fn delete(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> QueryResult<usize> {
    delete_tags(conn, tenant, id)?;
    diesel::delete(
        templates::table
            .filter(templates::tenant_id.eq(tenant.as_str()))
            .filter(templates::id.eq(id)),
    )
    .execute(conn)
}

fn tags_of(row: &TemplateRow) -> Vec<String> {
    serde_json::from_str(&row.tags).unwrap_or_default()
}

fn delete_tags(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> QueryResult<usize> {
    diesel::delete(
        template_tags::table
            .filter(template_tags::tenant_id.eq(tenant.as_str()))
            .filter(template_tags::template_id.eq(id)),
    )
    .execute(conn)
}

fn insert_tags(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    tags: &[String],
) -> QueryResult<()> {
    let unique: std::collections::BTreeSet<&str> = tags.iter().map(String::as_str).collect();
    for tag in unique {
        diesel::insert_into(template_tags::table)
            .values((
                template_tags::template_id.eq(id),
                template_tags::tenant_id.eq(tenant.as_str()),
                template_tags::tag.eq(tag),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// `%`, `_` and the escape character itself match literally.
fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

type Backend = <DbConnection as diesel::Connection>::Backend;
type BoxedSummaries<'a> = templates::BoxedQuery<'a, Backend>;

fn filtered<'a>(tenant: &'a TenantId, filter: &'a Filter) -> BoxedSummaries<'a> {
    let mut query = templates::table
        .filter(templates::tenant_id.eq(tenant.as_str()))
        .into_boxed();
    if let Some(category) = &filter.category {
        query = query.filter(templates::category.eq(category));
    }
    if let Some(min) = filter.min_quality {
        query = query.filter(templates::quality_score.ge(min));
    }
    if let Some(author) = &filter.author {
        query = query.filter(templates::author.eq(author));
    }
    for term in &filter.terms {
        query = query.filter(templates::search_text.like(like_pattern(term)).escape('\\'));
    }
    for tag in &filter.tags {
        query = query.filter(
            templates::id.eq_any(
                template_tags::table
                    .filter(template_tags::tenant_id.eq(tenant.as_str()))
                    .filter(template_tags::tag.eq(tag))
                    .select(template_tags::template_id),
            ),
        );
    }
    query
}

/// One page of the tenant's templates matching `filter`, ordered in SQL, plus the total.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &Filter,
    sort: SortKey,
    descending: bool,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<SummaryRow>, i64)> {
    let total: i64 = filtered(tenant, filter).count().get_result(conn)?;
    let query = filtered(tenant, filter).select(SummaryRow::as_select());
    let query = match (sort, descending) {
        (SortKey::Name, false) => query.order((templates::name.asc(), templates::id.asc())),
        (SortKey::Name, true) => query.order((templates::name.desc(), templates::id.asc())),
        (SortKey::Updated, false) => {
            query.order((templates::updated_at.asc(), templates::id.asc()))
        }
        (SortKey::Updated, true) => {
            query.order((templates::updated_at.desc(), templates::id.asc()))
        }
        (SortKey::Created, false) => {
            query.order((templates::created_at.asc(), templates::id.asc()))
        }
        (SortKey::Created, true) => {
            query.order((templates::created_at.desc(), templates::id.asc()))
        }
        // Unscored templates last either way.
        (SortKey::Quality, false) => query.order((
            templates::quality_score.is_null().asc(),
            templates::quality_score.asc(),
            templates::name.asc(),
        )),
        (SortKey::Quality, true) => query.order((
            templates::quality_score.is_null().asc(),
            templates::quality_score.desc(),
            templates::name.asc(),
        )),
    };
    let rows = query.limit(limit).offset(offset).load(conn)?;
    Ok((rows, total))
}

/// Every template matching `filter` (at most `cap`), for ranking in Rust.
pub fn candidates(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &Filter,
    cap: i64,
) -> QueryResult<Vec<SummaryRow>> {
    filtered(tenant, filter)
        .select(SummaryRow::as_select())
        .order(templates::name.asc())
        .limit(cap)
        .load(conn)
}

/// Stores a quality score if `commit` is still the template's current commit.
pub fn set_quality(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    commit: &str,
    score: f64,
) -> QueryResult<usize> {
    diesel::update(
        templates::table
            .filter(templates::tenant_id.eq(tenant.as_str()))
            .filter(templates::id.eq(id))
            .filter(templates::current_commit.eq(commit)),
    )
    .set((
        templates::quality_score.eq(Some(score)),
        templates::quality_commit.eq(Some(commit)),
    ))
    .execute(conn)
}

/// Templates per category for one tenant, or for all tenants (`None`).
pub fn count_by_category(
    conn: &mut DbConnection,
    tenant: Option<&TenantId>,
) -> QueryResult<Vec<(String, i64)>> {
    let mut query = templates::table
        .group_by(templates::category)
        .select((templates::category, diesel::dsl::count_star()))
        .into_boxed();
    if let Some(tenant) = tenant {
        query = query.filter(templates::tenant_id.eq(tenant.as_str()));
    }
    query.load(conn)
}

pub fn count_all(conn: &mut DbConnection) -> QueryResult<i64> {
    templates::table.count().get_result(conn)
}

pub fn average_quality(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<Option<f64>> {
    templates::table
        .filter(templates::tenant_id.eq(tenant.as_str()))
        .select(diesel::dsl::avg(templates::quality_score))
        .first(conn)
}

pub fn insert_instantiation(
    conn: &mut DbConnection,
    tenant: &TenantId,
    row: &InstantiationRow,
) -> QueryResult<()> {
    debug_assert_eq!(row.tenant_id, tenant.as_str());
    diesel::insert_into(template_instantiations::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn list_instantiations(
    conn: &mut DbConnection,
    tenant: &TenantId,
    template_id: &str,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<InstantiationRow>, i64)> {
    let base = || {
        template_instantiations::table
            .filter(template_instantiations::tenant_id.eq(tenant.as_str()))
            .filter(template_instantiations::template_id.eq(template_id))
    };
    let total = base().count().get_result(conn)?;
    let rows = base()
        .select(InstantiationRow::as_select())
        .order((
            template_instantiations::created_at.desc(),
            template_instantiations::id.desc(),
        ))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

pub fn count_instantiations(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<i64> {
    template_instantiations::table
        .filter(template_instantiations::tenant_id.eq(tenant.as_str()))
        .count()
        .get_result(conn)
}

pub fn find_repo(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<Option<RepoRow>> {
    template_repos::table
        .filter(template_repos::tenant_id.eq(tenant.as_str()))
        .select(RepoRow::as_select())
        .first(conn)
        .optional()
}

/// The tenant's repository row, created empty on first use. Writers hold the tenant's git lock,
/// so the read-then-insert cannot race with another writer of the same tenant.
fn ensure_repo(conn: &mut DbConnection, tenant: &TenantId, now: NaiveDateTime) -> QueryResult<()> {
    if find_repo(conn, tenant)?.is_none() {
        diesel::insert_into(template_repos::table)
            .values(RepoRow {
                tenant_id: tenant.0.clone(),
                head_commit: None,
                remote_url: None,
                remote_branch: None,
                last_sync_at: None,
                last_sync_status: None,
                last_sync_detail: None,
                updated_at: now,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// Records the branch commit the tenant's rows now reflect.
pub fn set_head(
    conn: &mut DbConnection,
    tenant: &TenantId,
    head: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    ensure_repo(conn, tenant, now)?;
    diesel::update(template_repos::table.filter(template_repos::tenant_id.eq(tenant.as_str())))
        .set((
            template_repos::head_commit.eq(head),
            template_repos::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn set_remote(
    conn: &mut DbConnection,
    tenant: &TenantId,
    url: &str,
    branch: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    ensure_repo(conn, tenant, now)?;
    diesel::update(template_repos::table.filter(template_repos::tenant_id.eq(tenant.as_str())))
        .set((
            template_repos::remote_url.eq(Some(url)),
            template_repos::remote_branch.eq(Some(branch)),
            template_repos::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn record_sync(
    conn: &mut DbConnection,
    tenant: &TenantId,
    status: &str,
    detail: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    ensure_repo(conn, tenant, now)?;
    diesel::update(template_repos::table.filter(template_repos::tenant_id.eq(tenant.as_str())))
        .set((
            template_repos::last_sync_at.eq(Some(now)),
            template_repos::last_sync_status.eq(Some(status)),
            template_repos::last_sync_detail.eq(Some(detail)),
        ))
        .execute(conn)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
        assert_eq!(like_pattern("api"), "%api%");
    }
}

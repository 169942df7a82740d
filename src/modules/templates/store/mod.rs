//! Diesel queries for the templates module. Every function takes the connection and the caller's
//! tenant first, and every query filters by that tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::TemplateStatus;
use super::schema::{
    template_changes, template_instantiations, template_repos, template_tags, templates,
};
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
    /// `published`, or `draft` (an import the publish gate refused; hidden from viewers).
    pub status: String,
    /// For a draft: the publish gate's answer (JSON: score, detail, recommendations).
    pub draft_gate: Option<String>,
}

impl TemplateRow {
    pub fn status(&self) -> TemplateStatus {
        TemplateStatus::from_stored(&self.status)
    }
}

/// The columns lists and search need (no manifest or parameter schema).
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
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
    pub file_count: i64,
    pub size_bytes: i64,
    pub has_hooks: bool,
    pub quality_score: Option<f64>,
    pub current_commit: String,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub status: String,
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
    /// The entry that generated the project (`None` on that entry itself).
    pub project_id: Option<String>,
    /// A label or repository URL the caller gave for the project.
    pub project_label: Option<String>,
    /// Update entries (`source = "update"`): the commit the project was updated from.
    pub from_commit: Option<String>,
    /// Update entries: how many conflicts the update left.
    pub conflicts: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = template_repos)]
pub struct RepoRow {
    pub tenant_id: String,
    pub head_commit: Option<String>,
    /// The remote as shown: credentials replaced by `[redacted]` (the URL itself when it holds
    /// none).
    pub remote_url: Option<String>,
    /// The remote with its credentials, sealed for the tenant (`platform::sealed`); `None` when
    /// `remote_url` holds no credentials.
    pub remote_url_sealed: Option<String>,
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

/// Filters every list and search shares. A search's text is matched by the in-process index
/// (`super::index`), never here.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub min_quality: Option<f64>,
    pub author: Option<String>,
    /// Leave drafts out (what viewers see).
    pub published_only: bool,
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
    let seq = next_change(conn, tenant)?;
    let inserted = name_taken_or(
        diesel::insert_into(templates::table)
            .values(row)
            .execute(conn),
    )?;
    if inserted.is_none() {
        return Ok(RowWrite::NameTaken);
    }
    insert_tags(conn, tenant, &row.id, &tags_of(row))?;
    record_change(conn, tenant, &row.id, seq)?;
    Ok(RowWrite::Written)
}

pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    row: &TemplateRow,
) -> QueryResult<RowWrite> {
    let seq = next_change(conn, tenant)?;
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
            record_change(conn, tenant, &row.id, seq)?;
            Ok(RowWrite::Written)
        }
    }
}

pub fn delete(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> QueryResult<usize> {
    let seq = next_change(conn, tenant)?;
    delete_tags(conn, tenant, id)?;
    let deleted = diesel::delete(
        templates::table
            .filter(templates::tenant_id.eq(tenant.as_str()))
            .filter(templates::id.eq(id)),
    )
    .execute(conn)?;
    if deleted > 0 {
        record_change(conn, tenant, id, seq)?;
    }
    Ok(deleted)
}

// ----- the change feed (what the search index follows) -----

/// Takes the tenant's next change number. Every write of a template row calls it first, inside
/// the write's transaction: the update locks the tenant's repository row until the transaction
/// ends, so numbers become visible in the order they were taken (a reader that sees number n
/// sees every number below it), and writers lock that row before any template row, so no two
/// of them wait on each other in opposite orders.
fn next_change(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<i64> {
    let mine = template_repos::table.filter(template_repos::tenant_id.eq(tenant.as_str()));
    // One round trip: the bump returns the number it took.
    let bump = |conn: &mut DbConnection| {
        let bump = diesel::update(mine)
            .set(template_repos::change_seq.eq(template_repos::change_seq + 1))
            .returning(template_repos::change_seq);
        match conn {
            DbConnection::Postgres(c) => bump.get_result::<i64>(c).optional(),
            DbConnection::Sqlite(c) => bump.get_result::<i64>(c).optional(),
        }
    };
    match bump(conn)? {
        Some(seq) => Ok(seq),
        None => {
            ensure_repo(conn, tenant, chrono::Utc::now().naive_utc())?;
            bump(conn)?.ok_or(diesel::result::Error::NotFound)
        }
    }
}

/// Marks template `id` as written at change `seq` (its row, or its absence, is what to load).
fn record_change(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    seq: i64,
) -> QueryResult<()> {
    let at = chrono::Utc::now().naive_utc();
    let row = (
        template_changes::tenant_id.eq(tenant.as_str()),
        template_changes::template_id.eq(id),
        template_changes::seq.eq(seq),
        template_changes::changed_at.eq(at),
    );
    let key = (template_changes::tenant_id, template_changes::template_id);
    let again = (
        template_changes::seq.eq(seq),
        template_changes::changed_at.eq(at),
    );
    match conn {
        DbConnection::Postgres(c) => diesel::insert_into(template_changes::table)
            .values(row)
            .on_conflict(key)
            .do_update()
            .set(again)
            .execute(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(template_changes::table)
            .values(row)
            .on_conflict(key)
            .do_update()
            .set(again)
            .execute(c)?,
    };
    Ok(())
}

/// Deletes the change-feed entries written before `before` (every tenant's); returns how many.
/// Safe once no search index can still need them: an index reads the feed only after its last
/// refresh (`search_index_max_age` at most after its last full comparison), from the counter it
/// read then, so an entry committed before that is behind every such watermark. The caller
/// keeps a wide margin (see `TemplatesService::prune_change_feed`).
pub fn prune_changes(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(template_changes::table.filter(template_changes::changed_at.lt(before)))
        .execute(conn)
}

/// The tenant's last change number (0 before its first write): what a full read of its rows
/// made after this reflects at least.
pub fn change_seq(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<i64> {
    Ok(template_repos::table
        .filter(template_repos::tenant_id.eq(tenant.as_str()))
        .select(template_repos::change_seq)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// The templates written after change `after`, each with its latest change number, in order: an
/// indexed read whose size follows the number of changes, not of templates.
pub fn changes_since(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: i64,
) -> QueryResult<Vec<(String, i64)>> {
    template_changes::table
        .filter(template_changes::tenant_id.eq(tenant.as_str()))
        .filter(template_changes::seq.gt(after))
        .order(template_changes::seq.asc())
        .select((template_changes::template_id, template_changes::seq))
        .load(conn)
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
    if unique.is_empty() {
        return Ok(());
    }
    // One statement for all of them (a round trip each is what a write waits for on PostgreSQL).
    let rows: Vec<_> = unique
        .into_iter()
        .map(|tag| {
            (
                template_tags::template_id.eq(id),
                template_tags::tenant_id.eq(tenant.as_str()),
                template_tags::tag.eq(tag),
            )
        })
        .collect();
    let insert = diesel::insert_into(template_tags::table).values(&rows);
    match conn {
        DbConnection::Postgres(c) => insert.execute(c)?,
        DbConnection::Sqlite(c) => insert.execute(c)?,
    };
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The [`SummaryRow`] columns of `templates t`.
const SUMMARY_COLUMNS: &str = "t.id, t.name, t.category, t.version, t.description, t.author, \
     t.tags, t.format, t.file_count, t.size_bytes, t.has_hooks, t.quality_score, \
     t.current_commit, t.created_by, t.updated_by, t.created_at, t.updated_at, t.status";

enum Bind {
    Text(String),
    Double(f64),
    BigInt(i64),
}

/// SQL text with its bind values; placeholders as the backend spells them.
struct Sql {
    postgres: bool,
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn new(conn: &DbConnection) -> Sql {
        Sql {
            postgres: matches!(conn, DbConnection::Postgres(_)),
            text: String::with_capacity(1024),
            binds: Vec::new(),
        }
    }

    fn push(&mut self, sql: &str) -> &mut Sql {
        self.text.push_str(sql);
        self
    }

    fn bind(&mut self, value: Bind) -> &mut Sql {
        self.binds.push(value);
        if self.postgres {
            self.text.push_str(&format!("${}", self.binds.len()));
        } else {
            self.text.push('?');
        }
        self
    }

    fn text(&mut self, value: &str) -> &mut Sql {
        self.bind(Bind::Text(value.to_string()))
    }

    fn load<T>(self, conn: &mut DbConnection) -> QueryResult<Vec<T>>
    where
        T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
    {
        macro_rules! run {
            ($conn:expr) => {{
                let mut query = diesel::sql_query(self.text).into_boxed();
                for bind in self.binds {
                    query = match bind {
                        Bind::Text(v) => query.bind::<diesel::sql_types::Text, _>(v),
                        Bind::Double(v) => query.bind::<diesel::sql_types::Double, _>(v),
                        Bind::BigInt(v) => query.bind::<diesel::sql_types::BigInt, _>(v),
                    };
                }
                query.load::<T>($conn)
            }};
        }
        match conn {
            DbConnection::Postgres(c) => run!(c),
            DbConnection::Sqlite(c) => run!(c),
        }
    }

    /// ` WHERE …` with the tenant and every filter, for `templates t`.
    fn filters(&mut self, tenant: &TenantId, filter: &Filter) -> &mut Sql {
        self.push(" WHERE t.tenant_id = ").text(tenant.as_str());
        if let Some(category) = &filter.category {
            self.push(" AND t.category = ").text(category);
        }
        if let Some(min) = filter.min_quality {
            self.push(" AND t.quality_score >= ")
                .bind(Bind::Double(min));
        }
        if let Some(author) = &filter.author {
            self.push(" AND t.author = ").text(author);
        }
        if filter.published_only {
            self.push(" AND t.status = ")
                .text(TemplateStatus::Published.as_str());
        }
        for tag in &filter.tags {
            self.push(" AND t.id IN (SELECT template_id FROM template_tags WHERE tenant_id = ")
                .text(tenant.as_str())
                .push(" AND tag = ")
                .text(tag)
                .push(")");
        }
        self
    }

    fn page(&mut self, limit: i64, offset: i64) -> &mut Sql {
        self.push(" LIMIT ")
            .bind(Bind::BigInt(limit))
            .push(" OFFSET ")
            .bind(Bind::BigInt(offset))
    }
}

/// One page of the tenant's templates matching `filter`, sorted by `sort`, plus how many match
/// in all (lists without text; a text search is the index's).
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &Filter,
    sort: SortKey,
    descending: bool,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<SummaryRow>, i64)> {
    let mut count = Sql::new(conn);
    count
        .push("SELECT count(*) AS n FROM templates t")
        .filters(tenant, filter);
    let total = count.load::<Count>(conn)?.first().map_or(0, |c| c.n);
    let mut sql = Sql::new(conn);
    sql.push(&format!("SELECT {SUMMARY_COLUMNS} FROM templates t"))
        .filters(tenant, filter);
    let direction = if descending { "DESC" } else { "ASC" };
    sql.push(&match sort {
        SortKey::Name => format!(" ORDER BY t.name {direction}, t.id"),
        SortKey::Updated => format!(" ORDER BY t.updated_at {direction}, t.id"),
        SortKey::Created => format!(" ORDER BY t.created_at {direction}, t.id"),
        // Unscored templates last either way.
        SortKey::Quality => {
            format!(" ORDER BY t.quality_score IS NULL, t.quality_score {direction}, t.name, t.id")
        }
    })
    .page(limit, offset);
    Ok((sql.load::<SummaryRow>(conn)?, total))
}

/// What tells the search index that a template changed: id, `updated_at`, current commit,
/// quality score and status (scoring and publishing leave `updated_at` as it is).
pub type Stamp = (String, NaiveDateTime, String, Option<f64>, String);

/// The [`Stamp`] of every template of the tenant: a narrow scan, so that the search index
/// loads only what changed.
pub fn stamps(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<Stamp>> {
    templates::table
        .filter(templates::tenant_id.eq(tenant.as_str()))
        .select((
            templates::id,
            templates::updated_at,
            templates::current_commit,
            templates::quality_score,
            templates::status,
        ))
        .load(conn)
}

/// Summaries of the tenant's templates: all of them, or those of `ids` that exist.
pub fn summaries(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: Option<&[String]>,
) -> QueryResult<Vec<SummaryRow>> {
    let base = || {
        templates::table
            .filter(templates::tenant_id.eq(tenant.as_str()))
            .select(SummaryRow::as_select())
    };
    let Some(ids) = ids else {
        return base().load(conn);
    };
    let mut rows = Vec::with_capacity(ids.len());
    // Bounded batches: both backends limit the bind parameters of one statement.
    for chunk in ids.chunks(1000) {
        rows.extend(base().filter(templates::id.eq_any(chunk)).load(conn)?);
    }
    Ok(rows)
}

/// Stores a quality score if `commit` is still the template's current commit.
pub fn set_quality(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    commit: &str,
    score: f64,
) -> QueryResult<usize> {
    let seq = next_change(conn, tenant)?;
    let stored = diesel::update(
        templates::table
            .filter(templates::tenant_id.eq(tenant.as_str()))
            .filter(templates::id.eq(id))
            .filter(templates::current_commit.eq(commit)),
    )
    .set((
        templates::quality_score.eq(Some(score)),
        templates::quality_commit.eq(Some(commit)),
    ))
    .execute(conn)?;
    if stored > 0 {
        record_change(conn, tenant, id, seq)?;
    }
    Ok(stored)
}

/// Templates per category for one tenant, or for all tenants (`None`).
pub fn count_by_category(
    conn: &mut DbConnection,
    tenant: Option<&TenantId>,
    published_only: bool,
) -> QueryResult<Vec<(String, i64)>> {
    let mut query = templates::table
        .group_by(templates::category)
        .select((templates::category, diesel::dsl::count_star()))
        .into_boxed();
    if let Some(tenant) = tenant {
        query = query.filter(templates::tenant_id.eq(tenant.as_str()));
    }
    if published_only {
        query = query.filter(templates::status.eq(TemplateStatus::Published.as_str()));
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

/// Every ledger entry of one template (drift: the latest entry per project), oldest first.
pub fn all_instantiations(
    conn: &mut DbConnection,
    tenant: &TenantId,
    template_id: Option<&str>,
) -> QueryResult<Vec<InstantiationRow>> {
    let mut query = template_instantiations::table
        .filter(template_instantiations::tenant_id.eq(tenant.as_str()))
        .into_boxed();
    if let Some(id) = template_id {
        query = query.filter(template_instantiations::template_id.eq(id.to_string()));
    }
    query
        .select(InstantiationRow::as_select())
        .order((
            template_instantiations::created_at.asc(),
            template_instantiations::id.asc(),
        ))
        .load(conn)
}

/// The whole ledger, every tenant, oldest first (the projects-behind gauge).
pub fn every_instantiation(conn: &mut DbConnection) -> QueryResult<Vec<InstantiationRow>> {
    template_instantiations::table
        .select(InstantiationRow::as_select())
        .order((
            template_instantiations::created_at.asc(),
            template_instantiations::id.asc(),
        ))
        .load(conn)
}

/// `(tenant, id, name, current commit)` of every template (the projects-behind gauge).
pub fn every_current_commit(
    conn: &mut DbConnection,
) -> QueryResult<Vec<(String, String, String, String)>> {
    templates::table
        .select((
            templates::tenant_id,
            templates::id,
            templates::name,
            templates::current_commit,
        ))
        .load(conn)
}

/// One ledger entry by id.
pub fn find_instantiation(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<InstantiationRow>> {
    template_instantiations::table
        .filter(template_instantiations::tenant_id.eq(tenant.as_str()))
        .filter(template_instantiations::id.eq(id))
        .select(InstantiationRow::as_select())
        .first(conn)
        .optional()
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

/// The tenant's repository row, created empty on first use (an upsert: scores and publications
/// reach it without the tenant's git lock).
fn ensure_repo(conn: &mut DbConnection, tenant: &TenantId, now: NaiveDateTime) -> QueryResult<()> {
    let row = RepoRow {
        tenant_id: tenant.0.clone(),
        head_commit: None,
        remote_url: None,
        remote_url_sealed: None,
        remote_branch: None,
        last_sync_at: None,
        last_sync_status: None,
        last_sync_detail: None,
        updated_at: now,
    };
    match conn {
        DbConnection::Postgres(c) => diesel::insert_into(template_repos::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(template_repos::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(())
}

/// A change to the tenant's repository row; a `None` field leaves its column as it is.
#[derive(Default, AsChangeset)]
#[diesel(table_name = template_repos)]
struct RepoChange<'a> {
    head_commit: Option<Option<&'a str>>,
    remote_url: Option<&'a str>,
    remote_url_sealed: Option<Option<&'a str>>,
    remote_branch: Option<&'a str>,
    last_sync_at: Option<NaiveDateTime>,
    last_sync_status: Option<&'a str>,
    last_sync_detail: Option<&'a str>,
    updated_at: Option<NaiveDateTime>,
}

/// Applies `change` to the tenant's repository row, creating the row first.
fn update_repo(
    conn: &mut DbConnection,
    tenant: &TenantId,
    now: NaiveDateTime,
    change: RepoChange<'_>,
) -> QueryResult<()> {
    let mine = template_repos::table.filter(template_repos::tenant_id.eq(tenant.as_str()));
    // Nearly always there: update first, create only when nothing was updated.
    if diesel::update(mine).set(&change).execute(conn)? == 0 {
        ensure_repo(conn, tenant, now)?;
        diesel::update(mine).set(&change).execute(conn)?;
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
    let change = RepoChange {
        head_commit: Some(head),
        updated_at: Some(now),
        ..RepoChange::default()
    };
    update_repo(conn, tenant, now, change)
}

/// Stores the tenant's remote: `shown` without credentials, `sealed` the URL with them (`None`
/// when it has none).
pub fn set_remote(
    conn: &mut DbConnection,
    tenant: &TenantId,
    shown: &str,
    sealed: Option<&str>,
    branch: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let change = RepoChange {
        remote_url: Some(shown),
        remote_url_sealed: Some(sealed),
        remote_branch: Some(branch),
        updated_at: Some(now),
        ..RepoChange::default()
    };
    update_repo(conn, tenant, now, change)
}

/// Remotes stored before credentials were sealed that may hold some (tenant, URL): those with
/// a user part and nothing sealed.
pub fn unsealed_remotes(conn: &mut DbConnection) -> QueryResult<Vec<(String, String)>> {
    let rows: Vec<(String, Option<String>)> = template_repos::table
        .filter(template_repos::remote_url_sealed.is_null())
        .filter(template_repos::remote_url.like("%@%"))
        .select((template_repos::tenant_id, template_repos::remote_url))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(tenant, url)| Some((tenant, url?)))
        .collect())
}

/// Replaces a remote stored in the clear with its shown and sealed forms, unless it changed
/// meanwhile (`plain` is what was read).
pub fn seal_remote(
    conn: &mut DbConnection,
    tenant: &TenantId,
    plain: &str,
    shown: &str,
    sealed: &str,
) -> QueryResult<bool> {
    let changed = diesel::update(
        template_repos::table
            .filter(template_repos::tenant_id.eq(tenant.as_str()))
            .filter(template_repos::remote_url.eq(plain))
            .filter(template_repos::remote_url_sealed.is_null()),
    )
    .set((
        template_repos::remote_url.eq(shown),
        template_repos::remote_url_sealed.eq(sealed),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn record_sync(
    conn: &mut DbConnection,
    tenant: &TenantId,
    status: &str,
    detail: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let change = RepoChange {
        last_sync_at: Some(now),
        last_sync_status: Some(status),
        last_sync_detail: Some(detail),
        ..RepoChange::default()
    };
    update_repo(conn, tenant, now, change)
}

// ----- template sources (issue 14: imports from git) -----

use super::schema::template_sources;

/// Where an imported template comes from.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = template_sources)]
#[diesel(treat_none_as_null = true)]
pub struct SourceRow {
    pub template_id: String,
    pub tenant_id: String,
    pub url: String,
    pub git_ref: Option<String>,
    pub path: String,
    pub commit_id: String,
    pub imported_at: NaiveDateTime,
}

pub fn find_source(
    conn: &mut DbConnection,
    tenant: &TenantId,
    template_id: &str,
) -> QueryResult<Option<SourceRow>> {
    template_sources::table
        .filter(template_sources::tenant_id.eq(tenant.as_str()))
        .filter(template_sources::template_id.eq(template_id))
        .select(SourceRow::as_select())
        .first(conn)
        .optional()
}

/// The template (still in the registry) imported from `url` and `path`.
pub fn find_by_source(
    conn: &mut DbConnection,
    tenant: &TenantId,
    url: &str,
    path: &str,
) -> QueryResult<Option<SourceRow>> {
    template_sources::table
        .inner_join(templates::table.on(templates::id.eq(template_sources::template_id)))
        .filter(template_sources::tenant_id.eq(tenant.as_str()))
        .filter(templates::tenant_id.eq(tenant.as_str()))
        .filter(template_sources::url.eq(url))
        .filter(template_sources::path.eq(path))
        .select(SourceRow::as_select())
        .first(conn)
        .optional()
}

/// Records (or replaces) where a template comes from.
pub fn put_source(conn: &mut DbConnection, tenant: &TenantId, row: &SourceRow) -> QueryResult<()> {
    diesel::delete(
        template_sources::table
            .filter(template_sources::tenant_id.eq(tenant.as_str()))
            .filter(template_sources::template_id.eq(&row.template_id)),
    )
    .execute(conn)?;
    diesel::insert_into(template_sources::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

// ----- drafts (issue 14) -----

use super::schema::template_publications;

/// A draft published (by a pass of the gate, or forced by an admin).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = template_publications)]
pub struct PublicationRow {
    pub id: String,
    pub tenant_id: String,
    pub template_id: String,
    pub commit_id: String,
    pub actor: String,
    pub quality_score: Option<i64>,
    pub forced_reason: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Marks a draft published and records who did it; false when it is no longer a draft at that
/// commit.
pub fn publish(
    conn: &mut DbConnection,
    tenant: &TenantId,
    row: &PublicationRow,
) -> QueryResult<bool> {
    let seq = next_change(conn, tenant)?;
    let changed = diesel::update(
        templates::table
            .filter(templates::tenant_id.eq(tenant.as_str()))
            .filter(templates::id.eq(&row.template_id))
            .filter(templates::current_commit.eq(&row.commit_id))
            .filter(templates::status.eq(TemplateStatus::Draft.as_str())),
    )
    .set((
        templates::status.eq(TemplateStatus::Published.as_str()),
        templates::draft_gate.eq(None::<String>),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    record_change(conn, tenant, &row.template_id, seq)?;
    diesel::insert_into(template_publications::table)
        .values(row)
        .execute(conn)?;
    Ok(true)
}

#[cfg(test)]
mod tests;

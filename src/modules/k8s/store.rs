//! Diesel rows and queries of the k8s module. Every function takes the caller's tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{k8s_environments, k8s_leases};
use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;
use crate::platform::http::pagination::PageQuery;

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
}

/// Inserts the row unless the id (or the namespace) exists; returns whether it was written.
/// An upsert, not insert-and-catch: on PostgreSQL a unique violation aborts the transaction.
pub fn insert_environment(conn: &mut DbConnection, row: &EnvironmentRow) -> QueryResult<bool> {
    let written = match conn {
        DbConnection::Postgres(c) => diesel::insert_into(k8s_environments::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(k8s_environments::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(written > 0)
}

pub fn get_environment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<EnvironmentRow>> {
    k8s_environments::table
        .filter(k8s_environments::tenant_id.eq(tenant.as_str()))
        .filter(k8s_environments::id.eq(id))
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
    page: &PageQuery,
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
        .limit(page.limit())
        .offset(page.offset())
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
    diesel::update(
        k8s_environments::table
            .filter(k8s_environments::tenant_id.eq(tenant.as_str()))
            .filter(k8s_environments::id.eq(id))
            .filter(k8s_environments::deleted_at.is_null()),
    )
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
    diesel::update(
        k8s_environments::table
            .filter(k8s_environments::tenant_id.eq(tenant.as_str()))
            .filter(k8s_environments::id.eq(id)),
    )
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
    diesel::update(
        k8s_environments::table
            .filter(k8s_environments::tenant_id.eq(tenant.as_str()))
            .filter(k8s_environments::id.eq(id)),
    )
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
    let inserted = match conn {
        DbConnection::Postgres(c) => diesel::insert_into(k8s_leases::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(k8s_leases::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
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

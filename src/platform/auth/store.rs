//! Diesel queries for tenants, users and refresh tokens. Every user query that an API caller can
//! reach takes the caller's tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;
use crate::platform::db::schema::{refresh_tokens, tenants, users};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub id: String,
    pub token_hash: String,
    pub family_id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn find_tenant_by_name(conn: &mut DbConnection, name: &str) -> QueryResult<Option<TenantRow>> {
    tenants::table
        .filter(tenants::name.eq(name))
        .select(TenantRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_tenant(conn: &mut DbConnection, id: &str) -> QueryResult<Option<TenantRow>> {
    tenants::table
        .find(id)
        .select(TenantRow::as_select())
        .first(conn)
        .optional()
}

/// Finds the tenant by name or creates it (safe against a concurrent creator).
pub fn ensure_tenant(
    conn: &mut DbConnection,
    name: &str,
    now: NaiveDateTime,
) -> QueryResult<TenantRow> {
    if let Some(existing) = find_tenant_by_name(conn, name)? {
        return Ok(existing);
    }
    let row = TenantRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        created_at: now,
    };
    match diesel::insert_into(tenants::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => Ok(row),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => find_tenant_by_name(conn, name)?.ok_or(diesel::result::Error::NotFound),
        Err(e) => Err(e),
    }
}

pub fn find_user_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_user(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::tenant_id.eq(tenant.as_str()))
        .filter(users::id.eq(id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_users(
    conn: &mut DbConnection,
    tenant: &TenantId,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<UserRow>, i64)> {
    let total = users::table
        .filter(users::tenant_id.eq(tenant.as_str()))
        .count()
        .get_result(conn)?;
    let rows = users::table
        .filter(users::tenant_id.eq(tenant.as_str()))
        .order((users::email.asc(), users::id.asc()))
        .limit(limit)
        .offset(offset)
        .select(UserRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// All users with their tenant names (CLI `user list`), optionally for one tenant.
pub fn list_all_users(
    conn: &mut DbConnection,
    tenant_name: Option<&str>,
) -> QueryResult<Vec<(UserRow, String)>> {
    let mut query = users::table
        .inner_join(tenants::table)
        .select((UserRow::as_select(), tenants::name))
        .order((tenants::name.asc(), users::email.asc()))
        .into_boxed();
    if let Some(name) = tenant_name {
        query = query.filter(tenants::name.eq(name.to_string()));
    }
    query.load(conn)
}

pub fn count_users(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<i64> {
    users::table
        .filter(users::tenant_id.eq(tenant.as_str()))
        .count()
        .get_result(conn)
}

pub fn count_admins(conn: &mut DbConnection, tenant: &TenantId) -> QueryResult<i64> {
    users::table
        .filter(users::tenant_id.eq(tenant.as_str()))
        .filter(users::role.eq("admin"))
        .count()
        .get_result(conn)
}

pub fn insert_user(conn: &mut DbConnection, row: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update_role(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    role: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        users::table
            .filter(users::tenant_id.eq(tenant.as_str()))
            .filter(users::id.eq(id)),
    )
    .set((users::role.eq(role), users::updated_at.eq(now)))
    .execute(conn)
}

pub fn delete_user(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> QueryResult<usize> {
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::user_id.eq(id))).execute(conn)?;
    diesel::delete(
        users::table
            .filter(users::tenant_id.eq(tenant.as_str()))
            .filter(users::id.eq(id)),
    )
    .execute(conn)
}

pub fn insert_refresh_token(conn: &mut DbConnection, row: &RefreshTokenRow) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_refresh_token(
    conn: &mut DbConnection,
    hash: &str,
) -> QueryResult<Option<RefreshTokenRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()
}

/// Marks a live token as used; 0 rows means someone else used or revoked it first.
pub fn mark_rotated(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(now))
    .execute(conn)
}

pub fn revoke_family(
    conn: &mut DbConnection,
    family_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Whether the sign-in (refresh-token family) was revoked (signed out, or a reused token).
pub fn family_revoked(conn: &mut DbConnection, family_id: &str) -> QueryResult<bool> {
    use diesel::dsl::exists;
    diesel::select(exists(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_not_null()),
    ))
    .get_result(conn)
}

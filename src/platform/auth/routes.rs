//! `/api/v1/auth/*` and `/api/v1/admin/users*`.

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::{TokenPair, UserView};
use super::{Admin, AuthService, AuthSource, Authorized, Role, Viewer};
use crate::platform::http::error::ApiResult;
use crate::platform::http::openapi::{AdminErrors, ApiErrors, JsonBodyErrors};
use crate::platform::http::pagination::{Page, PageQuery};

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(example = "admin@example.com")]
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user_id: String,
    pub email: Option<String>,
    pub tenant_id: String,
    pub tenant_name: Option<String>,
    /// The role you act with (with RBAC off, everyone acts as editor).
    pub role: Role,
    pub source: AuthSource,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub email: String,
    pub password: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetRoleRequest {
    pub role: Role,
}

crate::problem_responses! {
    struct UserNotFound = [404 => "No such user in your tenant"];
    struct EmailTaken = [409 => "The email is already used"];
    struct LastAdmin = [409 => "Would leave the tenant without an admin"];
    struct CannotDelete = [409 => "You cannot delete yourself or the last admin"];
    struct UserRejected = [422 => "Invalid email or weak password"];
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_token)
        .service(refresh)
        .service(logout)
        .service(me)
        .service(list_users)
        .service(create_user)
        .service(get_user)
        .service(set_role)
        .service(delete_user);
}

/// Sign in with email and password.
#[utoipa::path(
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Access and refresh tokens", body = TokenPair),
        ApiErrors, JsonBodyErrors,
    ),
    security(())
)]
#[post("/api/v1/auth/token")]
async fn issue_token(
    auth: web::Data<AuthService>,
    body: web::Json<TokenRequest>,
) -> ApiResult<web::Json<TokenPair>> {
    Ok(web::Json(auth.login(&body.email, &body.password).await?))
}

/// Exchange a refresh token for a new pair (the old refresh token stops working; reusing it
/// revokes the whole sign-in).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New access and refresh tokens", body = TokenPair),
        ApiErrors, JsonBodyErrors,
    ),
    security(())
)]
#[post("/api/v1/auth/refresh")]
async fn refresh(
    auth: web::Data<AuthService>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<web::Json<TokenPair>> {
    Ok(web::Json(auth.refresh(&body.refresh_token).await?))
}

/// Sign out: revokes the refresh token and every token rotated from the same sign-in.
/// Access tokens stay valid until they expire (at most `auth.access_token_ttl_secs`).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
        ApiErrors, JsonBodyErrors,
    ),
    security(())
)]
#[post("/api/v1/auth/logout")]
async fn logout(
    auth: web::Data<AuthService>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    auth.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who am I: the caller as Maestro sees them.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/auth/me")]
async fn me(
    caller: Authorized<Viewer>,
    auth: web::Data<AuthService>,
) -> ApiResult<web::Json<MeResponse>> {
    let p = &caller.principal;
    Ok(web::Json(MeResponse {
        user_id: p.user_id.clone(),
        email: p.email.clone(),
        tenant_id: p.tenant_id.0.clone(),
        tenant_name: auth.tenant_name(&p.tenant_id).await?,
        role: p.role,
        source: p.source,
    }))
}

/// List the users of your tenant.
#[utoipa::path(
    tag = "admin",
    params(PageQuery),
    responses(
        (status = 200, description = "Users of the caller's tenant", body = Page<UserView>),
        AdminErrors,
    ),
    security(("bearer" = ["admin"]))
)]
#[get("/api/v1/admin/users")]
async fn list_users(
    caller: Authorized<Admin>,
    auth: web::Data<AuthService>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<UserView>>> {
    Ok(web::Json(auth.list_users(caller.tenant(), &page).await?))
}

/// Create a user in your tenant.
#[utoipa::path(
    tag = "admin",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        AdminErrors, JsonBodyErrors, EmailTaken, UserRejected,
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/api/v1/admin/users")]
async fn create_user(
    caller: Authorized<Admin>,
    auth: web::Data<AuthService>,
    body: web::Json<CreateUserRequest>,
) -> ApiResult<HttpResponse> {
    let user = auth
        .create_user(caller.tenant(), &body.email, &body.password, body.role)
        .await?;
    Ok(HttpResponse::Created().json(user))
}

/// One user of your tenant (another tenant's user is a 404).
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        AdminErrors, UserNotFound,
    ),
    security(("bearer" = ["admin"]))
)]
#[get("/api/v1/admin/users/{id}")]
async fn get_user(
    caller: Authorized<Admin>,
    auth: web::Data<AuthService>,
    id: web::Path<String>,
) -> ApiResult<web::Json<UserView>> {
    Ok(web::Json(auth.get_user(caller.tenant(), &id).await?))
}

/// Change a user's role.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "User id")),
    request_body = SetRoleRequest,
    responses(
        (status = 200, description = "Updated user", body = UserView),
        AdminErrors, JsonBodyErrors, UserNotFound, LastAdmin,
    ),
    security(("bearer" = ["admin"]))
)]
#[put("/api/v1/admin/users/{id}/role")]
async fn set_role(
    caller: Authorized<Admin>,
    auth: web::Data<AuthService>,
    id: web::Path<String>,
    body: web::Json<SetRoleRequest>,
) -> ApiResult<web::Json<UserView>> {
    Ok(web::Json(
        auth.set_role(caller.tenant(), &id, body.role).await?,
    ))
}

/// Delete a user of your tenant.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        AdminErrors, UserNotFound, CannotDelete,
    ),
    security(("bearer" = ["admin"]))
)]
#[delete("/api/v1/admin/users/{id}")]
async fn delete_user(
    caller: Authorized<Admin>,
    auth: web::Data<AuthService>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    auth.delete_user(&caller.principal, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

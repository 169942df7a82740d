//! Authentication and authorization. The [`middleware`] reads the bearer token once per request
//! and stores the caller; handlers declare the role they need by taking `Authorized<Viewer>`,
//! `Authorized<Editor>` or `Authorized<Admin>` as their first argument, so a missing or bad token
//! is a 401 before any body is read, and a handler without a role check does not compile into
//! a reachable, authenticated endpoint.

pub mod jwt;
pub mod middleware;
pub mod oidc;
pub mod passwords;
pub mod routes;
pub mod service;
mod store;

use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::http::error::ApiError;

pub use service::AuthService;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Role> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A tenant's id. Only ever taken from the authenticated [`Principal`] (or the CLI), so every
/// store call that takes one is scoped to the caller's tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct TenantId(pub String);

impl TenantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthSource {
    /// A Maestro-issued token for a local user.
    Local,
    /// A token from the configured external OIDC issuer.
    Oidc,
}

/// The authenticated caller.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Principal {
    /// Local user id, or the OIDC `sub`.
    pub user_id: String,
    pub tenant_id: TenantId,
    pub email: Option<String>,
    /// The role the caller acts with on this request (see `auth.rbac`).
    pub role: Role,
    pub source: AuthSource,
}

impl Principal {
    /// Who to name as the author of changes (git commits, audit entries).
    pub fn display_name(&self) -> String {
        self.email.clone().unwrap_or_else(|| self.user_id.clone())
    }
}

/// Stored in request extensions by the middleware.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub principal: Principal,
    pub rbac: bool,
}

/// A role requirement, used as the type parameter of [`Authorized`].
pub trait RoleRequirement {
    const ROLE: Role;
}

/// Any authenticated caller in the tenant (read access).
pub struct Viewer;
/// Callers who may create and change objects.
pub struct Editor;
/// Tenant administrators.
pub struct Admin;

impl RoleRequirement for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl RoleRequirement for Editor {
    const ROLE: Role = Role::Editor;
}
impl RoleRequirement for Admin {
    const ROLE: Role = Role::Admin;
}

/// The caller, checked against role `R`. Take it as the first handler argument.
pub struct Authorized<R: RoleRequirement> {
    pub principal: Principal,
    _role: PhantomData<R>,
}

impl<R: RoleRequirement> Authorized<R> {
    pub fn tenant(&self) -> &TenantId {
        &self.principal.tenant_id
    }
}

impl<R: RoleRequirement> std::ops::Deref for Authorized<R> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

/// Applies the role rules: admin endpoints always need a real admin; with RBAC off every caller
/// acts at least as an editor on every other endpoint, and an admin stays an admin.
pub(crate) fn authorize(auth: &Authenticated, required: Role) -> Result<Principal, ApiError> {
    let mut principal = auth.principal.clone();
    if required == Role::Admin {
        if principal.role != Role::Admin {
            return Err(ApiError::forbidden(
                "This endpoint needs the admin role in your tenant.",
            ));
        }
        return Ok(principal);
    }
    if !auth.rbac {
        principal.role = principal.role.max(Role::Editor);
        return Ok(principal);
    }
    if principal.role < required {
        return Err(ApiError::forbidden(format!(
            "This endpoint needs the {required} role; you are {}.",
            principal.role
        )));
    }
    Ok(principal)
}

impl<R: RoleRequirement> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let result = match req.extensions().get::<Authenticated>() {
            None => Err(ApiError::unauthorized(
                "Authentication required: send `Authorization: Bearer <access token>` (get one from POST /api/v1/auth/token).",
            )),
            Some(auth) => authorize(auth, R::ROLE).map(|principal| Authorized {
                principal,
                _role: PhantomData,
            }),
        };
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(role: Role, rbac: bool) -> Authenticated {
        Authenticated {
            principal: Principal {
                user_id: "u".into(),
                tenant_id: TenantId("t".into()),
                email: None,
                role,
                source: AuthSource::Local,
            },
            rbac,
        }
    }

    #[test]
    fn roles_are_ordered_and_checked() {
        assert!(authorize(&auth(Role::Viewer, true), Role::Viewer).is_ok());
        assert_eq!(
            authorize(&auth(Role::Viewer, true), Role::Editor)
                .unwrap_err()
                .status
                .as_u16(),
            403
        );
        assert!(authorize(&auth(Role::Editor, true), Role::Editor).is_ok());
        assert!(authorize(&auth(Role::Editor, true), Role::Admin).is_err());
        assert!(authorize(&auth(Role::Admin, true), Role::Admin).is_ok());
    }

    #[test]
    fn without_rbac_everyone_acts_at_least_as_editor_and_admins_stay_admins() {
        let p = authorize(&auth(Role::Viewer, false), Role::Editor).unwrap();
        assert_eq!(p.role, Role::Editor);
        let p = authorize(&auth(Role::Editor, false), Role::Viewer).unwrap();
        assert_eq!(p.role, Role::Editor);
        let p = authorize(&auth(Role::Admin, false), Role::Viewer).unwrap();
        assert_eq!(p.role, Role::Admin, "admins stay admins");
        let p = authorize(&auth(Role::Admin, false), Role::Editor).unwrap();
        assert_eq!(p.role, Role::Admin);
        assert!(authorize(&auth(Role::Editor, false), Role::Admin).is_err());
        assert!(authorize(&auth(Role::Admin, false), Role::Admin).is_ok());
    }
}

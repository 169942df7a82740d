//! Users, tenants and tokens: login, refresh-token rotation with reuse detection, logout, and
//! resolving a bearer token into a [`Principal`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::jwt::LocalTokens;
use super::oidc::OidcVerifier;
use super::store::{self, RefreshTokenRow, TenantRow, UserRow};
use super::{AuthSource, Principal, Role, TenantId, passwords};
use crate::config::AuthSettings;
use crate::platform::blocking::run_blocking;
use crate::platform::cache::Cache;
use crate::platform::db::Db;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::pagination::{Page, PageQuery};

/// Longest time a resolved user (role, tenant) or sign-in state is kept in-process for token
/// checks. Role changes, deletions and sign-outs drop it at once on every replica (through the
/// platform cache's channel); this and `cache.local_ttl` bound staleness when that channel is
/// down (see `Identities`).
const IDENTITY_TTL: Duration = Duration::from_secs(60);
/// Cache topics of identity evictions.
const USER_TOPIC: &str = "auth.user";
const SESSION_TOPIC: &str = "auth.session";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        UserView {
            role: Role::parse(&row.role).unwrap_or(Role::Viewer),
            id: row.id,
            tenant_id: row.tenant_id,
            email: row.email,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

impl UserView {
    /// The principal this local user acts as, with their role.
    pub fn into_principal(self) -> Principal {
        Principal {
            tenant_id: TenantId(self.tenant_id),
            user_id: self.id,
            email: Some(self.email),
            role: self.role,
            source: AuthSource::Local,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedUser {
    tenant_id: String,
    email: String,
    role: Role,
}

/// Who a token's subject is, and whether a sign-in was revoked, kept in-process so an
/// authenticated request needs no database or Redis call. Entries live at most 60 s; with Redis
/// one older than `cache.local_ttl` is used only while the invalidation channel is proven live
/// (`Cache::trusts`), the same bound as cached responses. They are dropped on role change,
/// deletion, sign-out and
/// refresh-token reuse (on every replica through the platform cache's channel), and entirely
/// whenever the cache moves to a new epoch (Redis back after an outage).
#[derive(Clone)]
struct Identities {
    /// User id → (when cached, who).
    users: moka::sync::Cache<String, (Instant, CachedUser)>,
    /// Sign-in (refresh-token family) id → (when cached, revoked).
    sessions: moka::sync::Cache<String, (Instant, bool)>,
    /// Counts evictions: a lookup that raced one does not cache what it read.
    evictions: Arc<AtomicU64>,
}

impl Identities {
    fn new(cache: &Cache) -> Identities {
        let ttl = IDENTITY_TTL;
        let identities = Identities {
            users: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            sessions: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            evictions: Arc::new(AtomicU64::new(0)),
        };
        let (users, evictions) = (identities.users.clone(), identities.evictions.clone());
        cache.on_evict(USER_TOPIC, move |id| {
            evictions.fetch_add(1, Ordering::AcqRel);
            match id {
                Some(id) => users.invalidate(id),
                None => users.invalidate_all(),
            }
        });
        let (sessions, evictions) = (identities.sessions.clone(), identities.evictions.clone());
        cache.on_evict(SESSION_TOPIC, move |id| {
            evictions.fetch_add(1, Ordering::AcqRel);
            match id {
                Some(id) => sessions.invalidate(id),
                None => sessions.invalidate_all(),
            }
        });
        identities
    }

    fn mark(&self) -> u64 {
        self.evictions.load(Ordering::Acquire)
    }

    fn unchanged_since(&self, mark: u64) -> bool {
        self.evictions.load(Ordering::Acquire) == mark
    }
}

#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cache: Cache,
    identities: Identities,
    tokens: LocalTokens,
    oidc: Option<OidcVerifier>,
    rbac: bool,
    refresh_ttl: chrono::Duration,
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "mrt_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Lowercased, trimmed email, or a message saying what is wrong with it.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_ascii_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err("must be an email address like dev@example.com".to_string())
    }
}

/// Tenant names: lowercase letters, digits, `-` and `_`, starting with a letter or digit.
pub fn validate_tenant_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(
            "must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
                .into(),
        )
    }
}

impl AuthService {
    pub fn new(settings: &AuthSettings, db: Db, cache: Cache) -> anyhow::Result<Self> {
        let oidc = if settings.oidc.enabled() {
            Some(OidcVerifier::new(settings.oidc.clone())?)
        } else {
            None
        };
        Ok(AuthService {
            inner: Arc::new(Inner {
                db,
                identities: Identities::new(&cache),
                cache,
                tokens: LocalTokens::new(
                    &settings.secret_key,
                    &settings.issuer,
                    &settings.audience,
                    settings.access_token_ttl_secs,
                ),
                oidc,
                rbac: settings.rbac,
                refresh_ttl: chrono::Duration::seconds(settings.refresh_token_ttl_secs as i64),
            }),
        })
    }

    pub fn rbac(&self) -> bool {
        self.inner.rbac
    }

    /// `POST /auth/token`: email + password → token pair.
    pub async fn login(&self, email: &str, password: &str) -> ApiResult<TokenPair> {
        let invalid = || ApiError::unauthorized("Invalid email or password.");
        let Ok(email) = normalize_email(email) else {
            return Err(invalid());
        };
        let user = self
            .inner
            .db
            .run(move |conn| -> ApiResult<Option<UserRow>> {
                Ok(store::find_user_by_email(conn, &email)?)
            })
            .await?;
        // Hashing runs on the blocking pool without holding a database connection.
        let password = password.to_string();
        let user = run_blocking("password.verify", move || match user {
            Some(u) if passwords::verify(&password, &u.password_hash) => Some(u),
            Some(_) => None,
            None => {
                passwords::verify_dummy(&password);
                None
            }
        })
        .await?;
        let user = user.ok_or_else(invalid)?;
        self.issue_pair(&user, uuid::Uuid::new_v4().to_string())
            .await
    }

    async fn issue_pair(&self, user: &UserRow, family_id: String) -> ApiResult<TokenPair> {
        let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
        let access = self
            .inner
            .tokens
            .issue(
                &user.id,
                &user.tenant_id,
                &user.email,
                role,
                Some(family_id.as_str()),
            )
            .map_err(ApiError::internal)?;
        let refresh = new_refresh_token();
        let issued = now();
        let row = RefreshTokenRow {
            id: uuid::Uuid::new_v4().to_string(),
            token_hash: hash_refresh_token(&refresh),
            family_id,
            user_id: user.id.clone(),
            tenant_id: user.tenant_id.clone(),
            issued_at: issued,
            expires_at: issued + self.inner.refresh_ttl,
            rotated_at: None,
            revoked_at: None,
        };
        self.inner
            .db
            .run(move |conn| -> ApiResult<()> { Ok(store::insert_refresh_token(conn, &row)?) })
            .await?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".into(),
            expires_in: self.inner.tokens.ttl_secs(),
        })
    }

    /// `POST /auth/refresh`: rotates the refresh token. Presenting a token that was already
    /// rotated means it leaked: the whole family (that login) is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> ApiResult<TokenPair> {
        let hash = hash_refresh_token(refresh_token.trim());
        let outcome = self
            .inner
            .db
            .transaction(move |conn| -> ApiResult<Result<(UserRow, String), Refused>> {
                let Some(token) = store::find_refresh_token(conn, &hash)? else {
                    return Ok(Err(Refused::plain("Unknown refresh token; sign in again.")));
                };
                if token.revoked_at.is_some() {
                    return Ok(Err(Refused::plain("This refresh token was revoked; sign in again.")));
                }
                let now = now();
                if token.rotated_at.is_some() || store::mark_rotated(conn, &token.id, now)? == 0 {
                    store::revoke_family(conn, &token.family_id, now)?;
                    return Ok(Err(Refused {
                        reason: "This refresh token was already used; every token of this sign-in is now revoked. Sign in again.",
                        revoked: Some(token.family_id),
                    }));
                }
                if token.expires_at < now {
                    return Ok(Err(Refused::plain("This refresh token has expired; sign in again.")));
                }
                let tenant = TenantId(token.tenant_id.clone());
                let Some(user) = store::find_user(conn, &tenant, &token.user_id)? else {
                    return Ok(Err(Refused::plain("The user no longer exists.")));
                };
                Ok(Ok((user, token.family_id)))
            })
            .await?;
        match outcome {
            Ok((user, family)) => self.issue_pair(&user, family).await,
            Err(Refused { reason, revoked }) => {
                if let Some(family) = revoked {
                    self.inner.cache.evict(SESSION_TOPIC, &family).await;
                }
                tracing::info!(reason, "refresh token refused");
                Err(ApiError::unauthorized(reason))
            }
        }
    }

    /// `POST /auth/logout`: revokes the refresh token's family. Unknown tokens are ignored so
    /// logging out twice is harmless.
    pub async fn logout(&self, refresh_token: &str) -> ApiResult<()> {
        let hash = hash_refresh_token(refresh_token.trim());
        let family = self
            .inner
            .db
            .run(move |conn| -> ApiResult<Option<String>> {
                let Some(token) = store::find_refresh_token(conn, &hash)? else {
                    return Ok(None);
                };
                store::revoke_family(conn, &token.family_id, now())?;
                Ok(Some(token.family_id))
            })
            .await?;
        if let Some(family) = family {
            // The sign-in's access tokens stop working too, on every replica.
            self.inner.cache.evict(SESSION_TOPIC, &family).await;
        }
        Ok(())
    }

    /// Resolves a bearer token: Maestro tokens (HS256) against the local secret, asymmetric
    /// tokens against the OIDC issuer's JWKS when one is configured.
    pub async fn authenticate(&self, token: &str) -> ApiResult<Principal> {
        // The header is decoded in full only for the rare OIDC path.
        let encoded_header = token.split('.').next().unwrap_or_default();
        if super::jwt::is_hs256(encoded_header) {
            return self.authenticate_local(token).await;
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("The bearer token is not a valid JWT."))?;
        match header.alg {
            jsonwebtoken::Algorithm::HS256 => self.authenticate_local(token).await,
            // Boxed, like every path that waits on the network: the future of a request moves
            // through the middleware chain, and an inline OIDC or database wait would make
            // every request's future kilobytes larger (copied with each move).
            alg => match &self.inner.oidc {
                Some(oidc) => Box::pin(self.authenticate_oidc(oidc, token, header)).await,
                None => {
                    tracing::info!(?alg, "token with unsupported algorithm refused");
                    Err(ApiError::unauthorized("The bearer token was refused."))
                }
            },
        }
    }

    async fn authenticate_oidc(
        &self,
        oidc: &OidcVerifier,
        token: &str,
        header: jsonwebtoken::Header,
    ) -> ApiResult<Principal> {
        let identity = oidc.verify(token, &header).await.map_err(|e| {
            tracing::info!(error = %e, "OIDC token refused");
            ApiError::unauthorized("The bearer token was refused.")
        })?;
        let tenant = self.tenant_id_for_name(&identity.tenant).await?;
        Ok(Principal {
            user_id: identity.subject,
            tenant_id: tenant,
            email: identity.email,
            role: identity.role,
            source: AuthSource::Oidc,
        })
    }

    /// Verifies an ID token from the console's OIDC sign-in (see
    /// [`OidcVerifier::verify_id_token`]); 401 when no issuer is configured or it is refused.
    pub async fn verify_oidc_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> ApiResult<super::oidc::OidcIdentity> {
        let Some(oidc) = &self.inner.oidc else {
            return Err(ApiError::unauthorized("No OIDC issuer is configured."));
        };
        oidc.verify_id_token(token, client_id, nonce)
            .await
            .map_err(|e| {
                tracing::info!(error = %e, "OIDC ID token refused");
                ApiError::unauthorized(format!("The issuer's ID token was refused: {}", e.0))
            })
    }

    async fn authenticate_local(&self, token: &str) -> ApiResult<Principal> {
        let claims = self.inner.tokens.verify(token).map_err(|e| {
            tracing::info!(error = %e, "access token refused");
            ApiError::unauthorized("The access token is invalid or expired.")
        })?;
        // The role, the user's existence and the sign-in's state come from storage (through the
        // in-process identities), so demotions, deletions and sign-outs take effect without
        // waiting for the token to expire.
        if let Some(session) = &claims.sid
            && self.session_revoked(session).await?
        {
            return Err(ApiError::unauthorized(
                "This sign-in has ended (signed out or revoked); sign in again.",
            ));
        }
        let user = self.cached_user(&claims.sub).await?;
        match user {
            Some(user) if user.tenant_id == claims.tid => Ok(Principal {
                user_id: claims.sub,
                tenant_id: TenantId(user.tenant_id),
                email: Some(user.email),
                role: user.role,
                source: AuthSource::Local,
            }),
            _ => Err(ApiError::unauthorized(
                "The user of this token no longer exists.",
            )),
        }
    }

    async fn cached_user(&self, user_id: &str) -> ApiResult<Option<CachedUser>> {
        if let Some((at, hit)) = self.inner.identities.users.get(user_id)
            && self.inner.cache.trusts(at)
        {
            return Ok(Some(hit));
        }
        Box::pin(self.load_user(user_id)).await
    }

    /// [`AuthService::cached_user`] past the in-process identities.
    async fn load_user(&self, user_id: &str) -> ApiResult<Option<CachedUser>> {
        let mark = self.inner.identities.mark();
        let id = user_id.to_string();
        let row = self
            .inner
            .db
            .run(move |conn| -> ApiResult<Option<UserRow>> {
                use crate::platform::db::schema::users;
                use diesel::prelude::*;
                Ok(users::table
                    .find(&id)
                    .select(UserRow::as_select())
                    .first(conn)
                    .optional()?)
            })
            .await?;
        let user = row.map(|r| CachedUser {
            role: Role::parse(&r.role).unwrap_or(Role::Viewer),
            tenant_id: r.tenant_id,
            email: r.email,
        });
        if let Some(u) = &user
            && self.inner.identities.unchanged_since(mark)
        {
            self.inner
                .identities
                .users
                .insert(user_id.to_string(), (Instant::now(), u.clone()));
        }
        Ok(user)
    }

    async fn session_revoked(&self, session: &str) -> ApiResult<bool> {
        if let Some((at, revoked)) = self.inner.identities.sessions.get(session)
            && self.inner.cache.trusts(at)
        {
            return Ok(revoked);
        }
        Box::pin(self.load_session(session)).await
    }

    /// [`AuthService::session_revoked`] past the in-process identities.
    async fn load_session(&self, session: &str) -> ApiResult<bool> {
        let mark = self.inner.identities.mark();
        let id = session.to_string();
        let revoked = self
            .inner
            .db
            .run(move |conn| -> ApiResult<bool> { Ok(store::family_revoked(conn, &id)?) })
            .await?;
        if self.inner.identities.unchanged_since(mark) {
            self.inner
                .identities
                .sessions
                .insert(session.to_string(), (Instant::now(), revoked));
        }
        Ok(revoked)
    }

    async fn tenant_id_for_name(&self, name: &str) -> ApiResult<TenantId> {
        validate_tenant_name(name)
            .map_err(|m| ApiError::unauthorized(format!("The token's tenant claim {m}.")))?;
        let key = format!("auth:tenant:{name}");
        if let Some(id) = self.inner.cache.get_json::<String>(&key).await {
            return Ok(TenantId(id));
        }
        let row = self.stored_tenant(name).await?;
        self.inner
            .cache
            .set_json(&key, &row.id, Some(Duration::from_secs(3600)))
            .await;
        Ok(TenantId(row.id))
    }

    /// Creates a user in the caller's tenant (admin API).
    pub async fn create_user(
        &self,
        tenant: &TenantId,
        email: &str,
        password: &str,
        role: Role,
    ) -> ApiResult<UserView> {
        let mut errors = Vec::new();
        let email = match normalize_email(email) {
            Ok(e) => Some(e),
            Err(m) => {
                errors.push(FieldError::new("email", m));
                None
            }
        };
        if let Err(m) = passwords::check_policy(password) {
            errors.push(FieldError::new("password", m));
        }
        let Some(email) = email.filter(|_| errors.is_empty()) else {
            return Err(ApiError::validation("The user cannot be created.", errors));
        };
        let password = password.to_string();
        let hash = run_blocking("password.hash", move || passwords::hash(&password))
            .await?
            .map_err(ApiError::internal)?;
        let tenant = tenant.clone();
        self.inner
            .db
            .run(move |conn| -> ApiResult<UserView> {
                let now = now();
                let row = UserRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: tenant.0.clone(),
                    email,
                    password_hash: hash,
                    role: role.as_str().to_string(),
                    created_at: now,
                    updated_at: now,
                };
                match store::insert_user(conn, &row) {
                    Ok(()) => Ok(row.into()),
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => Err(ApiError::conflict(
                        "auth.email_taken",
                        "A user with this email already exists; emails are unique across Maestro.",
                    )),
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// CLI: creates the tenant when missing, then the user.
    pub async fn create_user_in_tenant_named(
        &self,
        tenant_name: &str,
        email: &str,
        password: &str,
        role: Role,
    ) -> ApiResult<UserView> {
        let tenant = self.ensure_tenant(tenant_name).await?;
        self.create_user(&tenant, email, password, role).await
    }

    pub async fn list_users(
        &self,
        tenant: &TenantId,
        page: &PageQuery,
    ) -> ApiResult<Page<UserView>> {
        let tenant = tenant.clone();
        self.inner
            .db
            .page(
                page,
                move |conn, limit, offset| Ok(store::list_users(conn, &tenant, limit, offset)?),
                UserView::from,
            )
            .await
    }

    pub async fn get_user(&self, tenant: &TenantId, id: &str) -> ApiResult<UserView> {
        let tenant = tenant.clone();
        let id = id.to_string();
        self.inner
            .db
            .run(move |conn| -> ApiResult<Option<UserRow>> {
                Ok(store::find_user(conn, &tenant, &id)?)
            })
            .await?
            .map(UserView::from)
            .ok_or_else(user_not_found)
    }

    /// Changes a user's role. The last admin of a tenant cannot be demoted (the tenant would be
    /// left without anyone able to administer it).
    pub async fn set_role(&self, tenant: &TenantId, id: &str, role: Role) -> ApiResult<UserView> {
        let tenant_c = tenant.clone();
        let id_c = id.to_string();
        let view = self
            .inner
            .db
            .transaction(move |conn| -> ApiResult<UserView> {
                let user = store::find_user(conn, &tenant_c, &id_c)?.ok_or_else(user_not_found)?;
                if user.role == "admin"
                    && role != Role::Admin
                    && store::count_admins(conn, &tenant_c)? <= 1
                {
                    return Err(ApiError::conflict(
                        "auth.last_admin",
                        "This is the tenant's last admin; make another user admin first.",
                    ));
                }
                store::update_role(conn, &tenant_c, &id_c, role.as_str(), now())?;
                let updated =
                    store::find_user(conn, &tenant_c, &id_c)?.ok_or_else(user_not_found)?;
                Ok(updated.into())
            })
            .await?;
        self.inner.cache.evict(USER_TOPIC, id).await;
        Ok(view)
    }

    /// Deletes a user and their refresh tokens. Admins cannot delete themselves.
    pub async fn delete_user(&self, actor: &Principal, id: &str) -> ApiResult<()> {
        if actor.user_id == id {
            return Err(ApiError::conflict(
                "auth.cannot_delete_self",
                "You cannot delete your own account; ask another admin.",
            ));
        }
        let tenant = actor.tenant_id.clone();
        let id_c = id.to_string();
        self.inner
            .db
            .transaction(move |conn| -> ApiResult<()> {
                let user = store::find_user(conn, &tenant, &id_c)?.ok_or_else(user_not_found)?;
                if user.role == "admin" && store::count_admins(conn, &tenant)? <= 1 {
                    return Err(ApiError::conflict(
                        "auth.last_admin",
                        "This is the tenant's last admin.",
                    ));
                }
                store::delete_user(conn, &tenant, &id_c)?;
                Ok(())
            })
            .await?;
        self.inner.cache.evict(USER_TOPIC, id).await;
        Ok(())
    }

    /// CLI `user set-role --email`: finds the user by email across tenants.
    pub async fn set_role_by_email(&self, email: &str, role: Role) -> ApiResult<UserView> {
        let user = self.find_by_email(email).await?;
        self.set_role(&TenantId(user.tenant_id.clone()), &user.id, role)
            .await
    }

    async fn find_by_email(&self, email: &str) -> ApiResult<UserRow> {
        let email = normalize_email(email)
            .map_err(|m| ApiError::validation("Bad email.", vec![FieldError::new("email", m)]))?;
        self.inner
            .db
            .run(move |conn| -> ApiResult<Option<UserRow>> {
                Ok(store::find_user_by_email(conn, &email)?)
            })
            .await?
            .ok_or_else(user_not_found)
    }

    /// CLI `token --email`: an access token for scripts.
    pub async fn token_for_email(&self, email: &str) -> ApiResult<String> {
        let user = self.find_by_email(email).await?;
        let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
        self.inner
            .tokens
            .issue(&user.id, &user.tenant_id, &user.email, role, None)
            .map_err(ApiError::internal)
    }

    /// CLI `user list`: (tenant name, user).
    pub async fn list_all_users(
        &self,
        tenant_name: Option<String>,
    ) -> ApiResult<Vec<(String, UserView)>> {
        let rows = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::list_all_users(conn, tenant_name.as_deref())?)
            })
            .await?;
        Ok(rows.into_iter().map(|(u, t)| (t, u.into())).collect())
    }

    pub async fn count_users(&self, tenant: &TenantId) -> ApiResult<i64> {
        let tenant = tenant.clone();
        self.inner
            .db
            .run(move |conn| -> ApiResult<i64> { Ok(store::count_users(conn, &tenant)?) })
            .await
    }

    /// The tenant's row, created on first use; `name` is already validated.
    async fn stored_tenant(&self, name: &str) -> ApiResult<TenantRow> {
        let name = name.to_string();
        self.inner
            .db
            .run(move |conn| -> ApiResult<TenantRow> {
                Ok(store::ensure_tenant(conn, &name, now())?)
            })
            .await
    }

    /// Finds or creates a tenant by name (seeding, CLI).
    pub async fn ensure_tenant(&self, name: &str) -> ApiResult<TenantId> {
        validate_tenant_name(name).map_err(|m| {
            ApiError::validation("Bad tenant name.", vec![FieldError::new("tenant", m)])
        })?;
        let row = self.stored_tenant(name).await?;
        Ok(TenantId(row.id))
    }

    /// The tenant's name, for display.
    pub async fn tenant_name(&self, tenant: &TenantId) -> ApiResult<Option<String>> {
        let id = tenant.0.clone();
        Ok(self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_tenant(conn, &id)?) })
            .await?
            .map(|t| t.name))
    }
}

/// Why a refresh was refused, and the sign-in it revoked (reuse detected).
struct Refused {
    reason: &'static str,
    revoked: Option<String>,
}

impl Refused {
    fn plain(reason: &'static str) -> Refused {
        Refused {
            reason,
            revoked: None,
        }
    }
}

fn user_not_found() -> ApiError {
    ApiError::not_found("auth.user_not_found", "No such user in your tenant.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            normalize_email(" Dev@Example.COM ").unwrap(),
            "dev@example.com"
        );
        assert!(normalize_email("nope").is_err());
        assert!(normalize_email("a@b").is_err());
        assert!(normalize_email("a b@c.d").is_err());
    }

    #[test]
    fn tenant_names_are_checked() {
        assert!(validate_tenant_name("acme-corp_2").is_ok());
        assert!(validate_tenant_name("Acme").is_err());
        assert!(validate_tenant_name("-x").is_err());
        assert!(validate_tenant_name("").is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert!(a.starts_with("mrt_"));
        assert_eq!(hash_refresh_token(&a).len(), 64);
    }
}

//! Console sign-in on top of the API's token machinery. Signing in calls
//! [`AuthService::login`]; the access token and the refresh token live in two HttpOnly,
//! SameSite=Strict cookies scoped to `/ui` (Secure when the request came over https, directly
//! or through a proxy's `X-Forwarded-Proto`/`Forwarded`). Each request verifies the access
//! token exactly as the bearer middleware does; an expired one is rotated with the refresh token
//! (the old refresh token's answer is kept for a minute, so parallel requests from one page do
//! not trip the API's reuse detection). Signing out revokes the refresh token's whole family.
//!
//! CSRF: a random token in its own HttpOnly SameSite=Strict cookie, repeated in every form (a
//! hidden `csrf` field) or in the `X-CSRF-Token` header (htmx sends it from `hx-headers`);
//! [`CsrfForm`] refuses a POST whose two copies differ, before anything else happens.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures::future::LocalBoxFuture;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Console;
use super::view::{self, Ctx};
use crate::platform::auth::service::TokenPair;
use crate::platform::auth::{AuthService, Authenticated, Principal, Role, authorize};
use crate::platform::http::error::ApiError;

pub const ACCESS_COOKIE: &str = "maestro_session";
pub const REFRESH_COOKIE: &str = "maestro_refresh";
pub const CSRF_COOKIE: &str = "maestro_csrf";
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
const FORM_LIMIT: usize = 256 * 1024;

/// The CSRF token of this browser (from its cookie, or minted for this response).
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// Cookies a handler wants set on its response (the middleware adds them).
#[derive(Debug, Clone, Default)]
struct PendingCookies(Vec<Cookie<'static>>);

pub(super) fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn is_token(raw: &str) -> bool {
    raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Constant-time comparison of two tokens.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(super) fn secure(req: &HttpRequest) -> bool {
    req.connection_info().scheme().eq_ignore_ascii_case("https")
}

pub(super) fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_path("/ui");
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(secure);
    c
}

pub(super) fn removal(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), secure);
    c.make_removal();
    c
}

pub(super) fn push_cookie(req: &HttpRequest, c: Cookie<'static>) {
    let mut ext = req.extensions_mut();
    match ext.get_mut::<PendingCookies>() {
        Some(p) => p.0.push(c),
        None => {
            ext.insert(PendingCookies(vec![c]));
        }
    }
}

/// Around every `/ui` request: makes sure the browser has a CSRF token, sets the cookies the
/// handler asked for, and adds the pages' security headers.
pub async fn ui_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let existing = req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| is_token(v));
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(random_token);
    let https = secure(req.request());
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let is_asset = req.path().starts_with("/ui/assets/");
    let mut res = next.call(req).await?;
    let pending = res.request().extensions_mut().remove::<PendingCookies>();
    let response = res.response_mut();
    if fresh && !is_asset {
        let _ = response.add_cookie(&cookie(CSRF_COOKIE, token, https));
    }
    for c in pending.map(|p| p.0).unwrap_or_default() {
        let _ = response.add_cookie(&c);
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(header::VARY, HeaderValue::from_static("Cookie, HX-Request"));
    Ok(res)
}

/// Why a console request could not proceed.
#[derive(Debug)]
pub enum UiError {
    /// No valid session: sign in, then come back to `next`.
    SignIn { next: String },
    /// The CSRF token is missing or differs from the cookie.
    Csrf,
    /// An error from a service, shown as a page with its status.
    Api(ApiError),
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError::Api(e)
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::SignIn { .. } => f.write_str("sign-in required"),
            UiError::Csrf => f.write_str("CSRF token missing or wrong"),
            UiError::Api(e) => write!(f, "{}: {}", e.code, e.detail),
        }
    }
}

pub type UiResult<T = HttpResponse> = Result<T, UiError>;

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::SignIn { .. } => StatusCode::SEE_OTHER,
            UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::Api(e) => e.status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::SignIn { next } => {
                let location = format!("/ui/login?next={}", urlencode(next));
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location.clone()))
                    // htmx follows this instead of swapping the login page into a fragment.
                    .insert_header(("HX-Redirect", location))
                    .finish()
            }
            UiError::Csrf => view::error_page(
                StatusCode::FORBIDDEN,
                "console.csrf",
                "The form's security token is missing or out of date. Go back, reload the page and try again.",
                &[],
            ),
            UiError::Api(e) => {
                if e.status.is_server_error() {
                    tracing::error!(code = %e.code, error = ?e.source, "console page failed");
                }
                let detail = if e.status.is_server_error() {
                    "Something went wrong on the server; it has been logged.".to_string()
                } else {
                    e.detail.clone()
                };
                let fields: Vec<(String, String)> = e
                    .errors
                    .iter()
                    .map(|f| (f.field.clone(), f.message.clone()))
                    .collect();
                view::error_page(e.status, &e.code, &detail, &fields)
            }
        }
    }
}

pub fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// Only same-site console paths are valid redirect targets after sign-in.
pub(super) fn safe_next(raw: Option<&str>) -> String {
    match raw {
        Some(n)
            if n.starts_with("/ui")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.contains("://")
                && !n.starts_with("/ui/login")
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/ui".to_string(),
    }
}

/// Answers of recently rotated refresh tokens (by hash), so the second of two parallel requests
/// that both found an expired access token gets the same new pair instead of a reuse alarm.
fn rotated() -> &'static moka::sync::Cache<String, TokenPair> {
    static CACHE: OnceLock<moka::sync::Cache<String, TokenPair>> = OnceLock::new();
    CACHE.get_or_init(|| {
        moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(60))
            .build()
    })
}

fn refresh_key(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The signed-in caller of a console request.
pub struct Session {
    pub principal: Principal,
    pub rbac: bool,
    pub csrf: String,
}

impl Session {
    /// The role the caller acts with (RBAC off: at least editor, as in the API).
    pub fn role(&self) -> Role {
        self.as_role(Role::Viewer)
            .map(|p| p.role)
            .unwrap_or(self.principal.role)
    }

    /// The principal checked against `role`, with the API's rules (403 below it).
    pub fn as_role(&self, role: Role) -> Result<Principal, ApiError> {
        authorize(
            &Authenticated {
                principal: self.principal.clone(),
                rbac: self.rbac,
            },
            role,
        )
    }

    pub fn can_edit(&self) -> bool {
        self.as_role(Role::Editor).is_ok()
    }

    pub fn is_admin(&self) -> bool {
        self.as_role(Role::Admin).is_ok()
    }
}

fn request_path(req: &HttpRequest) -> String {
    // For an htmx fragment, come back to the page the browser shows, not the fragment.
    if let Some(current) = req
        .headers()
        .get("HX-Current-URL")
        .and_then(|v| v.to_str().ok())
        .and_then(|u| url::Url::parse(u).ok())
    {
        let mut p = current.path().to_string();
        if let Some(q) = current.query() {
            p.push('?');
            p.push_str(q);
        }
        return p;
    }
    match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    }
}

async fn resolve(req: &HttpRequest) -> UiResult<Session> {
    let auth = req
        .app_data::<web::Data<AuthService>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AuthService not registered")))?;
    let csrf = req
        .extensions()
        .get::<CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let sign_in = || UiError::SignIn {
        next: if req.method() == Method::GET {
            request_path(req)
        } else {
            req.headers()
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|u| url::Url::parse(u).ok())
                .map(|u| u.path().to_string())
                .unwrap_or_else(|| "/ui".into())
        },
    };
    if let Some(access) = req.cookie(ACCESS_COOKIE)
        && let Ok(principal) = auth.authenticate(access.value()).await
    {
        return Ok(Session {
            principal,
            rbac: auth.rbac(),
            csrf,
        });
    }
    let Some(refresh) = req.cookie(REFRESH_COOKIE) else {
        return Err(sign_in());
    };
    let key = refresh_key(refresh.value());
    let pair = match rotated().get(&key) {
        Some(pair) => pair,
        None => match auth.refresh(refresh.value()).await {
            Ok(pair) => {
                rotated().insert(key, pair.clone());
                pair
            }
            Err(_) => {
                let https = secure(req);
                push_cookie(req, removal(ACCESS_COOKIE, https));
                push_cookie(req, removal(REFRESH_COOKIE, https));
                return Err(sign_in());
            }
        },
    };
    let principal = auth
        .authenticate(&pair.access_token)
        .await
        .map_err(|_| sign_in())?;
    set_session_cookies(req, &pair);
    Ok(Session {
        principal,
        rbac: auth.rbac(),
        csrf,
    })
}

fn set_session_cookies(req: &HttpRequest, pair: &TokenPair) {
    let https = secure(req);
    push_cookie(req, cookie(ACCESS_COOKIE, pair.access_token.clone(), https));
    push_cookie(
        req,
        cookie(REFRESH_COOKIE, pair.refresh_token.clone(), https),
    );
}

impl FromRequest for Session {
    type Error = UiError;
    type Future = LocalBoxFuture<'static, Result<Session, UiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(&req).await })
    }
}

/// A urlencoded form body whose `csrf` field (or `X-CSRF-Token` header) matches the browser's
/// CSRF cookie. Fields keep their order and repeats (checkbox lists).
#[derive(Debug, Clone, Default)]
pub struct CsrfForm(pub Vec<(String, String)>);

impl CsrfForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Non-empty, trimmed value of a field.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}

impl FromRequest for CsrfForm {
    type Error = UiError;
    type Future = LocalBoxFuture<'static, Result<CsrfForm, UiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let cookie = req
                .cookie(CSRF_COOKIE)
                .map(|c| c.value().to_string())
                .filter(|v| is_token(v));
            let header = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = body.await.map_err(|_| UiError::Csrf)?;
            if bytes.len() > FORM_LIMIT {
                return Err(ApiError::payload_too_large(
                    "console.form_too_large",
                    format!("The form is larger than {FORM_LIMIT} bytes."),
                )
                .into());
            }
            let is_form = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
            if !is_form {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "console.form_expected",
                    "Console forms are sent as application/x-www-form-urlencoded.",
                )
                .into());
            }
            let fields: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let form = CsrfForm(fields);
            let sent = header.or_else(|| form.get(CSRF_FIELD).map(str::to_string));
            match (cookie, sent) {
                (Some(c), Some(s)) if same(&c, &s) => Ok(form),
                _ => Err(UiError::Csrf),
            }
        })
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

pub(super) fn login_view(
    req: &HttpRequest,
    console: &Console,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<&str>,
) -> UiResult {
    let oidc = &console.platform.settings.auth.oidc;
    let ctx = Ctx::anonymous(req, console)
        .set("email", email)
        .set("next", next)
        .set("error", error)
        .set("oidc_issuer", oidc.enabled().then(|| oidc.issuer.clone()))
        .set(
            "oidc_button",
            oidc.console_sign_in()
                .then(|| super::oidc::display_name(oidc)),
        );
    view::page(status, "login.html", ctx)
}

async fn login_page(
    req: HttpRequest,
    console: web::Data<Console>,
    query: web::Query<NextQuery>,
) -> UiResult {
    let next = safe_next(query.next.as_deref());
    login_view(&req, &console, StatusCode::OK, "", &next, None)
}

async fn login(
    req: HttpRequest,
    console: web::Data<Console>,
    auth: web::Data<AuthService>,
    form: CsrfForm,
) -> UiResult {
    let email = form.get("email").unwrap_or_default().trim().to_string();
    let password = form.get("password").unwrap_or_default();
    let next = safe_next(form.get("next"));
    match auth.login(&email, password).await {
        Ok(pair) => {
            set_session_cookies(&req, &pair);
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, next))
                .finish())
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => login_view(
            &req,
            &console,
            StatusCode::UNAUTHORIZED,
            &email,
            &next,
            Some("Invalid email or password."),
        ),
        Err(e) => Err(e.into()),
    }
}

async fn logout(req: HttpRequest, auth: web::Data<AuthService>, _form: CsrfForm) -> UiResult {
    if let Some(refresh) = req.cookie(REFRESH_COOKIE) {
        // An unknown or already revoked token is fine: the cookies go either way.
        let _ = auth.logout(refresh.value()).await;
    }
    let https = secure(&req);
    push_cookie(&req, removal(ACCESS_COOKIE, https));
    push_cookie(&req, removal(REFRESH_COOKIE, https));
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/login"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_redirect_targets() {
        assert_eq!(
            safe_next(Some("/ui/templates?text=a")),
            "/ui/templates?text=a"
        );
        assert_eq!(safe_next(Some("//evil.example/ui")), "/ui");
        assert_eq!(safe_next(Some("https://evil.example/ui")), "/ui");
        assert_eq!(safe_next(Some("/api/v1/templates")), "/ui");
        assert_eq!(safe_next(Some("/ui/login")), "/ui");
        assert_eq!(safe_next(Some("/ui\\evil")), "/ui");
        assert_eq!(safe_next(None), "/ui");
    }

    #[test]
    fn tokens_compare_exactly() {
        let t = random_token();
        assert!(is_token(&t));
        assert!(same(&t, &t.clone()));
        assert!(!same(&t, &random_token()));
        assert!(!same(&t, &t[..63]));
        assert!(!is_token("zz"));
    }
}

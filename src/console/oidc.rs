//! "Sign in with `<issuer>`": the OpenID Connect authorization-code flow with PKCE (S256) for the
//! console, when `auth.oidc.client_id` is set.
//!
//! `/ui/oidc/login` discovers the issuer's endpoints, keeps `state`, `nonce`, the PKCE
//! `code_verifier` and the page to return to in a short-lived HttpOnly cookie (SameSite=Lax:
//! it must come back on the issuer's cross-site redirect) and sends the browser to the
//! authorization endpoint. `/ui/oidc/callback` checks `state`, exchanges the code (with the
//! verifier, and the client secret for a confidential client), verifies the ID token with the
//! same verifier as bearer tokens (keys, issuer, claim mapping; audience = the client id; the
//! nonce), then keeps as the console session the token Maestro's bearer authentication accepts
//! (the access token when its audience is `auth.oidc.audience`, else the ID token), so the
//! principal is mapped exactly as a bearer OIDC token is. No refresh: when it expires, the
//! user signs in again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use super::Console;
use super::session::{
    self, ACCESS_COOKIE, REFRESH_COOKIE, UiResult, cookie, login_view, push_cookie, removal,
    safe_next, secure,
};
use super::view::{self, Ctx};
use crate::config::OidcSettings;
use crate::platform::auth::AuthService;
use crate::platform::http::error::ApiError;

const FLOW_COOKIE: &str = "maestro_oidc";
const FLOW_TTL: Duration = Duration::from_secs(600);
const DISCOVERY_TTL: Duration = Duration::from_secs(300);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oidc/login", web::get().to(start))
        .route("/oidc/callback", web::get().to(callback));
}

/// The button's label: `display_name`, else the issuer's host.
pub fn display_name(settings: &OidcSettings) -> String {
    if !settings.display_name.trim().is_empty() {
        return settings.display_name.trim().to_string();
    }
    url::Url::parse(&settings.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| settings.issuer.clone())
}

/// The issuer's endpoints (from discovery, cached for a few minutes).
#[derive(Debug, Clone, Deserialize)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The console's OIDC client: an HTTP client and the discovery cache.
pub struct OidcClient {
    settings: OidcSettings,
    http: reqwest::Client,
    endpoints: RwLock<Option<(Instant, Endpoints)>>,
}

impl OidcClient {
    pub fn new(settings: OidcSettings) -> Option<Arc<OidcClient>> {
        if !settings.console_sign_in() {
            return None;
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Arc::new(OidcClient {
            settings,
            http,
            endpoints: RwLock::new(None),
        }))
    }

    async fn endpoints(&self) -> Result<Endpoints, ApiError> {
        if let Some((at, e)) = self.endpoints.read().await.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(e.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let found: Endpoints = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failed(format!("cannot read the issuer's discovery document: {e}")))?
            .json()
            .await
            .map_err(|e| {
                failed(format!(
                    "the discovery document has no usable authorization_endpoint/token_endpoint: {e}"
                ))
            })?;
        *self.endpoints.write().await = Some((Instant::now(), found.clone()));
        Ok(found)
    }

    fn redirect_uri(&self, req: &HttpRequest) -> String {
        if !self.settings.redirect_url.is_empty() {
            return self.settings.redirect_url.clone();
        }
        let info = req.connection_info();
        format!("{}://{}/ui/oidc/callback", info.scheme(), info.host())
    }
}

fn failed(detail: String) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "console.oidc_failed", detail)
}

fn client(console: &Console) -> Result<&OidcClient, ApiError> {
    console.oidc.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "console.not_found",
            "Sign-in through an OIDC issuer is not configured.",
        )
    })
}

/// What the browser keeps between the two legs of the flow.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
}

fn flow_cookie(value: String, https: bool) -> Cookie<'static> {
    let mut c = cookie(FLOW_COOKIE, value, https);
    c.set_path("/ui/oidc");
    // Lax: the issuer's redirect back is a cross-site top-level GET.
    c.set_same_site(SameSite::Lax);
    c.set_max_age(actix_web::cookie::time::Duration::seconds(
        FLOW_TTL.as_secs() as i64,
    ));
    c
}

/// `S256`: BASE64URL(SHA-256(verifier)).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(Debug, Deserialize)]
struct StartQuery {
    next: Option<String>,
}

/// `GET /ui/oidc/login?next=`: to the issuer's authorization endpoint.
async fn start(
    req: HttpRequest,
    console: web::Data<Console>,
    query: web::Query<StartQuery>,
) -> UiResult {
    let oidc = client(&console)?;
    let endpoints = oidc.endpoints().await?;
    let flow = Flow {
        state: session::random_token(),
        nonce: session::random_token(),
        // 64 hex characters: inside RFC 7636's 43–128 unreserved characters.
        verifier: session::random_token(),
        next: safe_next(query.next.as_deref()),
    };
    let mut target = url::Url::parse(&endpoints.authorization_endpoint)
        .map_err(|e| failed(format!("the authorization endpoint is not a URL: {e}")))?;
    target
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.settings.client_id)
        .append_pair("redirect_uri", &oidc.redirect_uri(&req))
        .append_pair("scope", &oidc.settings.scopes)
        .append_pair("state", &flow.state)
        .append_pair("nonce", &flow.nonce)
        .append_pair("code_challenge", &code_challenge(&flow.verifier))
        .append_pair("code_challenge_method", "S256");
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&flow).map_err(ApiError::internal)?);
    push_cookie(&req, flow_cookie(value, secure(&req)));
    Ok(view::see_other(target.to_string()))
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
    access_token: Option<String>,
}

/// `GET /ui/oidc/callback?code=&state=`: the issuer sends the browser back here.
async fn callback(
    req: HttpRequest,
    console: web::Data<Console>,
    auth: web::Data<AuthService>,
    query: web::Query<CallbackQuery>,
) -> UiResult {
    let oidc = client(&console)?;
    let https = secure(&req);
    // The flow cookie is used once, whatever happens next.
    let mut gone = flow_cookie(String::new(), https);
    gone.make_removal();
    push_cookie(&req, gone);
    let flow: Option<Flow> = req
        .cookie(FLOW_COOKIE)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c.value()).ok())
        .and_then(|raw| serde_json::from_slice(&raw).ok());
    let refuse = |status: StatusCode, message: String| {
        let next = flow.as_ref().map(|f| f.next.as_str()).unwrap_or("/ui");
        login_view(&req, &console, status, "", next, Some(&message))
    };
    if let Some(error) = &query.error {
        let detail = query.error_description.as_deref().unwrap_or_default();
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!("The issuer did not sign you in ({error}) {detail}")
                .trim()
                .to_string(),
        );
    }
    let (Some(flow_state), Some(code), Some(state)) = (
        flow.as_ref().map(|f| f.state.as_str()),
        query.code.as_deref(),
        query.state.as_deref(),
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in link is incomplete or has expired; start again.".into(),
        );
    };
    if !session::same(flow_state, state) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in did not start in this browser (state mismatch); start again.".into(),
        );
    }
    let Some(flow) = flow.as_ref() else {
        return refuse(StatusCode::BAD_REQUEST, "Start the sign-in again.".into());
    };
    let endpoints = oidc.endpoints().await?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &oidc.redirect_uri(&req))
        .append_pair("client_id", &oidc.settings.client_id)
        .append_pair("code_verifier", &flow.verifier)
        .finish();
    let mut exchange = oidc
        .http
        .post(&endpoints.token_endpoint)
        .header(
            actix_web::http::header::CONTENT_TYPE.as_str(),
            "application/x-www-form-urlencoded",
        )
        .header(actix_web::http::header::ACCEPT.as_str(), "application/json")
        .body(body);
    if !oidc.settings.client_secret.is_empty() {
        // RFC 6749 §2.3.1: both parts form-encoded before Basic.
        exchange = exchange.basic_auth(
            session::urlencode(&oidc.settings.client_id),
            Some(session::urlencode(&oidc.settings.client_secret)),
        );
    }
    let response = exchange
        .send()
        .await
        .map_err(|e| failed(format!("the token endpoint did not answer: {e}")))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        tracing::info!(%status, body = %body.chars().take(500).collect::<String>(), "OIDC code exchange refused");
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!("The issuer refused the sign-in code ({status}); start again."),
        );
    }
    let tokens: TokenResponse = response
        .json()
        .await
        .map_err(|e| failed(format!("the token endpoint's answer is not JSON: {e}")))?;
    let Some(id_token) = tokens.id_token else {
        return Err(failed(
            "the token endpoint gave no id_token (is `openid` in the scopes?)".into(),
        )
        .into());
    };
    let identity = match auth
        .verify_oidc_id_token(&id_token, &oidc.settings.client_id, &flow.nonce)
        .await
    {
        Ok(identity) => identity,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, e.detail),
    };
    // The session keeps a token the bearer authentication accepts, for the same subject.
    let mut session_token = None;
    for candidate in [tokens.access_token.as_deref(), Some(id_token.as_str())]
        .into_iter()
        .flatten()
    {
        if let Ok(p) = auth.authenticate(candidate).await
            && p.user_id == identity.subject
        {
            session_token = Some(candidate.to_string());
            break;
        }
    }
    let Some(token) = session_token else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!(
                "Signed in at the issuer, but neither its access token nor its ID token is for \
                 audience `{}` (auth.oidc.audience): set it to the client id, or have the \
                 issuer put it in the access token.",
                oidc.settings.audience
            ),
        );
    };
    push_cookie(&req, cookie(ACCESS_COOKIE, token, https));
    push_cookie(&req, removal(REFRESH_COOKIE, https));
    // A page, not a redirect: the SameSite=Strict session cookie is sent on the navigation this
    // same-site page starts, not on the tail of the issuer's cross-site redirect.
    let ctx = Ctx::anonymous(&req, &console).set("next", &flow.next);
    view::ok("signed_in.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc_7636_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_button_names_the_issuer() {
        let mut s: OidcSettings = serde_json::from_value(serde_json::json!({
            "issuer": "https://login.acme.example/realms/main", "audience": "maestro",
            "jwks_url": "", "tenant_claim": "tenant", "role_claim": "role",
            "default_tenant": "", "default_role": "viewer", "client_id": "console"
        }))
        .unwrap();
        assert_eq!(display_name(&s), "login.acme.example");
        assert_eq!(s.scopes, "openid email profile");
        s.display_name = "Acme SSO".into();
        assert_eq!(display_name(&s), "Acme SSO");
    }
}

//! "Sign in with <issuer>": the authorization-code flow with PKCE against a small fake issuer
//! (discovery, JWKS, an authorize endpoint that redirects back with a code, a token endpoint
//! that checks the code verifier and the client secret), then the console session it sets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Browser;
use crate::helpers::{TestApp, repo_root};

pub(super) const AUDIENCE: &str = "maestro-oidc-test";
pub(super) const CLIENT_ID: &str = "maestro-console";
pub(super) const CLIENT_SECRET: &str = "console-s3cret";

fn sign(claims: &Value) -> String {
    let pem = std::fs::read(repo_root().join("tests/fixtures/oidc/private.pem")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key-1".to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

/// What the authorize endpoint handed out, per code.
#[derive(Clone)]
struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

pub(super) struct Issuer {
    pub url: String,
    pub handle: actix_web::dev::ServerHandle,
    /// Makes the next ID token carry another nonce (a replayed or foreign token).
    wrong_nonce: Arc<Mutex<bool>>,
}

/// The fake issuer, named `http://<host>:<port>` (it listens on 127.0.0.1; `localhost` makes it
/// another site than the console's 127.0.0.1 for a browser).
pub(super) async fn start_issuer(host: &str) -> Issuer {
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/oidc/jwks.json")).unwrap(),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{host}:{}", listener.local_addr().unwrap().port());
    let discovery = json!({
        "issuer": url, "jwks_uri": format!("{url}/jwks.json"),
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
    });
    let grants: Arc<Mutex<HashMap<String, Grant>>> = Arc::default();
    let wrong_nonce: Arc<Mutex<bool>> = Arc::default();
    let (iss, wn) = (url.clone(), wrong_nonce.clone());
    let server = HttpServer::new(move || {
        let (jwks, discovery, grants, iss, wn) = (
            jwks.clone(),
            discovery.clone(),
            grants.clone(),
            iss.clone(),
            wn.clone(),
        );
        let token_grants = grants.clone();
        App::new()
            .route(
                "/.well-known/openid-configuration",
                web::get().to(move || {
                    let d = discovery.clone();
                    async move { HttpResponse::Ok().json(d) }
                }),
            )
            .route(
                "/jwks.json",
                web::get().to(move || {
                    let j = jwks.clone();
                    async move { HttpResponse::Ok().json(j) }
                }),
            )
            .route(
                "/authorize",
                web::get().to(move |q: web::Query<HashMap<String, String>>| {
                    let grants = grants.clone();
                    async move {
                        let ok = q.get("response_type").map(String::as_str) == Some("code")
                            && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                            && q.get("code_challenge_method").map(String::as_str) == Some("S256")
                            && q.get("scope").is_some_and(|s| s.contains("openid"));
                        if !ok {
                            return HttpResponse::BadRequest().body(format!("bad request {q:?}"));
                        }
                        let code = uuid::Uuid::new_v4().to_string();
                        let redirect_uri = q["redirect_uri"].clone();
                        grants.lock().unwrap().insert(
                            code.clone(),
                            Grant {
                                challenge: q["code_challenge"].clone(),
                                nonce: q["nonce"].clone(),
                                redirect_uri: redirect_uri.clone(),
                            },
                        );
                        let mut back = url::Url::parse(&redirect_uri).unwrap();
                        back.query_pairs_mut()
                            .append_pair("code", &code)
                            .append_pair("state", &q["state"]);
                        HttpResponse::Found()
                            .insert_header(("location", back.to_string()))
                            .finish()
                    }
                }),
            )
            .route(
                "/token",
                web::post().to(
                    move |req: HttpRequest, form: web::Form<HashMap<String, String>>| {
                        let (grants, iss, wn) = (token_grants.clone(), iss.clone(), wn.clone());
                        async move {
                            let expected = format!(
                                "Basic {}",
                                base64::engine::general_purpose::STANDARD
                                    .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
                            );
                            let basic = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok());
                            if basic != Some(expected.as_str()) {
                                return HttpResponse::Unauthorized()
                                    .json(json!({"error": "invalid_client"}));
                            }
                            let Some(grant) = form
                                .get("code")
                                .and_then(|c| grants.lock().unwrap().remove(c))
                            else {
                                return HttpResponse::BadRequest()
                                    .json(json!({"error": "invalid_grant"}));
                            };
                            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                                .encode(Sha256::digest(verifier.as_bytes()));
                            if challenge != grant.challenge
                                || form.get("redirect_uri") != Some(&grant.redirect_uri)
                                || form.get("grant_type").map(String::as_str)
                                    != Some("authorization_code")
                            {
                                return HttpResponse::BadRequest()
                                    .json(json!({"error": "invalid_grant"}));
                            }
                            let now = chrono::Utc::now().timestamp();
                            let nonce = if *wn.lock().unwrap() {
                                "someone-elses".to_string()
                            } else {
                                grant.nonce
                            };
                            let base = json!({
                                "sub": "sso-user-7", "email": "sso@acme.test", "iss": iss,
                                "iat": now, "exp": now + 600, "tenant": "acme", "role": "editor",
                            });
                            let mut id = base.clone();
                            id["aud"] = json!(CLIENT_ID);
                            id["nonce"] = json!(nonce);
                            let mut access = base;
                            access["aud"] = json!(AUDIENCE);
                            HttpResponse::Ok().json(json!({
                                "id_token": sign(&id), "access_token": sign(&access),
                                "token_type": "Bearer", "expires_in": 600,
                            }))
                        }
                    },
                ),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Issuer {
        url,
        handle,
        wrong_nonce,
    }
}

/// The issuer's leg: follows the console's redirect to /authorize and returns where the issuer
/// sends the browser back (a console path with `code` and `state`).
async fn authorize(location: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client.get(location).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "{:?}", res.text().await);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    let back = url::Url::parse(&back).unwrap();
    format!("{}?{}", back.path(), back.query().unwrap_or_default())
}

#[tokio::test]
async fn sign_in_with_the_issuer_runs_the_code_flow_with_pkce_and_sets_the_session() {
    let issuer = start_issuer("127.0.0.1").await;
    let iss = issuer.url.clone();
    let app = TestApp::builder()
        .with(move |s| {
            s.auth.oidc.issuer = iss;
            s.auth.oidc.audience = AUDIENCE.to_string();
            s.auth.oidc.client_id = CLIENT_ID.to_string();
            s.auth.oidc.client_secret = CLIENT_SECRET.to_string();
            s.auth.oidc.display_name = "Acme SSO".to_string();
        })
        .spawn()
        .await;
    let browser = Browser::new(&app);
    let page = browser.get("/ui/login?next=/ui/templates").await;
    page.assert_ok("login");
    assert!(page.body.contains("Sign in with Acme SSO"), "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/ui/oidc/login?next=%2Fui%2Ftemplates\""),
        "a link (a form's redirect to the issuer would break the CSP's form-action): {}",
        page.body
    );

    let page = browser.get("/ui/oidc/login?next=/ui/templates").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let to_issuer = page.location().to_string();
    assert!(to_issuer.starts_with(&format!("{}/authorize?", issuer.url)));
    assert!(to_issuer.contains("code_challenge_method=S256"));
    assert!(
        !to_issuer.contains("code_verifier"),
        "the verifier stays here"
    );
    let flow_cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("maestro_oidc="))
        .expect("the flow cookie");
    assert!(flow_cookie.contains("HttpOnly"), "{flow_cookie}");
    assert!(flow_cookie.contains("SameSite=Lax"), "{flow_cookie}");

    let back = authorize(&to_issuer).await;
    assert!(back.starts_with("/ui/oidc/callback?code="), "{back}");
    // A forged state is refused, and the flow cookie is spent.
    let forged = back.replace("state=", "state=0");
    let page = browser.get(&forged).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(browser.cookie("maestro_session").is_none());
    let page = browser.get(&back).await;
    assert_eq!(
        page.status,
        StatusCode::BAD_REQUEST,
        "no flow cookie any more"
    );

    // The whole flow again, properly.
    let page = browser.get("/ui/oidc/login?next=/ui/templates").await;
    let back = authorize(page.location()).await;
    let page = browser.get(&back).await;
    page.assert_ok("callback");
    assert!(
        page.body
            .contains("<meta http-equiv=\"refresh\" content=\"0; url=/ui/templates\">"),
        "{}",
        page.body
    );
    assert!(browser.cookie("maestro_session").is_some());
    assert!(browser.cookie("maestro_oidc").is_none(), "spent");
    let page = browser.get("/ui/templates").await;
    page.assert_ok("signed in through the issuer");
    assert!(
        page.body.contains("sso@acme.test (editor)"),
        "{}",
        page.body
    );
    // An old callback URL does not belong to a newer sign-in (its state differs).
    let page = browser.get("/ui/oidc/login").await;
    let _ = authorize(page.location()).await;
    let page = browser.get(&back).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);

    // An ID token minted for another sign-in (nonce) is refused.
    *issuer.wrong_nonce.lock().unwrap() = true;
    let other = Browser::new(&app);
    let page = other.get("/ui/oidc/login").await;
    let back = authorize(page.location()).await;
    let page = other.get(&back).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(page.body.contains("nonce"), "{}", page.body);
    assert!(other.cookie("maestro_session").is_none());

    // The issuer saying no is shown on the sign-in page.
    let page = other.get("/ui/oidc/login").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = other
        .get("/ui/oidc/callback?error=access_denied&error_description=User%20cancelled")
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("access_denied"), "{}", page.body);
    issuer.handle.stop(false).await;
}

#[tokio::test]
async fn without_a_client_id_there_is_no_oidc_button_and_no_flow() {
    let app = TestApp::builder()
        .with(|s| {
            s.auth.oidc.issuer = "https://login.acme.example".to_string();
            s.auth.oidc.audience = AUDIENCE.to_string();
        })
        .spawn()
        .await;
    let browser = Browser::new(&app);
    let page = browser.get("/ui/login").await;
    assert!(!page.assert_ok("login").body.contains("Sign in with"));
    assert!(page.body.contains("auth.oidc.client_id"));
    let page = browser.get("/ui/oidc/login").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

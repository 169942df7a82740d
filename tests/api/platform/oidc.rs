//! An external OIDC issuer played by a tiny HTTP server serving discovery + JWKS.

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, repo_root};

const AUDIENCE: &str = "maestro-oidc-test";

async fn start_issuer() -> (String, actix_web::dev::ServerHandle) {
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/oidc/jwks.json")).unwrap(),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")});
    let server = HttpServer::new(move || {
        let (jwks, discovery) = (jwks.clone(), discovery.clone());
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
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (issuer, handle)
}

fn sign(claims: &Value, kid: &str) -> String {
    let pem = std::fs::read(repo_root().join("tests/fixtures/oidc/private.pem")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn claims(issuer: &str, extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "sub": "oidc-user-42", "email": "sso@acme.test", "iss": issuer, "aud": AUDIENCE,
        "iat": now, "exp": now + 600, "tenant": "acme", "role": "editor",
    });
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
        c.extend(extra);
    }
    c
}

#[tokio::test]
async fn tokens_from_the_oidc_issuer_are_verified_through_its_jwks() {
    let (issuer, issuer_handle) = start_issuer().await;
    let iss = issuer.clone();
    let app = TestApp::builder()
        .with(move |s| {
            s.auth.oidc.issuer = iss;
            s.auth.oidc.audience = AUDIENCE.to_string();
        })
        .spawn()
        .await;

    let token = sign(&claims(&issuer, json!({})), "test-key-1");
    let (status, me) = app.get("/api/v1/auth/me", Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["source"], "oidc");
    assert_eq!(me["tenant_name"], "acme");
    assert_eq!(me["tenant_id"], app.admin.tenant_id.as_str());
    assert_eq!(me["role"], "editor");
    assert_eq!(me["user_id"], "oidc-user-42");

    // Groups-style role claims: the highest known role wins.
    let token = sign(
        &claims(&issuer, json!({"role": ["viewer", "admin", "other"]})),
        "test-key-1",
    );
    let (status, _) = app.get("/api/v1/admin/users", Some(&token)).await;
    assert_eq!(status, 200);

    let public_jwks = std::fs::read(repo_root().join("tests/fixtures/oidc/jwks.json")).unwrap();
    let alg_confusion = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(&issuer, json!({})),
        &EncodingKey::from_secret(&public_jwks),
    )
    .unwrap();
    for (name, token) in [
        (
            "wrong audience",
            sign(
                &claims(&issuer, json!({"aud": "someone-else"})),
                "test-key-1",
            ),
        ),
        (
            "wrong issuer",
            sign(
                &claims(&issuer, json!({"iss": "https://other.example"})),
                "test-key-1",
            ),
        ),
        (
            "expired",
            sign(
                &claims(&issuer, json!({"exp": 1000, "iat": 900})),
                "test-key-1",
            ),
        ),
        (
            "not valid yet (nbf beyond the 30 s leeway)",
            sign(
                &claims(
                    &issuer,
                    json!({"nbf": chrono::Utc::now().timestamp() + 600}),
                ),
                "test-key-1",
            ),
        ),
        (
            "unknown kid",
            sign(&claims(&issuer, json!({})), "rotated-away"),
        ),
        ("HS256 keyed with the public JWKS", alg_confusion),
        (
            "no tenant",
            sign(&claims(&issuer, json!({"tenant": null})), "test-key-1"),
        ),
    ] {
        let (status, body) = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(status, 401, "{name}: {body}");
    }
    issuer_handle.stop(false).await;
}

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TEST_PASSWORD, TestApp};

async fn login(app: &TestApp, email: &str, password: &str) -> (reqwest::StatusCode, Value) {
    app.post(
        "/api/v1/auth/token",
        None,
        &json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn login_returns_tokens_that_reach_me() {
    let app = TestApp::spawn().await;
    let (status, body) = login(&app, "Editor@Acme.test", TEST_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1800);
    let access = body["access_token"].as_str().unwrap();
    assert!(body["refresh_token"].as_str().unwrap().starts_with("mrt_"));

    let (status, me) = app.get("/api/v1/auth/me", Some(access)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "editor@acme.test");
    assert_eq!(me["role"], "editor");
    assert_eq!(me["tenant_name"], "acme");
    assert_eq!(me["source"], "local");
}

#[tokio::test]
async fn wrong_credentials_get_401_without_saying_which() {
    let app = TestApp::spawn().await;
    let (status, wrong_pw) = login(&app, "editor@acme.test", "not-the-password").await;
    assert_eq!(status, 401);
    let (status, no_user) = login(&app, "nobody@acme.test", TEST_PASSWORD).await;
    assert_eq!(status, 401);
    assert_eq!(wrong_pw["detail"], no_user["detail"]);
    assert_eq!(wrong_pw["code"], "auth.unauthorized");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    let (_, first) = login(&app, "viewer@acme.test", TEST_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_string();

    let (status, second) = app
        .post("/api/v1/auth/refresh", None, &json!({"refresh_token": r1}))
        .await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    let (status, _) = app
        .get("/api/v1/auth/me", second["access_token"].as_str())
        .await;
    assert_eq!(status, 200);

    // Presenting the rotated token again: refused, and the newer token dies with it.
    let (status, reuse) = app
        .post("/api/v1/auth/refresh", None, &json!({"refresh_token": r1}))
        .await;
    assert_eq!(status, 401);
    assert!(
        reuse["detail"].as_str().unwrap().contains("already used"),
        "{reuse}"
    );
    let (status, _) = app
        .post("/api/v1/auth/refresh", None, &json!({"refresh_token": r2}))
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .get("/api/v1/auth/me", second["access_token"].as_str())
        .await;
    assert_eq!(
        status, 401,
        "the revoked sign-in's access token stops working"
    );

    // Another sign-in is a separate family and still works.
    let (_, other) = login(&app, "viewer@acme.test", TEST_PASSWORD).await;
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_and_the_sign_ins_access_tokens() {
    let app = TestApp::spawn().await;
    let (_, pair) = login(&app, "viewer@acme.test", TEST_PASSWORD).await;
    let (_, other) = login(&app, "viewer@acme.test", TEST_PASSWORD).await;
    let refresh = pair["refresh_token"].clone();
    let access = pair["access_token"].as_str().unwrap();
    let other_access = other["access_token"].as_str().unwrap();
    // Checked (and the sign-in's state cached) before the logout.
    assert_eq!(app.get("/api/v1/auth/me", Some(access)).await.0, 200);
    let (status, _) = app
        .post(
            "/api/v1/auth/logout",
            None,
            &json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = app.get("/api/v1/auth/me", Some(access)).await;
    assert_eq!(status, 401, "the signed-out sign-in's access token: {body}");
    assert_eq!(
        app.get("/api/v1/auth/me", Some(other_access)).await.0,
        200,
        "another sign-in of the same user keeps working"
    );
}

fn claims(app: &TestApp, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": app.admin.id, "tid": app.admin.tenant_id, "role": "admin",
        "email": app.admin.email, "iss": "maestro", "aud": "maestro-api",
        "iat": now, "exp": now + exp_offset, "jti": "j1",
    })
}

#[tokio::test]
async fn forged_expired_alg_none_and_foreign_tokens_get_401() {
    let app = TestApp::spawn().await;
    let secret = app.settings.auth.secret_key.clone();
    let sign = |alg: Algorithm, claims: &Value, key: &[u8]| {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
    };

    let good = sign(Algorithm::HS256, &claims(&app, 600), secret.as_bytes());
    assert_eq!(app.get("/api/v1/auth/me", Some(&good)).await.0, 200);

    let forged = sign(
        Algorithm::HS256,
        &claims(&app, 600),
        b"someone-elses-secret-0123456789",
    );
    let expired = sign(Algorithm::HS256, &claims(&app, -3600), secret.as_bytes());
    let wrong_alg = sign(Algorithm::HS512, &claims(&app, 600), secret.as_bytes());
    let mut foreign_claims = claims(&app, 600);
    foreign_claims["iss"] = json!("https://evil.example");
    let wrong_issuer = sign(Algorithm::HS256, &foreign_claims, secret.as_bytes());
    let mut aud_claims = claims(&app, 600);
    aud_claims["aud"] = json!("another-api");
    let wrong_audience = sign(Algorithm::HS256, &aud_claims, secret.as_bytes());
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&app, 600)).unwrap())
    );
    // A signature cut from a valid token and pasted onto a modified payload.
    let mut tampered_claims = claims(&app, 600);
    tampered_claims["role"] = json!("admin");
    tampered_claims["tid"] = json!(app.other_admin.tenant_id);
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered_claims).unwrap()),
        parts[2]
    );

    for (name, token) in [
        ("forged", forged),
        ("expired", expired),
        ("wrong algorithm", wrong_alg),
        ("wrong issuer", wrong_issuer),
        ("wrong audience", wrong_audience),
        ("alg none", alg_none),
        ("tampered", tampered),
        ("garbage", "not.a.jwt".to_string()),
    ] {
        let (status, body) = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(status, 401, "{name} token: {body}");
        assert_eq!(body["code"], "auth.unauthorized", "{name}");
    }
    let (status, _) = app.get("/api/v1/auth/me", None).await;
    assert_eq!(status, 401);
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
}

#[tokio::test]
async fn tokens_are_not_accepted_before_their_nbf() {
    let app = TestApp::spawn().await;
    let secret = app.settings.auth.secret_key.clone();
    let sign = |nbf: Option<i64>| {
        let mut c = claims(&app, 600);
        if let Some(nbf) = nbf {
            c["nbf"] = json!(nbf);
        }
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &c,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let (status, body) = app
        .get("/api/v1/auth/me", Some(&sign(Some(now + 300))))
        .await;
    assert_eq!(status, 401, "not valid for another 5 minutes: {body}");
    assert_eq!(body["code"], "auth.unauthorized");
    for (label, nbf) in [
        ("no nbf", None),
        ("nbf now", Some(now)),
        ("nbf in the past", Some(now - 300)),
        ("nbf within the clock-skew leeway", Some(now + 2)),
    ] {
        let (status, body) = app.get("/api/v1/auth/me", Some(&sign(nbf))).await;
        assert_eq!(status, 200, "{label}: {body}");
    }
    // Maestro's own tokens carry nbf.
    let payload = app.admin.token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert!(claims["nbf"].as_i64().unwrap() <= chrono::Utc::now().timestamp());
}

#[tokio::test]
async fn roles_gate_admin_endpoints() {
    let app = TestApp::spawn().await;
    for user in [&app.viewer, &app.editor] {
        let (status, body) = app.get("/api/v1/admin/users", Some(&user.token)).await;
        assert_eq!(status, 403, "{}: {body}", user.email);
        assert_eq!(body["code"], "auth.forbidden");
        let (status, _) = app.get("/api/v1/admin/stats", Some(&user.token)).await;
        assert_eq!(status, 403);
    }
    let (status, page) = app.get("/api/v1/admin/users", Some(&app.admin.token)).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 3, "acme has admin, editor, viewer: {page}");
}

#[tokio::test]
async fn tenants_cannot_see_each_other() {
    let app = TestApp::spawn().await;
    let (_, acme) = app.get("/api/v1/admin/users", Some(&app.admin.token)).await;
    let (_, globex) = app
        .get("/api/v1/admin/users", Some(&app.other_admin.token))
        .await;
    let acme_emails: Vec<&str> = acme["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(!acme_emails.contains(&"admin@globex.test"));
    assert_eq!(globex["total"], 1);

    // Another tenant's user is a 404 (never a 403 that confirms it exists), for reads and writes.
    let path = format!("/api/v1/admin/users/{}", app.editor.id);
    let (status, body) = app.get(&path, Some(&app.other_admin.token)).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app
        .put(
            &format!("{path}/role"),
            Some(&app.other_admin.token),
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.delete(&path, Some(&app.other_admin.token)).await;
    assert_eq!(status, 404);
    let (status, own) = app.get(&path, Some(&app.admin.token)).await;
    assert_eq!(status, 200);
    assert_eq!(own["role"], "editor");
}

#[tokio::test]
async fn admins_manage_users_and_role_changes_apply_to_live_tokens() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .post(
            "/api/v1/admin/users",
            Some(&app.admin.token),
            &json!({"email": "new@acme.test", "password": "long-enough-pw", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["tenant_id"], app.admin.tenant_id.as_str());
    assert!(created.get("password_hash").is_none());

    let (status, dup) = app
        .post(
            "/api/v1/admin/users",
            Some(&app.admin.token),
            &json!({"email": "NEW@acme.test", "password": "long-enough-pw", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 409, "{dup}");

    let (status, bad) = app
        .post(
            "/api/v1/admin/users",
            Some(&app.admin.token),
            &json!({"email": "not-an-email", "password": "short", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "password"]);

    // The viewer's existing token picks up the promotion without signing in again.
    let path = format!("/api/v1/admin/users/{}/role", app.viewer.id);
    let (status, _) = app
        .put(&path, Some(&app.admin.token), &json!({"role": "admin"}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .get("/api/v1/admin/users", Some(&app.viewer.token))
        .await;
    assert_eq!(status, 200);

    // The tenant's admins can demote each other, but not the last one.
    let (status, _) = app
        .put(&path, Some(&app.admin.token), &json!({"role": "viewer"}))
        .await;
    assert_eq!(status, 200);
    let own = format!("/api/v1/admin/users/{}/role", app.admin.id);
    let (status, body) = app
        .put(&own, Some(&app.admin.token), &json!({"role": "editor"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "auth.last_admin");

    // A deleted user's token stops working.
    let (status, _) = app
        .delete(
            &format!("/api/v1/admin/users/{}", app.editor.id),
            Some(&app.admin.token),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.get("/api/v1/auth/me", Some(&app.editor.token)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn without_rbac_everyone_acts_at_least_as_editor_and_admins_stay_admins() {
    let app = TestApp::builder()
        .with(|s| s.auth.rbac = false)
        .spawn()
        .await;
    let (_, me) = app.get("/api/v1/auth/me", Some(&app.viewer.token)).await;
    assert_eq!(me["role"], "editor");
    let (_, me) = app.get("/api/v1/auth/me", Some(&app.admin.token)).await;
    assert_eq!(me["role"], "admin", "admins stay admins: {me}");
    let (status, _) = app
        .get("/api/v1/admin/users", Some(&app.viewer.token))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.get("/api/v1/admin/users", Some(&app.admin.token)).await;
    assert_eq!(status, 200);

    // A viewer writes as an editor; forcing a publication stays an admin's right, and works
    // for one on an ordinary (editor) endpoint.
    let mut body = crate::templates::sample("rbac-off");
    let (status, created) = app
        .post("/api/v1/templates", Some(&app.viewer.token), &body)
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let etag = created["current_commit"].as_str().unwrap().to_string();
    body["manifest"]["version"] = json!("1.1.0");
    body["force"] = json!({"reason": "RBAC is off; admins still force"});
    for user in [&app.viewer, &app.editor] {
        let (status, problem) =
            crate::templates::put_with_etag(&app, &user.token, &id, &etag, &body).await;
        assert_eq!(status, 403, "{}: {problem}", user.email);
    }
    let (status, updated) =
        crate::templates::put_with_etag(&app, &app.admin.token, &id, &etag, &body).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], "1.1.0");
}

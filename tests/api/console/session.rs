//! Sign-in, cookies, CSRF, sign-out and static assets.

use reqwest::StatusCode;

use super::{Browser, assert_no_raw};
use crate::helpers::TestApp;

#[tokio::test]
async fn pages_need_a_session_and_sign_in_sets_strict_http_only_cookies() {
    let app = TestApp::spawn().await;
    let browser = Browser::new(&app);

    let page = browser.get("/ui/templates?text=api").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location(),
        "/ui/login?next=%2Fui%2Ftemplates%3Ftext%3Dapi"
    );

    let csrf = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("maestro_csrf="))
        .expect("the first console response sets a CSRF cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(csrf.contains(attr), "{csrf} lacks {attr}");
    }
    assert!(
        !csrf.contains("Secure"),
        "plain http: no Secure flag ({csrf})"
    );
    let login = browser.get("/ui/login?next=%2Fui%2Ftemplates").await;
    login.assert_ok("login page");
    assert!(login.body.contains("name=\"password\""));
    assert!(
        login.set_cookies().is_empty(),
        "the CSRF cookie is kept, not replaced"
    );
    assert!(
        login
            .headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("script-src 'self'"))
    );

    // A wrong password: the form again, with a message, and no session.
    let page = browser
        .post(
            "/ui/login",
            &[
                ("email", &app.viewer.email),
                ("password", "wrong-password"),
                ("next", "/ui/templates"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Invalid email or password."));
    assert!(browser.cookie("maestro_session").is_none());

    // A redirect target off the console is ignored.
    let page = browser
        .post(
            "/ui/login",
            &[
                ("email", &app.viewer.email),
                ("password", &app.viewer.password),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/ui");
    let session = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("maestro_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    let page = browser.get("/ui/templates").await;
    page.assert_ok("catalog after sign-in");
    assert!(
        page.body.contains("viewer@acme.test (viewer)"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn behind_https_the_cookies_are_secure() {
    let app = TestApp::spawn().await;
    let browser = Browser::new(&app);
    let page = browser.send_with_proto("/ui/login").await;
    let csrf = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("maestro_csrf="))
        .expect("CSRF cookie");
    assert!(csrf.contains("Secure"), "{csrf}");
}

impl Browser {
    async fn send_with_proto(&self, path: &str) -> super::Page {
        self.send(
            self.request(reqwest::Method::GET, path)
                .header("x-forwarded-proto", "https"),
        )
        .await
    }
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let browser = Browser::new(&app);
    browser.get("/ui/login").await.assert_ok("login page");
    // Missing, then wrong: both 403, and no session.
    for fields in [
        vec![
            ("email", app.admin.email.as_str()),
            ("password", app.admin.password.as_str()),
        ],
        vec![
            (
                "csrf",
                "0000000000000000000000000000000000000000000000000000000000000000",
            ),
            ("email", app.admin.email.as_str()),
            ("password", app.admin.password.as_str()),
        ],
    ] {
        let page = browser.post_raw("/ui/login", &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
        assert!(page.body.contains("security token"));
        assert!(browser.cookie("maestro_session").is_none());
    }

    // Signed in, a write without the token is refused before it happens.
    let browser = Browser::sign_in(&app, &app.editor).await;
    let (id, first) = second_version(&app, "csrf-target").await;
    let page = browser
        .post_raw(
            &format!("/ui/templates/{id}/restore"),
            &[("commit", first.as_str())],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let (_, detail) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.editor.token))
        .await;
    assert_ne!(
        detail["current_commit"],
        first.as_str(),
        "nothing was restored"
    );
    // The same request with the token works (editor).
    let page = browser
        .post(
            &format!("/ui/templates/{id}/restore"),
            &[("commit", first.as_str())],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

/// A template with two versions; returns (id, first commit).
pub async fn second_version(app: &TestApp, name: &str) -> (String, String) {
    let (id, first) = crate::templates::create_sample(app, name).await;
    let mut body = crate::templates::sample(name);
    body["files"]["README.md"] = serde_json::json!("# Changed\n\nA second version.\n");
    let (status, updated) =
        crate::templates::put_with_etag(app, &app.editor.token, &id, &first, &body).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    (id, first)
}

#[tokio::test]
async fn sign_out_revokes_the_session() {
    let app = TestApp::spawn().await;
    let browser = Browser::sign_in(&app, &app.viewer).await;
    let refresh = browser.cookie("maestro_refresh").expect("refresh cookie");
    let page = browser.post("/ui/logout", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/ui/login");
    assert!(browser.cookie("maestro_session").is_none());
    assert!(browser.cookie("maestro_refresh").is_none());
    let page = browser.get("/ui/templates").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // The refresh token was revoked at the API too.
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &serde_json::json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_access_cookie_is_renewed_from_the_refresh_cookie() {
    let app = TestApp::spawn().await;
    let browser = Browser::sign_in(&app, &app.viewer).await;
    // A broken access token stands in for an expired one.
    browser
        .cookies
        .lock()
        .unwrap()
        .insert("maestro_session".into(), "not-a-token".into());
    let old_refresh = browser.cookie("maestro_refresh").unwrap();
    let page = browser.get("/ui/templates").await;
    page.assert_ok("catalog with a renewed session");
    assert_ne!(browser.cookie("maestro_refresh").unwrap(), old_refresh);
    assert_ne!(browser.cookie("maestro_session").unwrap(), "not-a-token");
}

#[tokio::test]
async fn assets_are_embedded_with_a_long_immutable_cache() {
    let app = TestApp::spawn().await;
    let browser = Browser::sign_in(&app, &app.viewer).await;
    let page = browser.get("/ui/templates").await;
    let mut found = 0;
    for url in [
        "/ui/assets/htmx-2.0.11.min.js",
        "/ui/assets/pico-2.1.1.min.css",
    ] {
        assert!(page.body.contains(url), "the layout links {url}");
        let asset = browser.get(url).await;
        asset.assert_ok(url);
        assert_eq!(
            asset.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(asset.body.len() > 10_000);
        found += 1;
    }
    assert_eq!(found, 2);
    // maestro.css is named by its digest.
    let css = page
        .body
        .split('"')
        .find(|s| s.starts_with("/ui/assets/maestro-") && s.ends_with(".css"))
        .expect("maestro css link")
        .to_string();
    let asset = browser.get(&css).await;
    asset.assert_ok("maestro.css");
    assert!(asset.body.contains("focus-visible"));
    let missing = browser.get("/ui/assets/htmx-1.0.0.min.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_no_raw(&missing.body, "<script");
}

//! The web console without a browser: a cookie-keeping HTTP client signs in through the login
//! form and reads every page and fragment; hostile template content must come back as text;
//! viewers see no write controls and get 403 when they post anyway; a POST without the CSRF
//! token is refused; a disabled module's pages do not exist.

mod browser;
mod modules;
mod oidc;
mod pages;
mod session;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, TestUser};

/// A response as a browser sees it.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    #[track_caller]
    pub fn assert_ok(&self, what: &str) -> &Page {
        assert_eq!(self.status, StatusCode::OK, "{what}: {}", self.body);
        self
    }
}

/// A minimal browser: keeps cookies, does not follow redirects.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.address.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn csrf(&self) -> String {
        self.cookie("maestro_csrf").expect("a CSRF cookie")
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let req = match self.cookie_header() {
            h if h.is_empty() => req,
            h => req.header("cookie", h),
        };
        let res = req.send().await.expect("request reaches the server");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        let page = Page {
            status,
            headers,
            body,
        };
        let mut jar = self.cookies.lock().unwrap();
        for raw in page.set_cookies() {
            let first = raw.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let removed = value.is_empty() || raw.to_ascii_lowercase().contains("max-age=0");
            if removed {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_string(), value.to_string());
            }
        }
        page
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.request(Method::GET, path)).await
    }

    /// An htmx request for a fragment.
    pub async fn fragment(&self, path: &str) -> Page {
        self.send(self.request(Method::GET, path).header("HX-Request", "true"))
            .await
    }

    /// A form POST with the CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// A form POST exactly as given (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            self.request(Method::POST, path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    /// Signs in through the login form.
    pub async fn sign_in(app: &TestApp, user: &TestUser) -> Browser {
        let browser = Browser::new(app);
        browser.get("/ui/login").await.assert_ok("login page");
        let page = browser
            .post(
                "/ui/login",
                &[
                    ("email", &user.email),
                    ("password", &user.password),
                    ("next", "/ui/templates"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert!(browser.cookie("maestro_session").is_some());
        browser
    }
}

/// Fails when `needle` appears in `html` unescaped.
#[track_caller]
pub fn assert_no_raw(html: &str, needle: &str) {
    assert!(
        !html.contains(needle),
        "`{needle}` appears unescaped:\n{html}"
    );
}

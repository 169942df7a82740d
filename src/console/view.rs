//! Rendering: one minijinja environment with the console's templates embedded (auto-escaping
//! on, as for every `.html` template), and the context every page gets (nav, user, CSRF token,
//! asset URLs). Content from templates users wrote is only ever passed as data, so it is
//! escaped; the one exception is Markdown, which [`super::markdown`] renders without raw HTML.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::Console;
use super::assets;
use super::session::{CsrfToken, Session, UiError, UiResult};
use crate::platform::http::error::ApiError;
use crate::render::escape_with;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "macros.html",
    "login.html",
    "error.html",
    "home.html",
    "catalog.html",
    "catalog_results.html",
    "template.html",
    "file.html",
    "diff.html",
    "use.html",
    "preview.html",
    "quality.html",
    "workflows.html",
    "workflow.html",
    "runs.html",
    "run.html",
    "run_body.html",
    "run_step.html",
    "step_details.html",
    "dlq.html",
    "dlq_confirm.html",
    "audit.html",
    "healing_nav.html",
    "healing_rows.html",
    "healing_failures.html",
    "healing_failure.html",
    "healing_flaky.html",
    "healing_list.html",
    "healing.html",
    "environments.html",
    "environment.html",
    "job.html",
    "drift.html",
    "signed_in.html",
];

/// The console's HTML entities: text (the first three) and quoted attributes (all five).
const HTML_ENTITIES: [(char, &str); 5] = [
    ('<', "&lt;"),
    ('>', "&gt;"),
    ('&', "&amp;"),
    ('"', "&quot;"),
    ('\'', "&#x27;"),
];

/// `raw` escaped for HTML text and quoted attributes.
pub fn html_escape(raw: &str) -> String {
    escape_with(raw, &HTML_ENTITIES)
}

pub fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // Strings are escaped for HTML text and quoted attributes (& < > " '); minijinja's own
        // escaper also turns `/` into `&#x2f;`, which is safe but doubles the size of every URL.
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Html)
                && !value.is_safe()
                && let Some(text) = value.as_str()
            {
                return out.write_str(&html_escape(text)).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                });
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // A broken embedded template is a build defect; the unit test renders them all.
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        env.add_filter("short", |s: String| -> String {
            s.chars().take(10).collect()
        });
        env.add_filter("bytes", |n: i64| -> String {
            match n {
                n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
                n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
                n => format!("{n} B"),
            }
        });
        env.add_filter("when", |s: String| -> String {
            // RFC 3339 → "2026-12-06 18:23:47Z", readable and still unambiguous.
            match chrono::DateTime::parse_from_rfc3339(&s) {
                Ok(t) => t
                    .with_timezone(&chrono::Utc)
                    .format("%Y-%m-%d %H:%M:%SZ")
                    .to_string(),
                Err(_) => s,
            }
        });
        env.add_filter("ms", |n: i64| -> String {
            match n {
                n if n >= 60_000 => format!("{}m {:02}s", n / 60_000, (n % 60_000) / 1000),
                n if n >= 1000 => format!("{:.2} s", n as f64 / 1000.0),
                n => format!("{n} ms"),
            }
        });
        env.add_filter("pretty", |v: Value| -> String {
            let json: serde_json::Value = serde_json::to_value(&v).unwrap_or_default();
            serde_json::to_string_pretty(&json).unwrap_or_default()
        });
        // For text inside elements: only & < > need escaping (quotes are harmless there), which
        // keeps JSON in <pre> blocks short. Never use it inside an attribute.
        env.add_filter("text", |s: String| -> Value {
            Value::from_safe_string(escape_with(&s, &HTML_ENTITIES[..3]))
        });
        env.add_filter("clip", |s: String, n: usize| -> String {
            if s.chars().count() <= n {
                s
            } else {
                let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
                out.push('…');
                out
            }
        });
        // A file path as a URL path: every segment percent-encoded, the slashes kept.
        env.add_filter("urlpath", |s: String| -> String {
            s.split('/')
                .map(|seg| {
                    seg.bytes()
                        .map(|b| match b {
                            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                                (b as char).to_string()
                            }
                            other => format!("%{other:02X}"),
                        })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("/")
        });
        env.add_function("urlencode", |s: String| -> String {
            super::session::urlencode(&s)
        });
        env
    })
}

/// The context of one page, built up with [`Ctx::set`].
pub struct Ctx {
    values: Vec<(String, Value)>,
}

impl Ctx {
    fn base(req: &HttpRequest, console: &Console) -> Ctx {
        let csrf = req
            .extensions()
            .get::<CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        let section = req
            .path()
            .trim_start_matches("/ui")
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let path = match req.query_string() {
            "" => req.path().to_string(),
            q => format!("{}?{q}", req.path()),
        };
        Ctx { values: Vec::new() }
            .set("csrf", csrf)
            .set("assets", assets::urls())
            .set("nav", console.nav())
            .set("section", section)
            .set("path", path)
    }

    /// A page for a signed-in user.
    pub fn new(req: &HttpRequest, console: &Console, session: &Session) -> Ctx {
        Ctx::base(req, console)
            .set(
                "user",
                serde_json::json!({
                    "email": session.principal.email,
                    "id": session.principal.user_id,
                    "tenant": session.principal.tenant_id,
                    "role": session.role().as_str(),
                }),
            )
            .set("can_edit", session.can_edit())
            .set("is_admin", session.is_admin())
    }

    /// A context with the layout's values only (benchmarks).
    pub fn blank() -> Ctx {
        Ctx { values: Vec::new() }
            .set("csrf", "0".repeat(64))
            .set("assets", assets::urls())
            .set("nav", Vec::<()>::new())
            .set("section", "")
            .set("path", "/ui")
            .set("can_edit", true)
            .set("is_admin", true)
    }

    /// The sign-in page.
    pub fn anonymous(req: &HttpRequest, console: &Console) -> Ctx {
        Ctx::base(req, console).set("nav", Vec::<()>::new())
    }

    pub fn set(mut self, key: &str, value: impl Serialize) -> Ctx {
        self.values.push((
            key.to_string(),
            Value::from(minijinja::value::Serde(&value)),
        ));
        self
    }

    fn into_value(self) -> Value {
        // Later values win (a page may override a layout default).
        let map: std::collections::BTreeMap<String, Value> = self.values.into_iter().collect();
        Value::from(map)
    }
}

/// Renders a template to a string.
pub fn render(template: &str, ctx: Ctx) -> Result<String, ApiError> {
    let env = env();
    let tmpl = env
        .get_template(template)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("console template {template}: {e}")))?;
    tmpl.render(ctx.into_value())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("console template {template}: {e:#}")))
}

/// A full HTML page (or a fragment: the template decides what it renders).
pub fn page(status: StatusCode, template: &str, ctx: Ctx) -> UiResult {
    let html = render(template, ctx).map_err(UiError::Api)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

pub fn ok(template: &str, ctx: Ctx) -> UiResult {
    page(StatusCode::OK, template, ctx)
}

/// Is this an htmx request for a fragment of a page?
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request") && !req.headers().contains_key("HX-Boosted")
}

/// A redirect after a successful POST (the page shows the new state; reload is harmless).
pub fn see_other(location: impl Into<String>) -> HttpResponse {
    let location = location.into();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The error page: the layout with no nav and no user (it is rendered where no session may exist).
pub fn error_page(
    status: StatusCode,
    code: &str,
    detail: &str,
    fields: &[(String, String)],
) -> HttpResponse {
    let ctx = Ctx { values: Vec::new() }
        .set("assets", assets::urls())
        .set("status", status.as_u16())
        .set("title", status.canonical_reason().unwrap_or("Error"))
        .set("code", code)
        .set("detail", detail)
        .set("fields", fields);
    let html = render("error.html", ctx).unwrap_or_else(|_| {
        format!(
            "<!doctype html><title>Error</title><p>{} {}</p>",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error")
        )
    });
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let env = env();
        for (name, _) in TEMPLATES {
            env.get_template(name)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn html_templates_escape_data() {
        let html = render(
            "error.html",
            Ctx { values: Vec::new() }
                .set("assets", assets::urls())
                .set("status", 404)
                .set("title", "Not Found")
                .set("code", "x")
                .set("detail", "<script>alert(1)</script>")
                .set("fields", Vec::<(String, String)>::new()),
        )
        .unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
    }
}

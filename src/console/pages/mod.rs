//! The console's pages, one file per module. Each handler takes the [`Session`] (sign-in and
//! role), calls the module's service in-process with the caller's principal or tenant, and
//! renders a template. POST handlers take a [`CsrfForm`](super::session::CsrfForm) and answer
//! with a redirect to the page that shows the result.

pub mod healing;
pub mod k8s;
pub mod quality;
pub mod templates;
pub mod workflows;

use actix_web::{HttpRequest, web};

use super::Console;
use super::session::{Session, UiResult};
use super::view::{self, Ctx};

/// `/ui`: the first page of the navigation, or a page saying nothing is enabled.
pub async fn home(req: HttpRequest, console: web::Data<Console>, session: Session) -> UiResult {
    if let Some(first) = console.nav().first() {
        return Ok(view::see_other(first.href));
    }
    view::ok("home.html", Ctx::new(&req, &console, &session))
}

/// A number from the query string; anything unreadable counts as absent (paging stays lenient).
pub fn lenient_i64(raw: &Option<String>) -> Option<i64> {
    raw.as_deref().and_then(|s| s.trim().parse().ok())
}

/// A filter value from the query string: trimmed, `None` when empty.
pub fn clean(raw: &Option<String>) -> Option<String> {
    raw.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A `limit`/`offset` pair from the query string, clamped as the API clamps it.
pub fn page_query(
    limit: Option<i64>,
    offset: Option<i64>,
) -> crate::platform::http::pagination::PageQuery {
    crate::platform::http::pagination::PageQuery {
        limit: Some(limit.unwrap_or(25).clamp(1, 100)),
        offset: Some(offset.unwrap_or(0).max(0)),
    }
}

/// A filtered list's links: `base` for its pager (`/ui/…?filters&`) and `json_url`, the API
/// endpoint with the same filters.
pub fn list_links(ctx: Ctx, ui: &str, api: &str, pairs: &[(&str, Option<String>)]) -> Ctx {
    let json = filter_base(api, pairs);
    ctx.set("base", filter_base(ui, pairs))
        .set("json_url", json.trim_end_matches(['?', '&']))
}

/// Query string of the filters (empty values dropped), ending in `&` or `?` so a pager can
/// append `offset=…`.
pub fn filter_base(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
        }
    }
    let q = s.finish();
    if q.is_empty() {
        format!("{path}?")
    } else {
        format!("{path}?{q}&")
    }
}

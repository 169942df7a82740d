//! The console's pages, one file per module. Each handler takes a [`Ui`] (the request, the
//! [`Session`] with sign-in and role, and the module's service), calls the service in-process
//! with the caller's principal or tenant, and renders a template. POST handlers take a
//! [`CsrfForm`](super::session::CsrfForm) and answer with a redirect to the page that shows the
//! result.

pub mod healing;
pub mod k8s;
pub mod quality;
pub mod templates;
pub mod workflows;

use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;

use super::Console;
use super::session::{Session, UiError, UiResult};
use super::view::{self, Ctx};
use crate::modules::healing::HealingService;
use crate::modules::k8s::K8sService;
use crate::modules::quality::QualityService;
use crate::modules::templates::TemplatesService;
use crate::modules::workflows::WorkflowsService;
use crate::platform::http::error::ApiError;

/// What every module page starts from: the request, the console, the signed-in session and the
/// module's service. Extracting it signs the browser in first (or sends it to sign in), then
/// answers a disabled module's pages with 404.
pub struct Ui<S> {
    pub req: HttpRequest,
    pub console: web::Data<Console>,
    pub session: Session,
    pub service: S,
}

impl<S> Ui<S> {
    /// The page context with the layout's and the signed-in user's values.
    pub fn ctx(&self) -> Ctx {
        Ctx::new(&self.req, &self.console, &self.session)
    }
}

/// A module service the console has when the module is enabled.
pub trait PageService: Clone + 'static {
    fn of(console: &Console) -> Result<&Self, ApiError>;
}

macro_rules! page_services {
    ($($service:ty => $field:ident),+ $(,)?) => {$(
        impl PageService for $service {
            fn of(console: &Console) -> Result<&Self, ApiError> {
                super::enabled(&console.$field, stringify!($field))
            }
        }
    )+};
}

page_services! {
    TemplatesService => templates,
    QualityService => quality,
    WorkflowsService => workflows,
    HealingService => healing,
    K8sService => k8s,
}

impl<S: PageService> FromRequest for Ui<S> {
    type Error = UiError;
    type Future = LocalBoxFuture<'static, Result<Self, UiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = Session::extract(&req).await?;
            let console = req
                .app_data::<web::Data<Console>>()
                .cloned()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("Console not registered")))?;
            let service = S::of(&console)?.clone();
            Ok(Ui {
                req,
                console,
                session,
                service,
            })
        })
    }
}

/// `/ui`: the first page of the navigation, or a page saying nothing is enabled.
pub async fn home(req: HttpRequest, console: web::Data<Console>, session: Session) -> UiResult {
    if let Some(first) = console.nav().first() {
        return Ok(view::see_other(first.href));
    }
    view::ok("home.html", Ctx::new(&req, &console, &session))
}

/// `?offset=` of a page that has no other query: `page(limit)` is that page.
#[derive(Debug, Default, serde::Deserialize)]
pub struct OffsetQuery {
    pub offset: Option<String>,
}

impl OffsetQuery {
    pub fn page(&self, limit: i64) -> crate::platform::http::pagination::PageQuery {
        page_query(Some(limit), lenient_i64(&self.offset))
    }
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

//! Page rendering without HTTP or a database, for `benches/console.rs`: the same templates and
//! the same view-building code as the handlers, fed with data the benchmark makes up.

use serde_json::json;

use super::pages::{templates as tpages, workflows as wpages};
use super::view::{self, Ctx};
use crate::modules::templates::model::TemplateSummary;
use crate::modules::workflows::model::RunView;
use crate::platform::http::error::ApiError;
use crate::platform::http::pagination::Page;

/// The catalog page (full layout) for one page of results.
pub fn catalog_page(page: &Page<TemplateSummary>) -> Result<String, ApiError> {
    let ctx = tpages::catalog_ctx(
        Ctx::blank(),
        Some(page),
        None,
        &Default::default(),
        70,
        true,
    )
    .set(
        "categories",
        json!([{"category": "backend_developer", "count": page.total}]),
    );
    view::render("catalog.html", ctx)
}

/// The run page (full layout) for one run.
pub fn run_page(run: &RunView) -> Result<String, ApiError> {
    let ctx = wpages::run_ctx(Ctx::blank(), run, chrono::Utc::now(), true, true);
    view::render("run.html", ctx)
}

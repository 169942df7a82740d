//! `/api/v1/quality/*`.

use actix_web::{get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{HistoryEntry, OverrideView, ScoreRequest, ScoreResponse, ValidateRequest};
use super::report::Report;
use super::service::QualityService;
use crate::platform::auth::{Authorized, Editor, Viewer};
use crate::platform::http::error::ApiResult;
use crate::platform::http::openapi::{ApiErrors, EditorErrors, JsonBodyErrors};
use crate::platform::http::pagination::{Page, PageQuery};

crate::problem_responses! {
    struct TemplateNotFound = [404 => "No such template in your tenant"];
    struct ValidateRejected = [422 => "Neither or both of `template_id` and `template`, or an invalid inline template"];
}

pub fn configure(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    service: QualityService,
) {
    cfg.app_data(web::Data::new(service)).service(
        utoipa_actix_web::scope::scope("/api/v1/quality")
            .service(validate)
            .service(score)
            .service(report)
            .service(history)
            .service(overrides),
    );
}

/// Score a stored template (its current version) or an inline `{manifest, files}` without
/// storing anything.
#[utoipa::path(
    tag = "quality",
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "The evaluation", body = ScoreResponse),
        ApiErrors, JsonBodyErrors, TemplateNotFound, ValidateRejected,
    ),
    security(("bearer" = ["viewer"]))
)]
#[post("/validate")]
async fn validate(
    caller: Authorized<Viewer>,
    service: web::Data<QualityService>,
    body: web::Json<ValidateRequest>,
) -> ApiResult<web::Json<ScoreResponse>> {
    Ok(web::Json(
        service.validate(&caller, body.into_inner()).await?,
    ))
}

/// Score a template's current version and store the score (one per version).
#[utoipa::path(
    tag = "quality",
    request_body = ScoreRequest,
    responses(
        (status = 200, description = "The stored score, in the seed's shape with per-check evidence", body = ScoreResponse),
        EditorErrors, JsonBodyErrors, TemplateNotFound,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/score")]
async fn score(
    caller: Authorized<Editor>,
    service: web::Data<QualityService>,
    body: web::Json<ScoreRequest>,
) -> ApiResult<web::Json<ScoreResponse>> {
    Ok(web::Json(service.score(&caller, &body.template_id).await?))
}

/// Your tenant's quality: score distribution, pass rate, per category, the checks failing most,
/// and a 30-day trend.
#[utoipa::path(
    tag = "quality",
    responses(
        (status = 200, description = "The report", body = Report),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/report")]
async fn report(
    caller: Authorized<Viewer>,
    service: web::Data<QualityService>,
) -> ApiResult<web::Json<Report>> {
    Ok(web::Json(service.report(caller.tenant()).await?))
}

/// The score of each version of a template, newest first.
#[utoipa::path(
    tag = "quality",
    params(("id" = String, Path, description = "Template id"), PageQuery),
    responses(
        (status = 200, description = "One entry per scored version", body = Page<HistoryEntry>),
        ApiErrors, TemplateNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/templates/{id}/history")]
async fn history(
    caller: Authorized<Viewer>,
    service: web::Data<QualityService>,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<HistoryEntry>>> {
    Ok(web::Json(
        service
            .history(caller.tenant(), caller.principal.role, &id, &page)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OverrideFilter {
    /// Only this template's forced publishes.
    template_id: Option<String>,
}

/// Publishes admins forced past the regression gate: who, why, and the scores.
#[utoipa::path(
    tag = "quality",
    params(OverrideFilter, PageQuery),
    responses(
        (status = 200, description = "Forced publishes, newest first", body = Page<OverrideView>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/overrides")]
async fn overrides(
    caller: Authorized<Viewer>,
    service: web::Data<QualityService>,
    filter: web::Query<OverrideFilter>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<OverrideView>>> {
    Ok(web::Json(
        service
            .overrides(caller.tenant(), filter.into_inner().template_id, &page)
            .await?,
    ))
}

//! `/api/v1/healing/*`: report ingest, failures, test history.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::archive::{self, ArchiveKind, Budget};
use super::classify::Category;
use super::junit::Outcome;
use super::model::{
    FailureDetail, FailureSummary, FlakyTest, HistoryEntry, IngestResponse, QuarantineEntry,
    QuarantineList, QuarantineRequest, ReportBody, ReportMeta,
};
use super::service::{HealingService, Upload};
use super::store::FailureFilter;
use crate::platform::auth::{Authorized, Editor, Viewer};
use crate::platform::blocking::run_blocking;
use crate::platform::http::body::{BodyLimit, read_body};
use crate::platform::http::error::{ApiError, ApiResult};
use crate::platform::http::openapi::{ApiErrors, EditorErrors, JsonBodyErrors};
use crate::platform::http::pagination::{Page, PageQuery};

crate::problem_responses! {
    struct ReportRejected = [422 => "Malformed XML (`healing.malformed_report`, naming file and line), not a JUnit report (`healing.not_junit`), an unreadable archive, an empty upload or invalid metadata; nothing was stored"];
    struct TooLarge = [413 => "The upload is larger than healing.max_upload_bytes holds more than healing.max_cases test cases, or an archive expands past its limits"];
    struct FailureNotFound = [404 => "No such failure in your tenant"];
    struct TestNotFound = [404 => "No such test in your tenant"];
    struct QuarantineRejected = [404 => "No such test in your tenant", 409 => "The test is broken (fails every attempt at its newest commit: never quarantined) or already quarantined", 422 => "The test has no flaky evidence in the window, or the request is invalid"];
    struct NotQuarantined = [404 => "No such test in your tenant, or it is not quarantined"];
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope::scope("/api/v1/healing")
            .service(upload_report)
            .service(list_failures)
            .service(get_failure)
            .service(flaky_tests)
            .service(quarantine_test)
            .service(unquarantine_test)
            .service(quarantine_list)
            .service(test_history),
    );
}

fn query_meta(req: &HttpRequest) -> ApiResult<ReportMeta> {
    Ok(web::Query::<ReportMeta>::from_query(req.query_string())
        .map_err(|e| {
            ApiError::bad_request(
                "request.invalid_query",
                format!("The query string is invalid: {e}"),
            )
        })?
        .into_inner())
}

fn essence(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Upload JUnit XML: one file as the body (`application/xml`), or a `.zip`/`.tar.gz` of a
/// reports folder (every `*.xml` inside), with the metadata in the query string; or JSON with
/// several `files` and/or `cases`. Counts are recomputed from the test cases, retries
/// folded in; a malformed file is a 422 naming file and line and nothing is stored.
#[utoipa::path(
    tag = "healing",
    params(ReportMeta),
    request_body(
        description = "One JUnit XML file, or the JSON form",
        content(
            (ReportBody = "application/json"),
            (String = "application/xml"),
            (Vec<u8> = "application/zip"),
            (Vec<u8> = "application/gzip")
        )
    ),
    responses(
        (status = 201, description = "Stored", body = IngestResponse),
        EditorErrors, JsonBodyErrors, ReportRejected, TooLarge,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/reports")]
async fn upload_report(
    caller: Authorized<Editor>,
    service: web::Data<HealingService>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let kind = essence(&req);
    let body = read_body(
        &req,
        payload,
        BodyLimit {
            bytes: service.settings().max_upload_bytes,
            code: "healing.upload_too_large",
            setting: "healing.max_upload_bytes",
        },
    )
    .await?;
    let upload = if kind == "application/json" || kind.ends_with("+json") {
        let parsed: ReportBody = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "request.invalid_json",
                format!("The JSON body does not match the expected shape: {e}"),
            )
        })?;
        Upload {
            project: parsed.project,
            commit_sha: parsed.commit_sha,
            branch: parsed.branch,
            ci_run_id: parsed.ci_run_id,
            attempt: parsed.attempt,
            framework: parsed.framework,
            source: "api".into(),
            files: parsed
                .files
                .into_iter()
                .map(|f| (f.name, f.xml.into_bytes()))
                .collect(),
            cases: parsed.cases,
        }
    } else if let Some(archive) = ArchiveKind::from_essence(&kind) {
        let meta = query_meta(&req)?;
        let budget = Budget {
            max_expanded_bytes: service.settings().max_archive_expanded_bytes,
            max_files: service.settings().max_archive_files,
        };
        let files = run_blocking("healing.archive", move || {
            archive::report_files(archive, &body, &budget)
        })
        .await??;
        Upload {
            project: meta.project.unwrap_or_default(),
            commit_sha: meta.commit_sha,
            branch: meta.branch,
            ci_run_id: meta.ci_run_id,
            attempt: meta.attempt,
            framework: meta.framework,
            source: "api".into(),
            files,
            cases: Vec::new(),
        }
    } else if kind == "application/xml" || kind == "text/xml" || kind.ends_with("+xml") {
        let meta = query_meta(&req)?;
        Upload {
            project: meta.project.unwrap_or_default(),
            commit_sha: meta.commit_sha,
            branch: meta.branch,
            ci_run_id: meta.ci_run_id,
            attempt: meta.attempt,
            framework: meta.framework,
            source: "api".into(),
            files: vec![(
                meta.file.unwrap_or_else(|| "report.xml".into()),
                body.to_vec(),
            )],
            cases: Vec::new(),
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            format!(
                "`{kind}` is not accepted here; send application/xml (one JUnit file) or application/zip / application/gzip (a reports folder), with the metadata in the query string, or application/json."
            ),
        ));
    };
    let stored = service.ingest(caller.tenant(), upload).await?;
    Ok(HttpResponse::Created().json(stored))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FailureQuery {
    /// Only this project's failures.
    project: Option<String>,
    /// Only this test's failures.
    test_id: Option<String>,
    /// `failed`, `error` or `flaky`.
    outcome: Option<Outcome>,
    commit_sha: Option<String>,
    branch: Option<String>,
    /// Only the failures of this upload.
    report_id: Option<String>,
    /// Only this classification.
    category: Option<Category>,
}

/// Failures of your tenant, newest first: failed, errored and flaky results with their first
/// failing attempt's message.
#[utoipa::path(
    tag = "healing",
    params(FailureQuery, PageQuery),
    responses(
        (status = 200, description = "One page of failures", body = Page<FailureSummary>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/failures")]
async fn list_failures(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    query: web::Query<FailureQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<FailureSummary>>> {
    let q = query.into_inner();
    let filter = FailureFilter {
        project: q.project,
        test_id: q.test_id,
        outcome: q.outcome.map(|o| o.as_str().to_string()),
        commit_sha: q.commit_sha,
        branch: q.branch,
        report_id: q.report_id,
        category: q.category.map(|c| c.as_str().to_string()),
    };
    Ok(web::Json(
        service.failures(caller.tenant(), filter, &page).await?,
    ))
}

/// One failure with all its evidence: every failing attempt's message, type and body, and the
/// captured output (each capped as head + tail).
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Failure id")),
    responses(
        (status = 200, description = "The failure", body = FailureDetail),
        ApiErrors, FailureNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/failures/{id}")]
async fn get_failure(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
) -> ApiResult<web::Json<FailureDetail>> {
    Ok(web::Json(service.failure(caller.tenant(), &id).await?))
}

/// A test's results across reports, newest first.
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Test id"), PageQuery),
    responses(
        (status = 200, description = "One result per report that ran the test", body = Page<HistoryEntry>),
        ApiErrors, TestNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/tests/{id}/history")]
async fn test_history(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<HistoryEntry>>> {
    Ok(web::Json(
        service.history(caller.tenant(), &id, &page).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FlakyQuery {
    /// The project (required).
    project: String,
}

/// The project's tests with flaky evidence in the last `healing.flaky_window`: results that
/// failed then passed on a retry, or commits with both passing and failing results. A test whose
/// newest commit failed on every result is listed as `broken`, not `flaky`.
#[utoipa::path(
    tag = "healing",
    params(FlakyQuery, PageQuery),
    responses(
        (status = 200, description = "Flaky (and broken) tests, most evidence first", body = Page<FlakyTest>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/tests/flaky")]
async fn flaky_tests(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    query: web::Query<FlakyQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<FlakyTest>>> {
    Ok(web::Json(
        service
            .flaky(caller.tenant(), &query.project, &page)
            .await?,
    ))
}

/// Quarantine a flaky test: it keeps running but CI stops blocking on it (see
/// `GET /api/v1/healing/quarantine`). Only a test with flaky evidence can be quarantined; one
/// failing every attempt at its newest commit is broken and refused with 409.
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Test id")),
    request_body = QuarantineRequest,
    responses(
        (status = 201, description = "Quarantined", body = QuarantineEntry),
        EditorErrors, JsonBodyErrors, QuarantineRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/tests/{id}/quarantine")]
async fn quarantine_test(
    caller: Authorized<Editor>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
    body: web::Json<QuarantineRequest>,
) -> ApiResult<HttpResponse> {
    let entry = service
        .quarantine(&caller.principal, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(entry))
}

/// End a test's quarantine.
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Test id")),
    responses(
        (status = 204, description = "Released"),
        EditorErrors, NotQuarantined,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/tests/{id}/unquarantine")]
async fn unquarantine_test(
    caller: Authorized<Editor>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    service.unquarantine(&caller.principal, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct QuarantineQuery {
    /// The project (required).
    project: String,
    /// `json` (default) or `plain`: one test per line, `classname<TAB>name`.
    format: Option<String>,
}

/// The project's active quarantine, for CI to skip or ignore those tests: JSON, or with
/// `format=plain` one test per line (`classname<TAB>name`).
#[utoipa::path(
    tag = "healing",
    params(QuarantineQuery),
    responses(
        (status = 200, description = "Active quarantine entries, oldest first", content(
            (QuarantineList = "application/json"),
            (String = "text/plain")
        )),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/quarantine")]
async fn quarantine_list(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    query: web::Query<QuarantineQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let items = service.quarantined(caller.tenant(), &q.project).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(QuarantineList {
            project: q.project,
            items,
        })),
        Some("plain") => {
            let mut text = String::new();
            for e in items {
                text.push_str(&format!("{}\t{}\n", e.test.classname, e.test.name));
            }
            Ok(HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body(text))
        }
        Some(other) => Err(ApiError::bad_request(
            "request.invalid_query",
            format!("`format={other}` is not supported; use json or plain."),
        )),
    }
}

//! `/api/v1/healing/*`: report ingest, failures, test history, flaky tests and quarantine, heal
//! requests and their proposals, registered repositories, heal stats.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::archive::{self, Budget};
use super::classify::Category;
use super::junit::Outcome;
use super::model::{
    ApplyRequest, FailureDetail, FailureSummary, FlakyTest, HealRequest, HealResponse,
    HealingStats, HealingStatus, HealingView, HistoryEntry, IngestResponse, QuarantineEntry,
    QuarantineList, QuarantineRequest, ReportBody, ReportMeta, RepositoryRequest, RepositoryView,
};
use super::service::{HealingService, Upload};
use super::store::{FailureFilter, HealingFilter};
use super::strategies::StrategyName;
use crate::platform::auth::{Admin, Authorized, Editor, Viewer};
use crate::platform::blocking::run_blocking;
use crate::platform::http::body::ArchiveKind;
use crate::platform::http::body::{BodyLimit, parse_json, read_body, unsupported_media_type};
use crate::platform::http::error::{ApiError, ApiResult};
use crate::platform::http::openapi::{AdminErrors, ApiErrors, EditorErrors, JsonBodyErrors};
use crate::platform::http::pagination::{Page, PageQuery};

crate::problem_responses! {
    struct ReportRejected = [422 => "Malformed XML (`healing.malformed_report`, naming file and line), not a JUnit report (`healing.not_junit`), an unreadable archive, an empty upload or invalid metadata; nothing was stored"];
    struct TooLarge = [413 => "The upload is larger than healing.max_upload_bytes holds more than healing.max_cases test cases, or an archive expands past its limits"];
    struct FailureNotFound = [404 => "No such failure in your tenant"];
    struct TestNotFound = [404 => "No such test in your tenant"];
    struct QuarantineRejected = [404 => "No such test in your tenant", 409 => "The test is broken (fails every attempt at its newest commit: never quarantined) or already quarantined", 422 => "The test has no flaky evidence in the window, or the request is invalid"];
    struct NotQuarantined = [404 => "No such test in your tenant, or it is not quarantined"];
    struct HealingNotFound = [404 => "No such healing in your tenant"];
    struct DecideRejected = [404 => "No such healing in your tenant", 409 => "The healing is not `proposed` (already applied, rejected, verified, or an abstention): `healing.not_proposed`"];
    struct ApplyRejected = [404 => "No such healing in your tenant", 409 => "Not `proposed` (`healing.not_proposed`), no registered repository (`healing.no_repository`), the file changed since the patch was made (`healing.patch_stale`), the diff does not apply (`healing.patch_does_not_apply`), or the test is broken (`healing.broken_test`, quarantine proposals)", 422 => "The proposal may mask a regression and `approve_risk` is not true (`healing.approval_required`), or the test has no flaky evidence (`healing.not_flaky`)", 502 => "The registered repository could not be fetched or pushed to (`healing.git_failed`)"];
    struct RepositoryRejected = [409 => "The project already has a registered repository (`healing.repository_exists`)"];
    struct RepositoryNotFound = [404 => "No such repository in your tenant"];
}

pub fn configure(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    service: HealingService,
) {
    cfg.app_data(web::Data::new(service)).service(
        utoipa_actix_web::scope::scope("/api/v1/healing")
            .service(upload_report)
            .service(list_failures)
            .service(get_failure)
            .service(flaky_tests)
            .service(quarantine_test)
            .service(unquarantine_test)
            .service(quarantine_list)
            .service(test_history)
            .service(heal_failure)
            .service(list_healings)
            .service(get_healing)
            .service(apply_healing)
            .service(reject_healing)
            .service(register_repository)
            .service(list_repositories)
            .service(get_repository)
            .service(delete_repository)
            .service(heal_stats),
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

/// An upload of `files` (name, XML) whose metadata came in the query string.
fn query_upload(meta: ReportMeta, files: Vec<(String, Vec<u8>)>) -> Upload {
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
        let parsed: ReportBody = parse_json(&body, "a JSON report with `files` and/or `cases`")?;
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
    } else if let Some(archive) = ArchiveKind::from_content_type(&kind) {
        let meta = query_meta(&req)?;
        let budget = Budget {
            max_expanded_bytes: service.settings().max_archive_expanded_bytes,
            max_files: service.settings().max_archive_files,
        };
        let files = run_blocking("healing.archive", move || {
            archive::report_files(archive, &body, &budget)
        })
        .await??;
        query_upload(meta, files)
    } else if kind == "application/xml" || kind == "text/xml" || kind.ends_with("+xml") {
        let meta = query_meta(&req)?;
        let name = meta.file.clone().unwrap_or_else(|| "report.xml".into());
        query_upload(meta, vec![(name, body.to_vec())])
    } else {
        return Err(unsupported_media_type(
            &kind,
            "application/xml (one JUnit file) or application/zip / application/gzip (a reports folder), with the metadata in the query string, or application/json",
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

/// A JSON body that may be empty (an empty body is the default request), at most
/// `server.json_body_limit` bytes.
async fn optional_json<T: serde::de::DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> ApiResult<T> {
    let body = read_body(req, payload, BodyLimit::json(limit)).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(&body, "JSON of the documented request shape")
}

/// Run every healing strategy on a stored failure. Every proposal is stored — abstentions
/// too, with their reason — and published on `automation:healings`; `chosen` is the one to act
/// on (highest confidence, not abstaining). When the project has a registered repository, the
/// strategies also see the test file, the files the failing commit changed, the `files` asked
/// for, and that commit's diff.
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Failure id")),
    request_body(content = HealRequest, description = "Optional inputs (an empty body is fine)"),
    responses(
        (status = 201, description = "Proposals stored", body = HealResponse),
        EditorErrors, JsonBodyErrors, FailureNotFound,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/failures/{id}/heal")]
async fn heal_failure(
    caller: Authorized<Editor>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let req: HealRequest = optional_json(&req, payload, service.json_body_limit()).await?;
    let healed = service
        .heal(caller.tenant(), &caller.principal.display_name(), &id, req)
        .await?;
    Ok(HttpResponse::Created().json(healed))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HealingQuery {
    project: Option<String>,
    strategy: Option<StrategyName>,
    /// Where the proposal stands.
    #[param(inline)]
    status: Option<HealingStatus>,
    test_id: Option<String>,
    failure_id: Option<String>,
}

/// Healing proposals of your tenant, newest request first.
#[utoipa::path(
    tag = "healing",
    params(HealingQuery, PageQuery),
    responses(
        (status = 200, description = "One page of proposals", body = Page<HealingView>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/healings")]
async fn list_healings(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    query: web::Query<HealingQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<HealingView>>> {
    let q = query.into_inner();
    let filter = HealingFilter {
        project: q.project,
        strategy: q.strategy.map(|s| s.as_str().to_string()),
        status: q.status.map(|s| s.as_str().to_string()),
        test_id: q.test_id,
        failure_id: q.failure_id,
    };
    Ok(web::Json(
        service.healings(caller.tenant(), filter, &page).await?,
    ))
}

/// One healing proposal with its patch or config change, evidence and outcome.
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Healing id")),
    responses(
        (status = 200, description = "The proposal", body = HealingView),
        ApiErrors, HealingNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/healings/{id}")]
async fn get_healing(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
) -> ApiResult<web::Json<HealingView>> {
    Ok(web::Json(service.healing(caller.tenant(), &id).await?))
}

/// Apply a proposal: a quarantine proposal quarantines the test; a config change or retry is
/// recorded for CI; a patch becomes a branch `maestro/heal/<short id>` with exactly one commit
/// in the project's registered repository (never its default branch), pushed there. A proposal
/// that may mask a regression needs `approve_risk: true`. Published on `automation:results`.
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Healing id")),
    request_body(content = ApplyRequest, description = "Optional (an empty body is fine)"),
    responses(
        (status = 200, description = "Applied", body = HealingView),
        EditorErrors, JsonBodyErrors, ApplyRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/healings/{id}/apply")]
async fn apply_healing(
    caller: Authorized<Editor>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<web::Json<HealingView>> {
    let req: ApplyRequest = optional_json(&req, payload, service.json_body_limit()).await?;
    Ok(web::Json(service.apply(&caller.principal, &id, req).await?))
}

/// Reject a proposal (it is kept, with who rejected it). Published on `automation:results`.
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Healing id")),
    responses(
        (status = 200, description = "Rejected", body = HealingView),
        EditorErrors, DecideRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/healings/{id}/reject")]
async fn reject_healing(
    caller: Authorized<Editor>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
) -> ApiResult<web::Json<HealingView>> {
    Ok(web::Json(service.reject(&caller.principal, &id).await?))
}

/// Register a project's git repository (one per project): where patches are applied. https://
/// and ssh:// remotes, or a local path inside `healing.git_allowed_local_dirs`. A user name and
/// secret (password or token) for https are kept server-side and never returned.
#[utoipa::path(
    tag = "healing",
    request_body = RepositoryRequest,
    responses(
        (status = 201, description = "Registered", body = RepositoryView),
        AdminErrors, JsonBodyErrors, RepositoryRejected,
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/repositories")]
async fn register_repository(
    caller: Authorized<Admin>,
    service: web::Data<HealingService>,
    body: web::Json<RepositoryRequest>,
) -> ApiResult<HttpResponse> {
    let view = service
        .register_repository(&caller.principal, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Registered repositories of your tenant, by project.
#[utoipa::path(
    tag = "healing",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of repositories", body = Page<RepositoryView>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/repositories")]
async fn list_repositories(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RepositoryView>>> {
    Ok(web::Json(
        service.repositories(caller.tenant(), &page).await?,
    ))
}

/// One registered repository (without its credentials).
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Repository id")),
    responses(
        (status = 200, description = "The repository", body = RepositoryView),
        ApiErrors, RepositoryNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/repositories/{id}")]
async fn get_repository(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
) -> ApiResult<web::Json<RepositoryView>> {
    Ok(web::Json(service.repository(caller.tenant(), &id).await?))
}

/// Forget a registered repository (and Maestro's mirror of it; the remote is not touched).
#[utoipa::path(
    tag = "healing",
    params(("id" = String, Path, description = "Repository id")),
    responses(
        (status = 204, description = "Deleted"),
        AdminErrors, RepositoryNotFound,
    ),
    security(("bearer" = ["admin"]))
)]
#[delete("/repositories/{id}")]
async fn delete_repository(
    caller: Authorized<Admin>,
    service: web::Data<HealingService>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    service.delete_repository(caller.tenant(), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// Only this project (default: the whole tenant).
    project: Option<String>,
}

/// What healing really achieved, per strategy and overall: coverage (failures with a heal
/// request ÷ all failures), abstain rate, verified and false-heal rates over the heals put in
/// place, median time to green.
#[utoipa::path(
    tag = "healing",
    params(StatsQuery),
    responses(
        (status = 200, description = "Heal figures", body = HealingStats),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/stats")]
async fn heal_stats(
    caller: Authorized<Viewer>,
    service: web::Data<HealingService>,
    query: web::Query<StatsQuery>,
) -> ApiResult<web::Json<HealingStats>> {
    Ok(web::Json(
        service
            .stats(caller.tenant(), query.into_inner().project)
            .await?,
    ))
}

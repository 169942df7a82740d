//! HTTP handlers (no diesel here): extract, check the role, call the service, answer.
//! Roles: viewers read; editors create workflows, start runs, cancel/pause/resume runs and send
//! events; admins redrive the dead-letter queue and pause/resume whole workflows.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::definition::DefinitionDoc;
use super::error::WorkflowsError;
use super::model::*;
use super::service::WorkflowsService;
use crate::platform::auth::{Admin, Authorized, Editor, Viewer};
use crate::platform::http::body::{BodyLimit, parse_json, read_body};
use crate::platform::http::error::ApiResult;
use crate::platform::http::openapi::{
    AdminErrors, ApiErrors, BodyErrors, EditorErrors, JsonBodyErrors,
};
use crate::platform::http::pagination::{Page, PageQuery};

pub fn configure(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    service: WorkflowsService,
) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/workflows")
            .app_data(web::Data::new(service))
            .service(list_workflows)
            .service(create_workflow)
            .service(list_runs)
            .service(list_dlq)
            .service(redrive)
            .service(get_run)
            .service(cancel_run)
            .service(pause_run)
            .service(resume_run)
            .service(send_event)
            .service(run_audit)
            .service(verify_audit)
            .service(get_workflow)
            .service(execute)
            .service(pause_workflow)
            .service(resume_workflow),
    );
}

crate::problem_responses! {
    struct WorkflowNotFound = [404 => "No such workflow (or version) in your tenant"];
    struct RunNotFound = [404 => "No such run in your tenant"];
    struct VersionConflict = [409 => "`version` is not the next version"];
    struct RunFinished = [409 => "The run has already finished"];
    struct RunNotActive = [409 => "The run is not pending or running"];
    struct RunNotPaused = [409 => "The run is not paused"];
    struct DefinitionRejected = [422 => "Invalid definition; `errors` name each step and field"];
    struct InputsRejected = [422 => "Inputs do not match the schema, unknown version, or `Idempotency-Key` reused with other inputs"];
    struct RedriveRejected = [422 => "No runs named, or too many"];
}

fn body_limit(req: &HttpRequest) -> BodyLimit {
    BodyLimit::json(
        req.app_data::<web::Data<crate::platform::Platform>>()
            .map_or(1024 * 1024, |p| p.settings.server.json_body_limit),
    )
}

/// List workflows.
#[utoipa::path(
    tag = "workflows",
    params(PageQuery),
    responses(
        (status = 200, description = "Workflows of your tenant", body = Page<WorkflowSummary>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("")]
async fn list_workflows(
    auth: Authorized<Viewer>,
    service: web::Data<WorkflowsService>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<WorkflowSummary>>> {
    let page = service
        .list_definitions(auth.tenant(), page.into_inner())
        .await?;
    Ok(web::Json(page))
}

/// Create a workflow, or add a version to the workflow with the same name.
///
/// The body is the definition itself, as JSON (`application/json`) or YAML
/// (`application/yaml`). Unknown step types (or types whose module is disabled), unknown
/// `needs`, cycles and bad expressions are refused with 422 naming the step. Posting a
/// definition identical to the latest version returns it with 200 instead of adding a version.
#[utoipa::path(
    tag = "workflows",
    request_body(
        description = "The workflow definition (JSON or YAML)",
        content((DefinitionDoc = "application/json"), (DefinitionDoc = "application/yaml"))
    ),
    responses(
        (status = 201, description = "Created (new workflow or new version)", body = WorkflowDetail),
        (status = 200, description = "Identical to the latest version; nothing added", body = WorkflowDetail),
        EditorErrors, JsonBodyErrors, VersionConflict, DefinitionRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("")]
async fn create_workflow(
    auth: Authorized<Editor>,
    service: web::Data<WorkflowsService>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = read_body(&req, payload, body_limit(&req)).await?;
    let created = service
        .create_definition(&auth.principal, &body, content_type.as_deref())
        .await?;
    let location = format!("/api/v1/workflows/{}", created.detail.summary.id);
    Ok(if created.created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(created.detail)
    } else {
        HttpResponse::Ok().json(created.detail)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    /// The version whose definition to return (default: latest).
    version: Option<i64>,
}

/// Get a workflow with a version's definition and the list of versions.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id"), VersionQuery),
    responses(
        (status = 200, description = "The workflow", body = WorkflowDetail),
        ApiErrors, WorkflowNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/{id}")]
async fn get_workflow(
    auth: Authorized<Viewer>,
    service: web::Data<WorkflowsService>,
    path: web::Path<String>,
    query: web::Query<VersionQuery>,
) -> ApiResult<web::Json<WorkflowDetail>> {
    let detail = service
        .definition_detail(auth.tenant().clone(), path.into_inner(), query.version)
        .await?;
    Ok(web::Json(detail))
}

/// Start a run.
///
/// The run is pinned to the latest version (or `version`). With an `Idempotency-Key` header,
/// repeating the request returns the same run (200) instead of starting another; reusing a key
/// with different inputs is a 422.
#[utoipa::path(
    tag = "workflows",
    params(
        ("id" = String, Path, description = "Workflow id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Same key, same run"),
    ),
    request_body = ExecuteRequest,
    responses(
        (status = 201, description = "Run started", body = RunView),
        (status = 200, description = "The run this Idempotency-Key already started", body = RunView),
        EditorErrors, BodyErrors, WorkflowNotFound, InputsRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/{id}/execute")]
async fn execute(
    auth: Authorized<Editor>,
    service: web::Data<WorkflowsService>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| WorkflowsError::InvalidIdempotencyKey {
                    max: super::service::MAX_IDEMPOTENCY_KEY,
                })?
                .to_string(),
        ),
    };
    let body = read_body(&req, payload, body_limit(&req)).await?;
    let request: ExecuteRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ExecuteRequest::default()
    } else {
        parse_json(&body, r#"JSON like {"inputs": {…}}"#)?
    };
    let (run, created) = service
        .execute(&auth.principal, path.into_inner(), request, key)
        .await?;
    Ok(if created {
        HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/workflows/runs/{}", run.id),
            ))
            .json(run)
    } else {
        HttpResponse::Ok().json(run)
    })
}

/// Pause a whole workflow: its active runs pause, new runs start paused.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Paused", body = WorkflowSummary),
        AdminErrors, WorkflowNotFound,
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/{id}/pause")]
async fn pause_workflow(
    auth: Authorized<Admin>,
    service: web::Data<WorkflowsService>,
    path: web::Path<String>,
) -> ApiResult<web::Json<WorkflowSummary>> {
    let wf = service
        .set_workflow_paused(&auth.principal, path.into_inner(), true)
        .await?;
    Ok(web::Json(wf))
}

/// Resume a paused workflow and the runs its pause paused.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Resumed", body = WorkflowSummary),
        AdminErrors, WorkflowNotFound,
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/{id}/resume")]
async fn resume_workflow(
    auth: Authorized<Admin>,
    service: web::Data<WorkflowsService>,
    path: web::Path<String>,
) -> ApiResult<web::Json<WorkflowSummary>> {
    let wf = service
        .set_workflow_paused(&auth.principal, path.into_inner(), false)
        .await?;
    Ok(web::Json(wf))
}

/// List runs, newest first, filtered by workflow, status and creation time.
#[utoipa::path(
    tag = "workflows",
    params(RunsQuery, PageQuery),
    responses(
        (status = 200, description = "Runs", body = Page<RunSummary>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/runs")]
async fn list_runs(
    auth: Authorized<Viewer>,
    service: web::Data<WorkflowsService>,
    query: web::Query<RunsQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RunSummary>>> {
    let page = service
        .list_runs(auth.tenant(), query.into_inner(), &page)
        .await?;
    Ok(web::Json(page))
}

/// Get a run with every step's status, attempts, timings, outputs and error.
#[utoipa::path(
    tag = "workflows",
    params(("run_id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunView),
        ApiErrors, RunNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/runs/{run_id}")]
async fn get_run(
    auth: Authorized<Viewer>,
    service: web::Data<WorkflowsService>,
    path: web::Path<String>,
) -> ApiResult<web::Json<RunView>> {
    let run = service
        .run_view(auth.tenant().clone(), path.into_inner())
        .await?;
    Ok(web::Json(run))
}

macro_rules! run_action {
    ($name:ident, $path:literal, $method:ident, $summary:literal, $conflict:ident) => {
        #[doc = $summary]
        #[utoipa::path(
                    tag = "workflows",
                    params(("run_id" = String, Path, description = "Run id")),
                    responses(
                        (status = 200, description = "The run after the change", body = RunView),
                        EditorErrors, RunNotFound, $conflict,
                    ),
                    security(("bearer" = ["editor"]))
                )]
        #[post($path)]
        async fn $name(
            auth: Authorized<Editor>,
            service: web::Data<WorkflowsService>,
            path: web::Path<String>,
        ) -> ApiResult<web::Json<RunView>> {
            let run = service.$method(&auth.principal, path.into_inner()).await?;
            Ok(web::Json(run))
        }
    };
}

run_action!(
    cancel_run,
    "/runs/{run_id}/cancel",
    cancel,
    "Cancel a run: unfinished steps are cancelled and running ones stopped.",
    RunFinished
);
run_action!(
    pause_run,
    "/runs/{run_id}/pause",
    pause,
    "Pause a run: no further step starts until it is resumed (running steps finish).",
    RunNotActive
);
run_action!(
    resume_run,
    "/runs/{run_id}/resume",
    resume,
    "Resume a paused run (a step that paused it by running out of retries gets a new budget).",
    RunNotPaused
);

/// Send an event to a run (for `wait_for_event`).
///
/// The body (any JSON, or empty) becomes the step's `payload` output. A step waiting for the
/// event completes at once; otherwise the event is kept until a step waits for it.
#[utoipa::path(
    tag = "workflows",
    params(
        ("run_id" = String, Path, description = "Run id"),
        ("name" = String, Path, description = "Event name"),
    ),
    request_body(content = Object, description = "Event payload (optional)"),
    responses(
        (status = 202, description = "Accepted: delivered to a waiting step or kept", body = EventDelivery),
        EditorErrors, BodyErrors, RunNotFound, RunFinished,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/runs/{run_id}/events/{name}")]
async fn send_event(
    auth: Authorized<Editor>,
    service: web::Data<WorkflowsService>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (run_id, name) = path.into_inner();
    let body = read_body(
        &req,
        payload,
        BodyLimit {
            bytes: super::service::MAX_PAYLOAD_BYTES,
            code: "request.body_too_large",
            setting: "the fixed 256 KiB event payload limit",
        },
    )
    .await?;
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        parse_json(&body, "a JSON event payload")?
    };
    let delivery = service
        .send_event(
            auth.tenant(),
            auth.principal.display_name(),
            run_id,
            name,
            value,
            "api",
        )
        .await?;
    Ok(HttpResponse::Accepted().json(delivery))
}

/// List dead-lettered runs with the failed step's error, attempts and inputs.
#[utoipa::path(
    tag = "workflows",
    params(DlqQuery, PageQuery),
    responses(
        (status = 200, description = "Dead-lettered runs", body = Page<DlqEntry>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/dlq")]
async fn list_dlq(
    auth: Authorized<Viewer>,
    service: web::Data<WorkflowsService>,
    query: web::Query<DlqQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<DlqEntry>>> {
    let page = service
        .list_dlq(auth.tenant(), query.into_inner(), &page)
        .await?;
    Ok(web::Json(page))
}

/// Redrive dead-lettered runs from their failed step (by id, or all of one workflow's).
#[utoipa::path(
    tag = "workflows",
    request_body = RedriveRequest,
    responses(
        (status = 200, description = "Which runs were redriven and which were skipped (with why)", body = RedriveResponse),
        AdminErrors, JsonBodyErrors, WorkflowNotFound, RedriveRejected,
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/dlq/redrive")]
async fn redrive(
    auth: Authorized<Admin>,
    service: web::Data<WorkflowsService>,
    body: web::Json<RedriveRequest>,
) -> ApiResult<web::Json<RedriveResponse>> {
    let result = service.redrive(&auth.principal, body.into_inner()).await?;
    Ok(web::Json(result))
}

/// The run's audit log: every state transition, hash-chained.
#[utoipa::path(
    tag = "workflows",
    params(("run_id" = String, Path, description = "Run id"), PageQuery),
    responses(
        (status = 200, description = "Audit entries in order", body = Page<AuditEntry>),
        ApiErrors, RunNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/runs/{run_id}/audit")]
async fn run_audit(
    auth: Authorized<Viewer>,
    service: web::Data<WorkflowsService>,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<AuditEntry>>> {
    let page = service
        .audit(auth.tenant(), path.into_inner(), page.into_inner())
        .await?;
    Ok(web::Json(page))
}

/// Verify the run's audit chain: every entry's hash, every link, and the head on the run.
#[utoipa::path(
    tag = "workflows",
    params(("run_id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "Verification result (`valid` false names the first bad entry)", body = AuditVerification),
        ApiErrors, RunNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/runs/{run_id}/audit/verify")]
async fn verify_audit(
    auth: Authorized<Viewer>,
    service: web::Data<WorkflowsService>,
    path: web::Path<String>,
) -> ApiResult<web::Json<AuditVerification>> {
    let result = service
        .verify_audit(auth.tenant(), path.into_inner())
        .await?;
    Ok(web::Json(result))
}

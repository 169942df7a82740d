//! HTTP handlers of the k8s module (no diesel, no kube here): extract, check the role, call the
//! service, answer. Viewers read and render; editors create, delete and extend.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use futures::StreamExt;

use super::model::{
    EnvironmentRequest, EnvironmentView, ExtendRequest, JobRequest, JobView, RenderedManifests,
};
use super::service::K8sService;
use super::service::{JobLog, ListFilter};
use crate::platform::auth::{Authorized, Editor, Viewer};
use crate::platform::http::error::ApiResult;
use crate::platform::http::openapi::{ApiErrors, EditorErrors, JsonBodyErrors};
use crate::platform::http::pagination::{Page, PageQuery};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig, service: K8sService) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/environments")
            .app_data(web::Data::new(service))
            .service(list_environments)
            .service(create_environment)
            .service(render_environment)
            .service(get_environment)
            .service(delete_environment)
            .service(extend_environment)
            .service(create_job)
            .service(list_jobs)
            .service(get_job)
            .service(job_logs),
    );
}

crate::problem_responses! {
    struct EnvironmentNotFound = [404 => "No such environment in your tenant"];
    struct ClusterUnavailable = [
        502 => "The Kubernetes API refused a request (`k8s.cluster_error`; the detail says which)",
        503 => "No cluster is configured or it does not answer (`k8s.cluster_unavailable` names what to configure), or the database is unavailable",
    ];
    struct CreateConflict = [409 => "The id names an environment with a different spec, or its namespace is taken"];
    struct Deleted = [409 => "The environment is deleted"];
    struct SpecRejected = [422 => "Invalid environment; `errors` name each field"];
    struct JobNotFound = [404 => "No such environment or job in your tenant"];
    struct JobConflict = [409 => "The id names a job with a different spec, or the environment is deleted"];
    struct JobRejected = [422 => "Invalid job; `errors` name each field"];
    struct JobNotStarted = [409 => "The job's pod has not started yet (`k8s.job_not_started`); retry"];
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `me` or a user id: only environments that user created.
    owner: Option<String>,
    /// provisioning, ready, failed, terminating or deleted (as last seen).
    phase: Option<String>,
}

/// List the tenant's environments (newest first), with the phase last seen.
#[utoipa::path(
    tag = "k8s",
    params(ListQuery, PageQuery),
    responses(
        (status = 200, description = "Environments of your tenant", body = Page<EnvironmentView>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("")]
async fn list_environments(
    auth: Authorized<Viewer>,
    service: web::Data<K8sService>,
    query: web::Query<ListQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<EnvironmentView>>> {
    let q = query.into_inner();
    let page = service
        .list(
            &auth.principal,
            ListFilter {
                owner: q.owner.filter(|s| !s.is_empty()),
                phase: q.phase.filter(|s| !s.is_empty()),
            },
            page.into_inner(),
        )
        .await?;
    Ok(web::Json(page))
}

/// Create an environment: namespace `maestro-<id>` with quota, limits, network isolation and
/// Pod Security, then the databases (credentials in the Secret `maestro-credentials`), then
/// the app.
///
/// Idempotent on `id`: the same request again returns the environment (200) and re-applies its
/// manifests (a no-op when nothing changed); the same id with a different spec is a 409.
#[utoipa::path(
    tag = "k8s",
    request_body = EnvironmentRequest,
    responses(
        (status = 201, description = "Created; provisioning", body = EnvironmentView),
        (status = 200, description = "This id already names this environment", body = EnvironmentView),
        EditorErrors, JsonBodyErrors, CreateConflict, SpecRejected, ClusterUnavailable,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("")]
async fn create_environment(
    auth: Authorized<Editor>,
    service: web::Data<K8sService>,
    body: web::Json<EnvironmentRequest>,
) -> ApiResult<HttpResponse> {
    let created = service
        .create(&auth.principal, body.into_inner(), None)
        .await?;
    let location = format!("/api/v1/environments/{}", created.view.id);
    Ok(if created.created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(created.view)
    } else {
        HttpResponse::Ok().json(created.view)
    })
}

/// The manifests `create` would apply for this request, as a YAML `List` — nothing is
/// stored or applied, and no cluster is needed. Database passwords are freshly generated.
#[utoipa::path(
    tag = "k8s",
    request_body = EnvironmentRequest,
    responses(
        (status = 200, description = "The manifests, in apply order, as a `v1` `List` (YAML)", body = RenderedManifests, content_type = "application/yaml"),
        ApiErrors, JsonBodyErrors, SpecRejected,
    ),
    security(("bearer" = ["viewer"]))
)]
#[post("/render")]
async fn render_environment(
    auth: Authorized<Viewer>,
    service: web::Data<K8sService>,
    body: web::Json<EnvironmentRequest>,
) -> ApiResult<HttpResponse> {
    let yaml = service.render(
        auth.tenant().as_str(),
        &auth.principal.user_id,
        &body.into_inner(),
    )?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml")
        .body(yaml))
}

/// An environment, with its phase read from the cluster now (and why it is not ready).
#[utoipa::path(
    tag = "k8s",
    params(("id" = String, Path, description = "Environment id")),
    responses(
        (status = 200, description = "The environment", body = EnvironmentView),
        ApiErrors, EnvironmentNotFound, ClusterUnavailable,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/{id}")]
async fn get_environment(
    auth: Authorized<Viewer>,
    service: web::Data<K8sService>,
    path: web::Path<String>,
) -> ApiResult<web::Json<EnvironmentView>> {
    let env = service.get(auth.tenant(), &path.into_inner()).await?;
    Ok(web::Json(env))
}

/// Delete an environment (its namespace and everything in it). Idempotent: deleting an
/// environment that is already gone or terminating succeeds; `phase` says which, and `reason`
/// names a namespace stuck terminating.
#[utoipa::path(
    tag = "k8s",
    params(("id" = String, Path, description = "Environment id")),
    responses(
        (status = 200, description = "Deleted (`deleted`) or being deleted (`terminating`)", body = EnvironmentView),
        EditorErrors, EnvironmentNotFound, ClusterUnavailable,
    ),
    security(("bearer" = ["editor"]))
)]
#[delete("/{id}")]
async fn delete_environment(
    auth: Authorized<Editor>,
    service: web::Data<K8sService>,
    path: web::Path<String>,
) -> ApiResult<web::Json<EnvironmentView>> {
    let env = service.delete(auth.tenant(), &path.into_inner()).await?;
    Ok(web::Json(env))
}

/// Extend an environment's life: it now expires `ttl` from now (at most `k8s.max_ttl`).
#[utoipa::path(
    tag = "k8s",
    params(("id" = String, Path, description = "Environment id")),
    request_body = ExtendRequest,
    responses(
        (status = 200, description = "The new expiry is in `expires_at`", body = EnvironmentView),
        EditorErrors, JsonBodyErrors, EnvironmentNotFound, Deleted, SpecRejected, ClusterUnavailable,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/{id}/extend")]
async fn extend_environment(
    auth: Authorized<Editor>,
    service: web::Data<K8sService>,
    path: web::Path<String>,
    body: web::Json<ExtendRequest>,
) -> ApiResult<web::Json<EnvironmentView>> {
    let env = service
        .extend(auth.tenant(), &path.into_inner(), body.into_inner())
        .await?;
    Ok(web::Json(env))
}

/// Run a test Job in the environment: created once (idempotent on `id`), followed to its end;
/// `blocked` with the reason while quota, Pod Security, scheduling or the image keep it from
/// starting. Its log and JUnit results are kept after the environment is gone.
#[utoipa::path(
    tag = "k8s",
    params(("id" = String, Path, description = "Environment id")),
    request_body = JobRequest,
    responses(
        (status = 201, description = "Created", body = JobView),
        (status = 200, description = "This id already names this job", body = JobView),
        EditorErrors, JsonBodyErrors, EnvironmentNotFound, JobConflict, JobRejected, ClusterUnavailable,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/{id}/jobs")]
async fn create_job(
    auth: Authorized<Editor>,
    service: web::Data<K8sService>,
    path: web::Path<String>,
    body: web::Json<JobRequest>,
) -> ApiResult<HttpResponse> {
    let env = path.into_inner();
    let (job, created) = service
        .create_job(&auth.principal, &env, body.into_inner())
        .await?;
    Ok(if created {
        HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/environments/{env}/jobs/{}", job.id),
            ))
            .json(job)
    } else {
        HttpResponse::Ok().json(job)
    })
}

/// A job: status (and why it is blocked or failed), exit code, results.
#[utoipa::path(
    tag = "k8s",
    params(
        ("id" = String, Path, description = "Environment id"),
        ("job" = String, Path, description = "Job id"),
    ),
    responses(
        (status = 200, description = "The job", body = JobView),
        ApiErrors, JobNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/{id}/jobs/{job}")]
async fn get_job(
    auth: Authorized<Viewer>,
    service: web::Data<K8sService>,
    path: web::Path<(String, String)>,
) -> ApiResult<web::Json<JobView>> {
    let (env, job) = path.into_inner();
    Ok(web::Json(service.get_job(auth.tenant(), &env, &job).await?))
}

/// The environment's jobs, newest first.
#[utoipa::path(
    tag = "k8s",
    params(("id" = String, Path, description = "Environment id"), PageQuery),
    responses(
        (status = 200, description = "One page of the environment's jobs", body = Page<JobView>),
        ApiErrors, EnvironmentNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/{id}/jobs")]
async fn list_jobs(
    auth: Authorized<Viewer>,
    service: web::Data<K8sService>,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<JobView>>> {
    let jobs = service
        .list_jobs(auth.tenant(), &path.into_inner(), page.into_inner())
        .await?;
    Ok(web::Json(jobs))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    /// Stream the log (chunked) until the job's container exits.
    follow: Option<bool>,
}

/// A job's log: the stored log once it has ended (kept after the environment is deleted),
/// else its pod's log now, or followed live with `follow=true`.
#[utoipa::path(
    tag = "k8s",
    params(
        ("id" = String, Path, description = "Environment id"),
        ("job" = String, Path, description = "Job id"),
        LogQuery,
    ),
    responses(
        (status = 200, description = "The log", body = String, content_type = "text/plain"),
        ApiErrors, JobNotFound, JobNotStarted, ClusterUnavailable,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/{id}/jobs/{job}/logs")]
async fn job_logs(
    auth: Authorized<Viewer>,
    service: web::Data<K8sService>,
    path: web::Path<(String, String)>,
    query: web::Query<LogQuery>,
) -> ApiResult<HttpResponse> {
    let (env, job) = path.into_inner();
    let log = service
        .job_log(auth.tenant(), &env, &job, query.follow.unwrap_or(false))
        .await?;
    let mut response = HttpResponse::Ok();
    response.content_type("text/plain; charset=utf-8");
    Ok(match log {
        JobLog::Stored(text) => response.body(text),
        JobLog::Live(lines) => response.streaming(lines.map(|line| line.map(web::Bytes::from))),
    })
}

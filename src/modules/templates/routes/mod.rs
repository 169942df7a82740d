//! HTTP handlers of the templates module: extract, call [`TemplatesService`], shape the response.
//! No database or git code here. One file per resource ([`read`]: the catalog, [`write`]: create,
//! update, delete, restore, publish, [`instantiate`]: instantiation, the ledger, project updates
//! and drift, [`git`]: sync remote, repair, imports); the route table and the helpers they share
//! are here.

mod git;
mod instantiate;
mod read;
mod write;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

use super::archive::{self, ArchiveKind};
use super::model::{TemplateDetail, TemplateStatus};
use super::service::TemplatesService;
use crate::platform::auth::{Authorized, RoleRequirement};
use crate::platform::blocking::run_blocking;
use crate::platform::cache::CachedBody;
use crate::platform::http::body::{BodyLimit, media_type, read_body, unsupported_media_type};
use crate::platform::http::error::ApiResult;
use crate::render::SourceFile;

crate::problem_responses! {
    struct TemplateNotFound = [404 => "No such template in your tenant"];
    struct CommitNotFound = [404 => "No such template, or no such commit of it, in your tenant"];
}

/// The route table. Order matters where paths overlap: the fixed paths (`search`, `categories`,
/// `drift`, `import`) come before `/{id}`.
pub fn configure(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    service: TemplatesService,
) {
    cfg.app_data(web::Data::new(service))
        .service(read::list_templates)
        .service(write::create_template)
        .service(read::search_templates)
        .service(read::list_categories)
        .service(instantiate::template_drift)
        .service(read::get_template)
        .service(write::update_template)
        .service(write::delete_template)
        .service(read::list_versions)
        .service(read::get_version)
        .service(read::diff_template)
        .service(write::restore_template)
        .service(read::get_file)
        .service(instantiate::instantiate_template)
        .service(instantiate::list_instantiations)
        .service(instantiate::update_project)
        .service(git::get_remote)
        .service(git::set_remote)
        .service(git::sync_remote)
        .service(git::reconcile_repo)
        .service(git::import_templates)
        .service(git::refresh_template)
        .service(write::publish_template);
}

fn etag(commit: &str) -> String {
    format!("\"{commit}\"")
}

/// A 200 (or other) answer with already serialised JSON.
fn json_bytes(mut response: HttpResponseBuilder, cached: &CachedBody) -> HttpResponse {
    response
        .content_type("application/json")
        .body(cached.body.clone())
}

/// A template in the answer, with its ETag: the commit a later `If-Match` names.
fn with_etag(mut response: HttpResponseBuilder, detail: &TemplateDetail) -> HttpResponse {
    response
        .insert_header((header::ETAG, etag(&detail.template.current_commit)))
        .json(detail)
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// An uploaded folder (a template, or a generated project to update): an archive's files (and
/// the folder they all were in, stripped), or JSON.
enum ProjectBody {
    Archive(Vec<SourceFile>, Option<String>),
    Json(web::Bytes),
}

/// Reads an upload within `templates.max_upload_bytes`: an archive by its content type, JSON
/// otherwise (no content type means JSON; any other media type is a 415). An archive is
/// unpacked on the blocking pool: decompressing and checking it is CPU-bound.
async fn read_project_body(
    req: &HttpRequest,
    payload: web::Payload,
    service: &TemplatesService,
) -> ApiResult<ProjectBody> {
    let content_type = header_str(req, header::CONTENT_TYPE)
        .unwrap_or("application/json")
        .to_string();
    let body = read_body(
        req,
        payload,
        BodyLimit {
            bytes: service.settings().max_upload_bytes,
            code: "templates.upload_too_large",
            setting: "templates.max_upload_bytes",
        },
    )
    .await?;
    if let Some(kind) = ArchiveKind::from_content_type(&content_type) {
        let limits = service.limits();
        let (files, root) = run_blocking("templates.unpack", move || {
            archive::read_archive_with_root(kind, &body, &limits)
        })
        .await??;
        return Ok(ProjectBody::Archive(files, root));
    }
    let essence = media_type(&content_type);
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(unsupported_media_type(
            &essence,
            "application/json, application/zip or application/gzip (.tar.gz)",
        ));
    }
    Ok(ProjectBody::Json(body))
}

// ----- drafts (issue 14) -----

/// Lists and searches for the caller leave drafts out (viewers).
fn is_viewer<R: RoleRequirement>(caller: &Authorized<R>) -> bool {
    TemplateStatus::only_published_for(caller.principal.role)
}

/// Drafts are a 404 for viewers on every per-template route.
async fn hide_draft_from_viewer<R: RoleRequirement>(
    caller: &Authorized<R>,
    service: &TemplatesService,
    id: &str,
) -> ApiResult<()> {
    service
        .ensure_visible(caller.tenant(), caller.principal.role, id)
        .await
}

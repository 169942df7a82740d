//! Using templates: instantiate (an archive or JSON), the instantiation ledger, updating a
//! generated project to a newer version (three-way merge), and drift across generated projects.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine as _;

use super::{ProjectBody, TemplateNotFound, hide_draft_from_viewer, read_project_body};
use crate::modules::templates::archive::{self, ArchiveKind};
use crate::modules::templates::model::{
    InstantiateBody, InstantiationResult, InstantiationView, InstantiationsQuery, OutputFormat,
    RenderedFile, TemplateDrift, UpdateBody, UpdateQuery, UpdateResult,
};
use crate::modules::templates::service::{
    InstantiateRequest, InstantiationSource, TemplatesService, UpdateRequest, files_from_json,
};
use crate::platform::auth::{Authorized, Viewer};
use crate::platform::blocking::run_blocking;
use crate::platform::http::body::parse_json;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::openapi::{ApiErrors, JsonBodyErrors};
use crate::platform::http::pagination::{Page, PageQuery};

crate::problem_responses! {
    struct InstantiateRejected = [
        413 => "The body or the generated output exceeds a limit named in the detail",
        422 => "Invalid parameters (each named with the reason) or a template error",
    ];
    struct UpdateRejected = [
        404 => "No such template in your tenant, no such instantiation of it (`templates.instantiation_not_found`), or the answers file names a commit not in its history (`templates.commit_not_found`)",
        413 => "The body or a rendered version exceeds a limit named in the detail",
        422 => "No answers file and no `instantiation_id` (`templates.update_no_answers`), an unreadable answers file, one of another template, an unsafe path in the upload, or answers that no longer validate (each named)",
    ];
}

/// Instantiate: validate parameters against the schema, render contents and paths, and return
/// a `.zip`, a `.tar.gz` or JSON (`format: json`, or `dry_run: true` which records nothing).
/// Every real instantiation is recorded in the ledger.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    request_body = InstantiateBody,
    responses(
        (status = 200, description = "The generated project: an archive (`format` zip, the default, or tar.gz; headers X-Maestro-Instantiation-Id, X-Maestro-Checksum, X-Maestro-Template-Commit, X-Maestro-Warning) or JSON (`format: json` or `dry_run`)",
    content((InstantiationResult = "application/json"), (Vec<u8> = "application/zip"), (Vec<u8> = "application/gzip"))),
        ApiErrors, JsonBodyErrors, TemplateNotFound, InstantiateRejected,
    ),
    security(("bearer" = ["viewer"]))
)]
#[post("/api/v1/templates/{id}/instantiate")]
pub(super) async fn instantiate_template(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    body: web::Json<InstantiateBody>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let format = match (body.format, body.dry_run) {
        (_, true) => OutputFormat::Json,
        (Some(f), false) => f,
        (None, false) => OutputFormat::Zip,
    };
    let reproducible = body.deterministic || body.now.is_some() || body.seed.is_some();
    let request = InstantiateRequest {
        parameters: body.parameters,
        version: body.version,
        dry_run: body.dry_run,
        now: body.now,
        // A seed makes the service fix the clock too (see `deterministic`).
        seed: body.seed.or(reproducible.then_some(0)),
        output_format: format.as_str().to_string(),
        answers_file: body.answers_file,
        project_label: body.project,
        server_url: Some(server_url(&req)),
    };
    let done = service
        .instantiate(&caller.principal, &path, request, InstantiationSource::Http)
        .await?;
    let kind = match format {
        OutputFormat::Json => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let result = InstantiationResult {
                template_id: done.template.id.clone(),
                commit: done.commit.clone(),
                version: done.template.version.clone(),
                format: done.format.to_string(),
                dry_run: body.dry_run,
                instantiation_id: done.instantiation_id.clone(),
                checksum: done.checksum.clone(),
                root_dir: done.output.root_dir.clone(),
                files: done
                    .files
                    .iter()
                    .map(|(p, c, x)| RenderedFile {
                        path: p.clone(),
                        content_base64: b64.encode(c),
                        executable: *x,
                    })
                    .collect(),
                empty_dirs: done.empty_dirs.clone(),
                parameters: done.parameters.clone(),
                warnings: done.warnings.clone(),
            };
            return Ok(HttpResponse::Ok().json(result));
        }
        OutputFormat::Zip => ArchiveKind::Zip,
        OutputFormat::TarGz => ArchiveKind::TarGz,
    };
    // Compressing a large render is CPU-bound: off the async workers, as the console does.
    let (bytes, done) = run_blocking("templates.archive", move || {
        done.archive(kind).map(|bytes| (bytes, done))
    })
    .await?
    .map_err(ApiError::internal)?;
    let stem = done.download_stem();
    let mut response = HttpResponse::Ok();
    response
        .content_type(kind.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{stem}.{}\"", kind.extension()),
        ))
        .insert_header(("X-Maestro-Checksum", done.checksum.clone()))
        .insert_header(("X-Maestro-Template-Commit", done.commit.clone()));
    if let Some(id) = &done.instantiation_id {
        response.insert_header(("X-Maestro-Instantiation-Id", id.clone()));
    }
    for warning in &done.warnings {
        let ascii: String = warning
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(value) = HeaderValue::from_str(&ascii) {
            response.append_header(("X-Maestro-Warning", value));
        }
    }
    Ok(response.body(bytes))
}

/// The instantiation ledger of a template: who generated what from which commit, and the
/// updates of generated projects (`source: update`). `?behind=true` lists instead the generated
/// projects behind the current version (each project's latest entry) with how many versions
/// behind and the changelog between.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id"), InstantiationsQuery, PageQuery),
    responses(
        (status = 200, description = "Ledger entries, newest first (with `behind=true`: the projects behind, most versions behind first)", body = Page<InstantiationView>),
        ApiErrors, TemplateNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/{id}/instantiations")]
pub(super) async fn list_instantiations(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    query: web::Query<InstantiationsQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<InstantiationView>>> {
    hide_draft_from_viewer(&caller, &service, &path).await?;
    if query.behind == Some(true) {
        return Ok(web::Json(
            service.behind(caller.tenant(), &path, &page).await?,
        ));
    }
    Ok(web::Json(
        service
            .instantiations(caller.tenant(), &path, &page)
            .await?,
    ))
}

/// Drift: for every template with generated projects, how many there are, how many are behind
/// the current version, and those projects (each one's latest ledger entry, with how many
/// versions behind and the changelog between).
#[utoipa::path(
    tag = "templates",
    params(PageQuery),
    responses(
        (status = 200, description = "Templates with generated projects, most projects behind first", body = Page<TemplateDrift>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/drift")]
pub(super) async fn template_drift(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<TemplateDrift>>> {
    Ok(web::Json(
        service
            .drift(caller.tenant(), caller.principal.role, &page)
            .await?,
    ))
}

// ----- issue 15: keeping generated projects current -----

/// Maestro's URL as the caller reached it (`scheme://host`), written into answers files.
fn server_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Update a generated project to a newer template version, the way `copier update` does: the
/// project's version is re-rendered with its answers (from the answers file in the upload, or
/// `instantiation_id`), the target version (`to`, default current) with the answers plus your
/// changes, and the project's files are merged three-way against them. The answer is the plan
/// (changes, conflicts with both sides), a patch for `git apply` and, on request, an archive of
/// the merged tree. Nothing is stored but a ledger entry (`source: update`; none for `dry_run`).
/// Send JSON (`files` map) or the project as `.zip` / `.tar.gz` with the options as query
/// parameters.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id"), UpdateQuery),
    request_body(
        content(
            (UpdateBody = "application/json"),
            (Vec<u8> = "application/zip"),
            (Vec<u8> = "application/gzip"),
        ),
        description = "The project's files and the update's options"
    ),
    responses(
        (status = 200, description = "The plan, the patch and the conflicts", body = UpdateResult),
        ApiErrors, JsonBodyErrors, UpdateRejected,
    ),
    security(("bearer" = ["viewer"]))
)]
#[post("/api/v1/templates/{id}/update")]
pub(super) async fn update_project(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    query: web::Query<UpdateQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<web::Json<UpdateResult>> {
    let body = read_project_body(&req, payload, &service).await?;
    let query = query.into_inner();
    let field = |name: &str, message: String| {
        ApiError::validation("Bad update option.", vec![FieldError::new(name, message)])
    };
    let request = match body {
        ProjectBody::Archive(files, _) => {
            let answers = match query.answers.as_deref() {
                None | Some("") => serde_json::Map::new(),
                Some(raw) => match serde_json::from_str::<serde_json::Value>(raw) {
                    Ok(serde_json::Value::Object(map)) => map,
                    _ => {
                        return Err(field(
                            "answers",
                            "must be a JSON object, e.g. {\"port\": 8080}".to_string(),
                        ));
                    }
                },
            };
            let archive = match query.archive.as_deref() {
                None | Some("") => None,
                Some("zip") => Some(ArchiveKind::Zip),
                Some("tar.gz") => Some(ArchiveKind::TarGz),
                Some(other) => {
                    return Err(field(
                        "archive",
                        format!("`{other}` is not an archive format; use zip or tar.gz"),
                    ));
                }
            };
            UpdateRequest {
                files,
                instantiation_id: query.instantiation_id,
                to: query.to,
                answers,
                dry_run: query.dry_run.unwrap_or(false),
                archive,
                project_label: query.project,
                server_url: Some(server_url(&req)),
            }
        }
        ProjectBody::Json(body) => {
            let parsed: UpdateBody =
                parse_json(&body, "JSON with `files` and the update's options")?;
            let files = archive::check_files(files_from_json(&parsed.files)?, &service.limits())?;
            let archive = match parsed.archive {
                None => None,
                Some(OutputFormat::Zip) => Some(ArchiveKind::Zip),
                Some(OutputFormat::TarGz) => Some(ArchiveKind::TarGz),
                Some(OutputFormat::Json) => {
                    return Err(field(
                        "archive",
                        "`json` is not an archive format; use zip or tar.gz".to_string(),
                    ));
                }
            };
            UpdateRequest {
                files,
                instantiation_id: parsed.instantiation_id.or(query.instantiation_id),
                to: parsed.to.or(query.to),
                answers: parsed.answers,
                dry_run: parsed.dry_run || query.dry_run.unwrap_or(false),
                archive,
                project_label: parsed.project.or(query.project),
                server_url: Some(server_url(&req)),
            }
        }
    };
    Ok(web::Json(
        service
            .update_project(&caller.principal, &path, request)
            .await?,
    ))
}

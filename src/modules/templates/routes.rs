//! HTTP handlers of the templates module: extract, call [`TemplatesService`], shape the response.
//! No database or git code here.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, delete, get, post, put, web};
use base64::Engine as _;
use serde_json::json;

use super::archive::{self, ArchiveKind, OutEntry};
use super::gate::ForcedPublish;
use super::model::{
    CategoryCount, DetailQuery, DiffQuery, DiffView, FileQuery, ForceQuery, GitReconcileReport,
    InstantiateBody, InstantiationResult, InstantiationView, ListQuery, OutputFormat, RemoteBody,
    RemoteView, RenderedFile, RestoreBody, SearchBody, SyncReport, TemplateBody, TemplateDetail,
    TemplateSummary, VersionContent, VersionView,
};
use super::model::{InstantiationsQuery, TemplateDrift, UpdateBody, UpdateQuery, UpdateResult};
use super::service::UpdateRequest;
use super::service::{
    InstantiateRequest, InstantiationSource, TemplateInput, TemplatesService, files_from_json,
};
use crate::platform::auth::{Admin, Authorized, Editor, Viewer};
use crate::platform::cache::CachedBody;
use crate::platform::http::body::{
    BodyLimit, media_type, parse_json, read_body, unsupported_media_type,
};
use crate::platform::http::error::{ApiError, ApiResult, Problem};
use crate::platform::http::openapi::{AdminErrors, ApiErrors, EditorErrors, JsonBodyErrors};
use crate::platform::http::pagination::{Page, PageQuery};

// Issue 14: imports from git, derived manifests.
use super::derive::{DeriveHints, with_derived_manifest};
use super::model::{ImportBody, ImportResult, PublishBody, UploadQuery};
use crate::platform::auth::Role;

crate::problem_responses! {
    struct TemplateNotFound = [404 => "No such template in your tenant"];
    struct CommitNotFound = [404 => "No such template, or no such commit of it, in your tenant"];
    struct FileNotFound = [404 => "No such template, version or file in your tenant"];
    struct ForceNeedsAdmin = [403 => "Your role is below editor, or you asked to force and are not an admin"];
    struct WriteConflict = [409 => "The name is taken by another template (`templates.name_taken`), or the git branch has commits the registry could not import (`templates.git_out_of_sync`; an admin repairs it with POST /api/v1/admin/git/reconcile)"];
    struct OutOfSync = [409 => "The git branch has commits the registry could not import (`templates.git_out_of_sync`; an admin repairs it with POST /api/v1/admin/git/reconcile)"];
    struct StaleIfMatch = [412 => "`If-Match` is not the current ETag"];
    struct IfMatchRequired = [428 => "`If-Match` is missing"];
    struct BadListFilter = [422 => "Unknown category or sort order, or a text query with nothing to search for (`errors` names the field)"];
    struct BadInclude = [422 => "Unknown `include` (only `content`)"];
    struct BadCommit = [422 => "Bad commit id, or the template did not exist at that commit"];
    struct UnsafePath = [422 => "Unsafe path"];
    struct TemplateRejected = [422 => "Invalid manifest or files (unsafe path, symlink, duplicate entry, …) or refused by the publish gate; `errors` names each problem"];
    struct RestoreRejected = [422 => "Bad commit, or refused by the publish gate"];
    struct InstantiateRejected = [
        413 => "The body or the generated output exceeds a limit named in the detail",
        422 => "Invalid parameters (each named with the reason) or a template error",
    ];
    struct RemoteRejected = [422 => "Unusable URL or branch (`https://` and `ssh://` remotes; local paths only when allow-listed)"];
    struct SyncErrors = [
        422 => "The stored remote is no longer allowed (`templates.remote_not_allowed`)",
        502 => "The remote could not be reached",
        504 => "The remote took too long",
    ];
    struct CannotRepair = [409 => "The branch cannot be moved back (`templates.git_cannot_repair`)"];
    struct UpdateRejected = [
        404 => "No such template in your tenant, no such instantiation of it (`templates.instantiation_not_found`), or the answers file names a commit not in its history (`templates.commit_not_found`)",
        413 => "The body or a rendered version exceeds a limit named in the detail",
        422 => "No answers file and no `instantiation_id` (`templates.update_no_answers`), an unreadable answers file, one of another template, an unsafe path in the upload, or answers that no longer validate (each named)",
    ];
}

pub fn configure(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    service: TemplatesService,
) {
    cfg.app_data(web::Data::new(service))
        .service(list_templates)
        .service(create_template)
        .service(search_templates)
        .service(list_categories)
        .service(template_drift)
        .service(get_template)
        .service(update_template)
        .service(delete_template)
        .service(list_versions)
        .service(get_version)
        .service(diff_template)
        .service(restore_template)
        .service(get_file)
        .service(instantiate_template)
        .service(list_instantiations)
        .service(update_project)
        .service(get_remote)
        .service(set_remote)
        .service(sync_remote)
        .service(reconcile_repo)
        // Issue 14: imports from git.
        .service(import_templates)
        .service(refresh_template)
        .service(publish_template);
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

/// The body of a create or update: JSON `{manifest, files, force}` or an archive.
struct Upload {
    input: TemplateInput,
    force: Option<ForcedPublish>,
    /// The folder an archive's files were in (a name for a cookiecutter folder without
    /// manifest.yaml).
    root: Option<String>,
}

async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    service: &TemplatesService,
) -> ApiResult<Upload> {
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
        let (files, root) = archive::read_archive_with_root(kind, &body, &service.limits())?;
        return Ok(Upload {
            input: TemplateInput {
                manifest: None,
                files: Some(files),
            },
            force: None,
            root,
        });
    }
    let essence = media_type(&content_type);
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(unsupported_media_type(
            &essence,
            "application/json, application/zip or application/gzip (.tar.gz)",
        ));
    }
    let parsed: TemplateBody = parse_json(&body, "JSON with `manifest` and `files`")?;
    let files = match &parsed.files {
        Some(map) => Some(files_from_json(map)?),
        None => None,
    };
    Ok(Upload {
        input: TemplateInput {
            manifest: parsed.manifest,
            files,
        },
        force: parsed.force.map(|f| ForcedPublish { reason: f.reason }),
        root: None,
    })
}

/// List templates: filter by category, tags, text and quality; sort; paginate.
#[utoipa::path(
    tag = "templates",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of templates", body = Page<TemplateSummary>),
        ApiErrors, BadListFilter,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates")]
async fn list_templates(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let cached = service
        .list_response_as(caller.tenant(), &query, is_viewer(&caller))
        .await?;
    Ok(json_bytes(HttpResponse::Ok(), &cached))
}

/// Create a template from JSON `{manifest, files}` or an uploaded `.zip` / `.tar.gz` (with
/// `manifest.yaml` inside). One git commit, authored by you. A cookiecutter folder without
/// `manifest.yaml` gets one derived from its folder, README and `cookiecutter.json`
/// (`?name=`/`?category=` fill in what cannot be derived).
#[utoipa::path(
    tag = "templates",
    params(UploadQuery),
    request_body(
        content(
            (TemplateBody = "application/json"),
            (Vec<u8> = "application/zip"),
            (Vec<u8> = "application/gzip"),
        ),
        description = "The template as JSON, or an archive of its folder"
    ),
    responses(
        (status = 201, description = "Created; `ETag` is the commit", body = TemplateDetail),
        EditorErrors, JsonBodyErrors, WriteConflict, TemplateRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/api/v1/templates")]
async fn create_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<UploadQuery>,
) -> ApiResult<HttpResponse> {
    let mut upload = read_upload(&req, payload, &service).await?;
    if upload.input.manifest.is_none()
        && let Some(files) = upload.input.files.take()
    {
        let hints = DeriveHints {
            name: query.name.clone(),
            folder: upload.root.clone(),
            category: query.category.clone(),
            default_category: service.settings().default_category.clone(),
            ..DeriveHints::default()
        };
        upload.input.files = Some(with_derived_manifest(files, &hints)?);
    }
    if upload.force.is_some() {
        return Err(ApiError::validation(
            "`force` is for updates and restores.",
            vec![crate::platform::http::error::FieldError::new(
                "force",
                "a new template has no gate decision to override; remove it",
            )],
        ));
    }
    let detail = service.create(&caller.principal, upload.input).await?;
    let mut created = HttpResponse::Created();
    created.insert_header((
        header::LOCATION,
        format!("/api/v1/templates/{}", detail.template.id),
    ));
    Ok(with_etag(created, &detail))
}

/// Search templates by text, category, tags, author and quality.
#[utoipa::path(
    tag = "templates",
    request_body = SearchBody,
    responses(
        (status = 200, description = "Matching templates, best first for text queries", body = Page<TemplateSummary>),
        ApiErrors, JsonBodyErrors, BadListFilter,
    ),
    security(("bearer" = ["viewer"]))
)]
#[post("/api/v1/templates/search")]
async fn search_templates(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    body: web::Json<SearchBody>,
) -> ApiResult<HttpResponse> {
    let cached = if is_viewer(&caller) {
        service
            .search_response_published(caller.tenant(), &body)
            .await?
    } else {
        service.search_response(caller.tenant(), &body).await?
    };
    Ok(json_bytes(HttpResponse::Ok(), &cached))
}

/// The 15 categories with how many templates each holds in your tenant.
#[utoipa::path(
    tag = "templates",
    responses(
        (status = 200, description = "Categories", body = Vec<CategoryCount>),
        ApiErrors,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/categories")]
async fn list_categories(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
) -> ApiResult<web::Json<Vec<CategoryCount>>> {
    Ok(web::Json(service.categories(caller.tenant()).await?))
}

/// A template: metadata, parameter schema and file list (`?include=content` adds contents).
/// `ETag` is the current commit; `If-None-Match` with it answers 304.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id"), DetailQuery),
    responses(
        (status = 200, description = "The template", body = TemplateDetail),
        (status = 304, description = "Not modified since the given ETag"),
        ApiErrors, TemplateNotFound, BadInclude,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/{id}")]
async fn get_template(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    query: web::Query<DetailQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let include_content = match query.include.as_deref() {
        None | Some("") => false,
        Some("content") => true,
        Some(other) => {
            return Err(ApiError::validation(
                "Unknown include.",
                vec![crate::platform::http::error::FieldError::new(
                    "include",
                    format!("`{other}` is not supported; use `content`"),
                )],
            ));
        }
    };
    // The cached bytes as they are: no deserialising and serialising again per request.
    let cached = service
        .detail_response(caller.tenant(), &path, include_content)
        .await?;
    if is_viewer(&caller) && is_draft(&cached.body) {
        return Err(super::error::TemplatesError::not_found().into());
    }
    let commit = cached.tag.as_deref().unwrap_or_default();
    service.usage_event(
        "view",
        caller.tenant(),
        &path,
        &caller.principal,
        json!({"commit": commit}),
    );
    let tag = etag(commit);
    if header_str(&req, header::IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish());
    }
    let mut response = HttpResponse::Ok();
    response.insert_header((header::ETAG, tag));
    Ok(json_bytes(response, &cached))
}

/// Replace a template's content (JSON or archive); one new commit. Send `If-Match` with the
/// ETag you read: a stale one gets 412. Omitting `files` in JSON keeps the current files.
/// Admins may force past the publish gate with `"force": {"reason": …}` or `?force=true&reason=…`.
#[utoipa::path(
    tag = "templates",
    params(
        ("id" = String, Path, description = "Template id"),
        ("If-Match" = String, Header, description = "The ETag (current commit) you are updating"),
        ForceQuery,
    ),
    request_body(
        content(
            (TemplateBody = "application/json"),
            (Vec<u8> = "application/zip"),
            (Vec<u8> = "application/gzip"),
        ),
        description = "The new content"
    ),
    responses(
        (status = 200, description = "Updated (or unchanged: `changed: false`); `ETag` is the new commit", body = TemplateDetail),
        EditorErrors, JsonBodyErrors, ForceNeedsAdmin, TemplateNotFound, WriteConflict, StaleIfMatch, TemplateRejected, IfMatchRequired,
    ),
    security(("bearer" = ["editor"]))
)]
#[put("/api/v1/templates/{id}")]
async fn update_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    query: web::Query<ForceQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let Some(if_match) = header_str(&req, header::IF_MATCH).map(str::to_string) else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "templates.if_match_required",
            "Send `If-Match` with the template's ETag (from GET /api/v1/templates/{id}) so concurrent edits cannot overwrite each other.",
        ));
    };
    let mut upload = read_upload(&req, payload, &service).await?;
    // A plain cookiecutter folder (no manifest.yaml) keeps the template's name and category
    // and gets the rest derived, as on create.
    if upload.input.manifest.is_none()
        && let Some(files) = upload.input.files.take()
    {
        let current = service.get(caller.tenant(), &path).await?;
        let hints = DeriveHints {
            name: Some(current.name),
            category: Some(current.category),
            ..DeriveHints::default()
        };
        upload.input.files = Some(with_derived_manifest(files, &hints)?);
    }
    let force = match (upload.force, query.force) {
        (Some(f), _) => Some(f),
        (None, Some(true)) => Some(ForcedPublish {
            reason: query.reason.clone().unwrap_or_default(),
        }),
        _ => None,
    };
    let detail = service
        .update(
            &caller.principal,
            &path,
            Some(&if_match),
            upload.input,
            force,
        )
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &detail))
}

/// Delete a template: one commit removing its folder (history and ledger stay). `If-Match` is
/// optional; a stale one gets 412.
#[utoipa::path(
    tag = "templates",
    params(
        ("id" = String, Path, description = "Template id"),
        ("If-Match" = Option<String>, Header, description = "Only delete this version"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        EditorErrors, TemplateNotFound, OutOfSync, StaleIfMatch,
    ),
    security(("bearer" = ["editor"]))
)]
#[delete("/api/v1/templates/{id}")]
async fn delete_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    service
        .delete(&caller.principal, &path, header_str(&req, header::IF_MATCH))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The template's git history: commits that changed it, newest first.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id"), PageQuery),
    responses(
        (status = 200, description = "Versions", body = Page<VersionView>),
        ApiErrors, TemplateNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/{id}/versions")]
async fn list_versions(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<VersionView>>> {
    Ok(web::Json({
        hide_draft_from_viewer(&caller, &service, &path).await?;
        service.versions(caller.tenant(), &path, &page).await?
    }))
}

/// The template's content at one commit.
#[utoipa::path(
    tag = "templates",
    params(
        ("id" = String, Path, description = "Template id"),
        ("commit" = String, Path, description = "Commit id or unique prefix (7+)"),
    ),
    responses(
        (status = 200, description = "Manifest and files at that commit", body = VersionContent),
        ApiErrors, CommitNotFound, BadCommit,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/{id}/versions/{commit}")]
async fn get_version(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<(String, String)>,
) -> ApiResult<web::Json<VersionContent>> {
    let (id, commit) = path.into_inner();
    hide_draft_from_viewer(&caller, &service, &id).await?;
    Ok(web::Json(
        service
            .version_content(caller.tenant(), &id, &commit)
            .await?,
    ))
}

/// Unified diff of the template between two commits (`to` defaults to the current one).
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id"), DiffQuery),
    responses(
        (status = 200, description = "Per-file and whole unified diffs", body = DiffView),
        ApiErrors, CommitNotFound, BadCommit,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/{id}/diff")]
async fn diff_template(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    query: web::Query<DiffQuery>,
) -> ApiResult<web::Json<DiffView>> {
    hide_draft_from_viewer(&caller, &service, &path).await?;
    Ok(web::Json(
        service
            .diff(caller.tenant(), &path, &query.from, query.to.as_deref())
            .await?,
    ))
}

/// Restore the template's content from an earlier commit, as a new commit. Admins may force
/// past the publish gate with `"force": {"reason": …}`.
#[utoipa::path(
    tag = "templates",
    params(
        ("id" = String, Path, description = "Template id"),
        ("If-Match" = Option<String>, Header, description = "Only restore over this version"),
    ),
    request_body = RestoreBody,
    responses(
        (status = 200, description = "Restored (or unchanged: `changed: false`)", body = TemplateDetail),
        EditorErrors, JsonBodyErrors, ForceNeedsAdmin, CommitNotFound, WriteConflict, StaleIfMatch, RestoreRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/api/v1/templates/{id}/restore")]
async fn restore_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<RestoreBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let force = body.force.map(|f| ForcedPublish { reason: f.reason });
    let detail = service
        .restore(
            &caller.principal,
            &path,
            &body.commit,
            header_str(&req, header::IF_MATCH),
            force,
        )
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &detail))
}

/// One file of the template, raw (`?version=<commit>` for an older one).
#[utoipa::path(
    tag = "templates",
    params(
        ("id" = String, Path, description = "Template id"),
        ("path" = String, Path, description = "Relative file path"),
        FileQuery,
    ),
    responses(
        (status = 200, description = "The file's bytes: `text/plain; charset=utf-8` for UTF-8 text, `application/octet-stream` otherwise",
    content((String = "text/plain"), (Vec<u8> = "application/octet-stream"))),
        ApiErrors, FileNotFound, UnsafePath,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/{id}/files/{path:.*}")]
async fn get_file(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<(String, String)>,
    query: web::Query<FileQuery>,
) -> ApiResult<HttpResponse> {
    let (id, file_path) = path.into_inner();
    hide_draft_from_viewer(&caller, &service, &id).await?;
    let (file, commit) = service
        .file(caller.tenant(), &id, &file_path, query.version.as_deref())
        .await?;
    let text = !crate::render::is_binary(&file.path, &file.content)
        && std::str::from_utf8(&file.content).is_ok();
    Ok(HttpResponse::Ok()
        .content_type(if text {
            "text/plain; charset=utf-8"
        } else {
            "application/octet-stream"
        })
        .insert_header((header::ETAG, etag(&commit)))
        .insert_header((
            "X-Maestro-Executable",
            if file.executable { "true" } else { "false" },
        ))
        .body(file.content))
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
async fn instantiate_template(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    body: web::Json<InstantiateBody>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    if is_viewer(&caller)
        && service
            .get_by_id_or_name(caller.tenant(), &path)
            .await?
            .status
            == "draft"
    {
        return Err(super::error::TemplatesError::not_found().into());
    }
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
    let entries: Vec<OutEntry<'_>> = done
        .files
        .iter()
        .map(|(p, c, x)| OutEntry {
            path: p,
            content: c,
            executable: *x,
        })
        .collect();
    let bytes = match kind {
        ArchiveKind::Zip => archive::write_zip(&entries, &done.empty_dirs, done.now),
        ArchiveKind::TarGz => archive::write_tar_gz(&entries, &done.empty_dirs, done.now),
    }
    .map_err(ApiError::internal)?;
    let stem = done
        .output
        .root_dir
        .clone()
        .unwrap_or_else(|| done.template.name.clone());
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
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
    params(("id" = String, Path, description = "Template id"), InstantiationsQuery),
    responses(
        (status = 200, description = "Ledger entries, newest first (with `behind=true`: the projects behind, most versions behind first)", body = Page<InstantiationView>),
        ApiErrors, TemplateNotFound,
    ),
    security(("bearer" = ["viewer"]))
)]
#[get("/api/v1/templates/{id}/instantiations")]
async fn list_instantiations(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    query: web::Query<InstantiationsQuery>,
) -> ApiResult<web::Json<Page<InstantiationView>>> {
    hide_draft_from_viewer(&caller, &service, &path).await?;
    let page = PageQuery {
        limit: query.limit,
        offset: query.offset,
    };
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

/// Your tenant's git sync remote (credentials redacted) and the last sync's outcome.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The remote", body = RemoteView),
        AdminErrors,
    ),
    security(("bearer" = ["admin"]))
)]
#[get("/api/v1/admin/git/remote")]
async fn get_remote(
    caller: Authorized<Admin>,
    service: web::Data<TemplatesService>,
) -> ApiResult<web::Json<RemoteView>> {
    Ok(web::Json(service.remote(caller.tenant()).await?))
}

/// Set the git remote (and branch, default `main`) your tenant's templates sync with.
#[utoipa::path(
    tag = "admin",
    request_body = RemoteBody,
    responses(
        (status = 200, description = "Stored", body = RemoteView),
        AdminErrors, JsonBodyErrors, RemoteRejected,
    ),
    security(("bearer" = ["admin"]))
)]
#[put("/api/v1/admin/git/remote")]
async fn set_remote(
    caller: Authorized<Admin>,
    service: web::Data<TemplatesService>,
    body: web::Json<RemoteBody>,
) -> ApiResult<web::Json<RemoteView>> {
    Ok(web::Json(
        service
            .set_remote(caller.tenant(), body.into_inner())
            .await?,
    ))
}

/// Sync with the remote: fetch (gix); fast-forward and import when the remote is ahead; push
/// (git CLI) when we are ahead; 409 `diverged` with both heads, changing nothing, when both moved.
/// All or nothing: when the import after a fast-forward fails, the branch is restored and the
/// registry is unchanged. Folders whose template id another tenant uses are `skipped`.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "up_to_date, pushed or fast_forwarded", body = SyncReport),
        AdminErrors, SyncErrors,
        (status = 409, description = "diverged or rejected (a SyncReport; nothing changed), or a problem: no remote configured (`templates.no_remote`), the import failed and was rolled back (`templates.sync_import_failed`)",
        content((SyncReport = "application/json"), (Problem = "application/problem+json"))),
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/api/v1/admin/git/sync")]
async fn sync_remote(
    caller: Authorized<Admin>,
    service: web::Data<TemplatesService>,
) -> ApiResult<HttpResponse> {
    let (status, report) = service.sync(&caller.principal).await?;
    Ok(HttpResponse::build(status).json(report))
}

/// Repair: bring your tenant's git branch and the registry back in line. When the branch has
/// commits the registry does not reflect (a crash between a commit and its database write, a push
/// straight into the repository), they are imported; when that import fails, the branch is moved
/// back to the commit the registry reflects and the other commits are kept under
/// `refs/maestro/unimported/…`. Start-up does the same for every tenant.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "in_sync, imported or reset", body = GitReconcileReport),
        AdminErrors, CannotRepair,
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/api/v1/admin/git/reconcile")]
async fn reconcile_repo(
    caller: Authorized<Admin>,
    service: web::Data<TemplatesService>,
) -> ApiResult<web::Json<GitReconcileReport>> {
    Ok(web::Json(service.reconcile(caller.tenant()).await?))
}

// ----- issue 14: imports from git -----

crate::problem_responses! {
    struct ImportRejected = [
        409 => "The name of an imported template is taken (`templates.name_taken`)",
        413 => "A template in the repository exceeds an upload limit named in the detail",
        422 => "Unusable URL, ref or path (`errors` names it), no template found, a registry field that cannot be derived, or refused by the publish gate",
        502 => "The repository could not be fetched (`templates.import_fetch_failed`)",
        504 => "Fetching took longer than templates.git_timeout (`templates.import_timeout`)",
    ];
    struct RefreshRejected = [
        409 => "The template was not imported from git (`templates.not_imported`)",
        413 => "The template in the repository now exceeds an upload limit",
        422 => "The ref or folder is gone, or the new version is refused by the publish gate",
        502 => "The repository could not be fetched (`templates.import_fetch_failed`)",
        504 => "Fetching took longer than templates.git_timeout (`templates.import_timeout`)",
    ];
}

/// Import templates from a git repository: `{url, ref?, path?, category?, name?}`. The
/// repository is cloned (gix), the template at `path` (or each template folder under it, or each
/// nested template its `cookiecutter.json` lists) is read at `ref` with the upload limits, and
/// created — or updated when imported from the same URL and folder before — with one commit
/// each. A cookiecutter folder without `manifest.yaml` gets one derived. Hooks are never run.
#[utoipa::path(
    tag = "templates",
    request_body = ImportBody,
    responses(
        (status = 200, description = "Imported; each template `created`, `updated` or `unchanged`", body = ImportResult),
        EditorErrors, JsonBodyErrors, ImportRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/api/v1/templates/import")]
async fn import_templates(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    body: web::Json<ImportBody>,
) -> ApiResult<web::Json<ImportResult>> {
    Ok(web::Json(
        service
            .import_git(&caller.principal, body.into_inner())
            .await?,
    ))
}

/// Pull an imported template's repository again (same URL, ref and folder): a new version only
/// when its files changed.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 200, description = "Refreshed: `updated` or `unchanged`", body = ImportResult),
        EditorErrors, TemplateNotFound, RefreshRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/api/v1/templates/{id}/refresh")]
async fn refresh_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
) -> ApiResult<web::Json<ImportResult>> {
    Ok(web::Json(service.refresh(&caller.principal, &path).await?))
}

// ----- issue 14: drafts -----

/// The caller only reads (drafts are hidden from viewers).
fn is_viewer<R: crate::platform::auth::RoleRequirement>(caller: &Authorized<R>) -> bool {
    caller.principal.role == Role::Viewer
}

/// The cached detail of a draft (`status` of the summary, read without the rest).
fn is_draft(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct StatusOnly {
        #[serde(default)]
        status: Option<String>,
    }
    serde_json::from_slice::<StatusOnly>(body)
        .ok()
        .and_then(|s| s.status)
        .is_some_and(|s| s == "draft")
}

crate::problem_responses! {
    struct PublishRejected = [
        403 => "Your role is below editor, or you asked to force and are not an admin",
        422 => "The publish gate still refuses (`quality.gate_failed`; `errors` lists what to fix), or `force` has no reason",
    ];
}

/// Publish a draft (an imported template the publish gate refused): it must pass the gate now,
/// or an admin forces it with `{"force": {"reason": …}}` (recorded). Publishing a template that
/// is not a draft changes nothing.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    request_body = PublishBody,
    responses(
        (status = 200, description = "Published (or it already was)", body = TemplateSummary),
        ApiErrors, JsonBodyErrors, TemplateNotFound, PublishRejected,
    ),
    security(("bearer" = ["editor"]))
)]
#[post("/api/v1/templates/{id}/publish")]
async fn publish_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    body: web::Json<PublishBody>,
) -> ApiResult<web::Json<TemplateSummary>> {
    let force = body
        .into_inner()
        .force
        .map(|f| ForcedPublish { reason: f.reason });
    Ok(web::Json(
        service.publish(&caller.principal, &path, force).await?,
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
async fn update_project(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    query: web::Query<UpdateQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<web::Json<UpdateResult>> {
    let content_type = header_str(&req, header::CONTENT_TYPE)
        .unwrap_or("application/json")
        .to_string();
    let body = read_body(
        &req,
        payload,
        BodyLimit {
            bytes: service.settings().max_upload_bytes,
            code: "templates.upload_too_large",
            setting: "templates.max_upload_bytes",
        },
    )
    .await?;
    let query = query.into_inner();
    let field = |name: &str, message: String| {
        ApiError::validation(
            "Bad update option.",
            vec![crate::platform::http::error::FieldError::new(name, message)],
        )
    };
    let request = if let Some(kind) = ArchiveKind::from_content_type(&content_type) {
        let files = archive::read_archive(kind, &body, &service.limits())?;
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
    } else {
        let essence = media_type(&content_type);
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(unsupported_media_type(
                &essence,
                "application/json, application/zip or application/gzip (.tar.gz)",
            ));
        }
        let parsed: UpdateBody = parse_json(&body, "JSON with `files` and the update's options")?;
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
    };
    Ok(web::Json(
        service
            .update_project(&caller.principal, &path, request)
            .await?,
    ))
}

/// Drafts are a 404 for viewers on every per-template route.
async fn hide_draft_from_viewer<R: crate::platform::auth::RoleRequirement>(
    caller: &Authorized<R>,
    service: &TemplatesService,
    id: &str,
) -> ApiResult<()> {
    if is_viewer(caller) && service.get(caller.tenant(), id).await?.status == "draft" {
        return Err(super::error::TemplatesError::not_found().into());
    }
    Ok(())
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
async fn template_drift(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<TemplateDrift>>> {
    Ok(web::Json(service.drift(caller.tenant(), &page).await?))
}

//! Writing templates: create and update (JSON or an archive, with a derived manifest for a plain
//! cookiecutter folder), delete, restore an earlier commit, publish a draft.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, post, put, web};

use super::{
    CommitNotFound, ProjectBody, TemplateNotFound, header_str, read_project_body, with_etag,
};
use crate::modules::templates::derive::{DeriveHints, with_derived_manifest};
use crate::modules::templates::gate::ForcedPublish;
use crate::modules::templates::model::{
    ForceQuery, PublishBody, RestoreBody, TemplateBody, TemplateDetail, TemplateSummary,
    UploadQuery,
};
use crate::modules::templates::service::{TemplateInput, TemplatesService, files_from_json};
use crate::platform::auth::{Authorized, Editor};
use crate::platform::http::body::parse_json;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::openapi::{ApiErrors, EditorErrors, JsonBodyErrors};

crate::problem_responses! {
    struct ForceNeedsAdmin = [403 => "Your role is below editor, or you asked to force and are not an admin"];
    struct WriteConflict = [409 => "The name is taken by another template (`templates.name_taken`), or the git branch has commits the registry could not import (`templates.git_out_of_sync`; an admin repairs it with POST /api/v1/admin/git/reconcile)"];
    struct OutOfSync = [409 => "The git branch has commits the registry could not import (`templates.git_out_of_sync`; an admin repairs it with POST /api/v1/admin/git/reconcile)"];
    struct StaleIfMatch = [412 => "`If-Match` is not the current ETag"];
    struct IfMatchRequired = [428 => "`If-Match` is missing"];
    struct TemplateRejected = [422 => "Invalid manifest or files (unsafe path, symlink, duplicate entry, …) or refused by the publish gate; `errors` names each problem"];
    struct RestoreRejected = [422 => "Bad commit, or refused by the publish gate"];
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
    let body = match read_project_body(req, payload, service).await? {
        ProjectBody::Archive(files, root) => {
            return Ok(Upload {
                input: TemplateInput::files(files),
                force: None,
                root,
            });
        }
        ProjectBody::Json(body) => body,
    };
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
        force: parsed.force.map(ForcedPublish::from),
        root: None,
    })
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
pub(super) async fn create_template(
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
            vec![FieldError::new(
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
pub(super) async fn update_template(
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
pub(super) async fn delete_template(
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
pub(super) async fn restore_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<RestoreBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let force = body.force.map(ForcedPublish::from);
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
pub(super) async fn publish_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
    body: web::Json<PublishBody>,
) -> ApiResult<web::Json<TemplateSummary>> {
    let force = body.into_inner().force.map(ForcedPublish::from);
    Ok(web::Json(
        service.publish(&caller.principal, &path, force).await?,
    ))
}

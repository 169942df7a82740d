//! Reading the catalog: list, search, categories, one template (with its ETag), its versions,
//! diffs and raw files. Drafts are hidden from viewers here as on every per-template route.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::{
    CommitNotFound, TemplateNotFound, etag, header_str, hide_draft_from_viewer, is_viewer,
    json_bytes,
};
use crate::modules::templates::error::TemplatesError;
use crate::modules::templates::model::{
    CategoryCount, DetailQuery, DiffQuery, DiffView, FileQuery, ListQuery, SearchBody,
    TemplateDetail, TemplateSummary, VersionContent, VersionView,
};
use crate::modules::templates::service::{TemplatesService, ViewDetail};
use crate::platform::auth::{Authorized, Viewer};
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::openapi::{ApiErrors, JsonBodyErrors};
use crate::platform::http::pagination::{Page, PageQuery};

crate::problem_responses! {
    struct FileNotFound = [404 => "No such template, version or file in your tenant"];
    struct BadListFilter = [422 => "Unknown category or sort order, or a text query with nothing to search for (`errors` names the field)"];
    struct BadInclude = [422 => "Unknown `include` (only `content`)"];
    struct BadCommit = [422 => "Bad commit id, or the template did not exist at that commit"];
    struct UnsafePath = [422 => "Unsafe path"];
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
pub(super) async fn list_templates(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let cached = service
        .list_response_as(caller.tenant(), &query, is_viewer(&caller))
        .await?;
    Ok(json_bytes(HttpResponse::Ok(), &cached))
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
pub(super) async fn search_templates(
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
pub(super) async fn list_categories(
    caller: Authorized<Viewer>,
    service: web::Data<TemplatesService>,
) -> ApiResult<web::Json<Vec<CategoryCount>>> {
    Ok(web::Json(
        service
            .categories(caller.tenant(), caller.principal.role)
            .await?,
    ))
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
pub(super) async fn get_template(
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
                vec![FieldError::new(
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
    if is_viewer(&caller) && cached.restricted {
        return Err(TemplatesError::not_found().into());
    }
    let commit = cached.tag.as_deref().unwrap_or_default();
    service.usage_event(
        "view",
        caller.tenant(),
        &path,
        &caller.principal,
        &ViewDetail { commit, via: None },
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
pub(super) async fn list_versions(
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
pub(super) async fn get_version(
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
pub(super) async fn diff_template(
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
pub(super) async fn get_file(
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

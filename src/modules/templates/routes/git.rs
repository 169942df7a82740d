//! Templates and git: the tenant's sync remote (admin), sync and repair, imports from a git
//! repository and refreshing an imported template.

use actix_web::{HttpResponse, get, post, put, web};

use super::TemplateNotFound;
use crate::modules::templates::model::{
    GitReconcileReport, ImportBody, ImportResult, RemoteBody, RemoteView, SyncReport,
};
use crate::modules::templates::service::TemplatesService;
use crate::platform::auth::{Admin, Authorized, Editor};
use crate::platform::http::error::{ApiResult, Problem};
use crate::platform::http::openapi::{AdminErrors, EditorErrors, JsonBodyErrors};

crate::problem_responses! {
    struct RemoteRejected = [422 => "Unusable URL or branch (`https://` and `ssh://` remotes; local paths only when allow-listed)"];
    struct SyncErrors = [
        422 => "The stored remote is no longer allowed (`templates.remote_not_allowed`)",
        502 => "The remote could not be reached",
        504 => "The remote took too long",
    ];
    struct CannotRepair = [409 => "The branch cannot be moved back (`templates.git_cannot_repair`)"];
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
pub(super) async fn get_remote(
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
pub(super) async fn set_remote(
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
pub(super) async fn sync_remote(
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
pub(super) async fn reconcile_repo(
    caller: Authorized<Admin>,
    service: web::Data<TemplatesService>,
) -> ApiResult<web::Json<GitReconcileReport>> {
    Ok(web::Json(service.reconcile(caller.tenant()).await?))
}

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
pub(super) async fn import_templates(
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
pub(super) async fn refresh_template(
    caller: Authorized<Editor>,
    service: web::Data<TemplatesService>,
    path: web::Path<String>,
) -> ApiResult<web::Json<ImportResult>> {
    Ok(web::Json(service.refresh(&caller.principal, &path).await?))
}

//! Git sync with a per-tenant remote, and reconciling the branch with the registry rows.
//!
//! Sync: fetch with gix, then fast-forward (remote ahead: the rows are re-imported from the
//! fetched tree), push with the git CLI (we are ahead; gix cannot push), or report `diverged`
//! with both heads and change nothing when both sides moved. A sync is all-or-nothing: when the
//! import after a fast-forward fails, the branch goes back to where it was and the rows are as
//! they were (the import is one database transaction).
//!
//! Remotes are checked with [`crate::platform::git_remote::check_remote`] when stored and again
//! before every sync: https:// and ssh:// by default, local paths only inside directories the
//! operator allow-lists (`templates.git_allowed_local_dirs`), never inside the data directory.
//!
//! Template ids are unique across tenants, so a fetched folder whose id another tenant uses (two
//! tenants syncing with one repository) is reported under `skipped` and not imported.
//!
//! Reconcile ([`TemplatesService::reconcile`], `POST /api/v1/admin/git/reconcile`, and at start
//! for every tenant): when the branch is not the commit the rows reflect, import the difference;
//! if that import fails for a reason other than an unavailable database, move the branch back to
//! the commit the rows reflect and keep the other commits under `refs/maestro/unimported/…`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;

use super::git::{self, PushResult};
use super::model::{GitReconcileReport, ImportReport, RemoteBody, RemoteView, SyncReport};
use super::service::{TemplatesService, system_principal};
use super::store;
use crate::platform::auth::{Principal, TenantId};
use crate::platform::blocking::run_blocking;
use crate::platform::git_remote::{
    CheckedRemote, LocalAllowList, RemoteError, check_remote, redact_credentials, shown,
};
use crate::platform::http::error::{ApiError, ApiResult, FieldError};

const DEFAULT_BRANCH: &str = "main";

/// What a sync or a repair can answer with besides generic errors.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "No git remote is configured for your tenant; set one with PUT /api/v1/admin/git/remote."
    )]
    NoRemote,
    #[error(
        "The configured remote {shown} cannot be used: it {why}. Set another with PUT /api/v1/admin/git/remote."
    )]
    RemoteNotAllowed { shown: String, why: RemoteError },
    #[error("Fetching from {shown} took longer than {} (templates.git_timeout).", humantime::format_duration(*.after))]
    FetchTimeout { shown: String, after: Duration },
    #[error("Fetching {branch} from {shown} failed: {detail}")]
    FetchFailed {
        branch: String,
        shown: String,
        detail: String,
    },
    #[error("Pushing to {shown} failed: {detail}")]
    PushFailed { shown: String, detail: String },
    #[error(
        "The fetched commits could not be imported: {cause} Nothing was changed: the branch is back at {restored} and the registry is as it was. Fix the cause in the remote and sync again."
    )]
    ImportFailed { cause: String, restored: String },
    #[error(
        "The template rows lag the git branch (rows at {head}, branch at {tip}) and importing the difference failed: {cause} An admin can repair this with POST /api/v1/admin/git/reconcile."
    )]
    OutOfSync {
        head: String,
        tip: String,
        cause: String,
    },
    #[error(
        "The rows reflect commit {head}, which the tenant's repository does not contain, so the branch cannot be moved back to it; restore the repository from a backup."
    )]
    CannotRepair { head: String },
    #[error(
        "The credentials of the configured remote {shown} were sealed under another auth.secret_key and cannot be read; set the remote again with PUT /api/v1/admin/git/remote."
    )]
    RemoteUnreadable { shown: String },
}

crate::problem_codes! {
    SyncError {
        Self::NoRemote => (CONFLICT, "templates.no_remote"),
        Self::RemoteNotAllowed { .. } => (UNPROCESSABLE_ENTITY, "templates.remote_not_allowed"),
        Self::FetchTimeout { .. } => (GATEWAY_TIMEOUT, "templates.git_timeout"),
        Self::FetchFailed { .. } => (BAD_GATEWAY, "templates.git_fetch_failed"),
        Self::PushFailed { .. } => (BAD_GATEWAY, "templates.git_push_failed"),
        Self::ImportFailed { .. } => (CONFLICT, "templates.sync_import_failed"),
        Self::OutOfSync { .. } => (CONFLICT, "templates.git_out_of_sync"),
        Self::CannotRepair { .. } => (CONFLICT, "templates.git_cannot_repair"),
        Self::RemoteUnreadable { .. } => (CONFLICT, "templates.remote_unreadable"),
    }
}

/// A git branch name Maestro accepts for the remote side.
pub fn validate_branch(raw: &str) -> Result<String, FieldError> {
    let branch = raw.trim();
    let ok = !branch.is_empty()
        && branch.len() <= 200
        && branch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
        && !branch.starts_with(['-', '/', '.'])
        && !branch.ends_with(['/', '.'])
        && !branch.ends_with(".lock")
        && !branch.contains("..")
        && !branch.contains("//");
    if ok {
        Ok(branch.to_string())
    } else {
        Err(FieldError::new(
            "branch",
            format!("{branch:?} is not a branch name (letters, digits, '-', '_', '.', '/')"),
        ))
    }
}

fn view(row: Option<store::RepoRow>) -> RemoteView {
    match row {
        None => RemoteView {
            url: None,
            branch: None,
            head_commit: None,
            last_sync_at: None,
            last_sync_status: None,
            last_sync_detail: None,
        },
        Some(r) => RemoteView {
            url: r.remote_url.as_deref().map(shown),
            branch: r.remote_branch,
            head_commit: r.head_commit,
            last_sync_at: r.last_sync_at.map(|t| t.and_utc()),
            last_sync_status: r.last_sync_status,
            last_sync_detail: r.last_sync_detail,
        },
    }
}

/// How the fetch ended.
type Fetched = (
    Option<gix::ObjectId>,
    Option<gix::ObjectId>,
    Option<gix::ObjectId>,
);

impl TemplatesService {
    pub async fn remote(&self, tenant: &TenantId) -> ApiResult<RemoteView> {
        Ok(view(self.repo_row(tenant).await?))
    }

    pub(in crate::modules::templates) async fn repo_row(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<Option<store::RepoRow>> {
        let t = tenant.clone();
        self.inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_repo(conn, &t)?) })
            .await
    }

    /// The tenant's remote as git is given it: with its credentials, opened from their sealed
    /// form. `None` when no remote is configured.
    pub(in crate::modules::templates) fn remote_for_use(
        &self,
        row: &store::RepoRow,
    ) -> Result<Option<String>, SyncError> {
        let Some(shown) = &row.remote_url else {
            return Ok(None);
        };
        match &row.remote_url_sealed {
            None => Ok(Some(shown.clone())),
            Some(sealed) => self
                .inner
                .sealer
                .open(&row.tenant_id, sealed)
                .map(Some)
                .map_err(|_| SyncError::RemoteUnreadable {
                    shown: shown.clone(),
                }),
        }
    }

    /// At start: seals the credentials of remotes stored in the clear (before they were sealed).
    pub async fn seal_stored_remotes(&self) -> ApiResult<usize> {
        let plain = self
            .inner
            .db
            .run(|conn| -> ApiResult<_> { Ok(store::unsealed_remotes(conn)?) })
            .await?;
        let mut sealed = 0;
        for (tenant, url) in plain {
            let Some(shown) = redact_credentials(&url) else {
                continue;
            };
            let secret = self.inner.sealer.seal(&tenant, &url);
            let tenant = TenantId(tenant);
            if self
                .inner
                .db
                .run(move |conn| -> ApiResult<_> {
                    Ok(store::seal_remote(conn, &tenant, &url, &shown, &secret)?)
                })
                .await?
            {
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// Maestro's data directory (the tenants' repositories live in `<data_dir>/git`).
    fn data_dir(&self) -> PathBuf {
        let root = self.inner.git.root();
        root.parent().unwrap_or(root).to_path_buf()
    }

    /// The platform's remote rule with this deployment's allow-list (touches the file system
    /// for local paths, so it runs on the blocking pool).
    pub(in crate::modules::templates) async fn check_remote(
        &self,
        url: &str,
    ) -> ApiResult<Result<CheckedRemote, RemoteError>> {
        let allow = self.inner.settings.git_allowed_local_dirs.clone();
        let data_dir = self.data_dir();
        let url = url.to_string();
        Ok(run_blocking("git.check_remote", move || {
            let local = LocalAllowList {
                dirs: &allow,
                setting: "templates.git_allowed_local_dirs",
            };
            check_remote(&url, &local, &data_dir)
        })
        .await?)
    }

    pub async fn set_remote(&self, tenant: &TenantId, body: RemoteBody) -> ApiResult<RemoteView> {
        let mut errors = Vec::new();
        let url = match self.check_remote(&body.url).await? {
            Ok(_) => Some(body.url.trim().to_string()),
            Err(why) => {
                errors.push(FieldError::new("url", why.to_string()));
                None
            }
        };
        let branch = validate_branch(body.branch.as_deref().unwrap_or(DEFAULT_BRANCH))
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(url), Some(branch)) = (url, branch) else {
            return Err(ApiError::validation("The remote is not usable.", errors));
        };
        // Credentials are kept only sealed; the row shows the URL without them.
        let (shown, sealed) = match redact_credentials(&url) {
            Some(shown) => (shown, Some(self.inner.sealer.seal(tenant.as_str(), &url))),
            None => (url, None),
        };
        let t = tenant.clone();
        let _guard = self.lock(tenant).await;
        self.inner
            .db
            .run(move |conn| -> ApiResult<()> {
                Ok(store::set_remote(
                    conn,
                    &t,
                    &shown,
                    sealed.as_deref(),
                    &branch,
                    chrono::Utc::now().naive_utc(),
                )?)
            })
            .await?;
        self.remote(tenant).await
    }

    /// Fetches, then fast-forwards, pushes or reports divergence. Returns the HTTP status to use
    /// (200, or 409 when diverged or rejected) with the report.
    pub async fn sync(&self, actor: &Principal) -> ApiResult<(StatusCode, SyncReport)> {
        let tenant = actor.tenant_id.clone();
        let _guard = self.lock(&tenant).await;
        let row = self.repo_row(&tenant).await?;
        let url = match row.as_ref().map(|r| self.remote_for_use(r)).transpose() {
            Ok(url) => url.flatten(),
            Err(unreadable) => return Err(self.sync_failed(&tenant, unreadable.into()).await),
        };
        let (Some(url), Some(branch)) = (url, row.as_ref().and_then(|r| r.remote_branch.clone()))
        else {
            return Err(SyncError::NoRemote.into());
        };
        let shown = shown(&url);
        // Checked again: the allow-list may have narrowed, or a symlink changed, since PUT.
        let remote = match self.check_remote(&url).await? {
            Ok(remote) => remote,
            Err(why) => {
                let err = SyncError::RemoteNotAllowed { shown, why };
                return Err(self.sync_failed(&tenant, err.into()).await);
            }
        };
        let timeout = self.inner.settings.git_timeout();

        // Fetch (gix), abortable on timeout.
        let interrupt = Arc::new(AtomicBool::new(false));
        let (u, b, flag) = (remote.url.clone(), branch.clone(), interrupt.clone());
        let inner = self.inner.clone();
        let tenant_id = tenant.0.clone();
        let fetch = run_blocking("git.fetch", move || -> anyhow::Result<Fetched> {
            let repo = inner.git.open(&tenant_id)?;
            let remote_tip = git::fetch(&repo, &u, &b, &flag)?;
            let local_tip = git::tip(&repo)?;
            let base = match (local_tip, remote_tip) {
                (Some(l), Some(r)) if l != r => git::merge_base(&repo, l, r)?,
                _ => None,
            };
            Ok((local_tip, remote_tip, base))
        });
        let fetched = match tokio::time::timeout(timeout, fetch).await {
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                let err = SyncError::FetchTimeout {
                    shown,
                    after: timeout,
                };
                return Err(self.sync_failed(&tenant, err.into()).await);
            }
            Ok(joined) => joined?,
        };
        let (local, remote_tip, base) = match fetched {
            Ok(v) => v,
            Err(e) => {
                let err = SyncError::FetchFailed {
                    branch,
                    shown,
                    detail: git::redact_credentials(&format!("{e:#}")),
                };
                return Err(self.sync_failed(&tenant, err.into()).await);
            }
        };
        let hex = |c: Option<gix::ObjectId>| c.map(|c| c.to_string());
        let mut report = SyncReport {
            status: String::new(),
            remote: shown.clone(),
            branch: branch.clone(),
            local_head: hex(local),
            remote_head: hex(remote_tip),
            merge_base: hex(base),
            imported: ImportReport::default(),
            detail: String::new(),
        };
        enum Plan {
            Nothing,
            Push,
            FastForward,
            Diverged,
        }
        let plan = match (local, remote_tip) {
            (None, None) => Plan::Nothing,
            (Some(_), None) => Plan::Push,
            (None, Some(_)) => Plan::FastForward,
            (Some(l), Some(r)) if l == r => Plan::Nothing,
            (Some(_), Some(r)) if base == Some(r) => Plan::Push,
            (Some(l), Some(_)) if base == Some(l) => Plan::FastForward,
            _ => Plan::Diverged,
        };
        let status = match plan {
            Plan::Nothing => {
                report.status = "up_to_date".into();
                report.detail = "Both sides are at the same commit.".into();
                StatusCode::OK
            }
            Plan::Diverged => {
                report.status = "diverged".into();
                report.detail = format!(
                    "Both sides have commits the other lacks (local {}, remote {}); nothing was changed. Merge them outside Maestro and push the result to {branch}, then sync again.",
                    report.local_head.as_deref().unwrap_or("-"),
                    report.remote_head.as_deref().unwrap_or("-")
                );
                StatusCode::CONFLICT
            }
            Plan::Push => {
                let path = self.repo_path(&tenant)?;
                let (git_binary, u, b) = (
                    self.inner.settings.git_binary.clone(),
                    remote.url.clone(),
                    branch.clone(),
                );
                let pushed = run_blocking("git.push", move || {
                    git::push(&git_binary, &path, &u, &b, timeout)
                })
                .await?;
                match pushed {
                    Ok(PushResult::Pushed) => {
                        report.status = "pushed".into();
                        report.detail = format!(
                            "Pushed {} to {branch} (git CLI).",
                            report.local_head.as_deref().unwrap_or("-")
                        );
                        report.remote_head = report.local_head.clone();
                        StatusCode::OK
                    }
                    Ok(PushResult::UpToDate) => {
                        report.status = "up_to_date".into();
                        report.detail = "The remote already had our commits.".into();
                        StatusCode::OK
                    }
                    Ok(PushResult::Rejected(why)) => {
                        report.status = "rejected".into();
                        report.detail = format!(
                            "The remote refused the push ({why}); it probably moved meanwhile. Sync again."
                        );
                        StatusCode::CONFLICT
                    }
                    Err(e) => {
                        let err = SyncError::PushFailed {
                            shown,
                            detail: git::redact_credentials(&format!("{e:#}")),
                        };
                        return Err(self.sync_failed(&tenant, err.into()).await);
                    }
                }
            }
            Plan::FastForward => {
                report.imported = self
                    .fast_forward_and_import(&tenant, local, remote_tip, actor)
                    .await?;
                report.status = "fast_forwarded".into();
                report.detail = format!(
                    "Fast-forwarded to {}: {} created, {} updated, {} deleted{}.",
                    report.remote_head.as_deref().unwrap_or("-"),
                    report.imported.created.len(),
                    report.imported.updated.len(),
                    report.imported.deleted.len(),
                    if report.imported.skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} skipped", report.imported.skipped.len())
                    }
                );
                report.local_head = report.remote_head.clone();
                StatusCode::OK
            }
        };
        let (t, s, d) = (tenant.clone(), report.status.clone(), report.detail.clone());
        self.inner
            .db
            .run(move |conn| -> ApiResult<()> {
                Ok(store::record_sync(
                    conn,
                    &t,
                    &s,
                    &d,
                    chrono::Utc::now().naive_utc(),
                )?)
            })
            .await?;
        metrics::counter!("maestro_template_git_syncs_total", "status" => report.status.clone())
            .increment(1);
        Ok((status, report))
    }

    /// Moves the branch from `local` to `target` and imports the difference; when the import
    /// fails, moves the branch back (the import is one transaction, so the rows are unchanged).
    /// The caller holds the tenant's lock.
    async fn fast_forward_and_import(
        &self,
        tenant: &TenantId,
        local: Option<gix::ObjectId>,
        target: Option<gix::ObjectId>,
        actor: &Principal,
    ) -> ApiResult<ImportReport> {
        self.with_repo(tenant, move |repo| {
            git::move_branch(
                repo,
                local,
                target,
                "maestro: fast-forward from the sync remote",
            )
        })
        .await?;
        let head = match self.repo_row(tenant).await {
            Ok(row) => Ok(row.and_then(|r| r.head_commit)),
            Err(e) => Err(e),
        };
        let imported = match head {
            Ok(head) => self.import_from_git(tenant, head, actor).await,
            Err(e) => Err(e),
        };
        let err = match imported {
            Ok(report) => return Ok(report),
            Err(err) => err,
        };
        let restored = local.map_or_else(|| "(no commit)".to_string(), |c| c.to_string());
        if let Err(undo) = self
            .with_repo(tenant, move |repo| {
                git::move_branch(
                    repo,
                    target,
                    local,
                    "maestro: sync import failed; branch restored",
                )
            })
            .await
        {
            tracing::error!(tenant = %tenant, error = ?undo, "restoring the branch after a failed sync import failed; POST /api/v1/admin/git/reconcile repairs it");
        }
        tracing::warn!(tenant = %tenant, error = ?err, "sync import failed; branch restored to {restored}");
        let err = if err.status.is_server_error() {
            // Keep the server error (its cause is logged); say what happened in the sync record.
            let mut err = err;
            err.detail = format!(
                "Importing the fetched commits failed on the server ({}); nothing was changed: the branch is back at {restored}. Retry the sync.",
                err.detail
            );
            err
        } else {
            SyncError::ImportFailed {
                cause: err.detail,
                restored,
            }
            .into()
        };
        Err(self.sync_failed(tenant, err).await)
    }

    /// Records a failed sync (status `failed`, the problem's detail) and returns the problem.
    async fn sync_failed(&self, tenant: &TenantId, err: ApiError) -> ApiError {
        let (t, d) = (tenant.clone(), err.detail.clone());
        let recorded = self
            .inner
            .db
            .run(move |conn| -> ApiResult<()> {
                Ok(store::record_sync(
                    conn,
                    &t,
                    "failed",
                    &d,
                    chrono::Utc::now().naive_utc(),
                )?)
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(tenant = %tenant, error = ?e, "could not record the failed sync");
        }
        metrics::counter!("maestro_template_git_syncs_total", "status" => "failed").increment(1);
        err
    }

    /// Brings the branch and the rows of `tenant` back in line (see the module documentation).
    pub async fn reconcile(&self, tenant: &TenantId) -> ApiResult<GitReconcileReport> {
        let _guard = self.lock(tenant).await;
        self.reconcile_locked(tenant).await
    }

    /// At start: [`TemplatesService::reconcile`] every tenant repository on disk. A tenant that
    /// cannot be repaired is logged and left for the admin endpoint; the others still are.
    pub async fn reconcile_all(&self) -> ApiResult<()> {
        let inner = self.inner.clone();
        let tenants = run_blocking("git.list_tenants", move || inner.git.tenants_on_disk()).await?;
        for tenant_id in tenants {
            let tenant = TenantId(tenant_id);
            match self.reconcile(&tenant).await {
                Ok(report) if report.status == "in_sync" => {}
                Ok(report) => {
                    tracing::warn!(tenant = %tenant, status = %report.status, created = report.imported.created.len(), updated = report.imported.updated.len(), deleted = report.imported.deleted.len(), skipped = ?report.imported.skipped, kept_ref = ?report.kept_ref, "{}", report.detail)
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant, error = ?e, "reconciling template rows with git failed; POST /api/v1/admin/git/reconcile retries it");
                    continue;
                }
            }
            match self.migrate_layout(&tenant).await {
                Ok(None) => {}
                Ok(Some(commit)) => {
                    tracing::info!(tenant = %tenant, %commit, "moved the templates of a repository written before the fan-out layout into templates/<xx>/<id>/")
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant, error = ?e, "moving templates into the fan-out layout failed; writes still work and the next start retries it")
                }
            }
        }
        Ok(())
    }

    /// [`TemplatesService::reconcile`] with the tenant's lock held.
    pub(super) async fn reconcile_locked(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<GitReconcileReport> {
        let head = self.repo_row(tenant).await?.and_then(|r| r.head_commit);
        let exists = self.inner.git.exists(tenant.as_str());
        let tip = if exists {
            self.with_repo(tenant, git::tip)
                .await?
                .map(|c| c.to_string())
        } else {
            None
        };
        let mut report = GitReconcileReport {
            status: "in_sync".into(),
            branch_head: tip.clone(),
            database_head: head.clone(),
            head: tip.clone(),
            imported: ImportReport::default(),
            kept_ref: None,
            detail: String::new(),
        };
        let Some(tip_hex) = tip.clone() else {
            report.head = head.clone();
            report.detail = match &head {
                None => "There is no branch yet and no commit recorded: nothing to do.".into(),
                Some(h) => format!(
                    "The repository has no branch (it was removed outside Maestro) while the rows reflect {h}; the rows were left as they are and the next write starts a new history."
                ),
            };
            return Ok(report);
        };
        if tip == head {
            report.detail = format!("The branch and the registry agree at {tip_hex}.");
            return Ok(report);
        }
        let import = self
            .import_from_git(tenant, head.clone(), &system_principal(tenant))
            .await;
        let cause = match import {
            Ok(imported) => {
                report.status = "imported".into();
                report.detail = format!(
                    "The rows caught up with the branch at {tip_hex}: {} created, {} updated, {} deleted, {} skipped.",
                    imported.created.len(),
                    imported.updated.len(),
                    imported.deleted.len(),
                    imported.skipped.len()
                );
                report.imported = imported;
                return Ok(report);
            }
            // A database outage is no reason to drop commits: try again later.
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => return Err(e),
            Err(e) => e,
        };
        let label = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            &tip_hex[..tip_hex.len().min(12)]
        );
        let (head_c, tip_c) = (head.clone(), tip_hex.clone());
        let reset = self
            .with_repo(tenant, move |repo| {
                let tip = git::parse_commit(repo, &tip_c)
                    .ok_or_else(|| anyhow::anyhow!("the branch tip {tip_c} is not a commit"))?;
                let target = match &head_c {
                    None => None,
                    Some(h) => match git::parse_commit(repo, h) {
                        Some(c) => Some(c),
                        None => return Ok(Err(h.clone())),
                    },
                };
                let kept = git::keep_unimported(repo, tip, &label)?;
                git::move_branch(
                    repo,
                    Some(tip),
                    target,
                    "maestro: reconcile; branch moved back to what the rows reflect",
                )?;
                Ok(Ok(kept))
            })
            .await?;
        let kept = reset.map_err(|head| SyncError::CannotRepair { head })?;
        tracing::warn!(tenant = %tenant, error = ?cause, kept_ref = %kept, "the branch could not be imported; moved it back to what the rows reflect");
        report.status = "reset".into();
        report.head = head.clone();
        report.detail = format!(
            "Importing the branch at {tip_hex} failed ({}), so the branch was moved back to {}, the commit the registry reflects; the other commits are kept under {kept}.",
            cause.detail,
            head.as_deref().unwrap_or("(no commit)")
        );
        report.kept_ref = Some(kept);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_are_checked() {
        assert!(validate_branch("main").is_ok());
        assert!(validate_branch("release/2.0").is_ok());
        for bad in ["", "-x", "a..b", "a/", "x.lock", "a b", "a//b"] {
            assert!(validate_branch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sync_problems_have_their_codes() {
        use crate::platform::http::error::ProblemCode;
        let err = SyncError::RemoteNotAllowed {
            shown: "file:///x".into(),
            why: RemoteError::LocalNotAllowed {
                setting: "templates.git_allowed_local_dirs",
            },
        };
        assert_eq!(err.code(), "templates.remote_not_allowed");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.to_string().contains("git_allowed_local_dirs"), "{err}");
        assert_eq!(SyncError::CODES.len(), 9);
    }
}

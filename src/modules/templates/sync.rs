//! Git sync with a per-tenant remote: fetch with gix, then fast-forward (remote ahead, and the
//! rows are re-imported from the fetched tree), push with the git CLI (we are ahead; gix cannot
//! push), or report `diverged` with both heads and change nothing when both sides moved.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;

use super::git::{self, PushResult};
use super::model::{ImportReport, RemoteBody, RemoteView, SyncReport};
use super::service::TemplatesService;
use super::store;
use crate::config::redact_url_password;
use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::{ApiError, ApiResult, FieldError};

const DEFAULT_BRANCH: &str = "main";

/// Checks a remote URL: http(s), ssh, git, file, `user@host:path` or an absolute path.
pub fn validate_url(raw: &str) -> Result<String, FieldError> {
    let url = raw.trim();
    let bad = |why: &str| FieldError::new("url", why.to_string());
    if url.is_empty() {
        return Err(bad("is empty"));
    }
    if url.len() > 2048 {
        return Err(bad("is longer than 2048 characters"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("must not contain spaces or control characters"));
    }
    if url.starts_with('-') {
        return Err(bad("must not start with '-'"));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "https" | "http" | "ssh" | "git" | "file"
        ) {
            return Err(bad(
                "use https://, http://, ssh://, git://, file:// or user@host:path",
            ));
        }
        if url::Url::parse(url).is_err() {
            return Err(bad("is not a valid URL"));
        }
        return Ok(url.to_string());
    }
    if url.starts_with('/') {
        return Ok(url.to_string());
    }
    // scp-like: user@host:path
    if let Some((host, path)) = url.split_once(':')
        && host.contains('@')
        && !path.is_empty()
        && !host.contains('/')
    {
        return Ok(url.to_string());
    }
    Err(bad(
        "use https://, ssh://, git://, file:///path, an absolute path or user@host:path",
    ))
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
            url: r.remote_url.as_deref().map(redact_url_password),
            branch: r.remote_branch,
            head_commit: r.head_commit,
            last_sync_at: r.last_sync_at.map(|t| t.and_utc()),
            last_sync_status: r.last_sync_status,
            last_sync_detail: r.last_sync_detail,
        },
    }
}

impl TemplatesService {
    pub async fn remote(&self, tenant: &TenantId) -> ApiResult<RemoteView> {
        let t = tenant.clone();
        let row = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_repo(conn, &t)?) })
            .await?;
        Ok(view(row))
    }

    pub async fn set_remote(&self, tenant: &TenantId, body: RemoteBody) -> ApiResult<RemoteView> {
        let mut errors = Vec::new();
        let url = validate_url(&body.url).map_err(|e| errors.push(e)).ok();
        let branch = validate_branch(body.branch.as_deref().unwrap_or(DEFAULT_BRANCH))
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(url), Some(branch)) = (url, branch) else {
            return Err(ApiError::validation("The remote is not usable.", errors));
        };
        let t = tenant.clone();
        let _guard = self.lock(tenant).await;
        self.inner
            .db
            .run(move |conn| -> ApiResult<()> {
                Ok(store::set_remote(
                    conn,
                    &t,
                    &url,
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
        let remote = self.remote(&tenant).await?;
        let t = tenant.clone();
        let raw_url = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_repo(conn, &t)?) })
            .await?
            .and_then(|r| r.remote_url);
        let (Some(url), Some(branch)) = (raw_url, remote.branch.clone()) else {
            return Err(ApiError::conflict(
                "templates.no_remote",
                "No git remote is configured for your tenant; set one with PUT /api/v1/admin/git/remote.",
            ));
        };
        let shown = redact_url_password(&url);
        let _guard = self.lock(&tenant).await;
        let timeout = Duration::from_secs(self.inner.settings.git_timeout_secs);

        // Fetch (gix), abortable on timeout.
        let interrupt = Arc::new(AtomicBool::new(false));
        let (u, b, flag) = (url.clone(), branch.clone(), interrupt.clone());
        let inner = self.inner.clone();
        let tenant_id = tenant.0.clone();
        let fetch = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
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
                return Err(self
                    .sync_failed(&tenant, StatusCode::GATEWAY_TIMEOUT, "templates.git_timeout", format!("Fetching from {shown} took longer than {} s (templates.git_timeout_secs).", timeout.as_secs()))
                    .await);
            }
            Ok(joined) => {
                joined.map_err(|e| ApiError::internal(anyhow::anyhow!("git worker failed: {e}")))?
            }
        };
        let (local, remote_tip, base) = match fetched {
            Ok(v) => v,
            Err(e) => {
                let detail = git::redact_credentials(&format!("{e:#}"));
                return Err(self
                    .sync_failed(
                        &tenant,
                        StatusCode::BAD_GATEWAY,
                        "templates.git_fetch_failed",
                        format!("Fetching {branch} from {shown} failed: {detail}"),
                    )
                    .await);
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
                    url.clone(),
                    branch.clone(),
                );
                let pushed = tokio::task::spawn_blocking(move || {
                    git::push(&git_binary, &path, &u, &b, timeout)
                })
                .await
                .map_err(|e| ApiError::internal(anyhow::anyhow!("git worker failed: {e}")))?;
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
                        let detail = git::redact_credentials(&format!("{e:#}"));
                        return Err(self
                            .sync_failed(
                                &tenant,
                                StatusCode::BAD_GATEWAY,
                                "templates.git_push_failed",
                                format!("Pushing to {shown} failed: {detail}"),
                            )
                            .await);
                    }
                }
            }
            Plan::FastForward => {
                let target = remote_tip;
                self.with_repo(&tenant, move |repo| {
                    git::move_branch(
                        repo,
                        local,
                        target,
                        "maestro: fast-forward from the sync remote",
                    )
                })
                .await?;
                let t = tenant.clone();
                let head = self
                    .inner
                    .db
                    .run(move |conn| -> ApiResult<_> { Ok(store::find_repo(conn, &t)?) })
                    .await?
                    .and_then(|r| r.head_commit);
                report.imported = self.import_from_git(&tenant, head, actor).await?;
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

    async fn sync_failed(
        &self,
        tenant: &TenantId,
        status: StatusCode,
        code: &str,
        detail: String,
    ) -> ApiError {
        let (t, d) = (tenant.clone(), detail.clone());
        let _ = self
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
        metrics::counter!("maestro_template_git_syncs_total", "status" => "failed").increment(1);
        ApiError::new(status, code, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_are_checked() {
        for ok in [
            "https://github.com/acme/templates.git",
            "ssh://git@example.com/acme/t.git",
            "git@github.com:acme/templates.git",
            "file:///srv/git/templates.git",
            "/srv/git/templates.git",
        ] {
            assert!(validate_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-uupload-pack=evil",
            "ext::sh -c evil",
            "ftp://x/y",
            "relative/path",
            "a b",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branches_are_checked() {
        assert!(validate_branch("main").is_ok());
        assert!(validate_branch("release/2.0").is_ok());
        for bad in ["", "-x", "a..b", "a/", "x.lock", "a b", "a//b"] {
            assert!(validate_branch(bad).is_err(), "{bad}");
        }
    }
}

//! Registered repositories: one per project, where patches are applied. URLs follow the
//! platform's remote rule ([`check_remote`]: https, ssh, or a local path inside
//! `healing.git_allowed_local_dirs`), checked when registered and again before each use.
//! Credentials stay server-side: the view shows the URL without password and whether a secret
//! is stored.

use chrono::Utc;
use uuid::Uuid;

use super::HealingService;
use crate::modules::healing::error::HealingError;
use crate::modules::healing::model::{RepositoryRequest, RepositoryView};
use crate::modules::healing::repo::Remote;
use crate::modules::healing::store::{self, RepositoryRow};
use crate::modules::templates::sync::validate_branch;
use crate::platform::auth::{Principal, TenantId};
use crate::platform::blocking::run_blocking;
use crate::platform::git_remote::{CheckedRemote, LocalAllowList, RemoteKind, check_remote, shown};
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::pagination::{Page, PageQuery};

fn view(r: RepositoryRow) -> RepositoryView {
    RepositoryView {
        id: r.id,
        project: r.project,
        url: shown(&r.url),
        default_branch: r.default_branch,
        username: r.username,
        has_secret: r.secret.is_some() || r.secret_sealed.is_some(),
        created_by: r.created_by,
        created_at: r.created_at.and_utc(),
    }
}

impl HealingService {
    async fn checked(&self, url: &str) -> ApiResult<Result<CheckedRemote, String>> {
        let (url, dirs, data_dir) = (
            url.to_string(),
            self.settings.git_allowed_local_dirs.clone(),
            self.data_dir.clone(),
        );
        Ok(run_blocking("healing.check_remote", move || {
            check_remote(
                &url,
                &LocalAllowList {
                    dirs: &dirs,
                    setting: "healing.git_allowed_local_dirs",
                },
                &data_dir,
            )
            .map_err(|e| e.to_string())
        })
        .await?)
    }

    /// What git is handed for a registration: checked again (the allow-list may have narrowed),
    /// with the credentials for https.
    pub(super) async fn remote_of(&self, row: &RepositoryRow) -> ApiResult<Remote> {
        let shown = shown(&row.url);
        let checked = self.checked(&row.url).await?.map_err(|why| {
            ApiError::from(HealingError::GitFailed {
                shown: shown.clone(),
                detail: format!("the URL {why}; register the repository again"),
            })
        })?;
        let secret = match &row.secret_sealed {
            Some(sealed) => Some(self.sealer.open(&row.tenant_id, sealed).map_err(|_| {
                ApiError::from(HealingError::GitFailed {
                    shown: shown.clone(),
                    detail: "its secret was sealed under another auth.secret_key and cannot be read; register the repository again".into(),
                })
            })?),
            None => row.secret.clone(),
        };
        let mut url = checked.url;
        if checked.kind == RemoteKind::Https
            && (row.username.is_some() || secret.is_some())
            && let Ok(mut parsed) = url::Url::parse(&url)
        {
            // The user given, else the one in the URL (a password moved out of an older row's
            // URL leaves its user there), else what token-only hosts expect.
            let user = match (&row.username, parsed.username()) {
                (Some(given), _) => given.clone(),
                (None, "") => "x-access-token".to_string(),
                (None, in_url) => in_url.to_string(),
            };
            let _ = parsed.set_username(&user);
            let _ = parsed.set_password(secret.as_deref());
            url = parsed.to_string();
        }
        Ok(Remote {
            url,
            default_branch: row.default_branch.clone(),
        })
    }

    pub async fn register_repository(
        &self,
        caller: &Principal,
        req: RepositoryRequest,
    ) -> ApiResult<RepositoryView> {
        let project = req.project.trim().to_string();
        let mut errors = Vec::new();
        if project.is_empty() || project.len() > 200 {
            errors.push(FieldError::new(
                "project",
                "required: the project's name, 1 to 200 characters",
            ));
        }
        let branch = match validate_branch(req.default_branch.as_deref().unwrap_or("main")) {
            Ok(b) => b,
            Err(mut e) => {
                e.field = "default_branch".into();
                errors.push(e);
                String::new()
            }
        };
        let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let (username, secret) = (clean(req.username), clean(req.secret));
        if username
            .as_ref()
            .is_some_and(|u| u.len() > 200 || u.contains([':', '@', '/']))
        {
            errors.push(FieldError::new(
                "username",
                "at most 200 characters, without ':', '@' or '/'",
            ));
        }
        if secret.as_ref().is_some_and(|s| s.len() > 4096) {
            errors.push(FieldError::new("secret", "at most 4096 characters"));
        }
        let url = req.url.trim().to_string();
        if url::Url::parse(&url).is_ok_and(|u| u.password().is_some()) {
            errors.push(FieldError::new(
                "url",
                "holds a password; give it (or the token) in `secret` and the user in `username`, which are kept sealed",
            ));
        }
        match self.checked(&url).await? {
            Ok(checked) => {
                if (username.is_some() || secret.is_some()) && checked.kind != RemoteKind::Https {
                    errors.push(FieldError::new(
                        "secret",
                        "credentials are only used with https:// remotes (ssh uses the server's keys)",
                    ));
                }
            }
            Err(why) => errors.push(FieldError::new("url", why)),
        }
        ApiError::check_fields(
            "The repository is invalid; each entry in `errors` says what to fix.",
            errors,
        )?;
        let row = RepositoryRow {
            id: Uuid::new_v4().to_string(),
            tenant_id: caller.tenant_id.0.clone(),
            project: project.clone(),
            url,
            default_branch: branch,
            username,
            secret: None,
            created_by: caller.display_name(),
            created_at: Utc::now().naive_utc(),
            secret_sealed: secret.map(|s| self.sealer.seal(caller.tenant_id.as_str(), &s)),
        };
        let tenant = caller.tenant_id.clone();
        let stored = row.clone();
        self.db
            .transaction(move |conn| -> ApiResult<()> {
                if let Some(existing) = store::repository(conn, &tenant, &stored.project)? {
                    return Err(HealingError::RepositoryExists {
                        project: stored.project.clone(),
                        id: existing.id,
                    }
                    .into());
                }
                store::upsert_repository(conn, &stored)?;
                Ok(())
            })
            .await?;
        Ok(view(row))
    }

    /// At start: seals the secrets of repositories registered before they were sealed — the
    /// `secret` column, or a password in the URL (moved out of it).
    pub async fn seal_stored_secrets(&self) -> ApiResult<usize> {
        let rows = self
            .db
            .run(|conn| -> ApiResult<_> { Ok(store::unsealed_repositories(conn)?) })
            .await?;
        let mut sealed = 0;
        for row in rows {
            let (url, secret) = match url::Url::parse(&row.url) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let password = parsed.password().map(str::to_string);
                    let _ = parsed.set_password(None);
                    (parsed.to_string(), row.secret.clone().or(password))
                }
                _ => (row.url.clone(), row.secret.clone()),
            };
            if url == row.url && secret.is_none() {
                continue;
            }
            let secret_sealed = secret.map(|s| self.sealer.seal(&row.tenant_id, &s));
            if self
                .db
                .run(move |conn| -> ApiResult<_> {
                    Ok(store::seal_repository(
                        conn,
                        &row,
                        &url,
                        secret_sealed.as_deref(),
                    )?)
                })
                .await?
            {
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    pub async fn repositories(
        &self,
        tenant: &TenantId,
        page: &PageQuery,
    ) -> ApiResult<Page<RepositoryView>> {
        let tenant = tenant.clone();
        self.db
            .page(
                page,
                move |conn, limit, offset| Ok(store::repositories(conn, &tenant, limit, offset)?),
                view,
            )
            .await
    }

    pub async fn repository(&self, tenant: &TenantId, id: &str) -> ApiResult<RepositoryView> {
        let (t, key) = (tenant.clone(), id.to_string());
        self.db
            .run(move |conn| -> ApiResult<_> { Ok(store::repository_by_id(conn, &t, &key)?) })
            .await?
            .map(view)
            .ok_or_else(|| HealingError::RepositoryNotFound { id: id.to_string() }.into())
    }

    pub async fn delete_repository(&self, tenant: &TenantId, id: &str) -> ApiResult<()> {
        let (t, key) = (tenant.clone(), id.to_string());
        let n = self
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::delete_repository(conn, &t, &key)?) })
            .await?;
        if n == 0 {
            return Err(HealingError::RepositoryNotFound { id: id.to_string() }.into());
        }
        if let Ok(path) = crate::modules::healing::repo::mirror_path(&self.mirrors, &tenant.0, id) {
            let _guard = self.git_lock.lock().await;
            let _ =
                run_blocking("healing.repo.remove", move || std::fs::remove_dir_all(path)).await;
        }
        Ok(())
    }
}

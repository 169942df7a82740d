//! Imports from git (`POST /api/v1/templates/import`) and refreshes (`…/{id}/refresh`): check the
//! URL with the platform's remote rule, clone into a scratch folder (gix, on the blocking pool,
//! abortable on `templates.git_timeout`), read the templates ([`crate::modules::templates::git_import`]),
//! derive a manifest for plain cookiecutter folders ([`crate::modules::templates::derive`]), then
//! create or update each one through the ordinary write pipeline (limits, format, name, publish
//! gate; one commit each) and record where it came from (`template_sources`).
//!
//! Credentials: for an `https://` URL without credentials, those of the tenant's sync remote
//! (`PUT /api/v1/admin/git/remote`) are used when it is on the same host. They are handed to git
//! only; messages, logs and the stored URL never hold them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::write::GateMode;
use super::{TemplateInput, TemplatesService, now_naive};
use crate::modules::templates::archive;
use crate::modules::templates::derive::{DeriveHints, slug, with_derived_manifest};
use crate::modules::templates::gate::{
    ForcedPublish, GateVerdict, PublishCandidate, PublishGate, content_digest,
};
use crate::modules::templates::git_import::{
    FoundTemplate, GitImportError, Scratch, fetch_templates, valid_ref,
};
use crate::modules::templates::model::{
    ImportBody, ImportResult, ImportedTemplate, TemplateSourceView,
};
use crate::modules::templates::model::{TemplateStatus, TemplateSummary};
use crate::modules::templates::spec;
use crate::modules::templates::store::{self, PublicationRow, SourceRow};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::blocking::run_blocking;
use crate::platform::git_remote::RemoteKind;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::render::{MANIFEST_FILE, SourceFile};

/// A checked import request.
struct Source {
    /// As stored and shown: no credentials.
    url: String,
    git_ref: Option<String>,
    path: String,
}

impl TemplatesService {
    /// Imports every template found at `body.url`/`ref`/`path`.
    pub async fn import_git(&self, actor: &Principal, body: ImportBody) -> ApiResult<ImportResult> {
        let mut errors = Vec::new();
        let url = body.url.trim().to_string();
        if url::Url::parse(&url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some()) {
            errors.push(FieldError::new(
                "url",
                "must not hold credentials; https credentials come from your tenant's sync remote on the same host (PUT /api/v1/admin/git/remote)",
            ));
        }
        let git_ref = match body.git_ref.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) if valid_ref(r) => Some(r.to_string()),
            Some(r) => {
                errors.push(FieldError::new(
                    "ref",
                    format!("{r:?} is not a tag, branch or commit id (letters, digits, '-', '_', '.', '/', '+')"),
                ));
                None
            }
        };
        let path = match body.path.as_deref().map(|p| p.trim().trim_matches('/')) {
            None | Some("") | Some(".") => String::new(),
            Some(p) => match archive::check_path(p) {
                Ok(clean) => clean,
                Err(_) => {
                    errors.push(FieldError::new(
                        "path",
                        format!("{p:?} is not a relative folder inside the repository"),
                    ));
                    String::new()
                }
            },
        };
        if let Some(name) = body.name.as_deref()
            && slug(name).is_none()
        {
            errors.push(FieldError::new(
                "name",
                "must hold letters or digits (it is slugged into the registry name)",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(
                "The import request is not usable.",
                errors,
            ));
        }
        let source = Source { url, git_ref, path };
        self.import_source(actor, &source, body.name, body.category)
            .await
    }

    /// Pulls a template's recorded source again; a new version only when its files changed.
    pub async fn refresh(&self, actor: &Principal, id: &str) -> ApiResult<ImportResult> {
        let current = self.row(&actor.tenant_id, id).await?;
        let (t, tid) = (actor.tenant_id.clone(), current.id.clone());
        let row = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_source(conn, &t, &tid)?) })
            .await?
            .ok_or(GitImportError::NotImported)?;
        let source = Source {
            url: row.url,
            git_ref: row.git_ref,
            path: row.path,
        };
        let mut result = self.import_source(actor, &source, None, None).await?;
        // A refresh answers for this template only (its folder may have become several).
        result.templates.retain(|t| t.id == current.id);
        Ok(result)
    }

    /// The source of an imported template (`None`: not imported from git).
    pub async fn source_of(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<TemplateSourceView>> {
        let (t, tid) = (tenant.clone(), id.to_string());
        Ok(self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_source(conn, &t, &tid)?) })
            .await?
            .map(TemplateSourceView::from))
    }

    /// What cookiecutter's `_template`, `_repo_dir` and `_checkout` default to when the
    /// template is rendered: for a template imported from git, what `cookiecutter URL
    /// --checkout REF` records (the URL and the ref); else its registry name.
    pub(super) async fn cookiecutter_source(
        &self,
        tenant: &TenantId,
        id: &str,
        name: &str,
    ) -> ApiResult<crate::render::CookiecutterSource> {
        Ok(match self.source_of(tenant, id).await? {
            Some(source) => {
                crate::render::CookiecutterSource::git(&source.url, source.git_ref.as_deref())
            }
            None => crate::render::CookiecutterSource::named(name),
        })
    }

    async fn import_source(
        &self,
        actor: &Principal,
        source: &Source,
        name: Option<String>,
        category: Option<String>,
    ) -> ApiResult<ImportResult> {
        let tenant = actor.tenant_id.clone();
        let remote = match self.check_remote(&source.url).await? {
            Ok(remote) => remote,
            Err(why) => {
                return Err(ApiError::validation(
                    "The repository URL is not usable.",
                    vec![FieldError::new("url", why.to_string())],
                ));
            }
        };
        let mut git_url = remote.url.clone();
        if remote.kind == RemoteKind::Https {
            git_url = self.with_tenant_credentials(&tenant, &git_url).await?;
        }
        let shown = crate::platform::git_remote::shown(&source.url);
        let scratch = Scratch(
            self.inner
                .git
                .root()
                .parent()
                .unwrap_or(self.inner.git.root())
                .join("import-scratch")
                .join(uuid::Uuid::new_v4().to_string()),
        );
        if let Some(parent) = scratch.0.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
        }
        let timeout = self.inner.settings.git_timeout();
        let interrupt = Arc::new(AtomicBool::new(false));
        let limits = self.limits();
        let fetch = {
            let (dir, u, s, r, p, flag) = (
                scratch.0.clone(),
                git_url,
                shown.clone(),
                source.git_ref.clone(),
                source.path.clone(),
                interrupt.clone(),
            );
            run_blocking("git.import", move || {
                fetch_templates(&dir, &u, &s, r.as_deref(), &p, &limits, &flag)
            })
        };
        let fetched = match tokio::time::timeout(timeout, fetch).await {
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                return Err(GitImportError::FetchTimeout {
                    shown,
                    after: timeout,
                }
                .into());
            }
            Ok(joined) => joined??,
        };
        drop(scratch);
        let single = fetched.templates.len() == 1;
        let mut result = ImportResult {
            url: shown.clone(),
            commit: fetched.commit.clone(),
            templates: Vec::new(),
            skipped: fetched.skipped.clone(),
        };
        for found in fetched.templates {
            let hints = DeriveHints {
                name: if single { name.clone() } else { None },
                folder: Some(found.folder.clone()),
                tag: fetched.tag.clone(),
                commit: Some(fetched.commit.clone()),
                commit_author: fetched.author.clone(),
                category: category.clone(),
                default_category: self.inner.settings.default_category.clone(),
            };
            let imported = self
                .import_one(actor, source, &shown, &fetched.commit, found, hints)
                .await?;
            result.templates.push(imported);
        }
        Ok(result)
    }

    /// Creates the template, or updates the one imported from the same URL and folder before.
    async fn import_one(
        &self,
        actor: &Principal,
        source: &Source,
        shown: &str,
        commit: &str,
        found: FoundTemplate,
        mut hints: DeriveHints,
    ) -> ApiResult<ImportedTemplate> {
        let tenant = actor.tenant_id.clone();
        let (t, u, p) = (tenant.clone(), shown.to_string(), found.path.clone());
        let existing = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_by_source(conn, &t, &u, &p)?) })
            .await?;
        let current = match &existing {
            Some(s) => Some(self.row(&tenant, &s.template_id).await?),
            None => None,
        };
        if let Some(current) = &current {
            // An update keeps the registry name and category it has.
            hints.name = Some(current.name.clone());
            hints.category = Some(current.category.clone());
        }
        let has_manifest = found.files.iter().any(|f| f.path == MANIFEST_FILE);
        let files = with_derived_manifest(found.files, &hints)?;
        let (detail, status) = match &current {
            None => {
                let detail = self
                    .create_as(actor, TemplateInput::files(files), GateMode::DraftOnRefusal)
                    .await?;
                (detail, "created")
            }
            Some(current) => {
                let before = self
                    .files_at(&tenant, &current.id, &current.current_commit)
                    .await?;
                if same_content(&before, &files, has_manifest) {
                    let detail = self.detail(&tenant, &current.id, false).await?;
                    (detail, "unchanged")
                } else {
                    let detail = self
                        .update_as(
                            actor,
                            &current.id,
                            Some(&current.current_commit),
                            TemplateInput::files(files),
                            None,
                            GateMode::DraftOnRefusal,
                        )
                        .await?;
                    let status = if detail.changed == Some(false) {
                        "unchanged"
                    } else {
                        "updated"
                    };
                    (detail, status)
                }
            }
        };
        let row = SourceRow {
            template_id: detail.template.id.clone(),
            tenant_id: tenant.0.clone(),
            url: shown.to_string(),
            git_ref: source.git_ref.clone(),
            path: found.path.clone(),
            commit_id: commit.to_string(),
            imported_at: now_naive(),
        };
        let (t, stored) = (tenant.clone(), row.clone());
        self.inner
            .db
            .run(move |conn| -> ApiResult<()> { Ok(store::put_source(conn, &t, &stored)?) })
            .await?;
        Ok(ImportedTemplate {
            id: detail.template.id.clone(),
            name: detail.template.name.clone(),
            version: detail.template.version.clone(),
            status: status.to_string(),
            draft: detail.template.status == TemplateStatus::Draft,
            current_commit: detail.template.current_commit.clone(),
            source: TemplateSourceView::from(row),
            gate: detail.gate.clone(),
        })
    }

    /// `url` with the user and password of the tenant's sync remote when that is an https URL on
    /// the same host with a password; `url` unchanged otherwise.
    async fn with_tenant_credentials(&self, tenant: &TenantId, url: &str) -> ApiResult<String> {
        let remote = match self.repo_row(tenant).await? {
            Some(row) => self.remote_for_use(&row)?,
            None => None,
        };
        Ok(match remote {
            Some(remote) => with_credentials_of(&remote, url),
            None => url.to_string(),
        })
    }
}

/// `url` with the user and password of `remote` when both are https on the same host and port
/// and `remote` has a password (user `x-access-token` when it names none).
fn with_credentials_of(remote: &str, url: &str) -> String {
    let (Ok(remote), Ok(mut target)) = (url::Url::parse(remote), url::Url::parse(url)) else {
        return url.to_string();
    };
    if remote.scheme() == "https"
        && target.scheme() == "https"
        && remote.host_str() == target.host_str()
        && remote.port_or_known_default() == target.port_or_known_default()
        && let Some(password) = remote.password()
    {
        let user = if remote.username().is_empty() {
            "x-access-token"
        } else {
            remote.username()
        };
        let _ = target.set_username(user);
        let _ = target.set_password(Some(password));
        return target.to_string();
    }
    url.to_string()
}

/// The files are the same as stored. A derived `manifest.yaml` (the source has none) is left out
/// of the comparison: its version names the commit, which changes when other folders change.
fn same_content(before: &[SourceFile], after: &[SourceFile], compare_manifest: bool) -> bool {
    let keep = |f: &&SourceFile| compare_manifest || f.path != MANIFEST_FILE;
    let mut a: Vec<&SourceFile> = before.iter().filter(keep).collect();
    let mut b: Vec<&SourceFile> = after.iter().filter(keep).collect();
    a.sort_by(|x, y| x.path.cmp(&y.path));
    b.sort_by(|x, y| x.path.cmp(&y.path));
    a == b
}

// ----- drafts -----

impl TemplatesService {
    /// Publishes a draft: its current content must pass the publish gate, or an admin forces it
    /// with a reason (recorded in `template_publications` and the log). A template that is not a
    /// draft is returned as it is.
    pub async fn publish(
        &self,
        actor: &Principal,
        id: &str,
        force: Option<ForcedPublish>,
    ) -> ApiResult<TemplateSummary> {
        Self::check_force(actor, &force)?;
        let tenant = actor.tenant_id.clone();
        let _guard = self.write_lock(&tenant).await?;
        let current = self.row(&tenant, id).await?;
        if current.status() != TemplateStatus::Draft {
            return Ok(TemplateSummary::from(&current));
        }
        let files = self
            .files_at(&tenant, &current.id, &current.current_commit)
            .await?;
        let mut score = None;
        let mut forced_reason = None;
        if let Some(gate) = self.inner.services.get::<Arc<dyn PublishGate>>() {
            let inspected = spec::inspect(&files)?;
            let digest = content_digest(&files);
            gate.prepare(&digest, &files).await?;
            let verdict = gate
                .check(&PublishCandidate {
                    tenant: tenant.clone(),
                    actor: actor.clone(),
                    template_id: current.id.clone(),
                    // A draft was never published: no earlier score to regress from.
                    previous_commit: None,
                    name: current.name.clone(),
                    category: current.category.clone(),
                    manifest: inspected.manifest_json(),
                    files,
                    digest,
                    force: None,
                })
                .await?;
            match verdict {
                GateVerdict::Allow { note } => {
                    score = note.and_then(|n| n["quality_score"].as_i64());
                }
                GateVerdict::Refuse(error) => match &force {
                    Some(f) => {
                        tracing::warn!(
                            template_id = %current.id,
                            actor = %actor.display_name(),
                            reason = %f.reason,
                            refusal = %error.detail,
                            "draft published past the publish gate by an admin"
                        );
                        forced_reason = Some(f.reason.clone());
                    }
                    None => return Err(error),
                },
            }
        }
        let row = PublicationRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.0.clone(),
            template_id: current.id.clone(),
            commit_id: current.current_commit.clone(),
            actor: actor.display_name(),
            quality_score: score,
            forced_reason,
            created_at: now_naive(),
        };
        let t = tenant.clone();
        self.inner
            .db
            .transaction(move |conn| -> ApiResult<bool> { Ok(store::publish(conn, &t, &row)?) })
            .await?;
        self.invalidate(&tenant).await;
        let row = self.row(&tenant, id).await?;
        Ok(TemplateSummary::from(&row))
    }
}

#[cfg(test)]
mod tests {
    use super::with_credentials_of;

    #[test]
    fn credentials_of_the_sync_remote_apply_to_the_same_https_host_only() {
        let remote = "https://bob:s3cret@git.example.com/team/templates.git";
        assert_eq!(
            with_credentials_of(remote, "https://git.example.com/team/other.git"),
            "https://bob:s3cret@git.example.com/team/other.git"
        );
        assert_eq!(
            with_credentials_of(
                "https://:tok@git.example.com/t.git",
                "https://git.example.com/x.git"
            ),
            "https://x-access-token:tok@git.example.com/x.git"
        );
        for (remote, url) in [
            (remote, "https://elsewhere.example.com/x.git"),
            (remote, "https://git.example.com:8443/x.git"),
            (
                "https://bob@git.example.com/t.git",
                "https://git.example.com/x.git",
            ),
            (
                "ssh://bob@git.example.com/t.git",
                "https://git.example.com/x.git",
            ),
            ("not a url", "https://git.example.com/x.git"),
        ] {
            assert_eq!(with_credentials_of(remote, url), url, "{remote}");
        }
    }
}

//! Keeping generated projects current: the three-way update of an uploaded project to a newer
//! template version (base = the old version rendered with the old answers, theirs = the target
//! rendered with the new answers, ours = the upload; merged by [`crate::modules::templates::merge`])
//! and the drift report (which generated projects are behind, by how many versions, with the
//! changelog). Nothing is written except the ledger entry of a real (not dry-run) update.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::instantiate::RenderedVersion;
use super::{TemplatesService, now_naive};
use crate::modules::templates::answers::{
    AnswersFile, AnswersTemplate, DEFAULT_ANSWERS_FILE, writable_answers,
};
use crate::modules::templates::archive::{self, ArchiveKind, OutEntry};
use crate::modules::templates::error::TemplatesError;
use crate::modules::templates::git;
use crate::modules::templates::merge::{self, Tree, TreeFile};
use crate::modules::templates::model::{
    ChangelogEntry, InstantiationView, TemplateDrift, UpdateResult,
};
use crate::modules::templates::store::{self, InstantiationRow, TemplateRow};
use crate::platform::auth::{Principal, Role, TenantId};
use crate::platform::http::error::{ApiError, ApiResult};
use crate::platform::http::pagination::{Page, PageQuery};
use crate::render::{MANIFEST_FILE, SourceFile};

/// Why an update cannot start.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "Cannot tell which version the project was generated from: the upload has no answers \
         file ({DEFAULT_ANSWERS_FILE}) and no `instantiation_id` was given."
    )]
    NoAnswers,
    #[error("The answers file {path} cannot be read: {reason}")]
    BadAnswersFile { path: String, reason: String },
    #[error(
        "The project was generated from template {found}, not from this one; update it through \
         /api/v1/templates/{found}/update."
    )]
    WrongTemplate { found: String },
    #[error("No instantiation {id} of this template in your tenant's ledger.")]
    InstantiationNotFound { id: String },
    #[error("The project label is too long ({len} characters; at most 500).")]
    LabelTooLong { len: usize },
}

crate::problem_codes! {
    UpdateError {
        Self::NoAnswers => (UNPROCESSABLE_ENTITY, "templates.update_no_answers"),
        Self::BadAnswersFile { .. } => (UNPROCESSABLE_ENTITY, "templates.update_bad_answers_file"),
        Self::WrongTemplate { .. } => (UNPROCESSABLE_ENTITY, "templates.update_wrong_template"),
        Self::InstantiationNotFound { .. } => (NOT_FOUND, "templates.instantiation_not_found"),
        Self::LabelTooLong { .. } => (UNPROCESSABLE_ENTITY, "templates.project_label_too_long"),
    }
}

/// One update request, independent of the transport.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// The project as uploaded (checked against the upload limits by the caller).
    pub files: Vec<SourceFile>,
    pub instantiation_id: Option<String>,
    pub to: Option<String>,
    pub answers: Map<String, Value>,
    pub dry_run: bool,
    pub archive: Option<ArchiveKind>,
    pub project_label: Option<String>,
    pub server_url: Option<String>,
}

/// Checks a project label given by a caller.
pub fn check_label(label: Option<String>) -> ApiResult<Option<String>> {
    match label
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
    {
        Some(l) if l.chars().count() > 500 => Err(UpdateError::LabelTooLong {
            len: l.chars().count(),
        }
        .into()),
        other => Ok(other),
    }
}

/// Where the project came from.
struct Origin {
    commit: String,
    answers: Map<String, Value>,
    /// The ledger entry named (by the request or the answers file), when it is in the ledger.
    entry: Option<InstantiationRow>,
    /// Where the answers file was found in the upload.
    answers_path: Option<String>,
}

impl TemplatesService {
    /// Updates an uploaded project to a newer version of template `id` (see the module docs).
    pub async fn update_project(
        &self,
        actor: &Principal,
        id: &str,
        request: UpdateRequest,
    ) -> ApiResult<UpdateResult> {
        let tenant = actor.tenant_id.clone();
        let row = self.row(&tenant, id).await?;
        if row.status().hidden_from(actor.role) {
            return Err(TemplatesError::not_found().into());
        }
        let project_label = check_label(request.project_label.clone())?;
        let mut origin = self.origin(&tenant, &row, &request).await?;
        // The answers file is the caller's text: its commit must be one of this template's.
        origin.commit = self.resolve_commit(&tenant, &row, &origin.commit).await?;
        let to_commit = match &request.to {
            Some(v) => self.resolve_commit(&tenant, &row, v).await?,
            None => row.current_commit.clone(),
        };
        // The same clock and seed for both renders, so `{% now %}` and random values do not look
        // like template changes; the clock of the original render when the ledger knows it.
        let now: DateTime<Utc> = origin
            .entry
            .as_ref()
            .map(|e| e.created_at.and_utc())
            .unwrap_or_else(Utc::now);
        let seed = Some(0);
        let mut answers = origin.answers.clone();
        for (k, v) in &request.answers {
            answers.insert(k.clone(), v.clone());
        }
        // The two renders are independent: run them side by side on the blocking pool.
        let (base, theirs) = tokio::try_join!(
            self.render_version(
                &tenant,
                &row,
                &origin.commit,
                origin.answers.clone(),
                now,
                seed,
                None,
                true,
            ),
            self.render_version(&tenant, &row, &to_commit, answers, now, seed, None, true),
        )?;
        let answers_path = theirs
            .answers_path
            .as_deref()
            .map(|p| relative(&theirs, p))
            .or(origin.answers_path.clone());
        let skip: Vec<String> = [
            base.answers_path.as_deref().map(|p| relative(&base, p)),
            theirs.answers_path.as_deref().map(|p| relative(&theirs, p)),
            origin.answers_path.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let base_tree = project_tree(&base, &skip);
        let theirs_tree = project_tree(&theirs, &skip);
        let ours_full: Tree = request
            .files
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    TreeFile::new(f.content.clone(), f.executable),
                )
            })
            .collect();
        let ours: Tree = ours_full
            .iter()
            .filter(|(p, _)| !skip.contains(p))
            .map(|(p, f)| (p.clone(), f.clone()))
            .collect();
        let (base_tree, theirs_tree, ours, to_c) =
            (base_tree, theirs_tree, ours, to_commit.clone());
        let mut outcome = crate::platform::blocking::run_blocking("merge", move || {
            merge::merge_trees(&base_tree, &theirs_tree, &ours)
        })
        .await?;
        let up_to_date = outcome.changes.is_empty() && origin.commit == to_c;
        let ledger_id = (!request.dry_run).then(|| uuid::Uuid::new_v4().to_string());
        let project_id = origin
            .entry
            .as_ref()
            .map(|e| e.project_id.clone().unwrap_or_else(|| e.id.clone()));
        // The rewritten answers file (the project's other files keep theirs).
        let mut merged = outcome.merged.clone();
        for path in &skip {
            if let Some(f) = ours_full.get(path) {
                merged.insert(path.clone(), f.clone());
            }
        }
        if let Some(path) = &answers_path {
            if origin.answers_path.as_ref() != Some(path)
                && let Some(old) = &origin.answers_path
            {
                merged.remove(old);
            }
            let file = AnswersFile {
                template: AnswersTemplate {
                    id: row.id.clone(),
                    name: row.name.clone(),
                    commit: to_commit.clone(),
                    version: theirs.version.clone(),
                    url: request.server_url.clone(),
                },
                instantiation_id: ledger_id
                    .clone()
                    .or_else(|| origin.entry.as_ref().map(|e| e.id.clone())),
                answers: writable_answers(&theirs.parameters, &theirs.secret),
            };
            merged.insert(path.clone(), TreeFile::new(file.to_yaml(), false));
        }
        outcome.changes = merge::plan(&ours_full, &merged, &outcome.renames, &outcome.conflicts);
        let (patch, archive_base64) = if request.dry_run {
            (None, None)
        } else {
            let (o, m, r) = (ours_full.clone(), merged.clone(), outcome.renames.clone());
            let archive_kind = request.archive;
            crate::platform::blocking::run_blocking("update-patch", move || -> ApiResult<_> {
                let patch = merge::unified_patch(&o, &m, &r);
                let archive = match archive_kind {
                    None => None,
                    Some(kind) => {
                        let entries: Vec<OutEntry<'_>> = m
                            .iter()
                            .map(|(p, f)| OutEntry {
                                path: p,
                                content: &f.content,
                                executable: f.executable,
                            })
                            .collect();
                        let bytes = archive::write(kind, &entries, &[], Utc::now())
                            .map_err(ApiError::internal)?;
                        Some(base64::engine::general_purpose::STANDARD.encode(bytes))
                    }
                };
                Ok((Some(patch), archive))
            })
            .await??
        };
        if let Some(ledger_id) = &ledger_id {
            let files: Vec<(String, Vec<u8>, bool)> = merged
                .iter()
                .map(|(p, f)| (p.clone(), f.content.clone(), f.executable))
                .collect();
            let entry = InstantiationRow {
                id: ledger_id.clone(),
                tenant_id: tenant.0.clone(),
                template_id: row.id.clone(),
                template_name: row.name.clone(),
                category: row.category.clone(),
                commit_id: to_commit.clone(),
                version: theirs.version.clone(),
                user_id: actor.user_id.clone(),
                actor: actor.display_name(),
                parameters: Value::Object(theirs.parameters.clone()).to_string(),
                checksum: super::output_checksum(&files),
                file_count: files.len() as i64,
                total_bytes: files.iter().map(|f| f.1.len() as i64).sum(),
                output_format: "patch".to_string(),
                source: "update".to_string(),
                created_at: now_naive(),
                project_id: project_id.clone(),
                project_label: project_label
                    .clone()
                    .or_else(|| origin.entry.as_ref().and_then(|e| e.project_label.clone())),
                from_commit: Some(origin.commit.clone()),
                conflicts: Some(outcome.conflicts.len() as i64),
            };
            self.record_ledger(&tenant, entry).await?;
            metrics::counter!("maestro_template_updates_total", "category" => row.category.clone(), "outcome" => if outcome.conflicts.is_empty() { "clean" } else { "conflicts" }).increment(1);
        }
        Ok(UpdateResult {
            template_id: row.id.clone(),
            from_version: base.version.clone(),
            from_commit: origin.commit,
            to_commit,
            to_version: theirs.version.clone(),
            dry_run: request.dry_run,
            up_to_date,
            instantiation_id: ledger_id,
            project_id,
            answers: theirs.parameters.clone(),
            answers_file: answers_path,
            changes: outcome.changes,
            conflicts: outcome.conflicts,
            patch,
            archive_base64,
        })
    }

    /// The version and answers the project came from: the ledger entry the request names, else
    /// the answers file in the upload (with the ledger's answers for what the file leaves out,
    /// such as secrets).
    async fn origin(
        &self,
        tenant: &TenantId,
        row: &TemplateRow,
        request: &UpdateRequest,
    ) -> ApiResult<Origin> {
        let found = find_answers_file(&request.files, &row.id)?;
        let entry_id = request
            .instantiation_id
            .clone()
            .or_else(|| found.as_ref().and_then(|(_, f)| f.instantiation_id.clone()));
        let entry = match &entry_id {
            Some(entry_id) => {
                let (t, i) = (tenant.clone(), entry_id.clone());
                let entry = self
                    .inner
                    .db
                    .run(move |conn| -> ApiResult<_> {
                        Ok(store::find_instantiation(conn, &t, &i)?)
                    })
                    .await?
                    .filter(|e| e.template_id == row.id);
                if entry.is_none() && request.instantiation_id.is_some() {
                    return Err(UpdateError::InstantiationNotFound {
                        id: entry_id.clone(),
                    }
                    .into());
                }
                entry
            }
            None => None,
        };
        let ledger_answers = entry
            .as_ref()
            .and_then(|e| serde_json::from_str::<Value>(&e.parameters).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        let answers_path = found.as_ref().map(|(p, _)| p.clone());
        match (request.instantiation_id.is_some(), entry, found) {
            (true, Some(entry), _) => Ok(Origin {
                commit: entry.commit_id.clone(),
                answers: ledger_answers,
                entry: Some(entry),
                answers_path,
            }),
            (_, entry, Some((_, file))) => {
                let mut answers = ledger_answers;
                for (k, v) in file.answers {
                    answers.insert(k, v);
                }
                Ok(Origin {
                    commit: file.template.commit,
                    answers,
                    entry,
                    answers_path,
                })
            }
            (_, Some(entry), None) => Ok(Origin {
                commit: entry.commit_id.clone(),
                answers: ledger_answers,
                entry: Some(entry),
                answers_path,
            }),
            (_, None, None) => Err(UpdateError::NoAnswers.into()),
        }
    }

    /// The ledger of template `id` with `?behind=true`: the latest entry of each generated
    /// project whose commit is not the current one, most versions behind first.
    pub async fn behind(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<InstantiationView>> {
        let row = self.row(tenant, id).await?;
        let drift = self.drift_of(tenant, &row).await?;
        Ok(Page::of_all(drift.projects_behind, page))
    }

    /// Every template with generated projects: how many, how many behind, and those (drafts
    /// left out for a caller acting with `role` who may not see them).
    pub async fn drift(
        &self,
        tenant: &TenantId,
        role: Role,
        page: &PageQuery,
    ) -> ApiResult<Page<TemplateDrift>> {
        let t = tenant.clone();
        let template_ids: Vec<String> = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                let mut ids: Vec<String> = store::all_instantiations(conn, &t, None)?
                    .into_iter()
                    .map(|r| r.template_id)
                    .collect();
                ids.sort();
                ids.dedup();
                Ok(ids)
            })
            .await?;
        let mut out = Vec::new();
        for template_id in template_ids {
            // Deleted templates have no current version to be behind of.
            let Ok(row) = self.row(tenant, &template_id).await else {
                continue;
            };
            if row.status().hidden_from(role) {
                continue;
            }
            out.push(self.drift_of(tenant, &row).await?);
        }
        out.sort_by(|a, b| {
            b.behind
                .cmp(&a.behind)
                .then_with(|| a.template_name.cmp(&b.template_name))
        });
        Ok(Page::of_all(out, page))
    }

    async fn drift_of(&self, tenant: &TenantId, row: &TemplateRow) -> ApiResult<TemplateDrift> {
        let (t, template_id) = (tenant.clone(), row.id.clone());
        let entries = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::all_instantiations(conn, &t, Some(&template_id))?)
            })
            .await?;
        let heads = project_heads(entries);
        let projects = heads.len() as i64;
        let behind: Vec<InstantiationRow> = heads
            .into_iter()
            .filter(|e| e.commit_id != row.current_commit)
            .collect();
        let (template_id, inner, tenant_id) =
            (row.id.clone(), self.inner.clone(), tenant.0.clone());
        let history = self
            .with_repo(tenant, move |repo| {
                let changes = inner.git.changes(&tenant_id, repo, &template_id)?;
                let mut log = Vec::new();
                for change in changes.iter() {
                    let record = git::describe(repo, *change)?;
                    let version =
                        git::template_file(repo, record.commit, &template_id, MANIFEST_FILE)?
                            .and_then(|f| crate::render::Manifest::parse(&f.content).ok())
                            .map(|m| m.version);
                    log.push(ChangelogEntry {
                        commit: record.commit.to_string(),
                        version,
                        message: record.summary,
                        author: record.author_name,
                        created_at: record.time,
                    });
                }
                Ok(log)
            })
            .await?;
        let mut projects_behind: Vec<InstantiationView> = behind
            .into_iter()
            .map(|entry| {
                let newer = history.iter().position(|c| c.commit == entry.commit_id);
                let mut view = InstantiationView::from(entry);
                // A commit no longer in the history (rewritten): behind by all of it.
                let newer = newer.unwrap_or(history.len());
                view.versions_behind = Some(newer as i64);
                view.changelog = Some(history[..newer].to_vec());
                view
            })
            .collect();
        projects_behind.sort_by(|a, b| {
            b.versions_behind
                .cmp(&a.versions_behind)
                .then_with(|| a.created_at.cmp(&b.created_at))
        });
        Ok(TemplateDrift {
            template_id: row.id.clone(),
            template_name: row.name.clone(),
            current_commit: row.current_commit.clone(),
            current_version: row.version.clone(),
            projects,
            behind: projects_behind.len() as i64,
            projects_behind,
        })
    }

    /// `maestro_template_projects_behind{tenant, template}`: generated projects whose latest
    /// ledger entry is not their template's current commit (for `/metrics`).
    pub async fn collect_drift_metrics(&self) -> ApiResult<()> {
        let (entries, templates) = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok((
                    store::every_instantiation(conn)?,
                    store::every_current_commit(conn)?,
                ))
            })
            .await?;
        let current: HashMap<(String, String), (String, String)> = templates
            .into_iter()
            .map(|(tenant, id, name, commit)| ((tenant, id), (name, commit)))
            .collect();
        let counts = count_behind(entries, &current);
        for ((tenant, template), behind) in counts {
            metrics::gauge!("maestro_template_projects_behind", "tenant" => tenant, "template" => template)
                .set(behind as f64);
        }
        Ok(())
    }
}

/// The latest entry of each generated project (entries oldest first).
pub(super) fn project_heads(entries: Vec<InstantiationRow>) -> Vec<InstantiationRow> {
    let mut heads: BTreeMap<String, InstantiationRow> = BTreeMap::new();
    for entry in entries {
        let project = entry.project_id.clone().unwrap_or_else(|| entry.id.clone());
        heads.insert(project, entry);
    }
    heads.into_values().collect()
}

/// Counts per (tenant, template name) of projects behind, from the ledger heads.
pub(super) fn count_behind(
    entries: Vec<InstantiationRow>,
    current: &HashMap<(String, String), (String, String)>,
) -> BTreeMap<(String, String), i64> {
    let mut out: BTreeMap<(String, String), i64> = BTreeMap::new();
    for head in project_heads(entries) {
        let key = (head.tenant_id.clone(), head.template_id.clone());
        let Some((name, commit)) = current.get(&key) else {
            continue;
        };
        let n = out
            .entry((head.tenant_id.clone(), name.clone()))
            .or_insert(0);
        if head.commit_id != *commit {
            *n += 1;
        }
    }
    out
}

/// A rendered path relative to the project folder (cookiecutter renders into `root_dir/`).
fn relative(rendered: &RenderedVersion, path: &str) -> String {
    match &rendered.output.root_dir {
        Some(root) => path
            .strip_prefix(&format!("{root}/"))
            .unwrap_or(path)
            .to_string(),
        None => path.to_string(),
    }
}

/// A render as the project folder holds it, without the answers file.
fn project_tree(rendered: &RenderedVersion, skip: &[String]) -> Tree {
    rendered
        .output
        .files
        .iter()
        .filter(|f| !skip.contains(&f.path))
        .map(|f| {
            (
                f.path.clone(),
                TreeFile::new(f.content.clone(), f.executable),
            )
        })
        .collect()
}

/// The project's answers file: `.maestro-answers.yml` at the top, else any other top-level
/// YAML file that reads as an answers file of this template (a renamed one).
fn find_answers_file(
    files: &[SourceFile],
    template_id: &str,
) -> ApiResult<Option<(String, AnswersFile)>> {
    if let Some(f) = files.iter().find(|f| f.path == DEFAULT_ANSWERS_FILE) {
        let parsed = AnswersFile::parse(&f.content).map_err(|reason| {
            ApiError::from(UpdateError::BadAnswersFile {
                path: f.path.clone(),
                reason,
            })
        })?;
        if parsed.template.id != template_id {
            return Err(UpdateError::WrongTemplate {
                found: parsed.template.id,
            }
            .into());
        }
        return Ok(Some((f.path.clone(), parsed)));
    }
    let renamed = files
        .iter()
        .filter(|f| f.path.ends_with(".yml") || f.path.ends_with(".yaml"))
        .filter(|f| f.content.len() < 256 * 1024)
        .filter_map(|f| {
            AnswersFile::parse(&f.content)
                .ok()
                .map(|a| (f.path.clone(), a))
        })
        .find(|(_, a)| a.template.id == template_id);
    Ok(renamed)
}

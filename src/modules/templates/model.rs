//! Request and response types of the templates API, and the conversions from rows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::store::{InstantiationRow, SummaryRow, TemplateRow};
use crate::platform::auth::Role;

/// An admin's decision to publish despite the publish gate.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ForceBody {
    /// Why the gate is overridden (recorded in the commit message).
    pub reason: String,
}

impl From<ForceBody> for super::gate::ForcedPublish {
    fn from(body: ForceBody) -> Self {
        super::gate::ForcedPublish {
            reason: body.reason,
        }
    }
}

/// Create (`POST /api/v1/templates`) or replace (`PUT /api/v1/templates/{id}`) a template.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// The manifest fields (name, version, description, category, author, tags, dependencies,
    /// files, parameters, copy_without_render), stored as `manifest.yaml`. Omit it when `files`
    /// holds `manifest.yaml`.
    #[schema(value_type = Object)]
    pub manifest: Option<Value>,
    /// Relative path → content: a UTF-8 string, `{"base64": "…"}` for binary content, or
    /// `{"content": "…", "executable": true}`. On `PUT`, omitting `files` keeps the current files.
    #[schema(value_type = Object)]
    pub files: Option<Map<String, Value>>,
    /// Admins only: publish even if the publish gate refuses.
    pub force: Option<ForceBody>,
}

/// `POST /api/v1/templates/{id}/restore`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// The commit whose content becomes the new version (full id or a unique prefix of at
    /// least 7 characters from the template's history).
    pub commit: String,
    /// Admins only: restore even if the publish gate refuses.
    pub force: Option<ForceBody>,
}

/// Output of an instantiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub enum OutputFormat {
    #[serde(rename = "zip")]
    Zip,
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "json")]
    Json,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Zip => "zip",
            OutputFormat::TarGz => "tar.gz",
            OutputFormat::Json => "json",
        }
    }
}

/// `POST /api/v1/templates/{id}/instantiate`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstantiateBody {
    /// Parameter values by name; missing ones take their defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// Render this commit of the template instead of the current one.
    pub version: Option<String>,
    /// `zip` (default), `tar.gz`, or `json` (files inline, base64).
    pub format: Option<OutputFormat>,
    /// Render and return the files as JSON without recording an instantiation (like Backstage's
    /// dry run).
    #[serde(default)]
    pub dry_run: bool,
    /// Reproducible output: a fixed clock and random seed (`now` and `seed` default to
    /// 2000-01-01T00:00:00Z and 0).
    #[serde(default)]
    pub deterministic: bool,
    /// The clock `{% now %}` sees (implies a reproducible render).
    pub now: Option<DateTime<Utc>>,
    /// Seed for `uuid4()`, `random_ascii_string()` and `random`.
    pub seed: Option<u64>,
    /// Write the answers file `.maestro-answers.yml` (template, commit, answers) into the
    /// output. Default: native templates write it unless their manifest opts out;
    /// cookiecutter-format templates only when this is `true`.
    pub answers_file: Option<bool>,
    /// A label or repository URL for the generated project, shown in the drift report.
    pub project: Option<String>,
}

/// `POST /api/v1/templates/search`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// Free text, web-search style: words that must all occur in the name, tags, description or
    /// author (3+ letters also match as prefixes), `"a phrase"`, `a or b`, `-excluded`.
    pub query: Option<String>,
    pub category: Option<String>,
    /// Tags the template must all carry.
    #[serde(default)]
    pub tags: Vec<String>,
    pub author: Option<String>,
    pub min_quality: Option<f64>,
    /// `relevance` (default with a query), `name`, `-name`, `updated`, `-updated` (default
    /// without a query), `created`, `-created`, `quality`, `-quality`.
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// `GET /api/v1/templates` filters.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub category: Option<String>,
    /// Comma-separated tags the template must all carry.
    pub tags: Option<String>,
    /// Free text, as `query` in search: words, `"a phrase"`, `a or b`, `-excluded`.
    pub text: Option<String>,
    pub min_quality: Option<f64>,
    /// As in search: `relevance`, `name`, `-name`, `updated`, `-updated`, `created`, `-created`,
    /// `quality`, `-quality`.
    pub sort: Option<String>,
    /// Items per page (1-100, default 20).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
}

/// `GET /api/v1/templates/{id}` options.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailQuery {
    /// `content` adds each file's content.
    pub include: Option<String>,
}

/// `GET /api/v1/templates/{id}/diff`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older commit.
    pub from: String,
    /// The newer commit (default: the current one).
    pub to: Option<String>,
}

/// `GET /api/v1/templates/{id}/files/{path}` options.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// Read the file at this commit instead of the current one.
    pub version: Option<String>,
}

/// `PUT /api/v1/templates/{id}` query switches (alternative to `force` in the body).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Admins only: publish even if the publish gate refuses (give `reason`).
    pub force: Option<bool>,
    pub reason: Option<String>,
}

/// A template in lists and search results.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TemplateSummary {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub category: String,
    pub author: String,
    pub tags: Vec<String>,
    /// `native` (manifest.yaml) or `cookiecutter`.
    pub format: String,
    /// 0-100 from the quality module; null until scored.
    pub quality_score: Option<f64>,
    /// The commit of the current version (also the `ETag`).
    pub current_commit: String,
    pub file_count: i64,
    pub size_bytes: i64,
    /// The template ships hooks, which Maestro never runs.
    pub has_hooks: bool,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Search relevance (higher is better), only in text searches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
    #[serde(default)]
    pub status: TemplateStatus,
    /// For a draft: what the publish gate said (score, detail, recommendations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub draft_gate: Option<Value>,
}

/// Whether viewers see a template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateStatus {
    /// Listed, searchable and instantiable by every role.
    #[default]
    Published,
    /// Imported but refused by the publish gate: editors see it; viewers neither see nor
    /// instantiate it (a 404) until it is published (`POST /api/v1/templates/{id}/publish`).
    Draft,
}

impl TemplateStatus {
    /// The stored spelling (the `status` column).
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Published => "published",
            TemplateStatus::Draft => "draft",
        }
    }

    /// The `status` column read back. Only Maestro writes it; anything else is taken as a draft,
    /// so an unexpected value hides a template from viewers rather than showing it.
    pub fn from_stored(raw: &str) -> TemplateStatus {
        match raw {
            "published" => TemplateStatus::Published,
            _ => TemplateStatus::Draft,
        }
    }

    /// Drafts are hidden from viewers — a 404 on every way in: HTTP routes, console pages, the
    /// stream edge, instantiation. `role` is the role the caller acts with.
    pub fn hidden_from(self, role: Role) -> bool {
        self == TemplateStatus::Draft && Self::only_published_for(role)
    }

    /// Lists, counts and searches for a caller acting with `role` leave drafts out.
    pub fn only_published_for(role: Role) -> bool {
        role == Role::Viewer
    }
}

pub fn parse_tags(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

impl From<SummaryRow> for TemplateSummary {
    fn from(r: SummaryRow) -> Self {
        TemplateSummary {
            tags: parse_tags(&r.tags),
            id: r.id,
            name: r.name,
            version: r.version,
            description: r.description,
            category: r.category,
            author: r.author,
            format: r.format,
            quality_score: r.quality_score,
            current_commit: r.current_commit,
            file_count: r.file_count,
            size_bytes: r.size_bytes,
            has_hooks: r.has_hooks,
            created_by: r.created_by,
            updated_by: r.updated_by,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            relevance: None,
            status: TemplateStatus::from_stored(&r.status),
            draft_gate: None,
        }
    }
}

impl From<&TemplateRow> for TemplateSummary {
    fn from(r: &TemplateRow) -> Self {
        TemplateSummary {
            tags: parse_tags(&r.tags),
            id: r.id.clone(),
            name: r.name.clone(),
            version: r.version.clone(),
            description: r.description.clone(),
            category: r.category.clone(),
            author: r.author.clone(),
            format: r.format.clone(),
            quality_score: r.quality_score,
            current_commit: r.current_commit.clone(),
            file_count: r.file_count,
            size_bytes: r.size_bytes,
            has_hooks: r.has_hooks,
            created_by: r.created_by.clone(),
            updated_by: r.updated_by.clone(),
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            relevance: None,
            status: r.status(),
            draft_gate: r
                .draft_gate
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok()),
        }
    }
}

/// One file of a template.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub executable: bool,
    /// Binary files carry `content_base64` instead of `content`.
    pub binary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
}

/// A template with its manifest, parameter schema and files.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TemplateDetail {
    #[serde(flatten)]
    pub template: TemplateSummary,
    #[schema(value_type = Object)]
    pub manifest: Value,
    /// The parameter schema (name, type, default, choices, pattern, required, help); the same
    /// shape for native and cookiecutter templates.
    #[schema(value_type = Vec<Object>)]
    pub parameters: Value,
    pub files: Vec<FileEntry>,
    /// What the publish gate said (write responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub gate: Option<Value>,
    /// False when a write changed nothing (no commit was made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// One commit in a template's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct VersionView {
    pub commit: String,
    pub parent: Option<String>,
    /// `created`, `updated` or `deleted`.
    pub change: String,
    /// The template's manifest version at this commit.
    pub version: Option<String>,
    /// The commit message's first line.
    pub message: String,
    pub author: String,
    pub author_email: String,
    pub created_at: DateTime<Utc>,
}

/// A template's content at one commit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct VersionContent {
    pub template_id: String,
    pub commit: String,
    #[schema(value_type = Object)]
    pub manifest: Value,
    pub files: Vec<FileEntry>,
}

/// One file in a diff.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FileDiff {
    pub path: String,
    /// `added`, `modified` or `deleted`.
    pub change: String,
    pub binary: bool,
    /// Unified diff of this file (empty for binary files).
    pub diff: String,
}

/// `GET /api/v1/templates/{id}/diff`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DiffView {
    pub template_id: String,
    pub from: String,
    pub to: String,
    pub files_changed: usize,
    pub insertions: usize,
    pub deletions: usize,
    pub files: Vec<FileDiff>,
    /// The whole change as one unified diff (`git apply`-able for text files).
    pub patch: String,
}

/// One rendered file in a JSON instantiation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RenderedFile {
    pub path: String,
    pub content_base64: String,
    pub executable: bool,
}

/// `POST /api/v1/templates/{id}/instantiate` with `format: json` or `dry_run: true`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct InstantiationResult {
    pub template_id: String,
    pub commit: String,
    pub version: String,
    pub format: String,
    pub dry_run: bool,
    /// The ledger entry (absent for dry runs).
    pub instantiation_id: Option<String>,
    /// sha256 over the output (paths, modes, contents) in generation order.
    pub checksum: String,
    /// The folder the project is generated in (cookiecutter), included in every path.
    pub root_dir: Option<String>,
    pub files: Vec<RenderedFile>,
    /// Folders that end up empty (cookiecutter creates them).
    pub empty_dirs: Vec<String>,
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    pub warnings: Vec<String>,
}

/// A ledger entry: what was generated from which version, by whom.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct InstantiationView {
    pub id: String,
    pub template_id: String,
    pub template_name: String,
    pub commit: String,
    pub version: String,
    pub user_id: String,
    pub actor: String,
    #[schema(value_type = Object)]
    pub parameters: Value,
    pub checksum: String,
    pub file_count: i64,
    pub total_bytes: i64,
    /// `zip`, `tar.gz` or `json` (`patch` for updates).
    pub output_format: String,
    /// `http`, `stream`, `workflow`, or `update` (a project updated to this commit).
    pub source: String,
    pub created_at: DateTime<Utc>,
    /// The entry that generated the project (absent on that entry itself): all entries of one
    /// project share `project_id` or are it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The label or repository URL given at instantiation or update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Updates: the commit the project was updated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_commit: Option<String>,
    /// Updates: how many conflicts the update left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<i64>,
    /// With `?behind=true`: how many template versions (commits) are newer than `commit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions_behind: Option<i64>,
    /// With `?behind=true`: the newer versions, newest first (the changelog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<Vec<ChangelogEntry>>,
}

impl From<InstantiationRow> for InstantiationView {
    fn from(r: InstantiationRow) -> Self {
        InstantiationView {
            parameters: serde_json::from_str(&r.parameters).unwrap_or(Value::Null),
            id: r.id,
            template_id: r.template_id,
            template_name: r.template_name,
            commit: r.commit_id,
            version: r.version,
            user_id: r.user_id,
            actor: r.actor,
            checksum: r.checksum,
            file_count: r.file_count,
            total_bytes: r.total_bytes,
            output_format: r.output_format,
            source: r.source,
            created_at: r.created_at.and_utc(),
            project_id: r.project_id,
            project: r.project_label,
            from_commit: r.from_commit,
            conflicts: r.conflicts,
            versions_behind: None,
            changelog: None,
        }
    }
}

/// A category and how many templates it holds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CategoryCount {
    pub category: String,
    pub count: i64,
}

/// `PUT /api/v1/admin/git/remote`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteBody {
    /// `https://…`, `ssh://…` or `git@host:path`; `file:///…` or an absolute path only inside a
    /// directory the operator allow-listed (`templates.git_allowed_local_dirs`), never inside
    /// Maestro's data directory.
    pub url: String,
    /// Remote branch to sync with (default `main`).
    pub branch: Option<String>,
}

/// The tenant's sync remote (credentials redacted).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RemoteView {
    pub url: Option<String>,
    pub branch: Option<String>,
    /// The commit the registry reflects.
    pub head_commit: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_sync_status: Option<String>,
    pub last_sync_detail: Option<String>,
}

/// What an import from git changed in the registry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    /// Template folders that could not be imported, and why.
    pub skipped: Vec<String>,
}

/// `POST /api/v1/admin/git/reconcile`: how the branch and the registry rows were brought back
/// in line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct GitReconcileReport {
    /// `in_sync` (nothing to do), `imported` (the rows caught up with the branch) or `reset`
    /// (the branch could not be imported and was moved back to what the rows reflect; the
    /// commits are kept under `kept_ref`).
    pub status: String,
    /// The branch tip before the repair.
    pub branch_head: Option<String>,
    /// The commit the rows reflected before the repair.
    pub database_head: Option<String>,
    /// Branch tip and rows after the repair (they agree).
    pub head: Option<String>,
    pub imported: ImportReport,
    /// For `reset`: the ref holding the commits that were not imported.
    pub kept_ref: Option<String>,
    pub detail: String,
}

/// `POST /api/v1/admin/git/sync`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SyncReport {
    /// `up_to_date`, `pushed`, `fast_forwarded`, `diverged` or `rejected` (nothing changed on
    /// either side).
    pub status: String,
    pub remote: String,
    pub branch: String,
    pub local_head: Option<String>,
    pub remote_head: Option<String>,
    pub merge_base: Option<String>,
    pub imported: ImportReport,
    pub detail: String,
}

// ----- issue 15: project updates and drift -----

/// `GET /api/v1/templates/{id}/instantiations`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct InstantiationsQuery {
    /// Only generated projects behind the current version: the latest entry of each project
    /// (its generation or its last update), with `versions_behind` and `changelog`.
    pub behind: Option<bool>,
}

/// One newer template version in a drift report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ChangelogEntry {
    pub commit: String,
    /// The manifest version at this commit.
    pub version: Option<String>,
    /// The commit message's first line.
    pub message: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

/// One template in `GET /api/v1/templates/drift`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TemplateDrift {
    pub template_id: String,
    pub template_name: String,
    pub current_commit: String,
    pub current_version: String,
    /// Generated projects (instantiations and their updates count once).
    pub projects: i64,
    /// Projects whose latest entry is not the current commit.
    pub behind: i64,
    /// The behind projects' latest entries, most versions behind first.
    pub projects_behind: Vec<InstantiationView>,
}

/// `POST /api/v1/templates/{id}/update` as JSON (an archive upload gives the same options as
/// query parameters, see [`UpdateQuery`]).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// The project's files: relative path → a UTF-8 string, `{"base64": "…"}` or
    /// `{"content": "…", "executable": true}` (as for template uploads).
    #[schema(value_type = Object)]
    pub files: Map<String, Value>,
    /// The ledger entry the project was generated (or last updated) from; default: the one
    /// named in the project's answers file.
    pub instantiation_id: Option<String>,
    /// The target commit (full id or unique prefix); default: the current version.
    pub to: Option<String>,
    /// New or changed answers; the others keep their value, new parameters take their default.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub answers: Map<String, Value>,
    /// Return the plan (changes and conflicts) only: no patch, no archive, no ledger entry.
    #[serde(default)]
    pub dry_run: bool,
    /// Also return the merged tree as an archive (`zip` or `tar.gz`, base64 in `archive_base64`).
    pub archive: Option<OutputFormat>,
    /// A label or repository URL for the project (drift report).
    pub project: Option<String>,
}

/// Options of `POST /api/v1/templates/{id}/update` with a `.zip` / `.tar.gz` body.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UpdateQuery {
    pub instantiation_id: Option<String>,
    pub to: Option<String>,
    /// New or changed answers as a JSON object, e.g. `{"port": 8080}`.
    pub answers: Option<String>,
    pub dry_run: Option<bool>,
    /// `zip` or `tar.gz`.
    pub archive: Option<String>,
    pub project: Option<String>,
}

/// The outcome of an update: what changes, what conflicts, and the patch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdateResult {
    pub template_id: String,
    pub from_commit: String,
    pub from_version: String,
    pub to_commit: String,
    pub to_version: String,
    pub dry_run: bool,
    /// Nothing to change: the project already has everything of the target version.
    pub up_to_date: bool,
    /// The ledger entry recording this update (absent for dry runs).
    pub instantiation_id: Option<String>,
    /// The ledger entry that generated the project.
    pub project_id: Option<String>,
    /// The answers of the target version (secret ones included; the answers file leaves them out).
    #[schema(value_type = Object)]
    pub answers: Map<String, Value>,
    /// Where the rewritten answers file is (absent when the template writes none).
    pub answers_file: Option<String>,
    pub changes: Vec<super::merge::PlannedChange>,
    pub conflicts: Vec<super::merge::Conflict>,
    /// A git-style patch from the uploaded project to the merged tree (`git apply`,
    /// `git apply --3way`); files with conflicts carry conflict markers. Absent for dry runs.
    pub patch: Option<String>,
    /// The merged tree, when `archive` was asked for.
    pub archive_base64: Option<String>,
}

// ----- issue 14: imports from git, derived manifests -----

/// `POST /api/v1/templates` query: registry fields for a cookiecutter folder uploaded without
/// `manifest.yaml` (ignored when the upload has one).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The registry name (default: the archive's folder, else the README's title, slugged).
    pub name: Option<String>,
    /// The category (default: `templates.default_category`).
    pub category: Option<String>,
}

/// `POST /api/v1/templates/import`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The repository: `https://…`, `ssh://…`, `git@host:path`; `file:///…` only inside a
    /// directory the operator allow-listed (`templates.git_allowed_local_dirs`). Credentials for
    /// https come from the tenant's sync remote on the same host (never from this field, never
    /// logged).
    pub url: String,
    /// A tag, branch or commit id (default: the repository's default branch).
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The folder in the repository holding the template, or the templates (cookiecutter's
    /// `--directory`; default: the root).
    pub path: Option<String>,
    /// Category of templates without `manifest.yaml` (default: `templates.default_category`).
    pub category: Option<String>,
    /// Registry name when one template is imported (default: its folder or the repository's
    /// name, slugged).
    pub name: Option<String>,
}

/// Where an imported template comes from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TemplateSourceView {
    /// The repository URL (without credentials).
    pub url: String,
    /// The ref asked for (`None`: the default branch).
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The template's folder in the repository (`""`: the root).
    pub path: String,
    /// The commit last imported.
    pub commit: String,
    pub imported_at: DateTime<Utc>,
}

/// One template of an import or refresh.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImportedTemplate {
    pub id: String,
    pub name: String,
    pub version: String,
    /// `created`, `updated` or `unchanged`.
    pub status: String,
    /// The publish gate refused this version: it is stored as a draft (hidden from viewers;
    /// `gate.draft.recommendations` says what to fix; `POST …/{id}/publish` when it passes).
    pub draft: bool,
    /// The registry commit (`current_commit`) after the import.
    pub current_commit: String,
    pub source: TemplateSourceView,
    /// What the publish gate said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub gate: Option<Value>,
}

/// The answer of an import or a refresh.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImportResult {
    /// The repository URL (without credentials).
    pub url: String,
    /// The commit imported.
    pub commit: String,
    pub templates: Vec<ImportedTemplate>,
    /// Entries left out (symlinks, submodules, listed folders that do not exist).
    pub skipped: Vec<String>,
}

impl From<super::store::SourceRow> for TemplateSourceView {
    fn from(r: super::store::SourceRow) -> Self {
        TemplateSourceView {
            url: r.url,
            git_ref: r.git_ref,
            path: r.path,
            commit: r.commit_id,
            imported_at: r.imported_at.and_utc(),
        }
    }
}

/// `POST /api/v1/templates/{id}/publish`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Admins only: publish although the publish gate refuses; the reason is recorded.
    pub force: Option<ForceBody>,
}

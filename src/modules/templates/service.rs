//! `TemplatesService`: the templates module's rules and the API other modules may call. It owns
//! the write pipeline (validate → publish gate → one git commit → database → events), reads
//! through the cache, and runs instantiations through the rendering engine.
//!
//! Consistency between git and the database: writes of one tenant are serialized by an
//! in-process lock. The git commit moves the branch first (a compare-and-swap); the database
//! transaction then stores the rows together with the branch commit they reflect
//! (`template_repos.head_commit`). If the database write fails, the branch is moved back. If the
//! process dies between the two, the next start finds the branch ahead of `head_commit` and
//! imports the difference from git ([`TemplatesService::reconcile_all`]): git is the record of
//! content, the rows are its index. Nothing is written before every check (paths, limits,
//! manifest, name, `If-Match`, publish gate) has passed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::archive::{self, Limits};
use super::engine::{self, MANIFEST_FILE, RenderOptions, RenderOutput, SourceFile};
use super::events::{TemplateCreated, TemplateDeleted, TemplateRestored, TemplateUpdated};
use super::gate::{ForcedPublish, GateVerdict, PublishCandidate, PublishGate};
use super::git::{self, Author, GitStore, WriteOutcome};
use super::model::{
    CategoryCount, DiffView, FileEntry, ImportReport, InstantiationView, ListQuery, SearchBody,
    TemplateDetail, TemplateSummary, VersionContent, VersionView,
};
use super::spec::{self, Inspected};
use super::store::{self, Filter, InstantiationRow, SortKey, TemplateRow};
use crate::config::TemplatesSettings;
use crate::platform::Platform;
use crate::platform::auth::{AuthService, AuthSource, Principal, Role, TenantId};
use crate::platform::bus::Bus;
use crate::platform::cache::Cache;
use crate::platform::db::Db;
use crate::platform::edge::Edge;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::pagination::{Page, PageQuery};
use crate::platform::module::ServiceRegistry;

/// Search ranks at most this many matching templates per query.
const SEARCH_CANDIDATES: i64 = 5000;
/// Versions listed per template at most.
const MAX_HISTORY: usize = 10_000;

/// A template's content at one commit (what the quality module scores).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateContent {
    pub template_id: String,
    pub commit: String,
    /// The manifest as JSON.
    pub manifest: Value,
    pub files: Vec<SourceFile>,
}

/// What a create or update carries: a manifest (as JSON) and/or files.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    pub manifest: Option<Value>,
    /// `None` on update keeps the current files.
    pub files: Option<Vec<SourceFile>>,
}

/// Where an instantiation came from (recorded in the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstantiationSource {
    Http,
    Stream,
    Workflow,
}

impl InstantiationSource {
    pub fn as_str(self) -> &'static str {
        match self {
            InstantiationSource::Http => "http",
            InstantiationSource::Stream => "stream",
            InstantiationSource::Workflow => "workflow",
        }
    }
}

/// One instantiation request, independent of the transport.
#[derive(Debug, Clone, Default)]
pub struct InstantiateRequest {
    pub parameters: Map<String, Value>,
    /// A commit of the template (full id or unique prefix from its history).
    pub version: Option<String>,
    pub dry_run: bool,
    /// Fixed clock and seed (reproducible output).
    pub now: Option<DateTime<Utc>>,
    pub seed: Option<u64>,
    /// `zip`, `tar.gz` or `json`, recorded in the ledger.
    pub output_format: String,
}

/// A finished render.
#[derive(Debug, Clone)]
pub struct Instantiated {
    pub template: TemplateSummary,
    pub commit: String,
    pub format: &'static str,
    pub output: RenderOutput,
    /// `(path including root_dir, content, executable)` in generation order.
    pub files: Vec<(String, Vec<u8>, bool)>,
    pub empty_dirs: Vec<String>,
    pub checksum: String,
    pub parameters: Map<String, Value>,
    pub instantiation_id: Option<String>,
    pub warnings: Vec<String>,
    /// The clock used (also the archive entries' modification time).
    pub now: DateTime<Utc>,
}

#[derive(Clone)]
pub struct TemplatesService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub db: Db,
    pub cache: Cache,
    pub bus: Bus,
    pub edge: Option<Edge>,
    pub services: ServiceRegistry,
    pub auth: AuthService,
    pub settings: TemplatesSettings,
    pub git: GitStore,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

pub(super) fn not_found() -> ApiError {
    ApiError::not_found(
        "templates.not_found",
        "No template with this id in your tenant.",
    )
}

fn now_naive() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

fn blocking_failed(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(anyhow::anyhow!("git worker failed: {e}"))
}

fn git_failed(e: anyhow::Error) -> ApiError {
    ApiError::internal(e.context("git operation failed"))
}

/// `1 file`, `3 files`.
pub(super) fn files_word(n: usize) -> String {
    if n == 1 {
        "1 file".to_string()
    } else {
        format!("{n} files")
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

/// A principal for work Maestro does by itself (start-up reconciliation, seeding).
pub fn system_principal(tenant: &TenantId) -> Principal {
    Principal {
        user_id: "maestro".to_string(),
        tenant_id: tenant.clone(),
        email: Some("maestro@localhost".to_string()),
        role: Role::Admin,
        source: AuthSource::Local,
    }
}

fn author_of(actor: &Principal) -> Author {
    let email = actor
        .email
        .clone()
        .unwrap_or_else(|| format!("{}@users.maestro", actor.user_id));
    Author::new(&actor.display_name(), &email)
}

/// Parses `files` of a JSON body: path → string | {"base64": …} | {"content": …}, each object
/// optionally with `"executable": true`.
pub fn files_from_json(map: &Map<String, Value>) -> Result<Vec<SourceFile>, ApiError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut files = Vec::with_capacity(map.len());
    let mut errors = Vec::new();
    for (path, value) in map {
        let field = format!("files[{path:?}]");
        match value {
            Value::String(text) => files.push(SourceFile {
                path: path.clone(),
                content: text.as_bytes().to_vec(),
                executable: false,
            }),
            Value::Object(obj) => {
                let executable = match obj.get("executable") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        errors.push(FieldError::new(
                            &field,
                            "`executable` must be true or false",
                        ));
                        continue;
                    }
                };
                if let Some(unknown) = obj
                    .keys()
                    .find(|k| !matches!(k.as_str(), "base64" | "content" | "executable"))
                {
                    errors.push(FieldError::new(
                        &field,
                        format!(
                            "unknown key `{unknown}`; use `base64` or `content`, and `executable`"
                        ),
                    ));
                    continue;
                }
                let content = match (obj.get("base64"), obj.get("content")) {
                    (Some(Value::String(encoded)), None) => {
                        let compact: String = encoded
                            .chars()
                            .filter(|c| !c.is_ascii_whitespace())
                            .collect();
                        match b64.decode(compact.as_bytes()) {
                            Ok(bytes) => bytes,
                            Err(e) => {
                                errors
                                    .push(FieldError::new(&field, format!("invalid base64: {e}")));
                                continue;
                            }
                        }
                    }
                    (None, Some(Value::String(text))) => text.as_bytes().to_vec(),
                    _ => {
                        errors.push(FieldError::new(
                            &field,
                            "give exactly one of `base64` (string) or `content` (string)",
                        ));
                        continue;
                    }
                };
                files.push(SourceFile {
                    path: path.clone(),
                    content,
                    executable,
                });
            }
            _ => errors.push(FieldError::new(
                &field,
                "must be a UTF-8 string or an object like {\"base64\": \"…\"}",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation("Some files are malformed.", errors));
    }
    Ok(files)
}

/// `files` with `manifest.yaml` generated from `manifest` when given.
fn with_manifest(
    mut files: Vec<SourceFile>,
    manifest: Option<&Value>,
    replace: bool,
) -> Result<Vec<SourceFile>, ApiError> {
    if let Some(manifest) = manifest {
        let yaml = spec::manifest_yaml(manifest)?;
        if let Some(existing) = files.iter_mut().find(|f| f.path == MANIFEST_FILE) {
            if !replace {
                return Err(ApiError::validation(
                    "The manifest is given twice.",
                    vec![FieldError::new(
                        "manifest",
                        "send either `manifest` or the file manifest.yaml, not both",
                    )],
                ));
            }
            existing.content = yaml;
            existing.executable = false;
        } else {
            files.push(SourceFile {
                path: MANIFEST_FILE.to_string(),
                content: yaml,
                executable: false,
            });
        }
    }
    Ok(files)
}

fn file_entry(file: &SourceFile, include_content: bool) -> FileEntry {
    let binary =
        engine::is_binary(&file.path, &file.content) || std::str::from_utf8(&file.content).is_err();
    let (content, content_base64) = match (include_content, binary) {
        (false, _) => (None, None),
        (true, false) => (
            Some(String::from_utf8_lossy(&file.content).into_owned()),
            None,
        ),
        (true, true) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(&file.content)),
        ),
    };
    FileEntry {
        path: file.path.clone(),
        size: file.content.len() as u64,
        executable: file.executable,
        binary,
        content,
        content_base64,
    }
}

/// The registry row for a template version.
#[allow(clippy::too_many_arguments)]
fn build_row(
    tenant: &TenantId,
    id: &str,
    inspected: &Inspected,
    files: &[SourceFile],
    commit: &str,
    created_by: &str,
    updated_by: &str,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
) -> TemplateRow {
    let m = &inspected.manifest;
    let tags: Vec<String> = m.tags.iter().map(|t| t.to_lowercase()).collect();
    let search_text = format!(
        "{} {} {} {}",
        m.name,
        m.description,
        tags.join(" "),
        m.author
    )
    .to_lowercase();
    TemplateRow {
        id: id.to_string(),
        tenant_id: tenant.0.clone(),
        name: m.name.clone(),
        category: m.category.clone(),
        version: m.version.clone(),
        description: m.description.clone(),
        author: m.author.clone(),
        tags: serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into()),
        format: inspected.format().to_string(),
        manifest: inspected.manifest_json().to_string(),
        parameters: inspected.parameters_json().to_string(),
        search_text,
        file_count: files.len() as i64,
        size_bytes: files.iter().map(|f| f.content.len() as i64).sum(),
        has_hooks: inspected.has_hooks,
        quality_score: None,
        quality_commit: None,
        current_commit: commit.to_string(),
        created_by: created_by.to_string(),
        updated_by: updated_by.to_string(),
        created_at,
        updated_at,
    }
}

/// Parses `If-Match`-style values: `"<commit>"`, `W/"<commit>"` or `*`.
pub fn parse_etag(raw: &str) -> String {
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase()
}

/// Sort order from a `sort` parameter.
fn parse_sort(raw: Option<&str>, has_query: bool) -> Result<(Option<SortKey>, bool), ApiError> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty());
    let Some(raw) = raw else {
        return Ok(if has_query {
            (None, true)
        } else {
            (Some(SortKey::Updated), true)
        });
    };
    let (descending, key) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let key = match key {
        "relevance" => return Ok((None, true)),
        "name" => SortKey::Name,
        "updated" | "updated_at" => SortKey::Updated,
        "created" | "created_at" => SortKey::Created,
        "quality" | "quality_score" => SortKey::Quality,
        other => {
            return Err(ApiError::validation(
                "Unknown sort order.",
                vec![FieldError::new(
                    "sort",
                    format!(
                        "`{other}` is not one of relevance, name, updated, created, quality (prefix `-` for descending)"
                    ),
                )],
            ));
        }
    };
    Ok((Some(key), descending))
}

fn check_category(category: &Option<String>) -> Result<(), ApiError> {
    if let Some(c) = category
        && !engine::CATEGORIES.contains(&c.as_str())
    {
        return Err(ApiError::validation(
            "Unknown category.",
            vec![FieldError::new(
                "category",
                format!(
                    "`{c}` is not a category; use one of: {}",
                    engine::CATEGORIES.join(", ")
                ),
            )],
        ));
    }
    Ok(())
}

/// Lowercase words of a free-text query.
fn query_terms(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .take(16)
        .collect()
}

/// sha256 over the rendered output: for each file in generation order, its path, mode and
/// content (length-prefixed), so any change to a name, bit or byte changes the checksum.
pub fn output_checksum(files: &[(String, Vec<u8>, bool)]) -> String {
    let mut hasher = Sha256::new();
    for (path, content, executable) in files {
        hasher.update((path.len() as u64).to_be_bytes());
        hasher.update(path.as_bytes());
        hasher.update([u8::from(*executable)]);
        hasher.update((content.len() as u64).to_be_bytes());
        hasher.update(content);
    }
    hex::encode(hasher.finalize())
}

impl TemplatesService {
    pub fn new(platform: &Platform) -> TemplatesService {
        let settings = platform.settings.templates.clone();
        TemplatesService {
            inner: Arc::new(Inner {
                db: platform.db.clone(),
                cache: platform.cache.clone(),
                bus: platform.bus.clone(),
                edge: platform.edge.clone(),
                services: platform.services.clone(),
                auth: platform.auth.clone(),
                git: GitStore::new(platform.settings.data_path("git")),
                settings,
                locks: std::sync::Mutex::new(HashMap::new()),
                cache_hits: AtomicU64::new(0),
                cache_misses: AtomicU64::new(0),
            }),
        }
    }

    pub fn settings(&self) -> &TemplatesSettings {
        &self.inner.settings
    }

    pub fn limits(&self) -> Limits {
        Limits::from_settings(&self.inner.settings)
    }

    /// The tenant's git repository folder (for operators and tests).
    pub fn repo_path(&self, tenant: &TenantId) -> ApiResult<PathBuf> {
        self.inner
            .git
            .repo_path(tenant.as_str())
            .map_err(git_failed)
    }

    pub fn auth(&self) -> &AuthService {
        &self.inner.auth
    }

    pub fn edge(&self) -> Option<&Edge> {
        self.inner.edge.as_ref()
    }

    /// Serializes the writers of one tenant.
    pub(super) async fn lock(&self, tenant: &TenantId) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = {
            let mut locks = self
                .inner
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks
                .entry(tenant.0.clone())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        mutex.lock_owned().await
    }

    /// The tenant's write lock, after making sure the rows reflect the branch (see
    /// [`TemplatesService::catch_up`]).
    pub(super) async fn write_lock(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<tokio::sync::OwnedMutexGuard<()>> {
        let guard = self.lock(tenant).await;
        self.catch_up(tenant).await?;
        Ok(guard)
    }

    /// Runs blocking git work with the tenant's repository.
    pub(super) async fn with_repo<T, F>(&self, tenant: &TenantId, f: F) -> ApiResult<T>
    where
        F: FnOnce(&gix::Repository) -> anyhow::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        let tenant = tenant.0.clone();
        tokio::task::spawn_blocking(move || {
            let repo = inner.git.open(&tenant)?;
            f(&repo)
        })
        .await
        .map_err(blocking_failed)?
        .map_err(git_failed)
    }

    // ----- cache -----

    /// Cache keys of a tenant carry a generation token that every write replaces, so a reader
    /// racing a writer can never leave a stale entry under the new generation.
    async fn generation(&self, tenant: &TenantId) -> String {
        let key = format!("templates:{}:generation", tenant.as_str());
        if let Some(token) = self.inner.cache.get_json::<String>(&key).await {
            return token;
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.inner
            .cache
            .set_json(&key, &token, Some(std::time::Duration::from_secs(86_400)))
            .await;
        token
    }

    /// A new generation: every cached read of the tenant is stale from now on. Old entries are
    /// never read again and expire with their TTL (no keyspace scan per write).
    async fn invalidate(&self, tenant: &TenantId) {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.inner
            .cache
            .set_json(
                &format!("templates:{}:generation", tenant.as_str()),
                &token,
                Some(std::time::Duration::from_secs(86_400)),
            )
            .await;
    }

    async fn cached<T, F, Fut>(&self, tenant: &TenantId, key: &str, compute: F) -> ApiResult<T>
    where
        T: Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<T>>,
    {
        let generation = self.generation(tenant).await;
        let full = format!("templates:{}:v{generation}:{key}", tenant.as_str());
        if let Some(hit) = self.inner.cache.get_json::<T>(&full).await {
            self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("maestro_templates_cache_lookups_total", "result" => "hit")
                .increment(1);
            return Ok(hit);
        }
        self.inner.cache_misses.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("maestro_templates_cache_lookups_total", "result" => "miss").increment(1);
        let value = compute().await?;
        self.inner.cache.set_json(&full, &value, None).await;
        Ok(value)
    }

    /// Hit ratio of the templates' cached reads since start.
    pub fn cache_hit_ratio(&self) -> (u64, u64, f64) {
        let hits = self.inner.cache_hits.load(Ordering::Relaxed);
        let misses = self.inner.cache_misses.load(Ordering::Relaxed);
        let total = hits + misses;
        let ratio = if total == 0 {
            0.0
        } else {
            hits as f64 / total as f64
        };
        (hits, misses, ratio)
    }

    // ----- reads -----

    async fn row(&self, tenant: &TenantId, id: &str) -> ApiResult<TemplateRow> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.inner
            .db
            .run(move |conn| -> ApiResult<Option<TemplateRow>> {
                Ok(store::find(conn, &tenant, &id)?)
            })
            .await?
            .ok_or_else(not_found)
    }

    /// The template's summary.
    pub async fn get(&self, tenant: &TenantId, id: &str) -> ApiResult<TemplateSummary> {
        Ok(TemplateSummary::from(&self.row(tenant, id).await?))
    }

    /// The template with this name in the tenant.
    pub async fn find_by_name(&self, tenant: &TenantId, name: &str) -> ApiResult<TemplateSummary> {
        let (t, n) = (tenant.clone(), name.to_string());
        let row = self
            .inner
            .db
            .run(move |conn| -> ApiResult<Option<TemplateRow>> {
                Ok(store::find_by_name(conn, &t, &n)?)
            })
            .await?
            .ok_or_else(|| {
                ApiError::not_found(
                    "templates.not_found",
                    format!("No template named `{name}` in your tenant."),
                )
            })?;
        Ok(TemplateSummary::from(&row))
    }

    /// By id, or else by name (workflow steps accept either).
    pub async fn get_by_id_or_name(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> ApiResult<TemplateSummary> {
        match self.get(tenant, key).await {
            Ok(t) => Ok(t),
            Err(e) if e.status.as_u16() == 404 => self.find_by_name(tenant, key).await,
            Err(e) => Err(e),
        }
    }

    /// Metadata, parameter schema and file list (with contents when asked); served from the cache.
    pub async fn detail(
        &self,
        tenant: &TenantId,
        id: &str,
        include_content: bool,
    ) -> ApiResult<TemplateDetail> {
        let key = format!(
            "detail:{id}:{}",
            if include_content { "content" } else { "list" }
        );
        self.cached(tenant, &key, || {
            self.detail_uncached(tenant, id, include_content)
        })
        .await
    }

    async fn detail_uncached(
        &self,
        tenant: &TenantId,
        id: &str,
        include_content: bool,
    ) -> ApiResult<TemplateDetail> {
        let row = self.row(tenant, id).await?;
        self.detail_of(tenant, row, include_content).await
    }

    async fn detail_of(
        &self,
        tenant: &TenantId,
        row: TemplateRow,
        include_content: bool,
    ) -> ApiResult<TemplateDetail> {
        let commit = row.current_commit.clone();
        let template_id = row.id.clone();
        let files = self
            .with_repo(tenant, move |repo| {
                let commit = git::parse_commit(repo, &commit).ok_or_else(|| {
                    anyhow::anyhow!("commit {commit} of template {template_id} is missing")
                })?;
                Ok(git::template_files(repo, commit, &template_id)?
                    .unwrap_or_default()
                    .iter()
                    .map(|f| file_entry(f, include_content))
                    .collect::<Vec<_>>())
            })
            .await?;
        Ok(TemplateDetail {
            template: TemplateSummary::from(&row),
            manifest: serde_json::from_str(&row.manifest).unwrap_or(Value::Null),
            parameters: serde_json::from_str(&row.parameters).unwrap_or(Value::Array(Vec::new())),
            files,
            gate: None,
            changed: None,
        })
    }

    /// The template's content at `commit` (default: current) — what the quality module scores.
    pub async fn get_content(
        &self,
        tenant: &TenantId,
        template_id: &str,
        commit: Option<&str>,
    ) -> ApiResult<TemplateContent> {
        let row = self.row(tenant, template_id).await?;
        let wanted = match commit {
            Some(c) => self.resolve_commit(tenant, &row, c).await?,
            None => row.current_commit.clone(),
        };
        let files = self.files_at(tenant, &row.id, &wanted).await?;
        let manifest = match spec::inspect(&files) {
            Ok(inspected) => inspected.manifest_json(),
            Err(_) => serde_json::from_str(&row.manifest).unwrap_or(Value::Null),
        };
        Ok(TemplateContent {
            template_id: row.id,
            commit: wanted,
            manifest,
            files,
        })
    }

    /// The template's files at a commit; 422 when the template does not exist there.
    async fn files_at(
        &self,
        tenant: &TenantId,
        template_id: &str,
        commit: &str,
    ) -> ApiResult<Vec<SourceFile>> {
        let (id, c) = (template_id.to_string(), commit.to_string());
        self.with_repo(tenant, move |repo| {
            let oid =
                git::parse_commit(repo, &c).ok_or_else(|| anyhow::anyhow!("unknown commit {c}"))?;
            git::template_files(repo, oid, &id)
        })
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "templates.not_in_commit",
                format!("The template does not exist at commit {commit}."),
            )
        })
    }

    /// Resolves a commit given by a caller: a full id of this repository, or a unique prefix
    /// (7+ hex characters) of a commit in the template's history.
    pub(super) async fn resolve_commit(
        &self,
        tenant: &TenantId,
        row: &TemplateRow,
        raw: &str,
    ) -> ApiResult<String> {
        let raw = raw.trim().to_ascii_lowercase();
        let bad = || {
            ApiError::validation(
                "Bad commit id.",
                vec![FieldError::new(
                    "commit",
                    "give a commit id (40 hex characters) or a unique prefix of at least 7",
                )],
            )
        };
        if raw.len() < 7 || raw.len() > 40 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let id = row.id.clone();
        let found = self
            .with_repo(tenant, move |repo| {
                if raw.len() == 40 {
                    return Ok(git::parse_commit(repo, &raw)
                        .map(|c| vec![c.to_string()])
                        .unwrap_or_default());
                }
                let tip = git::tip(repo)?;
                Ok(git::history(repo, tip, &id, MAX_HISTORY)?
                    .into_iter()
                    .map(|v| v.commit.to_string())
                    .filter(|c| c.starts_with(&raw))
                    .collect::<Vec<_>>())
            })
            .await?;
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(ApiError::not_found(
                "templates.commit_not_found",
                "No such commit in this template's history.",
            )),
            _ => Err(ApiError::validation(
                "Ambiguous commit prefix.",
                vec![FieldError::new(
                    "commit",
                    "the prefix matches several commits; give more characters",
                )],
            )),
        }
    }

    /// A page of the tenant's templates (filters of `GET /api/v1/templates`); cached.
    pub async fn list(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
    ) -> ApiResult<Page<TemplateSummary>> {
        let body = SearchBody {
            query: query.text.clone(),
            category: query.category.clone(),
            tags: query
                .tags
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            author: None,
            min_quality: query.min_quality,
            sort: query.sort.clone(),
            limit: query.limit,
            offset: query.offset,
        };
        self.search(tenant, &body).await
    }

    /// Search by text, category, tags, author and quality; ranked in Rust; cached.
    pub async fn search(
        &self,
        tenant: &TenantId,
        body: &SearchBody,
    ) -> ApiResult<Page<TemplateSummary>> {
        let plan = SearchPlan::new(body)?;
        let key = plan.key.clone();
        self.cached(tenant, &key, || self.run_search(tenant, plan))
            .await
    }

    /// Like [`TemplatesService::search`], always from the database (benchmarks, diagnostics).
    pub async fn search_uncached(
        &self,
        tenant: &TenantId,
        body: &SearchBody,
    ) -> ApiResult<Page<TemplateSummary>> {
        self.run_search(tenant, SearchPlan::new(body)?).await
    }

    async fn run_search(
        &self,
        tenant: &TenantId,
        plan: SearchPlan,
    ) -> ApiResult<Page<TemplateSummary>> {
        let SearchPlan {
            filter,
            sort,
            descending,
            page,
            terms,
            ..
        } = plan;
        let t = tenant.clone();
        match sort {
            Some(sort) => {
                let (limit, offset) = (page.limit(), page.offset());
                let (rows, total) = self
                    .inner
                    .db
                    .run(move |conn| -> ApiResult<_> {
                        Ok(store::list(
                            conn, &t, &filter, sort, descending, limit, offset,
                        )?)
                    })
                    .await?;
                Ok(Page::new(
                    rows.into_iter().map(TemplateSummary::from).collect(),
                    total,
                    &page,
                ))
            }
            None => {
                let rows = self
                    .inner
                    .db
                    .run(move |conn| -> ApiResult<_> {
                        Ok(store::candidates(conn, &t, &filter, SEARCH_CANDIDATES)?)
                    })
                    .await?;
                let ranked = super::search::rank(rows, &terms);
                let total = ranked.len() as i64;
                let items = ranked
                    .into_iter()
                    .skip(page.offset() as usize)
                    .take(page.limit() as usize)
                    .collect();
                Ok(Page::new(items, total, &page))
            }
        }
    }

    /// Templates per category in the tenant.
    pub async fn categories(&self, tenant: &TenantId) -> ApiResult<Vec<CategoryCount>> {
        let t = tenant.clone();
        let counts: BTreeMap<String, i64> = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::count_by_category(conn, Some(&t))?) })
            .await?
            .into_iter()
            .collect();
        let mut out: Vec<CategoryCount> = engine::CATEGORIES
            .iter()
            .map(|c| CategoryCount {
                category: c.to_string(),
                count: counts.get(*c).copied().unwrap_or(0),
            })
            .collect();
        for (category, count) in counts {
            if !engine::CATEGORIES.contains(&category.as_str()) {
                out.push(CategoryCount { category, count });
            }
        }
        Ok(out)
    }

    // ----- history -----

    pub async fn versions(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<VersionView>> {
        let row = self.row(tenant, id).await?;
        let (limit, offset) = (page.limit() as usize, page.offset() as usize);
        let template_id = row.id.clone();
        let (views, total) = self
            .with_repo(tenant, move |repo| {
                let tip = git::tip(repo)?;
                let history = git::history(repo, tip, &template_id, MAX_HISTORY)?;
                let total = history.len();
                let mut views = Vec::new();
                for record in history.into_iter().skip(offset).take(limit) {
                    let version =
                        git::template_file(repo, record.commit, &template_id, MANIFEST_FILE)?
                            .and_then(|f| engine::Manifest::parse(&f.content).ok())
                            .map(|m| m.version);
                    views.push(VersionView {
                        commit: record.commit.to_string(),
                        parent: record.parent.map(|p| p.to_string()),
                        change: match record.change {
                            git::Change::Added => "created",
                            git::Change::Modified => "updated",
                            git::Change::Removed => "deleted",
                        }
                        .to_string(),
                        version,
                        message: record.summary,
                        author: record.author_name,
                        author_email: record.author_email,
                        created_at: record.time,
                    });
                }
                Ok((views, total))
            })
            .await?;
        Ok(Page::new(views, total as i64, page))
    }

    pub async fn version_content(
        &self,
        tenant: &TenantId,
        id: &str,
        commit: &str,
    ) -> ApiResult<VersionContent> {
        let row = self.row(tenant, id).await?;
        let commit = self.resolve_commit(tenant, &row, commit).await?;
        let files = self.files_at(tenant, &row.id, &commit).await?;
        let manifest = files
            .iter()
            .find(|f| f.path == MANIFEST_FILE)
            .and_then(|f| engine::Manifest::parse(&f.content).ok())
            .and_then(|m| serde_json::to_value(m).ok())
            .unwrap_or(Value::Null);
        Ok(VersionContent {
            template_id: row.id,
            commit,
            manifest,
            files: files.iter().map(|f| file_entry(f, true)).collect(),
        })
    }

    /// Unified diff of the template between two commits.
    pub async fn diff(
        &self,
        tenant: &TenantId,
        id: &str,
        from: &str,
        to: Option<&str>,
    ) -> ApiResult<DiffView> {
        let row = self.row(tenant, id).await?;
        let from = self.resolve_commit(tenant, &row, from).await?;
        let to = match to {
            Some(t) => self.resolve_commit(tenant, &row, t).await?,
            None => row.current_commit.clone(),
        };
        let (template_id, f, t) = (row.id.clone(), from.clone(), to.clone());
        let (old, new) = self
            .with_repo(tenant, move |repo| {
                let f =
                    git::parse_commit(repo, &f).ok_or_else(|| anyhow::anyhow!("unknown commit"))?;
                let t =
                    git::parse_commit(repo, &t).ok_or_else(|| anyhow::anyhow!("unknown commit"))?;
                Ok((
                    git::template_files(repo, f, &template_id)?.unwrap_or_default(),
                    git::template_files(repo, t, &template_id)?.unwrap_or_default(),
                ))
            })
            .await?;
        Ok(super::diff::diff_files(&row.id, &from, &to, &old, &new))
    }

    /// One file of the template (current version or `version`).
    pub async fn file(
        &self,
        tenant: &TenantId,
        id: &str,
        path: &str,
        version: Option<&str>,
    ) -> ApiResult<(SourceFile, String)> {
        let row = self.row(tenant, id).await?;
        let path = archive::check_path(path)?;
        let commit = match version {
            Some(v) => self.resolve_commit(tenant, &row, v).await?,
            None => row.current_commit.clone(),
        };
        let (template_id, c, p) = (row.id.clone(), commit.clone(), path.clone());
        let file = self
            .with_repo(tenant, move |repo| {
                let oid =
                    git::parse_commit(repo, &c).ok_or_else(|| anyhow::anyhow!("unknown commit"))?;
                git::template_file(repo, oid, &template_id, &p)
            })
            .await?
            .ok_or_else(|| {
                ApiError::not_found(
                    "templates.file_not_found",
                    format!("The template has no file {path}."),
                )
            })?;
        Ok((file, commit))
    }

    // ----- writes -----

    async fn gate(&self, candidate: PublishCandidate) -> ApiResult<Option<Value>> {
        let Some(gate) = self.inner.services.get::<Arc<dyn PublishGate>>() else {
            return Ok(None);
        };
        match gate.check(&candidate).await? {
            GateVerdict::Allow { note } => Ok(note),
            GateVerdict::Refuse(error) => Err(error),
        }
    }

    /// Everything a new version of an existing template must pass before it is written (update
    /// and restore): the limits, the format, a free name, and the publish gate. Returns the
    /// checked files, their reading and the gate's note.
    async fn check_new_version(
        &self,
        actor: &Principal,
        current: &store::TemplateRow,
        files: Vec<SourceFile>,
        force: &Option<ForcedPublish>,
    ) -> ApiResult<(Vec<SourceFile>, spec::Inspected, Option<Value>)> {
        let files = archive::check_files(files, &self.limits())?;
        let inspected = spec::inspect(&files)?;
        if inspected.manifest.name != current.name {
            self.name_taken(
                &actor.tenant_id,
                &inspected.manifest.name,
                Some(&current.id),
            )
            .await?;
        }
        let note = self
            .gate(PublishCandidate {
                tenant: actor.tenant_id.clone(),
                actor: actor.clone(),
                template_id: current.id.clone(),
                previous_commit: Some(current.current_commit.clone()),
                name: inspected.manifest.name.clone(),
                category: inspected.manifest.category.clone(),
                manifest: inspected.manifest_json(),
                files: files.clone(),
                force: force.clone(),
            })
            .await?;
        Ok((files, inspected, note))
    }

    async fn name_taken(
        &self,
        tenant: &TenantId,
        name: &str,
        except: Option<&str>,
    ) -> ApiResult<()> {
        let (t, n) = (tenant.clone(), name.to_string());
        let existing = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_by_name(conn, &t, &n)?) })
            .await?;
        match existing {
            Some(row) if Some(row.id.as_str()) != except => Err(ApiError::conflict(
                "templates.name_taken",
                format!(
                    "A template named `{name}` already exists in your tenant (id {}).",
                    row.id
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Commits the template's new content (or its removal), then runs `record` in a database
    /// transaction; when the database write fails, the branch is moved back.
    async fn commit_then_record<F>(
        &self,
        tenant: &TenantId,
        template_id: &str,
        files: Option<Vec<SourceFile>>,
        author: Author,
        message: impl FnOnce(&git::ChangeSummary) -> String + Send + 'static,
        record: F,
    ) -> ApiResult<WriteOutcome>
    where
        F: FnOnce(&mut crate::platform::db::DbConnection, &str) -> ApiResult<()> + Send + 'static,
    {
        let id = template_id.to_string();
        let at = Utc::now();
        let outcome = self
            .with_repo(tenant, move |repo| {
                git::write_template(repo, &id, files.as_deref(), &author, at, message)
            })
            .await?;
        let WriteOutcome::Committed {
            commit,
            previous_tip,
            ..
        } = &outcome
        else {
            return Ok(outcome);
        };
        let (commit, previous_tip) = (*commit, *previous_tip);
        let t = tenant.clone();
        let commit_hex = commit.to_string();
        let stored = self
            .inner
            .db
            .transaction(move |conn| -> ApiResult<()> {
                record(conn, &commit_hex)?;
                store::set_head(conn, &t, Some(&commit_hex), now_naive())?;
                Ok(())
            })
            .await;
        if let Err(error) = stored {
            let rollback = self
                .with_repo(tenant, move |repo| {
                    git::move_branch(
                        repo,
                        Some(commit),
                        previous_tip,
                        "maestro: undo commit whose database write failed",
                    )
                })
                .await;
            if let Err(rollback_error) = rollback {
                tracing::error!(tenant = %tenant, %commit, error = ?rollback_error, "could not undo a git commit after a failed database write; it will be imported at the next start");
            }
            return Err(error);
        }
        Ok(outcome)
    }

    fn forced_line(actor: &Principal, force: &Option<ForcedPublish>) -> String {
        match force {
            Some(f) => format!(
                "\nForced-By: {} (publish gate overridden: {})",
                actor.display_name(),
                f.reason.replace('\n', " ")
            ),
            None => String::new(),
        }
    }

    fn check_force(actor: &Principal, force: &Option<ForcedPublish>) -> ApiResult<()> {
        if let Some(f) = force {
            if actor.role != Role::Admin {
                return Err(ApiError::forbidden(
                    "Only admins may force a publication past the publish gate.",
                ));
            }
            if f.reason.trim().is_empty() {
                return Err(ApiError::validation(
                    "A forced publication needs a reason.",
                    vec![FieldError::new(
                        "force.reason",
                        "say why the publish gate is overridden",
                    )],
                ));
            }
        }
        Ok(())
    }

    /// Creates a template: one commit `Create <name> <version> (<n> files)`.
    pub async fn create(
        &self,
        actor: &Principal,
        input: TemplateInput,
    ) -> ApiResult<TemplateDetail> {
        let tenant = actor.tenant_id.clone();
        let files = with_manifest(
            input.files.unwrap_or_default(),
            input.manifest.as_ref(),
            false,
        )?;
        let files = archive::check_files(files, &self.limits())?;
        let inspected = spec::inspect(&files)?;
        let id = uuid::Uuid::new_v4().to_string();
        let _guard = self.write_lock(&tenant).await?;
        self.name_taken(&tenant, &inspected.manifest.name, None)
            .await?;
        let note = self
            .gate(PublishCandidate {
                tenant: tenant.clone(),
                actor: actor.clone(),
                template_id: id.clone(),
                previous_commit: None,
                name: inspected.manifest.name.clone(),
                category: inspected.manifest.category.clone(),
                manifest: inspected.manifest_json(),
                files: files.clone(),
                force: None,
            })
            .await?;
        let m = inspected.manifest.clone();
        let message_head = format!("Create {} {}", m.name, m.version);
        let trailer = format!("\n\nTemplate-Id: {id}");
        let now = now_naive();
        let who = actor.display_name();
        let (t, row_id, insp, fs) = (tenant.clone(), id.clone(), inspected.clone(), files.clone());
        let stored_row = Arc::new(std::sync::Mutex::new(None));
        let stored_row_c = stored_row.clone();
        let outcome = self
            .commit_then_record(
                &tenant,
                &id,
                Some(files),
                author_of(actor),
                move |c| format!("{message_head} ({}){trailer}", files_word(c.added.len())),
                move |conn, commit| {
                    let row = build_row(&t, &row_id, &insp, &fs, commit, &who, &who, now, now);
                    store::insert(conn, &t, &row).map_err(|e| match e {
                        diesel::result::Error::DatabaseError(
                            diesel::result::DatabaseErrorKind::UniqueViolation,
                            _,
                        ) => ApiError::conflict(
                            "templates.name_taken",
                            "A template with this name already exists in your tenant.",
                        ),
                        other => other.into(),
                    })?;
                    if let Ok(mut slot) = stored_row_c.lock() {
                        *slot = Some(row);
                    }
                    Ok(())
                },
            )
            .await?;
        drop(_guard);
        let row = stored_row
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("create produced no row")))?;
        let commit = match outcome {
            WriteOutcome::Committed { commit, .. } => commit.to_string(),
            WriteOutcome::Unchanged { .. } => row.current_commit.clone(),
        };
        self.after_write(&tenant, &row, &commit, actor, WriteKind::Created)
            .await;
        let mut detail = self.detail_of(&tenant, row, false).await?;
        detail.gate = note;
        detail.changed = Some(true);
        Ok(detail)
    }

    /// Replaces a template's content: one commit `Update <name>: <old> → <new> (<n> files
    /// changed)`. `expected_commit` is the caller's `If-Match`; a stale one is a 412. Identical
    /// content makes no commit (`changed: false`).
    pub async fn update(
        &self,
        actor: &Principal,
        id: &str,
        expected_commit: Option<&str>,
        input: TemplateInput,
        force: Option<ForcedPublish>,
    ) -> ApiResult<TemplateDetail> {
        Self::check_force(actor, &force)?;
        let tenant = actor.tenant_id.clone();
        let _guard = self.write_lock(&tenant).await?;
        let current = self.row(&tenant, id).await?;
        check_expected(&current, expected_commit)?;
        let base = match input.files {
            Some(files) => files,
            None => {
                let mut files = self
                    .files_at(&tenant, &current.id, &current.current_commit)
                    .await?;
                if input.manifest.is_some() {
                    files.retain(|f| f.path != MANIFEST_FILE);
                }
                files
            }
        };
        let files = with_manifest(base, input.manifest.as_ref(), false)?;
        let (files, inspected, note) = self
            .check_new_version(actor, &current, files, &force)
            .await?;
        let m = &inspected.manifest;
        let head = if m.version != current.version {
            format!("Update {}: {} → {}", m.name, current.version, m.version)
        } else {
            format!("Update {} {}", m.name, m.version)
        };
        let head = if m.name != current.name {
            format!("{head} (renamed from {})", current.name)
        } else {
            head
        };
        let trailer = format!(
            "\n\nTemplate-Id: {}{}",
            current.id,
            Self::forced_line(actor, &force)
        );
        self.replace_content(
            actor,
            current,
            inspected,
            files,
            note,
            WriteKind::Updated,
            move |c| {
                format!(
                    "{head} ({} changed){trailer}",
                    files_word(c.files_changed())
                )
            },
        )
        .await
    }

    /// Makes a new commit whose template content equals `commit`'s.
    pub async fn restore(
        &self,
        actor: &Principal,
        id: &str,
        commit: &str,
        expected_commit: Option<&str>,
        force: Option<ForcedPublish>,
    ) -> ApiResult<TemplateDetail> {
        Self::check_force(actor, &force)?;
        let tenant = actor.tenant_id.clone();
        let _guard = self.write_lock(&tenant).await?;
        let current = self.row(&tenant, id).await?;
        check_expected(&current, expected_commit)?;
        let source = self.resolve_commit(&tenant, &current, commit).await?;
        let files = self.files_at(&tenant, &current.id, &source).await?;
        let (files, inspected, note) = self
            .check_new_version(actor, &current, files, &force)
            .await?;
        let head = format!(
            "Restore {} to {} ({})",
            inspected.manifest.name,
            short(&source),
            inspected.manifest.version
        );
        let trailer = format!(
            "\n\nTemplate-Id: {}\nRestored-From: {source}{}",
            current.id,
            Self::forced_line(actor, &force)
        );
        self.replace_content(
            actor,
            current,
            inspected,
            files,
            note,
            WriteKind::Restored,
            move |c| format!("{head}: {} changed{trailer}", files_word(c.files_changed())),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn replace_content(
        &self,
        actor: &Principal,
        current: TemplateRow,
        inspected: Inspected,
        files: Vec<SourceFile>,
        note: Option<Value>,
        kind: WriteKind,
        message: impl FnOnce(&git::ChangeSummary) -> String + Send + 'static,
    ) -> ApiResult<TemplateDetail> {
        let tenant = actor.tenant_id.clone();
        let now = now_naive();
        let who = actor.display_name();
        let (t, insp, fs, cur) = (
            tenant.clone(),
            inspected.clone(),
            files.clone(),
            current.clone(),
        );
        let stored_row = Arc::new(std::sync::Mutex::new(None));
        let stored_row_c = stored_row.clone();
        let outcome = self
            .commit_then_record(
                &tenant,
                &current.id,
                Some(files),
                author_of(actor),
                message,
                move |conn, commit| {
                    let row = build_row(
                        &t,
                        &cur.id,
                        &insp,
                        &fs,
                        commit,
                        &cur.created_by,
                        &who,
                        cur.created_at,
                        now,
                    );
                    let n = store::update(conn, &t, &row).map_err(|e| match e {
                        diesel::result::Error::DatabaseError(
                            diesel::result::DatabaseErrorKind::UniqueViolation,
                            _,
                        ) => ApiError::conflict(
                            "templates.name_taken",
                            "A template with this name already exists in your tenant.",
                        ),
                        other => other.into(),
                    })?;
                    if n == 0 {
                        return Err(not_found());
                    }
                    if let Ok(mut slot) = stored_row_c.lock() {
                        *slot = Some(row);
                    }
                    Ok(())
                },
            )
            .await?;
        match outcome {
            WriteOutcome::Unchanged { .. } => {
                let mut detail = self.detail_of(&tenant, current, false).await?;
                detail.gate = note;
                detail.changed = Some(false);
                Ok(detail)
            }
            WriteOutcome::Committed { commit, .. } => {
                let row = stored_row
                    .lock()
                    .ok()
                    .and_then(|mut s| s.take())
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("update produced no row")))?;
                self.after_write(&tenant, &row, &commit.to_string(), actor, kind)
                    .await;
                let mut detail = self.detail_of(&tenant, row, false).await?;
                detail.gate = note;
                detail.changed = Some(true);
                Ok(detail)
            }
        }
    }

    /// Deletes a template: one commit `Delete <name> <version>` removing its folder. Its history
    /// and ledger stay.
    pub async fn delete(
        &self,
        actor: &Principal,
        id: &str,
        expected_commit: Option<&str>,
    ) -> ApiResult<()> {
        let tenant = actor.tenant_id.clone();
        let _guard = self.write_lock(&tenant).await?;
        let current = self.row(&tenant, id).await?;
        check_expected(&current, expected_commit)?;
        let head = format!("Delete {} {}", current.name, current.version);
        let trailer = format!("\n\nTemplate-Id: {}", current.id);
        let (t, row_id) = (tenant.clone(), current.id.clone());
        let outcome = self
            .commit_then_record(
                &tenant,
                &current.id,
                None,
                author_of(actor),
                move |c| format!("{head} ({} removed){trailer}", files_word(c.removed.len())),
                move |conn, _commit| {
                    store::delete(conn, &t, &row_id)?;
                    Ok(())
                },
            )
            .await?;
        drop(_guard);
        let commit = match outcome {
            WriteOutcome::Committed { commit, .. } => commit.to_string(),
            WriteOutcome::Unchanged { .. } => {
                // The folder was already gone from git: drop the stale row.
                let (t, row_id) = (tenant.clone(), current.id.clone());
                self.inner
                    .db
                    .run(move |conn| -> ApiResult<usize> { Ok(store::delete(conn, &t, &row_id)?) })
                    .await?;
                current.current_commit.clone()
            }
        };
        self.after_write(&tenant, &current, &commit, actor, WriteKind::Deleted)
            .await;
        Ok(())
    }

    /// Cache invalidation, events and metrics after a committed write.
    pub(super) async fn after_write(
        &self,
        tenant: &TenantId,
        row: &TemplateRow,
        commit: &str,
        actor: &Principal,
        kind: WriteKind,
    ) {
        self.invalidate(tenant).await;
        let (template_id, name, category, version) = (
            row.id.clone(),
            row.name.clone(),
            row.category.clone(),
            row.version.clone(),
        );
        let (tenant, commit, actor, at) = (
            tenant.clone(),
            commit.to_string(),
            actor.clone(),
            Utc::now(),
        );
        metrics::counter!("maestro_template_writes_total", "kind" => kind.as_str()).increment(1);
        match kind {
            WriteKind::Created => self.inner.bus.publish(TemplateCreated {
                tenant,
                template_id,
                name,
                category,
                version,
                commit,
                actor,
                at,
            }),
            WriteKind::Updated => self.inner.bus.publish(TemplateUpdated {
                tenant,
                template_id,
                name,
                category,
                version,
                commit,
                actor,
                at,
            }),
            WriteKind::Restored => self.inner.bus.publish(TemplateRestored {
                tenant,
                template_id,
                name,
                category,
                version,
                commit,
                actor,
                at,
            }),
            WriteKind::Deleted => self.inner.bus.publish(TemplateDeleted {
                tenant,
                template_id,
                name,
                category,
                version,
                commit,
                actor,
                at,
            }),
        };
    }

    /// Stores the quality module's score for `commit`, if that is still the template's current
    /// commit. Returns whether it was stored.
    pub async fn set_quality_score(
        &self,
        tenant: &TenantId,
        template_id: &str,
        commit: &str,
        score: f64,
    ) -> ApiResult<bool> {
        if !score.is_finite() || !(0.0..=100.0).contains(&score) {
            return Err(ApiError::validation(
                "Quality scores are between 0 and 100.",
                vec![FieldError::new("score", format!("{score} is out of range"))],
            ));
        }
        let (t, id, c) = (tenant.clone(), template_id.to_string(), commit.to_string());
        let stored = self
            .inner
            .db
            .run(move |conn| -> ApiResult<usize> {
                Ok(store::set_quality(conn, &t, &id, &c, score)?)
            })
            .await?
            > 0;
        if stored {
            self.invalidate(tenant).await;
        }
        Ok(stored)
    }

    // ----- instantiation -----

    /// Validates parameters, renders, and (unless a dry run) records the instantiation.
    pub async fn instantiate(
        &self,
        actor: &Principal,
        id: &str,
        request: InstantiateRequest,
        source: InstantiationSource,
    ) -> ApiResult<Instantiated> {
        let tenant = actor.tenant_id.clone();
        let row = self.row(&tenant, id).await?;
        let commit = match &request.version {
            Some(v) => self.resolve_commit(&tenant, &row, v).await?,
            None => row.current_commit.clone(),
        };
        let files = self.files_at(&tenant, &row.id, &commit).await?;
        let settings = self.inner.settings.clone();
        let template_name = row.name.clone();
        let parameters = request.parameters.clone();
        let reproducible = request.now.is_some() || request.seed.is_some();
        let now = request.now.unwrap_or_else(|| {
            if reproducible {
                fixed_clock()
            } else {
                Utc::now()
            }
        });
        let seed = request.seed.or(reproducible.then_some(0));
        // Rendering is CPU work: keep it off the async workers.
        let rendered = tokio::task::spawn_blocking(move || -> ApiResult<_> {
            let inspected = spec::inspect(&files)?;
            let inputs = spec::render_inputs(&inspected, &files);
            let options = RenderOptions {
                now: Some(now),
                seed,
                max_output_files: settings.max_output_files,
                max_output_bytes: settings.max_output_bytes,
                template_name: Some(template_name),
                ..RenderOptions::default()
            };
            let context = engine::resolve_parameters(&inspected.spec, &parameters, &options)
                .map_err(|errors| {
                    ApiError::validation(
                        "Some parameters are invalid.",
                        errors
                            .into_iter()
                            .map(|e| {
                                let field = if e.field.starts_with("parameters") {
                                    e.field
                                } else {
                                    format!("parameters.{}", e.field)
                                };
                                FieldError::new(field, e.message)
                            })
                            .collect(),
                    )
                })?;
            let output = engine::render(&inspected.spec, &inputs, &context, &options)
                .map_err(spec::engine_error)?;
            Ok((inspected.format(), context.parameters, output))
        })
        .await
        .map_err(blocking_failed)??;
        let (format, resolved, output) = rendered;
        let prefix = output
            .root_dir
            .as_ref()
            .map(|r| format!("{r}/"))
            .unwrap_or_default();
        for file in &output.files {
            // The engine already refuses unsafe names; check again before anything leaves.
            archive::check_path(&format!("{prefix}{}", file.path))?;
        }
        let files: Vec<(String, Vec<u8>, bool)> = output
            .files
            .iter()
            .map(|f| {
                (
                    format!("{prefix}{}", f.path),
                    f.content.clone(),
                    f.executable,
                )
            })
            .collect();
        let empty_dirs: Vec<String> = output
            .empty_dirs
            .iter()
            .map(|d| format!("{prefix}{d}"))
            .collect();
        let checksum = output_checksum(&files);
        let total_bytes: i64 = files.iter().map(|f| f.1.len() as i64).sum();
        let instantiation_id = if request.dry_run {
            None
        } else {
            let ledger = InstantiationRow {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: tenant.0.clone(),
                template_id: row.id.clone(),
                template_name: row.name.clone(),
                category: row.category.clone(),
                commit_id: commit.clone(),
                version: row.version.clone(),
                user_id: actor.user_id.clone(),
                actor: actor.display_name(),
                parameters: Value::Object(resolved.clone()).to_string(),
                checksum: checksum.clone(),
                file_count: files.len() as i64,
                total_bytes,
                output_format: request.output_format.clone(),
                source: source.as_str().to_string(),
                created_at: now_naive(),
            };
            let ledger_id = ledger.id.clone();
            let t = tenant.clone();
            self.inner
                .db
                .run(move |conn| -> ApiResult<()> {
                    Ok(store::insert_instantiation(conn, &t, &ledger)?)
                })
                .await?;
            metrics::counter!("maestro_template_instantiations_total", "category" => row.category.clone()).increment(1);
            self.usage_event(
                "instantiation",
                &tenant,
                &row.id,
                actor,
                json!({
                    "instantiation_id": ledger_id,
                    "commit": commit,
                    "checksum": checksum,
                    "file_count": files.len(),
                    "source": source.as_str(),
                }),
            );
            Some(ledger_id)
        };
        Ok(Instantiated {
            warnings: output.warnings.clone(),
            template: TemplateSummary::from(&row),
            commit,
            format,
            output,
            files,
            empty_dirs,
            checksum,
            parameters: resolved,
            instantiation_id,
            now,
        })
    }

    pub async fn instantiations(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<InstantiationView>> {
        let row = self.row(tenant, id).await?;
        let (t, limit, offset) = (tenant.clone(), page.limit(), page.offset());
        let (rows, total) = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::list_instantiations(
                    conn, &t, &row.id, limit, offset,
                )?)
            })
            .await?;
        Ok(Page::new(
            rows.into_iter().map(InstantiationView::from).collect(),
            total,
            page,
        ))
    }

    /// Publishes a usage event (`templates:usage`) without making the caller wait.
    pub fn usage_event(
        &self,
        event: &str,
        tenant: &TenantId,
        template_id: &str,
        actor: &Principal,
        detail: Value,
    ) {
        let Some(edge) = self.inner.edge.clone() else {
            return;
        };
        let fields = [
            ("event", event.to_string()),
            ("template_id", template_id.to_string()),
            ("tenant_id", tenant.0.clone()),
            ("user_id", actor.user_id.clone()),
            ("detail", detail.to_string()),
            ("timestamp", Utc::now().to_rfc3339()),
        ];
        tokio::spawn(async move {
            let borrowed: Vec<(&str, String)> =
                fields.iter().map(|(k, v)| (*k, v.clone())).collect();
            edge.publish_or_log("templates:usage", &borrowed).await;
        });
    }

    // ----- figures -----

    pub async fn count_all(&self) -> ApiResult<i64> {
        self.inner
            .db
            .run(|conn| -> ApiResult<i64> { Ok(store::count_all(conn)?) })
            .await
    }

    pub async fn counts_by_category(&self) -> ApiResult<Vec<(String, i64)>> {
        self.inner
            .db
            .run(|conn| -> ApiResult<_> { Ok(store::count_by_category(conn, None)?) })
            .await
    }

    /// The templates section of `/api/v1/admin/stats`.
    pub async fn stats(&self, tenant: &TenantId) -> ApiResult<Value> {
        let t = tenant.clone();
        let (by_category, instantiations, average_quality, repo) = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok((
                    store::count_by_category(conn, Some(&t))?,
                    store::count_instantiations(conn, &t)?,
                    store::average_quality(conn, &t)?,
                    store::find_repo(conn, &t)?,
                ))
            })
            .await?;
        let total: i64 = by_category.iter().map(|(_, n)| n).sum();
        let categories: Map<String, Value> = by_category
            .into_iter()
            .map(|(c, n)| (c, json!(n)))
            .collect();
        let (hits, misses, ratio) = self.cache_hit_ratio();
        Ok(json!({
            "total": total,
            "by_category": categories,
            "instantiations": instantiations,
            "average_quality": average_quality,
            "git": {
                "head": repo.as_ref().and_then(|r| r.head_commit.clone()),
                "remote": repo.as_ref().and_then(|r| r.remote_url.as_deref().map(crate::config::redact_url_password)),
                "last_sync_status": repo.as_ref().and_then(|r| r.last_sync_status.clone()),
            },
            "cache": {"hits": hits, "misses": misses, "hit_ratio": ratio},
        }))
    }

    // ----- import from git (reconciliation, sync) -----

    /// Brings the tenant's rows in line with the branch: templates whose folder changed since
    /// `from` (or that have no row) are re-read from git; rows whose folder is gone are deleted.
    /// The caller holds the tenant's lock.
    pub(super) async fn import_from_git(
        &self,
        tenant: &TenantId,
        from: Option<String>,
        actor: &Principal,
    ) -> ApiResult<ImportReport> {
        let t = tenant.clone();
        let db_rows: HashMap<String, String> = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::ids_and_commits(conn, &t)?) })
            .await?
            .into_iter()
            .collect();
        let known: std::collections::HashSet<String> = db_rows.keys().cloned().collect();
        let limits = self.limits();
        let scanned = self
            .with_repo(tenant, move |repo| {
                scan_for_import(repo, from.as_deref(), &known, &limits)
            })
            .await?;
        let mut report = ImportReport {
            skipped: scanned.skipped.clone(),
            ..ImportReport::default()
        };
        let Some(tip) = scanned.tip.clone() else {
            return Ok(report);
        };
        let t = tenant.clone();
        let imports = scanned.imports;
        let deletions = scanned.deletions;
        let tip_c = tip.clone();
        let applied = self
            .inner
            .db
            .transaction(move |conn| -> ApiResult<Applied> {
                let mut written = Vec::new();
                let mut skipped = Vec::new();
                for import in imports {
                    let existing = store::find(conn, &t, &import.id)?;
                    // Ids are unique across tenants: a folder whose id another tenant uses (two
                    // tenants syncing with one repository) stays in git but is not imported.
                    if existing.is_none() && store::id_taken_by_another_tenant(conn, &t, &import.id)? {
                        skipped.push(format!(
                            "templates/{}: another tenant has a template with this id (ids are unique across Maestro), so it is not imported here; to use it in your tenant, create a copy (it gets a new id)",
                            import.id
                        ));
                        continue;
                    }
                    if let Some(other) =
                        store::find_by_name(conn, &t, &import.inspected.manifest.name)?
                        && other.id != import.id
                    {
                        skipped.push(format!(
                            "templates/{}: the name `{}` is already used by template {}",
                            import.id, import.inspected.manifest.name, other.id
                        ));
                        continue;
                    }
                    let at = import.changed_at.naive_utc();
                    let row = match &existing {
                        Some(old) => build_row(
                            &t,
                            &import.id,
                            &import.inspected,
                            &import.files,
                            &import.commit,
                            &old.created_by,
                            &import.author,
                            old.created_at,
                            at,
                        ),
                        None => build_row(
                            &t,
                            &import.id,
                            &import.inspected,
                            &import.files,
                            &import.commit,
                            &import.author,
                            &import.author,
                            at,
                            at,
                        ),
                    };
                    if existing.is_some() {
                        store::update(conn, &t, &row)?;
                    } else {
                        store::insert(conn, &t, &row)?;
                    }
                    written.push((row, existing.is_none()));
                }
                let mut removed = Vec::new();
                for id in deletions {
                    if let Some(old) = store::find(conn, &t, &id)? {
                        store::delete(conn, &t, &id)?;
                        removed.push(old);
                    }
                }
                store::set_head(conn, &t, Some(&tip_c), now_naive())?;
                Ok((written, removed, skipped))
            })
            .await?;
        let (written, removed, skipped) = applied;
        report.skipped.extend(skipped);
        for (row, created) in &written {
            let kind = if *created {
                WriteKind::Created
            } else {
                WriteKind::Updated
            };
            if *created {
                report.created.push(row.id.clone());
            } else {
                report.updated.push(row.id.clone());
            }
            self.after_write(tenant, row, &row.current_commit, actor, kind)
                .await;
        }
        for row in &removed {
            report.deleted.push(row.id.clone());
            self.after_write(tenant, row, &tip, actor, WriteKind::Deleted)
                .await;
        }
        if written.is_empty() && removed.is_empty() {
            self.invalidate(tenant).await;
        }
        Ok(report)
    }

    /// Before writing: if the branch is ahead of the rows (a crash between a git commit and its
    /// database write that start-up has not reconciled yet), import the difference first, so a
    /// new commit never buries an unrecorded one. The caller holds the tenant's lock.
    async fn catch_up(&self, tenant: &TenantId) -> ApiResult<()> {
        if !self.inner.git.exists(tenant.as_str()) {
            return Ok(());
        }
        let t = tenant.clone();
        let head = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_repo(conn, &t)?) })
            .await?
            .and_then(|r| r.head_commit);
        let tip = self
            .with_repo(tenant, |repo| Ok(git::tip(repo)?.map(|c| c.to_string())))
            .await?;
        if tip.is_some() && tip != head {
            tracing::warn!(tenant = %tenant, ?head, ?tip, "template rows lag the git branch; importing before the write");
            self.import_from_git(tenant, head.clone(), &system_principal(tenant))
                .await
                .map_err(|e| match e.status {
                    actix_web::http::StatusCode::SERVICE_UNAVAILABLE => e,
                    _ => super::sync::SyncError::OutOfSync {
                        head: head.unwrap_or_else(|| "(none)".into()),
                        tip: tip.unwrap_or_default(),
                        cause: e.detail,
                    }
                    .into(),
                })?;
        }
        Ok(())
    }
}

/// A validated search: SQL filter, order (`None` = rank by relevance), page, cache key.
#[derive(Debug, Clone)]
struct SearchPlan {
    key: String,
    filter: Filter,
    sort: Option<SortKey>,
    descending: bool,
    page: PageQuery,
    terms: Vec<String>,
}

impl SearchPlan {
    fn new(body: &SearchBody) -> ApiResult<SearchPlan> {
        check_category(&body.category)?;
        if let Some(q) = body.min_quality
            && !(0.0..=100.0).contains(&q)
        {
            return Err(ApiError::validation(
                "min_quality is out of range.",
                vec![FieldError::new("min_quality", "must be between 0 and 100")],
            ));
        }
        let terms = query_terms(body.query.as_deref());
        let (sort, descending) = parse_sort(body.sort.as_deref(), !terms.is_empty())?;
        let key_material = serde_json::to_string(&(body, &terms)).unwrap_or_default();
        Ok(SearchPlan {
            key: format!(
                "search:{}",
                hex::encode(Sha256::digest(key_material.as_bytes()))
            ),
            filter: Filter {
                category: body.category.clone(),
                tags: body
                    .tags
                    .iter()
                    .map(|t| t.trim().to_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect(),
                terms: terms.clone(),
                min_quality: body.min_quality,
                author: body.author.clone().filter(|a| !a.trim().is_empty()),
            },
            sort,
            descending,
            page: PageQuery {
                limit: body.limit,
                offset: body.offset,
            },
            terms,
        })
    }
}

/// A Y2K clock for reproducible renders when only a seed is given.
fn fixed_clock() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

fn check_expected(current: &TemplateRow, expected: Option<&str>) -> ApiResult<()> {
    if let Some(expected) = expected {
        let expected = parse_etag(expected);
        if expected != "*" && expected != current.current_commit {
            return Err(ApiError::precondition_failed(
                "templates.stale_write",
                format!(
                    "The template changed since you read it: If-Match names {expected}, the current version is {}. Read it again and retry.",
                    current.current_commit
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteKind {
    Created,
    Updated,
    Restored,
    Deleted,
}

impl WriteKind {
    fn as_str(self) -> &'static str {
        match self {
            WriteKind::Created => "created",
            WriteKind::Updated => "updated",
            WriteKind::Restored => "restored",
            WriteKind::Deleted => "deleted",
        }
    }
}

/// Rows written (with whether each was created), rows deleted, and folders skipped.
type Applied = (Vec<(TemplateRow, bool)>, Vec<TemplateRow>, Vec<String>);

struct ImportItem {
    id: String,
    files: Vec<SourceFile>,
    inspected: Inspected,
    commit: String,
    author: String,
    changed_at: DateTime<Utc>,
}

struct Scanned {
    tip: Option<String>,
    imports: Vec<ImportItem>,
    deletions: Vec<String>,
    skipped: Vec<String>,
}

/// Template ids are URL path segments: keep them to safe characters.
fn valid_template_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads what changed between `from` and the branch tip (blocking).
fn scan_for_import(
    repo: &gix::Repository,
    from: Option<&str>,
    known: &std::collections::HashSet<String>,
    limits: &Limits,
) -> anyhow::Result<Scanned> {
    let tip = git::tip(repo)?;
    let from = from.and_then(|f| git::parse_commit(repo, f));
    let before = git::templates_at(repo, from)?;
    let after = git::templates_at(repo, tip)?;
    let mut imports = Vec::new();
    let mut skipped = Vec::new();
    for (id, tree) in &after {
        let unchanged = before.get(id) == Some(tree) && known.contains(id);
        if unchanged {
            continue;
        }
        if !valid_template_id(id) {
            skipped.push(format!(
                "templates/{id}: folder names must be 1-64 letters, digits, '-' or '_'"
            ));
            continue;
        }
        let files = match git::files_of_tree(repo, *tree)
            .map_err(|e| e.to_string())
            .and_then(|files| archive::check_files(files, limits).map_err(|e| e.detail))
        {
            Ok(files) => files,
            Err(why) => {
                skipped.push(format!("templates/{id}: {why}"));
                continue;
            }
        };
        let inspected = match spec::inspect(&files) {
            Ok(i) => i,
            Err(e) => {
                skipped.push(format!("templates/{id}: {}", e.detail));
                continue;
            }
        };
        let last = git::history(repo, tip, id, 1)?;
        let Some(last) = last.first() else {
            continue;
        };
        imports.push(ImportItem {
            id: id.clone(),
            files,
            inspected,
            commit: last.commit.to_string(),
            author: last.author_email.clone(),
            changed_at: last.time,
        });
    }
    let deletions = known
        .iter()
        .filter(|id| !after.contains_key(*id))
        .cloned()
        .collect();
    Ok(Scanned {
        tip: tip.map(|t| t.to_string()),
        imports,
        deletions,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_accept_text_base64_and_modes() {
        let map = json!({
            "README.md": "hello",
            "logo.png": {"base64": "iVBORw0KGgo="},
            "run.sh": {"content": "#!/bin/sh\n", "executable": true}
        });
        let files = files_from_json(map.as_object().unwrap()).unwrap();
        assert_eq!(files[0].content, b"hello");
        assert_eq!(files[1].content[..4], [0x89, b'P', b'N', b'G']);
        assert!(files[2].executable);

        let bad = json!({"a": 1, "b": {"base64": "%%%"}, "c": {"content": "x", "mode": 7}});
        let err = files_from_json(bad.as_object().unwrap()).unwrap_err();
        assert_eq!(err.status.as_u16(), 422);
        assert_eq!(err.errors.len(), 3);
    }

    #[test]
    fn etags_and_sorts_parse() {
        assert_eq!(parse_etag("W/\"ABC\""), "abc");
        assert_eq!(parse_etag("\"abc\""), "abc");
        assert_eq!(parse_sort(None, true).unwrap(), (None, true));
        assert_eq!(
            parse_sort(None, false).unwrap(),
            (Some(SortKey::Updated), true)
        );
        assert_eq!(
            parse_sort(Some("-quality"), false).unwrap(),
            (Some(SortKey::Quality), true)
        );
        assert!(parse_sort(Some("size"), false).is_err());
    }

    #[test]
    fn checksums_depend_on_names_modes_and_bytes() {
        let a = vec![("x".to_string(), b"1".to_vec(), false)];
        let b = vec![("x".to_string(), b"1".to_vec(), true)];
        let c = vec![("y".to_string(), b"1".to_vec(), false)];
        assert_ne!(output_checksum(&a), output_checksum(&b));
        assert_ne!(output_checksum(&a), output_checksum(&c));
        assert_eq!(output_checksum(&a), output_checksum(&a.clone()));
    }
}

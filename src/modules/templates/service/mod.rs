//! `TemplatesService`: the templates module's rules and the API other modules may call, in these
//! parts: `read` (cached reads, history, figures), `search` (text search through the per-tenant
//! in-process index and its freshness), `write` (the write pipeline: validate →
//! publish gate → one git commit → database → events), `instantiate` (rendering, the ledger,
//! usage events) and `import` (bringing rows in line with git: start-up reconciliation, sync).
//!
//! Consistency between git and the database: writes of one tenant are serialized by an
//! in-process lock. The git commit moves the branch first (a compare-and-swap); the database
//! transaction then stores the rows together with the branch commit they reflect
//! (`template_repos.head_commit`). If the database write fails, the branch is moved back. If the
//! process dies between the two, the next start finds the branch ahead of `head_commit` and
//! imports the difference from git ([`TemplatesService::reconcile_all`]): git is the record of
//! content, the rows are its index. Nothing is written before every check (paths, limits,
//! manifest, name, `If-Match`, publish gate) has passed.

mod import;
mod instantiate;
mod read;
mod search;
mod write;

// Issue 14: imports from git.
mod git_import;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use chrono::Utc;
use serde_json::{Map, Value};

use super::archive::Limits;
use super::error::TemplatesError;
use super::git::{Author, GitStore};
use super::model::{FileEntry, TemplateStatus};
use super::spec;
use super::store::TemplateRow;
use crate::modules::templates::settings::TemplatesSettings;
use crate::platform::Platform;
use crate::platform::auth::{AuthService, AuthSource, Principal, Role, TenantId};
use crate::platform::blocking::run_blocking;
use crate::platform::bus::Bus;
use crate::platform::cache::Cache;
use crate::platform::db::Db;
use crate::platform::edge::Edge;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::module::ServiceRegistry;
use crate::platform::sealed::Sealer;
use crate::render::{self, Inspected, MANIFEST_FILE, SourceFile};

pub use instantiate::{
    InstantiateRequest, Instantiated, InstantiationSource, UsageDetail, ViewDetail, output_checksum,
};
pub use read::TemplateContent;
pub use write::TemplateInput;

// Issue 15: project updates and drift.
mod update;
pub use update::{UpdateError, UpdateRequest};

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
    /// Seals the credentials of the tenants' git remotes.
    pub sealer: Sealer,
    pub settings: TemplatesSettings,
    pub git: GitStore,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cache_figures: read::CacheCounters,
    search_indexes: search::SearchIndexes,
}

impl TemplatesService {
    pub fn new(platform: &Platform) -> TemplatesService {
        TemplatesService {
            inner: Arc::new(Inner {
                db: platform.db.clone(),
                cache: platform.cache.clone(),
                bus: platform.bus.clone(),
                edge: platform.edge.clone(),
                services: platform.services.clone(),
                auth: platform.auth.clone(),
                sealer: platform.sealer.clone(),
                git: GitStore::new(platform.settings.data_path("git")),
                settings: platform.settings.templates.clone(),
                locks: std::sync::Mutex::new(HashMap::new()),
                cache_figures: read::CacheCounters::default(),
                search_indexes: search::SearchIndexes::new(&platform.settings.templates),
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

    /// Runs blocking git work with the tenant's repository (`what` names it in traces).
    pub(super) async fn with_repo<T, F>(&self, tenant: &TenantId, f: F) -> ApiResult<T>
    where
        F: FnOnce(&gix::Repository) -> anyhow::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        let tenant = tenant.0.clone();
        run_blocking("git", move || {
            let repo = inner.git.open(&tenant)?;
            f(&repo)
        })
        .await?
        .map_err(git_failed)
    }
}

fn now_naive() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

fn git_failed(e: anyhow::Error) -> ApiError {
    ApiError::internal(e.context("git operation failed"))
}

/// `1 file`, `3 files`.
fn files_word(n: usize) -> String {
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
    ApiError::check_fields("Some files are malformed.", errors)?;
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
        render::is_binary(&file.path, &file.content) || std::str::from_utf8(&file.content).is_err();
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

/// Who made a version and when: the row's created/updated columns.
struct Authorship {
    created_by: String,
    updated_by: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

impl Authorship {
    /// A version by `who` at `at`: the first one when there is no `previous` row, else a new
    /// version of it (its creation stays as it was).
    fn of(previous: Option<&TemplateRow>, who: String, at: chrono::NaiveDateTime) -> Self {
        match previous {
            Some(old) => Authorship {
                created_by: old.created_by.clone(),
                updated_by: who,
                created_at: old.created_at,
                updated_at: at,
            },
            None => Authorship {
                created_by: who.clone(),
                updated_by: who,
                created_at: at,
                updated_at: at,
            },
        }
    }
}

/// The registry row for a template version; `current_commit` is left empty for the caller to
/// set once the commit exists.
fn build_row(
    tenant: &TenantId,
    id: &str,
    inspected: &Inspected,
    files: &[SourceFile],
    who: &Authorship,
) -> TemplateRow {
    let m = &inspected.manifest;
    let tags: Vec<String> = m.tags.iter().map(|t| t.to_lowercase()).collect();
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
        file_count: files.len() as i64,
        size_bytes: files.iter().map(|f| f.content.len() as i64).sum(),
        has_hooks: inspected.has_hooks,
        quality_score: None,
        quality_commit: None,
        current_commit: String::new(),
        created_by: who.created_by.clone(),
        updated_by: who.updated_by.clone(),
        created_at: who.created_at,
        updated_at: who.updated_at,
        status: TemplateStatus::Published.as_str().to_string(),
        draft_gate: None,
    }
}

/// Parses `If-Match`-style values: `"<commit>"`, `W/"<commit>"` or `*`.
pub fn parse_etag(raw: &str) -> String {
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase()
}

fn check_expected(current: &TemplateRow, expected: Option<&str>) -> Result<(), TemplatesError> {
    if let Some(expected) = expected {
        let expected = parse_etag(expected);
        if expected != "*" && expected != current.current_commit {
            return Err(TemplatesError::StaleWrite {
                expected,
                current: current.current_commit.clone(),
            });
        }
    }
    Ok(())
}

/// What a committed write did, for metrics and the event it publishes.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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
    fn etags_parse() {
        assert_eq!(parse_etag("W/\"ABC\""), "abc");
        assert_eq!(parse_etag("\"abc\""), "abc");
    }
}

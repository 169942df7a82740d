//! Templates imported from a git repository (`POST /api/v1/templates/import`, `…/{id}/refresh`):
//! the blocking part (clone with gix into a scratch folder, resolve the ref, find the templates
//! under `path` and read them within the upload limits) and the errors it answers with. The
//! service side (create or update, the recorded source) is `service/git_import.rs`.
//!
//! What counts as a template under the imported folder: the folder itself when it holds
//! `cookiecutter.json` or `manifest.yaml` — and, when its `cookiecutter.json` lists nested
//! templates (`templates` key of cookiecutter ≥ 2.5), each listed folder instead; otherwise every
//! direct sub-folder that holds one. Symlinks and submodules are skipped (never followed), hooks
//! are stored but never run, and every template passes the same checks as an upload.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use gix::ObjectId;
use gix::objs::tree::EntryKind;

use super::archive::{self, Limits};
use crate::platform::http::error::ApiError;
use crate::render::{COOKIECUTTER_FILE, MANIFEST_FILE, SourceFile};

/// Why an import from git was refused (besides the URL check and the upload limits).
#[derive(Debug, thiserror::Error)]
pub enum GitImportError {
    #[error("Fetching {shown} failed: {detail}")]
    FetchFailed { shown: String, detail: String },
    #[error("Fetching {shown} took longer than {} (templates.git_timeout).", humantime::format_duration(*.after))]
    FetchTimeout {
        shown: String,
        after: std::time::Duration,
    },
    #[error(
        "{shown} has no tag, branch or commit `{git_ref}`; give a tag, a branch or a full commit id."
    )]
    RefNotFound { shown: String, git_ref: String },
    #[error("{shown} at {commit} has no folder `{path}`.")]
    PathNotFound {
        shown: String,
        commit: String,
        path: String,
    },
    #[error(
        "{shown} at {commit} holds no template under `{path}`: no cookiecutter.json or manifest.yaml there or in a direct sub-folder."
    )]
    NoTemplate {
        shown: String,
        commit: String,
        path: String,
    },
    #[error(
        "This template was not imported from git, so there is nothing to refresh; import it with POST /api/v1/templates/import."
    )]
    NotImported,
}

crate::problem_codes! {
    GitImportError {
        Self::FetchFailed { .. } => (BAD_GATEWAY, "templates.import_fetch_failed"),
        Self::FetchTimeout { .. } => (GATEWAY_TIMEOUT, "templates.import_timeout"),
        Self::RefNotFound { .. } => (UNPROCESSABLE_ENTITY, "templates.ref_not_found"),
        Self::PathNotFound { .. } => (UNPROCESSABLE_ENTITY, "templates.import_path_not_found"),
        Self::NoTemplate { .. } => (UNPROCESSABLE_ENTITY, "templates.no_template_found"),
        Self::NotImported => (CONFLICT, "templates.not_imported"),
    }
    field_errors(self) {
        use crate::platform::http::error::FieldError;
        match self {
            GitImportError::RefNotFound { git_ref, .. } => {
                vec![FieldError::new("ref", format!("`{git_ref}` is not in the repository"))]
            }
            GitImportError::PathNotFound { path, .. } => {
                vec![FieldError::new("path", format!("`{path}` is not a folder at that commit"))]
            }
            GitImportError::NoTemplate { .. } => vec![FieldError::new(
                "path",
                "name a folder holding cookiecutter.json or manifest.yaml",
            )],
            _ => Vec::new(),
        }
    }
}

/// One template found in the fetched tree.
#[derive(Debug, Clone)]
pub struct FoundTemplate {
    /// Its folder, relative to the repository root (`""` for the root).
    pub path: String,
    /// The name hint: the folder's name, the nested template's key, or the repository's name.
    pub folder: String,
    pub files: Vec<SourceFile>,
}

/// What a fetch found.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The full commit id the templates were read at.
    pub commit: String,
    /// The ref as given when it names a tag (for the derived version).
    pub tag: Option<String>,
    /// The commit's author name.
    pub author: Option<String>,
    pub templates: Vec<FoundTemplate>,
    /// Entries left out (symlinks, submodules), for the report.
    pub skipped: Vec<String>,
}

/// A scratch folder removed when dropped.
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A ref a request may name: a tag, branch or commit id (no revision syntax).
pub fn valid_ref(raw: &str) -> bool {
    let r = raw.trim();
    !r.is_empty()
        && r.len() <= 200
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'+'))
        && !r.starts_with(['-', '/', '.'])
        && !r.ends_with(['/', '.'])
        && !r.contains("..")
        && !r.contains("//")
        && !r.ends_with(".lock")
}

/// The repository's name from its URL (`…/cookiecutter-pypackage.git` → `cookiecutter-pypackage`).
pub fn repo_name(url: &str) -> Option<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next()?;
    let last = last.strip_suffix(".git").unwrap_or(last);
    (!last.is_empty()).then(|| last.to_string())
}

/// Clones `url` (bare) into `scratch`, resolves `git_ref` (default: the remote's HEAD) and reads
/// the templates under `path`. Blocking; `interrupt` aborts the transfer. `shown` is the URL
/// without credentials, for messages.
pub fn fetch_templates(
    scratch: &Path,
    url: &str,
    shown: &str,
    git_ref: Option<&str>,
    path: &str,
    limits: &Limits,
    interrupt: &AtomicBool,
) -> Result<Fetched, ApiError> {
    let failed = |e: anyhow::Error| -> ApiError {
        GitImportError::FetchFailed {
            shown: shown.to_string(),
            detail: super::git::redact_credentials(&format!("{e:#}")),
        }
        .into()
    };
    let repo = clone_bare(scratch, url, interrupt).map_err(failed)?;
    let commit =
        resolve(&repo, git_ref)
            .map_err(failed)?
            .ok_or_else(|| GitImportError::RefNotFound {
                shown: shown.to_string(),
                git_ref: git_ref.unwrap_or("HEAD").to_string(),
            })?;
    let tag = git_ref.filter(|r| {
        repo.try_find_reference(format!("refs/tags/{r}").as_str())
            .ok()
            .flatten()
            .is_some()
    });
    let commit_obj = repo
        .find_commit(commit)
        .map_err(|e| failed(anyhow::Error::new(e)))?;
    let author = commit_obj
        .author()
        .ok()
        .map(|a| a.name.to_string())
        .filter(|n| !n.trim().is_empty());
    let root = commit_obj
        .tree_id()
        .map_err(|e| failed(anyhow::Error::new(e)))?
        .detach();
    let base = path.trim_matches('/').to_string();
    let base_tree = if base.is_empty() {
        Some(root)
    } else {
        subtree(&repo, root, &base).map_err(failed)?
    };
    let Some(base_tree) = base_tree else {
        return Err(GitImportError::PathNotFound {
            shown: shown.to_string(),
            commit: commit.to_string(),
            path: base,
        }
        .into());
    };
    let repo_folder = repo_name(shown).unwrap_or_else(|| "template".to_string());
    let mut skipped = Vec::new();
    let mut templates = Vec::new();
    let joined = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}/{b}")
        }
    };
    let entries = entries_of(&repo, base_tree).map_err(failed)?;
    let describes = |name: &str| name == COOKIECUTTER_FILE || name == MANIFEST_FILE;
    if entries.iter().any(|(name, kind, _)| {
        describes(name) && matches!(kind, EntryKind::Blob | EntryKind::BlobExecutable)
    }) {
        let folder = if base.is_empty() {
            repo_folder.clone()
        } else {
            base.rsplit('/').next().unwrap_or(&base).to_string()
        };
        let files = read_tree(&repo, base_tree, &base, limits, &mut skipped).map_err(failed)?;
        match nested_templates(&files) {
            Some(nested) if !nested.is_empty() => {
                for (key, sub) in nested {
                    let sub_path = joined(&base, &sub);
                    let Some(tree) = subtree(&repo, root, &sub_path).map_err(failed)? else {
                        skipped.push(format!(
                            "{sub_path}: listed under `templates` in cookiecutter.json but not a folder"
                        ));
                        continue;
                    };
                    let files =
                        read_tree(&repo, tree, &sub_path, limits, &mut skipped).map_err(failed)?;
                    templates.push(FoundTemplate {
                        path: sub_path,
                        folder: key,
                        files: archive::check_files(files, limits)?,
                    });
                }
            }
            _ => templates.push(FoundTemplate {
                path: base.clone(),
                folder,
                files: archive::check_files(files, limits)?,
            }),
        }
    } else {
        for (name, kind, id) in &entries {
            if *kind != EntryKind::Tree {
                continue;
            }
            let holds_template = entries_of(&repo, *id)
                .map_err(failed)?
                .iter()
                .any(|(n, k, _)| {
                    describes(n) && matches!(k, EntryKind::Blob | EntryKind::BlobExecutable)
                });
            if !holds_template {
                continue;
            }
            let sub_path = joined(&base, name);
            let files = read_tree(&repo, *id, &sub_path, limits, &mut skipped).map_err(failed)?;
            templates.push(FoundTemplate {
                path: sub_path,
                folder: name.clone(),
                files: archive::check_files(files, limits)?,
            });
        }
    }
    if templates.is_empty() {
        return Err(GitImportError::NoTemplate {
            shown: shown.to_string(),
            commit: commit.to_string(),
            path: base,
        }
        .into());
    }
    Ok(Fetched {
        commit: commit.to_string(),
        tag: tag.map(str::to_string),
        author,
        templates,
        skipped,
    })
}

fn clone_bare(
    scratch: &Path,
    url: &str,
    interrupt: &AtomicBool,
) -> anyhow::Result<gix::Repository> {
    let mut prepare = gix::prepare_clone_bare(url, scratch)
        .with_context(|| "the URL is not usable")?
        .configure_remote(|remote| Ok(remote.with_fetch_tags(gix::remote::fetch::Tags::All)));
    let (repo, _) = prepare
        .fetch_only(gix::progress::Discard, interrupt)
        .with_context(|| "cloning failed")?;
    Ok(repo)
}

/// The commit `git_ref` names: a tag, a branch, or a full or abbreviated commit id; `None` when
/// nothing matches. Without a ref: the remote's default branch.
fn resolve(repo: &gix::Repository, git_ref: Option<&str>) -> anyhow::Result<Option<ObjectId>> {
    let Some(r) = git_ref else {
        return Ok(repo
            .head_id()
            .ok()
            .and_then(|id| id.object().ok())
            .and_then(|o| o.peel_to_commit().ok())
            .map(|c| c.id));
    };
    for name in [format!("refs/tags/{r}"), format!("refs/heads/{r}")] {
        if let Some(mut reference) = repo.try_find_reference(name.as_str())? {
            let id = reference.peel_to_id()?;
            let commit = id.object()?.peel_to_commit()?;
            return Ok(Some(commit.id));
        }
    }
    let hex = r.len() >= 4 && r.len() <= 40 && r.bytes().all(|b| b.is_ascii_hexdigit());
    if hex
        && let Ok(id) = repo.rev_parse_single(r)
        && let Some(commit) = id.object().ok().and_then(|o| o.peel_to_commit().ok())
    {
        return Ok(Some(commit.id));
    }
    Ok(None)
}

/// The tree at `path` (`a/b`) under `root`; `None` when it is not a folder.
fn subtree(repo: &gix::Repository, root: ObjectId, path: &str) -> anyhow::Result<Option<ObjectId>> {
    let mut current = root;
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        let found = entries_of(repo, current)?
            .into_iter()
            .find(|(name, kind, _)| name == segment && *kind == EntryKind::Tree);
        match found {
            Some((_, _, id)) => current = id,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

fn entries_of(
    repo: &gix::Repository,
    tree: ObjectId,
) -> anyhow::Result<Vec<(String, EntryKind, ObjectId)>> {
    let tree = repo.find_tree(tree)?;
    let decoded = tree.decode()?;
    Ok(decoded
        .entries
        .iter()
        .map(|e| {
            (
                String::from_utf8_lossy(e.filename).into_owned(),
                e.mode.kind(),
                e.oid.to_owned(),
            )
        })
        .collect())
}

/// Every file under `tree`, counting files and bytes against the limits before reading a blob
/// (a repository far over them stops at the first file too many). Symlinks and submodules are
/// skipped and named in `skipped`.
fn read_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &str,
    limits: &Limits,
    skipped: &mut Vec<String>,
) -> anyhow::Result<Vec<SourceFile>> {
    let tree = repo.find_tree(tree)?;
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for entry in tree.traverse().breadthfirst.files()? {
        let path = String::from_utf8_lossy(&entry.filepath).into_owned();
        let executable = match entry.mode.kind() {
            EntryKind::Blob => false,
            EntryKind::BlobExecutable => true,
            EntryKind::Tree => continue,
            EntryKind::Link | EntryKind::Commit => {
                let shown = if prefix.is_empty() {
                    path
                } else {
                    format!("{prefix}/{path}")
                };
                skipped.push(format!("{shown}: symlinks and submodules are not imported"));
                continue;
            }
        };
        let size = repo.find_header(entry.oid)?.size();
        total += size;
        // Over a limit: stop reading; check_files names the limit.
        if out.len() > limits.max_files
            || size > limits.max_file_bytes
            || total > limits.max_total_bytes
        {
            out.push(SourceFile {
                path,
                content: vec![0; size.min(limits.max_file_bytes + 1) as usize],
                executable,
            });
            break;
        }
        let blob = repo.find_blob(entry.oid)?;
        out.push(SourceFile {
            path,
            content: blob.data.clone(),
            executable,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The nested templates a `cookiecutter.json` lists (`templates` key of cookiecutter ≥ 2.5:
/// key → {path, …}), as (key, folder relative to the template) pairs; `None` when it lists none.
fn nested_templates(files: &[SourceFile]) -> Option<Vec<(String, String)>> {
    let config = files.iter().find(|f| f.path == COOKIECUTTER_FILE)?;
    let value: serde_json::Value = serde_json::from_slice(&config.content).ok()?;
    let listed = value.get("templates")?.as_object()?;
    let mut out = Vec::new();
    for (key, spec) in listed {
        let Some(path) = spec.get("path").and_then(|p| p.as_str()) else {
            continue;
        };
        let clean: Vec<&str> = path
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        if clean.is_empty() || clean.contains(&"..") {
            continue;
        }
        out.push((key.clone(), clean.join("/")));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_and_repository_names() {
        for ok in ["v1.2.0", "main", "feature/x", "0123abcd", "1.0+build"] {
            assert!(valid_ref(ok), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "a..b",
            "HEAD~1",
            "main^{tree}",
            ":/msg",
            "a b",
            "x.lock",
        ] {
            assert!(!valid_ref(bad), "{bad}");
        }
        assert_eq!(
            repo_name("https://github.com/a/cookiecutter-pypackage.git").as_deref(),
            Some("cookiecutter-pypackage")
        );
        assert_eq!(repo_name("file:///srv/git/x/").as_deref(), Some("x"));
        assert_eq!(repo_name("git@host:team/t.git").as_deref(), Some("t"));
    }

    #[test]
    fn nested_templates_are_read_from_the_templates_key() {
        let files = vec![SourceFile::new(
            COOKIECUTTER_FILE,
            r#"{"templates": {"a": {"path": "./a-tpl", "title": "A"}, "b": {"path": "../x"}, "c": {}}}"#,
        )];
        assert_eq!(
            nested_templates(&files),
            Some(vec![("a".to_string(), "a-tpl".to_string())])
        );
        let plain = vec![SourceFile::new(COOKIECUTTER_FILE, r#"{"x": 1}"#)];
        assert_eq!(nested_templates(&plain), None);
    }
}

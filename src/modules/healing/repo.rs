//! A project's registered git repository, through gix: a bare mirror per registration under
//! `<data_dir>/healing/repos/<tenant>/<repository id>`, fetched from the registered URL (the
//! templates module's [`git::fetch`]) before each use. The strategies read files and the commit
//! diff from it; a patch becomes one commit on a new branch `maestro/heal/<short id>` (never the
//! default branch) made on the fetched tip and pushed with the git CLI ([`git::push_ref`], the
//! same mechanism as the templates git sync — gix cannot push).
//!
//! Everything here is blocking file-system and network work: call it on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::refs::transaction::PreviousValue;

use super::strategies::{FilePatch, SourceFile};
use crate::modules::templates::git::{self, PushResult};

/// Most files of a commit diff rendered for the strategies.
const MAX_DIFF_FILES: usize = 200;
/// Most bytes of the commit diff handed to the strategies.
const MAX_DIFF_BYTES: usize = 512 * 1024;

/// Where a repository is fetched from and what it holds.
#[derive(Debug, Clone)]
pub struct Remote {
    /// What git is handed (credentials included for https; a resolved path for local ones).
    pub url: String,
    pub default_branch: String,
}

/// The mirror of one registration, created on first use.
pub fn open_mirror(root: &Path, tenant: &str, repo_id: &str) -> anyhow::Result<gix::Repository> {
    let path = mirror_path(root, tenant, repo_id)?;
    if path.join("HEAD").exists() {
        return gix::open(&path).with_context(|| format!("open {}", path.display()));
    }
    std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
    gix::init_bare(&path).with_context(|| format!("init {}", path.display()))
}

pub fn mirror_path(root: &Path, tenant: &str, repo_id: &str) -> anyhow::Result<PathBuf> {
    let safe = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !safe(tenant) || !safe(repo_id) {
        return Err(anyhow!("unusable tenant or repository id"));
    }
    Ok(root.join(tenant).join(repo_id))
}

/// Fetches the default branch; returns its tip.
pub fn fetch(repo: &gix::Repository, remote: &Remote) -> anyhow::Result<ObjectId> {
    let interrupt = AtomicBool::new(false);
    git::fetch(repo, &remote.url, &remote.default_branch, &interrupt)?.ok_or_else(|| {
        anyhow!(
            "the remote has no branch {} (set default_branch to the branch that holds the code)",
            remote.default_branch
        )
    })
}

/// `wanted` (a full commit id) when the mirror has that commit.
pub fn find_commit(repo: &gix::Repository, wanted: Option<&str>) -> Option<ObjectId> {
    wanted.and_then(|hex| git::parse_commit(repo, hex))
}

/// The text files among `paths` at `commit` (missing, binary and too large ones left out).
pub fn read_files(
    repo: &gix::Repository,
    commit: ObjectId,
    paths: &[String],
    max_bytes: usize,
) -> anyhow::Result<Vec<SourceFile>> {
    let tree = repo.find_commit(commit)?.tree()?;
    let mut out: Vec<SourceFile> = Vec::new();
    for path in paths {
        let path = path.trim().trim_start_matches("./");
        if path.is_empty() || out.iter().any(|f| f.path == path) {
            continue;
        }
        let Some(entry) = tree.lookup_entry_by_path(path)? else {
            continue;
        };
        if !entry.mode().is_blob() {
            continue;
        }
        let blob = repo.find_blob(entry.object_id())?;
        if blob.data.len() > max_bytes {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&blob.data) else {
            continue;
        };
        out.push(SourceFile {
            path: path.to_string(),
            blob: entry.object_id().to_string(),
            text: text.to_string(),
        });
    }
    Ok(out)
}

/// The unified diff of `commit` against its first parent, and the paths it changed (empty for
/// a root commit's parent side).
pub fn commit_diff(
    repo: &gix::Repository,
    commit: ObjectId,
) -> anyhow::Result<(String, Vec<String>)> {
    let commit = repo.find_commit(commit)?;
    let new_tree = commit.tree()?;
    let old_tree = match commit.parent_ids().next() {
        Some(parent) => repo.find_commit(parent.detach())?.tree()?,
        None => repo.empty_tree(),
    };
    let changes =
        repo.diff_tree_to_tree(Some(&old_tree), Some(&new_tree), None::<gix::diff::Options>)?;
    let mut text = String::new();
    let mut paths = Vec::new();
    for change in changes.iter().take(MAX_DIFF_FILES) {
        let (new_mode, new_id) = change.entry_mode_and_id();
        let (old_mode, old_id) = change.source_entry_mode_and_id();
        if !new_mode.is_blob() && !old_mode.is_blob() {
            continue;
        }
        let (old_path, new_path) = (
            change.source_location().to_str_lossy().into_owned(),
            change.location().to_str_lossy().into_owned(),
        );
        let read = |id: &gix::oid, mode: gix::objs::tree::EntryMode| -> anyhow::Result<String> {
            if !mode.is_blob() {
                return Ok(String::new());
            }
            Ok(String::from_utf8_lossy(&repo.find_blob(id.to_owned())?.data).into_owned())
        };
        let (before, after, from, to) = match change {
            gix::object::tree::diff::ChangeDetached::Addition { .. } => (
                String::new(),
                read(new_id, new_mode)?,
                "/dev/null".to_string(),
                format!("b/{new_path}"),
            ),
            gix::object::tree::diff::ChangeDetached::Deletion { .. } => (
                read(old_id, old_mode)?,
                String::new(),
                format!("a/{old_path}"),
                "/dev/null".to_string(),
            ),
            _ => (
                read(old_id, old_mode)?,
                read(new_id, new_mode)?,
                format!("a/{old_path}"),
                format!("b/{new_path}"),
            ),
        };
        paths.push(new_path.clone());
        let diff = similar::TextDiff::from_lines(&before, &after);
        text.push_str(&format!("diff --git a/{old_path} b/{new_path}\n"));
        text.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&from, &to)
                .to_string(),
        );
        if text.len() > MAX_DIFF_BYTES {
            text.truncate(
                (0..=MAX_DIFF_BYTES)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0),
            );
            break;
        }
    }
    Ok((text, paths))
}

/// Why a patch was not applied (each maps to a problem code).
#[derive(Debug)]
pub enum PatchError {
    /// The file at the tip is not the blob the patch was made against (`found`: `absent` when
    /// the file is gone).
    Stale {
        found: String,
    },
    DoesNotApply(String),
    Git(anyhow::Error),
}

impl From<anyhow::Error> for PatchError {
    fn from(e: anyhow::Error) -> Self {
        PatchError::Git(e)
    }
}

/// What [`apply_patch`] made.
#[derive(Debug, Clone)]
pub struct Committed {
    pub branch: String,
    pub commit: ObjectId,
}

/// Applies `patch` on `tip` as one commit on `refs/heads/<branch>` of the mirror.
pub fn apply_patch(
    repo: &gix::Repository,
    tip: ObjectId,
    patch: &FilePatch,
    branch: &str,
    author: &git::Author,
    message: &str,
    at: DateTime<Utc>,
) -> Result<Committed, PatchError> {
    let path = patch.path.trim().trim_start_matches("./");
    if path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|part| part == ".." || part == ".git")
    {
        return Err(PatchError::DoesNotApply(format!(
            "{:?} is not a path inside the repository",
            patch.path
        )));
    }
    let commit = repo.find_commit(tip).map_err(anyhow::Error::from)?;
    let base_tree = commit.tree_id().map_err(anyhow::Error::from)?.detach();
    let entry = repo
        .find_tree(base_tree)
        .map_err(anyhow::Error::from)?
        .lookup_entry_by_path(path)
        .map_err(anyhow::Error::from)?;
    let Some(entry) = entry.filter(|e| e.mode().is_blob()) else {
        return Err(PatchError::Stale {
            found: "absent".into(),
        });
    };
    let current = entry.object_id();
    if !current
        .to_string()
        .eq_ignore_ascii_case(patch.base_blob.trim())
    {
        return Err(PatchError::Stale {
            found: current.to_string(),
        });
    }
    let kind = entry.mode().kind();
    let blob = repo.find_blob(current).map_err(anyhow::Error::from)?;
    let old = std::str::from_utf8(&blob.data)
        .map_err(|_| PatchError::DoesNotApply(format!("{path} is not UTF-8 text")))?;
    let parsed = diffy::Patch::from_str(&patch.diff)
        .map_err(|e| PatchError::DoesNotApply(format!("the diff cannot be read: {e}")))?;
    let new = diffy::apply(old, &parsed).map_err(|e| PatchError::DoesNotApply(e.to_string()))?;
    if new == old {
        return Err(PatchError::DoesNotApply("the diff changes nothing".into()));
    }
    let new_blob = repo
        .write_blob(new.as_bytes())
        .map_err(anyhow::Error::from)?
        .detach();
    let mut editor = repo.edit_tree(base_tree).map_err(anyhow::Error::from)?;
    let kind = match kind {
        gix::objs::tree::EntryKind::BlobExecutable => EntryKind::BlobExecutable,
        _ => EntryKind::Blob,
    };
    editor
        .upsert(path, kind, new_blob)
        .map_err(anyhow::Error::from)?;
    let new_tree = editor.write().map_err(anyhow::Error::from)?.detach();
    let reference = format!("refs/heads/{branch}");
    let mut author_buf = gix::date::parse::TimeBuf::default();
    let mut committer_buf = gix::date::parse::TimeBuf::default();
    let author_sig = author.signature(at);
    let committer_sig = git::Author::new("Maestro", "maestro@localhost").signature(at);
    // Our mirror's ref: a retried apply (its push failed) replaces it.
    let commit = repo
        .new_commit_as(
            committer_sig.to_ref(&mut committer_buf),
            author_sig.to_ref(&mut author_buf),
            message,
            new_tree,
            Some(tip),
        )
        .map_err(anyhow::Error::from)?
        .id;
    repo.reference(
        reference.as_str(),
        commit,
        PreviousValue::Any,
        "maestro: heal patch",
    )
    .map_err(anyhow::Error::from)?;
    Ok(Committed {
        branch: branch.to_string(),
        commit,
    })
}

/// Pushes the mirror's heal branch to the remote (never forced).
pub fn push_branch(
    git_binary: &str,
    repo: &gix::Repository,
    url: &str,
    branch: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let local = format!("refs/heads/{branch}");
    match git::push_ref(git_binary, repo.path(), url, &local, branch, timeout)? {
        PushResult::Pushed | PushResult::UpToDate => Ok(()),
        PushResult::Rejected(why) => Err(anyhow!(
            "the remote rejected branch {branch}: {why} (a branch of that name already holds other commits)"
        )),
    }
}

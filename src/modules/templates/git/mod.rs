//! Template content in git, through gix: one bare repository per tenant under
//! `<data_dir>/git/<tenant_id>`, one branch (`main`), each template under
//! `templates/<bucket>/<id>/` where the bucket is the id's first two characters, lowercase (the
//! fan-out git uses for its own objects). A commit rewrites only the trees on the written path, so
//! with the fan-out a write costs the same at 100 templates as at 100,000; a flat `templates/`
//! folder would be one tree listing every template, rewritten (hashed, compressed, stored) by
//! every commit. Repositories written before the fan-out hold templates directly under
//! `templates/<id>/` (the legacy layout): they read the same, a write moves its template into its
//! bucket, and [`migrate_layout`] moves all of them in one commit at start.
//! Every write is exactly one commit; a template's history is a path-filtered walk of the branch.
//! gix cannot push (see crate-stack.md), so [`push`] runs the `git` CLI; everything else is gix.
//!
//! Everything here is blocking file-system work: call it on the blocking pool. Writers of one
//! tenant are serialized by the caller (the service's per-tenant lock); the branch update itself
//! is a compare-and-swap, so a lost race fails instead of dropping a commit.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, TimeZone, Utc};
use gix::ObjectId;
use gix::objs::tree::EntryKind;
use gix::refs::transaction::PreviousValue;

use crate::render::SourceFile;

mod layout;

pub use layout::{bucket_of, migrate_layout, template_path, templates_at};
use layout::{is_bucket, legacy_path, locate};

/// The branch holding every template of a tenant.
pub const BRANCH: &str = "refs/heads/main";
/// Folder (in the repository) holding the buckets, each holding one folder per template id.
pub const TEMPLATES_DIR: &str = "templates";
/// Where a fetched remote branch is kept.
const REMOTE_TRACKING: &str = "refs/remotes/sync/main";

/// Who a commit is by.
#[derive(Debug, Clone)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    pub fn new(name: &str, email: &str) -> Author {
        Author {
            name: clean_identity(name, "maestro"),
            email: clean_identity(email, "maestro@localhost"),
        }
    }

    pub fn signature(&self, at: DateTime<Utc>) -> gix::actor::Signature {
        gix::actor::Signature {
            name: self.name.as_str().into(),
            email: self.email.as_str().into(),
            time: gix::date::Time::new(at.timestamp(), 0),
        }
    }
}

/// Git identities cannot hold `<`, `>` or line breaks.
fn clean_identity(raw: &str, fallback: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, '<' | '>' | '\n' | '\r' | '\0'))
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        fallback.to_string()
    } else {
        cleaned.to_string()
    }
}

/// The committer of every commit Maestro writes (the author is the caller).
fn committer() -> Author {
    Author::new("Maestro", "maestro@localhost")
}

/// Versions listed at the most for one template (a longer history shows its newest ones).
pub const MAX_HISTORY: usize = 10_000;

/// Template histories remembered at once; when full, the memory starts again.
const REMEMBERED_HISTORIES: usize = 4096;

/// How many new commits a remembered history is brought up to date with, before the whole
/// history is walked again instead.
const MAX_CATCH_UP: usize = 1000;

/// A template's changes at one branch tip, newest first.
type Changes = Arc<Vec<TemplateChange>>;

/// Opens (creating on first use) the tenants' repositories, and remembers the template
/// histories walked at each tenant's current tip.
pub struct GitStore {
    root: PathBuf,
    repos: Mutex<HashMap<String, gix::ThreadSafeRepository>>,
    /// (tenant, template) → the tip walked from and what the walk found.
    histories: Mutex<HashMap<(String, String), (ObjectId, Changes)>>,
}

impl GitStore {
    pub fn new(root: PathBuf) -> GitStore {
        GitStore {
            root,
            repos: Mutex::new(HashMap::new()),
            histories: Mutex::new(HashMap::new()),
        }
    }

    /// The template's changes from the branch tip, newest first (at most [`MAX_HISTORY`]). The
    /// history at one tip never changes, so it is walked once per tip: the pages of a version
    /// list, commit-prefix lookups and diffs at that tip cost what they show, not the history.
    /// After new commits on top of the remembered tip, only those are walked.
    pub fn changes(
        &self,
        tenant_id: &str,
        repo: &gix::Repository,
        template_id: &str,
    ) -> anyhow::Result<Changes> {
        let Some(tip) = tip(repo)? else {
            return Ok(Changes::default());
        };
        let key = (tenant_id.to_string(), template_id.to_string());
        let remembered = self
            .histories
            .lock()
            .map_err(|_| anyhow!("history cache poisoned"))?
            .get(&key)
            .cloned();
        let caught_up = match remembered {
            Some((at, changes)) if at == tip => return Ok(changes),
            Some((at, changes)) => {
                changes_since(repo, tip, at, template_id, MAX_CATCH_UP)?.map(|mut newer| {
                    newer.extend(changes.iter().copied());
                    newer.truncate(MAX_HISTORY);
                    newer
                })
            }
            None => None,
        };
        let found = match caught_up {
            Some(found) => found,
            None => {
                let mut found = Vec::new();
                walk_changes(repo, Some(tip), template_id, |change| {
                    found.push(change);
                    found.len() < MAX_HISTORY
                })?;
                found
            }
        };
        let changes = Changes::new(found);
        let mut histories = self
            .histories
            .lock()
            .map_err(|_| anyhow!("history cache poisoned"))?;
        if histories.len() >= REMEMBERED_HISTORIES {
            histories.clear();
        }
        histories.insert(key, (tip, changes.clone()));
        Ok(changes)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<tenant_id>`; tenant ids are generated UUIDs, anything else is refused.
    pub fn repo_path(&self, tenant_id: &str) -> anyhow::Result<PathBuf> {
        if tenant_id.is_empty()
            || tenant_id.len() > 64
            || !tenant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bail!("tenant id {tenant_id:?} cannot name a repository folder");
        }
        Ok(self.root.join(tenant_id))
    }

    /// The tenant's repository, created (bare) when it does not exist yet. The lock is held while
    /// a repository is opened or created: writers store blobs before taking the tenant's write
    /// lock, so two first writes may open a new tenant's repository at once, and only one may
    /// create it.
    pub fn open(&self, tenant_id: &str) -> anyhow::Result<gix::Repository> {
        let mut repos = self
            .repos
            .lock()
            .map_err(|_| anyhow!("repository cache poisoned"))?;
        if let Some(repo) = repos.get(tenant_id) {
            return Ok(repo.to_thread_local());
        }
        let path = self.repo_path(tenant_id)?;
        let repo = if path.join("HEAD").exists() {
            gix::open(&path).with_context(|| format!("open {}", path.display()))?
        } else {
            std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
            let repo = gix::init_bare(&path).with_context(|| format!("init {}", path.display()))?;
            // HEAD names our branch, so `git log` in the repository shows the templates.
            std::fs::write(path.join("HEAD"), "ref: refs/heads/main\n")
                .with_context(|| format!("write {}/HEAD", path.display()))?;
            repo
        };
        let shared = repo.into_sync();
        let local = shared.to_thread_local();
        repos.insert(tenant_id.to_string(), shared);
        Ok(local)
    }

    /// Whether the tenant has a repository on disk.
    pub fn exists(&self, tenant_id: &str) -> bool {
        self.repo_path(tenant_id)
            .map(|p| p.join("HEAD").exists())
            .unwrap_or(false)
    }

    /// Tenant ids that have a repository folder.
    pub fn tenants_on_disk(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join("HEAD").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        out
    }
}

/// The branch tip, `None` before the first commit.
pub fn tip(repo: &gix::Repository) -> anyhow::Result<Option<ObjectId>> {
    reference_target(repo, BRANCH)
}

fn reference_target(repo: &gix::Repository, name: &str) -> anyhow::Result<Option<ObjectId>> {
    match repo.try_find_reference(name)? {
        Some(mut reference) => Ok(Some(reference.peel_to_id()?.detach())),
        None => Ok(None),
    }
}

/// The id of the template's folder in `commit`'s tree (`None` when absent), in either layout.
pub fn template_tree(
    repo: &gix::Repository,
    commit: ObjectId,
    template_id: &str,
) -> anyhow::Result<Option<ObjectId>> {
    let tree = repo.find_commit(commit)?.tree()?;
    Ok(locate(repo, &tree, template_id)?.map(|(_, id)| id))
}

/// One file of a stored template, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub path: String,
    pub size: u64,
    pub executable: bool,
    pub blob: ObjectId,
}

/// Files under a template tree, sorted by path. Symlinks and submodules (which Maestro never
/// writes; a fetched repository could hold them) are skipped.
fn tree_files(repo: &gix::Repository, tree: ObjectId) -> anyhow::Result<Vec<FileMeta>> {
    let tree = repo.find_tree(tree)?;
    let mut out = Vec::new();
    for entry in tree.traverse().breadthfirst.files()? {
        let kind = entry.mode.kind();
        let executable = match kind {
            EntryKind::Blob => false,
            EntryKind::BlobExecutable => true,
            _ => continue,
        };
        let size = repo.find_header(entry.oid)?.size();
        out.push(FileMeta {
            path: String::from_utf8_lossy(&entry.filepath).into_owned(),
            size,
            executable,
            blob: entry.oid,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The template's files at `commit` without content (`None`: the template is not in that commit).
pub fn template_listing(
    repo: &gix::Repository,
    commit: ObjectId,
    template_id: &str,
) -> anyhow::Result<Option<Vec<FileMeta>>> {
    match template_tree(repo, commit, template_id)? {
        Some(tree) => Ok(Some(tree_files(repo, tree)?)),
        None => Ok(None),
    }
}

/// The template's files with content at `commit` (`None`: not in that commit).
pub fn template_files(
    repo: &gix::Repository,
    commit: ObjectId,
    template_id: &str,
) -> anyhow::Result<Option<Vec<SourceFile>>> {
    match template_tree(repo, commit, template_id)? {
        Some(tree) => Ok(Some(files_of_tree(repo, tree)?)),
        None => Ok(None),
    }
}

/// Every file (with content) under a tree.
pub fn files_of_tree(repo: &gix::Repository, tree: ObjectId) -> anyhow::Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    for meta in tree_files(repo, tree)? {
        let blob = repo.find_blob(meta.blob)?;
        out.push(SourceFile {
            path: meta.path,
            content: blob.data.clone(),
            executable: meta.executable,
        });
    }
    Ok(out)
}

/// One file of the template at `commit`.
pub fn template_file(
    repo: &gix::Repository,
    commit: ObjectId,
    template_id: &str,
    path: &str,
) -> anyhow::Result<Option<SourceFile>> {
    let Some(tree) = template_tree(repo, commit, template_id)? else {
        return Ok(None);
    };
    let Some(entry) = repo.find_tree(tree)?.lookup_entry_by_path(path)? else {
        return Ok(None);
    };
    let executable = match entry.mode().kind() {
        EntryKind::Blob => false,
        EntryKind::BlobExecutable => true,
        _ => return Ok(None),
    };
    let blob = repo.find_blob(entry.object_id())?;
    Ok(Some(SourceFile {
        path: path.to_string(),
        content: blob.data.clone(),
        executable,
    }))
}

/// What a write changed inside the template's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
}

impl ChangeSummary {
    pub fn files_changed(&self) -> usize {
        self.added.len() + self.modified.len() + self.removed.len()
    }

    fn between(old: &[FileMeta], new: &[(String, ObjectId, bool)]) -> ChangeSummary {
        let old: BTreeMap<&str, (ObjectId, bool)> = old
            .iter()
            .map(|f| (f.path.as_str(), (f.blob, f.executable)))
            .collect();
        let new_map: BTreeMap<&str, (ObjectId, bool)> = new
            .iter()
            .map(|(p, id, x)| (p.as_str(), (*id, *x)))
            .collect();
        let mut summary = ChangeSummary::default();
        for (path, value) in &new_map {
            match old.get(path) {
                None => summary.added.push(path.to_string()),
                Some(previous) if previous != value => summary.modified.push(path.to_string()),
                Some(_) => {}
            }
        }
        for path in old.keys() {
            if !new_map.contains_key(path) {
                summary.removed.push(path.to_string());
            }
        }
        summary
    }
}

/// The result of [`write_template`].
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    /// The template's files already were exactly these: no commit was made.
    Unchanged { tip: Option<ObjectId> },
    Committed {
        commit: ObjectId,
        /// The branch tip before this commit (what a rollback returns to).
        previous_tip: Option<ObjectId>,
        changes: ChangeSummary,
    },
}

/// Replaces the template's folder with `files` (or removes it with `None`) in one commit on the
/// branch, authored by `author`. `message` is built from what changed. Paths must already be
/// validated (relative, no `..`).
pub fn write_template(
    repo: &gix::Repository,
    template_id: &str,
    files: Option<&[SourceFile]>,
    author: &Author,
    at: DateTime<Utc>,
    message: impl FnOnce(&ChangeSummary) -> String,
) -> anyhow::Result<WriteOutcome> {
    let staged = files.map(|files| stage_files(repo, files)).transpose()?;
    write_staged(repo, template_id, staged.as_deref(), author, at, message)
}

/// A file whose content is already stored as a blob (see [`stage_files`]).
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub path: String,
    pub blob: ObjectId,
    pub executable: bool,
}

/// Stores the files' contents as blobs. Blobs are content-addressed and nothing refers to them
/// until a commit does, so this needs no lock: writers do it before taking the tenant's write
/// lock, and the commit ([`write_staged`]) only writes trees. A blob whose write then fails or
/// is refused stays unreferenced (garbage for `git gc`).
pub fn stage_files(
    repo: &gix::Repository,
    files: &[SourceFile],
) -> anyhow::Result<Vec<StagedFile>> {
    files
        .iter()
        .map(|file| {
            Ok(StagedFile {
                path: file.path.clone(),
                blob: repo.write_blob(&file.content)?.detach(),
                executable: file.executable,
            })
        })
        .collect()
}

/// [`write_template`] with the files already stored as blobs.
pub fn write_staged(
    repo: &gix::Repository,
    template_id: &str,
    files: Option<&[StagedFile]>,
    author: &Author,
    at: DateTime<Utc>,
    message: impl FnOnce(&ChangeSummary) -> String,
) -> anyhow::Result<WriteOutcome> {
    let previous_tip = tip(repo)?;
    let base_tree = match previous_tip {
        Some(commit) => repo.find_commit(commit)?.tree_id()?.detach(),
        None => ObjectId::empty_tree(repo.object_hash()),
    };
    let old = match previous_tip {
        Some(commit) => locate(repo, &repo.find_commit(commit)?.tree()?, template_id)?,
        None => None,
    };
    let old_files = match &old {
        Some((_, tree)) => tree_files(repo, *tree)?,
        None => Vec::new(),
    };
    let prefix = template_path(template_id);
    let mut editor = repo.edit_tree(base_tree)?;
    // A legacy template whose id is this bucket's name sits where the bucket goes: it moves
    // into the bucket too (its content unchanged). First, before another edit loads that path.
    let bucket = bucket_of(template_id);
    if bucket != template_id
        && let Some(commit) = previous_tip
        && let Some(squatter) = repo
            .find_commit(commit)?
            .tree()?
            .lookup_entry_by_path(legacy_path(&bucket))?
        && squatter.mode().is_tree()
        && !is_bucket(repo, &bucket, squatter.object_id())?
    {
        editor.remove(legacy_path(&bucket).as_str())?;
        editor.upsert(
            template_path(&bucket).as_str(),
            EntryKind::Tree,
            squatter.object_id(),
        )?;
    }
    editor.remove(prefix.as_str())?;
    if let Some((legacy, _)) = old.as_ref().filter(|(path, _)| *path != prefix) {
        editor.remove(legacy.as_str())?;
    }
    let mut written = Vec::new();
    for file in files.unwrap_or_default() {
        let blob = file.blob;
        let kind = if file.executable {
            EntryKind::BlobExecutable
        } else {
            EntryKind::Blob
        };
        editor.upsert(format!("{prefix}/{}", file.path).as_str(), kind, blob)?;
        written.push((file.path.clone(), blob, file.executable));
    }
    let new_tree = editor.write()?.detach();
    let changes = ChangeSummary::between(&old_files, &written);
    // The same files again (wherever the template is) make no commit; a template in the legacy
    // layout moves into its bucket with its next change.
    let same_files = old.is_some() && files.is_some() && changes.files_changed() == 0;
    if previous_tip.is_some() && (new_tree == base_tree || same_files) {
        return Ok(WriteOutcome::Unchanged { tip: previous_tip });
    }
    let message = message(&changes);
    let mut author_buf = gix::date::parse::TimeBuf::default();
    let mut committer_buf = gix::date::parse::TimeBuf::default();
    let author_sig = author.signature(at);
    let committer_sig = committer().signature(at);
    let commit = repo
        .commit_as(
            committer_sig.to_ref(&mut committer_buf),
            author_sig.to_ref(&mut author_buf),
            BRANCH,
            message,
            new_tree,
            previous_tip,
        )?
        .detach();
    Ok(WriteOutcome::Committed {
        commit,
        previous_tip,
        changes,
    })
}

/// Moves the branch from `expected` back to `target` (or deletes it), only if it still points at
/// `expected`. Used to undo a commit whose database write failed, and for fast-forwards.
pub fn move_branch(
    repo: &gix::Repository,
    expected: Option<ObjectId>,
    target: Option<ObjectId>,
    log_message: &str,
) -> anyhow::Result<()> {
    match target {
        Some(target) => {
            let constraint = match expected {
                Some(expected) => PreviousValue::MustExistAndMatch(expected.into()),
                None => PreviousValue::MustNotExist,
            };
            repo.reference(BRANCH, target, constraint, log_message)?;
        }
        None => {
            if let Some(reference) = repo.try_find_reference(BRANCH)? {
                let current = reference.id().detach();
                if Some(current) != expected {
                    bail!("the branch moved to {current}; not deleting it");
                }
                reference.delete()?;
            }
        }
    }
    Ok(())
}

/// Where [`keep_unimported`] parks a branch tip that a repair moved the branch away from.
pub const UNIMPORTED_REFS: &str = "refs/maestro/unimported";

/// Keeps `commit` reachable under `refs/maestro/unimported/<label>` (so a repair that resets the
/// branch loses nothing: `git log refs/maestro/unimported/<label>` shows it). Returns the ref name.
pub fn keep_unimported(
    repo: &gix::Repository,
    commit: ObjectId,
    label: &str,
) -> anyhow::Result<String> {
    let name = format!("{UNIMPORTED_REFS}/{label}");
    repo.reference(
        name.as_str(),
        commit,
        PreviousValue::Any,
        "maestro: keep commits the database could not import",
    )?;
    Ok(name)
}

/// How a commit changed a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Removed,
}

/// One commit in a template's history.
#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub commit: ObjectId,
    pub parent: Option<ObjectId>,
    pub summary: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub time: DateTime<Utc>,
    pub change: Change,
}

/// A commit that changed a template, as the history walk finds it (from trees alone; its
/// message and author are read by [`describe`], only for the entries a caller shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateChange {
    pub commit: ObjectId,
    pub parent: Option<ObjectId>,
    pub change: Change,
}

/// Walks the commits reachable from `from`, newest first, and hands `visit` each one that
/// changed `templates/<template_id>`: listed when the template's tree differs from every
/// parent's (git log's default history simplification). The walk stops as soon as `visit`
/// returns `false`, so a caller that needs one entry (or one page) reads no further than that.
pub fn walk_changes(
    repo: &gix::Repository,
    from: Option<ObjectId>,
    template_id: &str,
    mut visit: impl FnMut(TemplateChange) -> bool,
) -> anyhow::Result<()> {
    let Some(from) = from else {
        return Ok(());
    };
    let walk = repo
        .rev_walk([from])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(
            gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
        ))
        .all()?;
    // Each commit is looked up once: as a child, then as the next commit walked.
    let mut cache: HashMap<ObjectId, Option<ObjectId>> = HashMap::new();
    let mut subtree = |repo: &gix::Repository, id: ObjectId| -> anyhow::Result<Option<ObjectId>> {
        if let Some(hit) = cache.get(&id) {
            return Ok(*hit);
        }
        let value = template_tree(repo, id, template_id)?;
        cache.insert(id, value);
        Ok(value)
    };
    for info in walk {
        let info = info?;
        let id = info.id;
        let parents: Vec<ObjectId> = info.parent_ids().map(|p| p.detach()).collect();
        let mine = subtree(repo, id)?;
        let mut parent_trees = Vec::with_capacity(parents.len());
        for parent in &parents {
            parent_trees.push(subtree(repo, *parent)?);
        }
        let same_as_a_parent = if parent_trees.is_empty() {
            mine.is_none()
        } else {
            parent_trees.contains(&mine)
        };
        if same_as_a_parent {
            continue;
        }
        let change = change_kind(parent_trees.first().copied().flatten(), mine);
        let found = TemplateChange {
            commit: id,
            parent: parents.first().copied(),
            change,
        };
        if !visit(found) {
            break;
        }
    }
    Ok(())
}

/// How a commit changed a template whose tree differs from its (first) parent's.
fn change_kind(parent: Option<ObjectId>, mine: Option<ObjectId>) -> Change {
    match (parent, mine) {
        (None, Some(_)) => Change::Added,
        (Some(_), None) => Change::Removed,
        _ => Change::Modified,
    }
}

/// The template's changes in the commits from `tip` down to `since` (excluded), newest first,
/// when they are a chain of single-parent commits ending on `since` (Maestro's own writes, a
/// fast-forward sync), which is exactly how a walk from `tip` starts before it goes on as a
/// walk from `since`. `None` for anything else (a merge, a branch moved back, a chain longer
/// than `max_chain`): the caller then walks the whole history.
fn changes_since(
    repo: &gix::Repository,
    tip: ObjectId,
    since: ObjectId,
    template_id: &str,
    max_chain: usize,
) -> anyhow::Result<Option<Vec<TemplateChange>>> {
    let mut found = Vec::new();
    let (mut commit, mut tree) = (tip, template_tree(repo, tip, template_id)?);
    for _ in 0..max_chain {
        let parents: Vec<ObjectId> = repo
            .find_commit(commit)?
            .parent_ids()
            .map(|p| p.detach())
            .collect();
        let [parent] = parents[..] else {
            return Ok(None);
        };
        let parent_tree = template_tree(repo, parent, template_id)?;
        if parent_tree != tree {
            found.push(TemplateChange {
                commit,
                parent: Some(parent),
                change: change_kind(parent_tree, tree),
            });
        }
        if parent == since {
            return Ok(Some(found));
        }
        (commit, tree) = (parent, parent_tree);
    }
    Ok(None)
}

/// A change with its commit's message, author and time.
pub fn describe(repo: &gix::Repository, found: TemplateChange) -> anyhow::Result<VersionRecord> {
    let commit = repo.find_commit(found.commit)?;
    let message = commit.message_raw_sloppy().to_string();
    let summary = message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let author = commit.author()?;
    let seconds = author.time().map(|t| t.seconds).unwrap_or_default();
    Ok(VersionRecord {
        commit: found.commit,
        parent: found.parent,
        summary,
        message: message.trim_end().to_string(),
        author_name: author.name.to_string(),
        author_email: author.email.to_string(),
        time: Utc
            .timestamp_opt(seconds, 0)
            .single()
            .unwrap_or_else(Utc::now),
        change: found.change,
    })
}

/// The newest `max` commits (newest first) that changed `templates/<template_id>`, starting at
/// `from`, described ([`walk_changes`], [`describe`]); the walk stops once it has them.
pub fn history(
    repo: &gix::Repository,
    from: Option<ObjectId>,
    template_id: &str,
    max: usize,
) -> anyhow::Result<Vec<VersionRecord>> {
    let mut found = Vec::new();
    if max > 0 {
        walk_changes(repo, from, template_id, |change| {
            found.push(change);
            found.len() < max
        })?;
    }
    found.into_iter().map(|c| describe(repo, c)).collect()
}

/// The commit's author email and time.
pub fn commit_author(
    repo: &gix::Repository,
    commit: ObjectId,
) -> anyhow::Result<(String, DateTime<Utc>)> {
    let commit = repo.find_commit(commit)?;
    let author = commit.author()?;
    let seconds = author.time().map(|t| t.seconds).unwrap_or_default();
    Ok((
        author.email.to_string(),
        Utc.timestamp_opt(seconds, 0)
            .single()
            .unwrap_or_else(Utc::now),
    ))
}

/// A full 40-hex commit id of this repository.
pub fn parse_commit(repo: &gix::Repository, hex: &str) -> Option<ObjectId> {
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = ObjectId::from_hex(hex.to_ascii_lowercase().as_bytes()).ok()?;
    repo.find_commit(id).ok().map(|c| c.id)
}

/// The best common ancestor of two commits.
pub fn merge_base(
    repo: &gix::Repository,
    a: ObjectId,
    b: ObjectId,
) -> anyhow::Result<Option<ObjectId>> {
    Ok(repo.merge_base(a, b)?.map(|id| id.detach()))
}

/// Fetches `branch` from `url` (gix) and returns the remote tip (`None`: the remote has no such
/// branch yet). `interrupt` aborts a slow transfer.
pub fn fetch(
    repo: &gix::Repository,
    url: &str,
    branch: &str,
    interrupt: &AtomicBool,
) -> anyhow::Result<Option<ObjectId>> {
    use gix::remote::Direction;
    let spec = format!("+refs/heads/{branch}:{REMOTE_TRACKING}");
    let remote = repo
        .remote_at(url)
        .with_context(|| "the remote URL is not usable")?
        .with_refspecs(Some(spec.as_str()), Direction::Fetch)?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let connection = remote
        .connect(Direction::Fetch)
        .with_context(|| "cannot connect to the remote")?;
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .with_context(|| "the remote refused the fetch")?;
    let wanted = format!("refs/heads/{branch}");
    let remote_tip = |map: &gix::remote::fetch::RefMap| {
        map.mappings.iter().find_map(|m| match &m.remote {
            gix::remote::fetch::refmap::Source::Ref(r) => {
                let (name, target, peeled) = r.unpack();
                (name == wanted.as_str()).then(|| peeled.or(target).map(|id| id.to_owned()))
            }
            _ => None,
        })
    };
    // An empty remote, or one without the branch yet: nothing to fetch.
    if remote_tip(prepare.ref_map()).flatten().is_none() {
        return Ok(None);
    }
    let outcome = prepare
        .receive(gix::progress::Discard, interrupt)
        .with_context(|| "receiving objects from the remote failed")?;
    let remote_tip = remote_tip(&outcome.ref_map);
    Ok(remote_tip.flatten())
}

/// What `git push --porcelain` reported for our ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    Pushed,
    UpToDate,
    Rejected(String),
}

/// Pushes the branch to `url` as `refs/heads/<branch>` with the git CLI (gix cannot push).
/// Never forces: a remote that moved meanwhile rejects the push.
pub fn push(
    git_binary: &str,
    repo_path: &Path,
    url: &str,
    branch: &str,
    timeout: Duration,
) -> anyhow::Result<PushResult> {
    push_ref(git_binary, repo_path, url, BRANCH, branch, timeout)
}

/// Pushes the local ref `local` to `url` as `refs/heads/<branch>` (see [`push`]; the healing
/// module pushes its heal branches with it).
pub fn push_ref(
    git_binary: &str,
    repo_path: &Path,
    url: &str,
    local: &str,
    branch: &str,
    timeout: Duration,
) -> anyhow::Result<PushResult> {
    use std::process::{Command, Stdio};
    if url.starts_with('-') || local.starts_with('-') {
        bail!("the remote URL must not start with '-'");
    }
    let refspec = format!("{local}:refs/heads/{branch}");
    let mut child = Command::new(git_binary)
        .arg("-c")
        .arg("protocol.ext.allow=never")
        .arg("--git-dir")
        .arg(repo_path)
        .args(["push", "--porcelain", "--"])
        .arg(url)
        .arg(&refspec)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("cannot run `{git_binary}`; install git or set templates.git_binary / healing.git_binary")
        })?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "git push did not finish within {}",
                humantime::format_duration(timeout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Porcelain lines: "<flag>\t<from>:<to>\t<summary>".
    for line in stdout.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(flag), Some(refs), summary) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if !refs.ends_with(&format!(":refs/heads/{branch}")) {
            continue;
        }
        return Ok(match flag {
            "=" => PushResult::UpToDate,
            "!" => PushResult::Rejected(summary.unwrap_or("rejected").trim().to_string()),
            _ => PushResult::Pushed,
        });
    }
    if output.status.success() {
        Ok(PushResult::Pushed)
    } else {
        bail!("git push failed: {}", redact_credentials(stderr.trim()))
    }
}

/// Removes `user:password@` from URLs inside a message.
pub fn redact_credentials(text: &str) -> String {
    let re = regex::Regex::new(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@").ok();
    match re {
        Some(re) => re.replace_all(text, "$scheme[redacted]@").into_owned(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests;

//! The fan-out layout of a tenant's repository: where a template lives
//! (`templates/<bucket>/<id>/`), where repositories written before the fan-out keep it
//! (`templates/<id>/`), finding a template in either, listing all of them, and the one-time move
//! of a repository into the fan-out ([`migrate_layout`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gix::ObjectId;
use gix::objs::tree::EntryKind;

use super::{BRANCH, ChangeSummary, TEMPLATES_DIR, WriteOutcome, committer, tip};

/// The bucket of a template id: its first two characters, lowercase (`_` pads a one-character id).
pub fn bucket_of(template_id: &str) -> String {
    let mut bucket: String = template_id
        .chars()
        .take(2)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    while bucket.len() < 2 {
        bucket.push('_');
    }
    bucket
}

/// Where Maestro writes a template: `templates/<bucket>/<id>`.
pub fn template_path(template_id: &str) -> String {
    format!("{TEMPLATES_DIR}/{}/{template_id}", bucket_of(template_id))
}

/// Where a repository written before the fan-out holds a template: `templates/<id>`.
pub(super) fn legacy_path(template_id: &str) -> String {
    format!("{TEMPLATES_DIR}/{template_id}")
}

/// A two-character folder under `templates/` holding only folders is a bucket; anything else
/// there is a template in the legacy layout (a template has files at its top: at least
/// manifest.yaml or cookiecutter.json).
pub(super) fn is_bucket(
    repo: &gix::Repository,
    name: &str,
    tree: ObjectId,
) -> anyhow::Result<bool> {
    if name.len() != 2 {
        return Ok(false);
    }
    let tree = repo.find_tree(tree)?;
    let mut any = false;
    for entry in tree.iter() {
        if !entry?.mode().is_tree() {
            return Ok(false);
        }
        any = true;
    }
    Ok(any)
}

/// Where the template's folder is in `root` (a commit's tree) and its tree id: its bucket, or
/// else the legacy place.
pub(super) fn locate(
    repo: &gix::Repository,
    root: &gix::Tree<'_>,
    template_id: &str,
) -> anyhow::Result<Option<(String, ObjectId)>> {
    let path = template_path(template_id);
    if let Some(entry) = root.lookup_entry_by_path(&path)?
        && entry.mode().is_tree()
    {
        return Ok(Some((path, entry.object_id())));
    }
    let legacy = legacy_path(template_id);
    match root.lookup_entry_by_path(&legacy)? {
        Some(entry)
            if entry.mode().is_tree() && !is_bucket(repo, template_id, entry.object_id())? =>
        {
            Ok(Some((legacy, entry.object_id())))
        }
        _ => Ok(None),
    }
}

/// The folders under `templates/` at `commit`: templates in their buckets, and templates in the
/// legacy layout (with their names, which are their ids).
struct Layout {
    fanned: BTreeMap<String, ObjectId>,
    legacy: BTreeMap<String, ObjectId>,
}

fn layout_at(repo: &gix::Repository, commit: Option<ObjectId>) -> anyhow::Result<Layout> {
    let mut layout = Layout {
        fanned: BTreeMap::new(),
        legacy: BTreeMap::new(),
    };
    let Some(commit) = commit else {
        return Ok(layout);
    };
    let tree = repo.find_commit(commit)?.tree()?;
    let Some(dir) = tree.lookup_entry_by_path(TEMPLATES_DIR)? else {
        return Ok(layout);
    };
    if !dir.mode().is_tree() {
        return Ok(layout);
    }
    let dir = repo.find_tree(dir.object_id())?;
    for entry in dir.iter() {
        let entry = entry?;
        if !entry.mode().is_tree() {
            continue;
        }
        let name = entry.filename().to_string();
        if !is_bucket(repo, &name, entry.object_id())? {
            layout.legacy.insert(name, entry.object_id());
            continue;
        }
        // A folder in the wrong bucket is not where reads and writes look for it: ignored.
        for inner in repo.find_tree(entry.object_id())?.iter() {
            let inner = inner?;
            let id = inner.filename().to_string();
            if inner.mode().is_tree() && bucket_of(&id) == name {
                layout.fanned.insert(id, inner.object_id());
            }
        }
    }
    Ok(layout)
}

/// Template ids and their tree ids at `commit`, in either layout (a template in both places is
/// read from its bucket, as [`super::template_tree`] does).
pub fn templates_at(
    repo: &gix::Repository,
    commit: Option<ObjectId>,
) -> anyhow::Result<BTreeMap<String, ObjectId>> {
    let Layout { fanned, mut legacy } = layout_at(repo, commit)?;
    legacy.extend(fanned);
    Ok(legacy)
}

/// Moves every template still in the legacy layout (`templates/<id>/`) into its bucket, in one
/// commit by Maestro; `None` when there is nothing to move. No template's content (its tree)
/// changes, so no template's history lists this commit. The caller holds the tenant's lock.
pub fn migrate_layout(
    repo: &gix::Repository,
    at: DateTime<Utc>,
) -> anyhow::Result<Option<WriteOutcome>> {
    let Some(previous_tip) = tip(repo)? else {
        return Ok(None);
    };
    let Layout { fanned, legacy } = layout_at(repo, Some(previous_tip))?;
    if legacy.is_empty() {
        return Ok(None);
    }
    let base_tree = repo.find_commit(previous_tip)?.tree_id()?.detach();
    let mut editor = repo.edit_tree(base_tree)?;
    let mut moved = 0usize;
    for (id, tree) in &legacy {
        editor.remove(legacy_path(id).as_str())?;
        // A template already in its bucket wins (reads take that one); the legacy copy goes.
        if !fanned.contains_key(id) {
            editor.upsert(template_path(id).as_str(), EntryKind::Tree, *tree)?;
            moved += 1;
        }
    }
    let new_tree = editor.write()?.detach();
    let message = format!(
        "Move {moved} templates to templates/<first two characters of the id>/<id>/\n\n\
         Each commit then rewrites a few small trees instead of one listing every template.\n\
         No template's content changes."
    );
    let mut buf = gix::date::parse::TimeBuf::default();
    let mut buf2 = gix::date::parse::TimeBuf::default();
    let sig = committer().signature(at);
    let commit = repo
        .commit_as(
            sig.to_ref(&mut buf),
            sig.to_ref(&mut buf2),
            BRANCH,
            message,
            new_tree,
            Some(previous_tip),
        )?
        .detach();
    Ok(Some(WriteOutcome::Committed {
        commit,
        previous_tip: Some(previous_tip),
        changes: ChangeSummary::default(),
    }))
}

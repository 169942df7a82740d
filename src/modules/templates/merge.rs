//! The three-way merge behind `POST /api/v1/templates/{id}/update`, pure (no I/O): `base` is the
//! old template version rendered with the old answers, `theirs` the target version rendered with
//! the new answers, `ours` the project as uploaded. Per file: text is merged with `diffy`'s
//! three-way merge (conflicts keep both sides between `<<<<<<< ours` / `>>>>>>> theirs` markers);
//! files added or deleted by either side follow that side unless the other changed them (then a
//! conflict keeps the project's side and says so); a file the template renamed moves, carrying the
//! project's edits; binary files are replaced only when the project had not changed them; the
//! executable bit follows the template unless the project changed it.
//!
//! [`unified_patch`] turns the result into a git-style patch from the project to the merged tree
//! (`git apply` and `git apply --3way` accept it: full blob ids on `index` lines, binary files as
//! `GIT binary patch` literals).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use serde::Serialize;
use utoipa::ToSchema;

/// One file of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub content: Vec<u8>,
    pub executable: bool,
}

impl TreeFile {
    pub fn new(content: impl Into<Vec<u8>>, executable: bool) -> TreeFile {
        TreeFile {
            content: content.into(),
            executable,
        }
    }
}

/// A project or rendered template: relative path → file.
pub type Tree = BTreeMap<String, TreeFile>;

/// Why a file could not be merged cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Both changed the same lines; the file holds conflict markers.
    Content,
    /// Both added the file with different content; the file holds conflict markers.
    AddAdd,
    /// Both changed a binary file; the project's version is kept.
    Binary,
    /// The project deleted a file the template changed; it stays deleted.
    DeletedInProject,
    /// The template deleted a file the project changed; the project's version is kept.
    DeletedInTemplate,
}

/// One conflicting region: the project's lines, the old template's, the new template's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConflictHunk {
    /// 1-based line of the `<<<<<<< ours` marker in the merged file (0 when the file holds no
    /// markers).
    pub line: usize,
    pub ours: String,
    pub base: String,
    pub theirs: String,
}

/// A file the merge could not settle alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Conflict {
    pub path: String,
    pub kind: ConflictKind,
    /// What happened and what was kept.
    pub message: String,
    pub hunks: Vec<ConflictHunk>,
}

/// What the merge does to one file of the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Add,
    Modify,
    Delete,
    Rename,
    /// Only the executable bit changes.
    Mode,
}

/// One planned change, from the project to the merged tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PlannedChange {
    pub path: String,
    pub action: ChangeAction,
    /// The old path of a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The file has a conflict (see `conflicts`).
    pub conflict: bool,
}

/// The merged tree and how it differs from the project.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    pub merged: Tree,
    /// `(from, to)` of files the template renamed and the merge moved.
    pub renames: Vec<(String, String)>,
    pub changes: Vec<PlannedChange>,
    pub conflicts: Vec<Conflict>,
}

/// Text files at least this similar (0..1, by lines) count as a rename when the template removed
/// one path and added another.
const RENAME_SIMILARITY: f32 = 0.5;

fn is_binary(path: &str, content: &[u8]) -> bool {
    crate::render::is_binary(path, content) || std::str::from_utf8(content).is_err()
}

fn similarity(path: &str, a: &[u8], b: &[u8]) -> f32 {
    if a == b {
        return 1.0;
    }
    if is_binary(path, a) || is_binary(path, b) {
        return 0.0;
    }
    let (Ok(a), Ok(b)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
        return 0.0;
    };
    similar::TextDiff::from_lines(a, b).ratio()
}

/// The template's renames: a path of `base` gone in `theirs`, paired with the most similar new
/// path of `theirs`.
fn template_renames(base: &Tree, theirs: &Tree) -> Vec<(String, String)> {
    let added: Vec<&String> = theirs.keys().filter(|p| !base.contains_key(*p)).collect();
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for (from, file) in base.iter().filter(|(p, _)| !theirs.contains_key(*p)) {
        let best = added
            .iter()
            .filter(|to| !taken.contains(**to))
            .map(|to| (*to, similarity(to, &file.content, &theirs[*to].content)))
            .filter(|(_, s)| *s >= RENAME_SIMILARITY)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((to, _)) = best {
            taken.insert(to.clone());
            out.push((from.clone(), to.clone()));
        }
    }
    out
}

/// Merges the three trees (see the module documentation).
pub fn merge_trees(base: &Tree, theirs: &Tree, ours: &Tree) -> MergeOutcome {
    let mut merged = ours.clone();
    let mut conflicts = Vec::new();
    let mut renames = Vec::new();
    let mut handled: BTreeSet<String> = BTreeSet::new();

    for (from, to) in template_renames(base, theirs) {
        if ours.contains_key(&to) {
            // The project has its own file at the new path: no move, both paths on their own.
            continue;
        }
        handled.insert(from.clone());
        handled.insert(to.clone());
        let (b, t) = (&base[&from], &theirs[&to]);
        match ours.get(&from) {
            None => {
                if b.content != t.content {
                    conflicts.push(deleted_in_project(&to, b, t));
                }
            }
            Some(o) => {
                let (file, conflict) = merge_file(&to, Some(b), o, t);
                merged.remove(&from);
                merged.insert(to.clone(), file);
                conflicts.extend(conflict);
                renames.push((from.clone(), to.clone()));
            }
        }
    }

    let paths: BTreeSet<&String> = base.keys().chain(theirs.keys()).collect();
    for path in paths {
        if handled.contains(path) {
            continue;
        }
        match (base.get(path), theirs.get(path), ours.get(path)) {
            (b, Some(t), Some(o)) => {
                let (file, conflict) = merge_file(path, b, o, t);
                merged.insert(path.clone(), file);
                conflicts.extend(conflict);
            }
            (Some(b), Some(t), None) => {
                if b != t {
                    conflicts.push(deleted_in_project(path, b, t));
                }
            }
            (Some(b), None, Some(o)) => {
                if o.content == b.content {
                    merged.remove(path);
                } else {
                    conflicts.push(Conflict {
                        path: path.clone(),
                        kind: ConflictKind::DeletedInTemplate,
                        message: "the template deleted this file and the project changed it; \
                                  the project's version is kept"
                            .to_string(),
                        hunks: Vec::new(),
                    });
                }
            }
            (None, Some(t), None) => {
                merged.insert(path.clone(), t.clone());
            }
            (_, None, None) | (None, None, Some(_)) => {}
        }
    }
    conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    let changes = plan(ours, &merged, &renames, &conflicts);
    MergeOutcome {
        merged,
        renames,
        changes,
        conflicts,
    }
}

fn deleted_in_project(path: &str, b: &TreeFile, t: &TreeFile) -> Conflict {
    let text = |f: &TreeFile| {
        if is_binary(path, &f.content) {
            String::new()
        } else {
            String::from_utf8_lossy(&f.content).into_owned()
        }
    };
    Conflict {
        path: path.to_string(),
        kind: ConflictKind::DeletedInProject,
        message: "the project deleted this file and the template changed it; it stays deleted \
                  (the template's version is in `theirs`)"
            .to_string(),
        hunks: vec![ConflictHunk {
            line: 0,
            ours: String::new(),
            base: text(b),
            theirs: text(t),
        }],
    }
}

/// Merges one file present in the project and the new template.
fn merge_file(
    path: &str,
    base: Option<&TreeFile>,
    ours: &TreeFile,
    theirs: &TreeFile,
) -> (TreeFile, Option<Conflict>) {
    let executable = match base {
        Some(b) if b.executable == ours.executable => theirs.executable,
        _ => ours.executable,
    };
    let keep = |content: &[u8]| TreeFile::new(content, executable);
    if ours.content == theirs.content {
        return (keep(&ours.content), None);
    }
    if let Some(b) = base {
        if ours.content == b.content {
            return (keep(&theirs.content), None);
        }
        if theirs.content == b.content {
            return (keep(&ours.content), None);
        }
    }
    let base_bytes: &[u8] = base.map(|b| b.content.as_slice()).unwrap_or_default();
    let texts = (
        std::str::from_utf8(base_bytes),
        std::str::from_utf8(&ours.content),
        std::str::from_utf8(&theirs.content),
    );
    let binary = is_binary(path, &ours.content) || is_binary(path, &theirs.content);
    let (Ok(b), Ok(o), Ok(t), false) = (texts.0, texts.1, texts.2, binary) else {
        return (
            keep(&ours.content),
            Some(Conflict {
                path: path.to_string(),
                kind: ConflictKind::Binary,
                message: "a binary file changed in both the project and the template; the \
                          project's version is kept"
                    .to_string(),
                hunks: Vec::new(),
            }),
        );
    };
    match diffy::merge(b, o, t) {
        Ok(text) => (keep(text.as_bytes()), None),
        Err(text) => {
            let hunks = conflict_hunks(&text);
            let (kind, message) = if base.is_some() {
                (
                    ConflictKind::Content,
                    "the project and the template changed the same lines",
                )
            } else {
                (
                    ConflictKind::AddAdd,
                    "the project and the template both added this file",
                )
            };
            (
                keep(text.as_bytes()),
                Some(Conflict {
                    path: path.to_string(),
                    kind,
                    message: format!(
                        "{message}; both sides are in the file between conflict markers"
                    ),
                    hunks,
                }),
            )
        }
    }
}

/// The regions between diff3-style conflict markers (`<<<<<<< ours`, `||||||| original`,
/// `=======`, `>>>>>>> theirs`).
pub fn conflict_hunks(text: &str) -> Vec<ConflictHunk> {
    #[derive(PartialEq)]
    enum State {
        Outside,
        Ours,
        Base,
        Theirs,
    }
    let mut state = State::Outside;
    let mut hunks = Vec::new();
    let mut current = ConflictHunk {
        line: 0,
        ours: String::new(),
        base: String::new(),
        theirs: String::new(),
    };
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        match state {
            State::Outside if bare == "<<<<<<< ours" => {
                current = ConflictHunk {
                    line: i + 1,
                    ours: String::new(),
                    base: String::new(),
                    theirs: String::new(),
                };
                state = State::Ours;
            }
            State::Outside => {}
            State::Ours if bare == "||||||| original" => state = State::Base,
            State::Ours | State::Base if bare == "=======" => state = State::Theirs,
            State::Ours => current.ours.push_str(line),
            State::Base => current.base.push_str(line),
            State::Theirs if bare == ">>>>>>> theirs" => {
                hunks.push(current.clone());
                state = State::Outside;
            }
            State::Theirs => current.theirs.push_str(line),
        }
    }
    hunks
}

/// The changes taking `ours` to `merged`, by path.
pub fn plan(
    ours: &Tree,
    merged: &Tree,
    renames: &[(String, String)],
    conflicts: &[Conflict],
) -> Vec<PlannedChange> {
    let conflicted: BTreeSet<&str> = conflicts.iter().map(|c| c.path.as_str()).collect();
    let renamed_from: BTreeSet<&str> = renames.iter().map(|r| r.0.as_str()).collect();
    let renamed_to: BTreeMap<&str, &str> = renames
        .iter()
        .map(|(f, t)| (t.as_str(), f.as_str()))
        .collect();
    let mut out = Vec::new();
    let paths: BTreeSet<&String> = ours.keys().chain(merged.keys()).collect();
    for path in paths {
        let conflict = conflicted.contains(path.as_str());
        let change = |action, from: Option<&str>| PlannedChange {
            path: path.clone(),
            action,
            from: from.map(str::to_string),
            conflict,
        };
        if let Some(from) = renamed_to.get(path.as_str()) {
            out.push(change(ChangeAction::Rename, Some(from)));
            continue;
        }
        if renamed_from.contains(path.as_str()) {
            continue;
        }
        match (ours.get(path), merged.get(path)) {
            (None, Some(_)) => out.push(change(ChangeAction::Add, None)),
            (Some(_), None) => out.push(change(ChangeAction::Delete, None)),
            (Some(o), Some(m)) if o.content != m.content => {
                out.push(change(ChangeAction::Modify, None));
            }
            (Some(o), Some(m)) if o.executable != m.executable => {
                out.push(change(ChangeAction::Mode, None));
            }
            _ => {}
        }
    }
    out
}

fn mode(file: &TreeFile) -> &'static str {
    if file.executable { "100755" } else { "100644" }
}

/// Git's blob id of some content.
pub fn blob_id(content: &[u8]) -> String {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, content)
        .map(|id| id.to_string())
        .unwrap_or_else(|_| "0".repeat(40))
}

const ZERO_ID: &str = "0000000000000000000000000000000000000000";

/// A git-style unified patch taking `ours` to `merged` (see the module documentation).
pub fn unified_patch(ours: &Tree, merged: &Tree, renames: &[(String, String)]) -> String {
    let mut out = String::new();
    let renamed_from: BTreeSet<&str> = renames.iter().map(|r| r.0.as_str()).collect();
    let renamed_to: BTreeMap<&str, &str> = renames
        .iter()
        .map(|(f, t)| (t.as_str(), f.as_str()))
        .collect();
    let paths: BTreeSet<&String> = ours.keys().chain(merged.keys()).collect();
    for path in paths {
        if renamed_from.contains(path.as_str()) {
            continue;
        }
        let (old_path, old) = match renamed_to.get(path.as_str()) {
            Some(from) => (*from, ours.get(*from)),
            None => (path.as_str(), ours.get(path)),
        };
        let new = merged.get(path);
        if old == new && old_path == path {
            continue;
        }
        out.push_str(&format!("diff --git a/{old_path} b/{path}\n"));
        match (old, new) {
            (None, Some(n)) => {
                out.push_str(&format!("new file mode {}\n", mode(n)));
                out.push_str(&format!("index {ZERO_ID}..{}\n", blob_id(&n.content)));
            }
            (Some(o), None) => {
                out.push_str(&format!("deleted file mode {}\n", mode(o)));
                out.push_str(&format!("index {}..{ZERO_ID}\n", blob_id(&o.content)));
            }
            (Some(o), Some(n)) => {
                if o.executable != n.executable {
                    out.push_str(&format!("old mode {}\nnew mode {}\n", mode(o), mode(n)));
                }
                if old_path != path {
                    out.push_str(&format!("rename from {old_path}\nrename to {path}\n"));
                }
                if o.content != n.content {
                    out.push_str(&format!(
                        "index {}..{}",
                        blob_id(&o.content),
                        blob_id(&n.content)
                    ));
                    if o.executable == n.executable {
                        out.push_str(&format!(" {}", mode(n)));
                    }
                    out.push('\n');
                }
            }
            (None, None) => continue,
        }
        let empty: &[u8] = &[];
        let old_bytes = old.map(|f| f.content.as_slice()).unwrap_or(empty);
        let new_bytes = new.map(|f| f.content.as_slice()).unwrap_or(empty);
        if old_bytes == new_bytes {
            continue;
        }
        let binary = is_binary(old_path, old_bytes) || is_binary(path, new_bytes);
        if binary {
            out.push_str("GIT binary patch\n");
            out.push_str(&binary_literal(new_bytes));
            out.push('\n');
            out.push_str(&binary_literal(old_bytes));
            out.push('\n');
            continue;
        }
        let (Ok(a), Ok(b)) = (
            std::str::from_utf8(old_bytes),
            std::str::from_utf8(new_bytes),
        ) else {
            continue;
        };
        let mut options = diffy::DiffOptions::new();
        options
            .set_original_filename(if old.is_some() {
                format!("a/{old_path}")
            } else {
                "/dev/null".to_string()
            })
            .set_modified_filename(if new.is_some() {
                format!("b/{path}")
            } else {
                "/dev/null".to_string()
            });
        out.push_str(&options.create_patch(a, b).to_string());
    }
    out
}

/// Git's base85 alphabet.
const BASE85: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

/// `literal <size>` followed by the zlib-deflated content in git's base85 lines.
fn binary_literal(content: &[u8]) -> String {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let deflated = encoder
        .write_all(content)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    let mut out = format!("literal {}\n", content.len());
    for chunk in deflated.chunks(52) {
        let len = chunk.len() as u8;
        out.push(if len <= 26 {
            (b'A' + len - 1) as char
        } else {
            (b'a' + len - 27) as char
        });
        for group in chunk.chunks(4) {
            let mut word = [0u8; 4];
            word[..group.len()].copy_from_slice(group);
            let mut value = u32::from_be_bytes(word);
            let mut chars = [0u8; 5];
            for c in chars.iter_mut().rev() {
                *c = BASE85[(value % 85) as usize];
                value /= 85;
            }
            out.push_str(std::str::from_utf8(&chars).unwrap_or_default());
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Tree {
        files
            .iter()
            .map(|(p, c)| (p.to_string(), TreeFile::new(c.as_bytes(), false)))
            .collect()
    }

    const LINES: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";

    #[test]
    fn edits_in_different_hunks_merge_and_additions_and_deletions_follow_their_side() {
        let base = tree(&[
            ("app.txt", LINES),
            ("old.txt", "gone\n"),
            ("keep.txt", "k\n"),
        ]);
        let theirs = tree(&[
            ("app.txt", &LINES.replace("nine", "NINE")),
            ("new.txt", "new\n"),
            ("keep.txt", "k\n"),
        ]);
        let ours = tree(&[
            ("app.txt", &LINES.replace("two", "TWO")),
            ("old.txt", "gone\n"),
            ("mine.txt", "mine\n"),
        ]);
        let outcome = merge_trees(&base, &theirs, &ours);
        assert!(outcome.conflicts.is_empty(), "{:?}", outcome.conflicts);
        let merged = outcome.merged;
        assert_eq!(
            merged["app.txt"].content,
            LINES
                .replace("two", "TWO")
                .replace("nine", "NINE")
                .as_bytes()
        );
        assert!(merged.contains_key("new.txt"));
        assert!(merged.contains_key("mine.txt"));
        assert!(!merged.contains_key("old.txt"));
        // The project deleted keep.txt and the template did not change it: stays deleted.
        assert!(!merged.contains_key("keep.txt"));
    }

    #[test]
    fn same_lines_changed_on_both_sides_conflict_with_both_sides_kept() {
        let base = tree(&[("a.txt", LINES)]);
        let theirs = tree(&[("a.txt", &LINES.replace("five", "FIVE (template)"))]);
        let ours = tree(&[("a.txt", &LINES.replace("five", "five (project)"))]);
        let outcome = merge_trees(&base, &theirs, &ours);
        assert_eq!(outcome.conflicts.len(), 1);
        let c = &outcome.conflicts[0];
        assert_eq!(c.kind, ConflictKind::Content);
        assert_eq!(c.hunks.len(), 1);
        assert_eq!(c.hunks[0].ours, "five (project)\n");
        assert_eq!(c.hunks[0].theirs, "FIVE (template)\n");
        assert_eq!(c.hunks[0].base, "five\n");
        let text = String::from_utf8(outcome.merged["a.txt"].content.clone()).unwrap();
        assert!(text.contains("five (project)") && text.contains("FIVE (template)"));
        assert_eq!(
            c.hunks[0].line,
            text.lines().position(|l| l == "<<<<<<< ours").unwrap() + 1
        );
    }

    #[test]
    fn renames_carry_project_edits_and_modes_follow_the_changed_side() {
        let mut base = tree(&[("src/lib.txt", LINES)]);
        base.insert("run.sh".into(), TreeFile::new("#!/bin/sh\n", false));
        let mut theirs = tree(&[("src/core.txt", LINES)]);
        theirs.insert("run.sh".into(), TreeFile::new("#!/bin/sh\n", true));
        let ours = tree(&[
            ("src/lib.txt", &LINES.replace("one", "ONE")),
            ("run.sh", "#!/bin/sh\n"),
        ]);
        let outcome = merge_trees(&base, &theirs, &ours);
        assert!(outcome.conflicts.is_empty());
        assert_eq!(
            outcome.renames,
            vec![("src/lib.txt".to_string(), "src/core.txt".to_string())]
        );
        assert_eq!(
            outcome.merged["src/core.txt"].content,
            LINES.replace("one", "ONE").as_bytes()
        );
        assert!(outcome.merged["run.sh"].executable);
        let actions: Vec<(&str, ChangeAction)> = outcome
            .changes
            .iter()
            .map(|c| (c.path.as_str(), c.action))
            .collect();
        assert_eq!(
            actions,
            vec![
                ("run.sh", ChangeAction::Mode),
                ("src/core.txt", ChangeAction::Rename)
            ]
        );
    }

    #[test]
    fn binary_files_are_replaced_only_when_the_project_kept_them() {
        let png = |b: u8| TreeFile::new(vec![0x89, b'P', b'N', b'G', 0, b], false);
        let base: Tree = [("logo.png".to_string(), png(1))].into();
        let theirs: Tree = [("logo.png".to_string(), png(2))].into();
        let outcome = merge_trees(&base, &theirs, &base.clone());
        assert_eq!(outcome.merged["logo.png"], png(2));
        let ours: Tree = [("logo.png".to_string(), png(3))].into();
        let outcome = merge_trees(&base, &theirs, &ours);
        assert_eq!(outcome.merged["logo.png"], png(3));
        assert_eq!(outcome.conflicts[0].kind, ConflictKind::Binary);
    }

    #[test]
    fn deletions_against_changes_are_conflicts_that_keep_the_changed_side() {
        let base = tree(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
        let theirs = tree(&[("a.txt", "a changed\n")]);
        let ours = tree(&[("b.txt", "b changed\n")]);
        let outcome = merge_trees(&base, &theirs, &ours);
        let kinds: Vec<ConflictKind> = outcome.conflicts.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![
                ConflictKind::DeletedInProject,
                ConflictKind::DeletedInTemplate
            ]
        );
        assert_eq!(outcome.conflicts[0].hunks[0].theirs, "a changed\n");
        assert_eq!(outcome.merged["b.txt"].content, b"b changed\n");
        assert!(!outcome.merged.contains_key("a.txt"));
    }

    /// The patch applied by the real `git apply` gives the merged tree.
    #[test]
    fn git_apply_turns_the_project_into_the_merged_tree() {
        if std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("git not installed; skipped");
            return;
        }
        let mut ours = tree(&[
            ("app.txt", &LINES.replace("two", "TWO")),
            ("old.txt", "gone\n"),
            ("src/lib.txt", LINES),
            ("no-newline.txt", "a\nb"),
        ]);
        ours.insert(
            "run.sh".into(),
            TreeFile::new("#!/bin/sh\necho hi\n", false),
        );
        ours.insert(
            "logo.png".into(),
            TreeFile::new(vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3], false),
        );
        let mut merged = tree(&[
            (
                "app.txt",
                &LINES.replace("two", "TWO").replace("nine", "NINE"),
            ),
            ("new.txt", "new\nfile\n"),
            ("empty.txt", ""),
            ("src/core.txt", &LINES.replace("ten", "TEN")),
            ("no-newline.txt", "a\nB"),
        ]);
        merged.insert("run.sh".into(), TreeFile::new("#!/bin/sh\necho hi\n", true));
        merged.insert(
            "logo.png".into(),
            TreeFile::new((0..=255u8).cycle().take(3000).collect::<Vec<_>>(), false),
        );
        let patch = unified_patch(
            &ours,
            &merged,
            &[("src/lib.txt".to_string(), "src/core.txt".to_string())],
        );
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}\n{patch}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        git(&["init", "-q"]);
        write_tree(dir.path(), &ours);
        std::fs::write(dir.path().join("update.patch"), &patch).unwrap();
        git(&["apply", "update.patch"]);
        std::fs::remove_file(dir.path().join("update.patch")).unwrap();
        assert_eq!(read_tree(dir.path()), merged);
    }

    fn write_tree(root: &std::path::Path, tree: &Tree) {
        use std::os::unix::fs::PermissionsExt;
        for (path, file) in tree {
            let full = root.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, &file.content).unwrap();
            let mode = if file.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    fn read_tree(root: &std::path::Path) -> Tree {
        use std::os::unix::fs::PermissionsExt;
        let mut out = Tree::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                if entry.file_name() == ".git" {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let executable = entry.metadata().unwrap().permissions().mode() & 0o111 != 0;
                out.insert(
                    rel,
                    TreeFile::new(std::fs::read(&path).unwrap(), executable),
                );
            }
        }
        out
    }
}

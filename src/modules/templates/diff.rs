//! Unified diffs of a template between two commits (the `similar` crate).

use std::collections::BTreeMap;

use similar::{ChangeTag, TextDiff};

use super::model::{DiffView, FileDiff};
use crate::render::{self, SourceFile};

fn is_text(file: &SourceFile) -> bool {
    !render::is_binary(&file.path, &file.content) && std::str::from_utf8(&file.content).is_ok()
}

/// The diff between two versions of a template's files.
pub fn diff_files(
    template_id: &str,
    from: &str,
    to: &str,
    old: &[SourceFile],
    new: &[SourceFile],
) -> DiffView {
    let old: BTreeMap<&str, &SourceFile> = old.iter().map(|f| (f.path.as_str(), f)).collect();
    let new: BTreeMap<&str, &SourceFile> = new.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut paths: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    let mut files = Vec::new();
    let (mut insertions, mut deletions) = (0, 0);
    let mut patch = String::new();
    for path in paths {
        let (before, after) = (old.get(path).copied(), new.get(path).copied());
        let change = match (before, after) {
            (None, Some(_)) => "added",
            (Some(_), None) => "deleted",
            (Some(a), Some(b)) if a.content == b.content && a.executable == b.executable => {
                continue;
            }
            _ => "modified",
        };
        let binary = before.is_some_and(|f| !is_text(f)) || after.is_some_and(|f| !is_text(f));
        let old_name = if before.is_some() {
            format!("a/{path}")
        } else {
            "/dev/null".to_string()
        };
        let new_name = if after.is_some() {
            format!("b/{path}")
        } else {
            "/dev/null".to_string()
        };
        let mut text = format!("diff --git a/{path} b/{path}\n");
        let mode = |f: &SourceFile| if f.executable { "100755" } else { "100644" };
        match (before, after) {
            (None, Some(b)) => text.push_str(&format!("new file mode {}\n", mode(b))),
            (Some(a), None) => text.push_str(&format!("deleted file mode {}\n", mode(a))),
            (Some(a), Some(b)) if a.executable != b.executable => {
                text.push_str(&format!("old mode {}\nnew mode {}\n", mode(a), mode(b)));
            }
            _ => {}
        }
        let mut body = String::new();
        if binary {
            if before.map(|f| &f.content) != after.map(|f| &f.content) {
                body = format!("Binary files {old_name} and {new_name} differ\n");
            }
        } else {
            let a = before
                .map(|f| String::from_utf8_lossy(&f.content).into_owned())
                .unwrap_or_default();
            let b = after
                .map(|f| String::from_utf8_lossy(&f.content).into_owned())
                .unwrap_or_default();
            let diff = TextDiff::from_lines(&a, &b);
            for change in diff.iter_all_changes() {
                match change.tag() {
                    ChangeTag::Insert => insertions += 1,
                    ChangeTag::Delete => deletions += 1,
                    ChangeTag::Equal => {}
                }
            }
            if a != b {
                body = diff
                    .unified_diff()
                    .context_radius(3)
                    .header(&old_name, &new_name)
                    .to_string();
            }
        }
        text.push_str(&body);
        patch.push_str(&text);
        files.push(FileDiff {
            path: path.to_string(),
            change: change.to_string(),
            binary,
            diff: if binary { String::new() } else { body },
        });
    }
    DiffView {
        template_id: template_id.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        files_changed: files.len(),
        insertions,
        deletions,
        files,
        patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_changes_are_unified_diffs_and_binaries_are_named() {
        let old = vec![
            SourceFile::new("a.txt", "one\ntwo\n"),
            SourceFile::new("gone.txt", "bye\n"),
            SourceFile::new("img.png", vec![0x89, b'P', b'N', b'G', 0, 1]),
        ];
        let new = vec![
            SourceFile::new("a.txt", "one\nthree\n"),
            SourceFile::new("img.png", vec![0x89, b'P', b'N', b'G', 0, 2]),
            SourceFile::new("new.txt", "hi\n"),
        ];
        let d = diff_files("t", "c1", "c2", &old, &new);
        assert_eq!(d.files_changed, 4);
        assert_eq!((d.insertions, d.deletions), (2, 2));
        let a = d.files.iter().find(|f| f.path == "a.txt").unwrap();
        assert!(a.diff.contains("--- a/a.txt\n+++ b/a.txt\n"), "{}", a.diff);
        assert!(a.diff.contains("-two\n+three\n"));
        assert!(
            d.patch
                .contains("Binary files a/img.png and b/img.png differ")
        );
        assert!(d.patch.contains("--- /dev/null\n+++ b/new.txt"));
        assert_eq!(
            d.files
                .iter()
                .find(|f| f.path == "gone.txt")
                .unwrap()
                .change,
            "deleted"
        );
    }
}

//! Unified diffs: writing one for a patch, reading a commit's diff for evidence.

/// `new` against `old` as a unified diff with `a/path` / `b/path` headers (3 lines of context).
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// One file of a commit's diff: its path (the new one; the old one for a deletion) and the
/// removed and added lines, without their `-` / `+`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangedFile {
    pub path: String,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

fn strip_prefix(p: &str) -> &str {
    let p = p.split('\t').next().unwrap_or(p).trim();
    p.strip_prefix("a/")
        .or_else(|| p.strip_prefix("b/"))
        .unwrap_or(p)
}

/// The files of a unified (git) diff with their removed and added lines. Lines outside a
/// file section are ignored; an empty or unreadable diff gives no files.
pub fn changed_files(diff: &str) -> Vec<ChangedFile> {
    let mut files: Vec<ChangedFile> = Vec::new();
    let mut old_path: Option<String> = None;
    let mut in_hunk = false;
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            in_hunk = false;
            old_path = None;
            // `diff --git a/x b/x`: the b side, until `+++` says otherwise.
            let path = rest
                .rsplit_once(" b/")
                .map(|(_, b)| b.to_string())
                .unwrap_or_else(|| rest.to_string());
            files.push(ChangedFile {
                path,
                ..ChangedFile::default()
            });
        } else if let Some(rest) = line.strip_prefix("--- ") {
            if in_hunk && files.last().is_some() && !rest.starts_with("a/") && rest != "/dev/null" {
                // A removed line that starts with "-- ".
                if let Some(f) = files.last_mut() {
                    f.removed.push(line[1..].to_string());
                }
                continue;
            }
            in_hunk = false;
            old_path = Some(strip_prefix(rest).to_string());
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            if in_hunk && !rest.starts_with("b/") && rest != "/dev/null" {
                if let Some(f) = files.last_mut() {
                    f.added.push(line[1..].to_string());
                }
                continue;
            }
            in_hunk = false;
            let new_path = strip_prefix(rest).to_string();
            let path = if new_path == "/dev/null" {
                old_path.clone().unwrap_or_default()
            } else {
                new_path
            };
            match files.last_mut() {
                Some(f) if f.removed.is_empty() && f.added.is_empty() => f.path = path,
                _ => files.push(ChangedFile {
                    path,
                    ..ChangedFile::default()
                }),
            }
        } else if line.starts_with("@@") {
            in_hunk = true;
        } else if in_hunk && let Some(f) = files.last_mut() {
            if let Some(r) = line.strip_prefix('-') {
                f.removed.push(r.to_string());
            } else if let Some(a) = line.strip_prefix('+') {
                f.added.push(a.to_string());
            }
        }
    }
    files.retain(|f| !f.path.is_empty());
    files
}

/// Identifier-like words of a line (letters, digits, `_`, `$`), in order.
pub(super) fn words(line: &str) -> Vec<&str> {
    line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Replaces every whole-word occurrence of `from` in `text` with `to`; returns the new text
/// and the number of replacements.
pub(super) fn replace_word(text: &str, from: &str, to: &str) -> (String, usize) {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back().or(prev);
        let after = rest[i + from.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_none_or(|c| !is_word(c)) && after.is_none_or(|c| !is_word(c)) {
            out.push_str(to);
            count += 1;
        } else {
            out.push_str(from);
        }
        prev = from.chars().next_back();
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_git_diff() {
        let diff = "diff --git a/src/cart.py b/src/cart.py\nindex 1..2 100644\n--- a/src/cart.py\n+++ b/src/cart.py\n@@ -1,3 +1,3 @@\n-def totl(items):\n+def total(items):\n     return sum(items)\n--- removed dashes\ndiff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n";
        let files = changed_files(diff);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "src/cart.py");
        assert_eq!(
            files[0].removed,
            vec!["def totl(items):", "-- removed dashes"]
        );
        assert_eq!(files[0].added, vec!["def total(items):"]);
        assert_eq!(files[1].path, "new.txt");
        assert_eq!(files[1].added, vec!["hello"]);
        assert!(changed_files("").is_empty());
        assert!(changed_files("not a diff\n+x\n").is_empty());
    }

    #[test]
    fn writes_a_unified_diff() {
        let d = unified_diff("t.py", "a\nb\n", "a\nc\n");
        assert!(
            d.starts_with("--- a/t.py\n+++ b/t.py\n@@ -1,2 +1,2 @@\n"),
            "{d}"
        );
        assert!(d.contains("-b\n+c\n"), "{d}");
    }

    #[test]
    fn replaces_whole_words_only() {
        assert_eq!(
            replace_word("totl(x) + totals + my_totl + totl", "totl", "total"),
            ("total(x) + totals + my_totl + total".to_string(), 2)
        );
        assert_eq!(words("cart.totl(1, b_2)"), vec!["cart", "totl", "1", "b_2"]);
    }
}

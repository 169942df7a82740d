//! Snapshot update: a reviewable patch that replaces the stored snapshot with the received
//! value — only when the commit under test changed code the test uses and nothing else failed
//! in the run. Readers: insta (a pending `.snap.new` beside the `.snap`), Jest (the
//! `- Snapshot / + Received` diff of the failure applied to the `exports[…]` entry of the
//! `.snap` file) and syrupy (the `[+ received] == [- snapshot]` diff applied to the `# name:`
//! entry of the `.ambr` file). Marked `may_mask_regression`: a person reviews the new snapshot.

use super::*;

fn is_snapshot_path(p: &str) -> bool {
    p.ends_with(".snap")
        || p.ends_with(".snap.new")
        || p.ends_with(".ambr")
        || p.contains("__snapshots__/")
}

fn is_doc_path(p: &str) -> bool {
    let lower = p.to_ascii_lowercase();
    [".md", ".rst", ".txt", ".adoc"]
        .iter()
        .any(|ext| lower.ends_with(ext))
        || lower.starts_with("docs/")
}

/// Diff lines of a failure: (' ' | '-' | '+' | '@', content).
fn jest_ops(text: &str) -> Option<Vec<(char, String)>> {
    let mut lines = text.lines();
    lines.find(|l| l.starts_with("- Snapshot"))?;
    let received = lines.next()?;
    if !received.starts_with("+ Received") {
        return None;
    }
    let mut ops = Vec::new();
    let mut started = false;
    for l in lines {
        if !started && l.is_empty() {
            started = true;
            continue;
        }
        started = true;
        if l.starts_with("    at ") || l.trim_start().starts_with("at ") && l.contains('(') {
            break;
        }
        if l.starts_with("@@") {
            ops.push(('@', String::new()));
            continue;
        }
        let (c, rest) = match l.chars().next() {
            Some('-') => ('-', &l[1..]),
            Some('+') => ('+', &l[1..]),
            Some(' ') => (' ', &l[1..]),
            None => (' ', ""),
            _ => break,
        };
        ops.push((c, rest.strip_prefix(' ').unwrap_or(rest).to_string()));
    }
    while ops.last().is_some_and(|(c, s)| *c == ' ' && s.is_empty()) {
        ops.pop();
    }
    (!ops.is_empty()).then_some(ops)
}

/// syrupy: the lines after `[+ received] == [- snapshot]`, in the failure message
/// (`  - old` / `  + new` / `    same`) or in pytest's body (the same behind `E      `).
fn syrupy_ops(text: &str) -> Option<Vec<(char, String)>> {
    const MARK: &str = "[+ received] == [- snapshot]";
    let lines: Vec<&str> = text.lines().collect();
    for (i, marker) in lines.iter().enumerate() {
        if !marker.contains(MARK) {
            continue;
        }
        let pytest_body = marker.trim_start().starts_with('E');
        let mut ops = Vec::new();
        for l in &lines[i + 1..] {
            let rest = if pytest_body {
                match l.strip_prefix('E') {
                    Some(r) => r.strip_prefix("       ").unwrap_or(r),
                    None => break,
                }
            } else {
                l
            };
            let Some(rest) = rest.strip_prefix("  ") else {
                break;
            };
            let (c, content) = match rest.chars().next() {
                Some('-') => ('-', &rest[1..]),
                Some('+') => ('+', &rest[1..]),
                Some(' ') => (' ', &rest[1..]),
                _ => break,
            };
            if content.trim() == "..." {
                ops.push(('@', String::new()));
                continue;
            }
            ops.push((c, content.strip_prefix(' ').unwrap_or(content).to_string()));
        }
        if !ops.is_empty() {
            return Some(ops);
        }
    }
    None
}

/// Applies diff hunks to `lines` (each hunk's old side must occur exactly once); `indent` is
/// prefixed to the diff's lines to match the stored form.
fn apply(lines: &[String], ops: &[(char, String)], indent: &str) -> Option<Vec<String>> {
    let mut out = lines.to_vec();
    for hunk in ops.split(|(c, _)| *c == '@') {
        if hunk.is_empty() {
            continue;
        }
        let line = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{indent}{s}")
            }
        };
        let old: Vec<String> = hunk
            .iter()
            .filter(|(c, _)| *c != '+')
            .map(|(_, s)| line(s))
            .collect();
        let new: Vec<String> = hunk
            .iter()
            .filter(|(c, _)| *c != '-')
            .map(|(_, s)| line(s))
            .collect();
        if old == new {
            // Context only (syrupy prints the closing lines after `...`).
            continue;
        }
        if old.is_empty() {
            return None;
        }
        let at: Vec<usize> = (0..=out.len().saturating_sub(old.len()))
            .filter(|i| out.len() >= old.len() && out[*i..*i + old.len()] == old[..])
            .collect();
        let [i] = at.as_slice() else {
            return None;
        };
        out.splice(*i..*i + old.len(), new);
    }
    Some(out)
}

/// Replaces the lines `start..end` of `text` (split on '\n') with `new`.
fn splice_lines(text: &str, start: usize, end: usize, new: &[String]) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<String> = lines[..start].iter().map(|s| s.to_string()).collect();
    out.extend(new.iter().cloned());
    out.extend(lines[end..].iter().map(|s| s.to_string()));
    out.join("\n")
}

/// The entry's body lines `(start, end)` (exclusive) in a Jest `.snap` file.
fn jest_entry(text: &str, name: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let head = format!("exports[`{name}`] = `");
    let start = lines.iter().position(|l| l.starts_with(&head))?;
    if lines[start] != head {
        return None; // one-line entries are not read
    }
    let end = (start + 1..lines.len()).find(|i| lines[*i] == "`;")?;
    Some((start + 1, end))
}

/// The entry's body lines `(start, end)` in a syrupy `.ambr` file.
fn ambr_entry(text: &str, name: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let head = format!("# name: {name}");
    let start = lines.iter().position(|l| *l == head)?;
    let end = (start + 1..lines.len()).find(|i| lines[*i] == "# ---")?;
    Some((start + 1, end))
}

/// The new text of a stored snapshot file, and which reader produced it.
fn updated(inputs: &Inputs) -> Result<(&SourceFile, String, &'static str), String> {
    // insta: the pending `.snap.new` written by the failing run.
    let pending: Vec<&SourceFile> = inputs
        .files
        .iter()
        .filter(|f| f.path.ends_with(".snap.new"))
        .collect();
    if let [new] = pending.as_slice() {
        let stored_path = new.path.trim_end_matches(".new");
        let stored = inputs
            .file(stored_path)
            .ok_or_else(|| format!("{} has no stored {stored_path}", new.path))?;
        let body = |t: &str| -> Option<usize> {
            // Header: `---` … `---`; the body starts after the second `---` line.
            let mut seen = 0;
            let mut offset = 0;
            for l in t.split_inclusive('\n') {
                offset += l.len();
                if l.trim_end() == "---" {
                    seen += 1;
                    if seen == 2 {
                        return Some(offset);
                    }
                }
            }
            None
        };
        let (Some(ob), Some(nb)) = (body(&stored.text), body(&new.text)) else {
            return Err(format!("{stored_path} is not an insta snapshot"));
        };
        let text = format!("{}{}", &stored.text[..ob], &new.text[nb..]);
        return Ok((stored, text, "insta"));
    }
    let evidence = inputs.evidence_text();
    if let Some(ops) = jest_ops(&evidence) {
        let name = evidence
            .lines()
            .find_map(|l| l.strip_prefix("Snapshot name: `"))
            .and_then(|l| l.strip_suffix('`'))
            .ok_or("the failure names no snapshot")?;
        for f in inputs.files.iter().filter(|f| f.path.ends_with(".snap")) {
            if let Some((s, e)) = jest_entry(&f.text, name) {
                let lines: Vec<String> = f.text.split('\n').map(str::to_string).collect();
                if lines[s..e].iter().any(|l| l.contains('\\')) {
                    return Err(format!("the entry `{name}` holds escapes; not rewritten"));
                }
                let new = apply(&lines[s..e], &ops, "").ok_or_else(|| {
                    format!(
                        "the failure's diff does not apply to `{name}` in {}",
                        f.path
                    )
                })?;
                return Ok((f, splice_lines(&f.text, s, e, &new), "jest"));
            }
        }
        return Err(format!("no stored .snap file holds `{name}`"));
    }
    if let Some(ops) = syrupy_ops(&evidence) {
        let name = inputs.test_name.as_str();
        for f in inputs.files.iter().filter(|f| f.path.ends_with(".ambr")) {
            if let Some((s, e)) = ambr_entry(&f.text, name) {
                let lines: Vec<String> = f.text.split('\n').map(str::to_string).collect();
                let new = apply(&lines[s..e], &ops, "  ")
                    .or_else(|| apply(&lines[s..e], &ops, ""))
                    .ok_or_else(|| {
                        format!(
                            "the failure's diff does not apply to `{name}` in {}",
                            f.path
                        )
                    })?;
                return Ok((f, splice_lines(&f.text, s, e, &new), "syrupy"));
            }
        }
        return Err(format!("no stored .ambr file holds `{name}`"));
    }
    Err("no stored snapshot with a received value to replace it (insta .snap.new, Jest or syrupy diff)".into())
}

pub(super) fn propose(inputs: &Inputs, _tuning: &Tuning) -> Option<Proposal> {
    if inputs.category() != Some(Category::Snapshot) {
        return None;
    }
    let name = StrategyName::Snapshot;
    let abstain = |reason: String, ev: Vec<String>| Some(Proposal::abstain(name, reason, ev));
    let mut evidence = Vec::new();
    if inputs.other_failures_in_run > 0 {
        return abstain(
            format!(
                "{} other test(s) failed in the same run: the snapshot change may be part of a regression",
                inputs.other_failures_in_run
            ),
            evidence,
        );
    }
    if inputs.commit_diff.trim().is_empty() {
        return abstain(
            "no commit diff: cannot tell an intended output change from a regression".into(),
            evidence,
        );
    }
    let code: Vec<String> = changed_files(&inputs.commit_diff)
        .into_iter()
        .map(|f| f.path)
        .filter(|p| !is_test_path(p) && !is_snapshot_path(p) && !is_doc_path(p))
        .collect();
    if code.is_empty() {
        return abstain("the commit changed no code under test".into(), evidence);
    }
    // When the test's source is known, the changed code must be something it uses.
    let used: Vec<&String> = match inputs.test_source() {
        Some(test) => code
            .iter()
            .filter(|p| {
                let file = p.rsplit('/').next().unwrap_or(p);
                let stem = file.split('.').next().unwrap_or(file);
                // A crate or package root (`src/lib.rs`, `index.js`, `__init__.py`) has no
                // name of its own to look for: a test importing the package uses it.
                matches!(stem, "lib" | "main" | "mod" | "index" | "__init__")
                    || !stem.is_empty() && super::diff::words(&test.text).contains(&stem)
            })
            .collect(),
        None => code.iter().collect(),
    };
    if used.is_empty() {
        return abstain(
            format!(
                "the commit changed {}, which the test does not use",
                code.join(", ")
            ),
            evidence,
        );
    }
    evidence.push(format!(
        "the commit changed code under test: {}",
        used.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    match updated(inputs) {
        Ok((file, text, reader)) => {
            if text == file.text {
                return abstain(
                    "the received value equals the stored snapshot".into(),
                    evidence,
                );
            }
            evidence.push(format!("{reader} snapshot {}", file.path));
            Some(Proposal::patch(
                name,
                file_patch(file, &text),
                0.7,
                evidence,
                Risk::MayMaskRegression,
            ))
        }
        Err(reason) => abstain(reason, evidence),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    const JEST_FAILURE: &str = "Error: expect(received).toMatchSnapshot()\n\nSnapshot name: `Cart matches the snapshot 1`\n\n- Snapshot  - 1\n+ Received  + 1\n\n  {\n-   \"total\": 3,\n+   \"total\": 2,\n  }\n    at Object.toMatchSnapshot (/tmp/x/cart.test.js:22:71)";
    const SNAP: &str = "// Jest Snapshot v1, https://jestjs.io/docs/snapshot-testing\n\nexports[`Cart matches the snapshot 1`] = `\n{\n  \"total\": 3,\n}\n`;\n";
    const DIFF: &str = "--- a/cart.js\n+++ b/cart.js\n@@ -1 +1 @@\n-const total = (xs) => xs.reduce((a, b) => a + b, 1);\n+const total = (xs) => xs.reduce((a, b) => a + b, 0);\n";

    fn jest() -> Inputs {
        let mut i = failing("", JEST_FAILURE);
        i.test_file = Some("cart.test.js".into());
        i.files = vec![
            file("cart.test.js", "const { total } = require('./cart');\n"),
            file("__snapshots__/cart.test.js.snap", SNAP),
        ];
        i.commit_diff = DIFF.into();
        i
    }

    #[test]
    fn updates_a_jest_snapshot_when_the_code_under_test_changed() {
        let p = propose(&jest(), &Tuning::default()).unwrap();
        assert_eq!(p.action, Action::Patch, "{p:?}");
        assert_eq!(p.risk, Risk::MayMaskRegression);
        let d = p.patch.unwrap().diff;
        assert!(d.contains("-  \"total\": 3,\n+  \"total\": 2,\n"), "{d}");
    }

    #[test]
    fn abstains_when_other_tests_failed_or_unrelated_code_changed() {
        let mut i = jest();
        i.other_failures_in_run = 2;
        assert!(propose(&i, &Tuning::default()).unwrap().is_abstain());
        let mut i = jest();
        i.commit_diff = "--- a/docs/x.md\n+++ b/docs/x.md\n@@ -1 +1 @@\n-a\n+b\n".into();
        assert!(propose(&i, &Tuning::default()).unwrap().is_abstain());
        let mut i = jest();
        i.commit_diff = "--- a/billing.js\n+++ b/billing.js\n@@ -1 +1 @@\n-a\n+b\n".into();
        let p = propose(&i, &Tuning::default()).unwrap();
        assert!(p.abstain_reason.unwrap().contains("does not use"));
    }

    #[test]
    fn updates_an_insta_snapshot_from_its_pending_file() {
        let mut i = failing(
            "insta: snapshot assertion for 'render' failed in line 12",
            "",
        );
        i.test_file = Some("tests/render.rs".into());
        i.files = vec![
            file("tests/render.rs", "use shop::render;\n"),
            file(
                "tests/snapshots/render__render.snap",
                "---\nsource: tests/render.rs\nexpression: out\n---\nold\n",
            ),
            file(
                "tests/snapshots/render__render.snap.new",
                "---\nsource: tests/render.rs\nassertion_line: 12\nexpression: out\n---\nnew\n",
            ),
        ];
        i.commit_diff = "--- a/src/render.rs\n+++ b/src/render.rs\n@@ -1 +1 @@\n-a\n+b\n".into();
        let p = propose(&i, &Tuning::default()).unwrap();
        assert_eq!(p.action, Action::Patch, "{p:?}");
        let patch = p.patch.unwrap();
        assert_eq!(patch.path, "tests/snapshots/render__render.snap");
        assert!(patch.diff.contains("-old\n+new\n"), "{}", patch.diff);
        assert!(!patch.diff.contains("assertion_line"));
    }

    #[test]
    fn reads_syrupy_diffs_from_the_message_too() {
        let ops = syrupy_ops("AssertionError: assert [+ received] == [- snapshot]\n    dict({\n  -   'currency': 'EUR',\n  +   'currency': 'USD',\n      'lines': 2,\n     ...\n    })\nE       more").unwrap();
        assert_eq!(ops[0], (' ', "dict({".to_string()));
        assert_eq!(ops[1], ('-', "  'currency': 'EUR',".to_string()));
        assert_eq!(ops[4].0, '@');
    }

    #[test]
    fn applies_syrupy_diffs() {
        let ops = syrupy_ops("E       AssertionError: assert [+ received] == [- snapshot]\nE         - 'Hello Bob'\nE         + 'Hi Bob'\n\ntests/test_x.py:3: AssertionError").unwrap();
        let lines = vec!["  'Hello Bob'".to_string()];
        assert_eq!(
            apply(&lines, &ops, "  "),
            Some(vec!["  'Hi Bob'".to_string()])
        );
        // As pytest + syrupy 7 print a dict, with `...` between hunks.
        let ops = syrupy_ops("E       AssertionError: assert [+ received] == [- snapshot]\nE           dict({\nE         -   'currency': 'EUR',\nE         +   'currency': 'USD',\nE             'lines': 2,\nE            ...\nE           })\n\ntests/test_receipt.py:5: AssertionError").unwrap();
        let stored: Vec<String> = [
            "  dict({",
            "    'currency': 'EUR',",
            "    'lines': 2,",
            "    'total': 3,",
            "  })",
        ]
        .map(String::from)
        .to_vec();
        let new = apply(&stored, &ops, "  ").unwrap();
        assert_eq!(new[1], "    'currency': 'USD',");
        assert_eq!(new.len(), 5);
    }
}

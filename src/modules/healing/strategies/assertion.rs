//! Assertion expected-value update: replace exactly one literal — the expected value — in the
//! failing assertion line of the test file with the observed value. Always
//! `may_mask_regression` (it needs approval). Abstains on floats without a tolerance, on
//! collections, on several candidate literals, and when the commit diff does not show the
//! behaviour change on purpose: the observed value's new words must appear in lines the
//! commit added to code under test, and the expected value's old words in lines it removed
//! (a logic slip such as `a + b` → `a - b` gives neither, so a planted regression is not
//! "healed").

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::diff::words;
use super::*;

/// `path:line` in a stack trace or panic message (pytest, jest, Rust, Java).
static LOCATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([\w./\\-]+\.(?:py|js|jsx|ts|tsx|mjs|cjs|rs|java|kt|go|rb)):(\d+)")
        .expect("a valid built-in pattern")
});
static TOLERANCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"approx|toBeCloseTo|isCloseTo|assert_relative_eq|assert_abs_diff_eq|within\(|offset\(|delta|epsilon|assertAlmostEqual|isclose")
        .expect("a valid built-in pattern")
});

/// A literal as written in source: the text between quotes, or a bare number/keyword.
#[derive(Debug, PartialEq)]
enum Literal {
    Str(String),
    Bare(String),
}

fn literal(raw: &str) -> Literal {
    let t = raw.trim();
    for q in ['"', '\'', '`'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return Literal::Str(t[1..t.len() - 1].to_string());
        }
    }
    if t.parse::<f64>().is_ok()
        || matches!(
            t,
            "true" | "false" | "True" | "False" | "None" | "null" | "undefined" | "nil"
        )
    {
        Literal::Bare(t.to_string())
    } else {
        // JUnit 4 prints strings without quotes.
        Literal::Str(t.to_string())
    }
}

fn is_float(raw: &str) -> bool {
    let t = raw.trim();
    t.parse::<f64>().is_ok() && (t.contains('.') || t.contains('e') || t.contains('E'))
}

fn is_collection(raw: &str) -> bool {
    let t = raw.trim();
    t.starts_with('[')
        || t.starts_with('{')
        || t.starts_with('(')
        || t.starts_with("Array [")
        || t.starts_with("Object {")
        || t.starts_with("vec!")
        || t.contains('\n')
}

/// Byte ranges of `lit` as a whole literal in `line`.
fn occurrences(line: &str, lit: &Literal) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    match lit {
        Literal::Str(s) => {
            for q in ['"', '\'', '`'] {
                let needle = format!("{q}{s}{q}");
                let mut from = 0;
                while let Some(i) = line[from..].find(&needle) {
                    let start = from + i + 1;
                    out.push((start, start + s.len()));
                    from = start + s.len() + 1;
                }
            }
        }
        Literal::Bare(s) => {
            let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
            let mut from = 0;
            while let Some(i) = line[from..].find(s.as_str()) {
                let start = from + i;
                let end = start + s.len();
                let before = line[..start].chars().next_back();
                let after = line[end..].chars().next();
                if before.is_none_or(|c| !is_word(c)) && after.is_none_or(|c| !is_word(c)) {
                    out.push((start, end));
                }
                from = end;
            }
        }
    }
    out.sort_unstable();
    out
}

fn content(lit: &Literal) -> &str {
    match lit {
        Literal::Str(s) | Literal::Bare(s) => s,
    }
}

pub(super) fn propose(inputs: &Inputs, _tuning: &Tuning) -> Option<Proposal> {
    let c = inputs.classification.as_ref()?;
    if c.category != Category::Assertion {
        return None;
    }
    let name = StrategyName::Assertion;
    let abstain = |reason: String, ev: Vec<String>| Some(Proposal::abstain(name, reason, ev));
    let (Some(expected), Some(actual)) = (c.expected.as_deref(), c.actual.as_deref()) else {
        return abstain(
            "the failure message gives no expected and observed values".into(),
            c.evidence.clone(),
        );
    };
    let mut evidence = vec![format!("expected {expected}, observed {actual}")];
    if is_collection(expected) || is_collection(actual) {
        return abstain(
            "the values are collections: one literal cannot be replaced safely".into(),
            evidence,
        );
    }
    let Some(test) = inputs.test_source() else {
        return abstain("the test's source file is not available".into(), evidence);
    };
    // The failing line: the first stack location inside the test file.
    let file_name = test.path.rsplit('/').next().unwrap_or(&test.path);
    let text = inputs.evidence_text();
    let line_no = LOCATION
        .captures_iter(&text)
        .filter(|m| {
            let p = m[1].replace('\\', "/");
            p == test.path || p.ends_with(&format!("/{file_name}")) || p == file_name
        })
        .filter_map(|m| m[2].parse::<usize>().ok())
        .find(|n| *n >= 1 && *n <= test.text.lines().count());
    let exp = literal(expected);
    let act = literal(actual);
    let lines: Vec<&str> = test.text.lines().collect();
    let idx = match line_no {
        Some(n) => n - 1,
        None => {
            let hits: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| {
                    l.contains("assert") || l.contains("expect") || l.contains("Equal")
                })
                .filter(|(_, l)| !occurrences(l, &exp).is_empty())
                .map(|(i, _)| i)
                .collect();
            match hits.as_slice() {
                [one] => *one,
                [] => {
                    return abstain(
                        format!(
                            "no assertion line in {} holds the expected value",
                            test.path
                        ),
                        evidence,
                    );
                }
                _ => {
                    return abstain(
                        format!(
                            "several assertion lines in {} hold the expected value",
                            test.path
                        ),
                        evidence,
                    );
                }
            }
        }
    };
    let line = lines[idx];
    evidence.push(format!("{}:{}: {}", test.path, idx + 1, line.trim()));
    if (is_float(expected) || is_float(actual)) && !TOLERANCE.is_match(line) {
        return abstain(
            "floating-point values compared without a tolerance".into(),
            evidence,
        );
    }
    let hits = occurrences(line, &exp);
    if hits.len() != 1 {
        return abstain(
            format!(
                "{} candidate literals for the expected value on the failing line",
                hits.len()
            ),
            evidence,
        );
    }
    if matches!(exp, Literal::Str(_)) != matches!(act, Literal::Str(_)) {
        return abstain(
            "the observed value is of another kind than the expected one".into(),
            evidence,
        );
    }
    let new_content = content(&act);
    if new_content.contains(['"', '\'', '`', '\\', '\n']) {
        return abstain(
            "the observed value would need escaping in source".into(),
            evidence,
        );
    }

    // The commit must show the change of behaviour on purpose.
    let changed: Vec<ChangedFile> = changed_files(&inputs.commit_diff)
        .into_iter()
        .filter(|f| !is_test_path(&f.path))
        .collect();
    if changed.is_empty() {
        return abstain(
            "the commit changed no code under test: the failure may be a regression".into(),
            evidence,
        );
    }
    let exp_words: BTreeSet<&str> = words(content(&exp)).into_iter().collect();
    let act_words: BTreeSet<&str> = words(new_content).into_iter().collect();
    let added: BTreeSet<&str> = changed
        .iter()
        .flat_map(|f| f.added.iter().flat_map(|l| words(l)))
        .collect();
    let removed: BTreeSet<&str> = changed
        .iter()
        .flat_map(|f| f.removed.iter().flat_map(|l| words(l)))
        .collect();
    let new_words: Vec<&str> = act_words.difference(&exp_words).copied().collect();
    let old_words: Vec<&str> = exp_words.difference(&act_words).copied().collect();
    let intended = !new_words.is_empty()
        && new_words.iter().all(|w| added.contains(w))
        && old_words.iter().all(|w| removed.contains(w));
    if !intended {
        return abstain(
            format!(
                "the commit diff does not show the value changing on purpose ({} not among its added lines): the failure may be a regression",
                new_words.join(", ")
            ),
            evidence,
        );
    }
    evidence.push(format!(
        "the commit added {} in {}",
        new_words.join(", "),
        changed
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let (start, end) = hits[0];
    let new_line = format!("{}{}{}", &line[..start], new_content, &line[end..]);
    let mut new_text = String::with_capacity(test.text.len() + new_content.len());
    for (i, l) in test.text.split_inclusive('\n').enumerate() {
        if i == idx {
            new_text.push_str(&new_line);
            if l.ends_with("\r\n") {
                new_text.push_str("\r\n");
            } else if l.ends_with('\n') {
                new_text.push('\n');
            }
        } else {
            new_text.push_str(l);
        }
    }
    Some(Proposal::patch(
        name,
        file_patch(test, &new_text),
        0.5,
        evidence,
        Risk::MayMaskRegression,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    const TEST: &str = "from cart import greet, total\n\ndef test_greet():\n    assert greet('Bob') == 'Hello Bob'\n\ndef test_total():\n    assert total([1, 2]) == 4\n";
    const GREETING_DIFF: &str = "--- a/cart.py\n+++ b/cart.py\n@@ -1,2 +1,2 @@\n def greet(name):\n-    return f'Hello {name}'\n+    return f'Hi {name}'\n";

    fn greet_failure() -> Inputs {
        let mut i = failing(
            "assert 'Hi Bob' == 'Hello Bob'",
            "tests/test_cart.py:4: AssertionError",
        );
        i.test_file = Some("tests/test_cart.py".into());
        i.files = vec![file("tests/test_cart.py", TEST)];
        i.commit_diff = GREETING_DIFF.into();
        i
    }

    #[test]
    fn replaces_the_expected_literal_when_the_commit_changed_it() {
        let p = propose(&greet_failure(), &Tuning::default()).unwrap();
        assert_eq!(p.action, Action::Patch, "{p:?}");
        assert_eq!(p.risk, Risk::MayMaskRegression);
        let patch = p.patch.unwrap();
        assert_eq!(patch.base_blob, "blob-of-tests/test_cart.py");
        assert!(
            patch.diff.contains(
                "-    assert greet('Bob') == 'Hello Bob'\n+    assert greet('Bob') == 'Hi Bob'\n"
            ),
            "{}",
            patch.diff
        );
    }

    #[test]
    fn a_logic_regression_is_not_healed() {
        let mut i = failing(
            "assert 0 == 4",
            "    def test_total():\n>       assert total([1, 2]) == 4\nE       assert 0 == 4\ntests/test_cart.py:7: AssertionError",
        );
        i.test_file = Some("tests/test_cart.py".into());
        i.files = vec![file("tests/test_cart.py", TEST)];
        i.commit_diff =
            "--- a/cart.py\n+++ b/cart.py\n@@ -1 +1 @@\n-    return a + b\n+    return a - b\n"
                .into();
        let p = propose(&i, &Tuning::default()).unwrap();
        assert_eq!(p.action, Action::Abstain);
        assert!(p.abstain_reason.unwrap().contains("regression"));
        i.commit_diff.clear();
        assert_eq!(
            propose(&i, &Tuning::default()).unwrap().action,
            Action::Abstain
        );
    }

    #[test]
    fn abstains_on_floats_collections_and_several_candidates() {
        let mut i = greet_failure();
        i.classification.as_mut().unwrap().expected = Some("0.3".into());
        i.classification.as_mut().unwrap().actual = Some("0.30000000000000004".into());
        i.files = vec![file(
            "tests/test_cart.py",
            "\n\n\n    assert add(0.1, 0.2) == 0.3\n",
        )];
        assert!(
            propose(&i, &Tuning::default())
                .unwrap()
                .abstain_reason
                .unwrap()
                .contains("floating")
        );
        let mut i = greet_failure();
        i.classification.as_mut().unwrap().actual = Some("[1, 2]".into());
        assert!(
            propose(&i, &Tuning::default())
                .unwrap()
                .abstain_reason
                .unwrap()
                .contains("collections")
        );
        let mut i = greet_failure();
        i.files = vec![file(
            "tests/test_cart.py",
            "\n\n\n    assert greet('Hello Bob') == 'Hello Bob'\n",
        )];
        assert!(
            propose(&i, &Tuning::default())
                .unwrap()
                .abstain_reason
                .unwrap()
                .contains("2 candidate")
        );
    }

    #[test]
    fn literals() {
        assert_eq!(literal("'x'"), Literal::Str("x".into()));
        assert_eq!(literal("42"), Literal::Bare("42".into()));
        assert_eq!(
            occurrences("x == 42 or 142", &Literal::Bare("42".into())).len(),
            1
        );
    }
}

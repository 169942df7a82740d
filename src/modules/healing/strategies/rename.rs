//! Renamed symbol: an unknown name in test code, renamed by the commit under test → the test
//! file with the old name replaced by the new one. Applied only when the commit diff shows
//! the rename (a removed line with the old name whose added twin has the new name in its
//! place) and, when the runtime suggested a name ("did you mean"), only when both agree.
//! Only test files are patched.

use std::collections::BTreeSet;

use super::diff::{replace_word, words};
use super::*;

/// New names the diff gives `old`: for a removed line holding `old`, an added line of the same
/// file whose words equal the removed line's with `old` replaced by one other word.
fn renames_in_diff(diff: &str, old: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in changed_files(diff) {
        for r in &f.removed {
            let rw = words(r);
            if !rw.contains(&old) {
                continue;
            }
            for a in &f.added {
                let aw = words(a);
                if aw.len() != rw.len() || aw.contains(&old) {
                    continue;
                }
                let mut new_name: Option<&str> = None;
                let same = rw.iter().zip(&aw).all(|(x, y)| {
                    if x == y {
                        true
                    } else if *x == old && new_name.is_none_or(|n| n == *y) {
                        new_name = Some(*y);
                        true
                    } else {
                        false
                    }
                });
                if let (true, Some(n)) = (same, new_name) {
                    out.insert(n.to_string());
                }
            }
        }
    }
    out
}

pub(super) fn propose(inputs: &Inputs, _tuning: &Tuning) -> Option<Proposal> {
    let c = inputs.classification.as_ref()?;
    if c.category != Category::UnknownSymbol {
        return None;
    }
    let name = StrategyName::Rename;
    let abstain = |reason: String, ev: Vec<String>| Some(Proposal::abstain(name, reason, ev));
    let Some(old) = c.subject.as_deref().filter(|s| !words(s).is_empty()) else {
        return abstain(
            "the failure names no unknown symbol".into(),
            c.evidence.clone(),
        );
    };
    // `module.name` style subjects: the last segment is what was renamed.
    let old = old.rsplit(['.', ':']).next().unwrap_or(old);
    let mut evidence = vec![format!("unknown symbol `{old}`")];
    if let Some(s) = &c.suggestion {
        evidence.push(format!("runtime suggests `{s}`"));
    }
    let candidates = renames_in_diff(&inputs.commit_diff, old);
    let new = match (c.suggestion.as_deref(), candidates.len()) {
        (_, 0) => {
            return abstain(
                format!("the commit diff shows no rename of `{old}`"),
                evidence,
            );
        }
        (Some(s), _) if candidates.contains(s) => s.to_string(),
        (Some(s), _) => {
            return abstain(
                format!(
                    "the runtime suggests `{s}` but the commit renamed `{old}` to {}",
                    candidates
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                evidence,
            );
        }
        (None, 1) => candidates.into_iter().next().unwrap_or_default(),
        (None, _) => {
            return abstain(
                format!("the commit diff renames `{old}` to several names"),
                evidence,
            );
        }
    };
    evidence.push(format!("the commit renamed `{old}` to `{new}`"));
    let Some(test) = inputs.test_source() else {
        return abstain("the test's source file is not available".into(), evidence);
    };
    if !is_test_path(&test.path) {
        return abstain(
            format!("{} is not test code; only test code is patched", test.path),
            evidence,
        );
    }
    let (new_text, count) = replace_word(&test.text, old, &new);
    if count == 0 {
        return abstain(format!("`{old}` does not occur in {}", test.path), evidence);
    }
    evidence.push(format!("{count} occurrence(s) in {}", test.path));
    Some(Proposal::patch(
        name,
        file_patch(test, &new_text),
        if c.suggestion.is_some() { 0.9 } else { 0.8 },
        evidence,
        Risk::None,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    const DIFF: &str = "diff --git a/shop/cart.py b/shop/cart.py\n--- a/shop/cart.py\n+++ b/shop/cart.py\n@@ -1,2 +1,2 @@\n-def totl(items):\n+def total(items):\n     return sum(items)\n";
    const TEST: &str =
        "from shop.cart import totl\n\ndef test_total():\n    assert totl([1, 2]) == 3\n";

    fn unknown(message: &str) -> Inputs {
        let mut i = failing(message, "");
        i.test_file = Some("tests/test_cart.py".into());
        i.files = vec![file("tests/test_cart.py", TEST)];
        i.commit_diff = DIFF.into();
        i
    }

    #[test]
    fn applies_the_rename_the_diff_shows() {
        let p = propose(
            &unknown("ImportError: cannot import name 'totl' from 'shop.cart'"),
            &Tuning::default(),
        )
        .unwrap();
        assert_eq!(p.action, Action::Patch, "{p:?}");
        let d = p.patch.unwrap().diff;
        assert!(d.contains("+from shop.cart import total\n"), "{d}");
        assert!(d.contains("+    assert total([1, 2]) == 3\n"), "{d}");
    }

    #[test]
    fn agrees_with_the_runtime_suggestion_or_abstains() {
        let ok = propose(
            &unknown("AttributeError: module 'shop.cart' has no attribute 'totl'. Did you mean: 'total'?"),
            &Tuning::default(),
        )
        .unwrap();
        assert_eq!((ok.action, ok.confidence), (Action::Patch, 0.9));
        let no = propose(
            &unknown(
                "AttributeError: module 'shop.cart' has no attribute 'totl'. Did you mean: 'tot'?",
            ),
            &Tuning::default(),
        )
        .unwrap();
        assert_eq!(no.action, Action::Abstain);
    }

    #[test]
    fn abstains_without_rename_evidence_or_outside_tests() {
        let mut i = unknown("NameError: name 'totl' is not defined");
        i.commit_diff = "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-a\n+b\n".into();
        let p = propose(&i, &Tuning::default()).unwrap();
        assert!(p.abstain_reason.unwrap().contains("no rename"));
        let mut i = unknown("NameError: name 'totl' is not defined");
        i.test_file = Some("shop/report.py".into());
        i.files = vec![file("shop/report.py", TEST)];
        let p = propose(&i, &Tuning::default()).unwrap();
        assert!(p.abstain_reason.unwrap().contains("not test code"));
    }
}

//! Flaky detection: a test that passed and failed on one commit (here or in its history), passed
//! on a retry, or flips beyond a threshold over a window is flaky → a quarantine proposal (it
//! keeps running, stops blocking). A test that failed every attempt at the head commit is
//! broken and is never quarantined.

use std::collections::BTreeMap;

use super::*;

pub(super) fn propose(inputs: &Inputs, tuning: &Tuning) -> Option<Proposal> {
    if inputs.classification.is_none() && inputs.evidence.is_empty() && inputs.history.is_empty() {
        return None;
    }
    let name = StrategyName::Flaky;
    if inputs.failed_every_attempt_at_head {
        return Some(Proposal::abstain(
            name,
            "broken: every attempt at the head commit failed; a broken test is never quarantined",
            vec!["failed_every_attempt_at_head".into()],
        ));
    }
    if inputs.category() == Some(Category::Environment) {
        return Some(Proposal::abstain(
            name,
            "environment failure (memory, disk, DNS): the runner needs fixing, not the test",
            vec![],
        ));
    }
    let mut evidence = Vec::new();
    let mut confidence: f64 = 0.0;

    // Passed on a retry within the failing run itself.
    let retried_here = inputs
        .evidence
        .iter()
        .filter(|e| e.kind.starts_with("flaky"))
        .count();
    if retried_here > 0 {
        evidence.push(format!(
            "failed {retried_here} time(s) then passed on a retry in this run"
        ));
        confidence = confidence.max(0.9);
    }

    // Pass and fail on one commit (the failing run counts as a failure on the head commit).
    let mut per_commit: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in &inputs.history {
        if let Some(sha) = s.commit_sha.as_deref() {
            let e = per_commit.entry(sha).or_default();
            if s.passed {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }
    if let Some(head) = inputs.head_commit.as_deref() {
        per_commit.entry(head).or_default().1 += 1;
    }
    for (sha, (passes, fails)) in &per_commit {
        if *passes > 0 && *fails > 0 {
            evidence.push(format!(
                "passed {passes} and failed {fails} time(s) on commit {sha}"
            ));
            confidence = confidence.max(0.9);
        }
    }

    // Passed only on a retry in earlier runs.
    let retried_before = inputs
        .history
        .iter()
        .filter(|s| s.passed && s.attempts > 1)
        .count();
    if retried_before > 0 {
        evidence.push(format!(
            "passed only on a retry in {retried_before} earlier run(s)"
        ));
        confidence = confidence.max(if retried_before > 1 { 0.8 } else { 0.7 });
    }

    // Flip rate over the newest window (the failing run included).
    let mut outcomes: Vec<bool> = inputs
        .history
        .iter()
        .rev()
        .take(tuning.flaky_window.saturating_sub(1))
        .rev()
        .map(|s| s.passed)
        .collect();
    outcomes.push(false);
    let flips = outcomes.windows(2).filter(|w| w[0] != w[1]).count();
    let rate = if outcomes.len() > 1 {
        flips as f64 / (outcomes.len() - 1) as f64
    } else {
        0.0
    };
    if outcomes.len() >= tuning.flaky_min_samples && rate >= tuning.flaky_flip_threshold {
        evidence.push(format!(
            "flip rate {rate:.2} over the last {} results (threshold {:.2})",
            outcomes.len(),
            tuning.flaky_flip_threshold
        ));
        confidence = confidence.max((0.6 + (rate - tuning.flaky_flip_threshold)).min(0.8));
    }

    if evidence.is_empty() {
        return Some(Proposal::abstain(
            name,
            format!(
                "no flakiness evidence: no pass and fail on one commit, no pass on a retry, flip rate {rate:.2} over {} results",
                outcomes.len()
            ),
            vec![],
        ));
    }
    Some(Proposal::config(
        name,
        Action::Quarantine,
        serde_json::json!({
            "quarantine": {
                "test_id": inputs.test_id,
                "expires_in_days": tuning.quarantine_days,
                "release_after_passes": tuning.unquarantine_after_passes,
            }
        }),
        confidence,
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn sample(passed: bool, sha: &str, attempts: i64) -> Sample {
        Sample {
            passed,
            timed_out: false,
            duration_ms: Some(10),
            commit_sha: Some(sha.into()),
            attempts,
        }
    }

    fn flaky(i: &Inputs) -> Proposal {
        propose(i, &Tuning::default()).expect("applies")
    }

    #[test]
    fn pass_and_fail_on_the_head_commit_is_quarantined() {
        let mut i = failing("AssertionError: boom", "");
        i.history = vec![sample(true, "old", 1), sample(true, "head", 1)];
        let p = flaky(&i);
        assert_eq!(p.action, Action::Quarantine);
        assert_eq!(p.risk, Risk::None);
        assert!(p.evidence[0].contains("commit head"), "{:?}", p.evidence);
        assert_eq!(p.config.unwrap()["quarantine"]["test_id"], "t1");
    }

    #[test]
    fn a_high_flip_rate_is_flaky_and_a_low_one_is_not() {
        let mut i = failing("AssertionError: boom", "");
        i.history = (0..12)
            .map(|n| sample(n % 3 != 0, &format!("c{n}"), 1))
            .collect();
        assert_eq!(flaky(&i).action, Action::Quarantine);
        i.history = (0..12).map(|n| sample(true, &format!("c{n}"), 1)).collect();
        let p = flaky(&i);
        assert_eq!(p.action, Action::Abstain);
        assert!(p.abstain_reason.unwrap().contains("no flakiness evidence"));
    }

    #[test]
    fn a_broken_test_is_never_quarantined_even_with_a_flaky_past() {
        let mut i = failing("AssertionError: boom", "");
        i.history = vec![sample(true, "head", 2), sample(false, "head", 1)];
        i.failed_every_attempt_at_head = true;
        let p = flaky(&i);
        assert_eq!(p.action, Action::Abstain);
        assert!(p.abstain_reason.unwrap().starts_with("broken"));
    }

    #[test]
    fn a_pass_on_retry_counts() {
        let mut i = failing("AssertionError: boom", "");
        i.history = vec![sample(true, "a", 2), sample(true, "b", 1)];
        assert_eq!(flaky(&i).action, Action::Quarantine);
        let mut j = failing("AssertionError: boom", "");
        j.evidence[0].kind = "flakyFailure".into();
        assert_eq!(flaky(&j).confidence, 0.9);
    }
}

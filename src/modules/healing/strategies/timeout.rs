//! Timeout adjustment: from at least `min_timeout_samples` passing durations (timed-out runs
//! are censored and never count), `T' = min(cap, bucket_up(max(1.5·p99, p50 + 6·MAD)))`.
//! Abstains when the newest passing runs are ≥ 2× slower than the older ones (a performance
//! regression to flag, not to hide), and when passing runs fit well inside the current limit
//! (raising it would not help: the run hung).

use super::*;

/// Limits a proposal rounds up to, in milliseconds.
const BUCKETS_MS: [i64; 16] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    900_000, 1_800_000, 3_600_000,
];

/// Nearest-rank percentile of sorted values (`q` in 0..=1).
pub(super) fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of values (the mean of the middle two for an even count).
pub(super) fn median(values: &[i64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2] as f64,
        n => (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0,
    }
}

fn bucket_up(ms: f64) -> Option<i64> {
    BUCKETS_MS.iter().copied().find(|b| *b as f64 >= ms)
}

pub(super) fn propose(inputs: &Inputs, tuning: &Tuning) -> Option<Proposal> {
    if inputs.category() != Some(Category::Timeout) {
        return None;
    }
    let name = StrategyName::Timeout;
    let censored = inputs.history.iter().filter(|s| s.timed_out).count();
    let durations: Vec<i64> = inputs
        .history
        .iter()
        .filter(|s| s.passed && !s.timed_out)
        .filter_map(|s| s.duration_ms)
        .filter(|d| *d >= 0)
        .collect();
    let mut evidence = vec![format!(
        "{} passing durations ({censored} timed-out runs excluded)",
        durations.len()
    )];
    if durations.len() < tuning.min_timeout_samples {
        return Some(Proposal::abstain(
            name,
            format!(
                "only {} passing durations in the history; {} are needed",
                durations.len(),
                tuning.min_timeout_samples
            ),
            evidence,
        ));
    }
    let window = tuning.timeout_recent_window.max(1);
    if durations.len() >= 2 * window {
        let (older, recent) = durations.split_at(durations.len() - window);
        let (m_old, m_new) = (median(older), median(recent));
        if m_old > 0.0 && m_new >= tuning.timeout_regression_ratio * m_old {
            evidence.push(format!(
                "performance regression: median of the last {window} passing runs {m_new:.0} ms vs {m_old:.0} ms before ({:.1}×)",
                m_new / m_old
            ));
            return Some(Proposal::abstain(
                name,
                "performance regression: the test got much slower; raising its limit would hide it",
                evidence,
            ));
        }
    }
    let mut sorted = durations.clone();
    sorted.sort_unstable();
    let p50 = median(&sorted);
    let p99 = percentile(&sorted, 0.99) as f64;
    let deviations: Vec<i64> = sorted
        .iter()
        .map(|d| (*d as f64 - p50).abs().round() as i64)
        .collect();
    let mad = median(&deviations);
    let needed = (1.5 * p99).max(p50 + 6.0 * mad);
    evidence.push(format!(
        "p50 {p50:.0} ms, p99 {p99:.0} ms, MAD {mad:.0} ms → needs {needed:.0} ms"
    ));
    let Some(limit) = bucket_up(needed).filter(|b| *b <= tuning.timeout_cap_ms) else {
        return Some(Proposal::abstain(
            name,
            format!(
                "passing runs need {needed:.0} ms, above the cap of {} ms",
                tuning.timeout_cap_ms
            ),
            evidence,
        ));
    };
    let current = inputs.classification.as_ref().and_then(|c| c.limit_ms);
    if let Some(current) = current {
        evidence.push(format!("current limit {current} ms"));
        if limit <= current {
            return Some(Proposal::abstain(
                name,
                format!(
                    "passing runs finish well within the current limit of {current} ms: raising it would not help (the run hung or regressed)"
                ),
                evidence,
            ));
        }
    }
    let confidence = if durations.len() >= 2 * tuning.min_timeout_samples {
        0.85
    } else {
        0.75
    };
    Some(Proposal::config(
        name,
        Action::ConfigChange,
        serde_json::json!({ "timeout_ms": limit, "previous_timeout_ms": current }),
        if current.is_some() {
            confidence
        } else {
            confidence - 0.1
        },
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn timed_out() -> Inputs {
        failing("thrown: \"Exceeded timeout of 200 ms for a test.\"", "")
    }

    #[test]
    fn stats() {
        assert_eq!(percentile(&[1, 2, 3, 4], 0.5), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 0.99), 4);
        assert_eq!(median(&[3, 1, 2]), 2.0);
        assert_eq!(median(&[4, 1, 2, 3]), 2.5);
        assert_eq!(bucket_up(201.0), Some(500));
    }

    #[test]
    fn raises_a_tight_limit_from_enough_passing_runs() {
        let mut i = timed_out();
        assert_eq!(i.classification.as_ref().unwrap().limit_ms, Some(200));
        i.history = (0..24).map(|n| pass(150 + n % 5 * 10)).collect();
        // Timed-out runs never count as samples.
        i.history.push(Sample {
            passed: false,
            timed_out: true,
            duration_ms: Some(100_000),
            commit_sha: None,
            attempts: 1,
        });
        let p = propose(&i, &Tuning::default()).unwrap();
        assert_eq!(p.action, Action::ConfigChange, "{p:?}");
        // p99 190 → 285 → bucket 500.
        assert_eq!(p.config.unwrap()["timeout_ms"], 500);
    }

    #[test]
    fn abstains_with_few_samples() {
        let mut i = timed_out();
        i.history = (0..19).map(|_| pass(150)).collect();
        let p = propose(&i, &Tuning::default()).unwrap();
        assert!(p.abstain_reason.unwrap().contains("only 19"));
    }

    #[test]
    fn abstains_when_the_test_hung() {
        let mut i = timed_out();
        i.history = (0..24).map(|_| pass(20)).collect();
        let p = propose(&i, &Tuning::default()).unwrap();
        assert!(p.abstain_reason.unwrap().contains("well within"));
    }

    #[test]
    fn flags_a_performance_regression() {
        let mut i = timed_out();
        i.history = (0..20).map(|_| pass(60)).collect();
        i.history.extend((0..5).map(|_| pass(150)));
        let p = propose(&i, &Tuning::default()).unwrap();
        assert_eq!(p.action, Action::Abstain);
        assert!(
            p.evidence
                .iter()
                .any(|e| e.starts_with("performance regression")),
            "{p:?}"
        );
    }

    #[test]
    fn does_not_apply_to_other_failures() {
        assert!(propose(&failing("AssertionError", ""), &Tuning::default()).is_none());
    }
}

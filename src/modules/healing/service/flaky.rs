//! Flaky detection over one project's recent window (`healing.flaky_window`). Evidence, not
//! flip counts alone (a regression flips once and stays red):
//! - a result folded as `flaky` (failed, then passed on a retry of the same run), or
//! - one commit with both a passing and a failing result (attempts that disagree).
//!
//! A test whose newest commit failed on every result there is `broken`, never `flaky`: it is
//! listed with that status so it is never quarantined as noise.
//!
//! Ingest notes which tests showed evidence (`shows_flakiness`), so the list reads only those
//! tests' windows: its cost follows the number of flaky tests, not the project's history.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};

use super::HealingService;
use crate::modules::healing::junit::Outcome;
use crate::modules::healing::model::{FlakyTest, TestView};
use crate::modules::healing::store::{self, WindowRow};
use crate::platform::auth::TenantId;
use crate::platform::http::error::ApiResult;
use crate::platform::http::pagination::{Page, PageQuery};

/// One test's figures over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct FlakyStat {
    pub test_id: String,
    pub runs: i64,
    pub failures: i64,
    pub flaky_results: i64,
    pub disagreeing_commits: i64,
    /// Pass↔fail changes between consecutive results ÷ (results − 1).
    pub flip_rate: f64,
    /// Every result of the newest commit failed.
    pub broken_at_head: bool,
    pub last_seen: NaiveDateTime,
}

fn passing(o: Outcome) -> bool {
    matches!(o, Outcome::Passed | Outcome::Flaky)
}

/// Whether a result, next to the earlier results of its test on the same commit, is flaky
/// evidence (a superset check: `detect` decides over the window). An earlier `flaky` result
/// needs no second look: it was evidence when it arrived.
pub fn shows_flakiness(incoming: Outcome, earlier_same_commit: &[Outcome]) -> bool {
    incoming == Outcome::Flaky
        || (incoming != Outcome::Skipped
            && earlier_same_commit
                .iter()
                .any(|o| *o != Outcome::Skipped && passing(*o) != passing(incoming)))
}

/// The tests with flaky evidence, most evidence first. `rows` are ordered oldest first.
pub fn detect(rows: &[WindowRow]) -> Vec<FlakyStat> {
    let mut by_test: HashMap<&str, Vec<&WindowRow>> = HashMap::new();
    for row in rows {
        by_test.entry(row.0.as_str()).or_default().push(row);
    }
    let mut out: Vec<FlakyStat> = by_test
        .into_iter()
        .filter_map(|(test_id, results)| {
            let outcomes: Vec<Outcome> = results
                .iter()
                .filter_map(|r| Outcome::parse(&r.2))
                .filter(|o| *o != Outcome::Skipped)
                .collect();
            let flaky_results = outcomes.iter().filter(|o| **o == Outcome::Flaky).count() as i64;
            let mut per_commit: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
            for r in &results {
                let (Some(sha), Some(o)) = (r.1.as_deref(), Outcome::parse(&r.2)) else {
                    continue;
                };
                let e = per_commit.entry(sha).or_default();
                e.0 |= passing(o);
                e.1 |= o.is_failing();
            }
            let disagreeing_commits = per_commit.values().filter(|(p, f)| *p && *f).count() as i64;
            if flaky_results == 0 && disagreeing_commits == 0 {
                return None;
            }
            let flips = outcomes
                .windows(2)
                .filter(|w| passing(w[0]) != passing(w[1]))
                .count();
            let flip_rate = if outcomes.len() > 1 {
                flips as f64 / (outcomes.len() - 1) as f64
            } else {
                0.0
            };
            let last = results.last()?;
            let head: Vec<Outcome> = results
                .iter()
                .filter(|r| r.1.is_some() && r.1 == last.1)
                .filter_map(|r| Outcome::parse(&r.2))
                .collect();
            let broken_at_head = !head.is_empty() && head.iter().all(|o| o.is_failing());
            Some(FlakyStat {
                test_id: test_id.to_string(),
                runs: outcomes.len() as i64,
                failures: outcomes.iter().filter(|o| o.is_failing()).count() as i64,
                flaky_results,
                disagreeing_commits,
                flip_rate,
                broken_at_head,
                last_seen: last.3,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (b.flaky_results + b.disagreeing_commits)
            .cmp(&(a.flaky_results + a.disagreeing_commits))
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.test_id.cmp(&b.test_id))
    });
    out
}

impl HealingService {
    /// The project's tests with flaky evidence in the window, paginated.
    pub async fn flaky(
        &self,
        tenant: &TenantId,
        project: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<FlakyTest>> {
        let window = chrono::Duration::from_std(self.settings.flaky_window.get())
            .unwrap_or(chrono::Duration::days(14));
        let since = Utc::now().naive_utc() - window;
        let (tenant, project) = (tenant.clone(), project.to_string());
        let (offset, limit) = (page.offset() as usize, page.limit() as usize);
        let (items, total) = self
            .db
            .run(move |conn| -> ApiResult<_> {
                let candidates = store::flaky_candidates(conn, &tenant, &project, since)?;
                let rows = store::test_windows(conn, &tenant, &candidates, since)?;
                let stats = detect(&rows);
                let total = stats.len() as i64;
                let shown: Vec<FlakyStat> = stats.into_iter().skip(offset).take(limit).collect();
                let tests =
                    store::tests_by_id(conn, &tenant, shown.iter().map(|s| s.test_id.as_str()))?;
                let items = shown
                    .into_iter()
                    .filter_map(|s| {
                        let t = tests.get(&s.test_id)?.clone();
                        Some(FlakyTest {
                            test: TestView::from(t),
                            status: if s.broken_at_head { "broken" } else { "flaky" }.into(),
                            runs: s.runs,
                            failures: s.failures,
                            flaky_results: s.flaky_results,
                            disagreeing_commits: s.disagreeing_commits,
                            flip_rate: (s.flip_rate * 1000.0).round() / 1000.0,
                            last_seen: DateTime::from_naive_utc_and_offset(s.last_seen, Utc),
                        })
                    })
                    .collect::<Vec<_>>();
                Ok((items, total))
            })
            .await?;
        Ok(Page::new(items, total, page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(10, minute, 0)
            .unwrap()
    }

    fn row(test: &str, sha: &str, outcome: &str, minute: u32) -> WindowRow {
        (test.into(), Some(sha.into()), outcome.into(), at(minute))
    }

    #[test]
    fn retried_passes_and_disagreeing_commits_are_flaky() {
        let rows = vec![
            row("retried", "a", "passed", 1),
            row("retried", "b", "flaky", 2),
            row("retried", "c", "passed", 3),
            row("disagrees", "a", "failed", 1),
            row("disagrees", "a", "passed", 2),
            row("disagrees", "b", "passed", 3),
            row("steady", "a", "passed", 1),
            row("steady", "b", "passed", 2),
        ];
        let found = detect(&rows);
        let ids: Vec<&str> = found.iter().map(|s| s.test_id.as_str()).collect();
        assert_eq!(ids.len(), 2, "{found:?}");
        assert!(ids.contains(&"retried") && ids.contains(&"disagrees"));
        assert!(found.iter().all(|s| !s.broken_at_head));
        let d = found.iter().find(|s| s.test_id == "disagrees").unwrap();
        assert_eq!((d.disagreeing_commits, d.failures, d.runs), (1, 1, 3));
    }

    #[test]
    fn a_regression_is_not_flaky_and_failing_every_attempt_at_head_is_broken() {
        // Passed for a while, then fails on every run of the new commit: a regression.
        let regression = vec![
            row("regressed", "a", "passed", 1),
            row("regressed", "a", "passed", 2),
            row("regressed", "b", "failed", 3),
            row("regressed", "b", "failed", 4),
        ];
        assert!(detect(&regression).is_empty());
        // Flaky in the past, but failing every attempt at the head commit: broken.
        let broken = vec![
            row("t", "a", "flaky", 1),
            row("t", "b", "failed", 2),
            row("t", "b", "error", 3),
        ];
        let found = detect(&broken);
        assert_eq!(found.len(), 1);
        assert!(found[0].broken_at_head);
    }

    #[test]
    fn evidence_is_a_retried_pass_or_attempts_of_one_commit_that_disagree() {
        use Outcome::*;
        assert!(shows_flakiness(Flaky, &[]));
        assert!(shows_flakiness(Passed, &[Failed]));
        assert!(shows_flakiness(Error, &[Passed]));
        assert!(!shows_flakiness(Failed, &[Failed, Error]));
        assert!(!shows_flakiness(Passed, &[Passed, Skipped]));
        assert!(!shows_flakiness(Skipped, &[Failed]));
        assert!(!shows_flakiness(Failed, &[]));
    }
}

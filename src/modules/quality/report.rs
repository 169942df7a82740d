//! The tenant's quality report, aggregated from the current score of each live template (one
//! row per template, so the cost grows with templates, not with history) and the last 30 days of
//! evaluations for the trend.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::LatestRow;

pub const TREND_DAYS: i64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Report {
    pub templates_scored: usize,
    pub pass_mark: u32,
    pub passed: usize,
    pub failed: usize,
    /// passed / templates_scored (0 when nothing is scored).
    pub pass_rate: f64,
    pub average_score: f64,
    /// Ten buckets: 0–9, 10–19, …, 90–100.
    pub distribution: Vec<Bucket>,
    pub by_category: Vec<CategoryStats>,
    /// Checks ordered by how many templates fail them.
    pub failing_checks: Vec<CheckStats>,
    /// One entry per day with evaluations, oldest first, over the last 30 days.
    pub trend: Vec<TrendPoint>,
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Bucket {
    /// e.g. `70-79`.
    pub range: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategoryStats {
    pub category: String,
    pub templates: usize,
    pub average_score: f64,
    pub pass_rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckStats {
    pub check: String,
    pub failing: usize,
    pub warning: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrendPoint {
    pub date: NaiveDate,
    pub evaluations: usize,
    pub average_score: f64,
    pub pass_rate: f64,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 1000.0).round() / 1000.0
    }
}

/// Index 0..=9 of the ten-point bucket a score falls in (100 joins 90–99).
pub fn bucket_index(score: i64) -> usize {
    (score.clamp(0, 100) / 10).min(9) as usize
}

pub fn build(
    latest: &[LatestRow],
    recent: &[(NaiveDateTime, i64, bool)],
    pass_mark: u32,
    now: DateTime<Utc>,
) -> Report {
    let scored = latest.len();
    let passed = latest.iter().filter(|r| r.passed).count();
    let total: i64 = latest.iter().map(|r| r.score).sum();

    let mut buckets = [0usize; 10];
    let mut categories: BTreeMap<&str, (usize, i64, usize)> = BTreeMap::new();
    let mut checks: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for row in latest {
        buckets[bucket_index(row.score)] += 1;
        let c = categories.entry(row.category.as_str()).or_default();
        c.0 += 1;
        c.1 += row.score;
        c.2 += usize::from(row.passed);
        for name in row.failing_checks.split(',').filter(|s| !s.is_empty()) {
            checks.entry(name).or_default().0 += 1;
        }
        for name in row.warning_checks.split(',').filter(|s| !s.is_empty()) {
            checks.entry(name).or_default().1 += 1;
        }
    }
    let mut failing_checks: Vec<CheckStats> = checks
        .into_iter()
        .map(|(check, (failing, warning))| CheckStats {
            check: check.to_string(),
            failing,
            warning,
        })
        .collect();
    failing_checks.sort_by(|a, b| b.failing.cmp(&a.failing).then(b.warning.cmp(&a.warning)));

    let mut days: BTreeMap<NaiveDate, (usize, i64, usize)> = BTreeMap::new();
    for (at, score, ok) in recent {
        let d = days.entry(at.date()).or_default();
        d.0 += 1;
        d.1 += score;
        d.2 += usize::from(*ok);
    }

    Report {
        templates_scored: scored,
        pass_mark,
        passed,
        failed: scored - passed,
        pass_rate: ratio(passed, scored),
        average_score: if scored == 0 {
            0.0
        } else {
            round1(total as f64 / scored as f64)
        },
        distribution: buckets
            .iter()
            .enumerate()
            .map(|(i, count)| Bucket {
                range: if i == 9 {
                    "90-100".into()
                } else {
                    format!("{}-{}", i * 10, i * 10 + 9)
                },
                count: *count,
            })
            .collect(),
        by_category: categories
            .into_iter()
            .map(|(category, (n, sum, ok))| CategoryStats {
                category: category.to_string(),
                templates: n,
                average_score: round1(sum as f64 / n as f64),
                pass_rate: ratio(ok, n),
            })
            .collect(),
        failing_checks,
        trend: days
            .into_iter()
            .map(|(date, (n, sum, ok))| TrendPoint {
                date,
                evaluations: n,
                average_score: round1(sum as f64 / n as f64),
                pass_rate: ratio(ok, n),
            })
            .collect(),
        generated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(category: &str, score: i64, passed: bool, failing: &str) -> LatestRow {
        LatestRow {
            tenant_id: "t".into(),
            template_id: uuid::Uuid::new_v4().to_string(),
            commit_id: "c".into(),
            category: category.into(),
            score,
            passed,
            failing_checks: failing.into(),
            warning_checks: String::new(),
            updated_at: Utc::now().naive_utc(),
        }
    }

    #[test]
    fn aggregates_distribution_categories_checks_and_trend() {
        let latest = vec![
            row("backend_developer", 95, true, ""),
            row("backend_developer", 55, false, "documentation,examples"),
            row("qa_engineer", 100, true, ""),
            row("qa_engineer", 62, false, "documentation"),
        ];
        let day1 = NaiveDate::from_ymd_opt(2026, 11, 20)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let day2 = NaiveDate::from_ymd_opt(2026, 11, 21)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let recent = vec![(day1, 50, false), (day1, 90, true), (day2, 100, true)];
        let r = build(&latest, &recent, 70, Utc::now());
        assert_eq!(r.templates_scored, 4);
        assert_eq!((r.passed, r.failed), (2, 2));
        assert_eq!(r.pass_rate, 0.5);
        assert_eq!(r.average_score, 78.0);
        assert_eq!(r.distribution[9].count, 2, "95 and 100 are in 90-100");
        assert_eq!(r.distribution[5].count, 1);
        assert_eq!(r.by_category.len(), 2);
        assert_eq!(r.by_category[0].category, "backend_developer");
        assert_eq!(r.by_category[0].average_score, 75.0);
        assert_eq!(r.failing_checks[0].check, "documentation");
        assert_eq!(r.failing_checks[0].failing, 2);
        assert_eq!(r.trend.len(), 2);
        assert_eq!(r.trend[0].evaluations, 2);
        assert_eq!(r.trend[0].pass_rate, 0.5);
    }

    #[test]
    fn empty_tenants_get_an_empty_report() {
        let r = build(&[], &[], 70, Utc::now());
        assert_eq!(r.templates_scored, 0);
        assert_eq!(r.pass_rate, 0.0);
        assert_eq!(r.distribution.len(), 10);
    }
}

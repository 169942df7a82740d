//! What healing really achieved, per strategy and overall: coverage (failures attempted ÷ all
//! failures), abstain rate, verified and false-heal rates over the heals put in place, median
//! time to green. Never a bare "success %": one retry "heals" most flaky failures.
//! Also the Prometheus figures: counters of proposals and outcomes as they happen, gauges of
//! every status per strategy refreshed before `/metrics` renders.

use std::collections::BTreeMap;

use serde_json::Value;

use super::HealingService;
use crate::modules::healing::model::{HealingStats, HealingView, StrategyStats};
use crate::modules::healing::store::{self, StatRow};
use crate::modules::healing::strategies::StrategyName;
use crate::platform::auth::TenantId;
use crate::platform::http::error::ApiResult;

/// Counts the proposals of one heal request (`maestro_healing_proposals_total`).
pub fn count_proposals(proposals: &[HealingView]) {
    for p in proposals {
        metrics::counter!(
            "maestro_healing_proposals_total",
            "strategy" => p.strategy.as_str(),
            "action" => p.action.as_str()
        )
        .increment(1);
    }
}

/// Counts an outcome (`maestro_healing_outcomes_total`): applied, rejected, verified,
/// false_heal.
pub fn count_outcome(strategy: StrategyName, outcome: &'static str) {
    metrics::counter!(
        "maestro_healing_outcomes_total",
        "strategy" => strategy.as_str(),
        "outcome" => outcome
    )
    .increment(1);
}

fn ratio(a: i64, b: i64) -> f64 {
    if b == 0 {
        0.0
    } else {
        ((a as f64 / b as f64) * 10_000.0).round() / 10_000.0
    }
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

/// Adds up proposals (strategy, status, chosen, time to green).
fn summarise<'a>(rows: impl Iterator<Item = &'a StatRow>) -> StrategyStats {
    let mut s = StrategyStats::default();
    let mut greens = Vec::new();
    for (_, status, chosen, ttg) in rows {
        s.proposals += 1;
        s.chosen += i64::from(*chosen);
        match status.as_str() {
            "abstained" => s.abstained += 1,
            "applied" => s.applied += 1,
            "rejected" => s.rejected += 1,
            "verified" => s.verified += 1,
            "false_heal" => s.false_heals += 1,
            _ => {}
        }
        if status == "verified"
            && let Some(t) = ttg
        {
            greens.push(*t);
        }
    }
    let in_place = s.applied + s.verified + s.false_heals;
    s.abstain_rate = ratio(s.abstained, s.proposals);
    s.verified_rate = ratio(s.verified, in_place);
    s.false_heal_rate = ratio(s.false_heals, in_place);
    s.median_time_to_green_ms = median(greens);
    s
}

impl HealingService {
    pub async fn stats(
        &self,
        tenant: &TenantId,
        project: Option<String>,
    ) -> ApiResult<HealingStats> {
        let (t, p) = (tenant.clone(), project.clone());
        let (rows, (failures, attempted)) = self
            .db
            .run(move |conn| -> ApiResult<_> {
                let rows = store::stat_rows(conn, &t, p.as_deref())?;
                let counts = store::coverage_counts(conn, &t, p.as_deref())?;
                Ok((rows, counts))
            })
            .await?;
        let mut strategies = BTreeMap::new();
        for name in StrategyName::ALL {
            strategies.insert(
                name.as_str().to_string(),
                summarise(rows.iter().filter(|r| r.0 == name.as_str())),
            );
        }
        Ok(HealingStats {
            project,
            failures,
            failures_attempted: attempted,
            coverage: ratio(attempted, failures),
            overall: summarise(rows.iter()),
            strategies,
        })
    }

    /// The module's section of `/api/v1/admin/stats`.
    pub async fn admin_stats(&self, tenant: &TenantId) -> ApiResult<Value> {
        let s = self.stats(tenant, None).await?;
        Ok(serde_json::json!({
            "failures": s.failures,
            "failures_attempted": s.failures_attempted,
            "coverage": s.coverage,
            "proposals": s.overall.proposals,
            "abstain_rate": s.overall.abstain_rate,
            "applied": s.overall.applied,
            "verified": s.overall.verified,
            "false_heals": s.overall.false_heals,
            "verified_rate": s.overall.verified_rate,
            "false_heal_rate": s.overall.false_heal_rate,
            "median_time_to_green_ms": s.overall.median_time_to_green_ms,
        }))
    }

    /// `maestro_healing_healings{strategy, status}`: every proposal by status, all tenants.
    pub async fn collect_metrics(&self) {
        let Ok(rows) = self
            .db
            .run(|conn| -> ApiResult<_> { Ok(store::status_counts(conn)?) })
            .await
        else {
            return;
        };
        let mut seen: BTreeMap<(String, String), i64> = BTreeMap::new();
        for name in StrategyName::ALL {
            for status in [
                "proposed",
                "abstained",
                "applied",
                "rejected",
                "verified",
                "false_heal",
            ] {
                seen.insert((name.as_str().to_string(), status.to_string()), 0);
            }
        }
        for (strategy, status, n) in rows {
            seen.insert((strategy, status), n);
        }
        for ((strategy, status), n) in seen {
            metrics::gauge!("maestro_healing_healings", "strategy" => strategy, "status" => status)
                .set(n as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(strategy: &str, status: &str, chosen: bool, ttg: Option<i64>) -> StatRow {
        (strategy.into(), status.into(), chosen, ttg)
    }

    #[test]
    fn rates_count_heals_put_in_place_and_abstentions_over_all_proposals() {
        let rows = [
            row("timeout", "abstained", false, None),
            row("timeout", "verified", true, Some(1000)),
            row("timeout", "verified", true, Some(3000)),
            row("timeout", "false_heal", true, None),
            row("timeout", "proposed", true, None),
            row("timeout", "rejected", true, None),
        ];
        let s = summarise(rows.iter());
        assert_eq!(
            (s.proposals, s.abstained, s.verified, s.false_heals),
            (6, 1, 2, 1)
        );
        assert_eq!(s.abstain_rate, 0.1667);
        assert_eq!(s.verified_rate, 0.6667);
        assert_eq!(s.false_heal_rate, 0.3333);
        assert_eq!(s.median_time_to_green_ms, Some(2000));
        let empty = summarise([].iter());
        assert_eq!(
            (empty.verified_rate, empty.median_time_to_green_ms),
            (0.0, None)
        );
    }
}

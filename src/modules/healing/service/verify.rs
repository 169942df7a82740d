//! Verification on ingest, so heal rates are honest:
//! - an applied heal whose test later passes with the heal in place is `verified` (time to
//!   green: from the failure to that result);
//! - an applied or verified heal whose test later fails with the heal in place is a
//!   `false_heal`;
//! - "in place": for a patch, a result on the heal's branch or at its commit; for quarantine,
//!   config changes and retries, any later result of the test;
//! - a flaky result (failed, then passed on a retry) decides nothing.
//!
//! Also here: a quarantined test is released after `healing.unquarantine_after` consecutive
//! passing results.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::modules::healing::junit::Outcome;
use crate::modules::healing::store::{self, HealingRow, ResultRow};
use crate::platform::auth::TenantId;
use crate::platform::db::DbConnection;

/// A heal whose status a new result changed.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub row: HealingRow,
    /// `verified` or `false_heal`.
    pub outcome: &'static str,
}

fn in_place(h: &HealingRow, r: &ResultRow) -> bool {
    if h.action != "patch" {
        return true;
    }
    (h.branch.is_some() && r.branch == h.branch)
        || (h.commit_sha.is_some() && r.commit_sha == h.commit_sha)
}

/// Applies the rules above to a report's results (all stored at `now`). Returns the heals that
/// changed and the tests released from quarantine.
pub fn after_results(
    conn: &mut DbConnection,
    tenant: &TenantId,
    results: &[ResultRow],
    unquarantine_after: u32,
    now: NaiveDateTime,
) -> QueryResult<(Vec<Verdict>, Vec<String>)> {
    let by_test: HashMap<&str, &ResultRow> =
        results.iter().map(|r| (r.test_id.as_str(), r)).collect();
    let test_ids: Vec<String> = by_test.keys().map(|s| s.to_string()).collect();
    let live = store::live_heals(conn, tenant, &test_ids)?;
    let failure_ids: Vec<String> = live.iter().map(|h| h.failure_id.clone()).collect();
    let failed_at = store::failure_times(conn, &failure_ids)?;
    let mut verdicts = Vec::new();
    for mut h in live {
        let Some(r) = by_test.get(h.test_id.as_str()) else {
            continue;
        };
        if h.decided_at.is_some_and(|d| r.created_at < d) || !in_place(&h, r) {
            continue;
        }
        match Outcome::parse(&r.outcome) {
            Some(Outcome::Passed) if h.status == "applied" => {
                let ttg = failed_at
                    .get(&h.failure_id)
                    .map(|f| now.signed_duration_since(*f).num_milliseconds().max(0));
                if store::mark_verified(conn, &h.id, now, ttg)? == 1 {
                    h.status = "verified".into();
                    h.verified_at = Some(now);
                    h.time_to_green_ms = ttg;
                    verdicts.push(Verdict {
                        row: h,
                        outcome: "verified",
                    });
                }
            }
            Some(Outcome::Failed | Outcome::Error) => {
                let detail = format!(
                    "the test failed again with the heal in place (report {}, commit {})",
                    r.report_id,
                    r.commit_sha.as_deref().unwrap_or("unknown")
                );
                if store::mark_false_heal(conn, &h.id, now, &detail)? == 1 {
                    h.status = "false_heal".into();
                    h.false_heal_at = Some(now);
                    h.detail = Some(detail);
                    verdicts.push(Verdict {
                        row: h,
                        outcome: "false_heal",
                    });
                }
            }
            _ => {}
        }
    }
    // Auto-unquarantine: only tests that passed in this report can have reached K passes.
    let passed: Vec<String> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Passed.as_str())
        .map(|r| r.test_id.clone())
        .collect();
    let mut released = Vec::new();
    for (test_id, since) in store::quarantined_among(conn, tenant, &passed, now)? {
        // Passes while quarantined count; results from before the quarantine do not.
        let recent = store::recent_results(conn, tenant, &test_id, i64::from(unquarantine_after))?;
        let enough = recent.len() >= unquarantine_after as usize
            && recent
                .iter()
                .all(|r| r.outcome == Outcome::Passed.as_str() && r.created_at >= since);
        if enough {
            let by = format!("auto: {unquarantine_after} consecutive passes");
            if store::release(conn, tenant, &test_id, now, &by)? > 0 {
                released.push(test_id);
            }
        }
    }
    Ok((verdicts, released))
}

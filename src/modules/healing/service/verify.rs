//! Verification on ingest, so heal rates are honest:
//! - an applied heal whose test later passes with the heal in place is `verified` (time to
//!   green: from the failure to that result);
//! - an applied or verified heal whose test later fails with the heal in place is a
//!   `false_heal`;
//! - "in place": for a patch, a result on the heal's branch or at its commit; for quarantine,
//!   config changes and retries, any later result of the test;
//! - a flaky result (failed, then passed on a retry) decides nothing;
//! - a patch heal whose commit is gone — its branch deleted without the commit reaching the
//!   default branch, or rewritten without it — is a `false_heal` too
//!   (`check_reverted`, every `healing.revert_check_interval`).
//!
//! Also here: a quarantined test is released after `healing.unquarantine_after` consecutive
//! passing results (on the default branch when the project has a registered repository).

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
    // Auto-unquarantine: only tests that passed in this report can have reached K passes. With
    // a registered repository, only passes on its default branch count.
    let default_branch = match results.first() {
        Some(r) => store::repository(conn, tenant, &r.project)?.map(|repo| repo.default_branch),
        None => None,
    };
    let passed: Vec<String> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Passed.as_str())
        .filter(|r| default_branch.is_none() || r.branch == default_branch)
        .map(|r| r.test_id.clone())
        .collect();
    let mut released = Vec::new();
    for (test_id, since) in store::quarantined_among(conn, tenant, &passed, now)? {
        // Passes while quarantined count; results from before the quarantine do not.
        let recent = store::recent_results(
            conn,
            tenant,
            &test_id,
            default_branch.as_deref(),
            i64::from(unquarantine_after),
        )?;
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

/// Heals looked at per revert check.
const REVERT_BATCH: i64 = 500;

impl super::HealingService {
    /// Marks applied or verified patch heals whose commit is gone (branch deleted without being
    /// merged, or rewritten) as false heals. Returns how many.
    pub async fn check_reverted(&self) -> crate::platform::http::error::ApiResult<usize> {
        use crate::modules::healing::repo;
        use crate::platform::blocking::run_blocking;

        let heals = self
            .db
            .run(|conn| -> crate::platform::http::error::ApiResult<_> {
                Ok(store::live_patch_heals(conn, REVERT_BATCH)?)
            })
            .await?;
        let mut found = 0;
        for h in heals {
            let tenant = TenantId(h.tenant_id.clone());
            let (t, project) = (tenant.clone(), h.project.clone());
            let row = self
                .db
                .run(move |conn| -> crate::platform::http::error::ApiResult<_> {
                    Ok(store::repository(conn, &t, &project)?)
                })
                .await?;
            // No repository any more: nothing to check against.
            let Some(row) = row else { continue };
            let Ok(remote) = self.remote_of(&row).await else {
                continue;
            };
            let (root, tenant_id, repo_id) = (self.mirrors.clone(), h.tenant_id.clone(), row.id);
            let (branch, commit) = (
                h.branch.clone().unwrap_or_default(),
                h.commit_sha.clone().unwrap_or_default(),
            );
            let guard = self.git_lock.lock().await;
            let work = run_blocking("healing.revert_check", move || {
                let mirror = repo::open_mirror(&root, &tenant_id, &repo_id)?;
                repo::reverted(&mirror, &remote, &branch, &commit)
            });
            let checked = tokio::time::timeout(self.settings.git_timeout.get(), work).await;
            drop(guard);
            let why = match checked {
                Ok(Ok(Ok(Some(why)))) => why,
                Ok(Ok(Ok(None))) => continue,
                Ok(Ok(Err(e))) => {
                    tracing::debug!(healing = %h.id, error = %format!("{e:#}"), "revert check skipped");
                    continue;
                }
                _ => continue,
            };
            let (id, detail) = (h.id.clone(), why.clone());
            let now = chrono::Utc::now().naive_utc();
            let marked = self
                .db
                .run(move |conn| -> crate::platform::http::error::ApiResult<_> {
                    Ok(store::mark_false_heal(conn, &id, now, &detail)?)
                })
                .await?;
            if marked == 1 {
                found += 1;
                let mut row = h;
                row.status = "false_heal".into();
                row.false_heal_at = Some(now);
                row.detail = Some(why);
                let view = super::heal::view(row);
                super::stats::count_outcome(view.strategy, "false_heal");
                self.publish_outcome(&tenant, &view, "false_heal").await;
            }
        }
        Ok(found)
    }
}

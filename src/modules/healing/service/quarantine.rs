//! Quarantine: a flaky test keeps running but stops blocking, with an owner, a reason, the
//! evidence it was quarantined on, and an expiry. Only a test with flaky evidence in the window
//! can be quarantined, and never one failing every attempt at its newest commit (broken): that
//! is a regression to fix, not noise to hide.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::HealingService;
use super::flaky::detect;
use crate::modules::healing::error::HealingError;
use crate::modules::healing::model::{QuarantineEntry, QuarantineRequest, TestView};
use crate::modules::healing::store::{self, QuarantineRow, TestRow};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::{ApiError, ApiResult, FieldError};

fn entry(q: QuarantineRow, t: TestRow) -> QuarantineEntry {
    QuarantineEntry {
        id: q.id,
        test: TestView::from(t),
        owner: q.owner,
        reason: q.reason,
        evidence: serde_json::from_str(&q.evidence).unwrap_or_default(),
        created_by: q.created_by,
        created_at: DateTime::from_naive_utc_and_offset(q.created_at, Utc),
        expires_at: DateTime::from_naive_utc_and_offset(q.expires_at, Utc),
    }
}

impl HealingService {
    pub async fn quarantine(
        &self,
        caller: &Principal,
        test_id: &str,
        req: QuarantineRequest,
    ) -> ApiResult<QuarantineEntry> {
        let reason = req.reason.trim().to_string();
        let owner = req
            .owner
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| caller.display_name());
        let mut errors = Vec::new();
        if reason.is_empty() || reason.len() > 1000 {
            errors.push(FieldError::new(
                "reason",
                "required, at most 1000 characters",
            ));
        }
        if owner.len() > 200 {
            errors.push(FieldError::new("owner", "at most 200 characters"));
        }
        let ttl = match req.expires_in.as_deref() {
            None => self.settings.quarantine_ttl.get(),
            Some(raw) => match humantime::parse_duration(raw.trim()) {
                Ok(d) if !d.is_zero() && d <= self.settings.quarantine_max_ttl.get() => d,
                _ => {
                    errors.push(FieldError::new(
                        "expires_in",
                        format!(
                            "a duration like 7d, at most {} (healing.quarantine_max_ttl)",
                            humantime::format_duration(self.settings.quarantine_max_ttl.get())
                        ),
                    ));
                    Default::default()
                }
            },
        };
        ApiError::check_fields(
            "The quarantine request is invalid; each entry in `errors` says what to fix.",
            errors,
        )?;
        let now = Utc::now().naive_utc();
        let since = now
            - chrono::Duration::from_std(self.settings.flaky_window.get())
                .unwrap_or(chrono::Duration::days(14));
        let expires_at =
            now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(14));
        let (tenant, id) = (caller.tenant_id.clone(), test_id.to_string());
        let created_by = caller.display_name();
        self.db
            .transaction(move |conn| -> ApiResult<QuarantineEntry> {
                let test = store::test(conn, &tenant, &id)?
                    .ok_or_else(|| HealingError::TestNotFound { id: id.clone() })?;
                let mine =
                    store::test_windows(conn, &tenant, std::slice::from_ref(&test.id), since)?;
                let Some(stat) = detect(&mine).into_iter().next() else {
                    return Err(HealingError::NotFlaky { id: id.clone() }.into());
                };
                if stat.broken_at_head {
                    return Err(HealingError::BrokenTest { id: id.clone() }.into());
                }
                if store::active_quarantine(conn, &tenant, &id, now)?.is_some() {
                    return Err(HealingError::AlreadyQuarantined { id: id.clone() }.into());
                }
                // A past entry that expired unreleased is closed now.
                store::release(conn, &tenant, &id, now, "expired")?;
                let row = QuarantineRow {
                    id: Uuid::new_v4().to_string(),
                    tenant_id: tenant.as_str().to_string(),
                    project: test.project.clone(),
                    test_id: test.id.clone(),
                    owner,
                    reason,
                    evidence: serde_json::json!({
                        "runs": stat.runs,
                        "failures": stat.failures,
                        "flaky_results": stat.flaky_results,
                        "disagreeing_commits": stat.disagreeing_commits,
                        "flip_rate": (stat.flip_rate * 1000.0).round() / 1000.0,
                    })
                    .to_string(),
                    created_by,
                    created_at: now,
                    expires_at,
                    released_at: None,
                    released_by: None,
                };
                store::insert_quarantine(conn, &row)?;
                Ok(entry(row, test))
            })
            .await
    }

    pub async fn unquarantine(&self, caller: &Principal, test_id: &str) -> ApiResult<()> {
        let (tenant, id) = (caller.tenant_id.clone(), test_id.to_string());
        let by = caller.display_name();
        let now = Utc::now().naive_utc();
        let released = self
            .db
            .transaction(move |conn| -> ApiResult<usize> {
                if store::active_quarantine(conn, &tenant, &id, now)?.is_none() {
                    return Ok(0);
                }
                Ok(store::release(conn, &tenant, &id, now, &by)?)
            })
            .await?;
        if released == 0 {
            return Err(HealingError::NotQuarantined {
                id: test_id.to_string(),
            }
            .into());
        }
        Ok(())
    }

    /// The project's active quarantine (not released, not expired), oldest first.
    pub async fn quarantined(
        &self,
        tenant: &TenantId,
        project: &str,
    ) -> ApiResult<Vec<QuarantineEntry>> {
        let (tenant, project) = (tenant.clone(), project.to_string());
        let now = Utc::now().naive_utc();
        let rows = self
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::quarantined(conn, &tenant, &project, now)?)
            })
            .await?;
        Ok(rows.into_iter().map(|(q, t)| entry(q, t)).collect())
    }
}

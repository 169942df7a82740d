//! Reads: the failure list and one failure with its evidence, a test's history.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::HealingService;
use crate::modules::healing::error::HealingError;
use crate::modules::healing::junit::{Evidence, Outcome};
use crate::modules::healing::model::{FailureDetail, FailureSummary, HistoryEntry, TestView};
use crate::modules::healing::store::{self, FailureFilter, FailureJoined};
use crate::platform::auth::TenantId;
use crate::platform::http::error::ApiResult;
use crate::platform::http::pagination::{Page, PageQuery};

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

fn outcome(raw: &str) -> Outcome {
    // Only the ingest writes outcomes, always through `Outcome::as_str`.
    Outcome::parse(raw).unwrap_or(Outcome::Failed)
}

fn summary(
    (f, t, r): FailureJoined,
) -> (
    FailureSummary,
    String,
    Option<String>,
    Option<String>,
    String,
) {
    (
        FailureSummary {
            id: f.id,
            report_id: f.report_id,
            test: TestView::from(t),
            outcome: outcome(&f.outcome),
            kind: f.kind,
            message: f.message,
            failure_type: f.failure_type,
            attempts: r.attempts,
            commit_sha: r.commit_sha,
            branch: r.branch,
            category: f.category,
            classification: f
                .classification
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok()),
            created_at: utc(f.created_at),
        },
        f.body,
        f.system_out,
        f.system_err,
        f.attempts_json,
    )
}

impl HealingService {
    pub async fn failures(
        &self,
        tenant: &TenantId,
        filter: FailureFilter,
        page: &PageQuery,
    ) -> ApiResult<Page<FailureSummary>> {
        let tenant = tenant.clone();
        self.db
            .page(
                page,
                move |conn, limit, offset| {
                    Ok(store::failures(conn, &tenant, &filter, limit, offset)?)
                },
                |j| summary(j).0,
            )
            .await
    }

    pub async fn failure(&self, tenant: &TenantId, id: &str) -> ApiResult<FailureDetail> {
        let (tenant, key) = (tenant.clone(), id.to_string());
        let found = self
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::failure(conn, &tenant, &key)?) })
            .await?;
        let joined = found.ok_or_else(|| HealingError::FailureNotFound { id: id.to_string() })?;
        let (summary, body, system_out, system_err, attempts_json) = summary(joined);
        let evidence: Vec<Evidence> = serde_json::from_str(&attempts_json).unwrap_or_default();
        Ok(FailureDetail {
            summary,
            body,
            system_out,
            system_err,
            evidence,
        })
    }

    pub async fn history(
        &self,
        tenant: &TenantId,
        test_id: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<HistoryEntry>> {
        let (tenant, key, limit, offset) = (
            tenant.clone(),
            test_id.to_string(),
            page.limit(),
            page.offset(),
        );
        let found = self
            .db
            .run(move |conn| -> ApiResult<_> {
                if store::test(conn, &tenant, &key)?.is_none() {
                    return Ok(None);
                }
                Ok(Some(store::history(conn, &tenant, &key, limit, offset)?))
            })
            .await?;
        let (rows, total) = found.ok_or_else(|| HealingError::TestNotFound {
            id: test_id.to_string(),
        })?;
        let items = rows
            .into_iter()
            .map(|(r, failure_id)| HistoryEntry {
                result_id: r.id,
                report_id: r.report_id,
                outcome: outcome(&r.outcome),
                attempts: r.attempts,
                duration_ms: r.duration_ms,
                commit_sha: r.commit_sha,
                branch: r.branch,
                failure_id,
                created_at: utc(r.created_at),
            })
            .collect();
        Ok(Page::new(items, total, page))
    }
}

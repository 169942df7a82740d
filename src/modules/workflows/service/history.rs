//! What happened: a run's hash-chained audit log (read and verified) and the counts for
//! `/api/v1/admin/stats`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{WfError, WorkflowsService};
use crate::modules::workflows::audit;
use crate::modules::workflows::error::WorkflowsError;
use crate::modules::workflows::model::{AuditEntry, AuditVerification};
use crate::modules::workflows::store;
use crate::platform::auth::TenantId;
use crate::platform::http::error::ApiError;
use crate::platform::http::pagination::{Page, PageQuery};

impl WorkflowsService {
    pub async fn audit(
        &self,
        tenant: &TenantId,
        run_id: String,
        page: PageQuery,
    ) -> Result<Page<AuditEntry>, ApiError> {
        let t = tenant.clone();
        self.db
            .page(
                &page,
                move |conn, limit, offset| {
                    store::run(conn, &t, &run_id)?.ok_or(WorkflowsError::RunNotFound)?;
                    Ok(store::audit_page(conn, &t, &run_id, limit, offset)?)
                },
                Into::into,
            )
            .await
    }

    pub async fn verify_audit(
        &self,
        tenant: &TenantId,
        run_id: String,
    ) -> Result<AuditVerification, ApiError> {
        let t = tenant.clone();
        self.db
            .run(move |conn| -> Result<_, WfError> {
                let run = store::run(conn, &t, &run_id)?.ok_or(WorkflowsError::RunNotFound)?;
                let entries = store::audit_all(conn, &t, &run_id)?;
                Ok(audit::verify(&run, &entries))
            })
            .await
            .map_err(ApiError::from)
    }

    // -----------------------------------------------------------------------------------------

    /// `/api/v1/admin/stats` section.
    pub async fn stats(&self, tenant: &TenantId) -> Result<Value, ApiError> {
        let t = tenant.clone();
        let (defs, by_status) = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                Ok((
                    store::count_definitions(conn, &t)?,
                    store::count_runs_by_status(conn, &t)?,
                ))
            })
            .await?;
        let runs: BTreeMap<String, i64> = by_status.into_iter().collect();
        Ok(json!({"workflows": defs, "runs_by_status": runs}))
    }
}

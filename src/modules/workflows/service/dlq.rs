//! The dead-letter queue: list dead-lettered runs with their failed step, and redrive them from
//! that step (listed runs, or all of a workflow's).

use serde_json::Value;

use super::{MAX_REDRIVE, RunOp, WfError, WorkflowsService};
use crate::modules::workflows::error::WorkflowsError;
use crate::modules::workflows::model::{
    DlqEntry, DlqQuery, RedriveRequest, RedriveResponse, RedriveSkip, utc,
};
use crate::modules::workflows::store;
use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::{ApiError, FieldError};
use crate::platform::http::pagination::{Page, PageQuery};

impl WorkflowsService {
    pub async fn list_dlq(
        &self,
        tenant: &TenantId,
        query: DlqQuery,
        page: &PageQuery,
    ) -> Result<Page<DlqEntry>, ApiError> {
        let (t, q) = (tenant.clone(), page.clone());
        let workflow = query.workflow_id.filter(|s| !s.is_empty());
        let (entries, total) = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                let (runs, total) = store::list_dlq(conn, &t, workflow.as_deref(), &q)?;
                let mut entries = Vec::with_capacity(runs.len());
                for run in runs {
                    let step = match &run.failed_step {
                        Some(s) => store::step_run(conn, &t, &run.id, s)?,
                        None => None,
                    };
                    entries.push(DlqEntry {
                        run_id: run.id.clone(),
                        workflow_id: run.workflow_id.clone(),
                        version: run.version,
                        failed_step: run.failed_step.clone(),
                        uses: step.as_ref().map(|s| s.uses.clone()),
                        error: run.error.clone(),
                        attempts: step.as_ref().map_or(0, |s| s.attempts),
                        step_inputs: step
                            .as_ref()
                            .and_then(|s| s.inputs.as_deref())
                            .and_then(|s| serde_json::from_str(s).ok())
                            .unwrap_or(Value::Null),
                        run_inputs: serde_json::from_str(&run.inputs).unwrap_or(Value::Null),
                        attempt_log: step.as_ref().map(|s| s.log()).unwrap_or_default(),
                        dead_lettered_at: run.finished_at.map(utc),
                    });
                }
                Ok((entries, total))
            })
            .await?;
        Ok(Page::new(entries, total, page))
    }

    /// Redrives dead-lettered runs from their failed step (listed ids, or all of a workflow's).
    pub async fn redrive(
        &self,
        principal: &Principal,
        request: RedriveRequest,
    ) -> Result<RedriveResponse, ApiError> {
        let tenant = principal.tenant_id.clone();
        let mut ids = request.run_ids.clone();
        if ids.len() > MAX_REDRIVE {
            return Err(ApiError::validation(
                format!("At most {MAX_REDRIVE} runs per redrive."),
                vec![FieldError::new(
                    "run_ids",
                    format!("has {} entries", ids.len()),
                )],
            ));
        }
        if let Some(wf) = request.workflow_id.clone().filter(|s| !s.is_empty()) {
            let t = tenant.clone();
            let exists = {
                let (t2, wf2) = (t.clone(), wf.clone());
                self.db
                    .run(move |conn| store::definition(conn, &t2, &wf2).map_err(WfError::from))
                    .await?
                    .is_some()
            };
            if !exists {
                return Err(WorkflowsError::NotFound.into());
            }
            let more = self
                .db
                .run(move |conn| {
                    store::run_ids_in_status(
                        conn,
                        &t,
                        &wf,
                        &["dead_lettered"],
                        None,
                        MAX_REDRIVE as i64,
                    )
                    .map_err(WfError::from)
                })
                .await?;
            ids.extend(more);
        }
        if ids.is_empty() {
            return Err(ApiError::validation(
                "Name the runs to redrive.",
                vec![FieldError::new(
                    "run_ids",
                    "give run ids, or `workflow_id` to redrive all of its dead-lettered runs",
                )],
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        let mut redriven = Vec::new();
        let mut skipped = Vec::new();
        for id in ids.into_iter().take(MAX_REDRIVE) {
            match self.run_op(principal, id.clone(), RunOp::Redrive).await {
                Ok(_) => redriven.push(id),
                Err(e) => skipped.push(RedriveSkip {
                    run_id: id,
                    reason: e.detail,
                }),
            }
        }
        Ok(RedriveResponse { redriven, skipped })
    }
}

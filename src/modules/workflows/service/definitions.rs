//! Definitions: create (validated, versioned, identical posts deduplicated), list, read one
//! version, and pause or resume a whole workflow.

use actix_web::http::StatusCode;
use sha2::{Digest, Sha256};

use super::{Catalog, RunOp, WfError, WorkflowsService};
use crate::modules::workflows::definition::{self, DefinitionDoc, DefinitionError, Format};
use crate::modules::workflows::dialect;
use crate::modules::workflows::error::WorkflowsError;
use crate::modules::workflows::machine;
use crate::modules::workflows::model::{VersionInfo, WorkflowDetail, WorkflowSummary};
use crate::modules::workflows::store::{self, DefinitionRow, VersionRow};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::ApiError;
use crate::platform::http::pagination::{Page, PageQuery};

/// Result of creating a definition: whether a new version was stored.
pub struct Created {
    pub detail: WorkflowDetail,
    pub created: bool,
}

impl WorkflowsService {
    /// Validates a definition (JSON or YAML) and stores it as a new version of the workflow with
    /// its name (creating the workflow on first use). Posting a definition identical to the
    /// latest version returns that version instead of adding one.
    pub async fn create_definition(
        &self,
        principal: &Principal,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Created, ApiError> {
        let format = match content_type {
            None => Format::Json,
            Some(ct) => Format::from_content_type(ct).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "request.unsupported_media_type",
                    "Send the definition as `application/json` or `application/yaml`.",
                )
            })?,
        };
        let doc = definition::parse(body, format).map_err(|e| match e {
            DefinitionError::Syntax(msg) => WorkflowsError::DefinitionSyntax(msg),
            DefinitionError::Invalid(errors) => WorkflowsError::InvalidDefinition(errors),
        })?;
        let settings = self.engine.settings().clone();
        let def = definition::validate(doc, &Catalog(&self.registry), &settings)
            .map_err(WorkflowsError::InvalidDefinition)?;
        let requested_version = def.doc.version;
        let mut stored = def.doc.clone();
        stored.version = None;
        let canonical = serde_json::to_string(&stored).map_err(ApiError::internal)?;
        let checksum = hex::encode(Sha256::digest(canonical.as_bytes()));
        let step_count = def.steps.len() as i64;
        let tenant = principal.tenant_id.clone();
        let actor = principal.display_name();
        let result = self
            .db
            .run(move |conn| {
                dialect::write_tx(conn, |conn| -> Result<(DefinitionRow, i64, bool), WfError> {
                    let now = machine::now();
                    let existing = store::definition_by_name(conn, &tenant, &stored.name)?;
                    let (row, version, created) = match existing {
                        None => {
                            if let Some(v) = requested_version
                                && v != 1
                            {
                                return Err(WorkflowsError::VersionConflict(format!("`{}` does not exist yet, so its first version is 1, not {v}.", stored.name)).into());
                            }
                            let row = DefinitionRow {
                                id: uuid::Uuid::new_v4().to_string(),
                                tenant_id: tenant.0.clone(),
                                name: stored.name.clone(),
                                latest_version: 1,
                                paused: false,
                                created_by: actor.clone(),
                                created_at: now,
                                updated_at: now,
                            };
                            store::insert_definition(conn, &row)?;
                            (row, 1, true)
                        }
                        Some(mut row) => {
                            let latest = store::version(conn, &tenant, &row.id, row.latest_version)?;
                            let same = latest.as_ref().is_some_and(|l| l.checksum == checksum);
                            match requested_version {
                                Some(v) if v == row.latest_version && same => {
                                    (row.clone(), v, false)
                                }
                                Some(v) if v != row.latest_version + 1 => {
                                    return Err(WorkflowsError::VersionConflict(format!(
                                        "`{}` is at version {}; send version {} (or leave `version` out) to add one.",
                                        row.name, row.latest_version, row.latest_version + 1
                                    )).into());
                                }
                                None if same => (row.clone(), row.latest_version, false),
                                _ => {
                                    let v = row.latest_version + 1;
                                    if store::set_latest_version(conn, &tenant, &row.id, v, now)? != 1 {
                                        return Err(WorkflowsError::VersionConflict("Another version was added at the same time; retry.".into()).into());
                                    }
                                    row.latest_version = v;
                                    row.updated_at = now;
                                    (row, v, true)
                                }
                            }
                        }
                    };
                    if created {
                        store::insert_version(conn, &VersionRow {
                            workflow_id: row.id.clone(),
                            version,
                            tenant_id: tenant.0.clone(),
                            definition: canonical.clone(),
                            checksum: checksum.clone(),
                            step_count,
                            created_by: actor.clone(),
                            created_at: now,
                        })?;
                    }
                    Ok((row, version, created))
                })
            })
            .await;
        let (row, version, created) = match result {
            Err(WfError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) => {
                return Err(WorkflowsError::VersionConflict(
                    "The workflow was created or changed at the same time; retry.".into(),
                )
                .into());
            }
            other => other?,
        };
        let detail = self
            .definition_detail(principal.tenant_id.clone(), row.id.clone(), Some(version))
            .await?;
        Ok(Created { detail, created })
    }

    pub async fn list_definitions(
        &self,
        tenant: &TenantId,
        page: PageQuery,
    ) -> Result<Page<WorkflowSummary>, ApiError> {
        let tenant = tenant.clone();
        self.db
            .page(
                &page,
                move |conn, limit, offset| {
                    Ok(store::list_definitions(conn, &tenant, limit, offset)?)
                },
                Into::into,
            )
            .await
    }

    /// A workflow with one version's definition (the latest by default) and all versions.
    pub async fn definition_detail(
        &self,
        tenant: TenantId,
        id: String,
        version: Option<i64>,
    ) -> Result<WorkflowDetail, ApiError> {
        let (row, versions) = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                let row = store::definition(conn, &tenant, &id)?.ok_or(WorkflowsError::NotFound)?;
                Ok((row, store::versions(conn, &tenant, &id)?))
            })
            .await?;
        let wanted = version.unwrap_or(row.latest_version);
        let chosen = versions
            .iter()
            .find(|v| v.version == wanted)
            .ok_or_else(|| WorkflowsError::VersionNotFound {
                name: row.name.clone(),
                version: wanted,
                latest: row.latest_version,
            })?;
        let definition: DefinitionDoc = serde_json::from_str(&chosen.definition).map_err(|e| {
            ApiError::internal(anyhow::anyhow!("stored definition unreadable: {e}"))
        })?;
        Ok(WorkflowDetail {
            version: wanted,
            definition,
            versions: versions.iter().map(VersionInfo::from).collect(),
            summary: row.into(),
        })
    }

    /// Pauses (or resumes) a whole workflow: its active runs pause, and new runs start paused.
    pub async fn set_workflow_paused(
        &self,
        principal: &Principal,
        id: String,
        paused: bool,
    ) -> Result<WorkflowSummary, ApiError> {
        let tenant = principal.tenant_id.clone();
        let t = tenant.clone();
        let i = id.clone();
        let found = self
            .db
            .run(move |conn| -> Result<_, WfError> {
                let n = store::set_definition_paused(conn, &t, &i, paused, machine::now())?;
                Ok(n == 1)
            })
            .await?;
        if !found {
            return Err(WorkflowsError::NotFound.into());
        }
        // Runs in chunks, each chunk one transaction (new runs already see the flag).
        loop {
            let (t, i) = (tenant.clone(), id.clone());
            let ids = self
                .db
                .run(move |conn| -> Result<_, WfError> {
                    Ok(if paused {
                        store::run_ids_in_status(conn, &t, &i, &["pending", "running"], None, 200)?
                    } else {
                        store::run_ids_in_status(conn, &t, &i, &["paused"], Some("workflow"), 200)?
                    })
                })
                .await?;
            if ids.is_empty() {
                break;
            }
            let n = ids.len();
            let mut changed = 0;
            for run_id in ids {
                let op = if paused {
                    RunOp::PauseForWorkflow
                } else {
                    RunOp::ResumeForWorkflow
                };
                if self.run_op(principal, run_id, op).await.is_ok() {
                    changed += 1;
                }
            }
            if changed == 0 || n < 200 {
                break;
            }
        }
        let t = tenant.clone();
        let row = self
            .db
            .run(move |conn| store::definition(conn, &t, &id).map_err(WfError::from))
            .await?
            .ok_or(WorkflowsError::NotFound)?;
        Ok(row.into())
    }
}

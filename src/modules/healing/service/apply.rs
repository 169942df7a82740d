//! Deciding a proposal: apply it (quarantine proposals go to the quarantine; config changes and
//! retries are recorded for CI to act on; patches become a branch `maestro/heal/<short id>` with
//! one commit in the registered repository) or reject it. A proposal that may mask a regression
//! is applied only with `approve_risk`. Outcomes are published on `automation:results`.

use chrono::Utc;

use super::HealingService;
use super::heal::view;
use crate::modules::healing::error::HealingError;
use crate::modules::healing::model::{ApplyRequest, HealingView, QuarantineRequest};
use crate::modules::healing::repo::{self, PatchError};
use crate::modules::healing::store::{self, Applied, HealingRow};
use crate::modules::healing::strategies::{Action, FilePatch, Risk};
use crate::modules::templates::git::{Author, redact_credentials};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::blocking::run_blocking;
use crate::platform::http::error::{ApiError, ApiResult};

/// The row, if it can still be decided.
fn proposed(row: HealingRow) -> ApiResult<HealingRow> {
    if row.status == "proposed" {
        Ok(row)
    } else {
        Err(HealingError::NotProposed {
            id: row.id,
            status: row.status,
        }
        .into())
    }
}

impl HealingService {
    pub async fn healings(
        &self,
        tenant: &TenantId,
        filter: store::HealingFilter,
        page: &crate::platform::http::pagination::PageQuery,
    ) -> ApiResult<crate::platform::http::pagination::Page<HealingView>> {
        let t = tenant.clone();
        self.db
            .page(
                page,
                move |conn, limit, offset| Ok(store::healings(conn, &t, &filter, limit, offset)?),
                view,
            )
            .await
    }

    async fn healing_row(&self, tenant: &TenantId, id: &str) -> ApiResult<HealingRow> {
        let (t, key) = (tenant.clone(), id.to_string());
        self.db
            .run(move |conn| -> ApiResult<_> { Ok(store::healing(conn, &t, &key)?) })
            .await?
            .ok_or_else(|| HealingError::HealingNotFound { id: id.to_string() }.into())
    }

    pub async fn healing(&self, tenant: &TenantId, id: &str) -> ApiResult<HealingView> {
        Ok(view(self.healing_row(tenant, id).await?))
    }

    /// Records the decision if the proposal is still `proposed`.
    async fn decide(
        &self,
        caller: &Principal,
        row: &HealingRow,
        status: &'static str,
        applied: Applied,
    ) -> ApiResult<HealingView> {
        let (t, id, by) = (
            caller.tenant_id.clone(),
            row.id.clone(),
            caller.display_name(),
        );
        let now = Utc::now().naive_utc();
        let found = self
            .db
            .transaction(move |conn| -> ApiResult<Option<(bool, HealingRow)>> {
                let moved = store::decide(conn, &t, &id, status, &by, now, &applied)?;
                Ok(store::healing(conn, &t, &id)?.map(|r| (moved, r)))
            })
            .await?;
        let Some((moved, updated)) = found else {
            return Err(HealingError::HealingNotFound { id: row.id.clone() }.into());
        };
        if !moved {
            return Err(HealingError::NotProposed {
                id: row.id.clone(),
                status: updated.status,
            }
            .into());
        }
        let view = view(updated);
        self.publish_outcome(&caller.tenant_id, &view, status).await;
        super::stats::count_outcome(view.strategy, status);
        Ok(view)
    }

    pub async fn reject(&self, caller: &Principal, id: &str) -> ApiResult<HealingView> {
        let row = proposed(self.healing_row(&caller.tenant_id, id).await?)?;
        self.decide(caller, &row, "rejected", Applied::default())
            .await
    }

    pub async fn apply(
        &self,
        caller: &Principal,
        id: &str,
        req: ApplyRequest,
    ) -> ApiResult<HealingView> {
        let row = proposed(self.healing_row(&caller.tenant_id, id).await?)?;
        let healing = view(row.clone());
        if healing.risk == Risk::MayMaskRegression && !req.approve_risk {
            return Err(HealingError::ApprovalRequired { id: row.id }.into());
        }
        let applied = match healing.action {
            Action::Abstain => {
                return Err(HealingError::NotProposed {
                    id: row.id,
                    status: "abstained".into(),
                }
                .into());
            }
            Action::Quarantine => {
                let reason = format!(
                    "healing {} ({}): {}",
                    healing.id,
                    healing.strategy.as_str(),
                    healing.evidence.join("; ")
                );
                let reason: String = reason.chars().take(1000).collect();
                let entry = self
                    .quarantine(
                        caller,
                        &healing.test_id,
                        QuarantineRequest {
                            owner: req.owner.clone(),
                            reason,
                            expires_in: req.expires_in.clone(),
                        },
                    )
                    .await?;
                Applied {
                    quarantine_id: Some(entry.id),
                    detail: Some(format!(
                        "quarantined until {} (owner {})",
                        entry.expires_at.to_rfc3339(),
                        entry.owner
                    )),
                    ..Applied::default()
                }
            }
            Action::ConfigChange => Applied {
                detail: Some(format!(
                    "config change recorded for CI to apply: {}",
                    healing
                        .config
                        .as_ref()
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "{}".into())
                )),
                ..Applied::default()
            },
            Action::Retry => Applied {
                detail: Some("retry recorded for CI to run the test again".into()),
                ..Applied::default()
            },
            Action::Patch => {
                let Some(patch) = healing.patch.clone() else {
                    return Err(HealingError::PatchDoesNotApply {
                        path: String::new(),
                        reason: "the proposal holds no patch".into(),
                    }
                    .into());
                };
                self.apply_patch(caller, &healing, patch).await?
            }
        };
        self.decide(caller, &row, "applied", applied).await
    }

    /// The patch as one commit on a new branch of the registered repository, pushed there.
    async fn apply_patch(
        &self,
        caller: &Principal,
        healing: &HealingView,
        patch: FilePatch,
    ) -> ApiResult<Applied> {
        let (t, project) = (caller.tenant_id.clone(), healing.project.clone());
        let row = self
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::repository(conn, &t, &project)?) })
            .await?
            .ok_or_else(|| HealingError::NoRepository {
                project: healing.project.clone(),
            })?;
        let remote = self.remote_of(&row).await?;
        let shown = crate::platform::git_remote::shown(&row.url);
        let short: String = healing.id.chars().filter(|c| *c != '-').take(8).collect();
        let branch = format!("maestro/heal/{short}");
        let author = Author::new(
            &caller.display_name(),
            caller.email.as_deref().unwrap_or("maestro@localhost"),
        );
        let message = format!(
            "heal({}): {} {}\n\nMaestro healing {} for failure {}.\n{}\n",
            healing.strategy.as_str(),
            healing.action.as_str(),
            patch.path,
            healing.id,
            healing.failure_id,
            healing.evidence.join("\n")
        );
        let (root, tenant_id, repo_id) = (self.mirrors.clone(), caller.tenant_id.0.clone(), row.id);
        let (git_binary, timeout) = (
            self.settings.git_binary.clone(),
            self.settings.git_timeout.get(),
        );
        let default_branch = row.default_branch.clone();
        let b = branch.clone();
        let _guard = self.git_lock.lock().await;
        let work = run_blocking(
            "healing.patch",
            move || -> Result<repo::Committed, PatchError> {
                let mirror = repo::open_mirror(&root, &tenant_id, &repo_id)?;
                let tip = repo::fetch(&mirror, &remote)?;
                let committed =
                    repo::apply_patch(&mirror, tip, &patch, &b, &author, &message, Utc::now())?;
                repo::push_branch(&git_binary, &mirror, &remote.url, &b, timeout)?;
                Ok(committed)
            },
        );
        let outcome = match tokio::time::timeout(timeout * 2, work).await {
            Err(_) => {
                return Err(HealingError::GitFailed {
                    shown,
                    detail: format!(
                        "fetching and pushing took longer than {} (healing.git_timeout)",
                        humantime::format_duration(timeout * 2)
                    ),
                }
                .into());
            }
            Ok(joined) => joined?,
        };
        let committed = outcome.map_err(|e| -> ApiError {
            match e {
                PatchError::Stale { found } => HealingError::PatchStale {
                    path: healing
                        .patch
                        .as_ref()
                        .map(|p| p.path.clone())
                        .unwrap_or_default(),
                    branch: default_branch.clone(),
                    expected: healing
                        .patch
                        .as_ref()
                        .map(|p| p.base_blob.clone())
                        .unwrap_or_default(),
                    found,
                }
                .into(),
                PatchError::DoesNotApply(reason) => HealingError::PatchDoesNotApply {
                    path: healing
                        .patch
                        .as_ref()
                        .map(|p| p.path.clone())
                        .unwrap_or_default(),
                    reason,
                }
                .into(),
                PatchError::Git(e) => HealingError::GitFailed {
                    shown: shown.clone(),
                    detail: redact_credentials(&format!("{e:#}")),
                }
                .into(),
            }
        })?;
        Ok(Applied {
            branch: Some(committed.branch.clone()),
            commit_sha: Some(committed.commit.to_string()),
            detail: Some(format!(
                "branch {} with one commit on {} of {}",
                committed.branch, default_branch, shown
            )),
            ..Applied::default()
        })
    }

    /// Publishes an outcome (applied, rejected, verified, false_heal) on `automation:results`.
    pub(super) async fn publish_outcome(&self, tenant: &TenantId, h: &HealingView, outcome: &str) {
        self.publish_event(
            super::RESULTS_STREAM,
            &[
                ("tenant_id", tenant.0.clone()),
                ("project", h.project.clone()),
                ("healing_id", h.id.clone()),
                ("failure_id", h.failure_id.clone()),
                ("test_id", h.test_id.clone()),
                ("strategy", h.strategy.as_str().to_string()),
                ("action", h.action.as_str().to_string()),
                ("outcome", outcome.to_string()),
                ("branch", h.branch.clone().unwrap_or_default()),
                ("commit_sha", h.commit_sha.clone().unwrap_or_default()),
                ("detail", h.detail.clone().unwrap_or_default()),
                (
                    "time_to_green_ms",
                    h.time_to_green_ms
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                ),
            ],
        )
        .await;
    }
}

//! Heal requests: build the strategies' [`Inputs`] from the stored failure (evidence,
//! classification, the test's history, the rest of its run), the registered repository (files
//! and the commit's diff) and the request (locator snapshots, more files); run every strategy;
//! store every proposal — abstentions too, so abstain rates are real — and publish them on
//! `automation:healings`.

use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

use super::HealingService;
use crate::modules::healing::classify::Classification;
use crate::modules::healing::error::HealingError;
use crate::modules::healing::junit::{Evidence, Outcome};
use crate::modules::healing::model::{HealRequest, HealResponse, HealingView};
use crate::modules::healing::repo;
use crate::modules::healing::store::{
    self, FailureJoined, FailureRow, HealingRow, RepositoryRow, ResultRow,
};
use crate::modules::healing::strategies::{
    self, Action, Inputs, Proposal, Risk, Sample, StrategyName, Tuning,
};
use crate::platform::auth::TenantId;
use crate::platform::blocking::run_blocking;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};

/// Earlier results of the test handed to the strategies (the newest ones).
const HISTORY: i64 = 500;
/// Most repository files one heal request reads.
const MAX_FILES: usize = 64;

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

/// A stored proposal as the API shows it.
pub(super) fn view(r: HealingRow) -> HealingView {
    let risk = serde_json::from_value::<Risk>(serde_json::Value::String(r.risk.clone()))
        .unwrap_or(Risk::MayMaskRegression);
    HealingView {
        strategy: StrategyName::parse(&r.strategy).unwrap_or(StrategyName::Flaky),
        action: Action::parse(&r.action).unwrap_or(Action::Abstain),
        patch: r
            .patch
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        config: r
            .config
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        evidence: serde_json::from_str(&r.evidence).unwrap_or_default(),
        risk,
        id: r.id,
        project: r.project,
        failure_id: r.failure_id,
        test_id: r.test_id,
        request_id: r.request_id,
        chosen: r.chosen,
        confidence: r.confidence,
        abstain_reason: r.abstain_reason,
        status: r.status,
        failure_commit: r.failure_commit,
        branch: r.branch,
        commit_sha: r.commit_sha,
        quarantine_id: r.quarantine_id,
        detail: r.detail,
        created_by: r.created_by,
        created_at: utc(r.created_at),
        decided_by: r.decided_by,
        decided_at: r.decided_at.map(utc),
        verified_at: r.verified_at.map(utc),
        time_to_green_ms: r.time_to_green_ms,
        false_heal_at: r.false_heal_at.map(utc),
    }
}

/// What the store gives a heal request.
struct Loaded {
    joined: FailureJoined,
    samples: Vec<(ResultRow, Option<String>)>,
    failures_in_run: i64,
    repository: Option<RepositoryRow>,
}

/// What the registered repository gave.
#[derive(Default)]
struct FromRepo {
    files: Vec<strategies::SourceFile>,
    commit_diff: String,
    error: Option<String>,
}

fn is_pass(outcome: &str) -> bool {
    matches!(
        Outcome::parse(outcome),
        Some(Outcome::Passed | Outcome::Flaky)
    )
}

/// The strategies' inputs from the stored failure and its test's history.
fn inputs(loaded: &Loaded, req: &HealRequest, from_repo: FromRepo) -> Inputs {
    let (f, t, r) = &loaded.joined;
    let evidence: Vec<Evidence> = serde_json::from_str(&f.attempts_json).unwrap_or_default();
    let classification: Option<Classification> = f
        .classification
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    // Earlier results (this one excluded), oldest first, skips left out.
    let history: Vec<Sample> = loaded
        .samples
        .iter()
        .filter(|(s, _)| s.id != r.id && s.created_at <= r.created_at)
        .filter(|(s, _)| Outcome::parse(&s.outcome) != Some(Outcome::Skipped))
        .map(|(s, category)| Sample {
            passed: is_pass(&s.outcome),
            timed_out: category.as_deref() == Some("timeout"),
            duration_ms: s.duration_ms,
            commit_sha: s.commit_sha.clone(),
            attempts: s.attempts,
        })
        .collect();
    // Every result of the test at the failing commit (this one included) failed every attempt.
    let failed_every_attempt_at_head = Outcome::parse(&r.outcome).is_some_and(|o| o.is_failing())
        && loaded
            .samples
            .iter()
            .filter(|(s, _)| s.created_at <= r.created_at)
            .filter(|(s, _)| r.commit_sha.is_some() && s.commit_sha == r.commit_sha)
            .all(|(s, _)| Outcome::parse(&s.outcome).is_some_and(|o| o.is_failing()));
    Inputs {
        test_id: t.id.clone(),
        test_name: t.name.clone(),
        classname: Some(t.classname.clone()).filter(|c| !c.is_empty()),
        test_file: t.file.clone(),
        classification,
        evidence,
        history,
        head_commit: r.commit_sha.clone(),
        failed_every_attempt_at_head,
        other_failures_in_run: (loaded.failures_in_run - 1).max(0) as usize,
        commit_diff: from_repo.commit_diff,
        files: from_repo.files,
        locator: req.locator.clone(),
    }
}

fn validate(req: &HealRequest) -> ApiResult<()> {
    let mut errors = Vec::new();
    if req.files.len() > MAX_FILES {
        errors.push(FieldError::new(
            "files",
            format!("at most {MAX_FILES} paths"),
        ));
    }
    for (i, path) in req.files.iter().enumerate() {
        if path.trim().is_empty()
            || path.len() > 1024
            || path.starts_with('/')
            || path.split('/').any(|p| p == "..")
        {
            errors.push(FieldError::new(
                format!("files[{i}]"),
                "a relative path inside the repository (no `..`), at most 1024 characters",
            ));
        }
    }
    if let Some(l) = &req.locator {
        if l.selector.trim().is_empty() {
            errors.push(FieldError::new("locator.selector", "required"));
        }
        for (field, value) in [
            ("locator.last_pass_element_html", &l.last_pass_element_html),
            ("locator.page_html", &l.page_html),
        ] {
            if value.len() > 5 * 1024 * 1024 {
                errors.push(FieldError::new(field, "at most 5 MiB"));
            }
        }
    }
    ApiError::check_fields(
        "The heal request is invalid; each entry in `errors` says what to fix.",
        errors,
    )
}

impl HealingService {
    /// The strategies' tunables from `healing.*`.
    fn tuning(&self) -> Tuning {
        Tuning {
            unquarantine_after_passes: self.settings.unquarantine_after,
            quarantine_days: (self.settings.quarantine_ttl.get().as_secs() / 86_400).max(1) as u32,
            ..Tuning::default()
        }
    }

    /// Runs every strategy on a stored failure and stores every proposal.
    pub async fn heal(
        &self,
        tenant: &TenantId,
        actor: &str,
        failure_id: &str,
        req: HealRequest,
    ) -> ApiResult<HealResponse> {
        validate(&req)?;
        let (t, id) = (tenant.clone(), failure_id.to_string());
        let loaded = self
            .db
            .run(move |conn| -> ApiResult<Option<Loaded>> {
                let Some(joined) = store::failure(conn, &t, &id)? else {
                    return Ok(None);
                };
                let samples = store::samples(conn, &t, &joined.0.test_id, HISTORY)?;
                let failures_in_run = store::failures_in_report(conn, &t, &joined.0.report_id)?;
                let repository = store::repository(conn, &t, &joined.0.project)?;
                Ok(Some(Loaded {
                    joined,
                    samples,
                    failures_in_run,
                    repository,
                }))
            })
            .await?
            .ok_or_else(|| HealingError::FailureNotFound {
                id: failure_id.to_string(),
            })?;
        let from_repo = match &loaded.repository {
            None => FromRepo::default(),
            Some(row) => {
                let mut paths: Vec<String> = loaded.joined.1.file.iter().cloned().collect();
                paths.extend(req.files.iter().cloned());
                self.read_repository(tenant, row, loaded.joined.2.commit_sha.clone(), paths)
                    .await
            }
        };
        let repository_error = from_repo.error.clone();
        let inputs = inputs(&loaded, &req, from_repo);
        let tuning = self.tuning();
        let proposals = run_blocking("healing.propose", move || {
            let proposals = strategies::propose(&inputs, &tuning);
            let best = strategies::best(&proposals).cloned();
            (proposals, best)
        })
        .await?;
        let (failure, _, result) = &loaded.joined;
        let request_id = Uuid::new_v4().to_string();
        let rows = rows_of(
            &request_id,
            tenant,
            actor,
            failure,
            result.commit_sha.clone(),
            proposals,
        );
        let stored = rows.clone();
        self.db
            .transaction(move |conn| -> ApiResult<()> {
                store::insert_healings(conn, &stored)?;
                Ok(())
            })
            .await?;
        let proposals: Vec<HealingView> = rows.into_iter().map(view).collect();
        for p in &proposals {
            self.publish_proposal(tenant, p).await;
        }
        super::stats::count_proposals(&proposals);
        Ok(HealResponse {
            request_id,
            failure_id: failure_id.to_string(),
            chosen: proposals.iter().find(|p| p.chosen).cloned(),
            proposals,
            repository_error,
        })
    }

    /// Files and the commit's diff from the registered repository; a repository that cannot
    /// be read is reported, and the strategies run without it.
    async fn read_repository(
        &self,
        tenant: &TenantId,
        row: &RepositoryRow,
        commit: Option<String>,
        mut paths: Vec<String>,
    ) -> FromRepo {
        let remote = match self.remote_of(row).await {
            Ok(remote) => remote,
            Err(e) => {
                return FromRepo {
                    error: Some(e.detail),
                    ..FromRepo::default()
                };
            }
        };
        let (root, tenant_id, repo_id) = (self.mirrors.clone(), tenant.0.clone(), row.id.clone());
        let max_bytes = self.settings.max_source_file_bytes;
        let _guard = self.git_lock.lock().await;
        let work = run_blocking("healing.repo.read", move || -> anyhow::Result<FromRepo> {
            let repo = repo::open_mirror(&root, &tenant_id, &repo_id)?;
            let tip = repo::fetch(&repo, &remote)?;
            // The diff says what the commit under test changed: only when the mirror has it.
            let found = repo::find_commit(&repo, commit.as_deref());
            let at = found.unwrap_or(tip);
            let (diff, changed) = match found {
                Some(c) => repo::commit_diff(&repo, c)?,
                None => (String::new(), Vec::new()),
            };
            paths.extend(changed);
            paths.truncate(MAX_FILES);
            let files = repo::read_files(&repo, at, &paths, max_bytes)?;
            Ok(FromRepo {
                files,
                commit_diff: diff,
                error: None,
            })
        });
        match tokio::time::timeout(self.settings.git_timeout.get(), work).await {
            Err(_) => FromRepo {
                error: Some(format!(
                    "reading the repository took longer than {} (healing.git_timeout)",
                    humantime::format_duration(self.settings.git_timeout.get())
                )),
                ..FromRepo::default()
            },
            Ok(Err(e)) => FromRepo {
                error: Some(format!("{e:?}")),
                ..FromRepo::default()
            },
            Ok(Ok(Err(e))) => FromRepo {
                error: Some(crate::modules::templates::git::redact_credentials(
                    &format!("{e:#}"),
                )),
                ..FromRepo::default()
            },
            Ok(Ok(Ok(found))) => found,
        }
    }

    /// The failures one report stored (what a `healing.analyze` step or a stream event heals).
    pub async fn failure_ids_of_report(
        &self,
        tenant: &TenantId,
        report_id: &str,
    ) -> ApiResult<Vec<String>> {
        let (t, key) = (tenant.clone(), report_id.to_string());
        self.db
            .run(move |conn| -> ApiResult<_> { Ok(store::failure_ids_of_report(conn, &t, &key)?) })
            .await
    }

    /// The report an upload from `source` stored, if any.
    pub async fn report_from_source(
        &self,
        tenant: &TenantId,
        source: &str,
    ) -> ApiResult<Option<String>> {
        let (t, key) = (tenant.clone(), source.to_string());
        self.db
            .run(move |conn| -> ApiResult<_> { Ok(store::report_by_source(conn, &t, &key)?) })
            .await
    }

    /// The proposals of the failure's newest heal request (empty: never healed).
    pub async fn latest_proposals(
        &self,
        tenant: &TenantId,
        failure_id: &str,
    ) -> ApiResult<Vec<HealingView>> {
        let (t, key) = (tenant.clone(), failure_id.to_string());
        let filter = store::HealingFilter {
            failure_id: Some(key),
            ..Default::default()
        };
        let (rows, _) = self
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::healings(conn, &t, &filter, 100, 0)?) })
            .await?;
        let newest = rows.first().map(|r| r.request_id.clone());
        Ok(rows
            .into_iter()
            .filter(|r| Some(&r.request_id) == newest.as_ref())
            .map(view)
            .collect())
    }

    pub(super) async fn publish_proposal(&self, tenant: &TenantId, p: &HealingView) {
        self.publish_event(
            super::HEALINGS_STREAM,
            &[
                ("tenant_id", tenant.0.clone()),
                ("project", p.project.clone()),
                ("request_id", p.request_id.clone()),
                ("healing_id", p.id.clone()),
                ("failure_id", p.failure_id.clone()),
                ("test_id", p.test_id.clone()),
                ("strategy", p.strategy.as_str().to_string()),
                ("action", p.action.as_str().to_string()),
                ("confidence", format!("{:.3}", p.confidence)),
                (
                    "risk",
                    serde_json::to_value(p.risk)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                ),
                ("status", p.status.clone()),
                ("chosen", p.chosen.to_string()),
                (
                    "proposal",
                    serde_json::to_string(p).unwrap_or_else(|_| "{}".into()),
                ),
            ],
        )
        .await;
    }
}

/// One row per proposal; the best one is marked `chosen`.
fn rows_of(
    request_id: &str,
    tenant: &TenantId,
    actor: &str,
    failure: &FailureRow,
    failure_commit: Option<String>,
    (proposals, best): (Vec<Proposal>, Option<Proposal>),
) -> Vec<HealingRow> {
    let now = Utc::now().naive_utc();
    let mut chosen_taken = false;
    proposals
        .into_iter()
        .map(|p| {
            let chosen = !chosen_taken && best.as_ref() == Some(&p);
            chosen_taken |= chosen;
            let abstained = p.action == Action::Abstain;
            HealingRow {
                id: Uuid::new_v4().to_string(),
                tenant_id: tenant.0.clone(),
                project: failure.project.clone(),
                failure_id: failure.id.clone(),
                test_id: failure.test_id.clone(),
                request_id: request_id.to_string(),
                chosen,
                strategy: p.strategy.as_str().to_string(),
                action: p.action.as_str().to_string(),
                patch: p.patch.as_ref().and_then(|x| serde_json::to_string(x).ok()),
                config: p
                    .config
                    .as_ref()
                    .and_then(|x| serde_json::to_string(x).ok()),
                confidence: if p.confidence.is_finite() {
                    p.confidence.clamp(0.0, 1.0)
                } else {
                    0.0
                },
                evidence: serde_json::to_string(&p.evidence).unwrap_or_else(|_| "[]".into()),
                risk: serde_json::to_value(p.risk)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "may_mask_regression".into()),
                abstain_reason: p.abstain_reason,
                status: if abstained { "abstained" } else { "proposed" }.into(),
                failure_commit: failure_commit.clone(),
                branch: None,
                commit_sha: None,
                quarantine_id: None,
                detail: None,
                created_by: actor.to_string(),
                created_at: now,
                decided_by: None,
                decided_at: None,
                verified_at: None,
                time_to_green_ms: None,
                false_heal_at: None,
            }
        })
        .collect()
}

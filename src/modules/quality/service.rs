//! `QualityService`: evaluates templates, stores a score per version, answers the publish and
//! regression gates, and builds reports. It reads templates only through `TemplatesService`.
//!
//! An evaluation is a pure function of the files, so it is kept in process per content digest
//! (`templates::content_digest`): the publish gate evaluates a new version once, and the handler
//! of the write's event (which carries the digest) takes that evaluation out (so the cache holds
//! only evaluations whose event is still due, and never fills under a stream of creates — full,
//! its admission policy turned new digests away and ~1 create in 8 was scored twice) instead of
//! reading the version back from git and scoring it again.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value};

use super::checks::{self, Evaluation, InputFile, Status};
use super::error::QualityError;
use super::model::{HistoryEntry, OverrideView, ScoreResponse, ValidateRequest};
use super::report::{self, Report};
use super::settings::QualitySettings;
use super::store::{self, LatestRow, OverrideRow, ScoreRow};
use crate::modules::templates::{
    GateVerdict, PublishCandidate, TemplatesService, content_digest, files_from_json,
};
use crate::platform::Platform;
use crate::platform::auth::{Principal, Role, TenantId};
use crate::platform::blocking::run_blocking;
use crate::platform::cache::Cache;
use crate::platform::db::Db;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::pagination::{Page, PageQuery};
use crate::render::{self, SourceFile};

const REPORT_TTL: Duration = Duration::from_secs(60);
/// The cache generation a new score moves, so a report built before it is never served after.
const REPORT_NAMESPACE: &str = "quality-report";
/// Evaluations kept per content digest (the gate's, until the event handler takes them).
const EVALUATIONS_KEPT: u64 = 4096;
const EVALUATION_TTL: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct QualityService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cache: Cache,
    settings: QualitySettings,
    templates: TemplatesService,
    /// Content digest → its evaluation (see the module documentation).
    evaluations: moka::future::Cache<String, Arc<Evaluation>>,
}

/// What is known about the version being scored.
pub struct Subject<'a> {
    pub template_id: &'a str,
    pub commit: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub category: &'a str,
}

impl QualityService {
    pub fn new(platform: &Platform, templates: TemplatesService) -> QualityService {
        QualityService {
            inner: Arc::new(Inner {
                db: platform.db.clone(),
                cache: platform.cache.clone(),
                settings: platform.settings.quality.clone(),
                templates,
                evaluations: moka::future::Cache::builder()
                    .max_capacity(EVALUATIONS_KEPT)
                    .time_to_live(EVALUATION_TTL)
                    .build(),
            }),
        }
    }

    pub fn settings(&self) -> &QualitySettings {
        &self.inner.settings
    }

    pub fn templates(&self) -> &TemplatesService {
        &self.inner.templates
    }

    /// Runs the checks, rendering output paths with the default parameters through the
    /// renderer. CPU-bound: callers run it on the blocking pool.
    pub fn evaluate_files(files: &[SourceFile], min_score: u32) -> Evaluation {
        let input: Vec<InputFile> = files
            .iter()
            .map(|f| InputFile {
                path: f.path.clone(),
                content: f.content.clone(),
            })
            .collect();
        let render = || -> Result<Vec<String>, String> {
            let opts = render::RenderOptions::default();
            // The registry's reading of the files (manifest.yaml + cookiecutter.json is a
            // cookiecutter template); a folder without a manifest is tried as-is.
            let (spec, inputs) = match render::inspect(files) {
                Ok(inspected) => {
                    let inputs = inspected.render_inputs(files);
                    (inspected.spec, inputs)
                }
                Err(_) => (
                    render::detect(files).map_err(|e| e.to_string())?,
                    files.to_vec(),
                ),
            };
            let ctx = render::resolve_parameters(&spec, &Map::new(), &opts).map_err(|errors| {
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
            let out = render::render(&spec, &inputs, &ctx, &opts).map_err(|e| e.to_string())?;
            Ok(out.files.into_iter().map(|f| f.path).collect())
        };
        checks::evaluate(
            &checks::Input {
                files: &input,
                render_paths: Some(&render),
            },
            min_score,
        )
    }

    async fn evaluate(&self, files: Vec<SourceFile>) -> ApiResult<Evaluation> {
        let min = self.inner.settings.min_score;
        Ok(run_blocking("quality.evaluate", move || {
            Self::evaluate_files(&files, min)
        })
        .await?)
    }

    /// The evaluation of content with this digest: the one kept from an earlier call (the gate's),
    /// or computed from `files()` and kept (the files are only taken when nothing is kept).
    pub async fn evaluation_of(
        &self,
        digest: &str,
        files: impl FnOnce() -> Vec<SourceFile>,
    ) -> ApiResult<Arc<Evaluation>> {
        if let Some(kept) = self.inner.evaluations.get(digest).await {
            metrics::counter!("maestro_quality_evaluations_total", "source" => "kept").increment(1);
            return Ok(kept);
        }
        let eval = Arc::new(self.evaluate(files()).await?);
        metrics::counter!("maestro_quality_evaluations_total", "source" => "computed").increment(1);
        self.inner
            .evaluations
            .insert(digest.to_string(), eval.clone())
            .await;
        Ok(eval)
    }

    /// Scores a version a templates write event announced: with the gate's evaluation of that
    /// content when it is kept (`digest` from the event), else read from git and evaluated.
    pub async fn record_announced(
        &self,
        tenant: &TenantId,
        subject: &Subject<'_>,
        digest: Option<&str>,
    ) -> ApiResult<()> {
        let kept = match digest {
            Some(d) => self.inner.evaluations.remove(d).await,
            None => None,
        };
        let eval = match kept {
            Some(eval) => {
                metrics::counter!("maestro_quality_evaluations_total", "source" => "kept")
                    .increment(1);
                eval
            }
            None => {
                let content = self
                    .inner
                    .templates
                    .get_content(tenant, subject.template_id, Some(subject.commit))
                    .await?;
                let digest = content_digest(&content.files);
                self.evaluation_of(&digest, || content.files).await?
            }
        };
        self.store(tenant, subject, &eval).await?;
        Ok(())
    }

    /// `POST /quality/validate`: scores a stored template or an inline one; stores nothing.
    pub async fn validate(
        &self,
        caller: &Principal,
        request: ValidateRequest,
    ) -> ApiResult<ScoreResponse> {
        match (request.template_id, request.template) {
            (Some(id), None) => {
                let summary = self.inner.templates.get(&caller.tenant_id, &id).await?;
                TemplatesService::check_visible(&summary, caller.role)?;
                let content = self
                    .inner
                    .templates
                    .get_content(&caller.tenant_id, &id, None)
                    .await?;
                let eval = self.evaluate(content.files).await?;
                Ok(ScoreResponse::new(
                    Some(id),
                    Some(content.commit),
                    Some(summary.version),
                    eval,
                    self.inner.settings.min_score,
                    None,
                ))
            }
            (None, Some(inline)) => {
                let mut files = match &inline.files {
                    Some(map) => files_from_json(map)?,
                    None => Vec::new(),
                };
                if let Some(manifest) = inline.manifest {
                    let yaml = yaml_serde::to_string(&manifest).map_err(ApiError::internal)?;
                    files.retain(|f| f.path != "manifest.yaml");
                    files.push(SourceFile {
                        path: "manifest.yaml".into(),
                        content: yaml.into_bytes(),
                        executable: false,
                    });
                }
                if files.is_empty() {
                    return Err(ApiError::validation(
                        "Nothing to validate.",
                        vec![FieldError::new(
                            "template",
                            "give `manifest` and/or `files`",
                        )],
                    ));
                }
                let eval = self.evaluate(files).await?;
                Ok(ScoreResponse::new(
                    None,
                    None,
                    None,
                    eval,
                    self.inner.settings.min_score,
                    None,
                ))
            }
            _ => Err(ApiError::validation(
                "Say what to validate.",
                vec![FieldError::new(
                    "template_id",
                    "give either `template_id` (a stored template) or `template` ({manifest, files}), not both",
                )],
            )),
        }
    }

    /// `POST /quality/score`: scores the template's current version and stores the result.
    pub async fn score(&self, caller: &Principal, template_id: &str) -> ApiResult<ScoreResponse> {
        let summary = self
            .inner
            .templates
            .get(&caller.tenant_id, template_id)
            .await?;
        let content = self
            .inner
            .templates
            .get_content(
                &caller.tenant_id,
                template_id,
                Some(&summary.current_commit),
            )
            .await?;
        let subject = Subject {
            template_id: &summary.id,
            commit: &content.commit,
            name: &summary.name,
            version: &summary.version,
            category: &summary.category,
        };
        let digest = content_digest(&content.files);
        let eval = self.evaluation_of(&digest, || content.files).await?;
        let forced = self.store(&caller.tenant_id, &subject, &eval).await?;
        Ok(ScoreResponse::new(
            Some(summary.id.clone()),
            Some(content.commit),
            Some(summary.version),
            (*eval).clone(),
            self.inner.settings.min_score,
            forced,
        ))
    }

    /// Stores one version's evaluation: the history row (once per commit), the template's
    /// current score, and the score on the template itself. Returns the admin override that let
    /// this version past the regression gate, if any.
    async fn store(
        &self,
        tenant: &TenantId,
        subject: &Subject<'_>,
        eval: &Evaluation,
    ) -> ApiResult<Option<OverrideView>> {
        let now = Utc::now().naive_utc();
        let names = |status: Status| {
            eval.checks
                .iter()
                .iter()
                .filter(|(_, c)| c.status == status)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(",")
        };
        let score_row = ScoreRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.0.clone(),
            template_id: subject.template_id.to_string(),
            commit_id: subject.commit.to_string(),
            template_name: subject.name.to_string(),
            version: subject.version.to_string(),
            category: subject.category.to_string(),
            score: i64::from(eval.score),
            passed: eval.passed,
            evaluation: serde_json::to_string(eval).map_err(ApiError::internal)?,
            forced_by: None,
            forced_reason: None,
            created_at: now,
        };
        let latest = LatestRow {
            tenant_id: tenant.0.clone(),
            template_id: subject.template_id.to_string(),
            commit_id: subject.commit.to_string(),
            category: subject.category.to_string(),
            score: i64::from(eval.score),
            passed: eval.passed,
            failing_checks: names(Status::Fail),
            warning_checks: names(Status::Warning),
            updated_at: now,
        };
        // Versions can be scored out of order (bus handlers, explicit /score calls): only the
        // template's current version may become its current score; whether it is, the
        // template's row says inside the transaction that stores the score on it.
        let (t, id, commit) = (
            tenant.clone(),
            subject.template_id.to_string(),
            subject.commit.to_string(),
        );
        let (_, (inserted, forced)) = self
            .inner
            .templates
            .set_quality_score_with(
                tenant,
                subject.template_id,
                subject.commit,
                f64::from(eval.score),
                move |conn, current| -> ApiResult<(bool, Option<OverrideRow>)> {
                    let inserted = store::insert_score(conn, &score_row)?;
                    if current {
                        store::put_latest(conn, &latest)?;
                    }
                    let forced = store::attach_override(conn, &t, &id, &commit)?;
                    Ok((inserted, forced))
                },
            )
            .await?;
        if inserted {
            metrics::histogram!("maestro_quality_evaluation_score", "category" => subject.category.to_string())
                .record(f64::from(eval.score));
        }
        self.inner
            .cache
            .bump(REPORT_NAMESPACE, tenant.as_str())
            .await;
        Ok(forced.map(OverrideView::from))
    }

    /// A deleted template leaves the report (its history stays).
    pub async fn forget(&self, tenant: &TenantId, template_id: &str) -> ApiResult<()> {
        let (t, id) = (tenant.clone(), template_id.to_string());
        self.inner
            .db
            .run(move |conn| -> ApiResult<usize> { Ok(store::delete_latest(conn, &t, &id)?) })
            .await?;
        self.inner
            .cache
            .bump(REPORT_NAMESPACE, tenant.as_str())
            .await;
        Ok(())
    }

    /// The publish and regression gates for one candidate version. Its evaluation is kept for
    /// the write's event (see the module documentation).
    pub async fn gate(&self, candidate: &PublishCandidate) -> ApiResult<GateVerdict> {
        let eval = self
            .evaluation_of(&candidate.digest, || candidate.files.clone())
            .await?;
        let note = serde_json::json!({"quality_score": eval.score, "passed": eval.passed});
        if !self.inner.settings.gates {
            return Ok(GateVerdict::Allow { note: Some(note) });
        }
        if !eval.passed {
            return Ok(GateVerdict::Refuse(refusal(
                &eval,
                self.inner.settings.min_score,
            )));
        }
        let previous = if candidate.previous_commit.is_some() {
            let (t, id) = (candidate.tenant.clone(), candidate.template_id.clone());
            self.inner
                .db
                .run(move |conn| -> ApiResult<Option<LatestRow>> {
                    Ok(store::latest(conn, &t, &id)?)
                })
                .await?
        } else {
            None
        };
        let max_drop = i64::from(self.inner.settings.max_score_drop);
        if let Some(prev) = previous
            && prev.score - i64::from(eval.score) > max_drop
        {
            let drop = prev.score - i64::from(eval.score);
            match &candidate.force {
                Some(force) if candidate.actor.role == Role::Admin => {
                    let row = OverrideRow {
                        id: uuid::Uuid::new_v4().to_string(),
                        tenant_id: candidate.tenant.0.clone(),
                        template_id: candidate.template_id.clone(),
                        previous_commit: candidate.previous_commit.clone(),
                        commit_id: None,
                        actor_id: candidate.actor.user_id.clone(),
                        actor_name: candidate.actor.display_name(),
                        reason: force.reason.clone(),
                        previous_score: prev.score,
                        new_score: i64::from(eval.score),
                        created_at: Utc::now().naive_utc(),
                    };
                    self.inner
                        .db
                        .run(move |conn| -> ApiResult<()> {
                            Ok(store::insert_override(conn, &row)?)
                        })
                        .await?;
                    tracing::warn!(
                        template_id = %candidate.template_id,
                        actor = %candidate.actor.display_name(),
                        reason = %force.reason,
                        from = prev.score,
                        to = eval.score,
                        "quality regression forced through by an admin"
                    );
                    let mut note = note;
                    note["forced"] = serde_json::json!({"by": candidate.actor.display_name(), "reason": force.reason, "previous_score": prev.score});
                    return Ok(GateVerdict::Allow { note: Some(note) });
                }
                Some(_) => {
                    return Err(ApiError::forbidden(
                        "Only an admin can force a publish past the regression gate.",
                    ));
                }
                None => {
                    return Ok(GateVerdict::Refuse(
                        QualityError::Regression {
                            score: eval.score,
                            previous: prev.score,
                            drop,
                            max_drop,
                            checks: check_errors(&eval),
                        }
                        .into(),
                    ));
                }
            }
        }
        Ok(GateVerdict::Allow { note: Some(note) })
    }

    /// The tenant's report; cached for a minute (a new score drops it).
    pub async fn report(&self, tenant: &TenantId) -> ApiResult<Report> {
        // The generation is read before the build: a score that commits while the report is
        // being built moves it, so the stale build is stored under a key nobody reads again.
        // (Deleting one key raced: the build could be stored after the score's delete.)
        let generation = self
            .inner
            .cache
            .generation_token(REPORT_NAMESPACE, tenant.as_str())
            .await;
        let key = format!("quality:report:{tenant}:{generation}");
        if let Some(cached) = self.inner.cache.get_json::<Report>(&key).await {
            return Ok(cached);
        }
        let built = self.report_uncached(tenant).await?;
        self.inner
            .cache
            .set_json(&key, &built, Some(REPORT_TTL))
            .await;
        Ok(built)
    }

    /// Like [`QualityService::report`], always from the database (benchmarks, diagnostics).
    pub async fn report_uncached(&self, tenant: &TenantId) -> ApiResult<Report> {
        let t = tenant.clone();
        let since = (Utc::now() - chrono::Duration::days(report::TREND_DAYS)).naive_utc();
        let (latest, recent) = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok((
                    store::all_latest(conn, &t)?,
                    store::scores_since(conn, &t, since)?,
                ))
            })
            .await?;
        Ok(report::build(
            &latest,
            &recent,
            self.inner.settings.min_score,
            Utc::now(),
        ))
    }

    /// The scores of a template's versions, for a caller acting with `role` (a draft's are a 404
    /// for viewers, as the draft itself is).
    pub async fn history(
        &self,
        tenant: &TenantId,
        role: Role,
        template_id: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<HistoryEntry>> {
        // 404 for unknown or another tenant's templates, even when deleted ones left history.
        let known = self.inner.templates.get(tenant, template_id).await;
        if let Ok(template) = &known {
            TemplatesService::check_visible(template, role)?;
        }
        let (t, id) = (tenant.clone(), template_id.to_string());
        let (limit, offset) = (page.limit(), page.offset());
        let (rows, total) = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::history(conn, &t, &id, limit, offset)?) })
            .await?;
        if known.is_err() && total == 0 {
            return Err(known.err().unwrap_or_else(|| {
                ApiError::not_found("templates.not_found", "No such template.")
            }));
        }
        Ok(Page::new(
            rows.into_iter().map(HistoryEntry::from).collect(),
            total,
            page,
        ))
    }

    pub async fn overrides(
        &self,
        tenant: &TenantId,
        template_id: Option<String>,
        page: &PageQuery,
    ) -> ApiResult<Page<OverrideView>> {
        let t = tenant.clone();
        self.inner
            .db
            .page(
                page,
                move |conn, limit, offset| {
                    Ok(store::overrides(
                        conn,
                        &t,
                        template_id.as_deref(),
                        limit,
                        offset,
                    )?)
                },
                OverrideView::from,
            )
            .await
    }

    /// The admin-stats section.
    pub async fn stats(&self, tenant: &TenantId) -> ApiResult<Value> {
        let r = self.report(tenant).await?;
        Ok(serde_json::json!({
            "templates_scored": r.templates_scored,
            "pass_rate": r.pass_rate,
            "average_score": r.average_score,
            "failing": r.failed,
            "pass_mark": r.pass_mark,
            "gates_enabled": self.inner.settings.gates,
        }))
    }

    /// Refreshes the per-category pass rate and score distribution gauges (all tenants).
    pub async fn collect_metrics(&self) {
        let Ok(rows) = self
            .inner
            .db
            .run(|conn| -> ApiResult<_> { Ok(store::latest_across_tenants(conn)?) })
            .await
        else {
            return;
        };
        let mut by_category: std::collections::BTreeMap<String, (usize, usize, [usize; 10])> =
            Default::default();
        for (category, score, passed) in rows {
            let entry = by_category.entry(category).or_default();
            entry.0 += 1;
            entry.1 += usize::from(passed);
            entry.2[report::bucket_index(score)] += 1;
        }
        for (category, (n, ok, buckets)) in by_category {
            metrics::gauge!("maestro_quality_pass_rate", "category" => category.clone())
                .set(ok as f64 / n as f64);
            // Cumulative buckets, Prometheus-style, so histogram_quantile works on them.
            let mut cumulative = 0;
            for (i, count) in buckets.iter().enumerate() {
                cumulative += count;
                let le = if i == 9 {
                    "100".to_string()
                } else {
                    format!("{}", i * 10 + 9)
                };
                metrics::gauge!("maestro_quality_score_bucket", "category" => category.clone(), "le" => le)
                    .set(cumulative as f64);
            }
            metrics::gauge!("maestro_quality_score_bucket", "category" => category.clone(), "le" => "+Inf").set(n as f64);
            metrics::gauge!("maestro_quality_score_count", "category" => category).set(n as f64);
        }
    }
}

/// One field error per check that is not passing, carrying its recommendations.
fn check_errors(eval: &Evaluation) -> Vec<FieldError> {
    eval.checks
        .iter()
        .iter()
        .filter(|(_, c)| c.status != Status::Pass)
        .map(|(name, c)| {
            let what = if c.recommendations.is_empty() {
                c.evidence.join("; ")
            } else {
                c.recommendations.join(" ")
            };
            FieldError::new(
                format!("checks.{name}"),
                format!(
                    "{} ({:.0}/{:.0}): {what}",
                    c.status.as_str(),
                    c.score,
                    c.max_score
                ),
            )
        })
        .collect()
}

fn refusal(eval: &Evaluation, min: u32) -> ApiError {
    QualityError::GateFailed {
        score: eval.score,
        min,
        blocking: eval.blocking.clone(),
        checks: check_errors(eval),
    }
    .into()
}

//! `QualityService`: evaluates templates, stores a score per version, answers the publish and
//! regression gates, and builds reports. It reads templates only through `TemplatesService`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value};

use super::checks::{self, Evaluation, InputFile, Status};
use super::model::{HistoryEntry, OverrideView, ScoreResponse, ValidateRequest};
use super::report::{self, Report};
use super::settings::QualitySettings;
use super::store::{self, LatestRow, OverrideRow, ScoreRow};
use crate::modules::templates::TemplatesService;
use crate::platform::Platform;
use crate::platform::auth::{Principal, Role, TenantId};
use crate::platform::cache::Cache;
use crate::platform::db::Db;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::pagination::{Page, PageQuery};
use crate::render::{self, SourceFile};

const REPORT_TTL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct QualityService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cache: Cache,
    settings: QualitySettings,
    templates: TemplatesService,
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
        tokio::task::spawn_blocking(move || Self::evaluate_files(&files, min))
            .await
            .map_err(ApiError::internal)
    }

    /// `POST /quality/validate`: scores a stored template or an inline one; stores nothing.
    pub async fn validate(
        &self,
        caller: &Principal,
        request: ValidateRequest,
    ) -> ApiResult<ScoreResponse> {
        match (request.template_id, request.template) {
            (Some(id), None) => {
                let content = self
                    .inner
                    .templates
                    .get_content(&caller.tenant_id, &id, None)
                    .await?;
                let summary = self.inner.templates.get(&caller.tenant_id, &id).await?;
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
                    Some(map) => crate::modules::templates::service::files_from_json(map)?,
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
        let (eval, forced) = self
            .record(&caller.tenant_id, &subject, content.files)
            .await?;
        Ok(ScoreResponse::new(
            Some(summary.id.clone()),
            Some(content.commit),
            Some(summary.version),
            eval,
            self.inner.settings.min_score,
            forced,
        ))
    }

    /// Scores one version and stores it: the history row (once per commit), the template's current
    /// score, and the score on the template itself.
    pub async fn record(
        &self,
        tenant: &TenantId,
        subject: &Subject<'_>,
        files: Vec<SourceFile>,
    ) -> ApiResult<(Evaluation, Option<OverrideView>)> {
        let eval = self.evaluate(files).await?;
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
            evaluation: serde_json::to_string(&eval).map_err(ApiError::internal)?,
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
        // template's current version may become its current score.
        let current = self
            .inner
            .templates
            .get(tenant, subject.template_id)
            .await
            .is_ok_and(|t| t.current_commit == subject.commit);
        let (t, id, commit) = (
            tenant.clone(),
            subject.template_id.to_string(),
            subject.commit.to_string(),
        );
        let (inserted, forced) = self
            .inner
            .db
            .transaction(move |conn| -> ApiResult<(bool, Option<OverrideRow>)> {
                let inserted = store::insert_score(conn, &score_row)?;
                if current {
                    store::put_latest(conn, &latest)?;
                }
                let forced = store::attach_override(conn, &t, &id, &commit)?;
                Ok((inserted, forced))
            })
            .await?;
        if inserted {
            metrics::histogram!("maestro_quality_evaluation_score", "category" => subject.category.to_string())
                .record(f64::from(eval.score));
        }
        self.inner
            .templates
            .set_quality_score(
                tenant,
                subject.template_id,
                subject.commit,
                f64::from(eval.score),
            )
            .await?;
        self.inner.cache.delete(&report_key(tenant)).await;
        Ok((eval, forced.map(OverrideView::from)))
    }

    /// Scores a version announced on the bus. Transient failures (the database busy or
    /// restarting) are retried with backoff; a version that vanished (deleted meanwhile) is not.
    pub async fn record_with_retries(
        &self,
        tenant: &TenantId,
        subject: &Subject<'_>,
    ) -> ApiResult<()> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let outcome = async {
                let content = self
                    .inner
                    .templates
                    .get_content(tenant, subject.template_id, Some(subject.commit))
                    .await?;
                self.record(tenant, subject, content.files).await
            }
            .await;
            match outcome {
                Ok(_) => return Ok(()),
                Err(e) if e.status.is_server_error() && attempt < 5 => {
                    tracing::debug!(attempt, error = %e, "scoring failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 3;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A deleted template leaves the report (its history stays).
    pub async fn forget(&self, tenant: &TenantId, template_id: &str) -> ApiResult<()> {
        let (t, id) = (tenant.clone(), template_id.to_string());
        self.inner
            .db
            .run(move |conn| -> ApiResult<usize> { Ok(store::delete_latest(conn, &t, &id)?) })
            .await?;
        self.inner.cache.delete(&report_key(tenant)).await;
        Ok(())
    }

    /// The publish and regression gates for one candidate version.
    pub async fn gate(
        &self,
        candidate: &crate::modules::templates::gate::PublishCandidate,
    ) -> ApiResult<crate::modules::templates::gate::GateVerdict> {
        use crate::modules::templates::gate::GateVerdict;
        let eval = self.evaluate(candidate.files.clone()).await?;
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
                    let mut err = ApiError::unprocessable(
                        "quality.regression",
                        format!(
                            "This version scores {} where the current one scores {}: a drop of {drop} points, more than the {max_drop} allowed. Fix the regressions below, or have an admin publish it with `\"force\": {{\"reason\": \"…\"}}`.",
                            eval.score, prev.score
                        ),
                    );
                    err.errors = check_errors(&eval);
                    return Ok(GateVerdict::Refuse(err));
                }
            }
        }
        Ok(GateVerdict::Allow { note: Some(note) })
    }

    pub async fn report(&self, tenant: &TenantId) -> ApiResult<Report> {
        let key = report_key(tenant);
        if let Some(cached) = self.inner.cache.get_json::<Report>(&key).await {
            return Ok(cached);
        }
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
        let built = report::build(&latest, &recent, self.inner.settings.min_score, Utc::now());
        self.inner
            .cache
            .set_json(&key, &built, Some(REPORT_TTL))
            .await;
        Ok(built)
    }

    pub async fn history(
        &self,
        tenant: &TenantId,
        template_id: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<HistoryEntry>> {
        // 404 for unknown or another tenant's templates, even when deleted ones left history.
        let known = self.inner.templates.get(tenant, template_id).await;
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
        let (limit, offset) = (page.limit(), page.offset());
        let (rows, total) = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::overrides(
                    conn,
                    &t,
                    template_id.as_deref(),
                    limit,
                    offset,
                )?)
            })
            .await?;
        Ok(Page::new(
            rows.into_iter().map(OverrideView::from).collect(),
            total,
            page,
        ))
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

fn report_key(tenant: &TenantId) -> String {
    format!("quality:report:{tenant}")
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
    let mut err = ApiError::unprocessable(
        "quality.gate_failed",
        format!(
            "This template scores {} (pass mark {min}) and cannot be published: {}. Each entry in `errors` says what to fix.",
            eval.score,
            eval.blocking.join("; ")
        ),
    );
    err.errors = check_errors(eval);
    err
}

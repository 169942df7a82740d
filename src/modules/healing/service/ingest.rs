//! Ingest: parse every file of an upload (on the blocking pool), then store the report, its
//! tests, results and failures in one transaction — a malformed file stores nothing.

use std::collections::HashMap;

use chrono::Utc;
use uuid::Uuid;

use super::HealingService;
use crate::modules::healing::classify::{self, Category};
use crate::modules::healing::error::HealingError;
use crate::modules::healing::junit::{
    self, Case, Counts, Evidence, Framework, JunitError, Outcome, TextLimits, text::bounded,
};
use crate::modules::healing::model::{IngestResponse, JsonCase};
use crate::modules::healing::store::{self, FailureRow, ReportRow, ResultRow, TestRow};
use crate::platform::auth::TenantId;
use crate::platform::blocking::run_blocking;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};

/// One upload: where it came from, and its files and/or cases.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub project: String,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    pub ci_run_id: Option<String>,
    pub attempt: Option<u32>,
    pub framework: Option<Framework>,
    /// Who sent it: `api`, `k8s`, …
    pub source: String,
    /// (file name, XML bytes).
    pub files: Vec<(String, Vec<u8>)>,
    pub cases: Vec<JsonCase>,
}

impl From<JunitError> for HealingError {
    fn from(e: JunitError) -> Self {
        match e {
            JunitError::Malformed {
                file,
                line,
                byte,
                reason,
            } => HealingError::MalformedReport {
                file,
                line,
                byte,
                reason,
            },
            JunitError::NotJunit { file, root } => HealingError::NotJunit { file, root },
        }
    }
}

/// Trims an optional text field; empty means absent.
fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn validate(upload: &Upload) -> ApiResult<()> {
    let mut errors = Vec::new();
    let project = upload.project.trim();
    if project.is_empty() || project.len() > 200 {
        errors.push(FieldError::new(
            "project",
            "required: the project's name, 1 to 200 characters",
        ));
    }
    for (field, value) in [
        ("commit_sha", &upload.commit_sha),
        ("branch", &upload.branch),
        ("ci_run_id", &upload.ci_run_id),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > 255) {
            errors.push(FieldError::new(field, "at most 255 characters"));
        }
    }
    if upload.attempt == Some(0) {
        errors.push(FieldError::new("attempt", "starts at 1"));
    }
    for (i, case) in upload.cases.iter().enumerate() {
        if case.name.trim().is_empty() {
            errors.push(FieldError::new(format!("cases[{i}].name"), "required"));
        }
        if case.attempts == Some(0) {
            errors.push(FieldError::new(
                format!("cases[{i}].attempts"),
                "starts at 1",
            ));
        }
    }
    ApiError::check_fields(
        "The report's metadata is invalid; each entry in `errors` says what to fix.",
        errors,
    )
}

/// A JSON case as a parsed case: a failing or flaky one gets one evidence entry.
fn json_case(framework: Framework, c: JsonCase, limits: TextLimits) -> Case {
    let failing = c.outcome.is_failing() || c.outcome == Outcome::Flaky;
    let evidence = if failing {
        let kind = match c.outcome {
            Outcome::Error => "error",
            Outcome::Flaky => "flakyFailure",
            _ => "failure",
        };
        vec![Evidence {
            kind: kind.into(),
            message: c
                .message
                .as_deref()
                .map(|m| bounded(m, limits.message_bytes)),
            failure_type: c
                .failure_type
                .as_deref()
                .map(|m| bounded(m, limits.message_bytes)),
            body: bounded(c.body.as_deref().unwrap_or_default(), limits.output_bytes),
            system_out: None,
            system_err: None,
        }]
    } else {
        Vec::new()
    };
    let attempts = c
        .attempts
        .unwrap_or(if c.outcome == Outcome::Flaky { 2 } else { 1 });
    Case {
        framework,
        suite: c.suite,
        classname: junit::merge::normalise(&c.classname),
        name: junit::merge::normalise(&c.name),
        file: c.file,
        duration_ms: c.duration_ms.filter(|d| *d >= 0),
        outcome: c.outcome,
        attempts,
        evidence,
        skip_message: None,
        system_out: c.system_out.map(|s| bounded(&s, limits.output_bytes)),
        system_err: c.system_err.map(|s| bounded(&s, limits.output_bytes)),
    }
}

struct Parsed {
    framework: Framework,
    cases: Vec<Case>,
}

fn parse_all(upload: Upload, limits: TextLimits, max_cases: usize) -> Result<Parsed, ApiError> {
    let mut cases: Vec<Case> = Vec::new();
    let mut first: Option<Framework> = None;
    for (name, bytes) in &upload.files {
        let parsed =
            junit::parse(name, bytes, upload.framework, limits).map_err(HealingError::from)?;
        first.get_or_insert(parsed.framework);
        cases.extend(parsed.cases);
        if cases.len() > max_cases {
            return Err(HealingError::TooManyCases { max: max_cases }.into());
        }
    }
    let json_framework = upload.framework.unwrap_or(Framework::Junit);
    for c in upload.cases {
        cases.push(json_case(json_framework, c, limits));
    }
    if cases.len() > max_cases {
        return Err(HealingError::TooManyCases { max: max_cases }.into());
    }
    // Surefire and Gradle write one file per class: the same test in two files of one upload
    // is one test; keep its worst outcome (fold as for duplicates in one file).
    let framework = first.unwrap_or(json_framework);
    Ok(Parsed {
        framework,
        cases: dedupe(cases),
    })
}

/// One case per identity across the upload's files.
fn dedupe(cases: Vec<Case>) -> Vec<Case> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Case> = Vec::with_capacity(cases.len());
    for case in cases {
        let key = case.identity().hash();
        match seen.get(&key) {
            Some(&i) => {
                let kept = &mut out[i];
                if rank(case.outcome) > rank(kept.outcome) {
                    kept.outcome = case.outcome;
                }
                kept.attempts = kept.attempts.max(case.attempts);
                kept.evidence.extend(case.evidence);
            }
            None => {
                seen.insert(key, out.len());
                out.push(case);
            }
        }
    }
    out
}

fn rank(o: Outcome) -> u8 {
    match o {
        Outcome::Skipped => 0,
        Outcome::Passed => 1,
        Outcome::Flaky => 2,
        Outcome::Error => 3,
        Outcome::Failed => 4,
    }
}

impl HealingService {
    /// Parses and stores one upload; all or nothing.
    pub async fn ingest(&self, tenant: &TenantId, mut upload: Upload) -> ApiResult<IngestResponse> {
        upload.project = upload.project.trim().to_string();
        upload.commit_sha = clean(upload.commit_sha.take());
        upload.branch = clean(upload.branch.take());
        upload.ci_run_id = clean(upload.ci_run_id.take());
        validate(&upload)?;
        if upload.files.is_empty() && upload.cases.is_empty() {
            return Err(HealingError::EmptyUpload.into());
        }
        let limits = TextLimits {
            output_bytes: self.settings.max_output_bytes,
            message_bytes: self.settings.max_message_bytes,
        };
        let max_cases = self.settings.max_cases;
        let meta = Meta {
            project: upload.project.clone(),
            commit_sha: upload.commit_sha.clone(),
            branch: upload.branch.clone(),
            ci_run_id: upload.ci_run_id.clone(),
            attempt: upload.attempt.unwrap_or(1),
            source: upload.source.clone(),
            files: upload.files.len() as i64,
            unquarantine_after: self.settings.unquarantine_after,
        };
        let parsed = run_blocking("healing.parse", move || {
            parse_all(upload, limits, max_cases)
        })
        .await??;
        let t = tenant.clone();
        let (stored, verdicts, released) = self
            .db
            .transaction(move |conn| store_report(conn, &t, &meta, parsed))
            .await?;
        for v in verdicts {
            let view = super::heal::view(v.row);
            super::stats::count_outcome(view.strategy, v.outcome);
            self.publish_outcome(tenant, &view, v.outcome).await;
        }
        if !released.is_empty() {
            tracing::info!(
                tests = released.len(),
                "released from quarantine after consecutive passes"
            );
        }
        Ok(stored)
    }
}

struct Meta {
    project: String,
    commit_sha: Option<String>,
    branch: Option<String>,
    ci_run_id: Option<String>,
    attempt: u32,
    source: String,
    files: i64,
    unquarantine_after: u32,
}

/// Notes the results that are flaky evidence (retried passes, or attempts on one commit that
/// disagree with earlier ones); runs before the results are inserted, so "earlier" is exact.
fn note_flaky_evidence(
    conn: &mut crate::platform::db::DbConnection,
    tenant: &TenantId,
    meta: &Meta,
    results: &[ResultRow],
    now: chrono::NaiveDateTime,
) -> ApiResult<()> {
    let mut earlier: HashMap<String, Vec<Outcome>> = HashMap::new();
    if let Some(sha) = &meta.commit_sha {
        for (test_id, outcome) in store::commit_outcomes(conn, tenant, &meta.project, sha)? {
            if let Some(o) = Outcome::parse(&outcome) {
                earlier.entry(test_id).or_default().push(o);
            }
        }
    }
    let evidence: Vec<&str> = results
        .iter()
        .filter(|r| {
            Outcome::parse(&r.outcome).is_some_and(|o| {
                let seen = earlier.get(&r.test_id).map_or(&[][..], Vec::as_slice);
                super::flaky::shows_flakiness(o, seen)
            })
        })
        .map(|r| r.test_id.as_str())
        .collect();
    store::note_flaky_evidence(conn, tenant, &meta.project, &evidence, now)?;
    Ok(())
}

fn store_report(
    conn: &mut crate::platform::db::DbConnection,
    tenant: &TenantId,
    meta: &Meta,
    parsed: Parsed,
) -> ApiResult<(IngestResponse, Vec<super::verify::Verdict>, Vec<String>)> {
    let now = Utc::now().naive_utc();
    let counts = Counts::of(&parsed.cases);
    let report_id = Uuid::new_v4().to_string();
    let duration_ms = parsed
        .cases
        .iter()
        .filter_map(|c| c.duration_ms)
        .reduce(|a, b| a.saturating_add(b));
    store::insert_report(
        conn,
        &ReportRow {
            id: report_id.clone(),
            tenant_id: tenant.as_str().to_string(),
            project: meta.project.clone(),
            commit_sha: meta.commit_sha.clone(),
            branch: meta.branch.clone(),
            ci_run_id: meta.ci_run_id.clone(),
            attempt: i64::from(meta.attempt),
            source: meta.source.clone(),
            framework: parsed.framework.as_str().to_string(),
            files: meta.files,
            tests: counts.tests,
            passed: counts.passed,
            failed: counts.failed,
            errors: counts.errors,
            skipped: counts.skipped,
            flaky: counts.flaky,
            duration_ms,
            created_at: now,
        },
    )?;
    let identities: Vec<_> = parsed.cases.iter().map(Case::identity).collect();
    let wanted: Vec<TestRow> = parsed
        .cases
        .iter()
        .zip(&identities)
        .map(|(case, id)| TestRow {
            id: Uuid::new_v4().to_string(),
            tenant_id: tenant.as_str().to_string(),
            project: meta.project.clone(),
            identity_hash: id.hash(),
            framework: id.framework.as_str().to_string(),
            scope: id.scope.clone(),
            classname: id.classname.clone(),
            name: id.name.clone(),
            file: case.file.clone(),
            created_at: now,
        })
        .collect();
    let test_ids = store::ensure_tests(conn, tenant, &meta.project, &wanted)?;
    let mut results = Vec::with_capacity(parsed.cases.len());
    let mut failures = Vec::new();
    for (case, test) in parsed.cases.into_iter().zip(&wanted) {
        let Some(test_id) = test_ids.get(&test.identity_hash).cloned() else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "test {} was neither found nor created",
                test.identity_hash
            )));
        };
        let result_id = Uuid::new_v4().to_string();
        results.push(ResultRow {
            id: result_id.clone(),
            tenant_id: tenant.as_str().to_string(),
            project: meta.project.clone(),
            report_id: report_id.clone(),
            test_id: test_id.clone(),
            commit_sha: meta.commit_sha.clone(),
            branch: meta.branch.clone(),
            outcome: case.outcome.as_str().to_string(),
            attempts: i64::from(case.attempts),
            duration_ms: case.duration_ms,
            created_at: now,
        });
        if !(case.outcome.is_failing() || case.outcome == Outcome::Flaky) {
            continue;
        }
        let first = case.evidence.first();
        let classification = classify::classify(&case.evidence);
        failures.push(FailureRow {
            id: Uuid::new_v4().to_string(),
            tenant_id: tenant.as_str().to_string(),
            project: meta.project.clone(),
            report_id: report_id.clone(),
            result_id,
            test_id,
            outcome: case.outcome.as_str().to_string(),
            kind: first.map_or("failure", |e| e.kind.as_str()).to_string(),
            message: first.and_then(|e| e.message.clone()),
            failure_type: first.and_then(|e| e.failure_type.clone()),
            body: first.map(|e| e.body.clone()).unwrap_or_default(),
            system_out: case
                .system_out
                .clone()
                .or_else(|| first.and_then(|e| e.system_out.clone())),
            system_err: case
                .system_err
                .clone()
                .or_else(|| first.and_then(|e| e.system_err.clone())),
            attempts_json: serde_json::to_string(&case.evidence).map_err(ApiError::internal)?,
            created_at: now,
            category: classification
                .as_ref()
                .map_or(Category::Other, |c| c.category)
                .as_str()
                .to_string(),
            classification: classification
                .map(|c| serde_json::to_string(&c))
                .transpose()
                .map_err(ApiError::internal)?,
        });
    }
    note_flaky_evidence(conn, tenant, meta, &results, now)?;
    store::insert_results(conn, &results)?;
    store::insert_failures(conn, &failures)?;
    let (verdicts, released) =
        super::verify::after_results(conn, tenant, &results, meta.unquarantine_after, now)?;
    Ok((
        IngestResponse {
            report_id,
            project: meta.project.clone(),
            framework: parsed.framework,
            files: meta.files,
            counts,
            failures: failures.len() as i64,
        },
        verdicts,
        released,
    ))
}

//! Request and response types of `/api/v1/healing/*`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::classify::Classification;
use super::junit::{Counts, Evidence, Framework, Outcome};

/// Where a report came from; in the query string of an XML upload, or in the JSON body.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct ReportMeta {
    /// The project the tests belong to (history and quarantine are per project); required
    /// with an XML body.
    pub project: Option<String>,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    /// The CI run the reports came from.
    pub ci_run_id: Option<String>,
    /// The attempt of that CI run (1 = first; default 1).
    pub attempt: Option<u32>,
    /// The runner that wrote the report, when detection should not decide.
    pub framework: Option<Framework>,
    /// The uploaded file's name (XML body only), used in error messages.
    pub file: Option<String>,
}

/// One report file inside the JSON form.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReportFile {
    /// File name, used in error messages.
    pub name: String,
    /// The JUnit XML.
    pub xml: String,
}

/// One test result given directly as JSON (for producers that do not write JUnit XML).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct JsonCase {
    /// Suite (the jest `describe`, the nextest binary, …); scopes the identity.
    #[serde(default)]
    pub suite: String,
    #[serde(default)]
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub outcome: Outcome,
    pub duration_ms: Option<i64>,
    /// Runs of the test (1 + retries; default 1).
    pub attempts: Option<u32>,
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub failure_type: Option<String>,
    /// Stack trace or failure text.
    pub body: Option<String>,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

/// The JSON form of an upload: JUnit XML files and/or cases, with where they came from.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    pub project: String,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    pub ci_run_id: Option<String>,
    pub attempt: Option<u32>,
    pub framework: Option<Framework>,
    #[serde(default)]
    pub files: Vec<ReportFile>,
    #[serde(default)]
    pub cases: Vec<JsonCase>,
}

/// What an upload stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IngestResponse {
    pub report_id: String,
    pub project: String,
    /// The dialect of the first file (`junit` when the runner could not be told).
    pub framework: Framework,
    pub files: i64,
    /// Recomputed from the test cases, retries folded in.
    pub counts: Counts,
    /// Failures stored (failed, errored and flaky results).
    pub failures: i64,
}

/// A test, by its normalised identity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestView {
    pub id: String,
    pub project: String,
    pub framework: String,
    /// What tells same-named tests apart in that dialect (jest suite, nextest binary; empty
    /// for pytest, Surefire, Gradle).
    pub scope: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
}

/// One failure in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FailureSummary {
    pub id: String,
    pub report_id: String,
    pub test: TestView,
    /// `failed`, `error` or `flaky`.
    pub outcome: Outcome,
    /// The first failing attempt's element (`failure`, `error`, `flakyFailure`, …).
    pub kind: String,
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub failure_type: Option<String>,
    pub attempts: i64,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    /// `timeout`, `locator`, `assertion`, `snapshot`, `unknown_symbol`, `connection`,
    /// `environment` or `other`.
    pub category: String,
    /// The category with the evidence that decided it (expected/actual, limit, selector,
    /// suggestion); absent when the runner kept no failure text.
    pub classification: Option<Classification>,
    pub created_at: DateTime<Utc>,
}

/// A failure with all its evidence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FailureDetail {
    #[serde(flatten)]
    pub summary: FailureSummary,
    /// The first failing attempt's text (head + tail when long).
    pub body: String,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
    /// Every failing attempt, in order.
    pub evidence: Vec<Evidence>,
}

/// One result in a test's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = TestHistoryEntry)]
pub struct HistoryEntry {
    pub result_id: String,
    pub report_id: String,
    pub outcome: Outcome,
    pub attempts: i64,
    pub duration_ms: Option<i64>,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    /// The failure recorded for this result, if it failed or was flaky.
    pub failure_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A test with flaky evidence in the project's window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlakyTest {
    pub test: TestView,
    /// `flaky`, or `broken` when every result of its newest commit failed (never quarantined).
    pub status: String,
    /// Results in the window (skips left out).
    pub runs: i64,
    pub failures: i64,
    /// Results that failed, then passed on a retry of the same run.
    pub flaky_results: i64,
    /// Commits with both a passing and a failing result.
    pub disagreeing_commits: i64,
    /// Pass/fail changes between consecutive results ÷ (results − 1).
    pub flip_rate: f64,
    pub last_seen: DateTime<Utc>,
}

/// `POST /api/v1/healing/tests/{id}/quarantine`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRequest {
    /// Who fixes it (default: the caller).
    pub owner: Option<String>,
    /// Why (required).
    pub reason: String,
    /// How long, e.g. `7d` (default `healing.quarantine_ttl`, at most
    /// `healing.quarantine_max_ttl`).
    pub expires_in: Option<String>,
}

/// An active quarantine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantineEntry {
    pub id: String,
    pub test: TestView,
    pub owner: String,
    pub reason: String,
    /// The flaky evidence it was quarantined on (runs, failures, flaky_results,
    /// disagreeing_commits, flip_rate).
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A project's quarantine list for CI.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantineList {
    pub project: String,
    pub items: Vec<QuarantineEntry>,
}

/// `POST /api/v1/healing/failures/{id}/heal`: optional inputs the stored failure lacks.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealRequest {
    /// Locator healing: the failing selector, the element and page at the last pass, and the
    /// failing page.
    pub locator: Option<super::strategies::LocatorInputs>,
    /// More repository files the strategies may read or patch (snapshot files, config), read
    /// from the registered repository at the failing commit (or the default branch tip).
    #[serde(default)]
    pub files: Vec<String>,
}

/// One strategy's proposal for a failure, and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealingView {
    pub id: String,
    pub project: String,
    pub failure_id: String,
    pub test_id: String,
    /// Shared by the proposals of one heal request.
    pub request_id: String,
    /// The proposal the request picked to act on (highest confidence, not abstaining).
    pub chosen: bool,
    pub strategy: super::strategies::StrategyName,
    pub action: super::strategies::Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<super::strategies::FilePatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    pub confidence: f64,
    pub evidence: Vec<String>,
    pub risk: super::strategies::Risk,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abstain_reason: Option<String>,
    /// `proposed`, `applied`, `rejected`, `verified`, `false_heal` or `abstained`.
    pub status: String,
    /// The commit the failure was seen at.
    pub failure_commit: Option<String>,
    /// Patch heals: the branch (`maestro/heal/<short id>`) and its one commit.
    pub branch: Option<String>,
    pub commit_sha: Option<String>,
    /// Quarantine heals: the quarantine entry.
    pub quarantine_id: Option<String>,
    /// What applying recorded, or why it became a false heal.
    pub detail: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    /// From the failure to the first passing result with the heal in place.
    pub time_to_green_ms: Option<i64>,
    pub false_heal_at: Option<DateTime<Utc>>,
}

/// What a heal request stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealResponse {
    pub request_id: String,
    pub failure_id: String,
    /// Every strategy that applies, in strategy order; abstentions included.
    pub proposals: Vec<HealingView>,
    /// The proposal to act on; absent when every strategy abstained.
    pub chosen: Option<HealingView>,
    /// Why the registered repository could not be read (the strategies then ran without its
    /// files and diff); absent when it was read or none is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_error: Option<String>,
}

/// `POST /api/v1/healing/healings/{id}/apply`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Required for a proposal with risk `may_mask_regression` (an assertion's expected value
    /// replaced by the observed one): the caller checked it is not a regression.
    #[serde(default)]
    pub approve_risk: bool,
    /// Quarantine proposals: who fixes the test (default: the caller).
    pub owner: Option<String>,
    /// Quarantine proposals: how long, e.g. `7d` (default `healing.quarantine_ttl`).
    pub expires_in: Option<String>,
}

/// `POST /api/v1/healing/repositories`: a project's git repository.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryRequest {
    pub project: String,
    /// `https://…`, `ssh://…`, `user@host:path`, or a local path inside a directory allow-listed
    /// in `healing.git_allowed_local_dirs`.
    pub url: String,
    /// Default `main`. Patches are read against its tip and never committed to it.
    pub default_branch: Option<String>,
    /// For https remotes: user name and password or token. Kept server-side, never returned.
    pub username: Option<String>,
    pub secret: Option<String>,
}

/// A registered repository (credentials are never shown).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RepositoryView {
    pub id: String,
    pub project: String,
    /// The URL with any password removed.
    pub url: String,
    pub default_branch: String,
    pub username: Option<String>,
    /// Whether a password or token is stored.
    pub has_secret: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Heal figures of one strategy (or all of them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct StrategyStats {
    /// Failures that got a proposal that does not abstain.
    pub failures_proposed: i64,
    /// failures_proposed ÷ all failures: how much of the failures the strategy could act on.
    pub coverage: f64,
    /// Proposals made (abstentions included).
    pub proposals: i64,
    pub abstained: i64,
    /// Proposals picked to act on.
    pub chosen: i64,
    pub applied: i64,
    pub rejected: i64,
    pub verified: i64,
    pub false_heals: i64,
    /// abstained ÷ proposals.
    pub abstain_rate: f64,
    /// verified ÷ heals put in place (applied + verified + false heals).
    pub verified_rate: f64,
    /// false heals ÷ heals put in place.
    pub false_heal_rate: f64,
    /// Median time from the failure to the first passing result with the heal in place.
    pub median_time_to_green_ms: Option<i64>,
}

/// `GET /api/v1/healing/stats`: what healing really achieved, per strategy and overall.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealingStats {
    pub project: Option<String>,
    pub failures: i64,
    /// Failures with at least one heal request.
    pub failures_attempted: i64,
    /// failures_attempted ÷ failures.
    pub coverage: f64,
    pub overall: StrategyStats,
    /// Keyed by strategy name (every strategy listed, zeros included).
    pub strategies: std::collections::BTreeMap<String, StrategyStats>,
}

/// Where a healing proposal stands (`GET /api/v1/healing/healings?status=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealingStatus {
    Proposed,
    Applied,
    Rejected,
    Verified,
    FalseHeal,
    Abstained,
}

impl HealingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealingStatus::Proposed => "proposed",
            HealingStatus::Applied => "applied",
            HealingStatus::Rejected => "rejected",
            HealingStatus::Verified => "verified",
            HealingStatus::FalseHeal => "false_heal",
            HealingStatus::Abstained => "abstained",
        }
    }
}

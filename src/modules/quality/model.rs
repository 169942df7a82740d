//! Request and response shapes of the quality API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::checks::{Checks, Evaluation, Status};
use super::store::{OverrideRow, ScoreRow};

/// A template given inline: its manifest (as JSON) and/or files (path → UTF-8 text or
/// `{"base64": …}`), exactly as for template creation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InlineTemplate {
    #[schema(value_type = Object)]
    pub manifest: Option<Value>,
    #[schema(value_type = Object)]
    pub files: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ValidateRequest {
    /// A stored template (its current version).
    pub template_id: Option<String>,
    /// Or a template that is not stored.
    pub template: Option<InlineTemplate>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ScoreRequest {
    pub template_id: String,
}

/// The seed's score shape (`template_id`, `quality_score`, `checks`, `recommendations`) plus the
/// evidence behind each check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScoreResponse {
    pub template_id: Option<String>,
    pub quality_score: u32,
    pub passed: bool,
    pub pass_mark: u32,
    /// Check name → `pass` | `warning` | `fail`.
    pub checks: BTreeMap<String, Status>,
    /// Per check: partial score, evidence, recommendations.
    pub details: Checks,
    pub recommendations: Vec<String>,
    /// Why the template does not pass (empty when it does).
    pub blocking: Vec<String>,
    /// The version scored (stored templates).
    pub commit: Option<String>,
    pub version: Option<String>,
    /// Set when this version was published past the regression gate by an admin.
    pub forced: Option<OverrideView>,
}

impl ScoreResponse {
    pub fn new(
        template_id: Option<String>,
        commit: Option<String>,
        version: Option<String>,
        eval: Evaluation,
        pass_mark: u32,
        forced: Option<OverrideView>,
    ) -> Self {
        ScoreResponse {
            template_id,
            quality_score: eval.score,
            passed: eval.passed,
            pass_mark,
            checks: eval
                .checks
                .iter()
                .iter()
                .map(|(name, c)| (name.to_string(), c.status))
                .collect(),
            recommendations: eval.recommendations,
            blocking: eval.blocking,
            details: eval.checks,
            commit,
            version,
            forced,
        }
    }
}

/// One scored version of a template.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub commit: String,
    pub version: String,
    pub quality_score: i64,
    pub passed: bool,
    pub checks: BTreeMap<String, Status>,
    pub scored_at: DateTime<Utc>,
    /// Who forced this version past the regression gate, and why.
    pub forced_by: Option<String>,
    pub forced_reason: Option<String>,
}

impl From<ScoreRow> for HistoryEntry {
    fn from(row: ScoreRow) -> Self {
        let checks = serde_json::from_str::<Evaluation>(&row.evaluation)
            .map(|e| {
                e.checks
                    .iter()
                    .iter()
                    .map(|(n, c)| (n.to_string(), c.status))
                    .collect()
            })
            .unwrap_or_default();
        HistoryEntry {
            commit: row.commit_id,
            version: row.version,
            quality_score: row.score,
            passed: row.passed,
            checks,
            scored_at: row.created_at.and_utc(),
            forced_by: row.forced_by,
            forced_reason: row.forced_reason,
        }
    }
}

/// A publish an admin forced past the regression gate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OverrideView {
    pub id: String,
    pub template_id: String,
    pub previous_commit: Option<String>,
    /// The commit the forced publish produced (null until it is committed).
    pub commit: Option<String>,
    pub actor_id: String,
    pub actor: String,
    pub reason: String,
    pub previous_score: i64,
    pub new_score: i64,
    pub at: DateTime<Utc>,
}

impl From<OverrideRow> for OverrideView {
    fn from(row: OverrideRow) -> Self {
        OverrideView {
            id: row.id,
            template_id: row.template_id,
            previous_commit: row.previous_commit,
            commit: row.commit_id,
            actor_id: row.actor_id,
            actor: row.actor_name,
            reason: row.reason,
            previous_score: row.previous_score,
            new_score: row.new_score,
            at: row.created_at.and_utc(),
        }
    }
}

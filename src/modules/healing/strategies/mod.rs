//! The seven healing strategies: pure, deterministic functions of [`Inputs`] (no I/O, no
//! database, no clock, no randomness beyond a seed taken from the inputs). Each strategy that
//! applies to a failure returns a [`Proposal`]: an action (retry, quarantine, patch, config
//! change) or an abstention with its reason. [`propose`] runs every applicable strategy in
//! [`StrategyName::ALL`] order; [`best`] picks the one to act on.

mod assertion;
mod diff;
mod flaky;
mod html;
mod locator;
mod readiness;
mod rename;
mod snapshot;
mod timeout;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::classify::{Category, Classification};
use super::junit::Evidence;

pub use diff::{ChangedFile, changed_files, unified_diff};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    Locator,
    Timeout,
    Flaky,
    Snapshot,
    Assertion,
    Rename,
    Readiness,
}

impl StrategyName {
    pub const ALL: [StrategyName; 7] = [
        StrategyName::Locator,
        StrategyName::Timeout,
        StrategyName::Flaky,
        StrategyName::Snapshot,
        StrategyName::Assertion,
        StrategyName::Rename,
        StrategyName::Readiness,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StrategyName::Locator => "locator",
            StrategyName::Timeout => "timeout",
            StrategyName::Flaky => "flaky",
            StrategyName::Snapshot => "snapshot",
            StrategyName::Assertion => "assertion",
            StrategyName::Rename => "rename",
            StrategyName::Readiness => "readiness",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        StrategyName::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Retry,
    Quarantine,
    Patch,
    ConfigChange,
    Abstain,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Retry => "retry",
            Action::Quarantine => "quarantine",
            Action::Patch => "patch",
            Action::ConfigChange => "config_change",
            Action::Abstain => "abstain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Action::Retry,
            Action::Quarantine,
            Action::Patch,
            Action::ConfigChange,
            Action::Abstain,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    None,
    MayMaskRegression,
}

/// A change to one file of the project's repository, as a unified diff (`--- a/path` /
/// `+++ b/path`) against the blob `base_blob` (git blob id, hex) of `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FilePatch {
    pub path: String,
    pub base_blob: String,
    pub diff: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Proposal {
    pub strategy: StrategyName,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<FilePatch>,
    /// For `config_change` (e.g. `{"timeout_ms": 4500}` or a readiness wait spec).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    /// 0.0 ..= 1.0
    pub confidence: f64,
    pub evidence: Vec<String>,
    pub risk: Risk,
    /// Why it abstained (only with `Action::Abstain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abstain_reason: Option<String>,
}

impl Proposal {
    /// An abstention of `strategy`, with its reason and what was looked at.
    pub fn abstain(
        strategy: StrategyName,
        reason: impl Into<String>,
        evidence: Vec<String>,
    ) -> Proposal {
        Proposal {
            strategy,
            action: Action::Abstain,
            patch: None,
            config: None,
            confidence: 0.0,
            evidence,
            risk: Risk::None,
            abstain_reason: Some(reason.into()),
        }
    }

    /// A patch of one file.
    pub fn patch(
        strategy: StrategyName,
        patch: FilePatch,
        confidence: f64,
        evidence: Vec<String>,
        risk: Risk,
    ) -> Proposal {
        Proposal {
            strategy,
            action: Action::Patch,
            patch: Some(patch),
            config: None,
            confidence,
            evidence,
            risk,
            abstain_reason: None,
        }
    }

    /// A change of configuration, not of code (`config_change`, or `quarantine` with its
    /// terms): it cannot mask a regression.
    pub fn config(
        strategy: StrategyName,
        action: Action,
        config: serde_json::Value,
        confidence: f64,
        evidence: Vec<String>,
    ) -> Proposal {
        Proposal {
            strategy,
            action,
            patch: None,
            config: Some(config),
            confidence,
            evidence,
            risk: Risk::None,
            abstain_reason: None,
        }
    }

    pub fn is_abstain(&self) -> bool {
        self.action == Action::Abstain
    }
}

/// One earlier result of the same test, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub passed: bool,
    pub timed_out: bool,
    pub duration_ms: Option<i64>,
    pub commit_sha: Option<String>,
    pub attempts: i64,
}

/// A file of the project's repository at the commit under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: String,
    pub blob: String,
    pub text: String,
}

/// Locator healing inputs: the element as it was at the last pass, and the failing page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LocatorInputs {
    pub selector: String,
    pub last_pass_element_html: String,
    pub last_pass_page_html: Option<String>,
    pub page_html: String,
}

/// Everything a strategy may look at. Built by the service from the store, the registered
/// repository and the heal request; built by the eval harness from a corpus case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Inputs {
    pub test_id: String,
    pub test_name: String,
    pub classname: Option<String>,
    /// The test's source file when known (JUnit `file` attribute or the corpus).
    pub test_file: Option<String>,
    pub classification: Option<Classification>,
    pub evidence: Vec<Evidence>,
    pub history: Vec<Sample>,
    pub head_commit: Option<String>,
    /// Every attempt at the head commit failed (a broken test: never quarantined).
    pub failed_every_attempt_at_head: bool,
    /// Other tests that failed in the same report.
    pub other_failures_in_run: usize,
    /// Unified diff of the commit under test against its parent (empty when unknown).
    pub commit_diff: String,
    /// Repository files the strategies may read or patch (test file, snapshot files, config).
    pub files: Vec<SourceFile>,
    pub locator: Option<LocatorInputs>,
}

impl Inputs {
    pub fn category(&self) -> Option<Category> {
        self.classification.as_ref().map(|c| c.category)
    }

    pub fn file(&self, path: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The test's source file among `files`: `test_file` when given, else the only test file.
    pub fn test_source(&self) -> Option<&SourceFile> {
        if let Some(path) = &self.test_file {
            return self
                .files
                .iter()
                .find(|f| f.path == *path || f.path.ends_with(&format!("/{path}")));
        }
        let mut tests = self.files.iter().filter(|f| is_test_path(&f.path));
        match (tests.next(), tests.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// Message, body and captured stderr of every failing attempt, joined.
    pub fn evidence_text(&self) -> String {
        let mut out = String::new();
        for e in &self.evidence {
            for part in [
                e.message.as_deref(),
                Some(e.body.as_str()),
                e.system_err.as_deref(),
            ]
            .into_iter()
            .flatten()
            {
                out.push_str(part);
                out.push('\n');
            }
        }
        out
    }
}

/// Tunables (mapped from `healing.*` settings; `Default` gives the documented values).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tuning {
    /// Passing durations needed before a timeout is adjusted.
    pub min_timeout_samples: usize,
    /// Lowest locator score (0..1) that may heal.
    pub locator_score_floor: f64,
    /// Least lead of the best locator candidate over the runner-up.
    pub locator_margin: f64,
    /// Flip rate (changes of outcome ÷ transitions) over the window that makes a test flaky.
    pub flaky_flip_threshold: f64,
    /// Total wait a readiness config may spend.
    pub readiness_budget_ms: u64,
    /// Samples (newest) the flip rate is computed over.
    pub flaky_window: usize,
    /// Least samples in the window before a flip rate counts.
    pub flaky_min_samples: usize,
    /// Days until a quarantine expires.
    pub quarantine_days: u32,
    /// Consecutive passes that end a quarantine.
    pub unquarantine_after_passes: u32,
    /// Highest timeout the timeout strategy proposes.
    pub timeout_cap_ms: i64,
    /// Newest passing samples compared against the older ones for a performance regression.
    pub timeout_recent_window: usize,
    /// Recent median ÷ older median at which timeout healing abstains (regression).
    pub timeout_regression_ratio: f64,
    /// First and largest single delay of the readiness backoff.
    pub readiness_base_ms: u64,
    pub readiness_cap_ms: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            min_timeout_samples: 20,
            locator_score_floor: 0.5,
            locator_margin: 0.1,
            flaky_flip_threshold: 0.2,
            readiness_budget_ms: 60_000,
            flaky_window: 30,
            flaky_min_samples: 10,
            quarantine_days: 14,
            unquarantine_after_passes: 10,
            timeout_cap_ms: 3_600_000,
            timeout_recent_window: 5,
            timeout_regression_ratio: 2.0,
            readiness_base_ms: 100,
            readiness_cap_ms: 10_000,
        }
    }
}

/// Every strategy that applies to the failure, each with an action or an abstention, in
/// [`StrategyName::ALL`] order. Deterministic: the same inputs give the same output.
pub fn propose(inputs: &Inputs, tuning: &Tuning) -> Vec<Proposal> {
    let mut out = Vec::new();
    for name in StrategyName::ALL {
        let proposal = match name {
            StrategyName::Locator => locator::propose(inputs, tuning),
            StrategyName::Timeout => timeout::propose(inputs, tuning),
            StrategyName::Flaky => flaky::propose(inputs, tuning),
            StrategyName::Snapshot => snapshot::propose(inputs, tuning),
            StrategyName::Assertion => assertion::propose(inputs, tuning),
            StrategyName::Rename => rename::propose(inputs, tuning),
            StrategyName::Readiness => readiness::propose(inputs, tuning),
        };
        if let Some(mut p) = proposal {
            p.confidence = if p.confidence.is_finite() {
                p.confidence.clamp(0.0, 1.0)
            } else {
                0.0
            };
            out.push(p);
        }
    }
    out
}

/// The proposal to act on: the highest-confidence non-abstaining one (ties: ALL order).
pub fn best(proposals: &[Proposal]) -> Option<&Proposal> {
    let mut best: Option<&Proposal> = None;
    for p in proposals.iter().filter(|p| !p.is_abstain()) {
        if best.is_none_or(|b| p.confidence > b.confidence) {
            best = Some(p);
        }
    }
    best
}

/// Whether a repository path is test code (by the conventions of the runners we read).
pub fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    lower.starts_with("tests/")
        || lower.starts_with("test/")
        || lower.contains("/tests/")
        || lower.contains("/test/")
        || lower.contains("__tests__/")
        || lower.contains("/src/test/")
        || name.starts_with("test_")
        || name.ends_with("_test.py")
        || name.ends_with("_test.go")
        || name.ends_with("_test.rs")
        || name.contains(".test.")
        || name.contains(".spec.")
        || name.ends_with("test.java")
        || name.ends_with("tests.java")
        || name.ends_with("it.java")
}

/// A patch replacing `file`'s text with `new_text`, against its blob.
fn file_patch(file: &SourceFile, new_text: &str) -> FilePatch {
    FilePatch {
        path: file.path.clone(),
        base_blob: file.blob.clone(),
        diff: unified_diff(&file.path, &file.text, new_text),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn evidence(message: &str, body: &str) -> Evidence {
        Evidence {
            kind: "failure".into(),
            message: Some(message.into()),
            failure_type: None,
            body: body.into(),
            system_out: None,
            system_err: None,
        }
    }

    /// Inputs for one failure with these evidence lines, classified as the service would.
    pub fn failing(message: &str, body: &str) -> Inputs {
        let evidence = vec![evidence(message, body)];
        Inputs {
            test_id: "t1".into(),
            test_name: "test_one".into(),
            classification: crate::modules::healing::classify::classify(&evidence),
            evidence,
            head_commit: Some("head".into()),
            ..Inputs::default()
        }
    }

    pub fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            blob: format!("blob-of-{path}"),
            text: text.into(),
        }
    }

    pub fn pass(ms: i64) -> Sample {
        Sample {
            passed: true,
            timed_out: false,
            duration_ms: Some(ms),
            commit_sha: Some("old".into()),
            attempts: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in StrategyName::ALL {
            assert_eq!(StrategyName::parse(n.as_str()), Some(n));
            assert_eq!(
                serde_json::to_value(n).unwrap(),
                serde_json::json!(n.as_str())
            );
        }
        assert_eq!(StrategyName::parse("nope"), None);
        assert_eq!(Action::parse("config_change"), Some(Action::ConfigChange));
    }

    fn p(strategy: StrategyName, action: Action, confidence: f64) -> Proposal {
        Proposal {
            confidence,
            action,
            ..Proposal::abstain(strategy, "x", vec![])
        }
    }

    #[test]
    fn best_is_the_most_confident_action_and_ties_keep_order() {
        let ps = vec![
            p(StrategyName::Locator, Action::Abstain, 0.0),
            p(StrategyName::Timeout, Action::ConfigChange, 0.7),
            p(StrategyName::Flaky, Action::Quarantine, 0.7),
            p(StrategyName::Assertion, Action::Patch, 0.6),
        ];
        assert_eq!(best(&ps).unwrap().strategy, StrategyName::Timeout);
        assert!(best(&ps[..1]).is_none());
        assert!(best(&[]).is_none());
    }

    /// Odd, truncated and multi-byte inputs never panic any strategy (a fixed pseudo-random mix
    /// of fragments, so a failure reproduces).
    #[test]
    fn odd_inputs_never_panic() {
        const BITS: [&str; 24] = [
            "<",
            ">",
            "</",
            "<a",
            " id=",
            "\"",
            "'",
            "&",
            "&#x1F600;",
            "é",
            "😀",
            "\n",
            "-",
            "+",
            "@@ -1 +1 @@",
            "--- a/",
            "+++ b/",
            "assert ",
            " == ",
            "Expected: ",
            "\nReceived: ",
            "[+ received] == [- snapshot]",
            "`",
            "exports[`",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        for _ in 0..300 {
            let mut text = String::new();
            for _ in 0..(next() % 40) {
                text.push_str(BITS[next() % BITS.len()]);
            }
            for message in [
                "NoSuchElementException: no such element",
                "Exceeded timeout of 100 ms",
                "Snapshot name: `x 1`",
                "AttributeError: 'X' object has no attribute 'a'. Did you mean: 'b'?",
                "ECONNREFUSED failed on setup",
                "expected: <1> but was: <2>",
            ] {
                let mut i = test_support::failing(&format!("{message}{text}"), &text);
                i.commit_diff = text.clone();
                i.test_file = Some("tests/t.py".into());
                i.files = vec![
                    test_support::file("tests/t.py", &text),
                    test_support::file("a.snap", &text),
                    test_support::file("a.snap.new", &text),
                    test_support::file("t.ambr", &text),
                ];
                i.history = (0..25).map(|n| test_support::pass(n * 7)).collect();
                i.locator = Some(LocatorInputs {
                    selector: text.clone(),
                    last_pass_element_html: text.clone(),
                    last_pass_page_html: Some(text.clone()),
                    page_html: text.clone(),
                });
                let _ = propose(&i, &Tuning::default());
            }
        }
    }

    #[test]
    fn test_paths() {
        for yes in [
            "tests/test_cart.py",
            "src/cart.test.js",
            "app/__tests__/cart.js",
            "src/test/java/a/CartTest.java",
            "pkg/cart_test.go",
        ] {
            assert!(is_test_path(yes), "{yes}");
        }
        for no in ["src/cart.py", "src/main/java/a/Cart.java", "lib/contest.js"] {
            assert!(!is_test_path(no), "{no}");
        }
    }
}

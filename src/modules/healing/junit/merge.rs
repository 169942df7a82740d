//! Test identity and retry folding.
//!
//! Identity = (framework, scope, classname, name with parameters), whitespace-normalised, so
//! history joins across runs. The scope is what tells same-named tests apart in that dialect:
//! nothing for pytest, Surefire and Gradle (the classname is the module or class), the suite
//! for jest (its top `describe`) and nextest (the binary), the file or suite otherwise.
//!
//! Several `testcase`s with one identity in one file are folded into one case:
//! - Gradle writes each retry as another `testcase`: fail-then-pass is flaky.
//! - pytest-rerunfailures (16.7, checked in the fixtures) writes each rerun attempt as an
//!   *empty* `testcase` before the final one: two or more non-failing entries mean the test
//!   failed and passed on a rerun (flaky, though the failure's text is lost). A failing call
//!   plus a `failed on teardown` error is one attempt.
//! - Elsewhere duplicates are JUnit Platform parameters collapsed into one name: a pass beside a
//!   failure is a failure, never flakiness.

use sha2::{Digest, Sha256};

use super::{Case, Evidence, Framework, Outcome};

/// A test's normalised identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub framework: Framework,
    pub scope: String,
    pub classname: String,
    pub name: String,
}

impl Identity {
    /// sha-256 (hex) of the identity tuple: the stored key.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.framework.as_str(),
            &self.scope,
            &self.classname,
            &self.name,
        ] {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
        hex::encode(h.finalize())
    }
}

/// Trims and collapses runs of whitespace (jest's leading space at top level, wrapped names).
pub fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn identity(
    framework: Framework,
    suite: &str,
    file: Option<&str>,
    classname: &str,
    name: &str,
) -> Identity {
    let scope = match framework {
        Framework::Pytest | Framework::Surefire | Framework::Gradle => String::new(),
        Framework::Jest | Framework::Nextest => normalise(suite),
        Framework::Junit => normalise(file.unwrap_or(suite)),
    };
    Identity {
        framework,
        scope,
        classname: normalise(classname),
        name: normalise(name),
    }
}

impl Case {
    pub fn identity(&self) -> Identity {
        identity(
            self.framework,
            &self.suite,
            self.file.as_deref(),
            &self.classname,
            &self.name,
        )
    }
}

/// Folds same-identity cases of one file into one case each, in first-seen order. The cases come
/// as read, before the file's `framework` was known; each folded case carries it.
pub fn fold_retries(framework: Framework, raw: Vec<Case>) -> Vec<Case> {
    let mut order: Vec<Identity> = Vec::new();
    let mut groups: std::collections::HashMap<Identity, Vec<Case>> =
        std::collections::HashMap::new();
    for r in raw {
        let id = identity(
            framework,
            &r.suite,
            r.file.as_deref(),
            &r.classname,
            &r.name,
        );
        let group = groups.entry(id.clone()).or_default();
        if group.is_empty() {
            order.push(id);
        }
        group.push(r);
    }
    order
        .into_iter()
        .filter_map(|id| groups.remove(&id))
        .map(|group| fold(framework, group))
        .collect()
}

fn fold(framework: Framework, mut group: Vec<Case>) -> Case {
    let mut case = group.remove(0);
    case.framework = framework;
    case.classname = normalise(&case.classname);
    case.name = normalise(&case.name);
    if group.is_empty() {
        return case;
    }
    let teardown = |e: &[Evidence]| {
        !e.is_empty()
            && e.iter().all(|e| {
                e.kind == "error"
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("failed on teardown"))
            })
    };
    let mut runs = u32::from(!teardown(&case.evidence));
    let mut outcomes = vec![case.outcome];
    for r in group {
        runs += u32::from(!teardown(&r.evidence));
        outcomes.push(r.outcome);
        case.duration_ms = match (case.duration_ms, r.duration_ms) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        case.evidence.extend(r.evidence);
        case.system_out = case.system_out.or(r.system_out);
        case.system_err = case.system_err.or(r.system_err);
        case.skip_message = case.skip_message.or(r.skip_message);
        if framework == Framework::Gradle {
            case.attempts = case.attempts.saturating_add(r.attempts);
        } else {
            case.attempts = case.attempts.max(r.attempts);
        }
    }
    let failing = outcomes.iter().any(|o| o.is_failing());
    let passing = outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Passed | Outcome::Flaky));
    if framework == Framework::Pytest {
        case.attempts = runs.max(1);
    }
    let all_skipped = outcomes.iter().all(|o| *o == Outcome::Skipped);
    let gradle_retry = framework == Framework::Gradle && failing && passing;
    let pytest_rerun = framework == Framework::Pytest && !failing && !all_skipped && runs >= 2;
    case.outcome = if gradle_retry || pytest_rerun {
        Outcome::Flaky
    } else if outcomes.contains(&Outcome::Failed) {
        Outcome::Failed
    } else if outcomes.contains(&Outcome::Error) {
        Outcome::Error
    } else if outcomes.contains(&Outcome::Flaky) {
        Outcome::Flaky
    } else if all_skipped {
        Outcome::Skipped
    } else {
        Outcome::Passed
    };
    case
}

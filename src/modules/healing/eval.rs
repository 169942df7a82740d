//! The evaluation harness behind `maestro healing eval <dir>`: replays a corpus of failures
//! whose expected outcome is stated per case, runs [`strategies::propose`] on each, and reports
//! per strategy: cases, coverage (attempted ÷ cases), verified heals (the heal the case states;
//! every patch case was checked by re-running its test with the patch, see the corpus README) and
//! the verified rate (÷ attempted), abstentions and the abstain rate, false heals (a heal where the
//! case says abstain or must-not-heal) and the false-heal rate (÷ attempted), and missed heals.
//!
//! A case is a folder with a `case.json`; every path in it is relative to that folder:
//! ```json
//! { "report": "../../reports/pytest/head.xml", "test": "test_total", "classname": "tests.test_cart",
//!   "history_reports": ["../../reports/pytest/history/run-01.xml"], "history_commit": "c1",
//!   "history": [{"passed": true, "timed_out": false, "duration_ms": 12, "commit_sha": "c1", "attempts": 1}],
//!   "head_commit": "c2", "diff": "commit.diff", "files": {"tests/test_cart.py": "repo/tests/test_cart.py"},
//!   "test_file": "tests/test_cart.py", "failed_every_attempt_at_head": true, "other_failures_in_run": 0,
//!   "locator": {"selector": "#pay", "last_pass_element": "pay.html",
//!               "last_pass_page": "before.html", "page": "after.html"},
//!   "expect": {"outcome": "heal", "strategy": "locator", "action": "patch"} }
//! ```
//! `outcome` is `heal` (best proposal must be `strategy` with `action`), `abstain` (nothing may
//! be acted on) or `must_not_heal` (a planted regression: healing it fails the whole run).
//! Unset `failed_every_attempt_at_head` is derived (the test failed on every attempt of the
//! report and never passed at the head commit before); unset `other_failures_in_run` counts
//! the report's other failing tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::classify::{Category, classify};
use super::junit::{self, Case, Outcome, TextLimits};
use super::strategies::{
    self, Action, Inputs, LocatorInputs, Proposal, Sample, SourceFile, StrategyName, Tuning,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedOutcome {
    Heal,
    Abstain,
    MustNotHeal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: ExpectedOutcome,
    pub strategy: StrategyName,
    #[serde(default)]
    pub action: Option<Action>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseLocator {
    selector: String,
    /// File holding the element's HTML as stored at the last pass.
    last_pass_element: String,
    #[serde(default)]
    last_pass_page: Option<String>,
    page: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default)]
    description: String,
    report: String,
    test: String,
    #[serde(default)]
    classname: Option<String>,
    #[serde(default)]
    history_reports: Vec<String>,
    #[serde(default)]
    history_commit: Option<String>,
    #[serde(default)]
    history: Vec<Sample>,
    #[serde(default)]
    head_commit: Option<String>,
    #[serde(default)]
    diff: Option<String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    test_file: Option<String>,
    #[serde(default)]
    failed_every_attempt_at_head: Option<bool>,
    #[serde(default)]
    other_failures_in_run: Option<usize>,
    #[serde(default)]
    locator: Option<CaseLocator>,
    expect: Expect,
}

/// What happened to one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub description: String,
    pub expect: Expect,
    pub proposals: Vec<Proposal>,
    /// The proposal acted on (`strategies::best`).
    pub acted: Option<Proposal>,
}

impl CaseResult {
    fn own(&self) -> Option<&Proposal> {
        self.proposals
            .iter()
            .find(|p| p.strategy == self.expect.strategy)
    }

    pub fn attempted(&self) -> bool {
        self.own().is_some_and(|p| !p.is_abstain())
    }

    pub fn correct_heal(&self) -> bool {
        self.expect.outcome == ExpectedOutcome::Heal
            && self.acted.as_ref().is_some_and(|p| {
                p.strategy == self.expect.strategy
                    && self.expect.action.is_none_or(|a| a == p.action)
            })
    }

    pub fn false_heal(&self) -> bool {
        self.expect.outcome != ExpectedOutcome::Heal && self.acted.is_some()
    }

    pub fn ok(&self) -> bool {
        match self.expect.outcome {
            ExpectedOutcome::Heal => self.correct_heal(),
            _ => self.acted.is_none(),
        }
    }
}

/// Figures of one strategy (or of all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub cases: usize,
    pub attempted: usize,
    pub correct_heals: usize,
    pub abstained: usize,
    pub false_heals: usize,
    pub missed: usize,
    /// `must_not_heal` cases among `cases`, and how many of them were healed.
    pub regressions: usize,
    pub regressions_healed: usize,
}

impl Figures {
    fn add(&mut self, r: &CaseResult) {
        self.cases += 1;
        self.attempted += usize::from(r.attempted());
        self.correct_heals += usize::from(r.correct_heal());
        self.abstained += usize::from(!r.attempted());
        self.false_heals += usize::from(r.false_heal());
        self.missed += usize::from(r.expect.outcome == ExpectedOutcome::Heal && !r.correct_heal());
        if r.expect.outcome == ExpectedOutcome::MustNotHeal {
            self.regressions += 1;
            self.regressions_healed += usize::from(r.acted.is_some());
        }
    }
}

#[derive(Debug, Clone)]
pub struct EvalReport {
    pub cases: Vec<CaseResult>,
}

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * n as f64 / d as f64)
    }
}

impl EvalReport {
    pub fn per_strategy(&self) -> Vec<(StrategyName, Figures)> {
        StrategyName::ALL
            .into_iter()
            .map(|s| {
                let mut f = Figures::default();
                for r in self.cases.iter().filter(|r| r.expect.strategy == s) {
                    f.add(r);
                }
                (s, f)
            })
            .collect()
    }

    pub fn overall(&self) -> Figures {
        let mut f = Figures::default();
        for r in &self.cases {
            f.add(r);
        }
        f
    }

    /// Planted regressions that were healed: any makes `maestro healing eval` fail.
    pub fn regressions_healed(&self) -> usize {
        self.overall().regressions_healed
    }

    /// The per-case lines, the per-strategy table and the overall line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.cases {
            let expected = match r.expect.outcome {
                ExpectedOutcome::Heal => format!(
                    "heal {}/{}",
                    r.expect.strategy.as_str(),
                    r.expect.action.map_or("any", |a| a.as_str())
                ),
                ExpectedOutcome::Abstain => format!("abstain ({})", r.expect.strategy.as_str()),
                ExpectedOutcome::MustNotHeal => {
                    format!("must not heal ({})", r.expect.strategy.as_str())
                }
            };
            let got = match &r.acted {
                Some(p) => format!(
                    "{}/{} ({:.2})",
                    p.strategy.as_str(),
                    p.action.as_str(),
                    p.confidence
                ),
                None => {
                    let why = r
                        .own()
                        .and_then(|p| p.abstain_reason.clone())
                        .unwrap_or_else(|| "strategy did not apply".into());
                    format!("abstain: {why}")
                }
            };
            let verdict = if r.ok() {
                "ok"
            } else if r.false_heal() {
                "FALSE HEAL"
            } else {
                "MISSED"
            };
            out.push_str(&format!(
                "{verdict:<10} {:<44} expected {expected}; got {got}\n",
                r.name
            ));
        }
        out.push('\n');
        out.push_str(&format!(
            "{:<10} {:>5} {:>9} {:>8} {:>8} {:>9} {:>9} {:>8} {:>11} {:>6} {:>6} {:>11}\n",
            "strategy",
            "cases",
            "attempted",
            "coverage",
            "verified",
            "verified%",
            "abstained",
            "abstain%",
            "false_heals",
            "false%",
            "missed",
            "regressions"
        ));
        let line = |name: &str, f: &Figures| {
            format!(
                "{:<10} {:>5} {:>9} {:>8} {:>8} {:>9} {:>9} {:>8} {:>11} {:>6} {:>6} {:>11}\n",
                name,
                f.cases,
                f.attempted,
                pct(f.attempted, f.cases),
                f.correct_heals,
                pct(f.correct_heals, f.attempted),
                f.abstained,
                pct(f.abstained, f.cases),
                f.false_heals,
                pct(f.false_heals, f.attempted),
                f.missed,
                format!("{}/{} healed", f.regressions_healed, f.regressions)
            )
        };
        for (s, f) in self.per_strategy() {
            out.push_str(&line(s.as_str(), &f));
        }
        out.push_str(&line("overall", &self.overall()));
        out
    }
}

/// Git's blob id (SHA-1) of `bytes`.
pub fn blob_id(bytes: &[u8]) -> String {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
        .map(|id| id.to_string())
        .unwrap_or_default()
}

const LIMITS: TextLimits = TextLimits {
    output_bytes: 16384,
    message_bytes: 4096,
};

fn read(base: &Path, rel: &str) -> Result<String, String> {
    let p = base.join(rel);
    std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

fn parse_report(base: &Path, rel: &str) -> Result<Vec<Case>, String> {
    let p = base.join(rel);
    let bytes = std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    junit::parse(rel, &bytes, None, LIMITS)
        .map(|f| f.cases)
        .map_err(|e| format!("{}: {e:?}", p.display()))
}

fn find_case<'a>(
    cases: &'a [Case],
    test: &str,
    classname: Option<&str>,
    report: &str,
) -> Result<&'a Case, String> {
    let hits: Vec<&Case> = cases
        .iter()
        .filter(|c| c.name == test && classname.is_none_or(|k| c.classname == k))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("{report} has no test `{test}`")),
        _ => Err(format!(
            "{report} has several tests `{test}`; set `classname`"
        )),
    }
}

fn sample_of(case: &Case, commit: Option<&str>) -> Sample {
    let timed_out = classify(&case.evidence).is_some_and(|c| c.category == Category::Timeout);
    Sample {
        passed: matches!(case.outcome, Outcome::Passed | Outcome::Flaky),
        timed_out: case.outcome.is_failing() && timed_out,
        duration_ms: case.duration_ms,
        commit_sha: commit.map(str::to_string),
        attempts: i64::from(case.attempts),
    }
}

/// Builds the strategies' inputs of one case folder.
fn load_case(dir: &Path) -> Result<(CaseFile, Inputs), String> {
    let raw = read(dir, "case.json")?;
    let cf: CaseFile =
        serde_json::from_str(&raw).map_err(|e| format!("{}/case.json: {e}", dir.display()))?;
    let cases = parse_report(dir, &cf.report)?;
    let case = find_case(&cases, &cf.test, cf.classname.as_deref(), &cf.report)?;
    if !case.outcome.is_failing() && case.outcome != Outcome::Flaky {
        return Err(format!(
            "{}: `{}` did not fail in {}",
            dir.display(),
            cf.test,
            cf.report
        ));
    }
    let mut history = Vec::new();
    for rel in &cf.history_reports {
        let cases = parse_report(dir, rel)?;
        let c = find_case(&cases, &cf.test, cf.classname.as_deref(), rel)?;
        history.push(sample_of(c, cf.history_commit.as_deref()));
    }
    history.extend(cf.history.iter().cloned());
    let head = cf.head_commit.clone();
    let passed_at_head = history
        .iter()
        .any(|s| s.passed && s.commit_sha.is_some() && s.commit_sha == head);
    let failed_every_attempt_at_head = cf
        .failed_every_attempt_at_head
        .unwrap_or(case.outcome.is_failing() && !passed_at_head);
    let other_failures_in_run = cf.other_failures_in_run.unwrap_or_else(|| {
        cases
            .iter()
            .filter(|c| c.outcome.is_failing() && !std::ptr::eq(*c, case))
            .count()
    });
    let mut files = Vec::new();
    for (path, rel) in &cf.files {
        let text = read(dir, rel)?;
        files.push(SourceFile {
            path: path.clone(),
            blob: blob_id(text.as_bytes()),
            text,
        });
    }
    let locator = match &cf.locator {
        None => None,
        Some(l) => Some(LocatorInputs {
            selector: l.selector.clone(),
            last_pass_element_html: read(dir, &l.last_pass_element)?,
            last_pass_page_html: l
                .last_pass_page
                .as_deref()
                .map(|p| read(dir, p))
                .transpose()?,
            page_html: read(dir, &l.page)?,
        }),
    };
    let inputs = Inputs {
        test_id: format!("{}::{}", case.classname, case.name),
        test_name: case.name.clone(),
        classname: Some(case.classname.clone()),
        test_file: cf.test_file.clone().or_else(|| case.file.clone()),
        classification: classify(&case.evidence),
        evidence: case.evidence.clone(),
        history,
        head_commit: head,
        failed_every_attempt_at_head,
        other_failures_in_run,
        commit_diff: cf
            .diff
            .as_deref()
            .map(|d| read(dir, d))
            .transpose()?
            .unwrap_or_default(),
        files,
        locator,
    };
    Ok((cf, inputs))
}

fn case_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            case_dirs(&p, out)?;
        } else if p.file_name().is_some_and(|n| n == "case.json") {
            out.push(dir.to_path_buf());
        }
    }
    Ok(())
}

/// Runs every case under `dir` (each folder holding a `case.json`, in path order).
pub fn run(dir: &Path, tuning: &Tuning) -> Result<EvalReport, String> {
    let mut dirs = Vec::new();
    case_dirs(dir, &mut dirs)?;
    if dirs.is_empty() {
        return Err(format!("{} holds no case.json", dir.display()));
    }
    let mut cases = Vec::new();
    for d in dirs {
        let (cf, inputs) = load_case(&d)?;
        let proposals = strategies::propose(&inputs, tuning);
        let acted = strategies::best(&proposals).cloned();
        cases.push(CaseResult {
            name: d
                .strip_prefix(dir)
                .unwrap_or(&d)
                .to_string_lossy()
                .into_owned(),
            description: cf.description,
            expect: cf.expect,
            proposals,
            acted,
        });
    }
    Ok(EvalReport { cases })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_gits() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    fn result(outcome: ExpectedOutcome, acted: Option<Action>) -> CaseResult {
        let own = match acted {
            Some(action) => Proposal {
                action,
                confidence: 0.8,
                abstain_reason: None,
                ..Proposal::abstain(StrategyName::Locator, "", vec![])
            },
            None => Proposal::abstain(StrategyName::Locator, "unsure", vec![]),
        };
        CaseResult {
            name: "c".into(),
            description: String::new(),
            expect: Expect {
                outcome,
                strategy: StrategyName::Locator,
                action: Some(Action::Patch),
            },
            acted: strategies::best(std::slice::from_ref(&own)).cloned(),
            proposals: vec![own],
        }
    }

    #[test]
    fn a_healed_regression_is_a_false_heal_and_fails_the_run() {
        let report = EvalReport {
            cases: vec![
                result(ExpectedOutcome::MustNotHeal, Some(Action::Patch)),
                result(ExpectedOutcome::Heal, Some(Action::Patch)),
                result(ExpectedOutcome::Heal, Some(Action::ConfigChange)),
                result(ExpectedOutcome::Abstain, None),
            ],
        };
        let f = report.overall();
        assert_eq!(
            (
                f.cases,
                f.attempted,
                f.correct_heals,
                f.false_heals,
                f.missed,
                f.abstained
            ),
            (4, 3, 1, 1, 1, 1)
        );
        assert_eq!(report.regressions_healed(), 1);
        let text = report.render();
        assert!(text.contains("FALSE HEAL"), "{text}");
        assert!(text.contains("MISSED"), "{text}");
        // The rates: 3 of 4 attempted (coverage 75%), 1 verified and 1 false heal of those 3
        // (33% each), 1 of 4 abstained (25%).
        let header = text.lines().find(|l| l.starts_with("strategy")).unwrap();
        for column in ["coverage", "verified%", "abstain%", "false%"] {
            assert!(header.contains(column), "{header}");
        }
        let overall: Vec<&str> = text
            .lines()
            .find(|l| l.starts_with("overall"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            overall[1..11],
            ["4", "3", "75%", "1", "33%", "1", "25%", "1", "33%", "1"],
            "{text}"
        );
    }

    /// The shipped corpus: every strategy heals its positive cases and abstains on its
    /// negative ones; no planted regression is healed.
    #[test]
    fn shipped_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/healing-corpus");
        let report = run(&dir, &Tuning::default()).expect("the corpus loads");
        let rendered = report.render();
        let wrong: Vec<&str> = report
            .cases
            .iter()
            .filter(|c| !c.ok())
            .map(|c| c.name.as_str())
            .collect();
        assert!(wrong.is_empty(), "{wrong:?}\n{rendered}");
        assert_eq!(report.regressions_healed(), 0, "{rendered}");
        for (s, f) in report.per_strategy() {
            assert!(
                f.correct_heals >= 1,
                "{} heals nothing\n{rendered}",
                s.as_str()
            );
            assert!(
                f.cases > f.correct_heals,
                "{} has no negative case\n{rendered}",
                s.as_str()
            );
        }
        assert!(report.overall().regressions >= 1, "{rendered}");
    }
}

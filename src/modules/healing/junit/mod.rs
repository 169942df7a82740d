//! A streaming JUnit XML parser for every common dialect (Maven Surefire, Gradle, pytest
//! xunit1/xunit2, jest-junit, cargo-nextest, nested `testsuites`, a bare `testsuite` root).
//!
//! It reads quick-xml events one at a time and never builds a tree: memory is the parsed cases
//! plus, per open element, text capped as head + tail ([`text::BoundedText`]). Counts in the
//! file are ignored; they are recomputed from the cases. Retries are folded into one case per
//! test identity ([`merge`]): Surefire/nextest `flaky*`/`rerun*` elements, Gradle's repeated
//! `testcase`s. A malformed file is a [`JunitError`] naming the file and line.

pub mod merge;
pub mod text;

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use text::{BoundedText, bounded};

/// The runner that wrote a report; it decides how retries and identities are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    Surefire,
    Gradle,
    Pytest,
    Jest,
    Nextest,
    /// Any other JUnit XML writer.
    Junit,
}

impl Framework {
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Surefire => "surefire",
            Framework::Gradle => "gradle",
            Framework::Pytest => "pytest",
            Framework::Jest => "jest",
            Framework::Nextest => "nextest",
            Framework::Junit => "junit",
        }
    }
}

/// A test's outcome in one report, retries folded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    /// An assertion failed (`<failure>`) on every attempt.
    Failed,
    /// The test errored (`<error>`) on every attempt.
    Error,
    Skipped,
    /// Failed, then passed on a retry of the same run.
    Flaky,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
            Outcome::Flaky => "flaky",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "passed" => Outcome::Passed,
            "failed" => Outcome::Failed,
            "error" => Outcome::Error,
            "skipped" => Outcome::Skipped,
            "flaky" => Outcome::Flaky,
            _ => return None,
        })
    }

    pub fn is_failing(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Error)
    }
}

/// One failing attempt's evidence: `failure`, `error`, `flakyFailure`, `flakyError`,
/// `rerunFailure` or `rerunError`, each text capped as head + tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    /// The element: `failure`, `error`, `flakyFailure`, `flakyError`, `rerunFailure`,
    /// `rerunError`.
    pub kind: String,
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub failure_type: Option<String>,
    /// The element's text (or its `stackTrace`): the stack trace or, for jest, the message.
    pub body: String,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

/// One test of one report.
#[derive(Debug, Clone)]
pub struct Case {
    pub framework: Framework,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub duration_ms: Option<i64>,
    pub outcome: Outcome,
    /// Runs of the test in this report (1 + retries).
    pub attempts: u32,
    /// Failing attempts, in order.
    pub evidence: Vec<Evidence>,
    pub skip_message: Option<String>,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

/// Caps on stored text, from `[healing]`.
#[derive(Debug, Clone, Copy)]
pub struct TextLimits {
    /// Bodies and captured output.
    pub output_bytes: usize,
    /// `message` attributes.
    pub message_bytes: usize,
}

/// A parsed file: its dialect and its cases (one per test identity).
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub framework: Framework,
    pub cases: Vec<Case>,
}

/// Pass/fail/skip/flaky counts, always recomputed from cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    pub tests: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    pub skipped: i64,
    pub flaky: i64,
}

impl Counts {
    pub fn of<'a>(cases: impl IntoIterator<Item = &'a Case>) -> Counts {
        let mut c = Counts::default();
        for case in cases {
            c.tests += 1;
            match case.outcome {
                Outcome::Passed => c.passed += 1,
                Outcome::Failed => c.failed += 1,
                Outcome::Error => c.errors += 1,
                Outcome::Skipped => c.skipped += 1,
                Outcome::Flaky => c.flaky += 1,
            }
        }
        c
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JunitError {
    /// Not well-formed XML (or not UTF-8), at `line` (1-based) and `byte` (0-based offset;
    /// pytest writes the whole report on one line).
    Malformed {
        file: String,
        line: u64,
        byte: u64,
        reason: String,
    },
    /// Well-formed XML whose root is not `testsuites` or `testsuite`.
    NotJunit { file: String, root: String },
}

/// Parses one report file. `hint` overrides dialect detection.
pub fn parse(
    file: &str,
    bytes: &[u8],
    hint: Option<Framework>,
    limits: TextLimits,
) -> Result<ParsedFile, JunitError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        malformed(
            file,
            bytes,
            e.valid_up_to(),
            "the file is not UTF-8 (JUnit reports must be UTF-8)".into(),
        )
    })?;
    let mut reader = Reader::from_str(text);
    let mut p = Parser::new(hint, limits);
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(file, bytes, reader.error_position() as usize, e.to_string()))?;
        let at = reader.buffer_position() as usize;
        let step = match event {
            Event::Eof => break,
            Event::Start(e) => p.open(&e),
            Event::Empty(e) => p.open(&e).and_then(|()| p.close()),
            Event::End(_) => p.close(),
            Event::Text(t) => {
                p.text(&t.xml10_content());
                Ok(())
            }
            Event::CData(c) => {
                p.text(&c.xml10_content());
                Ok(())
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => Ok(c.to_string()),
                        Ok(None) | Err(_) => Err(format!(
                            "invalid character reference &{};",
                            r.xml10_content()
                        )),
                    }
                } else {
                    let name = r.xml10_content();
                    resolve_predefined_entity(&name)
                        .map(str::to_string)
                        .ok_or_else(|| format!("unknown entity &{name};"))
                };
                resolved.map(|s| p.text(&s)).map_err(Refusal::Malformed)
            }
            _ => Ok(()),
        };
        step.map_err(|reason| match reason {
            Refusal::Malformed(reason) => malformed(file, bytes, at, reason),
            Refusal::NotJunit(root) => JunitError::NotJunit {
                file: file.to_string(),
                root,
            },
        })?;
    }
    if let Some(open) = p.stack.last() {
        return Err(malformed(
            file,
            bytes,
            bytes.len(),
            format!("the file ends inside <{}>", open.name),
        ));
    }
    if !p.root_seen {
        return Err(malformed(
            file,
            bytes,
            bytes.len(),
            "the file holds no XML element".into(),
        ));
    }
    let framework = p.framework();
    Ok(ParsedFile {
        framework,
        cases: merge::fold_retries(framework, p.cases),
    })
}

fn malformed(file: &str, bytes: &[u8], at: usize, reason: String) -> JunitError {
    let at = at.min(bytes.len());
    let line = bytes[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1;
    JunitError::Malformed {
        file: file.to_string(),
        line,
        byte: at as u64,
        reason,
    }
}

enum Refusal {
    Malformed(String),
    NotJunit(String),
}

impl From<String> for Refusal {
    fn from(s: String) -> Self {
        Refusal::Malformed(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Suite,
    Case,
    Attempt,
    Skipped,
    Out,
    Err,
    StackTrace,
    Other,
}

struct Open {
    name: String,
    kind: Kind,
}

struct Suite {
    name: String,
    file: Option<String>,
    out: BoundedText,
    err: BoundedText,
    /// Index in `cases` of this suite's first case.
    first_case: usize,
}

struct Attempt {
    kind: String,
    message: Option<String>,
    failure_type: Option<String>,
    body: BoundedText,
    out: Option<BoundedText>,
    err: Option<BoundedText>,
}

struct RawCase {
    suite: String,
    classname: String,
    name: String,
    file: Option<String>,
    duration_ms: Option<i64>,
    skipped: bool,
    skip_message: Option<BoundedText>,
    attempts: Vec<Evidence>,
    out: Option<BoundedText>,
    err: Option<BoundedText>,
}

struct Parser {
    limits: TextLimits,
    hint: Option<Framework>,
    detected: Option<Framework>,
    root_seen: bool,
    bare_gradle_like: bool,
    stack: Vec<Open>,
    suites: Vec<Suite>,
    case: Option<RawCase>,
    attempt: Option<Attempt>,
    /// As read; the framework is set when they are folded.
    cases: Vec<Case>,
}

fn attr(e: &BytesStart<'_>, key: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        if a.key.as_ref() == key {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// `time` may be missing, empty, or written with thousands separators (`2,120.532`).
fn duration_ms(raw: Option<String>) -> Option<i64> {
    let raw = raw?;
    let secs: f64 = raw.trim().replace(',', "").parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as i64)
}

impl Parser {
    fn new(hint: Option<Framework>, limits: TextLimits) -> Self {
        Parser {
            limits,
            hint,
            detected: None,
            root_seen: false,
            bare_gradle_like: false,
            stack: Vec::new(),
            suites: Vec::new(),
            case: None,
            attempt: None,
            cases: Vec::new(),
        }
    }

    fn framework(&self) -> Framework {
        self.hint
            .or(self.detected)
            .unwrap_or(if self.bare_gradle_like {
                Framework::Gradle
            } else {
                Framework::Junit
            })
    }

    fn parent(&self) -> Option<Kind> {
        self.stack.last().map(|o| o.kind)
    }

    fn open(&mut self, e: &BytesStart<'_>) -> Result<(), Refusal> {
        let name = e.local_name().as_ref().to_string();
        let parent = self.parent();
        let kind = match (parent, name.as_str()) {
            (None, _) if self.root_seen => {
                return Err(Refusal::Malformed(format!(
                    "a second root element <{name}>"
                )));
            }
            (None, "testsuites") => {
                self.root_seen = true;
                match attr(e, "name")?.as_deref() {
                    Some("nextest-run") => self.detected = Some(Framework::Nextest),
                    Some("jest tests") => self.detected = Some(Framework::Jest),
                    _ => {}
                }
                Kind::Root
            }
            (None, "testsuite") => {
                self.root_seen = true;
                self.bare_gradle_like =
                    attr(e, "hostname")?.is_some() && attr(e, "timestamp")?.is_some();
                self.open_suite(e)?;
                Kind::Suite
            }
            (None, _) => return Err(Refusal::NotJunit(name)),
            (Some(Kind::Root | Kind::Suite), "testsuite") => {
                self.open_suite(e)?;
                Kind::Suite
            }
            (Some(Kind::Root | Kind::Suite), "testcase") => {
                self.open_case(e)?;
                Kind::Case
            }
            (
                Some(Kind::Case),
                "failure" | "error" | "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError",
            ) => {
                let message = attr(e, "message")?.map(|m| bounded(&m, self.limits.message_bytes));
                let failure_type = attr(e, "type")?.map(|m| bounded(&m, self.limits.message_bytes));
                self.attempt = Some(Attempt {
                    kind: name.clone(),
                    message,
                    failure_type,
                    body: BoundedText::new(self.limits.output_bytes),
                    out: None,
                    err: None,
                });
                Kind::Attempt
            }
            (Some(Kind::Case), "skipped") => {
                let message = attr(e, "message")?;
                if let Some(case) = self.case.as_mut() {
                    case.skipped = true;
                    let mut text = BoundedText::new(self.limits.message_bytes);
                    if let Some(m) = message {
                        text.push(&m);
                    }
                    case.skip_message = Some(text);
                }
                Kind::Skipped
            }
            (Some(Kind::Attempt), "stackTrace") => Kind::StackTrace,
            (Some(Kind::Case | Kind::Suite | Kind::Attempt), "system-out") => {
                self.start_output(parent, false);
                Kind::Out
            }
            (Some(Kind::Case | Kind::Suite | Kind::Attempt), "system-err") => {
                self.start_output(parent, true);
                Kind::Err
            }
            _ => Kind::Other,
        };
        self.stack.push(Open { name, kind });
        Ok(())
    }

    fn open_suite(&mut self, e: &BytesStart<'_>) -> Result<(), Refusal> {
        let name = attr(e, "name")?.unwrap_or_default();
        if name == "pytest" {
            self.detected = Some(Framework::Pytest);
        }
        if attr(e, "xsi:noNamespaceSchemaLocation")?.is_some_and(|s| s.contains("surefire")) {
            self.detected = Some(Framework::Surefire);
        }
        let cap = self.limits.output_bytes;
        self.suites.push(Suite {
            name,
            file: attr(e, "file")?,
            out: BoundedText::new(cap),
            err: BoundedText::new(cap),
            first_case: self.cases.len(),
        });
        Ok(())
    }

    fn open_case(&mut self, e: &BytesStart<'_>) -> Result<(), Refusal> {
        let Some(name) = attr(e, "name")?.filter(|n| !n.trim().is_empty()) else {
            return Err(Refusal::Malformed(
                "a <testcase> without a `name` attribute".into(),
            ));
        };
        let suite = self.suites.last();
        self.case = Some(RawCase {
            suite: suite.map(|s| s.name.clone()).unwrap_or_default(),
            classname: attr(e, "classname")?.unwrap_or_default(),
            name,
            file: attr(e, "file")?.or_else(|| suite.and_then(|s| s.file.clone())),
            duration_ms: duration_ms(attr(e, "time")?),
            skipped: false,
            skip_message: None,
            attempts: Vec::new(),
            out: None,
            err: None,
        });
        Ok(())
    }

    fn start_output(&mut self, parent: Option<Kind>, err: bool) {
        let cap = self.limits.output_bytes;
        let slot = match parent {
            Some(Kind::Attempt) => self
                .attempt
                .as_mut()
                .map(|a| if err { &mut a.err } else { &mut a.out }),
            Some(Kind::Case) => self
                .case
                .as_mut()
                .map(|c| if err { &mut c.err } else { &mut c.out }),
            _ => None,
        };
        if let Some(slot) = slot
            && slot.is_none()
        {
            *slot = Some(BoundedText::new(cap));
        }
    }

    fn text(&mut self, s: &str) {
        let n = self.stack.len();
        let kind = self.stack.last().map(|o| o.kind);
        let parent = n.checked_sub(2).map(|i| self.stack[i].kind);
        let target: Option<&mut BoundedText> = match (kind, parent) {
            (Some(Kind::Attempt | Kind::StackTrace), _) => {
                self.attempt.as_mut().map(|a| &mut a.body)
            }
            (Some(Kind::Skipped), _) => self.case.as_mut().and_then(|c| c.skip_message.as_mut()),
            (Some(Kind::Out), Some(Kind::Attempt)) => {
                self.attempt.as_mut().and_then(|a| a.out.as_mut())
            }
            (Some(Kind::Err), Some(Kind::Attempt)) => {
                self.attempt.as_mut().and_then(|a| a.err.as_mut())
            }
            (Some(Kind::Out), Some(Kind::Case)) => self.case.as_mut().and_then(|c| c.out.as_mut()),
            (Some(Kind::Err), Some(Kind::Case)) => self.case.as_mut().and_then(|c| c.err.as_mut()),
            (Some(Kind::Out), Some(Kind::Suite)) => self.suites.last_mut().map(|s| &mut s.out),
            (Some(Kind::Err), Some(Kind::Suite)) => self.suites.last_mut().map(|s| &mut s.err),
            _ => None,
        };
        if let Some(t) = target {
            t.push(s);
        }
    }

    fn close(&mut self) -> Result<(), Refusal> {
        let Some(open) = self.stack.pop() else {
            return Err(Refusal::Malformed("an end tag with no element open".into()));
        };
        match open.kind {
            Kind::Attempt => {
                if let (Some(a), Some(case)) = (self.attempt.take(), self.case.as_mut()) {
                    case.attempts.push(Evidence {
                        kind: a.kind,
                        message: a.message,
                        failure_type: a.failure_type,
                        body: a.body.finish().trim().to_string(),
                        system_out: a.out.and_then(finish_output),
                        system_err: a.err.and_then(finish_output),
                    });
                }
            }
            Kind::Case => {
                if let Some(case) = self.case.take() {
                    self.cases.push(finish_case(case));
                }
            }
            Kind::Suite => {
                if let Some(suite) = self.suites.pop() {
                    // Gradle writes a suite's output once, after its cases: failing cases with
                    // no output of their own get it.
                    let out = finish_output(suite.out).unwrap_or_default();
                    let err = finish_output(suite.err).unwrap_or_default();
                    let from = suite.first_case.min(self.cases.len());
                    for case in &mut self.cases[from..] {
                        if !case.outcome.is_failing() && case.outcome != Outcome::Flaky {
                            continue;
                        }
                        if case.system_out.is_none() && !out.trim().is_empty() {
                            case.system_out = Some(out.clone());
                        }
                        if case.system_err.is_none() && !err.trim().is_empty() {
                            case.system_err = Some(err.clone());
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn finish_case(case: RawCase) -> Case {
    let hard = case
        .attempts
        .iter()
        .filter(|a| a.kind == "failure" || a.kind == "error")
        .count();
    let reruns = case
        .attempts
        .iter()
        .filter(|a| a.kind.starts_with("rerun"))
        .count();
    let flaky = case
        .attempts
        .iter()
        .filter(|a| a.kind.starts_with("flaky"))
        .count();
    let (outcome, attempts) = if hard > 0 {
        let failed = case.attempts.iter().any(|a| a.kind == "failure");
        let outcome = if failed {
            Outcome::Failed
        } else {
            Outcome::Error
        };
        (outcome, 1 + reruns)
    } else if case.skipped {
        (Outcome::Skipped, 1)
    } else if flaky > 0 {
        (Outcome::Flaky, 1 + flaky)
    } else {
        (Outcome::Passed, 1)
    };
    Case {
        // Not known before the whole file is read: `merge::fold_retries` sets it.
        framework: Framework::Junit,
        suite: case.suite,
        classname: case.classname,
        name: case.name,
        file: case.file,
        duration_ms: case.duration_ms,
        outcome,
        attempts: attempts as u32,
        evidence: case.attempts,
        skip_message: case
            .skip_message
            .map(BoundedText::finish)
            .filter(|m| !m.is_empty()),
        system_out: case.out.and_then(finish_output),
        system_err: case.err.and_then(finish_output),
    }
}

/// Captured output, trimmed; only whitespace is none.
fn finish_output(t: BoundedText) -> Option<String> {
    let s = t.finish();
    let trimmed = s.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

#[cfg(test)]
mod tests;

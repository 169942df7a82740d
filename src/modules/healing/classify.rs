//! Classifies a failure from its evidence (message, type, body of the first failing attempt),
//! deterministically, with the lines that decided it. Checks run from the most specific signal
//! to the least: a runner's own timeout, missing elements, timeouts, snapshots, unknown symbols,
//! refused connections, the environment, then assertions; what matches nothing is `other`.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::junit::Evidence;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Timeout,
    /// Element or locator not found (Selenium, Playwright, Cypress).
    Locator,
    /// An assertion compared two values.
    Assertion,
    Snapshot,
    /// Unknown import or symbol (with the runtime's suggestion when it gave one).
    UnknownSymbol,
    /// Connection refused or service not ready.
    Connection,
    /// Out of memory, disk full, name resolution.
    Environment,
    Other,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Timeout => "timeout",
            Category::Locator => "locator",
            Category::Assertion => "assertion",
            Category::Snapshot => "snapshot",
            Category::UnknownSymbol => "unknown_symbol",
            Category::Connection => "connection",
            Category::Environment => "environment",
            Category::Other => "other",
        }
    }
}

/// The category and what supports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Classification {
    pub category: Category,
    /// The lines (or attribute) of the evidence that decided it.
    pub evidence: Vec<String>,
    /// Assertion: the expected value, as written in the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Assertion: the observed value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Timeout: the limit that was exceeded, in milliseconds, when the message says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_ms: Option<i64>,
    /// Locator: the selector that found nothing; unknown symbol: the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Unknown symbol: the runtime's "did you mean" suggestion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl Classification {
    fn new(category: Category, evidence: impl Into<String>) -> Self {
        Classification {
            category,
            evidence: vec![evidence.into()],
            expected: None,
            actual: None,
            limit_ms: None,
            subject: None,
            suggestion: None,
        }
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

/// The first line of `text` matching `pattern` (trimmed, capped).
fn line_matching<'a>(text: &'a str, pattern: &Regex) -> Option<&'a str> {
    text.lines().map(str::trim).find(|l| pattern.is_match(l))
}

/// The text of the first group that matched: patterns with one group per alternative.
fn first_group(m: &regex::Captures<'_>) -> Option<String> {
    m.iter()
        .skip(1)
        .flatten()
        .next()
        .map(|g| g.as_str().to_string())
}

fn cap(s: &str) -> String {
    super::junit::text::bounded(s.trim(), 400)
}

static TIMEOUT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)Exceeded timeout of \d+ ?ms|TestTimedOutException|execution timed out after|Failed: Timeout \(?>|test timed out after|timed out after \d|TimeoutError|Timeout \d+ms exceeded",
    )
});
static TIMEOUT_LIMIT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:timeout of|timed out after|Timeout \(?>|Timeout) ?(\d+(?:\.\d+)?) ?(ms|milliseconds|s|seconds)?",
    )
});
static SNAPSHOT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"toMatchSnapshot|toMatchInlineSnapshot|Snapshot name: `|snapshot assertion for '|Snapshot Summary|\.snap\.new|\[- snapshot\]|snapshot does not match",
    )
});
static LOCATOR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"NoSuchElementException|no such element: Unable to locate element|Expected to find element:|Unable to find an element|waiting for (?:locator|selector)|Element not found|ElementNotFound|element \(.+\) not found"#,
    )
});
static SELECTOR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#""selector":\s*"((?:[^"\\]|\\.)+)"|Expected to find element: `([^`]+)`|(?:locator|selector)\(['"](.+?)['"]\)|Element not found:\s*(\S+)|waiting for (?:locator|selector) ['"](.+?)['"]"#,
    )
});
static UNKNOWN_SYMBOL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"NameError: name '([^']+)' is not defined|AttributeError: .*has no attribute '([^']+)'|ImportError: cannot import name '([^']+)'|ModuleNotFoundError: No module named '([^']+)'|error\[E04(?:12|22|23|25|32|33)\]: (?:cannot find|unresolved)[^`]*`([^`]+)`|error TS2(?:304|551|552|724|305|307|339)[: ].*?'([^']+)'|ReferenceError: (\w+) is not defined|NoSuchMethodError|cannot find symbol"#,
    )
});
static SUGGESTION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"Did you mean:? '([^']+)'\??|help: (?:a|an) [\w ]+ with a similar name exists: `([^`]+)`|help: consider importing[^`]*`([^`]+)`"#,
    )
});
static CONNECTION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)ECONNREFUSED|\[Errno 111\]|Connection refused|ConnectException|os error 111|ConnectionRefused|the database system is starting up|ServiceUnavailable|connection reset by peer|ECONNRESET",
    )
});
static ENVIRONMENT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)OutOfMemoryError|MemoryError|Cannot allocate memory|heap out of memory|memory allocation of \d+ bytes failed|ENOSPC|No space left on device|Disk quota exceeded|ENOTFOUND|Name or service not known|Temporary failure in name resolution|UnknownHostException|nodename nor servname provided|no such host|Too many open files",
    )
});

/// (regex, expected group, actual group), tried in order.
static ASSERTIONS: LazyLock<Vec<(Regex, usize, usize)>> = LazyLock::new(|| {
    vec![
        // JUnit 4: expected:<[X]> but was:<[Y]>
        (
            re(r"expected:\s?<\[?(.*?)\]?> but was:\s?<\[?(.*?)\]?>"),
            1,
            2,
        ),
        // JUnit 5: expected: <X> but was: <Y>
        (re(r"expected: <(.*)> but was: <(.*)>"), 1, 2),
        // AssertJ: expected: X / but was: Y (on following lines)
        (
            re(r"(?s)expected: ?(.+?)\n\s*but was: ?(.+?)(?:\n|$)"),
            1,
            2,
        ),
        // Hamcrest: Expected: X / but: was Y
        (
            re(r"(?s)Expected: (.+?)\n\s*but: (?:was )?(.+?)(?:\n|$)"),
            1,
            2,
        ),
        // Jest: Expected: X / Received: Y
        (
            re(r"(?s)Expected:\s+(.+?)\n\s*Received:\s+(.+?)(?:\n|$)"),
            1,
            2,
        ),
        // Rust assert_eq!: left / right (by convention left = actual, right = expected)
        (re(r"(?s)\bleft: (.+?)\n\s*right: (.+?)(?:\n|$)"), 2, 1),
        // pytest: assert X == Y (the actual value is on the left)
        // (pytest writes `AssertionError: assert …` when the comparison was explained.)
        (
            re(r"(?m)^(?:E\s+)?(?:AssertionError: )?assert (.+?) == (.+?)$"),
            2,
            1,
        ),
    ]
});
static ASSERTION_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"AssertionError|AssertionFailedError|ComparisonFailure|assertion failed|assertion `left == right` failed|expect\(received\)",
    )
});

/// Classifies the first failing attempt; `None` when there is no evidence at all.
pub fn classify(evidence: &[Evidence]) -> Option<Classification> {
    let first = evidence.first()?;
    let message = first.message.as_deref().unwrap_or_default();
    let kind = first.failure_type.as_deref().unwrap_or_default();
    let text = format!(
        "{message}\n{}\n{}",
        first.body,
        first.system_err.as_deref().unwrap_or_default()
    );

    if kind == "test timeout" {
        return Some(Classification::new(
            Category::Timeout,
            format!("type=\"{kind}\""),
        ));
    }
    // A wait for an element that timed out is about the element (Cypress, Playwright).
    if let Some(line) = line_matching(&text, &LOCATOR) {
        let mut c = Classification::new(Category::Locator, cap(line));
        c.subject = SELECTOR.captures(&text).and_then(|m| first_group(&m));
        return Some(c);
    }
    if let Some(line) = line_matching(&text, &TIMEOUT) {
        let mut c = Classification::new(Category::Timeout, cap(line));
        c.limit_ms = TIMEOUT_LIMIT.captures(line).and_then(|m| {
            let n: f64 = m.get(1)?.as_str().parse().ok()?;
            let ms = match m.get(2).map(|u| u.as_str().to_ascii_lowercase()) {
                Some(u) if u.starts_with("ms") || u.starts_with("milli") => n,
                _ => n * 1000.0,
            };
            Some(ms.round() as i64)
        });
        return Some(c);
    }
    if let Some(line) = line_matching(&text, &SNAPSHOT) {
        return Some(Classification::new(Category::Snapshot, cap(line)));
    }
    if let Some(m) = UNKNOWN_SYMBOL.captures(&text) {
        let mut c = Classification::new(Category::UnknownSymbol, cap(m.get(0)?.as_str()));
        c.subject = first_group(&m);
        if let Some(s) = SUGGESTION.captures(&text) {
            c.suggestion = first_group(&s);
            c.evidence.push(cap(s.get(0)?.as_str()));
        }
        return Some(c);
    }
    if let Some(line) = line_matching(&text, &CONNECTION) {
        return Some(Classification::new(Category::Connection, cap(line)));
    }
    if let Some(line) = line_matching(&text, &ENVIRONMENT) {
        return Some(Classification::new(Category::Environment, cap(line)));
    }
    for (pattern, expected, actual) in ASSERTIONS.iter() {
        if let Some(m) = pattern.captures(&text) {
            let mut c = Classification::new(Category::Assertion, cap(m.get(0)?.as_str()));
            c.expected = m.get(*expected).map(|g| cap(g.as_str()));
            c.actual = m.get(*actual).map(|g| cap(g.as_str()));
            return Some(c);
        }
    }
    if let Some(line) = line_matching(&text, &ASSERTION_WORDS) {
        return Some(Classification::new(Category::Assertion, cap(line)));
    }
    let decided = if message.is_empty() {
        first.body.lines().next().unwrap_or_default()
    } else {
        message
    };
    Some(Classification::new(Category::Other, cap(decided)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::healing::junit::{self, TextLimits};

    fn ev(message: Option<&str>, kind: Option<&str>, body: &str) -> Vec<Evidence> {
        vec![Evidence {
            kind: "failure".into(),
            message: message.map(str::to_string),
            failure_type: kind.map(str::to_string),
            body: body.into(),
            system_out: None,
            system_err: None,
        }]
    }

    fn of(e: &[Evidence]) -> Classification {
        classify(e).expect("evidence")
    }

    /// The classifications of a fixture written by a real runner, by test name.
    fn fixture(path: &str) -> Vec<(String, Classification)> {
        let bytes = std::fs::read(format!(
            "{}/tests/fixtures/junit/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let limits = TextLimits {
            output_bytes: 16384,
            message_bytes: 2048,
        };
        junit::parse(path, &bytes, None, limits)
            .unwrap()
            .cases
            .into_iter()
            .filter_map(|c| Some((c.name.clone(), classify(&c.evidence)?)))
            .collect()
    }

    /// Asserts that `c` is an assertion failure that expected `expected` and got `actual`.
    fn assert_expected(c: &Classification, expected: &str, actual: &str) {
        assert_eq!(c.category, Category::Assertion, "{c:?}");
        assert_eq!(
            (c.expected.as_deref(), c.actual.as_deref()),
            (Some(expected), Some(actual))
        );
    }

    fn find<'a>(all: &'a [(String, Classification)], name: &str) -> &'a Classification {
        &all.iter().find(|(n, _)| n == name).expect(name).1
    }

    #[test]
    fn real_nextest_failures() {
        let all = fixture("nextest/junit.xml");
        let wrong = find(&all, "tests::adds_with_wrong_expectation");
        assert_expected(wrong, "5", "4");
        assert_eq!(
            find(&all, "tests::connects_to_database").category,
            Category::Connection
        );
        assert_eq!(
            find(&all, "tests::sleeps_past_the_timeout").category,
            Category::Timeout
        );
    }

    #[test]
    fn real_pytest_failures() {
        let all = fixture("pytest/xunit2.xml");
        let wrong = find(&all, "test_total_with_wrong_expectation");
        assert_expected(wrong, "4", "3");
        let unknown = find(&all, "test_unknown_name");
        assert_eq!(unknown.category, Category::UnknownSymbol);
        assert_eq!(unknown.subject.as_deref(), Some("totl"));
        // pytest prints the exception's text, which has no "Did you mean" (the traceback
        // printer adds it): no suggestion rather than a guessed one.
        assert_eq!(unknown.suggestion, None);
        assert_eq!(
            find(&all, "test_connection_refused").category,
            Category::Connection
        );
        assert_eq!(find(&all, "test_setup_error").category, Category::Other);
    }

    #[test]
    fn real_jest_failures() {
        let all = fixture("jest/default.xml");
        let wrong = find(&all, "Cart total has a wrong expectation");
        assert_expected(wrong, "4", "3");
        let timeout = find(&all, "Cart times out");
        assert_eq!(
            (timeout.category, timeout.limit_ms),
            (Category::Timeout, Some(200))
        );
        assert_eq!(
            find(&all, "Cart matches the snapshot").category,
            Category::Snapshot
        );
    }

    #[test]
    fn pytest_timeout_limit_and_explained_string_comparison() {
        let t = of(&ev(
            Some("Failed: Timeout (>0.5s) from pytest-timeout."),
            None,
            "",
        ));
        assert_eq!((t.category, t.limit_ms), (Category::Timeout, Some(500)));
        let a = of(&ev(
            Some("AssertionError: assert 'Hi Bob' == 'Hello Bob'\n  \n  - Hello Bob\n  + Hi Bob"),
            None,
            "",
        ));
        assert_eq!(
            (a.expected.as_deref(), a.actual.as_deref()),
            (Some("'Hello Bob'"), Some("'Hi Bob'"))
        );
    }

    #[test]
    fn java_assertion_dialects_give_expected_and_actual() {
        for (message, expected, actual) in [
            ("expected: <90> but was: <100>", "90", "100"),
            ("expected:<[hello]> but was:<[world]>", "hello", "world"),
            (
                "\nexpected: \"CANCELLED\"\n but was: \"OPEN\"",
                "\"CANCELLED\"",
                "\"OPEN\"",
            ),
            ("\nExpected: is <5>\n     but: was <4>", "is <5>", "<4>"),
        ] {
            let c = of(&ev(Some(message), Some("java.lang.AssertionError"), ""));
            assert_eq!(c.category, Category::Assertion, "{message}");
            assert_eq!(c.expected.as_deref(), Some(expected), "{message}");
            assert_eq!(c.actual.as_deref(), Some(actual), "{message}");
        }
    }

    #[test]
    fn other_runtimes_messages() {
        let cases = [
            (
                "org.junit.runners.model.TestTimedOutException: test timed out after 100 milliseconds",
                Category::Timeout,
            ),
            ("Failed: Timeout >1.0s", Category::Timeout),
            // pytest-timeout 2.4 as it really writes it.
            (
                "Failed: Timeout (>0.5s) from pytest-timeout.",
                Category::Timeout,
            ),
            (
                "org.openqa.selenium.NoSuchElementException: no such element: Unable to locate element: {\"method\":\"css selector\",\"selector\":\"#submit\"}",
                Category::Locator,
            ),
            // Cypress and Playwright time out *waiting for an element*: a locator failure.
            (
                "Timed out retrying after 4000ms: Expected to find element: `[data-test=login]`, but never found it.",
                Category::Locator,
            ),
            (
                "locator.click: Timeout 30000ms exceeded.\nCall log:\n  - waiting for locator('#submit')",
                Category::Locator,
            ),
            (
                "error[E0425]: cannot find function `totl` in this scope\nhelp: a function with a similar name exists: `total`",
                Category::UnknownSymbol,
            ),
            (
                "src/a.ts(3,5): error TS2551: Property 'lenght' does not exist on type 'string[]'. Did you mean 'length'?",
                Category::UnknownSymbol,
            ),
            (
                "AttributeError: 'Cart' object has no attribute 'totl'. Did you mean: 'total'?",
                Category::UnknownSymbol,
            ),
            (
                "Error: connect ECONNREFUSED 127.0.0.1:5432",
                Category::Connection,
            ),
            (
                "dial tcp 127.0.0.1:6379: connect: connection refused",
                Category::Connection,
            ),
            (
                "java.lang.OutOfMemoryError: Java heap space",
                Category::Environment,
            ),
            (
                "OSError: [Errno 28] No space left on device",
                Category::Environment,
            ),
            ("getaddrinfo ENOTFOUND db.internal", Category::Environment),
            (
                "insta: snapshot assertion for 'render' failed in line 12",
                Category::Snapshot,
            ),
            ("RuntimeError: something odd", Category::Other),
        ];
        for (message, category) in cases {
            assert_eq!(
                of(&ev(Some(message), None, "")).category,
                category,
                "{message}"
            );
        }
        let rust = of(&ev(
            Some(
                "error[E0425]: cannot find function `totl` in this scope\nhelp: a function with a similar name exists: `total`",
            ),
            None,
            "",
        ));
        assert_eq!(
            (rust.subject.as_deref(), rust.suggestion.as_deref()),
            (Some("totl"), Some("total"))
        );
        let ts = of(&ev(
            Some(
                "error TS2551: Property 'lenght' does not exist on type 'string[]'. Did you mean 'length'?",
            ),
            None,
            "",
        ));
        assert_eq!(ts.suggestion.as_deref(), Some("length"));
        let selenium = of(&ev(
            Some(
                "no such element: Unable to locate element: {\"method\":\"css selector\",\"selector\":\"#submit\"}",
            ),
            None,
            "",
        ));
        assert_eq!(selenium.subject.as_deref(), Some("#submit"));
    }
}

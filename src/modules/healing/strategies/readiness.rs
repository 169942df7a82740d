//! Service readiness: a connection refused while the test was being set up → a readiness wait
//! (TCP, or HTTP when the target is a URL) with exponential backoff and full jitter —
//! `delay_n = rand(0, min(cap, base·2^n))`, stopped within the budget — as a config change.
//! The jitter is seeded from sha256(test id, head commit, n), so the same failure gives the
//! same schedule. If the service never came up in the test's history, it is an environment
//! failure: abstain.

use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::*;

static SETUP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)failed on setup|\bsetup\b|set_up|setUp|beforeAll|beforeEach|before_all|before_each|@Before|BeforeAll|BeforeEach|BeforeClass|fixture|@setup-script|conftest")
        .expect("a valid built-in pattern")
});
static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"https?://[^\s'"<>)]+"#).expect("a valid built-in pattern"));
static HOST_PORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b((?:\d{1,3}\.){3}\d{1,3}|localhost|\[[0-9a-fA-F:]+\]|[a-zA-Z][\w-]*(?:\.[\w-]+)*)["']?(?::|,\s*|\s+port\s+)(\d{2,5})\b"#)
        .expect("a valid built-in pattern")
});
static CONNECT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)ECONNREFUSED|Errno 111|Connection refused|ConnectException|os error 111|ConnectionRefused|connect")
        .expect("a valid built-in pattern")
});

/// The service the test tried to reach: (kind, target).
fn target(text: &str) -> Option<(&'static str, String)> {
    if let Some(m) = URL.find(text) {
        return Some((
            "http",
            m.as_str().trim_end_matches(['.', ',', ';']).to_string(),
        ));
    }
    text.lines()
        .filter(|l| CONNECT_LINE.is_match(l))
        .find_map(|l| HOST_PORT.captures(l))
        .and_then(|m| {
            let port: u32 = m[2].parse().ok()?;
            (1..=65535)
                .contains(&port)
                .then(|| ("tcp", format!("{}:{port}", &m[1])))
        })
}

/// Full-jitter exponential backoff delays whose sum stays within `budget`.
pub(super) fn backoff(seed: &str, base: u64, cap: u64, budget: u64) -> Vec<u64> {
    let mut delays = Vec::new();
    let mut total = 0u64;
    for n in 0..64u32 {
        let ceiling = base.saturating_mul(1u64 << n.min(40)).min(cap);
        let digest = Sha256::new()
            .chain_update(seed.as_bytes())
            .chain_update([0u8])
            .chain_update(n.to_be_bytes())
            .finalize();
        let mut word = [0u8; 8];
        word.copy_from_slice(&digest[..8]);
        let delay = u64::from_be_bytes(word) % ceiling.saturating_add(1);
        if total.saturating_add(delay) > budget {
            break;
        }
        total += delay;
        delays.push(delay);
    }
    delays
}

pub(super) fn propose(inputs: &Inputs, tuning: &Tuning) -> Option<Proposal> {
    if inputs.category() != Some(Category::Connection) {
        return None;
    }
    let name = StrategyName::Readiness;
    let text = inputs.evidence_text();
    let mut evidence: Vec<String> = inputs
        .classification
        .as_ref()
        .map(|c| c.evidence.clone())
        .unwrap_or_default();
    let in_setup = SETUP.find(&text);
    let Some(setup) = in_setup else {
        return Some(Proposal::abstain(
            name,
            "the connection was refused in the test body, not while setting up: a readiness wait would not change it",
            evidence,
        ));
    };
    evidence.push(format!("during setup (`{}`)", setup.as_str()));
    let passes = inputs.history.iter().filter(|s| s.passed).count();
    if passes == 0 {
        return Some(Proposal::abstain(
            name,
            if inputs.history.is_empty() {
                "no history shows the service ever came up: treat it as an environment failure"
                    .to_string()
            } else {
                format!(
                    "the service never came up in {} earlier runs: an environment failure, not a heal",
                    inputs.history.len()
                )
            },
            evidence,
        ));
    }
    evidence.push(format!(
        "passed {passes} of {} earlier runs",
        inputs.history.len()
    ));
    let (kind, target) = match target(&text) {
        Some(t) => t,
        None => {
            return Some(Proposal::abstain(
                name,
                "the failure does not say which address was refused",
                evidence,
            ));
        }
    };
    evidence.push(format!("waits for {kind} {target}"));
    let seed = format!(
        "{}\u{0}{}",
        inputs.test_id,
        inputs.head_commit.as_deref().unwrap_or_default()
    );
    let delays = backoff(
        &seed,
        tuning.readiness_base_ms,
        tuning.readiness_cap_ms,
        tuning.readiness_budget_ms,
    );
    Some(Proposal::config(
        name,
        Action::ConfigChange,
        serde_json::json!({
            "readiness": {
                "kind": kind,
                "target": target,
                "backoff": "exponential_full_jitter",
                "base_ms": tuning.readiness_base_ms,
                "cap_ms": tuning.readiness_cap_ms,
                "budget_ms": tuning.readiness_budget_ms,
                "delays_ms": delays,
            }
        }),
        0.75,
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn refused_in_setup() -> Inputs {
        let mut i = failing(
            "failed on setup with \"ConnectionRefusedError: [Errno 111] Connection refused\"",
            "    @pytest.fixture\n    def db():\n>       socket.create_connection((\"127.0.0.1\", 5432))\nE   ConnectionRefusedError: [Errno 111] Connection refused",
        );
        i.history = vec![pass(30), pass(31)];
        i
    }

    #[test]
    fn waits_with_backoff_within_the_budget() {
        let i = refused_in_setup();
        let p = propose(&i, &Tuning::default()).unwrap();
        assert_eq!(p.action, Action::ConfigChange, "{p:?}");
        let cfg = &p.config.as_ref().unwrap()["readiness"];
        assert_eq!(cfg["kind"], "tcp");
        assert_eq!(cfg["target"], "127.0.0.1:5432");
        let delays: Vec<u64> = serde_json::from_value(cfg["delays_ms"].clone()).unwrap();
        assert!(!delays.is_empty());
        assert!(delays.iter().sum::<u64>() <= 60_000);
        for (n, d) in delays.iter().enumerate() {
            assert!(*d <= (100u64 << n).min(10_000));
        }
        // Deterministic.
        assert_eq!(propose(&i, &Tuning::default()).unwrap(), p);
    }

    #[test]
    fn abstains_when_the_service_never_came_up_or_outside_setup() {
        let mut i = refused_in_setup();
        i.history = vec![Sample {
            passed: false,
            ..pass(1)
        }];
        let p = propose(&i, &Tuning::default()).unwrap();
        assert!(p.abstain_reason.unwrap().contains("never came up"));
        let mut j = failing(
            "ConnectionRefusedError: [Errno 111] Connection refused",
            "def test_fetch():\n>   requests.get(\"http://127.0.0.1:9/x\")",
        );
        j.history = vec![pass(3)];
        let p = propose(&j, &Tuning::default()).unwrap();
        assert!(p.abstain_reason.unwrap().contains("test body"));
    }

    #[test]
    fn reads_targets() {
        assert_eq!(
            target("Error: connect ECONNREFUSED 127.0.0.1:6379"),
            Some(("tcp", "127.0.0.1:6379".into()))
        );
        assert_eq!(
            target(">       conn = socket.create_connection((\"127.0.0.1\", 54329), timeout=1)"),
            Some(("tcp", "127.0.0.1:54329".into()))
        );
        assert_eq!(
            target("GET http://localhost:8080/health failed: Connection refused"),
            Some(("http", "http://localhost:8080/health".into()))
        );
    }
}

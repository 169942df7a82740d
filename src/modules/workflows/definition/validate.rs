//! Validation of a definition document into a [`Definition`]: names and ids, durations and
//! limits, retry policies, `needs` (unknown steps, cycles), step types and their `with:`, and
//! expressions (syntax, and references only to inputs and to steps that finish before). Every
//! problem is reported with the field (and so the step) it concerns.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use serde_json::Value;

use super::expr::{check_expression, collect_expressions, condition_expression};
use super::*;
use crate::modules::workflows::settings::WorkflowsSettings;
use crate::platform::steps::parse_with;

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| format!("`{raw}` is not a duration ({e}); use e.g. 250ms, 2s or 5m"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
        })
}

fn valid_step_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Event names for `wait_for_event` and the events endpoint.
pub fn valid_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

struct Validator<'a> {
    settings: &'a WorkflowsSettings,
    errors: Vec<FieldError>,
}

impl Validator<'_> {
    fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn duration(&mut self, field: String, raw: &str, max: Duration) -> Option<Duration> {
        match parse_duration(raw) {
            Ok(d) if d.is_zero() => {
                self.err(field, "must be longer than 0");
                None
            }
            Ok(d) if d > max => {
                self.err(
                    field,
                    format!("must be at most {}", humantime::format_duration(max)),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.err(field, e);
                None
            }
        }
    }

    fn retry(&mut self, field: &str, spec: Option<&RetrySpec>, base: &RetryPolicy) -> RetryPolicy {
        let Some(spec) = spec else {
            return base.clone();
        };
        let mut policy = base.clone();
        if let Some(n) = spec.max_attempts {
            if (1..=100).contains(&n) {
                policy.max_attempts = n;
            } else {
                self.err(format!("{field}.max_attempts"), "must be between 1 and 100");
            }
        }
        if let Some(raw) = &spec.initial_interval
            && let Some(d) =
                self.duration(format!("{field}.initial_interval"), raw, MAX_STEP_TIMEOUT)
        {
            policy.initial_interval = d;
        }
        if let Some(raw) = &spec.max_interval
            && let Some(d) = self.duration(format!("{field}.max_interval"), raw, MAX_STEP_TIMEOUT)
        {
            policy.max_interval = d;
        }
        if let Some(m) = spec.multiplier {
            if m.is_finite() && (1.0..=100.0).contains(&m) {
                policy.multiplier = m;
            } else {
                self.err(format!("{field}.multiplier"), "must be between 1 and 100");
            }
        }
        if let Some(j) = spec.jitter {
            if j.is_finite() && (0.0..=1.0).contains(&j) {
                policy.jitter = j;
            } else {
                self.err(format!("{field}.jitter"), "must be between 0 and 1");
            }
        }
        if spec.non_retryable.len() > 50 || spec.non_retryable.iter().any(|s| s.len() > 500) {
            self.err(
                format!("{field}.non_retryable"),
                "at most 50 entries of at most 500 characters",
            );
        }
        policy
            .non_retryable
            .extend(spec.non_retryable.iter().cloned());
        if policy.max_interval < policy.initial_interval {
            policy.max_interval = policy.initial_interval;
        }
        policy
    }
}

/// The settings' default retry policy.
pub fn default_retry(settings: &WorkflowsSettings) -> RetryPolicy {
    let d = &settings.default_retry;
    RetryPolicy {
        max_attempts: d.max_attempts.max(1),
        initial_interval: d.initial_interval.get(),
        multiplier: d.multiplier,
        max_interval: d.max_interval.get(),
        jitter: d.jitter,
        non_retryable: Vec::new(),
    }
}

/// Validates a document into a [`Definition`]; every problem is reported with the field (and so
/// the step) it concerns.
pub fn validate(
    doc: DefinitionDoc,
    catalog: &dyn StepCatalog,
    settings: &WorkflowsSettings,
) -> Result<Definition, Vec<FieldError>> {
    let mut v = Validator {
        settings,
        errors: Vec::new(),
    };
    if !valid_name(&doc.name) {
        v.err(
            "name",
            format!(
                "must be 1-{MAX_NAME_LEN} characters of lowercase letters, digits, `.`, `_` or `-`, starting with a letter or digit"
            ),
        );
    }
    if let Some(version) = doc.version
        && version < 1
    {
        v.err("version", "must be a positive integer (or left out)");
    }
    if doc.description.as_ref().is_some_and(|d| d.len() > 2000) {
        v.err("description", "must be at most 2000 characters");
    }
    if doc.steps.is_empty() {
        v.err("steps", "must list at least one step");
    }
    if doc.steps.len() > v.settings.max_steps {
        v.err(
            "steps",
            format!(
                "has {} steps; at most {} are allowed",
                doc.steps.len(),
                v.settings.max_steps
            ),
        );
        return Err(v.errors);
    }
    if doc.inputs.len() > MAX_INPUTS {
        v.err("inputs", format!("at most {MAX_INPUTS} inputs"));
    }
    for (name, spec) in &doc.inputs {
        if !valid_step_id(name) {
            v.err(
                format!("inputs.{name}"),
                "input names are letters, digits and `_`, starting with a letter or `_`",
            );
        }
        if let Some(default) = &spec.default
            && !default.is_null()
            && !spec.kind.accepts(default)
        {
            v.err(
                format!("inputs.{name}.default"),
                format!("is not of type {}", spec.kind.as_str()),
            );
        }
    }
    let run_timeout = doc
        .timeout
        .as_deref()
        .and_then(|raw| v.duration("timeout".into(), raw, MAX_RUN_TIMEOUT));
    let base_retry = default_retry(settings);
    let base_retry = v.retry("retry", doc.retry.as_ref(), &base_retry);
    let default_on_failure = doc.on_failure.unwrap_or(if settings.pause_on_exhaustion {
        OnFailure::Pause
    } else {
        OnFailure::DeadLetter
    });
    let default_timeout = settings.default_step_timeout();

    // Ids first, so `needs` can be checked in any order.
    let mut index = HashMap::new();
    for (i, spec) in doc.steps.iter().enumerate() {
        let field = format!("steps[{i}].id");
        if !valid_step_id(&spec.id) {
            v.err(
                field,
                format!(
                    "`{}` is not a valid step id: use letters, digits and `_` (at most 64), starting with a letter or `_`",
                    truncate(&spec.id, 80)
                ),
            );
        } else if index.insert(spec.id.clone(), i).is_some() {
            v.err(field, format!("step id `{}` is used twice", spec.id));
        }
    }

    let mut steps = Vec::with_capacity(doc.steps.len());
    for (i, spec) in doc.steps.iter().enumerate() {
        let at = format!("steps[{i}]");
        let name = format!("step `{}`", truncate(&spec.id, 64));
        // The step type must exist in this deployment.
        let mut wait = None;
        if spec.uses == WAIT {
            wait = check_wait(&mut v, &at, &name, &spec.with);
        } else if spec.uses == WAIT_FOR_EVENT {
            wait = check_wait_for_event(&mut v, &at, &name, &spec.with);
        } else {
            match catalog.check(&spec.uses, &spec.with) {
                None => v.err(
                    format!("{at}.uses"),
                    format!(
                        "{name} uses `{}`, an unknown step type or one whose module is disabled in this deployment",
                        truncate(&spec.uses, 100)
                    ),
                ),
                Some(Err(msg)) => v.err(format!("{at}.with"), format!("{name}: {msg}")),
                Some(Ok(())) => {}
            }
        }
        if !spec.with.is_object() {
            v.err(
                format!("{at}.with"),
                format!("{name}: `with` must be an object"),
            );
        } else if serde_json::to_vec(&spec.with).map_or(0, |b| b.len()) > MAX_WITH_BYTES {
            v.err(
                format!("{at}.with"),
                format!("{name}: `with` is larger than {MAX_WITH_BYTES} bytes"),
            );
        }
        if spec.needs.len() > MAX_NEEDS {
            v.err(
                format!("{at}.needs"),
                format!("{name}: at most {MAX_NEEDS} needs"),
            );
        }
        let mut needs = Vec::new();
        let mut seen = HashSet::new();
        for need in &spec.needs {
            match index.get(need) {
                Some(&j) if j == i => {
                    v.err(format!("{at}.needs"), format!("{name} needs itself"));
                }
                Some(&j) => {
                    if seen.insert(j) {
                        needs.push(j);
                    }
                }
                None => v.err(
                    format!("{at}.needs"),
                    format!(
                        "{name} needs `{}`, which is not a step of this workflow",
                        truncate(need, 64)
                    ),
                ),
            }
        }
        let retry = v.retry(&format!("{at}.retry"), spec.retry.as_ref(), &base_retry);
        let timeout = match &spec.timeout {
            Some(raw) => v
                .duration(format!("{at}.timeout"), raw, MAX_STEP_TIMEOUT)
                .unwrap_or(default_timeout),
            None => default_timeout,
        };
        let condition = match &spec.condition {
            None => None,
            Some(raw) => match condition_expression(raw) {
                Ok(expr) => Some(expr),
                Err(e) => {
                    v.err(format!("{at}.if"), format!("{name}: {e}"));
                    None
                }
            },
        };
        steps.push(Step {
            id: spec.id.clone(),
            uses: spec.uses.clone(),
            with: spec.with.clone(),
            needs,
            dependents: Vec::new(),
            condition,
            retry,
            timeout,
            on_failure: spec.on_failure.unwrap_or(default_on_failure),
            templated: spec.with.to_string().contains("${{"),
            wait,
        });
    }
    if !v.errors.is_empty() {
        return Err(v.errors);
    }

    // Cycles (Kahn's algorithm); what is left over is on or behind a cycle.
    for i in 0..steps.len() {
        for j in steps[i].needs.clone() {
            steps[j].dependents.push(i);
        }
    }
    let mut indegree: Vec<usize> = steps.iter().map(|s| s.needs.len()).collect();
    let mut queue: VecDeque<usize> = (0..steps.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &d in &steps[i].dependents {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                queue.push_back(d);
            }
        }
    }
    if order.len() < steps.len() {
        let cycle = find_cycle(&steps);
        let names: Vec<String> = cycle.iter().map(|&i| steps[i].id.clone()).collect();
        let first = cycle.first().copied().unwrap_or(0);
        v.err(
            format!("steps[{first}].needs"),
            format!(
                "step `{}` is part of a cycle: {} → {}",
                steps[first].id,
                names.join(" → "),
                names.first().cloned().unwrap_or_default()
            ),
        );
        return Err(v.errors);
    }

    // Expressions: syntax, and references only to inputs and to steps that finish before.
    let ancestors = ancestors(&steps, &order);
    let input_names: Option<BTreeSet<&str>> = if doc.inputs.is_empty() {
        None
    } else {
        Some(doc.inputs.keys().map(String::as_str).collect())
    };
    for (i, step) in steps.iter().enumerate() {
        let at = format!("steps[{i}]");
        let name = format!("step `{}`", step.id);
        let allowed = |s: &str| ancestors[i].contains(s);
        let mut exprs = Vec::new();
        collect_expressions(&step.with, &format!("{at}.with"), &mut exprs, &mut v.errors);
        if let Some(cond) = &step.condition {
            exprs.push((format!("{at}.if"), cond.clone()));
        }
        for (field, expr) in exprs {
            if let Err(e) = check_expression(&expr, input_names.as_ref(), &allowed, &steps) {
                v.err(field, format!("{name}: {e}"));
            }
        }
    }
    if doc.outputs.len() > MAX_OUTPUTS {
        v.err("outputs", format!("at most {MAX_OUTPUTS} outputs"));
    }
    for (key, value) in &doc.outputs {
        let mut exprs = Vec::new();
        collect_expressions(value, &format!("outputs.{key}"), &mut exprs, &mut v.errors);
        for (field, expr) in exprs {
            if let Err(e) = check_expression(&expr, input_names.as_ref(), &|_| true, &steps) {
                v.err(field, format!("output `{key}`: {e}"));
            }
        }
    }
    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    Ok(Definition {
        doc,
        steps,
        index,
        run_timeout,
    })
}

/// `wait`: `duration` (a duration, or an expression resolved when the step arms).
fn check_wait(v: &mut Validator<'_>, at: &str, name: &str, with: &Value) -> Option<Wait> {
    let before = v.errors.len();
    match with.get("duration") {
        Some(Value::String(raw)) if raw.contains("${{") => {}
        Some(Value::String(raw)) => {
            v.duration(format!("{at}.with.duration"), raw, MAX_WAIT);
        }
        _ => v.err(
            format!("{at}.with.duration"),
            format!("{name}: `wait` needs `duration`, e.g. `30s`"),
        ),
    }
    if let Some(obj) = with.as_object() {
        for key in obj.keys() {
            if key != "duration" {
                v.err(
                    format!("{at}.with.{key}"),
                    format!("{name}: `wait` takes only `duration`"),
                );
            }
        }
    }
    if v.errors.len() > before {
        return None;
    }
    match parse_with::<WaitWith>(with) {
        Ok(w) => Some(Wait::Timer(w)),
        Err(e) => {
            v.err(format!("{at}.with"), format!("{name}: {e}"));
            None
        }
    }
}

/// `wait_for_event`: `event` and an optional `timeout` (default 24h).
fn check_wait_for_event(v: &mut Validator<'_>, at: &str, name: &str, with: &Value) -> Option<Wait> {
    let before = v.errors.len();
    match with.get("event") {
        Some(Value::String(ev)) if valid_event_name(ev) => {}
        _ => v.err(
            format!("{at}.with.event"),
            format!(
                "{name}: `wait_for_event` needs `event`, a name of letters, digits, `_`, `-` or `.` (at most 100)"
            ),
        ),
    }
    if let Some(raw) = with.get("timeout") {
        match raw {
            Value::String(s) => {
                v.duration(format!("{at}.with.timeout"), s, MAX_WAIT);
            }
            _ => v.err(
                format!("{at}.with.timeout"),
                format!("{name}: `timeout` must be a duration like `10m`"),
            ),
        }
    }
    if let Some(obj) = with.as_object() {
        for key in obj.keys() {
            if key != "event" && key != "timeout" {
                v.err(
                    format!("{at}.with.{key}"),
                    format!("{name}: `wait_for_event` takes only `event` and `timeout`"),
                );
            }
        }
    }
    if v.errors.len() > before {
        return None;
    }
    match parse_with::<EventWith>(with) {
        Ok(w) => Some(Wait::Event {
            timeout: w.timeout.map_or(DEFAULT_EVENT_TIMEOUT, |t| t.get()),
            event: w.event,
        }),
        Err(e) => {
            v.err(format!("{at}.with"), format!("{name}: {e}"));
            None
        }
    }
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// One cycle through steps that are on a cycle (for the error message).
fn find_cycle(steps: &[Step]) -> Vec<usize> {
    // 0 = unvisited, 1 = on stack, 2 = done.
    let mut state = vec![0u8; steps.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn dfs(
        i: usize,
        steps: &[Step],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        stack.push(i);
        for &n in &steps[i].needs {
            if state[n] == 1 {
                let pos = stack.iter().position(|&x| x == n).unwrap_or(0);
                let mut cycle: Vec<usize> = stack[pos..].to_vec();
                cycle.reverse();
                return Some(cycle);
            }
            if state[n] == 0
                && let Some(c) = dfs(n, steps, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    for i in 0..steps.len() {
        if state[i] == 0
            && let Some(c) = dfs(i, steps, &mut state, &mut stack)
        {
            return c;
        }
    }
    Vec::new()
}

/// For each step, the ids of the steps that always finish before it.
fn ancestors(steps: &[Step], order: &[usize]) -> Vec<HashSet<String>> {
    let mut result: Vec<HashSet<String>> = vec![HashSet::new(); steps.len()];
    for &i in order {
        let mut set = HashSet::new();
        for &n in &steps[i].needs {
            set.insert(steps[n].id.clone());
            set.extend(result[n].iter().cloned());
        }
        result[i] = set;
    }
    result
}

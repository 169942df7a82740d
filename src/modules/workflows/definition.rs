//! Workflow definitions: the document users send (JSON or YAML), its validation into a DAG, retry
//! policies, durations (`humantime`) and `${{ … }}` expressions (evaluated with minijinja).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::LazyLock;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::config::WorkflowsSettings;
use crate::platform::http::error::FieldError;

/// Step types the engine itself implements (they wait rather than run code).
pub const WAIT: &str = "wait";
pub const WAIT_FOR_EVENT: &str = "wait_for_event";

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_EXPRESSION_LEN: usize = 4096;
pub const MAX_WITH_BYTES: usize = 64 * 1024;
pub const MAX_NEEDS: usize = 100;
pub const MAX_INPUTS: usize = 100;
pub const MAX_OUTPUTS: usize = 100;
const MAX_STEP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
const MAX_RUN_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);
pub const DEFAULT_EVENT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A workflow definition as sent to `POST /api/v1/workflows` (JSON or YAML).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DefinitionDoc {
    /// Lowercase letters, digits, `.`, `_`, `-`; posting the same name again adds a version.
    pub name: String,
    /// Optional: the version you expect to create (latest + 1), for optimistic concurrency.
    /// Left out, Maestro numbers versions itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Input schema: name → {type, required, default, description}.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, InputSpec>,
    /// Timeout of the whole run (e.g. `30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Default retry policy for steps without their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Default `on_failure` for steps without their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    pub steps: Vec<StepSpec>,
    /// Run outputs: name → expression over `inputs` and `steps`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub outputs: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Letters, digits and `_` (starting with a letter or `_`); referenced as `steps.<id>`.
    pub id: String,
    /// The step type, e.g. `http.request`, `templates.instantiate`, `wait`, `noop`.
    pub uses: String,
    /// The step's parameters; strings may contain `${{ … }}` expressions.
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_object")]
    #[schema(value_type = Object)]
    pub with: Value,
    /// Steps that must finish first (a string or a list).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub needs: Vec<String>,
    /// Run the step only when this expression is true (`${{ inputs.deploy }}`); otherwise it is
    /// skipped.
    #[serde(
        default,
        rename = "if",
        alias = "condition",
        skip_serializing_if = "Option::is_none"
    )]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Per-attempt timeout (e.g. `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in total, including the first (1 = no retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Delay before the first retry (e.g. `250ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_interval: Option<String>,
    /// Each further delay is the previous one times this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    /// Upper bound for a delay (e.g. `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<String>,
    /// Random spread of each delay, 0–1 (0.2 = ±20 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
    /// Errors containing any of these strings are not retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_retryable: Vec<String>,
}

/// What happens when a step has failed for good (retries exhausted or a permanent error).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The run moves to the dead-letter queue, from where it can be redriven (default).
    DeadLetter,
    /// The run pauses; resuming it retries the failed step.
    Pause,
    /// The run fails for good.
    Fail,
    /// The step is marked failed and the run goes on as if it had succeeded.
    Continue,
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::DeadLetter => "dead_letter",
            OnFailure::Pause => "pause",
            OnFailure::Fail => "fail",
            OnFailure::Continue => "continue",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    #[serde(rename = "type", default)]
    pub kind: InputType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    #[default]
    Any,
}

impl InputType {
    fn accepts(self, value: &Value) -> bool {
        match self {
            InputType::String => value.is_string(),
            InputType::Number => value.is_number(),
            InputType::Integer => value.is_i64() || value.is_u64(),
            InputType::Boolean => value.is_boolean(),
            InputType::Object => value.is_object(),
            InputType::Array => value.is_array(),
            InputType::Any => true,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::Object => "object",
            InputType::Array => "array",
            InputType::Any => "any",
        }
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.is_empty())
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// How the body was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// From a `Content-Type` value; `None` for types we do not read.
    pub fn from_content_type(raw: &str) -> Option<Format> {
        let mime = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/json" => Some(Format::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
                Some(Format::Yaml)
            }
            _ => None,
        }
    }
}

/// Why a definition was refused: a syntax problem (400) or invalid content (422).
#[derive(Debug)]
pub enum DefinitionError {
    Syntax(String),
    Invalid(Vec<FieldError>),
}

/// Reads the document (no validation beyond its shape).
pub fn parse(body: &[u8], format: Format) -> Result<DefinitionDoc, DefinitionError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| DefinitionError::Syntax("the body is not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Err(DefinitionError::Syntax(
            "the body is empty; send the workflow definition as JSON or YAML".into(),
        ));
    }
    let value: Value = match format {
        Format::Json => serde_json::from_str(text)
            .map_err(|e| DefinitionError::Syntax(format!("invalid JSON: {e}")))?,
        Format::Yaml => yaml_serde::from_str(text)
            .map_err(|e| DefinitionError::Syntax(format!("invalid YAML: {e}")))?,
    };
    if !value.is_object() {
        return Err(DefinitionError::Syntax(
            "the definition must be an object with `name` and `steps`".into(),
        ));
    }
    serde_path_to_error::deserialize::<_, DefinitionDoc>(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        DefinitionError::Invalid(vec![FieldError::new(field, e.inner().to_string())])
    })
}

/// A retry policy with every default resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_interval: Duration,
    pub multiplier: f64,
    pub max_interval: Duration,
    pub jitter: f64,
    pub non_retryable: Vec<String>,
}

impl RetryPolicy {
    /// The delay before attempt `failed_attempt + 1`, without jitter (`failed_attempt` ≥ 1).
    pub fn base_delay(&self, failed_attempt: u32) -> Duration {
        let exp = failed_attempt.saturating_sub(1).min(64) as i32;
        let secs = self.initial_interval.as_secs_f64() * self.multiplier.powi(exp);
        let capped = secs.min(self.max_interval.as_secs_f64()).max(0.0);
        Duration::from_secs_f64(if capped.is_finite() {
            capped
        } else {
            self.max_interval.as_secs_f64()
        })
    }

    /// The delay with jitter applied (`unit` is a uniform sample from [0, 1)).
    pub fn delay(&self, failed_attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(failed_attempt).as_secs_f64();
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * factor).max(0.0))
    }

    pub fn is_non_retryable(&self, error: &str) -> bool {
        self.non_retryable
            .iter()
            .any(|needle| !needle.is_empty() && error.contains(needle.as_str()))
    }
}

/// One validated step.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub uses: String,
    pub with: Value,
    pub needs: Vec<usize>,
    pub dependents: Vec<usize>,
    pub condition: Option<String>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub on_failure: OnFailure,
    /// `with` contains expressions (so executing it needs the expression context).
    pub templated: bool,
}

/// A validated definition: the document plus its compiled DAG.
#[derive(Debug, Clone)]
pub struct Definition {
    pub doc: DefinitionDoc,
    pub steps: Vec<Step>,
    pub index: HashMap<String, usize>,
    pub run_timeout: Option<Duration>,
}

impl Definition {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.index.get(id).map(|&i| &self.steps[i])
    }

    /// Steps with no `needs`.
    pub fn roots(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.needs.is_empty())
    }

    /// Applies defaults and checks the types of run inputs.
    pub fn resolve_inputs(
        &self,
        given: &serde_json::Map<String, Value>,
    ) -> Result<serde_json::Map<String, Value>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut out = serde_json::Map::new();
        for key in given.keys() {
            if !self.doc.inputs.contains_key(key) && !self.doc.inputs.is_empty() {
                errors.push(FieldError::new(
                    format!("inputs.{key}"),
                    format!(
                        "is not an input of this workflow; it takes: {}",
                        self.doc
                            .inputs
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        if self.doc.inputs.is_empty() {
            // No schema: inputs are passed through as given.
            return if errors.is_empty() {
                Ok(given.clone())
            } else {
                Err(errors)
            };
        }
        for (name, spec) in &self.doc.inputs {
            match given.get(name).or(spec.default.as_ref()) {
                Some(value) if value.is_null() && !spec.required => {
                    out.insert(name.clone(), Value::Null);
                }
                Some(value) => {
                    if spec.kind.accepts(value) {
                        out.insert(name.clone(), value.clone());
                    } else {
                        errors.push(FieldError::new(
                            format!("inputs.{name}"),
                            format!("must be of type {}", spec.kind.as_str()),
                        ));
                    }
                }
                None if spec.required => errors.push(FieldError::new(
                    format!("inputs.{name}"),
                    "is required".to_string(),
                )),
                None => {
                    out.insert(name.clone(), Value::Null);
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// What validation needs to know about step types.
pub trait StepCatalog {
    /// `None` when the type is unknown (or its module is disabled); otherwise the type's own
    /// verdict on `with`.
    fn check(&self, uses: &str, with: &Value) -> Option<Result<(), String>>;
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| format!("`{raw}` is not a duration ({e}); use e.g. 250ms, 2s or 5m"))
}

/// Parses a duration option from settings (already validated at start).
pub fn settings_duration(raw: &str, fallback: Duration) -> Duration {
    humantime::parse_duration(raw.trim()).unwrap_or(fallback)
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
        initial_interval: settings_duration(&d.initial_interval, Duration::from_secs(1)),
        multiplier: d.multiplier,
        max_interval: settings_duration(&d.max_interval, Duration::from_secs(60)),
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
    let default_timeout =
        settings_duration(&settings.default_step_timeout, Duration::from_secs(5 * 60));

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
        if spec.uses == WAIT {
            check_wait(&mut v, &at, &name, &spec.with);
        } else if spec.uses == WAIT_FOR_EVENT {
            check_wait_for_event(&mut v, &at, &name, &spec.with);
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

fn check_wait(v: &mut Validator<'_>, at: &str, name: &str, with: &Value) {
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
}

fn check_wait_for_event(v: &mut Validator<'_>, at: &str, name: &str, with: &Value) {
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
}

fn truncate(s: &str, max: usize) -> String {
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

// ---------------------------------------------------------------------------------------------
// Expressions

static ENV: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(100_000));
    env.set_recursion_limit(64);
    env
});

/// The `${{ … }}` parts of a string, as (start, end, inner expression).
pub fn find_expressions(s: &str) -> Result<Vec<(usize, usize, &str)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(start) = s[pos..].find("${{") {
        let start = pos + start;
        let Some(len) = s[start + 3..].find("}}") else {
            return Err(format!(
                "an expression starting at `{}` has no closing `}}}}`",
                truncate(&s[start..], 30)
            ));
        };
        let end = start + 3 + len + 2;
        let inner = s[start + 3..end - 2].trim();
        if inner.is_empty() {
            return Err("`${{ }}` is empty".into());
        }
        out.push((start, end, inner));
        pos = end;
    }
    Ok(out)
}

/// `if:` accepts `${{ expr }}` or a bare expression.
fn condition_expression(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.len() > MAX_EXPRESSION_LEN {
        return Err(format!(
            "the condition is longer than {MAX_EXPRESSION_LEN} characters"
        ));
    }
    if trimmed.contains("${{") {
        let found = find_expressions(trimmed)?;
        match found.as_slice() {
            [(0, end, inner)] if *end == trimmed.len() => Ok(inner.to_string()),
            _ => Err("`if` must be one expression: `${{ … }}`".into()),
        }
    } else if trimmed.is_empty() {
        Err("`if` is empty".into())
    } else {
        Ok(trimmed.to_string())
    }
}

fn collect_expressions(
    value: &Value,
    field: &str,
    out: &mut Vec<(String, String)>,
    errors: &mut Vec<FieldError>,
) {
    match value {
        Value::String(s) if s.contains("${{") => match find_expressions(s) {
            Ok(found) => {
                for (_, _, inner) in found {
                    out.push((field.to_string(), inner.to_string()));
                }
            }
            Err(e) => errors.push(FieldError::new(field, e)),
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_expressions(item, &format!("{field}[{i}]"), out, errors);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                collect_expressions(item, &format!("{field}.{k}"), out, errors);
            }
        }
        _ => {}
    }
}

fn check_expression(
    expr: &str,
    inputs: Option<&BTreeSet<&str>>,
    step_allowed: &dyn Fn(&str) -> bool,
    steps: &[Step],
) -> Result<(), String> {
    if expr.len() > MAX_EXPRESSION_LEN {
        return Err(format!(
            "an expression is longer than {MAX_EXPRESSION_LEN} characters"
        ));
    }
    let compiled = ENV.compile_expression(expr).map_err(|e| {
        format!(
            "bad expression `{}`: {}",
            truncate(expr, 80),
            e.detail().unwrap_or(&e.to_string())
        )
    })?;
    for var in compiled.undeclared_variables(true) {
        let mut parts = var.split('.');
        let root = parts.next().unwrap_or("");
        match root {
            "inputs" => {
                if let (Some(names), Some(name)) = (inputs, parts.next())
                    && !names.contains(name)
                {
                    return Err(format!(
                        "`{}` refers to input `{name}`, which the workflow does not declare",
                        truncate(expr, 80)
                    ));
                }
            }
            "steps" => {
                if let Some(id) = parts.next() {
                    if !steps.iter().any(|s| s.id == id) {
                        return Err(format!(
                            "`{}` refers to step `{id}`, which does not exist",
                            truncate(expr, 80)
                        ));
                    }
                    if !step_allowed(id) {
                        return Err(format!(
                            "`{}` uses step `{id}`, which is not in this step's `needs` (directly or through other steps)",
                            truncate(expr, 80)
                        ));
                    }
                    if let Some(field) = parts.next()
                        && !matches!(field, "outputs" | "status" | "attempts" | "error")
                    {
                        return Err(format!(
                            "`{}`: a step offers `outputs`, `status`, `attempts` and `error`, not `{field}`",
                            truncate(expr, 80)
                        ));
                    }
                }
            }
            "run" => {}
            other => {
                return Err(format!(
                    "`{}` uses `{other}`; expressions may use `inputs`, `steps` and `run`",
                    truncate(expr, 80)
                ));
            }
        }
    }
    Ok(())
}

/// Evaluates one expression against the context.
pub fn eval_expression(expr: &str, ctx: &Value) -> Result<Value, String> {
    let compiled = ENV
        .compile_expression(expr)
        .map_err(|e| format!("bad expression `{}`: {e}", truncate(expr, 80)))?;
    let result = compiled
        .eval(minijinja::Value::from(minijinja::value::Serde(ctx)))
        .map_err(|e| format!("expression `{}` failed: {e}", truncate(expr, 80)))?;
    if result.is_undefined() {
        return Err(format!("expression `{}` is undefined", truncate(expr, 80)));
    }
    serde_json::to_value(&result).map_err(|e| {
        format!(
            "expression `{}` gave an unusable value: {e}",
            truncate(expr, 80)
        )
    })
}

/// Resolves every `${{ … }}` in a JSON value. A string that is exactly one expression takes the
/// expression's JSON value (so numbers, objects and lists pass through typed); otherwise the
/// results are spliced into the string.
pub fn render(value: &Value, ctx: &Value) -> Result<Value, String> {
    match value {
        Value::String(s) if s.contains("${{") => {
            let found = find_expressions(s)?;
            if let [(0, end, inner)] = found.as_slice()
                && *end == s.len()
            {
                return eval_expression(inner, ctx);
            }
            let mut out = String::with_capacity(s.len());
            let mut pos = 0;
            for (start, end, inner) in found {
                out.push_str(&s[pos..start]);
                match eval_expression(inner, ctx)? {
                    Value::String(text) => out.push_str(&text),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                }
                pos = end;
            }
            out.push_str(&s[pos..]);
            Ok(Value::String(out))
        }
        Value::Array(items) => items.iter().map(|v| render(v, ctx)).collect(),
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), render(v, ctx)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Evaluates an `if:` condition (minijinja truthiness).
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, String> {
    let compiled = ENV
        .compile_expression(expr)
        .map_err(|e| format!("bad condition `{}`: {e}", truncate(expr, 80)))?;
    compiled
        .eval(minijinja::Value::from(minijinja::value::Serde(ctx)))
        .map(|v| v.is_true())
        .map_err(|e| format!("condition `{}` failed: {e}", truncate(expr, 80)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Catalog;
    impl StepCatalog for Catalog {
        fn check(&self, uses: &str, with: &Value) -> Option<Result<(), String>> {
            match uses {
                "noop" => Some(Ok(())),
                "http.request" => Some(if with.get("url").is_some() {
                    Ok(())
                } else {
                    Err("`url` is required".into())
                }),
                _ => None,
            }
        }
    }

    fn settings() -> WorkflowsSettings {
        crate::config::Settings::load(&crate::config::LoadOptions {
            config_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            environment: Some(crate::config::Environment::Test),
            read_process_env: false,
        })
        .unwrap()
        .workflows
    }

    fn check(doc: Value) -> Result<Definition, Vec<FieldError>> {
        let doc = parse(doc.to_string().as_bytes(), Format::Json).map_err(|e| match e {
            DefinitionError::Invalid(f) => f,
            DefinitionError::Syntax(s) => vec![FieldError::new("body", s)],
        })?;
        validate(doc, &Catalog, &settings())
    }

    fn messages(errs: &[FieldError]) -> String {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_valid_dag_is_compiled_with_dependents() {
        let def = check(json!({
            "name": "deploy",
            "inputs": {"x": {"type": "integer", "default": 2}},
            "steps": [
                {"id": "a", "uses": "noop"},
                {"id": "b", "uses": "noop", "needs": "a", "with": {"v": "${{ steps.a.outputs.n + inputs.x }}"}},
                {"id": "c", "uses": "noop", "needs": ["a", "b"], "if": "${{ inputs.x > 1 }}"}
            ],
            "outputs": {"n": "${{ steps.b.outputs.v }}"}
        }))
        .unwrap();
        assert_eq!(def.steps[0].dependents, vec![1, 2]);
        assert_eq!(def.steps[2].condition.as_deref(), Some("inputs.x > 1"));
        assert_eq!(def.roots().count(), 1);
    }

    #[test]
    fn unknown_types_unknown_needs_and_cycles_name_the_step() {
        let errs =
            check(json!({"name": "w", "steps": [{"id": "a", "uses": "templates.instantiate"}]}))
                .unwrap_err();
        let m = messages(&errs);
        assert!(
            m.contains("steps[0].uses")
                && m.contains("step `a`")
                && m.contains("unknown step type"),
            "{m}"
        );

        let errs =
            check(json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "needs": ["zz"]}]}))
                .unwrap_err();
        assert!(
            messages(&errs).contains("step `a` needs `zz`"),
            "{}",
            messages(&errs)
        );

        let errs = check(json!({"name": "w", "steps": [
            {"id": "a", "uses": "noop", "needs": ["c"]},
            {"id": "b", "uses": "noop", "needs": ["a"]},
            {"id": "c", "uses": "noop", "needs": ["b"]},
            {"id": "d", "uses": "noop"}
        ]}))
        .unwrap_err();
        let m = messages(&errs);
        assert!(
            m.contains("cycle") && m.contains('a') && m.contains('b') && m.contains('c'),
            "{m}"
        );
        assert!(!m.contains("`d`"), "{m}");
    }

    #[test]
    fn bad_expressions_are_refused_with_the_step_named() {
        let errs = check(json!({"name": "w", "steps": [
            {"id": "a", "uses": "noop", "with": {"v": "${{ inputs.x + }}"}}
        ]}))
        .unwrap_err();
        assert!(
            messages(&errs).contains("steps[0].with.v: step `a`: bad expression"),
            "{}",
            messages(&errs)
        );

        // A step may only read steps that finish before it.
        let errs = check(json!({"name": "w", "steps": [
            {"id": "a", "uses": "noop", "with": {"v": "${{ steps.b.outputs.x }}"}},
            {"id": "b", "uses": "noop"}
        ]}))
        .unwrap_err();
        assert!(
            messages(&errs).contains("not in this step's `needs`"),
            "{}",
            messages(&errs)
        );

        let errs = check(json!({"name": "w", "steps": [
            {"id": "a", "uses": "noop", "with": {"v": "${{ secrets.token }}"}}
        ]}))
        .unwrap_err();
        assert!(messages(&errs).contains("`secrets`"), "{}", messages(&errs));

        let errs = check(json!({"name": "w", "steps": [
            {"id": "a", "uses": "noop", "with": {"v": "${{ inputs.x "}}
        ]}))
        .unwrap_err();
        assert!(
            messages(&errs).contains("no closing"),
            "{}",
            messages(&errs)
        );
    }

    #[test]
    fn retry_durations_and_limits_are_checked() {
        let errs = check(json!({"name": "w", "steps": [
            {"id": "a", "uses": "noop", "retry": {"max_attempts": 0, "initial_interval": "soon", "jitter": 2.0}, "timeout": "0s"}
        ]}))
        .unwrap_err();
        let m = messages(&errs);
        for needle in [
            "retry.max_attempts",
            "retry.initial_interval",
            "retry.jitter",
            "steps[0].timeout",
        ] {
            assert!(m.contains(needle), "{needle} missing in {m}");
        }
        let steps: Vec<Value> = (0..1001)
            .map(|i| json!({"id": format!("s{i}"), "uses": "noop"}))
            .collect();
        let errs = check(json!({"name": "w", "steps": steps})).unwrap_err();
        assert!(
            messages(&errs).contains("at most 1000"),
            "{}",
            messages(&errs)
        );
    }

    #[test]
    fn yaml_and_json_read_the_same_and_shape_errors_carry_a_path() {
        let yaml = "name: w\nsteps:\n  - id: a\n    uses: noop\n    retry: {max_attempts: 4, initial_interval: 250ms}\n";
        let doc = parse(yaml.as_bytes(), Format::Yaml).unwrap();
        assert_eq!(doc.steps[0].retry.as_ref().unwrap().max_attempts, Some(4));
        match parse(
            b"name: w\nsteps: [{id: a, uses: noop, retry: {max_attempts: lots}}]",
            Format::Yaml,
        ) {
            Err(DefinitionError::Invalid(f)) => {
                assert_eq!(f[0].field, "steps[0].retry.max_attempts")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(b"{{{", Format::Yaml),
            Err(DefinitionError::Syntax(_))
        ));
        assert!(matches!(
            parse(b"[1,2]", Format::Json),
            Err(DefinitionError::Syntax(_))
        ));
        assert!(matches!(
            parse(b"\xff", Format::Json),
            Err(DefinitionError::Syntax(_))
        ));
    }

    #[test]
    fn rendering_keeps_types_and_splices_strings() {
        let ctx = json!({"inputs": {"n": 3, "name": "api"}, "steps": {"a": {"outputs": {"files": [1, 2]}}}});
        let out = render(&json!({"n": "${{ inputs.n * 2 }}", "s": "svc-${{ inputs.name }}-${{ inputs.n }}", "f": "${{ steps.a.outputs.files }}"}), &ctx).unwrap();
        assert_eq!(out, json!({"n": 6, "s": "svc-api-3", "f": [1, 2]}));
        assert!(render(&json!("${{ inputs.missing }}"), &ctx).is_err());
        assert!(eval_condition("inputs.n > 2", &ctx).unwrap());
        // Fuel bounds runaway expressions.
        assert!(
            eval_expression("range(100000) | map('string') | join(',') | length", &ctx).is_err()
        );
    }

    #[test]
    fn the_documented_example_is_valid() {
        struct All;
        impl StepCatalog for All {
            fn check(&self, _uses: &str, _with: &Value) -> Option<Result<(), String>> {
                Some(Ok(()))
            }
        }
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/workflows.md"))
                .unwrap();
        let yaml = docs
            .split("```yaml\n")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let doc = match parse(yaml.as_bytes(), Format::Yaml) {
            Ok(d) => d,
            Err(e) => panic!("{e:?}"),
        };
        let def = validate(doc, &All, &settings()).unwrap_or_else(|e| panic!("{}", messages(&e)));
        assert_eq!(def.steps.len(), 3);
        assert_eq!(def.steps[2].retry.max_attempts, 5);
        assert_eq!(def.steps[2].on_failure, OnFailure::Pause);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_interval: Duration::from_millis(100),
            multiplier: 2.0,
            max_interval: Duration::from_millis(300),
            jitter: 0.0,
            non_retryable: vec!["denied".into()],
        };
        assert_eq!(p.delay(1, 0.7), Duration::from_millis(100));
        assert_eq!(p.delay(2, 0.7), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.7), Duration::from_millis(300));
        let j = RetryPolicy {
            jitter: 0.5,
            ..p.clone()
        };
        assert_eq!(j.delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(j.delay(1, 1.0), Duration::from_millis(150));
        assert!(p.is_non_retryable("access denied"));
    }

    #[test]
    fn inputs_get_defaults_and_types_are_enforced() {
        let def = check(json!({"name": "w", "inputs": {"n": {"type": "integer", "required": true}, "tag": {"type": "string", "default": "x"}}, "steps": [{"id": "a", "uses": "noop"}]})).unwrap();
        let ok = def
            .resolve_inputs(json!({"n": 2}).as_object().unwrap())
            .unwrap();
        assert_eq!(Value::Object(ok), json!({"n": 2, "tag": "x"}));
        let errs = def
            .resolve_inputs(json!({"n": "two", "zz": 1}).as_object().unwrap())
            .unwrap_err();
        let m = messages(&errs);
        assert!(
            m.contains("inputs.n: must be of type integer") && m.contains("inputs.zz"),
            "{m}"
        );
        assert!(def.resolve_inputs(&serde_json::Map::new()).is_err());
    }
}

//! Workflow definitions: the document users send (JSON or YAML) and what it compiles to, a
//! validated DAG of steps with resolved retry policies, timeouts and `on_failure`.
//!
//! Files: this one (the document, parsing, the compiled [`Definition`] and retry policies),
//! `validate.rs` (the checks, each naming the field and step it concerns), `expr.rs` (the
//! `${{ … }}` expressions, evaluated with minijinja), `builtin.rs` (the `with:` of the engine's
//! own step types, `wait` and `wait_for_event`).

mod builtin;
mod expr;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::platform::http::error::FieldError;

pub use builtin::{EventWith, Wait, WaitWith};
pub use expr::{eval_condition, render};
pub use validate::{valid_event_name, validate};

/// Step types the engine itself implements (they wait rather than run code).
pub const WAIT: &str = "wait";
pub const WAIT_FOR_EVENT: &str = "wait_for_event";

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_EXPRESSION_LEN: usize = 4096;
pub const MAX_WITH_BYTES: usize = 64 * 1024;
pub const MAX_NEEDS: usize = 100;
pub const MAX_INPUTS: usize = 100;
pub const MAX_OUTPUTS: usize = 100;
pub(crate) const MAX_STEP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
pub(crate) const MAX_RUN_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);
pub const DEFAULT_EVENT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A workflow definition as sent to `POST /api/v1/workflows` (JSON or YAML).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DefinitionDoc {
    /// Lowercase letters, digits, `.`, `_`, `-`; posting the same name again adds a version.
    pub name: String,
    /// Optional: the version you expect to create (latest + 1), for optimistic concurrency.
    /// Left out, Maestro numbers versions itself. An integer-valued string (`"1"`) is read as
    /// that integer.
    #[serde(
        default,
        deserialize_with = "integer_or_integer_string",
        skip_serializing_if = "Option::is_none"
    )]
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

/// An optional integer that may also be written as an integer-valued string (`version: "1"`,
/// as YAML users often quote it); anything else is refused with a message asking for a number.
fn integer_or_integer_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let ask = "must be a whole number such as 1 (write `version: 1`)";
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} {ask}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("\"{s}\" {ask}"))),
        Some(other) => Err(D::Error::custom(format!("{other} {ask}"))),
    }
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
        let mime = crate::platform::http::body::media_type(raw);
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
    /// For `wait` and `wait_for_event`: their parameters, read once at validation.
    pub wait: Option<Wait>,
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

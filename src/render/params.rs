//! The parameter schema shared by both formats, input coercion, and resolution of native
//! parameters.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::jinja::{Loader, Renderer, Syntax};
use super::manifest::Manifest;
use super::{Context, RenderOptions};

/// Parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    /// One of `choices` (cookiecutter: a list variable; a subset list is also accepted, as
    /// cookiecutter's multichoice overwrite).
    Choice,
    /// An array.
    List,
    /// A JSON object (cookiecutter dict variables), merged into the default key by key.
    Object,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Choice => "choice",
            ParamType::List => "list",
            ParamType::Object => "object",
        }
    }

    /// "a string", "an integer", … for messages.
    pub fn described(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Integer => "an integer",
            ParamType::Number => "a number",
            ParamType::Boolean => "a boolean",
            ParamType::Choice => "one of the choices",
            ParamType::List => "a list",
            ParamType::Object => "an object",
        }
    }

    pub(super) fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "string" => ParamType::String,
            "integer" => ParamType::Integer,
            "number" => ParamType::Number,
            "boolean" => ParamType::Boolean,
            "choice" => ParamType::Choice,
            "list" => ParamType::List,
            "object" => ParamType::Object,
            _ => return None,
        })
    }
}

/// One parameter of a template, the same shape for both formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: ParamType,
    /// The default as written in the template (it may contain `{{ … }}` referencing
    /// earlier parameters; it is rendered during resolution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Json>>,
    /// Regex the whole string value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl ParameterSpec {
    /// The pattern anchored at both ends (a full match, as the format requires).
    pub(super) fn compiled_pattern(&self) -> Option<regex::Regex> {
        let p = self.pattern.as_ref()?;
        regex::RegexBuilder::new(&format!("^(?:{p})$"))
            .size_limit(1 << 20)
            .build()
            .ok()
    }
}

/// One invalid input field (also the `errors` entries of a problem+json answer: the platform's
/// `FieldError` is this type).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a JSON path into the request (`parameters.project_name`, `steps[2].needs`).
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

pub(super) fn kind_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(n) if n.is_f64() => "a number",
        Json::Number(_) => "an integer",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn shown(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// cookiecutter's `YesNoPrompt` words.
pub(super) const YES: [&str; 6] = ["1", "true", "t", "yes", "y", "on"];
pub(super) const NO: [&str; 6] = ["0", "false", "f", "no", "n", "off"];

pub(super) fn coerce_bool(v: &Json) -> Result<bool, String> {
    match v {
        Json::Bool(b) => Ok(*b),
        Json::String(s) => {
            let w = s.trim().to_lowercase();
            if YES.contains(&w.as_str()) {
                Ok(true)
            } else if NO.contains(&w.as_str()) {
                Ok(false)
            } else {
                Err(format!(
                    "expected a boolean: true/false or one of \"yes\", \"no\", \"y\", \"n\", \"true\", \
                     \"false\", \"on\", \"off\", \"1\", \"0\"; got {}",
                    shown(v)
                ))
            }
        }
        other => Err(format!(
            "expected a boolean (true/false, or \"yes\"/\"no\"), got {}",
            kind_name(other)
        )),
    }
}

pub(super) fn coerce_integer(v: &Json) -> Result<Json, String> {
    match v {
        Json::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
        Json::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Json::from(f as i64)),
            _ => Err(format!("expected an integer, got the number {n}")),
        },
        Json::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Json::from)
            .map_err(|_| format!("expected an integer, got the string {}", shown(v))),
        other => Err(format!("expected an integer, got {}", kind_name(other))),
    }
}

pub(super) fn coerce_number(v: &Json) -> Result<Json, String> {
    match v {
        Json::Number(_) => Ok(v.clone()),
        Json::String(s) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Json::from(i));
            }
            match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(serde_json::Number::from_f64(f)
                    .map(Json::Number)
                    .unwrap_or(Json::Null)),
                _ => Err(format!("expected a number, got the string {}", shown(v))),
            }
        }
        other => Err(format!("expected a number, got {}", kind_name(other))),
    }
}

/// Whether `a` (a caller's value) designates the choice `b`: equal JSON, or the same text
/// (`"3"` for `3`, `3.12` for `"3.12"`).
pub(super) fn choice_matches(a: &Json, b: &Json) -> bool {
    if a == b {
        return true;
    }
    let text = |v: &Json| match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        _ => None,
    };
    matches!((text(a), text(b)), (Some(x), Some(y)) if x == y)
}

pub(super) fn choices_text(choices: &[Json]) -> String {
    choices.iter().map(shown).collect::<Vec<_>>().join(", ")
}

/// Errors for input keys that are not parameters.
pub(super) fn unknown_fields<'a>(
    input: &Map<String, Json>,
    known: impl Iterator<Item = &'a str> + Clone,
) -> Vec<FieldError> {
    let names: Vec<&str> = known.clone().collect();
    input
        .keys()
        .filter(|k| !names.contains(&k.as_str()))
        .map(|k| {
            let list = if names.is_empty() {
                "it has none".to_string()
            } else {
                format!("expected one of: {}", names.join(", "))
            };
            FieldError::new(k.clone(), format!("unknown parameter; {list}"))
        })
        .collect()
}

/// Resolves the parameters of a native template.
pub(super) fn resolve_native(
    m: &Manifest,
    input: &Map<String, Json>,
    opts: &RenderOptions,
) -> Result<Context, Vec<FieldError>> {
    let mut errors = unknown_fields(input, m.parameters.iter().map(|p| p.name.as_str()));
    let mut values = Map::new();
    let renderer = Renderer::new(
        &[],
        Loader {
            prefixes: Vec::new(),
        },
        Syntax::default(),
        opts,
    )
    .map_err(|e| vec![FieldError::new("(template)", e.to_string())])?;
    for p in &m.parameters {
        let provided = input.get(&p.name).filter(|v| !v.is_null());
        let value = match provided {
            Some(v) => match coerce_native(p.param_type, v) {
                Ok(v) => v,
                Err(msg) => {
                    errors.push(FieldError::new(&p.name, msg));
                    continue;
                }
            },
            None => match &p.default {
                Some(Json::String(s)) if (s.contains("{{") || s.contains("{%")) => {
                    if !errors.is_empty() {
                        // Earlier fields failed; this default may depend on them.
                        continue;
                    }
                    let mut vars = values.clone();
                    vars.insert("cookiecutter".into(), Json::Object(values.clone()));
                    let ctx = super::python::to_value(&vars);
                    match renderer.render_str(
                        s,
                        &ctx,
                        super::MANIFEST_FILE,
                        &format!("default of {}", p.name),
                    ) {
                        Ok(r) => match coerce_native(p.param_type, &Json::String(r)) {
                            Ok(v) => v,
                            Err(msg) => {
                                errors.push(FieldError::new(
                                    &p.name,
                                    format!("the rendered default is invalid: {msg}"),
                                ));
                                continue;
                            }
                        },
                        Err(e) => {
                            errors.push(FieldError::new(
                                &p.name,
                                format!("the default could not be rendered: {}", e.message),
                            ));
                            continue;
                        }
                    }
                }
                Some(d) => d.clone(),
                None if p.required => {
                    errors.push(FieldError::new(
                        &p.name,
                        format!("is required ({})", expectation(p)),
                    ));
                    continue;
                }
                None => Json::Null,
            },
        };
        if let Err(msg) = check_constraints(p, &value) {
            errors.push(FieldError::new(&p.name, msg));
            continue;
        }
        values.insert(p.name.clone(), value);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut variables = values.clone();
    variables.insert("cookiecutter".into(), Json::Object(values.clone()));
    Ok(Context {
        parameters: values,
        variables,
        template_path: None,
    })
}

/// What a parameter expects, for messages.
pub(super) fn expectation(p: &ParameterSpec) -> String {
    match p.param_type {
        ParamType::Choice => format!(
            "one of: {}",
            choices_text(p.choices.as_deref().unwrap_or_default())
        ),
        ParamType::String => match &p.pattern {
            Some(pat) => format!("a string matching {pat}"),
            None => "a string".into(),
        },
        t => t.described().to_string(),
    }
}

fn coerce_native(t: ParamType, v: &Json) -> Result<Json, String> {
    match t {
        ParamType::String => match v {
            Json::String(_) => Ok(v.clone()),
            other => Err(format!("expected a string, got {}", kind_name(other))),
        },
        ParamType::Integer => coerce_integer(v),
        ParamType::Number => coerce_number(v),
        ParamType::Boolean => coerce_bool(v).map(Json::Bool),
        ParamType::Choice => Ok(v.clone()),
        ParamType::List => match v {
            Json::Array(_) => Ok(v.clone()),
            other => Err(format!("expected an array, got {}", kind_name(other))),
        },
        ParamType::Object => match v {
            Json::Object(_) => Ok(v.clone()),
            other => Err(format!("expected an object, got {}", kind_name(other))),
        },
    }
}

/// `required` (non-empty), `pattern` (full match) and `choices` checks.
fn check_constraints(p: &ParameterSpec, value: &Json) -> Result<(), String> {
    if let Json::String(s) = value {
        if p.required && s.is_empty() {
            return Err("is required and must not be empty".into());
        }
        if let Some(re) = p.compiled_pattern()
            && !re.is_match(s)
        {
            return Err(format!(
                "{} does not match the pattern {}",
                shown(value),
                p.pattern.as_deref().unwrap_or_default()
            ));
        }
    }
    if p.param_type == ParamType::Choice {
        let choices = p.choices.as_deref().unwrap_or_default();
        match choices.iter().find(|c| choice_matches(value, c)) {
            Some(_) => {}
            None => {
                return Err(format!(
                    "{} is not one of the choices: {}",
                    shown(value),
                    choices_text(choices)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_accept_cookiecutter_words() {
        for w in ["yes", "Y", " on ", "TRUE", "1", "t"] {
            assert_eq!(coerce_bool(&json!(w)), Ok(true), "{w}");
        }
        for w in ["no", "N", "off", "false", "0", "f"] {
            assert_eq!(coerce_bool(&json!(w)), Ok(false), "{w}");
        }
        assert!(
            coerce_bool(&json!("maybe"))
                .unwrap_err()
                .contains("expected a boolean")
        );
        assert!(
            coerce_bool(&json!(1))
                .unwrap_err()
                .contains("got an integer")
        );
    }

    #[test]
    fn numbers_coerce_from_strings() {
        assert_eq!(coerce_integer(&json!("42")), Ok(json!(42)));
        assert_eq!(coerce_integer(&json!(3.0)), Ok(json!(3)));
        assert!(coerce_integer(&json!(3.5)).is_err());
        assert!(
            coerce_integer(&json!("4x"))
                .unwrap_err()
                .contains("expected an integer")
        );
        assert_eq!(coerce_number(&json!("2.5")), Ok(json!(2.5)));
        assert_eq!(coerce_number(&json!("7")), Ok(json!(7)));
        assert!(coerce_number(&json!(true)).is_err());
    }

    #[test]
    fn choices_match_by_value_or_text() {
        assert!(choice_matches(&json!("3.12"), &json!("3.12")));
        assert!(choice_matches(&json!(3), &json!("3")));
        assert!(!choice_matches(&json!("a"), &json!("b")));
    }
}

//! `${{ … }}` expressions: found in strings, checked at definition time (syntax, and what they
//! may refer to), evaluated at run time with minijinja (strict undefined, bounded fuel).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::Value;

use super::validate::truncate;
use super::{MAX_EXPRESSION_LEN, Step};
use crate::platform::http::error::FieldError;

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
pub(super) fn condition_expression(raw: &str) -> Result<String, String> {
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

pub(super) fn collect_expressions(
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

pub(super) fn check_expression(
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

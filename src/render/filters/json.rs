//! `json`: cookiecutter's `jsonify` and Jinja2's `tojson`, both `json.dumps` with sorted keys.

use minijinja::value::{Kwargs, Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Error, ErrorKind};

use super::{op_err, split_kwargs};
use crate::render::python::{self, JsonIndent};

/// cookiecutter's `jsonify(obj, indent=4)`: `json.dumps(obj, sort_keys=True, indent=indent)`.
pub(super) fn jsonify(value: &Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let args = args.into_values();
    let (pos, kwargs) = split_kwargs(&args);
    let mut indent = Value::from(4);
    if let Some(v) = pos.first() {
        indent = v.clone();
    }
    for (k, v) in kwargs {
        if k == "indent" && pos.is_empty() {
            indent = v;
        } else {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                format!("jsonify: unexpected argument {k:?}"),
            ));
        }
    }
    if pos.len() > 1 {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "jsonify takes at most one argument (indent)",
        ));
    }
    Ok(Value::from(python::json_dumps(
        value,
        &json_indent(&indent)?,
    )?))
}

fn json_indent(v: &Value) -> Result<JsonIndent, Error> {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => Ok(JsonIndent::None),
        ValueKind::String => Ok(JsonIndent::Text(v.as_str().unwrap_or_default().to_string())),
        ValueKind::Number | ValueKind::Bool if v.is_integer() || v.kind() == ValueKind::Bool => {
            let n = if v.kind() == ValueKind::Bool {
                i64::from(v.is_true())
            } else {
                v.as_i64().unwrap_or(0)
            };
            Ok(JsonIndent::Text(" ".repeat(n.clamp(0, 1000) as usize)))
        }
        other => Err(op_err(format!(
            "json indent must be an int, a str or None, not {other}"
        ))),
    }
}

/// Jinja2's `tojson`: sorted keys, ASCII-only, HTML-sensitive characters escaped.
pub(super) fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        Some(v) => json_indent(&v)?,
        None => JsonIndent::None,
    };
    let s = python::json_dumps(value, &indent)?
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    Ok(Value::from_safe_string(s))
}

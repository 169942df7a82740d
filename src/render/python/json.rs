//! `json.dumps(value, sort_keys=True, indent=…)` as Python writes it (ensure_ascii on, Python's
//! separators), for cookiecutter's `jsonify` and Jinja2's `tojson`.

use super::*;

/// How `json.dumps` indents: `None` (one line), a number of spaces, or a literal string.
#[derive(Debug, Clone)]
pub enum JsonIndent {
    None,
    Text(String),
}

/// `json.dumps(value, sort_keys=True, indent=indent)` (ensure_ascii on, Python separators).
pub fn json_dumps(v: &Value, indent: &JsonIndent) -> Result<String, Error> {
    let mut out = String::new();
    write_json(&mut out, v, indent, 0)?;
    Ok(out)
}

fn write_json(out: &mut String, v: &Value, indent: &JsonIndent, level: usize) -> Result<(), Error> {
    if out.len() > MAX_STRING_BYTES {
        return Err(too_large());
    }
    if level > 128 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "json: value nested too deeply",
        ));
    }
    match v.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                let _ = write!(out, "{v}");
            } else {
                let f = value_as_f64(v).unwrap_or(f64::NAN);
                if f.is_nan() {
                    out.push_str("NaN");
                } else if f.is_infinite() {
                    out.push_str(if f < 0.0 { "-Infinity" } else { "Infinity" });
                } else {
                    out.push_str(&float_repr(f));
                }
            }
        }
        ValueKind::String => write_json_str(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if matches!(indent, JsonIndent::None) {
                        out.push(' ');
                    }
                }
                newline_indent(out, indent, level + 1);
                write_json(out, item, indent, level + 1)?;
            }
            newline_indent(out, indent, level);
            out.push(']');
        }
        ValueKind::Map => {
            let mut entries: Vec<(String, Value, Value)> = Vec::new();
            for key in v.try_iter()? {
                let item = v.get_item(&key)?;
                entries.push((json_key(&key)?, key, item));
            }
            sort_json_keys(&mut entries)?;
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (key, _, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if matches!(indent, JsonIndent::None) {
                        out.push(' ');
                    }
                }
                newline_indent(out, indent, level + 1);
                write_json_str(out, key);
                out.push_str(": ");
                write_json(out, item, indent, level + 1)?;
            }
            newline_indent(out, indent, level);
            out.push('}');
        }
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "json: an undefined value is not JSON serializable",
            ));
        }
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("json: a value of type {other} is not JSON serializable"),
            ));
        }
    }
    Ok(())
}

/// Python converts bool/int/float/None keys to strings and refuses other key types.
fn json_key(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_string()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.into()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Number if key.is_integer() => Ok(key.to_string()),
        ValueKind::Number => Ok(float_repr(value_as_f64(key).unwrap_or(f64::NAN))),
        other => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("json: keys must be str, int, float, bool or None, not {other}"),
        )),
    }
}

/// `sort_keys=True` sorts the original keys: all strings, or all numbers; mixing fails
/// like Python's `'<' not supported`.
fn sort_json_keys(entries: &mut [(String, Value, Value)]) -> Result<(), Error> {
    let all_str = entries
        .iter()
        .all(|(_, k, _)| k.kind() == ValueKind::String);
    let all_num = entries
        .iter()
        .all(|(_, k, _)| matches!(k.kind(), ValueKind::Number | ValueKind::Bool));
    if all_str {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    } else if all_num {
        entries.sort_by(|a, b| {
            let x = value_as_f64(&a.1).unwrap_or(0.0);
            let y = value_as_f64(&b.1).unwrap_or(0.0);
            x.total_cmp(&y)
        });
    } else if entries.len() > 1 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "json: cannot sort keys of different types (sort_keys=True)",
        ));
    }
    Ok(())
}

fn newline_indent(out: &mut String, indent: &JsonIndent, level: usize) {
    if let JsonIndent::Text(unit) = indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(unit);
        }
    }
}

/// JSON string with `ensure_ascii=True`.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

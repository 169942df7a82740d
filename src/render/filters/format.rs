//! `format`: Jinja2's printf-style `format` filter and Python's `str.format()` method, with
//! Python's `repr()`/`str()` conversions and capped field widths.

use minijinja::Error;
use minijinja::value::{Kwargs, Rest, Value, ValueKind, ValueOrKwargs};

use super::{op_err, split_kwargs};
use crate::render::python;

/// Largest field width or precision in a format string: the formatter allocates it before
/// fuel is charged, so it is capped up front.
const MAX_FORMAT_WIDTH: u64 = 100_000;

fn width_err() -> Error {
    op_err(format!(
        "format: field width or precision above {MAX_FORMAT_WIDTH}"
    ))
}

/// Checks the widths and precisions of a printf-style format (`%10s`, `%.5f`, `%(k)8d`).
fn check_printf_widths(fmt: &str) -> Result<(), Error> {
    let b = fmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        if b.get(i) == Some(&b'(') {
            while i < b.len() && b[i] != b')' {
                i += 1;
            }
            i += 1;
        }
        while i < b.len() && b"#0- +".contains(&b[i]) {
            i += 1;
        }
        for _ in 0..2 {
            let mut n: u64 = 0;
            while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
                n = n.saturating_mul(10).saturating_add(u64::from(d - b'0'));
                i += 1;
            }
            if n > MAX_FORMAT_WIDTH {
                return Err(width_err());
            }
            if b.get(i) == Some(&b'.') {
                i += 1;
            } else {
                break;
            }
        }
    }
    Ok(())
}

/// Checks the format specs of a `str.format` string (`{:>10}`, `{0:.3f}`).
fn check_str_format_widths(fmt: &str) -> Result<(), Error> {
    let mut rest = fmt;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            rest = stripped;
            continue;
        }
        let Some(close) = after.find('}') else { break };
        let field = &after[..close];
        if let Some((_, spec)) = field.split_once(':') {
            if spec.contains('{') {
                return Err(op_err(
                    "str.format: nested replacement fields in a format spec are not supported",
                ));
            }
            for run in spec
                .split(|c: char| !c.is_ascii_digit())
                .filter(|r| !r.is_empty())
            {
                if run.len() > 6 || run.parse::<u64>().unwrap_or(u64::MAX) > MAX_FORMAT_WIDTH {
                    return Err(width_err());
                }
            }
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// `str.format()`, with `!r` / `!s` / `!a` conversions applied Python's way first.
pub(super) fn str_format(s: &str, args: &[Value]) -> Result<Value, Error> {
    check_str_format_widths(s)?;
    let (pos, kwargs) = split_kwargs(args);
    let (template, mut all, kwargs) = rewrite_format_fields(s, pos, kwargs)?;
    if !kwargs.is_empty() {
        all.push(Value::from(Kwargs::from_iter(kwargs)));
    }
    minijinja::formatting::format(
        minijinja::formatting::FormatStyle::StrFormat,
        &template,
        &all,
    )
    .map(Value::from)
}
/// Python's `ascii()`: `repr()` with non-ASCII characters escaped.
fn ascii_repr(v: &Value) -> String {
    python::py_repr(v)
        .chars()
        .map(|c| match c as u32 {
            0..=0x7F => c.to_string(),
            cp @ 0x80..=0xFF => format!("\\x{cp:02x}"),
            cp @ 0x100..=0xFFFF => format!("\\u{cp:04x}"),
            cp => format!("\\U{cp:08x}"),
        })
        .collect()
}

/// Prepares a `str.format` string for minijinja's formatter: `{x!r}` / `{x!s}` / `{x!a}`
/// conversions and plain `{}` fields of floats, `None`, lists and dicts are replaced by the
/// Python `repr()`/`str()` text (passed as extra keyword values), and auto-numbered fields
/// get explicit indexes.
#[allow(clippy::type_complexity)]
fn rewrite_format_fields(
    s: &str,
    pos: Vec<Value>,
    mut kwargs: Vec<(String, Value)>,
) -> Result<(String, Vec<Value>, Vec<(String, Value)>), Error> {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut auto = 0usize;
    let mut converted = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if (c == '{' || c == '}') && chars.get(i + 1) == Some(&c) {
            out.push(c);
            out.push(c);
            i += 2;
            continue;
        }
        if c != '{' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(close) = chars[i..].iter().position(|&x| x == '}').map(|p| p + i) else {
            return Err(op_err(
                "str.format: single '{' encountered in format string",
            ));
        };
        let field: String = chars[i + 1..close].iter().collect();
        i = close + 1;
        let (name_conv, spec) = match field.split_once(':') {
            Some((a, b)) => (a.to_string(), Some(b.to_string())),
            None => (field.clone(), None),
        };
        let (name, conv) = match name_conv.split_once('!') {
            Some((n, c)) => (n.to_string(), Some(c.to_string())),
            None => (name_conv.clone(), None),
        };
        let name = if name.is_empty() {
            auto += 1;
            (auto - 1).to_string()
        } else {
            name
        };
        let plain_name = name.chars().all(|c| c.is_alphanumeric() || c == '_');
        let value = if !plain_name {
            None
        } else if let Ok(idx) = name.parse::<usize>() {
            pos.get(idx).cloned()
        } else {
            kwargs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        let text = match (conv.as_deref(), &value) {
            (Some("r"), Some(v)) => Some(python::py_repr(v)),
            (Some("s"), Some(v)) => Some(python::py_str(v)),
            (Some("a"), Some(v)) => Some(ascii_repr(v)),
            (Some(other @ ("r" | "s" | "a")), None) => {
                return Err(op_err(format!(
                    "str.format: no value for field {name:?} (!{other})"
                )));
            }
            (Some(other), _) => {
                return Err(op_err(format!(
                    "str.format: unknown conversion specifier {other}"
                )));
            }
            (None, Some(v)) if spec.as_deref().unwrap_or("").is_empty() => {
                let pythonic =
                    matches!(v.kind(), ValueKind::Seq | ValueKind::Map | ValueKind::None)
                        || (v.kind() == ValueKind::Number && !v.is_integer());
                pythonic.then(|| python::py_str(v))
            }
            (None, _) => None,
        };
        out.push('{');
        match text {
            Some(text) => {
                let key = format!("__maestro_field{converted}");
                converted += 1;
                kwargs.push((key.clone(), Value::from(text)));
                out.push_str(&key);
            }
            None => {
                out.push_str(&name);
                if let Some(c) = &conv {
                    out.push('!');
                    out.push_str(c);
                }
            }
        }
        if let Some(spec) = &spec {
            out.push(':');
            out.push_str(spec);
        }
        out.push('}');
    }
    Ok((out, pos, kwargs))
}

/// Copies the characters from `chars[*i]` on that `keep` accepts into `out`.
fn copy_while(chars: &[char], i: &mut usize, out: &mut String, keep: impl Fn(char) -> bool) {
    while let Some(&c) = chars.get(*i).filter(|c| keep(**c)) {
        out.push(c);
        *i += 1;
    }
}

/// Jinja2's `format` filter (`"%s-%d"|format(a, b)`): printf style, with `%r`/`%a` and
/// Python `str()` for `%s`.
pub(super) fn format_filter(fmt: &str, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    check_printf_widths(fmt)?;
    let args = args.into_values();
    let (pos, kwargs) = split_kwargs(&args);
    if !pos.is_empty() && !kwargs.is_empty() {
        return Err(op_err(
            "format: can't handle positional and keyword arguments at the same time",
        ));
    }
    if !kwargs.is_empty() {
        let map: Vec<(String, Value)> = kwargs
            .into_iter()
            .map(|(k, v)| (k, Value::from(python::py_str(&v))))
            .collect();
        let rewritten = fmt.replace(")r", ")s").replace(")a", ")s");
        return minijinja::formatting::format(
            minijinja::formatting::FormatStyle::Printf,
            &rewritten,
            &[Value::from(Kwargs::from_iter(map))],
        )
        .map(Value::from);
    }
    let chars: Vec<char> = fmt.chars().collect();
    let mut out_fmt = String::with_capacity(fmt.len());
    let mut out_args: Vec<Value> = Vec::with_capacity(pos.len());
    let mut next = 0usize;
    let mut i = 0;
    let take = |next: &mut usize| -> Result<Value, Error> {
        let v = pos
            .get(*next)
            .cloned()
            .ok_or_else(|| op_err("format: not enough arguments for format string"))?;
        *next += 1;
        Ok(v)
    };
    // A `*` width or precision takes the next argument, bounded like a written one.
    let star =
        |next: &mut usize, out_fmt: &mut String, out_args: &mut Vec<Value>| -> Result<(), Error> {
            let w = take(next)?;
            if w.as_i64()
                .is_some_and(|n| n.unsigned_abs() > MAX_FORMAT_WIDTH)
            {
                return Err(width_err());
            }
            out_args.push(w);
            out_fmt.push('*');
            Ok(())
        };
    while i < chars.len() {
        let c = chars[i];
        out_fmt.push(c);
        i += 1;
        if c != '%' {
            continue;
        }
        if chars.get(i) == Some(&'%') {
            out_fmt.push('%');
            i += 1;
            continue;
        }
        // flags, width, precision, length modifier
        copy_while(&chars, &mut i, &mut out_fmt, |f| "#0- +".contains(f));
        if chars.get(i) == Some(&'*') {
            star(&mut next, &mut out_fmt, &mut out_args)?;
            i += 1;
        }
        copy_while(&chars, &mut i, &mut out_fmt, |d| d.is_ascii_digit());
        if chars.get(i) == Some(&'.') {
            out_fmt.push('.');
            i += 1;
            if chars.get(i) == Some(&'*') {
                star(&mut next, &mut out_fmt, &mut out_args)?;
                i += 1;
            }
            copy_while(&chars, &mut i, &mut out_fmt, |d| d.is_ascii_digit());
        }
        copy_while(&chars, &mut i, &mut out_fmt, |l| {
            matches!(l, 'h' | 'l' | 'L')
        });
        let Some(&conv) = chars.get(i) else {
            return Err(op_err("format: incomplete format"));
        };
        i += 1;
        let v = take(&mut next)?;
        match conv {
            'r' => {
                out_fmt.push('s');
                out_args.push(Value::from(python::py_repr(&v)));
            }
            'a' => {
                out_fmt.push('s');
                out_args.push(Value::from(ascii_repr(&v)));
            }
            's' => {
                out_fmt.push('s');
                out_args.push(Value::from(python::py_str(&v)));
            }
            other => {
                out_fmt.push(other);
                out_args.push(v);
            }
        }
    }
    if next < pos.len() {
        return Err(op_err(
            "format: not all arguments converted during string formatting",
        ));
    }
    minijinja::formatting::format(
        minijinja::formatting::FormatStyle::Printf,
        &out_fmt,
        &out_args,
    )
    .map(Value::from)
}

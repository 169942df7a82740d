//! Python semantics that Jinja2 templates (and so cookiecutter output) depend on:
//! `str()`/`repr()` of values, `float.__repr__`, `json.dumps`, and the `str` methods
//! templates call (`'x'.title()`, `.split()`, …).

use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Largest string a Python method may build: custom methods allocate before minijinja
/// charges fuel for their result, so their output is bounded up front.
pub const MAX_STRING_BYTES: usize = 16 * 1024 * 1024;

fn too_large() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("the result would exceed {MAX_STRING_BYTES} bytes"),
    )
}

/// `s.replace(old, new)` (at most `count` times when given) without building a huge string.
pub fn bounded_replace(
    s: &str,
    old: &str,
    new: &str,
    count: Option<usize>,
) -> Result<String, Error> {
    let occurrences = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old).count()
    };
    let n = count.map_or(occurrences, |c| c.min(occurrences));
    let size = s.len().saturating_add(n.saturating_mul(new.len()));
    if size > MAX_STRING_BYTES {
        return Err(too_large());
    }
    Ok(match count {
        Some(c) => s.replacen(old, new, c),
        None => s.replace(old, new),
    })
}

// ---------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------

/// `repr(float)`: shortest round-trip digits, scientific notation when the decimal
/// exponent is < -4 or >= 16 (`1e+16`, `1.5e-07`), `.0` on integral values.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde<exp>`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let decpt = exp + 1;
    if !(-4 < decpt && decpt <= 16) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.unsigned_abs());
    }
    let n = digits.len() as i32;
    let body = if decpt <= 0 {
        format!("0.{}{}", "0".repeat((-decpt) as usize), digits)
    } else if decpt >= n {
        format!("{}{}.0", digits, "0".repeat((decpt - n) as usize))
    } else {
        format!(
            "{}.{}",
            &digits[..decpt as usize],
            &digits[decpt as usize..]
        )
    };
    format!("{sign}{body}")
}

/// A serde value as a template value (key order kept).
pub fn to_value<T: serde::Serialize>(v: T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

fn value_as_f64(v: &Value) -> Option<f64> {
    f64::try_from(v.clone()).ok()
}

// ---------------------------------------------------------------------------------------
// str() and repr()
// ---------------------------------------------------------------------------------------

/// Python's `str(value)` for template values (what `{{ value }}` prints in Jinja2).
pub fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Undefined => String::new(),
        _ => py_repr(v),
    }
}

/// Python's `repr(value)`: lists `[1, 'a']`, tuples `('a',)`, dicts `{'k': True}`.
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v, 0);
    out
}

fn write_repr(out: &mut String, v: &Value, depth: usize) {
    if depth > 64 {
        out.push_str("...");
        return;
    }
    match v.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            if v.is_integer() {
                let _ = write!(out, "{v}");
            } else {
                out.push_str(&float_repr(value_as_f64(v).unwrap_or(f64::NAN)));
            }
        }
        ValueKind::String => out.push_str(&str_repr(v.as_str().unwrap_or_default())),
        ValueKind::Bytes => {
            out.push_str("b'");
            for &b in v.as_bytes().unwrap_or_default() {
                match b {
                    b'\\' => out.push_str("\\\\"),
                    b'\'' => out.push_str("\\'"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    0x20..=0x7E => out.push(b as char),
                    _ => {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
            }
            out.push('\'');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let tuple = v.is_tuple();
            out.push(if tuple { '(' } else { '[' });
            let mut n = 0;
            if let Ok(iter) = v.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &item, depth + 1);
                    n += 1;
                }
            }
            if tuple && n == 1 {
                out.push(',');
            }
            out.push(if tuple { ')' } else { ']' });
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(iter) = v.try_iter() {
                for (i, key) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &key, depth + 1);
                    out.push_str(": ");
                    let item = v.get_item(&key).unwrap_or(Value::UNDEFINED);
                    write_repr(out, &item, depth + 1);
                }
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let cp = c as u32;
                if cp < 0x100 {
                    let _ = write!(out, "\\x{cp:02x}");
                } else if cp < 0x10000 {
                    let _ = write!(out, "\\u{cp:04x}");
                } else {
                    let _ = write!(out, "\\U{cp:08x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Approximates `str.isprintable()` (no control, separator or common format characters).
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xD800..=0xDFFF | 0xE000..=0xF8FF)
}

// ---------------------------------------------------------------------------------------
// json.dumps
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Character classes and case mapping
// ---------------------------------------------------------------------------------------

/// `str.isspace()` per character (Unicode White_Space plus the ASCII separators
/// U+001C..U+001F that Python also counts).
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn is_titlecase(c: char) -> bool {
    matches!(c as u32,
        0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF
        | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// Python's "cased" characters (Lu, Ll, Lt and the Other_Upper/Lowercase extras).
pub fn is_cased(c: char) -> bool {
    c.is_lowercase() || c.is_uppercase() || is_titlecase(c)
}

/// Unicode title-case mapping (`ToTitleFull`), which differs from upper case for
/// digraphs and ligatures.
fn push_title(out: &mut String, c: char) {
    let mapped: Option<&str> = match c {
        'Ǆ' | 'ǅ' | 'ǆ' => Some("ǅ"),
        'Ǉ' | 'ǈ' | 'ǉ' => Some("ǈ"),
        'Ǌ' | 'ǋ' | 'ǌ' => Some("ǋ"),
        'Ǳ' | 'ǲ' | 'ǳ' => Some("ǲ"),
        'ß' => Some("Ss"),
        'ﬀ' => Some("Ff"),
        'ﬁ' => Some("Fi"),
        'ﬂ' => Some("Fl"),
        'ﬃ' => Some("Ffi"),
        'ﬄ' => Some("Ffl"),
        'ﬅ' | 'ﬆ' => Some("St"),
        'և' => Some("Եւ"),
        'ŉ' => Some("ʼN"),
        _ => None,
    };
    match mapped {
        Some(s) => out.push_str(s),
        None if is_titlecase(c) => out.push(c),
        None => out.extend(c.to_uppercase()),
    }
}

/// Lower-cases `chars[i]` with Python's final-sigma rule.
fn push_lower_at(out: &mut String, chars: &[char], i: usize) {
    let c = chars[i];
    if c == 'Σ' {
        let before_cased = chars[..i]
            .iter()
            .rev()
            .find(|c| !is_case_ignorable(**c))
            .is_some_and(|c| is_cased(*c));
        let after_cased = chars[i + 1..]
            .iter()
            .find(|c| !is_case_ignorable(**c))
            .is_some_and(|c| is_cased(*c));
        out.push(if before_cased && !after_cased {
            'ς'
        } else {
            'σ'
        });
    } else {
        out.extend(c.to_lowercase());
    }
}

fn is_case_ignorable(c: char) -> bool {
    matches!(
        c,
        '\'' | '.' | ':' | '^' | '`' | '·' | '\u{2019}' | '\u{AD}'
    ) || ('\u{300}'..='\u{36F}').contains(&c)
}

/// `str.title()`: a character is title-cased after an uncased one and lower-cased after a
/// cased one, so `'hello_world'` → `Hello_World`, `"it's"` → `It'S`, `'1st'` → `1St`.
pub fn title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for (i, &c) in chars.iter().enumerate() {
        if prev_cased {
            push_lower_at(&mut out, &chars, i);
        } else {
            push_title(&mut out, c);
        }
        prev_cased = is_cased(c);
    }
    out
}

/// `str.capitalize()` (Python ≥ 3.8: title-cases the first character, lower-cases the rest).
pub fn capitalize(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if i == 0 {
            push_title(&mut out, c);
        } else {
            push_lower_at(&mut out, &chars, i);
        }
    }
    out
}

/// `str.swapcase()`.
pub fn swapcase(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            push_lower_at(&mut out, &chars, i);
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Jinja2's `title` filter: words start after `-`, whitespace, `(`, `{`, `[`, `<`; each
/// word is its first character upper-cased plus the rest lower-cased.
pub fn jinja_title(s: &str) -> String {
    let is_boundary =
        |c: char| c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_space(c);
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(&chars.as_str().to_lowercase());
        }
        word.clear();
    };
    for c in s.chars() {
        if is_boundary(c) {
            if !at_word_start {
                flush(&mut word, &mut out);
            }
            out.push(c);
            at_word_start = true;
        } else {
            word.push(c);
            at_word_start = false;
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `str.center(width, fill)` with CPython's placement of the odd padding character.
pub fn center(s: &str, width: usize, fill: char) -> String {
    let len = s.chars().count();
    if width <= len {
        return s.to_string();
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    let mut out = String::new();
    out.extend(std::iter::repeat_n(fill, left));
    out.push_str(s);
    out.extend(std::iter::repeat_n(fill, marg - left));
    out
}

// ---------------------------------------------------------------------------------------
// str methods
// ---------------------------------------------------------------------------------------

fn arg_str<'a>(args: &'a [Value], i: usize, method: &str) -> Result<Option<&'a str>, Error> {
    match args.get(i) {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => match v.as_str() {
            Some(s) => Ok(Some(s)),
            None => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "str.{method}() argument {} must be str, not {}",
                    i + 1,
                    v.kind()
                ),
            )),
        },
    }
}

fn arg_int(args: &[Value], i: usize, method: &str) -> Result<Option<i64>, Error> {
    match args.get(i) {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("str.{method}() argument {} must be an integer", i + 1),
            )
        }),
    }
}

fn too_many(args: &[Value], max: usize, method: &str) -> Result<(), Error> {
    if args.len() > max {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            format!(
                "str.{method}() takes at most {max} arguments ({} given)",
                args.len()
            ),
        ));
    }
    Ok(())
}

/// Prefix arguments of `startswith`/`endswith`: a string or a tuple/list of strings.
fn prefixes(arg: Option<&Value>, method: &str) -> Result<Vec<String>, Error> {
    let Some(v) = arg else {
        return Err(Error::new(
            ErrorKind::MissingArgument,
            format!("str.{method}() takes at least 1 argument"),
        ));
    };
    if let Some(s) = v.as_str() {
        return Ok(vec![s.to_string()]);
    }
    if matches!(v.kind(), ValueKind::Seq) {
        let mut out = Vec::new();
        for item in v.try_iter()? {
            match item.as_str() {
                Some(s) => out.push(s.to_string()),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("str.{method}(): tuple items must be str"),
                    ));
                }
            }
        }
        return Ok(out);
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("str.{method}() first argument must be str or a tuple of str"),
    ))
}

/// Character-index slice bounds like Python's `s[start:end]`.
fn char_slice(s: &str, start: Option<i64>, end: Option<i64>) -> String {
    let n = s.chars().count() as i64;
    let norm = |i: i64| if i < 0 { (n + i).max(0) } else { i.min(n) };
    let a = start.map(norm).unwrap_or(0);
    let b = end.map(norm).unwrap_or(n);
    if a >= b {
        return String::new();
    }
    s.chars().skip(a as usize).take((b - a) as usize).collect()
}

/// `str.split(sep=None, maxsplit=-1)`.
pub fn split(s: &str, sep: Option<&str>, maxsplit: i64) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    match sep {
        Some("") => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "str.split(): empty separator",
            ));
        }
        Some(sep) => {
            let mut rest = s;
            let mut splits = 0;
            while maxsplit < 0 || splits < maxsplit {
                match rest.find(sep) {
                    Some(i) => {
                        out.push(rest[..i].to_string());
                        rest = &rest[i + sep.len()..];
                        splits += 1;
                    }
                    None => break,
                }
            }
            out.push(rest.to_string());
        }
        None => {
            let mut rest = s.trim_start_matches(is_space);
            let mut splits = 0;
            while !rest.is_empty() {
                if maxsplit >= 0 && splits >= maxsplit {
                    out.push(rest.to_string());
                    break;
                }
                match rest.find(is_space) {
                    Some(i) => {
                        out.push(rest[..i].to_string());
                        rest = rest[i..].trim_start_matches(is_space);
                        splits += 1;
                    }
                    None => {
                        out.push(rest.to_string());
                        break;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// `str.rsplit(sep=None, maxsplit=-1)`.
pub fn rsplit(s: &str, sep: Option<&str>, maxsplit: i64) -> Result<Vec<String>, Error> {
    if maxsplit < 0 {
        return split(s, sep, -1);
    }
    let mut out = Vec::new();
    match sep {
        Some("") => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "str.rsplit(): empty separator",
            ));
        }
        Some(sep) => {
            let mut rest = s;
            let mut splits = 0;
            while splits < maxsplit {
                match rest.rfind(sep) {
                    Some(i) => {
                        out.push(rest[i + sep.len()..].to_string());
                        rest = &rest[..i];
                        splits += 1;
                    }
                    None => break,
                }
            }
            out.push(rest.to_string());
        }
        None => {
            let mut rest = s.trim_end_matches(is_space);
            let mut splits = 0;
            while !rest.is_empty() {
                if splits >= maxsplit {
                    out.push(rest.to_string());
                    break;
                }
                match rest.rfind(is_space) {
                    Some(i) => {
                        let w = rest[i..].trim_start_matches(is_space);
                        out.push(w.to_string());
                        rest = rest[..i].trim_end_matches(is_space);
                        splits += 1;
                    }
                    None => {
                        out.push(rest.to_string());
                        break;
                    }
                }
            }
        }
    }
    out.reverse();
    Ok(out)
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{b}'
            | '\u{c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// `str.splitlines(keepends=False)`.
pub fn splitlines(s: &str, keepends: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = s.char_indices().collect();
    let mut i = 0;
    while i < bytes.len() {
        let (pos, c) = bytes[i];
        if is_line_break(c) {
            let mut end = pos + c.len_utf8();
            if c == '\r' && bytes.get(i + 1).is_some_and(|&(_, n)| n == '\n') {
                end += 1;
                i += 1;
            }
            out.push(if keepends {
                s[start..end].to_string()
            } else {
                s[start..pos].to_string()
            });
            start = end;
        }
        i += 1;
    }
    if start < s.len() {
        out.push(s[start..].to_string());
    }
    out
}

fn strip_chars<'a>(s: &'a str, chars: Option<&str>, left: bool, right: bool) -> &'a str {
    let pred = |c: char| match chars {
        Some(set) => set.contains(c),
        None => is_space(c),
    };
    let mut r = s;
    if left {
        r = r.trim_start_matches(pred);
    }
    if right {
        r = r.trim_end_matches(pred);
    }
    r
}

fn str_list(items: Vec<String>) -> Value {
    Value::from(items.into_iter().map(Value::from).collect::<Vec<_>>())
}

/// Python's `str.isdigit()` per character (decimal digits plus super/subscript digits).
fn is_py_digit(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(c, '²' | '³' | '¹' | '\u{2070}'..='\u{2079}' | '\u{2080}'..='\u{2089}' | '\u{2460}'..='\u{2468}')
        || (c.is_numeric() && !c.is_ascii() && is_decimal_digit(c))
}

fn is_decimal_digit(c: char) -> bool {
    // Unicode decimal digits come in aligned runs of ten; `to_digit` only knows ASCII, so
    // fall back on the general numeric property for the rest.
    c.is_ascii_digit() || (c.is_numeric() && !matches!(c, '½' | '¼' | '¾' | 'Ⅰ'..='ↈ'))
}

fn is_alpha(c: char) -> bool {
    // Python's isalpha is the L* categories; Rust's is_alphabetic adds marks and Nl.
    c.is_alphabetic() && !c.is_numeric() && !is_mark(c)
}

fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x483..=0x489 | 0x591..=0x5BD | 0x610..=0x61A | 0x64B..=0x65F
        | 0x900..=0x903 | 0x93A..=0x94F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Python `str` methods on a template string. `Ok(None)` when the method is not a `str`
/// method (the caller then falls back to other method tables).
pub fn call_str_method(s: &str, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    let err = |msg: String| Error::new(ErrorKind::InvalidOperation, msg);
    let v = match method {
        "lower" | "casefold" => {
            too_many(args, 0, method)?;
            Value::from(s.to_lowercase())
        }
        "upper" => {
            too_many(args, 0, method)?;
            Value::from(s.to_uppercase())
        }
        "title" => {
            too_many(args, 0, method)?;
            Value::from(title(s))
        }
        "capitalize" => {
            too_many(args, 0, method)?;
            Value::from(capitalize(s))
        }
        "swapcase" => {
            too_many(args, 0, method)?;
            Value::from(swapcase(s))
        }
        "strip" | "lstrip" | "rstrip" => {
            too_many(args, 1, method)?;
            let chars = arg_str(args, 0, method)?;
            let (l, r) = match method {
                "strip" => (true, true),
                "lstrip" => (true, false),
                _ => (false, true),
            };
            Value::from(strip_chars(s, chars, l, r))
        }
        "split" | "rsplit" => {
            too_many(args, 2, method)?;
            let sep = arg_str(args, 0, method)?;
            let maxsplit = arg_int(args, 1, method)?.unwrap_or(-1);
            let parts = if method == "split" {
                split(s, sep, maxsplit)?
            } else {
                rsplit(s, sep, maxsplit)?
            };
            str_list(parts)
        }
        "splitlines" => {
            too_many(args, 1, method)?;
            let keep = args.first().is_some_and(|v| v.is_true());
            str_list(splitlines(s, keep))
        }
        "replace" => {
            too_many(args, 3, method)?;
            let old = arg_str(args, 0, method)?
                .ok_or_else(|| err("str.replace() needs old and new".into()))?;
            let new = arg_str(args, 1, method)?
                .ok_or_else(|| err("str.replace() needs old and new".into()))?;
            let count = arg_int(args, 2, method)?.unwrap_or(-1);
            let count = usize::try_from(count).ok();
            Value::from(bounded_replace(s, old, new, count)?)
        }
        "startswith" | "endswith" => {
            too_many(args, 3, method)?;
            let prefixes = prefixes(args.first(), method)?;
            let sub = char_slice(s, arg_int(args, 1, method)?, arg_int(args, 2, method)?);
            let hit = prefixes.iter().any(|p| {
                if method == "startswith" {
                    sub.starts_with(p.as_str())
                } else {
                    sub.ends_with(p.as_str())
                }
            });
            Value::from(hit)
        }
        "find" | "rfind" | "index" | "rindex" => {
            too_many(args, 3, method)?;
            let sub = arg_str(args, 0, method)?
                .ok_or_else(|| err(format!("str.{method}() needs a substring")))?;
            let start = arg_int(args, 1, method)?;
            let end = arg_int(args, 2, method)?;
            let n = s.chars().count() as i64;
            let offset = start
                .map(|i| if i < 0 { (n + i).max(0) } else { i.min(n) })
                .unwrap_or(0);
            let hay = char_slice(s, start, end);
            let found = if method.starts_with('r') {
                hay.rfind(sub)
            } else {
                hay.find(sub)
            };
            match found {
                Some(byte_idx) => Value::from(offset + hay[..byte_idx].chars().count() as i64),
                None if method.ends_with("index") => return Err(err("substring not found".into())),
                None => Value::from(-1),
            }
        }
        "count" => {
            too_many(args, 3, method)?;
            let sub = arg_str(args, 0, method)?
                .ok_or_else(|| err("str.count() needs a substring".into()))?;
            let hay = char_slice(s, arg_int(args, 1, method)?, arg_int(args, 2, method)?);
            let n = if sub.is_empty() {
                hay.chars().count() + 1
            } else {
                hay.matches(sub).count()
            };
            Value::from(n as i64)
        }
        "join" => {
            too_many(args, 1, method)?;
            let items = args
                .first()
                .ok_or_else(|| err("str.join() takes exactly one argument".into()))?;
            let mut parts = Vec::new();
            for item in items.try_iter()? {
                match item.as_str() {
                    Some(x) => parts.push(x.to_string()),
                    None => {
                        return Err(err(format!(
                            "sequence item {}: expected str instance, {} found",
                            parts.len(),
                            item.kind()
                        )));
                    }
                }
            }
            let size = parts
                .iter()
                .map(|p| p.len() + s.len())
                .fold(0usize, usize::saturating_add);
            if size > MAX_STRING_BYTES {
                return Err(too_large());
            }
            Value::from(parts.join(s))
        }
        "zfill" => {
            too_many(args, 1, method)?;
            let width = arg_int(args, 0, method)?.unwrap_or(0).max(0) as usize;
            let len = s.chars().count();
            if width <= len {
                Value::from(s)
            } else {
                let pad = "0".repeat(width - len);
                match s.chars().next() {
                    Some(sign @ ('+' | '-')) => Value::from(format!("{sign}{pad}{}", &s[1..])),
                    _ => Value::from(format!("{pad}{s}")),
                }
            }
        }
        "center" | "ljust" | "rjust" => {
            too_many(args, 2, method)?;
            let width = arg_int(args, 0, method)?
                .ok_or_else(|| err(format!("str.{method}() needs a width")))?;
            let width = width.clamp(0, 1_000_000) as usize;
            let fill = match arg_str(args, 1, method)? {
                None => ' ',
                Some(f) if f.chars().count() == 1 => f.chars().next().unwrap_or(' '),
                Some(_) => {
                    return Err(err(
                        "the fill character must be exactly one character long".into()
                    ));
                }
            };
            let len = s.chars().count();
            let pad = width.saturating_sub(len);
            let padding: String = std::iter::repeat_n(fill, pad).collect();
            Value::from(match method {
                "center" => center(s, width, fill),
                "ljust" => format!("{s}{padding}"),
                _ => format!("{padding}{s}"),
            })
        }
        "partition" | "rpartition" => {
            too_many(args, 1, method)?;
            let sep = arg_str(args, 0, method)?
                .ok_or_else(|| err(format!("str.{method}() needs a separator")))?;
            if sep.is_empty() {
                return Err(err("empty separator".into()));
            }
            let found = if method == "partition" {
                s.find(sep)
            } else {
                s.rfind(sep)
            };
            let parts = match found {
                Some(i) => [&s[..i], sep, &s[i + sep.len()..]],
                None if method == "partition" => [s, "", ""],
                None => ["", "", s],
            };
            Value::from(minijinja::value::Tuple::from(parts.map(Value::from)))
        }
        "removeprefix" => {
            too_many(args, 1, method)?;
            let p = arg_str(args, 0, method)?.unwrap_or("");
            Value::from(s.strip_prefix(p).unwrap_or(s))
        }
        "removesuffix" => {
            too_many(args, 1, method)?;
            let p = arg_str(args, 0, method)?.unwrap_or("");
            Value::from(s.strip_suffix(p).unwrap_or(s))
        }
        "isdigit" => Value::from(!s.is_empty() && s.chars().all(is_py_digit)),
        "isdecimal" => Value::from(!s.is_empty() && s.chars().all(is_decimal_digit)),
        "isnumeric" => Value::from(!s.is_empty() && s.chars().all(char::is_numeric)),
        "isalpha" => Value::from(!s.is_empty() && s.chars().all(is_alpha)),
        "isalnum" => Value::from(!s.is_empty() && s.chars().all(|c| is_alpha(c) || c.is_numeric())),
        "isspace" => Value::from(!s.is_empty() && s.chars().all(is_space)),
        "isascii" => Value::from(s.is_ascii()),
        "isupper" => Value::from(
            s.chars().any(char::is_uppercase)
                && !s.chars().any(|c| c.is_lowercase() || is_titlecase(c)),
        ),
        "islower" => Value::from(
            s.chars().any(char::is_lowercase)
                && !s.chars().any(|c| c.is_uppercase() || is_titlecase(c)),
        ),
        "istitle" => {
            let mut prev_cased = false;
            let mut any_cased = false;
            let mut ok = true;
            for c in s.chars() {
                if c.is_uppercase() || is_titlecase(c) {
                    if prev_cased {
                        ok = false;
                        break;
                    }
                    prev_cased = true;
                    any_cased = true;
                } else if c.is_lowercase() {
                    if !prev_cased {
                        ok = false;
                        break;
                    }
                    prev_cased = true;
                    any_cased = true;
                } else {
                    prev_cased = false;
                }
            }
            Value::from(ok && any_cased)
        }
        "isidentifier" => {
            let mut chars = s.chars();
            let ok = match chars.next() {
                Some(c) => {
                    (c == '_' || is_alpha(c))
                        && chars.all(|c| c == '_' || is_alpha(c) || c.is_numeric())
                }
                None => false,
            };
            Value::from(ok)
        }
        "expandtabs" => {
            too_many(args, 1, method)?;
            let size = arg_int(args, 0, method)?.unwrap_or(8).clamp(0, 1000) as usize;
            let mut out = String::new();
            let mut col = 0usize;
            for c in s.chars() {
                match c {
                    '\t' => {
                        if out.len() > MAX_STRING_BYTES {
                            return Err(too_large());
                        }
                        if size > 0 {
                            let n = size - col % size;
                            out.extend(std::iter::repeat_n(' ', n));
                            col += n;
                        }
                    }
                    '\n' | '\r' => {
                        out.push(c);
                        col = 0;
                    }
                    c => {
                        out.push(c);
                        col += 1;
                    }
                }
            }
            Value::from(out)
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1234567890123456.0), "1234567890123456.0");
        assert_eq!(float_repr(1.5e-7), "1.5e-07");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float_repr(-2.5), "-2.5");
        assert_eq!(float_repr(1e22), "1e+22");
        assert_eq!(float_repr(123.456), "123.456");
        assert_eq!(float_repr(-0.0), "-0.0");
        assert_eq!(float_repr(f64::INFINITY), "inf");
    }

    #[test]
    fn title_and_capitalize_follow_python() {
        assert_eq!(title("hello_world"), "Hello_World");
        assert_eq!(title("it's"), "It'S");
        assert_eq!(title("1st-place x.y"), "1St-Place X.Y");
        assert_eq!(title("ǆemal"), "ǅemal");
        assert_eq!(title("ΣΑΣ ΟΔΟΣ"), "Σας Οδος");
        assert_eq!(capitalize("HELLO wORLD"), "Hello world");
        assert_eq!(capitalize("ßtraße"), "Sstraße");
        assert_eq!(jinja_title("hello_world"), "Hello_world");
        assert_eq!(
            jinja_title("it's a (big) deal-breaker"),
            "It's A (Big) Deal-Breaker"
        );
        assert_eq!(swapcase("Ab"), "aB");
    }

    #[test]
    fn split_family_follows_python() {
        assert_eq!(
            split("a,b,,c", Some(","), -1).unwrap(),
            vec!["a", "b", "", "c"]
        );
        assert_eq!(split("  a  b ", None, -1).unwrap(), vec!["a", "b"]);
        assert_eq!(split("a b c", None, 1).unwrap(), vec!["a", "b c"]);
        assert_eq!(split("", None, -1).unwrap(), Vec::<String>::new());
        assert_eq!(split("", Some(","), -1).unwrap(), vec![""]);
        assert_eq!(rsplit("a-b-c", Some("-"), 1).unwrap(), vec!["a-b", "c"]);
        assert_eq!(rsplit(" a b  c ", None, 1).unwrap(), vec![" a b", "c"]);
        assert!(split("x", Some(""), -1).is_err());
        assert_eq!(splitlines("a\r\nb\rc\n", false), vec!["a", "b", "c"]);
        assert_eq!(splitlines("a\r\nb", true), vec!["a\r\n", "b"]);
    }

    #[test]
    fn repr_and_json_follow_python() {
        let v = to_value(serde_json::json!({"b": [1, 2.5, true, null], "a": "it's"}));
        assert_eq!(py_repr(&v), "{'b': [1, 2.5, True, None], 'a': \"it's\"}");
        assert_eq!(str_repr("a\nb'\"\u{1}"), "'a\\nb\\'\"\\x01'");
        let indent = JsonIndent::Text("    ".into());
        assert_eq!(
            json_dumps(&v, &indent).unwrap(),
            "{\n    \"a\": \"it's\",\n    \"b\": [\n        1,\n        2.5,\n        true,\n        null\n    ]\n}"
        );
        assert_eq!(
            json_dumps(&v, &JsonIndent::None).unwrap(),
            "{\"a\": \"it's\", \"b\": [1, 2.5, true, null]}"
        );
        let s = Value::from("é😀<");
        assert_eq!(
            json_dumps(&s, &JsonIndent::None).unwrap(),
            "\"\\u00e9\\ud83d\\ude00<\""
        );
        let empty = to_value(serde_json::json!({"x": {}, "y": []}));
        assert_eq!(
            json_dumps(&empty, &JsonIndent::Text("  ".into())).unwrap(),
            "{\n  \"x\": {},\n  \"y\": []\n}"
        );
    }

    #[test]
    fn str_methods() {
        let call = |s: &str, m: &str, args: &[Value]| {
            call_str_method(s, m, args).unwrap().unwrap().to_string()
        };
        assert_eq!(call("  x  ", "strip", &[]), "x");
        assert_eq!(call("xxhixx", "strip", &[Value::from("x")]), "hi");
        assert_eq!(
            call(
                "aaa",
                "replace",
                &[Value::from("a"), Value::from("b"), Value::from(2)]
            ),
            "bba"
        );
        assert_eq!(call("5", "zfill", &[Value::from(3)]), "005");
        assert_eq!(call("-5", "zfill", &[Value::from(3)]), "-05");
        assert_eq!(
            call("hello", "center", &[Value::from(9), Value::from("*")]),
            "**hello**"
        );
        assert_eq!(call("ab", "center", &[Value::from(5)]), "  ab ");
        assert_eq!(call("abc", "find", &[Value::from("c")]), "2");
        assert_eq!(
            call("abc", "startswith", &[Value::from(vec!["x", "a"])]),
            "True"
        );
        assert_eq!(call("Hello World", "istitle", &[]), "True");
        assert!(call_str_method("x", "nope", &[]).unwrap().is_none());
        assert!(call_str_method("x", "index", &[Value::from("y")]).is_err());
    }
}

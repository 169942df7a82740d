//! The `str` methods templates call (`'x'.split()`, `.strip()`, `.zfill()`, …), with Python's
//! exact semantics; [`call_str_method`] dispatches by name.

use super::case::{is_space, is_titlecase, swapcase, title};
use super::*;

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
            // A template's number: never allocate more than any other string method may.
            if width > MAX_STRING_BYTES {
                return Err(too_large());
            }
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

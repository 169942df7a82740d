//! Python semantics that Jinja2 templates (and so cookiecutter output) depend on:
//! `str()`/`repr()` of values and `float.__repr__` (here), `json.dumps` (`json`), character
//! classes and case mapping (`case`), and the `str` methods templates call (`methods`:
//! `'x'.title()`, `.split()`, …).

mod case;
mod json;
mod methods;

use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

pub use case::{capitalize, center, jinja_title};
pub use json::{JsonIndent, json_dumps};
pub use methods::call_str_method;

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

#[cfg(test)]
mod tests {
    use super::case::{swapcase, title};
    use super::methods::{rsplit, split, splitlines};
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
        let huge = call_str_method("1", "zfill", &[Value::from(1_000_000_000_000_000_i64)]);
        assert!(
            huge.is_err_and(|e| e.to_string().contains("would exceed")),
            "a width past the string limit is refused, not allocated"
        );
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

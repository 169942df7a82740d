//! `text`: escaping (MarkupSafe's rules), `join`, cookiecutter's `slugify`, `truncate`,
//! `wordwrap` (Python's `textwrap`), `wordcount` and `urlencode`, printing values as Python's
//! `str()` does.

use minijinja::value::{Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Error, ErrorKind, State};

use super::{op_err, split_kwargs};
use crate::render::python;
use crate::render::slugify::{SlugifyOptions, slugify};

/// `s` with each character that `entities` lists replaced by its entity. HTML escapers differ
/// only in their tables (MarkupSafe's below; the console's own in `console::view`).
pub fn escape_with(s: &str, entities: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match entities.iter().find(|(e, _)| *e == c) {
            Some((_, entity)) => out.push_str(entity),
            None => out.push(c),
        }
    }
    out
}

/// MarkupSafe's `escape`: `&`, `<`, `>`, `'` and `"` as `&amp;`, `&lt;`, `&gt;`, `&#39;`, `&#34;`.
pub(super) fn markup_escape(s: &str) -> String {
    const MARKUPSAFE: &[(char, &str)] = &[
        ('&', "&amp;"),
        ('<', "&lt;"),
        ('>', "&gt;"),
        ('\'', "&#39;"),
        ('"', "&#34;"),
    ];
    escape_with(s, MARKUPSAFE)
}

/// Jinja2's `escape`/`e` filter (safe strings pass through).
pub(super) fn escape_filter(v: &Value) -> Value {
    if v.is_safe() {
        return v.clone();
    }
    Value::from_safe_string(markup_escape(&python::py_str(v)))
}

/// Jinja2's `join(d='', attribute=None)`: items as Python `str()`.
pub(super) fn join_filter(
    state: &State,
    v: &Value,
    args: Rest<ValueOrKwargs>,
) -> Result<Value, Error> {
    let args = args.into_values();
    let (pos, kwargs) = split_kwargs(&args);
    let mut sep = pos.first().cloned();
    let mut attribute = pos.get(1).cloned();
    for (k, val) in kwargs {
        match k.as_str() {
            "d" if sep.is_none() => sep = Some(val),
            "attribute" if attribute.is_none() => attribute = Some(val),
            _ => {
                return Err(Error::new(
                    ErrorKind::TooManyArguments,
                    format!("join: unexpected argument {k:?}"),
                ));
            }
        }
    }
    if v.is_undefined() || v.is_none() {
        return Ok(Value::from(""));
    }
    let sep = sep.map(|s| python::py_str(&s)).unwrap_or_default();
    let escape = !matches!(state.auto_escape(), minijinja::AutoEscape::None);
    let mut parts = Vec::new();
    for item in v.try_iter()? {
        let item = match &attribute {
            Some(a) => match a.as_str() {
                Some(path) => path
                    .split('.')
                    .try_fold(item, |acc, key| acc.get_attr(key))?,
                None => item.get_item(a)?,
            },
            None => item,
        };
        let text = python::py_str(&item);
        parts.push(if escape && !item.is_safe() {
            markup_escape(&text)
        } else {
            text
        });
    }
    let joined = parts.join(&sep);
    Ok(if escape {
        Value::from_safe_string(joined)
    } else {
        Value::from(joined)
    })
}

/// cookiecutter's `slugify` filter: python-slugify's positional order, plus keywords.
pub(super) fn slugify_filter(value: &Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    const NAMES: [&str; 12] = [
        "entities",
        "decimal",
        "hexadecimal",
        "max_length",
        "word_boundary",
        "separator",
        "save_order",
        "stopwords",
        "regex_pattern",
        "lowercase",
        "replacements",
        "allow_unicode",
    ];
    let Some(text) = value.as_str() else {
        return Err(op_err(format!(
            "slugify: text must be str, not {}",
            value.kind()
        )));
    };
    let args = args.into_values();
    let (pos, kwargs) = split_kwargs(&args);
    if pos.len() > NAMES.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "slugify: too many arguments",
        ));
    }
    let mut named: Vec<(String, Value)> = pos
        .into_iter()
        .enumerate()
        .map(|(i, v)| (NAMES[i].to_string(), v))
        .collect();
    for (k, v) in kwargs {
        if !NAMES.contains(&k.as_str()) {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                format!("slugify: unexpected keyword argument {k:?}"),
            ));
        }
        if named.iter().any(|(n, _)| *n == k) {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                format!("slugify: got multiple values for argument {k:?}"),
            ));
        }
        named.push((k, v));
    }
    let mut o = SlugifyOptions::default();
    for (k, v) in named {
        let text_of = |v: &Value| v.as_str().map(str::to_string);
        match k.as_str() {
            "entities" => o.entities = v.is_true(),
            "decimal" => o.decimal = v.is_true(),
            "hexadecimal" => o.hexadecimal = v.is_true(),
            "word_boundary" => o.word_boundary = v.is_true(),
            "save_order" => o.save_order = v.is_true(),
            "lowercase" => o.lowercase = v.is_true(),
            "allow_unicode" => o.allow_unicode = v.is_true(),
            "max_length" => {
                o.max_length = match v.kind() {
                    ValueKind::Bool => i64::from(v.is_true()),
                    _ => v
                        .as_i64()
                        .ok_or_else(|| op_err("slugify: max_length must be an int"))?,
                }
            }
            "separator" => {
                o.separator = text_of(&v).ok_or_else(|| op_err("slugify: separator must be str"))?
            }
            "regex_pattern" => {
                o.regex_pattern = if v.is_none() {
                    None
                } else {
                    Some(text_of(&v).ok_or_else(|| op_err("slugify: regex_pattern must be str"))?)
                }
            }
            "stopwords" => {
                o.stopwords = v
                    .try_iter()?
                    .map(|w| {
                        text_of(&w).ok_or_else(|| op_err("slugify: stopwords must be strings"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "replacements" => {
                let mut reps = Vec::new();
                for pair in v.try_iter()? {
                    let items: Vec<Value> = pair.try_iter()?.collect();
                    match items.as_slice() {
                        [a, b] => reps.push((
                            text_of(a).ok_or_else(|| {
                                op_err("slugify: replacements must be string pairs")
                            })?,
                            text_of(b).ok_or_else(|| {
                                op_err("slugify: replacements must be string pairs")
                            })?,
                        )),
                        _ => {
                            return Err(op_err(
                                "slugify: each replacement must be a pair [old, new]",
                            ));
                        }
                    }
                }
                o.replacements = reps;
            }
            _ => {}
        }
    }
    slugify(text, &o).map(Value::from).map_err(op_err)
}

/// A filter's positional and keyword arguments bound to its parameter `names`, as Python binds
/// them: too many positionals, an unknown keyword or one given twice is an error.
fn bind_args(
    filter: &str,
    names: &[&str],
    args: Rest<ValueOrKwargs>,
) -> Result<Vec<(String, Value)>, Error> {
    let args = args.into_values();
    let (pos, kwargs) = split_kwargs(&args);
    if pos.len() > names.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            format!("{filter} takes at most {} arguments", names.len()),
        ));
    }
    let mut vals: Vec<(String, Value)> = pos
        .into_iter()
        .enumerate()
        .map(|(i, v)| (names[i].to_string(), v))
        .collect();
    for (k, v) in kwargs {
        if !names.contains(&k.as_str()) || vals.iter().any(|(n, _)| *n == k) {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                format!("{filter}: unexpected argument {k:?}"),
            ));
        }
        vals.push((k, v));
    }
    Ok(vals)
}

/// Jinja2's `truncate(s, length=255, killwords=False, end='...', leeway=5)`.
pub(super) fn truncate(s: &str, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    const NAMES: [&str; 4] = ["length", "killwords", "end", "leeway"];
    let vals = bind_args("truncate", &NAMES, args)?;
    let get = |n: &str| vals.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let int = |n: &str, d: i64| -> Result<i64, Error> {
        match get(n) {
            None => Ok(d),
            Some(v) if v.is_none() => Ok(d),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| op_err(format!("truncate: {n} must be an integer"))),
        }
    };
    let length = int("length", 255)?;
    let leeway = int("leeway", 5)?;
    let killwords = get("killwords").is_some_and(|v| v.is_true());
    let end = match get("end") {
        Some(v) => python::py_str(&v),
        None => "...".to_string(),
    };
    let end_len = end.chars().count() as i64;
    if length < end_len {
        return Err(op_err(format!(
            "truncate: expected length >= {end_len}, got {length}"
        )));
    }
    if leeway < 0 {
        return Err(op_err(format!(
            "truncate: expected leeway >= 0, got {leeway}"
        )));
    }
    let len = s.chars().count() as i64;
    if len <= length.saturating_add(leeway) {
        return Ok(s.to_string());
    }
    let head: String = s.chars().take((length - end_len) as usize).collect();
    if killwords {
        return Ok(head + end.as_str());
    }
    let kept = match head.rfind(' ') {
        Some(i) => head[..i].to_string(),
        None => head,
    };
    Ok(kept + end.as_str())
}

/// Jinja2's `wordwrap(width=79, break_long_words=True, wrapstring=None,
/// break_on_hyphens=True)`: every line of `s` wrapped with Python's `textwrap.wrap`
/// (`expand_tabs=False`, `replace_whitespace=False`), joined with `wrapstring` (default: the
/// environment's newline sequence).
pub(super) fn wordwrap(s: &str, args: Rest<ValueOrKwargs>, newline: &str) -> Result<String, Error> {
    const NAMES: [&str; 4] = [
        "width",
        "break_long_words",
        "wrapstring",
        "break_on_hyphens",
    ];
    let vals = bind_args("wordwrap", &NAMES, args)?;
    let get = |n: &str| vals.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let width = match get("width") {
        None => 79,
        Some(v) => i64::try_from(v.clone())
            .map_err(|_| op_err(format!("wordwrap: width must be an integer, got {v}")))?,
    };
    let flag = |n: &str| get(n).is_none_or(|v| v.is_true());
    let wrapstring = match get("wrapstring") {
        Some(v) if !v.is_none() && !v.is_undefined() => python::py_str(&v),
        _ => newline.to_string(),
    };
    if width <= 0 {
        return Err(op_err(format!(
            "wordwrap: invalid width {width} (must be > 0)"
        )));
    }
    let width = width.min(1_000_000) as usize;
    let (long, hyphens) = (flag("break_long_words"), flag("break_on_hyphens"));
    Ok(wrap_lines(s, width, long, hyphens, &wrapstring))
}

fn wrap_lines(s: &str, width: usize, long: bool, hyphens: bool, wrapstring: &str) -> String {
    python_splitlines(s)
        .iter()
        .map(|line| textwrap(line, width, long, hyphens).join(wrapstring))
        .collect::<Vec<_>>()
        .join(wrapstring)
}

/// Python's `str.splitlines()` (no line ends kept).
fn python_splitlines(s: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut cur));
            }
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => lines.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn is_py_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// `TextWrapper._split` (`wordsep_re`): whitespace runs, words, em-dashes (`--` between a word
/// character or punctuation and a word character) as chunks of their own, and, with `hyphens`,
/// words also split after a hyphen between letters.
fn textwrap_chunks(text: &str, hyphens: bool) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let ws = is_py_whitespace(chars[i]);
        let start = i;
        while i < chars.len() && is_py_whitespace(chars[i]) == ws {
            i += 1;
        }
        if ws {
            chunks.push(chars[start..i].iter().collect());
            continue;
        }
        let word = &chars[start..i];
        // `[^\d\W]`: word characters except digits.
        let letter = |j: usize| word.get(j).is_some_and(|c| c.is_alphabetic() || *c == '_');
        let is_w = |j: usize| {
            word.get(j)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        };
        let word_punct = |j: usize| is_w(j) || word.get(j).is_some_and(|c| "!\"'&.,?".contains(*c));
        let mut from = 0;
        let mut j = 0;
        while j < word.len() {
            if word[j] != '-' {
                j += 1;
                continue;
            }
            let run = word[j..].iter().take_while(|c| **c == '-').count();
            if run >= 2 {
                if j > 0 && word_punct(j - 1) && is_w(j + run) {
                    if j > from {
                        chunks.push(word[from..j].iter().collect());
                    }
                    chunks.push(word[j..j + run].iter().collect());
                    from = j + run;
                }
                j += run;
                continue;
            }
            let before = (j >= 2 && letter(j - 2) && letter(j - 1))
                || (j >= 3 && letter(j - 3) && word[j - 2] == '-' && letter(j - 1));
            let after = letter(j + 1)
                && (letter(j + 2) || (word.get(j + 2) == Some(&'-') && letter(j + 3)));
            if hyphens && before && after && j + 1 > from {
                chunks.push(word[from..=j].iter().collect());
                from = j + 1;
            }
            j += 1;
        }
        if from < word.len() {
            chunks.push(word[from..].iter().collect());
        }
    }
    chunks
}

/// `textwrap.wrap(text, width, expand_tabs=False, replace_whitespace=False, ...)`.
fn textwrap(text: &str, width: usize, break_long_words: bool, hyphens: bool) -> Vec<String> {
    let len = |s: &str| s.chars().count();
    let mut chunks: Vec<String> = textwrap_chunks(text, hyphens);
    chunks.reverse();
    let mut lines: Vec<String> = Vec::new();
    while !chunks.is_empty() {
        let mut cur: Vec<String> = Vec::new();
        let mut cur_len = 0;
        if chunks.last().is_some_and(|c| c.trim().is_empty()) && !lines.is_empty() {
            chunks.pop();
        }
        while let Some(c) = chunks.last() {
            let l = len(c);
            if cur_len + l <= width {
                cur_len += l;
                cur.extend(chunks.pop());
            } else {
                break;
            }
        }
        if let Some(chunk) = chunks.last_mut()
            && len(chunk) > width
        {
            // _handle_long_word
            let space_left = if width < 1 { 1 } else { width - cur_len };
            if break_long_words {
                let cs: Vec<char> = chunk.chars().collect();
                let mut end = space_left;
                if hyphens
                    && cs.len() > space_left
                    && let Some(h) = cs[..space_left.min(cs.len())]
                        .iter()
                        .rposition(|c| *c == '-')
                    && h > 0
                    && cs[..h].iter().any(|c| *c != '-')
                {
                    end = h + 1;
                }
                let end = end.min(cs.len());
                cur.push(cs[..end].iter().collect());
                *chunk = cs[end..].iter().collect();
            } else if cur.is_empty() {
                cur.extend(chunks.pop());
            }
        }
        if cur.last().is_some_and(|c| c.trim().is_empty()) {
            cur.pop();
        }
        if !cur.is_empty() {
            lines.push(cur.concat());
        }
    }
    lines
}

/// Jinja2's `wordcount`: the number of `\w+` runs.
pub(super) fn wordcount(s: &str) -> usize {
    let mut n = 0;
    let mut in_word = false;
    for c in s.chars() {
        let w = c.is_alphanumeric() || c == '_';
        if w && !in_word {
            n += 1;
        }
        in_word = w;
    }
    n
}

/// Jinja2's `urlencode`: strings are percent-quoted with `/` safe; mappings and pair
/// sequences become a query string.
pub(super) fn urlencode(v: &Value) -> Result<String, Error> {
    fn quote(s: &str, for_qs: bool) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                    out.push(b as char)
                }
                b'/' if !for_qs => out.push('/'),
                b' ' if for_qs => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    match v.kind() {
        ValueKind::String => Ok(quote(v.as_str().unwrap_or_default(), false)),
        ValueKind::Map => {
            let mut parts = Vec::new();
            for k in v.try_iter()? {
                let item = v.get_item(&k)?;
                parts.push(format!(
                    "{}={}",
                    quote(&python::py_str(&k), true),
                    quote(&python::py_str(&item), true)
                ));
            }
            Ok(parts.join("&"))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut parts = Vec::new();
            for pair in v.try_iter()? {
                let items: Vec<Value> = pair.try_iter()?.collect();
                match items.as_slice() {
                    [k, val] => parts.push(format!(
                        "{}={}",
                        quote(&python::py_str(k), true),
                        quote(&python::py_str(val), true)
                    )),
                    _ => return Err(op_err("urlencode: expected (key, value) pairs")),
                }
            }
            Ok(parts.join("&"))
        }
        _ => Ok(quote(&python::py_str(v), false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::python;

    #[test]
    fn wordwrap_follows_textwrap() {
        let wrap = |s: &str, w: usize| wrap_lines(s, w, true, true, "\n");
        // Outputs of Jinja2 3.1.6 (`{{ s|wordwrap(w) }}`).
        assert_eq!(
            wrap("The quick brown fox jumps over the lazy dog", 10),
            "The quick\nbrown fox\njumps over\nthe lazy\ndog"
        );
        assert_eq!(
            wrap("a well-known example text", 8),
            "a well-\nknown\nexample\ntext"
        );
        assert_eq!(wrap("abcdefghijklmnop", 5), "abcde\nfghij\nklmno\np");
        assert_eq!(wrap("one\n\ntwo  three", 79), "one\n\ntwo  three");
        assert_eq!(wrap("  lead", 79), "  lead");
        assert_eq!(
            wrap(
                "An example package. Generated with cookiecutter-pylibrary.",
                20
            ),
            "An example package.\nGenerated with\ncookiecutter-\npylibrary."
        );
        assert_eq!(
            wrap("x--y em-dash-words here", 6),
            "x--y\nem-\ndash-\nwords\nhere"
        );
        assert_eq!(wrap("self-contained-ish", 7), "self-co\nntained\n-ish");
    }

    #[test]
    fn textwrap_splits_like_wordsep_re() {
        // TextWrapper()._split(s) of Python 3.11.
        for (s, want) in [
            ("Hello--world foo", vec!["Hello", "--", "world", " ", "foo"]),
            ("abc---def", vec!["abc", "---", "def"]),
            ("a.--b", vec!["a.", "--", "b"]),
            ("--abc", vec!["--abc"]),
            ("abc--", vec!["abc--"]),
            ("x--y z", vec!["x", "--", "y", " ", "z"]),
            ("well-known--thing", vec!["well-", "known", "--", "thing"]),
            ("one--two--three", vec!["one", "--", "two", "--", "three"]),
            ("1--2", vec!["1", "--", "2"]),
            ("foo!--bar", vec!["foo!", "--", "bar"]),
        ] {
            assert_eq!(textwrap_chunks(s, true), want, "{s:?}");
        }
    }

    #[test]
    fn wordwrap_never_panics_and_respects_the_width() {
        const TOKENS: [&str; 12] = [
            "a",
            "bb",
            "-",
            "--",
            " ",
            "  ",
            "\n",
            "\t",
            "é",
            "word-wrap",
            "xxxxxxxxxxxxxxxxxx",
            "\r\n",
        ];
        let mut soup = crate::render::soup::Soup::new(0x2545_F491_4F6C_DD1D);
        for _ in 0..2_000 {
            let text = soup.text(&TOKENS, 30);
            let width = 1 + (soup.next() % 25) as usize;
            for (long, hyphens) in [(true, true), (true, false), (false, true), (false, false)] {
                let out = wrap_lines(&text, width, long, hyphens, "\n");
                if long {
                    for line in out.split('\n') {
                        assert!(
                            line.chars().count() <= width,
                            "{text:?} at {width}: {line:?} is too long"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn wordcount_and_urlencode() {
        assert_eq!(wordcount("Hello, wörld_x 42!"), 3);
        assert_eq!(
            urlencode(&Value::from("a b/c&é")).unwrap(),
            "a%20b/c%26%C3%A9"
        );
        let m = python::to_value(serde_json::json!({"a": "x y", "b": 1}));
        assert_eq!(urlencode(&m).unwrap(), "a=x+y&b=1");
    }
}

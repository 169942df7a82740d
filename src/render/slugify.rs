//! `slugify`, replicating python-slugify 9.2.0's default ("legacy") pipeline with the
//! text-unidecode transliterator, as cookiecutter's `slugify` filter calls it.

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::entities_table::ENTITIES;
use super::translit_table::TRANSLIT_OVERRIDES;

const DEFAULT_SEPARATOR: &str = "-";

/// The keyword arguments of python-slugify's `slugify()` (same defaults).
#[derive(Debug, Clone)]
pub struct SlugifyOptions {
    pub entities: bool,
    pub decimal: bool,
    pub hexadecimal: bool,
    /// 0 means unlimited; counted in characters.
    pub max_length: i64,
    pub word_boundary: bool,
    pub separator: String,
    pub save_order: bool,
    pub stopwords: Vec<String>,
    /// A regex of characters to replace with '-', instead of the default filter.
    pub regex_pattern: Option<String>,
    pub lowercase: bool,
    pub replacements: Vec<(String, String)>,
    pub allow_unicode: bool,
}

impl Default for SlugifyOptions {
    fn default() -> Self {
        SlugifyOptions {
            entities: true,
            decimal: true,
            hexadecimal: true,
            max_length: 0,
            word_boundary: false,
            separator: DEFAULT_SEPARATOR.to_string(),
            save_order: false,
            stopwords: Vec::new(),
            regex_pattern: None,
            lowercase: true,
            replacements: Vec::new(),
            allow_unicode: false,
        }
    }
}

static DECIMAL_DIGIT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{Nd}$").ok());
static DISALLOWED_UNICODE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[^\p{L}\p{N}]+").ok());

/// Python's `\d` (Unicode decimal digits).
fn is_decimal(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    DECIMAL_DIGIT
        .as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4])))
}

/// Slugifies `text`; fails only for an invalid `regex_pattern`.
pub fn slugify(text: &str, opts: &SlugifyOptions) -> Result<String, String> {
    let mut text = text.to_string();
    for (old, new) in &opts.replacements {
        text = bounded(&text, old, new)?;
    }
    text = collapse_quotes(&text, DEFAULT_SEPARATOR);
    if opts.allow_unicode {
        text = text.nfkc().collect();
    } else {
        let decomposed: String = text.nfkd().collect();
        text = transliterate(&decomposed);
    }
    text = decode_entities(&text, opts.entities, opts.decimal, opts.hexadecimal);
    text = if opts.allow_unicode {
        text.nfkc().collect()
    } else {
        text.nfkd().collect()
    };
    if opts.lowercase {
        text = text.to_lowercase();
    }
    text = collapse_quotes(&text, "");
    text = remove_digit_commas(&text);
    text = match &opts.regex_pattern {
        Some(pattern) if !pattern.is_empty() => {
            let re = regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("slugify: invalid regex_pattern {pattern:?}: {e}"))?;
            re.replace_all(&text, DEFAULT_SEPARATOR).into_owned()
        }
        _ if opts.allow_unicode => match DISALLOWED_UNICODE.as_ref() {
            Some(re) => re.replace_all(&text, DEFAULT_SEPARATOR).into_owned(),
            None => text,
        },
        _ => replace_disallowed_ascii(&text),
    };
    text = collapse_dashes(&text);
    text = text.trim_matches('-').to_string();

    if !opts.stopwords.is_empty() {
        let excluded: Vec<String> = if opts.lowercase {
            opts.stopwords.iter().map(|w| w.to_lowercase()).collect()
        } else {
            opts.stopwords.clone()
        };
        text = text
            .split(DEFAULT_SEPARATOR)
            .filter(|w| !excluded.iter().any(|e| e == w))
            .collect::<Vec<_>>()
            .join(DEFAULT_SEPARATOR);
    }
    for (old, new) in &opts.replacements {
        text = bounded(&text, old, new)?;
    }
    if opts.max_length > 0 {
        text = smart_truncate(
            &text,
            opts.max_length as usize,
            opts.word_boundary,
            DEFAULT_SEPARATOR,
            opts.save_order,
        );
    }
    if opts.separator != DEFAULT_SEPARATOR {
        text = bounded(&text, DEFAULT_SEPARATOR, &opts.separator)?;
    }
    Ok(text)
}

fn bounded(text: &str, old: &str, new: &str) -> Result<String, String> {
    super::python::bounded_replace(text, old, new, None)
        .map_err(|e| format!("slugify: {}", e.detail().unwrap_or("too large")))
}

/// text-unidecode: each BMP code point maps to an ASCII string; others are dropped.
pub fn transliterate(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let cp = c as u32;
        if cp == 0 {
            out.push('\0');
        } else if cp > 0xFFFF {
            // text-unidecode's table stops at U+FFFF; it silently drops the rest.
        } else if let Some(s) = override_for(cp) {
            out.push_str(s);
        } else if let Some(s) = deunicode::deunicode_char(c) {
            out.push_str(s);
        }
    }
    out
}

fn override_for(cp: u32) -> Option<&'static str> {
    let idx = TRANSLIT_OVERRIDES.partition_point(|&(_, last, _)| last < cp);
    match TRANSLIT_OVERRIDES.get(idx) {
        Some(&(first, last, s)) if first <= cp && cp <= last => Some(s),
        _ => None,
    }
}

/// `re.sub(r"[']+", repl, text)`.
fn collapse_quotes(text: &str, repl: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        if c == '\'' {
            if !in_run {
                out.push_str(repl);
                in_run = true;
            }
        } else {
            in_run = false;
            out.push(c);
        }
    }
    out
}

/// `re.sub(r'(?<=\d),(?=\d)', '', text)`.
fn remove_digit_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ','
            && i > 0
            && is_decimal(chars[i - 1])
            && chars.get(i + 1).is_some_and(|&n| is_decimal(n))
        {
            continue;
        }
        out.push(c);
    }
    out
}

/// `re.sub(r'[^-a-zA-Z0-9]+', '-', text)`.
fn replace_disallowed_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        if c == '-' || c.is_ascii_alphanumeric() {
            in_run = false;
            out.push(c);
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

/// `re.sub(r'-{2,}', '-', text)`.
fn collapse_dashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_dash = false;
    for c in text.chars() {
        if c == '-' {
            if !prev_dash {
                out.push(c);
            }
            prev_dash = true;
        } else {
            prev_dash = false;
            out.push(c);
        }
    }
    out
}

/// Named, decimal (`&#381;`) and hex (`&#x17D;`) references, as python-slugify's legacy
/// pipeline decodes them: a numeric kind is decoded all-or-nothing, so one out-of-range
/// reference leaves every reference of that kind as it is.
fn decode_entities(text: &str, entities: bool, decimal: bool, hexadecimal: bool) -> String {
    let mut text = text.to_string();
    if entities && text.contains('&') {
        text = replace_refs(&text, |body| {
            let name = body;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return RefResult::NoMatch;
            }
            match ENTITIES.binary_search_by(|(n, _)| (*n).cmp(name)) {
                Ok(i) => RefResult::Char(char::from_u32(ENTITIES[i].1).unwrap_or('\u{FFFD}')),
                Err(_) => RefResult::NoMatch,
            }
        })
        .unwrap_or(text);
    }
    if decimal && text.contains("&#") {
        text = replace_refs(&text, |body| {
            let Some(digits) = body.strip_prefix('#') else {
                return RefResult::NoMatch;
            };
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return RefResult::NoMatch;
            }
            code_point(digits.parse::<u64>().ok())
        })
        .unwrap_or(text);
    }
    if hexadecimal && text.contains("&#x") {
        text = replace_refs(&text, |body| {
            let Some(digits) = body.strip_prefix("#x") else {
                return RefResult::NoMatch;
            };
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
                return RefResult::NoMatch;
            }
            code_point(u64::from_str_radix(digits, 16).ok())
        })
        .unwrap_or(text);
    }
    text
}

enum RefResult {
    NoMatch,
    Char(char),
    /// A match Python's `chr()` refuses: the whole substitution is abandoned.
    Invalid,
}

fn code_point(v: Option<u64>) -> RefResult {
    match v {
        Some(v) if v <= 0x10FFFF => {
            // Python keeps lone surrogates as characters; every later step treats them as
            // a disallowed character, which U+FFFD reproduces.
            RefResult::Char(char::from_u32(v as u32).unwrap_or('\u{FFFD}'))
        }
        _ => RefResult::Invalid,
    }
}

/// Finds `&BODY;` references left to right (non-overlapping, like `re.sub`) and replaces the
/// ones `decode` accepts. `None` when some reference is invalid (Python's ValueError).
fn replace_refs(text: &str, decode: impl Fn(&str) -> RefResult) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // Entity bodies are short ASCII: `#x` plus hex digits or a name.
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'));
        match end {
            Some(e) if after[e..].starts_with(';') => match decode(&after[..e]) {
                RefResult::Char(c) => {
                    out.push(c);
                    rest = &after[e + 1..];
                    continue;
                }
                RefResult::Invalid => return None,
                RefResult::NoMatch => {}
            },
            _ => {}
        }
        out.push('&');
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

/// python-slugify's legacy `smart_truncate` (lengths in characters).
fn smart_truncate(
    string: &str,
    max_length: usize,
    word_boundary: bool,
    separator: &str,
    save_order: bool,
) -> String {
    let strip = |s: &str| -> String {
        let sep: Vec<char> = separator.chars().collect();
        s.trim_matches(|c| sep.contains(&c)).to_string()
    };
    let prefix = |s: &str, n: usize| -> String { s.chars().take(n).collect() };
    let string = strip(string);
    if max_length == 0 {
        return string;
    }
    let len = string.chars().count();
    if len < max_length {
        return string;
    }
    if !word_boundary {
        return strip(&prefix(&string, max_length));
    }
    if !string.contains(separator) {
        return prefix(&string, max_length);
    }
    let mut truncated = String::new();
    for word in string.split(separator) {
        if word.is_empty() {
            continue;
        }
        let next_len = truncated.chars().count() + word.chars().count();
        if next_len < max_length {
            truncated.push_str(word);
            truncated.push_str(separator);
        } else if next_len == max_length {
            truncated.push_str(word);
            break;
        } else if save_order {
            break;
        }
    }
    if truncated.is_empty() {
        truncated = prefix(&string, max_length);
    }
    strip(&truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> String {
        slugify(s, &SlugifyOptions::default()).unwrap()
    }

    fn slug_with(s: &str, f: impl FnOnce(&mut SlugifyOptions)) -> String {
        let mut o = SlugifyOptions::default();
        f(&mut o);
        slugify(s, &o).unwrap()
    }

    // Vectors from python-slugify's test suite, checked against python-slugify 9.2.0.
    #[test]
    fn python_slugify_suite() {
        assert_eq!(slug("This is a test ---"), "this-is-a-test");
        assert_eq!(slug("___This is a test ---"), "this-is-a-test");
        assert_eq!(slug("___This is a test___"), "this-is-a-test");
        assert_eq!(slug("This -- is a ## test ---"), "this-is-a-test");
        assert_eq!(slug("影師嗎"), "ying-shi-ma");
        assert_eq!(slug("C'est déjà l'été."), "c-est-deja-l-ete");
        assert_eq!(
            slug("Nín hǎo. Wǒ shì zhōng guó rén"),
            "nin-hao-wo-shi-zhong-guo-ren"
        );
        assert_eq!(slug("jaja---lol-méméméoo--a"), "jaja-lol-mememeoo-a");
        assert_eq!(slug("Компьютер"), "kompiuter");
        let t = "jaja---lol-méméméoo--a";
        assert_eq!(slug_with(t, |o| o.max_length = 9), "jaja-lol");
        assert_eq!(slug_with(t, |o| o.max_length = 15), "jaja-lol-mememe");
        assert_eq!(slug_with(t, |o| o.max_length = 50), "jaja-lol-mememeoo-a");
        let wb = |n: i64| {
            slug_with(t, |o| {
                o.max_length = n;
                o.word_boundary = true;
            })
        };
        assert_eq!(wb(15), "jaja-lol-a");
        assert_eq!(wb(17), "jaja-lol-mememeoo");
        assert_eq!(wb(18), "jaja-lol-mememeoo");
        assert_eq!(wb(19), "jaja-lol-mememeoo-a");
        let sep = |s: &str| {
            slug_with(t, |o| {
                o.max_length = 20;
                o.word_boundary = true;
                o.separator = s.into();
            })
        };
        assert_eq!(sep("."), "jaja.lol.mememeoo.a");
        assert_eq!(sep("ZZZZZZ"), "jajaZZZZZZlolZZZZZZmememeooZZZZZZa");
        let order = |n: i64, keep: bool| {
            slug_with("one two three four five", |o| {
                o.max_length = n;
                o.word_boundary = true;
                o.save_order = keep;
            })
        };
        assert_eq!(order(13, true), "one-two-three");
        assert_eq!(order(13, false), "one-two-three");
        assert_eq!(order(12, false), "one-two-four");
        assert_eq!(order(12, true), "one-two");
        let stop = |s: &str, words: &[&str]| {
            slug_with(s, |o| {
                o.stopwords = words.iter().map(|w| w.to_string()).collect()
            })
        };
        assert_eq!(stop("this has a stopword", &["stopword"]), "this-has-a");
        assert_eq!(
            slug_with("thIs Has a stopword Stopword", |o| {
                o.stopwords = vec!["Stopword".into()];
                o.lowercase = false;
            }),
            "thIs-Has-a-stopword"
        );
        assert_eq!(
            stop("the quick brown fox jumps over the lazy dog", &["the"]),
            "quick-brown-fox-jumps-over-lazy-dog"
        );
        assert_eq!(stop("Foo A FOO B foo C", &["foo"]), "a-b-c");
        assert_eq!(stop("Foo A FOO B foo C", &["FOO"]), "a-b-c");
        assert_eq!(
            stop(
                "the quick brown fox jumps over the lazy dog in a hurry",
                &["the", "in", "a", "hurry"]
            ),
            "quick-brown-fox-jumps-over-lazy-dog"
        );
        assert_eq!(
            slug_with("the quick brown fox jumps over the lazy dog", |o| {
                o.stopwords = vec!["the".into()];
                o.separator = " ".into();
            }),
            "quick brown fox jumps over lazy dog"
        );
        assert_eq!(slug("foo &amp; bar"), "foo-bar");
        assert_eq!(
            slug_with("foo &amp; bar", |o| o.entities = false),
            "foo-amp-bar"
        );
        assert_eq!(slug("&#381;"), "z");
        assert_eq!(
            slug_with("&#381;", |o| {
                o.entities = false;
                o.decimal = false;
            }),
            "381"
        );
        assert_eq!(slug("&#x17D;"), "z");
        assert_eq!(slug_with("&#x17D;", |o| o.hexadecimal = false), "x17d");
        assert_eq!(slug("10 amazing secrets"), "10-amazing-secrets");
        assert_eq!(
            slug("buildings with 1000 windows"),
            "buildings-with-1000-windows"
        );
        assert_eq!(slug("recipe number 3"), "recipe-number-3");
        assert_eq!(slug("404"), "404");
        assert_eq!(slug("1,000 reasons you are #1"), "1000-reasons-you-are-1");
        assert_eq!(
            slug_with("___This is a test___", |o| o.regex_pattern =
                Some("[^-a-z0-9_]+".into())),
            "___this-is-a-test___"
        );
        assert_eq!(
            slug_with("10 | 20 %", |o| o.replacements =
                vec![("|".into(), "or".into()), ("%".into(), "percent".into())]),
            "10-or-20-percent"
        );
        assert_eq!(
            slug_with("I ♥ 🦄", |o| o.replacements = vec![
                ("♥".into(), "amour".into()),
                ("🦄".into(), "licorne".into())
            ]),
            "i-amour-licorne"
        );
    }

    // Further vectors produced by python-slugify 9.2.0 + text-unidecode 1.3.
    #[test]
    fn transliteration_and_unicode_vectors() {
        assert_eq!(
            slug("Héllo Wörld &amp; ÆØÅ 你好 Привет ☃ 😀 ß ﬁ"),
            "hello-world-aeoa-ni-hao-privet-ss-fi"
        );
        assert_eq!(slug("Ελληνικά γράμματα"), "ellenika-grammata");
        assert_eq!(slug("Ünïcödé Straße"), "unicode-strasse");
        assert_eq!(slug("© 2024 Acme™"), "c-2024-acmetm");
        assert_eq!(slug("&copy; &sect; &#x41; &#65; &bogus;"), "a-a-bogus");
        assert_eq!(slug("&#99999999; &#65;"), "99999999-65");
        assert_eq!(slug("日本語のテキスト"), "ri-ben-yu-notekisuto");
        assert_eq!(slug("한국어"), "hangugeo");
        assert_eq!(slug("It's a dog's life"), "it-s-a-dog-s-life");
        assert_eq!(
            slug_with("Привет, мир! Straße", |o| o.allow_unicode = true),
            "привет-мир-straße"
        );
        assert_eq!(
            slug_with("My_Project Name", |o| o.separator = "_".into()),
            "my_project_name"
        );
        assert_eq!(
            slug_with("Keep Case Here", |o| o.lowercase = false),
            "Keep-Case-Here"
        );
        assert_eq!(slug(""), "");
        assert_eq!(slug("---"), "");
    }

    #[test]
    fn invalid_regex_is_an_error_not_a_panic() {
        let err = slugify(
            "x",
            &SlugifyOptions {
                regex_pattern: Some("(".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(err.contains("invalid regex_pattern"), "{err}");
    }
}

//! Python's `fnmatch.fnmatch` on POSIX (what cookiecutter matches `_copy_without_render`
//! with): `*` also matches `/`, `?` one character, `[seq]` / `[!seq]` character sets, and
//! the whole name must match.

use regex::Regex;

/// A compiled fnmatch pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    re: Regex,
}

impl Pattern {
    pub fn new(pat: &str) -> Result<Pattern, String> {
        let re = regex::RegexBuilder::new(&translate(pat))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("invalid pattern {pat:?}: {e}"))?;
        Ok(Pattern { re })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.re.is_match(name)
    }
}

/// `fnmatch.translate`, producing a Rust regex anchored at both ends.
fn translate(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let n = chars.len();
    let mut out = String::from("(?s)\\A");
    let mut i = 0;
    let mut last_star = false;
    while i < n {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                if !last_star {
                    out.push_str(".*");
                }
                last_star = true;
                continue;
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < n && chars[j] == '!' {
                    j += 1;
                }
                if j < n && chars[j] == ']' {
                    j += 1;
                }
                while j < n && chars[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    out.push_str("\\[");
                } else {
                    out.push_str(&char_class(&chars[i..j]));
                    i = j + 1;
                }
            }
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
        last_star = false;
    }
    out.push_str("\\z");
    out
}

/// The body of a `[...]` set: `!` negates, `a-z` ranges (reversed ranges are dropped, as
/// Python does), everything else literal.
fn char_class(body: &[char]) -> String {
    let (negate, body) = match body.first() {
        Some('!') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut items: Vec<(char, char)> = Vec::new();
    let mut k = 0;
    while k < body.len() {
        let lo = body[k];
        if k + 2 < body.len() && body[k + 1] == '-' {
            let hi = body[k + 2];
            if lo <= hi {
                items.push((lo, hi));
            }
            k += 3;
        } else {
            items.push((lo, lo));
            k += 1;
        }
    }
    if items.is_empty() {
        // `[!]` matches any character, an empty set matches nothing.
        return if negate {
            ".".into()
        } else {
            "[^\\s\\S]".into()
        };
    }
    let esc = |c: char| {
        let mut s = String::new();
        if matches!(c, '\\' | ']' | '[' | '^' | '-' | '&' | '~' | '|') {
            s.push('\\');
        }
        s.push(c);
        s
    };
    let mut out = String::from("[");
    if negate {
        out.push('^');
    }
    for (lo, hi) in items {
        out.push_str(&esc(lo));
        if lo != hi {
            out.push('-');
            out.push_str(&esc(hi));
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, name: &str) -> bool {
        Pattern::new(pat).unwrap().matches(name)
    }

    #[test]
    fn matches_like_python_fnmatch() {
        assert!(m("*.png", "img/logo.png"), "* crosses '/'");
        assert!(m("static/*", "static/a/b.css"));
        assert!(!m("static/*", "static"));
        assert!(m("*", ""));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("[ab]x", "bx"));
        assert!(!m("[!ab]x", "bx"));
        assert!(m("[!ab]x", "cx"));
        assert!(m("[a-c]", "b"));
        assert!(!m("[c-a]", "b"), "reversed range is empty");
        assert!(m("[", "["), "unclosed [ is literal");
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"), "dot is literal");
        assert!(m(
            "{{cookiecutter.x}}/*.html",
            "{{cookiecutter.x}}/index.html"
        ));
        assert!(!m("*.html", "index.html.j2"), "anchored at the end");
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
    }
}

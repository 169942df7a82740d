//! Character classes and case mapping as Python's `str` does them (`isspace`, `title`,
//! `capitalize`, `swapcase`, `center`) and Jinja2's own `title` filter.

/// `str.isspace()` per character (Unicode White_Space plus the ASCII separators
/// U+001C..U+001F that Python also counts).
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

pub(super) fn is_titlecase(c: char) -> bool {
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

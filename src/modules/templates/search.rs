//! Text search: the query language users type, parsed into the [`TextQuery`] the in-process
//! index (`super::index`) answers. Text is split into words at every character that is not a
//! letter or a digit, lowercased, never stemmed and without stop words ([`words`]): the same
//! rule for the templates' fields and for the query.
//!
//! The query language is web-search-like and never fails on odd input:
//! - `fastapi worker` — every word must occur (in any field);
//! - `"admin dashboard"` — the words next to each other, in this order;
//! - `react or vue` — either;
//! - `-legacy` — must not occur;
//! - a word of three or more characters also matches longer words it starts (`migration`
//!   finds `migrations`); `go*` asks for that with a shorter word, `"api"` for the exact word;
//! - anything else that is not a letter or digit separates words (`fastapi-service` is the
//!   phrase `"fastapi service"`), so operators of search engines are plain text here and no
//!   input is a syntax error.

use crate::platform::http::error::{ApiError, FieldError};

/// Bare words this long or longer match as prefixes.
const PREFIX_MIN_CHARS: usize = 3;
/// Words in a query at most.
pub const MAX_WORDS: usize = 32;
/// Characters in one word at most.
pub const MAX_WORD_CHARS: usize = 100;

/// Words next to each other in this order (one word is a phrase of one); `prefix` makes the
/// last word also match longer words that start with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    pub words: Vec<String>,
    pub prefix: bool,
}

/// A parsed text query: every group must match (a group matches when one of its phrases does),
/// and none of `excluded` may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    pub groups: Vec<Vec<Phrase>>,
    pub excluded: Vec<Phrase>,
}

/// Lowercase words of `text`: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

enum Lexeme {
    Or,
    Phrase { phrase: Phrase, negated: bool },
}

fn invalid(message: &str, detail: String) -> ApiError {
    ApiError::validation(message, vec![FieldError::new("query", detail)])
}

/// Parses a free-text query. `Ok(None)`: nothing to search for (empty or only spaces).
pub fn parse(raw: &str) -> Result<Option<TextQuery>, ApiError> {
    let chars: Vec<char> = raw.chars().collect();
    let mut lexemes = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let negated = chars[i] == '-'
            && chars
                .get(i + 1)
                .is_some_and(|c| !c.is_whitespace() && *c != '-');
        if negated {
            i += 1;
        }
        let (text, quoted) = if chars[i] == '"' {
            let start = i + 1;
            let end = chars[start..]
                .iter()
                .position(|c| *c == '"')
                .map_or(chars.len(), |p| start + p);
            i = (end + 1).min(chars.len());
            (chars[start..end].iter().collect::<String>(), true)
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '"' {
                i += 1;
            }
            (chars[start..i].iter().collect::<String>(), false)
        };
        // A `*` right after a word or a closing quote asks for a prefix match.
        let starred = if quoted {
            let star = chars.get(i) == Some(&'*');
            if star {
                i += 1;
            }
            star
        } else {
            text.ends_with('*')
        };
        if !quoted && !negated && text.eq_ignore_ascii_case("or") {
            lexemes.push(Lexeme::Or);
            continue;
        }
        let words = words(&text);
        let Some(last) = words.last() else { continue };
        if let Some(long) = words.iter().find(|w| w.chars().count() > MAX_WORD_CHARS) {
            return Err(invalid(
                "A search word is too long.",
                format!(
                    "`{}…` is longer than {MAX_WORD_CHARS} characters; no template has such a word",
                    long.chars().take(20).collect::<String>()
                ),
            ));
        }
        let prefix = starred || (!quoted && last.chars().count() >= PREFIX_MIN_CHARS);
        lexemes.push(Lexeme::Phrase {
            phrase: Phrase { words, prefix },
            negated,
        });
    }

    let count: usize = lexemes
        .iter()
        .map(|l| match l {
            Lexeme::Phrase { phrase, .. } => phrase.words.len(),
            Lexeme::Or => 0,
        })
        .sum();
    if count > MAX_WORDS {
        return Err(invalid(
            "The search query has too many words.",
            format!("has {count} words; use at most {MAX_WORDS}"),
        ));
    }

    let mut query = TextQuery {
        groups: Vec::new(),
        excluded: Vec::new(),
    };
    // `or` joins the phrases on either side into one group; elsewhere (leading, trailing,
    // repeated, next to an exclusion) it is ignored.
    let mut join_next = false;
    for lexeme in lexemes {
        match lexeme {
            Lexeme::Or => join_next = !query.groups.is_empty(),
            Lexeme::Phrase {
                phrase,
                negated: true,
            } => {
                query.excluded.push(phrase);
                join_next = false;
            }
            Lexeme::Phrase {
                phrase,
                negated: false,
            } => {
                match query.groups.last_mut() {
                    Some(group) if join_next => group.push(phrase),
                    _ => query.groups.push(vec![phrase]),
                }
                join_next = false;
            }
        }
    }

    if query.groups.is_empty() {
        if !query.excluded.is_empty() {
            return Err(invalid(
                "The search query only excludes words.",
                "every word is excluded with `-`; add a word to look for".into(),
            ));
        }
        if raw.trim().is_empty() {
            return Ok(None);
        }
        return Err(invalid(
            "The search query has no words.",
            "has no letters or digits to search for; words are runs of letters and digits".into(),
        ));
    }
    Ok(Some(query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> TextQuery {
        parse(raw).unwrap().unwrap()
    }

    fn p(words: &[&str], prefix: bool) -> Phrase {
        Phrase {
            words: words.iter().map(|w| w.to_string()).collect(),
            prefix,
        }
    }

    #[test]
    fn words_are_runs_of_letters_and_digits() {
        assert_eq!(
            words("FastAPI-service my_worker Node.js café v1.2 C++"),
            vec![
                "fastapi", "service", "my", "worker", "node", "js", "café", "v1", "2", "c"
            ]
        );
    }

    #[test]
    fn parses_words_phrases_or_and_exclusions() {
        let query = q(r#"FastAPI "admin dashboard" react OR vue -legacy go ui* "api""#);
        assert_eq!(
            query.groups,
            vec![
                vec![p(&["fastapi"], true)],
                vec![p(&["admin", "dashboard"], false)],
                vec![p(&["react"], true), p(&["vue"], true)],
                vec![p(&["go"], false)],
                vec![p(&["ui"], true)],
                vec![p(&["api"], false)],
            ]
        );
        assert_eq!(query.excluded, vec![p(&["legacy"], true)]);
    }

    #[test]
    fn punctuation_inside_a_word_makes_a_phrase() {
        assert_eq!(
            q("fastapi-service").groups,
            vec![vec![p(&["fastapi", "service"], true)]]
        );
        assert_eq!(
            q("\"node.js\"*").groups,
            vec![vec![p(&["node", "js"], true)]]
        );
    }

    #[test]
    fn operators_of_either_engine_are_plain_text() {
        for raw in [
            "a & b | !c",
            "'x' <-> y:*",
            "NEAR(a b) AND c NOT d",
            "name:api",
            "\"unclosed phrase",
            "a--b",
            "100%_",
            "or OR or fastapi or",
        ] {
            let parsed = parse(raw).unwrap_or_else(|e| panic!("{raw}: {}", e.detail));
            if let Some(query) = parsed {
                assert!(!query.groups.is_empty(), "{raw}");
            }
        }
        // Words of the operators only become words.
        assert_eq!(
            q("NEAR(a b) AND c").groups,
            vec![
                vec![p(&["near", "a"], false)],
                vec![p(&["b"], false)],
                vec![p(&["and"], true)],
                vec![p(&["c"], false)],
            ],
            "near, a, b, and, c are all words"
        );
    }

    #[test]
    fn refuses_queries_with_nothing_to_find() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("   ").unwrap().is_none());
        for raw in [
            "!!!",
            "&|",
            "\"\"",
            "(((",
            "-- -",
            "-legacy",
            "-legacy -old",
            "*",
        ] {
            let err = parse(raw).unwrap_err();
            assert_eq!(err.status.as_u16(), 422, "{raw}");
        }
        let long = "a".repeat(MAX_WORD_CHARS + 1);
        assert_eq!(parse(&long).unwrap_err().status.as_u16(), 422);
        let many = "word ".repeat(MAX_WORDS + 1);
        assert_eq!(parse(&many).unwrap_err().status.as_u16(), 422);
    }
}

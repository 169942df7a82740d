//! Just enough Markdown and reStructuredText reading for the checks: headings, code blocks and
//! prose.

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Heading {
    pub level: usize,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct CodeBlock {
    /// The fence's info string (language).
    #[allow(dead_code)]
    pub info: String,
    pub body: String,
}

#[derive(Debug, Default, Clone)]
pub struct Markdown {
    pub headings: Vec<Heading>,
    pub code_blocks: Vec<CodeBlock>,
    /// Markdown's indented code blocks (4+ spaces after a blank line). They stay in
    /// `prose_lines` too: list continuations look the same.
    pub indented_blocks: Vec<String>,
    /// Lines outside code blocks that are not headings.
    pub prose_lines: Vec<String>,
    /// Prose before the first level-2 heading (the overview).
    pub intro: String,
}

/// Reads a README: reStructuredText when `path` ends in `.rst`, Markdown otherwise.
pub fn parse_readme(path: &str, source: &str) -> Markdown {
    if path.to_lowercase().ends_with(".rst") {
        parse_rst(source)
    } else {
        parse(source)
    }
}

pub fn parse(source: &str) -> Markdown {
    let mut md = Markdown::default();
    let mut fence: Option<(String, CodeBlock)> = None;
    let mut seen_h2 = false;
    let mut previous_blank = true;
    let mut indented: Option<String> = None;
    for line in source.lines() {
        let trimmed = line.trim_start();
        if fence.is_none() {
            let is_indented =
                (line.starts_with("    ") || line.starts_with('\t')) && !trimmed.is_empty();
            match indented.as_mut() {
                Some(block) if is_indented || trimmed.is_empty() => {
                    block.push_str(trimmed);
                    block.push('\n');
                }
                Some(_) => md.indented_blocks.extend(indented.take()),
                None if is_indented && previous_blank => {
                    indented = Some(format!("{trimmed}\n"));
                }
                None => {}
            }
            previous_blank = trimmed.is_empty();
        }
        if let Some((marker, block)) = fence.as_mut() {
            if trimmed.starts_with(marker.as_str())
                && trimmed
                    .trim_start_matches(marker.chars().next().unwrap_or('`'))
                    .trim()
                    .is_empty()
            {
                if let Some((_, block)) = fence.take() {
                    md.code_blocks.push(block);
                }
            } else {
                block.body.push_str(line);
                block.body.push('\n');
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            let ch = trimmed.chars().next().unwrap_or('`');
            let marker: String = trimmed.chars().take_while(|c| *c == ch).collect();
            let info = trimmed[marker.len()..].trim().to_string();
            fence = Some((
                marker,
                CodeBlock {
                    info,
                    body: String::new(),
                },
            ));
            continue;
        }
        // A setext underline turns the previous prose line into a heading.
        let setext = if !trimmed.is_empty() && line.len() - trimmed.len() < 4 {
            let t = trimmed.trim_end();
            if t.chars().all(|c| c == '=') {
                Some(1)
            } else if t.chars().all(|c| c == '-') && t.len() >= 2 {
                Some(2)
            } else {
                None
            }
        } else {
            None
        };
        if let Some(level) = setext
            && let Some(previous) = md.prose_lines.last()
            && !previous.trim().is_empty()
            && !previous.starts_with("    ")
        {
            let text = md.prose_lines.pop().unwrap_or_default().trim().to_string();
            if !seen_h2 {
                // The title line was counted as overview prose.
                if let Some(stripped) = md.intro.trim_end().strip_suffix(text.as_str()) {
                    md.intro = stripped.to_string();
                }
            }
            if level == 2 {
                seen_h2 = true;
            }
            md.headings.push(Heading { level, text });
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('#') {
            let level = 1 + rest.chars().take_while(|c| *c == '#').count();
            let text = rest.trim_start_matches('#');
            if level <= 6 && (text.starts_with(' ') || text.is_empty()) {
                if level == 2 {
                    seen_h2 = true;
                }
                md.headings.push(Heading {
                    level,
                    text: text.trim().trim_end_matches('#').trim().to_string(),
                });
                continue;
            }
        }
        if !seen_h2 && !trimmed.is_empty() {
            md.intro.push_str(trimmed);
            md.intro.push(' ');
        }
        md.prose_lines.push(line.to_string());
    }
    // An unclosed fence still counts as code (it is not prose).
    if let Some((_, block)) = fence {
        md.code_blocks.push(block);
    }
    md.indented_blocks.extend(indented);
    md
}

/// A reStructuredText section adornment: a line of one repeated punctuation character.
fn adornment(line: &str) -> Option<char> {
    let t = line.trim_end();
    let c = t.chars().next()?;
    (t.chars().count() >= 3 && "=-~^*+#'\"`:._".contains(c) && t.chars().all(|x| x == c))
        .then_some(c)
}

/// reStructuredText: section titles (underlined, optionally overlined; levels in order of
/// first use), literal blocks (`::` paragraphs and `code-block` directives) as code, other
/// directives and comments skipped, the rest prose.
pub fn parse_rst(source: &str) -> Markdown {
    let mut md = Markdown::default();
    let lines: Vec<&str> = source.lines().collect();
    let mut styles: Vec<(char, bool)> = Vec::new();
    let mut seen_h2 = false;
    let mut i = 0;
    // Some(body): inside a literal block (indented lines after `::` or a code directive).
    let mut literal: Option<String> = None;
    let mut skipping_directive = false;
    let mut expect_literal = false;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        let is_indented = line.starts_with(' ') || line.starts_with('\t');
        if let Some(body) = literal.as_mut() {
            if trimmed.is_empty() || is_indented {
                body.push_str(trimmed);
                body.push('\n');
                i += 1;
                continue;
            }
            if let Some(body) = literal.take() {
                md.code_blocks.push(CodeBlock {
                    info: String::new(),
                    body,
                });
            }
        }
        if skipping_directive {
            if trimmed.is_empty() || is_indented {
                i += 1;
                continue;
            }
            skipping_directive = false;
        }
        if expect_literal && is_indented && !trimmed.is_empty() {
            expect_literal = false;
            literal = Some(String::new());
            continue;
        }
        if !trimmed.is_empty() {
            expect_literal = false;
        }
        if let Some(rest) = trimmed.strip_prefix("..") {
            let rest = rest.trim();
            if rest.starts_with("code-block::")
                || rest.starts_with("code::")
                || rest.starts_with("sourcecode::")
            {
                expect_literal = true;
            } else {
                skipping_directive = true;
            }
            i += 1;
            continue;
        }
        // Overlined title: adornment, text, same adornment.
        if let Some(c) = adornment(line)
            && i + 2 < lines.len()
            && !lines[i + 1].trim().is_empty()
            && adornment(lines[i + 2]) == Some(c)
        {
            push_rst_heading(
                &mut md,
                &mut styles,
                (c, true),
                lines[i + 1].trim(),
                &mut seen_h2,
            );
            i += 3;
            continue;
        }
        if !trimmed.is_empty()
            && !is_indented
            && adornment(line).is_none()
            && let Some(next) = lines.get(i + 1)
            && let Some(c) = adornment(next)
            && next.trim_end().chars().count() >= trimmed.chars().count().min(3)
        {
            push_rst_heading(&mut md, &mut styles, (c, false), trimmed, &mut seen_h2);
            i += 2;
            continue;
        }
        if trimmed.ends_with("::") {
            expect_literal = true;
        }
        if !seen_h2 && !trimmed.is_empty() {
            md.intro.push_str(trimmed.trim_end_matches(':'));
            md.intro.push(' ');
        }
        md.prose_lines.push(line.to_string());
        i += 1;
    }
    if let Some(body) = literal {
        md.code_blocks.push(CodeBlock {
            info: String::new(),
            body,
        });
    }
    md
}

fn push_rst_heading(
    md: &mut Markdown,
    styles: &mut Vec<(char, bool)>,
    style: (char, bool),
    text: &str,
    seen_h2: &mut bool,
) {
    let level = match styles.iter().position(|s| *s == style) {
        Some(p) => p + 1,
        None => {
            styles.push(style);
            styles.len()
        }
    };
    if level == 2 {
        *seen_h2 = true;
    }
    md.headings.push(Heading {
        level,
        text: text.to_string(),
    });
}

/// Words (letters/digits runs) in a text.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-' || c == '_'))
        .filter(|w| w.chars().any(char::is_alphabetic))
        .map(|w| w.to_lowercase())
        .collect()
}

/// Placeholder markers found in prose (case-insensitive), each named once.
pub fn placeholders(text: &str) -> Vec<&'static str> {
    let lower = text.to_lowercase();
    let mut found = Vec::new();
    let word_markers = ["todo", "tbd", "fixme", "xxx"];
    let all_words = words(&lower);
    for marker in word_markers {
        if all_words.iter().any(|w| w == marker) {
            found.push(marker);
        }
    }
    for phrase in [
        "lorem ipsum",
        "coming soon",
        "add description here",
        "description goes here",
        "write something here",
        "fill this in",
        "to be written",
        "insert description",
        "your description here",
        "placeholder",
    ] {
        if lower.contains(phrase) {
            found.push(phrase);
        }
    }
    found
}

/// Share of substantial prose lines that repeat an earlier line (0..=1).
pub fn repeated_line_ratio(lines: &[String]) -> f64 {
    let substantial: Vec<String> = lines
        .iter()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| l.len() >= 20 && !l.starts_with('|'))
        .collect();
    if substantial.len() < 4 {
        return 0.0;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut repeats = 0;
    for line in &substantial {
        let count = seen.entry(line.as_str()).or_insert(0);
        if *count > 0 {
            repeats += 1;
        }
        *count += 1;
    }
    repeats as f64 / substantial.len() as f64
}

/// Distinct words / words, over prose of at least 150 words (1.0 for shorter text).
pub fn lexical_diversity(words: &[String]) -> f64 {
    if words.len() < 150 {
        return 1.0;
    }
    let distinct: std::collections::HashSet<&String> = words.iter().collect();
    distinct.len() as f64 / words.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_split_into_headings_code_and_prose() {
        let md = parse(
            "# Title\n\nIntro text here.\n\n## Usage\n\n```bash\ncurl x\n# not a heading\n```\n\nMore.\n",
        );
        assert_eq!(md.headings.len(), 2);
        assert_eq!(md.headings[0].level, 1);
        assert_eq!(md.headings[1].text, "Usage");
        assert_eq!(md.code_blocks.len(), 1);
        assert_eq!(md.code_blocks[0].info, "bash");
        assert!(md.code_blocks[0].body.contains("# not a heading"));
        assert!(md.intro.contains("Intro text"));
        assert!(!md.intro.contains("More"));
    }

    #[test]
    fn indented_markdown_blocks_and_rst_are_read() {
        let md = parse("# T\n\nRun:\n\n    cookiecutter gh:a/b\n\nDone.\n");
        assert_eq!(
            md.indented_blocks,
            vec!["cookiecutter gh:a/b\n\n".to_string()]
        );
        let rst = parse_rst(
            "======\nTitle\n======\n\nIntro words here.\n\n.. image:: badge.svg\n    :target: x\n\nUsage\n-----\n\nRun this::\n\n    cookiecutter gh:a/b\n\nThen:\n\n.. code-block:: bash\n\n    make test\n\nFeatures\n--------\n\n* one\n",
        );
        let heads: Vec<(usize, &str)> = rst
            .headings
            .iter()
            .map(|h| (h.level, h.text.as_str()))
            .collect();
        assert_eq!(heads, vec![(1, "Title"), (2, "Usage"), (2, "Features")]);
        assert_eq!(rst.code_blocks.len(), 2);
        assert!(rst.code_blocks[0].body.contains("cookiecutter gh:a/b"));
        assert!(rst.code_blocks[1].body.contains("make test"));
        assert!(rst.intro.contains("Intro words"));
        assert!(!rst.prose_lines.iter().any(|l| l.contains("badge")));
    }

    #[test]
    fn readme_parsers_never_panic() {
        const TOKENS: [&str; 16] = [
            "=====",
            "-----",
            "~~~",
            "```",
            "::",
            ".. ",
            "code-block:: bash",
            "\n",
            "\n\n",
            "    ",
            "\t",
            "# ",
            "Title",
            "é",
            "|",
            "*",
        ];
        let mut soup = crate::render::soup::Soup::new(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3_000 {
            let text = soup.text(&TOKENS, 40);
            let md = parse(&text);
            let rst = parse_rst(&text);
            assert!(md.headings.iter().all(|h| (1..=6).contains(&h.level)));
            assert!(rst.headings.iter().all(|h| h.level >= 1));
        }
    }

    #[test]
    fn placeholders_are_found_as_words_and_phrases() {
        assert_eq!(placeholders("TODO: write docs"), vec!["todo"]);
        assert!(placeholders("Lorem ipsum dolor").contains(&"lorem ipsum"));
        assert!(placeholders("a todolist app").is_empty());
    }

    #[test]
    fn repetition_and_diversity_are_measured() {
        let lines: Vec<String> = (0..10)
            .map(|_| "This template is great and very useful.".to_string())
            .collect();
        assert!(repeated_line_ratio(&lines) > 0.8);
        let padded = words(&"great template ".repeat(100));
        assert!(lexical_diversity(&padded) < 0.1);
    }
}

//! Just enough Markdown reading for the checks: headings, fenced code blocks and prose.

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

#[derive(Debug, Default)]
pub struct Markdown {
    pub headings: Vec<Heading>,
    pub code_blocks: Vec<CodeBlock>,
    /// Lines outside code blocks that are not headings.
    pub prose_lines: Vec<String>,
    /// Prose before the first level-2 heading (the overview).
    pub intro: String,
}

pub fn parse(source: &str) -> Markdown {
    let mut md = Markdown::default();
    let mut fence: Option<(String, CodeBlock)> = None;
    let mut seen_h2 = false;
    for line in source.lines() {
        let trimmed = line.trim_start();
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
    md
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

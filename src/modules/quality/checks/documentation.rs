//! Documentation (30 %): a README (Markdown or reStructuredText) that a newcomer can act on — a
//! title, an overview, how to use the template, what each parameter means (in the README, in
//! cookiecutter's `__prompts__` or in the `docs/` folder), what it generates, in real prose.
//! Placeholders and padding count against it.

use super::text::{self, Markdown};
use super::{CheckResult, Facts, Scorer};

pub const WEIGHT: f64 = 30.0;
const MIN_WORDS: usize = 200;

fn has_heading(md: &Markdown, keywords: &[&str]) -> bool {
    md.headings.iter().any(|h| {
        let lower = h.text.to_lowercase();
        h.level >= 2 && keywords.iter().any(|k| lower.contains(k))
    })
}

pub fn check(facts: &Facts<'_>) -> CheckResult {
    let mut s = Scorer::new(WEIGHT);
    let Some(md) = &facts.readme_doc else {
        s.criterion(WEIGHT, 0.0);
        s.see("no README.md at the template root");
        s.recommend("Add a README.md at the template root: a `# Title`, an overview of what the template generates and when to use it, a `## Usage` section showing how to instantiate it, a `## Parameters` section describing every parameter, and a section on what you get.");
        s.fail();
        return s.finish();
    };
    let prose = md.prose_lines.join("\n");
    let words = text::words(&prose);

    let title = md
        .headings
        .first()
        .is_some_and(|h| h.level == 1 && !h.text.is_empty());
    s.criterion(3.0, if title { 1.0 } else { 0.0 });
    if title {
        s.see(format!("title: {}", md.headings[0].text));
    } else {
        s.recommend("Start the README with a level-1 title (`# My template`).");
    }

    let intro_words = text::words(&md.intro).len();
    s.criterion(4.0, (intro_words as f64 / 25.0).min(1.0));
    if intro_words < 25 {
        s.recommend("Open with a paragraph (25+ words) saying what the template generates and when to use it.");
    }

    let usage = has_heading(
        md,
        &[
            "usage",
            "getting started",
            "quick start",
            "quickstart",
            "how to use",
        ],
    );
    s.criterion(6.0, if usage { 1.0 } else { 0.0 });
    if usage {
        s.see("has a usage section");
    } else {
        s.recommend(
            "Add a `## Usage` section showing how to instantiate the template and use the result.",
        );
    }

    let params_section = has_heading(
        md,
        &[
            "parameter",
            "variables",
            "options",
            "inputs",
            "configuration",
        ],
    );
    let places: Vec<Option<&str>> = facts
        .parameters
        .iter()
        .map(|p| facts.documented_in(p))
        .collect();
    let documented = places.iter().filter(|p| p.is_some()).count();
    let missing: Vec<&String> = facts
        .parameters
        .iter()
        .zip(&places)
        .filter(|(_, place)| place.is_none())
        .map(|(p, _)| p)
        .collect();
    let coverage = if facts.parameters.is_empty() {
        1.0
    } else {
        documented as f64 / facts.parameters.len() as f64
    };
    // Explained on purpose (a parameters section, `__prompts__`, the docs folder), not only
    // mentioned in passing.
    let deliberate = params_section
        || places
            .iter()
            .any(|p| matches!(p, Some("prompts") | Some("docs")));
    s.criterion(
        6.0,
        if deliberate || facts.parameters.is_empty() {
            coverage
        } else {
            coverage * 0.5
        },
    );
    let count = |place: &str| places.iter().filter(|p| **p == Some(place)).count();
    s.see(format!(
        "{documented} of {} parameters documented ({} in the README, {} in __prompts__, {} in docs/)",
        facts.parameters.len(),
        count("readme"),
        count("prompts"),
        count("docs")
    ));
    if !deliberate && !facts.parameters.is_empty() {
        s.recommend("Add a `## Parameters` section (a table of name, type, default and meaning), or explain the variables in cookiecutter's `__prompts__` or in `docs/`.");
    }
    if !missing.is_empty() {
        s.recommend(format!(
            "Document these parameters (in the README, `__prompts__` or `docs/`): {}.",
            missing
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    let output = has_heading(
        md,
        &[
            "what you get",
            "output",
            "generated",
            "structure",
            "layout",
            "contents",
            "what it creates",
            "files",
        ],
    );
    s.criterion(3.0, if output { 1.0 } else { 0.0 });
    if !output {
        s.recommend("Describe what the template generates (e.g. a `## What you get` section with the file tree).");
    }

    s.criterion(8.0, (words.len() as f64 / MIN_WORDS as f64).min(1.0));
    s.see(format!(
        "{} words of prose outside code blocks",
        words.len()
    ));
    if words.len() < MIN_WORDS {
        s.recommend(format!(
            "The README has {} words of prose; explain the template in at least {MIN_WORDS} (design choices, prerequisites, how to extend the result).",
            words.len()
        ));
    }

    // What makes a README look complete without being so.
    let markers = text::placeholders(&prose);
    if !markers.is_empty() {
        s.penalty(12.0);
        s.see(format!("placeholder text: {}", markers.join(", ")));
        s.recommend(format!(
            "Replace placeholder text ({}) with real content.",
            markers.join(", ")
        ));
    }
    let repeated = text::repeated_line_ratio(&md.prose_lines);
    if repeated > 0.2 {
        s.penalty(12.0);
        s.see(format!(
            "{:.0}% of prose lines repeat earlier lines",
            repeated * 100.0
        ));
        s.recommend("Remove repeated paragraphs; say each thing once.");
    }
    let diversity = text::lexical_diversity(&words);
    if diversity < 0.25 {
        s.penalty(10.0);
        s.see(format!(
            "low vocabulary variety ({:.0}% distinct words)",
            diversity * 100.0
        ));
        s.recommend(
            "The README reads as padding; write specific explanations instead of repeated phrases.",
        );
    }
    if !markers.is_empty() || repeated > 0.2 || diversity < 0.25 {
        s.fail();
    }
    s.finish()
}

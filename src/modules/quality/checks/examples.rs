//! Examples (20 %): an example of instantiating the template — an `examples/` folder whose
//! parameter files fit the template, or a README code block showing the `cookiecutter` or Maestro
//! invocation (what public templates do) — and README code blocks showing how to instantiate the
//! template and how to use what it generates.

use serde_json::Value;

use super::{CheckResult, Facts, Scorer};

pub const WEIGHT: f64 = 20.0;

fn looks_like_instantiation(body: &str) -> bool {
    let lower = body.to_lowercase();
    lower.contains("instantiate")
        || lower.contains("cookiecutter ")
        || lower.contains("maestro ")
        || lower.contains("cruft create")
}

pub fn check(facts: &Facts<'_>) -> CheckResult {
    let mut s = Scorer::new(WEIGHT);
    let (blocks, indented) = facts
        .readme_doc
        .as_ref()
        .map(|md| (md.code_blocks.clone(), md.indented_blocks.clone()))
        .unwrap_or_default();
    let instantiation = blocks.iter().any(|b| looks_like_instantiation(&b.body))
        || indented.iter().any(|b| looks_like_instantiation(b));
    let examples: Vec<_> = facts
        .files
        .iter()
        .filter(|f| {
            f.path.starts_with("examples/") && !f.content.iter().all(u8::is_ascii_whitespace)
        })
        .collect();
    if examples.is_empty() && instantiation {
        // The README's invocation is the example (how public cookiecutter templates show it).
        s.criterion(10.0, 1.0);
        s.see("the README shows the instantiation command; it serves as the example");
    } else {
        examples_folder(facts, &examples, &mut s);
    }

    let usage = blocks
        .iter()
        .filter(|b| !looks_like_instantiation(&b.body) && !b.body.trim().is_empty())
        .count();
    s.criterion(5.0, if instantiation { 1.0 } else { 0.0 });
    s.criterion(5.0, if usage > 0 { 1.0 } else { 0.0 });
    s.see(format!("{} code block(s) in the README", blocks.len()));
    if !instantiation {
        s.recommend("Show in the README how to instantiate the template (a code block with the `POST /api/v1/templates/{id}/instantiate` call or the cookiecutter command).");
    }
    if usage == 0 {
        s.recommend("Show in the README how to use the generated result (build, run or test commands in a code block).");
    }
    s.finish()
}

/// The `examples/` folder: content (8) and parameter files that fit the template (2).
fn examples_folder(facts: &Facts<'_>, examples: &[&super::InputFile], s: &mut Scorer) {
    s.criterion(8.0, if examples.is_empty() { 0.0 } else { 1.0 });
    if examples.is_empty() {
        s.recommend("Add an `examples/` folder with at least one parameters file (e.g. `examples/basic.json`) and a short `examples/README.md` saying what it produces, or show the instantiation command in a README code block.");
    } else {
        s.see(format!("{} file(s) in examples/", examples.len()));
    }

    // Parameter files must name real parameters; a stale example misleads users.
    let mut param_files = 0;
    let mut unknown = Vec::new();
    for file in examples {
        let parsed: Option<Value> = if file.path.ends_with(".json") {
            serde_json::from_slice(&file.content).ok()
        } else if file.path.ends_with(".yaml") || file.path.ends_with(".yml") {
            yaml_serde::from_slice(&file.content).ok()
        } else {
            continue;
        };
        let Some(Value::Object(map)) = parsed else {
            continue;
        };
        let params = map
            .get("parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or(map);
        param_files += 1;
        for key in params.keys() {
            if !facts.parameters.is_empty() && !facts.parameters.contains(key) {
                unknown.push(format!("{}: {key}", file.path));
            }
        }
    }
    let fits = if param_files == 0 {
        0.0
    } else if unknown.is_empty() {
        1.0
    } else {
        0.3
    };
    s.criterion(2.0, fits);
    if param_files == 0 && !examples.is_empty() {
        s.recommend("Add a parameters file (JSON or YAML) to examples/ that can be passed to instantiate as-is.");
    }
    if !unknown.is_empty() {
        s.see(format!(
            "example parameters the template does not have: {}",
            unknown.join(", ")
        ));
        s.recommend(format!(
            "Fix example parameter files that use unknown parameters ({}).",
            unknown.join(", ")
        ));
    }
}

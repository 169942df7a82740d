//! Metadata (20 %): a complete manifest — name, semantic version, description, a known category,
//! author, tags, and parameters that each carry a type, a default and help text.

use serde_json::Value;

use super::{CATEGORIES, CheckResult, Facts, Scorer};

pub const WEIGHT: f64 = 20.0;
const TYPES: &[&str] = &["string", "integer", "number", "boolean", "choice", "list"];

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

fn is_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 100
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && v.as_bytes()[0].is_ascii_alphanumeric()
}

fn text_field<'a>(manifest: &'a Value, key: &str) -> Option<&'a str> {
    manifest
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub fn check(facts: &Facts<'_>) -> CheckResult {
    let mut s = Scorer::new(WEIGHT);
    let manifest = match &facts.manifest {
        None => {
            s.criterion(WEIGHT, 0.0);
            s.see("no manifest.yaml");
            s.recommend("Add a manifest.yaml with name, version, description, category, author, tags and dependencies (and parameters unless the template is cookiecutter-format).");
            s.fail();
            return s.finish();
        }
        Some(Err(e)) => {
            s.criterion(WEIGHT, 0.0);
            s.see(format!("manifest.yaml does not parse: {e}"));
            s.recommend("Fix the YAML syntax of manifest.yaml.");
            s.fail();
            return s.finish();
        }
        Some(Ok(m)) => m,
    };

    let name = text_field(manifest, "name");
    s.criterion(2.0, if name.is_some_and(is_name) { 1.0 } else { 0.0 });
    match name {
        Some(n) if is_name(n) => s.see(format!("name: {n}")),
        Some(n) => s.recommend(format!(
            "Use a name of lowercase letters, digits, '-' and '_' (not `{n}`)."
        )),
        None => s.recommend("Set `name` in the manifest."),
    }

    let version = manifest.get("version").map(|v| match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    });
    let semver = version.as_deref().is_some_and(is_semver);
    s.criterion(3.0, if semver { 1.0 } else { 0.0 });
    match &version {
        Some(v) if semver => s.see(format!("version: {v}")),
        Some(v) => s.recommend(format!("Use a semantic version such as 1.0.0 (not `{v}`).")),
        None => s.recommend("Set `version` (semantic version, e.g. 1.0.0)."),
    }

    let description = text_field(manifest, "description");
    let description_ok = description
        .is_some_and(|d| d.chars().count() >= 20 && super::text::placeholders(d).is_empty());
    s.criterion(3.0, if description_ok { 1.0 } else { 0.0 });
    if !description_ok {
        s.recommend(
            "Write a `description` of at least 20 characters saying what the template generates.",
        );
    }

    let category = text_field(manifest, "category");
    let known = category.is_some_and(|c| CATEGORIES.contains(&c));
    s.criterion(3.0, if known { 1.0 } else { 0.0 });
    match category {
        Some(c) if known => s.see(format!("category: {c}")),
        Some(c) => s.recommend(format!(
            "`{c}` is not a known category; use one of: {}.",
            CATEGORIES.join(", ")
        )),
        None => s.recommend(format!(
            "Set `category` to one of: {}.",
            CATEGORIES.join(", ")
        )),
    }

    let author = text_field(manifest, "author").is_some();
    s.criterion(2.0, if author { 1.0 } else { 0.0 });
    if !author {
        s.recommend("Set `author` (a person or team to contact).");
    }

    let tags: Vec<&str> = manifest
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    s.criterion(2.0, (tags.len() as f64 / 2.0).min(1.0));
    s.see(format!("{} tag(s)", tags.len()));
    if tags.len() < 2 {
        s.recommend("Add at least two `tags` so people can find the template by search.");
    }

    let parameters = parameter_quality(facts, manifest, &mut s);
    s.criterion(5.0, parameters);
    s.finish()
}

/// Share (0..=1) of parameters that are fully described.
fn parameter_quality(facts: &Facts<'_>, manifest: &Value, s: &mut Scorer) -> f64 {
    if let Some(cookiecutter) = &facts.cookiecutter {
        if cookiecutter.is_err() {
            s.see("cookiecutter.json does not parse");
            s.recommend("Fix the JSON syntax of cookiecutter.json.");
            return 0.0;
        }
        // Cookiecutter infers types from defaults; help comes from `__prompts__`, the README or
        // the docs folder.
        let described = facts
            .parameters
            .iter()
            .filter(|p| facts.documented_in(p).is_some())
            .count();
        s.see(format!(
            "{} cookiecutter parameters, {described} with help",
            facts.parameters.len()
        ));
        if described < facts.parameters.len() {
            s.recommend("Describe every cookiecutter variable (in `__prompts__`, the README's parameters section or `docs/`).");
        }
        return if facts.parameters.is_empty() {
            1.0
        } else {
            described as f64 / facts.parameters.len() as f64
        };
    }
    let Some(params) = manifest.get("parameters") else {
        s.see("no parameters declared");
        return 1.0;
    };
    let Some(params) = params.as_array() else {
        s.recommend("`parameters` must be a list of {name, type, default, help}.");
        return 0.0;
    };
    if params.is_empty() {
        return 1.0;
    }
    let mut complete = 0;
    let mut problems = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        let label = if name.is_empty() {
            format!("parameters[{i}]")
        } else {
            name.to_string()
        };
        let mut missing = Vec::new();
        if name.is_empty() {
            missing.push("name");
        }
        let ty = p.get("type").and_then(Value::as_str);
        if !ty.is_some_and(|t| TYPES.contains(&t)) {
            missing.push("type");
        }
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        if p.get("default").is_none_or(Value::is_null) && !required {
            missing.push("default");
        }
        if p.get("help")
            .and_then(Value::as_str)
            .is_none_or(|h| h.trim().chars().count() < 10)
        {
            missing.push("help");
        }
        if ty == Some("choice")
            && p.get("choices")
                .and_then(Value::as_array)
                .is_none_or(|c| c.is_empty())
        {
            missing.push("choices");
        }
        if missing.is_empty() {
            complete += 1;
        } else {
            problems.push(format!("{label} lacks {}", missing.join(", ")));
        }
    }
    s.see(format!(
        "{complete} of {} parameters fully described",
        params.len()
    ));
    if !problems.is_empty() {
        s.recommend(format!("Complete the parameters: {}.", problems.join("; ")));
    }
    complete as f64 / params.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_and_names() {
        assert!(is_semver("1.2.3"));
        assert!(is_semver("1.0.0-rc.1"));
        assert!(!is_semver("1.2"));
        assert!(!is_semver("01.2.3"));
        assert!(is_name("fastapi-service"));
        assert!(!is_name("FastAPI"));
    }
}

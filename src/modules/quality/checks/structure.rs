//! Structure (15 %): the files the manifest names exist, templated paths render with the default
//! parameters, no stray files, no absolute or escaping paths.

use serde_json::Value;

use super::{CheckResult, Facts, PathRenderer, Scorer};

pub const WEIGHT: f64 = 15.0;

/// Editor, OS and build leftovers that should never ship in a template. In a cookiecutter
/// project folder (`project`), editor settings (`.idea/`, `.vscode/`) are deliberate output
/// (templates offer them as an option), not leftovers.
fn is_stray(path: &str, project: bool) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let editor = |s: &str| matches!(s, ".idea" | ".vscode");
    name == ".DS_Store"
        || name == "Thumbs.db"
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swo")
        || name.ends_with(".pyc")
        || name.ends_with(".orig")
        || name.ends_with(".rej")
        || name.ends_with(".bak")
        || segments.iter().any(|s| {
            matches!(
                *s,
                "node_modules"
                    | "__pycache__"
                    | ".pytest_cache"
                    | ".mypy_cache"
                    | "target"
                    | ".venv"
            ) || (editor(s) && !project)
        })
}

fn is_unsafe(path: &str) -> Option<&'static str> {
    if path.starts_with('/') || path.get(1..3) == Some(":\\") || path.get(1..3) == Some(":/") {
        Some("absolute path")
    } else if path.split('/').any(|s| s == "..") {
        Some("escapes the template with `..`")
    } else if path.contains('\\') {
        Some("backslash in path")
    } else if path.chars().any(char::is_control) {
        Some("control character in path")
    } else {
        None
    }
}

pub fn check(facts: &Facts<'_>, render_paths: Option<PathRenderer<'_>>) -> CheckResult {
    let mut s = Scorer::new(WEIGHT);

    let unsafe_paths: Vec<String> = facts
        .files
        .iter()
        .filter_map(|f| is_unsafe(&f.path).map(|why| format!("{} ({why})", f.path)))
        .collect();
    s.criterion(4.0, if unsafe_paths.is_empty() { 1.0 } else { 0.0 });
    if !unsafe_paths.is_empty() {
        s.see(format!("unsafe paths: {}", unsafe_paths.join(", ")));
        s.recommend(
            "Remove absolute and `..` paths; every file must live inside the template folder.",
        );
        s.fail();
    }

    let stray: Vec<&str> = facts
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| {
            is_stray(
                p,
                facts.cookiecutter.is_some() && facts.in_project_folder(p),
            )
        })
        .collect();
    s.criterion(3.0, if stray.is_empty() { 1.0 } else { 0.0 });
    if !stray.is_empty() {
        s.see(format!("stray files: {}", stray.join(", ")));
        s.recommend(format!(
            "Delete files that do not belong in a template: {}.",
            stray.join(", ")
        ));
    }

    // Native templates name their output in `files`; every entry must exist.
    let listed: Vec<String> = facts
        .manifest()
        .and_then(|m| m.get("files"))
        .and_then(Value::as_array)
        .map(|files| {
            files
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if listed.is_empty() {
        s.criterion(4.0, 1.0);
    } else {
        let missing: Vec<&String> = listed
            .iter()
            .filter(|entry| {
                let entry = entry.trim_start_matches("./");
                if let Some(dir) = entry.strip_suffix('/') {
                    !facts
                        .files
                        .iter()
                        .any(|f| f.path.starts_with(&format!("{dir}/")))
                } else {
                    !facts.files.iter().any(|f| f.path == entry)
                }
            })
            .collect();
        s.criterion(4.0, 1.0 - missing.len() as f64 / listed.len() as f64);
        s.see(format!(
            "{} of {} listed files present",
            listed.len() - missing.len(),
            listed.len()
        ));
        if !missing.is_empty() {
            s.recommend(format!(
                "The manifest lists files that do not exist: {}. Add them or remove them from `files`.",
                missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
            ));
        }
    }

    match render_paths {
        Some(render) => match render() {
            Ok(paths) => {
                s.criterion(4.0, if paths.is_empty() { 0.0 } else { 1.0 });
                s.see(format!(
                    "renders {} output file(s) with the default parameters",
                    paths.len()
                ));
                if paths.is_empty() {
                    s.recommend("With its default parameters the template generates no files; check `files` and the path expressions.");
                }
            }
            Err(e) => {
                s.criterion(4.0, 0.0);
                s.see(format!("does not render with the default parameters: {e}"));
                s.recommend(format!(
                    "Fix the template so it renders with its default parameters: {e}"
                ));
                s.fail();
            }
        },
        None => s.see("output paths not rendered (no renderer available)"),
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_and_unsafe_paths_are_recognised() {
        assert!(is_stray("src/.DS_Store", false));
        assert!(is_stray("web/node_modules/x/index.js", false));
        assert!(is_stray("pkg/__pycache__/a.cpython-311.pyc", false));
        assert!(is_stray("main.py~", false));
        assert!(!is_stray("src/main.py", false));
        assert!(is_stray(".idea/misc.xml", false));
        assert!(!is_stray("{{cookiecutter.slug}}/.idea/misc.xml", true));
        assert!(is_stray("{{cookiecutter.slug}}/.DS_Store", true));
        assert!(is_unsafe("/etc/passwd").is_some());
        assert!(is_unsafe("a/../../b").is_some());
        assert!(is_unsafe("a/b..c/d").is_none());
    }
}

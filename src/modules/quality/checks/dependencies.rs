//! Dependencies (15 %): the generated project declares what it depends on in its own manifests
//! (requirements*.txt, pyproject.toml, setup.py/setup.cfg, Pipfile, Cargo.toml, package.json,
//! go.mod, Chart.yaml) — those count as declared; what `manifest.yaml` adds must be used by
//! them, and every dependency carries a version constraint. Files are read raw with their Jinja
//! tags removed, so dependencies behind `{% if … %}` count too. For cookiecutter templates only
//! the project folder counts (the repository's own tooling is not part of the output).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{CheckResult, Facts, Scorer};

pub const WEIGHT: f64 = 15.0;

/// name → has a version constraint.
type Found = BTreeMap<String, (String, bool)>;

/// Lowercase; `_` and `.` as `-` (PEP 503 style, applied to every ecosystem on both sides).
fn normalize(name: &str) -> String {
    name.trim().to_lowercase().replace(['_', '.'], "-")
}

static JINJA_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)\{%-?.*?-?%\}|\{#.*?#\}").expect("valid regex"));
static JINJA_EXPR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)\{\{.*?\}\}").expect("valid regex"));
static PEP508: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$").expect("valid regex")
});
static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""([^"]*)"|'([^']*)'"#).expect("valid regex"));
static TOML_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*"?([A-Za-z0-9][A-Za-z0-9._@/-]*)"?\s*=\s*(.+)$"#).expect("valid regex")
});
static INCLUDE_GROUP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\{\s*include-group\s*=\s*("[^"]*"|'[^']*')\s*\}"#).expect("valid regex")
});
static JSON_PAIR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""([^"]+)"\s*:\s*"([^"]*)""#).expect("valid regex"));

fn strip_jinja(raw: &str) -> String {
    let without_tags = JINJA_TAG.replace_all(raw, "");
    JINJA_EXPR.replace_all(&without_tags, "x").into_owned()
}

fn add(found: &mut Found, source: &str, name: &str, constrained: bool) {
    let key = normalize(name);
    if key.is_empty() || key == "python" || key == "x" {
        return;
    }
    let entry = found.entry(key).or_insert((source.to_string(), false));
    entry.1 |= constrained;
}

fn pep508(found: &mut Found, source: &str, spec: &str) {
    let spec = spec.split(';').next().unwrap_or("").trim();
    if let Some(c) = PEP508.captures(spec) {
        let rest = c.get(3).map_or("", |m| m.as_str());
        let constrained = rest.contains(['=', '<', '>', '~', '!', '@']);
        add(found, source, &c[1], constrained);
    }
}

fn requirements(found: &mut Found, path: &str, text: &str) {
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('-') || line.contains("://")
        {
            continue;
        }
        pep508(found, path, line);
    }
}

/// Cargo.toml and pyproject.toml: section-aware line scanning.
fn toml_like(found: &mut Found, path: &str, text: &str, cargo: bool) {
    let mut section = String::new();
    let mut in_array = false;
    for raw_line in text.lines() {
        let line = raw_line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if !in_array && line.starts_with('[') && line.ends_with(']') {
            section = line.trim_matches(['[', ']']).trim().to_string();
            // `[dependencies.serde]` table form names the dependency in the header.
            if cargo
                && let Some(name) = section
                    .strip_prefix("dependencies.")
                    .or_else(|| section.strip_prefix("dev-dependencies."))
                    .or_else(|| section.strip_prefix("build-dependencies."))
            {
                add(found, path, name, false);
            }
            continue;
        }
        if cargo {
            if section.rsplit('.').next() == Some("dependencies")
                || section.ends_with("-dependencies")
            {
                if let Some(c) = TOML_KEY.captures(line) {
                    let value = c[2].trim();
                    if value.contains("path") && !value.contains("version")
                        || value.contains("workspace")
                    {
                        continue;
                    }
                    let constrained =
                        value.starts_with('"') && value.len() > 2 || value.contains("version");
                    add(found, path, &c[1], constrained);
                }
            } else if let Some(name) = section
                .strip_prefix("dependencies.")
                .or_else(|| section.strip_prefix("dev-dependencies."))
                && line.starts_with("version")
            {
                add(found, path, name, true);
            }
            continue;
        }
        // pyproject: PEP 621 arrays and Poetry tables.
        let poetry = section.starts_with("tool.poetry") && section.ends_with("dependencies");
        let array_section = section == "project"
            || section == "project.optional-dependencies"
            || section == "dependency-groups";
        if poetry {
            if let Some(c) = TOML_KEY.captures(line) {
                let value = c[2].trim();
                let constrained =
                    (value.starts_with('"') && value != "\"*\"") || value.contains("version");
                add(found, path, &c[1], constrained);
            }
        } else if array_section {
            let starts = line.contains("= [") || line.contains("=[");
            if section == "project" && !in_array && !line.starts_with("dependencies") {
                continue;
            }
            if starts || in_array {
                let content = if starts {
                    line.split_once('[').map_or("", |x| x.1)
                } else {
                    line
                };
                // PEP 735 `{ include-group = "name" }` names a group, not a dependency.
                let content = INCLUDE_GROUP.replace_all(content, "");
                for c in QUOTED.captures_iter(&content) {
                    let spec = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                    pep508(found, path, spec);
                }
                in_array = !line.contains(']');
            }
        }
    }
}

/// setup.py: the strings in `install_requires=[…]`, `tests_require=[…]` and the lists of
/// `extras_require={…}`.
fn setup_py(found: &mut Found, path: &str, text: &str) {
    for key in [
        "install_requires",
        "tests_require",
        "extras_require",
        "setup_requires",
    ] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(key) {
            let start = from + pos + key.len();
            let rest = &text[start..];
            let Some(open) = rest.find(['[', '{']) else {
                break;
            };
            // Only `key = [` / `key=[` / `key: [` (not a mention in prose).
            if !rest[..open]
                .trim()
                .trim_start_matches(['=', ':'])
                .trim()
                .is_empty()
            {
                from = start;
                continue;
            }
            let close_char = if rest.as_bytes()[open] == b'[' {
                ']'
            } else {
                '}'
            };
            let mut depth = 0usize;
            let mut end = rest.len();
            for (i, c) in rest[open..].char_indices() {
                match c {
                    '[' | '{' => depth += 1,
                    ']' | '}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 && c == close_char {
                            end = open + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let block = &rest[open..end];
            for c in QUOTED.captures_iter(block) {
                let spec = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                // extras_require keys (`"dev": [...]`) are not requirements.
                let after = block[c.get(0).map_or(0, |m| m.end())..].trim_start();
                if key == "extras_require" && after.starts_with(':') {
                    continue;
                }
                pep508(found, path, spec);
            }
            from = start + end;
        }
    }
}

/// setup.cfg: `install_requires` / `tests_require` under `[options]` and every entry of
/// `[options.extras_require]`, one requirement per (continuation) line.
fn setup_cfg(found: &mut Found, path: &str, text: &str) {
    let mut section = String::new();
    let mut collecting = false;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim_end();
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            section = trimmed.trim_matches(['[', ']']).trim().to_string();
            collecting = false;
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        let continuation = raw.starts_with(' ') || raw.starts_with('\t');
        if !continuation {
            collecting = false;
            if let Some((key, value)) = trimmed.split_once('=') {
                let key = key.trim();
                let wanted = (section == "options"
                    && matches!(key, "install_requires" | "tests_require" | "setup_requires"))
                    || section == "options.extras_require";
                if wanted {
                    collecting = true;
                    if !value.trim().is_empty() {
                        pep508(found, path, value.trim());
                    }
                }
            }
        } else if collecting {
            pep508(found, path, trimmed);
        }
    }
}

/// Pipfile: the keys of `[packages]` and `[dev-packages]`.
fn pipfile(found: &mut Found, path: &str, text: &str) {
    let mut section = String::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') && line.ends_with(']') {
            section = line.trim_matches(['[', ']']).trim().to_string();
            continue;
        }
        if section != "packages" && section != "dev-packages" {
            continue;
        }
        if let Some(c) = TOML_KEY.captures(line) {
            let value = c[2].trim();
            let constrained = value != "\"*\"" && value != "'*'";
            add(found, path, &c[1], constrained);
        }
    }
}

fn package_json(found: &mut Found, path: &str, text: &str) {
    for key in [
        "\"dependencies\"",
        "\"devDependencies\"",
        "\"peerDependencies\"",
        "\"optionalDependencies\"",
    ] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(key) {
            let start = from + pos + key.len();
            let Some(open) = text[start..].find('{') else {
                break;
            };
            let open = start + open;
            let Some(close) = text[open..].find('}') else {
                break;
            };
            let block = &text[open..open + close];
            for c in JSON_PAIR.captures_iter(block) {
                let version = c[2].trim();
                let constrained =
                    !version.is_empty() && version != "*" && version != "latest" && version != "x";
                add(found, path, &c[1], constrained);
            }
            from = open + close;
        }
    }
}

fn go_mod(found: &mut Found, path: &str, text: &str) {
    let mut in_block = false;
    for line in text.lines() {
        let line = line.trim();
        if line.contains("// indirect") {
            continue;
        }
        let spec = if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim();
            if rest.starts_with('(') {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let mut parts = spec.split_whitespace();
        if let (Some(module), version) = (parts.next(), parts.next()) {
            add(
                found,
                path,
                module,
                version.is_some_and(|v| v.starts_with('v')),
            );
        }
    }
}

fn chart_yaml(found: &mut Found, path: &str, text: &str) {
    let Ok(doc) = yaml_serde::from_str::<Value>(text) else {
        return;
    };
    for dep in doc
        .get("dependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = dep.get("name").and_then(Value::as_str) {
            let constrained = dep
                .get("version")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.trim().is_empty() && v != "*");
            add(found, path, name, constrained);
        }
    }
}

/// Reads the dependencies the file at `path` declares into `found`; `false` when its name is
/// none of the formats above.
fn scan_file(found: &mut Found, path: &str, text: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let in_requirements_dir = path
        .rsplit('/')
        .nth(1)
        .is_some_and(|dir| dir == "requirements");
    match name {
        n if n.ends_with(".txt") && (n.starts_with("requirements") || in_requirements_dir) => {
            requirements(found, path, text)
        }
        "pyproject.toml" => toml_like(found, path, text, false),
        "setup.py" => setup_py(found, path, text),
        "setup.cfg" => setup_cfg(found, path, text),
        "Pipfile" => pipfile(found, path, text),
        "Cargo.toml" => toml_like(found, path, text, true),
        "package.json" => package_json(found, path, text),
        "go.mod" => go_mod(found, path, text),
        "Chart.yaml" => chart_yaml(found, path, text),
        _ => return false,
    }
    true
}

/// Dependencies the template's files declare.
fn from_files(facts: &Facts<'_>) -> (Found, Vec<String>) {
    let mut found = Found::new();
    let mut sources = Vec::new();
    let cookiecutter = facts.cookiecutter.is_some();
    for file in facts.files {
        if file.path.starts_with("examples/")
            || (cookiecutter && !facts.in_project_folder(&file.path))
        {
            continue;
        }
        let Ok(raw) = std::str::from_utf8(&file.content) else {
            continue;
        };
        if scan_file(&mut found, &file.path, &strip_jinja(raw)) {
            sources.push(file.path.clone());
        }
    }
    (found, sources)
}

/// Dependencies the manifest declares: a list of `{name: constraint}` maps, a map, or
/// requirement strings.
fn from_manifest(manifest: &Value) -> BTreeMap<String, (String, bool)> {
    let mut declared = BTreeMap::new();
    let mut put = |name: &str, constraint: &str| {
        let c = constraint.trim();
        declared.insert(
            normalize(name),
            (name.to_string(), !c.is_empty() && c != "*" && c != "latest"),
        );
    };
    match manifest.get("dependencies") {
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::Object(map) => {
                        for (k, v) in map {
                            put(k, &value_text(v));
                        }
                    }
                    Value::String(spec) => {
                        if let Some(c) = PEP508.captures(spec) {
                            put(&c[1], c.get(3).map_or("", |m| m.as_str()));
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(Value::Object(map)) => {
            for (k, v) in map {
                put(k, &value_text(v));
            }
        }
        _ => {}
    }
    declared
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn list(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(12).map(|n| format!("`{n}`")).collect();
    if names.len() > 12 {
        format!("{} and {} more", shown.join(", "), names.len() - 12)
    } else {
        shown.join(", ")
    }
}

/// One criterion over a list of `total` names: `points` for the share that is not `missing` (all
/// of them when the list is empty). The missing names go into the evidence (after `seen`, when
/// given) and into a recommendation (after `advice`).
fn share(
    s: &mut Scorer,
    points: f64,
    total: usize,
    missing: &[String],
    seen: Option<&str>,
    advice: &str,
) {
    let fraction = if total == 0 {
        1.0
    } else {
        1.0 - missing.len() as f64 / total as f64
    };
    s.criterion(points, fraction);
    if missing.is_empty() {
        return;
    }
    let names = list(missing);
    if let Some(seen) = seen {
        s.see(format!("{seen}: {names}"));
    }
    s.recommend(format!("{advice}: {names}."));
}

pub fn check(facts: &Facts<'_>) -> CheckResult {
    let mut s = Scorer::new(WEIGHT);
    let (used, sources) = from_files(facts);
    let declared = facts.manifest().map(from_manifest).unwrap_or_default();
    if used.is_empty() && declared.is_empty() {
        s.criterion(WEIGHT, 1.0);
        s.see("the template generates no dependency manifest and declares no dependencies");
        return s.finish();
    }
    if !sources.is_empty() {
        s.see(format!(
            "{} dependencies declared in {}",
            used.len(),
            sources.join(", ")
        ));
    }
    s.see(format!("{} dependencies in the manifest", declared.len()));

    // What the generated project's own manifests list is declared: nothing to repeat in
    // manifest.yaml. Without such files the manifest is the only declaration.
    s.criterion(6.0, 1.0);
    if !used.is_empty() {
        s.see("the generated project declares its dependencies in its own manifests");
    }
    let unused: Vec<String> = declared
        .iter()
        .filter(|(k, _)| !used.contains_key(*k))
        .map(|(_, (name, _))| name.clone())
        .collect();
    share(
        &mut s,
        4.0,
        declared.len(),
        &unused,
        Some("in the manifest but used by no file"),
        "Remove dependencies the generated files do not use, or add them where they belong",
    );
    let unconstrained_manifest: Vec<String> = declared
        .values()
        .filter(|(_, c)| !c)
        .map(|(name, _)| name.clone())
        .collect();
    share(
        &mut s,
        3.0,
        declared.len(),
        &unconstrained_manifest,
        None,
        "Give these manifest dependencies a version constraint",
    );
    let unconstrained_files: Vec<String> = used
        .iter()
        .filter(|(_, (_, c))| !c)
        .map(|(k, _)| k.clone())
        .collect();
    share(
        &mut s,
        2.0,
        used.len(),
        &unconstrained_files,
        Some("unpinned in the files"),
        "Pin versions in the generated dependency files for",
    );
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found_in(path: &str, text: &str) -> Found {
        let mut f = Found::new();
        assert!(scan_file(&mut f, path, &strip_jinja(text)), "{path}");
        f
    }

    fn names(f: &Found) -> Vec<&String> {
        f.keys().collect()
    }

    #[test]
    fn requirements_and_pyproject() {
        let f = found_in(
            "requirements.txt",
            "fastapi>=0.115,<1\nuvicorn[standard]==0.30.1 # server\nhttpx\n-r dev.txt\n{% if db %}SQLAlchemy_Utils~=0.41{% endif %}\n",
        );
        assert_eq!(f.len(), 4);
        assert!(f["fastapi"].1);
        assert!(f["uvicorn"].1);
        assert!(!f["httpx"].1);
        assert!(f["sqlalchemy-utils"].1);

        let f = found_in(
            "pyproject.toml",
            "[project]\nname = \"{{ project_name }}\"\ndependencies = [\n  \"fastapi>=0.115\",\n  'pydantic-settings>=2.4',\n]\n\n[project.optional-dependencies]\ndev = [\"pytest>=8\", \"ruff\"]\n\n[tool.poetry.dependencies]\npython = \"^3.11\"\nrich = \"^13\"\n",
        );
        assert_eq!(
            names(&f),
            vec!["fastapi", "pydantic-settings", "pytest", "rich", "ruff"]
        );

        assert!(!f["ruff"].1);
    }

    #[test]
    fn dependency_groups_include_groups_are_not_dependencies() {
        let f = found_in(
            "pyproject.toml",
            "[dependency-groups]\ndev = [\n    { include-group = \"lint\" },\n    \"pytest>=8\",\n]\nlint = [\"ruff>=0.6\"]\n",
        );
        assert_eq!(names(&f), vec!["pytest", "ruff"]);
    }

    #[test]
    fn cargo_package_json_go_mod() {
        let f = found_in(
            "Cargo.toml",
            "[package]\nname = \"{{ crate_name }}\"\nversion = \"0.1.0\"\n\n[dependencies]\naxum = \"0.8\"\nserde = { version = \"1\", features = [\"derive\"] }\nlocal = { path = \"../local\" }\n\n[dev-dependencies]\ntower = { version = \"0.5\", features = [\"util\"] }\n\n[dependencies.tokio]\nversion = \"1\"\n",
        );
        assert_eq!(names(&f), vec!["axum", "serde", "tokio", "tower"]);
        assert!(f.values().all(|(_, c)| *c));

        let f = found_in(
            "package.json",
            r#"{"name": "{{ name }}", "version": "1.0.0", "dependencies": {"react": "^18.3.1", "left-pad": "*"}, "devDependencies": {"vite": "^5.4.0"}}"#,
        );
        assert_eq!(f.len(), 3);
        assert!(!f["left-pad"].1);

        let f = found_in(
            "go.mod",
            "module x\n\ngo 1.22\n\nrequire (\n\tgithub.com/go-chi/chi/v5 v5.1.0\n\tgolang.org/x/sys v0.20.0 // indirect\n)\nrequire github.com/google/uuid v1.6.0\n",
        );
        assert_eq!(f.len(), 2);
        assert!(f.contains_key("github-com/go-chi/chi/v5"));
    }

    #[test]
    fn setup_py_setup_cfg_and_pipfile() {
        let f = found_in(
            "setup.py",
            "setup(\n    name='x',\n    install_requires=[\n        'click>=7',\n        \"requests\",\n    ],\n    extras_require={\"dev\": [\"pytest>=6\"]},\n)\n",
        );
        assert_eq!(names(&f), vec!["click", "pytest", "requests"]);
        assert!(f["click"].1 && !f["requests"].1);
        let f = found_in(
            "setup.cfg",
            "[metadata]\nname = x\n\n[options]\npackages = find:\ninstall_requires =\n    attrs>=20\n    six\n\n[options.extras_require]\ntest =\n    pytest\n",
        );
        assert_eq!(names(&f), vec!["attrs", "pytest", "six"]);
        let f = found_in(
            "Pipfile",
            "[[source]]\nurl = \"https://pypi.org/simple\"\n\n[packages]\nflask = \"*\"\n\n[dev-packages]\nblack = \"==22.1\"\n\n[requires]\npython_version = \"3.10\"\n",
        );
        assert_eq!(names(&f), vec!["black", "flask"]);
        assert!(f["black"].1 && !f["flask"].1);
    }

    #[test]
    fn manifest_forms() {
        let m: Value = serde_json::json!({"dependencies": [{"fastapi": ">=0.115"}, {"Uvicorn": ""}, "httpx>=0.27"]});
        let d = from_manifest(&m);
        assert!(d["fastapi"].1);
        assert!(!d["uvicorn"].1);
        assert!(d["httpx"].1);
        let m: Value = serde_json::json!({"dependencies": {"react": "^18"}});
        assert!(from_manifest(&m)["react"].1);
    }
}

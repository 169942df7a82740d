//! Calibration of the quality gate on real templates: the public cookiecutter templates in
//! `tests/fixtures/calibration/` (sources and licences in its `SOURCES.md`) are scored through the
//! real checks and must pass; stub, placeholder, lorem-ipsum, padded, filler and README-less
//! variants generated from each of them must fail.
//!
//! These templates have no `manifest.yaml`; each is scored with the minimal manifest Maestro
//! derives for a manifest-less cookiecutter template (name from the folder, version
//! `0.0.0+<commit>`, description from the README's first paragraph, author from
//! `cookiecutter.json`, a category, tags from the README).
//!
//! The table in `docs/quality.md` (between the `calibration` markers) is this test's output:
//! `MAESTRO_WRITE_CALIBRATION=1 cargo test --lib calibration` rewrites it, and the test fails
//! when it is stale.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::checks::{Evaluation, text};
use super::service::QualityService;
use crate::render::SourceFile;

/// The calibration set: folder, commit (as in SOURCES.md), category.
const REAL: &[(&str, &str, &str)] = &[
    (
        "audreyfeldroy-cookiecutter-pypackage",
        "ced42cf",
        "backend_developer",
    ),
    (
        "briggysmalls-cookiecutter-pypackage",
        "eb4c6dc",
        "backend_developer",
    ),
    ("cookiecutter-data-science", "c077603", "ai_ml_engineer"),
    ("cookiecutter-django", "2d3b880", "backend_developer"),
    (
        "cookiecutter-hypermodern-python",
        "af0fd99",
        "backend_developer",
    ),
    ("cookiecutter-poetry", "a7682be", "backend_developer"),
    ("cookiecutter-pylibrary", "f890a1a", "backend_developer"),
    (
        "cookiecutter-pypackage-minimal",
        "747e53d",
        "backend_developer",
    ),
    ("cookiecutter-pytest-plugin", "8f38e95", "qa_engineer"),
    ("fastapi-react", "af17f2d", "frontend_developer"),
    (
        "full-stack-fastapi-postgresql",
        "a25f2c1",
        "backend_developer",
    ),
    (
        "python-best-practices-cookiecutter",
        "96440e3",
        "backend_developer",
    ),
];

/// The variants, in the table's column order.
const VARIANTS: &[(&str, &str)] = &[
    ("stub", "Stub README"),
    ("placeholder", "Placeholder text"),
    ("lorem", "Lorem ipsum"),
    ("padded", "Padded (README ×3)"),
    ("filler", "Filler words"),
    ("no_readme", "No README"),
];

const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
                     tempor incididunt ut labore et dolore magna aliqua.";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calibration")
}

fn load(dir: &Path) -> Vec<SourceFile> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .expect("read fixture dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(SourceFile::new(rel, fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn is_readme(path: &str) -> bool {
    !path.contains('/') && path.to_lowercase().starts_with("readme")
}

fn readme(files: &[SourceFile]) -> Option<(String, String)> {
    files.iter().find(|f| is_readme(&f.path)).map(|f| {
        (
            f.path.clone(),
            String::from_utf8_lossy(&f.content).into_owned(),
        )
    })
}

/// The README's first paragraph of real prose (no badges, links-only lines or directives).
fn first_paragraph(path: &str, source: &str) -> Option<String> {
    let doc = text::parse_readme(path, source);
    let mut paragraph: Vec<String> = Vec::new();
    for line in doc.prose_lines.iter().map(|l| l.trim()) {
        let decorative = line.starts_with(['[', '!', '<', '|', '*', '-', '>', ':'])
            || line.starts_with("..")
            || line.starts_with("http");
        if line.is_empty() || decorative {
            if text::words(&paragraph.join(" ")).len() >= 8 {
                break;
            }
            paragraph.clear();
            continue;
        }
        paragraph.push(line.to_string());
    }
    let text = paragraph.join(" ");
    (text::words(&text).len() >= 8).then(|| {
        let cleaned: String = text.chars().filter(|c| !matches!(c, '*' | '`')).collect();
        cleaned.chars().take(300).collect()
    })
}

/// The minimal manifest derived for a manifest-less cookiecutter template.
fn derived_manifest(name: &str, commit: &str, category: &str, files: &[SourceFile]) -> String {
    let cc: Map<String, Value> = files
        .iter()
        .find(|f| f.path == "cookiecutter.json")
        .and_then(|f| serde_json::from_slice(&f.content).ok())
        .unwrap_or_default();
    let author = ["full_name", "author", "author_name"]
        .iter()
        .find_map(|k| cc.get(*k).and_then(Value::as_str))
        .filter(|a| !a.trim().is_empty() && !a.contains("{{"))
        .unwrap_or("the template's authors")
        .to_string();
    let (path, source) = readme(files).unwrap_or_default();
    let description = first_paragraph(&path, &source)
        .unwrap_or_else(|| format!("The {name} cookiecutter template."));
    let lower = source.to_lowercase();
    let mut tags = vec!["cookiecutter".to_string()];
    for word in [
        "python", "django", "flask", "fastapi", "react", "poetry", "pytest", "docker", "data",
    ] {
        if lower.contains(word) {
            tags.push(word.to_string());
        }
    }
    let manifest = json!({
        "name": name,
        "version": format!("0.0.0+{commit}"),
        "description": description,
        "category": category,
        "author": author,
        "tags": tags,
    });
    yaml_serde::to_string(&manifest).expect("manifest as YAML")
}

fn replace_readme(
    files: &[SourceFile],
    content: Option<String>,
    keep_docs: bool,
) -> Vec<SourceFile> {
    let mut out: Vec<SourceFile> = files
        .iter()
        .filter(|f| !is_readme(&f.path) && (keep_docs || !f.path.starts_with("docs/")))
        .cloned()
        .collect();
    if let Some(c) = content {
        out.push(SourceFile::new("README.md", c));
    }
    out
}

fn with_readme_text(files: &[SourceFile], edit: impl Fn(&str) -> String) -> Vec<SourceFile> {
    files
        .iter()
        .map(|f| {
            if is_readme(&f.path) {
                SourceFile::new(f.path.clone(), edit(&String::from_utf8_lossy(&f.content)))
            } else {
                f.clone()
            }
        })
        .collect()
}

/// A README of the right shape made of a handful of words.
fn filler(name: &str) -> String {
    let vocab = [
        "this", "template", "is", "a", "great", "and", "useful", "project", "for", "you",
    ];
    let para = |n: usize| {
        (0..n)
            .map(|i| vocab[(i * 7 + i / 3) % vocab.len()])
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "# {name}\n\n{}\n\n## Usage\n\n```bash\ncookiecutter {name}\n```\n\n## Parameters\n\n{}\n\n## What you get\n\n{}\n",
        para(120),
        para(90),
        para(110)
    )
}

fn variant(kind: &str, name: &str, real: &[SourceFile]) -> Vec<SourceFile> {
    match kind {
        "stub" => replace_readme(
            real,
            Some(format!("# {name}\n\nTODO: document this template.\n")),
            false,
        ),
        "placeholder" => with_readme_text(real, |r| {
            format!("{r}\n\nRoadmap\n\nDescription goes here. More features coming soon.\n")
        }),
        "lorem" => with_readme_text(real, |r| format!("{r}\n\n{LOREM}\n")),
        "padded" => with_readme_text(real, |r| format!("{r}\n{r}\n{r}")),
        "filler" => replace_readme(real, Some(filler(name)), false),
        "no_readme" => replace_readme(real, None, true),
        other => panic!("unknown variant {other}"),
    }
}

/// The pass mark of the seed (config/default.toml's `quality.min_score`).
fn pass_mark() -> u32 {
    let config =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"))
            .expect("config/default.toml");
    config
        .lines()
        .find_map(|l| l.trim().strip_prefix("min_score = "))
        .and_then(|v| v.trim().parse().ok())
        .expect("quality.min_score in config/default.toml")
}

fn cell(e: &Evaluation) -> String {
    format!("{} {}", e.score, if e.passed { "pass" } else { "fail" })
}

const START: &str = "<!-- calibration:start (generated by src/modules/quality/calibration.rs) -->";
const END: &str = "<!-- calibration:end -->";

#[test]
fn real_templates_pass_and_their_degraded_variants_fail() {
    assert!(
        REAL.len() >= 10,
        "the calibration set needs at least 10 templates"
    );
    let min_score = pass_mark();
    let mut table = format!(
        "| Template | Real | {} |\n|---|---|{}\n",
        VARIANTS
            .iter()
            .map(|(_, title)| *title)
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(VARIANTS.len())
    );
    let mut problems = Vec::new();
    for (name, commit, category) in REAL {
        let mut files = load(&root().join(name));
        let manifest = derived_manifest(name, commit, category, &files);
        files.push(SourceFile::new("manifest.yaml", manifest));
        let real = QualityService::evaluate_files(&files, min_score);
        if !real.passed {
            problems.push(format!(
                "{name} (real) does not pass: {} — {:?}; recommendations: {:?}",
                real.score, real.blocking, real.recommendations
            ));
        }
        let mut row = format!("| `{name}` | **{}** |", cell(&real));
        for (kind, _) in VARIANTS {
            let e = QualityService::evaluate_files(&variant(kind, name, &files), min_score);
            if e.passed {
                problems.push(format!("{name} ({kind}) passes with {}", e.score));
            }
            row.push_str(&format!(" {} |", cell(&e)));
        }
        table.push_str(&row);
        table.push('\n');
    }
    println!("{table}");

    let docs_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/quality.md");
    let docs = fs::read_to_string(&docs_path).expect("docs/quality.md");
    let (Some(a), Some(b)) = (docs.find(START), docs.find(END)) else {
        panic!("docs/quality.md has no calibration markers");
    };
    let current = &docs[a + START.len()..b];
    let wanted = format!("\n{table}");
    if current != wanted {
        if std::env::var_os("MAESTRO_WRITE_CALIBRATION").is_some() {
            let updated = format!("{}{START}{wanted}{}", &docs[..a], &docs[b..]);
            fs::write(&docs_path, updated).expect("write docs/quality.md");
        } else {
            problems.push(
                "the calibration table in docs/quality.md is stale; rerun with \
                 MAESTRO_WRITE_CALIBRATION=1"
                    .to_string(),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_fixture_is_listed_in_sources_with_its_licence() {
    let sources = fs::read_to_string(root().join("SOURCES.md")).expect("SOURCES.md");
    let on_disk: Vec<String> = fs::read_dir(root())
        .expect("calibration fixtures")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut listed: Vec<&str> = REAL.iter().map(|(n, _, _)| *n).collect();
    listed.sort();
    let mut disk: Vec<&str> = on_disk.iter().map(String::as_str).collect();
    disk.sort();
    assert_eq!(disk, listed, "folders and REAL disagree");
    for (name, commit, _) in REAL {
        assert!(
            sources.contains(&format!("| `{name}` |")),
            "{name} is not in SOURCES.md"
        );
        assert!(
            sources.contains(commit),
            "{name}: commit {commit} not in SOURCES.md"
        );
        assert!(
            root().join(name).join("LICENSE").is_file(),
            "{name} has no LICENSE"
        );
    }
}

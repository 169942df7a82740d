//! Registry fields for a plain cookiecutter folder (a `cookiecutter.json` and no
//! `manifest.yaml`): derived from the folder, its README, `cookiecutter.json` and, for an import
//! from git, the tag and commit, then written as the `manifest.yaml` the registry stores beside
//! the template (the renderer leaves it out of what cookiecutter sees, so the output does not
//! change). A field that cannot be derived is a 422 naming it (`templates.manifest_required`).
//!
//! | field | from |
//! |---|---|
//! | name | the request's `name`, else the folder or repository name, else the README's title (slugged) |
//! | version | the tag (`v1.2.0` → `1.2.0`) when it is a semantic version, else `0.0.0+<short commit>` (`0.0.0` for uploads) |
//! | description | the README's first paragraph of text, else `cookiecutter.json`'s `description` / `project_short_description` |
//! | author | the commit's author, else `cookiecutter.json`'s `author` / `full_name` / `author_name` |
//! | tags | `cookiecutter` and known technology words of the README |
//! | category | the request's `category`, else `templates.default_category` |

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::error::TemplatesError;
use crate::render::{COOKIECUTTER_FILE, MANIFEST_FILE, SlugifyOptions, SourceFile, slugify};

/// What the caller knows besides the files.
#[derive(Debug, Clone, Default)]
pub struct DeriveHints {
    /// The name the request asked for.
    pub name: Option<String>,
    /// The folder or repository the template comes from (slugged into the name).
    pub folder: Option<String>,
    /// The git tag the template was taken at.
    pub tag: Option<String>,
    /// The full commit id the template was taken at.
    pub commit: Option<String>,
    /// The commit's author.
    pub commit_author: Option<String>,
    /// The category the request asked for.
    pub category: Option<String>,
    /// `templates.default_category`.
    pub default_category: Option<String>,
}

/// Longest derived description (the first paragraph can be long).
const MAX_DESCRIPTION_CHARS: usize = 500;
/// Most tags taken from a README.
const MAX_TAGS: usize = 8;

/// Words that make useful tags when a README mentions them (matched as whole words, any case).
const TAG_WORDS: [&str; 48] = [
    "python",
    "django",
    "flask",
    "fastapi",
    "pyramid",
    "rust",
    "go",
    "golang",
    "java",
    "kotlin",
    "scala",
    "ruby",
    "rails",
    "node",
    "nodejs",
    "javascript",
    "typescript",
    "react",
    "vue",
    "angular",
    "svelte",
    "html",
    "css",
    "docker",
    "kubernetes",
    "helm",
    "terraform",
    "ansible",
    "aws",
    "gcp",
    "azure",
    "poetry",
    "pytest",
    "tox",
    "nox",
    "sphinx",
    "mkdocs",
    "pypi",
    "cli",
    "api",
    "rest",
    "graphql",
    "postgresql",
    "mysql",
    "redis",
    "celery",
    "jupyter",
    "datascience",
];

static SEMVER_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
    )
    .ok()
});
static MD_LINK_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"!?\[([^\]]*)\]\([^)]*\)").ok());
static RST_LINK_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"`([^`<]+?)\s*<[^>]*>`_{1,2}").ok());
static WORD_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[A-Za-z][A-Za-z0-9]*").ok());

/// `files` unchanged when they hold `manifest.yaml` or are not a cookiecutter template (the
/// renderer reports what is wrong then); otherwise `files` plus a derived `manifest.yaml`.
pub fn with_derived_manifest(
    mut files: Vec<SourceFile>,
    hints: &DeriveHints,
) -> Result<Vec<SourceFile>, TemplatesError> {
    if files.iter().any(|f| f.path == MANIFEST_FILE) {
        return Ok(files);
    }
    let Some(cookiecutter) = files.iter().find(|f| f.path == COOKIECUTTER_FILE) else {
        return Ok(files);
    };
    // A cookiecutter.json that is not an object is reported by the renderer.
    let config: Map<String, Value> = serde_json::from_slice::<Value>(&cookiecutter.content)
        .ok()
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let readme = readme_text(&files);
    let manifest = derive(&config, readme.as_deref(), hints)?;
    let yaml = yaml_serde::to_string(&Value::Object(manifest)).map_err(|e| {
        TemplatesError::ManifestUnderivable {
            field: "manifest",
            hint: format!("the derived manifest cannot be written: {e}"),
        }
    })?;
    files.push(SourceFile {
        path: MANIFEST_FILE.to_string(),
        content: yaml.into_bytes(),
        executable: false,
    });
    Ok(files)
}

fn derive(
    config: &Map<String, Value>,
    readme: Option<&str>,
    hints: &DeriveHints,
) -> Result<Map<String, Value>, TemplatesError> {
    let name = hints
        .name
        .as_deref()
        .and_then(slug)
        .or_else(|| hints.folder.as_deref().and_then(slug))
        .or_else(|| readme.and_then(readme_title).as_deref().and_then(slug))
        .ok_or(TemplatesError::ManifestUnderivable {
            field: "name",
            hint: "give `name` in the request (or upload the folder as an archive with the folder inside)".into(),
        })?;
    let version = derived_version(hints.tag.as_deref(), hints.commit.as_deref());
    let description = readme
        .and_then(first_paragraph)
        .or_else(|| {
            ["description", "project_short_description"]
                .iter()
                .find_map(|k| plain_string(config.get(*k)))
        })
        .map(|d| truncate(&d, MAX_DESCRIPTION_CHARS))
        .ok_or(TemplatesError::ManifestUnderivable {
            field: "description",
            hint: "add a README.md whose first paragraph describes the template".into(),
        })?;
    let author = hints
        .commit_author
        .clone()
        .filter(|a| !a.trim().is_empty())
        .or_else(|| {
            ["author", "full_name", "author_name"]
                .iter()
                .find_map(|k| plain_string(config.get(*k)))
        })
        .ok_or(TemplatesError::ManifestUnderivable {
            field: "author",
            hint: "give cookiecutter.json an `author` or `full_name`".into(),
        })?;
    let category = hints
        .category
        .clone()
        .or_else(|| hints.default_category.clone())
        .filter(|c| !c.trim().is_empty())
        .ok_or(TemplatesError::ManifestUnderivable {
            field: "category",
            hint: format!(
                "give `category` in the request (or an operator sets templates.default_category); one of: {}",
                crate::render::CATEGORIES.join(", ")
            ),
        })?;
    let mut manifest = Map::new();
    manifest.insert("name".into(), Value::String(name));
    manifest.insert("version".into(), Value::String(version));
    manifest.insert("description".into(), Value::String(description));
    manifest.insert("category".into(), Value::String(category));
    manifest.insert("author".into(), Value::String(author));
    manifest.insert(
        "tags".into(),
        Value::Array(tags(readme).into_iter().map(Value::String).collect()),
    );
    Ok(manifest)
}

/// The tag when it is a semantic version (a leading `v` dropped), else `0.0.0+<short commit>`,
/// else `0.0.0`.
pub fn derived_version(tag: Option<&str>, commit: Option<&str>) -> String {
    if let Some(tag) = tag {
        let bare = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
        if SEMVER_RE.as_ref().is_some_and(|re| re.is_match(bare)) {
            return bare.to_string();
        }
    }
    match commit {
        Some(c) if !c.is_empty() => format!("0.0.0+{}", &c[..c.len().min(7)]),
        _ => "0.0.0".to_string(),
    }
}

/// A registry name (`^[a-z0-9_-]{1,100}$`) from free text; `None` when nothing is left.
pub fn slug(text: &str) -> Option<String> {
    let opts = SlugifyOptions {
        max_length: 100,
        ..SlugifyOptions::default()
    };
    let s = slugify(text.trim(), &opts).ok()?;
    let s = s.trim_matches('-').to_string();
    (!s.is_empty()).then_some(s)
}

fn plain_string(v: Option<&Value>) -> Option<String> {
    match v {
        // A Jinja expression is a value for the generated project, not a fact about the template.
        Some(Value::String(s)) if !s.trim().is_empty() && !s.contains("{{") => {
            Some(s.trim().to_string())
        }
        _ => None,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The top-level README (`README.md`, `README.rst`, `README.txt`, `README`; any case).
fn readme_text(files: &[SourceFile]) -> Option<String> {
    let mut candidates: Vec<&SourceFile> = files
        .iter()
        .filter(|f| !f.path.contains('/'))
        .filter(|f| {
            let lower = f.path.to_ascii_lowercase();
            matches!(
                lower.as_str(),
                "readme.md" | "readme.rst" | "readme.txt" | "readme" | "readme.markdown"
            )
        })
        .collect();
    candidates.sort_by_key(|f| !f.path.to_ascii_lowercase().ends_with(".md"));
    candidates
        .first()
        .and_then(|f| String::from_utf8(f.content.clone()).ok())
}

/// The README's first heading (`# Title`, or an RST title over `===`).
fn readme_title(readme: &str) -> Option<String> {
    let lines: Vec<&str> = readme.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('#') {
            let h = h.trim_start_matches('#').trim();
            if !h.is_empty() {
                return Some(inline_text(h));
            }
        }
        if i + 1 < lines.len() && !t.is_empty() && is_rst_rule(lines[i + 1]) && !is_rst_rule(t) {
            return Some(inline_text(t));
        }
    }
    None
}

fn is_rst_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3
        && t.chars()
            .all(|c| matches!(c, '=' | '-' | '~' | '^' | '*' | '+' | '#'))
}

/// A line that is markup rather than prose: headings, badges, images, HTML, RST directives,
/// code fences, tables, list items, block quotes.
fn is_markup(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('#')
        || t.starts_with("[![")
        || t.starts_with("![")
        || t.starts_with('<')
        || t.starts_with("..")
        || t.starts_with(':')
        || t.starts_with("```")
        || t.starts_with("~~~")
        || t.starts_with('|')
        || t.starts_with('>')
        || t.starts_with("- ")
        || t.starts_with("* ")
        || t.starts_with("+ ")
        || is_rst_rule(t)
}

/// The README's first paragraph of prose, as plain text on one line.
fn first_paragraph(readme: &str) -> Option<String> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut paragraph: Vec<String> = Vec::new();
    let mut in_fence = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            i += 1;
            continue;
        }
        let next_is_rule = lines.get(i + 1).is_some_and(|n| is_rst_rule(n));
        let skip = in_fence
            || t.is_empty()
            || is_markup(line)
            || (next_is_rule && !is_rst_rule(t))
            || line.starts_with("    ")
            || line.starts_with('\t');
        if skip {
            if !paragraph.is_empty() {
                break;
            }
            // An RST title's underline goes with it.
            i += if next_is_rule && !t.is_empty() { 2 } else { 1 };
            continue;
        }
        let text = inline_text(t);
        if !text.is_empty() {
            paragraph.push(text);
        }
        i += 1;
    }
    let joined = paragraph.join(" ");
    let joined = joined.trim();
    (joined.chars().filter(|c| c.is_alphanumeric()).count() >= 3).then(|| joined.to_string())
}

/// Markdown/RST inline markup reduced to its text.
fn inline_text(text: &str) -> String {
    let mut s = text.to_string();
    if let Some(re) = MD_LINK_RE.as_ref() {
        s = re.replace_all(&s, "$1").into_owned();
    }
    if let Some(re) = RST_LINK_RE.as_ref() {
        s = re.replace_all(&s, "$1").into_owned();
    }
    let s: String = s
        .chars()
        .filter(|c| !matches!(c, '*' | '`' | '\u{0}'))
        .collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `cookiecutter`, then the known technology words of the README in order of first mention.
fn tags(readme: Option<&str>) -> Vec<String> {
    let mut out = vec!["cookiecutter".to_string()];
    let (Some(text), Some(re)) = (readme, WORD_RE.as_ref()) else {
        return out;
    };
    for word in re.find_iter(text) {
        let w = word.as_str().to_ascii_lowercase();
        if TAG_WORDS.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
            if out.len() >= MAX_TAGS {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            content: content.as_bytes().to_vec(),
            executable: false,
        }
    }

    fn manifest_of(files: &[SourceFile]) -> Value {
        let f = files.iter().find(|f| f.path == MANIFEST_FILE).unwrap();
        yaml_serde::from_slice(&f.content).unwrap()
    }

    const README: &str = "# Cookiecutter PyPackage\n\n[![build](https://x/badge.svg)](https://x)\n\nA [Cookiecutter](https://github.com/cookiecutter/cookiecutter) template\nfor a **Python** package, with `pytest` and Sphinx docs.\n\n## Usage\n\n```\ncookiecutter gh:audreyfeldroy/cookiecutter-pypackage\n```\n";

    #[test]
    fn a_plain_cookiecutter_folder_gets_every_field() {
        let files = vec![
            file(
                "cookiecutter.json",
                r#"{"full_name": "Audrey Feldroy", "project_name": "x"}"#,
            ),
            file("README.md", README),
            file("{{cookiecutter.project_name}}/a.txt", "hi"),
        ];
        let hints = DeriveHints {
            folder: Some("Cookiecutter_PyPackage".into()),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            category: Some("backend_developer".into()),
            ..DeriveHints::default()
        };
        let out = with_derived_manifest(files, &hints).unwrap();
        let m = manifest_of(&out);
        assert_eq!(m["name"], "cookiecutter-pypackage");
        assert_eq!(m["version"], "0.0.0+0123456");
        assert_eq!(
            m["description"],
            "A Cookiecutter template for a Python package, with pytest and Sphinx docs."
        );
        assert_eq!(m["author"], "Audrey Feldroy");
        assert_eq!(m["category"], "backend_developer");
        assert_eq!(
            m["tags"],
            serde_json::json!(["cookiecutter", "python", "pytest", "sphinx"])
        );
        // What the registry stores is a valid manifest.
        let yaml = &out
            .iter()
            .find(|f| f.path == MANIFEST_FILE)
            .unwrap()
            .content;
        crate::render::Manifest::parse(yaml).unwrap();
    }

    #[test]
    fn tags_commits_and_titles_fill_in_and_a_missing_field_is_named() {
        assert_eq!(derived_version(Some("v1.2.3"), Some("abcdef1234")), "1.2.3");
        assert_eq!(
            derived_version(Some("release-7"), Some("abcdef1234")),
            "0.0.0+abcdef1"
        );
        assert_eq!(derived_version(None, None), "0.0.0");
        let rst = "===========\nMy Template\n===========\n\n.. image:: x.svg\n\nMakes a *Django* site.\nFast.\n\nMore.\n";
        let files = vec![
            file(
                "cookiecutter.json",
                r#"{"author": "{{ cookiecutter.x }}", "full_name": "Ann"}"#,
            ),
            file("README.rst", rst),
        ];
        let hints = DeriveHints {
            default_category: Some("sdlc-templates".into()),
            tag: Some("v2.0.0".into()),
            ..DeriveHints::default()
        };
        let m = manifest_of(&with_derived_manifest(files.clone(), &hints).unwrap());
        assert_eq!(m["name"], "my-template");
        assert_eq!(m["version"], "2.0.0");
        assert_eq!(m["description"], "Makes a Django site. Fast.");
        assert_eq!(m["author"], "Ann");
        assert_eq!(m["category"], "sdlc-templates");

        let no_category = DeriveHints::default();
        match with_derived_manifest(files.clone(), &no_category) {
            Err(TemplatesError::ManifestUnderivable { field, .. }) => assert_eq!(field, "category"),
            other => panic!("{other:?}"),
        }
        let bare = vec![file("cookiecutter.json", "{}")];
        match with_derived_manifest(bare, &hints) {
            Err(TemplatesError::ManifestUnderivable { field, .. }) => assert_eq!(field, "name"),
            other => panic!("{other:?}"),
        }
        // A manifest already there, or no cookiecutter.json: nothing is added.
        let native = vec![file("manifest.yaml", "name: x"), file("a", "b")];
        assert_eq!(
            with_derived_manifest(native.clone(), &hints).unwrap(),
            native
        );
    }
}

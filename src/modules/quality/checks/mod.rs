//! The five quality checks. Each looks at a template's files, returns pass | warning | fail, a
//! partial score out of its weight, the evidence it saw and concrete recommendations. Pure
//! functions: no I/O, no storage, deterministic.
//!
//! A template passes when its total reaches the pass mark **and** no check failed: the weights
//! alone would let a template with no README at all (30 points lost) pass at exactly 70.

mod dependencies;
mod documentation;
mod examples;
mod metadata;
mod structure;
pub(crate) mod text;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use crate::render::CATEGORIES;

/// One file of the template as stored (paths are template-relative, `/`-separated).
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: String,
    pub content: Vec<u8>,
}

/// Renders the template's output paths with its default parameters (provided by the caller,
/// which runs the renderer). `Err` carries what failed to render.
pub type PathRenderer<'a> = &'a dyn Fn() -> Result<Vec<String>, String>;

pub struct Input<'a> {
    pub files: &'a [InputFile],
    pub render_paths: Option<PathRenderer<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warning,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warning => "warning",
            Status::Fail => "fail",
        }
    }

    /// Pass from 80 % of the weight, warning from 50 %.
    fn from_ratio(ratio: f64) -> Status {
        if ratio >= 0.8 {
            Status::Pass
        } else if ratio >= 0.5 {
            Status::Warning
        } else {
            Status::Fail
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckResult {
    pub status: Status,
    /// Points earned, out of `max_score` (the check's weight).
    pub score: f64,
    pub max_score: f64,
    /// What the check saw.
    pub evidence: Vec<String>,
    /// What to change to earn the missing points.
    pub recommendations: Vec<String>,
}

/// Accumulates points and findings for one check.
pub(crate) struct Scorer {
    weight: f64,
    earned: f64,
    possible: f64,
    forced_fail: bool,
    evidence: Vec<String>,
    recommendations: Vec<String>,
}

impl Scorer {
    pub(crate) fn new(weight: f64) -> Self {
        Scorer {
            weight,
            earned: 0.0,
            possible: 0.0,
            forced_fail: false,
            evidence: Vec::new(),
            recommendations: Vec::new(),
        }
    }

    /// A criterion worth `points`, of which `fraction` (0..=1) is earned.
    pub(crate) fn criterion(&mut self, points: f64, fraction: f64) {
        self.possible += points;
        self.earned += points * fraction.clamp(0.0, 1.0);
    }

    pub(crate) fn penalty(&mut self, points: f64) {
        self.earned -= points;
    }

    pub(crate) fn see(&mut self, evidence: impl Into<String>) {
        self.evidence.push(evidence.into());
    }

    pub(crate) fn recommend(&mut self, recommendation: impl Into<String>) {
        self.recommendations.push(recommendation.into());
    }

    /// The check fails whatever its points (e.g. an unsafe path).
    pub(crate) fn fail(&mut self) {
        self.forced_fail = true;
    }

    pub(crate) fn finish(self) -> CheckResult {
        let ratio = if self.possible > 0.0 {
            (self.earned / self.possible).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let score = (ratio * self.weight * 10.0).round() / 10.0;
        let status = if self.forced_fail {
            Status::Fail
        } else {
            Status::from_ratio(ratio)
        };
        CheckResult {
            status,
            score,
            max_score: self.weight,
            evidence: self.evidence,
            recommendations: self.recommendations,
        }
    }
}

/// All five checks, in the seed's order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Checks {
    pub documentation: CheckResult,
    pub examples: CheckResult,
    pub metadata: CheckResult,
    pub structure: CheckResult,
    pub dependencies: CheckResult,
}

impl Checks {
    pub fn iter(&self) -> [(&'static str, &CheckResult); 5] {
        [
            ("documentation", &self.documentation),
            ("examples", &self.examples),
            ("metadata", &self.metadata),
            ("structure", &self.structure),
            ("dependencies", &self.dependencies),
        ]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Evaluation {
    /// 0–100.
    pub score: u32,
    pub passed: bool,
    /// Why it did not pass (empty when it passed).
    pub blocking: Vec<String>,
    pub checks: Checks,
    pub recommendations: Vec<String>,
}

/// What the checks need to know about the template, read once from its files.
pub(crate) struct Facts<'a> {
    pub files: &'a [InputFile],
    /// The README at the template root (`README.md`, `README.rst`, `README`, …).
    pub readme: Option<String>,
    /// The README read as Markdown or reStructuredText.
    pub readme_doc: Option<text::Markdown>,
    /// The template's own documentation besides the README: the text of the top-level `docs/`
    /// folder (Markdown, reStructuredText, text), lowercased.
    pub docs: String,
    /// Cookiecutter variables with a `__prompts__` entry (their help text).
    pub prompted: Vec<String>,
    /// `manifest.yaml` parsed (Err: the parse error).
    pub manifest: Option<Result<Value, String>>,
    /// `cookiecutter.json` parsed.
    pub cookiecutter: Option<Result<serde_json::Map<String, Value>, String>>,
    /// Public parameter names, in order.
    pub parameters: Vec<String>,
}

impl<'a> Facts<'a> {
    fn gather(files: &'a [InputFile]) -> Facts<'a> {
        let find = |name: &str| {
            files
                .iter()
                .find(|f| f.path.eq_ignore_ascii_case(name))
                .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        };
        let readme_file = [
            "README.md",
            "README.rst",
            "README",
            "README.markdown",
            "README.txt",
        ]
        .into_iter()
        .find_map(|name| find(name).map(|text| (name, text)));
        let readme_doc = readme_file
            .as_ref()
            .map(|(name, text)| text::parse_readme(name, text));
        let readme = readme_file.map(|(_, text)| text);
        let docs: String = files
            .iter()
            .filter(|f| {
                let lower = f.path.to_lowercase();
                lower.starts_with("docs/")
                    && [".md", ".rst", ".txt", ".markdown"]
                        .iter()
                        .any(|ext| lower.ends_with(ext))
            })
            .map(|f| String::from_utf8_lossy(&f.content).to_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        let manifest = find("manifest.yaml")
            .or_else(|| find("manifest.yml"))
            .map(|raw| {
                yaml_serde::from_str::<Value>(&raw)
                    .map_err(|e| e.to_string())
                    .and_then(|v| {
                        if v.is_object() {
                            Ok(v)
                        } else {
                            Err("the manifest is not a mapping of fields".to_string())
                        }
                    })
            });
        let cookiecutter = find("cookiecutter.json").map(|raw| {
            serde_json::from_str::<serde_json::Map<String, Value>>(&raw).map_err(|e| e.to_string())
        });
        let mut parameters = Vec::new();
        let mut prompted = Vec::new();
        if let Some(Ok(cc)) = &cookiecutter {
            parameters.extend(cc.keys().filter(|k| !k.starts_with('_')).cloned());
            if let Some(prompts) = cc.get("__prompts__").and_then(Value::as_object) {
                prompted.extend(
                    parameters
                        .iter()
                        .filter(|p| prompts.contains_key(*p))
                        .cloned(),
                );
            }
        } else if let Some(Ok(m)) = &manifest
            && let Some(params) = m.get("parameters").and_then(Value::as_array)
        {
            parameters.extend(
                params
                    .iter()
                    .filter_map(|p| p.get("name").and_then(Value::as_str))
                    .map(str::to_string),
            );
        }
        Facts {
            files,
            readme,
            readme_doc,
            docs,
            prompted,
            manifest,
            cookiecutter,
            parameters,
        }
    }

    pub fn manifest(&self) -> Option<&Value> {
        match &self.manifest {
            Some(Ok(m)) => Some(m),
            _ => None,
        }
    }

    /// Where a parameter is explained: `"prompts"` (a `__prompts__` entry), `"docs"` (the
    /// `docs/` folder mentions it) or `"readme"` (the README mentions it).
    pub fn documented_in(&self, parameter: &str) -> Option<&'static str> {
        let lower = parameter.to_lowercase();
        if self.prompted.iter().any(|p| p == parameter) {
            Some("prompts")
        } else if self
            .readme
            .as_deref()
            .is_some_and(|r| r.to_lowercase().contains(&lower))
        {
            Some("readme")
        } else if self.docs.contains(&lower) {
            Some("docs")
        } else {
            None
        }
    }

    /// Whether `path` lies in a cookiecutter project folder (`{{cookiecutter.x}}/…`, also in
    /// nested templates): the files the generated project is made of.
    pub fn in_project_folder(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        segments[..segments.len().saturating_sub(1)]
            .iter()
            .any(|s| s.contains("cookiecutter") && s.contains("{{"))
    }
}

/// Runs the five checks and applies the pass rule.
pub fn evaluate(input: &Input<'_>, min_score: u32) -> Evaluation {
    let facts = Facts::gather(input.files);
    let checks = Checks {
        documentation: documentation::check(&facts),
        examples: examples::check(&facts),
        metadata: metadata::check(&facts),
        structure: structure::check(&facts, input.render_paths),
        dependencies: dependencies::check(&facts),
    };
    let total: f64 = checks.iter().iter().map(|(_, c)| c.score).sum();
    let score = total.round().clamp(0.0, 100.0) as u32;
    let mut blocking = Vec::new();
    if score < min_score {
        blocking.push(format!(
            "the score {score} is below the pass mark {min_score}"
        ));
    }
    for (name, check) in checks.iter() {
        if check.status == Status::Fail {
            blocking.push(format!("the {name} check failed"));
        }
    }
    let recommendations = checks
        .iter()
        .iter()
        .flat_map(|(_, c)| c.recommendations.iter().cloned())
        .collect();
    Evaluation {
        score,
        passed: blocking.is_empty(),
        blocking,
        checks,
        recommendations,
    }
}

#[cfg(test)]
pub(crate) mod tests;

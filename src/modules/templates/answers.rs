//! The answers file (`.maestro-answers.yml`) written into generated projects: which template,
//! commit and version generated the project, its ledger entry and the answers given, so that
//! `POST /api/v1/templates/{id}/update` and `maestro project update` can re-render the version
//! the project came from. Private answers (cookiecutter's `_…` keys, which never reach the
//! public parameters) and parameters marked `secret: true` in the manifest are never written.
//!
//! A native template writes it unless its manifest says `answers_file: false`; `answers_file:
//! <path>` renames it. Cookiecutter-format templates write it only when the instantiation asks
//! (`answers_file: true`), so their default output stays byte-identical to cookiecutter's.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::render::{MANIFEST_FILE, SourceFile, TemplateSpec};

/// The default name of the answers file.
pub const DEFAULT_ANSWERS_FILE: &str = ".maestro-answers.yml";

const HEADER: &str = "# Written by Maestro when this project was generated or updated from a template.\n\
# `maestro project update` reads and rewrites it; do not edit it by hand.\n";

/// The template a project came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswersTemplate {
    pub id: String,
    pub name: String,
    pub commit: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The content of an answers file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswersFile {
    pub template: AnswersTemplate,
    /// The ledger entry of the render that wrote the file (absent for dry runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instantiation_id: Option<String>,
    #[serde(default)]
    pub answers: Map<String, Value>,
}

impl AnswersFile {
    pub fn to_yaml(&self) -> Vec<u8> {
        let body = yaml_serde::to_string(self).unwrap_or_default();
        format!("{HEADER}{body}").into_bytes()
    }

    /// Reads an answers file; the error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<AnswersFile, String> {
        yaml_serde::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// Where a template writes its answers file, or `None` when it writes none. `requested` is the
/// instantiation's `answers_file` (`None`: the template's default).
pub fn answers_path(
    spec: &TemplateSpec,
    files: &[SourceFile],
    requested: Option<bool>,
) -> Option<String> {
    let raw = manifest_value(files);
    let configured = raw.as_ref().and_then(|m| m.get("answers_file")).cloned();
    let named = match configured {
        Some(Value::String(path)) => Some(path),
        Some(Value::Bool(false)) => None,
        _ => Some(DEFAULT_ANSWERS_FILE.to_string()),
    };
    let default_on = match spec {
        TemplateSpec::Native(_) => named.is_some(),
        TemplateSpec::Cookiecutter(_) => false,
    };
    match requested {
        Some(false) => None,
        Some(true) => Some(named.unwrap_or_else(|| DEFAULT_ANSWERS_FILE.to_string())),
        None if default_on => named,
        None => None,
    }
}

/// Names of the parameters marked `secret: true` in `manifest.yaml`.
pub fn secret_parameters(files: &[SourceFile]) -> Vec<String> {
    let Some(manifest) = manifest_value(files) else {
        return Vec::new();
    };
    manifest
        .get("parameters")
        .and_then(Value::as_array)
        .map(|params| {
            params
                .iter()
                .filter(|p| p.get("secret").and_then(Value::as_bool) == Some(true))
                .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The answers that may be written: every public answer except the secret ones.
pub fn writable_answers(answers: &Map<String, Value>, secret: &[String]) -> Map<String, Value> {
    answers
        .iter()
        .filter(|(k, _)| !secret.iter().any(|s| s == *k) && !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn manifest_value(files: &[SourceFile]) -> Option<Map<String, Value>> {
    let file = files.iter().find(|f| f.path == MANIFEST_FILE)?;
    match yaml_serde::from_slice::<Value>(&file.content).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn native(manifest: &str) -> (TemplateSpec, Vec<SourceFile>) {
        let files = vec![
            SourceFile::new(MANIFEST_FILE, manifest.as_bytes().to_vec()),
            SourceFile::new("a.txt", b"x".to_vec()),
        ];
        (crate::render::detect(&files).unwrap(), files)
    }

    const BASE: &str =
        "name: t\nversion: 1.0.0\ndescription: d\ncategory: backend_developer\nauthor: a\n";

    #[test]
    fn native_templates_write_it_unless_opted_out_or_renamed() {
        let (spec, files) = native(BASE);
        assert_eq!(
            answers_path(&spec, &files, None).as_deref(),
            Some(DEFAULT_ANSWERS_FILE)
        );
        assert_eq!(answers_path(&spec, &files, Some(false)), None);
        let (spec, files) = native(&format!("{BASE}answers_file: false\n"));
        assert_eq!(answers_path(&spec, &files, None), None);
        assert_eq!(
            answers_path(&spec, &files, Some(true)).as_deref(),
            Some(DEFAULT_ANSWERS_FILE)
        );
        let (spec, files) = native(&format!("{BASE}answers_file: .copier/answers.yml\n"));
        assert_eq!(
            answers_path(&spec, &files, None).as_deref(),
            Some(".copier/answers.yml")
        );
    }

    #[test]
    fn secrets_and_private_answers_are_left_out_and_the_file_round_trips() {
        let (_, files) = native(&format!(
            "{BASE}parameters:\n  - name: token\n    type: string\n    secret: true\n  - name: app\n    type: string\n"
        ));
        let secret = secret_parameters(&files);
        assert_eq!(secret, vec!["token".to_string()]);
        let answers = json!({"app": "x", "token": "s3cret", "_private": 1});
        let kept = writable_answers(answers.as_object().unwrap(), &secret);
        assert_eq!(Value::Object(kept.clone()), json!({"app": "x"}));
        let file = AnswersFile {
            template: AnswersTemplate {
                id: "t1".into(),
                name: "t".into(),
                commit: "abc".into(),
                version: "1.0.0".into(),
                url: None,
            },
            instantiation_id: Some("i1".into()),
            answers: kept,
        };
        let yaml = file.to_yaml();
        assert!(!String::from_utf8_lossy(&yaml).contains("s3cret"));
        assert_eq!(AnswersFile::parse(&yaml).unwrap(), file);
    }
}

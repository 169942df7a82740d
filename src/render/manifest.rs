//! `manifest.yaml`: parsing and validation of native templates.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::fnmatch::Pattern;
use super::params::{ParamType, ParameterSpec, choice_matches, choices_text, kind_name};
use super::{Context, MANIFEST_FILE, RenderError, RenderErrorKind, SourceFile, safe_relative_path};

/// The fixed category list.
pub const CATEGORIES: [&str; 15] = [
    "ai_ml_engineer",
    "backend_developer",
    "database_specialist",
    "devops_engineer",
    "frontend_developer",
    "integration_tester",
    "maestro-curated",
    "qa_engineer",
    "requirement_analyst",
    "sdlc-templates",
    "security_specialist",
    "solution_architect",
    "technical_writer",
    "ui_ux_designer",
    "frontend-templates",
];

const KNOWN_FIELDS: [&str; 12] = [
    "name",
    "version",
    "description",
    "category",
    "author",
    "tags",
    "dependencies",
    "files",
    "parameters",
    "copy_without_render",
    "hooks",
    "answers_file",
];

static NAME_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^[a-z0-9_-]{1,100}$").ok());
static PARAM_NAME_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").ok());
// Semantic Versioning 2.0.0 (semver.org's reference expression).
static SEMVER_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
    )
    .ok()
});

fn re_match(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(s))
}

/// A dependency of the generated project with its version constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub name: String,
    pub constraint: String,
}

/// A parsed, validated `manifest.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub category: String,
    pub author: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    /// Source paths the output consists of (`dir/` = everything under `dir`); `None` = every
    /// file except `manifest.yaml`, the top-level `README.md`, `examples/` and `hooks/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    #[serde(default)]
    /// The parameters as declared (the same shape as a cookiecutter template's).
    pub parameters: Vec<ParameterSpec>,
    #[serde(default)]
    pub copy_without_render: Vec<String>,
    /// Set by [`super::detect`] from the file set: the template has a `hooks/` folder.
    #[serde(default)]
    pub has_hooks: bool,
}

struct Errors(Vec<String>);

impl Errors {
    fn push(&mut self, field: &str, msg: impl std::fmt::Display) {
        self.0.push(format!("{field}: {msg}"));
    }
}

fn req_string(obj: &Map<String, Json>, field: &str, errs: &mut Errors) -> String {
    match obj.get(field) {
        Some(Json::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Json::String(_)) => {
            errs.push(field, "must not be empty");
            String::new()
        }
        None | Some(Json::Null) => {
            errs.push(field, "is required");
            String::new()
        }
        Some(other) => {
            errs.push(field, format!("must be a string, got {}", kind_name(other)));
            String::new()
        }
    }
}

fn string_list(obj: &Map<String, Json>, field: &str, errs: &mut Errors) -> Option<Vec<String>> {
    match obj.get(field) {
        None | Some(Json::Null) => None,
        Some(Json::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::String(s) => out.push(s.clone()),
                    other => errs.push(
                        &format!("{field}[{i}]"),
                        format!("must be a string, got {}", kind_name(other)),
                    ),
                }
            }
            Some(out)
        }
        Some(other) => {
            errs.push(
                field,
                format!("must be a list of strings, got {}", kind_name(other)),
            );
            None
        }
    }
}

impl Manifest {
    /// Parses and validates `manifest.yaml`, reporting every problem with its field.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, RenderError> {
        let doc: Json = yaml_serde::from_slice(bytes).map_err(|e| {
            let line = e.location().map(|l| l.line());
            RenderError::new(
                RenderErrorKind::InvalidSpec,
                Some(MANIFEST_FILE),
                line,
                format!("invalid YAML: {e}"),
            )
        })?;
        let Json::Object(obj) = doc else {
            return Err(RenderError::spec(
                Some(MANIFEST_FILE),
                format!(
                    "must be a YAML mapping of fields (name, version, …), got {}",
                    kind_name(&doc)
                ),
            ));
        };
        let mut errs = Errors(Vec::new());
        for key in obj.keys() {
            if !KNOWN_FIELDS.contains(&key.as_str()) {
                errs.push(
                    key,
                    format!("unknown field; the fields are: {}", KNOWN_FIELDS.join(", ")),
                );
            }
        }

        let name = req_string(&obj, "name", &mut errs);
        if !name.is_empty() && !re_match(&NAME_RE, &name) {
            errs.push(
                "name",
                format!("{name:?} must be 1-100 lowercase letters, digits, '-' or '_'"),
            );
        }
        let version = match obj.get("version") {
            Some(Json::Number(n)) => {
                errs.push(
                    "version",
                    format!("{n} is a number; write a semantic version like \"1.2.0\""),
                );
                String::new()
            }
            _ => req_string(&obj, "version", &mut errs),
        };
        if !version.is_empty() && !re_match(&SEMVER_RE, &version) {
            errs.push(
                "version",
                format!("{version:?} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)"),
            );
        }
        let description = req_string(&obj, "description", &mut errs);
        let category = req_string(&obj, "category", &mut errs);
        if !category.is_empty() && !CATEGORIES.contains(&category.as_str()) {
            errs.push(
                "category",
                format!(
                    "{category:?} is not a category; use one of: {}",
                    CATEGORIES.join(", ")
                ),
            );
        }
        let author = req_string(&obj, "author", &mut errs);
        let tags = string_list(&obj, "tags", &mut errs).unwrap_or_default();
        for (i, t) in tags.iter().enumerate() {
            if t.is_empty() || t.chars().any(char::is_whitespace) || t.to_lowercase() != *t {
                errs.push(
                    &format!("tags[{i}]"),
                    format!("{t:?} must be a lowercase word without spaces"),
                );
            }
        }
        let dependencies = parse_dependencies(obj.get("dependencies"), &mut errs);
        let files = string_list(&obj, "files", &mut errs);
        if let Some(files) = &files {
            for (i, f) in files.iter().enumerate() {
                if let Err(e) = safe_relative_path(f) {
                    errs.push(&format!("files[{i}]"), e);
                }
            }
        }
        let copy_without_render =
            string_list(&obj, "copy_without_render", &mut errs).unwrap_or_default();
        for (i, g) in copy_without_render.iter().enumerate() {
            if let Err(e) = Pattern::new(g) {
                errs.push(&format!("copy_without_render[{i}]"), e);
            }
        }
        if obj.contains_key("hooks") {
            errs.push(
                "hooks",
                "hooks are never executed by Maestro; remove the field",
            );
        }
        let parameters = parse_parameters(obj.get("parameters"), &mut errs);
        // The answers file's name, or `false` for none (read by the templates module).
        match obj.get("answers_file") {
            None | Some(Json::Null) | Some(Json::Bool(_)) => {}
            Some(Json::String(path)) => {
                if let Err(e) = safe_relative_path(path) {
                    errs.push("answers_file", e);
                }
            }
            Some(other) => errs.push(
                "answers_file",
                format!("must be false or a relative path, got {}", kind_name(other)),
            ),
        }

        if !errs.0.is_empty() {
            return Err(RenderError::spec(Some(MANIFEST_FILE), errs.0.join("; ")));
        }
        Ok(Manifest {
            name,
            version,
            description,
            category,
            author,
            tags,
            dependencies,
            files,
            parameters,
            copy_without_render,
            has_hooks: false,
        })
    }

    /// Checks the manifest against the file set (listed files exist) and records hooks.
    pub(super) fn check_files(&self, files: &[SourceFile]) -> Result<(), RenderError> {
        let _ = self.select_files(files)?;
        Ok(())
    }

    pub(super) fn parameter_specs(&self) -> Vec<ParameterSpec> {
        self.parameters.clone()
    }

    /// The source files the output is made of, sorted by path.
    pub(super) fn select_files<'a>(
        &self,
        files: &'a [SourceFile],
    ) -> Result<Vec<&'a SourceFile>, RenderError> {
        let mut selected: Vec<&SourceFile> = match &self.files {
            Some(entries) => {
                let mut out: Vec<&SourceFile> = Vec::new();
                let mut missing = Vec::new();
                for entry in entries {
                    let before = out.len();
                    if let Some(dir) = entry.strip_suffix('/') {
                        let prefix = format!("{dir}/");
                        out.extend(files.iter().filter(|f| f.path.starts_with(&prefix)));
                    } else {
                        out.extend(files.iter().filter(|f| f.path == *entry));
                    }
                    if out.len() == before {
                        missing.push(entry.clone());
                    }
                }
                if !missing.is_empty() {
                    return Err(RenderError::spec(
                        Some(MANIFEST_FILE),
                        format!(
                            "files: no such file or folder in the template: {}",
                            missing.join(", ")
                        ),
                    ));
                }
                out
            }
            None => files
                .iter()
                .filter(|f| {
                    f.path != MANIFEST_FILE
                        && f.path != "README.md"
                        && !f.path.starts_with("examples/")
                        && !f.path.starts_with("hooks/")
                })
                .collect(),
        };
        selected.sort_by(|a, b| a.path.cmp(&b.path));
        selected.dedup_by(|a, b| a.path == b.path);
        Ok(selected)
    }

    /// A context must come from this manifest's parameters.
    pub(super) fn check_context(&self, ctx: &Context) -> Result<(), RenderError> {
        for p in &self.parameters {
            if !ctx.variables.contains_key(&p.name) {
                return Err(RenderError::new(
                    RenderErrorKind::InvalidContext,
                    None,
                    None,
                    format!(
                        "the context has no value for parameter {:?}; resolve the parameters of this template first",
                        p.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn parse_dependencies(v: Option<&Json>, errs: &mut Errors) -> Vec<Dependency> {
    let mut out = Vec::new();
    let mut add = |name: &str, c: &Json, field: String, errs: &mut Errors| match c {
        Json::String(s) => out.push(Dependency {
            name: name.to_string(),
            constraint: s.clone(),
        }),
        Json::Null => out.push(Dependency {
            name: name.to_string(),
            constraint: String::new(),
        }),
        other => errs.push(
            &field,
            format!(
                "the version constraint must be a string like \">=1.2,<2\" (quote it), got {}",
                kind_name(other)
            ),
        ),
    };
    match v {
        None | Some(Json::Null) => {}
        Some(Json::Object(map)) => {
            for (k, c) in map {
                add(k, c, format!("dependencies.{k}"), errs);
            }
        }
        Some(Json::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::Object(m) if m.len() == 1 => {
                        if let Some((k, c)) = m.iter().next() {
                            add(k, c, format!("dependencies[{i}].{k}"), errs);
                        }
                    }
                    other => errs.push(
                        &format!("dependencies[{i}]"),
                        format!(
                            "must be a single-key mapping `name: constraint`, got {}",
                            kind_name(other)
                        ),
                    ),
                }
            }
        }
        Some(other) => errs.push(
            "dependencies",
            format!(
                "must be a list of `name: constraint` entries, got {}",
                kind_name(other)
            ),
        ),
    }
    out
}

fn parse_parameters(v: Option<&Json>, errs: &mut Errors) -> Vec<ParameterSpec> {
    const FIELDS: [&str; 8] = [
        "name", "type", "default", "choices", "pattern", "required", "help", "secret",
    ];
    let items = match v {
        None | Some(Json::Null) => return Vec::new(),
        Some(Json::Array(items)) => items,
        Some(other) => {
            errs.push(
                "parameters",
                format!("must be a list, got {}", kind_name(other)),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<ParameterSpec> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Json::Object(obj) = item else {
            errs.push(
                &format!("parameters[{i}]"),
                format!("must be a mapping, got {}", kind_name(item)),
            );
            continue;
        };
        let name = match obj.get("name") {
            Some(Json::String(s)) => s.clone(),
            _ => {
                errs.push(
                    &format!("parameters[{i}].name"),
                    "is required and must be a string",
                );
                continue;
            }
        };
        let f = |field: &str| format!("parameters[{i}] ({name}).{field}");
        let err_count = errs.0.len();
        for key in obj.keys() {
            if !FIELDS.contains(&key.as_str()) {
                errs.push(
                    &f(key),
                    format!("unknown field; the fields are: {}", FIELDS.join(", ")),
                );
            }
        }
        if !re_match(&PARAM_NAME_RE, &name) {
            errs.push(
                &f("name"),
                "must be an identifier (letters, digits, '_'; not starting with a digit)",
            );
        }
        if name == "cookiecutter" {
            errs.push(
                &f("name"),
                "\"cookiecutter\" is reserved (it names the map of all parameters)",
            );
        }
        if out.iter().any(|p| p.name == name) {
            errs.push(&f("name"), "is declared twice");
        }
        let param_type = match obj.get("type") {
            None | Some(Json::Null) => ParamType::String,
            Some(Json::String(t)) => match ParamType::parse(t) {
                Some(t) => t,
                None => {
                    errs.push(&f("type"), format!("{t:?} is not a type; use string, integer, number, boolean, choice, list or object"));
                    ParamType::String
                }
            },
            Some(other) => {
                errs.push(
                    &f("type"),
                    format!("must be a string, got {}", kind_name(other)),
                );
                ParamType::String
            }
        };
        let choices = match obj.get("choices") {
            None | Some(Json::Null) => None,
            Some(Json::Array(c)) if !c.is_empty() => Some(c.clone()),
            Some(other) => {
                errs.push(
                    &f("choices"),
                    format!("must be a non-empty list, got {}", kind_name(other)),
                );
                None
            }
        };
        if param_type == ParamType::Choice && choices.is_none() {
            errs.push(
                &f("choices"),
                "a choice parameter needs a non-empty choices list",
            );
        }
        if param_type != ParamType::Choice && choices.is_some() {
            errs.push(&f("choices"), "only choice parameters have choices");
        }
        let pattern = match obj.get("pattern") {
            None | Some(Json::Null) => None,
            Some(Json::String(p)) => {
                if param_type != ParamType::String {
                    errs.push(&f("pattern"), "only string parameters have a pattern");
                }
                if let Err(e) = regex::RegexBuilder::new(&format!("^(?:{p})$"))
                    .size_limit(1 << 20)
                    .build()
                {
                    errs.push(&f("pattern"), format!("invalid regex: {e}"));
                }
                Some(p.clone())
            }
            Some(other) => {
                errs.push(
                    &f("pattern"),
                    format!("must be a string, got {}", kind_name(other)),
                );
                None
            }
        };
        let required = match obj.get("required") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(other) => {
                errs.push(
                    &f("required"),
                    format!("must be true or false, got {}", kind_name(other)),
                );
                false
            }
        };
        // `secret: true` keeps the answer out of the answers file (read by the templates module).
        if let Some(other) = obj
            .get("secret")
            .filter(|v| !v.is_boolean() && !v.is_null())
        {
            errs.push(
                &f("secret"),
                format!("must be true or false, got {}", kind_name(other)),
            );
        }
        let help = match obj.get("help") {
            None | Some(Json::Null) => None,
            Some(Json::String(h)) => Some(h.clone()),
            Some(other) => {
                errs.push(
                    &f("help"),
                    format!("must be a string, got {}", kind_name(other)),
                );
                None
            }
        };
        let default = obj.get("default").filter(|d| !d.is_null()).cloned();
        if let Some(d) = &default {
            let templated = matches!(d, Json::String(s) if s.contains("{{") || s.contains("{%"));
            let ok = templated
                || match param_type {
                    ParamType::String => d.is_string(),
                    ParamType::Integer => d.is_i64() || d.is_u64(),
                    ParamType::Number => d.is_number(),
                    ParamType::Boolean => d.is_boolean(),
                    ParamType::List => d.is_array(),
                    ParamType::Object => d.is_object(),
                    ParamType::Choice => choices
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .any(|c| choice_matches(d, c)),
                };
            if !ok {
                let msg = if param_type == ParamType::Choice {
                    format!(
                        "{d} is not one of the choices: {}",
                        choices_text(choices.as_deref().unwrap_or_default())
                    )
                } else {
                    format!("must be {}, got {}", param_type.described(), kind_name(d))
                };
                errs.push(&f("default"), msg);
            }
        }
        if errs.0.len() == err_count {
            out.push(ParameterSpec {
                name,
                param_type,
                default,
                choices,
                pattern,
                required,
                help,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::render::tests::MANIFEST;

    #[test]
    fn parses_the_shared_fixture() {
        let src = MANIFEST.replace(
            "copy_without_render:",
            "files:\n  - \"{{ package_name }}/__init__.py\"\n  - tests/\ncopy_without_render:",
        );
        let m = Manifest::parse(src.as_bytes()).unwrap();
        assert_eq!(m.name, "svc");
        assert_eq!(m.version, "1.0.0");
        assert_eq!(
            m.dependencies[0],
            Dependency {
                name: "fastapi".into(),
                constraint: ">=0.115,<1".into()
            }
        );
        assert_eq!(m.parameters.len(), 7);
        assert_eq!(m.parameters[1].param_type, ParamType::String);
        assert_eq!(m.files.as_ref().map(Vec::len), Some(2));
        // Round-trips through serde for storage.
        let json = serde_json::to_string(&m).unwrap();
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn dependencies_as_plain_map() {
        let src = MANIFEST.replace(
            "  - fastapi: \">=0.115,<1\"\n  - uvicorn: \">=0.30\"",
            "  fastapi: \">=0.115,<1\"\n  uvicorn: \">=0.30\"",
        );
        assert_ne!(src, MANIFEST);
        let m = Manifest::parse(src.as_bytes()).unwrap();
        assert_eq!(m.dependencies.len(), 2);
        assert_eq!(m.dependencies[1].name, "uvicorn");
    }

    #[test]
    fn every_bad_field_is_named() {
        let src = r#"
name: Bad Name
version: 1.2
description: ""
category: wizard
tags: [Python]
dependencies: [fastapi]
parameters:
  - name: 1x
    type: strng
  - name: c
    type: choice
    default: z
    choices: [a, b]
  - name: n
    type: integer
    default: many
colour: blue
"#;
        let err = Manifest::parse(src.as_bytes()).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("manifest.yaml"));
        let m = err.message;
        for needle in [
            "name: \"Bad Name\" must be 1-100 lowercase",
            "version: 1.2 is a number",
            "description: must not be empty",
            "category: \"wizard\" is not a category",
            "author: is required",
            "tags[0]: \"Python\" must be a lowercase word",
            "dependencies[0]: must be a single-key mapping",
            "parameters[0] (1x).name: must be an identifier",
            "parameters[0] (1x).type: \"strng\" is not a type",
            "parameters[1] (c).default: \"z\" is not one of the choices: \"a\", \"b\"",
            "parameters[2] (n).default: must be an integer, got a string",
            "colour: unknown field",
        ] {
            assert!(m.contains(needle), "missing {needle:?} in {m}");
        }
    }

    #[test]
    fn malformed_yaml_reports_the_line() {
        let err = Manifest::parse(b"name: x\nversion: [1.0\n").unwrap_err();
        assert_eq!(err.kind, RenderErrorKind::InvalidSpec);
        assert!(err.line.is_some(), "{err:?}");
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        let err = Manifest::parse(b"- just\n- a list\n").unwrap_err();
        assert!(err.message.contains("must be a YAML mapping"));
    }
}

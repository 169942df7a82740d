//! End-to-end behaviour of the public API: native templates, parameter validation for both
//! formats, and failure modes (broken templates, endless loops, unsafe names, limits).
//! One file per topic: [`native`] templates, [`cookiecutter`] templates, [`failures`] (broken
//! templates, limits, unsafe names, arbitrary input); the fixtures they share are here.

mod cookiecutter;
mod failures;
mod native;

use serde_json::{Map, Value as Json};

use super::*;

/// The message of the error about `field` (empty when none is).
fn message_of(errs: &[FieldError], field: &str) -> String {
    errs.iter()
        .find(|e| e.field == field)
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

/// Asserts that an error message says `needle`, showing the message when it does not.
fn assert_says(message: &str, needle: &str) {
    assert!(
        message.contains(needle),
        "{message:?} does not say {needle:?}"
    );
}

fn file(path: &str, content: &str) -> SourceFile {
    SourceFile::new(path, content.as_bytes())
}

fn input(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

fn opts() -> RenderOptions {
    RenderOptions {
        now: chrono::DateTime::parse_from_rfc3339("2024-02-29T23:30:15Z")
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc)),
        seed: Some(1),
        ..RenderOptions::default()
    }
}

fn out_map(out: &RenderOutput) -> std::collections::BTreeMap<String, String> {
    out.files
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                String::from_utf8_lossy(&f.content).into_owned(),
            )
        })
        .collect()
}
fn cc_files(json_src: &str, body: &str) -> Vec<SourceFile> {
    vec![
        file("cookiecutter.json", json_src),
        file("{{cookiecutter.slug}}/out.txt", body),
    ]
}

fn render_cc(body: &str, o: &RenderOptions) -> Result<RenderOutput, RenderError> {
    let files = cc_files(r#"{"slug": "proj"}"#, body);
    let spec = detect(&files)?;
    let ctx = resolve_parameters(&spec, &Map::new(), o)
        .map_err(|e| RenderError::spec(None, format!("{e:?}")))?;
    render(&spec, &files, &ctx, o)
}

/// A native manifest with every parameter type (also the fixture of [`super::manifest`]'s
/// tests).
pub(super) const MANIFEST: &str = r#"
name: svc
version: 1.0.0
description: A service
category: backend_developer
author: Team
dependencies:
  - fastapi: ">=0.115,<1"
  - uvicorn: ">=0.30"
parameters:
  - name: project_name
    type: string
    default: my-service
    pattern: "[a-z][a-z0-9-]{1,62}"
    required: true
  - name: package_name
    default: "{{ project_name | replace('-', '_') }}"
  - name: python_version
    type: choice
    choices: ["3.11", "3.12"]
    default: "3.12"
  - name: with_database
    type: boolean
    default: false
  - name: replicas
    type: integer
    default: 2
  - name: ratio
    type: number
    default: 0.5
  - name: extras
    type: list
    default: []
copy_without_render:
  - "static/*.svg"
"#;

fn native_files() -> Vec<SourceFile> {
    vec![
        file("manifest.yaml", MANIFEST),
        file("README.md", "template docs, not output"),
        file("examples/demo.txt", "never output"),
        file(
            "{{ package_name }}/__init__.py",
            "NAME = '{{ project_name }}'\nPY = '{{ python_version }}'\n",
        ),
        file(
            "{{ package_name }}/{% if with_database %}db.py{% endif %}",
            "db\n",
        ),
        file(
            "{% if with_database %}migrations{% endif %}/001.sql",
            "create table x;\n",
        ),
        file("static/logo.svg", "<svg>{{ not rendered }}</svg>\n"),
        file(
            "config.yaml",
            "replicas: {{ replicas }}\nratio: {{ ratio }}\nextras: {{ extras | join(',') }}\nalias: {{ cookiecutter.project_name }}\n",
        ),
        SourceFile::new("run.sh", "#!/bin/sh\necho {{ project_name }}\n").executable(true),
        SourceFile::new("img.png", b"\x89PNG\r\n\x1a\n\x00{{ x }}".to_vec()),
    ]
}

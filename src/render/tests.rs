//! End-to-end behaviour of the public API: native templates, parameter validation for both
//! formats, and failure modes (broken templates, endless loops, unsafe names, limits).

use serde_json::{Map, Value as Json, json};

use super::*;

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

const MANIFEST: &str = r#"
name: svc
version: 1.0.0
description: A service
category: backend_developer
author: Team
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

#[test]
fn native_template_end_to_end() {
    let files = native_files();
    let spec = detect(&files).unwrap();
    assert!(matches!(spec, TemplateSpec::Native(_)));
    assert!(!spec.has_hooks());
    let params = spec.parameters();
    assert_eq!(
        params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        [
            "project_name",
            "package_name",
            "python_version",
            "with_database",
            "replicas",
            "ratio",
            "extras"
        ]
    );
    let ctx = resolve_parameters(
        &spec,
        &input(json!({"project_name": "billing-api", "replicas": "3"})),
        &opts(),
    )
    .unwrap();
    assert_eq!(
        ctx.parameters["package_name"],
        json!("billing_api"),
        "default rendered from an earlier parameter"
    );
    assert_eq!(
        ctx.parameters["replicas"],
        json!(3),
        "integer coerced from a string"
    );
    assert_eq!(
        ctx.parameters.keys().collect::<Vec<_>>(),
        params.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    let out = render(&spec, &files, &ctx, &opts()).unwrap();
    assert_eq!(out.root_dir, None);
    let m = out_map(&out);
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        [
            "billing_api/__init__.py",
            "config.yaml",
            "img.png",
            "run.sh",
            "static/logo.svg"
        ]
    );
    assert_eq!(
        m["billing_api/__init__.py"],
        "NAME = 'billing-api'\nPY = '3.12'\n"
    );
    assert_eq!(
        m["config.yaml"],
        "replicas: 3\nratio: 0.5\nextras: \nalias: billing-api\n"
    );
    assert_eq!(
        m["static/logo.svg"], "<svg>{{ not rendered }}</svg>\n",
        "copy_without_render"
    );
    let png = out.files.iter().find(|f| f.path == "img.png").unwrap();
    assert_eq!(
        png.content,
        b"\x89PNG\r\n\x1a\n\x00{{ x }}".to_vec(),
        "binary copied raw"
    );
    assert!(
        out.files
            .iter()
            .find(|f| f.path == "run.sh")
            .unwrap()
            .executable
    );
    assert!(
        !out.files
            .iter()
            .find(|f| f.path == "config.yaml")
            .unwrap()
            .executable
    );
}

#[test]
fn native_optional_files_and_folders() {
    let files = native_files();
    let spec = detect(&files).unwrap();
    let ctx = resolve_parameters(&spec, &input(json!({"with_database": "yes"})), &opts()).unwrap();
    let out = render(&spec, &files, &ctx, &opts()).unwrap();
    let m = out_map(&out);
    assert!(m.contains_key("my_service/db.py"));
    assert!(m.contains_key("migrations/001.sql"));
}

#[test]
fn native_files_list_with_folders() {
    let manifest = MANIFEST.replace(
        "copy_without_render:",
        "files:\n  - \"{{ package_name }}/\"\n  - run.sh\ncopy_without_render:",
    );
    let mut files = native_files();
    files[0] = file("manifest.yaml", &manifest);
    let spec = detect(&files).unwrap();
    let ctx = resolve_parameters(&spec, &Map::new(), &opts()).unwrap();
    let out = render(&spec, &files, &ctx, &opts()).unwrap();
    assert_eq!(
        out_map(&out).keys().collect::<Vec<_>>(),
        ["my_service/__init__.py", "run.sh"]
    );

    let manifest = MANIFEST.replace(
        "copy_without_render:",
        "files:\n  - missing.txt\n  - nowhere/\ncopy_without_render:",
    );
    files[0] = file("manifest.yaml", &manifest);
    let err = detect(&files).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::InvalidSpec);
    assert!(
        err.message.contains("missing.txt, nowhere/"),
        "{}",
        err.message
    );
}

#[test]
fn native_parameter_errors_list_every_field() {
    let spec = detect(&native_files()).unwrap();
    let errs = resolve_parameters(
        &spec,
        &input(json!({
            "project_name": "Bad Name",
            "python_version": "2.7",
            "with_database": "perhaps",
            "replicas": 1.5,
            "ratio": "lots",
            "extras": "a,b",
            "colour": "blue"
        })),
        &opts(),
    )
    .unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "colour",
            "project_name",
            "python_version",
            "with_database",
            "replicas",
            "ratio",
            "extras"
        ]
    );
    let msg = |f: &str| {
        errs.iter()
            .find(|e| e.field == f)
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    assert!(
        msg("colour").contains("unknown parameter; expected one of: project_name"),
        "{}",
        msg("colour")
    );
    assert!(msg("project_name").contains("does not match the pattern [a-z][a-z0-9-]{1,62}"));
    assert!(msg("python_version").contains("is not one of the choices: \"3.11\", \"3.12\""));
    assert!(msg("with_database").contains("expected a boolean"));
    assert!(msg("replicas").contains("expected an integer"));
    assert!(msg("ratio").contains("expected a number"));
    assert!(msg("extras").contains("expected an array"));
}

#[test]
fn native_required_and_pattern_is_a_full_match() {
    let spec = detect(&native_files()).unwrap();
    let errs = resolve_parameters(&spec, &input(json!({"project_name": ""})), &opts()).unwrap_err();
    assert_eq!(errs[0].field, "project_name");
    assert!(errs[0].message.contains("must not be empty"));
    // The pattern has no anchors but must match the whole value.
    let errs = resolve_parameters(&spec, &input(json!({"project_name": "ok-name!"})), &opts())
        .unwrap_err();
    assert!(errs[0].message.contains("does not match"));
    let manifest = MANIFEST.replace("    default: my-service\n", "");
    let files = vec![file("manifest.yaml", &manifest)];
    let spec = detect(&files).unwrap();
    let errs = resolve_parameters(&spec, &Map::new(), &opts()).unwrap_err();
    assert_eq!(errs[0].field, "project_name");
    assert!(
        errs[0].message.starts_with("is required"),
        "{}",
        errs[0].message
    );
}

#[test]
fn native_boolean_words() {
    let spec = detect(&native_files()).unwrap();
    for (word, want) in [
        ("yes", true),
        ("no", false),
        ("true", true),
        ("False", false),
        ("y", true),
        ("off", false),
    ] {
        let ctx =
            resolve_parameters(&spec, &input(json!({"with_database": word})), &opts()).unwrap();
        assert_eq!(ctx.parameters["with_database"], json!(want), "{word}");
    }
}

fn cc_files(json_src: &str, body: &str) -> Vec<SourceFile> {
    vec![
        file("cookiecutter.json", json_src),
        file("{{cookiecutter.slug}}/out.txt", body),
    ]
}

#[test]
fn cookiecutter_parameters_and_overrides() {
    let files = cc_files(
        r#"{"name": "Demo", "slug": "{{ cookiecutter.name|lower }}", "kind": ["lib", "app"], "debug": false,
            "port": 8080, "ratio": 0.5, "opts": {"a": "1", "b": {"c": "{{ cookiecutter.slug }}"}},
            "__prompts__": {"name": "Project name", "kind": {"__prompt__": "What kind?"}}, "_private": 1}"#,
        "{{ cookiecutter.slug }} {{ cookiecutter.kind }} {{ cookiecutter.debug }} {{ cookiecutter.port }} {{ cookiecutter.opts }}\n",
    );
    let spec = detect(&files).unwrap();
    let params = spec.parameters();
    let summary: Vec<(String, ParamType)> = params
        .iter()
        .map(|p| (p.name.clone(), p.param_type))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("name".to_string(), ParamType::String),
            ("slug".to_string(), ParamType::String),
            ("kind".to_string(), ParamType::Choice),
            ("debug".to_string(), ParamType::Boolean),
            ("port".to_string(), ParamType::Integer),
            ("ratio".to_string(), ParamType::Number),
            ("opts".to_string(), ParamType::Object),
        ]
    );
    assert_eq!(params[0].help.as_deref(), Some("Project name"));
    assert_eq!(params[2].help.as_deref(), Some("What kind?"));
    assert_eq!(
        params[2].default,
        Some(json!("lib")),
        "a choice defaults to its first item"
    );

    let ctx = resolve_parameters(
        &spec,
        &input(json!({"name": "Big App", "kind": "app", "debug": "yes", "port": "9000", "opts": {"b": {"d": "x"}}})),
        &opts(),
    )
    .unwrap();
    let cc = &ctx.variables["cookiecutter"];
    assert_eq!(cc["slug"], json!("big app"));
    assert_eq!(cc["kind"], json!("app"));
    assert_eq!(cc["debug"], json!(true));
    assert_eq!(
        cc["port"],
        json!("9000"),
        "cookiecutter turns numbers into strings"
    );
    assert_eq!(
        cc["opts"],
        json!({"a": "1", "b": {"c": "big app", "d": "x"}}),
        "dicts merge key by key"
    );
    assert_eq!(cc["_private"], json!(1));
    assert!(cc.get("__prompts__").is_none());
    assert_eq!(
        ctx.variables["_cookiecutter"]["kind"],
        json!(["app", "lib"]),
        "the chosen option moves first"
    );
    let out = render(&spec, &files, &ctx, &opts()).unwrap();
    assert_eq!(out.root_dir.as_deref(), Some("big app"));
    assert_eq!(
        out_map(&out)["out.txt"],
        "big app app True 9000 {'a': '1', 'b': {'c': 'big app', 'd': 'x'}}\n"
    );
}

#[test]
fn cookiecutter_parameter_errors() {
    let files = cc_files(
        r#"{"slug": "x", "kind": ["lib", "app"], "debug": false, "port": 1, "opts": {}}"#,
        "",
    );
    let spec = detect(&files).unwrap();
    let errs = resolve_parameters(
        &spec,
        &input(json!({"slug": 5, "kind": "tool", "debug": "maybe", "port": "eighty", "opts": [1], "_private": 1})),
        &opts(),
    )
    .unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["slug", "kind", "debug", "port", "opts", "_private"]
    );
    assert!(
        errs[1]
            .message
            .contains("\"tool\" is not one of the choices: \"lib\", \"app\""),
        "{}",
        errs[1].message
    );
    assert!(
        errs[5].message.contains("not a private variable"),
        "{}",
        errs[5].message
    );
    // Multichoice: a subset list is accepted; under --no-input its first item is used.
    let ctx = resolve_parameters(&spec, &input(json!({"kind": ["app"]})), &opts()).unwrap();
    assert_eq!(ctx.parameters["kind"], json!("app"));
    let errs =
        resolve_parameters(&spec, &input(json!({"kind": ["app", "nope"]})), &opts()).unwrap_err();
    assert!(errs[0].message.contains("multi-choice"));
}

#[test]
fn cookiecutter_default_render_error_names_the_variable() {
    let files = cc_files(r#"{"slug": "{{ cookiecutter.missing }}"}"#, "");
    let spec = detect(&files).unwrap();
    let errs = resolve_parameters(&spec, &Map::new(), &opts()).unwrap_err();
    assert_eq!(errs[0].field, "slug");
    assert!(
        errs[0].message.contains("unable to render variable 'slug'"),
        "{}",
        errs[0].message
    );
    assert!(errs[0].message.contains("undefined"), "{}", errs[0].message);
}

#[test]
fn unknown_extensions_are_refused() {
    let files = cc_files(
        r#"{"slug": "x", "_extensions": ["local_extensions.FooExtension", "jinja2_time.TimeExtension"]}"#,
        "",
    );
    let err = detect(&files).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::Unsupported);
    assert_eq!(err.path.as_deref(), Some("cookiecutter.json"));
    assert!(
        err.message
            .starts_with("_extensions: local_extensions.FooExtension is Python code"),
        "{}",
        err.message
    );
    let files = cc_files(
        r#"{"slug": "x", "_extensions": ["jinja2_time.TimeExtension", "cookiecutter.extensions.UUIDExtension"]}"#,
        "",
    );
    assert!(detect(&files).is_ok());
}

#[test]
fn detection_errors() {
    let err = detect(&[file("README.md", "hi")]).unwrap_err();
    assert!(err.message.contains("not a template"));
    let err = detect(&[file("cookiecutter.json", "{}"), file("project/x", "")]).unwrap_err();
    assert!(
        err.message.contains("no project template folder"),
        "{}",
        err.message
    );
    let err = detect(&[file("cookiecutter.json", "{\n  \"a\": 1,\n  \"b\": \n}")]).unwrap_err();
    assert_eq!(
        (err.path.as_deref(), err.line),
        (Some("cookiecutter.json"), Some(4))
    );
    assert!(err.message.starts_with("JSON decoding error"));
    let err = detect(&cc_files(r#"{"template": "x"}"#, "")).unwrap_err();
    assert!(err.message.contains("template must be a list"), "{err}");
    let err = detect(&cc_files(r#"{"_jinja2_env_vars": {"undefined": "x"}}"#, "")).unwrap_err();
    assert!(
        err.message
            .contains("_jinja2_env_vars.undefined is not supported")
    );
    let err = detect(&[file("manifest.yaml", "name: [unclosed")]).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("manifest.yaml"));
}

fn render_cc(body: &str, o: &RenderOptions) -> Result<RenderOutput, RenderError> {
    let files = cc_files(r#"{"slug": "proj"}"#, body);
    let spec = detect(&files)?;
    let ctx = resolve_parameters(&spec, &Map::new(), o)
        .map_err(|e| RenderError::spec(None, format!("{e:?}")))?;
    render(&spec, &files, &ctx, o)
}

#[test]
fn broken_templates_report_path_and_line() {
    let err = render_cc("line 1\nline 2\n{% if %}\n", &opts()).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::Syntax);
    assert_eq!(err.path.as_deref(), Some("{{cookiecutter.slug}}/out.txt"));
    assert_eq!(err.line, Some(3));
    assert!(
        err.to_string()
            .starts_with("{{cookiecutter.slug}}/out.txt:3: syntax error"),
        "{err}"
    );

    let err = render_cc("ok\n{{ cookiecutter.nope }}\n", &opts()).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::Render);
    assert_eq!(err.line, Some(2));
    assert!(err.message.contains("undefined"), "{}", err.message);

    let err = render_cc("{% for x in 1 %}{% endfor %}", &opts()).unwrap_err();
    assert_eq!(err.line, Some(1));

    let err = render_cc("{% include 'nope.txt' %}", &opts()).unwrap_err();
    assert!(
        err.message.contains("template not found"),
        "{}",
        err.message
    );
}

#[test]
fn errors_in_includes_point_at_the_included_file() {
    let files = vec![
        file("cookiecutter.json", r#"{"slug": "p"}"#),
        file(
            "{{cookiecutter.slug}}/main.txt",
            "a\n{% include 'part.txt' %}\n",
        ),
        file(
            "{{cookiecutter.slug}}/part.txt",
            "x\ny\n{{ cookiecutter.undefined_var }}\n",
        ),
    ];
    let spec = detect(&files).unwrap();
    let ctx = resolve_parameters(&spec, &Map::new(), &opts()).unwrap();
    let err = render(&spec, &files, &ctx, &opts()).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("{{cookiecutter.slug}}/part.txt"));
    assert_eq!(err.line, Some(3));
}

#[test]
fn endless_loops_run_out_of_fuel() {
    let o = RenderOptions {
        fuel: 200_000,
        ..opts()
    };
    let started = std::time::Instant::now();
    let err = render_cc(
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        &o,
    )
    .unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::LimitExceeded);
    assert!(err.message.contains("work budget"), "{}", err.message);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let err = render_cc("{{ 'x' * 1000000000 }}", &o).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::LimitExceeded, "{err}");
    let err = render_cc("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", &o).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::Render, "{err}");
}

#[test]
fn huge_intermediate_strings_are_refused_before_allocation() {
    for body in [
        "{{ '{:>1000000000}'.format('a') }}",
        "{{ '%1000000000s'|format('a') }}",
        "{{ '%*s'|format(1000000000, 'a') }}",
        "{{ ('a' * 10000).replace('a', 'b' * 10000) }}",
        "{{ ('a ' * 50000)|slugify(separator='x' * 50000) }}",
    ] {
        let err = render_cc(body, &opts()).unwrap_err();
        assert!(
            matches!(
                err.kind,
                RenderErrorKind::Render | RenderErrorKind::LimitExceeded
            ),
            "{body}: {err}"
        );
    }
    // Ordinary widths still work.
    let out = render_cc(
        "[{{ '{:>5}'.format('a') }}][{{ '%-4s'|format('b') }}]",
        &opts(),
    )
    .unwrap();
    assert_eq!(out_map(&out)["out.txt"], "[    a][b   ]");
}

#[test]
fn non_ascii_inside_tags() {
    let out = render_cc(
        "{% if 'é' %}{{ 'ü\\é' }}{% endif %}{# ß #}{{ \"%}é\" }}",
        &opts(),
    )
    .unwrap();
    assert_eq!(out_map(&out)["out.txt"], "ü\\é%}é");
    let err = render_cc("{% set é = 1 %}{{ ü }}", &opts()).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::Syntax, "{err}");
    let err = render_cc("{% now 'é' %}", &opts()).unwrap_err();
    assert!(
        err.message.contains("could not parse timezone expression"),
        "{}",
        err.message
    );
}

#[test]
fn output_limits() {
    let o = RenderOptions {
        max_output_bytes: 10,
        ..opts()
    };
    let err = render_cc("more than ten bytes\n", &o).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::LimitExceeded);
    let files = vec![
        file("cookiecutter.json", r#"{"slug": "p"}"#),
        file("{{cookiecutter.slug}}/a", "a"),
        file("{{cookiecutter.slug}}/b", "b"),
    ];
    let spec = detect(&files).unwrap();
    let o = RenderOptions {
        max_output_files: 1,
        ..opts()
    };
    let ctx = resolve_parameters(&spec, &Map::new(), &o).unwrap();
    let err = render(&spec, &files, &ctx, &o).unwrap_err();
    assert!(err.message.contains("more than 1 files"), "{}", err.message);
}

#[test]
fn unsafe_rendered_names_are_refused() {
    let files = vec![
        file(
            "cookiecutter.json",
            r#"{"slug": "p", "evil": "../../etc/passwd"}"#,
        ),
        file("{{cookiecutter.slug}}/{{cookiecutter.evil}}", "x"),
    ];
    let spec = detect(&files).unwrap();
    let ctx = resolve_parameters(&spec, &Map::new(), &opts()).unwrap();
    let err = render(&spec, &files, &ctx, &opts()).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::UnsafePath);
    assert!(err.message.contains("'..'"), "{}", err.message);
    // The project folder itself too.
    let files = vec![
        file("cookiecutter.json", r#"{"slug": "/abs"}"#),
        file("{{cookiecutter.slug}}/x", ""),
    ];
    let spec = detect(&files).unwrap();
    let ctx = resolve_parameters(&spec, &Map::new(), &opts()).unwrap();
    assert_eq!(
        render(&spec, &files, &ctx, &opts()).unwrap_err().kind,
        RenderErrorKind::UnsafePath
    );
}

#[test]
fn hooks_produce_a_warning() {
    let mut files = cc_files(r#"{"slug": "p"}"#, "x");
    files.push(file("hooks/post_gen_project.py", "raise SystemExit(1)"));
    let spec = detect(&files).unwrap();
    assert!(spec.has_hooks());
    let ctx = resolve_parameters(&spec, &Map::new(), &opts()).unwrap();
    let out = render(&spec, &files, &ctx, &opts()).unwrap();
    assert_eq!(out.warnings.len(), 1);
    assert!(out.warnings[0].contains("hooks were not executed"));
}

#[test]
fn seeded_randomness_is_reproducible() {
    let body = "{{ uuid4() }} {{ random_ascii_string(16) }}";
    let a = render_cc(body, &opts()).unwrap();
    let b = render_cc(body, &opts()).unwrap();
    assert_eq!(a, b);
    let c = render_cc(
        body,
        &RenderOptions {
            seed: Some(2),
            ..opts()
        },
    )
    .unwrap();
    assert_ne!(a, c);
    let text = String::from_utf8(a.files[0].content.clone()).unwrap();
    let (uuid, rand) = text.split_once(' ').unwrap();
    assert_eq!(uuid::Uuid::parse_str(uuid).unwrap().get_version_num(), 4);
    assert!(rand.len() == 16 && rand.chars().all(|c| c.is_ascii_alphabetic()));
}

#[test]
fn context_from_another_template_is_refused() {
    let spec = detect(&native_files()).unwrap();
    let ctx = Context {
        parameters: Map::new(),
        variables: Map::new(),
        template_path: None,
    };
    let err = render(&spec, &native_files(), &ctx, &opts()).unwrap_err();
    assert_eq!(err.kind, RenderErrorKind::InvalidContext);
    let files = cc_files(r#"{"slug": "p"}"#, "");
    let spec = detect(&files).unwrap();
    assert_eq!(
        render(&spec, &files, &ctx, &opts()).unwrap_err().kind,
        RenderErrorKind::InvalidContext
    );
}

/// Garbage in must give errors, never panics.
#[test]
fn arbitrary_input_never_panics() {
    let samples = [
        "{{",
        "{%",
        "{#",
        "}}",
        "{% now %}",
        "{% now 'utc' + %}",
        "{% now 'Mars/Base' %}",
        "{% now 'utc', 5 %}",
        "{% now 'utc' + 'days=x' %}",
        "{% now 'utc' - 'years=0.5' %}",
        "{% now 'utc' + 'years=100000' %}",
        "{{ ''|slugify(regex_pattern='(') }}",
        "{{ 5|slugify }}",
        "{{ 'x'|slugify(max_length='a') }}",
        "{{ {}|jsonify(indent=[]) }}",
        "{{ {1: 2, 'a': 3}|jsonify }}",
        "{{ random_ascii_string(10**9) }}",
        "{{ random_ascii_string() }}",
        "{{ 'a'.split('') }}",
        "{{ 'a'.center(10**12) }}",
        "{{ '%d'|format('x') }}",
        "{{ '{0} {1}'.format('a') }}",
        "{{ '{!z}'.format(1) }}",
        "{{ 'x'|truncate(1) }}",
        "{% raw %}",
        "{% for %}",
        "\u{0}\u{1}{{ '\u{fffd}' }}",
        "{{ 1/0 }}",
        "{{ [1]|random }}",
        "{{ []|random }}",
        "{{ 'é'|urlencode }}",
        "{% set x = 'a' * 100 %}{{ x|wordcount }}",
        "{{ 'ǅ'.title() }}{{ 'ﬁ'.capitalize() }}",
    ];
    for s in samples {
        let _ = render_cc(s, &opts());
        let manifest = MANIFEST.replace("default: my-service", &format!("default: {:?}", s));
        let _ = detect(&[file("manifest.yaml", &manifest)])
            .map(|spec| resolve_parameters(&spec, &Map::new(), &opts()));
    }
    for bytes in [
        &b"\xff\xfe"[..],
        b"[",
        b"{\"a\": }",
        b"null",
        b"{\"_extensions\": 5}",
        b"{\"_new_lines\": 5}",
    ] {
        let _ = detect(&[
            SourceFile::new("cookiecutter.json", bytes.to_vec()),
            file("{{cookiecutter.x}}/a", ""),
        ]);
        let _ = detect(&[SourceFile::new("manifest.yaml", bytes.to_vec())]);
    }
}

/// Random token soup through the whole pipeline: errors are fine, panics are not.
#[test]
fn random_templates_never_panic() {
    const TOKENS: [&str; 40] = [
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "-",
        "+",
        " ",
        "\n",
        "\r\n",
        "\r",
        "'",
        "\"",
        "\\",
        "now",
        "raw",
        "endraw",
        "if",
        "endif",
        "for",
        "in",
        "range(3)",
        "x",
        "é",
        "😀",
        "|slugify",
        "|jsonify",
        ",",
        "'utc'",
        "'%Y'",
        "=",
        "(",
        ")",
        "[",
        "]",
        ".title()",
        "cookiecutter.slug",
        "ß",
        "%",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let o = RenderOptions {
        fuel: 20_000,
        ..opts()
    };
    for _ in 0..1500 {
        let len = (next() % 24) as usize;
        let src: String = (0..len)
            .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize])
            .collect();
        let _ = render_cc(&src, &o);
        let _ = jinja::preprocess(&src, &jinja::Syntax::default());
    }
}

fn nested_files(json_src: &str) -> Vec<SourceFile> {
    vec![
        file("cookiecutter.json", json_src),
        file(
            "a/cookiecutter.json",
            r#"{"name": "alpha", "_new_lines": "\n"}"#,
        ),
        file("a/{{cookiecutter.name}}/a.txt", "{{ cookiecutter.name }}\n"),
        file("b/cookiecutter.json", r#"{"title": "beta", "n": 2}"#),
        file(
            "b/{{cookiecutter.title}}/b.txt",
            "{{ cookiecutter.title }} {{ cookiecutter.n }}\n",
        ),
    ]
}

#[test]
fn nested_templates_choose_resolve_and_refuse_bad_layouts() {
    let files = nested_files(
        r#"{"templates": {"a": {"path": "./a/", "title": "Alpha"}, "b": {"path": "b"}}}"#,
    );
    let spec = detect(&files).unwrap();
    let names: Vec<String> = spec.parameters().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["templates", "name", "title", "n"]);
    assert_eq!(
        spec.parameters()[0].choices,
        Some(vec![json!("a"), json!("b")])
    );
    // The first by default; another by its key; the other template's variables are ignored.
    let ctx = resolve_parameters(&spec, &input(json!({"title": "x"})), &opts()).unwrap();
    assert_eq!(ctx.template_path.as_deref(), Some("a"));
    let out = render(&spec, &files, &ctx, &opts()).unwrap();
    assert_eq!(out.root_dir.as_deref(), Some("alpha"));
    let ctx = resolve_parameters(
        &spec,
        &input(json!({"templates": "b", "title": "gamma", "name": "unused"})),
        &opts(),
    )
    .unwrap();
    assert_eq!(
        ctx.variables["cookiecutter"]["_template"],
        json!("template/b")
    );
    let out = render(&spec, &files, &ctx, &opts()).unwrap();
    assert_eq!(out.root_dir.as_deref(), Some("gamma"));
    assert_eq!(out_map(&out)["b.txt"], "gamma 2\n");
    let errs = resolve_parameters(&spec, &input(json!({"templates": "c", "nope": 1})), &opts())
        .unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["nope", "templates"], "{errs:?}");
    assert!(errs[1].message.contains("not one of the choices"));

    // Old style: the entry as written chooses.
    let files = nested_files(r#"{"template": ["Alpha (./a)", "Beta ({{ 'b' }})"]}"#);
    let spec = detect(&files).unwrap();
    let ctx = resolve_parameters(
        &spec,
        &input(json!({"template": "Beta ({{ 'b' }})"})),
        &opts(),
    )
    .unwrap();
    assert_eq!(ctx.template_path.as_deref(), Some("b"));

    for (json_src, want) in [
        (
            r#"{"templates": {"x": {"path": "../a"}}}"#,
            "outside the template",
        ),
        (r#"{"templates": {"x": {"path": "/etc"}}}"#, "relative path"),
        (r#"{"templates": {"x": {"path": "."}}}"#, "sub-folder"),
        (
            r#"{"templates": {"x": {"path": "missing"}}}"#,
            "has no missing/cookiecutter.json",
        ),
        (
            r#"{"templates": {"x": {"title": "no path"}}}"#,
            "templates.x.path",
        ),
        (r#"{"templates": {}}"#, "empty"),
        (r#"{"template": ["no folder"]}"#, "names no folder"),
    ] {
        let err = detect(&nested_files(json_src)).unwrap_err();
        assert!(err.message.contains(want), "{json_src}: {err}");
    }
    // Errors inside a nested template name its file.
    let mut files = nested_files(r#"{"templates": {"a": {"path": "a"}}}"#);
    files[1] = file("a/cookiecutter.json", "{");
    let err = detect(&files).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("a/cookiecutter.json"));
}

#[test]
fn private_variables_and_path_keys_are_overridable() {
    let files = cc_files(
        r#"{"slug": "p", "_new_lines": "\n", "_copy_without_render": ["*.txt", "*.md"], "_x": "a"}"#,
        "{{ cookiecutter._x }} {{ cookiecutter._template }} {{ cookiecutter._checkout }}\n",
    );
    let spec = detect(&files).unwrap();
    // Never form parameters.
    let names: Vec<String> = spec.parameters().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["slug"]);
    let ctx = resolve_parameters(
        &spec,
        &input(
            json!({"_x": "b", "_new_lines": "\r\n", "_copy_without_render": ["*.md"],
                      "_template": "gh:org/repo", "_checkout": "v1"}),
        ),
        &opts(),
    )
    .unwrap();
    let out = render(&spec, &files, &ctx, &opts()).unwrap();
    assert_eq!(out_map(&out)["out.txt"], "b gh:org/repo v1\r\n");
    // The template's source is the default.
    let o = RenderOptions {
        source: CookiecutterSource::git("https://example.com/t.git", Some("main")),
        ..opts()
    };
    // The registry name alone (callers that only know it) is `_template`'s default.
    let named = RenderOptions {
        template_name: Some("registry-name".into()),
        ..opts()
    };
    let ctx = resolve_parameters(&spec, &Map::new(), &named).unwrap();
    assert_eq!(
        ctx.variables["cookiecutter"]["_repo_dir"],
        json!("registry-name")
    );
    let ctx = resolve_parameters(&spec, &Map::new(), &o).unwrap();
    let cc = &ctx.variables["cookiecutter"];
    assert_eq!(
        (
            &cc["_template"],
            &cc["_repo_dir"],
            &cc["_output_dir"],
            &cc["_checkout"]
        ),
        (
            &json!("https://example.com/t.git"),
            &json!("https://example.com/t.git"),
            &json!("."),
            &json!("main")
        )
    );
    // cookiecutter's rules and Maestro's checks still apply.
    let errs = resolve_parameters(
        &spec,
        &input(
            json!({"_copy_without_render": ["*.py"], "_new_lines": "x", "_y": 1,
                      "_template": 3, "_x": 4}),
        ),
        &opts(),
    )
    .unwrap_err();
    let by_field = |f: &str| {
        errs.iter()
            .find(|e| e.field == f)
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    assert!(
        by_field("_copy_without_render").contains("multi-choice"),
        "{errs:?}"
    );
    assert!(
        by_field("_new_lines").contains("illegal newline"),
        "{errs:?}"
    );
    assert!(
        by_field("_y").contains("not a private variable"),
        "{errs:?}"
    );
    assert!(
        by_field("_template").contains("expected a string"),
        "{errs:?}"
    );
    assert!(by_field("_x").contains("expected a string"), "{errs:?}");
}

#[test]
fn folders_whose_name_renders_empty_are_refused_like_cookiecutter() {
    let files = vec![
        file("cookiecutter.json", r#"{"slug": "p", "t": "n"}"#),
        file(
            "{{cookiecutter.slug}}/{% if cookiecutter.t == 'y' %}tests{% endif %}/x.py",
            "",
        ),
    ];
    let spec = detect(&files).unwrap();
    let ctx = resolve_parameters(&spec, &Map::new(), &opts()).unwrap();
    let err = render(&spec, &files, &ctx, &opts()).unwrap_err();
    assert!(err.message.contains("renders empty"), "{err}");
    let ctx = resolve_parameters(&spec, &input(json!({"t": "y"})), &opts()).unwrap();
    assert!(render(&spec, &files, &ctx, &opts()).is_ok());
}

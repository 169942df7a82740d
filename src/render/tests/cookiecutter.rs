//! cookiecutter templates: parameters and overrides, extensions, detection, hooks, nested
//! templates, private variables and path keys.

use serde_json::json;

use super::*;

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
    assert_says(&errs[5].message, "not a private variable");
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
    assert_says(&errs[0].message, "unable to render variable 'slug'");
    assert_says(&errs[0].message, "undefined");
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
    assert_says(&err.message, "no project template folder");
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
    for (field, says) in [
        ("_copy_without_render", "multi-choice"),
        ("_new_lines", "illegal newline"),
        ("_y", "not a private variable"),
        ("_template", "expected a string"),
        ("_x", "expected a string"),
    ] {
        assert!(message_of(&errs, field).contains(says), "{field}: {errs:?}");
    }
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

//! Native templates (`manifest.yaml`): rendering end to end, optional files and folders, and
//! parameter validation.

use serde_json::json;

use super::*;

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
    assert_says(&err.message, "missing.txt, nowhere/");
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
    let msg = |f: &str| message_of(&errs, f);
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

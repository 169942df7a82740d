//! Unit tests of parsing, validation, expressions and retry policies.

use super::expr::eval_expression;
use super::*;
use crate::modules::workflows::settings::WorkflowsSettings;
use serde_json::json;

struct Catalog;
impl StepCatalog for Catalog {
    fn check(&self, uses: &str, with: &Value) -> Option<Result<(), String>> {
        match uses {
            "noop" => Some(Ok(())),
            "http.request" => Some(if with.get("url").is_some() {
                Ok(())
            } else {
                Err("`url` is required".into())
            }),
            _ => None,
        }
    }
}

fn settings() -> WorkflowsSettings {
    crate::config::Settings::load(&crate::config::LoadOptions {
        config_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
        environment: Some(crate::config::Environment::Test),
        read_process_env: false,
    })
    .unwrap()
    .workflows
}

fn check(doc: Value) -> Result<Definition, Vec<FieldError>> {
    let doc = parse(doc.to_string().as_bytes(), Format::Json).map_err(|e| match e {
        DefinitionError::Invalid(f) => f,
        DefinitionError::Syntax(s) => vec![FieldError::new("body", s)],
    })?;
    validate(doc, &Catalog, &settings())
}

fn messages(errs: &[FieldError]) -> String {
    errs.iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The messages `doc` is refused with, one `field: message` a line.
fn refused(doc: Value) -> String {
    messages(&check(doc).unwrap_err())
}

/// `doc` with one step `a` (`noop`) whose `with` is `with`.
fn one_step(with: Value) -> Value {
    json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "with": with}]})
}

#[test]
fn a_valid_dag_is_compiled_with_dependents() {
    let def = check(json!({
        "name": "deploy",
        "inputs": {"x": {"type": "integer", "default": 2}},
        "steps": [
            {"id": "a", "uses": "noop"},
            {"id": "b", "uses": "noop", "needs": "a", "with": {"v": "${{ steps.a.outputs.n + inputs.x }}"}},
            {"id": "c", "uses": "noop", "needs": ["a", "b"], "if": "${{ inputs.x > 1 }}"}
        ],
        "outputs": {"n": "${{ steps.b.outputs.v }}"}
    }))
    .unwrap();
    assert_eq!(def.steps[0].dependents, vec![1, 2]);
    assert_eq!(def.steps[2].condition.as_deref(), Some("inputs.x > 1"));
    assert_eq!(def.roots().count(), 1);
}

#[test]
fn unknown_types_unknown_needs_and_cycles_name_the_step() {
    let m = refused(json!({"name": "w", "steps": [{"id": "a", "uses": "templates.instantiate"}]}));
    assert!(
        m.contains("steps[0].uses") && m.contains("step `a`") && m.contains("unknown step type"),
        "{m}"
    );

    let m = refused(json!({"name": "w", "steps": [{"id": "a", "uses": "noop", "needs": ["zz"]}]}));
    assert!(m.contains("step `a` needs `zz`"), "{m}");

    let m = refused(json!({"name": "w", "steps": [
        {"id": "a", "uses": "noop", "needs": ["c"]},
        {"id": "b", "uses": "noop", "needs": ["a"]},
        {"id": "c", "uses": "noop", "needs": ["b"]},
        {"id": "d", "uses": "noop"}
    ]}));
    assert!(
        m.contains("cycle") && m.contains('a') && m.contains('b') && m.contains('c'),
        "{m}"
    );
    assert!(!m.contains("`d`"), "{m}");
}

#[test]
fn bad_expressions_are_refused_with_the_step_named() {
    for (doc, needle) in [
        (
            one_step(json!({"v": "${{ inputs.x + }}"})),
            "steps[0].with.v: step `a`: bad expression",
        ),
        // A step may only read steps that finish before it.
        (
            json!({"name": "w", "steps": [
                {"id": "a", "uses": "noop", "with": {"v": "${{ steps.b.outputs.x }}"}},
                {"id": "b", "uses": "noop"}
            ]}),
            "not in this step's `needs`",
        ),
        (one_step(json!({"v": "${{ secrets.token }}"})), "`secrets`"),
        (one_step(json!({"v": "${{ inputs.x "})), "no closing"),
    ] {
        let m = refused(doc);
        assert!(m.contains(needle), "{needle} missing in {m}");
    }
}

#[test]
fn retry_durations_and_limits_are_checked() {
    let m = refused(json!({"name": "w", "steps": [
        {"id": "a", "uses": "noop", "retry": {"max_attempts": 0, "initial_interval": "soon", "jitter": 2.0}, "timeout": "0s"}
    ]}));
    for needle in [
        "retry.max_attempts",
        "retry.initial_interval",
        "retry.jitter",
        "steps[0].timeout",
    ] {
        assert!(m.contains(needle), "{needle} missing in {m}");
    }
    let steps: Vec<Value> = (0..1001)
        .map(|i| json!({"id": format!("s{i}"), "uses": "noop"}))
        .collect();
    let m = refused(json!({"name": "w", "steps": steps}));
    assert!(m.contains("at most 1000"), "{m}");
}

#[test]
fn yaml_and_json_read_the_same_and_shape_errors_carry_a_path() {
    let yaml = "name: w\nsteps:\n  - id: a\n    uses: noop\n    retry: {max_attempts: 4, initial_interval: 250ms}\n";
    let doc = parse(yaml.as_bytes(), Format::Yaml).unwrap();
    assert_eq!(doc.steps[0].retry.as_ref().unwrap().max_attempts, Some(4));
    match parse(
        b"name: w\nsteps: [{id: a, uses: noop, retry: {max_attempts: lots}}]",
        Format::Yaml,
    ) {
        Err(DefinitionError::Invalid(f)) => {
            assert_eq!(f[0].field, "steps[0].retry.max_attempts")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(b"{{{", Format::Yaml),
        Err(DefinitionError::Syntax(_))
    ));
    assert!(matches!(
        parse(b"[1,2]", Format::Json),
        Err(DefinitionError::Syntax(_))
    ));
    assert!(matches!(
        parse(b"\xff", Format::Json),
        Err(DefinitionError::Syntax(_))
    ));
}

#[test]
fn version_may_be_an_integer_valued_string_and_anything_else_asks_for_a_number() {
    for (body, want) in [
        (
            "name: w\nversion: \"1\"\nsteps: [{id: a, uses: noop}]",
            Some(1),
        ),
        ("name: w\nversion: 2\nsteps: [{id: a, uses: noop}]", Some(2)),
        ("name: w\nsteps: [{id: a, uses: noop}]", None),
    ] {
        assert_eq!(parse(body.as_bytes(), Format::Yaml).unwrap().version, want);
    }
    let doc = parse(
        br#"{"name": "w", "version": "3", "steps": [{"id": "a", "uses": "noop"}]}"#,
        Format::Json,
    )
    .unwrap();
    assert_eq!(doc.version, Some(3));
    for bad in ["\"one\"", "1.5", "[1]"] {
        let body = format!("name: w\nversion: {bad}\nsteps: [{{id: a, uses: noop}}]");
        match parse(body.as_bytes(), Format::Yaml) {
            Err(DefinitionError::Invalid(f)) => {
                assert_eq!(f[0].field, "version");
                assert!(f[0].message.contains("whole number"), "{}", f[0].message);
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn rendering_keeps_types_and_splices_strings() {
    let ctx =
        json!({"inputs": {"n": 3, "name": "api"}, "steps": {"a": {"outputs": {"files": [1, 2]}}}});
    let out = render(&json!({"n": "${{ inputs.n * 2 }}", "s": "svc-${{ inputs.name }}-${{ inputs.n }}", "f": "${{ steps.a.outputs.files }}"}), &ctx).unwrap();
    assert_eq!(out, json!({"n": 6, "s": "svc-api-3", "f": [1, 2]}));
    assert!(render(&json!("${{ inputs.missing }}"), &ctx).is_err());
    assert!(eval_condition("inputs.n > 2", &ctx).unwrap());
    // Fuel bounds runaway expressions.
    assert!(eval_expression("range(100000) | map('string') | join(',') | length", &ctx).is_err());
}

#[test]
fn the_documented_example_is_valid() {
    struct All;
    impl StepCatalog for All {
        fn check(&self, _uses: &str, _with: &Value) -> Option<Result<(), String>> {
            Some(Ok(()))
        }
    }
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/workflows.md")).unwrap();
    let yaml = docs
        .split("```yaml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let doc = match parse(yaml.as_bytes(), Format::Yaml) {
        Ok(d) => d,
        Err(e) => panic!("{e:?}"),
    };
    let def = validate(doc, &All, &settings()).unwrap_or_else(|e| panic!("{}", messages(&e)));
    assert_eq!(def.steps.len(), 3);
    assert_eq!(def.steps[2].retry.max_attempts, 5);
    assert_eq!(def.steps[2].on_failure, OnFailure::Pause);
}

#[test]
fn backoff_grows_and_is_capped() {
    let p = RetryPolicy {
        max_attempts: 5,
        initial_interval: Duration::from_millis(100),
        multiplier: 2.0,
        max_interval: Duration::from_millis(300),
        jitter: 0.0,
        non_retryable: vec!["denied".into()],
    };
    assert_eq!(p.delay(1, 0.7), Duration::from_millis(100));
    assert_eq!(p.delay(2, 0.7), Duration::from_millis(200));
    assert_eq!(p.delay(3, 0.7), Duration::from_millis(300));
    let j = RetryPolicy {
        jitter: 0.5,
        ..p.clone()
    };
    assert_eq!(j.delay(1, 0.0), Duration::from_millis(50));
    assert_eq!(j.delay(1, 1.0), Duration::from_millis(150));
    assert!(p.is_non_retryable("access denied"));
}

#[test]
fn inputs_get_defaults_and_types_are_enforced() {
    let def = check(json!({"name": "w", "inputs": {"n": {"type": "integer", "required": true}, "tag": {"type": "string", "default": "x"}}, "steps": [{"id": "a", "uses": "noop"}]})).unwrap();
    let ok = def
        .resolve_inputs(json!({"n": 2}).as_object().unwrap())
        .unwrap();
    assert_eq!(Value::Object(ok), json!({"n": 2, "tag": "x"}));
    let errs = def
        .resolve_inputs(json!({"n": "two", "zz": 1}).as_object().unwrap())
        .unwrap_err();
    let m = messages(&errs);
    assert!(
        m.contains("inputs.n: must be of type integer") && m.contains("inputs.zz"),
        "{m}"
    );
    assert!(def.resolve_inputs(&serde_json::Map::new()).is_err());
}

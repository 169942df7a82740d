//! Failure modes: broken templates report path and line, endless loops and huge strings run out
//! of budget, output limits, unsafe names, and arbitrary input never panics.

use super::*;

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
    assert_says(&err.message, "undefined");

    let err = render_cc("{% for x in 1 %}{% endfor %}", &opts()).unwrap_err();
    assert_eq!(err.line, Some(1));

    let err = render_cc("{% include 'nope.txt' %}", &opts()).unwrap_err();
    assert_says(&err.message, "template not found");
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
    assert_says(&err.message, "work budget");
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
    assert_says(&err.message, "could not parse timezone expression");
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
    assert_says(&err.message, "more than 1 files");
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
    assert_says(&err.message, "'..'");
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
    let mut soup = crate::render::soup::Soup::new(0x9E37_79B9_7F4A_7C15);
    let o = RenderOptions {
        fuel: 20_000,
        ..opts()
    };
    for _ in 0..1500 {
        let src = soup.text(&TOKENS, 24);
        let _ = render_cc(&src, &o);
        let _ = jinja::preprocess(&src, &jinja::Syntax::default());
    }
}

/// A value nested once per loop iteration, as deep as the fuel allows, is freed without
/// overflowing the caller's stack (which would abort the whole server): this runs on a test
/// thread's 2 MiB stack, where it overflowed before rendering moved to a deep stack.
#[test]
fn a_value_nested_as_deep_as_the_fuel_allows_does_not_overflow_the_stack() {
    let err = render_cc(
        "{% set ns = namespace(x=[]) %}{% for i in range(10000) %}{% for j in range(100) %}\
         {% set ns.x = [ns.x] %}{% endfor %}{% endfor %}done",
        &opts(),
    )
    .unwrap_err();
    assert_says(&err.message, "work budget");
    // Shallower, within the budget: rendered.
    let out = render_cc(
        "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}\
         {% endfor %}{{ ns.x | length }}",
        &opts(),
    );
    assert!(out.is_ok(), "{out:?}");
}

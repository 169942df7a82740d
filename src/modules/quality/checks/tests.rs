//! Whole-template evaluations: a good template passes; missing, placeholder and padded READMEs,
//! broken manifests and undeclared dependencies do not.

use super::*;

fn file(path: &str, content: &str) -> InputFile {
    InputFile {
        path: path.to_string(),
        content: content.as_bytes().to_vec(),
    }
}

pub(crate) const GOOD_README: &str = r#"# FastAPI service

This template generates a production-ready FastAPI service with health checks, structured
logging, settings from the environment and a pytest suite. Use it when you start a new Python
HTTP API that will run in a container behind a load balancer.

## Usage

Instantiate it through the Maestro API and unpack the archive:

```bash
curl -X POST "$MAESTRO_URL/api/v1/templates/$TEMPLATE_ID/instantiate" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"parameters": {"project_name": "billing-api"}, "format": "zip"}' -o billing-api.zip
```

Then run the tests and start the server:

```bash
unzip billing-api.zip && cd billing-api
pip install -r requirements.txt
pytest
uvicorn app.main:app --reload
```

## Parameters

| Name | Type | Default | Meaning |
|---|---|---|---|
| `project_name` | string | `my-service` | Folder and distribution name |
| `python_version` | choice | `3.12` | Python version used by the Dockerfile and CI |

## What you get

The generated project contains an application package with routers for health and items, a
settings module reading environment variables, a Dockerfile that builds a slim image running as
a non-root user, and a pytest suite that exercises the routes through the test client. The
requirements file pins every dependency with a compatible range, so upgrades are deliberate.
Logging is structured as JSON in production and readable in development, and every request gets
an identifier that appears in the logs and in the response headers, which makes tracing a
failing call through several services much easier for whoever is on call that week.

## Design notes

Configuration stays in environment variables so the same image runs in every environment. The
health endpoint answers without touching dependencies, while readiness checks them, which keeps
Kubernetes from restarting pods during a database hiccup.
"#;

const GOOD_MANIFEST: &str = r#"
name: fastapi-service
version: 1.2.0
description: Production-ready FastAPI service with health checks and tests
category: backend_developer
author: Platform Team
tags: [python, fastapi, api]
dependencies:
  - fastapi: ">=0.115,<1"
  - uvicorn: ">=0.30"
  - pytest: ">=8"
files:
  - "{{ project_name }}/"
parameters:
  - name: project_name
    type: string
    default: my-service
    help: Folder and distribution name
  - name: python_version
    type: choice
    choices: ["3.11", "3.12"]
    default: "3.12"
    help: Python version used by the Dockerfile and CI
"#;

pub(crate) fn good_template() -> Vec<InputFile> {
    vec![
        file("manifest.yaml", GOOD_MANIFEST),
        file("README.md", GOOD_README),
        file("examples/basic.json", r#"{"project_name": "billing-api"}"#),
        file(
            "examples/README.md",
            "`basic.json` makes a service called billing-api.\n",
        ),
        file(
            "{{ project_name }}/requirements.txt",
            "fastapi>=0.115,<1\nuvicorn>=0.30\npytest>=8\n",
        ),
        file(
            "{{ project_name }}/app/main.py",
            "from fastapi import FastAPI\napp = FastAPI()\n",
        ),
    ]
}

fn evaluate_files(files: &[InputFile]) -> Evaluation {
    evaluate(
        &Input {
            files,
            render_paths: None,
        },
        70,
    )
}

/// Whether one of `lines` (evidence, recommendations) contains every one of `needles`.
fn mentions(lines: &[String], needles: &[&str]) -> bool {
    lines.iter().any(|l| needles.iter().all(|n| l.contains(n)))
}

fn replace(files: &mut Vec<InputFile>, path: &str, content: Option<&str>) {
    files.retain(|f| f.path != path);
    if let Some(c) = content {
        files.push(file(path, c));
    }
}

#[test]
fn a_complete_template_passes_every_check() {
    let eval = evaluate_files(&good_template());
    for (name, check) in eval.checks.iter() {
        assert_eq!(check.status, Status::Pass, "{name}: {check:?}");
    }
    assert!(eval.score >= 95, "{}", eval.score);
    assert!(eval.passed);
    assert!(eval.blocking.is_empty());
}

#[test]
fn no_readme_fails_and_says_what_to_add() {
    let mut files = good_template();
    replace(&mut files, "README.md", None);
    let eval = evaluate_files(&files);
    assert!(!eval.passed);
    assert_eq!(eval.checks.documentation.status, Status::Fail);
    assert_eq!(eval.checks.documentation.score, 0.0);
    assert!(mentions(&eval.recommendations, &["Add a README.md"]));
    assert!(mentions(&eval.blocking, &["documentation"]));
}

#[test]
fn placeholder_and_padded_readmes_do_not_pass() {
    let mut files = good_template();
    let placeholder = GOOD_README.replace("Use it when", "TODO: explain more. Use it when");
    replace(&mut files, "README.md", Some(&placeholder));
    let eval = evaluate_files(&files);
    assert!(!eval.passed, "a TODO in the README blocks publication");
    assert!(mentions(&eval.checks.documentation.evidence, &["todo"]));

    // A README that has every heading but pads its word count.
    let padding = "This template is great and it is very useful for teams.\n".repeat(40);
    let padded = format!(
        "# Service\n\nThis template is great and it is very useful for all teams everywhere, really.\n\n## Usage\n\n```bash\ncurl -X POST $URL/api/v1/templates/1/instantiate\n```\n\n```bash\nmake run\n```\n\n## Parameters\n\nproject_name python_version\n\n## What you get\n\n{padding}"
    );
    replace(&mut files, "README.md", Some(&padded));
    let eval = evaluate_files(&files);
    assert!(
        !eval.passed,
        "padding does not pass: {:?}",
        eval.checks.documentation
    );
    assert_eq!(eval.checks.documentation.status, Status::Fail);

    let lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. "
        .repeat(30);
    let lorem_readme = format!(
        "# Service\n\n{lorem}\n\n## Usage\n\nRun it.\n\n## Parameters\n\nproject_name python_version\n\n## What you get\n\nFiles.\n"
    );
    replace(&mut files, "README.md", Some(&lorem_readme));
    assert!(!evaluate_files(&files).passed);
}

#[test]
fn a_stub_readme_scores_low_on_documentation() {
    let mut files = good_template();
    replace(
        &mut files,
        "README.md",
        Some("# FastAPI service\n\nA service.\n"),
    );
    let eval = evaluate_files(&files);
    assert!(
        eval.checks.documentation.score < 10.0,
        "{:?}",
        eval.checks.documentation
    );
    assert!(!eval.passed);
}

#[test]
fn metadata_problems_are_named() {
    let mut files = good_template();
    let broken = GOOD_MANIFEST
        .replace("version: 1.2.0", "version: latest")
        .replace("category: backend_developer", "category: misc")
        .replace("    help: Folder and distribution name\n", "");
    replace(&mut files, "manifest.yaml", Some(&broken));
    let eval = evaluate_files(&files);
    let recs = eval.checks.metadata.recommendations.join(" ");
    assert!(recs.contains("semantic version"), "{recs}");
    assert!(recs.contains("`misc` is not a known category"), "{recs}");
    assert!(recs.contains("project_name lacks help"), "{recs}");
    assert!(eval.checks.metadata.score < 20.0);

    replace(&mut files, "manifest.yaml", Some("name: [unclosed"));
    let eval = evaluate_files(&files);
    assert_eq!(eval.checks.metadata.status, Status::Fail);
    assert!(eval.checks.metadata.evidence[0].contains("does not parse"));
}

#[test]
fn dependencies_count_where_the_project_declares_them_and_must_be_constrained() {
    // The generated requirements file declares two more dependencies, unpinned, and the
    // manifest lists one nothing uses.
    let mut files = good_template();
    replace(
        &mut files,
        "{{ project_name }}/requirements.txt",
        Some("fastapi>=0.115,<1\nuvicorn>=0.30\npytest>=8\nsqlalchemy\nredis\n"),
    );
    replace(
        &mut files,
        "manifest.yaml",
        Some(&GOOD_MANIFEST.replace(
            "  - pytest: \">=8\"\n",
            "  - pytest: \">=8\"\n  - celery: \"\"\n",
        )),
    );
    let eval = evaluate_files(&files);
    let deps = &eval.checks.dependencies;
    assert!(deps.score < deps.max_score, "{deps:?}");
    // Declared by the project's own requirements file: nothing to repeat in the manifest.
    assert!(
        !mentions(&deps.recommendations, &["Declare these"]),
        "{deps:?}"
    );
    assert!(
        mentions(
            &deps.recommendations,
            &["Pin versions", "`sqlalchemy`", "`redis`"]
        ),
        "{deps:?}"
    );
    assert!(
        mentions(&deps.recommendations, &["Remove dependencies", "`celery`"]),
        "{deps:?}"
    );
    assert!(mentions(&deps.evidence, &["unpinned"]));
}

#[test]
fn cookiecutter_templates_are_judged_on_their_project_folder_docs_and_prompts() {
    let readme = "Demo template\n=============\n\nThis cookiecutter template generates a small Python package with tests, \
a continuous integration workflow and a documentation skeleton, ready to publish.\n\nUsage\n-----\n\n    \
cookiecutter gh:example/demo\n\n```bash\ncd my-package && pytest\n```\n";
    let files = vec![
        file(
            "cookiecutter.json",
            r#"{"project_name": "Demo", "license": ["MIT", "BSD"], "__prompts__": {"license": "Which licence?"}}"#,
        ),
        file("README.md", readme),
        file(
            "docs/options.md",
            "# Options\n\n`project_name` names the package.\n",
        ),
        // The repository's own tooling: not part of the generated project.
        file("requirements.txt", "tox\n"),
        file(
            "{{cookiecutter.project_name}}/setup.cfg",
            "[options]\ninstall_requires =\n    click>=8\n",
        ),
    ];
    let eval = evaluate_files(&files);
    let doc = &eval.checks.documentation;
    assert!(
        mentions(
            &doc.evidence,
            &[
                "2 of 2 parameters documented",
                "1 in __prompts__",
                "1 in docs/"
            ]
        ),
        "{doc:?}"
    );
    let examples = &eval.checks.examples;
    assert!(
        mentions(&examples.evidence, &["serves as the example"]),
        "{examples:?}"
    );
    assert_eq!(examples.status, Status::Pass, "{examples:?}");
    let deps = &eval.checks.dependencies;
    let declared = "1 dependencies declared in {{cookiecutter.project_name}}/setup.cfg";
    assert!(mentions(&deps.evidence, &[declared]), "{deps:?}");
}

#[test]
fn stray_files_unsafe_paths_and_missing_listed_files_are_structure_problems() {
    let mut files = good_template();
    files.push(file("{{ project_name }}/.DS_Store", "x"));
    let eval = evaluate_files(&files);
    assert!(mentions(
        &eval.checks.structure.recommendations,
        &[".DS_Store"]
    ));

    let mut files = good_template();
    files.push(file("../outside.txt", "x"));
    let eval = evaluate_files(&files);
    assert_eq!(eval.checks.structure.status, Status::Fail);
    assert!(!eval.passed);

    let mut files = good_template();
    let listed = GOOD_MANIFEST.replace(
        "  - \"{{ project_name }}/\"",
        "  - \"{{ project_name }}/\"\n  - docs/guide.md",
    );
    replace(&mut files, "manifest.yaml", Some(&listed));
    let eval = evaluate_files(&files);
    assert!(mentions(
        &eval.checks.structure.recommendations,
        &["docs/guide.md"]
    ));
}

#[test]
fn a_template_that_does_not_render_fails_structure() {
    let files = good_template();
    let render =
        || -> Result<Vec<String>, String> { Err("undefined variable `nme` in x/{{ nme }}".into()) };
    let eval = evaluate(
        &Input {
            files: &files,
            render_paths: Some(&render),
        },
        70,
    );
    assert_eq!(eval.checks.structure.status, Status::Fail);
    assert!(!eval.passed);
}

/// Every template of the starter catalog must pass on its merits.
#[test]
fn the_starter_catalog_passes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates_storage");
    let Ok(categories) = std::fs::read_dir(&root) else {
        return;
    };
    let mut failures = Vec::new();
    let mut count = 0;
    for category in categories.flatten() {
        for template in std::fs::read_dir(category.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = template.path();
            if !dir.join("manifest.yaml").exists() && !dir.join("cookiecutter.json").exists() {
                continue;
            }
            let mut files = Vec::new();
            collect(&dir, &dir, &mut files);
            let eval = evaluate_files(&files);
            count += 1;
            if !eval.passed {
                failures.push(format!(
                    "{}: {} {:?} {:?}",
                    dir.display(),
                    eval.score,
                    eval.blocking,
                    eval.recommendations
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} catalog templates fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<InputFile>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(content) = std::fs::read(&path) {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push(InputFile { path: rel, content });
        }
    }
}

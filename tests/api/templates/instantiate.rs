//! Instantiation: parameter validation, rendered names and contents, archives with modes,
//! dry runs, reproducible output, the ledger, hooks, cookiecutter templates, the workflow step.

use std::io::Read;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::{create_sample, put_with_etag, sample};
use crate::helpers::TestApp;
use maestro::platform::auth::TenantId;
use maestro::platform::steps::{StepContext, StepFailure};

fn decoded(files: &Value) -> Vec<(String, Vec<u8>, bool)> {
    files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                base64::engine::general_purpose::STANDARD
                    .decode(f["content_base64"].as_str().unwrap())
                    .unwrap(),
                f["executable"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn parameters_are_validated_and_outputs_rendered_as_json_zip_and_tar() {
    let app = TestApp::spawn().await;
    let (id, etag) = create_sample(&app, "hello-service").await;
    let url = format!("/api/v1/templates/{id}/instantiate");

    // Defaults, as JSON.
    let (status, out) = app
        .post(&url, Some(&app.viewer.token), &json!({"format": "json"}))
        .await;
    assert_eq!(status, 200, "{out}");
    let files = decoded(&out["files"]);
    let paths: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "hello/logo.png",
            "hello/main.py",
            "hello/run.sh",
            ".maestro-answers.yml"
        ],
        "README is not output; the empty-named Dockerfile is skipped; a native template writes \
         its answers file last"
    );
    let answers = String::from_utf8(files[3].1.clone()).unwrap();
    assert!(
        answers.contains("project_name: hello") && answers.contains(etag.as_str()),
        "{answers}"
    );
    assert_eq!(files[1].1, b"PORT = 8080\nNAME = \"hello\"\n");
    assert!(files[2].2, "run.sh keeps its executable bit");
    assert_eq!(
        &files[0].1[..4],
        &[0x89, b'P', b'N', b'G'],
        "binary files are copied raw"
    );
    assert_eq!(out["commit"], etag.as_str());
    assert_eq!(out["parameters"]["port"], 8080);
    let first_id = out["instantiation_id"].as_str().unwrap().to_string();

    // Every bad field is named.
    let (status, problem) = app
        .post(&url, Some(&app.viewer.token), &json!({"parameters": {"project_name": "Bad Name", "port": "eighty", "python": "2.7", "colour": "red"}, "format": "json"}))
        .await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "parameters.project_name",
        "parameters.port",
        "parameters.python",
        "parameters.colour",
    ] {
        assert!(fields.contains(&field), "{field} missing in {problem}");
    }

    // A zip with rendered names and unix modes.
    let res = app
        .request(Method::POST, &url, Some(&app.editor.token))
        .json(&json!({"parameters": {"project_name": "greeter", "port": 9000, "with_docker": true, "python": "3.13"}, "format": "zip"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("hello-service.zip")
    );
    let zip_id = res.headers()["x-maestro-instantiation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let checksum = res.headers()["x-maestro-checksum"]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = res.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        if name == "greeter/run.sh" {
            assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
        }
        if name == "greeter/Dockerfile" {
            let mut s = String::new();
            entry.read_to_string(&mut s).unwrap();
            assert_eq!(s, "FROM python:3.13\n");
        }
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        vec![
            ".maestro-answers.yml",
            "greeter/Dockerfile",
            "greeter/logo.png",
            "greeter/main.py",
            "greeter/run.sh"
        ]
    );

    // tar.gz keeps modes too.
    let res = app
        .request(Method::POST, &url, Some(&app.editor.token))
        .json(&json!({"format": "tar.gz"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let modes: Vec<(String, u32)> = tar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().mode().unwrap(),
            )
        })
        .collect();
    assert!(
        modes.contains(&("hello/run.sh".to_string(), 0o755)),
        "{modes:?}"
    );
    assert!(
        modes.contains(&("hello/main.py".to_string(), 0o644)),
        "{modes:?}"
    );

    // Dry runs record nothing; deterministic dry runs are reproducible.
    let dry =
        json!({"dry_run": true, "deterministic": true, "parameters": {"project_name": "same"}});
    let (_, a) = app.post(&url, Some(&app.viewer.token), &dry).await;
    let (_, b) = app.post(&url, Some(&app.viewer.token), &dry).await;
    assert_eq!(a["dry_run"], true);
    assert!(a["instantiation_id"].is_null());
    assert_eq!(a["checksum"], b["checksum"]);
    assert_eq!(a["files"], b["files"]);

    // The ledger: three real instantiations, newest first, with who, commit, parameters, checksum.
    let (status, ledger) = app
        .get(
            &format!("/api/v1/templates/{id}/instantiations"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ledger["total"], 3, "{ledger}");
    let items = ledger["items"].as_array().unwrap();
    let zip_entry = items.iter().find(|i| i["id"] == zip_id.as_str()).unwrap();
    assert_eq!(zip_entry["user_id"], app.editor.id.as_str());
    assert_eq!(zip_entry["commit"], etag.as_str());
    assert_eq!(zip_entry["checksum"], checksum.as_str());
    assert_eq!(zip_entry["parameters"]["project_name"], "greeter");
    assert_eq!(zip_entry["output_format"], "zip");
    assert_eq!(zip_entry["source"], "http");
    assert!(items.iter().any(|i| i["id"] == first_id.as_str()));

    // An older version by commit.
    let mut v2 = sample("hello-service");
    v2["files"]["{{ project_name }}/main.py"] = json!("PORT = {{ port }}  # v2\n");
    let (status, _) = put_with_etag(&app, &app.editor.token, &id, &etag, &v2).await;
    assert_eq!(status, 200);
    let (_, now) = app
        .post(&url, Some(&app.viewer.token), &json!({"format": "json"}))
        .await;
    let (_, old) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"format": "json", "version": etag}),
        )
        .await;
    let main_of = |out: &Value| {
        decoded(&out["files"])
            .into_iter()
            .find(|f| f.0 == "hello/main.py")
            .unwrap()
            .1
    };
    assert_eq!(main_of(&now), b"PORT = 8080  # v2\n");
    assert_eq!(main_of(&old), b"PORT = 8080\nNAME = \"hello\"\n");
    assert_eq!(old["commit"], etag.as_str());

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("maestro_template_instantiations_total{category=\"backend_developer\"}"),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn cookiecutter_templates_and_hooks_are_reported() {
    let app = TestApp::spawn().await;
    let body = json!({
        "manifest": {"name": "cc-lib", "version": "0.3.0", "description": "A cookiecutter Python library", "category": "backend_developer", "author": "Test Team", "tags": ["python", "cookiecutter"]},
        "files": {
            "cookiecutter.json": "{\n  \"project_name\": \"My Lib\",\n  \"project_slug\": \"{{ cookiecutter.project_name.lower().replace(' ', '-') }}\",\n  \"license\": [\"MIT\", \"Apache-2.0\"],\n  \"_copy_without_render\": [\"*.raw\"]\n}\n",
            "{{cookiecutter.project_slug}}/README.md": "# {{ cookiecutter.project_name }}\n\nLicense: {{ cookiecutter.license }}\n",
            "{{cookiecutter.project_slug}}/keep.raw": "{{ not rendered }}\n",
            "hooks/post_gen_project.py": "print('never run')\n"
        }
    });
    let (status, created) = app
        .post("/api/v1/templates", Some(&app.editor.token), &body)
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["format"], "cookiecutter");
    assert_eq!(created["has_hooks"], true);
    let params = created["parameters"].as_array().unwrap();
    assert_eq!(
        params
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["project_name", "project_slug", "license"]
    );
    assert_eq!(params[2]["type"], "choice");
    let id = created["id"].as_str().unwrap();

    let (status, out) = app
        .post(
            &format!("/api/v1/templates/{id}/instantiate"),
            Some(&app.viewer.token),
            &json!({"format": "json", "parameters": {"license": "Apache-2.0"}}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["root_dir"], "my-lib");
    let files = decoded(&out["files"]);
    let readme = files.iter().find(|f| f.0 == "my-lib/README.md").unwrap();
    assert_eq!(readme.1, b"# My Lib\n\nLicense: Apache-2.0\n");
    let raw = files.iter().find(|f| f.0 == "my-lib/keep.raw").unwrap();
    assert_eq!(raw.1, b"{{ not rendered }}\n");
    assert!(
        out["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("hooks")),
        "{out}"
    );

    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/templates/{id}/instantiate"),
            Some(&app.viewer.token),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()
            .get_all("x-maestro-warning")
            .iter()
            .any(|w| w.to_str().unwrap().contains("hooks"))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_workflow_step_instantiates_by_id_or_name() {
    let app = TestApp::spawn().await;
    let (id, etag) = create_sample(&app, "step-target").await;
    let step = app
        .platform
        .steps
        .get("templates.instantiate")
        .expect("step registered");
    assert!(
        step.validate(&json!({"name": "step-target", "parameters": {}}))
            .is_ok()
    );
    assert!(step.validate(&json!({"parameters": {}})).is_err());
    assert!(
        step.validate(&json!({"template_id": "a", "name": "b"}))
            .is_err()
    );

    let actor = maestro::platform::auth::Principal {
        user_id: app.editor.id.clone(),
        tenant_id: TenantId(app.editor.tenant_id.clone()),
        email: Some(app.editor.email.clone()),
        role: maestro::platform::auth::Role::Editor,
        source: maestro::platform::auth::AuthSource::Local,
    };
    let ctx = StepContext {
        tenant: TenantId(app.editor.tenant_id.clone()),
        actor: actor.clone(),
        run_id: "run-1".into(),
        step_id: "make".into(),
        attempt: 1,
    };
    let out = step
        .run(
            ctx.clone(),
            json!({"name": "step-target", "parameters": {"project_name": "from-flow"}}),
        )
        .await
        .unwrap();
    assert_eq!(out["template_id"], id.as_str());
    assert_eq!(out["commit"], etag.as_str());
    assert_eq!(out["file_count"], 4, "three files and the answers file");
    assert!(
        out["files"]
            .as_array()
            .unwrap()
            .contains(&json!("from-flow/main.py"))
    );
    assert_eq!(out["checksum"].as_str().unwrap().len(), 64);

    let failure = step
        .run(
            ctx.clone(),
            json!({"template_id": id, "parameters": {"port": "x"}}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(failure, StepFailure::Permanent(ref m) if m.contains("parameters.port")),
        "{failure:?}"
    );
    let missing = step.run(ctx, json!({"name": "nope"})).await.unwrap_err();
    assert!(matches!(missing, StepFailure::Permanent(_)));

    let (_, ledger) = app
        .get(
            &format!("/api/v1/templates/{id}/instantiations"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(ledger["items"][0]["source"], "workflow");
    app.shutdown().await;
}

//! Keeping generated projects current (issue 15): the answers file, the three-way update of a
//! real git checkout (applied with the `git` CLI), conflicts that keep both sides, the drift
//! report and its gauge, and `maestro project update` / `status` against a spawned server.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::put_with_etag;
use crate::helpers::TestApp;

mod cli;
mod copier;

const APP_V1: &str = "\
# {{ project_name }}: the service
import os

NAME = \"{{ project_name }}\"
PORT = {{ port }}


def main():
    print(NAME, PORT)


if __name__ == \"__main__\":
    main()
";

/// Version 2 edits the end of app.py, adds a Makefile and a `log_level` parameter, renames
/// config/settings.txt to config/app.conf (with a one-line edit) and changes the port default.
const APP_V2: &str = "\
# {{ project_name }}: the service
import os

NAME = \"{{ project_name }}\"
PORT = {{ port }}
LOG_LEVEL = \"{{ log_level }}\"


def main():
    print(NAME, PORT)


if __name__ == \"__main__\":
    main()  # entry point
";

const SETTINGS_V1: &str = "name={{ project_name }}\nport={{ port }}\nworkers=2\ntimeout=30\n";
const SETTINGS_V2: &str = "name={{ project_name }}\nport={{ port }}\nworkers=4\ntimeout=30\n";

fn manifest(name: &str, version: &str, port_default: i64, with_log_level: bool) -> Value {
    let mut params = vec![
        json!({"name": "project_name", "type": "string", "default": "demo"}),
        json!({"name": "port", "type": "integer", "default": port_default}),
        json!({"name": "api_token", "type": "string", "default": "changeme", "secret": true}),
    ];
    if with_log_level {
        params.push(json!({"name": "log_level", "type": "choice", "choices": ["info", "debug"], "default": "info"}));
    }
    json!({
        "name": name,
        "version": version,
        "description": "A service template that changes between versions",
        "category": "backend_developer",
        "author": "Test Team",
        "parameters": params,
    })
}

fn v1(name: &str) -> Value {
    json!({
        "manifest": manifest(name, "1.0.0", 8080, false),
        "files": {
            "app.py": APP_V1,
            "config/settings.txt": SETTINGS_V1,
            "notes.txt": "Remember to write notes.\n",
            "run.sh": {"content": "#!/bin/sh\npython app.py\n", "executable": true},
            "token.txt": "{{ api_token }}\n",
        }
    })
}

fn v2(name: &str) -> Value {
    json!({
        "manifest": manifest(name, "2.0.0", 9090, true),
        "files": {
            "app.py": APP_V2,
            "config/app.conf": SETTINGS_V2,
            "notes.txt": "Remember to write notes.\n",
            "run.sh": {"content": "#!/bin/sh\npython app.py\n", "executable": true},
            "token.txt": "{{ api_token }}\n",
            "Makefile": "run:\n\tLOG_LEVEL={{ log_level }} ./run.sh\n",
        }
    })
}

type Files = BTreeMap<String, (Vec<u8>, bool)>;

fn git(dir: &Path, args: &[&str]) -> String {
    run("git", dir, args)
}

/// Runs `program` in `dir` with a git identity (git and copier both commit); its stdout. A
/// failure fails the test with the program's output.
fn run(program: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_files(dir: &Path, files: &Value) {
    let b64 = base64::engine::general_purpose::STANDARD;
    for f in files.as_array().unwrap() {
        let path = dir.join(f["path"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            b64.decode(f["content_base64"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let mode = if f["executable"].as_bool().unwrap() {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// The working tree without `.git` (and without `skip`).
fn read_tree(root: &Path) -> Files {
    let mut out = Files::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() == ".git" {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let exec = entry.metadata().unwrap().permissions().mode() & 0o111 != 0;
            out.insert(rel, (std::fs::read(&path).unwrap(), exec));
        }
    }
    out
}

fn upload(files: &Files) -> Map<String, Value> {
    let b64 = base64::engine::general_purpose::STANDARD;
    files
        .iter()
        .map(|(p, (c, x))| (p.clone(), json!({"base64": b64.encode(c), "executable": x})))
        .collect()
}

fn text(files: &Files, path: &str) -> String {
    String::from_utf8(
        files
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .0
            .clone(),
    )
    .unwrap()
}

/// Generates the project from version 1 into a fresh git checkout with one commit, then makes
/// the project's own edits (change app.py's first line, add a file, delete notes.txt) and
/// commits them. Returns (template id, v1 commit, checkout, instantiation id).
async fn generate_and_edit(
    app: &TestApp,
    name: &str,
) -> (String, String, tempfile::TempDir, String) {
    let (status, created) = app
        .post("/api/v1/templates", Some(&app.editor.token), &v1(name))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let v1_commit = created["current_commit"].as_str().unwrap().to_string();
    let (status, out) = app
        .post(
            &format!("/api/v1/templates/{id}/instantiate"),
            Some(&app.viewer.token),
            &json!({"format": "json", "parameters": {"project_name": "shop", "api_token": "s3cret"}, "project": "git@example.com:team/shop.git"}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let instantiation = out["instantiation_id"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &out["files"]);
    let answers = text(&read_tree(dir.path()), ".maestro-answers.yml");
    assert!(answers.contains(&instantiation), "{answers}");
    assert!(answers.contains(&v1_commit), "{answers}");
    assert!(answers.contains("project_name: shop"), "{answers}");
    assert!(
        !answers.contains("s3cret"),
        "secret answers are never written: {answers}"
    );
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "generated"]);
    let app_py = dir.path().join("app.py");
    let edited = std::fs::read_to_string(&app_py)
        .unwrap()
        .replace("# shop: the service", "# shop: the service (ours)");
    std::fs::write(&app_py, edited).unwrap();
    std::fs::write(dir.path().join("extra.py"), "print('mine')\n").unwrap();
    std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "local edits"]);
    (id, v1_commit, dir, instantiation)
}

/// A generated project that changes the line version 2 changes (`main()` in app.py, committed),
/// with version 2 published: its template id, version 1's commit and the checkout.
async fn generate_conflicting_edit(
    app: &TestApp,
    name: &str,
) -> (String, String, tempfile::TempDir) {
    let (id, v1_commit, dir, _) = generate_and_edit(app, name).await;
    let app_py = dir.path().join("app.py");
    let edited = std::fs::read_to_string(&app_py)
        .unwrap()
        .replace("    main()\n", "    main()  # ours\n");
    std::fs::write(&app_py, edited).unwrap();
    git(dir.path(), &["commit", "-qam", "conflicting edit"]);
    publish_v2(app, &id, &v1_commit, name).await;
    (id, v1_commit, dir)
}

async fn publish_v2(app: &TestApp, id: &str, etag: &str, name: &str) -> String {
    let (status, body) = put_with_etag(app, &app.editor.token, id, etag, &v2(name)).await;
    assert_eq!(status, 200, "{body}");
    body["current_commit"].as_str().unwrap().to_string()
}

async fn behind(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/templates/{id}/instantiations?behind=true"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_project_from_version_1_updates_cleanly_to_version_2_and_leaves_the_drift_report() {
    let app = TestApp::spawn().await;
    let (id, v1_commit, dir, instantiation) = generate_and_edit(&app, "update-svc").await;
    assert_eq!(behind(&app, &id).await["total"], 0);
    let v2_commit = publish_v2(&app, &id, &v1_commit, "update-svc").await;

    // Drift: the project is one version behind, with the changelog.
    let report = behind(&app, &id).await;
    assert_eq!(report["total"], 1, "{report}");
    let entry = &report["items"][0];
    assert_eq!(entry["id"], instantiation.as_str());
    assert_eq!(entry["versions_behind"], 1);
    assert_eq!(entry["project"], "git@example.com:team/shop.git");
    assert_eq!(entry["changelog"][0]["commit"], v2_commit.as_str());
    assert_eq!(entry["changelog"][0]["version"], "2.0.0");
    let (status, drift) = app
        .get("/api/v1/templates/drift", Some(&app.viewer.token))
        .await;
    assert_eq!(status, 200, "{drift}");
    let mine = drift["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["template_id"] == id.as_str())
        .expect("the template is in the drift report")
        .clone();
    assert_eq!(
        (mine["projects"].as_i64(), mine["behind"].as_i64()),
        (Some(1), Some(1))
    );
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("maestro_template_projects_behind{")
                && l.contains("template=\"update-svc\"")
                && l.ends_with(" 1")),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("behind"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // A dry run is the plan only, and records nothing.
    let project = read_tree(dir.path());
    let url = format!("/api/v1/templates/{id}/update");
    let (status, plan) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"files": upload(&project), "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert!(
        plan["patch"].is_null() && plan["instantiation_id"].is_null(),
        "{plan}"
    );
    assert_eq!(plan["conflicts"], json!([]));
    let actions: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            (".maestro-answers.yml".to_string(), "modify".to_string()),
            ("Makefile".to_string(), "add".to_string()),
            ("app.py".to_string(), "modify".to_string()),
            ("config/app.conf".to_string(), "rename".to_string()),
        ],
        "{plan}"
    );
    assert_eq!(
        behind(&app, &id).await["total"],
        1,
        "a dry run records nothing"
    );

    // The update; `git apply` of its patch gives the merged tree.
    let (status, result) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"files": upload(&project), "archive": "zip"}),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["from_commit"], v1_commit.as_str());
    assert_eq!(result["to_commit"], v2_commit.as_str());
    assert_eq!(
        result["answers"]["port"], 8080,
        "the recorded answer wins over the new default"
    );
    assert_eq!(
        result["answers"]["log_level"], "info",
        "a new parameter takes its default"
    );
    assert_eq!(
        result["answers"]["api_token"], "s3cret",
        "secrets come from the ledger"
    );
    assert_eq!(result["project_id"], instantiation.as_str());
    let patch_path = dir.path().join(".git/update.patch");
    std::fs::write(&patch_path, result["patch"].as_str().unwrap()).unwrap();
    git(
        dir.path(),
        &["apply", "--check", patch_path.to_str().unwrap()],
    );
    git(
        dir.path(),
        &["apply", "--3way", patch_path.to_str().unwrap()],
    );
    let merged = read_tree(dir.path());
    let mut expected: Vec<&str> = merged.keys().map(String::as_str).collect();
    expected.sort();
    assert_eq!(
        expected,
        vec![
            ".maestro-answers.yml",
            "Makefile",
            "app.py",
            "config/app.conf",
            "extra.py",
            "run.sh",
            "token.txt"
        ]
    );
    assert_eq!(
        text(&merged, "app.py"),
        "# shop: the service (ours)\nimport os\n\nNAME = \"shop\"\nPORT = 8080\nLOG_LEVEL = \"info\"\n\n\ndef main():\n    print(NAME, PORT)\n\n\nif __name__ == \"__main__\":\n    main()  # entry point\n"
    );
    assert_eq!(
        text(&merged, "config/app.conf"),
        "name=shop\nport=8080\nworkers=4\ntimeout=30\n"
    );
    assert_eq!(
        text(&merged, "Makefile"),
        "run:\n\tLOG_LEVEL=info ./run.sh\n"
    );
    assert_eq!(text(&merged, "extra.py"), "print('mine')\n");
    assert_eq!(text(&merged, "token.txt"), "s3cret\n");
    assert!(merged["run.sh"].1, "the executable bit is kept");
    let answers = text(&merged, ".maestro-answers.yml");
    assert!(
        answers.contains(&v2_commit) && answers.contains("log_level: info"),
        "{answers}"
    );
    assert!(
        answers.contains(result["instantiation_id"].as_str().unwrap()),
        "{answers}"
    );
    assert!(!answers.contains("s3cret"), "{answers}");
    // The archive holds the same tree.
    let zip_bytes = base64::engine::general_purpose::STANDARD
        .decode(result["archive_base64"].as_str().unwrap())
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, expected);

    // The ledger knows the project is current now.
    assert_eq!(behind(&app, &id).await["total"], 0);
    let (_, drift) = app
        .get("/api/v1/templates/drift", Some(&app.viewer.token))
        .await;
    let mine = drift["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["template_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (mine["projects"].as_i64(), mine["behind"].as_i64()),
        (Some(1), Some(0))
    );

    // Updating again from the rewritten answers file changes nothing.
    let (status, again) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"files": upload(&merged), "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["from_commit"], v2_commit.as_str());
    let changed: Vec<&Value> = again["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"] != ".maestro-answers.yml")
        .collect();
    assert!(changed.is_empty(), "{again}");
}

#[tokio::test]
async fn a_conflicting_edit_is_reported_with_both_sides_and_never_dropped() {
    let app = TestApp::spawn().await;
    // The project changes the same line version 2 changes.
    let (id, v1_commit, dir) = generate_conflicting_edit(&app, "update-conflict").await;

    let (status, result) = app
        .post(
            &format!("/api/v1/templates/{id}/update"),
            Some(&app.viewer.token),
            &json!({"files": upload(&read_tree(dir.path()))}),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    let conflicts = result["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{result}");
    assert_eq!(conflicts[0]["path"], "app.py");
    assert_eq!(conflicts[0]["kind"], "content");
    let hunk = &conflicts[0]["hunks"][0];
    assert_eq!(hunk["ours"], "    main()  # ours\n");
    assert_eq!(hunk["theirs"], "    main()  # entry point\n");
    assert_eq!(hunk["base"], "    main()\n");
    let patch_path = dir.path().join(".git/update.patch");
    std::fs::write(&patch_path, result["patch"].as_str().unwrap()).unwrap();
    git(dir.path(), &["apply", patch_path.to_str().unwrap()]);
    let merged = text(&read_tree(dir.path()), "app.py");
    assert!(
        merged.contains("<<<<<<< ours\n    main()  # ours\n"),
        "{merged}"
    );
    assert!(
        merged.contains("=======\n    main()  # entry point\n>>>>>>> theirs\n"),
        "{merged}"
    );
    assert!(
        merged.contains("LOG_LEVEL = \"info\""),
        "the clean hunk is merged: {merged}"
    );
    assert!(
        merged.starts_with("# shop: the service (ours)\n"),
        "{merged}"
    );
    // The ledger entry records the conflict.
    let (_, ledger) = app
        .get(
            &format!("/api/v1/templates/{id}/instantiations"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(ledger["items"][0]["source"], "update");
    assert_eq!(ledger["items"][0]["conflicts"], 1);
    assert_eq!(ledger["items"][0]["from_commit"], v1_commit.as_str());
}

#[tokio::test]
async fn bad_update_requests_say_what_to_fix() {
    let app = TestApp::spawn().await;
    let (id, v1_commit, dir, _) = generate_and_edit(&app, "update-bad").await;
    publish_v2(&app, &id, &v1_commit, "update-bad").await;
    let url = format!("/api/v1/templates/{id}/update");
    let mut project = read_tree(dir.path());

    // An answer that no longer validates is named.
    let (status, problem) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"files": upload(&project), "answers": {"log_level": "loud"}}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"], "parameters.log_level",
        "{problem}"
    );

    // An unknown instantiation.
    let (status, problem) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"files": upload(&project), "instantiation_id": "nope"}),
        )
        .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["code"], "templates.instantiation_not_found");

    // Unsafe paths are refused as for template uploads.
    let mut files = upload(&project);
    files.insert("../escape.txt".into(), json!("x"));
    let (status, problem) = app
        .post(&url, Some(&app.viewer.token), &json!({"files": files}))
        .await;
    assert_eq!(status, 422, "{problem}");

    // An answers file naming a commit the template never had.
    let mut forged = project.clone();
    let answers = text(&project, ".maestro-answers.yml").replace(&v1_commit, "not-a-commit");
    forged.insert(".maestro-answers.yml".into(), (answers.into_bytes(), false));
    let (status, problem) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"files": upload(&forged)}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let answers = text(&project, ".maestro-answers.yml").replace(&v1_commit, &"a".repeat(40));
    forged.insert(".maestro-answers.yml".into(), (answers.into_bytes(), false));
    let (status, problem) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"files": upload(&forged)}),
        )
        .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["code"], "templates.commit_not_found");

    // Without the answers file nothing tells the version.
    project.remove(".maestro-answers.yml");
    let (status, problem) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"files": upload(&project)}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "templates.update_no_answers");

    // Another tenant's template is not found.
    let (status, _) = app
        .post(
            &url,
            Some(&app.other_admin.token),
            &json!({"files": upload(&project)}),
        )
        .await;
    assert_eq!(status, 404);
}

fn output_paths(out: &Value) -> Vec<String> {
    out["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_answers_file_is_opt_in_for_cookiecutter_and_opt_out_or_renamed_for_native() {
    let app = TestApp::spawn().await;
    let cc = json!({
        "manifest": {"name": "cc-answers", "version": "0.1.0", "description": "A cookiecutter template", "category": "backend_developer", "author": "Test Team"},
        "files": {
            "cookiecutter.json": "{\"project_name\": \"My Lib\", \"project_slug\": \"{{ cookiecutter.project_name.lower().replace(' ', '-') }}\", \"_secret\": \"hidden\"}\n",
            "{{cookiecutter.project_slug}}/README.md": "# {{ cookiecutter.project_name }}\n"
        }
    });
    let (status, created) = app
        .post("/api/v1/templates", Some(&app.editor.token), &cc)
        .await;
    assert_eq!(status, 201, "{created}");
    let url = format!(
        "/api/v1/templates/{}/instantiate",
        created["id"].as_str().unwrap()
    );
    let (_, plain) = app
        .post(&url, Some(&app.viewer.token), &json!({"format": "json"}))
        .await;
    assert_eq!(
        output_paths(&plain),
        vec!["my-lib/README.md"],
        "byte-identical to cookiecutter by default"
    );
    let (_, with) = app
        .post(
            &url,
            Some(&app.viewer.token),
            &json!({"format": "json", "answers_file": true}),
        )
        .await;
    assert_eq!(
        output_paths(&with),
        vec!["my-lib/README.md", "my-lib/.maestro-answers.yml"]
    );
    let answers = base64::engine::general_purpose::STANDARD
        .decode(with["files"][1]["content_base64"].as_str().unwrap())
        .unwrap();
    let answers = String::from_utf8(answers).unwrap();
    assert!(answers.contains("project_slug: my-lib"), "{answers}");
    assert!(
        !answers.contains("hidden"),
        "private answers are never written: {answers}"
    );

    for (setting, expected) in [
        (json!(false), vec!["app.py"]),
        (
            json!(".project/answers.yml"),
            vec!["app.py", ".project/answers.yml"],
        ),
    ] {
        let name = if setting == json!(false) {
            "native-no-answers"
        } else {
            "native-renamed-answers"
        };
        let mut manifest = manifest(name, "1.0.0", 8080, false);
        manifest["answers_file"] = setting;
        let (status, created) = app
            .post(
                "/api/v1/templates",
                Some(&app.editor.token),
                &json!({"manifest": manifest, "files": {"app.py": "PORT = {{ port }}\n"}}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let (status, out) = app
            .post(
                &format!(
                    "/api/v1/templates/{}/instantiate",
                    created["id"].as_str().unwrap()
                ),
                Some(&app.viewer.token),
                &json!({"format": "json"}),
            )
            .await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(output_paths(&out), expected);
    }
    let mut bad = manifest("native-bad-answers", "1.0.0", 8080, false);
    bad["answers_file"] = json!("../outside.yml");
    let (status, problem) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &json!({"manifest": bad, "files": {"app.py": "x\n"}}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem.to_string().contains("answers_file"), "{problem}");
}

/// The project can be uploaded as a `.tar.gz` with the options as query parameters.
#[tokio::test]
async fn a_tar_gz_upload_with_query_options_gives_the_same_plan() {
    let app = TestApp::spawn().await;
    let (id, v1_commit, dir, instantiation) = generate_and_edit(&app, "update-archive").await;
    publish_v2(&app, &id, &v1_commit, "update-archive").await;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, (content, exec)) in read_tree(dir.path()) {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(if exec { 0o755 } else { 0o644 });
        header.set_cksum();
        tar.append_data(&mut header, &path, content.as_slice())
            .unwrap();
    }
    let body = tar.into_inner().unwrap().finish().unwrap();
    let res = app
        .request(
            reqwest::Method::POST,
            &format!(
                "/api/v1/templates/{id}/update?dry_run=true&instantiation_id={instantiation}&answers=%7B%22log_level%22%3A%22debug%22%7D"
            ),
            Some(&app.viewer.token),
        )
        .header("content-type", "application/gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let plan: Value = res.json().await.unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["answers"]["log_level"], "debug");
    assert_eq!(plan["conflicts"], json!([]));
    assert_eq!(plan["changes"].as_array().unwrap().len(), 4, "{plan}");
    let (status, problem) = crate::helpers::send(
        app.request(
            reqwest::Method::POST,
            &format!("/api/v1/templates/{id}/update?answers=%5B1%5D"),
            Some(&app.viewer.token),
        )
        .header("content-type", "application/gzip")
        .body(vec![0x1f, 0x8b]),
    )
    .await;
    assert!(status == 400 || status == 422, "{status} {problem}");
}

/// A cookiecutter project generated with `answers_file: true` updates from inside its folder.
#[tokio::test]
async fn a_cookiecutter_project_with_an_answers_file_updates_from_its_folder() {
    let app = TestApp::spawn().await;
    let template = |readme: &str| {
        json!({
            "manifest": {"name": "cc-update", "version": "0.1.0", "description": "A cookiecutter template", "category": "backend_developer", "author": "Test Team"},
            "files": {
                "cookiecutter.json": "{\"project_name\": \"My Lib\", \"project_slug\": \"{{ cookiecutter.project_name.lower().replace(' ', '-') }}\"}\n",
                "{{cookiecutter.project_slug}}/README.md": readme,
                "{{cookiecutter.project_slug}}/setup.cfg": "[metadata]\nname = {{ cookiecutter.project_slug }}\n"
            }
        })
    };
    let (status, created) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &template("# {{ cookiecutter.project_name }}\n\nIntro.\n"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let etag = created["current_commit"].as_str().unwrap().to_string();
    let (status, out) = app
        .post(
            &format!("/api/v1/templates/{id}/instantiate"),
            Some(&app.viewer.token),
            &json!({"format": "json", "answers_file": true, "parameters": {"project_name": "Shop Lib"}}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let work = tempfile::tempdir().unwrap();
    write_files(work.path(), &out["files"]);
    let project_dir = work.path().join("shop-lib");
    let mut project = read_tree(&project_dir);
    project
        .get_mut("setup.cfg")
        .unwrap()
        .0
        .extend_from_slice(b"version = 1.0\n");
    let (status, _) = put_with_etag(
        &app,
        &app.editor.token,
        &id,
        &etag,
        &template("# {{ cookiecutter.project_name }}\n\nIntro, version 2.\n"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, result) = app
        .post(
            &format!("/api/v1/templates/{id}/update"),
            Some(&app.viewer.token),
            &json!({"files": upload(&project)}),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["conflicts"], json!([]));
    let paths: Vec<&str> = result["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec![".maestro-answers.yml", "README.md"], "{result}");
    assert!(
        result["patch"]
            .as_str()
            .unwrap()
            .contains("+Intro, version 2.")
    );
}

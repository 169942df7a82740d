//! Black-box tests of the templates module.

mod catalog;
mod cookiecutter;
mod crud;
mod gate;
mod instantiate;
mod layout;
mod openapi;
mod search;
pub mod stream;
mod sync;
mod uploads;
// Issue 15: project updates and drift.
mod update;

// Issue 14: imports from git.
mod git_import;

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, send};

/// A small native template with a parameter of each common type, a binary file, an executable
/// file and an optional file.
pub fn sample(name: &str) -> Value {
    json!({
        "manifest": {
            "name": name,
            "version": "1.0.0",
            "description": "Greets people over HTTP with a tiny Python service",
            "category": "backend_developer",
            "author": "Test Team",
            "tags": ["python", "api"],
            "dependencies": [{"flask": ">=3"}],
            "parameters": [
                {"name": "project_name", "type": "string", "default": "hello", "pattern": "^[a-z][a-z0-9-]*$", "required": true, "help": "Folder and package name"},
                {"name": "port", "type": "integer", "default": 8080, "help": "Listen port"},
                {"name": "with_docker", "type": "boolean", "default": false, "help": "Add a Dockerfile"},
                {"name": "python", "type": "choice", "choices": ["3.12", "3.13"], "default": "3.12", "help": "Python version"}
            ]
        },
        "files": {
            "README.md": "# Hello template\n\nInstantiate it with a project name.\n",
            "{{ project_name }}/main.py": "PORT = {{ port }}\nNAME = \"{{ project_name }}\"\n",
            "{{ project_name }}/{% if with_docker %}Dockerfile{% endif %}": "FROM python:{{ python }}\n",
            "{{ project_name }}/run.sh": {"content": "#!/bin/sh\necho {{ project_name }}\n", "executable": true},
            "{{ project_name }}/logo.png": {"base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}
        }
    })
}

/// Creates the sample template as the editor; returns (id, etag commit).
pub async fn create_sample(app: &TestApp, name: &str) -> (String, String) {
    let (status, body) = app
        .post("/api/v1/templates", Some(&app.editor.token), &sample(name))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["current_commit"].as_str().unwrap().to_string(),
    )
}

pub fn repo_path(app: &TestApp, tenant_id: &str) -> PathBuf {
    app.settings.data_dir.join("git").join(tenant_id)
}

/// `git log` of the tenant's repository: (hash, author email, subject), newest first.
pub fn git_log(app: &TestApp, tenant_id: &str) -> Vec<(String, String, String)> {
    let path = repo_path(app, tenant_id);
    if !path.join("HEAD").exists() {
        return Vec::new();
    }
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(&path)
        .args(["log", "--format=%H%x09%ae%x09%s", "main", "--"])
        .output()
        .expect("git runs");
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("unknown revision")
                || stderr.contains("bad revision")
                || stderr.contains("does not have any commits"),
            "git log failed: {stderr}"
        );
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut p = l.splitn(3, '\t');
            (
                p.next().unwrap_or_default().to_string(),
                p.next().unwrap_or_default().to_string(),
                p.next().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Runs the git CLI in `dir` as "Remote Dev" and returns its trimmed output; fails the test when
/// git does.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Remote Dev",
            "-c",
            "user.email=remote@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Where Maestro keeps a template in the tenant's repository: `templates/<first two characters of
/// the id>/<id>` (the fan-out layout; ids are lowercase UUIDs).
pub fn template_dir(id: &str) -> String {
    format!("templates/{}/{id}", &id[..2])
}

/// Files tracked in the tenant repository at `main` (`git ls-tree -r`).
pub fn git_files(app: &TestApp, tenant_id: &str) -> Vec<String> {
    let path = repo_path(app, tenant_id);
    if !path.join("HEAD").exists() {
        return Vec::new();
    }
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(&path)
        .args(["ls-tree", "-r", "--name-only", "main"])
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// PUT with If-Match.
pub async fn put_with_etag(
    app: &TestApp,
    token: &str,
    id: &str,
    etag: &str,
    body: &Value,
) -> (StatusCode, Value) {
    send(
        app.request(Method::PUT, &format!("/api/v1/templates/{id}"), Some(token))
            .header("If-Match", format!("\"{etag}\""))
            .json(body),
    )
    .await
}

/// Total templates the tenant sees.
pub async fn total(app: &TestApp, token: &str) -> i64 {
    let (status, body) = app.get("/api/v1/templates", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["total"].as_i64().unwrap()
}

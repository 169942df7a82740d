//! Repositories written before the fan-out layout (`templates/<id>/` instead of
//! `templates/<first two characters>/<id>/`): they read, list their history, diff and restore as
//! before, and a restart moves them into the fan-out in one commit that no template's history
//! lists, with the rows following the branch.

use serde_json::json;

use super::{
    create_sample, git, git_files, git_log, put_with_etag, repo_path, sample, template_dir,
};
use crate::helpers::TestApp;

#[tokio::test]
async fn a_repository_in_the_layout_before_the_fan_out_still_works_and_moves_at_restart() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin.token.clone();
    let viewer = app.viewer.token.clone();
    let tenant = app.editor.tenant_id.clone();
    let (made, made_etag) = create_sample(&app, "made-here").await;

    // Rewrite the repository the old way: the template made here moves back to templates/<id>/,
    // and an old template with two versions is added there.
    let scratch = tempfile::tempdir().unwrap();
    let repo = repo_path(&app, &tenant);
    git(
        scratch.path(),
        &["clone", "-q", repo.to_str().unwrap(), "w"],
    );
    let w = scratch.path().join("w");
    git(
        &w,
        &["mv", &template_dir(&made), &format!("templates/{made}")],
    );
    git(&w, &["commit", "-q", "-m", "Flat again"]);
    let old = uuid::Uuid::new_v4().to_string();
    let dir = w.join("templates").join(&old);
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = "name: old-layout\nversion: 1.0.0\ndescription: Written before the fan-out\ncategory: technical_writer\nauthor: Remote Dev\n";
    std::fs::write(dir.join("manifest.yaml"), manifest).unwrap();
    std::fs::write(dir.join("README.md"), "# Old v1\n").unwrap();
    git(&w, &["add", "-A"]);
    git(&w, &["commit", "-q", "-m", "Add old-layout"]);
    let v1 = git(&w, &["rev-parse", "HEAD"]);
    std::fs::write(
        dir.join("manifest.yaml"),
        manifest.replace("1.0.0", "1.1.0"),
    )
    .unwrap();
    std::fs::write(dir.join("README.md"), "# Old v2\n").unwrap();
    git(&w, &["commit", "-q", "-am", "Update old-layout"]);
    let v2 = git(&w, &["rev-parse", "HEAD"]);
    git(&w, &["push", "-q", "origin", "main"]);
    let (status, report) = app
        .post("/api/v1/admin/git/reconcile", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"]["created"], json!([old]), "{report}");
    assert_eq!(
        report["imported"]["updated"],
        json!([]),
        "moving a template changes nothing: {report}"
    );

    // Reads, history, content at a version, diff.
    let detail = check_history(&app, &old, &v1, &v2).await;
    assert_eq!(detail["version"], "1.1.0");
    assert_eq!(detail["current_commit"], v2.as_str());
    let (status, made_detail) = app
        .get(&format!("/api/v1/templates/{made}"), Some(&viewer))
        .await;
    assert_eq!(status, 200, "{made_detail}");
    assert!(!made_detail["files"].as_array().unwrap().is_empty());

    // A restart moves both into their buckets in one commit by Maestro; the rows follow it.
    app.restart().await;
    let moved = app
        .eventually(
            "the layout migration",
            std::time::Duration::from_secs(20),
            || async {
                let files = git_files(&app, &tenant);
                files
                    .iter()
                    .all(|f| {
                        f.starts_with(&format!("{}/", template_dir(&made)))
                            || f.starts_with(&format!("{}/", template_dir(&old)))
                    })
                    .then_some(files)
            },
        )
        .await;
    assert!(moved.contains(&format!("{}/README.md", template_dir(&old))));
    let log = git_log(&app, &tenant);
    assert!(log[0].2.starts_with("Move 2 templates"), "{log:?}");
    assert_eq!(log[0].1, "maestro@localhost");
    // The commit lands in git first and the rows follow it in the next statement: wait for them.
    let head = log[0].0.clone();
    let remote = app
        .eventually(
            "the rows follow the move commit",
            std::time::Duration::from_secs(20),
            || async {
                let (_, remote) = app.get("/api/v1/admin/git/remote", Some(&admin)).await;
                (remote["head_commit"] == head.as_str()).then_some(remote)
            },
        )
        .await;
    assert_eq!(remote["head_commit"], head.as_str(), "{remote}");
    check_history(&app, &old, &v1, &v2).await;

    // Writes keep working: the old ETag is still the template's commit, and restore works.
    let mut next = sample("made-here");
    next["manifest"]["version"] = json!("1.0.1");
    let (status, body) = put_with_etag(&app, &app.editor.token, &made, &made_etag, &next).await;
    assert_eq!(status, 200, "{body}");
    let (status, restored) = app
        .post(
            &format!("/api/v1/templates/{old}/restore"),
            Some(&app.editor.token),
            &json!({"commit": v1}),
        )
        .await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["version"], "1.0.0");
    let (_, readme) = app
        .get(
            &format!("/api/v1/templates/{old}/files/README.md"),
            Some(&viewer),
        )
        .await;
    assert_eq!(readme, "# Old v1\n");
    let (_, versions) = app
        .get(&format!("/api/v1/templates/{old}/versions"), Some(&viewer))
        .await;
    assert_eq!(versions["total"], 3, "{versions}");
    app.shutdown().await;
}

/// The old template reads, lists its two versions, serves a file at v1 and diffs v1 → v2.
async fn check_history(app: &TestApp, old: &str, v1: &str, v2: &str) -> serde_json::Value {
    let viewer = app.viewer.token.as_str();
    let (status, detail) = app
        .get(&format!("/api/v1/templates/{old}"), Some(viewer))
        .await;
    assert_eq!(status, 200, "{detail}");
    let (status, versions) = app
        .get(&format!("/api/v1/templates/{old}/versions"), Some(viewer))
        .await;
    assert_eq!(status, 200, "{versions}");
    let commits: Vec<&str> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["commit"].as_str().unwrap())
        .collect();
    assert_eq!(commits, vec![v2, v1], "{versions}");
    let (_, readme) = app
        .get(
            &format!("/api/v1/templates/{old}/files/README.md?version={v1}"),
            Some(viewer),
        )
        .await;
    assert_eq!(readme, "# Old v1\n");
    let (status, diff) = app
        .get(
            &format!("/api/v1/templates/{old}/diff?from={v1}&to={v2}"),
            Some(viewer),
        )
        .await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["files_changed"], 2, "{diff}");
    assert!(
        diff["patch"]
            .as_str()
            .unwrap()
            .contains("-# Old v1\n+# Old v2\n"),
        "{diff}"
    );
    detail
}

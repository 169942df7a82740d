//! Git sync against a local bare repository: push when ahead, fast-forward and import when
//! behind, report (and change nothing) when diverged.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use super::{create_sample, git_log, put_with_etag, sample, total};
use crate::helpers::TestApp;

fn git(dir: &Path, args: &[&str]) -> String {
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

#[tokio::test]
async fn sync_pushes_fast_forwards_and_reports_divergence() {
    let app = TestApp::spawn().await;
    let remote_dir = tempfile::tempdir().unwrap();
    let bare = remote_dir.path().join("templates.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--bare", "-q"]);
    let admin = app.admin.token.clone();

    // Admin only; a bad URL is refused; credentials are redacted.
    let (status, _) = app
        .post(
            "/api/v1/admin/git/sync",
            Some(&app.editor.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post("/api/v1/admin/git/sync", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 409, "no remote yet: {body}");
    let (status, body) = app
        .put(
            "/api/v1/admin/git/remote",
            Some(&admin),
            &json!({"url": "-uevil", "branch": "main"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .put(
            "/api/v1/admin/git/remote",
            Some(&admin),
            &json!({"url": "https://bob:s3cret@example.com/t.git"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["url"].as_str().unwrap().contains("s3cret"), "{body}");

    let url = format!("file://{}", bare.display());
    let (status, remote) = app
        .put(
            "/api/v1/admin/git/remote",
            Some(&admin),
            &json!({"url": url, "branch": "main"}),
        )
        .await;
    assert_eq!(status, 200, "{remote}");

    // Ahead: push (git CLI).
    let (id, etag) = create_sample(&app, "synced").await;
    let (status, report) = app
        .post("/api/v1/admin/git/sync", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "pushed");
    assert_eq!(git(&bare, &["rev-parse", "main"]), etag);
    let (_, report) = app
        .post("/api/v1/admin/git/sync", Some(&admin), &json!({}))
        .await;
    assert_eq!(report["status"], "up_to_date");

    // Behind: someone commits to the remote; sync fast-forwards and the rows follow.
    let work = remote_dir.path().join("work");
    git(
        remote_dir.path(),
        &["clone", "-q", bare.to_str().unwrap(), "work"],
    );
    let manifest_path = work.join("templates").join(&id).join("manifest.yaml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        manifest.replace("version: 1.0.0", "version: 1.5.0"),
    )
    .unwrap();
    let new_id = "0f0e0d0c-0000-4000-8000-000000000001";
    let new_dir = work.join("templates").join(new_id);
    std::fs::create_dir_all(&new_dir).unwrap();
    std::fs::write(
        new_dir.join("manifest.yaml"),
        "name: from-remote\nversion: 2.0.0\ndescription: Added straight to git\ncategory: technical_writer\nauthor: Remote Dev\ntags: [docs]\n",
    )
    .unwrap();
    std::fs::write(new_dir.join("GUIDE.md"), "# Guide\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "Remote edits"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let remote_head = git(&work, &["rev-parse", "HEAD"]);

    let (status, report) = app
        .post("/api/v1/admin/git/sync", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "fast_forwarded");
    assert_eq!(report["imported"]["created"], json!([new_id]));
    assert_eq!(report["imported"]["updated"], json!([id]));
    assert_eq!(git_log(&app, &app.admin.tenant_id)[0].0, remote_head);
    let (_, detail) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(detail["version"], "1.5.0");
    assert_eq!(detail["current_commit"], remote_head.as_str());
    let (status, imported) = app
        .get(
            &format!("/api/v1/templates/{new_id}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200, "{imported}");
    assert_eq!(imported["name"], "from-remote");
    assert_eq!(imported["updated_by"], "remote@example.com");
    assert_eq!(total(&app, &app.viewer.token).await, 2);

    // Diverged: both sides commit; nothing changes anywhere.
    let mut local = sample("synced");
    local["manifest"]["version"] = json!("1.6.0");
    let (status, body) = put_with_etag(&app, &app.editor.token, &id, &remote_head, &local).await;
    assert_eq!(status, 200, "{body}");
    let local_head = body["current_commit"].as_str().unwrap().to_string();
    std::fs::write(new_dir.join("GUIDE.md"), "# Guide v2\n").unwrap();
    git(&work, &["commit", "-q", "-am", "More remote edits"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let remote_head2 = git(&work, &["rev-parse", "HEAD"]);

    let (status, report) = app
        .post("/api/v1/admin/git/sync", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 409, "{report}");
    assert_eq!(report["status"], "diverged");
    assert_eq!(report["local_head"], local_head.as_str());
    assert_eq!(report["remote_head"], remote_head2.as_str());
    assert_eq!(report["merge_base"], remote_head.as_str());
    assert_eq!(
        git(&bare, &["rev-parse", "main"]),
        remote_head2,
        "the remote was not overwritten"
    );
    assert_eq!(
        git_log(&app, &app.admin.tenant_id)[0].0,
        local_head,
        "the local branch was not overwritten"
    );
    let (_, guide) = app
        .get(
            &format!("/api/v1/templates/{new_id}/files/GUIDE.md"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(guide, "# Guide\n");
    let (_, remote_view) = app.get("/api/v1/admin/git/remote", Some(&admin)).await;
    assert_eq!(remote_view["last_sync_status"], "diverged");
    app.shutdown().await;
}

#[tokio::test]
async fn a_crash_between_git_and_the_database_is_repaired_from_git() {
    let app = TestApp::spawn().await;
    let (id, etag) = create_sample(&app, "crashy").await;
    // Simulate a commit that reached git but not the database: commit directly to the repo.
    let repo = super::repo_path(&app, &app.editor.tenant_id);
    let scratch = tempfile::tempdir().unwrap();
    git(
        scratch.path(),
        &["clone", "-q", repo.to_str().unwrap(), "w"],
    );
    let w = scratch.path().join("w");
    let manifest = w.join("templates").join(&id).join("manifest.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("version: 1.0.0", "version: 1.0.9")).unwrap();
    git(&w, &["commit", "-q", "-am", "Written before a crash"]);
    git(&w, &["push", "-q", "origin", "main"]);
    let crashed = git(&w, &["rev-parse", "HEAD"]);

    // The next write notices the branch is ahead of the rows and imports first.
    let (_, stale) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(stale["current_commit"], etag.as_str());
    let (status, body) =
        put_with_etag(&app, &app.editor.token, &id, &etag, &sample("crashy")).await;
    assert_eq!(
        status, 412,
        "the rows caught up, so the old ETag is stale: {body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains(&crashed),
        "{body}"
    );
    let (_, now) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(now["version"], "1.0.9");
    app.shutdown().await;
}

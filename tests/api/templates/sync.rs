//! Git sync against a local bare repository: push when ahead, fast-forward and import when
//! behind, report (and change nothing) when diverged; all-or-nothing when the import fails; two
//! tenants sharing one repository; which remotes are allowed; reconciling branch and rows.

use std::path::Path;

use serde_json::{Value, json};

use super::{create_sample, git, git_log, put_with_etag, sample, template_dir, total};
use crate::helpers::TestApp;

/// An app whose tenants may use local remotes under `dir` (and nowhere else).
async fn app_allowing(dir: &Path) -> TestApp {
    let dir = dir.to_path_buf();
    TestApp::builder()
        .with(move |s| s.templates.git_allowed_local_dirs = vec![dir])
        .spawn()
        .await
}

#[tokio::test]
async fn sync_pushes_fast_forwards_and_reports_divergence() {
    let remote_dir = tempfile::tempdir().unwrap();
    let app = app_allowing(remote_dir.path()).await;
    let bare = remote_dir.path().join("templates.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--bare", "-q"]);
    let admin = app.admin.token.clone();

    // Admin only; a bad URL is refused; credentials are redacted.
    let (status, body) = admin_only(&app, "/api/v1/admin/git/sync").await;
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
    let manifest_path = work.join(template_dir(&id)).join("manifest.yaml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        manifest.replace("version: 1.0.0", "version: 1.5.0"),
    )
    .unwrap();
    let new_id = "0f0e0d0c-0000-4000-8000-000000000001";
    // Added by hand in the layout before the fan-out (templates/<id>/): still imported.
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
    let manifest = w.join(template_dir(&id)).join("manifest.yaml");
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

fn init_bare(dir: &Path, name: &str) -> std::path::PathBuf {
    let bare = dir.join(name);
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--bare", "-q"]);
    bare
}

/// A remote's credentials are stored only sealed and opened when git runs; a sealed value that
/// does not open is a 409 that says what to do; a remote an earlier version stored in the clear
/// is sealed at the next start.
#[tokio::test]
async fn remote_credentials_are_stored_sealed_and_clear_ones_are_sealed_at_start() {
    let mut app = TestApp::spawn().await;
    let tenant = app.admin.tenant_id.clone();
    // Nothing listens on port 9: git fails fast, after it was handed the URL.
    let url = "https://bob:s3cret@127.0.0.1:9/team/templates.git";
    let shown = "https://bob:[redacted]@127.0.0.1:9/team/templates.git";
    let (status, body) = set_remote(&app, &app.admin.token, url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], shown);
    let (stored, sealed) = stored_remote(&app, &tenant).await;
    assert_eq!(stored.as_deref(), Some(shown));
    let sealed = sealed.expect("the credentials are sealed");
    assert!(!sealed.contains("s3cret"), "{sealed}");
    assert_eq!(
        app.platform.sealer.open(&tenant, &sealed).as_deref(),
        Ok(url)
    );
    assert!(
        app.platform.sealer.open("globex", &sealed).is_err(),
        "bound to its tenant"
    );
    let (status, body) = sync(&app, &app.admin.token).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "templates.git_fetch_failed", "{body}");
    assert!(!body.to_string().contains("s3cret"), "{body}");

    // Sealed under another key (or altered): refused with what to do, for syncs and imports.
    let unreadable =
        "UPDATE template_repos SET remote_url_sealed = 'v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'";
    app.exec_sql(unreadable, unreadable).await;
    let (status, body) = sync(&app, &app.admin.token).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "templates.remote_unreadable", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("PUT /api/v1/admin/git/remote"),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/api/v1/templates/import",
            Some(&app.editor.token),
            &json!({"url": "https://127.0.0.1:9/team/other.git", "category": "qa_engineer"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "templates.remote_unreadable", "{body}");
    let (_, remote) = app
        .get("/api/v1/admin/git/remote", Some(&app.admin.token))
        .await;
    assert_eq!(remote["last_sync_status"], "failed", "{remote}");

    // As an earlier version stored it: in the clear. Sealed at start, and still used.
    let clear = format!(
        "UPDATE template_repos SET remote_url = '{url}', remote_url_sealed = NULL WHERE tenant_id = '{tenant}'"
    );
    app.exec_sql(&clear, &clear).await;
    app.restart().await;
    let sealed = app
        .eventually(
            "the clear remote sealed at start",
            std::time::Duration::from_secs(20),
            || async {
                match stored_remote(&app, &tenant).await {
                    (Some(stored), Some(sealed)) if stored == shown => Some(sealed),
                    _ => None,
                }
            },
        )
        .await;
    assert_eq!(
        app.platform.sealer.open(&tenant, &sealed).as_deref(),
        Ok(url)
    );
    let (status, body) = sync(&app, &app.admin.token).await;
    assert_eq!(status, 502, "{body}");
    app.shutdown().await;
}

/// The tenant's remote row as stored: (`remote_url`, `remote_url_sealed`).
async fn stored_remote(app: &TestApp, tenant: &str) -> (Option<String>, Option<String>) {
    let rows = app
        .select_texts(&format!(
            "SELECT remote_url AS a, remote_url_sealed AS b, tenant_id AS c FROM template_repos WHERE tenant_id = '{tenant}'"
        ))
        .await;
    let [shown, sealed, _] = rows.into_iter().next().expect("a remote row");
    (shown, sealed)
}

async fn set_remote(app: &TestApp, token: &str, url: &str) -> (reqwest::StatusCode, Value) {
    app.put(
        "/api/v1/admin/git/remote",
        Some(token),
        &json!({"url": url, "branch": "main"}),
    )
    .await
}

/// POSTs `{}` to an admin endpoint as an editor (refused with 403), then as the admin: the
/// admin's answer.
async fn admin_only(app: &TestApp, path: &str) -> (reqwest::StatusCode, Value) {
    let (status, body) = app.post(path, Some(&app.editor.token), &json!({})).await;
    assert_eq!(status, 403, "{path} is for admins only: {body}");
    app.post(path, Some(&app.admin.token), &json!({})).await
}

async fn sync(app: &TestApp, token: &str) -> (reqwest::StatusCode, Value) {
    app.post("/api/v1/admin/git/sync", Some(token), &json!({}))
        .await
}

/// How the database refuses a template named `poisoned` (fault injection).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Poison {
    /// An error raised by a trigger (a server-side failure: 500).
    Raise,
    /// A unique violation inside the trigger (a conflict: 409).
    Conflict,
}

/// Makes inserting a template named `poisoned` fail inside the database.
async fn poison_inserts(app: &TestApp, how: Poison) {
    let (sqlite_body, pg_body) = match how {
        Poison::Raise => (
            "SELECT RAISE(ABORT, 'refused by a test trigger');",
            "RAISE EXCEPTION 'refused by a test trigger';",
        ),
        Poison::Conflict => (
            "INSERT INTO poison VALUES ('taken');",
            "INSERT INTO poison VALUES ('taken');",
        ),
    };
    app.exec_sql(
        &format!(
            "CREATE TABLE poison (x TEXT UNIQUE); INSERT INTO poison VALUES ('taken'); \
             CREATE TRIGGER refuse_poison BEFORE INSERT ON templates WHEN NEW.name = 'poisoned' \
             BEGIN {sqlite_body} END;"
        ),
        &format!(
            "CREATE TABLE poison (x TEXT UNIQUE); INSERT INTO poison VALUES ('taken'); \
             CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
               IF NEW.name = 'poisoned' THEN {pg_body} END IF; \
               RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_poison BEFORE INSERT ON templates \
               FOR EACH ROW EXECUTE FUNCTION refuse_poison();"
        ),
    )
    .await;
}

async fn cure_inserts(app: &TestApp) {
    app.exec_sql(
        "DROP TRIGGER refuse_poison; DROP TABLE poison;",
        "DROP TRIGGER refuse_poison ON templates; DROP FUNCTION refuse_poison(); DROP TABLE poison;",
    )
    .await;
}

/// Adds `templates/<xx>/<id>/manifest.yaml` for a template called `name` in a clone of `origin`
/// and pushes it; returns the new head.
fn push_template(work_root: &Path, origin: &Path, id: &str, name: &str) -> String {
    let work = work_root.join(format!("w-{}", uuid::Uuid::new_v4().simple()));
    git(
        work_root,
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    let dir = work.join(template_dir(id));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("manifest.yaml"),
        format!("name: {name}\nversion: 1.0.0\ndescription: Added straight to git\ncategory: technical_writer\nauthor: Remote Dev\n"),
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", &format!("Add {name}")]);
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
    git(&work, &["rev-parse", "HEAD"])
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn remotes_must_be_https_or_ssh_unless_allow_listed_and_never_another_tenants_repository() {
    // Default configuration: no local remotes at all.
    let app = TestApp::spawn().await;
    let admin = app.admin.token.clone();
    let elsewhere = tempfile::tempdir().unwrap();
    let bare = init_bare(elsewhere.path(), "t.git");
    for url in [
        format!("file://{}", bare.display()),
        bare.display().to_string(),
        "http://example.com/t.git".to_string(),
        "git://example.com/t.git".to_string(),
        "ext::sh -c touch% /tmp/pwned".to_string(),
        "ssh://-oProxyCommand=touch%20x/t.git".to_string(),
    ] {
        let (status, problem) = set_remote(&app, &admin, &url).await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
    }
    let (_, problem) = set_remote(&app, &admin, &format!("file://{}", bare.display())).await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("templates.git_allowed_local_dirs"),
        "{problem}"
    );
    for url in [
        "https://git.example.com/acme/templates.git",
        "ssh://git@git.example.com/acme/templates.git",
        "git@git.example.com:acme/templates.git",
    ] {
        let (status, body) = set_remote(&app, &admin, url).await;
        assert_eq!(status, 200, "{url}: {body}");
    }
    app.shutdown().await;

    // With an allow-list that (carelessly) covers the data directory too: still never a path
    // inside it, however it is spelled.
    let shared = tempfile::tempdir().unwrap();
    let shared_path = shared.path().to_path_buf();
    let app = TestApp::builder()
        .with(move |s| {
            let data_parent = s.data_dir.parent().unwrap().to_path_buf();
            s.templates.git_allowed_local_dirs = vec![shared_path, data_parent];
        })
        .spawn()
        .await;
    let admin = app.admin.token.clone();
    // The victim: globex has a template, so its repository exists.
    let (status, victim_template) = app
        .post(
            "/api/v1/templates",
            Some(&app.other_admin.token),
            &super::sample("globex-secret"),
        )
        .await;
    assert_eq!(status, 201, "{victim_template}");
    let victim = super::repo_path(&app, &app.other_admin.tenant_id);
    let victim_log = git_log(&app, &app.other_admin.tenant_id);
    let data_dir = app.settings.data_dir.clone();
    let link = shared.path().join("innocent.git");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for url in [
        format!("file://{}", victim.display()),
        victim.display().to_string(),
        format!(
            "{}/../data/git/{}",
            data_dir.display(),
            app.other_admin.tenant_id
        ),
        format!("file://{}", link.display()),
        data_dir.display().to_string(),
    ] {
        let (status, problem) = set_remote(&app, &admin, &url).await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("data directory"),
            "{url}: {problem}"
        );
    }
    // A symlink that was harmless when stored and points at the victim by sync time.
    let real = init_bare(shared.path(), "real.git");
    let swap = shared.path().join("swap.git");
    std::os::unix::fs::symlink(&real, &swap).unwrap();
    let (status, body) = set_remote(&app, &admin, &format!("file://{}", swap.display())).await;
    assert_eq!(status, 200, "{body}");
    std::fs::remove_file(&swap).unwrap();
    std::os::unix::fs::symlink(&victim, &swap).unwrap();
    let (acme_id, _) = create_sample(&app, "acme-template").await;
    let (status, problem) = sync(&app, &admin).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "templates.remote_not_allowed", "{problem}");
    // Nothing reached the victim's repository.
    assert_eq!(git_log(&app, &app.other_admin.tenant_id), victim_log);
    let victim_refs = git(&victim, &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(victim_refs, "refs/heads/main", "{victim_refs}");
    assert!(
        !git(&victim, &["ls-tree", "-r", "--name-only", "main"]).contains(&acme_id),
        "acme's template was not pushed into globex's repository"
    );
    let (_, view) = app.get("/api/v1/admin/git/remote", Some(&admin)).await;
    assert_eq!(view["last_sync_status"], "failed", "{view}");
    app.shutdown().await;
}

#[tokio::test]
async fn two_tenants_sharing_one_remote_both_keep_working() {
    let remote_dir = tempfile::tempdir().unwrap();
    let bare = init_bare(remote_dir.path(), "shared.git");
    let app = app_allowing(remote_dir.path()).await;
    let url = format!("file://{}", bare.display());
    let acme = app.admin.token.clone();
    let globex = app.other_admin.token.clone();
    for token in [&acme, &globex] {
        let (status, body) = set_remote(&app, token, &url).await;
        assert_eq!(status, 200, "{body}");
    }

    // acme publishes into the shared repository.
    let (acme_one, _) = create_sample(&app, "acme-one").await;
    let (status, report) = sync(&app, &acme).await;
    assert_eq!(
        (status.as_u16(), report["status"].as_str()),
        (200, Some("pushed")),
        "{report}"
    );

    // globex fetches it: acme's template id is taken, so it is skipped (and says why).
    let (status, report) = sync(&app, &globex).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "fast_forwarded");
    assert_eq!(report["imported"]["created"], json!([]));
    let skipped = report["imported"]["skipped"].to_string();
    assert!(
        skipped.contains(&acme_one) && skipped.contains("another tenant"),
        "{report}"
    );
    assert_eq!(total(&app, &globex).await, 0);
    let (status, _) = app
        .get(&format!("/api/v1/templates/{acme_one}"), Some(&globex))
        .await;
    assert_eq!(status, 404);

    // globex keeps working: creates, and pushes on top.
    let (status, created) = app
        .post(
            "/api/v1/templates",
            Some(&globex),
            &super::sample("globex-one"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let globex_one = created["id"].as_str().unwrap().to_string();
    let (status, report) = sync(&app, &globex).await;
    assert_eq!(
        (status.as_u16(), report["status"].as_str()),
        (200, Some("pushed")),
        "{report}"
    );

    // acme fetches globex's commit, skips its template, and keeps working too.
    let (status, report) = sync(&app, &acme).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "fast_forwarded");
    assert!(
        report["imported"]["skipped"]
            .to_string()
            .contains(&globex_one),
        "{report}"
    );
    assert_eq!(report["imported"]["created"], json!([]));
    assert_eq!(report["imported"]["deleted"], json!([]));
    let (acme_two, _) = create_sample(&app, "acme-two").await;
    let (status, report) = sync(&app, &acme).await;
    assert_eq!(
        (status.as_u16(), report["status"].as_str()),
        (200, Some("pushed")),
        "{report}"
    );
    let (status, report) = sync(&app, &globex).await;
    assert_eq!(
        (status.as_u16(), report["status"].as_str()),
        (200, Some("fast_forwarded")),
        "{report}"
    );
    assert!(
        report["imported"]["skipped"]
            .to_string()
            .contains(&acme_two),
        "{report}"
    );
    let (status, created) = app
        .post(
            "/api/v1/templates",
            Some(&globex),
            &super::sample("globex-two"),
        )
        .await;
    assert_eq!(status, 201, "{created}");

    // Each tenant sees its own templates; the repository holds all of them.
    assert_eq!(total(&app, &acme).await, 2);
    assert_eq!(total(&app, &globex).await, 2);
    let files = git(&bare, &["ls-tree", "-r", "--name-only", "main"]);
    for id in [&acme_one, &acme_two, &globex_one] {
        assert!(files.contains(id.as_str()), "{id} in {files}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_sync_whose_import_fails_leaves_branch_and_database_as_they_were() {
    let remote_dir = tempfile::tempdir().unwrap();
    let bare = init_bare(remote_dir.path(), "templates.git");
    let app = app_allowing(remote_dir.path()).await;
    let admin = app.admin.token.clone();
    let (status, body) = set_remote(&app, &admin, &format!("file://{}", bare.display())).await;
    assert_eq!(status, 200, "{body}");
    let (_, base) = create_sample(&app, "base").await;
    let (status, report) = sync(&app, &admin).await;
    assert_eq!(report["status"], "pushed", "{status} {report}");

    // The remote gains two templates; the database will refuse one of them.
    let (good, poisoned) = (new_id(), new_id());
    push_template(remote_dir.path(), &bare, &good, "good-one");
    let remote_head = push_template(remote_dir.path(), &bare, &poisoned, "poisoned");
    // A conflict in the database (409), then a server-side failure (500): each time the sync
    // is refused and changes nothing.
    for (how, status, code) in [
        (Poison::Conflict, 409, "templates.sync_import_failed"),
        (Poison::Raise, 500, "internal"),
    ] {
        poison_inserts(&app, how).await;
        let (got, problem) = sync(&app, &admin).await;
        assert_eq!(got, status, "{problem}");
        assert_eq!(problem["code"], code, "{problem}");
        let detail = problem["detail"].as_str().unwrap().to_string();
        assert!(detail.contains("othing was changed"), "{problem}");
        assert!(
            detail.contains(&base),
            "names the restored commit: {problem}"
        );
        // Branch and rows are where they were; the remote is untouched.
        assert_eq!(git_log(&app, &app.admin.tenant_id)[0].0, base);
        assert_eq!(git(&bare, &["rev-parse", "main"]), remote_head);
        assert_eq!(total(&app, &app.viewer.token).await, 1);
        for id in [&good, &poisoned] {
            let (status, _) = app
                .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
                .await;
            assert_eq!(status, 404);
        }
        let (_, view) = app.get("/api/v1/admin/git/remote", Some(&admin)).await;
        assert_eq!(view["head_commit"], base.as_str(), "{view}");
        assert_eq!(view["last_sync_status"], "failed", "{view}");
        cure_inserts(&app).await;
    }

    // Once the cause is gone the same sync goes through, and writes work.
    let (status, report) = sync(&app, &admin).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "fast_forwarded");
    let mut created: Vec<String> = report["imported"]["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    created.sort();
    let mut expected = vec![good, poisoned];
    expected.sort();
    assert_eq!(created, expected);
    create_sample(&app, "after").await;
    assert_eq!(total(&app, &app.viewer.token).await, 4);
    app.shutdown().await;
}

#[tokio::test]
async fn reconcile_imports_what_it_can_and_otherwise_moves_the_branch_back_keeping_the_commits() {
    let app = TestApp::spawn().await;
    let admin = app.admin.token.clone();
    let (_, head) = create_sample(&app, "kept").await;
    let repo = super::repo_path(&app, &app.admin.tenant_id);
    let scratch = tempfile::tempdir().unwrap();

    // A commit straight into the repository that the database refuses to import.
    poison_inserts(&app, Poison::Raise).await;
    let stray = push_template(scratch.path(), &repo, &new_id(), "poisoned");
    assert_eq!(git_log(&app, &app.admin.tenant_id)[0].0, stray);
    let (status, problem) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &super::sample("blocked"),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "templates.git_out_of_sync", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/admin/git/reconcile"),
        "{problem}"
    );

    // Admins only.
    let (status, report) = admin_only(&app, "/api/v1/admin/git/reconcile").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "reset", "{report}");
    assert_eq!(report["branch_head"], stray.as_str());
    assert_eq!(report["database_head"], head.as_str());
    assert_eq!(report["head"], head.as_str());
    let kept = report["kept_ref"].as_str().unwrap();
    assert!(kept.starts_with("refs/maestro/unimported/"), "{report}");
    assert_eq!(git_log(&app, &app.admin.tenant_id)[0].0, head);
    assert_eq!(git(&repo, &["rev-parse", kept]), stray, "nothing is lost");

    // Writes work again.
    let (_, after) = create_sample(&app, "unblocked").await;

    // A commit the database accepts is imported instead.
    cure_inserts(&app).await;
    let direct = new_id();
    let tip = push_template(scratch.path(), &repo, &direct, "direct");
    let (status, report) = app
        .post("/api/v1/admin/git/reconcile", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "imported", "{report}");
    assert_eq!(report["database_head"], after.as_str());
    assert_eq!(report["head"], tip.as_str());
    assert_eq!(report["imported"]["created"], json!([direct]));
    let (_, report) = app
        .post("/api/v1/admin/git/reconcile", Some(&admin), &json!({}))
        .await;
    assert_eq!(report["status"], "in_sync", "{report}");
    assert_eq!(total(&app, &app.viewer.token).await, 3);
    app.shutdown().await;
}

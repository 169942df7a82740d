//! Create → update → versions → diff → restore → delete, each one commit in the tenant's
//! repository; ETag/If-Match; roles; tenant isolation; events.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{create_sample, git_files, git_log, put_with_etag, sample, template_dir, total};
use crate::helpers::{TestApp, send};
use maestro::modules::templates::events::{
    TemplateCreated, TemplateDeleted, TemplateRestored, TemplateUpdated,
};

#[tokio::test]
async fn lifecycle_is_one_commit_per_step_with_history_diff_and_restore() {
    let app = TestApp::spawn().await;
    let tenant = app.editor.tenant_id.clone();
    let mut created_events = app.platform.bus.subscribe::<TemplateCreated>();
    let mut updated_events = app.platform.bus.subscribe::<TemplateUpdated>();
    let mut restored_events = app.platform.bus.subscribe::<TemplateRestored>();
    let mut deleted_events = app.platform.bus.subscribe::<TemplateDeleted>();

    // Create.
    let res = app
        .request(Method::POST, "/api/v1/templates", Some(&app.editor.token))
        .json(&sample("hello-service"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let etag1 = res.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let created: serde_json::Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/api/v1/templates/{id}"));
    assert_eq!(created["current_commit"], etag1.as_str());
    assert_eq!(created["name"], "hello-service");
    assert_eq!(created["format"], "native");
    assert_eq!(created["file_count"], 6);
    assert_eq!(created["created_by"], app.editor.email.as_str());
    let log = git_log(&app, &tenant);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].0, etag1);
    assert_eq!(log[0].1, app.editor.email);
    assert_eq!(log[0].2, "Create hello-service 1.0.0 (6 files)");
    assert!(git_files(&app, &tenant).contains(&format!("{}/manifest.yaml", template_dir(&id))));
    let event = created_events.recv().await.unwrap();
    assert_eq!(
        (event.template_id.as_str(), event.commit.as_str()),
        (id.as_str(), etag1.as_str())
    );

    // Read: ETag, file list, content on request, 304.
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/templates/{id}"),
            Some(&app.viewer.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["etag"].to_str().unwrap(),
        format!("\"{etag1}\"")
    );
    let detail: serde_json::Value = res.json().await.unwrap();
    let files = detail["files"].as_array().unwrap();
    let run = files
        .iter()
        .find(|f| f["path"] == "{{ project_name }}/run.sh")
        .unwrap();
    assert_eq!(run["executable"], true);
    assert!(run.get("content").is_none());
    let logo = files
        .iter()
        .find(|f| f["path"] == "{{ project_name }}/logo.png")
        .unwrap();
    assert_eq!(logo["binary"], true);
    assert_eq!(detail["parameters"][1]["type"], "integer");
    let (_, with_content) = app
        .get(
            &format!("/api/v1/templates/{id}?include=content"),
            Some(&app.viewer.token),
        )
        .await;
    let main = with_content["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "{{ project_name }}/main.py")
        .unwrap()
        .clone();
    assert_eq!(
        main["content"],
        "PORT = {{ port }}\nNAME = \"{{ project_name }}\"\n"
    );
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/templates/{id}"),
            Some(&app.viewer.token),
        )
        .header("If-None-Match", format!("\"{etag1}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

    // Update without If-Match: 428, nothing committed.
    let mut v2 = sample("hello-service");
    v2["manifest"]["version"] = json!("1.1.0");
    v2["files"]["{{ project_name }}/main.py"] =
        json!("PORT = {{ port }}\nNAME = \"{{ project_name }}\"\nDEBUG = False\n");
    let (status, body) = app
        .put(
            &format!("/api/v1/templates/{id}"),
            Some(&app.editor.token),
            &v2,
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{body}");
    assert_eq!(git_log(&app, &tenant).len(), 1);

    // Update with the right ETag.
    let res = app
        .request(
            Method::PUT,
            &format!("/api/v1/templates/{id}"),
            Some(&app.admin.token),
        )
        .header("If-Match", format!("\"{etag1}\""))
        .json(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let etag2 = res.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let updated: serde_json::Value = res.json().await.unwrap();
    assert_ne!(etag2, etag1);
    assert_eq!(updated["version"], "1.1.0");
    assert_eq!(updated["changed"], true);
    assert_eq!(updated["updated_by"], app.admin.email.as_str());
    let log = git_log(&app, &tenant);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].0, etag2);
    assert_eq!(log[0].1, app.admin.email);
    assert_eq!(
        log[0].2,
        "Update hello-service: 1.0.0 → 1.1.0 (2 files changed)"
    );
    assert_eq!(updated_events.recv().await.unwrap().commit, etag2);

    // A stale If-Match: 412 and no commit.
    let mut v3 = v2.clone();
    v3["manifest"]["version"] = json!("9.9.9");
    let (status, body) = put_with_etag(&app, &app.editor.token, &id, &etag1, &v3).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert_eq!(body["code"], "templates.stale_write");
    assert_eq!(git_log(&app, &tenant).len(), 2);

    // The same content again: no commit, `changed: false`.
    let (status, body) = put_with_etag(&app, &app.editor.token, &id, &etag2, &v2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], false);
    assert_eq!(body["current_commit"], etag2.as_str());
    assert_eq!(git_log(&app, &tenant).len(), 2);

    // Only the manifest: files are kept.
    let (status, body) = put_with_etag(
        &app,
        &app.editor.token,
        &id,
        &etag2,
        &json!({"manifest": {"name": "hello-service", "version": "1.2.0", "description": "Greets people", "category": "backend_developer", "author": "Test Team", "tags": ["python"], "parameters": v2["manifest"]["parameters"]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["file_count"], 6);
    let etag3 = body["current_commit"].as_str().unwrap().to_string();
    assert_eq!(
        git_log(&app, &tenant)[0].2,
        "Update hello-service: 1.1.0 → 1.2.0 (1 file changed)"
    );

    // Versions.
    let (status, versions) = app
        .get(
            &format!("/api/v1/templates/{id}/versions"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200);
    let items = versions["items"].as_array().unwrap();
    assert_eq!(versions["total"], 3);
    assert_eq!(
        items
            .iter()
            .map(|v| v["commit"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec![etag3.as_str(), etag2.as_str(), etag1.as_str()]
    );
    assert_eq!(items[2]["change"], "created");
    assert_eq!(items[2]["version"], "1.0.0");
    assert_eq!(items[1]["author_email"], app.admin.email.as_str());

    // Content at a version (by prefix).
    let (status, old) = app
        .get(
            &format!("/api/v1/templates/{id}/versions/{}", &etag1[..10]),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["commit"], etag1.as_str());
    assert_eq!(old["manifest"]["version"], "1.0.0");

    // Diff.
    let (status, diff) = app
        .get(
            &format!("/api/v1/templates/{id}/diff?from={etag1}&to={etag2}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["files_changed"], 2);
    let main_diff = diff["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "{{ project_name }}/main.py")
        .unwrap();
    assert!(
        main_diff["diff"]
            .as_str()
            .unwrap()
            .contains("+DEBUG = False\n"),
        "{main_diff}"
    );
    assert!(
        diff["patch"]
            .as_str()
            .unwrap()
            .contains("-version: 1.0.0\n+version: 1.1.0\n"),
        "{}",
        diff["patch"]
    );

    // Restore version 1: a new commit whose content equals the first.
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/templates/{id}/restore"),
            Some(&app.editor.token),
        )
        .json(&json!({"commit": etag1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let restored: serde_json::Value = res.json().await.unwrap();
    let etag4 = restored["current_commit"].as_str().unwrap().to_string();
    assert_eq!(restored["version"], "1.0.0");
    let log = git_log(&app, &tenant);
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].0, etag4);
    assert!(
        log[0]
            .2
            .starts_with(&format!("Restore hello-service to {} (1.0.0)", &etag1[..7])),
        "{}",
        log[0].2
    );
    assert_eq!(restored_events.recv().await.unwrap().commit, etag4);
    let (_, same) = app
        .get(
            &format!("/api/v1/templates/{id}/diff?from={etag1}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(same["files_changed"], 0, "{same}");

    // The version list follows the write (nothing stale is remembered), page by page.
    let (status, page) = app
        .get(
            &format!("/api/v1/templates/{id}/versions?limit=2&offset=1"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["commit"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec![etag3.as_str(), etag2.as_str()]
    );
    assert_eq!(page["items"][0]["change"], "updated");

    // A single file, current and old.
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/templates/{id}/files/%7B%7B%20project_name%20%7D%7D/run.sh"),
            Some(&app.viewer.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-maestro-executable"], "true");
    assert_eq!(
        res.text().await.unwrap(),
        "#!/bin/sh\necho {{ project_name }}\n"
    );
    let (status, _) = app
        .get(
            &format!("/api/v1/templates/{id}/files/nope.txt"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 404);

    // Delete: one commit removing the folder; the row is gone; history stays in git.
    let (status, body) = send(
        app.request(
            Method::DELETE,
            &format!("/api/v1/templates/{id}"),
            Some(&app.editor.token),
        )
        .header("If-Match", format!("\"{etag1}\"")),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    let (status, _) = app
        .delete(&format!("/api/v1/templates/{id}"), Some(&app.editor.token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let log = git_log(&app, &tenant);
    assert_eq!(log.len(), 5);
    assert_eq!(log[0].2, "Delete hello-service 1.0.0 (6 files removed)");
    assert!(git_files(&app, &tenant).is_empty());
    assert_eq!(deleted_events.recv().await.unwrap().template_id, id);
    let (status, _) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(status, 404);
    assert_eq!(total(&app, &app.viewer.token).await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn viewers_cannot_write_and_other_tenants_see_nothing() {
    let app = TestApp::spawn().await;
    let (id, etag) = create_sample(&app, "isolated").await;

    let (status, body) = app
        .post(
            "/api/v1/templates",
            Some(&app.viewer.token),
            &sample("by-viewer"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) =
        super::put_with_etag(&app, &app.viewer.token, &id, &etag, &sample("isolated")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .delete(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &format!("/api/v1/templates/{id}/restore"),
            Some(&app.viewer.token),
            &json!({"commit": etag}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/templates", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The other tenant: empty lists, 404 on everything by id, no name clash.
    let other = &app.other_admin.token;
    assert_eq!(total(&app, other).await, 0);
    let (_, found) = app
        .post(
            "/api/v1/templates/search",
            Some(other),
            &json!({"query": "isolated"}),
        )
        .await;
    assert_eq!(found["total"], 0);
    for path in [
        format!("/api/v1/templates/{id}"),
        format!("/api/v1/templates/{id}/versions"),
        format!("/api/v1/templates/{id}/diff?from={etag}"),
        format!("/api/v1/templates/{id}/versions/{etag}"),
        format!("/api/v1/templates/{id}/files/README.md"),
        format!("/api/v1/templates/{id}/instantiations"),
    ] {
        let (status, body) = app.get(&path, Some(other)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = super::put_with_etag(&app, other, &id, &etag, &sample("isolated")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/templates/{id}"), Some(other))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/templates/{id}/instantiate"),
            Some(other),
            &json!({"format": "json"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .post("/api/v1/templates", Some(other), &sample("isolated"))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "same name in another tenant is fine: {body}"
    );
    assert_eq!(git_log(&app, &app.other_admin.tenant_id).len(), 1);
    assert_eq!(git_log(&app, &app.editor.tenant_id).len(), 1);

    // Same name twice in one tenant: 409, no commit.
    let (status, body) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &sample("isolated"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "templates.name_taken");
    assert_eq!(git_log(&app, &app.editor.tenant_id).len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_manifests_say_what_to_fix_and_write_nothing() {
    let app = TestApp::spawn().await;
    let mut bad = sample("bad-one");
    bad["manifest"]["category"] = json!("cooking");
    bad["manifest"]["version"] = json!("one");
    let (status, body) = app
        .post("/api/v1/templates", Some(&app.editor.token), &bad)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("category") && detail.contains("version"),
        "{detail}"
    );

    let (status, body) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &json!({"files": {"a.txt": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let mut twice = sample("twice");
    twice["files"]["manifest.yaml"] = json!("name: twice\n");
    let (status, body) = app
        .post("/api/v1/templates", Some(&app.editor.token), &twice)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, body) = send(
        app.request(Method::POST, "/api/v1/templates", Some(&app.editor.token))
            .header("Content-Type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = send(
        app.request(Method::POST, "/api/v1/templates", Some(&app.editor.token))
            .header("Content-Type", "text/plain")
            .body("hello"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert!(git_log(&app, &app.editor.tenant_id).is_empty());
    assert_eq!(total(&app, &app.viewer.token).await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn reads_are_cached_writes_invalidate_and_figures_show_up() {
    // Without the quality module: its background scoring of each new version also (rightly)
    // invalidates the cached template, which would make the hit count below a race.
    let app = TestApp::builder()
        .with(|s| s.modules.quality = false)
        .spawn()
        .await;
    let (id, etag) = create_sample(&app, "cached-one").await;
    for _ in 0..3 {
        let (status, _) = app
            .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
            .await;
        assert_eq!(status, 200);
    }
    let mut next = sample("cached-one");
    next["manifest"]["description"] = json!("A new description");
    let (status, _) = put_with_etag(&app, &app.editor.token, &id, &etag, &next).await;
    assert_eq!(status, 200);
    let (_, body) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(
        body["description"], "A new description",
        "a write must invalidate the cached read"
    );
    let (_, list) = app
        .get(
            "/api/v1/templates?text=new%20description",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(list["total"], 1);

    let (status, stats) = app.get("/api/v1/admin/stats", Some(&app.admin.token)).await;
    assert_eq!(status, 200);
    let section = &stats["module_stats"]["templates"];
    assert_eq!(section["total"], 1, "{stats}");
    assert_eq!(section["by_category"]["backend_developer"], 1);
    assert!(section["cache"]["hits"].as_u64().unwrap() >= 2, "{section}");

    let (_, health) = app.get("/health", None).await;
    assert!(health["templates_count"].as_i64().unwrap() >= 1, "{health}");

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("maestro_templates{category=\"backend_developer\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("maestro_templates_cache_hit_ratio"),
        "{metrics}"
    );
    assert!(
        metrics.contains("maestro_templates_cache_lookups_total{result=\"hit\"}"),
        "{metrics}"
    );
    app.shutdown().await;
}

//! Every page and fragment, hostile content, role-dependent controls, tenants, disabled modules.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::session::second_version;
use super::{Browser, assert_no_raw};
use crate::helpers::TestApp;
use crate::workflows::{create, execute, wait_status};

#[tokio::test]
async fn every_template_page_and_fragment_renders() {
    let app = TestApp::spawn().await;
    let (id, first) = second_version(&app, "page-walk").await;
    let browser = Browser::sign_in(&app, &app.editor).await;

    let page = browser.get("/ui/templates?text=greets").await;
    page.assert_ok("catalog");
    assert!(page.body.contains("page-walk"), "{}", page.body);
    assert!(
        page.body.contains("href=\"/api/v1/templates?text=greets\""),
        "JSON link"
    );
    assert!(page.body.contains("<select id=\"q-category\""), "filters");
    // Search as you type: the fragment is the results only.
    let fragment = browser.fragment("/ui/templates?text=greets").await;
    fragment.assert_ok("catalog fragment");
    assert!(fragment.body.contains("page-walk"));
    assert!(!fragment.body.contains("<html"), "a fragment, not a page");
    let none = browser.fragment("/ui/templates?text=zzzznothing").await;
    assert!(none.body.contains("No template matches."), "{}", none.body);
    let filtered = browser
        .get("/ui/templates?category=backend_developer&tags=python")
        .await;
    assert!(filtered.assert_ok("filters").body.contains("page-walk"));
    let paged = browser.get("/ui/templates?offset=abc&limit=1").await;
    paged.assert_ok("lenient paging");

    let page = browser.get(&format!("/ui/templates/{id}")).await;
    page.assert_ok("detail");
    for needle in [
        "<h1>Changed</h1>",
        "project_name",
        "Folder and package name",
        "{{ project_name }}/main.py",
        "Restore",
        "data-copy=\"",
        &format!("href=\"/api/v1/templates/{id}\""),
    ] {
        assert!(page.body.contains(needle), "detail lacks {needle}");
    }

    let page = browser
        .get(&format!("/ui/templates/{id}/files/README.md"))
        .await;
    page.assert_ok("file");
    assert!(page.body.contains("# Changed"));
    let page = browser
        .get(&format!(
            "/ui/templates/{id}/files/README.md?version={first}"
        ))
        .await;
    assert!(page.assert_ok("old file").body.contains("# Hello template"));
    let page = browser
        .get(&format!("/ui/templates/{id}/files/nope.txt"))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.body.contains("<h1>404"),
        "an HTML error page: {}",
        page.body
    );

    let page = browser.get(&format!("/ui/templates/{id}/diff")).await;
    page.assert_ok("diff");
    assert!(page.body.contains("class=\"add\""), "{}", page.body);
    assert!(page.body.contains("+# Changed"));
    assert!(page.body.contains("-# Hello template"));

    let page = browser
        .get(&format!("/ui/templates/{id}/use?project_name=prefilled"))
        .await;
    page.assert_ok("use form");
    assert!(
        page.body.contains("value=\"prefilled\""),
        "prefill from the URL"
    );
    assert!(page.body.contains("hx-post=\"/ui/templates/"));

    // The live preview: htmx gets the fragment and per-field errors out of band.
    let preview = browser
        .send_fragment_post(
            &format!("/ui/templates/{id}/preview"),
            &[("p.project_name", "svc-one"), ("p.port", "9090")],
        )
        .await;
    preview.assert_ok("preview");
    assert!(preview.body.contains("svc-one/main.py"), "{}", preview.body);
    assert!(preview.body.contains("PORT = 9090"));
    let preview2 = browser
        .send_fragment_post(
            &format!("/ui/templates/{id}/preview"),
            &[("p.project_name", "svc-two"), ("p.port", "9191")],
        )
        .await;
    assert!(
        preview2.body.contains("PORT = 9191"),
        "the preview follows the answers"
    );
    let invalid = browser
        .send_fragment_post(
            &format!("/ui/templates/{id}/preview"),
            &[("p.project_name", "Not Valid!")],
        )
        .await;
    invalid.assert_ok("invalid preview");
    assert!(invalid.body.contains("hx-swap-oob"), "{}", invalid.body);
    assert!(invalid.body.contains("id=\"err-0\""));
    assert!(!invalid.body.contains("main.py"));
    // Without JS the preview button answers with the whole form page.
    let page = browser
        .post(
            &format!("/ui/templates/{id}/preview"),
            &[("p.project_name", "svc-nojs")],
        )
        .await;
    assert!(
        page.assert_ok("no-js preview")
            .body
            .contains("svc-nojs/main.py")
    );
    assert!(page.body.contains("<form"));

    // Download: a real instantiation, recorded in the ledger.
    let page = browser
        .post(
            &format!("/ui/templates/{id}/download"),
            &[("p.project_name", "svc-zip"), ("format", "zip")],
        )
        .await;
    page.assert_ok("download");
    assert_eq!(page.headers["content-type"], "application/zip");
    let instantiation = page.headers["x-maestro-instantiation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let page = browser.get(&format!("/ui/templates/{id}")).await;
    assert!(page.body.contains(&instantiation), "the ledger shows it");
    let page = browser
        .get(&format!("/ui/templates/{id}/use?from={instantiation}"))
        .await;
    assert!(
        page.body.contains("value=\"svc-zip\""),
        "re-run with these answers"
    );
    let page = browser
        .post(
            &format!("/ui/templates/{id}/download"),
            &[("p.project_name", "BAD NAME"), ("format", "tar.gz")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("aria-invalid=\"true\""), "{}", page.body);

    let page = browser.get("/ui/quality").await;
    page.assert_ok("quality report");
    assert!(page.body.contains("<svg class=\"chart\""));
    assert!(page.body.contains("Score distribution"));
}

impl Browser {
    async fn send_fragment_post(&self, path: &str, fields: &[(&str, &str)]) -> super::Page {
        let csrf = self.csrf();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("HX-Request", "true")
                .header("X-CSRF-Token", csrf)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }
}

#[tokio::test]
async fn hostile_template_content_is_shown_as_text() {
    let app = TestApp::spawn().await;
    let body = json!({
        "manifest": {
            "name": "hostile",
            "version": "1.0.0",
            "description": "<script>alert('description')</script>",
            "category": "backend_developer",
            "author": "<b>mallory</b>",
            "tags": ["<i>tag</i>"],
            "parameters": [
                {"name": "project", "type": "string", "default": "\"><script>alert('default')</script>",
                 "help": "<script>alert('help')</script>"}
            ]
        },
        "files": {
            "README.md": "# Readme\n\n<script>alert('readme')</script>\n\n[click](javascript:alert('link'))\n\n<img src=x onerror=alert('img')>\n",
            "<svg onload=alert(1)>.txt": "</code></pre><script>alert('file')</script>\n",
            "main.txt": "{{ project }}\n"
        }
    });
    let (status, created) = app
        .post("/api/v1/templates", Some(&app.editor.token), &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let browser = Browser::sign_in(&app, &app.viewer).await;

    let mut pages = vec![
        browser.get("/ui/templates").await,
        browser.get("/ui/templates?text=hostile").await,
        browser.get(&format!("/ui/templates/{id}")).await,
        browser.get(&format!("/ui/templates/{id}/use")).await,
        browser
            .get(&format!(
                "/ui/templates/{id}/files/{}",
                "%3Csvg%20onload%3Dalert%281%29%3E.txt"
            ))
            .await,
    ];
    pages.push(
        browser
            .send_fragment_post(&format!("/ui/templates/{id}/preview"), &[])
            .await,
    );
    for page in &pages {
        page.assert_ok("hostile page");
        assert_no_raw(&page.body, "<script>alert");
        assert_no_raw(&page.body, "<svg onload");
        assert_no_raw(&page.body, "<img src=x");
        assert_no_raw(&page.body, "<b>mallory");
        assert_no_raw(&page.body, "javascript:alert");
    }
    let detail = &pages[2].body;
    assert!(
        detail.contains("&lt;script&gt;alert(&#x27;readme&#x27;)")
            || detail.contains("&lt;script&gt;alert('readme')"),
        "README script shown as text: {detail}"
    );
    assert!(
        detail.contains("&lt;svg onload=alert(1)&gt;.txt"),
        "file name shown as text"
    );
    assert!(
        pages[3]
            .body
            .contains("&lt;script&gt;alert(&#x27;help&#x27;)&lt;/script&gt;"),
        "help shown as text"
    );
    assert!(
        pages[4]
            .body
            .contains("&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;"),
        "file content shown as text"
    );
}

#[tokio::test]
async fn a_viewer_sees_no_write_controls_and_cannot_post() {
    let app = crate::workflows::spawn().await;
    let (id, first) = second_version(&app, "viewer-walk").await;
    let wf = create(
        &app,
        &json!({"name": "viewer-flow", "steps": [{"id": "a", "uses": "noop"}]}),
    )
    .await;
    let wf_id = wf["id"].as_str().unwrap().to_string();
    let run = execute(&app, &wf_id, json!({})).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_status(&app, &run_id, "succeeded", 30).await;

    let viewer = Browser::sign_in(&app, &app.viewer).await;
    let page = viewer.get(&format!("/ui/templates/{id}")).await;
    page.assert_ok("detail as viewer");
    assert!(!page.body.contains("/restore"), "no restore for viewers");
    let page = viewer.get(&format!("/ui/workflows/{wf_id}")).await;
    page.assert_ok("workflow as viewer");
    assert!(!page.body.contains("/execute"), "no start form for viewers");
    let page = viewer.get(&format!("/ui/runs/{run_id}")).await;
    page.assert_ok("run as viewer");
    assert!(!page.body.contains("/cancel") && !page.body.contains("/events"));

    for (path, fields) in [
        (
            format!("/ui/templates/{id}/restore"),
            vec![("commit", first.as_str())],
        ),
        (
            format!("/ui/workflows/{wf_id}/execute"),
            vec![("inputs", "{}")],
        ),
        (format!("/ui/runs/{run_id}/cancel"), vec![]),
        (format!("/ui/runs/{run_id}/events"), vec![("name", "go")]),
        (
            "/ui/dlq/redrive".to_string(),
            vec![("run_ids", run_id.as_str())],
        ),
    ] {
        let page = viewer.post(&path, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.body);
    }
    let (_, detail) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_ne!(detail["current_commit"], first.as_str(), "nothing restored");
    // An editor may restore but, as in the API, not redrive (admins only).
    let editor = Browser::sign_in(&app, &app.editor).await;
    let page = editor
        .post("/ui/dlq/redrive", &[("run_ids", run_id.as_str())])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn workflow_pages_and_dead_letter_redrive_with_confirmation() {
    let app = crate::workflows::spawn().await;
    let wf = create(
        &app,
        &json!({"name": "flaky-deploy", "steps": [
            {"id": "build", "uses": "noop", "with": {"outputs": {"artifact": "<script>alert('out')</script>"}}},
            {"id": "deploy", "uses": "fail", "needs": "build",
             "with": {"message": "deploy refused\n  at <script>alert('trace')</script>", "retryable": false, "attempts": 1}}
        ]}),
    )
    .await;
    let wf_id = wf["id"].as_str().unwrap().to_string();
    let run = execute(&app, &wf_id, json!({})).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_status(&app, &run_id, "dead_lettered", 30).await;

    let admin = Browser::sign_in(&app, &app.admin).await;
    admin.get("/ui/workflows").await.assert_ok("definitions");
    let page = admin.get(&format!("/ui/workflows/{wf_id}")).await;
    assert!(page.assert_ok("definition").body.contains("Start a run"));
    let page = admin.get("/ui/runs?status=dead_lettered").await;
    page.assert_ok("runs");
    assert!(page.body.contains(&run_id[..10]), "{}", page.body);
    assert!(page.body.contains("flaky-deploy"), "readable names");
    let page = admin
        .get("/ui/runs?since=2000-01-01T00:00&status=succeeded")
        .await;
    assert!(!page.assert_ok("filtered runs").body.contains(&run_id[..10]));
    let page = admin.get("/ui/runs?since=yesterday").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);

    let page = admin.get(&format!("/ui/runs/{run_id}")).await;
    page.assert_ok("run");
    assert!(
        page.body
            .contains("<strong>deploy refused (attempt 1)</strong>")
            || page.body.contains("<strong>deploy refused</strong>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("class=\"details\""),
        "details in their own block"
    );
    assert!(
        page.body.contains("<svg class=b><rect class=bad"),
        "waterfall"
    );
    assert!(page.body.contains("<a href=\"?step=deploy\">"), "step link");
    let short = admin.get(&format!("/ui/runs/{run_id}?step=deploy")).await;
    assert_eq!(short.status, StatusCode::SEE_OTHER);
    assert_eq!(short.location(), format!("/ui/runs/{run_id}/steps/deploy"));
    assert!(page.body.contains("Redrive from deploy"));
    assert!(
        !page.body.contains("hx-trigger=\"every 2s\""),
        "no polling once dead-lettered"
    );
    assert_no_raw(&page.body, "<script>alert");
    let fragment = admin.fragment(&format!("/ui/runs/{run_id}")).await;
    assert!(
        fragment
            .assert_ok("run fragment")
            .body
            .starts_with("<div id=\"run\"")
    );

    let page = admin.get(&format!("/ui/runs/{run_id}/steps/deploy")).await;
    page.assert_ok("step page");
    assert!(page.body.contains("deploy refused"), "{}", page.body);
    assert!(
        page.body.contains("&lt;script&gt;alert"),
        "details shown as text"
    );
    assert_no_raw(&page.body, "<script>alert");
    let page = admin.get(&format!("/ui/runs/{run_id}/steps/nope")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = admin.get(&format!("/ui/runs/{run_id}/audit")).await;
    page.assert_ok("audit");
    assert!(page.body.contains("verified"), "{}", page.body);

    let page = admin.get("/ui/dlq").await;
    page.assert_ok("dlq");
    assert!(page.body.contains(&format!("value=\"{run_id}\"")));
    assert_no_raw(&page.body, "<script>alert");

    // The first POST asks; nothing happens yet.
    let page = admin
        .post(
            "/ui/dlq/redrive",
            &[("scope", "selected"), ("run_ids", run_id.as_str())],
        )
        .await;
    page.assert_ok("confirmation");
    assert!(page.body.contains("Yes, redrive"));
    let (_, still) = app
        .get(
            &format!("/api/v1/workflows/runs/{run_id}"),
            Some(&app.admin.token),
        )
        .await;
    assert_eq!(still["status"], "dead_lettered");
    let page = admin
        .post(
            "/ui/dlq/redrive",
            &[
                ("scope", "selected"),
                ("run_ids", run_id.as_str()),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/ui/dlq?redriven=1&skipped=0");
    wait_status(&app, &run_id, "succeeded", 30).await;
    let page = admin.get(&format!("/ui/runs/{run_id}")).await;
    assert!(page.body.contains("status-succeeded"));

    // Start a run from the console and watch it finish.
    let page = admin
        .post(
            &format!("/ui/workflows/{wf_id}/execute"),
            &[("inputs", "{}")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let run_page = page.location().to_string();
    assert!(run_page.starts_with("/ui/runs/"));
    let new_run = run_page.trim_start_matches("/ui/runs/").to_string();
    app.eventually("the new run to end", Duration::from_secs(30), || async {
        let page = admin.fragment(&run_page).await;
        (!page.body.contains("every 2s")).then_some(())
    })
    .await;
    wait_status(&app, &new_run, "dead_lettered", 30).await;
    let page = admin
        .post(
            &format!("/ui/workflows/{wf_id}/execute"),
            &[("inputs", "[1]")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn another_tenants_objects_are_not_found() {
    let app = TestApp::spawn().await;
    let (id, _) = crate::templates::create_sample(&app, "acme-only").await;
    let other = Browser::sign_in(&app, &app.other_admin).await;
    let page = other.get(&format!("/ui/templates/{id}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = other.get("/ui/templates").await;
    assert!(!page.assert_ok("other catalog").body.contains("acme-only"));
}

#[tokio::test]
async fn a_disabled_modules_pages_and_nav_entries_do_not_exist() {
    let app = TestApp::builder()
        .with(|s| {
            s.modules.workflows = false;
            s.modules.healing = false;
            s.modules.k8s = false;
        })
        .spawn()
        .await;
    let browser = Browser::sign_in(&app, &app.admin).await;
    let page = browser.get("/ui/templates").await;
    page.assert_ok("catalog");
    assert!(!page.body.contains("href=\"/ui/runs\""));
    assert!(!page.body.contains("href=\"/ui/dlq\""));
    assert!(!page.body.contains("href=\"/ui/healing\""));
    assert!(!page.body.contains("href=\"/ui/environments\""));
    for path in [
        "/ui/runs",
        "/ui/workflows",
        "/ui/dlq",
        "/ui/healing",
        "/ui/healing/flaky",
        "/ui/environments",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    let page = browser.get("/ui").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/ui/templates");
}

#[tokio::test]
async fn retrying_runs_have_their_own_filter_and_status() {
    let app = crate::workflows::spawn().await;
    let wf = create(
        &app,
        &json!({"name": "patient", "steps": [{
            "id": "call", "uses": "fail",
            "with": {"message": "upstream busy", "attempts": 3},
            "retry": {"max_attempts": 4, "initial_interval": "10m", "jitter": 0}
        }]}),
    )
    .await;
    let quick = create(
        &app,
        &json!({"name": "quick", "steps": [{"id": "a", "uses": "noop"}]}),
    )
    .await;
    let run = execute(&app, wf["id"].as_str().unwrap(), json!({})).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    let done = execute(&app, quick["id"].as_str().unwrap(), json!({})).await;
    let done_id = done["id"].as_str().unwrap().to_string();
    crate::workflows::wait_step(&app, &run_id, "call", "retrying").await;
    wait_status(&app, &done_id, "succeeded", 30).await;

    let (status, list) = app
        .get(
            "/api/v1/workflows/runs?status=retrying",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], run_id.as_str());
    assert_eq!(items[0]["status"], "running");
    assert_eq!(items[0]["retrying"], true);
    let (_, all) = app
        .get("/api/v1/workflows/runs", Some(&app.viewer.token))
        .await;
    let quick_item = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == done_id.as_str())
        .expect("the finished run is listed");
    assert_eq!(quick_item["retrying"], false);

    let viewer = Browser::sign_in(&app, &app.viewer).await;
    let page = viewer.get("/ui/runs?status=retrying").await;
    page.assert_ok("retrying runs");
    assert!(page.body.contains(&run_id[..10]), "{}", page.body);
    assert!(!page.body.contains(&done_id[..10]), "{}", page.body);
    assert!(
        page.body
            .contains("<span class=\"status status-retrying\">retrying</span>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<option value=\"retrying\" selected>"),
        "the filter is kept"
    );
    assert!(
        page.body
            .contains("href=\"/api/v1/workflows/runs?status=retrying\""),
        "JSON link"
    );
    // In the unfiltered list the retrying run says so too.
    let page = viewer.get("/ui/runs").await;
    assert!(page.body.contains("status-retrying"), "{}", page.body);
    let page = viewer.get("/ui/runs?status=running").await;
    assert!(page.assert_ok("running").body.contains(&run_id[..10]));
    let page = viewer.get("/ui/runs?status=sleeping").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admins_pause_and_resume_a_whole_workflow_from_a_run_page() {
    let app = crate::workflows::spawn().await;
    let wf = create(
        &app,
        &json!({"name": "sleepy", "steps": [{"id": "nap", "uses": "wait", "with": {"duration": "10m"}}]}),
    )
    .await;
    let wf_id = wf["id"].as_str().unwrap().to_string();
    let run = execute(&app, &wf_id, json!({})).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_status(&app, &run_id, "running", 30).await;
    let run_page = format!("/ui/runs/{run_id}");

    let editor = Browser::sign_in(&app, &app.editor).await;
    let page = editor.get(&run_page).await;
    assert!(
        page.assert_ok("editor's run page")
            .body
            .contains(">Pause</button>")
    );
    assert!(
        !page.body.contains("Pause workflow"),
        "workflow pause is admin-only"
    );
    let refused = editor
        .post(
            &format!("/ui/workflows/{wf_id}/pause"),
            &[("back", &run_page)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let admin = Browser::sign_in(&app, &app.admin).await;
    let page = admin.get(&run_page).await;
    assert!(page.body.contains("Pause workflow"), "{}", page.body);
    let page = admin
        .post(
            &format!("/ui/workflows/{wf_id}/pause"),
            &[("back", &run_page)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), run_page);
    let paused = wait_status(&app, &run_id, "paused", 30).await;
    assert_eq!(paused["pause_reason"], "workflow");
    let page = admin.get(&run_page).await;
    assert!(page.body.contains("Resume workflow"), "{}", page.body);
    let page = admin.get(&format!("/ui/workflows/{wf_id}")).await;
    assert!(page.body.contains("Resume workflow"));
    // Only console run pages are places to come back to.
    let page = admin
        .post(
            &format!("/ui/workflows/{wf_id}/resume"),
            &[("back", "//evil.example/ui/runs/x")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), format!("/ui/workflows/{wf_id}"));
    wait_status(&app, &run_id, "running", 30).await;
}

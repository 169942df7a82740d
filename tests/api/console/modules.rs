//! Pages of the newer modules through the console's mechanism: healing (failures, evidence,
//! flaky tests, healings with approve/reject), test environments on the simulated cluster
//! (list, detail with jobs, job log, extend, delete), and template drift. Hostile content comes
//! back as text; a viewer sees no write controls and gets 403 when it posts anyway.

use reqwest::StatusCode;
use serde_json::json;

use super::{Browser, assert_no_raw};
use crate::helpers::TestApp;
use crate::k8s::with_fake_cluster;
use crate::support::k8s_fake::Script;

async fn upload(app: &TestApp, body: serde_json::Value) -> serde_json::Value {
    let (status, stored) = app
        .post("/api/v1/healing/reports", Some(&app.editor.token), &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    stored
}

#[tokio::test]
async fn healing_pages_show_failures_flaky_tests_and_decide_on_proposals() {
    let app = TestApp::spawn().await;
    let case = |outcome: &str| {
        json!({"classname": "CartTest", "name": "adds<script>alert('name')</script>",
               "outcome": outcome, "duration_ms": 40,
               "message": "expected:<2> but was:<3> <script>alert('msg')</script>",
               "body": "at CartTest.adds(<script>alert('body')</script>)"})
    };
    // Passed, then failed, on one commit: flaky.
    upload(
        &app,
        json!({"project": "shop", "commit_sha": "c1", "cases": [case("passed")]}),
    )
    .await;
    let stored = upload(
        &app,
        json!({"project": "shop", "commit_sha": "c1", "cases": [case("failed")]}),
    )
    .await;
    let report_id = stored["report_id"].as_str().unwrap().to_string();

    let viewer = Browser::sign_in(&app, &app.viewer).await;
    let page = viewer.get("/ui/templates").await;
    assert!(page.body.contains("href=\"/ui/healing\""), "nav entry");
    let page = viewer.get("/ui/healing?project=shop").await;
    page.assert_ok("failures");
    assert!(page.body.contains("expected:&lt;2&gt;"), "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/api/v1/healing/failures?project=shop\""),
        "JSON link"
    );
    assert_no_raw(&page.body, "<script>alert");
    let failure_id = page
        .body
        .split("href=\"/ui/healing/failures/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the failure")
        .to_string();
    let page = viewer
        .get(&format!("/ui/healing?report_id={report_id}"))
        .await;
    assert!(page.assert_ok("one upload").body.contains(&failure_id));
    let page = viewer.get("/ui/healing?category=nonsense").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);

    let page = viewer
        .get(&format!("/ui/healing/failures/{failure_id}"))
        .await;
    page.assert_ok("failure");
    assert!(page.body.contains("Evidence"));
    assert!(
        page.body.contains("&lt;script&gt;alert(&#x27;body&#x27;)")
            || page.body.contains("&lt;script&gt;alert('body')"),
        "the body as text: {}",
        page.body
    );
    assert!(
        !page.body.contains("Propose healings"),
        "viewers cannot heal"
    );
    assert_no_raw(&page.body, "<script>alert");
    let refused = viewer
        .post(&format!("/ui/healing/failures/{failure_id}/heal"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let page = viewer.get("/ui/healing/flaky?project=shop").await;
    page.assert_ok("flaky");
    assert!(page.body.contains("status-warn\">flaky"), "{}", page.body);
    assert_no_raw(&page.body, "<script>alert");
    viewer
        .get("/ui/healing/flaky")
        .await
        .assert_ok("flaky without a project");

    // An editor asks for proposals and applies the chosen quarantine.
    let editor = Browser::sign_in(&app, &app.editor).await;
    let page = editor
        .get(&format!("/ui/healing/failures/{failure_id}"))
        .await;
    assert!(page.body.contains("Propose healings"));
    let page = editor
        .post(&format!("/ui/healing/failures/{failure_id}/heal"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (_, list) = app
        .get(
            &format!("/api/v1/healing/healings?failure_id={failure_id}"),
            Some(&app.viewer.token),
        )
        .await;
    let chosen = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["chosen"] == true)
        .expect("a chosen proposal")
        .clone();
    assert_eq!(chosen["action"], "quarantine", "{chosen}");
    let healing_id = chosen["id"].as_str().unwrap().to_string();
    let page = editor.get("/ui/healing/healings?status=proposed").await;
    assert!(page.assert_ok("healings").body.contains(&healing_id[..10]));
    let page = editor
        .get(&format!("/ui/healing/healings/{healing_id}"))
        .await;
    page.assert_ok("healing");
    assert!(page.body.contains("Approve and apply"));
    assert!(
        page.body.contains("name=\"expires_in\""),
        "quarantine options"
    );
    let page = viewer
        .get(&format!("/ui/healing/healings/{healing_id}"))
        .await;
    assert!(!page.assert_ok("viewer healing").body.contains("Approve"));
    let refused = viewer
        .post(&format!("/ui/healing/healings/{healing_id}/apply"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = editor
        .post_raw(&format!("/ui/healing/healings/{healing_id}/apply"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no CSRF token");

    let page = editor
        .post(
            &format!("/ui/healing/healings/{healing_id}/apply"),
            &[("owner", "team-cart"), ("expires_in", "7d")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = editor.get(page.location()).await;
    assert!(page.body.contains("status-applied"), "{}", page.body);
    assert!(!page.body.contains("Approve and apply"), "decided once");
    // Deciding again is the API's 409.
    let page = editor
        .post(&format!("/ui/healing/healings/{healing_id}/reject"), &[])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
}

#[tokio::test]
async fn simulated_environment_pages_list_detail_jobs_logs_extend_and_delete() {
    let env = with_fake_cluster().await;
    let app = &env.app;
    env.cluster.script_image(
        "ghcr.io/acme/tests:1",
        Script::logs_then_exits(&["collected 1 item", "<script>alert('log')</script>"], 0),
    );
    let (status, created) = app
        .post(
            "/api/v1/environments",
            Some(&app.editor.token),
            &json!({"databases": ["postgres"], "ttl": "1h"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, job) = app
        .post(
            &format!("/api/v1/environments/{id}/jobs"),
            Some(&app.editor.token),
            &json!({"image": "ghcr.io/acme/tests:1", "command": ["pytest"], "timeout": "10m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_id = job["id"].as_str().unwrap().to_string();
    let job_path = format!("/api/v1/environments/{id}/jobs/{job_id}");
    app.eventually(
        "the job succeeds",
        std::time::Duration::from_secs(30),
        || async {
            let (_, j) = app.get(&job_path, Some(&app.viewer.token)).await;
            (j["status"] == "succeeded" && j["log_stored"] == true).then_some(())
        },
    )
    .await;
    let (status, jobs) = app
        .get(
            &format!("/api/v1/environments/{id}/jobs"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{jobs}");
    assert_eq!(jobs["total"], 1);
    assert_eq!(jobs["items"][0]["id"], job_id.as_str());

    let viewer = Browser::sign_in(app, &app.viewer).await;
    let page = viewer.get("/ui/environments").await;
    page.assert_ok("environments");
    assert!(page.body.contains(&id[..10]), "{}", page.body);
    assert!(page.body.contains("postgres"));
    let page = viewer.get("/ui/environments?phase=deleted").await;
    assert!(!page.assert_ok("by phase").body.contains(&id[..10]));
    let page = viewer.get("/ui/environments?phase=nonsense").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    let page = viewer.get(&format!("/ui/environments/{id}")).await;
    page.assert_ok("environment");
    assert!(page.body.contains(&job_id[..10]), "jobs listed");
    assert!(!page.body.contains("Extend"), "viewers cannot extend");
    assert!(!page.body.contains("Delete environment"));
    let page = viewer
        .get(&format!("/ui/environments/{id}/jobs/{job_id}"))
        .await;
    page.assert_ok("job");
    assert!(page.body.contains("collected 1 item"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert"), "the log as text");
    assert_no_raw(&page.body, "<script>alert");
    let refused = viewer
        .post(&format!("/ui/environments/{id}/extend"), &[("ttl", "2h")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let editor = Browser::sign_in(app, &app.editor).await;
    let page = editor.get(&format!("/ui/environments/{id}")).await;
    assert!(page.body.contains("Extend"));
    let page = editor
        .post(&format!("/ui/environments/{id}/extend"), &[("ttl", "3h")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (_, extended) = app
        .get(
            &format!("/api/v1/environments/{id}"),
            Some(&app.viewer.token),
        )
        .await;
    let expires = chrono::DateTime::parse_from_rfc3339(extended["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert!(
        expires > chrono::Utc::now() + chrono::Duration::minutes(150),
        "{extended}"
    );
    let page = editor
        .post(&format!("/ui/environments/{id}/extend"), &[("ttl", "soon")])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    let page = editor
        .post(&format!("/ui/environments/{id}/delete"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (_, deleted) = app
        .get(
            &format!("/api/v1/environments/{id}"),
            Some(&app.viewer.token),
        )
        .await;
    assert!(
        ["terminating", "deleted"].contains(&deleted["phase"].as_str().unwrap()),
        "{deleted}"
    );
    // The stored log outlives the environment.
    let page = viewer
        .get(&format!("/ui/environments/{id}/jobs/{job_id}"))
        .await;
    assert!(
        page.assert_ok("job after delete")
            .body
            .contains("collected 1 item")
    );
}

#[tokio::test]
async fn the_drift_page_lists_projects_behind_their_template() {
    let app = TestApp::spawn().await;
    let (id, first) = crate::templates::create_sample(&app, "drifting").await;
    let (status, out) = app
        .post(
            &format!("/api/v1/templates/{id}/instantiate"),
            Some(&app.viewer.token),
            &json!({"format": "json", "parameters": {}, "version": first,
                    "project": "<script>alert('project')</script>"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let mut body = crate::templates::sample("drifting");
    body["files"]["README.md"] = json!("# Newer\n");
    let (status, updated) =
        crate::templates::put_with_etag(&app, &app.editor.token, &id, &first, &body).await;
    assert_eq!(status, StatusCode::OK, "{updated}");

    let viewer = Browser::sign_in(&app, &app.viewer).await;
    let page = viewer.get("/ui/templates").await;
    assert!(page.body.contains("href=\"/ui/templates/drift\""));
    let page = viewer.get("/ui/templates/drift").await;
    page.assert_ok("drift");
    assert!(page.body.contains("drifting"), "{}", page.body);
    assert!(page.body.contains("1 of 1 behind"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert"), "label as text");
    assert_no_raw(&page.body, "<script>alert");
    assert!(page.body.contains("href=\"/api/v1/templates/drift\""));
}

//! Black-box tests of the healing module: report ingest in each dialect (fixtures written by the
//! real runners, see tests/fixtures/junit/regenerate.sh), malformed reports storing nothing,
//! failures and test history, tenant isolation and roles, the in-process `TestResults` seam, and
//! the module switched off.

mod heal;

use maestro::platform::auth::TenantId;
use maestro::platform::test_results::{JunitUpload, TestResults};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, repo_root, send};

fn fixture(path: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/junit").join(path)).unwrap()
}

async fn upload_xml(app: &TestApp, token: &str, query: &str, xml: &str) -> (StatusCode, Value) {
    send(
        app.request(
            Method::POST,
            &format!("/api/v1/healing/reports?{query}"),
            Some(token),
        )
        .header("content-type", "application/xml")
        .body(xml.to_string()),
    )
    .await
}

#[tokio::test]
async fn a_nextest_report_is_stored_with_recomputed_counts_failures_and_history() {
    let app = TestApp::spawn().await;
    let token = &app.editor.token;
    let xml = fixture("nextest/junit.xml");
    let (status, stored) = upload_xml(
        &app,
        token,
        "project=shop&commit_sha=aaa111&branch=main&ci_run_id=42&file=junit.xml",
        &xml,
    )
    .await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["framework"], "nextest");
    assert_eq!(
        stored["counts"],
        json!({"tests": 5, "passed": 1, "failed": 3, "errors": 0, "skipped": 0, "flaky": 1})
    );
    assert_eq!(stored["failures"], 4);

    let viewer = &app.viewer.token;
    let (status, page) = app
        .get("/api/v1/healing/failures?project=shop", Some(viewer))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 4);
    let (_, flaky) = app
        .get(
            "/api/v1/healing/failures?project=shop&outcome=flaky",
            Some(viewer),
        )
        .await;
    assert_eq!(flaky["total"], 1, "{flaky}");
    assert_eq!(
        flaky["items"][0]["test"]["name"],
        "tests::flaky_passes_on_second_attempt"
    );
    assert_eq!(flaky["items"][0]["attempts"], 2);
    assert_eq!(flaky["items"][0]["commit_sha"], "aaa111");

    // One failure with its evidence: every attempt, output bounded.
    let wrong = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["test"]["name"] == "tests::adds_with_wrong_expectation")
        .expect("the failing test is listed");
    let (status, detail) = app
        .get(
            &format!("/api/v1/healing/failures/{}", wrong["id"].as_str().unwrap()),
            Some(viewer),
        )
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["outcome"], "failed");
    assert_eq!(detail["type"], "test failure with exit code 101");
    assert!(detail["body"].as_str().unwrap().contains("right: 5"));
    assert_eq!(detail["evidence"].as_array().unwrap().len(), 3);
    assert_eq!(detail["evidence"][1]["kind"], "rerunFailure");
    // Classified with evidence: Rust's assert_eq! left/right.
    assert_eq!(detail["category"], "assertion");
    assert_eq!(detail["classification"]["expected"], "5");
    assert_eq!(detail["classification"]["actual"], "4");
    let (_, timeouts) = app
        .get(
            "/api/v1/healing/failures?project=shop&category=timeout",
            Some(viewer),
        )
        .await;
    assert_eq!(timeouts["total"], 1, "{timeouts}");
    assert_eq!(
        timeouts["items"][0]["test"]["name"],
        "tests::sleeps_past_the_timeout"
    );
    let (_, refused) = app
        .get(
            "/api/v1/healing/failures?project=shop&category=connection",
            Some(viewer),
        )
        .await;
    assert_eq!(refused["total"], 1, "{refused}");

    // The same test in a later run joins the same history.
    let test_id = detail["test"]["id"].as_str().unwrap().to_string();
    let (status, _) = upload_xml(&app, token, "project=shop&commit_sha=bbb222", &xml).await;
    assert_eq!(status, 201);
    let (status, history) = app
        .get(
            &format!("/api/v1/healing/tests/{test_id}/history"),
            Some(viewer),
        )
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["total"], 2);
    assert_eq!(history["items"][0]["commit_sha"], "bbb222", "newest first");
    assert_eq!(history["items"][1]["commit_sha"], "aaa111");
    assert_eq!(history["items"][1]["attempts"], 3);
    assert_eq!(history["items"][1]["failure_id"], wrong["id"]);

    // Another project's failures are not in this project's list.
    let (_, other) = app
        .get("/api/v1/healing/failures?project=billing", Some(viewer))
        .await;
    assert_eq!(other["total"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn every_dialect_ingests_with_its_counts() {
    let app = TestApp::spawn().await;
    let token = &app.editor.token;
    let cases = [
        ("pytest/xunit2.xml", "pytest", (14, 4, 5, 1, 2, 2)),
        ("pytest/xunit1.xml", "pytest", (14, 4, 5, 1, 2, 2)),
        // jest-junit's own `tests` omits the `todo` test; recomputed counts include it.
        ("jest/default.xml", "jest", (8, 3, 4, 0, 1, 0)),
        (
            "surefire/handmade-TEST-com.example.CartTest.xml",
            "surefire",
            (6, 1, 2, 0, 1, 2),
        ),
        (
            "gradle/handmade-TEST-com.example.OrderTest.xml",
            "gradle",
            (3, 1, 1, 0, 0, 1),
        ),
        ("generic/handmade-nested.xml", "junit", (3, 1, 0, 1, 1, 0)),
    ];
    for (path, framework, (tests, passed, failed, errors, skipped, flaky)) in cases {
        let (status, stored) = upload_xml(&app, token, "project=dialects", &fixture(path)).await;
        assert_eq!(status, 201, "{path}: {stored}");
        assert_eq!(stored["framework"], framework, "{path}");
        assert_eq!(
            stored["counts"],
            json!({"tests": tests, "passed": passed, "failed": failed, "errors": errors,
                   "skipped": skipped, "flaky": flaky}),
            "{path}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_malformed_file_is_a_422_naming_file_and_line_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let body = json!({
        "project": "shop",
        "commit_sha": "ccc333",
        "files": [
            {"name": "TEST-good.xml", "xml": fixture("nextest/junit.xml")},
            {"name": "TEST-broken.xml", "xml": "<testsuite name=\"s\">\n<testcase name=\"a\">\n</testsuite>\n"}
        ]
    });
    let (status, problem) = app
        .post("/api/v1/healing/reports", Some(&app.editor.token), &body)
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "healing.malformed_report");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("TEST-broken.xml, line 3"), "{detail}");
    let (_, page) = app
        .get("/api/v1/healing/failures", Some(&app.viewer.token))
        .await;
    assert_eq!(page["total"], 0, "the good file was not stored either");

    let (status, problem) = upload_xml(
        &app,
        &app.editor.token,
        "project=shop&file=pom.xml",
        "<project><modelVersion>4.0.0</modelVersion></project>",
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["code"], "healing.not_junit");
    assert!(problem["detail"].as_str().unwrap().contains("pom.xml"));

    // Metadata problems name the field.
    let (status, problem) =
        upload_xml(&app, &app.editor.token, "", &fixture("nextest/junit.xml")).await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "project");

    let (status, problem) = send(
        app.request(
            Method::POST,
            "/api/v1/healing/reports",
            Some(&app.editor.token),
        )
        .header("content-type", "text/plain")
        .body("hello"),
    )
    .await;
    assert_eq!(status, 415, "{problem}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_json_form_takes_cases_directly() {
    let app = TestApp::spawn().await;
    let body = json!({
        "project": "mobile",
        "commit_sha": "ddd444",
        "framework": "junit",
        "cases": [
            {"suite": "login", "classname": "LoginTest", "name": "opens", "outcome": "passed", "duration_ms": 12},
            {"suite": "login", "classname": "LoginTest", "name": "signs in", "outcome": "failed",
             "message": "Element not found: #submit", "body": "NoSuchElementException: #submit"},
            {"suite": "login", "classname": "LoginTest", "name": "remembers me", "outcome": "flaky", "attempts": 3}
        ]
    });
    let (status, stored) = app
        .post("/api/v1/healing/reports", Some(&app.editor.token), &body)
        .await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(
        stored["counts"],
        json!({"tests": 3, "passed": 1, "failed": 1, "errors": 0, "skipped": 0, "flaky": 1})
    );
    let (_, page) = app
        .get(
            "/api/v1/healing/failures?outcome=failed",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["message"], "Element not found: #submit");
    app.shutdown().await;
}

#[tokio::test]
async fn other_tenants_and_viewers_cannot_reach_or_write_failures() {
    let app = TestApp::spawn().await;
    let (status, _) = upload_xml(
        &app,
        &app.viewer.token,
        "project=shop",
        &fixture("nextest/junit.xml"),
    )
    .await;
    assert_eq!(status, 403, "viewers cannot upload");
    let (status, _) = upload_xml(
        &app,
        &app.editor.token,
        "project=shop",
        &fixture("nextest/junit.xml"),
    )
    .await;
    assert_eq!(status, 201);
    let (_, page) = app
        .get("/api/v1/healing/failures", Some(&app.viewer.token))
        .await;
    let failure = page["items"][0].clone();
    let other = &app.other_admin.token;
    let (_, theirs) = app.get("/api/v1/healing/failures", Some(other)).await;
    assert_eq!(theirs["total"], 0);
    let (status, problem) = app
        .get(
            &format!(
                "/api/v1/healing/failures/{}",
                failure["id"].as_str().unwrap()
            ),
            Some(other),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(problem["code"], "healing.failure_not_found");
    let (status, problem) = app
        .get(
            &format!(
                "/api/v1/healing/tests/{}/history",
                failure["test"]["id"].as_str().unwrap()
            ),
            Some(other),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(problem["code"], "healing.test_not_found");
    let (status, _) = app.get("/api/v1/healing/failures", None).await;
    assert_eq!(status, 401);
    app.shutdown().await;
}

#[tokio::test]
async fn in_process_producers_reach_ingest_through_test_results() {
    let app = TestApp::spawn().await;
    let sink = app
        .platform
        .services
        .get::<TestResults>()
        .expect("the healing module registers TestResults");
    let ingested = sink
        .0
        .ingest(JunitUpload {
            tenant: TenantId(app.editor.tenant_id.clone()),
            project: "cluster-tests".into(),
            commit_sha: Some("eee555".into()),
            branch: None,
            ci_run_id: Some("env-1/job-1".into()),
            attempt: 1,
            source: "k8s",
            files: vec![(
                "junit.xml".into(),
                fixture("nextest/junit.xml").into_bytes(),
            )],
        })
        .await
        .expect("ingested");
    assert_eq!((ingested.tests, ingested.failures), (5, 3));
    let (_, page) = app
        .get(
            "/api/v1/healing/failures?project=cluster-tests",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(page["total"], 4);
    app.shutdown().await;
}

#[tokio::test]
async fn with_the_module_off_its_paths_and_seam_are_gone() {
    let app = TestApp::builder()
        .with(|s| s.modules.healing = false)
        .spawn()
        .await;
    let (status, body) = app
        .get("/api/v1/healing/failures", Some(&app.viewer.token))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "route.not_found");
    let (_, doc) = app.get("/openapi.json", None).await;
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.iter().all(|p| !p.starts_with("/api/v1/healing")),
        "{paths:?}"
    );
    assert!(app.platform.services.get::<TestResults>().is_none());
    for step in ["healing.analyze", "healing.apply"] {
        assert!(app.platform.steps.get(step).is_none(), "{step}");
    }
    // No consumer group on the errors stream (the edge creates one per enabled handler).
    if let Some(mut conn) = app.redis_conn() {
        let groups: redis::RedisResult<redis::Value> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(app.stream_name("automation:errors"))
            .query(&mut conn);
        assert!(groups.is_err(), "{groups:?}");
    }
    app.shutdown().await;

    let on = TestApp::spawn().await;
    let (_, doc) = on.get("/openapi.json", None).await;
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    for path in [
        "/api/v1/healing/reports",
        "/api/v1/healing/failures",
        "/api/v1/healing/failures/{id}",
        "/api/v1/healing/tests/{id}/history",
        "/api/v1/healing/tests/flaky",
        "/api/v1/healing/tests/{id}/quarantine",
        "/api/v1/healing/tests/{id}/unquarantine",
        "/api/v1/healing/quarantine",
        "/api/v1/healing/failures/{id}/heal",
        "/api/v1/healing/healings",
        "/api/v1/healing/healings/{id}",
        "/api/v1/healing/healings/{id}/apply",
        "/api/v1/healing/healings/{id}/reject",
        "/api/v1/healing/repositories",
        "/api/v1/healing/repositories/{id}",
        "/api/v1/healing/stats",
    ] {
        assert!(paths.iter().any(|p| *p == path), "{path} in {paths:?}");
    }
    for step in ["healing.analyze", "healing.apply"] {
        assert!(on.platform.steps.get(step).is_some(), "{step}");
    }
    if let Some(mut conn) = on.redis_conn() {
        let stream = on.stream_name("automation:errors");
        on.eventually(
            "the errors stream's group",
            std::time::Duration::from_secs(10),
            || {
                let groups: redis::RedisResult<Vec<redis::Value>> = redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&stream)
                    .query(&mut conn);
                let found = groups.is_ok_and(|g| !g.is_empty());
                async move { found.then_some(()) }
            },
        )
        .await;
    }
    on.shutdown().await;
}

#[tokio::test]
async fn a_reports_folder_uploads_as_tar_gz_or_zip() {
    use std::io::Write;

    let app = TestApp::spawn().await;
    let entries = [
        (
            "reports/TEST-com.example.CartTest.xml",
            fixture("surefire/handmade-TEST-com.example.CartTest.xml"),
        ),
        (
            "reports/TEST-com.example.OrderTest.xml",
            fixture("gradle/handmade-TEST-com.example.OrderTest.xml"),
        ),
        ("reports/build.log", "not a report".to_string()),
    ];
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data.as_bytes()).unwrap();
    }
    let tgz = tar.into_inner().unwrap().finish().unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in &entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data.as_bytes()).unwrap();
    }
    let zipped = zip.finish().unwrap().into_inner();

    for (content_type, body) in [("application/gzip", tgz), ("application/zip", zipped)] {
        let (status, stored) = send(
            app.request(
                Method::POST,
                "/api/v1/healing/reports?project=jvm&commit_sha=fff666",
                Some(&app.editor.token),
            )
            .header("content-type", content_type)
            .body(body),
        )
        .await;
        assert_eq!(status, 201, "{content_type}: {stored}");
        assert_eq!(
            stored["files"], 2,
            "{content_type}: the log is not a report"
        );
        assert_eq!(
            stored["counts"],
            json!({"tests": 9, "passed": 2, "failed": 3, "errors": 0, "skipped": 1, "flaky": 3}),
            "{content_type}"
        );
    }

    let (status, problem) = send(
        app.request(
            Method::POST,
            "/api/v1/healing/reports?project=jvm",
            Some(&app.editor.token),
        )
        .header("content-type", "application/zip")
        .body("not a zip"),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["code"], "healing.invalid_archive");
    app.shutdown().await;
}

#[tokio::test]
async fn flaky_tests_are_listed_with_evidence_and_broken_ones_are_told_apart() {
    let app = TestApp::spawn().await;
    let upload = |sha: &str, attempt: u32, cases: Value| json!({"project": "web", "commit_sha": sha, "attempt": attempt, "cases": cases});
    let runs = [
        // Commit a: "checkout" fails on the first CI attempt and passes on the second.
        upload(
            "a",
            1,
            json!([
                {"classname": "Shop", "name": "checkout", "outcome": "failed", "message": "503"},
                {"classname": "Shop", "name": "search", "outcome": "flaky", "attempts": 2},
                {"classname": "Shop", "name": "totals", "outcome": "passed"}
            ]),
        ),
        upload(
            "a",
            2,
            json!([
                {"classname": "Shop", "name": "checkout", "outcome": "passed"},
                {"classname": "Shop", "name": "totals", "outcome": "passed"}
            ]),
        ),
        // Commit b: "search" fails every attempt (broken at head); "totals" regresses.
        upload(
            "b",
            1,
            json!([
                {"classname": "Shop", "name": "checkout", "outcome": "passed"},
                {"classname": "Shop", "name": "search", "outcome": "failed", "message": "gone"},
                {"classname": "Shop", "name": "totals", "outcome": "failed", "message": "expected: <3> but was: <4>"}
            ]),
        ),
        upload(
            "b",
            2,
            json!([
                {"classname": "Shop", "name": "search", "outcome": "error", "message": "gone"},
                {"classname": "Shop", "name": "totals", "outcome": "failed", "message": "expected: <3> but was: <4>"}
            ]),
        ),
    ];
    for body in runs {
        let (status, stored) = app
            .post("/api/v1/healing/reports", Some(&app.editor.token), &body)
            .await;
        assert_eq!(status, 201, "{stored}");
    }
    let (status, page) = app
        .get(
            "/api/v1/healing/tests/flaky?project=web",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let by_name = |name: &str| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["test"]["name"] == name)
            .cloned()
    };
    let checkout = by_name("checkout").expect("a commit that passed and failed is flaky");
    assert_eq!(checkout["status"], "flaky");
    assert_eq!(checkout["disagreeing_commits"], 1);
    let search = by_name("search").expect("retried-then-passed results are flaky evidence");
    assert_eq!(search["status"], "broken", "failing every attempt at head");
    assert!(
        by_name("totals").is_none(),
        "a regression is not flaky: {page}"
    );
    assert_eq!(page["total"], 2);

    // Another project, another tenant: nothing.
    let (_, other) = app
        .get(
            "/api/v1/healing/tests/flaky?project=web",
            Some(&app.other_admin.token),
        )
        .await;
    assert_eq!(other["total"], 0);
    let (status, _) = app
        .get("/api/v1/healing/tests/flaky", Some(&app.viewer.token))
        .await;
    assert_eq!(status, 400, "project is required");

    // Quarantine: flaky yes (with owner, evidence, expiry), broken never, steady never.
    let id = |t: &Value| t["test"]["id"].as_str().unwrap().to_string();
    let (checkout_id, search_id) = (id(&checkout), id(&search));
    let quarantine = |test: &str| format!("/api/v1/healing/tests/{test}/quarantine");
    let editor = Some(app.editor.token.as_str());
    let ask = json!({"owner": "team-shop", "reason": "payment sandbox flakes", "expires_in": "7d"});
    let (status, entry) = app.post(&quarantine(&checkout_id), editor, &ask).await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["owner"], "team-shop");
    assert_eq!(entry["evidence"]["disagreeing_commits"], 1);
    let (status, problem) = app.post(&quarantine(&checkout_id), editor, &ask).await;
    assert_eq!(
        (status.as_u16(), &problem["code"]),
        (409, &json!("healing.already_quarantined"))
    );
    let (status, problem) = app.post(&quarantine(&search_id), editor, &ask).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "healing.broken_test");
    let (_, history) = app
        .get(
            "/api/v1/healing/failures?project=web&outcome=failed",
            Some(&app.viewer.token),
        )
        .await;
    let totals = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["test"]["name"] == "totals")
        .unwrap()["test"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, problem) = app.post(&quarantine(&totals), editor, &ask).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "healing.not_flaky");
    let (status, _) = app
        .post(&quarantine(&checkout_id), Some(&app.viewer.token), &ask)
        .await;
    assert_eq!(status, 403);

    // CI reads the list as JSON or as plain lines.
    let (status, list) = app
        .get(
            "/api/v1/healing/quarantine?project=web",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["test"]["name"], "checkout");
    let plain = app
        .request(
            Method::GET,
            "/api/v1/healing/quarantine?project=web&format=plain",
            Some(&app.viewer.token),
        )
        .send()
        .await
        .unwrap();
    assert!(
        plain.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(plain.text().await.unwrap(), "Shop\tcheckout\n");

    let unquarantine = format!("/api/v1/healing/tests/{checkout_id}/unquarantine");
    let (status, _) = app.post(&unquarantine, editor, &json!({})).await;
    assert_eq!(status, 204);
    let (_, list) = app
        .get(
            "/api/v1/healing/quarantine?project=web",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (status, problem) = app.post(&unquarantine, editor, &json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(problem["code"], "healing.not_quarantined");
    app.shutdown().await;
}

//! The console in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` + `chromium-driver`, which `.ci/run` installs). One test walks the journeys in
//! order in one browser session (sign in, search, template + diff, instantiate with a live
//! preview, start a run and watch it finish, redrive a dead-lettered run, the retrying runs
//! filter, healing with a proposal approved, flaky tests, drift, environments), runs axe-core
//! (vendored in tests/fixtures/axe) on every page and fails on serious or critical violations,
//! and saves a screenshot of each page under `<target>/tmp/console-screenshots/`.
//!
//! With `CI` set, a missing chromedriver fails the test; elsewhere the test says why it skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use thirtyfour::prelude::*;

use crate::helpers::free_port;
use crate::workflows::{create, execute, wait_status};

const AXE: &str = include_str!("../../fixtures/axe/axe-4.14.1.min.js");

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&paths).chain([PathBuf::from("/usr/lib/chromium")]) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver, or explains why not: `Err` fails in CI and skips elsewhere.
async fn start_driver() -> Result<(Driver, PathBuf), String> {
    let driver = find_binary(&["chromedriver"])
        .ok_or("chromedriver is not installed (apt-get install chromium chromium-driver)")?;
    let chromium = find_binary(&["chromium", "chromium-browser", "google-chrome"])
        .ok_or("chromium is not installed (apt-get install chromium chromium-driver)")?;
    let port = free_port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", driver.display()))?;
    let url = format!("http://127.0.0.1:{port}");
    let handle = Driver { child, url };
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{}/status", handle.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok((handle, chromium));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("chromedriver did not answer on /status within 10 s".into())
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// axe-core's serious and critical violations on the current page.
async fn axe_violations(driver: &WebDriver) -> Value {
    driver
        .execute(AXE, Vec::<Value>::new())
        .await
        .expect("inject axe-core");
    let result = driver
        .execute(
            "return axe.run(document, {resultTypes: ['violations']}).then(function (r) {
                return r.violations
                  .filter(function (v) { return v.impact === 'serious' || v.impact === 'critical'; })
                  .map(function (v) { return {id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map(function (n) { return n.html; })}; });
             });",
            Vec::<Value>::new(),
        )
        .await
        .expect("axe.run");
    result.json().clone()
}

/// Runs axe-core on the current page; panics on serious or critical violations.
async fn axe(driver: &WebDriver, page: &str) {
    let violations = axe_violations(driver).await;
    assert_eq!(
        violations,
        json!([]),
        "axe: serious or critical accessibility violations on {page}"
    );
}

async fn snap(driver: &WebDriver, name: &str) {
    let path = screenshot_dir().join(format!("{name}.png"));
    driver.screenshot(&path).await.expect("screenshot");
}

/// Checks a page: accessible, screenshotted.
async fn check(driver: &WebDriver, name: &str) {
    axe(driver, name).await;
    snap(driver, name).await;
}

async fn text_of(driver: &WebDriver, css: &str) -> String {
    match driver.find(By::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test]
async fn browser_journeys_with_axe() {
    let (chromedriver, chromium) = match start_driver().await {
        Ok(found) => found,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI is set, so the browser journeys must run: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED browser_journeys_with_axe: {why} (set CI to make this a failure)");
            return;
        }
    };
    let app = crate::workflows::spawn().await;
    let (template_id, first) = super::session::second_version(&app, "journey-service").await;
    // A project generated from the first version: one behind on the drift page.
    let (status, body) = app
        .post(
            &format!("/api/v1/templates/{template_id}/instantiate"),
            Some(&app.editor.token),
            &json!({"format": "json", "parameters": {"project_name": "billing"},
                    "version": first, "project": "git@example.com:team/billing.git"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Test results: passed, then failed on one commit (flaky), for the healing pages.
    for outcome in ["passed", "failed"] {
        let (status, body) = app
            .post(
                "/api/v1/healing/reports",
                Some(&app.editor.token),
                &json!({"project": "shop", "commit_sha": "c1", "cases": [{
                    "classname": "CartTest", "name": "adds_two_items", "outcome": outcome,
                    "duration_ms": 40, "message": "expected:<2> but was:<3>",
                    "body": "at CartTest.adds_two_items(CartTest.java:14)"}]}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut other = crate::templates::sample("quiet-library");
    other["manifest"]["description"] = json!("A library that never talks");
    other["manifest"]["category"] = json!("technical_writer");
    let (status, body) = app
        .post("/api/v1/templates", Some(&app.editor.token), &other)
        .await;
    assert_eq!(status, 201, "{body}");
    let wf = create(
        &app,
        &json!({"name": "release-train", "steps": [
            {"id": "build", "uses": "noop", "with": {"sleep": "300ms", "outputs": {"artifact": "app.tar"}}},
            {"id": "ship", "uses": "fail", "needs": "build",
             "with": {"message": "registry refused the push", "retryable": false, "attempts": 1}}
        ]}),
    )
    .await;
    let wf_id = wf["id"].as_str().unwrap().to_string();
    let dead = execute(&app, &wf_id, json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_status(&app, &dead, "dead_lettered", 30).await;
    let ok_flow = create(
        &app,
        &json!({"name": "nightly-report", "steps": [
            {"id": "collect", "uses": "noop", "with": {"sleep": "1500ms"}},
            {"id": "publish", "uses": "noop", "needs": "collect", "with": {"outputs": {"url": "https://reports.example/1"}}}
        ]}),
    )
    .await;
    let ok_id = ok_flow["id"].as_str().unwrap().to_string();
    let patient = create(
        &app,
        &json!({"name": "patient-sync", "steps": [{
            "id": "call", "uses": "fail", "with": {"message": "upstream busy", "attempts": 3},
            "retry": {"max_attempts": 4, "initial_interval": "10m", "jitter": 0}
        }]}),
    )
    .await;
    let retrying = execute(&app, patient["id"].as_str().unwrap(), json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    crate::workflows::wait_step(&app, &retrying, "call", "retrying").await;

    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(&chromium.to_string_lossy()).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ] {
        caps.add_arg(arg).unwrap();
    }
    let driver = WebDriver::new(chromedriver.url.clone(), caps)
        .await
        .expect("a Chromium session");
    let base = app.address.clone();
    let wait = Duration::from_secs(20);

    // 1. Sign in.
    driver.goto(format!("{base}/ui/templates")).await.unwrap();
    assert!(
        driver
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/ui/login")
    );
    check(&driver, "01-login").await;
    // The check can fail: an image without alternative text is a critical violation.
    driver
        .execute(
            "var i = document.createElement('img'); i.src = '/ui/assets/none.png'; \
             i.id = 'axe-probe'; document.body.appendChild(i);",
            Vec::<Value>::new(),
        )
        .await
        .unwrap();
    let probe = axe_violations(&driver).await;
    assert!(
        probe.to_string().contains("image-alt"),
        "axe must flag an image without alt: {probe}"
    );
    driver
        .execute(
            "document.getElementById('axe-probe').remove();",
            Vec::<Value>::new(),
        )
        .await
        .unwrap();
    driver
        .find(By::Id("email"))
        .await
        .unwrap()
        .send_keys(&app.admin.email)
        .await
        .unwrap();
    driver
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys(&app.admin.password)
        .await
        .unwrap();
    driver
        .find(By::Css("form[action='/ui/login'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the catalog after sign-in", wait, || {
        let d = &driver;
        async move { (d.current_url().await.ok()?.path() == "/ui/templates").then_some(()) }
    })
    .await;
    check(&driver, "02-catalog").await;

    // 2. Search as you type: the results narrow without a page load, and the URL keeps the query.
    assert!(text_of(&driver, "#results").await.contains("quiet-library"));
    driver
        .find(By::Id("q-text"))
        .await
        .unwrap()
        .send_keys("greets")
        .await
        .unwrap();
    app.eventually("search results to narrow", wait, || {
        let d = &driver;
        async move {
            let t = text_of(d, "#results").await;
            (t.contains("journey-service") && !t.contains("quiet-library")).then_some(())
        }
    })
    .await;
    assert!(
        driver
            .current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or_default()
            .contains("text=greets")
    );
    check(&driver, "03-catalog-search").await;

    // 3. Open the template, then the diff.
    driver
        .find(By::LinkText("journey-service"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the template page", wait, || {
        let d = &driver;
        let template_id = template_id.as_str();
        async move {
            d.current_url()
                .await
                .ok()?
                .path()
                .contains(template_id)
                .then_some(())
        }
    })
    .await;
    check(&driver, "04-template").await;
    driver
        .find(By::LinkText("Compare versions"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the diff", wait, || {
        let d = &driver;
        async move { d.find(By::Css("table.diff tr.add")).await.ok().map(|_| ()) }
    })
    .await;
    check(&driver, "05-diff").await;

    // 4. Instantiate: the preview follows the answers.
    driver
        .goto(format!("{base}/ui/templates/{template_id}/use"))
        .await
        .unwrap();
    app.eventually("the first preview", wait, || {
        let d = &driver;
        async move {
            text_of(d, "#preview")
                .await
                .contains("hello/main.py")
                .then_some(())
        }
    })
    .await;
    let name = driver.find(By::Id("p-0")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("billing-api").await.unwrap();
    app.eventually("the preview to follow the new name", wait, || {
        let d = &driver;
        async move {
            text_of(d, "#preview")
                .await
                .contains("billing-api/main.py")
                .then_some(())
        }
    })
    .await;
    name.clear().await.unwrap();
    name.send_keys("Bad Name").await.unwrap();
    app.eventually("an inline error", wait, || {
        let d = &driver;
        async move { (!text_of(d, "#err-0").await.trim().is_empty()).then_some(()) }
    })
    .await;
    check(&driver, "06-use-template").await;

    // 5. Start a run and watch it finish (the page polls while the run is live).
    driver
        .goto(format!("{base}/ui/workflows/{ok_id}"))
        .await
        .unwrap();
    check(&driver, "07-workflow").await;
    driver
        .find(By::Css("form[action$='/execute'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the run page", wait, || {
        let d = &driver;
        async move {
            d.current_url()
                .await
                .ok()?
                .path()
                .starts_with("/ui/runs/")
                .then_some(())
        }
    })
    .await;
    app.eventually(
        "the run to finish on screen",
        Duration::from_secs(30),
        || {
            let d = &driver;
            async move {
                text_of(d, "#run-status")
                    .await
                    .contains("succeeded")
                    .then_some(())
            }
        },
    )
    .await;
    check(&driver, "08-run").await;

    // 6. Redrive the dead-lettered run, with the confirmation step.
    driver.goto(format!("{base}/ui/dlq")).await.unwrap();
    check(&driver, "09-dlq").await;
    driver
        .find(By::Css(format!("input[type=checkbox][value='{dead}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    driver
        .find(By::Css("button[name=scope][value=selected]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the confirmation", wait, || {
        let d = &driver;
        async move {
            d.find(By::XPath("//button[contains(., 'Yes, redrive')]"))
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    check(&driver, "10-dlq-confirm").await;
    driver
        .find(By::XPath("//button[contains(., 'Yes, redrive')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the redrive result", wait, || {
        let d = &driver;
        async move {
            text_of(d, "main")
                .await
                .contains("1 runs redriven")
                .then_some(())
        }
    })
    .await;
    wait_status(&app, &dead, "succeeded", 30).await;
    driver.goto(format!("{base}/ui/runs/{dead}")).await.unwrap();
    check(&driver, "11-run-redriven").await;
    driver
        .goto(format!("{base}/ui/runs/{dead}/audit"))
        .await
        .unwrap();
    check(&driver, "12-audit").await;
    driver.goto(format!("{base}/ui/quality")).await.unwrap();
    check(&driver, "13-quality").await;

    // 7. Runs waiting for their next attempt have their own filter and say so.
    driver
        .goto(format!("{base}/ui/runs?status=retrying"))
        .await
        .unwrap();
    let listed = text_of(&driver, "tbody").await;
    assert!(
        listed.contains("patient-sync") && listed.contains("retrying"),
        "{listed}"
    );
    assert!(!listed.contains("nightly-report"), "{listed}");
    check(&driver, "14-runs-retrying").await;

    // 8. Healing: the failure with its evidence, proposals, one approved; flaky tests.
    driver
        .goto(format!("{base}/ui/healing?project=shop"))
        .await
        .unwrap();
    check(&driver, "15-healing-failures").await;
    driver
        .find(By::LinkText("adds_two_items"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the failure page", wait, || {
        let d = &driver;
        async move { text_of(d, "main").await.contains("Evidence").then_some(()) }
    })
    .await;
    check(&driver, "16-healing-failure").await;
    driver
        .find(By::XPath("//button[contains(., 'Propose healings')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the proposals", wait, || {
        let d = &driver;
        async move {
            d.find(By::XPath("//tr[contains(., '(chosen)')]//a"))
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    driver
        .find(By::XPath("//tr[contains(., '(chosen)')]//a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the proposal page", wait, || {
        let d = &driver;
        async move {
            text_of(d, "main")
                .await
                .contains("Approve and apply")
                .then_some(())
        }
    })
    .await;
    check(&driver, "17-healing").await;
    driver
        .find(By::XPath("//button[contains(., 'Approve and apply')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually("the proposal applied", wait, || {
        let d = &driver;
        async move {
            let t = text_of(d, "main").await;
            (t.contains("applied") && !t.contains("Approve and apply")).then_some(())
        }
    })
    .await;
    driver
        .goto(format!("{base}/ui/healing/flaky?project=shop"))
        .await
        .unwrap();
    assert!(text_of(&driver, "tbody").await.contains("adds_two_items"));
    check(&driver, "18-flaky-tests").await;

    // 9. Template drift and test environments.
    driver
        .goto(format!("{base}/ui/templates/drift"))
        .await
        .unwrap();
    assert!(text_of(&driver, "main").await.contains("1 of 1 behind"));
    check(&driver, "19-drift").await;
    driver
        .goto(format!("{base}/ui/environments"))
        .await
        .unwrap();
    check(&driver, "20-environments").await;

    driver.quit().await.unwrap();
}

/// "Sign in with <issuer>" in a real browser, the issuer on another site (`localhost` against
/// the console's `127.0.0.1`): the Lax flow cookie comes back on the issuer's cross-site
/// redirect, and the Strict session cookie is in place for the page that follows.
#[tokio::test]
async fn browser_oidc_sign_in_across_sites() {
    let (chromedriver, chromium) = match start_driver().await {
        Ok(found) => found,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI is set, so the browser journeys must run: {why}")
        }
        Err(why) => {
            eprintln!(
                "SKIPPED browser_oidc_sign_in_across_sites: {why} (set CI to make this a failure)"
            );
            return;
        }
    };
    let issuer = super::oidc::start_issuer("localhost").await;
    let iss = issuer.url.clone();
    let app = crate::helpers::TestApp::builder()
        .with(move |s| {
            s.auth.oidc.issuer = iss;
            s.auth.oidc.audience = super::oidc::AUDIENCE.to_string();
            s.auth.oidc.client_id = super::oidc::CLIENT_ID.to_string();
            s.auth.oidc.client_secret = super::oidc::CLIENT_SECRET.to_string();
            s.auth.oidc.display_name = "Acme SSO".to_string();
        })
        .spawn()
        .await;
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(&chromium.to_string_lossy()).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ] {
        caps.add_arg(arg).unwrap();
    }
    let driver = WebDriver::new(chromedriver.url.clone(), caps)
        .await
        .expect("a Chromium session");
    let base = app.address.clone();
    assert!(base.contains("127.0.0.1"), "{base}");
    driver.goto(format!("{base}/ui/templates")).await.unwrap();
    driver
        .find(By::LinkText("Sign in with Acme SSO"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.eventually(
        "the catalog, signed in through the issuer",
        Duration::from_secs(20),
        || {
            let d = &driver;
            async move {
                let on_catalog = d.current_url().await.ok()?.path() == "/ui/templates";
                (on_catalog && text_of(d, "header").await.contains("sso@acme.test")).then_some(())
            }
        },
    )
    .await;
    check(&driver, "21-signed-in-with-oidc").await;
    driver.quit().await.unwrap();
    issuer.handle.stop(false).await;
}

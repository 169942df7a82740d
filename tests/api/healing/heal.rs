//! Heal requests end to end: every proposal stored (abstentions too), apply and reject with
//! their rules, a patch applied to a registered repository as a branch with exactly one commit
//! (a real git repository made in a tempdir), verification and false heals on later reports,
//! auto-unquarantine, stats, and the errors stream producing proposals (with Redis).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, test_redis_url};
use crate::templates::git;
use crate::templates::stream::{entries, xadd};

/// A project repository: the greeting test, then a commit that changes the greeting on purpose.
/// Returns the tempdir and the commit under test.
fn greeting_repo() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(root.join("tests")).unwrap();
    std::fs::write(
        root.join("cart.py"),
        "def greet(name):\n    return f'Hello {name}'\n",
    )
    .unwrap();
    std::fs::write(
        root.join("tests/test_cart.py"),
        "from cart import greet\n\n\ndef test_greet():\n    assert greet('Bob') == 'Hello Bob'\n",
    )
    .unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "greeting"]);
    std::fs::write(
        root.join("cart.py"),
        "def greet(name):\n    return f'Hi {name}'\n",
    )
    .unwrap();
    git(root, &["commit", "-q", "-am", "friendlier greeting"]);
    let head = git(root, &["rev-parse", "HEAD"]);
    (dir, head)
}

async fn upload(app: &TestApp, body: Value) -> Value {
    let (status, stored) = app
        .post("/api/v1/healing/reports", Some(&app.editor.token), &body)
        .await;
    assert_eq!(status, 201, "{stored}");
    stored
}

fn greet_case(outcome: &str) -> Value {
    let mut case = json!({
        "classname": "tests.test_cart",
        "name": "test_greet",
        "file": "tests/test_cart.py",
        "outcome": outcome,
        "duration_ms": 12,
    });
    if outcome != "passed" {
        case["message"] = json!("AssertionError: assert 'Hi Bob' == 'Hello Bob'");
        case["body"] = json!(
            "def test_greet():\n>       assert greet('Bob') == 'Hello Bob'\nE       assert 'Hi Bob' == 'Hello Bob'\n\ntests/test_cart.py:5: AssertionError"
        );
    }
    case
}

async fn only_failure(app: &TestApp, report_id: &str) -> String {
    let (_, page) = app
        .get(
            &format!("/api/v1/healing/failures?report_id={report_id}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(page["total"], 1, "{page}");
    page["items"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_assertion_patch_becomes_a_branch_with_one_commit_then_verified_then_false_heal() {
    let (repo, head) = greeting_repo();
    let allowed = repo.path().to_path_buf();
    let app = TestApp::builder()
        .with(move |s| s.healing.git_allowed_local_dirs = vec![allowed])
        .spawn()
        .await;
    let (admin, editor, viewer) = (&app.admin.token, &app.editor.token, &app.viewer.token);

    // A patch cannot be applied before a repository is registered; register one (admin only).
    let register = json!({
        "project": "shop",
        "url": repo.path().to_str().unwrap(),
        "default_branch": "main",
    });
    let (status, body) = app
        .post("/api/v1/healing/repositories", Some(editor), &register)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, registered) = app
        .post("/api/v1/healing/repositories", Some(admin), &register)
        .await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["default_branch"], "main");
    assert_eq!(registered["has_secret"], false);
    let (status, again) = app
        .post("/api/v1/healing/repositories", Some(admin), &register)
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["code"], "healing.repository_exists");
    // A path outside the allow-list is refused, naming the setting.
    let (status, outside) = app
        .post(
            "/api/v1/healing/repositories",
            Some(admin),
            &json!({"project": "other", "url": "/etc"}),
        )
        .await;
    assert_eq!(status, 422, "{outside}");
    assert!(
        outside
            .to_string()
            .contains("healing.git_allowed_local_dirs"),
        "{outside}"
    );

    let stored = upload(
        &app,
        json!({"project": "shop", "commit_sha": head, "branch": "main", "framework": "pytest",
               "cases": [greet_case("failed")]}),
    )
    .await;
    let failure_id = only_failure(&app, stored["report_id"].as_str().unwrap()).await;
    let (status, denied) = app
        .post(
            &format!("/api/v1/healing/failures/{failure_id}/heal"),
            Some(viewer),
            &json!({}),
        )
        .await;
    assert_eq!(status, 403, "{denied}");
    let (status, healed) = app
        .post(
            &format!("/api/v1/healing/failures/{failure_id}/heal"),
            Some(editor),
            &json!({}),
        )
        .await;
    assert_eq!(status, 201, "{healed}");
    assert!(healed.get("repository_error").is_none(), "{healed}");
    let proposals = healed["proposals"].as_array().unwrap();
    // Every proposal is stored, abstentions included, with a status that matches its action.
    for p in proposals {
        let expected = if p["action"] == "abstain" {
            "abstained"
        } else {
            "proposed"
        };
        assert_eq!(p["status"], expected, "{p}");
        assert_eq!(p["request_id"], healed["request_id"]);
    }
    let (_, listed) = app
        .get(
            &format!("/api/v1/healing/healings?failure_id={failure_id}"),
            Some(viewer),
        )
        .await;
    assert_eq!(listed["total"], proposals.len(), "{listed}");
    let chosen = &healed["chosen"];
    assert_eq!(chosen["strategy"], "assertion", "{healed}");
    assert_eq!(chosen["action"], "patch");
    assert_eq!(chosen["risk"], "may_mask_regression");
    assert_eq!(chosen["patch"]["path"], "tests/test_cart.py");
    let blob = git(repo.path(), &["rev-parse", "HEAD:tests/test_cart.py"]);
    assert_eq!(chosen["patch"]["base_blob"], blob);
    let healing_id = chosen["id"].as_str().unwrap().to_string();

    // It may mask a regression: it needs an explicit approval.
    let apply = format!("/api/v1/healing/healings/{healing_id}/apply");
    let (status, refused) = app.post(&apply, Some(editor), &json!({})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "healing.approval_required");
    let (status, applied) = app
        .post(&apply, Some(editor), &json!({"approve_risk": true}))
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["status"], "applied");
    let branch = applied["branch"].as_str().unwrap().to_string();
    assert!(branch.starts_with("maestro/heal/"), "{applied}");
    let commit = applied["commit_sha"].as_str().unwrap().to_string();
    // Exactly one commit on top of the default branch, which did not move.
    assert_eq!(git(repo.path(), &["rev-parse", "main"]), head);
    assert_eq!(git(repo.path(), &["rev-parse", &branch]), commit);
    assert_eq!(
        git(
            repo.path(),
            &["rev-list", "--count", &format!("main..{branch}")]
        ),
        "1"
    );
    assert_eq!(
        git(repo.path(), &["rev-parse", &format!("{branch}~1")]),
        head
    );
    let patched = git(
        repo.path(),
        &["show", &format!("{branch}:tests/test_cart.py")],
    );
    assert!(patched.contains("== 'Hi Bob'"), "{patched}");
    // Decided once.
    let (status, twice) = app
        .post(&apply, Some(editor), &json!({"approve_risk": true}))
        .await;
    assert_eq!(status, 409, "{twice}");
    assert_eq!(twice["code"], "healing.not_proposed");

    // A passing run on the heal branch verifies it; a later failure there is a false heal.
    upload(
        &app,
        json!({"project": "shop", "commit_sha": commit, "branch": branch, "framework": "pytest",
               "cases": [greet_case("passed")]}),
    )
    .await;
    let (_, verified) = app
        .get(
            &format!("/api/v1/healing/healings/{healing_id}"),
            Some(viewer),
        )
        .await;
    assert_eq!(verified["status"], "verified", "{verified}");
    assert!(verified["time_to_green_ms"].as_i64().unwrap() >= 0);
    let (_, stats) = app
        .get("/api/v1/healing/stats?project=shop", Some(viewer))
        .await;
    assert_eq!(stats["failures"], 1, "{stats}");
    assert_eq!(stats["failures_attempted"], 1);
    assert_eq!(stats["coverage"], 1.0);
    assert_eq!(stats["strategies"]["assertion"]["verified"], 1, "{stats}");
    assert_eq!(stats["strategies"]["assertion"]["verified_rate"], 1.0);
    assert_eq!(stats["strategies"]["assertion"]["coverage"], 1.0, "{stats}");
    assert_eq!(stats["strategies"]["locator"]["coverage"], 0.0);
    assert!(stats["strategies"]["assertion"]["median_time_to_green_ms"].is_i64());

    upload(
        &app,
        json!({"project": "shop", "commit_sha": commit, "branch": branch, "framework": "pytest",
               "cases": [greet_case("failed")]}),
    )
    .await;
    let (_, false_heal) = app
        .get(
            &format!("/api/v1/healing/healings/{healing_id}"),
            Some(viewer),
        )
        .await;
    assert_eq!(false_heal["status"], "false_heal", "{false_heal}");
    let (_, stats) = app
        .get("/api/v1/healing/stats?project=shop", Some(viewer))
        .await;
    assert_eq!(
        stats["strategies"]["assertion"]["false_heals"], 1,
        "{stats}"
    );
    assert_eq!(stats["strategies"]["assertion"]["false_heal_rate"], 1.0);
    assert_eq!(stats["overall"]["false_heals"], 1);
    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains("maestro_healing_healings{strategy=\"assertion\",status=\"false_heal\"} 1"),
        "{metrics}"
    );
    let (_, admin_stats) = app.get("/api/v1/admin/stats", Some(admin)).await;
    assert_eq!(
        admin_stats["module_stats"]["healing"]["false_heals"], 1,
        "{admin_stats}"
    );

    // The file changed on main since a new proposal was made: 409, nothing committed.
    let (_, healed) = app
        .post(
            &format!("/api/v1/healing/failures/{failure_id}/heal"),
            Some(editor),
            &json!({}),
        )
        .await;
    let second = healed["chosen"]["id"].as_str().unwrap().to_string();
    std::fs::write(
        repo.path().join("tests/test_cart.py"),
        "from cart import greet\n\n\ndef test_greet():\n    assert greet('Ann') == 'Hello Ann'\n",
    )
    .unwrap();
    git(repo.path(), &["commit", "-q", "-am", "another name"]);
    let (status, stale) = app
        .post(
            &format!("/api/v1/healing/healings/{second}/apply"),
            Some(editor),
            &json!({"approve_risk": true}),
        )
        .await;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["code"], "healing.patch_stale");
    let (_, still) = app
        .get(&format!("/api/v1/healing/healings/{second}"), Some(viewer))
        .await;
    assert_eq!(still["status"], "proposed");

    // Repositories: listed without credentials, deleted by an admin.
    let (_, repos) = app.get("/api/v1/healing/repositories", Some(viewer)).await;
    assert_eq!(repos["total"], 1, "{repos}");
    assert!(repos["items"][0].get("secret").is_none());
    let repo_id = registered["id"].as_str().unwrap();
    let (status, _) = app
        .delete(
            &format!("/api/v1/healing/repositories/{repo_id}"),
            Some(admin),
        )
        .await;
    assert_eq!(status, 204);
    let (status, gone) = app
        .get(
            &format!("/api/v1/healing/repositories/{repo_id}"),
            Some(viewer),
        )
        .await;
    assert_eq!(status, 404, "{gone}");
    let (status, none) = app
        .post(
            &format!("/api/v1/healing/healings/{second}/apply"),
            Some(editor),
            &json!({"approve_risk": true}),
        )
        .await;
    assert_eq!(status, 409, "{none}");
    assert_eq!(none["code"], "healing.no_repository");
    app.shutdown().await;
}

#[tokio::test]
async fn a_flaky_failure_is_quarantined_on_apply_verified_and_released_after_k_passes() {
    let app = TestApp::builder()
        .with(|s| s.healing.unquarantine_after = 2)
        .spawn()
        .await;
    let (editor, viewer) = (&app.editor.token, &app.viewer.token);
    let case = |outcome: &str| {
        json!({"classname": "CartTest", "name": "adds", "outcome": outcome, "duration_ms": 40,
               "message": "expected:<2> but was:<3>"})
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
    let failure_id = only_failure(&app, stored["report_id"].as_str().unwrap()).await;
    let heal = format!("/api/v1/healing/failures/{failure_id}/heal");
    // An empty body is a default request.
    let (status, healed) =
        crate::helpers::send(app.request(reqwest::Method::POST, &heal, Some(editor))).await;
    assert_eq!(status, 201, "{healed}");
    let chosen = healed["chosen"].clone();
    assert_eq!(chosen["strategy"], "flaky", "{healed}");
    assert_eq!(chosen["action"], "quarantine");
    let id = chosen["id"].as_str().unwrap().to_string();

    // Abstentions cannot be applied.
    if let Some(abstained) = healed["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "abstained")
    {
        let (status, body) = app
            .post(
                &format!(
                    "/api/v1/healing/healings/{}/apply",
                    abstained["id"].as_str().unwrap()
                ),
                Some(editor),
                &json!({"approve_risk": true}),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "healing.not_proposed");
    }
    let (status, applied) = app
        .post(
            &format!("/api/v1/healing/healings/{id}/apply"),
            Some(editor),
            &json!({"owner": "team-cart", "expires_in": "7d"}),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["status"], "applied");
    assert!(applied["quarantine_id"].is_string(), "{applied}");
    let (_, list) = app
        .get("/api/v1/healing/quarantine?project=shop", Some(viewer))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["owner"], "team-cart");

    // The next pass verifies the heal; after 2 consecutive passes the test is released.
    upload(
        &app,
        json!({"project": "shop", "commit_sha": "c2", "cases": [case("passed")]}),
    )
    .await;
    let (_, h) = app
        .get(&format!("/api/v1/healing/healings/{id}"), Some(viewer))
        .await;
    assert_eq!(h["status"], "verified", "{h}");
    let (_, list) = app
        .get("/api/v1/healing/quarantine?project=shop", Some(viewer))
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "one pass is not enough: {list}"
    );
    upload(
        &app,
        json!({"project": "shop", "commit_sha": "c3", "cases": [case("passed")]}),
    )
    .await;
    let (_, list) = app
        .get("/api/v1/healing/quarantine?project=shop", Some(viewer))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");

    // A second request: reject its chosen proposal; deciding twice is refused.
    let (_, again) = app.post(&heal, Some(editor), &json!({})).await;
    let second = again["chosen"]["id"].as_str().unwrap().to_string();
    let reject = format!("/api/v1/healing/healings/{second}/reject");
    let (status, rejected) = app.post(&reject, Some(viewer), &json!({})).await;
    assert_eq!(status, 403, "{rejected}");
    let (status, rejected) = app.post(&reject, Some(editor), &json!({})).await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    let (status, twice) = app.post(&reject, Some(editor), &json!({})).await;
    assert_eq!(status, 409, "{twice}");
    assert_eq!(twice["code"], "healing.not_proposed");

    // Filters, and stats that count abstentions and rejections.
    let (_, flaky) = app
        .get(
            "/api/v1/healing/healings?strategy=flaky&status=rejected",
            Some(viewer),
        )
        .await;
    assert_eq!(flaky["total"], 1, "{flaky}");
    let (status, bad) = app
        .get("/api/v1/healing/healings?status=healed", Some(viewer))
        .await;
    assert_eq!(status, 400, "{bad}");
    let (_, stats) = app.get("/api/v1/healing/stats", Some(viewer)).await;
    let s = &stats["strategies"]["flaky"];
    assert_eq!(
        (s["verified"].as_i64(), s["rejected"].as_i64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(
        stats["overall"]["proposals"].as_i64().unwrap() as usize,
        healed["proposals"].as_array().unwrap().len()
            + again["proposals"].as_array().unwrap().len()
    );

    // With Redis, every outcome went out on the results stream.
    if app.redis_conn().is_some() {
        let results = entries(&app, &app.stream_name("automation:results"));
        let outcome = |healing: &str, outcome: &str| {
            results.iter().any(|e| {
                e.get("healing_id").map(String::as_str) == Some(healing)
                    && e.get("outcome").map(String::as_str) == Some(outcome)
            })
        };
        assert!(
            outcome(&id, "applied") && outcome(&id, "verified"),
            "{results:?}"
        );
        assert!(outcome(&second, "rejected"), "{results:?}");
    }

    // Another tenant sees none of it.
    let other = &app.other_admin.token;
    let (status, _) = app
        .get(&format!("/api/v1/healing/healings/{id}"), Some(other))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.post(&heal, Some(other), &json!({})).await;
    assert_eq!(status, 404);
    app.shutdown().await;
}

#[tokio::test]
async fn a_failure_on_the_errors_stream_produces_proposals_on_the_healings_stream() {
    let Some(url) = test_redis_url() else {
        eprintln!("MAESTRO_TEST_REDIS_URL is not set; the stream edge is tested in CI with Redis");
        return;
    };
    let app = TestApp::spawn().await;
    xadd(
        &url,
        &app.stream_name("automation:errors"),
        &[
            ("request_id", "err-1".into()),
            ("tenant_id", app.editor.tenant_id.clone()),
            ("user_id", app.editor.id.clone()),
            ("project", "shop".into()),
            ("test_name", "test_checkout".into()),
            ("classname", "tests.test_shop".into()),
            ("commit_sha", "abc123".into()),
            ("message", "Failed: Timeout >5.0s".into()),
            ("duration_ms", "5003".into()),
        ],
    );
    // A viewer may not send failures.
    xadd(
        &url,
        &app.stream_name("automation:errors"),
        &[
            ("request_id", "err-2".into()),
            ("tenant_id", app.viewer.tenant_id.clone()),
            ("user_id", app.viewer.id.clone()),
            ("project", "shop".into()),
            ("test_name", "test_other".into()),
        ],
    );
    let healings = app.stream_name("automation:healings");
    let first = app
        .eventually(
            "a proposal on the healings stream",
            Duration::from_secs(20),
            || {
                let first = entries(&app, &healings).into_iter().next();
                async move { first }
            },
        )
        .await;
    assert_eq!(first["tenant_id"], app.editor.tenant_id, "{first:?}");
    assert_eq!(first["project"], "shop");
    let failure_id = first["failure_id"].clone();
    let (status, failure) = app
        .get(
            &format!("/api/v1/healing/failures/{failure_id}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, 200, "{failure}");
    assert_eq!(failure["test"]["name"], "test_checkout");
    assert_eq!(failure["category"], "timeout", "{failure}");
    // Every stored proposal (abstentions too) is published.
    let (_, stored) = app
        .get(
            &format!("/api/v1/healing/healings?failure_id={failure_id}"),
            Some(&app.viewer.token),
        )
        .await;
    let total = stored["total"].as_u64().unwrap() as usize;
    assert!(total >= 1, "{stored}");
    app.eventually("every proposal published", Duration::from_secs(20), || {
        let n = entries(&app, &healings)
            .iter()
            .filter(|e| e.get("failure_id") == Some(&failure_id))
            .count();
        async move { (n == total).then_some(()) }
    })
    .await;
    let results = app.stream_name("automation:results");
    let refused = app
        .eventually(
            "the viewer's event refused",
            Duration::from_secs(20),
            || {
                let found = entries(&app, &results)
                    .into_iter()
                    .find(|e| e.get("request_id").map(String::as_str) == Some("err-2"));
                async move { found }
            },
        )
        .await;
    assert_eq!(refused["outcome"], "error", "{refused:?}");
    assert!(refused["error"].contains("auth.forbidden"), "{refused:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn workflow_steps_analyze_a_report_and_apply_the_chosen_proposal() {
    let app = TestApp::spawn().await;
    let editor = &app.editor.token;
    let case = |outcome: &str| {
        json!({"classname": "CartTest", "name": "totals", "outcome": outcome,
               "message": "expected:<2> but was:<3>"})
    };
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
    let definition = json!({"name": "heal-report",
    "inputs": {"report_id": {"type": "string", "required": true}},
    "steps": [
        {"id": "analyze", "uses": "healing.analyze", "with": {"report_id": "${{ inputs.report_id }}"}},
        {"id": "apply", "uses": "healing.apply", "needs": "analyze",
         "with": {"healing_id": "${{ steps.analyze.outputs.chosen_id }}", "owner": "team-cart"}},
    ]});
    let (status, wf) = app
        .post("/api/v1/workflows", Some(editor), &definition)
        .await;
    assert_eq!(status, 201, "{wf}");
    let (status, run) = app
        .post(
            &format!("/api/v1/workflows/{}/execute", wf["id"].as_str().unwrap()),
            Some(editor),
            &json!({"inputs": {"report_id": stored["report_id"]}}),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let path = format!("/api/v1/workflows/runs/{}", run["id"].as_str().unwrap());
    let run = app
        .eventually("the run ends", Duration::from_secs(30), || {
            let path = path.clone();
            let app = &app;
            async move {
                let (_, run) = app.get(&path, Some(&app.viewer.token)).await;
                matches!(
                    run["status"].as_str(),
                    Some("succeeded" | "failed" | "dead_lettered")
                )
                .then_some(run)
            }
        })
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let steps = run["steps"].as_array().unwrap();
    let analyze = steps.iter().find(|s| s["id"] == "analyze").unwrap();
    assert_eq!(analyze["outputs"]["failures"], 1, "{run}");
    let apply = steps.iter().find(|s| s["id"] == "apply").unwrap();
    assert_eq!(apply["outputs"]["status"], "applied", "{run}");
    assert_eq!(apply["outputs"]["action"], "quarantine", "{run}");
    let (_, list) = app
        .get(
            "/api/v1/healing/quarantine?project=shop",
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(list["items"][0]["owner"], "team-cart", "{list}");
    app.shutdown().await;
}

#[tokio::test]
async fn locator_inputs_in_the_request_heal_a_renamed_id_and_an_unreadable_repository_is_reported()
{
    let gone = tempfile::tempdir().unwrap();
    let allowed = gone.path().to_path_buf();
    let app = TestApp::builder()
        .with(move |s| s.healing.git_allowed_local_dirs = vec![allowed])
        .spawn()
        .await;
    let editor = &app.editor.token;
    let stored = upload(
        &app,
        json!({"project": "web", "commit_sha": "c9", "cases": [{
            "classname": "checkout", "name": "pays", "outcome": "failed",
            "message": "NoSuchElementException: no such element: Unable to locate element: {\"method\":\"css selector\",\"selector\":\"#pay-now\"}"}]}),
    )
    .await;
    let failure_id = only_failure(&app, stored["report_id"].as_str().unwrap()).await;
    let heal = format!("/api/v1/healing/failures/{failure_id}/heal");
    let before = r#"<html><body><form id="checkout"><label for="email">E-mail</label><input id="email" name="email">
<div class="actions"><button id="pay-now" class="btn primary">Pay now</button>
<button id="cancel" class="btn">Cancel</button></div></form></body></html>"#;
    let after = before.replace("id=\"pay-now\"", "id=\"pay-button\"");
    let locator = json!({
        "selector": "#pay-now",
        "last_pass_element_html": r#"<button id="pay-now" class="btn primary">Pay now</button>"#,
        "last_pass_page_html": before,
        "page_html": after,
    });
    let (status, invalid) = app
        .post(&heal, Some(editor), &json!({"locator": {"selector": " ", "last_pass_element_html": "", "page_html": ""}, "files": ["../etc/passwd"]}))
        .await;
    assert_eq!(status, 422, "{invalid}");
    let fields: Vec<&str> = invalid["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"locator.selector") && fields.contains(&"files[0]"),
        "{invalid}"
    );

    // A registered repository that cannot be read is reported; the strategies still run.
    let (status, _) = app
        .post(
            "/api/v1/healing/repositories",
            Some(&app.admin.token),
            &json!({"project": "web", "url": gone.path().to_str().unwrap()}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, healed) = app
        .post(&heal, Some(editor), &json!({"locator": locator}))
        .await;
    assert_eq!(status, 201, "{healed}");
    assert!(healed["repository_error"].is_string(), "{healed}");
    let chosen = &healed["chosen"];
    assert_eq!(chosen["strategy"], "locator", "{healed}");
    assert_eq!(chosen["action"], "config_change");
    assert_eq!(
        chosen["config"],
        json!({"locator": {"from": "#pay-now", "to": "#pay-button"}})
    );
    let (status, applied) = app
        .post(
            &format!(
                "/api/v1/healing/healings/{}/apply",
                chosen["id"].as_str().unwrap()
            ),
            Some(editor),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["status"], "applied");
    assert!(
        applied["detail"].as_str().unwrap().contains("#pay-button"),
        "{applied}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_heal_branch_deleted_without_being_merged_becomes_a_false_heal() {
    let (repo, head) = greeting_repo();
    let allowed = repo.path().to_path_buf();
    let app = TestApp::builder()
        .with(move |s| {
            s.healing.git_allowed_local_dirs = vec![allowed];
            s.healing.revert_check_interval =
                maestro::config::HumanDuration(Duration::from_secs(1));
        })
        .spawn()
        .await;
    let editor = &app.editor.token;
    let (status, _) = app
        .post(
            "/api/v1/healing/repositories",
            Some(&app.admin.token),
            &json!({"project": "shop", "url": repo.path().to_str().unwrap()}),
        )
        .await;
    assert_eq!(status, 201);
    let stored = upload(
        &app,
        json!({"project": "shop", "commit_sha": head, "framework": "pytest",
               "cases": [greet_case("failed")]}),
    )
    .await;
    let failure_id = only_failure(&app, stored["report_id"].as_str().unwrap()).await;
    let (_, healed) = app
        .post(
            &format!("/api/v1/healing/failures/{failure_id}/heal"),
            Some(editor),
            &json!({}),
        )
        .await;
    let id = healed["chosen"]["id"].as_str().unwrap().to_string();
    let (status, applied) = app
        .post(
            &format!("/api/v1/healing/healings/{id}/apply"),
            Some(editor),
            &json!({"approve_risk": true}),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let branch = applied["branch"].as_str().unwrap().to_string();
    // The branch is deleted without being merged into main: the heal commit is gone.
    git(repo.path(), &["branch", "-D", &branch]);
    let path = format!("/api/v1/healing/healings/{id}");
    let gone = app
        .eventually("the revert check", Duration::from_secs(20), || {
            let (app, path) = (&app, path.clone());
            async move {
                let (_, h) = app.get(&path, Some(&app.viewer.token)).await;
                (h["status"] == "false_heal").then_some(h)
            }
        })
        .await;
    assert!(
        gone["detail"].as_str().unwrap().contains("deleted"),
        "{gone}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn with_a_registered_repository_only_passes_on_its_default_branch_release_a_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().to_path_buf();
    let app = TestApp::builder()
        .with(move |s| {
            s.healing.git_allowed_local_dirs = vec![allowed];
            s.healing.unquarantine_after = 2;
        })
        .spawn()
        .await;
    let (status, _) = app
        .post(
            "/api/v1/healing/repositories",
            Some(&app.admin.token),
            &json!({"project": "shop", "url": dir.path().to_str().unwrap(), "default_branch": "main"}),
        )
        .await;
    assert_eq!(status, 201);
    let case = |outcome: &str| json!({"classname": "CartTest", "name": "adds", "outcome": outcome});
    let run = |sha: &str, branch: &str, outcome: &str| json!({"project": "shop", "commit_sha": sha, "branch": branch, "cases": [case(outcome)]});
    upload(&app, run("c1", "main", "passed")).await;
    let stored = upload(&app, run("c1", "main", "failed")).await;
    let failure_id = only_failure(&app, stored["report_id"].as_str().unwrap()).await;
    let (_, failure) = app
        .get(
            &format!("/api/v1/healing/failures/{failure_id}"),
            Some(&app.viewer.token),
        )
        .await;
    let test_id = failure["test"]["id"].as_str().unwrap();
    let (status, q) = app
        .post(
            &format!("/api/v1/healing/tests/{test_id}/quarantine"),
            Some(&app.editor.token),
            &json!({"reason": "flaky on c1"}),
        )
        .await;
    assert_eq!(status, 201, "{q}");
    upload(&app, run("f1", "feature", "passed")).await;
    upload(&app, run("f2", "feature", "passed")).await;
    assert_eq!(
        active_quarantine(&app).await,
        1,
        "passes on a feature branch do not count"
    );
    upload(&app, run("c2", "main", "passed")).await;
    assert_eq!(active_quarantine(&app).await, 1);
    upload(&app, run("c3", "main", "passed")).await;
    assert_eq!(active_quarantine(&app).await, 0);
    app.shutdown().await;
}

async fn active_quarantine(app: &TestApp) -> usize {
    let (_, list) = app
        .get(
            "/api/v1/healing/quarantine?project=shop",
            Some(&app.viewer.token),
        )
        .await;
    list["items"].as_array().unwrap().len()
}

/// A repository's password or token is kept only sealed (never in the clear, never shown); a
/// password in the URL is refused with where to put it; secrets an earlier version stored in
/// the clear — in `secret` or in the URL — are sealed at the next start.
#[tokio::test]
async fn repository_secrets_are_stored_sealed_and_clear_ones_are_sealed_at_start() {
    let mut app = TestApp::spawn().await;
    let tenant = app.admin.tenant_id.clone();
    let admin = app.admin.token.clone();
    let (status, body) = app
        .post(
            "/api/v1/healing/repositories",
            Some(&admin),
            &json!({"project": "web", "url": "https://bot:pa55@git.example.com/web.git"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "url", "{body}");
    assert!(!body.to_string().contains("pa55"), "{body}");
    let (status, registered) = app
        .post(
            "/api/v1/healing/repositories",
            Some(&admin),
            &json!({"project": "web", "url": "https://git.example.com/web.git",
                    "username": "bot", "secret": "tok3n"}),
        )
        .await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["has_secret"], true);
    assert!(!registered.to_string().contains("tok3n"), "{registered}");
    let [url, clear, sealed] = stored_repository(&app, &tenant, "web").await;
    assert_eq!(url.as_deref(), Some("https://git.example.com/web.git"));
    assert_eq!(clear, None, "no secret in the clear");
    let sealed = sealed.expect("the secret, sealed");
    assert!(!sealed.contains("tok3n"), "{sealed}");
    assert_eq!(
        app.platform.sealer.open(&tenant, &sealed).as_deref(),
        Ok("tok3n")
    );

    // As an earlier version stored them: a clear secret, and a password in the URL.
    let legacy = format!(
        "INSERT INTO healing_repositories (id, tenant_id, project, url, default_branch, username, secret, created_by, created_at) VALUES \
         ('legacy-1', '{tenant}', 'api', 'https://git.example.com/api.git', 'main', 'bot', 'old-tok3n', 'test', CURRENT_TIMESTAMP), \
         ('legacy-2', '{tenant}', 'cli', 'https://bot:pa55@git.example.com/cli.git', 'main', NULL, NULL, 'test', CURRENT_TIMESTAMP)"
    );
    app.exec_sql(&legacy, &legacy).await;
    app.restart().await;
    for (project, url, secret) in [
        ("api", "https://git.example.com/api.git", "old-tok3n"),
        ("cli", "https://bot@git.example.com/cli.git", "pa55"),
    ] {
        let sealed = app
            .eventually(
                "the clear secret sealed at start",
                Duration::from_secs(20),
                || async {
                    match stored_repository(&app, &tenant, project).await {
                        [Some(u), None, Some(sealed)] if u == url => Some(sealed),
                        _ => None,
                    }
                },
            )
            .await;
        assert_eq!(
            app.platform.sealer.open(&tenant, &sealed).as_deref(),
            Ok(secret)
        );
    }
    let (_, repos) = app
        .get("/api/v1/healing/repositories", Some(&app.viewer.token))
        .await;
    assert_eq!(repos["total"], 3, "{repos}");
    for repo in repos["items"].as_array().unwrap() {
        assert_eq!(repo["has_secret"], true, "{repo}");
    }
    assert!(!repos.to_string().contains("pa55") && !repos.to_string().contains("tok3n"));
    app.shutdown().await;
}

/// A repository row as stored: `[url, secret, secret_sealed]`.
async fn stored_repository(app: &TestApp, tenant: &str, project: &str) -> [Option<String>; 3] {
    let rows = app
        .select_texts(&format!(
            "SELECT url AS a, secret AS b, secret_sealed AS c FROM healing_repositories \
             WHERE tenant_id = '{tenant}' AND project = '{project}'"
        ))
        .await;
    rows.into_iter().next().expect("the repository row")
}

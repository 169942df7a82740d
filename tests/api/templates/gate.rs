//! The publish gate contract: a registered gate sees every create/update/restore; its refusal
//! reaches the caller as-is and nothing is written; admins can force with a reason.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::json;

use super::{git_log, put_with_etag, sample, total};
use crate::helpers::{TestApp, send};
use maestro::modules::templates::{GateVerdict, PublishCandidate, PublishGate};
use maestro::platform::http::error::{ApiError, ApiResult, FieldError};

/// What the gate saw: name, previous commit, force reason, file count.
type Seen = (String, Option<String>, Option<String>, usize);

/// Refuses templates whose description mentions TODO, unless forced.
#[derive(Default)]
struct TodoGate {
    seen: Mutex<Vec<Seen>>,
}

impl PublishGate for TodoGate {
    fn check(&self, candidate: &PublishCandidate) -> BoxFuture<'_, ApiResult<GateVerdict>> {
        self.seen.lock().unwrap().push((
            candidate.name.clone(),
            candidate.previous_commit.clone(),
            candidate.force.as_ref().map(|f| f.reason.clone()),
            candidate.files.len(),
        ));
        let todo = candidate.manifest["description"]
            .as_str()
            .unwrap_or_default()
            .contains("TODO");
        let verdict = if todo && candidate.force.is_none() {
            GateVerdict::Refuse(
                ApiError::unprocessable(
                    "quality.gate_failed",
                    "The template scores 40; 70 is needed.",
                )
                .with_errors(vec![FieldError::new(
                    "README.md",
                    "documentation is missing",
                )]),
            )
        } else {
            GateVerdict::Allow {
                note: Some(json!({"score": if todo { 40 } else { 88 }})),
            }
        };
        Box::pin(async move { Ok(verdict) })
    }
}

#[tokio::test]
async fn the_gate_can_refuse_and_admins_can_force() {
    let app = TestApp::spawn().await;
    let gate = Arc::new(TodoGate::default());
    app.platform
        .services
        .insert::<Arc<dyn PublishGate>>(gate.clone());
    let tenant = app.editor.tenant_id.clone();

    let mut todo = sample("gated");
    todo["manifest"]["description"] = json!("TODO: describe");
    let (status, problem) = app
        .post("/api/v1/templates", Some(&app.editor.token), &todo)
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "quality.gate_failed");
    assert_eq!(problem["errors"][0]["field"], "README.md");
    assert!(git_log(&app, &tenant).is_empty());
    assert_eq!(total(&app, &app.viewer.token).await, 0);

    let (status, created) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &sample("gated"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["gate"]["score"], 88);
    let id = created["id"].as_str().unwrap().to_string();
    let etag = created["current_commit"].as_str().unwrap().to_string();

    // Refused update: nothing changes.
    let (status, _) = put_with_etag(&app, &app.editor.token, &id, &etag, &todo).await;
    assert_eq!(status, 422);
    assert_eq!(git_log(&app, &tenant).len(), 1);

    // Only admins may force, and they must say why.
    let mut forced = todo.clone();
    forced["force"] = json!({"reason": "release blocker, docs follow"});
    let (status, _) = put_with_etag(&app, &app.editor.token, &id, &etag, &forced).await;
    assert_eq!(status, 403);
    let mut no_reason = todo.clone();
    no_reason["force"] = json!({"reason": " "});
    let (status, _) = put_with_etag(&app, &app.admin.token, &id, &etag, &no_reason).await;
    assert_eq!(status, 422);
    let (status, body) = put_with_etag(&app, &app.admin.token, &id, &etag, &forced).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["gate"]["score"], 40);
    let etag2 = body["current_commit"].as_str().unwrap().to_string();
    let message = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(super::repo_path(&app, &tenant))
        .args(["log", "-1", "--format=%B", "main"])
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&message.stdout).to_string();
    assert!(
        message.contains(
            "Forced-By: admin@acme.test (publish gate overridden: release blocker, docs follow)"
        ),
        "{message}"
    );

    // The query-string form works for admins too.
    let mut todo2 = todo.clone();
    todo2["manifest"]["version"] = json!("1.0.1");
    let (status, body) = send(
        app.request(
            reqwest::Method::PUT,
            &format!("/api/v1/templates/{id}?force=true&reason=hotfix"),
            Some(&app.admin.token),
        )
        .header("If-Match", format!("\"{etag2}\""))
        .json(&todo2),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Restores go through the gate as well: restoring the TODO version unforced is refused.
    let (status, _) = app
        .post(
            &format!("/api/v1/templates/{id}/restore"),
            Some(&app.editor.token),
            &json!({"commit": etag2}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .post(
            &format!("/api/v1/templates/{id}/restore"),
            Some(&app.editor.token),
            &json!({"commit": etag}),
        )
        .await;
    assert_eq!(status, 200);

    let seen = gate.seen.lock().unwrap().clone();
    assert_eq!(seen[0], ("gated".to_string(), None, None, 6));
    assert!(seen.iter().any(|s| s.1.as_deref() == Some(etag.as_str())
        && s.2.as_deref() == Some("release blocker, docs follow")));
    assert!(seen.iter().any(|s| s.2.as_deref() == Some("hotfix")));
    app.shutdown().await;
}

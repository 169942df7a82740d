//! The Redis Streams edge of the healing module (seed 002). Inbound
//! `automation:errors` (group `maestro-automation-workers`): one test failure per message —
//! `tenant_id`, `user_id` (an editor or admin of that tenant, by id), `project`, `test_name`,
//! and optionally `classname`, `suite`, `file`, `framework`, `commit_sha`, `branch`,
//! `ci_run_id`, `outcome` (`failed` (default) or `error`), `message`, `type`, `stack_trace`,
//! `duration_ms`, `request_id`. The failure is stored like a one-case JSON report, every
//! strategy runs on it, and the proposals go out on `automation:healings` (fields: `tenant_id`,
//! `project`, `request_id`, `healing_id`, `failure_id`, `test_id`, `strategy`, `action`,
//! `confidence`, `risk`, `status`, `chosen`, `proposal` as JSON). A message that cannot be
//! used is answered on `automation:results` with `outcome=error` and the problem as JSON.
//! Outcomes of heals (applied, rejected, verified, false_heal) go out on `automation:results`.

use std::sync::Arc;

use super::junit::{Framework, Outcome};
use super::model::{HealRequest, JsonCase};
use super::service::{HealingService, RESULTS_STREAM, Upload};
use crate::platform::auth::{AuthService, Role, TenantId};
use crate::platform::edge::{StreamHandler, StreamMessage};
use crate::platform::http::error::{ApiError, FieldError};

pub const ERRORS: &str = "automation:errors";
pub const GROUP: &str = "maestro-automation-workers";

pub fn handler(service: HealingService, auth: AuthService) -> StreamHandler {
    StreamHandler {
        stream: ERRORS,
        group: GROUP,
        handler: Arc::new(move |message| {
            let (service, auth) = (service.clone(), auth.clone());
            Box::pin(async move { handle(service, auth, message).await })
        }),
    }
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(
        "The failure event is malformed.",
        vec![FieldError::new(field, message)],
    )
}

fn text(message: &StreamMessage, name: &str) -> Option<String> {
    message
        .field(name)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

async fn handle(
    service: HealingService,
    auth: AuthService,
    message: StreamMessage,
) -> anyhow::Result<()> {
    let request_id = text(&message, "request_id").unwrap_or_else(|| message.id.clone());
    match process(&service, &auth, &message).await {
        Ok(()) => Ok(()),
        // Transient (database unavailable): the edge redelivers.
        Err(e) if e.status.is_server_error() => Err(anyhow::anyhow!("{e:?}")),
        Err(e) => {
            service
                .publish_event(
                    RESULTS_STREAM,
                    &[
                        ("request_id", request_id),
                        ("tenant_id", text(&message, "tenant_id").unwrap_or_default()),
                        ("outcome", "error".to_string()),
                        (
                            "error",
                            serde_json::to_string(&e.to_problem())
                                .unwrap_or_else(|_| e.detail.clone()),
                        ),
                    ],
                )
                .await;
            Ok(())
        }
    }
}

async fn process(
    service: &HealingService,
    auth: &AuthService,
    message: &StreamMessage,
) -> Result<(), ApiError> {
    let tenant = TenantId(text(message, "tenant_id").unwrap_or_default());
    let user_id = text(message, "user_id").unwrap_or_default();
    let unknown = || {
        ApiError::forbidden(
            "tenant_id and user_id must name a tenant and one of its editors or admins (by id).",
        )
    };
    if tenant.0.is_empty() || user_id.is_empty() {
        return Err(unknown());
    }
    let user = auth.get_user(&tenant, &user_id).await.map_err(|e| {
        if e.status.is_server_error() {
            e
        } else {
            unknown()
        }
    })?;
    if user.role < Role::Editor {
        return Err(unknown());
    }
    let name = text(message, "test_name").ok_or_else(|| bad("test_name", "is required"))?;
    let outcome = match text(message, "outcome").as_deref() {
        None | Some("failed") => Outcome::Failed,
        Some("error") => Outcome::Error,
        Some(other) => {
            return Err(bad(
                "outcome",
                format!("{other:?} is not a failure; use failed or error"),
            ));
        }
    };
    let framework = match text(message, "framework") {
        None => None,
        Some(raw) => Some(
            serde_json::from_value::<Framework>(serde_json::Value::String(raw.clone()))
                .map_err(|_| bad("framework", format!("{raw:?} is not a known framework")))?,
        ),
    };
    let duration_ms = match text(message, "duration_ms") {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|d| *d >= 0)
                .ok_or_else(|| bad("duration_ms", "a whole number of milliseconds"))?,
        ),
    };
    let upload = Upload {
        project: text(message, "project").unwrap_or_default(),
        commit_sha: text(message, "commit_sha"),
        branch: text(message, "branch"),
        ci_run_id: text(message, "ci_run_id"),
        attempt: None,
        framework,
        source: "stream".into(),
        files: Vec::new(),
        cases: vec![JsonCase {
            suite: text(message, "suite").unwrap_or_default(),
            classname: text(message, "classname").unwrap_or_default(),
            name,
            file: text(message, "file"),
            outcome,
            duration_ms,
            attempts: None,
            message: text(message, "message"),
            failure_type: text(message, "type"),
            body: text(message, "stack_trace").or_else(|| text(message, "body")),
            system_out: None,
            system_err: None,
        }],
    };
    let stored = service.ingest(&tenant, upload).await?;
    let actor = user.email.clone();
    for failure_id in service
        .failure_ids_of_report(&tenant, &stored.report_id)
        .await?
    {
        service
            .heal(&tenant, &actor, &failure_id, HealRequest::default())
            .await?;
    }
    Ok(())
}

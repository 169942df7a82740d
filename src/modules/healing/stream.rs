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

use super::junit::{Framework, Outcome};
use super::model::{HealRequest, JsonCase};
use super::service::{HealingService, RESULTS_STREAM, Upload};
use crate::platform::auth::AuthService;
use crate::platform::edge::{StreamHandler, StreamMessage, malformed, problem_text, stream_actor};
use crate::platform::http::error::ApiError;

pub const ERRORS: &str = "automation:errors";
pub const GROUP: &str = "maestro-automation-workers";

pub fn handler(service: HealingService, auth: AuthService) -> StreamHandler {
    StreamHandler::new(
        ERRORS,
        GROUP,
        (service, auth),
        |(service, auth), message| handle(service, auth, message),
    )
}

async fn handle(
    service: HealingService,
    auth: AuthService,
    message: StreamMessage,
) -> anyhow::Result<()> {
    let request_id = message.request_id();
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
                        (
                            "tenant_id",
                            message.text("tenant_id").unwrap_or_default().to_string(),
                        ),
                        ("outcome", "error".to_string()),
                        ("error", problem_text(&e)),
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
    let actor = stream_actor(auth, message).await?;
    let tenant = actor.tenant_id.clone();
    let text = |name: &str| message.text(name).map(str::to_string);
    let name = text("test_name").ok_or_else(|| malformed("test_name", "is required"))?;
    let outcome = match text("outcome").as_deref() {
        None | Some("failed") => Outcome::Failed,
        Some("error") => Outcome::Error,
        Some(other) => {
            return Err(malformed(
                "outcome",
                format!("{other:?} is not a failure; use failed or error"),
            ));
        }
    };
    let framework = match text("framework") {
        None => None,
        Some(raw) => Some(
            serde_json::from_value::<Framework>(serde_json::Value::String(raw.clone()))
                .map_err(|_| malformed("framework", format!("{raw:?} is not a known framework")))?,
        ),
    };
    let duration_ms = match text("duration_ms") {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|d| *d >= 0)
                .ok_or_else(|| malformed("duration_ms", "a whole number of milliseconds"))?,
        ),
    };
    // The message id goes into the report's source: a redelivered event (its first handling
    // failed after storing) finds its report and only heals what is not healed yet.
    let source = format!("stream:{}", message.id);
    let report_id = match service.report_from_source(&tenant, &source).await? {
        Some(id) => id,
        None => {
            let upload = Upload {
                project: text("project").unwrap_or_default(),
                commit_sha: text("commit_sha"),
                branch: text("branch"),
                ci_run_id: text("ci_run_id"),
                attempt: None,
                framework,
                source,
                files: Vec::new(),
                cases: vec![JsonCase {
                    suite: text("suite").unwrap_or_default(),
                    classname: text("classname").unwrap_or_default(),
                    name,
                    file: text("file"),
                    outcome,
                    duration_ms,
                    attempts: None,
                    message: text("message"),
                    failure_type: text("type"),
                    body: text("stack_trace").or_else(|| text("body")),
                    system_out: None,
                    system_err: None,
                }],
            };
            service.ingest(&tenant, upload).await?.report_id
        }
    };
    let actor = actor.display_name();
    for failure_id in service.failure_ids_of_report(&tenant, &report_id).await? {
        if !service
            .latest_proposals(&tenant, &failure_id)
            .await?
            .is_empty()
        {
            continue;
        }
        service
            .heal(&tenant, &actor, &failure_id, HealRequest::default())
            .await?;
    }
    Ok(())
}

//! The Redis Streams edge of the k8s module (seed 002). Inbound `k8s:jobs` (group
//! `maestro-k8s-workers`): `request_id`, `tenant_id`, `user_id` (an editor or admin of that
//! tenant), `environment` (an environment request as JSON; its `id` makes a redelivery
//! idempotent) and optionally `job` (a job request as JSON) — handled by the same service calls
//! as HTTP, answered on `k8s:status`. Outbound: `k8s:status` on every phase change,
//! `k8s:results` when a job ends.

use super::model::{EnvironmentRequest, JobRequest};
use super::service::K8sService;
use crate::platform::auth::AuthService;
use crate::platform::edge::{StreamHandler, StreamMessage, malformed, problem_text, stream_actor};
use crate::platform::http::error::ApiError;

pub const JOBS: &str = "k8s:jobs";
pub const STATUS: &str = "k8s:status";
pub const RESULTS: &str = "k8s:results";
pub const GROUP: &str = "maestro-k8s-workers";

pub fn handler(service: K8sService, auth: AuthService) -> StreamHandler {
    StreamHandler::new(JOBS, GROUP, (service, auth), |(service, auth), message| {
        handle(service, auth, message)
    })
}

async fn handle(
    service: K8sService,
    auth: AuthService,
    message: StreamMessage,
) -> anyhow::Result<()> {
    let request_id = message.request_id();
    let outcome = process(&service, &auth, &message).await;
    let fields = match outcome {
        Ok((environment_id, job_id)) => vec![
            ("request_id", request_id),
            ("status", "accepted".to_string()),
            ("environment_id", environment_id),
            ("job_id", job_id.unwrap_or_default()),
            ("error", String::new()),
        ],
        // Transient (database or cluster unavailable): the edge redelivers.
        Err(e) if e.status.is_server_error() => return Err(anyhow::anyhow!("{e:?}")),
        Err(e) => vec![
            ("request_id", request_id),
            ("status", "error".to_string()),
            ("environment_id", String::new()),
            ("job_id", String::new()),
            ("error", problem_text(&e)),
        ],
    };
    service.publish(STATUS, fields);
    Ok(())
}

async fn process(
    service: &K8sService,
    auth: &AuthService,
    message: &StreamMessage,
) -> Result<(String, Option<String>), ApiError> {
    let principal = stream_actor(auth, message).await?;
    let environment: EnvironmentRequest = message
        .json("environment")?
        .ok_or_else(|| malformed("environment", "is required"))?;
    let job: Option<JobRequest> = message.json("job")?;
    let created = service.create(&principal, environment, None).await?;
    let job_id = match job {
        None => None,
        Some(job) => Some(
            service
                .create_job(&principal, &created.view.id, job)
                .await?
                .0
                .id,
        ),
    };
    Ok((created.view.id, job_id))
}

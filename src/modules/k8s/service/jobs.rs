//! Test Jobs: create once (idempotent on the client id; a retried create that finds its own Job
//! is fine), follow to the end by **watch** (kube's watcher re-lists after a 410), report
//! `blocked` with the reason while quota, Pod Security, scheduling or the image keep the pod
//! from starting, then store the log (bounded, its end kept) and hand the JUnit results to the
//! healing module when it is on — all before anything is deleted. Runners of unfinished jobs
//! resume after a restart.

use std::collections::BTreeMap;
use std::pin::Pin;

use chrono::Utc;
use futures::{AsyncBufReadExt, Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{ListParams, LogParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

use super::super::error::K8sError;
use super::super::manifests::{self, JOB_CONTAINER, JOB_ID, Plan};
use super::super::model::{JobRequest, JobResults, JobStatus, JobView};
use super::super::store::{self, EnvironmentRow, JobRow};
use super::{K8sService, api_call, not_found};
use super::{status, validate};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::{ApiError, ApiResult};
use crate::platform::http::pagination::{Page, PageQuery};
use crate::platform::test_results::{JunitUpload, TestResults};

enum Check {
    Gone,
    Status(JobStatus, Option<String>),
}

/// A job's log: stored, or followed live from its pod.
pub enum JobLog {
    Stored(String),
    Live(Pin<Box<dyn Stream<Item = Result<String, std::io::Error>> + Send>>),
}

/// How a job ended, read from its conditions (the 1.31+ precursors count: the pods are done).
fn outcome(job: &Job) -> Option<(JobStatus, Option<String>)> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    for c in conditions.iter().filter(|c| c.status == "True") {
        let why = || {
            Some(
                format!(
                    "{}: {}",
                    c.reason.as_deref().unwrap_or(&c.type_),
                    c.message.as_deref().unwrap_or_default()
                )
                .trim_end_matches([':', ' '])
                .to_string(),
            )
        };
        match c.type_.as_str() {
            "Complete" | "SuccessCriteriaMet" => return Some((JobStatus::Succeeded, None)),
            "Failed" | "FailureTarget" => return Some((JobStatus::Failed, why())),
            _ => {}
        }
    }
    None
}

/// Why a job cannot start, if it cannot: a refused pod create (quota, Pod Security), an
/// unschedulable pod, or a pod stuck on its image or configuration.
fn blocked_reason(pods: &[Pod], events: &[Event]) -> Option<String> {
    for pod in pods {
        let Some(status) = &pod.status else { continue };
        if let Some(cond) = status::unschedulable(status) {
            return Some(format!(
                "Unschedulable: {}",
                cond.message.as_deref().unwrap_or_default()
            ));
        }
        for c in status.container_statuses.iter().flatten() {
            if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref())
                && let Some(reason) = w.reason.as_deref()
                && matches!(
                    reason,
                    "ErrImagePull"
                        | "ImagePullBackOff"
                        | "InvalidImageName"
                        | "CreateContainerConfigError"
                        | "CreateContainerError"
                )
            {
                return Some(format!(
                    "{reason}: {}",
                    w.message.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    if !pods.is_empty() {
        return None;
    }
    let refused = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
        .max_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0))?;
    let message = refused.message.as_deref().unwrap_or_default();
    Some(format!("{}: {message}", status::refusal_kind(message)))
}

fn job_name(id: &str) -> String {
    format!("test-{}", &id.replace('-', "")[..12])
}

impl K8sService {
    pub async fn create_job(
        &self,
        caller: &Principal,
        environment_id: &str,
        req: JobRequest,
    ) -> ApiResult<(JobView, bool)> {
        let deadline = validate::check_job(&req, &self.settings).map_err(K8sError::InvalidSpec)?;
        let tenant = caller.tenant_id.clone();
        let env = self.load(&tenant, environment_id).await?;
        if env.deleted_at.is_some() {
            return Err(K8sError::Deleted(env.id).into());
        }
        let client = self.cluster.client().await?;
        let id = req.id.unwrap_or_else(uuid::Uuid::new_v4).to_string();
        let mut spec = req.clone();
        spec.id = uuid::Uuid::parse_str(&id).ok();
        let spec_json = serde_json::to_string(&spec).map_err(ApiError::internal)?;
        let now = Utc::now().naive_utc();
        let row = JobRow {
            tenant_id: tenant.0.clone(),
            id: id.clone(),
            environment_id: env.id.clone(),
            name: job_name(&id),
            spec: spec_json.clone(),
            status: JobStatus::Pending.as_str().into(),
            reason: None,
            exit_code: None,
            results: None,
            log: None,
            log_truncated: false,
            created_at: now,
            updated_at: now,
            finished_at: None,
        };
        let (row, created) = {
            let row = row.clone();
            let tenant = tenant.clone();
            self.db
                .run(move |conn| -> ApiResult<(JobRow, bool)> {
                    if let Some(existing) =
                        store::get_job(conn, &tenant, &row.environment_id, &row.id)?
                    {
                        return Ok((existing, false));
                    }
                    if store::insert_job(conn, &row)? {
                        return Ok((row, true));
                    }
                    store::get_job(conn, &tenant, &row.environment_id, &row.id)?
                        .map(|r| (r, false))
                        .ok_or_else(|| K8sError::IdConflict(row.id.clone()).into())
                })
                .await?
        };
        if !created && row.spec != spec_json {
            return Err(K8sError::IdConflict(id).into());
        }
        if row.finished_at.is_none() {
            self.submit_job(&client, &env, &row, &spec, deadline)
                .await?;
            self.spawn_runner(row.clone());
        }
        let row = self.load_job(&tenant, &env.id, &row.id).await?;
        Ok((job_view(&row)?, created))
    }

    /// Creates the Job; one that already exists is fine when it is this job's.
    async fn submit_job(
        &self,
        client: &kube::Client,
        env: &EnvironmentRow,
        row: &JobRow,
        spec: &JobRequest,
        deadline: i64,
    ) -> ApiResult<()> {
        let env_spec = serde_json::from_str(&env.spec).map_err(ApiError::internal)?;
        let credentials = BTreeMap::new();
        let plan = Plan {
            environment_id: &env.id,
            namespace: &env.namespace,
            tenant: &env.tenant_id,
            owner: &env.owner_id,
            expires_at: env.expires_at.and_utc(),
            spec: &env_spec,
            credentials: &credentials,
            settings: &self.settings,
        };
        let job = manifests::job(&plan, &row.id, &row.name, spec, deadline);
        let jobs: Api<Job> = Api::namespaced(client.clone(), &env.namespace);
        let timeout = self.settings.api_timeout();
        match api_call(timeout, jobs.create(&PostParams::default(), &job)).await? {
            Ok(_) => Ok(()),
            Err(s) if s.code == 409 => {
                let existing = api_call(timeout, jobs.get(&row.name))
                    .await?
                    .map_err(|s| K8sError::Cluster(s.message))?;
                let ours = existing
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(JOB_ID))
                    .is_some_and(|v| *v == row.id);
                if ours {
                    Ok(())
                } else {
                    Err(K8sError::Cluster(format!(
                        "a Job named {} exists and is not this job",
                        row.name
                    ))
                    .into())
                }
            }
            // The create itself refused by quota admission: the job is blocked, not failed.
            Err(s) if s.code == 403 && s.message.contains("quota") => {
                self.set_status(
                    row,
                    JobStatus::Blocked,
                    Some(&format!("QuotaExceeded: {}", s.message)),
                )
                .await;
                Err(K8sError::Cluster(s.message).into())
            }
            Err(s) => Err(K8sError::Cluster(s.message).into()),
        }
    }

    pub async fn get_job(
        &self,
        tenant: &TenantId,
        environment_id: &str,
        job_id: &str,
    ) -> ApiResult<JobView> {
        job_view(&self.load_job(tenant, environment_id, job_id).await?)
    }

    /// An environment's jobs, newest first (404 when the environment is not the tenant's).
    pub async fn list_jobs(
        &self,
        tenant: &TenantId,
        environment_id: &str,
        page: PageQuery,
    ) -> ApiResult<Page<JobView>> {
        self.load(tenant, environment_id).await?;
        let (tenant, env) = (tenant.clone(), environment_id.to_string());
        self.db
            .try_page(
                &page,
                move |conn, limit, offset| {
                    Ok(store::list_jobs(conn, &tenant, &env, limit, offset)?)
                },
                |row| job_view(&row),
            )
            .await
    }

    /// The stored log of a finished job; else the pod's log now, or followed until it ends.
    pub async fn job_log(
        &self,
        tenant: &TenantId,
        environment_id: &str,
        job_id: &str,
        follow: bool,
    ) -> ApiResult<JobLog> {
        let row = self.load_job(tenant, environment_id, job_id).await?;
        if let Some(log) = row.log {
            return Ok(JobLog::Stored(log));
        }
        let env = self.load(tenant, environment_id).await?;
        let client = self.cluster.client().await?;
        let timeout = self.settings.api_timeout();
        let pods: Api<Pod> = Api::namespaced(client, &env.namespace);
        let Some(pod) = self.newest_pod(&pods, &row.name).await? else {
            return Err(K8sError::JobNotStarted("the job has no pod yet".into()).into());
        };
        let params = LogParams {
            container: Some(JOB_CONTAINER.into()),
            follow,
            ..Default::default()
        };
        if !follow {
            let text = api_call(timeout, pods.logs(&pod, &params))
                .await?
                .map_err(|s| K8sError::JobNotStarted(s.message))?;
            return Ok(JobLog::Stored(text));
        }
        let reader = api_call(timeout, pods.log_stream(&pod, &params))
            .await?
            .map_err(|s| K8sError::JobNotStarted(s.message))?;
        let lines = reader.lines().map_ok(|line| format!("{line}\n"));
        Ok(JobLog::Live(Box::pin(lines)))
    }

    async fn newest_pod(&self, pods: &Api<Pod>, job: &str) -> Result<Option<String>, K8sError> {
        let list = api_call(
            self.settings.api_timeout(),
            pods.list(
                &ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")),
            ),
        )
        .await?
        .map_err(|s| K8sError::Cluster(s.message))?;
        Ok(list
            .items
            .into_iter()
            .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .and_then(|p| p.metadata.name))
    }

    async fn load_job(
        &self,
        tenant: &TenantId,
        environment_id: &str,
        id: &str,
    ) -> ApiResult<JobRow> {
        let (tenant, env, id) = (tenant.clone(), environment_id.to_string(), id.to_string());
        self.db
            .run(move |conn| -> ApiResult<_> {
                store::get_job(conn, &tenant, &env, &id)?
                    .ok_or_else(|| K8sError::JobNotFound.into())
            })
            .await
    }

    async fn set_status(&self, row: &JobRow, status: JobStatus, reason: Option<&str>) {
        let (tenant, id) = (row.tenant_id.clone(), row.id.clone());
        let reason = reason.map(str::to_string);
        let now = Utc::now().naive_utc();
        let r: ApiResult<usize> = self
            .db
            .run(move |conn| {
                Ok(store::set_job_status(
                    conn,
                    &tenant,
                    &id,
                    status.as_str(),
                    reason.as_deref(),
                    now,
                )?)
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(job = %row.id, error = ?e, "could not record a job status");
        }
    }

    /// Follows one job in the background until it ends.
    pub(super) fn spawn_runner(&self, row: JobRow) {
        let service = self.clone();
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = service.follow(row.clone(), cancel).await {
                tracing::warn!(job = %row.id, error = ?e, "following a job stopped; it resumes at the next start");
            }
        });
    }

    /// Resumes the runners of unfinished jobs (at start).
    pub async fn resume_jobs(&self) -> ApiResult<usize> {
        let rows = self
            .db
            .run(|conn| -> ApiResult<_> { Ok(store::open_jobs(conn)?) })
            .await?;
        let n = rows.len();
        for row in rows {
            self.spawn_runner(row);
        }
        Ok(n)
    }

    async fn follow(&self, row: JobRow, cancel: CancellationToken) -> ApiResult<()> {
        let env = self
            .load(&TenantId(row.tenant_id.clone()), &row.environment_id)
            .await?;
        let client = self.cluster.client().await?;
        let jobs: Api<Job> = Api::namespaced(client.clone(), &env.namespace);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &env.namespace);
        let events: Api<Event> = Api::namespaced(client, &env.namespace);
        let mut watch = watcher(
            jobs.clone(),
            watcher::Config::default().fields(&format!("metadata.name={}", row.name)),
        )
        .default_backoff()
        .applied_objects()
        .boxed();
        let mut tick = tokio::time::interval(self.settings.job_poll_interval());
        let mut last: Option<(JobStatus, Option<String>)> = None;
        loop {
            let observed = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                item = watch.next() => match item {
                    Some(Ok(job)) => match outcome(&job) {
                        Some((status, reason)) => {
                            return self.finish(&row, &pods, status, reason).await;
                        }
                        None => None,
                    },
                    Some(Err(e)) => {
                        tracing::debug!(job = %row.id, error = %e, "job watch interrupted; resuming");
                        None
                    }
                    None => return Ok(()),
                },
                _ = tick.tick() => match self.check_job(&jobs, &pods, &events, &row.name).await {
                    Ok(Check::Gone) => {
                        // Deleted with its namespace: end with what is known.
                        return self
                            .finish(&row, &pods, JobStatus::Failed, Some("the Job was deleted before it finished".into()))
                            .await;
                    }
                    Ok(Check::Status(status, reason)) => Some((status, reason)),
                    Err(e) => {
                        tracing::debug!(job = %row.id, error = %e, "checking a job failed; retrying");
                        None
                    }
                },
            };
            if let Some(now) = observed
                && last.as_ref() != Some(&now)
            {
                self.set_status(&row, now.0, now.1.as_deref()).await;
                last = Some(now);
            }
        }
    }

    /// What blocks the job now (or that it is gone).
    async fn check_job(
        &self,
        jobs: &Api<Job>,
        pods: &Api<Pod>,
        events: &Api<Event>,
        name: &str,
    ) -> Result<Check, K8sError> {
        let timeout = self.settings.api_timeout();
        if let Err(s) = api_call(timeout, jobs.get(name)).await?
            && not_found(&s)
        {
            return Ok(Check::Gone);
        }
        let selector = format!("batch.kubernetes.io/job-name={name}");
        let p = api_call(timeout, pods.list(&ListParams::default().labels(&selector)))
            .await?
            .map(|l| l.items)
            .unwrap_or_default();
        let fields = format!("involvedObject.name={name}");
        let e = api_call(timeout, events.list(&ListParams::default().fields(&fields)))
            .await?
            .map(|l| l.items)
            .unwrap_or_default();
        let running = p
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        Ok(match blocked_reason(&p, &e) {
            Some(reason) => Check::Status(JobStatus::Blocked, Some(reason)),
            None if running || !p.is_empty() => Check::Status(JobStatus::Running, None),
            None => Check::Status(JobStatus::Pending, None),
        })
    }

    /// Stores the log and results and records the end: the log first, so it survives whatever
    /// deletes the pod next.
    async fn finish(
        &self,
        row: &JobRow,
        pods: &Api<Pod>,
        status: JobStatus,
        reason: Option<String>,
    ) -> ApiResult<()> {
        let (log, exit_code) = self.collect_log(pods, &row.name).await;
        let xml = self.store_log(row, &log.unwrap_or_default()).await?;
        let results = match xml {
            None => None,
            Some(xml) => Some(self.hand_to_healing(row, xml).await),
        };
        let results_json = results
            .as_ref()
            .map(|r| serde_json::to_string(r).unwrap_or_default());
        self.publish(
            super::super::stream::RESULTS,
            vec![
                ("tenant_id", row.tenant_id.clone()),
                ("environment_id", row.environment_id.clone()),
                ("job_id", row.id.clone()),
                ("status", status.as_str().to_string()),
                (
                    "exit_code",
                    exit_code.map(|c| c.to_string()).unwrap_or_default(),
                ),
                ("reason", reason.clone().unwrap_or_default()),
                (
                    "results",
                    results_json.clone().unwrap_or_else(|| "null".into()),
                ),
                ("timestamp", Utc::now().to_rfc3339()),
            ],
        );
        let (tenant, id) = (row.tenant_id.clone(), row.id.clone());
        let now = Utc::now().naive_utc();
        self.db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::finish_job(
                    conn,
                    &tenant,
                    &id,
                    status.as_str(),
                    reason.as_deref(),
                    exit_code,
                    results_json.as_deref(),
                    now,
                )?)
            })
            .await?;
        Ok(())
    }

    /// The log of the job's pods (all attempts, oldest first) and the last exit code.
    async fn collect_log(&self, pods: &Api<Pod>, job: &str) -> (Option<String>, Option<i64>) {
        let timeout = self.settings.api_timeout();
        let selector = format!("batch.kubernetes.io/job-name={job}");
        let Ok(Ok(list)) =
            api_call(timeout, pods.list(&ListParams::default().labels(&selector))).await
        else {
            return (None, None);
        };
        let mut items = list.items;
        items.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let several = items.len() > 1;
        let mut log = String::new();
        let mut exit_code = None;
        for pod in &items {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if let Some(code) = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.name == JOB_CONTAINER))
                .and_then(|c| c.state.as_ref()?.terminated.as_ref())
                .map(|t| i64::from(t.exit_code))
            {
                exit_code = Some(code);
            }
            let params = LogParams {
                container: Some(JOB_CONTAINER.into()),
                ..Default::default()
            };
            if let Ok(Ok(text)) = api_call(timeout, pods.logs(&name, &params)).await {
                if several {
                    log.push_str(&format!("==> pod {name} <==\n"));
                }
                log.push_str(&text);
            }
        }
        (Some(log), exit_code)
    }

    async fn hand_to_healing(&self, row: &JobRow, xml: Vec<u8>) -> JobResults {
        let bytes = xml.len();
        let Some(TestResults(sink)) = self.services.get::<TestResults>() else {
            return JobResults {
                bytes,
                healing: "healing_off".into(),
                report_id: None,
                tests: None,
                failures: None,
            };
        };
        let spec: Option<JobRequest> = serde_json::from_str(&row.spec).ok();
        let upload = JunitUpload {
            tenant: TenantId(row.tenant_id.clone()),
            project: spec
                .and_then(|s| s.project)
                .unwrap_or_else(|| "default".into()),
            commit_sha: None,
            branch: None,
            ci_run_id: Some(format!("{}/{}", row.environment_id, row.id)),
            attempt: 1,
            source: "k8s",
            files: vec![(format!("{}.xml", row.name), xml)],
        };
        match sink.ingest(upload).await {
            Ok(ingested) => JobResults {
                bytes,
                healing: "ingested".into(),
                report_id: Some(ingested.report_id),
                tests: Some(ingested.tests),
                failures: Some(ingested.failures),
            },
            Err(e) => JobResults {
                bytes,
                healing: format!("rejected: {}", e.detail),
                report_id: None,
                tests: None,
                failures: None,
            },
        }
    }

    /// Before an environment's namespace is deleted: store the logs of its jobs that have none.
    pub(crate) async fn keep_logs(&self, env: &EnvironmentRow) -> ApiResult<()> {
        let (tenant, env_id) = (TenantId(env.tenant_id.clone()), env.id.clone());
        let rows = self
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::jobs_without_log(conn, &tenant, &env_id)?)
            })
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let client = self.cluster.client().await?;
        let pods: Api<Pod> = Api::namespaced(client, &env.namespace);
        for row in rows {
            let (log, _) = self.collect_log(&pods, &row.name).await;
            let Some(log) = log else { continue };
            self.store_log(&row, &log).await?;
        }
        Ok(())
    }

    /// Stores a job's log without its results block, bounded to `k8s.max_log_bytes` (the tail
    /// kept), unless one is stored already; gives back the results (JUnit XML) it carried.
    async fn store_log(&self, row: &JobRow, log: &str) -> ApiResult<Option<Vec<u8>>> {
        let (log, xml) = manifests::split_results(log);
        let (log, truncated) = bounded(log, self.settings.max_log_bytes);
        let (tenant, id) = (row.tenant_id.clone(), row.id.clone());
        self.db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::store_log(conn, &tenant, &id, &log, truncated)?)
            })
            .await?;
        Ok(xml)
    }
}

/// Keeps the last `max` bytes of `log` (on a character boundary); true when something was cut.
fn bounded(log: String, max: usize) -> (String, bool) {
    if log.len() <= max {
        return (log, false);
    }
    let mut start = log.len() - max;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    (
        format!(
            "[maestro: log truncated to its last {max} bytes]\n{}",
            &log[start..]
        ),
        true,
    )
}

fn job_view(row: &JobRow) -> ApiResult<JobView> {
    Ok(JobView {
        id: row.id.clone(),
        environment_id: row.environment_id.clone(),
        name: row.name.clone(),
        status: JobStatus::parse(&row.status).unwrap_or(JobStatus::Pending),
        reason: row.reason.clone(),
        exit_code: row.exit_code,
        spec: serde_json::from_str(&row.spec).map_err(ApiError::internal)?,
        results: row
            .results
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
        log_stored: row.log.is_some(),
        log_truncated: row.log_truncated,
        created_at: row.created_at.and_utc(),
        finished_at: row.finished_at.map(|t| t.and_utc()),
    })
}

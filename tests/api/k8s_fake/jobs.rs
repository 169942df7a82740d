//! The simulated Job controller: pod per Job (labelled `batch.kubernetes.io/job-name`), run per
//! the registered script, `SuccessCriteriaMet` then `Complete`, `FailureTarget` then `Failed`
//! (BackoffLimitExceeded, DeadlineExceeded), quota-blocked pods as `FailedCreate` Events with the
//! real message, unschedulable pods.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use kube::api::{
    Api, ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{Value, json};

use super::{api_error, obj, on_both};
use crate::support::k8s_fake::{DEFAULT_UNSCHEDULABLE, FakeCluster, Script};

async fn namespace(client: &kube::Client, name: &str) {
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": name}})),
    )
    .await
    .unwrap();
}

fn job(name: &str, image: &str, backoff: i32, extra_spec: Value, resources: Value) -> Job {
    let mut spec = json!({"backoffLimit": backoff, "template": {"metadata": {"labels": {"app.kubernetes.io/component": "test-job"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "tests", "image": image, "command": ["sh", "-c", "run-tests"], "resources": resources}]}}});
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    obj(json!({"metadata": {"name": name}, "spec": spec}))
}

fn condition_types(j: &Job) -> Vec<String> {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.status == "True")
        .map(|c| c.type_)
        .collect()
}

/// Watches one Job from `from` (its create's resourceVersion, so every change is replayed) until
/// `done` holds, and returns the sets of true condition types it went through.
async fn watch_conditions(
    jobs: &Api<Job>,
    name: &str,
    from: &str,
    done: &str,
) -> (Vec<Vec<String>>, Job) {
    let wp = WatchParams::default().fields(&format!("metadata.name={name}"));
    let mut stream = jobs.watch(&wp, from).await.unwrap().boxed();
    let mut seen: Vec<Vec<String>> = Vec::new();
    loop {
        let j = match stream
            .try_next()
            .await
            .unwrap()
            .expect("the watch stays open")
        {
            WatchEvent::Added(j) | WatchEvent::Modified(j) => j,
            _ => continue,
        };
        let types = condition_types(&j);
        if seen.last() != Some(&types) {
            seen.push(types.clone());
        }
        if types.iter().any(|t| t == done) {
            return (seen, j);
        }
    }
}

fn rv(j: &Job) -> String {
    j.metadata.resource_version.clone().unwrap()
}

fn job_condition(j: &Job, ty: &str) -> k8s_openapi::api::batch::v1::JobCondition {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == ty)
        .unwrap_or_else(|| panic!("no {ty} condition"))
}

#[tokio::test]
async fn simulated_job_runs_to_complete_after_success_criteria_met() {
    on_both(|cluster, client, _| async move {
        cluster.script_image(
            "registry.local/tests:1",
            Script::new()
                .log("collected 2 items")
                .log("2 passed")
                .exit_with_message(0, "{\"passed\":2}"),
        );
        namespace(&client, "env-a").await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "env-a");
        let created = jobs
            .create(
                &PostParams::default(),
                &job(
                    "run-1",
                    "registry.local/tests:1",
                    0,
                    json!({"activeDeadlineSeconds": 600}),
                    json!({}),
                ),
            )
            .await
            .unwrap();
        let (seen, done) = watch_conditions(&jobs, "run-1", &rv(&created), "Complete").await;
        let precursor = seen
            .iter()
            .position(|s| s == &["SuccessCriteriaMet"])
            .unwrap_or_else(|| panic!("SuccessCriteriaMet alone first: {seen:?}"));
        let terminal = seen
            .iter()
            .position(|s| s.contains(&"Complete".to_string()))
            .unwrap();
        assert!(precursor < terminal, "{seen:?}");
        assert_eq!(
            job_condition(&done, "Complete").reason.as_deref(),
            Some("CompletionsReached")
        );
        let status = done.status.clone().unwrap();
        assert_eq!(status.succeeded, Some(1));
        assert!(status.completion_time.is_some() && status.start_time.is_some());

        let pods: Api<Pod> = Api::namespaced(client.clone(), "env-a");
        let list = pods
            .list(&ListParams::default().labels("batch.kubernetes.io/job-name=run-1"))
            .await
            .unwrap();
        assert_eq!(list.items.len(), 1);
        let pod = &list.items[0];
        assert_eq!(
            pod.metadata.owner_references.as_ref().unwrap()[0].kind,
            "Job"
        );
        let pstatus = pod.status.clone().unwrap();
        assert_eq!(pstatus.phase.as_deref(), Some("Succeeded"));
        let term = pstatus.container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        assert_eq!(
            (
                term.exit_code,
                term.reason.as_deref(),
                term.message.as_deref()
            ),
            (0, Some("Completed"), Some("{\"passed\":2}"))
        );
        let text = pods
            .logs(pod.metadata.name.as_deref().unwrap(), &LogParams::default())
            .await
            .unwrap();
        assert_eq!(text, "collected 2 items\n2 passed\n");
        let reasons: Vec<String> = cluster
            .events_for("env-a", "run-1")
            .into_iter()
            .filter_map(|e| e.reason)
            .collect();
        assert!(
            reasons.contains(&"SuccessfulCreate".to_string())
                && reasons.contains(&"Completed".to_string()),
            "{reasons:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn simulated_job_fails_with_backoff_limit_exceeded_after_failure_target() {
    on_both(|cluster, client, _| async move {
        cluster.script_image(
            "registry.local/tests:bad",
            Script::new()
                .log("1 failed")
                .exit_with_message(1, "{\"failed\":1}"),
        );
        namespace(&client, "env-b").await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "env-b");
        let created = jobs
            .create(
                &PostParams::default(),
                &job("run-2", "registry.local/tests:bad", 1, json!({}), json!({})),
            )
            .await
            .unwrap();
        let (seen, done) = watch_conditions(&jobs, "run-2", &rv(&created), "Failed").await;
        let precursor = seen
            .iter()
            .position(|s| s == &["FailureTarget"])
            .unwrap_or_else(|| panic!("FailureTarget alone first: {seen:?}"));
        assert!(precursor < seen.len() - 1, "{seen:?}");
        assert_eq!(
            job_condition(&done, "Failed").reason.as_deref(),
            Some("BackoffLimitExceeded")
        );
        assert_eq!(
            done.status.unwrap().failed,
            Some(2),
            "backoffLimit 1: the first try and one retry"
        );
        let pods: Api<Pod> = Api::namespaced(client.clone(), "env-b");
        let failed = pods
            .list(&ListParams::default().labels("job-name=run-2"))
            .await
            .unwrap();
        assert_eq!(failed.items.len(), 2);
        assert!(
            failed
                .items
                .iter()
                .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Failed"))
        );
    })
    .await;
}

#[tokio::test]
async fn simulated_job_deadline_exceeded() {
    on_both(|cluster, client, _| async move {
        cluster.script_image(
            "registry.local/tests:hang",
            Script::new().log("starting").wait_for("never-opened"),
        );
        namespace(&client, "env-c").await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "env-c");
        let created = jobs
            .create(
                &PostParams::default(),
                &job(
                    "run-3",
                    "registry.local/tests:hang",
                    0,
                    json!({"activeDeadlineSeconds": 1}),
                    json!({}),
                ),
            )
            .await
            .unwrap();
        let (seen, done) = watch_conditions(&jobs, "run-3", &rv(&created), "Failed").await;
        assert!(seen.iter().any(|s| s == &["FailureTarget"]), "{seen:?}");
        let failed = job_condition(&done, "Failed");
        assert_eq!(
            (failed.reason.as_deref(), failed.message.as_deref()),
            (
                Some("DeadlineExceeded"),
                Some("Job was active longer than specified deadline")
            )
        );
        cluster
            .wait_for_event("env-c", "run-3", "DeadlineExceeded")
            .await;
        assert!(
            cluster.list::<Pod>(Some("env-c")).is_empty(),
            "the active pod is deleted"
        );
    })
    .await;
}

#[tokio::test]
async fn simulated_job_terminal_condition_can_be_held() {
    let cluster = FakeCluster::new();
    cluster.configure(|k| k.hold_job_terminal = true);
    let client = cluster.client();
    namespace(&client, "env-d").await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "env-d");
    jobs.create(
        &PostParams::default(),
        &job("run-4", "busybox:1.36", 0, json!({}), json!({})),
    )
    .await
    .unwrap();
    let held = cluster
        .wait_for_condition::<Job>("env-d", "run-4", "SuccessCriteriaMet", "True")
        .await;
    assert_eq!(condition_types(&held), ["SuccessCriteriaMet"]);
    cluster.release_job("env-d", "run-4");
    cluster
        .wait_for_condition::<Job>("env-d", "run-4", "Complete", "True")
        .await;
    cluster.assert_no_failures();
}

#[tokio::test]
async fn simulated_quota_blocked_job_gets_failed_create_event_with_the_real_message() {
    on_both(|cluster, client, _| async move {
        namespace(&client, "env-q").await;
        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "env-q");
        quotas.create(&PostParams::default(), &obj(json!({"metadata": {"name": "q"}, "spec": {"hard": {"limits.cpu": "1", "limits.memory": "1Gi"}}}))).await.unwrap();
        let jobs: Api<Job> = Api::namespaced(client.clone(), "env-q");
        jobs.create(&PostParams::default(), &job("blocked", "busybox:1.36", 0, json!({}), json!({"limits": {"cpu": "2", "memory": "512Mi"}}))).await.unwrap();
        let event = cluster.wait_for_event("env-q", "blocked", "FailedCreate").await;
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        let msg = event.message.unwrap();
        assert!(msg.starts_with("Error creating: pods \"blocked-"), "{msg}");
        assert!(msg.ends_with("\" is forbidden: exceeded quota: q, requested: limits.cpu=2, used: limits.cpu=0, limited: limits.cpu=1"), "{msg}");
        assert!(cluster.list::<Pod>(Some("env-q")).is_empty());

        // Direct creates: 403 with the same wording; without limits and no LimitRange, "must specify".
        let pods: Api<Pod> = Api::namespaced(client.clone(), "env-q");
        let bare: Pod = obj(json!({"metadata": {"name": "bare"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}));
        let err = api_error(pods.create(&PostParams::default(), &bare).await);
        assert_eq!((err.code, err.message.as_str()), (403, "pods \"bare\" is forbidden: failed quota: q: must specify limits.cpu for: c; limits.memory for: c"));

        // A LimitRange defaults the limits; the quota's status counts the pod.
        let lrs: Api<LimitRange> = Api::namespaced(client.clone(), "env-q");
        lrs.create(&PostParams::default(), &obj(json!({"metadata": {"name": "defaults"}, "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}}]}}))).await.unwrap();
        let created = pods.create(&PostParams::default(), &bare).await.unwrap();
        let limits = created.spec.unwrap().containers[0].resources.clone().unwrap().limits.unwrap();
        assert_eq!(limits["cpu"].0, "500m");
        assert!(created.metadata.annotations.unwrap()["kubernetes.io/limit-ranger"].starts_with("LimitRanger plugin set:"));
        cluster.wait_for::<ResourceQuota>("env-q", "q", |q| q.status.as_ref().and_then(|s| s.used.as_ref()).is_some_and(|u| u["limits.cpu"].0 == "500m")).await;

        // Raising the quota unblocks the Job.
        quotas.patch("q", &PatchParams::default(), &Patch::Merge(json!({"spec": {"hard": {"limits.cpu": "4"}}}))).await.unwrap();
        cluster.wait_for_event("env-q", "blocked", "SuccessfulCreate").await;
    })
    .await;
}

#[tokio::test]
async fn simulated_unschedulable_pods_stay_pending_until_the_knob_clears() {
    on_both(|cluster, client, _| async move {
        cluster.configure(|k| k.unschedulable = Some(DEFAULT_UNSCHEDULABLE.into()));
        namespace(&client, "env-u").await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "env-u");
        jobs.create(
            &PostParams::default(),
            &job("waits", "busybox:1.36", 0, json!({}), json!({})),
        )
        .await
        .unwrap();
        let pods = cluster
            .wait_for_pods("env-u", "batch.kubernetes.io/job-name=waits", |p| {
                p.iter().any(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c.type_ == "PodScheduled" && c.status == "False")
                        })
                })
            })
            .await;
        let status = pods[0].status.clone().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        let cond = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")
            .unwrap();
        assert_eq!(
            (cond.reason.as_deref(), cond.message.as_deref()),
            (Some("Unschedulable"), Some(DEFAULT_UNSCHEDULABLE))
        );
        cluster
            .wait_for_event(
                "env-u",
                pods[0].metadata.name.as_deref().unwrap(),
                "FailedScheduling",
            )
            .await;
        cluster.configure(|k| k.unschedulable = None);
        cluster
            .wait_for_condition::<Job>("env-u", "waits", "Complete", "True")
            .await;
    })
    .await;
}

#[tokio::test]
async fn simulated_job_delete_orphans_pods_by_default_and_background_cascades() {
    on_both(|cluster, client, _| async move {
        cluster.script_image("registry.local/tests:wait", Script::new().wait_for("never"));
        namespace(&client, "env-g").await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "env-g");
        for n in ["orphaning", "cascading"] {
            jobs.create(
                &PostParams::default(),
                &job(n, "registry.local/tests:wait", 0, json!({}), json!({})),
            )
            .await
            .unwrap();
            cluster
                .wait_for_pods("env-g", &format!("job-name={n}"), |p| p.len() == 1)
                .await;
        }
        jobs.delete("orphaning", &Default::default()).await.unwrap();
        let orphans = cluster
            .list::<Pod>(Some("env-g"))
            .into_iter()
            .filter(|p| p.metadata.labels.as_ref().unwrap()["job-name"] == "orphaning")
            .collect::<Vec<_>>();
        assert_eq!(
            orphans.len(),
            1,
            "the API default for a Job orphans its pods"
        );
        assert!(
            orphans[0]
                .metadata
                .owner_references
                .as_ref()
                .is_none_or(|r| r.is_empty())
        );
        jobs.delete("cascading", &kube::api::DeleteParams::background())
            .await
            .unwrap();
        cluster
            .wait_for_pods("env-g", "job-name=cascading", |p| p.is_empty())
            .await;
    })
    .await;
}

#[tokio::test]
async fn simulated_object_count_quota_refuses_the_job_create_itself() {
    on_both(|_, client, _| async move {
        namespace(&client, "env-n").await;
        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "env-n");
        quotas.create(&PostParams::default(), &obj(json!({"metadata": {"name": "jobs"}, "spec": {"hard": {"count/jobs.batch": "1"}}}))).await.unwrap();
        let jobs: Api<Job> = Api::namespaced(client.clone(), "env-n");
        jobs.create(&PostParams::default(), &job("one", "busybox:1.36", 0, json!({}), json!({}))).await.unwrap();
        let err = api_error(jobs.create(&PostParams::default(), &job("two", "busybox:1.36", 0, json!({}), json!({}))).await);
        assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
        assert_eq!(err.message, "jobs.batch \"two\" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1, used: count/jobs.batch=1, limited: count/jobs.batch=1");
    })
    .await;
}

//! Job controller, as on a 1.31+ cluster: creates the pod from the template (labels
//! `batch.kubernetes.io/job-name` etc., owner reference), replaces failed pods up to
//! `backoffLimit` (after a backoff), enforces `activeDeadlineSeconds`, records `FailedCreate`
//! when admission refuses the pod, and finishes with `SuccessCriteriaMet` then `Complete`, or
//! `FailureTarget` then `Failed` (BackoffLimitExceeded / DeadlineExceeded) — the terminal
//! condition only after the pods are gone or finished, in a separate write.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::super::events::{self, EventSpec};
use super::super::kubelet::min_instant;
use super::super::resources::by_kind;
use super::super::state::State;
use super::super::store::{ObjKey, name_of, namespace_of, parse_time, plus_seconds, time, uid_of};
use super::super::write::{self, Propagation};
use super::{
    condition, controlled_by, find_condition, is_true, owner_ref, pod_ready, pod_terminal,
};

const COMPLETIONS_REACHED: &str = "Reached expected number of succeeded pods";

pub fn reconcile(st: &mut State, now: Instant) -> Option<Instant> {
    let job_rt = by_kind("batch/v1", "Job").expect("jobs are served");
    let jobs: Vec<Value> = st.store.list(job_rt.store, None).cloned().collect();
    let live: std::collections::HashSet<String> = jobs.iter().map(uid_of).collect();
    st.jobs.retain(|uid, _| live.contains(uid));
    if !st.knobs.job_controller {
        return None;
    }
    let mut wake = None;
    for job in jobs {
        if job.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        wake = min_instant(wake, reconcile_job(st, &job, now));
    }
    wake
}

fn event(st: &mut State, job: &Value, reason: &str, message: String, warning: bool) {
    events::record(
        &mut st.store,
        job,
        EventSpec {
            reason,
            message,
            warning,
            component: "job-controller",
            field_path: None,
        },
    );
}

fn reconcile_job(st: &mut State, job: &Value, now: Instant) -> Option<Instant> {
    if is_true(job, "Complete") || is_true(job, "Failed") || job["spec"]["suspend"] == json!(true) {
        return None;
    }
    let job_rt = by_kind("batch/v1", "Job").expect("jobs are served");
    let pod_rt = by_kind("v1", "Pod").expect("pods are served");
    let (uid, ns, name) = (uid_of(job), namespace_of(job), name_of(job));
    let wall = st.store.clock.now();
    let at = time(wall);
    let mut status = job["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    if status.get("startTime").is_none() {
        status["startTime"] = json!(at);
    }
    let start = status["startTime"]
        .as_str()
        .and_then(parse_time)
        .unwrap_or(wall);
    let pods: Vec<Value> = st
        .store
        .list(pod_rt.store, Some(&ns))
        .filter(|p| controlled_by(p, &uid))
        .cloned()
        .collect();
    let active: Vec<&Value> = pods
        .iter()
        .filter(|p| !pod_terminal(p) && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    let succeeded = pods
        .iter()
        .filter(|p| p["status"]["phase"] == "Succeeded")
        .count() as i64;
    let restarts: i64 = active
        .iter()
        .flat_map(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let failed = pods
        .iter()
        .filter(|p| p["status"]["phase"] == "Failed")
        .count() as i64
        + restarts;
    let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
    let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
    let deadline = job["spec"]["activeDeadlineSeconds"]
        .as_i64()
        .map(|s| plus_seconds(start, s));
    let held =
        st.knobs.hold_job_terminal && !st.released_jobs.contains(&(ns.clone(), name.clone()));
    let mut conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    let mut wake = None;
    let mut to_delete: Vec<String> = Vec::new();
    let has = |conds: &[Value], ty: &str| {
        conds
            .iter()
            .any(|c| c["type"] == ty && c["status"] == "True")
    };
    let precursor_before =
        has(&conditions, "SuccessCriteriaMet") || has(&conditions, "FailureTarget");
    if !precursor_before {
        if succeeded >= completions {
            conditions.push(condition(
                "SuccessCriteriaMet",
                true,
                "CompletionsReached",
                COMPLETIONS_REACHED,
                &at,
            ));
            to_delete = active.iter().map(|p| name_of(p)).collect();
        } else if failed > backoff_limit {
            conditions.push(condition(
                "FailureTarget",
                true,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                &at,
            ));
            to_delete = active.iter().map(|p| name_of(p)).collect();
            event(
                st,
                job,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit".into(),
                true,
            );
        } else if deadline.is_some_and(|d| wall >= d) {
            conditions.push(condition(
                "FailureTarget",
                true,
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
                &at,
            ));
            to_delete = active.iter().map(|p| name_of(p)).collect();
            event(
                st,
                job,
                "DeadlineExceeded",
                "Job was active longer than specified deadline".into(),
                true,
            );
        } else {
            if let Some(d) = deadline {
                wake = Some(st.store.clock.instant_at(d));
            }
            if active.is_empty() {
                wake = min_instant(wake, create_pod(st, job, failed, now));
            }
        }
    }
    for p in &to_delete {
        let key = ObjKey::new(pod_rt, &ns, p);
        write::remove_now(st, &key, Propagation::Background);
        event(
            st,
            job,
            "SuccessfulDelete",
            format!("Deleted pod: {p}"),
            false,
        );
    }
    let still_active = if to_delete.is_empty() {
        active.len()
    } else {
        0
    };
    // The terminal condition comes in a later write than its precursor, once no pod is active.
    if precursor_before && still_active == 0 && !held {
        if let Some(target) = conditions
            .iter()
            .find(|c| c["type"] == "FailureTarget" && c["status"] == "True")
            .cloned()
        {
            let reason = target["reason"]
                .as_str()
                .unwrap_or("BackoffLimitExceeded")
                .to_string();
            let message = target["message"].as_str().unwrap_or_default().to_string();
            conditions.push(condition("Failed", true, &reason, &message, &at));
        } else {
            conditions.push(condition(
                "Complete",
                true,
                "CompletionsReached",
                COMPLETIONS_REACHED,
                &at,
            ));
            status["completionTime"] = json!(at);
            event(st, job, "Completed", "Job completed".into(), false);
        }
    }
    let ready = active.iter().filter(|p| pod_ready(p)).count();
    status["active"] = json!(still_active);
    status["ready"] = json!(if to_delete.is_empty() { ready } else { 0 });
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    status["terminating"] = json!(0);
    status["uncountedTerminatedPods"] = json!({});
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    for key in ["active", "succeeded", "failed"] {
        if status[key] == json!(0)
            && let Some(o) = status.as_object_mut()
        {
            o.remove(key);
        }
    }
    if let Some(current) = st.store.get(&ObjKey::of(job_rt, job)).cloned() {
        let mut updated = current;
        updated["status"] = status;
        st.store.update(job_rt, updated);
    }
    let _ = find_condition;
    wake
}

/// Creates the Job's next pod unless it must wait (backoff after a failure, retry after a
/// refused create). Returns when to look again.
fn create_pod(st: &mut State, job: &Value, failed: i64, now: Instant) -> Option<Instant> {
    let uid = uid_of(job);
    let backoff = st.knobs.job_retry_backoff;
    let retry = st.knobs.create_retry_interval;
    let jr = st.jobs.entry(uid).or_default();
    if failed > jr.seen_failures {
        let factor = 2u32.saturating_pow((failed - 1).clamp(0, 16) as u32);
        jr.not_before = Some(now + backoff * factor);
        jr.seen_failures = failed;
    }
    if let Some(t) = jr.not_before
        && now < t
    {
        return Some(t);
    }
    let pod_rt = by_kind("v1", "Pod").expect("pods are served");
    let tmpl = &job["spec"]["template"];
    let mut meta = tmpl["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    let name = match &jr.pending_name {
        Some(n) => n.clone(),
        None => format!("{}-{}", name_of(job), write::random_suffix()),
    };
    meta["name"] = json!(name);
    meta["namespace"] = json!(namespace_of(job));
    meta["ownerReferences"] = json!([owner_ref(job)]);
    if let Some(m) = meta.as_object_mut() {
        m.remove("generateName");
        m.remove("creationTimestamp");
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl["spec"]});
    match write::create(st, pod_rt, pod, false) {
        Ok(created) => {
            let jr = st.jobs.entry(uid_of(job)).or_default();
            jr.not_before = None;
            jr.pending_name = None;
            event(
                st,
                job,
                "SuccessfulCreate",
                format!("Created pod: {}", name_of(&created)),
                false,
            );
            None
        }
        Err(f) => {
            event(
                st,
                job,
                "FailedCreate",
                format!("Error creating: {}", f.message),
                true,
            );
            let at = now + retry;
            let jr = st.jobs.entry(uid_of(job)).or_default();
            jr.not_before = Some(at);
            jr.pending_name = Some(name);
            Some(at)
        }
    }
}

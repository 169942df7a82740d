//! Deployment and ReplicaSet controllers: a Deployment owns one ReplicaSet per pod template
//! (`{name}-{hash}`, older ones scaled to 0), a ReplicaSet keeps `replicas` pods (admission may
//! refuse them: `FailedCreate` on the ReplicaSet), and the Deployment reports `Available` once
//! its pods are ready and `Progressing` (NewReplicaSetAvailable, or ProgressDeadlineExceeded
//! after `progressDeadlineSeconds`).

use std::collections::HashMap;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::super::events::{self, EventSpec};
use super::super::kubelet::min_instant;
use super::super::resources::by_kind;
use super::super::state::State;
use super::super::store::{ObjKey, name_of, namespace_of, parse_time, plus_seconds, time, uid_of};
use super::super::write::{self, Propagation};
use super::{controlled_by, find_condition, owner_ref, pod_ready, pod_terminal};

const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A stable 10-character hash of a pod template (like `pod-template-hash`).
pub fn template_hash(template: &Value) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    (0..10)
        .map(|i| SAFE[((h >> (i * 6)) % SAFE.len() as u64) as usize] as char)
        .collect()
}

fn event(
    st: &mut State,
    obj: &Value,
    component: &'static str,
    reason: &str,
    message: String,
    warning: bool,
) {
    events::record(
        &mut st.store,
        obj,
        EventSpec {
            reason,
            message,
            warning,
            component,
            field_path: None,
        },
    );
}

pub fn reconcile(st: &mut State, now: Instant) -> Option<Instant> {
    if !st.knobs.deployment_controller {
        return None;
    }
    let dep_rt = by_kind("apps/v1", "Deployment").expect("deployments are served");
    let rs_rt = by_kind("apps/v1", "ReplicaSet").expect("replicasets are served");
    let mut wake = None;
    let deployments: Vec<Value> = st
        .store
        .list(dep_rt.store, None)
        .filter(|d| d.pointer("/metadata/deletionTimestamp").is_none())
        .cloned()
        .collect();
    for d in deployments {
        wake = min_instant(wake, reconcile_deployment(st, &d));
    }
    let sets: Vec<Value> = st
        .store
        .list(rs_rt.store, None)
        .filter(|r| r.pointer("/metadata/deletionTimestamp").is_none())
        .cloned()
        .collect();
    let live: std::collections::HashSet<String> = sets.iter().map(uid_of).collect();
    st.replicasets.retain(|uid, _| live.contains(uid));
    for rs in sets {
        wake = min_instant(wake, reconcile_replicaset(st, &rs, now));
    }
    // Deployment status after its ReplicaSets moved.
    let deployments: Vec<Value> = st
        .store
        .list(dep_rt.store, None)
        .filter(|d| d.pointer("/metadata/deletionTimestamp").is_none())
        .cloned()
        .collect();
    for d in deployments {
        wake = min_instant(wake, deployment_status(st, &d));
    }
    wake
}

fn reconcile_deployment(st: &mut State, d: &Value) -> Option<Instant> {
    let rs_rt = by_kind("apps/v1", "ReplicaSet").expect("replicasets are served");
    let (ns, name, uid) = (namespace_of(d), name_of(d), uid_of(d));
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let template = d["spec"]["template"].clone();
    let hash = template_hash(&template);
    let rs_name = format!("{name}-{hash}");
    let owned: Vec<Value> = st
        .store
        .list(rs_rt.store, Some(&ns))
        .filter(|r| controlled_by(r, &uid))
        .cloned()
        .collect();
    for old in owned.iter().filter(|r| name_of(r) != rs_name) {
        if old["spec"]["replicas"].as_i64().unwrap_or(0) != 0 {
            let from = old["spec"]["replicas"].as_i64().unwrap_or(0);
            let mut o = old.clone();
            o["spec"]["replicas"] = json!(0);
            st.store.update(rs_rt, o);
            event(
                st,
                d,
                "deployment-controller",
                "ScalingReplicaSet",
                format!("Scaled down replica set {} from {from} to 0", name_of(old)),
                false,
            );
        }
    }
    match owned.iter().find(|r| name_of(r) == rs_name) {
        None => {
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels["pod-template-hash"] = json!(hash);
            let mut tmpl = template.clone();
            tmpl["metadata"]["labels"] = labels.clone();
            let mut selector = d["spec"]["selector"].clone();
            if !selector["matchLabels"].is_object() {
                selector["matchLabels"] = json!({});
            }
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let revision = owned.len() + 1;
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(d)],
                    "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(), "deployment.kubernetes.io/revision": revision.to_string()}},
                "spec": {"replicas": replicas, "selector": selector, "template": tmpl},
            });
            match write::create(st, rs_rt, rs, false) {
                Ok(_) => event(
                    st,
                    d,
                    "deployment-controller",
                    "ScalingReplicaSet",
                    format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                    false,
                ),
                Err(f) => st.failures.push(format!(
                    "deployment controller: creating {rs_name}: {}",
                    f.message
                )),
            }
        }
        Some(rs) => {
            let current = rs["spec"]["replicas"].as_i64().unwrap_or(0);
            if current != replicas {
                let mut r = rs.clone();
                r["spec"]["replicas"] = json!(replicas);
                st.store.update(rs_rt, r);
                let dir = if replicas > current { "up" } else { "down" };
                event(
                    st,
                    d,
                    "deployment-controller",
                    "ScalingReplicaSet",
                    format!("Scaled {dir} replica set {rs_name} from {current} to {replicas}"),
                    false,
                );
            }
        }
    }
    None
}

fn reconcile_replicaset(st: &mut State, rs: &Value, now: Instant) -> Option<Instant> {
    let rs_rt = by_kind("apps/v1", "ReplicaSet").expect("replicasets are served");
    let pod_rt = by_kind("v1", "Pod").expect("pods are served");
    let (ns, name, uid) = (namespace_of(rs), name_of(rs), uid_of(rs));
    let desired = rs["spec"]["replicas"].as_i64().unwrap_or(1);
    let pods: Vec<Value> = st
        .store
        .list(pod_rt.store, Some(&ns))
        .filter(|p| controlled_by(p, &uid) && p.pointer("/metadata/deletionTimestamp").is_none())
        .cloned()
        .collect();
    let mut wake = None;
    // Finished pods are replaced.
    for p in pods.iter().filter(|p| pod_terminal(p)) {
        write::remove_now(st, &ObjKey::of(pod_rt, p), Propagation::Background);
    }
    let mut live: Vec<Value> = pods.into_iter().filter(|p| !pod_terminal(p)).collect();
    if (live.len() as i64) < desired {
        let not_before = st.replicasets.get(&uid).copied();
        if not_before.is_some_and(|t| now < t) {
            wake = not_before;
        } else {
            let missing = desired - live.len() as i64;
            for _ in 0..missing {
                let tmpl = &rs["spec"]["template"];
                let mut meta = tmpl["metadata"].clone();
                if !meta.is_object() {
                    meta = json!({});
                }
                meta["name"] = json!(format!("{name}-{}", write::random_suffix()));
                meta["namespace"] = json!(ns);
                meta["ownerReferences"] = json!([owner_ref(rs)]);
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl["spec"]});
                match write::create(st, pod_rt, pod, false) {
                    Ok(p) => {
                        event(
                            st,
                            rs,
                            "replicaset-controller",
                            "SuccessfulCreate",
                            format!("Created pod: {}", name_of(&p)),
                            false,
                        );
                        live.push(p);
                        st.replicasets.remove(&uid);
                    }
                    Err(f) => {
                        event(
                            st,
                            rs,
                            "replicaset-controller",
                            "FailedCreate",
                            format!("Error creating: {}", f.message),
                            true,
                        );
                        let at = now + st.knobs.create_retry_interval;
                        st.replicasets.insert(uid.clone(), at);
                        wake = Some(at);
                        break;
                    }
                }
            }
        }
    } else if (live.len() as i64) > desired {
        let extra = live.len() - desired.max(0) as usize;
        for p in live.drain(..extra) {
            write::remove_now(st, &ObjKey::of(pod_rt, &p), Propagation::Background);
            event(
                st,
                rs,
                "replicaset-controller",
                "SuccessfulDelete",
                format!("Deleted pod: {}", name_of(&p)),
                false,
            );
        }
    }
    let ready = live.iter().filter(|p| pod_ready(p)).count();
    if let Some(mut current) = st.store.get(&ObjKey::of(rs_rt, rs)).cloned() {
        current["status"] = json!({
            "replicas": live.len(),
            "fullyLabeledReplicas": live.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"]["generation"],
        });
        st.store.update(rs_rt, current);
    }
    wake
}

fn deployment_status(st: &mut State, d: &Value) -> Option<Instant> {
    let dep_rt = by_kind("apps/v1", "Deployment").expect("deployments are served");
    let rs_rt = by_kind("apps/v1", "ReplicaSet").expect("replicasets are served");
    let (ns, name, uid) = (namespace_of(d), name_of(d), uid_of(d));
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let rs_name = format!("{name}-{}", template_hash(&d["spec"]["template"]));
    let owned: Vec<Value> = st
        .store
        .list(rs_rt.store, Some(&ns))
        .filter(|r| controlled_by(r, &uid))
        .cloned()
        .collect();
    let count = |r: &Value, f: &str| r["status"][f].as_i64().unwrap_or(0);
    let total: i64 = owned.iter().map(|r| count(r, "replicas")).sum();
    let new_rs = owned.iter().find(|r| name_of(r) == rs_name);
    let updated = new_rs.map_or(0, |r| count(r, "replicas"));
    let ready: i64 = owned.iter().map(|r| count(r, "readyReplicas")).sum();
    let available = new_rs.map_or(0, |r| count(r, "availableReplicas"));
    let old_pods: i64 = owned
        .iter()
        .filter(|r| name_of(r) != rs_name)
        .map(|r| count(r, "replicas"))
        .sum();
    let wall = st.store.clock.now();
    let at = time(wall);
    let mut conds: HashMap<&str, Value> = HashMap::new();
    let prev = |ty: &str| find_condition(d, ty).cloned();
    let make = |ty: &str, status: bool, reason: &str, message: String| -> Value {
        let old = prev(ty);
        let same_status = old
            .as_ref()
            .is_some_and(|o| o["status"] == if status { "True" } else { "False" });
        let same_reason = old
            .as_ref()
            .is_some_and(|o| o["reason"] == reason && o["message"] == message.as_str());
        let transition = if same_status {
            old.as_ref()
                .map(|o| o["lastTransitionTime"].clone())
                .unwrap_or(json!(at))
        } else {
            json!(at)
        };
        let update = if same_status && same_reason {
            old.as_ref()
                .map(|o| o["lastUpdateTime"].clone())
                .unwrap_or(json!(at))
        } else {
            json!(at)
        };
        json!({"type": ty, "status": if status { "True" } else { "False" }, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
    };
    let is_available = available >= replicas;
    conds.insert(
        "Available",
        if is_available {
            make(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            make(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        },
    );
    let complete = updated == replicas && available >= replicas && old_pods == 0;
    let deadline_secs = d["spec"]["progressDeadlineSeconds"].as_i64().unwrap_or(600);
    let mut wake = None;
    let progressing = if complete {
        make(
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
        )
    } else {
        let prior = prev("Progressing");
        let already_timed_out = prior
            .as_ref()
            .is_some_and(|p| p["reason"] == "ProgressDeadlineExceeded");
        let progressing_since = prior
            .as_ref()
            .filter(|p| p["reason"] == "ReplicaSetUpdated" || p["reason"] == "NewReplicaSetCreated")
            .and_then(|p| p["lastUpdateTime"].as_str().and_then(parse_time));
        match progressing_since {
            _ if already_timed_out => make(
                "Progressing",
                false,
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
            ),
            Some(since) if wall >= plus_seconds(since, deadline_secs) => make(
                "Progressing",
                false,
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
            ),
            Some(since) => {
                wake = Some(
                    st.store
                        .clock
                        .instant_at(plus_seconds(since, deadline_secs)),
                );
                prior.clone().unwrap_or_else(|| {
                    make(
                        "Progressing",
                        true,
                        "ReplicaSetUpdated",
                        format!("ReplicaSet \"{rs_name}\" is progressing."),
                    )
                })
            }
            None => {
                wake = Some(st.store.clock.instant_at(plus_seconds(wall, deadline_secs)));
                make(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{rs_name}\" is progressing."),
                )
            }
        }
    };
    conds.insert("Progressing", progressing);
    let mut status = json!({
        "observedGeneration": d["metadata"]["generation"],
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "conditions": [conds["Available"], conds["Progressing"]],
    });
    if replicas - available > 0 {
        status["unavailableReplicas"] = json!(replicas - available);
    }
    for key in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        if status[key] == json!(0)
            && let Some(o) = status.as_object_mut()
        {
            o.remove(key);
        }
    }
    if let Some(mut current) = st.store.get(&ObjKey::of(dep_rt, d)).cloned() {
        current["status"] = status;
        st.store.update(dep_rt, current);
    }
    wake
}

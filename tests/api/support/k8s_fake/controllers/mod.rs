//! The simulated control plane: one task that, on every stored change (and when a timer it
//! asked for fires, or a test opens a gate or turns a knob), runs each controller once over the
//! whole state: namespace termination, Deployment → ReplicaSet → Pods, Job → Pod → conditions,
//! the kubelet, quota status. Each pass is synchronous under the state lock and writes only
//! what changed, so the passes converge.

pub mod deployment;
pub mod job;
pub mod namespace;
pub mod quota;

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::Inner;
use super::kubelet::{self, min_instant};
use super::state::State;

/// Runs the control loop until the cluster is dropped.
pub fn spawn(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    let mut changes = inner.lock().store.subscribe();
    let wake = inner.wake.clone();
    tokio::spawn(async move {
        let mut streak = 0u32;
        loop {
            changes.borrow_and_update();
            let next = match pass(&weak) {
                Some((next, changed)) => {
                    streak = if changed { streak + 1 } else { 0 };
                    if streak > 10_000 {
                        if let Some(inner) = weak.upgrade() {
                            inner.lock().failures.push("the simulated controllers do not converge (10000 passes in a row changed something)".into());
                        }
                        streak = 0;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    next
                }
                None => return,
            };
            let far = Instant::now() + Duration::from_secs(24 * 3600);
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                _ = wake.notified() => {}
                _ = tokio::time::sleep_until(next.unwrap_or(far)) => {}
            }
        }
    });
}

/// One pass; None when the cluster is gone. Returns the next wake-up and whether it wrote.
fn pass(weak: &Weak<Inner>) -> Option<(Option<Instant>, bool)> {
    let inner = weak.upgrade()?;
    let mut st = inner.lock();
    let before = st.store.resource_version();
    let now = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| reconcile_all(&mut st, now)));
    let next = match result {
        Ok(next) => next,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            st.failures
                .push(format!("a simulated controller panicked: {msg}"));
            Some(now + Duration::from_millis(100))
        }
    };
    let changed = st.store.resource_version() != before;
    Some((next, changed))
}

fn reconcile_all(st: &mut State, now: Instant) -> Option<Instant> {
    let mut next = namespace::reconcile(st, now);
    next = min_instant(next, deployment::reconcile(st, now));
    next = min_instant(next, job::reconcile(st, now));
    next = min_instant(next, kubelet::reconcile(st, now));
    quota::reconcile(st);
    next
}

/// A condition as controllers write it.
pub fn condition(ty: &str, status: bool, reason: &str, message: &str, at: &str) -> Value {
    json!({
        "type": ty,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastProbeTime": at,
        "lastTransitionTime": at,
    })
}

/// The condition of `ty` in `status.conditions`.
pub fn find_condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
}

pub fn is_true(obj: &Value, ty: &str) -> bool {
    find_condition(obj, ty).is_some_and(|c| c["status"] == "True")
}

/// Whether `obj`'s controller owner reference is `uid`.
pub fn controlled_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["uid"] == uid && r["controller"] == json!(true))
        })
}

pub fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub fn pod_ready(pod: &Value) -> bool {
    is_true(pod, "Ready")
}

pub fn pod_terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

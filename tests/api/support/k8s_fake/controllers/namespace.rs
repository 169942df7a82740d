//! Namespace controller: a namespace with a deletionTimestamp has its content deleted, then —
//! unless the test makes it linger in Terminating (for a while, or until released, like a stuck
//! finalizer) — goes away.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::super::state::{Linger, NamespaceRuntime, State};
use super::super::store::{ObjKey, name_of, time};
use super::super::write::{self, Propagation};

fn conditions(stuck: bool, at: &str) -> Value {
    let c = |ty: &str, status: bool, reason: &str, message: &str| json!({"type": ty, "status": if status { "True" } else { "False" }, "lastTransitionTime": at, "reason": reason, "message": message});
    json!([
        c(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered"
        ),
        c(
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed"
        ),
        c(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization"
        ),
        if stuck {
            c(
                "NamespaceContentRemaining",
                true,
                "SomeResourcesRemain",
                "Some resources are remaining: widgets.example.com has 1 resource instances",
            )
        } else {
            c(
                "NamespaceContentRemaining",
                false,
                "ContentRemoved",
                "All content successfully removed",
            )
        },
        if stuck {
            c(
                "NamespaceFinalizersRemaining",
                true,
                "SomeFinalizersRemain",
                "Some content in the namespace has finalizers remaining: example.com/stuck-finalizer in 1 resource instances",
            )
        } else {
            c(
                "NamespaceFinalizersRemaining",
                false,
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished",
            )
        },
    ])
}

pub fn reconcile(st: &mut State, now: Instant) -> Option<Instant> {
    if !st.knobs.namespace_controller {
        return None;
    }
    let ns_rt = write::namespace_type();
    let terminating: Vec<Value> = st
        .store
        .list(ns_rt.store, None)
        .filter(|n| n.pointer("/metadata/deletionTimestamp").is_some())
        .cloned()
        .collect();
    let mut wake = None;
    for ns in terminating {
        let name = name_of(&ns);
        // Delete the content; objects with finalizers wait for them.
        let mut remaining = 0;
        for key in st.store.keys_in_namespace(&name) {
            let Some(obj) = st.store.get(&key).cloned() else {
                continue;
            };
            let has_finalizers = obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if has_finalizers {
                st.store.mark_deleting(&key, |_| {});
                remaining += 1;
            } else {
                write::remove_now(st, &key, Propagation::Background);
            }
        }
        if remaining > 0 {
            continue;
        }
        let emptied_at = st
            .namespaces
            .entry(name.clone())
            .or_insert(NamespaceRuntime { emptied_at: now })
            .emptied_at;
        let done = match st.knobs.namespace_linger {
            Linger::No => true,
            Linger::For(d) => {
                if now >= emptied_at + d {
                    true
                } else {
                    wake = Some(wake.map_or(emptied_at + d, |w: Instant| w.min(emptied_at + d)));
                    false
                }
            }
            Linger::UntilReleased => st.released_namespaces.contains(&name),
        };
        let key = ObjKey::new(ns_rt, "", &name);
        if done {
            st.store.remove(&key);
            st.namespaces.remove(&name);
            st.released_namespaces.remove(&name);
        } else if ns.pointer("/status/conditions").is_none() {
            let stuck = st.knobs.namespace_linger == Linger::UntilReleased;
            let mut updated = ns.clone();
            updated["status"]["conditions"] = conditions(stuck, &time(st.store.clock.now()));
            st.store.update(ns_rt, updated);
        }
    }
    wake
}

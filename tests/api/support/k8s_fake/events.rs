//! Events: the simulated controllers and kubelet record core/v1 Events (repeats raise `count`),
//! and the events.k8s.io/v1 flavour is a view of the same objects (`regarding` ↔
//! `involvedObject`, `note` ↔ `message`, …), as on a real cluster.

use serde_json::{Map, Value, json};

use super::resources::{ResourceType, by_kind};
use super::store::{ObjKey, Store, name_of, namespace_of, time, uid_of};

/// (core/v1 field, events.k8s.io/v1 field)
const RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

const SHARED: &[&str] = &[
    "metadata",
    "eventTime",
    "series",
    "reportingInstance",
    "action",
    "reason",
    "related",
    "type",
];

fn rename(obj: &Value, to_new: bool, api_version: &str) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("Event"));
    for f in SHARED {
        if let Some(v) = obj.get(*f) {
            out.insert((*f).into(), v.clone());
        }
    }
    for (core, new) in RENAMES {
        let (from, to) = if to_new { (core, new) } else { (new, core) };
        if let Some(v) = obj.get(*from) {
            out.insert((*to).into(), v.clone());
        }
    }
    if let Some(series) = out.get_mut("series") {
        // core/v1 series uses lastObservedTime too; both carry count.
        if series.get("lastObservedTime").is_none()
            && let Some(t) = obj.get("lastTimestamp")
        {
            series["lastObservedTime"] = t.clone();
        }
    }
    Value::Object(out)
}

/// The stored (core/v1) object as the requested type shows it.
pub fn to_view(rt: &ResourceType, stored: &Value) -> Value {
    if rt.is("events.k8s.io", "Event") {
        rename(stored, true, "events.k8s.io/v1")
    } else {
        stored.clone()
    }
}

/// An object written through the requested type, as stored.
pub fn from_view(rt: &ResourceType, written: Value) -> Value {
    if rt.is("events.k8s.io", "Event") {
        rename(&written, false, "v1")
    } else {
        written
    }
}

/// What a simulated component reports about an object.
pub struct EventSpec<'a> {
    pub reason: &'a str,
    pub message: String,
    pub warning: bool,
    pub component: &'a str,
    pub field_path: Option<String>,
}

/// Records (or counts again) a core/v1 Event about `involved`.
pub fn record(store: &mut Store, involved: &Value, spec: EventSpec<'_>) {
    let Some(rt) = by_kind(
        involved["apiVersion"].as_str().unwrap_or_default(),
        involved["kind"].as_str().unwrap_or_default(),
    ) else {
        return;
    };
    let event_rt = by_kind("v1", "Event").expect("core events are served");
    let ns = match namespace_of(involved) {
        ns if ns.is_empty() => "default".to_string(),
        ns => ns,
    };
    let uid = uid_of(involved);
    let kind = if spec.warning { "Warning" } else { "Normal" };
    let now = time(store.clock.now());
    let existing = store
        .list(event_rt.store, Some(&ns))
        .find(|e| {
            e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid.as_str())
                && e["reason"] == spec.reason
                && e["message"] == spec.message.as_str()
                && e["type"] == kind
                && e.pointer("/source/component").and_then(Value::as_str) == Some(spec.component)
        })
        .cloned();
    if let Some(mut e) = existing {
        let count = e["count"].as_i64().unwrap_or(1) + 1;
        e["count"] = json!(count);
        e["lastTimestamp"] = json!(now);
        store.update(event_rt, e);
        return;
    }
    let mut involved_ref = json!({
        "kind": rt.kind,
        "namespace": namespace_of(involved),
        "name": name_of(involved),
        "uid": uid,
        "apiVersion": rt.api_version(),
        "resourceVersion": involved.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")),
    });
    if let Some(fp) = &spec.field_path {
        involved_ref["fieldPath"] = json!(fp);
    }
    let mut name;
    loop {
        name = format!("{}.{:016x}", name_of(involved), rand::random::<u64>());
        if store.get(&ObjKey::new(event_rt, &ns, &name)).is_none() {
            break;
        }
    }
    let host = if spec.component == "kubelet" {
        json!({"component": "kubelet", "host": super::NODE_NAME})
    } else {
        json!({"component": spec.component})
    };
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": involved_ref,
        "reason": spec.reason,
        "message": spec.message,
        "source": host,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": kind,
        "eventTime": null,
        "reportingComponent": spec.component,
        "reportingInstance": if spec.component == "kubelet" { super::NODE_NAME } else { "" },
    });
    store.insert(event_rt, event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_views_round_trip() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"name": "p"}, "message": "hello", "reason": "Started", "count": 2,
            "type": "Normal", "reportingComponent": "kubelet"});
        let rt_new = by_kind("events.k8s.io/v1", "Event").unwrap();
        let view = to_view(rt_new, &core);
        assert_eq!(view["regarding"]["name"], "p");
        assert_eq!(view["note"], "hello");
        assert_eq!(view["deprecatedCount"], 2);
        assert_eq!(view["reportingController"], "kubelet");
        assert_eq!(from_view(rt_new, view), core);
    }
}

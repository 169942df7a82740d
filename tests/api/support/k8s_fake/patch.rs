//! Patch semantics: JSON merge patch (RFC 7386, also used for strategic merge patch), JSON patch
//! (RFC 6902), and server-side apply: merge the applied configuration into the live object
//! (associative lists merged by key), drop what the same manager applied before and no longer
//! applies, and report conflicts with other managers' applied values unless forced.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// RFC 7386: `null` deletes, objects merge recursively, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// RFC 6902 on a copy; the error names the failing operation.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, String> {
    let ops: ::json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    let mut doc = target.clone();
    ::json_patch::patch(&mut doc, &ops).map_err(|e| e.to_string())?;
    Ok(doc)
}

/// The key that identifies elements of an associative list, if `items` is one.
fn list_key(items: &[Value]) -> Option<&'static str> {
    if items.is_empty() || !items.iter().all(Value::is_object) {
        return None;
    }
    ["name", "type", "mountPath", "containerPort", "port", "uid"]
        .into_iter()
        .find(|key| items.iter().all(|i| i.get(*key).is_some()))
}

fn key_of(item: &Value, key: &str) -> String {
    match &item[key] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Flattens a configuration into leaf paths (`.spec.containers[name=app].image`) with values.
pub fn leaf_paths(v: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten(v, String::new(), &mut out);
    out
}

fn flatten(v: &Value, prefix: String, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                flatten(child, format!("{prefix}.{k}"), out);
            }
        }
        Value::Array(items) => match list_key(items) {
            Some(key) => {
                for item in items {
                    let mut item_fields = item.clone();
                    if let Some(o) = item_fields.as_object_mut() {
                        o.remove(key);
                    }
                    let p = format!("{prefix}[{key}={}]", key_of(item, key));
                    out.insert(p.clone(), Value::Bool(true));
                    flatten(&item_fields, p, out);
                }
            }
            None => {
                out.insert(prefix, v.clone());
            }
        },
        _ => {
            out.insert(prefix, v.clone());
        }
    }
}

/// Merges `applied` into `live`: objects recursively, associative lists by key, the rest replaced.
fn apply_merge(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, v) in a {
                match l.get_mut(k) {
                    Some(existing) if !v.is_null() => apply_merge(existing, v),
                    _ => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) => {
            let key = list_key(a).filter(|k| l.iter().all(|i| i.get(*k).is_some()));
            match key {
                Some(key) => {
                    for item in a {
                        let id = key_of(item, key);
                        match l.iter_mut().find(|i| key_of(i, key) == id) {
                            Some(existing) => apply_merge(existing, item),
                            None => l.push(item.clone()),
                        }
                    }
                }
                None => *l = a.clone(),
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}

/// Removes from `live` the fields present in `previous` (what this manager applied last time) and
/// absent from `applied` (what it applies now).
fn remove_dropped(live: &mut Value, previous: &Value, applied: &Value) {
    match (live, previous) {
        (Value::Object(l), Value::Object(p)) => {
            for (k, prev_child) in p {
                match applied.get(k) {
                    None => {
                        l.remove(k);
                    }
                    Some(app_child) => {
                        if let Some(live_child) = l.get_mut(k) {
                            remove_dropped(live_child, prev_child, app_child);
                        }
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(p)) => {
            let Some(key) = list_key(p) else { return };
            let applied_items = applied.as_array().cloned().unwrap_or_default();
            for prev_item in p {
                let id = key_of(prev_item, key);
                match applied_items
                    .iter()
                    .find(|i| i.get(key).is_some() && key_of(i, key) == id)
                {
                    None => l.retain(|i| i.get(key).is_none() || key_of(i, key) != id),
                    Some(app_item) => {
                        if let Some(live_item) = l
                            .iter_mut()
                            .find(|i| i.get(key).is_some() && key_of(i, key) == id)
                        {
                            remove_dropped(live_item, prev_item, app_item);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// A server-side apply conflict: the field path and the manager that owns it.
#[derive(Debug, PartialEq)]
pub struct Conflict {
    pub manager: String,
    pub path: String,
}

/// Server-side apply of `applied` by `manager` onto `live` (None = create).
///
/// `applied_by` holds each apply manager's last applied configuration for this object.
/// Without `force`, a field whose value changes and that another manager applied is a conflict.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    applied_by: &BTreeMap<String, Value>,
) -> Result<Value, Vec<Conflict>> {
    let Some(live) = live else {
        return Ok(applied.clone());
    };
    let new_leaves = leaf_paths(applied);
    let live_leaves = leaf_paths(live);
    if !force {
        let mut conflicts = Vec::new();
        for (other, cfg) in applied_by {
            if other == manager {
                continue;
            }
            let owned = leaf_paths(cfg);
            for (path, value) in &new_leaves {
                if owned.contains_key(path) && live_leaves.get(path) != Some(value) {
                    conflicts.push(Conflict {
                        manager: other.clone(),
                        path: path.clone(),
                    });
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
    }
    let mut out = live.clone();
    if let Some(previous) = applied_by.get(manager) {
        remove_dropped(&mut out, previous, applied);
    }
    apply_merge(&mut out, applied);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_deletes_and_merges() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "d": [1, 2]});
        merge_patch(&mut t, &json!({"a": {"b": null, "e": 3}, "d": [3]}));
        assert_eq!(t, json!({"a": {"c": 2, "e": 3}, "d": [3]}));
    }

    #[test]
    fn apply_merges_lists_by_key_and_drops_what_the_manager_stopped_applying() {
        let live = json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}},
            "spec": {"containers": [{"name": "app", "image": "x:1", "env": [{"name": "A", "value": "1"}]},
                                    {"name": "side", "image": "s:1"}]}});
        let prev = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "app", "image": "x:1", "env": [{"name": "A", "value": "1"}]}]}});
        let applied = json!({"metadata": {"labels": {"a": "1"}},
            "spec": {"containers": [{"name": "app", "image": "x:2"}]}});
        let by = BTreeMap::from([("maestro".to_string(), prev)]);
        let out = server_side_apply(Some(&live), &applied, "maestro", false, &by).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"a": "1", "c": "3"}));
        let containers = out["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0], json!({"name": "app", "image": "x:2"}));
    }

    #[test]
    fn apply_conflicts_with_another_manager_unless_forced() {
        let live = json!({"spec": {"replicas": 3}});
        let by = BTreeMap::from([("other".to_string(), json!({"spec": {"replicas": 3}}))]);
        let applied = json!({"spec": {"replicas": 1}});
        let err = server_side_apply(Some(&live), &applied, "maestro", false, &by).unwrap_err();
        assert_eq!(
            err,
            vec![Conflict {
                manager: "other".into(),
                path: ".spec.replicas".into()
            }]
        );
        let out = server_side_apply(Some(&live), &applied, "maestro", true, &by).unwrap();
        assert_eq!(out, json!({"spec": {"replicas": 1}}));
        // The same value is no conflict.
        let same = json!({"spec": {"replicas": 3}});
        assert!(server_side_apply(Some(&live), &same, "maestro", false, &by).is_ok());
    }
}

//! Quota controller: keeps each ResourceQuota's `status.hard` and `status.used` current.

use serde_json::{Map, Value, json};

use super::super::admission::namespace_usage;
use super::super::quantity::{format_milli, parse_milli};
use super::super::resources::by_kind;
use super::super::state::State;
use super::super::store::namespace_of;

pub fn reconcile(st: &mut State) {
    if !st.knobs.quota_admission {
        return;
    }
    let q_rt = by_kind("v1", "ResourceQuota").expect("quotas are served");
    let quotas: Vec<Value> = st.store.list(q_rt.store, None).cloned().collect();
    for q in quotas {
        let Some(hard) = q["spec"]["hard"].as_object().cloned() else {
            continue;
        };
        let keys: Vec<String> = hard.keys().cloned().collect();
        let used = namespace_usage(st, &namespace_of(&q), &keys);
        let mut used_json = Map::new();
        for (k, v) in &used {
            used_json.insert(k.clone(), json!(format_milli(k, *v)));
        }
        let hard_json: Map<String, Value> = hard
            .iter()
            .map(|(k, v)| {
                let canonical = v.as_str().and_then(parse_milli).map(|m| format_milli(k, m));
                (
                    k.clone(),
                    canonical.map(Value::from).unwrap_or_else(|| v.clone()),
                )
            })
            .collect();
        let mut updated = q.clone();
        updated["status"] = json!({"hard": hard_json, "used": used_json});
        st.store.update(q_rt, updated);
    }
}

//! Admission on create, in the API server's order: namespace lifecycle (missing → 404,
//! terminating → 403), LimitRanger (defaults, max/min), PodSecurity (`enforce` label: baseline,
//! restricted), ResourceQuota (`must specify`, `exceeded quota`, object counts). The messages
//! are the real ones, so code that parses them can be tested.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::quantity::{format_milli, parse_milli};
use super::resources::{ResourceType, by_kind};
use super::state::State;
use super::status::ApiFailure;
use super::store::{ObjKey, name_of};

/// 404 for a missing namespace, 403 for a terminating one.
pub fn namespace_lifecycle(
    st: &State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
) -> Result<(), ApiFailure> {
    if !rt.namespaced {
        return Ok(());
    }
    let ns_rt = by_kind("v1", "Namespace").expect("namespaces are served");
    let Some(ns_obj) = st.store.get(&ObjKey::new(ns_rt, "", ns)) else {
        return Err(ApiFailure::not_found(ns_rt, ns));
    };
    if ns_obj.pointer("/metadata/deletionTimestamp").is_some() {
        let mut f = ApiFailure::forbidden(
            rt,
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        );
        if let Some(d) = f.details.as_mut() {
            d["causes"] = json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
        }
        return Err(f);
    }
    Ok(())
}

const COMPUTE: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// Applies LimitRange defaults (type Container) to a pod and checks max/min.
pub fn limit_ranger(st: &State, ns: &str, pod: &mut Value) -> Result<(), String> {
    let lr_rt = by_kind("v1", "LimitRange").expect("limitranges are served");
    let ranges: Vec<Value> = st.store.list(lr_rt.store, Some(ns)).cloned().collect();
    let mut set_requests = Vec::new();
    let mut set_limits = Vec::new();
    for list in ["initContainers", "containers"] {
        let Some(cs) = pod
            .get_mut("spec")
            .and_then(|s| s.get_mut(list))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in cs {
            let cname = c["name"].as_str().unwrap_or_default().to_string();
            if !c["resources"].is_object() {
                c["resources"] = json!({});
            }
            for lr in &ranges {
                for item in lr["spec"]["limits"].as_array().into_iter().flatten() {
                    if item["type"] != "Container" {
                        continue;
                    }
                    let defaults = [("limits", "default"), ("requests", "defaultRequest")];
                    for (field, key) in defaults {
                        let Some(map) = item[key].as_object() else {
                            continue;
                        };
                        for (res, q) in map {
                            if c["resources"][field].get(res).is_none() {
                                if !c["resources"][field].is_object() {
                                    c["resources"][field] = json!({});
                                }
                                c["resources"][field][res] = q.clone();
                                if field == "limits" {
                                    set_limits.push((res.clone(), cname.clone()))
                                } else {
                                    set_requests.push((res.clone(), cname.clone()))
                                }
                            }
                        }
                    }
                    // A default limit without a defaultRequest also becomes the request.
                    if let Some(map) = item["default"].as_object() {
                        for (res, q) in map {
                            if item["defaultRequest"].get(res).is_none()
                                && c["resources"]["requests"].get(res).is_none()
                            {
                                if !c["resources"]["requests"].is_object() {
                                    c["resources"]["requests"] = json!({});
                                }
                                c["resources"]["requests"][res] = q.clone();
                                set_requests.push((res.clone(), cname.clone()));
                            }
                        }
                    }
                    for (bound, word) in [("max", "maximum"), ("min", "minimum")] {
                        let Some(map) = item[bound].as_object() else {
                            continue;
                        };
                        for (res, q) in map {
                            let limit = parse_milli(q.as_str().unwrap_or_default()).unwrap_or(0);
                            let (field, label) = if bound == "max" {
                                ("limits", "limit")
                            } else {
                                ("requests", "request")
                            };
                            let have = c["resources"][field][res].as_str().and_then(parse_milli);
                            let bad = match have {
                                None => bound == "max",
                                Some(h) => {
                                    if bound == "max" {
                                        h > limit
                                    } else {
                                        h < limit
                                    }
                                }
                            };
                            if bad {
                                return Err(match have {
                                    None => format!(
                                        "{word} {res} usage per Container is {}.  No {label} is specified",
                                        q.as_str().unwrap_or_default()
                                    ),
                                    Some(h) => format!(
                                        "{word} {res} usage per Container is {}, but {label} is {}",
                                        q.as_str().unwrap_or_default(),
                                        format_milli(res, h)
                                    ),
                                });
                            }
                        }
                    }
                }
            }
            // Core defaulting: a limit without a request makes the request.
            if let Some(limits) = c["resources"]["limits"].as_object().cloned() {
                for (res, q) in limits {
                    if c["resources"]["requests"].get(&res).is_none() {
                        if !c["resources"]["requests"].is_object() {
                            c["resources"]["requests"] = json!({});
                        }
                        c["resources"]["requests"][res] = q;
                    }
                }
            }
        }
    }
    if !set_requests.is_empty() || !set_limits.is_empty() {
        let describe = |v: &[(String, String)], what: &str| -> Vec<String> {
            let mut by_c: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (r, c) in v {
                by_c.entry(c.clone()).or_default().push(r.clone());
            }
            by_c.into_iter()
                .map(|(c, rs)| format!("{} {what} for container {c}", rs.join(", ")))
                .collect()
        };
        let mut parts = describe(&set_requests, "request");
        parts.extend(describe(&set_limits, "limit"));
        if !pod["metadata"]["annotations"].is_object() {
            pod["metadata"]["annotations"] = json!({});
        }
        pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] =
            json!(format!("LimitRanger plugin set: {}", parts.join("; ")));
    }
    Ok(())
}

const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// PodSecurity for the namespace's `enforce` level; the violations as the real message lists them.
pub fn pod_security(level: &str, pod: &Value) -> Result<(), String> {
    if level != "baseline" && level != "restricted" {
        return Ok(());
    }
    let spec = &pod["spec"];
    let mut v = Vec::new();
    let host: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|f| spec[**f] == json!(true))
        .map(|f| format!("{f}=true"))
        .collect();
    if !host.is_empty() {
        v.push(format!("host namespaces ({})", host.join(", ")));
    }
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|l| spec[*l].as_array().into_iter().flatten())
        .collect();
    let cname = |c: &Value| c["name"].as_str().unwrap_or_default().to_string();
    let privileged: Vec<String> = containers
        .iter()
        .filter(|c| c["securityContext"]["privileged"] == json!(true))
        .map(|c| format!("{:?}", cname(c)))
        .collect();
    if !privileged.is_empty() {
        v.push(format!(
            "privileged (container {} must not set securityContext.privileged=true)",
            privileged.join(", ")
        ));
    }
    for c in &containers {
        let added: Vec<String> = c["securityContext"]["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|cap| !BASELINE_CAPS.contains(cap))
            .map(|cap| format!("{cap:?}"))
            .collect();
        if !added.is_empty() {
            v.push(format!("non-default capabilities (container {:?} must not include {} in securityContext.capabilities.add)", cname(c), added.join(", ")));
        }
        for p in c["ports"].as_array().into_iter().flatten() {
            if let Some(hp) = p["hostPort"].as_i64().filter(|p| *p != 0) {
                v.push(format!(
                    "hostPort (container {:?} uses hostPort {hp})",
                    cname(c)
                ));
            }
        }
    }
    for vol in spec["volumes"].as_array().into_iter().flatten() {
        if vol.get("hostPath").is_some() {
            v.push(format!(
                "hostPath volumes (volume {:?})",
                vol["name"].as_str().unwrap_or_default()
            ));
        }
    }
    if level == "restricted" {
        let pod_sc = &spec["securityContext"];
        for c in &containers {
            let sc = &c["securityContext"];
            if sc["allowPrivilegeEscalation"] != json!(false) {
                v.push(format!("allowPrivilegeEscalation != false (container {:?} must set securityContext.allowPrivilegeEscalation=false)", cname(c)));
            }
            let drops_all = sc["capabilities"]["drop"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x == "ALL"));
            if !drops_all {
                v.push(format!("unrestricted capabilities (container {:?} must set securityContext.capabilities.drop=[\"ALL\"])", cname(c)));
            }
            if sc["runAsNonRoot"] != json!(true) && pod_sc["runAsNonRoot"] != json!(true) {
                v.push(format!("runAsNonRoot != true (pod or container {:?} must set securityContext.runAsNonRoot=true)", cname(c)));
            }
            let seccomp = |s: &Value| {
                matches!(
                    s["seccompProfile"]["type"].as_str(),
                    Some("RuntimeDefault" | "Localhost")
                )
            };
            if !seccomp(sc) && !seccomp(pod_sc) {
                v.push(format!("seccompProfile (pod or container {:?} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")", cname(c)));
            }
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "violates PodSecurity \"{level}:latest\": {}",
            v.join(", ")
        ))
    }
}

/// What one pod uses per quota key (requests.cpu, limits.memory, pods, …), in milli-units.
pub fn pod_usage(pod: &Value) -> BTreeMap<String, i128> {
    let mut sum: BTreeMap<String, i128> = BTreeMap::new();
    let sum_of = |list: &str, field: &str, res: &str| -> i128 {
        pod["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                c["resources"][field][res]
                    .as_str()
                    .and_then(parse_milli)
                    .unwrap_or(0)
            })
            .sum()
    };
    let max_of = |list: &str, field: &str, res: &str| -> i128 {
        pod["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                c["resources"][field][res]
                    .as_str()
                    .and_then(parse_milli)
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0)
    };
    for res in COMPUTE {
        for field in ["requests", "limits"] {
            let v = sum_of("containers", field, res).max(max_of("initContainers", field, res));
            sum.insert(format!("{field}.{res}"), v);
            if field == "requests" {
                sum.insert((*res).to_string(), v);
            }
        }
    }
    sum.insert("pods".into(), 1000);
    sum.insert("count/pods".into(), 1000);
    sum
}

/// Whether a pod counts against quota (not finished, not being deleted).
pub fn pod_counts(pod: &Value) -> bool {
    !matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// The object-count quota keys an object of this type is counted under.
fn count_keys(rt: &ResourceType) -> Vec<String> {
    let mut keys = vec![format!("count/{}", rt.qualified_plural())];
    if rt.group.is_empty()
        && matches!(
            rt.plural,
            "services"
                | "secrets"
                | "configmaps"
                | "persistentvolumeclaims"
                | "resourcequotas"
                | "pods"
        )
    {
        keys.push(rt.plural.to_string());
    }
    keys
}

/// Usage in a namespace for the given quota keys, in milli-units.
pub fn namespace_usage(st: &State, ns: &str, keys: &[String]) -> BTreeMap<String, i128> {
    let pod_rt = by_kind("v1", "Pod").expect("pods are served");
    let mut used: BTreeMap<String, i128> = keys.iter().map(|k| (k.clone(), 0)).collect();
    for pod in st
        .store
        .list(pod_rt.store, Some(ns))
        .filter(|p| pod_counts(p))
    {
        for (k, v) in pod_usage(pod) {
            if let Some(u) = used.get_mut(&k) {
                *u += v;
            }
        }
    }
    for rt in super::resources::RESOURCES
        .iter()
        .filter(|r| r.namespaced && !(r.group.is_empty() && r.kind == "Pod"))
    {
        for key in count_keys(rt) {
            if let Some(u) = used.get_mut(&key) {
                *u += 1000 * st.store.list(rt.store, Some(ns)).count() as i128;
            }
        }
    }
    used
}

fn describe(map: &BTreeMap<String, i128>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", format_milli(k, *v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// ResourceQuota admission for a new object; the error is the text after `is forbidden: `.
pub fn quota(st: &State, rt: &ResourceType, ns: &str, obj: &Value) -> Result<(), String> {
    let q_rt = by_kind("v1", "ResourceQuota").expect("quotas are served");
    let quotas: Vec<Value> = st.store.list(q_rt.store, Some(ns)).cloned().collect();
    let is_pod = rt.group.is_empty() && rt.kind == "Pod";
    let mut requested: BTreeMap<String, i128> = if is_pod {
        pod_usage(obj)
    } else {
        BTreeMap::new()
    };
    for k in count_keys(rt) {
        requested.insert(k, 1000);
    }
    for q in quotas {
        let qname = name_of(&q);
        let Some(hard) = q["spec"]["hard"].as_object() else {
            continue;
        };
        let hard: BTreeMap<String, i128> = hard
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), parse_milli(v.as_str()?)?)))
            .collect();
        if is_pod {
            let mut missing = Vec::new();
            for key in hard.keys() {
                let (field, res) = match key.split_once('.') {
                    Some((f @ ("requests" | "limits"), r)) if COMPUTE.contains(&r) => (f, r),
                    None if COMPUTE.contains(&key.as_str()) => ("requests", key.as_str()),
                    _ => continue,
                };
                let lacking: Vec<String> = obj["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["resources"][field].get(res).is_none())
                    .map(|c| c["name"].as_str().unwrap_or_default().to_string())
                    .collect();
                if !lacking.is_empty() {
                    missing.push(format!("{key} for: {}", lacking.join(",")));
                }
            }
            if !missing.is_empty() {
                return Err(format!(
                    "failed quota: {qname}: must specify {}",
                    missing.join("; ")
                ));
            }
        }
        let constrained: Vec<String> = hard
            .keys()
            .filter(|k| requested.get(*k).is_some_and(|v| *v > 0))
            .cloned()
            .collect();
        if constrained.is_empty() {
            continue;
        }
        let used = namespace_usage(st, ns, &constrained);
        let exceeded: Vec<&String> = constrained
            .iter()
            .filter(|k| used[*k] + requested[*k] > hard[*k])
            .collect();
        if !exceeded.is_empty() {
            let pick = |m: &BTreeMap<String, i128>| -> BTreeMap<String, i128> {
                exceeded
                    .iter()
                    .map(|k| ((*k).clone(), m.get(*k).copied().unwrap_or(0)))
                    .collect()
            };
            return Err(format!(
                "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                describe(&pick(&requested)),
                describe(&pick(&used)),
                describe(&pick(&hard))
            ));
        }
    }
    Ok(())
}

/// Every admission step for a new object (already defaulted and validated).
pub fn admit(st: &State, rt: &ResourceType, ns: &str, obj: &mut Value) -> Result<(), ApiFailure> {
    let name = name_of(obj);
    namespace_lifecycle(st, rt, ns, &name)?;
    if rt.group.is_empty() && rt.kind == "Pod" {
        if st.knobs.limit_ranger {
            limit_ranger(st, ns, obj).map_err(|why| ApiFailure::forbidden(rt, &name, &why))?;
        }
        if st.knobs.pod_security {
            let ns_rt = by_kind("v1", "Namespace").expect("namespaces are served");
            let level = st.store.get(&ObjKey::new(ns_rt, "", ns)).and_then(|n| {
                n.pointer("/metadata/labels/pod-security.kubernetes.io~1enforce")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            if let Some(level) = level {
                pod_security(&level, obj).map_err(|why| ApiFailure::forbidden(rt, &name, &why))?;
            }
        }
    }
    if st.knobs.quota_admission && rt.namespaced {
        quota(st, rt, ns, obj).map_err(|why| ApiFailure::forbidden(rt, &name, &why))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_security_levels() {
        let pod = json!({"spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}});
        assert_eq!(
            pod_security("baseline", &pod).unwrap_err(),
            "violates PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true), hostPath volumes (volume \"h\")"
        );
        let plain = json!({"spec": {"containers": [{"name": "c"}]}});
        assert!(pod_security("baseline", &plain).is_ok());
        assert!(
            pod_security("restricted", &plain)
                .unwrap_err()
                .contains("runAsNonRoot != true")
        );
        assert!(pod_security("privileged", &pod).is_ok());
    }

    #[test]
    fn pod_usage_sums_containers() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "250m"}}}]}});
        let u = pod_usage(&pod);
        assert_eq!(u["limits.cpu"], 1500);
        assert_eq!(u["requests.cpu"], 250);
        assert_eq!(u["pods"], 1000);
    }
}

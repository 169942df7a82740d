//! What the API server does to an object before admission: defaulting (namespace label and
//! finalizer, Job selector and labels, Deployment and Service defaults, Secret `stringData`) and
//! validation (names, labels, required fields) answered as 422 `Invalid`.

use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;
use serde_json::{Map, Value, json};

use super::resources::ResourceType;
use super::selectors::{LabelSelector, labels_of};
use super::status::ApiFailure;
use super::store::{name_of, uid_of};

static DNS_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("regex"));
static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").expect("regex")
});
static LABEL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").expect("regex"));
static LABEL_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$").expect("regex"));

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

type Causes = Vec<(String, String)>;

fn check_dns_label(field: &str, v: &str, causes: &mut Causes) {
    if v.len() > 63 {
        causes.push((
            field.into(),
            format!("Invalid value: {v:?}: must be no more than 63 characters"),
        ));
    } else if !DNS_LABEL.is_match(v) {
        causes.push((field.into(), format!("Invalid value: {v:?}: {LABEL_MSG}")));
    }
}

fn check_subdomain(field: &str, v: &str, causes: &mut Causes) {
    if v.len() > 253 {
        causes.push((
            field.into(),
            format!("Invalid value: {v:?}: must be no more than 253 characters"),
        ));
    } else if !DNS_SUBDOMAIN.is_match(v) {
        causes.push((
            field.into(),
            format!("Invalid value: {v:?}: {SUBDOMAIN_MSG}"),
        ));
    }
}

fn check_labels(field: &str, labels: Option<&Value>, causes: &mut Causes) {
    let Some(map) = labels.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in map {
        let (prefix, name) = k
            .rsplit_once('/')
            .map_or((None, k.as_str()), |(p, n)| (Some(p), n));
        if let Some(p) = prefix {
            check_subdomain(field, p, causes);
        }
        if name.len() > 63 {
            causes.push((
                field.into(),
                format!("Invalid value: {k:?}: name part must be no more than 63 characters"),
            ));
        } else if !LABEL_NAME.is_match(name) {
            causes.push((field.into(), format!("Invalid value: {k:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")));
        }
        match v.as_str() {
            Some(s) if s.len() > 63 => causes.push((
                field.into(),
                format!("Invalid value: {s:?}: must be no more than 63 characters"),
            )),
            Some(s) if !LABEL_VALUE.is_match(s) => {
                causes.push((field.into(), format!("Invalid value: {s:?}: {VALUE_MSG}")))
            }
            Some(_) => {}
            None => causes.push((
                field.into(),
                format!("Invalid value: {v}: label values must be strings"),
            )),
        }
    }
}

fn check_pod_spec(field: &str, spec: &Value, causes: &mut Causes) {
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    if containers.is_empty() {
        causes.push((format!("{field}.containers"), "Required value".into()));
    }
    let mut names = std::collections::HashSet::new();
    for (list, items) in [
        (
            "initContainers",
            spec["initContainers"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        ),
        ("containers", containers),
    ] {
        for (i, c) in items.iter().enumerate() {
            let f = format!("{field}.{list}[{i}]");
            match c["name"].as_str() {
                Some(n) => {
                    check_dns_label(&format!("{f}.name"), n, causes);
                    if !names.insert(n.to_string()) {
                        causes.push((format!("{f}.name"), format!("Duplicate value: {n:?}")));
                    }
                }
                None => causes.push((format!("{f}.name"), "Required value".into())),
            }
            if c["image"].as_str().is_none_or(str::is_empty) {
                causes.push((format!("{f}.image"), "Required value".into()));
            }
        }
    }
}

/// Validates an object about to be stored; 422 with every problem.
pub fn validate(rt: &ResourceType, obj: &Value) -> Result<(), ApiFailure> {
    let mut causes = Causes::new();
    let name = name_of(obj);
    if name.is_empty() {
        causes.push((
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else if matches!(rt.kind, "Namespace" | "Service") {
        check_dns_label("metadata.name", &name, &mut causes);
    } else if rt.kind != "Event" {
        check_subdomain("metadata.name", &name, &mut causes);
    }
    check_labels(
        "metadata.labels",
        obj.pointer("/metadata/labels"),
        &mut causes,
    );
    match (rt.group, rt.kind) {
        ("", "Pod") => check_pod_spec("spec", &obj["spec"], &mut causes),
        ("batch", "Job") => {
            let tmpl = &obj["spec"]["template"];
            check_labels(
                "spec.template.metadata.labels",
                tmpl.pointer("/metadata/labels"),
                &mut causes,
            );
            check_pod_spec("spec.template.spec", &tmpl["spec"], &mut causes);
            match tmpl["spec"]["restartPolicy"].as_str() {
                Some("Never" | "OnFailure") => {}
                Some(other) => causes.push((
                    "spec.template.spec.restartPolicy".into(),
                    format!(
                        "Unsupported value: {other:?}: supported values: \"OnFailure\", \"Never\""
                    ),
                )),
                None => causes.push((
                    "spec.template.spec.restartPolicy".into(),
                    "Required value: valid values: \"OnFailure\", \"Never\"".into(),
                )),
            }
            for f in ["backoffLimit", "activeDeadlineSeconds"] {
                if obj["spec"][f]
                    .as_i64()
                    .is_some_and(|n| n < 0 || (f == "activeDeadlineSeconds" && n == 0))
                {
                    causes.push((
                        format!("spec.{f}"),
                        format!(
                            "Invalid value: {}: must be greater than or equal to {}",
                            obj["spec"][f],
                            i32::from(f == "activeDeadlineSeconds")
                        ),
                    ));
                }
            }
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet") => {
            let tmpl = &obj["spec"]["template"];
            check_labels(
                "spec.template.metadata.labels",
                tmpl.pointer("/metadata/labels"),
                &mut causes,
            );
            check_pod_spec("spec.template.spec", &tmpl["spec"], &mut causes);
            match obj["spec"].get("selector") {
                None => causes.push(("spec.selector".into(), "Required value".into())),
                Some(sel) => {
                    let s = LabelSelector::from_label_selector_json(sel);
                    if s.is_empty() || !s.matches(&labels_of(tmpl)) {
                        causes.push((
                            "spec.template.metadata.labels".into(),
                            format!(
                                "Invalid value: {}: `selector` does not match template `labels`",
                                tmpl.pointer("/metadata/labels")
                                    .cloned()
                                    .unwrap_or(json!({}))
                            ),
                        ));
                    }
                }
            }
            if obj["spec"]["template"]["spec"]["restartPolicy"]
                .as_str()
                .is_some_and(|p| p != "Always")
            {
                causes.push((
                    "spec.template.spec.restartPolicy".into(),
                    "Unsupported value: supported values: \"Always\"".into(),
                ));
            }
        }
        ("", "Service")
            if obj["spec"]["ports"].as_array().is_none_or(Vec::is_empty)
                && obj["spec"]["clusterIP"] != "None" =>
        {
            causes.push(("spec.ports".into(), "Required value".into()));
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiFailure::invalid(rt, &name, &causes))
    }
}

fn set_default(obj: &mut Value, path: &[&str], v: Value) {
    let mut cur = obj;
    for (i, p) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let m = cur.as_object_mut().expect("made an object");
        if i == path.len() - 1 {
            m.entry(p.to_string()).or_insert(v);
            return;
        }
        cur = m.entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

fn default_pod_spec(spec: &mut Value) {
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["securityContext"], json!({}));
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                set_default(
                    c,
                    &["terminationMessagePath"],
                    json!("/dev/termination-log"),
                );
                set_default(c, &["terminationMessagePolicy"], json!("File"));
                let image = c["image"].as_str().unwrap_or_default().to_string();
                let latest = image.ends_with(":latest")
                    || !image.rsplit('/').next().unwrap_or_default().contains(':');
                set_default(
                    c,
                    &["imagePullPolicy"],
                    json!(if latest { "Always" } else { "IfNotPresent" }),
                );
                set_default(c, &["resources"], json!({}));
            }
        }
    }
}

/// Fills server-side defaults. `obj` has its uid already.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    let name = name_of(obj);
    let uid = uid_of(obj);
    match (rt.group, rt.kind) {
        ("", "Namespace") => {
            set_default(obj, &["metadata", "labels"], json!({}));
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            set_default(obj, &["spec", "finalizers"], json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "Pod") => {
            default_pod_spec(&mut obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        ("batch", "Job") => {
            let spec = &mut obj["spec"];
            set_default(spec, &["backoffLimit"], json!(6));
            set_default(spec, &["completions"], json!(1));
            set_default(spec, &["parallelism"], json!(1));
            set_default(spec, &["completionMode"], json!("NonIndexed"));
            set_default(spec, &["suspend"], json!(false));
            set_default(
                spec,
                &["podReplacementPolicy"],
                json!("TerminatingOrFailed"),
            );
            set_default(spec, &["manualSelector"], json!(false));
            if spec["manualSelector"] != json!(true) {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
            }
            set_default(spec, &["template", "metadata", "labels"], json!({}));
            let labels = &mut spec["template"]["metadata"]["labels"];
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", &uid),
                ("batch.kubernetes.io/job-name", &name),
                ("controller-uid", &uid),
                ("job-name", &name),
            ] {
                labels[k] = json!(v);
            }
            default_pod_spec(&mut spec["template"]["spec"]);
            set_default(obj, &["status"], json!({}));
        }
        ("apps", "Deployment") => {
            let spec = &mut obj["spec"];
            set_default(spec, &["replicas"], json!(1));
            set_default(spec, &["revisionHistoryLimit"], json!(10));
            set_default(spec, &["progressDeadlineSeconds"], json!(600));
            set_default(
                spec,
                &["strategy"],
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            default_pod_spec(&mut spec["template"]["spec"]);
            set_default(obj, &["status"], json!({}));
        }
        ("apps", "ReplicaSet" | "StatefulSet") => {
            set_default(&mut obj["spec"], &["replicas"], json!(1));
            default_pod_spec(&mut obj["spec"]["template"]["spec"]);
            set_default(obj, &["status"], json!({"replicas": 0}));
        }
        ("", "Service") => {
            let spec = &mut obj["spec"];
            set_default(spec, &["type"], json!("ClusterIP"));
            set_default(spec, &["sessionAffinity"], json!("None"));
            if spec.get("clusterIP").is_none() {
                let hex = uid.replace('-', "");
                let n = hex
                    .get(..4)
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                    .unwrap_or(1);
                spec["clusterIP"] = json!(format!("10.96.{}.{}", n >> 8, (n & 0xff).max(1)));
            }
            let ip = spec["clusterIP"].clone();
            set_default(spec, &["clusterIPs"], json!([ip]));
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_default(p, &["protocol"], json!("TCP"));
                    let port = p["port"].clone();
                    set_default(p, &["targetPort"], port);
                }
            }
            set_default(obj, &["status"], json!({"loadBalancer": {}}));
        }
        ("", "Secret") => {
            set_default(obj, &["type"], json!("Opaque"));
            fold_string_data(obj);
        }
        ("", "ResourceQuota") => {
            set_default(obj, &["status"], json!({}));
        }
        _ => {}
    }
}

/// `stringData` is write-only: folded into `data` (base64) on every write.
pub fn fold_string_data(obj: &mut Value) {
    let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    if !obj["data"].is_object() {
        obj["data"] = json!({});
    }
    for (k, v) in sd {
        let text = v.as_str().unwrap_or_default();
        obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

#[cfg(test)]
mod tests {
    use super::super::resources::by_kind;
    use super::*;

    #[test]
    fn validation_messages() {
        let ns = by_kind("v1", "Namespace").unwrap();
        let err = validate(ns, &json!({"metadata": {"name": "Bad_Name"}})).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.starts_with("Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"), "{}", err.message);
        let long = "x".repeat(64);
        let err = validate(
            ns,
            &json!({"metadata": {"name": "ok", "labels": {"a": long}}}),
        )
        .unwrap_err();
        assert!(
            err.message.contains("must be no more than 63 characters"),
            "{}",
            err.message
        );
        assert!(validate(ns, &json!({"metadata": {"name": "ok", "labels": {"app.kubernetes.io/managed-by": "maestro"}}})).is_ok());
        let job = by_kind("batch/v1", "Job").unwrap();
        let err = validate(job, &json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}})).unwrap_err();
        assert!(
            err.message
                .contains("spec.template.spec.restartPolicy: Required value"),
            "{}",
            err.message
        );
    }

    #[test]
    fn secret_string_data_is_folded() {
        let mut s = json!({"metadata": {"name": "s"}, "stringData": {"password": "pw"}});
        apply_defaults(by_kind("v1", "Secret").unwrap(), &mut s);
        assert_eq!(s["data"]["password"], "cHc=");
        assert!(s.get("stringData").is_none());
        assert_eq!(s["type"], "Opaque");
    }
}

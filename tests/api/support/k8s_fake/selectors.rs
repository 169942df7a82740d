//! Label selectors (`=`, `==`, `!=`, `key`, `!key`, `in`, `notin`, `>`/`<`) and field selectors
//! (`=`, `==`, `!=` on the fields each type supports), parsed and matched like the API server.

use std::collections::BTreeMap;

use serde_json::Value;

use super::resources::ResourceType;

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if input.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for raw in split_top(input) {
            let part = raw.trim();
            let err = |why: &str| format!("unable to parse requirement: {why}: {part:?}");
            if part.is_empty() {
                return Err(err("found '', expected: identifier"));
            }
            let check_key = |k: &str| {
                if valid_key(k) {
                    Ok(k.to_string())
                } else {
                    Err(err(&format!("invalid label key {k:?}")))
                }
            };
            let check_val = |v: &str| {
                if valid_value(v) {
                    Ok(v.to_string())
                } else {
                    Err(err(&format!("invalid label value {v:?}")))
                }
            };
            if let Some(k) = part.strip_prefix('!') {
                reqs.push(LabelReq::NotExists(check_key(k.trim())?));
                continue;
            }
            if let Some((k, v)) = part.split_once("!=") {
                reqs.push(LabelReq::NotEq(check_key(k.trim())?, check_val(v.trim())?));
                continue;
            }
            if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                reqs.push(LabelReq::Eq(check_key(k.trim())?, check_val(v.trim())?));
                continue;
            }
            let ordered = part
                .split_once('>')
                .map(|(k, v)| (k, v, true))
                .or_else(|| part.split_once('<').map(|(k, v)| (k, v, false)));
            if let Some((k, v, gt)) = ordered {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| err("for 'Gt', 'Lt' operators, the value must be an integer"))?;
                let k = check_key(k.trim())?;
                reqs.push(if gt {
                    LabelReq::Gt(k, n)
                } else {
                    LabelReq::Lt(k, n)
                });
                continue;
            }
            let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
            if words.len() == 2 {
                let key = check_key(words[0])?;
                let rest = words[1].trim();
                let (neg, list) = if let Some(l) = rest.strip_prefix("notin") {
                    (true, l)
                } else if let Some(l) = rest.strip_prefix("in") {
                    (false, l)
                } else {
                    return Err(err(
                        "found unexpected operator, expected one of in, notin, =, ==, !=, gt, lt",
                    ));
                };
                let list = list.trim();
                let inner = list
                    .strip_prefix('(')
                    .and_then(|l| l.strip_suffix(')'))
                    .ok_or_else(|| err("expected a parenthesised set of values"))?;
                let values = inner
                    .split(',')
                    .map(|v| check_val(v.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                reqs.push(if neg {
                    LabelReq::NotIn(key, values)
                } else {
                    LabelReq::In(key, values)
                });
                continue;
            }
            reqs.push(LabelReq::Exists(check_key(part)?));
        }
        Ok(LabelSelector(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => labels.get(k) == Some(v),
            LabelReq::NotEq(k, v) => labels.get(k) != Some(v),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
            LabelReq::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            LabelReq::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            LabelReq::Gt(k, n) => labels
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            LabelReq::Lt(k, n) => labels
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }

    /// Matches a JSON object's `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.is_empty() || self.matches(&labels_of(obj))
    }

    /// From a `metav1.LabelSelector` JSON (`matchLabels` + `matchExpressions`).
    pub fn from_label_selector_json(sel: &Value) -> Self {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(LabelReq::Eq(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e["key"].as_str().unwrap_or_default().to_string();
                let values: Vec<String> = e["values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                reqs.push(match e["operator"].as_str().unwrap_or_default() {
                    "In" => LabelReq::In(key, values),
                    "NotIn" => LabelReq::NotIn(key, values),
                    "DoesNotExist" => LabelReq::NotExists(key),
                    _ => LabelReq::Exists(key),
                });
            }
        }
        LabelSelector(reqs)
    }
}

pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// The fields a type can be selected by (beyond `metadata.name` and `metadata.namespace`).
fn supported_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "Event") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "Namespace") => &["status.phase"],
        ("", "Secret") => &["type"],
        ("", "Node") => &["spec.unschedulable"],
        ("batch", "Job") => &["status.successful"],
        ("apps", "ReplicaSet") => &["status.replicas"],
        _ => &[],
    }
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits on commas not escaped with a backslash.
fn split_unescaped(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut cur, mut esc) = (String::new(), false);
    for c in s.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

impl FieldSelector {
    pub fn parse(input: &str, rt: &ResourceType) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if input.trim().is_empty() {
            return Ok(FieldSelector(reqs));
        }
        for part in split_unescaped(input) {
            let part = part.trim();
            let (field, eq, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{input}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !supported_fields(rt).contains(&field)
            {
                return Err(format!("field label not supported: {field}"));
            }
            reqs.push((field.to_string(), eq, unescape(value.trim())));
        }
        Ok(FieldSelector(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0
            .iter()
            .all(|(field, eq, want)| (field_value(obj, field) == *want) == *eq)
    }
}

/// A field's value as a string ("" when absent), `source` meaning `source.component`.
fn field_value(obj: &Value, field: &str) -> String {
    let path = if field == "source" {
        "/source/component".to_string()
    } else {
        format!("/{}", field.replace('.', "/"))
    };
    match obj.pointer(&path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::resources::by_kind;
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("tier in (front, back)"));
        assert!(!m("tier notin (front,back)"));
        assert!(m("missing notin (a)"));
        assert!(!m("missing in (a)"));
        assert!(m("app=web, tier in (front), !gone"));
        assert!(m("n>4"));
        assert!(!m("n<5"));
        assert!(LabelSelector::parse("app=we b").is_err());
        assert!(LabelSelector::parse("tier in front").is_err());
        assert!(LabelSelector::parse("a,,b").is_err());
    }

    #[test]
    fn field_selectors_are_per_type() {
        let ev = by_kind("v1", "Event").unwrap();
        let obj = json!({"metadata": {"name": "e1", "namespace": "ns"}, "involvedObject": {"name": "job-a", "kind": "Job"}, "source": {"component": "job-controller"}});
        let m = |s: &str| FieldSelector::parse(s, ev).unwrap().matches(&obj);
        assert!(m("involvedObject.name=job-a"));
        assert!(m("involvedObject.name=job-a,involvedObject.kind==Job"));
        assert!(!m("involvedObject.name!=job-a"));
        assert!(m("metadata.namespace=ns,source=job-controller"));
        assert!(m("reason="));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", ev),
            Err("field label not supported: spec.foo".into())
        );
        let ns = by_kind("v1", "Namespace").unwrap();
        assert!(
            FieldSelector::parse("metadata.name=a\\,b", ns)
                .unwrap()
                .matches(&json!({"metadata": {"name": "a,b"}}))
        );
    }
}

//! The request handler: records the request, applies injected faults, routes the path to a verb
//! (discovery, GET, LIST, WATCH, POST, PUT, PATCH by content type, DELETE, deletecollection,
//! pod logs) and answers with the object, a list, a stream, or a `Status` failure.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response};
use serde_json::{Value, json};

use super::Inner;
use super::body::{FakeBody, failure, json_response};
use super::events;
use super::resources::{RESOURCES, ResourceType, Target, parse_path};
use super::selectors::{FieldSelector, LabelSelector};
use super::state::RequestRecord;
use super::status::ApiFailure;
use super::store::ObjKey;
use super::write::{self, DeleteOptions, Endpoint, Propagation};
use super::{logs, watch};

pub type Params = HashMap<String, String>;

pub fn parse_params(query: &str) -> Params {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn flag(p: &Params, key: &str) -> bool {
    matches!(p.get(key).map(String::as_str), Some("true" | "1"))
}

/// Handles one request. Never panics outward: the caller catches panics too.
pub async fn handle(inner: Arc<Inner>, req: Request<Bytes>) -> Response<FakeBody> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or_default().trim().to_string());
    let injected = {
        let mut st = inner.lock();
        let rule = st.faults.errors.iter_mut().find(|r| {
            r.remaining > 0
                && r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
                && path.contains(&r.path_contains)
        });
        let code = rule.map(|r| {
            r.remaining -= 1;
            r.code
        });
        if st
            .faults
            .panic_next
            .as_ref()
            .is_some_and(|p| path.contains(p.as_str()))
        {
            st.faults.panic_next = None;
            drop(st);
            panic!("a panic injected by the test for {path}");
        }
        code
    };
    let response = match injected {
        Some(code) => failure(&ApiFailure::new(
            code,
            if code == 500 {
                "InternalError"
            } else {
                "ServiceUnavailable"
            },
            format!("fault injected by the test for {path}"),
        )),
        None => {
            let params = parse_params(&query);
            route(
                &inner,
                &method,
                &path,
                &params,
                content_type.as_deref(),
                req.into_body(),
            )
            .await
        }
    };
    inner.lock().requests.push(RequestRecord {
        method: method.to_string(),
        path,
        query,
        content_type,
        status: response.status().as_u16(),
    });
    response
}

fn parse_json(body: &[u8]) -> Result<Value, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ApiFailure::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

async fn route(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    p: &Params,
    ct: Option<&str>,
    body: Bytes,
) -> Response<FakeBody> {
    let target = match parse_path(path) {
        Ok(t) => t,
        Err(_) => {
            return failure(&ApiFailure::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    };
    let (rt, ns, name, sub) = match target {
        Target::Version => return json_response(200, &version()),
        Target::Discovery { group, version } => {
            return match discovery(group.as_deref(), version.as_deref()) {
                Some(v) => json_response(200, &v),
                None => failure(&ApiFailure::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            };
        }
        Target::Resource {
            rt,
            namespace,
            name,
            sub,
        } => (rt, namespace, name, sub),
    };
    let ns = ns.as_deref();
    let result = match (method, name.as_deref(), sub.as_deref()) {
        (&Method::GET, None, None) if flag(p, "watch") => return watch::start(inner, rt, ns, p),
        (&Method::GET, None, None) => list(inner, rt, ns, p),
        (&Method::GET, Some(n), Some("log")) if rt.kind == "Pod" => {
            return logs::start(inner, ns.unwrap_or_default(), n, p);
        }
        (&Method::GET, Some(n), None | Some("status")) => get(inner, rt, ns, n),
        (&Method::POST, None, None) => parse_json(&body).and_then(|obj| {
            let mut st = inner.lock();
            let mut obj = obj;
            write::check_type(rt, &obj, false)?;
            write::bind_namespace(rt, &mut obj, ns)?;
            let obj = events::from_view(rt, obj);
            write::create(&mut st, rt, obj, p.contains_key("dryRun"))
                .map(|o| (201, events::to_view(rt, &o)))
        }),
        (&Method::PUT, Some(n), sub @ (None | Some("status"))) => {
            parse_json(&body).and_then(|obj| {
                let mut st = inner.lock();
                write::replace(
                    &mut st,
                    rt,
                    ns,
                    n,
                    obj,
                    endpoint(sub),
                    p.contains_key("dryRun"),
                )
                .map(|o| (200, events::to_view(rt, &o)))
            })
        }
        (&Method::PATCH, Some(n), sub @ (None | Some("status"))) => {
            patch(inner, rt, ns, n, endpoint(sub), p, ct, &body)
        }
        (&Method::DELETE, Some(n), None) => delete_options(p, &body).and_then(|opts| {
            let mut st = inner.lock();
            let key = ObjKey::new(rt, ns.unwrap_or_default(), n);
            write::delete(&mut st, rt, &key, &opts).map(|(code, o)| {
                (
                    code,
                    if o["kind"] == "Status" {
                        o
                    } else {
                        events::to_view(rt, &o)
                    },
                )
            })
        }),
        (&Method::DELETE, None, None) => delete_collection(inner, rt, ns, p, &body),
        (_, Some(_), Some(_)) => Err(ApiFailure::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
        _ => Err(ApiFailure::method_not_allowed()),
    };
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(f) => failure(&f),
    }
}

fn endpoint(sub: Option<&str>) -> Endpoint {
    if sub == Some("status") {
        Endpoint::Status
    } else {
        Endpoint::Main
    }
}

fn get(
    inner: &Arc<Inner>,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
) -> Result<(u16, Value), ApiFailure> {
    let st = inner.lock();
    st.store
        .get(&ObjKey::new(rt, ns.unwrap_or_default(), name))
        .map(|o| (200, events::to_view(rt, o)))
        .ok_or_else(|| ApiFailure::not_found(rt, name))
}

/// Parsed `labelSelector` and `fieldSelector`.
pub fn selectors(
    rt: &ResourceType,
    p: &Params,
) -> Result<(LabelSelector, FieldSelector), ApiFailure> {
    let labels = LabelSelector::parse(
        p.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )
    .map_err(ApiFailure::bad_request)?;
    let fields = FieldSelector::parse(
        p.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
        rt,
    )
    .map_err(ApiFailure::bad_request)?;
    Ok((labels, fields))
}

fn list(
    inner: &Arc<Inner>,
    rt: &'static ResourceType,
    ns: Option<&str>,
    p: &Params,
) -> Result<(u16, Value), ApiFailure> {
    let (labels, fields) = selectors(rt, p)?;
    let st = inner.lock();
    let rv = st.store.resource_version();
    let all: Vec<Value> = st
        .store
        .list(rt.store, ns)
        .map(|o| events::to_view(rt, o))
        .filter(|o| labels.matches_object(o) && fields.matches(o))
        .collect();
    let offset: usize = match p.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => token.split_once(':').and_then(|(_, o)| o.parse().ok()).ok_or_else(|| ApiFailure::new(410, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."))?,
        None => 0,
    };
    let limit: usize = p
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let items: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    let next = offset + items.len();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if next < all.len() {
        metadata["continue"] = json!(format!("{rv}:{next}"));
        metadata["remainingItemCount"] = json!(all.len() - next);
    }
    Ok((
        200,
        json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": metadata, "items": items}),
    ))
}

#[allow(clippy::too_many_arguments)]
fn patch(
    inner: &Arc<Inner>,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    ep: Endpoint,
    p: &Params,
    ct: Option<&str>,
    body: &[u8],
) -> Result<(u16, Value), ApiFailure> {
    let dry_run = p.contains_key("dryRun");
    match ct {
        Some("application/apply-patch+yaml" | "application/apply-patch+cbor") => {
            let Some(manager) = p.get("fieldManager").filter(|m| !m.is_empty()) else {
                return Err(ApiFailure::new(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            };
            let applied: Value = yaml_serde::from_slice(body)
                .map_err(|e| ApiFailure::bad_request(format!("error decoding YAML: {e}")))?;
            let mut st = inner.lock();
            write::apply(
                &mut st,
                rt,
                ns,
                name,
                applied,
                manager,
                flag(p, "force"),
                ep,
                dry_run,
            )
            .map(|(c, o)| (c, events::to_view(rt, &o)))
        }
        Some(
            "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/json-patch+json",
        ) => {
            if p.contains_key("force") {
                return Err(ApiFailure::bad_request(
                    "force is only allowed for apply patches",
                ));
            }
            let patch = parse_json(body)?;
            let mut st = inner.lock();
            let is_json_patch = ct == Some("application/json-patch+json");
            write::patch_object(&mut st, rt, ns, name, &patch, is_json_patch, ep, dry_run)
                .map(|o| (200, events::to_view(rt, &o)))
        }
        other => Err(ApiFailure::unsupported_media_type(
            other.unwrap_or_default(),
        )),
    }
}

/// DeleteOptions from the query string and (as kube sends them) the JSON body.
fn delete_options(p: &Params, body: &[u8]) -> Result<DeleteOptions, ApiFailure> {
    let b: Value = if body.is_empty() {
        json!({})
    } else {
        parse_json(body)?
    };
    let policy = p
        .get("propagationPolicy")
        .cloned()
        .or_else(|| b["propagationPolicy"].as_str().map(str::to_string));
    let propagation = match policy {
        None => {
            if b["orphanDependents"] == json!(true) || p.get("orphanDependents").is_some_and(|v| v == "true") { Some(Propagation::Orphan) } else { None }
        }
        Some(s) => Some(Propagation::parse(&s).ok_or_else(|| ApiFailure::new(422, "Invalid", format!("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {s:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"")))?),
    };
    Ok(DeleteOptions {
        propagation,
        precondition_uid: b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run: p.contains_key("dryRun") || b["dryRun"].as_array().is_some_and(|a| !a.is_empty()),
    })
}

fn delete_collection(
    inner: &Arc<Inner>,
    rt: &'static ResourceType,
    ns: Option<&str>,
    p: &Params,
    body: &[u8],
) -> Result<(u16, Value), ApiFailure> {
    let opts = delete_options(p, body)?;
    let (labels, fields) = selectors(rt, p)?;
    let mut st = inner.lock();
    let keys: Vec<(ObjKey, Value)> = st
        .store
        .list(rt.store, ns)
        .map(|o| events::to_view(rt, o))
        .filter(|o| labels.matches_object(o) && fields.matches(o))
        .map(|o| (ObjKey::of(rt, &o), o))
        .collect();
    let mut items = Vec::new();
    for (key, obj) in keys {
        if write::delete(&mut st, rt, &key, &opts).is_ok() {
            items.push(obj);
        }
    }
    let rv = st.store.resource_version();
    Ok((
        200,
        json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}

fn version() -> Value {
    json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-maestro-fake", "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z", "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"})
}

fn verbs(rt: &ResourceType) -> Value {
    let _ = rt;
    json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ])
}

fn discovery(group: Option<&str>, version: Option<&str>) -> Option<Value> {
    match (group, version) {
        (Some(""), None) => Some(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})),
        (None, None) => {
            let mut groups: Vec<&str> = RESOURCES.iter().map(|r| r.group).filter(|g| !g.is_empty()).collect();
            groups.dedup();
            let groups: Vec<Value> = groups
                .iter()
                .map(|g| json!({"name": g, "versions": [{"groupVersion": format!("{g}/v1"), "version": "v1"}], "preferredVersion": {"groupVersion": format!("{g}/v1"), "version": "v1"}}))
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        (Some(g), None) => {
            RESOURCES.iter().any(|r| r.group == g).then(|| json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [{"groupVersion": format!("{g}/v1"), "version": "v1"}], "preferredVersion": {"groupVersion": format!("{g}/v1"), "version": "v1"}}))
        }
        (Some(g), Some(v)) => {
            let types: Vec<&ResourceType> = RESOURCES.iter().filter(|r| r.group == g && r.version == v).collect();
            if types.is_empty() {
                return None;
            }
            let mut resources = Vec::new();
            for r in &types {
                resources.push(json!({"name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs(r), "shortNames": r.short_names}));
                if r.status_subresource {
                    resources.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
                }
                if r.kind == "Pod" {
                    resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
                }
            }
            let gv = if g.is_empty() { v.to_string() } else { format!("{g}/{v}") };
            Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
        }
        (None, Some(_)) => None,
    }
}

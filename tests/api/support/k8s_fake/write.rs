//! The write verbs as the API server performs them, shared by the HTTP handler and the simulated
//! controllers: create (generateName, defaults, validation, admission, 409), server-side apply,
//! merge / strategic-merge / JSON patch, replace, delete (finalizers, namespace termination,
//! owner-reference cascade with Background / Foreground / Orphan propagation).

use serde_json::{Map, Value, json};

use super::admission;
use super::defaults;
use super::events;
use super::patch::{self, Conflict};
use super::resources::{RESOURCES, ResourceType, by_kind, primary_for_store};
use super::state::State;
use super::status::{ApiFailure, deleted_status};
use super::store::{ObjKey, name_of, rv_of, uid_of};

const GENERATE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub fn random_suffix() -> String {
    (0..5)
        .map(|_| GENERATE_CHARS[rand::random_range(0..GENERATE_CHARS.len())] as char)
        .collect()
}

/// Checks `apiVersion`/`kind` of a written object against the endpoint's type.
pub fn check_type(rt: &ResourceType, obj: &Value, required: bool) -> Result<(), ApiFailure> {
    let av = obj["apiVersion"].as_str();
    let kind = obj["kind"].as_str();
    if required && (av.is_none() || kind.is_none()) {
        return Err(ApiFailure::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: Object 'Kind' is missing in '{}'",
            rt.kind, rt.version, rt.kind, obj
        )));
    }
    if let Some(av) = av
        && av != rt.api_version()
    {
        return Err(ApiFailure::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if let Some(k) = kind
        && k != rt.kind
    {
        return Err(ApiFailure::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    Ok(())
}

fn ensure_metadata(obj: &mut Value) -> Result<(), ApiFailure> {
    if !obj.is_object() {
        return Err(ApiFailure::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    if obj.get("metadata").is_none_or(Value::is_null) {
        obj["metadata"] = Value::Object(Map::new());
    }
    if !obj["metadata"].is_object() {
        return Err(ApiFailure::bad_request("metadata must be an object"));
    }
    Ok(())
}

/// Sets the namespace from the request path; a different one in the body is a 400.
pub fn bind_namespace(
    rt: &ResourceType,
    obj: &mut Value,
    ns: Option<&str>,
) -> Result<(), ApiFailure> {
    ensure_metadata(obj)?;
    if !rt.namespaced {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        return Ok(());
    }
    let Some(ns) = ns else {
        return Err(ApiFailure::bad_request(
            "a namespaced resource needs a namespace in the request path",
        ));
    };
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(body_ns) if !body_ns.is_empty() && body_ns != ns => Err(ApiFailure::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            obj["metadata"]["namespace"] = json!(ns);
            Ok(())
        }
    }
}

/// Creates an object (storage representation, namespace bound). `dry_run` stores nothing.
pub fn create(
    st: &mut State,
    rt: &'static ResourceType,
    mut obj: Value,
    dry_run: bool,
) -> Result<Value, ApiFailure> {
    // Stored in the primary representation (core/v1 for both Event flavours).
    let rt = primary_for_store(rt.store);
    ensure_metadata(&mut obj)?;
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name_of(&obj).is_empty() {
        let Some(prefix) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Err(ApiFailure::invalid(
                rt,
                "",
                &[(
                    "metadata.name".into(),
                    "Required value: name or generateName is required".into(),
                )],
            ));
        };
        loop {
            let candidate = format!("{prefix}{}", random_suffix());
            if st.store.get(&ObjKey::new(rt, &ns, &candidate)).is_none() {
                obj["metadata"]["name"] = json!(candidate);
                break;
            }
        }
    }
    let name = name_of(&obj);
    if obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Err(ApiFailure::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "generation",
            "selfLink",
        ] {
            m.remove(f);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    }
    if rt.status_subresource
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    defaults::apply_defaults(rt, &mut obj);
    defaults::validate(rt, &obj)?;
    if st.store.get(&ObjKey::new(rt, &ns, &name)).is_some() {
        return Err(ApiFailure::already_exists(rt, &name));
    }
    admission::admit(st, rt, &ns, &mut obj)?;
    if dry_run {
        return Ok(obj);
    }
    Ok(st.store.insert(rt, obj))
}

/// How a write through the main endpoint or the status subresource treats `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Main,
    Status,
}

/// Stores `new` as the next version of `existing`, keeping what the endpoint may not change.
pub fn commit_update(
    st: &mut State,
    rt: &'static ResourceType,
    existing: &Value,
    mut new: Value,
    endpoint: Endpoint,
    dry_run: bool,
) -> Result<Value, ApiFailure> {
    let rt = primary_for_store(rt.store);
    ensure_metadata(&mut new)?;
    new["apiVersion"] = json!(rt.api_version());
    new["kind"] = json!(rt.kind);
    match endpoint {
        Endpoint::Main if rt.status_subresource => match existing.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        },
        Endpoint::Main => {}
        Endpoint::Status => {
            let status = new.get("status").cloned();
            new = existing.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
    }
    if rt.group.is_empty() && rt.kind == "Secret" {
        defaults::fold_string_data(&mut new);
    }
    for f in ["uid", "creationTimestamp", "generation"] {
        if let Some(v) = existing.pointer(&format!("/metadata/{f}")) {
            new["metadata"][f] = v.clone();
        }
    }
    if rt.kind == "Job" {
        // The pod template and selector of a Job are immutable (defaults included).
        if let (Some(a), Some(b)) = (
            existing.pointer("/spec/template"),
            new.pointer("/spec/template"),
        ) {
            let mut merged = a.clone();
            patch::merge_patch(&mut merged, b);
            if merged != *a {
                return Err(ApiFailure::invalid(
                    rt,
                    &name_of(existing),
                    &[(
                        "spec.template".into(),
                        format!("Invalid value: {}: field is immutable", b),
                    )],
                ));
            }
            new["spec"]["template"] = a.clone();
        }
        if let Some(sel) = existing.pointer("/spec/selector") {
            new["spec"]["selector"] = sel.clone();
        }
    }
    defaults::validate(rt, &new)?;
    if dry_run {
        return Ok(new);
    }
    let (stored, _) = st.store.update(rt, new);
    finish_if_finalized(st, rt, &stored);
    Ok(st
        .store
        .get(&ObjKey::of(rt, &stored))
        .cloned()
        .unwrap_or(stored))
}

fn conflict_message(conflicts: &[Conflict]) -> String {
    let parts: Vec<String> = conflicts
        .iter()
        .map(|c| format!("conflict with {:?}: {}", c.manager, c.path))
        .collect();
    let n = conflicts.len();
    format!(
        "Apply failed with {n} conflict{}: {}",
        if n == 1 { "" } else { "s" },
        parts.join("\n")
    )
}

/// Server-side apply (`application/apply-patch+yaml`). Returns (HTTP code, object).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    st: &mut State,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    mut applied: Value,
    manager: &str,
    force: bool,
    endpoint: Endpoint,
    dry_run: bool,
) -> Result<(u16, Value), ApiFailure> {
    check_type(rt, &applied, true)?;
    bind_namespace(rt, &mut applied, ns)?;
    match applied.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != name => {
            return Err(ApiFailure::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        _ => applied["metadata"]["name"] = json!(name),
    }
    let applied = events::from_view(rt, applied);
    let key = ObjKey::new(rt, ns.unwrap_or_default(), name);
    let Some(existing) = st.store.get(&key).cloned() else {
        if endpoint == Endpoint::Status {
            return Err(ApiFailure::not_found(rt, name));
        }
        let created = create(st, rt, applied.clone(), dry_run)?;
        if !dry_run {
            st.store
                .applied
                .entry(uid_of(&created))
                .or_default()
                .insert(manager.to_string(), applied);
        }
        return Ok((201, created));
    };
    if let Some(want) = applied
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !want.is_empty()
        && want != rv_of(&existing).to_string()
    {
        return Err(ApiFailure::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let uid = uid_of(&existing);
    let applied_by = st.store.applied.get(&uid).cloned().unwrap_or_default();
    let mut clean = applied.clone();
    if let Some(m) = clean["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let merged = patch::server_side_apply(Some(&existing), &clean, manager, force, &applied_by)
        .map_err(|c| ApiFailure::conflict(rt, name, &conflict_message(&c)))?;
    let stored = commit_update(st, rt, &existing, merged, endpoint, dry_run)?;
    if !dry_run {
        st.store
            .applied
            .entry(uid)
            .or_default()
            .insert(manager.to_string(), clean);
    }
    Ok((200, stored))
}

/// Merge patch (also used for strategic merge patch) or JSON patch of an existing object.
#[allow(clippy::too_many_arguments)]
pub fn patch_object(
    st: &mut State,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    body: &Value,
    json_patch: bool,
    endpoint: Endpoint,
    dry_run: bool,
) -> Result<Value, ApiFailure> {
    let key = ObjKey::new(rt, ns.unwrap_or_default(), name);
    let existing = st
        .store
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiFailure::not_found(rt, name))?;
    let view = events::to_view(rt, &existing);
    let patched = if json_patch {
        patch::json_patch(&view, body).map_err(|e| ApiFailure::new(422, "Invalid", e))?
    } else {
        if !body.is_object() {
            return Err(ApiFailure::bad_request(
                "a merge patch must be a JSON object",
            ));
        }
        let mut v = view.clone();
        patch::merge_patch(&mut v, body);
        v
    };
    if let Some(want) = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && want != rv_of(&existing).to_string()
    {
        return Err(ApiFailure::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    if name_of(&patched) != name {
        return Err(ApiFailure::bad_request(
            "metadata.name cannot be changed by a patch",
        ));
    }
    let patched = events::from_view(rt, patched);
    commit_update(st, rt, &existing, patched, endpoint, dry_run)
}

/// PUT: replaces an object; a stale `metadata.resourceVersion` is a 409.
pub fn replace(
    st: &mut State,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    mut obj: Value,
    endpoint: Endpoint,
    dry_run: bool,
) -> Result<Value, ApiFailure> {
    check_type(rt, &obj, false)?;
    bind_namespace(rt, &mut obj, ns)?;
    if name_of(&obj) != name {
        return Err(ApiFailure::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            name_of(&obj)
        )));
    }
    let obj = events::from_view(rt, obj);
    let key = ObjKey::new(rt, ns.unwrap_or_default(), name);
    let existing = st
        .store
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiFailure::not_found(rt, name))?;
    if let Some(want) = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !want.is_empty()
        && want != rv_of(&existing).to_string()
    {
        return Err(ApiFailure::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    commit_update(st, rt, &existing, obj, endpoint, dry_run)
}

/// What happens to dependents when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            "Orphan" => Some(Propagation::Orphan),
            _ => None,
        }
    }

    /// The API's default for a type: batch/v1 Jobs orphan their pods, the rest cascade.
    pub fn default_for(rt: &ResourceType) -> Self {
        if rt.group == "batch" && rt.kind == "Job" {
            Propagation::Orphan
        } else {
            Propagation::Background
        }
    }
}

/// Options of a DELETE (from the query and the DeleteOptions body).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// Objects whose ownerReferences name `uid`.
fn dependents(st: &State, owner_ns: &str, uid: &str) -> Vec<(&'static ResourceType, ObjKey)> {
    let mut out = Vec::new();
    for rt in RESOURCES.iter().filter(|r| r.namespaced) {
        if rt.group == "events.k8s.io" {
            continue;
        }
        let ns = if owner_ns.is_empty() {
            None
        } else {
            Some(owner_ns)
        };
        for obj in st.store.list(rt.store, ns) {
            let owned = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid));
            if owned {
                out.push((rt, ObjKey::of(rt, obj)));
            }
        }
    }
    out
}

/// Removes an object now, cascading to its dependents per `propagation`.
pub fn remove_now(st: &mut State, key: &ObjKey, propagation: Propagation) -> Option<Value> {
    let obj = st.store.get(key)?.clone();
    let uid = uid_of(&obj);
    let deps = dependents(st, &key.namespace, &uid);
    if propagation == Propagation::Orphan {
        for (drt, dkey) in &deps {
            if let Some(mut d) = st.store.get(dkey).cloned() {
                if let Some(refs) = d["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"] != uid.as_str());
                }
                st.store.update(drt, d);
            }
        }
    }
    if propagation == Propagation::Foreground {
        for (drt, dkey) in &deps {
            delete(
                st,
                drt,
                dkey,
                &DeleteOptions {
                    propagation: Some(Propagation::Foreground),
                    ..Default::default()
                },
            )
            .ok();
        }
    }
    let removed = st.store.remove(key);
    if propagation == Propagation::Background {
        for (drt, dkey) in &deps {
            delete(
                st,
                drt,
                dkey,
                &DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                },
            )
            .ok();
        }
    }
    removed
}

/// After an update: an object being deleted whose finalizers are all gone goes away.
pub fn finish_if_finalized(st: &mut State, rt: &'static ResourceType, obj: &Value) {
    if obj.pointer("/metadata/deletionTimestamp").is_none() || rt.kind == "Namespace" {
        return;
    }
    let finalizers = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if !finalizers {
        remove_now(st, &ObjKey::of(rt, obj), Propagation::default_for(rt));
    }
}

/// DELETE of one object. Returns (HTTP code, body).
pub fn delete(
    st: &mut State,
    rt: &'static ResourceType,
    key: &ObjKey,
    opts: &DeleteOptions,
) -> Result<(u16, Value), ApiFailure> {
    let existing = st
        .store
        .get(key)
        .cloned()
        .ok_or_else(|| ApiFailure::not_found(rt, &key.name))?;
    let uid = uid_of(&existing);
    if let Some(want) = &opts.precondition_uid
        && *want != uid
    {
        return Err(ApiFailure::conflict(
            rt,
            &key.name,
            &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
        ));
    }
    if let Some(want) = &opts.precondition_rv
        && *want != rv_of(&existing).to_string()
    {
        return Err(ApiFailure::conflict(
            rt,
            &key.name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {}",
                rv_of(&existing)
            ),
        ));
    }
    if rt.group.is_empty() && rt.kind == "Namespace" {
        if existing.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiFailure::conflict(
                rt,
                &key.name,
                "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.",
            ));
        }
        if opts.dry_run {
            return Ok((200, existing));
        }
        let marked = st
            .store
            .mark_deleting(key, |ns| ns["status"]["phase"] = json!("Terminating"))
            .ok_or_else(|| ApiFailure::not_found(rt, &key.name))?;
        return Ok((200, marked));
    }
    if opts.dry_run {
        return Ok((200, existing));
    }
    let has_finalizers = existing
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if existing.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok((202, existing));
        }
        let marked = st.store.mark_deleting(key, |_| {}).unwrap_or(existing);
        return Ok((202, marked));
    }
    let propagation = opts
        .propagation
        .unwrap_or_else(|| Propagation::default_for(rt));
    remove_now(st, key, propagation);
    Ok((200, deleted_status(rt, &key.name, &uid)))
}

/// Finds the Namespace type (used everywhere).
pub fn namespace_type() -> &'static ResourceType {
    by_kind("v1", "Namespace").expect("namespaces are served")
}

//! The object store: objects by (storage, namespace, name) as JSON, one global resourceVersion,
//! and the change history that watches replay (compactable, so old resourceVersions become 410).
//! Every write that changes something bumps the resourceVersion and notifies; a write that
//! changes nothing keeps the object as it was and emits nothing.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::resources::ResourceType;

/// Wall-clock time that advances with tokio time, so `tokio::time::pause()` moves it too.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    wall: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            wall: Utc::now(),
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        self.wall + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    /// The tokio instant for a wall-clock time of this clock (at most a year ahead).
    pub fn instant_at(&self, t: DateTime<Utc>) -> tokio::time::Instant {
        let offset = (t - self.wall).to_std().unwrap_or_default();
        self.start + offset.min(YEAR)
    }
}

const YEAR: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// `t + seconds`, saturating far in the future (user input never overflows a timestamp).
pub fn plus_seconds(t: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    chrono::TimeDelta::try_seconds(seconds.clamp(-(1 << 40), 1 << 40))
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `now + d`, capped at a year (user-given durations never overflow an instant).
pub fn after(d: std::time::Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + d.min(YEAR)
}

/// `metav1.Time`: RFC 3339, seconds.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `metav1.MicroTime`: RFC 3339, microseconds.
pub fn micro_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub store: &'static str,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(rt: &ResourceType, namespace: &str, name: &str) -> Self {
        ObjKey {
            store: rt.store,
            namespace: if rt.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    pub fn of(rt: &ResourceType, obj: &Value) -> Self {
        Self::new(rt, &namespace_of(obj), &name_of(obj))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One entry of the watch history.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub key: ObjKey,
    pub kind: ChangeType,
    pub object: Arc<Value>,
    /// The object before this change (None for ADDED).
    pub previous: Option<Arc<Value>>,
}

pub fn name_of(obj: &Value) -> String {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn namespace_of(obj: &Value) -> String {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn uid_of(obj: &Value) -> String {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The watch history no longer reaches back to the requested resourceVersion.
#[derive(Debug, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

pub struct Store {
    rv: u64,
    objects: BTreeMap<ObjKey, Value>,
    history: VecDeque<Change>,
    /// Changes with rv > this are in `history`.
    compacted_through: u64,
    pub history_limit: usize,
    /// Per object uid: each apply manager's last applied configuration.
    pub applied: HashMap<String, BTreeMap<String, Value>>,
    notify: watch::Sender<u64>,
    pub clock: Clock,
}

/// Fields a write does not count as a change.
fn comparable(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("managedFields");
        m.remove("generation");
    }
    o
}

impl Store {
    pub fn new(notify: watch::Sender<u64>, clock: Clock) -> Self {
        Store {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted_through: 0,
            history_limit: 100_000,
            applied: HashMap::new(),
            notify,
            clock,
        }
    }

    /// A receiver that changes with every stored change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one storage, optionally in one namespace, in key order.
    pub fn list<'a>(
        &'a self,
        store: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |(k, _)| k.store == store && namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, v)| v)
    }

    /// Every object in a namespace (any storage).
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<ObjKey> {
        self.objects
            .keys()
            .filter(|k| k.namespace == namespace && !namespace.is_empty())
            .cloned()
            .collect()
    }

    pub fn find_by_uid(&self, uid: &str) -> Option<(&ObjKey, &Value)> {
        self.objects.iter().find(|(_, v)| uid_of(v) == uid)
    }

    fn record(&mut self, key: ObjKey, kind: ChangeType, object: Value, previous: Option<Value>) {
        self.history.push_back(Change {
            rv: self.rv,
            key,
            kind,
            object: Arc::new(object),
            previous: previous.map(Arc::new),
        });
        while self.history.len() > self.history_limit {
            if let Some(c) = self.history.pop_front() {
                self.compacted_through = c.rv;
            }
        }
        self.notify.send_replace(self.rv);
    }

    /// Stores a new object, filling uid, creationTimestamp, resourceVersion and generation.
    /// The caller has checked that the key is free.
    pub fn insert(&mut self, rt: &ResourceType, mut obj: Value) -> Value {
        self.rv += 1;
        let now = time(self.clock.now());
        let meta = obj["metadata"]
            .as_object_mut()
            .expect("callers pass objects with metadata");
        meta.entry("uid")
            .or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
        meta.entry("creationTimestamp")
            .or_insert_with(|| json!(now));
        meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
        if rt.tracks_generation() {
            meta.insert("generation".into(), json!(1));
        }
        let key = ObjKey::of(rt, &obj);
        self.objects.insert(key.clone(), obj.clone());
        self.record(key, ChangeType::Added, obj.clone(), None);
        obj
    }

    /// Replaces an existing object. Returns the stored object and whether anything changed
    /// (an unchanged write keeps the resourceVersion and emits no event).
    pub fn update(&mut self, rt: &ResourceType, mut obj: Value) -> (Value, bool) {
        let key = ObjKey::of(rt, &obj);
        let Some(old) = self.objects.get(&key).cloned() else {
            return (obj, false);
        };
        // Immutable metadata stays as it was.
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "namespace",
            "name",
        ] {
            match old.pointer(&format!("/metadata/{field}")) {
                Some(v) => obj["metadata"][field] = v.clone(),
                None => {
                    if field != "deletionTimestamp" {
                        continue;
                    }
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        if comparable(&old) == comparable(&obj) {
            return (old, false);
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        if rt.tracks_generation() {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let spec_changed = old.get("spec") != obj.get("spec");
            obj["metadata"]["generation"] = json!(generation + i64::from(spec_changed));
        }
        self.objects.insert(key.clone(), obj.clone());
        self.record(key, ChangeType::Modified, obj.clone(), Some(old));
        (obj, true)
    }

    /// Sets `metadata.deletionTimestamp` (allowed only here: `update` keeps it immutable), plus
    /// whatever `also` changes, in one write.
    pub fn mark_deleting(&mut self, key: &ObjKey, also: impl FnOnce(&mut Value)) -> Option<Value> {
        let mut obj = self.objects.get(key)?.clone();
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Some(obj);
        }
        let old = obj.clone();
        obj["metadata"]["deletionTimestamp"] = json!(time(self.clock.now()));
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        also(&mut obj);
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.objects.insert(key.clone(), obj.clone());
        self.record(key.clone(), ChangeType::Modified, obj.clone(), Some(old));
        Some(obj)
    }

    /// Removes an object, emitting DELETED with a fresh resourceVersion.
    pub fn remove(&mut self, key: &ObjKey) -> Option<Value> {
        let mut obj = self.objects.remove(key)?;
        let previous = obj.clone();
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.applied.remove(&uid_of(&obj));
        self.record(
            key.clone(),
            ChangeType::Deleted,
            obj.clone(),
            Some(previous),
        );
        Some(obj)
    }

    /// Changes after `rv` for one storage (and namespace), or why they cannot be replayed.
    pub fn changes_since(
        &self,
        rv: u64,
        store: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<Change>, TooOld> {
        if rv < self.compacted_through {
            return Err(TooOld {
                requested: rv,
                oldest: self.compacted_through + 1,
            });
        }
        let start = self.history.partition_point(|c| c.rv <= rv);
        Ok(self
            .history
            .range(start..)
            .filter(|c| c.key.store == store && namespace.is_none_or(|ns| c.key.namespace == ns))
            .cloned()
            .collect())
    }

    /// Drops the whole history: any watch from an older resourceVersion gets 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_through = self.rv;
    }
}

#[cfg(test)]
mod tests {
    use super::super::resources::by_kind;
    use super::*;

    #[test]
    fn unchanged_writes_keep_the_version_and_compaction_makes_old_versions_too_old() {
        let (tx, rx) = watch::channel(0);
        let mut s = Store::new(tx, Clock::new());
        let cm = by_kind("v1", "ConfigMap").unwrap();
        let obj = s.insert(
            cm,
            json!({"metadata": {"name": "a", "namespace": "n"}, "data": {"x": "1"}}),
        );
        let rv = rv_of(&obj);
        assert_eq!(*rx.borrow(), rv);
        let (same, changed) = s.update(cm, obj.clone());
        assert!(!changed);
        assert_eq!(rv_of(&same), rv);
        let mut edited = obj.clone();
        edited["data"]["x"] = json!("2");
        edited["metadata"]["uid"] = json!("forged");
        let (stored, changed) = s.update(cm, edited);
        assert!(changed);
        assert_eq!(rv_of(&stored), rv + 1);
        assert_eq!(uid_of(&stored), uid_of(&obj), "uid is immutable");
        assert_eq!(
            s.changes_since(rv, "configmaps", Some("n")).unwrap().len(),
            1
        );
        s.compact();
        assert_eq!(
            s.changes_since(rv, "configmaps", None).unwrap_err(),
            TooOld {
                requested: rv,
                oldest: rv + 2
            }
        );
        assert!(
            s.changes_since(rv + 1, "configmaps", None)
                .unwrap()
                .is_empty()
        );
        assert!(s.remove(&ObjKey::of(cm, &stored)).is_some());
        let del = s.changes_since(rv + 1, "configmaps", None).unwrap();
        assert_eq!((del.len(), del[0].kind), (1, ChangeType::Deleted));
    }
}

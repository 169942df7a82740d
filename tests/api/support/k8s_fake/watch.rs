//! WATCH: a chunked stream of `{"type","object"}` lines. Replays the history after the requested
//! resourceVersion (410 `ERROR` when it was compacted away), or starts with ADDED for every
//! current object (`resourceVersion` unset or 0, or `sendInitialEvents` ending in a BOOKMARK
//! annotated `k8s.io/initial-events-end`); sends BOOKMARKs when allowed; closes at
//! `timeoutSeconds`; a test can drop every open watch or make the next ones 410.

use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Inner;
use super::api::{Params, selectors};
use super::body::{FakeBody, failure, streaming};
use super::events;
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiFailure;
use super::store::{Change, ChangeType, TooOld, after};

type Tx = mpsc::Sender<Result<Bytes, io::Error>>;

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = serde_json::to_string(&json!({"type": kind, "object": object})).unwrap_or_default();
    s.push('\n');
    Bytes::from(s)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        &json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta}),
    )
}

fn gone(t: &TooOld) -> Bytes {
    let f = ApiFailure::gone(format!(
        "too old resource version: {} ({})",
        t.requested, t.oldest
    ));
    line("ERROR", &f.to_status())
}

struct Filter {
    rt: &'static ResourceType,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, stored: &Value) -> bool {
        let v = events::to_view(self.rt, stored);
        self.labels.matches_object(&v) && self.fields.matches(&v)
    }

    /// The event a watcher with this filter sees for a change (objects moving in or out of the
    /// selection appear as ADDED / DELETED).
    fn event(&self, c: &Change) -> Option<(&'static str, Value)> {
        let now = self.matches(&c.object);
        let before = c.previous.as_deref().is_some_and(|p| self.matches(p));
        let kind = match (c.kind, before, now) {
            (ChangeType::Added, _, true) => ChangeType::Added,
            (ChangeType::Modified, true, true) => ChangeType::Modified,
            (ChangeType::Modified, false, true) => ChangeType::Added,
            (ChangeType::Modified, true, false) => ChangeType::Deleted,
            (ChangeType::Deleted, true, _) => ChangeType::Deleted,
            _ => return None,
        };
        Some((kind.as_str(), events::to_view(self.rt, &c.object)))
    }
}

pub fn start(
    inner: &Arc<Inner>,
    rt: &'static ResourceType,
    ns: Option<&str>,
    p: &Params,
) -> Response<FakeBody> {
    let (labels, fields) = match selectors(rt, p) {
        Ok(s) => s,
        Err(f) => return failure(&f),
    };
    let filter = Filter { rt, labels, fields };
    let bookmarks = matches!(
        p.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    let send_initial = matches!(
        p.get("sendInitialEvents").map(String::as_str),
        Some("true" | "1")
    );
    let rv_param = p
        .get("resourceVersion")
        .filter(|s| !s.is_empty() && *s != "0")
        .cloned();
    let requested: Option<u64> = match &rv_param {
        None => None,
        Some(s) => match s.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                return failure(&ApiFailure::bad_request(format!(
                    "invalid resource version: {s:?}"
                )));
            }
        },
    };
    let (tx, rx) = mpsc::channel(256);
    let mut initial: Vec<Bytes> = Vec::new();
    let (changes, drops, timeout, interval, start_rv) = {
        let mut st = inner.lock();
        let timeout = p
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(st.knobs.default_watch_timeout);
        let changes = st.store.subscribe();
        let drops = st.drop_watches.subscribe();
        let interval = st.knobs.bookmark_interval;
        let current = st.store.resource_version();
        if st.faults.gone_next_watches > 0 {
            st.faults.gone_next_watches -= 1;
            let t = TooOld {
                requested: requested.unwrap_or(current),
                oldest: current + 1,
            };
            initial.push(gone(&t));
            drop(st);
            tokio::spawn(async move {
                for l in initial {
                    let _ = tx.send(Ok(l)).await;
                }
            });
            return streaming("application/json", rx);
        }
        let start_rv = match requested {
            Some(r) if !send_initial => {
                if let Err(t) = st.store.changes_since(r, rt.store, ns) {
                    initial.push(gone(&t));
                    drop(st);
                    tokio::spawn(async move {
                        for l in initial {
                            let _ = tx.send(Ok(l)).await;
                        }
                    });
                    return streaming("application/json", rx);
                }
                r
            }
            _ => {
                for o in st.store.list(rt.store, ns) {
                    if filter.matches(o) {
                        initial.push(line("ADDED", &events::to_view(rt, o)));
                    }
                }
                if send_initial {
                    initial.push(bookmark(rt, current, true));
                }
                current
            }
        };
        (changes, drops, timeout, interval, start_rv)
    };
    let weak = Arc::downgrade(inner);
    let ns = ns.map(str::to_string);
    tokio::spawn(async move {
        let run = Run {
            weak,
            filter,
            ns,
            tx,
            bookmarks,
            interval,
        };
        run.go(initial, start_rv, changes, drops, timeout).await;
    });
    streaming("application/json", rx)
}

struct Run {
    weak: Weak<Inner>,
    filter: Filter,
    ns: Option<String>,
    tx: Tx,
    bookmarks: bool,
    interval: Duration,
}

impl Run {
    async fn send(&self, b: Bytes) -> bool {
        self.tx.send(Ok(b)).await.is_ok()
    }

    /// Sends every change after `last`; returns the new position, None when the stream must end.
    async fn drain(&self, last: u64, with_bookmark: bool) -> Option<u64> {
        let inner = self.weak.upgrade()?;
        let (batch, current) = {
            let st = inner.lock();
            (
                st.store
                    .changes_since(last, self.filter.rt.store, self.ns.as_deref()),
                st.store.resource_version(),
            )
        };
        drop(inner);
        let mut last = last;
        match batch {
            Err(t) => {
                self.send(gone(&t)).await;
                return None;
            }
            Ok(changes) => {
                for c in changes {
                    last = c.rv;
                    if let Some((kind, obj)) = self.filter.event(&c)
                        && !self.send(line(kind, &obj)).await
                    {
                        return None;
                    }
                }
            }
        }
        if with_bookmark {
            // Everything up to `current` for this storage was sent above.
            last = last.max(current);
            if !self.send(bookmark(self.filter.rt, last, false)).await {
                return None;
            }
        }
        Some(last)
    }

    async fn go(
        self,
        initial: Vec<Bytes>,
        start_rv: u64,
        mut changes: tokio::sync::watch::Receiver<u64>,
        mut drops: tokio::sync::watch::Receiver<u64>,
        timeout: Duration,
    ) {
        for l in initial {
            if !self.send(l).await {
                return;
            }
        }
        let deadline = after(timeout);
        let mut next_bookmark = after(self.interval);
        let mut last = start_rv;
        drops.borrow_and_update();
        loop {
            changes.borrow_and_update();
            match self.drain(last, false).await {
                Some(l) => last = l,
                None => return,
            }
            tokio::select! {
                r = changes.changed() => {
                    if r.is_err() {
                        return;
                    }
                }
                _ = drops.changed() => {
                    let _ = self.tx.send(Err(io::Error::new(io::ErrorKind::ConnectionReset, "watch dropped by the test"))).await;
                    return;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if self.bookmarks {
                        self.drain(last, true).await;
                    }
                    return;
                }
                _ = tokio::time::sleep_until(next_bookmark), if self.bookmarks => {
                    next_bookmark = after(self.interval);
                    match self.drain(last, true).await {
                        Some(l) => last = l,
                        None => return,
                    }
                }
                _ = self.tx.closed() => return,
            }
        }
    }
}

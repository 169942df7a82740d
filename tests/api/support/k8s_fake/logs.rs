//! Pod logs (`GET …/pods/{p}/log`): `text/plain`, filtered by `sinceTime` / `sinceSeconds` /
//! `tailLines` / `limitBytes`, prefixed with RFC 3339 nano timestamps on `timestamps=true`;
//! with `follow=true` it streams while the container runs and ends when it exits (or the pod
//! goes). Before the container starts: the real 400 "… is waiting to start: ContainerCreating".

use std::io;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::Response;
use tokio::sync::mpsc;

use super::Inner;
use super::api::Params;
use super::body::{FakeBody, failure, full, response, streaming};
use super::kubelet::CState;
use super::resources::by_kind;
use super::status::ApiFailure;
use super::store::{ObjKey, parse_time, uid_of};

struct Options {
    container: String,
    timestamps: bool,
    since: Option<DateTime<Utc>>,
    tail: Option<usize>,
    limit_bytes: Option<usize>,
    follow: bool,
}

fn format_line(o: &Options, t: DateTime<Utc>, l: &str) -> String {
    if o.timestamps {
        format!("{} {l}\n", t.to_rfc3339_opts(SecondsFormat::Nanos, true))
    } else {
        format!("{l}\n")
    }
}

/// What a follower learns at one look: new lines from `from`, and whether the container is done.
struct Look {
    lines: Vec<(DateTime<Utc>, String)>,
    done: bool,
}

fn look(inner: &Inner, uid: &str, container: &str, from: usize, restarts: i32) -> Look {
    let st = inner.lock();
    let Some(c) = st.pods.get(uid).and_then(|p| p.container(container)) else {
        return Look {
            lines: Vec::new(),
            done: true,
        };
    };
    let lines = c.log.iter().skip(from).cloned().collect();
    let done = !matches!(c.state, CState::Running { .. }) || c.restart_count != restarts;
    Look { lines, done }
}

pub fn start(inner: &Arc<Inner>, ns: &str, pod: &str, p: &Params) -> Response<FakeBody> {
    let pod_rt = by_kind("v1", "Pod").expect("pods are served");
    let st = inner.lock();
    let Some(pod_obj) = st.store.get(&ObjKey::new(pod_rt, ns, pod)).cloned() else {
        return failure(&ApiFailure::not_found(pod_rt, pod));
    };
    let names: Vec<String> = pod_obj["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            pod_obj["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match p.get("container") {
        Some(c) => {
            if !names.contains(c) {
                return failure(&ApiFailure::bad_request(format!(
                    "container {c} is not valid for pod {pod}"
                )));
            }
            c.clone()
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return failure(&ApiFailure::bad_request(format!(
                "a container name must be specified for pod {pod}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let uid = uid_of(&pod_obj);
    let rt = st.pods.get(&uid).and_then(|r| r.container(&container));
    let waiting = match rt {
        None => Some("ContainerCreating".to_string()),
        Some(c) if !c.started_once => match &c.state {
            CState::Waiting { reason, .. } if reason == "ErrImagePull" => {
                Some("trying and failing to pull image".into())
            }
            CState::Waiting { reason, .. } if reason == "ImagePullBackOff" => {
                Some("image can't be pulled".into())
            }
            CState::Waiting { reason, .. } => Some(reason.clone()),
            _ => None,
        },
        Some(_) => None,
    };
    if let Some(reason) = waiting {
        return failure(&ApiFailure::bad_request(format!(
            "container \"{container}\" in pod \"{pod}\" is waiting to start: {reason}"
        )));
    }
    let now = st.store.clock.now();
    let o = Options {
        since: p.get("sinceTime").and_then(|s| parse_time(s)).or_else(|| {
            p.get("sinceSeconds")
                .and_then(|s| s.parse::<i64>().ok())
                .map(|s| super::store::plus_seconds(now, -s))
        }),
        tail: p.get("tailLines").and_then(|s| s.parse().ok()),
        limit_bytes: p.get("limitBytes").and_then(|s| s.parse().ok()),
        timestamps: matches!(p.get("timestamps").map(String::as_str), Some("true" | "1")),
        follow: matches!(p.get("follow").map(String::as_str), Some("true" | "1")),
        container,
    };
    let c = rt.expect("checked above");
    let restarts = c.restart_count;
    let all = c.log.clone();
    let position = all.len();
    drop(st);
    let mut first: Vec<&(DateTime<Utc>, String)> = all
        .iter()
        .filter(|(t, _)| o.since.is_none_or(|s| *t >= s))
        .collect();
    if let Some(n) = o.tail {
        let skip = first.len().saturating_sub(n);
        first.drain(..skip);
    }
    let mut text: String = first.iter().map(|(t, l)| format_line(&o, *t, l)).collect();
    if let Some(limit) = o.limit_bytes {
        text.truncate(limit);
    }
    if !o.follow {
        return response(200, "text/plain", full(text));
    }
    let (tx, rx) = mpsc::channel(64);
    let weak = Arc::downgrade(inner);
    tokio::spawn(follow(weak, uid, o, tx, text, position, restarts));
    streaming("text/plain", rx)
}

async fn follow(
    weak: Weak<Inner>,
    uid: String,
    o: Options,
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    first: String,
    mut position: usize,
    restarts: i32,
) {
    let mut sent = first.len();
    if !first.is_empty() && tx.send(Ok(Bytes::from(first))).await.is_err() {
        return;
    }
    let mut tick = match weak.upgrade() {
        Some(inner) => inner.lock().log_tick.subscribe(),
        None => return,
    };
    loop {
        tick.borrow_and_update();
        let Some(inner) = weak.upgrade() else { return };
        let Look { lines, done } = look(&inner, &uid, &o.container, position, restarts);
        drop(inner);
        position += lines.len();
        let mut chunk: String = lines
            .iter()
            .filter(|(t, _)| o.since.is_none_or(|s| *t >= s))
            .map(|(t, l)| format_line(&o, *t, l))
            .collect();
        if let Some(limit) = o.limit_bytes {
            chunk.truncate(limit.saturating_sub(sent));
        }
        sent += chunk.len();
        if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
            return;
        }
        if done || o.limit_bytes.is_some_and(|l| sent >= l) {
            return;
        }
        tokio::select! {
            r = tick.changed() => if r.is_err() { return },
            _ = tx.closed() => return,
        }
    }
}

//! The simulated scheduler and kubelet: pods get scheduled (or stay Pending as Unschedulable),
//! their containers are "pulled", created and run per the registered scripts (log lines, gates,
//! readiness, exit), crash into CrashLoopBackOff, fail to pull into ErrImagePull /
//! ImagePullBackOff; the pod status (phase, conditions, container statuses) and the kubelet's
//! Events follow, as a node would report them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::events::{self, EventSpec};
use super::resources::by_kind;
use super::scripts::{Script, Step};
use super::state::State;
use super::store::{name_of, namespace_of, time, uid_of};

pub const DEFAULT_UNSCHEDULABLE: &str = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";

#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    pub code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CState {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started: DateTime<Utc>,
    },
    Terminated(Terminated),
}

#[derive(Debug)]
pub struct ContainerRt {
    pub name: String,
    pub image: String,
    pub init: bool,
    pub has_probe: bool,
    pub script: Script,
    pub state: CState,
    pub last_terminated: Option<Terminated>,
    pub restart_count: i32,
    pub ready: bool,
    pub cursor: usize,
    pub wake_at: Option<Instant>,
    pub started_once: bool,
    /// (time, line) of everything the container wrote, across restarts.
    pub log: Vec<(DateTime<Utc>, String)>,
    pub container_id: String,
}

impl ContainerRt {
    pub fn is_running(&self) -> bool {
        matches!(self.state, CState::Running { .. })
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, CState::Terminated(_))
    }
}

#[derive(Debug)]
pub struct PodRuntime {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub restart_policy: String,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub unschedulable_reported: bool,
    pub ip: String,
    pub containers: Vec<ContainerRt>,
    pub created: Instant,
    /// Condition type → (status, lastTransitionTime).
    pub conditions: BTreeMap<&'static str, (bool, DateTime<Utc>)>,
}

impl PodRuntime {
    pub fn container(&self, name: &str) -> Option<&ContainerRt> {
        self.containers.iter().find(|c| c.name == name)
    }

    pub fn main_containers(&self) -> impl Iterator<Item = &ContainerRt> {
        self.containers.iter().filter(|c| !c.init)
    }
}

struct PendingEvent {
    reason: &'static str,
    message: String,
    warning: bool,
    component: &'static str,
    field_path: Option<String>,
}

/// A pull reference as the runtime spells it (`docker.io/library/x:latest`).
fn full_image(image: &str) -> String {
    let with_tag = if image
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':') || last.contains('@'))
    {
        image.to_string()
    } else {
        format!("{image}:latest")
    };
    match with_tag.split_once('/') {
        None => format!("docker.io/library/{with_tag}"),
        Some((first, _))
            if !first.contains('.') && !first.contains(':') && first != "localhost" =>
        {
            format!("docker.io/{with_tag}")
        }
        _ => with_tag,
    }
}

fn command_line(c: &Container) -> String {
    c.command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn new_runtime(st: &mut State, pod: &Pod, now: Instant) -> PodRuntime {
    let spec = pod.spec.clone().unwrap_or_default();
    let restart_policy = spec
        .restart_policy
        .clone()
        .unwrap_or_else(|| "Always".into());
    let always = restart_policy == "Always";
    let mut containers = Vec::new();
    let init = spec.init_containers.iter().flatten().map(|c| (c, true));
    let main = spec.containers.iter().map(|c| (c, false));
    for (c, is_init) in init.chain(main) {
        let image = c.image.clone().unwrap_or_default();
        let script = st
            .scripts
            .find(&image, &command_line(c), always && !is_init);
        containers.push(ContainerRt {
            name: c.name.clone(),
            image,
            init: is_init,
            has_probe: c.readiness_probe.is_some(),
            script,
            state: CState::Waiting {
                reason: if is_init {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                }
                .into(),
                message: None,
            },
            last_terminated: None,
            restart_count: 0,
            ready: false,
            cursor: 0,
            wake_at: None,
            started_once: false,
            log: Vec::new(),
            container_id: String::new(),
        });
    }
    // Main containers wait for init containers as PodInitializing.
    let has_init = containers.iter().any(|c| c.init);
    for c in containers.iter_mut() {
        c.state = CState::Waiting {
            reason: if has_init {
                "PodInitializing"
            } else {
                "ContainerCreating"
            }
            .into(),
            message: None,
        };
    }
    st.next_ip += 1;
    PodRuntime {
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        restart_policy,
        scheduled_at: None,
        unschedulable_reported: false,
        ip: format!("10.244.{}.{}", st.next_ip / 250, st.next_ip % 250 + 2),
        containers,
        created: now,
        conditions: BTreeMap::new(),
    }
}

/// Runs one container as far as it can go now; returns when it next needs attention.
fn advance(
    rt: &mut PodRuntime,
    idx: usize,
    st: &State,
    now: Instant,
    wall: DateTime<Utc>,
    events: &mut Vec<PendingEvent>,
    logged: &mut bool,
) -> Option<Instant> {
    let pod_ref = format!("{}_{}({})", rt.name, rt.namespace, rt.uid);
    let restart_policy = rt.restart_policy.clone();
    let created = rt.created;
    let c = &mut rt.containers[idx];
    let field_path = Some(format!(
        "spec.{}{{{}}}",
        if c.init {
            "initContainers"
        } else {
            "containers"
        },
        c.name
    ));
    let ev = |reason: &'static str, message: String, warning: bool| PendingEvent {
        reason,
        message,
        warning,
        component: "kubelet",
        field_path: field_path.clone(),
    };
    for _ in 0..10_000 {
        match c.state.clone() {
            CState::Waiting { reason, .. }
                if reason == "ContainerCreating" || reason == "PodInitializing" =>
            {
                let start_at = created + c.script.start_delay;
                if now < start_at {
                    return Some(start_at);
                }
                if let Some(why) = c.script.pull_error.clone() {
                    let full = full_image(&c.image);
                    let detail = format!(
                        "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: {why}"
                    );
                    events.push(ev(
                        "Pulling",
                        format!("Pulling image \"{}\"", c.image),
                        false,
                    ));
                    events.push(ev(
                        "Failed",
                        format!("Failed to pull image \"{}\": {detail}", c.image),
                        true,
                    ));
                    events.push(ev("Failed", "Error: ErrImagePull".into(), true));
                    c.state = CState::Waiting {
                        reason: "ErrImagePull".into(),
                        message: Some(detail),
                    };
                    let at = now + st.knobs.image_pull_backoff_after;
                    c.wake_at = Some(at);
                    return Some(at);
                }
                if let Some(msg) = c.script.config_error.clone() {
                    events.push(ev("Failed", format!("Error: {msg}"), true));
                    c.state = CState::Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message: Some(msg),
                    };
                    return None;
                }
                events.push(ev(
                    "Pulled",
                    format!("Container image \"{}\" already present on machine", c.image),
                    false,
                ));
                events.push(ev(
                    "Created",
                    format!("Created container: {}", c.name),
                    false,
                ));
                events.push(ev(
                    "Started",
                    format!("Started container {}", c.name),
                    false,
                ));
                c.start(wall);
                *logged = true;
            }
            CState::Waiting { reason, message } if reason == "ErrImagePull" => {
                let at = c.wake_at.unwrap_or(now);
                if now < at {
                    return Some(at);
                }
                events.push(ev(
                    "BackOff",
                    format!("Back-off pulling image \"{}\"", c.image),
                    false,
                ));
                events.push(ev("Failed", "Error: ImagePullBackOff".into(), true));
                c.state = CState::Waiting {
                    reason: "ImagePullBackOff".into(),
                    message: Some(format!(
                        "Back-off pulling image \"{}\": ErrImagePull: {}",
                        c.image,
                        message.unwrap_or_default()
                    )),
                };
                c.wake_at = None;
                return None;
            }
            CState::Waiting { reason, .. } if reason == "CrashLoopBackOff" => {
                let at = c.wake_at.unwrap_or(now);
                if now < at {
                    return Some(at);
                }
                events.push(ev(
                    "Started",
                    format!("Started container {}", c.name),
                    false,
                ));
                c.start(wall);
                *logged = true;
            }
            CState::Waiting { .. } => return None,
            CState::Terminated(_) => return None,
            CState::Running { started } => {
                let step = c.script.steps.get(c.cursor).cloned()?;
                match step {
                    Step::Log(line) => {
                        c.log.push((wall, line));
                        *logged = true;
                        c.cursor += 1;
                    }
                    Step::Sleep(d) => {
                        let at = *c.wake_at.get_or_insert(now + d);
                        if now < at {
                            return Some(at);
                        }
                        c.wake_at = None;
                        c.cursor += 1;
                    }
                    Step::WaitGate(g) => {
                        if !st.gates.contains(&g) {
                            return None;
                        }
                        c.cursor += 1;
                    }
                    Step::Ready(r) => {
                        if !r && c.has_probe {
                            events.push(ev(
                                "Unhealthy",
                                "Readiness probe failed: HTTP probe failed with statuscode: 503"
                                    .into(),
                                true,
                            ));
                        }
                        c.ready = r || !c.has_probe;
                        c.cursor += 1;
                    }
                    Step::Exit(code, message) => {
                        let term = Terminated {
                            code,
                            reason: if code == 0 { "Completed" } else { "Error" }.into(),
                            message,
                            started,
                            finished: wall,
                        };
                        c.ready = false;
                        *logged = true;
                        let restart = match restart_policy.as_str() {
                            "Always" => !c.init || code != 0,
                            "OnFailure" => code != 0,
                            _ => false,
                        };
                        if restart {
                            c.restart_count += 1;
                            c.last_terminated = Some(term);
                            let factor =
                                2u32.saturating_pow((c.restart_count - 1).clamp(0, 16) as u32);
                            let delay =
                                (st.knobs.crash_backoff * factor).min(Duration::from_secs(300));
                            c.state = CState::Waiting {
                                reason: "CrashLoopBackOff".into(),
                                message: Some(format!(
                                    "back-off {}s restarting failed container={} pod={pod_ref}",
                                    delay.as_secs(),
                                    c.name
                                )),
                            };
                            events.push(ev(
                                "BackOff",
                                format!(
                                    "Back-off restarting failed container {} in pod {pod_ref}",
                                    c.name
                                ),
                                true,
                            ));
                            let at = now + delay;
                            c.wake_at = Some(at);
                            return Some(at);
                        }
                        c.state = CState::Terminated(term);
                        return None;
                    }
                }
            }
        }
    }
    None
}

impl ContainerRt {
    fn start(&mut self, wall: DateTime<Utc>) {
        self.state = CState::Running { started: wall };
        self.started_once = true;
        self.cursor = 0;
        self.wake_at = None;
        self.ready = !self.has_probe || self.script.ready_on_start;
        self.container_id = format!(
            "containerd://{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
    }
}

fn state_json(s: &CState) -> Value {
    match s {
        CState::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        CState::Running { started } => json!({"running": {"startedAt": time(*started)}}),
        CState::Terminated(t) => json!({"terminated": terminated_json(t, "")}),
    }
}

fn terminated_json(t: &Terminated, container_id: &str) -> Value {
    let mut v = json!({
        "exitCode": t.code,
        "reason": t.reason,
        "startedAt": time(t.started),
        "finishedAt": time(t.finished),
    });
    if let Some(m) = &t.message {
        v["message"] = json!(m);
    }
    if !container_id.is_empty() {
        v["containerID"] = json!(container_id);
    }
    v
}

fn container_status(c: &ContainerRt) -> Value {
    let mut state = state_json(&c.state);
    if let Some(t) = state.get_mut("terminated")
        && !c.container_id.is_empty()
    {
        t["containerID"] = json!(c.container_id);
    }
    let mut v = json!({
        "name": c.name,
        "image": c.image,
        "imageID": if c.started_once { format!("{}@sha256:{:064x}", full_image(&c.image), 0) } else { String::new() },
        "ready": c.ready,
        "started": c.is_running(),
        "restartCount": c.restart_count,
        "state": state,
        "lastState": c.last_terminated.as_ref().map(|t| json!({"terminated": terminated_json(t, &c.container_id)})).unwrap_or(json!({})),
    });
    if !c.container_id.is_empty() {
        v["containerID"] = json!(c.container_id);
    }
    v
}

/// The phase of a pod from its containers.
pub fn phase(rt: &PodRuntime) -> &'static str {
    if rt.scheduled_at.is_none() {
        return "Pending";
    }
    let never = rt.restart_policy == "Never";
    let inits: Vec<&ContainerRt> = rt.containers.iter().filter(|c| c.init).collect();
    if inits
        .iter()
        .any(|c| matches!(&c.state, CState::Terminated(t) if t.code != 0))
        && never
    {
        return "Failed";
    }
    if !inits
        .iter()
        .all(|c| matches!(&c.state, CState::Terminated(t) if t.code == 0))
    {
        return "Pending";
    }
    let mains: Vec<&ContainerRt> = rt.main_containers().collect();
    if !mains.is_empty() && mains.iter().all(|c| c.is_terminated()) {
        let ok = mains
            .iter()
            .all(|c| matches!(&c.state, CState::Terminated(t) if t.code == 0));
        return if ok { "Succeeded" } else { "Failed" };
    }
    if mains.iter().all(|c| c.started_once) {
        "Running"
    } else {
        "Pending"
    }
}

fn set_condition(
    rt: &mut PodRuntime,
    ty: &'static str,
    status: bool,
    wall: DateTime<Utc>,
) -> DateTime<Utc> {
    let e = rt.conditions.entry(ty).or_insert((status, wall));
    if e.0 != status {
        *e = (status, wall);
    }
    e.1
}

fn status_json(rt: &mut PodRuntime, wall: DateTime<Utc>, unschedulable: Option<&str>) -> Value {
    let phase = phase(rt);
    let mut conditions = Vec::new();
    let cond = |ty: &str,
                status: bool,
                at: DateTime<Utc>,
                reason: Option<&str>,
                message: Option<String>| {
        let mut c = json!({"type": ty, "status": if status { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": time(at)});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
        c
    };
    if rt.scheduled_at.is_none() {
        let at = set_condition(rt, "PodScheduled", false, wall);
        if let Some(msg) = unschedulable {
            conditions.push(cond(
                "PodScheduled",
                false,
                at,
                Some("Unschedulable"),
                Some(msg.to_string()),
            ));
        }
        return json!({"phase": "Pending", "conditions": conditions, "qosClass": "BestEffort"});
    }
    let terminal = phase == "Succeeded" || phase == "Failed";
    let sandbox = !terminal;
    let at = set_condition(rt, "PodReadyToStartContainers", sandbox, wall);
    conditions.push(cond("PodReadyToStartContainers", sandbox, at, None, None));
    let pending_init: Vec<String> = rt
        .containers
        .iter()
        .filter(|c| c.init && !matches!(&c.state, CState::Terminated(t) if t.code == 0))
        .map(|c| c.name.clone())
        .collect();
    let initialized = pending_init.is_empty();
    let at = set_condition(rt, "Initialized", initialized, wall);
    conditions.push(if initialized {
        cond("Initialized", true, at, None, None)
    } else {
        cond(
            "Initialized",
            false,
            at,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                pending_init.join(" ")
            )),
        )
    });
    let unready: Vec<String> = rt
        .main_containers()
        .filter(|c| !c.ready)
        .map(|c| c.name.clone())
        .collect();
    let ready = unready.is_empty() && phase == "Running";
    let (reason, message) = if ready {
        (None, None)
    } else if terminal {
        (Some("PodCompleted"), None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    for ty in ["ContainersReady", "Ready"] {
        let at = set_condition(
            rt,
            if ty == "Ready" {
                "Ready"
            } else {
                "ContainersReady"
            },
            ready,
            wall,
        );
        conditions.push(cond(ty, ready, at, reason, message.clone()));
    }
    let at = set_condition(rt, "PodScheduled", true, wall);
    conditions.push(cond("PodScheduled", true, at, None, None));
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": "10.0.0.10",
        "hostIPs": [{"ip": "10.0.0.10"}],
        "podIP": rt.ip,
        "podIPs": [{"ip": rt.ip}],
        "startTime": time(rt.scheduled_at.unwrap_or(wall)),
        "containerStatuses": rt.main_containers().map(container_status).collect::<Vec<_>>(),
        "qosClass": "Burstable",
    });
    let inits: Vec<Value> = rt
        .containers
        .iter()
        .filter(|c| c.init)
        .map(container_status)
        .collect();
    if !inits.is_empty() {
        status["initContainerStatuses"] = json!(inits);
    }
    status
}

/// One kubelet pass over every pod; returns when it next needs to run.
pub fn reconcile(st: &mut State, now: Instant) -> Option<Instant> {
    let pod_rt = by_kind("v1", "Pod").expect("pods are served");
    let pods: Vec<Value> = st.store.list(pod_rt.store, None).cloned().collect();
    let live: std::collections::HashSet<String> = pods.iter().map(uid_of).collect();
    let before = st.pods.len();
    st.pods.retain(|uid, _| live.contains(uid));
    if st.pods.len() != before {
        st.tick_logs();
    }
    if !st.knobs.kubelet {
        return None;
    }
    let mut wake: Option<Instant> = None;
    let wall = st.store.clock.now();
    for pod_json in pods {
        if pod_json.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let uid = uid_of(&pod_json);
        let mut rt = match st.pods.remove(&uid) {
            Some(rt) => rt,
            None => match serde_json::from_value::<Pod>(pod_json.clone()) {
                Ok(pod) => new_runtime(st, &pod, now),
                Err(e) => {
                    st.failures.push(format!(
                        "kubelet: pod {}/{} does not parse: {e}",
                        namespace_of(&pod_json),
                        name_of(&pod_json)
                    ));
                    continue;
                }
            },
        };
        let mut pending = Vec::new();
        let mut logged = false;
        if rt.scheduled_at.is_none() {
            if let Some(msg) = st.knobs.unschedulable.clone() {
                if !rt.unschedulable_reported {
                    rt.unschedulable_reported = true;
                    pending.push(PendingEvent {
                        reason: "FailedScheduling",
                        message: msg,
                        warning: true,
                        component: "default-scheduler",
                        field_path: None,
                    });
                }
            } else {
                rt.scheduled_at = Some(wall);
                rt.created = now;
                pending.push(PendingEvent {
                    reason: "Scheduled",
                    message: format!(
                        "Successfully assigned {}/{} to {}",
                        rt.namespace,
                        rt.name,
                        super::NODE_NAME
                    ),
                    warning: false,
                    component: "default-scheduler",
                    field_path: None,
                });
            }
        }
        if rt.scheduled_at.is_some() {
            // Init containers one after another, then the main containers together.
            let n = rt.containers.len();
            let mut inits_done = true;
            for i in 0..n {
                if rt.containers[i].init {
                    if !inits_done {
                        break;
                    }
                    let w = advance(&mut rt, i, st, now, wall, &mut pending, &mut logged);
                    wake = min_instant(wake, w);
                    inits_done =
                        matches!(&rt.containers[i].state, CState::Terminated(t) if t.code == 0);
                } else if inits_done {
                    if let CState::Waiting { reason, .. } = &rt.containers[i].state
                        && reason == "PodInitializing"
                    {
                        rt.containers[i].state = CState::Waiting {
                            reason: "ContainerCreating".into(),
                            message: None,
                        };
                    }
                    let w = advance(&mut rt, i, st, now, wall, &mut pending, &mut logged);
                    wake = min_instant(wake, w);
                }
            }
        }
        let status = status_json(&mut rt, wall, st.knobs.unschedulable.as_deref());
        let mut updated = pod_json.clone();
        updated["status"] = status;
        if let Some(at) = rt
            .scheduled_at
            .filter(|_| updated.pointer("/spec/nodeName").is_none())
        {
            let _ = at;
            updated["spec"]["nodeName"] = json!(super::NODE_NAME);
        }
        let (stored, changed) = st.store.update(pod_rt, updated);
        for e in pending {
            events::record(
                &mut st.store,
                &stored,
                EventSpec {
                    reason: e.reason,
                    message: e.message,
                    warning: e.warning,
                    component: e.component,
                    field_path: e.field_path,
                },
            );
        }
        st.pods.insert(uid, rt);
        if logged || changed {
            st.tick_logs();
        }
    }
    wake
}

pub fn min_instant(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(full_image("nope:1"), "docker.io/library/nope:1");
        assert_eq!(
            full_image("bitnami/redis"),
            "docker.io/bitnami/redis:latest"
        );
        assert_eq!(full_image("reg.io:5000/a/b:2"), "reg.io:5000/a/b:2");
    }
}

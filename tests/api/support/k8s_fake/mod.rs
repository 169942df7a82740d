//! A stateful fake Kubernetes API server for tests (no cluster can be installed here): objects,
//! resourceVersions, watches, server-side apply, namespace termination, pod logs, and simulated
//! controllers (Job, Deployment, kubelet, quota admission, namespace), with knobs and faults a
//! test turns. Use it in-process (`FakeCluster::client`) or over loopback HTTP with a kubeconfig
//! (`FakeCluster::serve`). See README.md beside this file.

#![allow(dead_code)]

mod admission;
mod api;
mod body;
mod controllers;
mod defaults;
mod events;
mod http;
mod kubelet;
mod logs;
mod patch;
mod quantity;
mod resources;
mod scripts;
mod selectors;
mod state;
mod status;
mod store;
mod watch;
mod write;

use k8s_openapi::api::core::v1::Event;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

pub use http::{FakeServer, FakeService};
pub use kubelet::DEFAULT_UNSCHEDULABLE;
pub use scripts::{Script, ScriptMatch};
pub use state::{Knobs, Linger, RequestRecord};

use resources::by_kind;
use state::{ErrorRule, Faults, State};
use store::{Clock, ObjKey, Store};

/// The node every scheduled pod lands on.
pub const NODE_NAME: &str = "fake-node";

pub(crate) struct Inner {
    state: Mutex<State>,
    /// Wakes the controllers (gates opened, knobs turned).
    wake: Arc<Notify>,
}

impl Inner {
    /// The state; a panic elsewhere never poisons it for good.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle on one fake cluster (cheap to clone). Create it inside a tokio runtime.
#[derive(Clone)]
pub struct FakeCluster {
    inner: Arc<Inner>,
}

/// What identifies a k8s-openapi type for the fake.
fn type_of<K: k8s_openapi::Resource>() -> &'static resources::ResourceType {
    by_kind(K::API_VERSION, K::KIND)
        .unwrap_or_else(|| panic!("the fake does not serve {} {}", K::API_VERSION, K::KIND))
}

impl Default for FakeCluster {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCluster {
    /// An empty cluster with the `default` and `kube-system` namespaces, every simulated
    /// controller on, and its control loop running on the current tokio runtime.
    pub fn new() -> Self {
        Self::with_knobs(Knobs::default())
    }

    pub fn with_knobs(knobs: Knobs) -> Self {
        let (tx, _) = tokio::sync::watch::channel(1u64);
        let (log_tick, _) = tokio::sync::watch::channel(0u64);
        let (drop_watches, _) = tokio::sync::watch::channel(0u64);
        let state = State {
            store: Store::new(tx, Clock::new()),
            knobs,
            faults: Faults::default(),
            scripts: Default::default(),
            gates: Default::default(),
            pods: Default::default(),
            jobs: Default::default(),
            replicasets: Default::default(),
            namespaces: Default::default(),
            released_namespaces: Default::default(),
            released_jobs: Default::default(),
            requests: Vec::new(),
            failures: Vec::new(),
            next_ip: 0,
            log_tick,
            drop_watches,
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            wake: Arc::new(Notify::new()),
        });
        let cluster = FakeCluster { inner };
        for ns in ["default", "kube-system"] {
            cluster.create_json(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        cluster.create_json(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"}},
            "spec": {},
        }));
        {
            let mut st = cluster.inner.lock();
            let node_rt = by_kind("v1", "Node").expect("nodes are served");
            if let Some(mut node) = st.store.get(&ObjKey::new(node_rt, "", NODE_NAME)).cloned() {
                let at = store::time(st.store.clock.now());
                node["status"] = serde_json::json!({
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                    "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": at, "lastTransitionTime": at}],
                    "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}, {"type": "Hostname", "address": NODE_NAME}],
                    "nodeInfo": {"kubeletVersion": "v1.33.0", "containerRuntimeVersion": "containerd://2.0.0", "operatingSystem": "linux", "architecture": "amd64", "kernelVersion": "6.1.0", "osImage": "fake", "bootID": "", "machineID": "", "systemUUID": "", "kubeProxyVersion": ""},
                });
                st.store.update(node_rt, node);
            }
        }
        controllers::spawn(&cluster.inner);
        cluster
    }

    // ----- ways in -----

    /// The fake as a tower service (for `kube::Client::new`).
    pub fn service(&self) -> FakeService {
        FakeService {
            inner: self.inner.clone(),
        }
    }

    /// An in-process kube client (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.service(), "default")
    }

    /// Serves the fake on 127.0.0.1:0 and writes a kubeconfig pointing at it.
    pub async fn serve(&self) -> FakeServer {
        FakeServer::start(self.service())
            .await
            .expect("the fake API server binds a loopback port")
    }

    // ----- knobs, scripts, gates -----

    /// Changes knobs (controllers on/off, linger, unschedulable, timings).
    pub fn configure(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut self.inner.lock().knobs);
        self.inner.wake.notify_one();
    }

    pub fn knobs(&self) -> Knobs {
        self.inner.lock().knobs.clone()
    }

    /// Containers matching `m` (image, optionally command) behave per `script` from now on.
    pub fn register_script(&self, m: ScriptMatch, script: Script) {
        self.inner.lock().scripts.register(m, script);
    }

    /// Shorthand: every container of `image` behaves per `script`.
    pub fn script_image(&self, image: &str, script: Script) {
        self.register_script(ScriptMatch::image(image), script);
    }

    /// What unmatched containers of Job-like pods (restartPolicy Never/OnFailure) do.
    pub fn set_default_batch_script(&self, script: Script) {
        self.inner.lock().scripts.default_batch = Some(script);
    }

    /// Lets every container waiting on `gate` go on.
    pub fn open_gate(&self, gate: &str) {
        self.inner.lock().gates.insert(gate.to_string());
        self.inner.wake.notify_one();
    }

    pub fn close_gate(&self, gate: &str) {
        self.inner.lock().gates.remove(gate);
    }

    /// A namespace lingering with `Linger::UntilReleased` may now go.
    pub fn release_namespace(&self, name: &str) {
        self.inner
            .lock()
            .released_namespaces
            .insert(name.to_string());
        self.inner.wake.notify_one();
    }

    /// A Job held by `hold_job_terminal` may now get Complete / Failed.
    pub fn release_job(&self, namespace: &str, name: &str) {
        self.inner
            .lock()
            .released_jobs
            .insert((namespace.to_string(), name.to_string()));
        self.inner.wake.notify_one();
    }

    // ----- faults -----

    /// The next `n` requests (method None = any) whose path contains `path_contains` get `code`.
    pub fn fail_next(&self, method: Option<&str>, path_contains: &str, n: u32, code: u16) {
        self.inner.lock().faults.errors.push(ErrorRule {
            method: method.map(str::to_string),
            path_contains: path_contains.to_string(),
            remaining: n,
            code,
        });
    }

    /// The next request whose path contains `path_contains` panics inside the handler (the
    /// fake answers 500 and records a failure; later requests still work).
    pub fn panic_next(&self, path_contains: &str) {
        self.inner.lock().faults.panic_next = Some(path_contains.to_string());
    }

    /// Forgets recorded failures (after a test provoked one on purpose).
    pub fn clear_failures(&self) {
        self.inner.lock().failures.clear();
    }

    /// Breaks every open watch connection.
    pub fn drop_watches(&self) {
        self.inner.lock().drop_watches.send_modify(|n| *n += 1);
    }

    /// The next `n` watch requests get an `ERROR` 410 Gone event and close.
    pub fn gone_next_watches(&self, n: u32) {
        self.inner.lock().faults.gone_next_watches += n;
    }

    /// Forgets the watch history: watches from an older resourceVersion get 410 Gone.
    pub fn compact(&self) {
        self.inner.lock().store.compact();
    }

    // ----- state in and out -----

    /// Creates an object through the real create path (defaults, validation, admission).
    /// Panics with the API's message if it is refused.
    pub fn create<K: k8s_openapi::Resource + Serialize + DeserializeOwned>(&self, obj: &K) -> K {
        let v = serde_json::to_value(obj).expect("objects serialize");
        let mut v = v;
        v["apiVersion"] = K::API_VERSION.into();
        v["kind"] = K::KIND.into();
        serde_json::from_value(self.create_json(v)).expect("the stored object parses")
    }

    /// `create` for a JSON object with apiVersion and kind.
    pub fn create_json(&self, obj: Value) -> Value {
        let rt = by_kind(
            obj["apiVersion"].as_str().unwrap_or_default(),
            obj["kind"].as_str().unwrap_or_default(),
        )
        .unwrap_or_else(|| {
            panic!(
                "the fake does not serve {} {}",
                obj["apiVersion"], obj["kind"]
            )
        });
        let mut st = self.inner.lock();
        let obj = events::from_view(rt, obj);
        write::create(&mut st, rt, obj, false)
            .unwrap_or_else(|f| panic!("creating an object in the fake failed: {}", f.message))
    }

    pub fn get<K: k8s_openapi::Resource + DeserializeOwned>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<K> {
        let rt = type_of::<K>();
        let st = self.inner.lock();
        st.store
            .get(&ObjKey::new(rt, namespace, name))
            .map(|o| serde_json::from_value(events::to_view(rt, o)).expect("stored objects parse"))
    }

    pub fn get_json(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let rt = by_kind(api_version, kind)?;
        self.inner
            .lock()
            .store
            .get(&ObjKey::new(rt, namespace, name))
            .map(|o| events::to_view(rt, o))
    }

    /// Objects of a type, in one namespace or all.
    pub fn list<K: k8s_openapi::Resource + DeserializeOwned>(
        &self,
        namespace: Option<&str>,
    ) -> Vec<K> {
        let rt = type_of::<K>();
        let st = self.inner.lock();
        st.store
            .list(rt.store, namespace)
            .map(|o| serde_json::from_value(events::to_view(rt, o)).expect("stored objects parse"))
            .collect()
    }

    /// Names of all namespaces (terminating ones included).
    pub fn namespaces(&self) -> Vec<String> {
        self.list::<k8s_openapi::api::core::v1::Namespace>(None)
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect()
    }

    /// core/v1 Events about the object named `involved` in `namespace`.
    pub fn events_for(&self, namespace: &str, involved: &str) -> Vec<Event> {
        self.list::<Event>(Some(namespace))
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(involved))
            .collect()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().store.resource_version()
    }

    /// The watch history of one type so far: (type, namespace/name, resourceVersion).
    pub fn history<K: k8s_openapi::Resource>(&self) -> Vec<(String, String, u64)> {
        let rt = type_of::<K>();
        let st = self.inner.lock();
        st.store
            .changes_since(0, rt.store, None)
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                (
                    c.kind.as_str().to_string(),
                    format!("{}/{}", c.key.namespace, c.key.name),
                    c.rv,
                )
            })
            .collect()
    }

    /// Every request the fake answered, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.inner.lock().requests.clear();
    }

    /// What went wrong inside the fake (panics caught, objects it could not parse). Empty in a
    /// healthy test.
    pub fn failures(&self) -> Vec<String> {
        self.inner.lock().failures.clone()
    }

    pub fn assert_no_failures(&self) {
        let f = self.failures();
        assert!(
            f.is_empty(),
            "the fake API server recorded failures: {f:#?}"
        );
    }

    /// Log lines a container wrote so far (empty if the pod or container is unknown).
    pub fn logs_of(&self, namespace: &str, pod: &str, container: &str) -> Vec<String> {
        let pod_rt = by_kind("v1", "Pod").expect("pods are served");
        let st = self.inner.lock();
        let Some(uid) = st
            .store
            .get(&ObjKey::new(pod_rt, namespace, pod))
            .map(store::uid_of)
        else {
            return Vec::new();
        };
        st.pods
            .get(&uid)
            .and_then(|p| p.container(container))
            .map(|c| c.log.iter().map(|(_, l)| l.clone()).collect())
            .unwrap_or_default()
    }

    // ----- waiting on the fake's own notifications -----

    /// Re-checks `check` after every change in the fake (objects, logs) until it answers Some;
    /// fails the test after `Knobs::wait_limit` (60 s by default).
    pub async fn wait_until<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&FakeCluster) -> Option<T>,
    ) -> T {
        let (mut changes, mut logs, limit) = {
            let st = self.inner.lock();
            (
                st.store.subscribe(),
                st.log_tick.subscribe(),
                st.knobs.wait_limit,
            )
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            changes.borrow_and_update();
            logs.borrow_and_update();
            if let Some(v) = check(self) {
                return v;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = logs.changed() => {}
                _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for {what}; fake failures: {:?}", self.failures()),
            }
        }
    }

    /// Waits until the object exists and `pred` holds; returns it.
    pub async fn wait_for<K: k8s_openapi::Resource + DeserializeOwned>(
        &self,
        namespace: &str,
        name: &str,
        pred: impl Fn(&K) -> bool,
    ) -> K {
        let what = format!("{} {namespace}/{name}", K::KIND);
        self.wait_until(&what, |c| c.get::<K>(namespace, name).filter(|o| pred(o)))
            .await
    }

    /// Waits until `status.conditions` has `ty` with `status` ("True"/"False").
    pub async fn wait_for_condition<K: k8s_openapi::Resource + DeserializeOwned + Serialize>(
        &self,
        namespace: &str,
        name: &str,
        ty: &str,
        status: &str,
    ) -> K {
        let what = format!("{} {namespace}/{name} condition {ty}={status}", K::KIND);
        self.wait_until(&what, |c| {
            let o = c.get::<K>(namespace, name)?;
            let v = serde_json::to_value(&o).ok()?;
            controllers::find_condition(&v, ty)
                .filter(|cond| cond["status"] == status)
                .map(|_| o)
        })
        .await
    }

    /// Waits until the object is gone.
    pub async fn wait_for_gone<K: k8s_openapi::Resource + DeserializeOwned>(
        &self,
        namespace: &str,
        name: &str,
    ) {
        let what = format!("{} {namespace}/{name} to be gone", K::KIND);
        self.wait_until(&what, |c| {
            c.get::<K>(namespace, name).is_none().then_some(())
        })
        .await
    }

    /// Waits for a core/v1 Event with `reason` about the object named `involved`.
    pub async fn wait_for_event(&self, namespace: &str, involved: &str, reason: &str) -> Event {
        let what = format!("a {reason} event about {namespace}/{involved}");
        self.wait_until(&what, |c| {
            c.events_for(namespace, involved)
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
        })
        .await
    }

    /// Waits for pods matching a label selector (`key=value,…`) and returns them once `pred`
    /// holds for the list.
    pub async fn wait_for_pods(
        &self,
        namespace: &str,
        label_selector: &str,
        pred: impl Fn(&[k8s_openapi::api::core::v1::Pod]) -> bool,
    ) -> Vec<k8s_openapi::api::core::v1::Pod> {
        let sel = selectors::LabelSelector::parse(label_selector).expect("a valid label selector");
        let what = format!("pods {label_selector} in {namespace}");
        self.wait_until(&what, |c| {
            let pods: Vec<k8s_openapi::api::core::v1::Pod> = c
                .list::<k8s_openapi::api::core::v1::Pod>(Some(namespace))
                .into_iter()
                .filter(|p| sel.matches(&p.metadata.labels.clone().unwrap_or_default()))
                .collect();
            pred(&pods).then_some(pods)
        })
        .await
    }
}

//! The simulated Deployment controller and kubelet: Available once the pods are ready, a
//! rollout to a new ReplicaSet, image pull failures and crash loops visible in pod statuses and
//! Events, PodSecurity admission.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ContainerStatus, Namespace, Pod};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{api_error, obj, on_both};
use crate::support::k8s_fake::{FakeCluster, Script};

async fn namespace(client: &kube::Client, name: &str, labels: serde_json::Value) {
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": name, "labels": labels}})),
    )
    .await
    .unwrap();
}

fn deployment(name: &str, image: &str) -> Deployment {
    obj(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image,
                    "readinessProbe": {"exec": {"command": ["pg_isready"]}}}]}}}}),
    )
}

fn condition(d: &Deployment, ty: &str) -> Option<(String, Option<String>)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ty)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

async fn first_container_status(
    cluster: &FakeCluster,
    ns: &str,
    app: &str,
    pred: impl Fn(&ContainerStatus) -> bool,
) -> (Pod, ContainerStatus) {
    let pods = cluster
        .wait_for_pods(ns, &format!("app={app}"), |pods| {
            pods.iter().any(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .is_some_and(|cs| cs.iter().any(&pred))
            })
        })
        .await;
    let pod = pods
        .into_iter()
        .find(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| cs.iter().any(&pred))
        })
        .unwrap();
    let cs = pod
        .status
        .clone()
        .unwrap()
        .container_statuses
        .unwrap()
        .into_iter()
        .find(|c| pred(c))
        .unwrap();
    (pod, cs)
}

#[tokio::test]
async fn simulated_deployment_becomes_available_when_its_pods_are_ready() {
    on_both(|cluster, client, _| async move {
        cluster.script_image(
            "postgres:16",
            Script::new().starts_unready().wait_for("pg-ready").ready(),
        );
        namespace(&client, "env-p", json!({})).await;
        let deps: Api<Deployment> = Api::namespaced(client.clone(), "env-p");
        deps.patch(
            "postgres",
            &PatchParams::apply("maestro").force(),
            &Patch::Apply(&deployment("postgres", "postgres:16")),
        )
        .await
        .unwrap();
        let waiting = cluster
            .wait_for::<Deployment>("env-p", "postgres", |d| condition(d, "Available").is_some())
            .await;
        assert_eq!(
            condition(&waiting, "Available"),
            Some(("False".into(), Some("MinimumReplicasUnavailable".into())))
        );
        let (_, cs) = first_container_status(&cluster, "env-p", "postgres", |c| {
            c.state.as_ref().is_some_and(|s| s.running.is_some())
        })
        .await;
        assert!(!cs.ready, "running but not ready before the probe passes");
        cluster.open_gate("pg-ready");
        let ready = cluster
            .wait_for_condition::<Deployment>("env-p", "postgres", "Available", "True")
            .await;
        assert_eq!(
            condition(&ready, "Progressing"),
            Some(("True".into(), Some("NewReplicaSetAvailable".into())))
        );
        assert_eq!(ready.status.unwrap().ready_replicas, Some(1));

        // A new image rolls out to a new ReplicaSet; the old one is scaled to zero.
        cluster.script_image("postgres:17", Script::new());
        deps.patch(
            "postgres",
            &PatchParams::apply("maestro").force(),
            &Patch::Apply(&deployment("postgres", "postgres:17")),
        )
        .await
        .unwrap();
        cluster
            .wait_for_pods("env-p", "app=postgres", |pods| {
                pods.len() == 1
                    && pods[0].spec.as_ref().unwrap().containers[0]
                        .image
                        .as_deref()
                        == Some("postgres:17")
            })
            .await;
        let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "env-p");
        let rs = sets.list(&ListParams::default()).await.unwrap();
        assert_eq!(rs.items.len(), 2);
        assert_eq!(
            rs.items
                .iter()
                .filter(|r| r.spec.as_ref().unwrap().replicas == Some(0))
                .count(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn simulated_image_pull_failure_is_visible_in_pod_status_and_events() {
    on_both(|cluster, client, _| async move {
        cluster.script_image("registry.local/nope", Script::image_pull_fails());
        namespace(&client, "env-i", json!({})).await;
        let deps: Api<Deployment> = Api::namespaced(client.clone(), "env-i");
        deps.create(&PostParams::default(), &deployment("app", "registry.local/nope:1")).await.unwrap();
        let (pod, cs) = first_container_status(&cluster, "env-i", "app", |c| c.state.as_ref().and_then(|s| s.waiting.as_ref()).is_some_and(|w| w.reason.as_deref() == Some("ImagePullBackOff"))).await;
        let message = cs.state.unwrap().waiting.unwrap().message.unwrap();
        assert!(message.starts_with("Back-off pulling image \"registry.local/nope:1\": ErrImagePull: rpc error: code = NotFound"), "{message}");
        let pod_name = pod.metadata.name.clone().unwrap();
        let events = cluster.events_for("env-i", &pod_name);
        let failed: Vec<String> = events.iter().filter(|e| e.reason.as_deref() == Some("Failed")).filter_map(|e| e.message.clone()).collect();
        assert!(failed.iter().any(|m| m.starts_with("Failed to pull image \"registry.local/nope:1\":")), "{failed:?}");
        assert!(failed.contains(&"Error: ErrImagePull".to_string()) && failed.contains(&"Error: ImagePullBackOff".to_string()), "{failed:?}");
        let pods: Api<Pod> = Api::namespaced(client.clone(), "env-i");
        let err = api_error(pods.logs(&pod_name, &LogParams::default()).await);
        assert_eq!(err.code, 400);
        assert_eq!(err.message, format!("container \"app\" in pod \"{pod_name}\" is waiting to start: image can't be pulled"));
        let d = cluster.get::<Deployment>("env-i", "app").unwrap();
        assert_eq!(condition(&d, "Available").unwrap().0, "False");
    })
    .await;
}

#[tokio::test]
async fn simulated_crash_loop_back_off() {
    on_both(|cluster, client, _| async move {
        cluster.script_image("crashy", Script::crashes(&["panic: no database"], 2));
        namespace(&client, "env-x", json!({})).await;
        let deps: Api<Deployment> = Api::namespaced(client.clone(), "env-x");
        deps.create(&PostParams::default(), &deployment("crashy", "crashy:1"))
            .await
            .unwrap();
        let (pod, cs) = first_container_status(&cluster, "env-x", "crashy", |c| {
            c.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
        })
        .await;
        assert_eq!(cs.restart_count, 1);
        let last = cs.last_state.unwrap().terminated.unwrap();
        assert_eq!((last.exit_code, last.reason.as_deref()), (2, Some("Error")));
        let pod_name = pod.metadata.name.unwrap();
        let backoff = cluster.wait_for_event("env-x", &pod_name, "BackOff").await;
        assert!(
            backoff
                .message
                .unwrap()
                .starts_with("Back-off restarting failed container crashy in pod")
        );
        let pods: Api<Pod> = Api::namespaced(client.clone(), "env-x");
        assert_eq!(
            pods.logs(&pod_name, &LogParams::default()).await.unwrap(),
            "panic: no database\n"
        );
    })
    .await;
}

#[tokio::test]
async fn simulated_pod_security_admission() {
    on_both(|_, client, _| async move {
        namespace(&client, "env-s", json!({"pod-security.kubernetes.io/enforce": "baseline"})).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "env-s");
        let privileged: Pod = obj(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": true}}]}}));
        let err = api_error(pods.create(&PostParams::default(), &privileged).await);
        assert_eq!(err.code, 403);
        assert_eq!(err.message, "pods \"p\" is forbidden: violates PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true)");
        let fine: Pod = obj(json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}));
        pods.create(&PostParams::default(), &fine).await.unwrap();
    })
    .await;
}

//! Reads an environment's phase from the cluster: the namespace (gone, terminating), each
//! Deployment's `Available` condition, pod statuses (image pull, crash loop, configuration
//! errors, unschedulable) and `FailedCreate` Events (quota, Pod Security). [`derive_phase`] is
//! the pure rule; [`observe`] gathers its inputs.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, PodCondition, PodStatus};
use kube::Api;
use kube::api::ListParams;

use super::super::error::K8sError;
use super::super::manifests::{COMPONENT, MANAGED_BY, MANAGER};
use super::super::model::Phase;
use super::{api_call, not_found};

/// Waiting reasons that will not resolve without a change to the spec or the image.
const STUCK_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// The pod's `PodScheduled=False` condition when the scheduler cannot place it.
pub(super) fn unschedulable(status: &PodStatus) -> Option<&PodCondition> {
    status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })
}

/// What refused a pod create (a `FailedCreate` event's message): the quota, or anything else.
pub(super) fn refusal_kind(message: &str) -> &'static str {
    if message.contains("exceeded quota") || message.contains("failed quota") {
        "QuotaExceeded"
    } else {
        "FailedCreate"
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub phase: Phase,
    pub reason: Option<String>,
}

/// The phase of the environment in `namespace` whose Deployments are `expected`.
pub async fn observe(
    client: &kube::Client,
    timeout: std::time::Duration,
    namespace: &str,
    expected: &[String],
) -> Result<Observed, K8sError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = match api_call(timeout, namespaces.get(namespace)).await? {
        Ok(ns) => ns,
        Err(s) if not_found(&s) => {
            return Ok(Observed {
                phase: Phase::Deleted,
                reason: Some(format!("the namespace {namespace} is gone")),
            });
        }
        Err(s) => return Err(K8sError::Cluster(s.message)),
    };
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Observed {
            phase: Phase::Terminating,
            reason: Some(format!("the namespace {namespace} is being deleted")),
        });
    }
    let managed = ListParams::default().labels(&format!("{MANAGED_BY}={MANAGER}"));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let failed_create = ListParams::default().fields("reason=FailedCreate");
    let (d, p, e) = tokio::join!(
        api_call(timeout, deployments.list(&managed)),
        api_call(timeout, pods.list(&managed)),
        api_call(timeout, events.list(&failed_create)),
    );
    let cluster = |s: Box<kube::core::Status>| K8sError::Cluster(s.message);
    let d = d?.map_err(cluster)?.items;
    let p = p?.map_err(cluster)?.items;
    let e = e?.map_err(cluster)?.items;
    Ok(derive_phase(expected, &d, &p, &e))
}

/// Ready when every expected Deployment is available; failed when a pod or an Event shows a
/// condition that will not resolve by waiting; provisioning otherwise (naming what it waits for).
pub fn derive_phase(
    expected: &[String],
    deployments: &[Deployment],
    pods: &[Pod],
    events: &[Event],
) -> Observed {
    let available = |name: &str| {
        deployments.iter().any(|d| {
            d.metadata.name.as_deref() == Some(name)
                && d.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Available" && c.status == "True")
                    })
        })
    };
    let waiting: Vec<&String> = expected.iter().filter(|n| !available(n)).collect();
    if waiting.is_empty() {
        return Observed {
            phase: Phase::Ready,
            reason: None,
        };
    }
    let failed = |reason: String| Observed {
        phase: Phase::Failed,
        reason: Some(reason),
    };
    for pod in pods {
        let component = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(COMPONENT))
            .cloned()
            .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
        if !waiting.iter().any(|w| **w == component) {
            continue;
        }
        let Some(status) = &pod.status else { continue };
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for c in containers {
            if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref())
                && let Some(reason) = w.reason.as_deref()
                && STUCK_WAITING.contains(&reason)
            {
                let message = w.message.as_deref().unwrap_or("");
                return failed(
                    format!("{component}: {reason}: {message}")
                        .trim_end_matches([':', ' '])
                        .to_string(),
                );
            }
        }
        if let Some(cond) = unschedulable(status) {
            return failed(format!(
                "{component}: Unschedulable: {}",
                cond.message.as_deref().unwrap_or("no node fits the pod")
            ));
        }
    }
    for event in events {
        if event.reason.as_deref() != Some("FailedCreate") {
            continue;
        }
        let involved = event.involved_object.name.as_deref().unwrap_or_default();
        // ReplicaSets are named `<deployment>-<hash>`.
        let Some(component) = waiting
            .iter()
            .find(|w| involved == w.as_str() || involved.starts_with(&format!("{w}-")))
        else {
            continue;
        };
        let message = event.message.as_deref().unwrap_or_default();
        let kind = refusal_kind(message);
        return failed(format!("{component}: {kind}: {message}"));
    }
    Observed {
        phase: Phase::Provisioning,
        reason: Some(format!(
            "waiting for {} to become available",
            waiting
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj<K: serde::de::DeserializeOwned>(v: serde_json::Value) -> K {
        serde_json::from_value(v).unwrap()
    }

    fn deployment(name: &str, available: bool) -> Deployment {
        obj(
            json!({"metadata": {"name": name}, "status": {"conditions": [
                {"type": "Available", "status": if available { "True" } else { "False" }}
            ]}}),
        )
    }

    #[test]
    fn ready_only_when_every_expected_deployment_is_available() {
        let expected = vec!["postgres".to_string(), "app".to_string()];
        let all = [deployment("postgres", true), deployment("app", true)];
        assert_eq!(derive_phase(&expected, &all, &[], &[]).phase, Phase::Ready);
        let some = [deployment("postgres", true), deployment("app", false)];
        let o = derive_phase(&expected, &some, &[], &[]);
        assert_eq!(o.phase, Phase::Provisioning);
        assert_eq!(
            o.reason.as_deref(),
            Some("waiting for app to become available")
        );
    }

    #[test]
    fn stuck_pods_and_failed_creates_fail_the_environment_with_their_reason() {
        let expected = vec!["app".to_string()];
        let pod: Pod = obj(json!({
            "metadata": {"name": "app-1", "labels": {COMPONENT: "app"}},
            "status": {"containerStatuses": [{"name": "app", "image": "x", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}]}
        }));
        let o = derive_phase(&expected, &[], &[pod], &[]);
        assert_eq!(o.phase, Phase::Failed);
        assert_eq!(
            o.reason.as_deref(),
            Some("app: ImagePullBackOff: Back-off pulling image \"x\"")
        );
        let event: Event = obj(json!({
            "metadata": {"name": "e"}, "reason": "FailedCreate",
            "involvedObject": {"kind": "ReplicaSet", "name": "app-5d9f"},
            "message": "Error creating: pods \"app-5d9f-x\" is forbidden: exceeded quota: maestro-quota"
        }));
        let o = derive_phase(&expected, &[], &[], std::slice::from_ref(&event));
        assert!(
            o.reason
                .unwrap()
                .starts_with("app: QuotaExceeded: Error creating")
        );
        // An old refusal no longer matters once the Deployment is available.
        let o = derive_phase(&expected, &[deployment("app", true)], &[], &[event]);
        assert_eq!(o.phase, Phase::Ready);
    }
}

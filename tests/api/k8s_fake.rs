//! Self-tests of the fake Kubernetes API server (tests/api/support/k8s_fake): each verb and
//! simulated controller through a real `kube::Client`, in-process and over loopback HTTP with
//! a kubeconfig file. Every test name says "simulated": nothing here talks to a real cluster.

mod crud;
mod faults;
mod jobs;
mod logs;
mod namespaces;
mod time;
mod watch;
mod workloads;

use std::future::Future;

use kube::Client;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::support::k8s_fake::FakeCluster;

/// How a test reaches the fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    InProcess,
    Http,
}

/// Runs `body` on a fresh cluster twice: through the in-process tower service, and over loopback
/// HTTP with a client built from the kubeconfig file. The fake must record no internal failure.
pub async fn on_both<F, Fut>(body: F)
where
    F: Fn(FakeCluster, Client, Transport) -> Fut,
    Fut: Future<Output = ()>,
{
    let cluster = FakeCluster::new();
    body(cluster.clone(), cluster.client(), Transport::InProcess).await;
    cluster.assert_no_failures();

    let cluster = FakeCluster::new();
    let server = cluster.serve().await;
    let client = server.client().await;
    body(cluster.clone(), client, Transport::Http).await;
    cluster.assert_no_failures();
}

/// A typed object from JSON (tests write manifests as JSON).
pub fn obj<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).expect("test manifest parses")
}

/// The `Status` of a kube API error, or a panic naming what happened instead.
pub fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Box<kube::core::Status> {
    match r {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

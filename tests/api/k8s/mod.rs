//! Black-box tests of the k8s module: the real server, spoken to over HTTP, with its kubeconfig
//! pointing at the fake API server (tests/api/support/k8s_fake) over loopback HTTP. Every test
//! that touches a cluster says "simulated" in its name: no real cluster is involved.

mod access;
mod environments;
mod jobs;
mod real_cluster;
mod reaper;
mod render;
mod stream;
mod workflow;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, TestAppBuilder};
use crate::support::k8s_fake::{FakeCluster, FakeServer};

/// A server whose k8s module talks to `cluster` over loopback HTTP.
pub struct Env {
    pub app: TestApp,
    pub cluster: FakeCluster,
    pub server: FakeServer,
}

pub async fn with_fake_cluster() -> Env {
    with_cluster(FakeCluster::new(), TestApp::builder()).await
}

/// Serves `cluster` (seeded or configured already) and spawns `builder` pointed at it.
pub async fn with_cluster(cluster: FakeCluster, builder: TestAppBuilder) -> Env {
    let server = cluster.serve().await;
    let kubeconfig = server.kubeconfig_path().display().to_string();
    let app = builder
        .with(move |s| s.k8s.kubeconfig = kubeconfig)
        .spawn()
        .await;
    Env {
        app,
        cluster,
        server,
    }
}

impl Env {
    /// GETs the environment until `check` accepts it.
    pub async fn until(&self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let path = format!("/api/v1/environments/{id}");
        let token = self.app.editor.token.clone();
        self.app
            .eventually(what, Duration::from_secs(30), || {
                let path = path.clone();
                let token = token.clone();
                let app = &self.app;
                let check = &check;
                async move {
                    let (status, body) = app.get(&path, Some(&token)).await;
                    (status == StatusCode::OK && check(&body)).then_some(body)
                }
            })
            .await
    }
}

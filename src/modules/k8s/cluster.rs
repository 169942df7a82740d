//! How the module reaches its cluster: `k8s.kubeconfig`, else `$KUBECONFIG`, else
//! `~/.kube/config`, else the in-cluster service account. The client is built on first use and
//! kept; while no cluster is found every call answers 503 `k8s.cluster_unavailable` naming what
//! to configure (the module stays mounted, Maestro stays ready), and the next call looks again.

use std::path::PathBuf;
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::Mutex;

use super::error::K8sError;
use super::settings::K8sSettings;

const HOW_TO: &str = "set `k8s.kubeconfig` (MAESTRO__K8S__KUBECONFIG) or KUBECONFIG to a kubeconfig file, or run Maestro in a pod with a service account";

#[derive(Clone)]
pub struct Cluster {
    settings: Arc<K8sSettings>,
    client: Arc<Mutex<Option<kube::Client>>>,
}

impl Cluster {
    pub fn new(settings: Arc<K8sSettings>) -> Self {
        Cluster {
            settings,
            client: Arc::new(Mutex::new(None)),
        }
    }

    /// A cluster reached through an existing client (tests with an in-process fake).
    pub fn with_client(settings: Arc<K8sSettings>, client: kube::Client) -> Self {
        Cluster {
            settings,
            client: Arc::new(Mutex::new(Some(client))),
        }
    }

    /// The client, or 503 saying why there is none.
    pub async fn client(&self) -> Result<kube::Client, K8sError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = connect(&self.settings)
            .await
            .map_err(K8sError::ClusterUnavailable)?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// `None` when a client is available, else the reason (for `/health` and `/readyz`).
    pub async fn unavailable_reason(&self) -> Option<String> {
        match self.client().await {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        }
    }
}

/// Which configuration source applies, in order.
enum Source {
    File { path: PathBuf, from: &'static str },
    InCluster,
}

fn source(settings: &K8sSettings) -> Result<Source, String> {
    if !settings.kubeconfig.trim().is_empty() {
        return Ok(Source::File {
            path: PathBuf::from(settings.kubeconfig.trim()),
            from: "k8s.kubeconfig",
        });
    }
    if let Some(path) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        // Several files joined with `:` are merged by kubectl; Maestro reads the first.
        let first = std::env::split_paths(&path).next().unwrap_or_default();
        return Ok(Source::File {
            path: first,
            from: "KUBECONFIG",
        });
    }
    if let Some(home) = std::env::var_os("HOME") {
        let path = PathBuf::from(home).join(".kube").join("config");
        if path.is_file() {
            return Ok(Source::File {
                path,
                from: "~/.kube/config",
            });
        }
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return Ok(Source::InCluster);
    }
    Err(format!("No Kubernetes cluster is configured: {HOW_TO}."))
}

async fn connect(settings: &K8sSettings) -> Result<kube::Client, String> {
    let config = match source(settings)? {
        Source::File { path, from } => {
            let shown = path.display().to_string();
            let kubeconfig = Kubeconfig::read_from(&path).map_err(|e| {
                format!("The kubeconfig {shown} (from {from}) cannot be read: {e}; {HOW_TO}.")
            })?;
            let options = KubeConfigOptions {
                context: (!settings.context.is_empty()).then(|| settings.context.clone()),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| format!("The kubeconfig {shown} (from {from}) is not usable: {e}."))?
        }
        Source::InCluster => kube::Config::incluster().map_err(|e| {
            format!("The in-cluster service account cannot be used: {e}; {HOW_TO}.")
        })?,
    };
    kube::Client::try_from(config)
        .map_err(|e| format!("A Kubernetes client cannot be built from the configuration: {e}."))
}

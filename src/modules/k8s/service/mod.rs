//! `K8sService`: the k8s module's API for handlers (and, later, workflow steps). It owns the
//! rules; the cluster holds what runs, the database the tenant's record of it.
//!
//! Files: `environments.rs` (create, get, list, delete, extend, render), `jobs.rs` (test Jobs,
//! their logs and results), `status.rs` (phases from the cluster), `validate.rs` (request
//! checks).

mod environments;
mod jobs;

pub use environments::{ListFilter, render};
pub use jobs::JobLog;
pub mod status;
pub mod validate;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::core::Status;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cluster::Cluster;
use super::error::K8sError;
use super::manifests::{MANAGER, Manifest};
use super::settings::K8sSettings;
use crate::platform::db::Db;
use crate::platform::edge::Edge;
use crate::platform::module::ServiceRegistry;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct K8sService {
    db: Db,
    cluster: Cluster,
    settings: Arc<K8sSettings>,
    /// Where the healing module's `TestResults` is registered (looked up when a job ends).
    services: ServiceRegistry,
    /// Stops the job runners at shutdown.
    cancel: CancellationToken,
    /// The Redis Streams edge (status and results events), when Redis is configured.
    edge: Option<Edge>,
}

impl K8sService {
    pub fn new(
        db: Db,
        cluster: Cluster,
        settings: Arc<K8sSettings>,
        services: ServiceRegistry,
        edge: Option<Edge>,
    ) -> Self {
        K8sService {
            db,
            cluster,
            settings,
            services,
            cancel: CancellationToken::new(),
            edge,
        }
    }

    /// Queues an outbound stream event (never waits for Redis; a no-op without it).
    pub fn publish(&self, stream: &'static str, fields: Vec<(&'static str, String)>) {
        if let Some(edge) = &self.edge {
            let fields: Vec<(&'static str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            edge.publish_buffered(stream, &fields);
        }
    }

    /// `k8s:status`: an environment's phase changed.
    fn publish_phase(
        &self,
        tenant: &str,
        id: &str,
        namespace: &str,
        phase: &str,
        reason: Option<&str>,
    ) {
        self.publish(
            super::stream::STATUS,
            vec![
                ("tenant_id", tenant.to_string()),
                ("environment_id", id.to_string()),
                ("namespace", namespace.to_string()),
                ("phase", phase.to_string()),
                ("reason", reason.unwrap_or_default().to_string()),
                ("timestamp", chrono::Utc::now().to_rfc3339()),
            ],
        );
    }

    /// Stops following jobs (at shutdown; they resume at the next start).
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn settings(&self) -> &K8sSettings {
        &self.settings
    }
}

/// One Kubernetes API call within `timeout`: `Ok(Ok(_))` on success, `Ok(Err(status))` when the
/// API answered with an error (the caller decides what a 404 or 409 means), `Err` when the
/// cluster could not be reached at all.
pub async fn api_call<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<Result<T, Box<Status>>, K8sError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(Ok(value)),
        Ok(Err(kube::Error::Api(status))) => Ok(Err(status)),
        Ok(Err(e)) => Err(K8sError::ClusterUnavailable(format!(
            "The Kubernetes API is unreachable: {e}"
        ))),
        Err(_) => Err(K8sError::ClusterUnavailable(format!(
            "The Kubernetes API did not answer within {}",
            humantime::format_duration(timeout)
        ))),
    }
}

pub fn not_found(status: &Status) -> bool {
    status.code == 404
}

/// Server-side apply with field manager `maestro`, forced (Maestro owns these objects).
pub async fn apply(
    client: &kube::Client,
    timeout: Duration,
    manifest: &Manifest,
) -> Result<(), K8sError> {
    let result = match manifest {
        Manifest::Namespace(o) => {
            let api: Api<Namespace> = Api::all(client.clone());
            patch(timeout, &api, o).await?
        }
        Manifest::LimitRange(o) => patch(timeout, &namespaced(client, &o.metadata), o).await?,
        Manifest::ResourceQuota(o) => patch(timeout, &namespaced(client, &o.metadata), o).await?,
        Manifest::NetworkPolicy(o) => patch(timeout, &namespaced(client, &o.metadata), o).await?,
        Manifest::Secret(o) => patch(timeout, &namespaced(client, &o.metadata), o).await?,
        Manifest::Deployment(o) => patch(timeout, &namespaced(client, &o.metadata), o).await?,
        Manifest::Service(o) => patch(timeout, &namespaced(client, &o.metadata), o).await?,
    };
    result.map_err(|s| {
        K8sError::Cluster(format!(
            "applying {} {}: {} ({})",
            manifest.kind(),
            manifest.name(),
            s.message,
            s.code
        ))
    })
}

fn namespaced<K>(
    client: &kube::Client,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Api<K>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(
        client.clone(),
        meta.namespace.as_deref().unwrap_or("default"),
    )
}

async fn patch<K>(
    timeout: Duration,
    api: &Api<K>,
    obj: &K,
) -> Result<Result<(), Box<Status>>, K8sError>
where
    K: kube::Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let params = PatchParams::apply(MANAGER).force();
    Ok(
        api_call(timeout, api.patch(&name, &params, &Patch::Apply(obj)))
            .await?
            .map(|_| ()),
    )
}

//! The TTL reaper: at start and every `k8s.reaper_interval` it lists the namespaces labelled
//! `app.kubernetes.io/managed-by=maestro` (with an environment id) and deletes those whose
//! `maestro.io/expires-at` annotation is more than `k8s.reaper_grace` in the past. Expiry lives
//! on the cluster, so a restarted Maestro (or another replica) reaps what an earlier one
//! created; a namespace Maestro did not create is never touched. One replica reaps at a time:
//! it holds a database lease row, renewed each round.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use tokio_util::sync::CancellationToken;

use super::cluster::Cluster;
use super::error::K8sError;
use super::manifests::{ENVIRONMENT_ID, EXPIRES_AT, MANAGED_BY, MANAGER};
use super::service::{api_call, not_found};
use super::settings::K8sSettings;
use super::store;
use crate::platform::db::Db;
use crate::platform::http::error::ApiResult;

const LEASE: &str = "k8s-reaper";

#[derive(Clone)]
pub struct Reaper {
    pub db: Db,
    pub cluster: Cluster,
    pub settings: std::sync::Arc<K8sSettings>,
    /// This process, as the lease holder.
    pub holder: String,
    /// Stores the logs of an environment's jobs before its namespace is deleted.
    pub service: Option<super::service::K8sService>,
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub deleted: Vec<String>,
    pub kept: usize,
}

impl Reaper {
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        loop {
            match self.round().await {
                Ok(Some(round)) if !round.deleted.is_empty() => {
                    tracing::info!(deleted = ?round.deleted, kept = round.kept, "reaped expired environments");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the k8s reaper round failed; retrying next round")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.settings.reaper_interval()) => {}
            }
        }
    }

    /// One round: `None` when another replica holds the lease or there is no cluster.
    pub async fn round(&self) -> Result<Option<Round>, K8sError> {
        if !self.lease().await.unwrap_or(false) {
            return Ok(None);
        }
        let client = match self.cluster.client().await {
            Ok(client) => client,
            Err(_) => return Ok(None),
        };
        let timeout = self.settings.api_timeout();
        let namespaces: Api<Namespace> = Api::all(client);
        let selector = format!("{MANAGED_BY}={MANAGER},{ENVIRONMENT_ID}");
        let list = api_call(
            timeout,
            namespaces.list(&ListParams::default().labels(&selector)),
        )
        .await?
        .map_err(|s| K8sError::Cluster(s.message))?;
        let now = Utc::now();
        let grace = chrono::Duration::from_std(self.settings.reaper_grace())
            .unwrap_or(chrono::Duration::zero());
        let mut round = Round::default();
        for ns in list.items {
            let Some(name) = ns.metadata.name.clone() else {
                continue;
            };
            // Only what Maestro labelled (the selector says so; checked again on the object).
            let labels = ns.metadata.labels.clone().unwrap_or_default();
            if labels.get(MANAGED_BY).map(String::as_str) != Some(MANAGER) {
                continue;
            }
            let expires = ns
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(EXPIRES_AT))
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|t| t.to_utc());
            let Some(expires) = expires else {
                round.kept += 1;
                continue;
            };
            if ns.metadata.deletion_timestamp.is_some() || expires + grace > now {
                round.kept += 1;
                continue;
            }
            // Logs of its jobs are stored before the namespace (and the pods) go.
            if let Some(service) = &self.service {
                let ns_name = name.clone();
                let env: ApiResult<Option<store::EnvironmentRow>> = self
                    .db
                    .run(move |conn| Ok(store::environment_by_namespace(conn, &ns_name)?))
                    .await;
                if let Ok(Some(env)) = env
                    && let Err(e) = service.keep_logs(&env).await
                {
                    tracing::warn!(namespace = %name, error = ?e, "could not store job logs; the namespace is kept until the next round");
                    round.kept += 1;
                    continue;
                }
            }
            match api_call(
                timeout,
                namespaces.delete(&name, &DeleteParams::background()),
            )
            .await?
            {
                Ok(_) => {}
                // Already gone, or already terminating: what the reaper wanted.
                Err(s) if not_found(&s) || s.code == 409 => {}
                Err(s) => {
                    tracing::warn!(namespace = %name, error = %s.message, "the reaper could not delete an expired namespace");
                    continue;
                }
            }
            let reason = format!(
                "expired at {}; deleted by the TTL reaper",
                super::manifests::expires_annotation(expires)
            );
            let (db_name, at) = (name.clone(), now.naive_utc());
            let recorded: ApiResult<bool> = self
                .db
                .run(move |conn| Ok(store::mark_reaped(conn, &db_name, &reason, at)?))
                .await;
            if let Err(e) = recorded {
                tracing::warn!(namespace = %name, error = ?e, "the reaper could not record a deletion");
            }
            round.deleted.push(name);
        }
        Ok(Some(round))
    }

    /// Takes or renews the lease for a little more than one interval.
    async fn lease(&self) -> ApiResult<bool> {
        let holder = self.holder.clone();
        let now = Utc::now();
        let ttl = self.settings.reaper_interval() * 2 + Duration::from_secs(5);
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        self.db
            .run(move |conn| {
                Ok(store::acquire_lease(
                    conn,
                    LEASE,
                    &holder,
                    now.naive_utc(),
                    expires.naive_utc(),
                )?)
            })
            .await
    }
}

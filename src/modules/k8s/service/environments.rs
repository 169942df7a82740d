//! Environments: create (idempotent on the client id; server-side apply of the manifests in
//! order), get (phase read from the cluster), list (the tenant's records, by owner and phase),
//! delete (idempotent; reports a namespace stuck terminating), extend (up to `k8s.max_ttl`) and
//! render (the manifests create would apply, as YAML, touching nothing).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::DeleteParams;

use super::super::error::K8sError;
use super::super::manifests::{
    self, APP, CREDENTIALS_SECRET, ENVIRONMENT_ID, MANAGED_BY, MANAGER, Manifest, Plan,
};
use super::super::model::{
    CredentialsRef, DatabaseKind, Endpoint, EnvironmentRequest, EnvironmentView, ExtendRequest,
    Phase,
};
use super::super::settings::K8sSettings;
use super::super::store::{self, EnvironmentFilter, EnvironmentRow};
use super::status::{self, Observed};
use super::validate;
use super::{K8sService, api_call, apply, not_found};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::{ApiError, ApiResult};
use crate::platform::http::pagination::{Page, PageQuery};

/// What `create` did.
pub struct Created {
    pub view: EnvironmentView,
    /// False when the id already named this environment (nothing new was created).
    pub created: bool,
}

/// List filters (`?owner=me|<user id>&phase=`).
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub owner: Option<String>,
    pub phase: Option<String>,
}

impl K8sService {
    /// The manifests of a request, as `create` would apply them (see [`render`]).
    pub fn render(&self, tenant: &str, owner: &str, req: &EnvironmentRequest) -> ApiResult<String> {
        render(&self.settings, tenant, owner, req)
    }

    /// Creates an environment; `run_id` ties it to the workflow run that provisions it.
    pub async fn create(
        &self,
        caller: &Principal,
        req: EnvironmentRequest,
        run_id: Option<&str>,
    ) -> ApiResult<Created> {
        let (errors, ttl) = validate::check(&req, &self.settings);
        if !errors.is_empty() {
            return Err(K8sError::InvalidSpec(errors).into());
        }
        let client = self.cluster.client().await?;
        let tenant = caller.tenant_id.clone();
        let id = req.id.unwrap_or_else(uuid::Uuid::new_v4).to_string();
        let spec = normalized(&req, &id);
        let spec_json = serde_json::to_string(&spec).map_err(ApiError::internal)?;
        let now = Utc::now();
        let row = EnvironmentRow {
            tenant_id: tenant.0.clone(),
            id: id.clone(),
            namespace: manifests::namespace_name(tenant.as_str(), &id),
            owner_id: caller.user_id.clone(),
            spec: spec_json.clone(),
            phase: Phase::Provisioning.as_str().into(),
            reason: None,
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
            expires_at: validate::expiry(now, ttl.unwrap_or(self.settings.default_ttl()))
                .naive_utc(),
            deleted_at: None,
            run_id: run_id.map(str::to_string),
        };
        let (row, created) = {
            let row = row.clone();
            let tenant = tenant.clone();
            self.db
                .run(move |conn| -> ApiResult<(EnvironmentRow, bool)> {
                    if let Some(existing) = store::get_environment(conn, &tenant, &row.id)? {
                        return Ok((existing, false));
                    }
                    if store::namespace_taken(conn, &row.namespace)? {
                        return Err(K8sError::NamespaceTaken(row.namespace.clone()).into());
                    }
                    if store::insert_environment(conn, &row)? {
                        return Ok((row, true));
                    }
                    // Lost a race with an identical create, or the namespace was taken meanwhile.
                    match store::get_environment(conn, &tenant, &row.id)? {
                        Some(existing) => Ok((existing, false)),
                        None => Err(K8sError::NamespaceTaken(row.namespace.clone()).into()),
                    }
                })
                .await?
        };
        if !created {
            if row.spec != spec_json {
                return Err(K8sError::IdConflict(id).into());
            }
            if row.deleted_at.is_some() {
                // The same create again after a delete: it names that (deleted) environment.
                return Ok(Created {
                    view: view(&row)?,
                    created: false,
                });
            }
        }
        // Apply (again, for a retried create: server-side apply makes it a no-op, and it
        // finishes what an interrupted create started).
        match self.apply_environment(&client, &row, &spec).await {
            Ok(()) => {}
            Err(e) => {
                let reason = e.to_string();
                self.record_phase(&tenant, &row.id, Phase::Failed, Some(&reason))
                    .await?;
                return Err(e.into());
            }
        }
        let row = if row.phase == Phase::Failed.as_str() {
            self.record_phase(&tenant, &row.id, Phase::Provisioning, None)
                .await?;
            self.load(&tenant, &row.id).await?
        } else {
            row
        };
        if created {
            self.publish_phase(&row.tenant_id, &row.id, &row.namespace, &row.phase, None);
        }
        Ok(Created {
            view: view(&row)?,
            created,
        })
    }

    async fn apply_environment(
        &self,
        client: &kube::Client,
        row: &EnvironmentRow,
        spec: &EnvironmentRequest,
    ) -> Result<(), K8sError> {
        let timeout = self.settings.api_timeout();
        // Never take over a namespace Maestro did not create for this environment.
        let namespaces: Api<Namespace> = Api::all(client.clone());
        match api_call(timeout, namespaces.get(&row.namespace)).await? {
            Ok(ns) => {
                let labels = ns.metadata.labels.unwrap_or_default();
                if labels.get(MANAGED_BY).map(String::as_str) != Some(MANAGER)
                    || labels.get(ENVIRONMENT_ID) != Some(&row.id)
                {
                    return Err(K8sError::NamespaceTaken(row.namespace.clone()));
                }
                if ns.metadata.deletion_timestamp.is_some() {
                    return Err(K8sError::Cluster(format!(
                        "the namespace {} is being deleted; wait until it is gone",
                        row.namespace
                    )));
                }
            }
            Err(s) if not_found(&s) => {}
            Err(s) => return Err(K8sError::Cluster(s.message)),
        }
        // Credentials are generated once: a re-apply keeps what the Secret already holds.
        let mut credentials = manifests::generate_credentials(&spec.databases);
        if !spec.databases.is_empty() {
            let secrets: Api<Secret> = Api::namespaced(client.clone(), &row.namespace);
            match api_call(timeout, secrets.get(CREDENTIALS_SECRET)).await? {
                Ok(secret) => {
                    for (key, value) in secret.data.unwrap_or_default() {
                        if let Ok(text) = String::from_utf8(value.0) {
                            credentials.insert(key, text);
                        }
                    }
                }
                Err(s) if not_found(&s) => {}
                Err(s) => return Err(K8sError::Cluster(s.message)),
            }
        }
        let manifests = self.plan_manifests(row, spec, &credentials, row.expires_at.and_utc());
        for manifest in &manifests {
            apply(client, timeout, manifest).await?;
        }
        Ok(())
    }

    fn plan_manifests(
        &self,
        row: &EnvironmentRow,
        spec: &EnvironmentRequest,
        credentials: &BTreeMap<String, String>,
        expires_at: DateTime<Utc>,
    ) -> Vec<Manifest> {
        manifests::manifests(&Plan {
            environment_id: &row.id,
            namespace: &row.namespace,
            tenant: &row.tenant_id,
            owner: &row.owner_id,
            expires_at,
            spec,
            credentials,
            settings: &self.settings,
        })
    }

    /// The environment with its phase read from the cluster now (and recorded).
    pub async fn get(&self, tenant: &TenantId, id: &str) -> ApiResult<EnvironmentView> {
        let row = self.load(tenant, id).await?;
        view(&self.refresh(row).await?)
    }

    /// Reads the phase of an environment from the cluster and records it (a deleted one is
    /// left as it is).
    async fn refresh(&self, row: EnvironmentRow) -> ApiResult<EnvironmentRow> {
        if row.phase == Phase::Deleted.as_str() {
            return Ok(row);
        }
        let client = self.cluster.client().await?;
        let spec = spec_of(&row)?;
        let observed = status::observe(
            &client,
            self.settings.api_timeout(),
            &row.namespace,
            &expected_deployments(&spec),
        )
        .await?;
        if still_applying(&row, &observed, Utc::now(), self.settings.api_timeout()) {
            return Ok(row);
        }
        let tenant = TenantId(row.tenant_id.clone());
        self.record_observed(&tenant, row, observed).await
    }

    /// One round of the status refresher: the phases of live environments (those seen longest
    /// ago first), so lists filtered by phase and the `k8s:status` stream follow the cluster
    /// without anyone reading each environment. Returns how many were read.
    pub async fn refresh_round(&self, batch: i64) -> ApiResult<usize> {
        let rows = self
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::live_environments(conn, batch)?) })
            .await?;
        let n = rows.len();
        for row in rows {
            let id = row.id.clone();
            if let Err(e) = self.refresh(row).await {
                tracing::debug!(environment = %id, error = ?e, "status refresh failed; next round");
            }
        }
        Ok(n)
    }

    pub async fn list(
        &self,
        caller: &Principal,
        filter: ListFilter,
        page: PageQuery,
    ) -> ApiResult<Page<EnvironmentView>> {
        if let Some(phase) = &filter.phase
            && Phase::parse(phase).is_none()
        {
            return Err(K8sError::InvalidPhase(phase.clone()).into());
        }
        let store_filter = EnvironmentFilter {
            owner_id: filter
                .owner
                .map(|o| if o == "me" { caller.user_id.clone() } else { o }),
            phase: filter.phase,
        };
        let tenant = caller.tenant_id.clone();
        self.db
            .try_page(
                &page,
                move |conn, limit, offset| {
                    Ok(store::list_environments(
                        conn,
                        &tenant,
                        &store_filter,
                        limit,
                        offset,
                    )?)
                },
                |row| view(&row),
            )
            .await
    }

    /// Deletes the namespace (and everything in it). Idempotent: an environment already gone or
    /// already terminating is a success; one terminating for longer than `api_timeout`'s poll
    /// is reported with the namespace's conditions.
    pub async fn delete(&self, tenant: &TenantId, id: &str) -> ApiResult<EnvironmentView> {
        let row = self.load(tenant, id).await?;
        let client = self.cluster.client().await?;
        // Logs are stored before anything that holds them is deleted.
        if row.deleted_at.is_none() {
            self.keep_logs(&row).await?;
        }
        let timeout = self.settings.api_timeout();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let observed = match api_call(
            timeout,
            namespaces.delete(&row.namespace, &DeleteParams::background()),
        )
        .await?
        {
            Ok(_) => None,
            Err(s) if not_found(&s) => Some(Observed {
                phase: Phase::Deleted,
                reason: None,
            }),
            // 409: already terminating ("the system is ensuring all content is removed").
            Err(s) if s.code == 409 => None,
            Err(s) => return Err(K8sError::Cluster(s.message).into()),
        };
        let observed = match observed {
            Some(o) => o,
            None => match api_call(timeout, namespaces.get(&row.namespace)).await? {
                Err(s) if not_found(&s) => Observed {
                    phase: Phase::Deleted,
                    reason: None,
                },
                Err(s) => return Err(K8sError::Cluster(s.message).into()),
                Ok(ns) => Observed {
                    phase: Phase::Terminating,
                    reason: terminating_reason(&ns),
                },
            },
        };
        if row.phase != observed.phase.as_str() {
            self.publish_phase(
                &row.tenant_id,
                &row.id,
                &row.namespace,
                observed.phase.as_str(),
                observed.reason.as_deref(),
            );
        }
        self.record_deleted(tenant, id, row.deleted_at, &observed)
            .await?;
        view(&self.load(tenant, id).await?)
    }

    /// Sets the expiry to now + `ttl` (at most `k8s.max_ttl`), on the namespace annotation (what
    /// the reaper reads) and the record.
    pub async fn extend(
        &self,
        tenant: &TenantId,
        id: &str,
        req: ExtendRequest,
    ) -> ApiResult<EnvironmentView> {
        let ttl = validate::check_extend(&req, &self.settings)
            .map_err(|e| K8sError::InvalidSpec(vec![e]))?;
        let row = self.load(tenant, id).await?;
        if row.deleted_at.is_some() {
            return Err(K8sError::Deleted(row.id).into());
        }
        let client = self.cluster.client().await?;
        let now = Utc::now();
        let expires_at = validate::expiry(now, ttl);
        let spec = spec_of(&row)?;
        let manifests = self.plan_manifests(&row, &spec, &BTreeMap::new(), expires_at);
        // The whole Namespace object: an apply that left out its labels would remove them.
        if let Some(ns @ Manifest::Namespace(_)) = manifests.first() {
            apply(&client, self.settings.api_timeout(), ns).await?;
        }
        let (tenant_c, id_c) = (tenant.clone(), id.to_string());
        self.db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::set_expires_at(
                    conn,
                    &tenant_c,
                    &id_c,
                    expires_at.naive_utc(),
                    now.naive_utc(),
                )?)
            })
            .await?;
        view(&self.load(tenant, id).await?)
    }

    /// Deletes the live environments a workflow run provisioned (when the run ends).
    pub async fn teardown_run(&self, tenant: &TenantId, run_id: &str) -> ApiResult<usize> {
        let (t, r) = (tenant.clone(), run_id.to_string());
        let ids = self
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::environments_of_run(conn, &t, &r)?) })
            .await?;
        for id in &ids {
            self.delete(tenant, id).await?;
        }
        Ok(ids.len())
    }

    pub(super) async fn load(&self, tenant: &TenantId, id: &str) -> ApiResult<EnvironmentRow> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.db
            .run(move |conn| -> ApiResult<_> {
                store::get_environment(conn, &tenant, &id)?.ok_or_else(|| K8sError::NotFound.into())
            })
            .await
    }

    async fn record_phase(
        &self,
        tenant: &TenantId,
        id: &str,
        phase: Phase,
        reason: Option<&str>,
    ) -> ApiResult<()> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        let reason = reason.map(str::to_string);
        let now = Utc::now().naive_utc();
        self.db
            .run(move |conn| -> ApiResult<_> {
                store::set_phase(conn, &tenant, &id, phase.as_str(), reason.as_deref(), now)?;
                Ok(())
            })
            .await
    }

    /// Records a delete as the cluster shows it (`observed`: terminating or deleted), and when
    /// it was deleted: `deleted_at` when it already was, now otherwise (which it returns).
    async fn record_deleted(
        &self,
        tenant: &TenantId,
        id: &str,
        deleted_at: Option<NaiveDateTime>,
        observed: &Observed,
    ) -> ApiResult<NaiveDateTime> {
        let now = Utc::now().naive_utc();
        let deleted_at = deleted_at.unwrap_or(now);
        let (tenant, id) = (tenant.clone(), id.to_string());
        let phase = observed.phase.as_str();
        let reason = observed.reason.clone();
        self.db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::mark_deleted(
                    conn,
                    &tenant,
                    &id,
                    phase,
                    reason.as_deref(),
                    deleted_at,
                    now,
                )?)
            })
            .await?;
        Ok(deleted_at)
    }

    async fn record_observed(
        &self,
        tenant: &TenantId,
        mut row: EnvironmentRow,
        observed: Observed,
    ) -> ApiResult<EnvironmentRow> {
        let phase = observed.phase.as_str();
        if row.phase == phase && row.reason == observed.reason {
            return Ok(row);
        }
        if row.phase != phase {
            self.publish_phase(
                &row.tenant_id,
                &row.id,
                &row.namespace,
                phase,
                observed.reason.as_deref(),
            );
        }
        if row.deleted_at.is_some() || observed.phase == Phase::Deleted {
            let deleted_at = self
                .record_deleted(tenant, &row.id, row.deleted_at, &observed)
                .await?;
            row.deleted_at = Some(deleted_at);
        } else {
            self.record_phase(tenant, &row.id, observed.phase, observed.reason.as_deref())
                .await?;
        }
        row.phase = phase.to_string();
        row.reason = observed.reason;
        Ok(row)
    }
}

/// True while a just-created environment's namespace may not exist *yet*: `create` stores the
/// record before it applies the namespace (three cluster calls at most, each bounded by
/// `api_timeout`), and a refresh in between must not take the missing namespace for a deleted
/// one — that would mark the environment deleted for good while its create goes on.
fn still_applying(
    row: &EnvironmentRow,
    observed: &Observed,
    now: DateTime<Utc>,
    api_timeout: std::time::Duration,
) -> bool {
    let apply_budget = chrono::Duration::from_std(api_timeout * 3).unwrap_or(chrono::Duration::MAX);
    observed.phase == Phase::Deleted
        && row.phase == Phase::Provisioning.as_str()
        && row.deleted_at.is_none()
        && now.naive_utc() - row.updated_at < apply_budget
}

/// The manifests `create` would apply for `req` as a YAML `List`, with freshly generated
/// credentials; nothing is stored or applied and no cluster is needed
/// (`POST /api/v1/environments/render`, `maestro env render`).
pub fn render(
    settings: &K8sSettings,
    tenant: &str,
    owner: &str,
    req: &EnvironmentRequest,
) -> ApiResult<String> {
    let (errors, ttl) = validate::check(req, settings);
    if !errors.is_empty() {
        return Err(K8sError::InvalidSpec(errors).into());
    }
    let id = req.id.unwrap_or_else(uuid::Uuid::new_v4).to_string();
    let namespace = manifests::namespace_name(tenant, &id);
    let credentials = manifests::generate_credentials(&req.databases);
    let expires_at = validate::expiry(Utc::now(), ttl.unwrap_or(settings.default_ttl()));
    let spec = normalized(req, &id);
    let plan = Plan {
        environment_id: &id,
        namespace: &namespace,
        tenant,
        owner,
        expires_at,
        spec: &spec,
        credentials: &credentials,
        settings,
    };
    manifests::to_yaml(&manifests::manifests(&plan)).map_err(ApiError::internal)
}

/// The request as stored and compared: with its id.
fn normalized(req: &EnvironmentRequest, id: &str) -> EnvironmentRequest {
    let mut spec = req.clone();
    spec.id = uuid::Uuid::parse_str(id).ok();
    spec
}

fn spec_of(row: &EnvironmentRow) -> ApiResult<EnvironmentRequest> {
    serde_json::from_str(&row.spec).map_err(ApiError::internal)
}

/// The Deployments that must be available for the environment to be ready.
fn expected_deployments(spec: &EnvironmentRequest) -> Vec<String> {
    let mut names: Vec<String> = spec
        .databases
        .iter()
        .map(|d| d.as_str().to_string())
        .collect();
    if spec.app.is_some() {
        names.push(APP.to_string());
    }
    names
}

/// Why a namespace is still there after its delete: its conditions, when it has any.
fn terminating_reason(ns: &Namespace) -> Option<String> {
    let since = ns
        .metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let conditions: Vec<String> = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.status == "True")
                .map(|c| format!("{}: {}", c.type_, c.message.as_deref().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    Some(if conditions.is_empty() {
        format!("terminating since {since}")
    } else {
        format!("stuck terminating since {since}: {}", conditions.join("; "))
    })
}

fn view(row: &EnvironmentRow) -> ApiResult<EnvironmentView> {
    let spec = spec_of(row)?;
    let host = |service: &str| format!("{service}.{}.svc.cluster.local", row.namespace);
    let mut endpoints: Vec<Endpoint> = spec
        .databases
        .iter()
        .map(|db: &DatabaseKind| {
            let (username_key, password_key, url_key) = manifests::credential_keys(*db);
            Endpoint {
                name: db.as_str().to_string(),
                host: host(db.as_str()),
                port: db.port(),
                credentials: Some(CredentialsRef {
                    secret: CREDENTIALS_SECRET.to_string(),
                    username_key,
                    password_key,
                    url_key,
                }),
            }
        })
        .collect();
    if let Some(app) = &spec.app {
        endpoints.push(Endpoint {
            name: APP.to_string(),
            host: host(APP),
            port: app.port,
            credentials: None,
        });
    }
    Ok(EnvironmentView {
        id: row.id.clone(),
        namespace: row.namespace.clone(),
        phase: Phase::parse(&row.phase).unwrap_or(Phase::Provisioning),
        reason: row.reason.clone(),
        owner: row.owner_id.clone(),
        spec,
        endpoints,
        created_at: row.created_at.and_utc(),
        expires_at: row.expires_at.and_utc(),
        deleted_at: row.deleted_at.map(|t| t.and_utc()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(phase: Phase, updated_secs_ago: i64, deleted: bool) -> EnvironmentRow {
        let now = Utc::now().naive_utc();
        let updated_at = now - chrono::Duration::seconds(updated_secs_ago);
        EnvironmentRow {
            tenant_id: "t".into(),
            id: "e".into(),
            namespace: "maestro-t-e".into(),
            owner_id: "u".into(),
            spec: "{}".into(),
            phase: phase.as_str().into(),
            reason: None,
            created_at: updated_at,
            updated_at,
            expires_at: now + chrono::Duration::hours(1),
            deleted_at: deleted.then_some(now),
            run_id: None,
        }
    }

    fn gone() -> Observed {
        Observed {
            phase: Phase::Deleted,
            reason: Some("the namespace maestro-t-e is gone".into()),
        }
    }

    #[test]
    fn a_missing_namespace_of_a_create_still_applying_is_not_a_deletion() {
        let timeout = std::time::Duration::from_secs(10);
        let now = Utc::now();
        let ready = Observed {
            phase: Phase::Ready,
            reason: None,
        };
        // (recorded phase, seconds since the create, deleted, what the cluster shows, applying)
        let cases = [
            (Phase::Provisioning, 1, false, gone(), true),
            // Past the create's budget the namespace really is gone.
            (Phase::Provisioning, 31, false, gone(), false),
            // Only provisioning records that nobody deleted get the benefit of the doubt.
            (Phase::Ready, 1, false, gone(), false),
            (Phase::Provisioning, 1, true, gone(), false),
            (Phase::Provisioning, 1, false, ready, false),
        ];
        for (phase, age, deleted, observed, applying) in cases {
            assert_eq!(
                still_applying(&row(phase, age, deleted), &observed, now, timeout),
                applying,
                "{phase:?}, {age} s old, deleted: {deleted}, observed {:?}",
                observed.phase
            );
        }
    }
}

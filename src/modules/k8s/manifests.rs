//! The manifests of one environment as k8s-openapi types, built by one pure function
//! ([`manifests`]) that both `create` (which applies them, in this order) and `render` (which
//! prints them as YAML) call: namespace (labels, expiry annotation, Pod Security), LimitRange
//! before ResourceQuota, NetworkPolicy, the credentials Secret, then each database and the app
//! as a Deployment and a Service.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, ExecAction, HTTPGetAction, LimitRange,
    LimitRangeItem, LimitRangeSpec, Namespace, PodSpec, PodTemplateSpec, Probe, ResourceQuota,
    ResourceQuotaSpec, Secret, SecretKeySelector, Service, ServicePort, ServiceSpec,
    TCPSocketAction,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{AppSpec, DatabaseKind, EnvironmentRequest, QuotaSpec};
use super::settings::K8sSettings;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "maestro";
pub const PART_OF: &str = "app.kubernetes.io/part-of";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const ENVIRONMENT_ID: &str = "maestro.io/environment-id";
pub const TENANT: &str = "maestro.io/tenant";
pub const OWNER: &str = "maestro.io/owner";
pub const EXPIRES_AT: &str = "maestro.io/expires-at";
pub const CREDENTIALS_SECRET: &str = "maestro-credentials";
pub const APP: &str = "app";

/// Everything the manifests depend on (nothing else: same plan, same manifests).
pub struct Plan<'a> {
    pub environment_id: &'a str,
    pub namespace: &'a str,
    pub tenant: &'a str,
    pub owner: &'a str,
    pub expires_at: DateTime<Utc>,
    pub spec: &'a EnvironmentRequest,
    /// The Secret's data (see [`generate_credentials`]).
    pub credentials: &'a BTreeMap<String, String>,
    pub settings: &'a K8sSettings,
}

/// One object to apply, in apply order. (An environment has about a dozen, built once per
/// request: boxing the large variants would buy nothing.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Manifest {
    Namespace(Namespace),
    LimitRange(LimitRange),
    ResourceQuota(ResourceQuota),
    NetworkPolicy(NetworkPolicy),
    Secret(Secret),
    Deployment(Deployment),
    Service(Service),
}

impl Manifest {
    pub fn kind(&self) -> &'static str {
        match self {
            Manifest::Namespace(_) => "Namespace",
            Manifest::LimitRange(_) => "LimitRange",
            Manifest::ResourceQuota(_) => "ResourceQuota",
            Manifest::NetworkPolicy(_) => "NetworkPolicy",
            Manifest::Secret(_) => "Secret",
            Manifest::Deployment(_) => "Deployment",
            Manifest::Service(_) => "Service",
        }
    }

    pub fn name(&self) -> &str {
        let meta = match self {
            Manifest::Namespace(o) => &o.metadata,
            Manifest::LimitRange(o) => &o.metadata,
            Manifest::ResourceQuota(o) => &o.metadata,
            Manifest::NetworkPolicy(o) => &o.metadata,
            Manifest::Secret(o) => &o.metadata,
            Manifest::Deployment(o) => &o.metadata,
            Manifest::Service(o) => &o.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }
}

/// The namespace of an environment: `maestro-` and 8 hex characters of a hash of the tenant
/// and the environment id (client ids are per tenant; two tenants may pick the same one).
pub fn namespace_name(tenant: &str, environment_id: &str) -> String {
    format!(
        "maestro-{}",
        &short_hash(&format!("{tenant}/{environment_id}"))[..8]
    )
}

/// A label-safe digest (label values are at most 63 characters from a small alphabet).
pub fn label_hash(value: &str) -> String {
    short_hash(value)[..16].to_string()
}

fn short_hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The environment's manifests in apply order.
pub fn manifests(plan: &Plan<'_>) -> Vec<Manifest> {
    let mut out = vec![
        Manifest::Namespace(namespace(plan)),
        Manifest::LimitRange(limit_range(plan)),
        Manifest::ResourceQuota(resource_quota(plan)),
        Manifest::NetworkPolicy(network_policy(plan)),
    ];
    if !plan.spec.databases.is_empty() {
        out.push(Manifest::Secret(secret(plan)));
    }
    for db in &plan.spec.databases {
        out.push(Manifest::Deployment(database_deployment(plan, *db)));
        out.push(Manifest::Service(service(plan, db.as_str(), db.port())));
    }
    if let Some(app) = &plan.spec.app {
        out.push(Manifest::Deployment(app_deployment(plan, app)));
        out.push(Manifest::Service(service(plan, APP, app.port)));
    }
    out
}

/// The manifests as one YAML document, a `v1` `List` in apply order (what `render` returns;
/// `kubectl apply -f` takes it as it is).
pub fn to_yaml(manifests: &[Manifest]) -> Result<String, yaml_serde::Error> {
    yaml_serde::to_string(&super::model::RenderedManifests {
        api_version: "v1".into(),
        kind: "List".into(),
        items: manifests
            .iter()
            .map(|m| serde_json::to_value(m).unwrap_or_default())
            .collect(),
    })
}

/// Fresh random credentials for `databases` (generated once per environment: reapplying keeps
/// whatever the cluster's Secret already holds).
pub fn generate_credentials(databases: &[DatabaseKind]) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    for db in databases {
        let name = db.as_str();
        let user = match db {
            DatabaseKind::Redis => "default",
            _ => "maestro",
        };
        let password: String = rand::rng()
            .sample_iter(&rand::distr::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let port = db.port();
        let url = match db {
            DatabaseKind::Postgres => {
                format!("postgresql://{user}:{password}@{name}:{port}/maestro")
            }
            DatabaseKind::Mysql => format!("mysql://{user}:{password}@{name}:{port}/maestro"),
            DatabaseKind::Mongodb => {
                format!("mongodb://{user}:{password}@{name}:{port}/?authSource=admin")
            }
            DatabaseKind::Redis => format!("redis://{user}:{password}@{name}:{port}/0"),
        };
        data.insert(format!("{name}-username"), user.to_string());
        data.insert(format!("{name}-password"), password);
        data.insert(format!("{name}-url"), url);
    }
    data
}

/// The Secret keys of one database: (username, password, url).
pub fn credential_keys(db: DatabaseKind) -> (String, String, String) {
    let name = db.as_str();
    (
        format!("{name}-username"),
        format!("{name}-password"),
        format!("{name}-url"),
    )
}

fn labels(plan: &Plan<'_>, component: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGER.to_string()),
        (PART_OF.to_string(), "maestro".to_string()),
        (ENVIRONMENT_ID.to_string(), plan.environment_id.to_string()),
        (TENANT.to_string(), label_hash(plan.tenant)),
        (OWNER.to_string(), label_hash(plan.owner)),
    ]);
    if let Some(component) = component {
        labels.insert(COMPONENT.to_string(), component.to_string());
    }
    labels
}

fn meta(plan: &Plan<'_>, name: &str, component: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(plan.namespace.to_string()),
        labels: Some(labels(plan, component)),
        ..Default::default()
    }
}

fn namespace(plan: &Plan<'_>) -> Namespace {
    let mut labels = labels(plan, None);
    labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        plan.settings.pod_security.clone(),
    );
    labels.insert(
        "pod-security.kubernetes.io/enforce-version".into(),
        "latest".into(),
    );
    Namespace {
        metadata: ObjectMeta {
            name: Some(plan.namespace.to_string()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                EXPIRES_AT.to_string(),
                expires_annotation(plan.expires_at),
            )])),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The annotation value: RFC 3339 UTC, whole seconds.
pub fn expires_annotation(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

fn limit_range(plan: &Plan<'_>) -> LimitRange {
    let l = &plan.settings.limits;
    LimitRange {
        metadata: meta(plan, "maestro-defaults", None),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(quantities(&[
                    ("cpu", &l.default_cpu),
                    ("memory", &l.default_memory),
                ])),
                default_request: Some(quantities(&[
                    ("cpu", &l.default_request_cpu),
                    ("memory", &l.default_request_memory),
                ])),
                ..Default::default()
            }],
        }),
    }
}

/// The quota asked for, or the configured default.
pub fn effective_quota(spec: &EnvironmentRequest, settings: &K8sSettings) -> QuotaSpec {
    spec.quota.clone().unwrap_or_else(|| QuotaSpec {
        cpu: settings.quota.cpu.clone(),
        memory: settings.quota.memory.clone(),
        pods: settings.quota.pods,
    })
}

fn resource_quota(plan: &Plan<'_>) -> ResourceQuota {
    let q = effective_quota(plan.spec, plan.settings);
    let pods = q.pods.to_string();
    ResourceQuota {
        metadata: meta(plan, "maestro-quota", None),
        spec: Some(ResourceQuotaSpec {
            hard: Some(quantities(&[
                ("limits.cpu", &q.cpu),
                ("limits.memory", &q.memory),
                ("requests.cpu", &q.cpu),
                ("requests.memory", &q.memory),
                ("pods", &pods),
            ])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn namespace_peer(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                name.to_string(),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn same_namespace() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    }
}

/// Deny traffic from other namespaces (except Maestro's own); allow traffic inside the
/// environment and DNS to kube-system.
fn network_policy(plan: &Plan<'_>) -> NetworkPolicy {
    let dns = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.to_string()),
        ..Default::default()
    };
    NetworkPolicy {
        metadata: meta(plan, "maestro-isolation", None),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![
                    same_namespace(),
                    namespace_peer(&plan.settings.maestro_namespace),
                ]),
                ..Default::default()
            }]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![same_namespace()]),
                    ..Default::default()
                },
                NetworkPolicyEgressRule {
                    to: Some(vec![namespace_peer("kube-system")]),
                    ports: Some(vec![dns("UDP"), dns("TCP")]),
                },
            ]),
        }),
    }
}

fn secret(plan: &Plan<'_>) -> Secret {
    Secret {
        metadata: meta(plan, CREDENTIALS_SECRET, None),
        type_: Some("Opaque".into()),
        data: Some(
            plan.credentials
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

fn secret_env(name: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: CREDENTIALS_SECRET.to_string(),
                key: key.to_string(),
                optional: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..Default::default()
    }
}

fn exec_probe(command: &[&str]) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|s| s.to_string()).collect()),
        }),
        period_seconds: Some(5),
        ..Default::default()
    }
}

fn tcp_probe(port: u16) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port.into()),
            ..Default::default()
        }),
        period_seconds: Some(5),
        ..Default::default()
    }
}

/// Image, environment, arguments and readiness probe of each database.
fn database_container(db: DatabaseKind) -> Container {
    let name = db.as_str();
    let (user, password, _) = credential_keys(db);
    let (image, env, args, probe) = match db {
        DatabaseKind::Postgres => (
            "postgres:16-alpine",
            vec![
                secret_env("POSTGRES_USER", &user),
                secret_env("POSTGRES_PASSWORD", &password),
                plain_env("POSTGRES_DB", "maestro"),
            ],
            None,
            exec_probe(&["pg_isready", "-U", "maestro", "-d", "maestro"]),
        ),
        DatabaseKind::Mysql => (
            "mysql:8.4",
            vec![
                secret_env("MYSQL_ROOT_PASSWORD", &password),
                secret_env("MYSQL_USER", &user),
                secret_env("MYSQL_PASSWORD", &password),
                plain_env("MYSQL_DATABASE", "maestro"),
            ],
            None,
            exec_probe(&["mysqladmin", "ping", "-h", "127.0.0.1"]),
        ),
        DatabaseKind::Mongodb => (
            "mongo:7.0",
            vec![
                secret_env("MONGO_INITDB_ROOT_USERNAME", &user),
                secret_env("MONGO_INITDB_ROOT_PASSWORD", &password),
            ],
            None,
            tcp_probe(db.port()),
        ),
        DatabaseKind::Redis => (
            "redis:7.4-alpine",
            vec![secret_env("REDIS_PASSWORD", &password)],
            // Kubernetes expands $(VAR) in args from the container's environment.
            Some(vec![
                "--requirepass".to_string(),
                "$(REDIS_PASSWORD)".to_string(),
            ]),
            tcp_probe(db.port()),
        ),
    };
    Container {
        name: name.to_string(),
        image: Some(image.to_string()),
        args,
        env: Some(env),
        ports: Some(vec![ContainerPort {
            container_port: db.port().into(),
            name: Some(port_name(name)),
            ..Default::default()
        }]),
        readiness_probe: Some(probe),
        ..Default::default()
    }
}

/// Port names are at most 15 characters.
fn port_name(component: &str) -> String {
    component.chars().take(15).collect()
}

fn deployment(
    plan: &Plan<'_>,
    component: &str,
    container: Container,
    recreate: bool,
) -> Deployment {
    let selector = BTreeMap::from([
        (ENVIRONMENT_ID.to_string(), plan.environment_id.to_string()),
        (COMPONENT.to_string(), component.to_string()),
    ]);
    Deployment {
        metadata: meta(plan, component, Some(component)),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            strategy: recreate.then(|| DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(plan, Some(component))),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    automount_service_account_token: Some(false),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn database_deployment(plan: &Plan<'_>, db: DatabaseKind) -> Deployment {
    // Recreate: two database pods must never share (or fight over) one instance's data.
    deployment(plan, db.as_str(), database_container(db), true)
}

/// Environment variable of the app holding a database's URL, e.g. `POSTGRES_URL`.
pub fn url_variable(db: DatabaseKind) -> String {
    format!("{}_URL", db.as_str().to_ascii_uppercase())
}

fn app_deployment(plan: &Plan<'_>, app: &AppSpec) -> Deployment {
    let mut env: Vec<EnvVar> = app.env.iter().map(|(k, v)| plain_env(k, v)).collect();
    for db in &plan.spec.databases {
        let var = url_variable(*db);
        if !app.env.contains_key(&var) {
            env.push(secret_env(&var, &credential_keys(*db).2));
        }
    }
    let readiness = match &app.readiness {
        Some(r) => Probe {
            http_get: Some(HTTPGetAction {
                path: Some(r.path.clone()),
                port: IntOrString::Int(app.port.into()),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        },
        None => tcp_probe(app.port),
    };
    let container = Container {
        name: APP.to_string(),
        image: Some(app.image.clone()),
        command: app.command.clone(),
        env: (!env.is_empty()).then_some(env),
        ports: Some(vec![ContainerPort {
            container_port: app.port.into(),
            name: Some("http".into()),
            ..Default::default()
        }]),
        readiness_probe: Some(readiness),
        ..Default::default()
    };
    deployment(plan, APP, container, false)
}

fn service(plan: &Plan<'_>, component: &str, port: u16) -> Service {
    Service {
        metadata: meta(plan, component, Some(component)),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([
                (ENVIRONMENT_ID.to_string(), plan.environment_id.to_string()),
                (COMPONENT.to_string(), component.to_string()),
            ])),
            ports: Some(vec![ServicePort {
                name: Some(port_name(component)),
                port: port.into(),
                target_port: Some(IntOrString::Int(port.into())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A DNS-1123 label: lowercase letters, digits and `-`, 1-63, starting and ending alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes quantity as users write them: `500m`, `2`, `1.5`, `512Mi`, `1G`.
pub fn is_quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    !number.is_empty()
        && number.parse::<f64>().is_ok_and(|n| n > 0.0)
        && matches!(
            suffix,
            "" | "m" | "k" | "M" | "G" | "T" | "Ki" | "Mi" | "Gi" | "Ti"
        )
}

/// Marker lines around the base64 JUnit XML a job with `results_path` prints at the end of its
/// log (the log is the one channel that needs neither `exec` nor a volume).
pub const JUNIT_BEGIN: &str = "=====MAESTRO-JUNIT-BEGIN=====";
pub const JUNIT_END: &str = "=====MAESTRO-JUNIT-END=====";
pub const JOB_CONTAINER: &str = "test";
pub const JOB_ID: &str = "maestro.io/job-id";

/// Runs the command, then prints the results file base64-encoded between the markers, and exits
/// with the command's status.
const RESULTS_WRAPPER: &str = concat!(
    "\"$@\"; rc=$?; echo '=====MAESTRO-JUNIT-BEGIN====='; ",
    "if [ -f \"$MAESTRO_RESULTS_PATH\" ]; then base64 \"$MAESTRO_RESULTS_PATH\"; fi; ",
    "echo '=====MAESTRO-JUNIT-END====='; exit $rc"
);

/// A test Job in the environment of `plan`: runs once (`backoffLimit` 0-1), bounded by
/// `activeDeadlineSeconds`, never cleaned up by a TTL (that would delete its pods and logs).
pub fn job(
    plan: &Plan<'_>,
    job_id: &str,
    name: &str,
    req: &super::model::JobRequest,
    deadline_secs: i64,
) -> k8s_openapi::api::batch::v1::Job {
    use k8s_openapi::api::batch::v1::{Job, JobSpec};
    let mut env: Vec<EnvVar> = req.env.iter().map(|(k, v)| plain_env(k, v)).collect();
    for db in &plan.spec.databases {
        let var = url_variable(*db);
        if !req.env.contains_key(&var) {
            env.push(secret_env(&var, &credential_keys(*db).2));
        }
    }
    let command = match (&req.results_path, &req.command) {
        (Some(path), Some(command)) => {
            env.push(plain_env("MAESTRO_RESULTS_PATH", path));
            let mut wrapped = vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                RESULTS_WRAPPER.to_string(),
                "maestro-job".to_string(),
            ];
            wrapped.extend(command.iter().cloned());
            Some(wrapped)
        }
        (_, command) => command.clone(),
    };
    let mut labels = labels(plan, Some("test-job"));
    labels.insert(JOB_ID.to_string(), job_id.to_string());
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(plan.namespace.to_string()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(req.backoff_limit.unwrap_or(0)),
            active_deadline_seconds: Some(deadline_secs),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    containers: vec![Container {
                        name: JOB_CONTAINER.to_string(),
                        image: Some(req.image.clone()),
                        command,
                        env: (!env.is_empty()).then_some(env),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Splits a job's log into the log without the results block and the decoded JUnit XML.
pub fn split_results(log: &str) -> (String, Option<Vec<u8>>) {
    use base64::Engine;
    let Some(begin) = log.rfind(JUNIT_BEGIN) else {
        return (log.to_string(), None);
    };
    let after = &log[begin + JUNIT_BEGIN.len()..];
    let Some(end) = after.find(JUNIT_END) else {
        return (log.to_string(), None);
    };
    let encoded: String = after[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let rest = &after[end + JUNIT_END.len()..];
    let xml = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .ok()
        .filter(|x| !x.is_empty());
    let note = match &xml {
        Some(x) => format!("[maestro: {} bytes of JUnit results collected]", x.len()),
        None => "[maestro: no JUnit results file was written]".to_string(),
    };
    let mut kept = log[..begin].to_string();
    kept.push_str(&note);
    kept.push_str(rest);
    (kept, xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_dns_labels_distinct_per_tenant() {
        let a = namespace_name("tenant-a", "8d0b7c1e-6a55-4d0e-9a57-2f1c0f3b7d11");
        let b = namespace_name("tenant-b", "8d0b7c1e-6a55-4d0e-9a57-2f1c0f3b7d11");
        assert!(is_dns_label(&a) && a.len() == 16, "{a}");
        assert_ne!(a, b);
        assert_eq!(label_hash("x").len(), 16);
    }

    #[test]
    fn quantities_and_labels_are_checked() {
        for ok in ["500m", "2", "1.5", "512Mi", "8Gi", "1G"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "lots", "-1", "0", "5 Gi", "Gi", "1.2.3"] {
            assert!(!is_quantity(bad), "{bad}");
        }
        assert!(is_dns_label("maestro"));
        assert!(!is_dns_label("Maestro") && !is_dns_label("-x") && !is_dns_label(""));
    }
}

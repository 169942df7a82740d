//! The `[k8s]` section: how Maestro finds its cluster, environment lifetimes, and the defaults
//! written into every environment's LimitRange, ResourceQuota and Pod Security label. Owned by
//! this module; `crate::config` composes it and calls [`K8sSettings::validate`]. Whether the
//! module is mounted at all is `modules.k8s`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, HumanDuration};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sSettings {
    /// A kubeconfig file. Empty: `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster
    /// service account. When none is found the module answers 503 naming what to configure.
    pub kubeconfig: String,
    /// The kubeconfig context to use (empty: its current context).
    pub context: String,
    /// The namespace Maestro itself runs in: its pods may reach environments (NetworkPolicy).
    pub maestro_namespace: String,
    /// Lifetime of an environment created without `ttl`.
    pub default_ttl: HumanDuration,
    /// Longest lifetime from now that a create or an extend may ask for.
    pub max_ttl: HumanDuration,
    /// `pod-security.kubernetes.io/enforce` level of environment namespaces.
    pub pod_security: String,
    /// How long one call to the Kubernetes API may take.
    pub api_timeout: HumanDuration,
    /// How often the phases of live environments are read from the cluster in the background
    /// (lists and the `k8s:status` stream follow the cluster without anyone reading each one).
    pub status_interval: HumanDuration,
    /// How often the TTL reaper looks for expired environments (it also runs at start).
    pub reaper_interval: HumanDuration,
    /// How long past its expiry a namespace is kept (clock skew between replicas and cluster).
    pub reaper_grace: HumanDuration,
    /// Deadline of a job created without `timeout`, and the longest one may ask for.
    pub job_default_timeout: HumanDuration,
    pub job_max_timeout: HumanDuration,
    /// How often a running job's pods and Events are checked for what blocks it (its end is
    /// seen by watch at once).
    pub job_poll_interval: HumanDuration,
    /// Most bytes of a job's log kept after it ends (its end is kept).
    pub max_log_bytes: usize,
    pub limits: ContainerDefaults,
    pub quota: QuotaDefaults,
}

/// The LimitRange of every environment: what a container without its own resources gets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerDefaults {
    pub default_cpu: String,
    pub default_memory: String,
    pub default_request_cpu: String,
    pub default_request_memory: String,
}

/// The ResourceQuota of an environment created without `quota`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaDefaults {
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
}

impl K8sSettings {
    pub fn default_ttl(&self) -> Duration {
        self.default_ttl.get()
    }

    pub fn max_ttl(&self) -> Duration {
        self.max_ttl.get()
    }

    pub fn api_timeout(&self) -> Duration {
        self.api_timeout.get()
    }

    pub fn job_default_timeout(&self) -> Duration {
        self.job_default_timeout.get()
    }

    pub fn job_max_timeout(&self) -> Duration {
        self.job_max_timeout.get()
    }

    pub fn job_poll_interval(&self) -> Duration {
        self.job_poll_interval.get()
    }

    pub fn status_interval(&self) -> Duration {
        self.status_interval.get()
    }

    pub fn reaper_interval(&self) -> Duration {
        self.reaper_interval.get()
    }

    pub fn reaper_grace(&self) -> Duration {
        self.reaper_grace.get()
    }

    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.default_ttl().is_zero() {
            return Err(ConfigError::new("k8s.default_ttl", "must be longer than 0"));
        }
        if self.max_ttl() < self.default_ttl() {
            return Err(ConfigError::new(
                "k8s.max_ttl",
                "must be at least k8s.default_ttl",
            ));
        }
        if self.api_timeout() < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "k8s.api_timeout",
                "must be at least 100ms",
            ));
        }
        if self.job_max_timeout() < self.job_default_timeout()
            || self.job_default_timeout() < Duration::from_secs(1)
        {
            return Err(ConfigError::new(
                "k8s.job_max_timeout",
                "must be at least k8s.job_default_timeout (itself at least 1s)",
            ));
        }
        if self.job_poll_interval() < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "k8s.job_poll_interval",
                "must be at least 100ms",
            ));
        }
        if self.max_log_bytes < 1024 {
            return Err(ConfigError::new(
                "k8s.max_log_bytes",
                "must be at least 1024",
            ));
        }
        if self.status_interval() < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "k8s.status_interval",
                "must be at least 100ms",
            ));
        }
        if self.reaper_interval() < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "k8s.reaper_interval",
                "must be at least 1s",
            ));
        }
        if !matches!(
            self.pod_security.as_str(),
            "privileged" | "baseline" | "restricted"
        ) {
            return Err(ConfigError::new(
                "k8s.pod_security",
                "must be privileged, baseline or restricted",
            ));
        }
        if !super::manifests::is_dns_label(&self.maestro_namespace) {
            return Err(ConfigError::new(
                "k8s.maestro_namespace",
                "must be a namespace name (lowercase letters, digits and `-`, at most 63)",
            ));
        }
        for (key, value) in [
            ("limits.default_cpu", &self.limits.default_cpu),
            ("limits.default_memory", &self.limits.default_memory),
            (
                "limits.default_request_cpu",
                &self.limits.default_request_cpu,
            ),
            (
                "limits.default_request_memory",
                &self.limits.default_request_memory,
            ),
            ("quota.cpu", &self.quota.cpu),
            ("quota.memory", &self.quota.memory),
        ] {
            if !super::manifests::is_quantity(value) {
                return Err(ConfigError::new(
                    format!("k8s.{key}"),
                    "is not a Kubernetes quantity such as 500m, 2 or 512Mi",
                ));
            }
        }
        if self.quota.pods == 0 {
            return Err(ConfigError::new("k8s.quota.pods", "must be at least 1"));
        }
        Ok(())
    }
}

//! The `[workflows]` section: the engine's capacity, leases and wake-ups, and the defaults of
//! definitions. Owned by this module; `crate::config` only composes it into
//! [`crate::config::Settings`] and calls [`validate`]. Durations are written with their unit
//! (`250ms`, `2s`, `5m`) and parsed once, when the configuration loads.
//!
//! [`validate`]: WorkflowsSettings::validate

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, HumanDuration};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowsSettings {
    /// Run the engine (claim and execute steps) in this process; false serves the API only.
    pub engine: bool,
    /// Steps executing at once in this process.
    pub max_in_flight: usize,
    /// Queue rows claimed per transaction.
    pub claim_batch_size: usize,
    /// Step results committed per transaction (at most).
    pub completion_batch_size: usize,
    /// Concurrent completion transactions.
    pub completers: usize,
    /// How long a claim is valid without a heartbeat; a crashed replica's steps are taken over
    /// after this.
    pub lease: HumanDuration,
    /// Fallback wake-up for timers and expired leases when no notification arrives.
    pub poll_interval: HumanDuration,
    /// Listen for cross-replica wake-ups with PostgreSQL LISTEN/NOTIFY.
    pub listen_notify: bool,
    /// Steps per definition (bounds definition size and validation cost).
    pub max_steps: usize,
    /// Default for steps without `on_failure`: pause the run instead of dead-lettering it when
    /// retries run out.
    pub pause_on_exhaustion: bool,
    /// Default step timeout (per attempt).
    pub default_step_timeout: HumanDuration,
    pub default_retry: RetryDefaults,
}

/// The retry policy of steps (and definitions) that do not set their own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryDefaults {
    pub max_attempts: u32,
    pub initial_interval: HumanDuration,
    pub multiplier: f64,
    pub max_interval: HumanDuration,
    pub jitter: f64,
}

impl WorkflowsSettings {
    pub fn lease(&self) -> Duration {
        self.lease.get()
    }

    pub fn poll_interval(&self) -> Duration {
        self.poll_interval.get()
    }

    pub fn default_step_timeout(&self) -> Duration {
        self.default_step_timeout.get()
    }

    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lease() < Duration::from_secs(2) {
            return Err(ConfigError::new("workflows.lease", "must be at least 2s"));
        }
        if self.poll_interval() < Duration::from_millis(50) {
            return Err(ConfigError::new(
                "workflows.poll_interval",
                "must be at least 50ms",
            ));
        }
        if self.default_step_timeout().is_zero() {
            return Err(ConfigError::new(
                "workflows.default_step_timeout",
                "must be longer than 0",
            ));
        }
        for (key, value) in [
            ("max_in_flight", self.max_in_flight),
            ("claim_batch_size", self.claim_batch_size),
            ("completion_batch_size", self.completion_batch_size),
            ("completers", self.completers),
            ("max_steps", self.max_steps),
        ] {
            if value == 0 {
                return Err(ConfigError::new(
                    format!("workflows.{key}"),
                    "must be at least 1",
                ));
            }
        }
        let retry = &self.default_retry;
        if retry.max_attempts == 0 {
            return Err(ConfigError::new(
                "workflows.default_retry.max_attempts",
                "must be at least 1",
            ));
        }
        if !(1.0..=100.0).contains(&retry.multiplier) {
            return Err(ConfigError::new(
                "workflows.default_retry.multiplier",
                "must be between 1 and 100",
            ));
        }
        if !(0.0..=1.0).contains(&retry.jitter) {
            return Err(ConfigError::new(
                "workflows.default_retry.jitter",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Environment, LoadOptions, Settings};

    fn load(vars: &[(&str, &str)]) -> Result<Settings, crate::config::ConfigError> {
        Settings::load_with_env(
            &LoadOptions {
                config_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
                environment: Some(Environment::Test),
                read_process_env: true,
            },
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn durations_are_typed_once_and_bad_values_name_their_key() {
        let s = load(&[("MAESTRO__WORKFLOWS__LEASE", "3s")]).unwrap();
        assert_eq!(s.workflows.lease(), std::time::Duration::from_secs(3));
        let err = load(&[("MAESTRO__WORKFLOWS__POLL_INTERVAL", "often")]).unwrap_err();
        assert_eq!(err.key, "workflows.poll_interval", "{err}");
        assert!(err.message.contains("not a duration"), "{err}");
        let err = load(&[("MAESTRO__WORKFLOWS__LEASE", "1s")]).unwrap_err();
        assert_eq!(err.key, "workflows.lease", "{err}");
        let err = load(&[(
            "MAESTRO__WORKFLOWS__DEFAULT_RETRY__INITIAL_INTERVAL",
            "soon",
        )])
        .unwrap_err();
        assert_eq!(err.key, "workflows.default_retry.initial_interval", "{err}");
    }
}

//! The `[templates]` section: storage and seeding, upload and rendering limits, git. Owned by
//! this module; `crate::config` only composes it into [`crate::config::Settings`] and calls
//! [`validate`]. Durations are written with their unit (`90s`, `2m`).
//!
//! [`validate`]: TemplatesSettings::validate

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, HumanDuration};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesSettings {
    pub storage_path: PathBuf,
    pub seed_on_start: bool,
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_upload_bytes: usize,
    pub max_expansion_ratio: u64,
    pub max_output_files: usize,
    pub max_output_bytes: u64,
    pub git_binary: String,
    /// Upper bound for one fetch or push during a git sync.
    pub git_timeout: HumanDuration,
    /// Deprecated spelling of `git_timeout` in plain seconds; still honoured (it wins, since
    /// only an operator's own file or environment can set it) with a warning at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_timeout_secs: Option<u64>,
    /// Directories under which tenants may use local git remotes (`file://` or a path); empty:
    /// only https:// and ssh:// remotes. Never honoured inside `data_dir`.
    #[serde(default)]
    pub git_allowed_local_dirs: Vec<PathBuf>,
    /// Category of a cookiecutter template without `manifest.yaml` (upload or git import) when
    /// the request names none; unset: the request must name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_category: Option<String>,
    /// Templates the in-process search indexes hold at most, over all tenants: the least
    /// recently searched tenants' indexes are dropped first (one tenant larger than this is
    /// still indexed, alone).
    #[serde(default = "default_search_index_max_templates")]
    pub search_index_max_templates: u64,
    /// Longest a tenant's search index answers without comparing itself with the rows (writes
    /// through the service are seen at once; this bounds writes by other programs).
    #[serde(default = "default_search_index_max_age")]
    pub search_index_max_age: HumanDuration,
    /// A tenant's search index unused this long is dropped (rebuilt on its next search).
    #[serde(default = "default_search_index_idle")]
    pub search_index_idle: HumanDuration,
}

fn default_search_index_max_templates() -> u64 {
    500_000
}

fn default_search_index_max_age() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

fn default_search_index_idle() -> HumanDuration {
    HumanDuration(Duration::from_secs(30 * 60))
}

impl TemplatesSettings {
    /// The git sync timeout: the deprecated `git_timeout_secs` when it is set, else
    /// `git_timeout`.
    pub fn git_timeout(&self) -> Duration {
        match self.git_timeout_secs {
            Some(secs) => Duration::from_secs(secs),
            None => self.git_timeout.get(),
        }
    }

    /// Warnings for deprecated keys that are set, each saying what to write instead; logged
    /// once at start.
    pub fn deprecations(&self) -> Vec<String> {
        self.git_timeout_secs
            .map(|secs| {
                format!(
                    "configuration key `templates.git_timeout_secs` is deprecated and will be \
                     removed; it is used for now (it overrides `templates.git_timeout`). Write \
                     `git_timeout = \"{secs}s\"` under [templates] (or \
                     MAESTRO__TEMPLATES__GIT_TIMEOUT={secs}s) instead."
                )
            })
            .into_iter()
            .collect()
    }

    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = self;
        for (key, value) in [
            ("templates.max_files", t.max_files as u64),
            ("templates.max_file_bytes", t.max_file_bytes),
            ("templates.max_total_bytes", t.max_total_bytes),
            ("templates.max_upload_bytes", t.max_upload_bytes as u64),
            ("templates.max_expansion_ratio", t.max_expansion_ratio),
            ("templates.max_output_files", t.max_output_files as u64),
            ("templates.max_output_bytes", t.max_output_bytes),
            (
                "templates.search_index_max_templates",
                t.search_index_max_templates,
            ),
            (
                "templates.git_timeout_secs",
                t.git_timeout_secs.unwrap_or(1),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if t.git_timeout.get() < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "templates.git_timeout",
                "must be at least 1s (a fetch or push needs time)",
            ));
        }
        for (key, value) in [
            ("templates.search_index_max_age", t.search_index_max_age),
            ("templates.search_index_idle", t.search_index_idle),
        ] {
            if value.get() < Duration::from_secs(1) {
                return Err(ConfigError::new(key, "must be at least 1s"));
            }
        }
        if t.max_file_bytes > t.max_total_bytes {
            return Err(ConfigError::new(
                "templates.max_file_bytes",
                "must not exceed templates.max_total_bytes",
            ));
        }
        if t.git_binary.trim().is_empty() {
            return Err(ConfigError::new(
                "templates.git_binary",
                "must name the git executable (e.g. git or /usr/bin/git)",
            ));
        }
        if let Some(c) = &t.default_category
            && !crate::render::CATEGORIES.contains(&c.as_str())
        {
            return Err(ConfigError::new(
                "templates.default_category",
                format!(
                    "`{c}` is not a category; use one of: {}",
                    crate::render::CATEGORIES.join(", ")
                ),
            ));
        }
        if let Some(dir) = t.git_allowed_local_dirs.iter().find(|d| !d.is_absolute()) {
            return Err(ConfigError::new(
                "templates.git_allowed_local_dirs",
                format!("`{}` is not an absolute path", dir.display()),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::config::{Environment, LoadOptions, Settings};

    fn load(vars: &[(&str, &str)]) -> Result<Settings, crate::config::ConfigError> {
        let opts = LoadOptions {
            config_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            environment: Some(Environment::Development),
            read_process_env: true,
        };
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load_with_env(&opts, vars)
    }

    #[test]
    fn git_timeout_is_a_duration_with_a_unit() {
        let defaults = load(&[]).unwrap();
        assert_eq!(defaults.templates.git_timeout(), Duration::from_secs(120));
        assert!(defaults.deprecations().is_empty());

        let s = load(&[("MAESTRO__TEMPLATES__GIT_TIMEOUT", "90s")]).unwrap();
        assert_eq!(s.templates.git_timeout(), Duration::from_secs(90));

        let err = load(&[("MAESTRO__TEMPLATES__GIT_TIMEOUT", "90")]).unwrap_err();
        assert_eq!(err.key, "templates.git_timeout", "{err}");
        let err = load(&[("MAESTRO__TEMPLATES__GIT_TIMEOUT", "0s")]).unwrap_err();
        assert_eq!(err.key, "templates.git_timeout", "{err}");
    }

    /// The old key keeps working (and wins over the default), with a warning naming the new one.
    #[test]
    fn the_deprecated_git_timeout_secs_is_honoured_with_a_warning() {
        let s = load(&[("MAESTRO__TEMPLATES__GIT_TIMEOUT_SECS", "30")]).unwrap();
        assert_eq!(s.templates.git_timeout(), Duration::from_secs(30));
        let warnings = s.deprecations();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("templates.git_timeout_secs")
                && warnings[0].contains("git_timeout = \"30s\""),
            "{warnings:?}"
        );

        let err = load(&[("MAESTRO__TEMPLATES__GIT_TIMEOUT_SECS", "0")]).unwrap_err();
        assert_eq!(err.key, "templates.git_timeout_secs", "{err}");
    }
}

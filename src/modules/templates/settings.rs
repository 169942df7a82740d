//! The `[templates]` section: storage and seeding, upload and rendering limits, git. Owned by
//! this module; `crate::config` only composes it into [`crate::config::Settings`] and calls
//! [`validate`].
//!
//! [`validate`]: TemplatesSettings::validate

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

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
    pub git_timeout_secs: u64,
    /// Directories under which tenants may use local git remotes (`file://` or a path); empty:
    /// only https:// and ssh:// remotes. Never honoured inside `data_dir`.
    #[serde(default)]
    pub git_allowed_local_dirs: Vec<PathBuf>,
}

impl TemplatesSettings {
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
            ("templates.git_timeout_secs", t.git_timeout_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
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
        if let Some(dir) = t.git_allowed_local_dirs.iter().find(|d| !d.is_absolute()) {
            return Err(ConfigError::new(
                "templates.git_allowed_local_dirs",
                format!("`{}` is not an absolute path", dir.display()),
            ));
        }
        Ok(())
    }
}

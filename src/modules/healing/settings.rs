//! The `[healing]` section: limits on report uploads and on the evidence kept per failure.
//! Owned by this module; `crate::config` only composes it into [`crate::config::Settings`] and
//! calls [`validate`]. Whether the module runs at all is `[modules] healing`.
//!
//! [`validate`]: HealingSettings::validate

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, HumanDuration};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealingSettings {
    /// Largest report upload (bytes): one XML file, or a JSON body with several.
    pub max_upload_bytes: usize,
    /// Most test cases one upload may hold.
    pub max_cases: usize,
    /// Most bytes a `.zip`/`.tar.gz` upload may expand to.
    pub max_archive_expanded_bytes: u64,
    /// Most `*.xml` files an archive upload may hold.
    pub max_archive_files: usize,
    /// How far back flaky detection looks.
    pub flaky_window: HumanDuration,
    /// How long a quarantine lasts unless the request says.
    pub quarantine_ttl: HumanDuration,
    /// The longest quarantine a request may ask for.
    pub quarantine_max_ttl: HumanDuration,
    /// Stored bytes of each failure body and captured output (head + tail).
    pub max_output_bytes: usize,
    /// Stored bytes of each failure `message`/`type` (head + tail).
    pub max_message_bytes: usize,
    /// A quarantined test is released after this many consecutive passing results.
    pub unquarantine_after: u32,
    /// The `git` program (pushing heal branches; gix cannot push).
    pub git_binary: String,
    /// Upper bound for one fetch or push of a registered repository.
    pub git_timeout: HumanDuration,
    /// Directories under which registered repositories may be local paths (`file://` or an
    /// absolute path); empty: only https:// and ssh:// remotes. Never inside `data_dir`.
    #[serde(default)]
    pub git_allowed_local_dirs: Vec<std::path::PathBuf>,
    /// Largest repository file handed to the strategies (bigger ones are left out).
    pub max_source_file_bytes: usize,
}

impl Default for HealingSettings {
    fn default() -> Self {
        HealingSettings {
            max_upload_bytes: 52_428_800,
            max_cases: 200_000,
            max_archive_expanded_bytes: 536_870_912,
            max_archive_files: 20_000,
            flaky_window: HumanDuration(std::time::Duration::from_secs(14 * 24 * 3600)),
            quarantine_ttl: HumanDuration(std::time::Duration::from_secs(14 * 24 * 3600)),
            quarantine_max_ttl: HumanDuration(std::time::Duration::from_secs(90 * 24 * 3600)),
            max_output_bytes: 16_384,
            max_message_bytes: 2_048,
            unquarantine_after: 5,
            git_binary: "git".into(),
            git_timeout: HumanDuration(std::time::Duration::from_secs(120)),
            git_allowed_local_dirs: Vec::new(),
            max_source_file_bytes: 1_048_576,
        }
    }
}

impl HealingSettings {
    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_upload_bytes < 1024 {
            return Err(ConfigError::new(
                "healing.max_upload_bytes",
                "must be at least 1024 bytes",
            ));
        }
        if self.max_cases == 0 {
            return Err(ConfigError::new("healing.max_cases", "must be at least 1"));
        }
        if self.max_archive_files == 0 {
            return Err(ConfigError::new(
                "healing.max_archive_files",
                "must be at least 1",
            ));
        }
        if self.max_archive_expanded_bytes < 1024 {
            return Err(ConfigError::new(
                "healing.max_archive_expanded_bytes",
                "must be at least 1024 bytes",
            ));
        }
        if self.flaky_window.get().is_zero() {
            return Err(ConfigError::new(
                "healing.flaky_window",
                "must be longer than 0s, e.g. 14d",
            ));
        }
        if self.quarantine_ttl.get().is_zero() || self.quarantine_ttl > self.quarantine_max_ttl {
            return Err(ConfigError::new(
                "healing.quarantine_ttl",
                "must be longer than 0s and at most healing.quarantine_max_ttl",
            ));
        }
        if self.max_output_bytes < 256 {
            return Err(ConfigError::new(
                "healing.max_output_bytes",
                "must be at least 256 bytes",
            ));
        }
        if self.max_message_bytes < 64 {
            return Err(ConfigError::new(
                "healing.max_message_bytes",
                "must be at least 64 bytes",
            ));
        }
        if self.unquarantine_after == 0 {
            return Err(ConfigError::new(
                "healing.unquarantine_after",
                "must be at least 1 passing result",
            ));
        }
        if self.git_timeout.get() < std::time::Duration::from_secs(1) {
            return Err(ConfigError::new(
                "healing.git_timeout",
                "must be at least 1s, e.g. 2m",
            ));
        }
        if let Some(dir) = self
            .git_allowed_local_dirs
            .iter()
            .find(|d| !d.is_absolute())
        {
            return Err(ConfigError::new(
                "healing.git_allowed_local_dirs",
                format!("{} is not an absolute path", dir.display()),
            ));
        }
        if self.max_source_file_bytes < 1024 {
            return Err(ConfigError::new(
                "healing.max_source_file_bytes",
                "must be at least 1024 bytes",
            ));
        }
        Ok(())
    }
}

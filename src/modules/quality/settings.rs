//! The `[quality]` section: the publish gate and the regression gate. Owned by this module;
//! `crate::config` only composes it into [`crate::config::Settings`] and calls [`validate`].
//!
//! [`validate`]: QualitySettings::validate

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySettings {
    /// Refuse to publish templates that do not pass (`ENABLE_QUALITY_GATES`).
    pub gates: bool,
    /// The pass mark, 0–100 (`MIN_TEMPLATE_QUALITY_SCORE`).
    pub min_score: u32,
    /// An update may lower a template's score by at most this many points unless an admin
    /// forces it.
    pub max_score_drop: u32,
}

impl QualitySettings {
    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min_score > 100 {
            return Err(ConfigError::new(
                "quality.min_score",
                "must be between 0 and 100",
            ));
        }
        if self.max_score_drop > 100 {
            return Err(ConfigError::new(
                "quality.max_score_drop",
                "must be between 0 and 100",
            ));
        }
        Ok(())
    }
}

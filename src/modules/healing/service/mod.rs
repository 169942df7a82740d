//! The healing module's API for routes, other modules (through [`TestResults`]) and tasks:
//! one `impl` block per file (ingest, reads).
//!
//! [`TestResults`]: crate::platform::test_results::TestResults

mod flaky;
mod ingest;
mod quarantine;
mod reads;

use crate::platform::Platform;
use crate::platform::db::Db;

use super::settings::HealingSettings;

pub use ingest::Upload;

#[derive(Clone)]
pub struct HealingService {
    db: Db,
    settings: HealingSettings,
}

impl HealingService {
    pub fn new(platform: &Platform) -> Self {
        HealingService {
            db: platform.db.clone(),
            settings: platform.settings.healing.clone(),
        }
    }

    pub fn settings(&self) -> &HealingSettings {
        &self.settings
    }
}

//! The healing module's API for routes, other modules (through [`TestResults`]), stream
//! handlers, workflow steps and tasks: one `impl` block per file (ingest, reads, flaky,
//! quarantine, heal, apply, repositories, verify, stats).
//!
//! [`TestResults`]: crate::platform::test_results::TestResults

mod apply;
mod flaky;
mod heal;
mod ingest;
mod quarantine;
mod reads;
mod repositories;
mod stats;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use crate::platform::Platform;
use crate::platform::db::Db;
use crate::platform::edge::Edge;

use super::settings::HealingSettings;

pub use ingest::Upload;

/// Outbound streams (after the `<prefix>:streams:` part).
pub const HEALINGS_STREAM: &str = "automation:healings";
pub const RESULTS_STREAM: &str = "automation:results";

#[derive(Clone)]
pub struct HealingService {
    db: Db,
    settings: HealingSettings,
    /// Where the registered repositories are mirrored.
    mirrors: PathBuf,
    data_dir: PathBuf,
    edge: Option<Edge>,
    /// One git operation on the mirrors at a time (fetches into one mirror must not overlap).
    git_lock: Arc<tokio::sync::Mutex<()>>,
}

impl HealingService {
    pub fn new(platform: &Platform) -> Self {
        HealingService {
            db: platform.db.clone(),
            settings: platform.settings.healing.clone(),
            mirrors: platform.settings.data_path("healing/repos"),
            data_dir: platform.settings.data_dir.clone(),
            edge: platform.edge.clone(),
            git_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn settings(&self) -> &HealingSettings {
        &self.settings
    }

    /// Publishes on an outbound stream when Redis is configured (a lost event never fails the
    /// caller; it is logged).
    pub(crate) async fn publish_event(&self, stream: &str, fields: &[(&str, String)]) {
        if let Some(edge) = &self.edge {
            edge.publish_or_log(stream, fields).await;
        }
    }
}

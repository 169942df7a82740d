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
use crate::platform::sealed::Sealer;

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
    /// `server.json_body_limit`: heal and apply read their optional JSON bodies by hand.
    json_body_limit: usize,
    /// Seals the repositories' passwords and tokens.
    sealer: Sealer,
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
            json_body_limit: platform.settings.server.json_body_limit,
            sealer: platform.sealer.clone(),
        }
    }

    pub fn settings(&self) -> &HealingSettings {
        &self.settings
    }

    pub fn json_body_limit(&self) -> usize {
        self.json_body_limit
    }

    /// Publishes on an outbound stream when Redis is configured (a lost event never fails the
    /// caller; it is logged).
    pub(crate) async fn publish_event(&self, stream: &str, fields: &[(&str, String)]) {
        if let Some(edge) = &self.edge {
            edge.publish_or_log(stream, fields).await;
        }
    }
}

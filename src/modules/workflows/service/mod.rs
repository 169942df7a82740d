//! `WorkflowsService`: the workflows API for handlers and other modules. It owns the rules; every
//! run change goes through the engine's one transaction recipe (the state machine under the
//! run's row lock).
//!
//! Files: `definitions.rs` (create, read, pause whole workflows), `runs.rs` (start, read, list,
//! pause/resume/cancel, events), `dlq.rs` (dead-letter queue and redrive), `history.rs` (audit
//! log and stats).

mod definitions;
mod dlq;
mod history;
mod runs;

use serde_json::Value;

use super::engine::{Engine, EngineError};
use super::error::WorkflowsError;
use crate::platform::db::{Db, DbError};
use crate::platform::http::error::ApiError;
use crate::platform::steps::StepRegistry;

use runs::RunOp;

/// Most bytes of run inputs or event payloads.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
pub const MAX_REDRIVE: usize = 1000;

/// Errors inside the service's database closures; answered as problems.
#[derive(Debug, thiserror::Error)]
enum WfError {
    #[error(transparent)]
    Workflows(#[from] WorkflowsError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<WfError> for ApiError {
    fn from(e: WfError) -> ApiError {
        match e {
            WfError::Workflows(w) => w.into(),
            WfError::Api(a) => a,
            WfError::Db(d) => d.into(),
            WfError::Query(q) => q.into(),
            WfError::Engine(e) => e.into(),
        }
    }
}

/// Step types known to this deployment, for validating definitions.
struct Catalog<'a>(&'a StepRegistry);

impl super::definition::StepCatalog for Catalog<'_> {
    fn check(&self, uses: &str, with: &Value) -> Option<Result<(), String>> {
        self.0.get(uses).map(|t| t.validate(with))
    }
}

#[derive(Clone)]
pub struct WorkflowsService {
    db: Db,
    engine: Engine,
    registry: StepRegistry,
}

impl WorkflowsService {
    pub fn new(db: Db, engine: Engine, registry: StepRegistry) -> Self {
        WorkflowsService {
            db,
            engine,
            registry,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

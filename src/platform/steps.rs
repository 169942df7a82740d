//! Workflow step types, contributed by modules. The workflow engine runs steps through this one
//! interface; a module registers its step types (`templates.instantiate`, `quality.gate`, …) when
//! it is built, so a disabled module's step types simply are not registered and definitions that
//! use them are refused.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde_json::Value;

use crate::platform::auth::{Principal, TenantId};

/// What a step knows about the run it belongs to.
#[derive(Debug, Clone)]
pub struct StepContext {
    pub tenant: TenantId,
    /// Who started the run; steps act on their behalf (e.g. as commit author).
    pub actor: Principal,
    pub run_id: String,
    pub step_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// Why a step failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepFailure {
    /// Transient (network, 5xx, busy): the engine retries per the step's retry policy.
    #[error("{0}")]
    Retryable(String),
    /// Retrying cannot help (bad input, 4xx, gate failed): the step fails at once.
    #[error("{0}")]
    Permanent(String),
}

pub trait StepType: Send + Sync + 'static {
    /// `<module>.<action>`, as written in `uses:`.
    fn name(&self) -> &'static str;

    /// Checks the step's `with:` at definition time. Values may still contain `${{ … }}`
    /// expressions, which are only resolved at run time.
    fn validate(&self, _with: &Value) -> Result<(), String> {
        Ok(())
    }

    /// Runs the step with its resolved `with:` and returns its outputs (a JSON object).
    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>>;
}

/// Registered step types by name.
#[derive(Clone, Default)]
pub struct StepRegistry {
    types: Arc<RwLock<BTreeMap<String, Arc<dyn StepType>>>>,
}

impl StepRegistry {
    pub fn register(&self, step: Arc<dyn StepType>) {
        if let Ok(mut map) = self.types.write() {
            map.insert(step.name().to_string(), step);
        }
    }

    /// Drops every registered step type (see `ServiceRegistry::clear`).
    pub fn clear(&self) {
        if let Ok(mut map) = self.types.write() {
            map.clear();
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn StepType>> {
        self.types.read().ok()?.get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.types
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

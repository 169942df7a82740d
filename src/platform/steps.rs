//! Workflow step types, contributed by modules. The workflow engine runs steps through this one
//! interface; a module registers its step types (`templates.instantiate`, `quality.gate`, …) when
//! it is built, so a disabled module's step types simply are not registered and definitions that
//! use them are refused.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::ApiError;

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

/// A service error met by a step: a 5xx (the database restarting, a timeout) may pass, so the
/// step is retried; a 4xx (bad input, a refusal) cannot get better by retrying. The message keeps
/// the problem's code, detail and field errors.
impl From<ApiError> for StepFailure {
    fn from(e: ApiError) -> Self {
        let mut message = format!("{}: {}", e.code, e.detail);
        for field in &e.errors {
            message.push_str(&format!(" {}: {}.", field.field, field.message));
        }
        if e.status.is_server_error() {
            StepFailure::Retryable(message)
        } else {
            StepFailure::Permanent(message)
        }
    }
}

/// A `with:` parameter given as a value, or as a `${{ … }}` expression resolved at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum OrExpr<T> {
    Value(T),
    Expr(String),
}

impl<T> OrExpr<T> {
    /// The value once expressions are resolved (an unresolved expression is an error naming
    /// the parameter).
    pub fn resolved(&self, name: &str) -> Result<&T, String> {
        match self {
            OrExpr::Value(v) => Ok(v),
            OrExpr::Expr(e) => Err(unresolved(name, e)),
        }
    }

    /// [`OrExpr::resolved`], by value.
    pub fn into_resolved(self, name: &str) -> Result<T, String> {
        match self {
            OrExpr::Value(v) => Ok(v),
            OrExpr::Expr(e) => Err(unresolved(name, &e)),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for OrExpr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if let Value::String(s) = &value
            && s.contains("${{")
        {
            return Ok(OrExpr::Expr(s.clone()));
        }
        T::deserialize(value)
            .map(OrExpr::Value)
            .map_err(D::Error::custom)
    }
}

/// An optional parameter's value at run time (an unresolved expression fails the step).
pub fn resolved<T>(value: Option<OrExpr<T>>, name: &str) -> Result<Option<T>, StepFailure> {
    value
        .map(|v| v.into_resolved(name))
        .transpose()
        .map_err(StepFailure::Permanent)
}

fn unresolved(name: &str, expr: &str) -> String {
    format!("`{name}` did not resolve to a value: `{expr}`")
}

/// Reads a step's `with:` into its parameter struct (declared `#[serde(deny_unknown_fields)]`,
/// so a misspelt parameter is refused); the message names the parameter.
pub fn parse_with<T: DeserializeOwned>(with: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(with).map_err(|e| {
        let message = e.inner().to_string();
        let mut path = e.path().to_string();
        // An unknown field's path ends with the field, which the message names already.
        if message.starts_with("unknown field") {
            path = path
                .rsplit_once('.')
                .map_or(".", |(parent, _)| parent)
                .to_string();
        }
        if path == "." || path.is_empty() {
            message
        } else {
            format!("`{path}`: {message}")
        }
    })
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

/// A step type whose `with:` is one serde struct (declared `#[serde(deny_unknown_fields)]`):
/// definition time and run time read it the same way, through [`parse_with`]; a `with:` that
/// does not read at run time (an expression resolved to the wrong type) fails the step for good.
/// Every `TypedStep` is a [`StepType`].
pub trait TypedStep: Send + Sync + 'static {
    type With: DeserializeOwned;

    /// `<module>.<action>`, as written in `uses:`.
    fn name(&self) -> &'static str;

    /// Definition-time checks beyond the struct's shape (values may still be `${{ … }}`).
    fn check(&self, _with: &Self::With) -> Result<(), String> {
        Ok(())
    }

    /// Runs the step with its resolved `with:`.
    fn run_with(
        &self,
        ctx: StepContext,
        with: Self::With,
    ) -> BoxFuture<'static, Result<Value, StepFailure>>;
}

impl<T: TypedStep> StepType for T {
    fn name(&self) -> &'static str {
        TypedStep::name(self)
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        self.check(&parse_with(with)?)
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        match parse_with(&with) {
            Ok(with) => self.run_with(ctx, with),
            Err(e) => Box::pin(async move { Err(StepFailure::Permanent(e)) }),
        }
    }
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

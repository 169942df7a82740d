//! The publish gate: a check another module (quality) plugs in, consulted before every create,
//! update and restore commit. The templates module knows only this contract: it builds a
//! [`PublishCandidate`], asks the registered gate (`platform.services.get::<Arc<dyn PublishGate>>()`,
//! none registered = allow) and, on [`GateVerdict::Refuse`], returns that error to the caller
//! unchanged and writes nothing.

use futures::future::BoxFuture;

use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::{ApiError, ApiResult};
use crate::render::SourceFile;

/// What is about to be published.
#[derive(Debug, Clone)]
pub struct PublishCandidate {
    pub tenant: TenantId,
    pub actor: Principal,
    pub template_id: String,
    /// The template's current commit (`None` when creating).
    pub previous_commit: Option<String>,
    pub name: String,
    pub category: String,
    /// The parsed manifest as JSON.
    pub manifest: serde_json::Value,
    /// Every file of the new version, manifest included.
    pub files: Vec<SourceFile>,
    /// Set when an admin publishes despite the gate (`"force": {"reason": …}`).
    pub force: Option<ForcedPublish>,
}

/// An admin's decision to publish anyway, with the reason recorded in the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedPublish {
    pub reason: String,
}

/// The gate's answer.
#[derive(Debug)]
pub enum GateVerdict {
    /// Publish; `note` (e.g. the score) is returned to the caller as `gate` in the response.
    Allow { note: Option<serde_json::Value> },
    /// Do not publish; the error goes to the caller as-is.
    Refuse(ApiError),
}

pub trait PublishGate: Send + Sync + 'static {
    fn check(&self, candidate: &PublishCandidate) -> BoxFuture<'_, ApiResult<GateVerdict>>;
}

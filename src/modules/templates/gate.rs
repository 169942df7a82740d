//! The publish gate: a check another module (quality) plugs in, consulted before every create,
//! update and restore commit (prepared with the content first, then checked under the tenant's
//! write lock). The templates module knows only this contract: it builds a
//! [`PublishCandidate`], asks the registered gate (`platform.services.get::<Arc<dyn PublishGate>>()`,
//! none registered = allow) and, on [`GateVerdict::Refuse`], returns that error to the caller
//! unchanged and writes nothing.

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

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
    /// [`content_digest`] of `files`; the write's event carries it too, so a subscriber can
    /// reuse what the gate computed for exactly this content.
    pub digest: String,
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
    /// Called with a new version's content before the tenant's write lock is taken (nothing
    /// about the template's state is known yet), so that the costly part of the decision, such
    /// as scoring the content, runs beside other writes; [`PublishGate::check`] follows under the
    /// lock. The default does nothing.
    fn prepare<'a>(
        &'a self,
        digest: &'a str,
        files: &'a [SourceFile],
    ) -> BoxFuture<'a, ApiResult<()>> {
        let _ = (digest, files);
        Box::pin(async { Ok(()) })
    }

    fn check<'a>(
        &'a self,
        candidate: &'a PublishCandidate,
    ) -> BoxFuture<'a, ApiResult<GateVerdict>>;
}

/// The digest of a template's content: SHA-256 (hex) over every file's path, mode and bytes, in
/// path order. Equal digests mean equal files.
pub fn content_digest(files: &[SourceFile]) -> String {
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Sha256::new();
    for file in sorted {
        hasher.update((file.path.len() as u64).to_le_bytes());
        hasher.update(file.path.as_bytes());
        hasher.update([u8::from(file.executable)]);
        hasher.update((file.content.len() as u64).to_le_bytes());
        hasher.update(&file.content);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str, executable: bool) -> SourceFile {
        SourceFile {
            path: path.into(),
            content: content.as_bytes().to_vec(),
            executable,
        }
    }

    #[test]
    fn the_digest_is_of_paths_modes_and_bytes_in_any_order() {
        let a = file("a", "x", false);
        let b = file("b", "y", false);
        let digest = content_digest(&[a.clone(), b.clone()]);
        assert_eq!(digest.len(), 64);
        assert_eq!(digest, content_digest(&[b.clone(), a.clone()]));
        assert_ne!(digest, content_digest(&[a.clone(), file("b", "z", false)]));
        assert_ne!(digest, content_digest(&[a.clone(), file("b", "y", true)]));
        assert_ne!(digest, content_digest(&[a.clone(), file("c", "y", false)]));
        // Boundaries are part of the digest: "ab" + "" differs from "a" + "b".
        assert_ne!(
            content_digest(&[file("ab", "", false)]),
            content_digest(&[file("a", "b", false)])
        );
    }
}

//! Secrets kept at rest (a tenant's git sync remote credentials, healing repository passwords
//! and tokens): AES-256-GCM under a key derived
//! from `auth.secret_key` with HKDF-SHA256, so a database dump or backup alone does not reveal
//! them. Every value is bound to a context (e.g. the tenant it belongs to) as associated data, so
//! a sealed value copied into another tenant's row does not open there.
//!
//! The key follows `auth.secret_key`: after that secret changes, values sealed under the old one
//! no longer open ([`Unsealable`]) and have to be given again.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

use crate::platform::http::error::ApiError;

/// The format marker of a sealed value: `v1:` then base64url(nonce ‖ ciphertext ‖ tag).
const PREFIX: &str = "v1:";
/// HKDF's salt and info: what the derived key is for, so it never equals a key used elsewhere.
const SALT: &[u8] = b"maestro sealed values";
const INFO: &[u8] = b"v1 aes-256-gcm";

/// Seals and opens secrets with the server's key. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    key: Arc<RandomizedNonceKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

/// A sealed value that does not open: sealed under another `auth.secret_key`, for another
/// context, or altered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value does not open with this server's auth.secret_key")]
pub struct Unsealable;

impl Sealer {
    pub fn new(secret_key: &str) -> anyhow::Result<Sealer> {
        let mut key = [0u8; 32];
        hkdf::Salt::new(hkdf::HKDF_SHA256, SALT)
            .extract(secret_key.as_bytes())
            .expand(&[INFO], &AES_256_GCM)
            .and_then(|okm| okm.fill(&mut key))
            .map_err(|_| anyhow::anyhow!("deriving the sealing key failed"))?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, &key)
            .map_err(|_| anyhow::anyhow!("setting up the sealing key failed"))?;
        Ok(Sealer { key: Arc::new(key) })
    }

    /// `secret` encrypted for `context` (a fresh random nonce each time).
    pub fn seal(&self, context: &str, secret: &str) -> String {
        let mut in_out = secret.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            // Only fails when the system's random source does; nothing can go on without it.
            .expect("sealing with a random nonce");
        let mut raw = Vec::with_capacity(NONCE_LEN + in_out.len());
        raw.extend_from_slice(nonce.as_ref());
        raw.extend_from_slice(&in_out);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// The secret [`Sealer::seal`] sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, Unsealable> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(Unsealable)?;
        let mut raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| Unsealable)?;
        if raw.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let mut in_out = raw.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&raw).map_err(|_| Unsealable)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| Unsealable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| Unsealable)
    }
}

/// Logs what a start-up pass that seals secrets stored in the clear did (`what`: which secrets).
pub fn log_sealing_pass(what: &str, sealed: Result<usize, ApiError>) {
    match sealed {
        Ok(0) => {}
        Ok(n) => tracing::info!(sealed = n, "sealed {what} stored in the clear"),
        Err(e) => {
            tracing::error!(error = ?e, "sealing {what} stored in the clear failed; the next start retries it")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://bob:s3cret@git.example.com/team/templates.git";

    #[test]
    fn a_sealed_value_opens_for_its_context_only_and_never_shows_the_secret() {
        let sealer = Sealer::new("one secret key of at least thirty-two bytes").unwrap();
        let sealed = sealer.seal("acme", URL);
        assert!(sealed.starts_with(PREFIX), "{sealed}");
        assert!(!sealed.contains("s3cret") && !sealed.contains("example"));
        assert_eq!(sealer.open("acme", &sealed).unwrap(), URL);
        assert_eq!(sealer.open("globex", &sealed), Err(Unsealable));
        // A fresh nonce each time: the same secret never seals to the same text.
        assert_ne!(sealer.seal("acme", URL), sealed);
    }

    #[test]
    fn another_key_an_altered_value_or_garbage_does_not_open() {
        let sealer = Sealer::new("one secret key of at least thirty-two bytes").unwrap();
        let sealed = sealer.seal("acme", URL);
        let other = Sealer::new("another secret key of thirty-two bytes!").unwrap();
        assert_eq!(other.open("acme", &sealed), Err(Unsealable));
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(sealer.open("acme", &altered), Err(Unsealable));
        for garbage in ["", "v1:", "v1:AAAA", "v2:abc", URL, "v1:!!!"] {
            assert_eq!(sealer.open("acme", garbage), Err(Unsealable), "{garbage}");
        }
    }
}

//! Maestro-issued access tokens: HS256 JWTs signed with `auth.secret_key`, 30 minutes by default.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Role;

/// Claims of a Maestro access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    pub role: Role,
    pub email: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    /// Not valid before (checked, with the same small leeway as `exp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub jti: String,
    /// The sign-in (refresh-token family) this token belongs to; signing out or a detected
    /// refresh-token reuse revokes it, and with it this token. Absent on tokens issued by the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Clock skew tolerated on `exp` and `nbf` (seconds).
pub const LEEWAY_SECS: u64 = 5;

#[derive(Clone)]
pub struct LocalTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Built once: it holds sets, so building it per request cost allocations on every call.
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

/// Why a token was refused (all of them are 401 for the caller; the text goes to the logs).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenRejected(pub String);

impl LocalTokens {
    pub fn new(secret: &str, issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        LocalTokens {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn issue(
        &self,
        user_id: &str,
        tenant_id: &str,
        email: &str,
        role: Role,
        session: Option<&str>,
    ) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id.to_string(),
            tid: tenant_id.to_string(),
            role,
            email: email.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: Some(now),
            exp: now + self.ttl_secs as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session.map(str::to_string),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, algorithm (HS256 only: `none` and every other algorithm are refused),
    /// expiry, not-before (`nbf`, when present), issuer and audience, with [`LEEWAY_SECS`] of
    /// clock skew.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejected> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenRejected(format!("invalid access token: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn tokens() -> LocalTokens {
        LocalTokens::new(
            "test-secret-0123456789abcdef0123",
            "maestro",
            "maestro-api",
            1800,
        )
    }

    #[test]
    fn issued_tokens_verify() {
        let t = tokens();
        let token = t.issue("u1", "t1", "a@b.c", Role::Editor, None).unwrap();
        let claims = t.verify(&token).unwrap();
        assert_eq!(claims.sub, "u1");
        assert_eq!(claims.tid, "t1");
        assert_eq!(claims.role, Role::Editor);
        assert_eq!(claims.exp - claims.iat, 1800);
    }

    #[test]
    fn forged_expired_and_alg_none_tokens_are_rejected() {
        let t = tokens();
        // Signed with another key.
        let other = LocalTokens::new(
            "another-secret-xxxxxxxxxxxxxxxxxxx",
            "maestro",
            "maestro-api",
            1800,
        );
        let forged = other.issue("u1", "t1", "a@b.c", Role::Admin, None).unwrap();
        assert!(t.verify(&forged).is_err());

        // Expired long ago.
        let claims = AccessClaims {
            sub: "u1".into(),
            tid: "t1".into(),
            role: Role::Admin,
            email: "a@b.c".into(),
            iss: "maestro".into(),
            aud: "maestro-api".into(),
            iat: 1_000,
            nbf: None,
            exp: 2_000,
            jti: "j".into(),
            sid: None,
        };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"test-secret-0123456789abcdef0123"),
        )
        .unwrap();
        assert!(t.verify(&expired).is_err());

        // alg: none with a valid-looking payload and no signature.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let mut live = claims.clone();
        live.exp = Utc::now().timestamp() + 600;
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&live).unwrap());
        assert!(t.verify(&format!("{header}.{payload}.")).is_err());

        // Not valid yet (nbf in the future, beyond the leeway); an nbf in the past is fine.
        let secret = EncodingKey::from_secret(b"test-secret-0123456789abcdef0123");
        let now = Utc::now().timestamp();
        let mut early = live.clone();
        early.iss = "maestro".into();
        early.nbf = Some(now + 120);
        let early = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &early, &secret).unwrap();
        let err = t.verify(&early).unwrap_err();
        assert!(err.0.contains("ImmatureSignature"), "{err}");
        let mut settled = live.clone();
        settled.nbf = Some(now - 60);
        let settled =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &settled, &secret).unwrap();
        assert!(t.verify(&settled).is_ok());
        let mut skewed = live.clone();
        skewed.nbf = Some(now + 2);
        let skewed =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &skewed, &secret).unwrap();
        assert!(t.verify(&skewed).is_ok(), "within the leeway");

        // Wrong audience.
        let wrong_aud =
            LocalTokens::new("test-secret-0123456789abcdef0123", "maestro", "other", 1800)
                .issue("u1", "t1", "a@b.c", Role::Admin, None)
                .unwrap();
        assert!(t.verify(&wrong_aud).is_err());
    }
}

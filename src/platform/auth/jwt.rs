//! Maestro-issued access tokens: HS256 JWTs signed with `auth.secret_key`, 30 minutes by default.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
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
    /// The HMAC key set up once (jsonwebtoken set it up, and parsed the header three times, on
    /// every call: 44 % of a cached read's instructions).
    verifying: hmac::Key,
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
        LocalTokens {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            verifying: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
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
    ///
    /// The rules of jsonwebtoken's `Validation` as it was configured here (HS256; `exp`, `iss`,
    /// `aud` and `sub` required; `nbf` checked), done in one pass: the header is decoded once, the
    /// signature checked in constant time with the key set up once, the claims decoded straight
    /// into [`AccessClaims`].
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejected> {
        let reject = |why: &str| TokenRejected(format!("invalid access token: {why}"));
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(reject("InvalidToken"));
        };
        if !is_hs256(header) {
            return Err(reject("InvalidAlgorithm"));
        }
        let mut tag = [0u8; 64];
        let tag = match URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) {
            Ok(n) => &tag[..n],
            Err(_) => return Err(reject("InvalidSignature")),
        };
        let signed = &token[..header.len() + 1 + payload.len()];
        hmac::verify(&self.verifying, signed.as_bytes(), tag)
            .map_err(|_| reject("InvalidSignature"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| reject("InvalidToken"))?;
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|e| reject(&format!("Json({e})")))?;
        let now = Utc::now().timestamp();
        let leeway = LEEWAY_SECS as i64;
        if claims.exp < 0 || claims.nbf.is_some_and(|nbf| nbf < 0) {
            return Err(reject("InvalidClaimFormat"));
        }
        if claims.exp < now - leeway {
            return Err(reject("ExpiredSignature"));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(reject("ImmatureSignature"));
        }
        if claims.iss != self.issuer {
            return Err(reject("InvalidIssuer"));
        }
        if claims.aud != self.audience {
            return Err(reject("InvalidAudience"));
        }
        Ok(claims)
    }
}

/// The JOSE header's `alg`, as far as dispatching needs it.
#[derive(Deserialize)]
struct AlgOnly<'a> {
    #[serde(borrow)]
    alg: &'a str,
}

/// Whether a token's encoded header names HS256 (a Maestro token). Decoded on the stack: a
/// header longer than any Maestro issues is not one.
pub fn is_hs256(encoded_header: &str) -> bool {
    let mut raw = [0u8; 192];
    match URL_SAFE_NO_PAD.decode_slice(encoded_header, &mut raw) {
        Ok(n) => serde_json::from_slice::<AlgOnly<'_>>(&raw[..n]).is_ok_and(|h| h.alg == "HS256"),
        Err(_) => false,
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

    fn sign(header: &str, claims: &serde_json::Value, secret: &[u8]) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            message.as_bytes(),
        );
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    #[test]
    fn every_rule_of_the_verifier_refuses_what_it_should() {
        let t = tokens();
        let secret = b"test-secret-0123456789abcdef0123";
        let now = Utc::now().timestamp();
        let good = serde_json::json!({
            "sub": "u1", "tid": "t1", "role": "admin", "email": "a@b.c", "iss": "maestro",
            "aud": "maestro-api", "iat": now, "exp": now + 600, "jti": "j",
        });
        let hs256 = r#"{"typ":"JWT","alg":"HS256"}"#;
        assert!(t.verify(&sign(hs256, &good, secret)).is_ok());
        let refused = |token: &str, why: &str| {
            let err = t.verify(token).expect_err(why);
            assert!(err.0.contains(why), "{why}: {err}");
        };
        // Another algorithm over the same key (HS512 here, signed as HS256 would be), none.
        refused(
            &sign(r#"{"alg":"HS512"}"#, &good, secret),
            "InvalidAlgorithm",
        );
        refused(
            &sign(r#"{"alg":"none"}"#, &good, secret),
            "InvalidAlgorithm",
        );
        refused(
            &sign(r#"{"alg":"hs256"}"#, &good, secret),
            "InvalidAlgorithm",
        );
        refused(&sign("not json", &good, secret), "InvalidAlgorithm");
        // Wrong key, tampered payload, truncated or missing signature.
        refused(&sign(hs256, &good, b"another-secret"), "InvalidSignature");
        let token = sign(hs256, &good, secret);
        let (message, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = message.split_once('.').unwrap();
        let mut tampered = good.clone();
        tampered["role"] = "admin".into();
        tampered["tid"] = "t2".into();
        let tampered_payload = URL_SAFE_NO_PAD.encode(tampered.to_string());
        refused(
            &format!("{header}.{tampered_payload}.{signature}"),
            "InvalidSignature",
        );
        refused(&format!("{message}."), "InvalidSignature");
        refused(
            &format!("{message}.{}", &signature[..20]),
            "InvalidSignature",
        );
        refused(&format!("{message}.!!!"), "InvalidSignature");
        // Malformed segments.
        refused(message, "InvalidToken");
        refused(&format!("{token}.x"), "InvalidToken");
        refused("", "InvalidToken");
        // Required claims, their formats, and the time rules (with the leeway).
        for claim in ["exp", "sub", "iss", "aud"] {
            let mut missing = good.clone();
            missing.as_object_mut().unwrap().remove(claim);
            refused(&sign(hs256, &missing, secret), "Json");
        }
        let with = |key: &str, value: serde_json::Value| {
            let mut claims = good.clone();
            claims[key] = value;
            sign(hs256, &claims, secret)
        };
        refused(&with("exp", (now - 60).into()), "ExpiredSignature");
        assert!(t.verify(&with("exp", (now - 2).into())).is_ok(), "leeway");
        refused(&with("exp", "soon".into()), "Json");
        refused(&with("exp", (-1).into()), "InvalidClaimFormat");
        refused(&with("nbf", (now + 60).into()), "ImmatureSignature");
        refused(&with("iss", "someone-else".into()), "InvalidIssuer");
        refused(&with("aud", "other".into()), "InvalidAudience");
        refused(&with("aud", serde_json::json!(["maestro-api"])), "Json");
    }
}

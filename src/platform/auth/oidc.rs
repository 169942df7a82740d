//! Tokens from an external OpenID Connect issuer, verified against its JWKS. The key set is
//! fetched lazily, cached, and refetched (at most every 30 s) when a token names an unknown `kid`,
//! so key rotation at the issuer needs no restart.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use super::Role;
use super::jwt::TokenRejected;
use crate::config::OidcSettings;

const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What an OIDC token says about its bearer, mapped to Maestro's terms.
#[derive(Debug, Clone)]
pub struct OidcIdentity {
    pub subject: String,
    pub email: Option<String>,
    /// Tenant name (from `auth.oidc.tenant_claim` or `default_tenant`).
    pub tenant: String,
    pub role: Role,
}

pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    keys: RwLock<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    jwks_url: Option<String>,
    set: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

impl OidcVerifier {
    pub fn new(settings: OidcSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let jwks_url = (!settings.jwks_url.is_empty()).then(|| settings.jwks_url.clone());
        Ok(OidcVerifier {
            settings,
            http,
            keys: RwLock::new(KeyCache {
                jwks_url,
                ..KeyCache::default()
            }),
        })
    }

    pub async fn verify(
        &self,
        token: &str,
        header: &Header,
    ) -> Result<OidcIdentity, TokenRejected> {
        if !ALLOWED.contains(&header.alg) {
            return Err(TokenRejected(format!(
                "algorithm {:?} is not accepted from the OIDC issuer",
                header.alg
            )));
        }
        let key = self.key_for(header).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| TokenRejected(format!("OIDC token invalid: {e}")))?
            .claims;
        self.map_claims(&claims)
    }

    /// An ID token from the authorization-code flow (the console's sign-in): the same keys,
    /// issuer and claim mapping as bearer tokens, but its audience is the console's client id
    /// and its `nonce` must be the one this browser's sign-in started with.
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<OidcIdentity, TokenRejected> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenRejected(format!("the ID token is not a JWT: {e}")))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(TokenRejected(format!(
                "algorithm {:?} is not accepted from the OIDC issuer",
                header.alg
            )));
        }
        let key = self.key_for(&header).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| TokenRejected(format!("ID token invalid: {e}")))?
            .claims;
        match claims.get("nonce").and_then(Value::as_str) {
            Some(n) if n == nonce => {}
            _ => {
                return Err(TokenRejected(
                    "the ID token's nonce is not this sign-in's".into(),
                ));
            }
        }
        self.map_claims(&claims)
    }

    fn map_claims(&self, claims: &Map<String, Value>) -> Result<OidcIdentity, TokenRejected> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenRejected("OIDC token has no sub".into()))?
            .to_string();
        let tenant = match claims.get(&self.settings.tenant_claim) {
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            _ if !self.settings.default_tenant.is_empty() => self.settings.default_tenant.clone(),
            _ => {
                return Err(TokenRejected(format!(
                    "OIDC token has no `{}` claim and auth.oidc.default_tenant is empty",
                    self.settings.tenant_claim
                )));
            }
        };
        // A role claim may be a string or a list (e.g. Keycloak groups); take the highest known.
        let role = match claims.get(&self.settings.role_claim) {
            Some(Value::String(r)) => Role::parse(r),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(Role::parse)
                .max(),
            _ => None,
        }
        .or_else(|| Role::parse(&self.settings.default_role))
        .ok_or_else(|| TokenRejected("OIDC token carries no usable role".into()))?;
        Ok(OidcIdentity {
            subject,
            email: claims
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_string),
            tenant,
            role,
        })
    }

    async fn key_for(&self, header: &Header) -> Result<DecodingKey, TokenRejected> {
        if let Some(key) = self.lookup(header).await? {
            return Ok(key);
        }
        {
            let cache = self.keys.read().await;
            if cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < REFETCH_INTERVAL)
            {
                return Err(TokenRejected("no JWKS key matches the token's kid".into()));
            }
        }
        self.refresh_keys().await?;
        self.lookup(header)
            .await?
            .ok_or_else(|| TokenRejected("no JWKS key matches the token's kid".into()))
    }

    async fn lookup(&self, header: &Header) -> Result<Option<DecodingKey>, TokenRejected> {
        let cache = self.keys.read().await;
        let Some(set) = &cache.set else {
            return Ok(None);
        };
        let jwk = match &header.kid {
            Some(kid) => set.find(kid),
            // Without a kid, only an unambiguous single-key set is acceptable.
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        };
        let Some(jwk) = jwk else {
            return Ok(None);
        };
        if let Some(key_alg) = jwk.common.key_algorithm
            && key_alg.to_string() != format!("{:?}", header.alg)
        {
            return Err(TokenRejected(
                "the token's algorithm does not match its JWKS key".into(),
            ));
        }
        DecodingKey::from_jwk(jwk)
            .map(Some)
            .map_err(|e| TokenRejected(format!("unusable JWKS key: {e}")))
    }

    async fn refresh_keys(&self) -> Result<(), TokenRejected> {
        let mut cache = self.keys.write().await;
        if cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < REFETCH_INTERVAL)
        {
            return Ok(());
        }
        cache.fetched_at = Some(Instant::now());
        let url = match &cache.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let doc: Value = self.get_json(&discovery).await?;
                let url = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| TokenRejected("discovery document has no jwks_uri".into()))?
                    .to_string();
                cache.jwks_url = Some(url.clone());
                url
            }
        };
        let set: JwkSet = self.get_json(&url).await?;
        tracing::info!(keys = set.keys.len(), %url, "fetched OIDC signing keys");
        cache.set = Some(set);
        Ok(())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, TokenRejected> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| TokenRejected(format!("cannot fetch {url}: {e}")))?;
        response
            .json::<T>()
            .await
            .map_err(|e| TokenRejected(format!("bad JSON from {url}: {e}")))
    }
}

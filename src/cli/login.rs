//! `maestro login`: signs in to a Maestro server (`POST /api/v1/auth/token`) and keeps the token
//! pair in a credentials file (`$MAESTRO_CREDENTIALS`, else `$XDG_CONFIG_HOME/maestro/` or
//! `~/.config/maestro/credentials.json`, mode 0600). The client commands use `MAESTRO_TOKEN` when
//! set, else refresh the stored pair (`POST /api/v1/auth/refresh`, which rotates it) and use the
//! fresh access token.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `maestro login` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub refresh_token: String,
}

pub fn credentials_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("MAESTRO_CREDENTIALS").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| anyhow!("set MAESTRO_CREDENTIALS or HOME"))?;
    Ok(base.join("maestro").join("credentials.json"))
}

fn save(credentials: &Credentials) -> anyhow::Result<PathBuf> {
    let path = credentials_path()?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(credentials)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(path)
}

async fn token_pair(request: reqwest::RequestBuilder) -> anyhow::Result<(String, String)> {
    let response = request
        .send()
        .await
        .context("the server cannot be reached")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "the server answered {status}: {}",
            body["detail"].as_str().unwrap_or("no detail")
        );
    }
    match (
        body["access_token"].as_str(),
        body["refresh_token"].as_str(),
    ) {
        (Some(a), Some(r)) => Ok((a.to_string(), r.to_string())),
        _ => bail!("the server's answer has no token pair"),
    }
}

/// `maestro login --server URL --email E` (password from `MAESTRO_PASSWORD` or standard input).
pub async fn login(server: &str, email: &str, password: &str) -> anyhow::Result<PathBuf> {
    let server = server.trim_end_matches('/').to_string();
    let (_, refresh_token) = token_pair(
        reqwest::Client::new()
            .post(format!("{server}/api/v1/auth/token"))
            .json(&json!({"email": email, "password": password})),
    )
    .await?;
    save(&Credentials {
        server,
        refresh_token,
    })
}

/// The access token to use for `server`: `MAESTRO_TOKEN`, else one from the stored sign-in (when
/// it is for the same server), else none.
pub async fn token_for(server: &str) -> anyhow::Result<Option<String>> {
    if let Some(token) = std::env::var("MAESTRO_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(token));
    }
    let path = credentials_path()?;
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let stored: Credentials = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a credentials file; run `maestro login`",
            path.display()
        )
    })?;
    if stored.server != server.trim_end_matches('/') {
        return Ok(None);
    }
    let (access, refresh_token) = token_pair(
        reqwest::Client::new()
            .post(format!("{}/api/v1/auth/refresh", stored.server))
            .json(&json!({"refresh_token": stored.refresh_token})),
    )
    .await
    .context("the stored sign-in no longer works; run `maestro login` again")?;
    save(&Credentials {
        server: stored.server,
        refresh_token,
    })?;
    Ok(Some(access))
}

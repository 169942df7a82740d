//! Checks an environment request before anything is written or applied; every problem is one
//! field error naming the field (422 `k8s.invalid_spec`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::super::manifests::is_quantity;
use super::super::model::{EnvironmentRequest, ExtendRequest, JobRequest};
use super::super::settings::K8sSettings;
use crate::platform::http::error::FieldError;

const MAX_ENV_VARS: usize = 100;
const MAX_COMMAND_ARGS: usize = 100;
const MAX_TEXT: usize = 4096;
const MIN_TTL: Duration = Duration::from_secs(60);

/// Parses a lifetime (`30m`, `2h`) and checks it against `k8s.max_ttl`.
pub fn parse_ttl(field: &str, raw: &str, settings: &K8sSettings) -> Result<Duration, FieldError> {
    let ttl = humantime::parse_duration(raw.trim()).map_err(|_| {
        FieldError::new(
            field,
            "is not a duration; write it with a unit, e.g. 30m or 2h",
        )
    })?;
    if ttl < MIN_TTL {
        return Err(FieldError::new(field, "must be at least 1m"));
    }
    if ttl > settings.max_ttl() {
        return Err(FieldError::new(
            field,
            format!(
                "must be at most {} (k8s.max_ttl)",
                humantime::format_duration(settings.max_ttl())
            ),
        ));
    }
    Ok(ttl)
}

/// When an environment created (or extended) at `now` with `ttl` expires.
pub fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

/// Every problem of the request (empty: valid), and the lifetime it asks for.
pub fn check(
    req: &EnvironmentRequest,
    settings: &K8sSettings,
) -> (Vec<FieldError>, Option<Duration>) {
    let mut errors = Vec::new();
    if let Some(app) = &req.app {
        if !is_image_reference(&app.image) {
            errors.push(FieldError::new(
                "app.image",
                "must be an image reference (1-512 characters, no spaces), e.g. ghcr.io/acme/api:1.2",
            ));
        }
        if app.port == 0 {
            errors.push(FieldError::new("app.port", "must be 1-65535"));
        }
        if app.env.len() > MAX_ENV_VARS {
            errors.push(FieldError::new(
                "app.env",
                format!("has more than {MAX_ENV_VARS} variables"),
            ));
        }
        for (name, value) in &app.env {
            if !is_env_name(name) {
                errors.push(FieldError::new(
                    format!("app.env.{name}"),
                    "is not a variable name (letters, digits, `_`, `-`, `.`; not starting with a digit)",
                ));
            }
            if value.len() > MAX_TEXT {
                errors.push(FieldError::new(
                    format!("app.env.{name}"),
                    format!("is longer than {MAX_TEXT} bytes"),
                ));
            }
        }
        if let Some(command) = &app.command {
            if command.is_empty() || command.len() > MAX_COMMAND_ARGS {
                errors.push(FieldError::new(
                    "app.command",
                    format!(
                        "must have 1-{MAX_COMMAND_ARGS} arguments (omit it to use the image's)"
                    ),
                ));
            }
            if command.iter().any(|a| a.len() > MAX_TEXT) {
                errors.push(FieldError::new(
                    "app.command",
                    format!("an argument is longer than {MAX_TEXT} bytes"),
                ));
            }
        }
        if let Some(r) = &app.readiness
            && (!r.path.starts_with('/')
                || r.path.len() > 1024
                || r.path.contains(char::is_whitespace))
        {
            errors.push(FieldError::new(
                "app.readiness.path",
                "must be an HTTP path starting with `/`, e.g. /health",
            ));
        }
    }
    for (i, db) in req.databases.iter().enumerate() {
        if req.databases[..i].contains(db) {
            errors.push(FieldError::new(
                format!("databases[{i}]"),
                format!("{} is listed twice", db.as_str()),
            ));
        }
    }
    if req.app.is_none() && req.databases.is_empty() {
        errors.push(FieldError::new(
            "app",
            "give an app, at least one database, or both",
        ));
    }
    if let Some(q) = &req.quota {
        for (field, value) in [("quota.cpu", &q.cpu), ("quota.memory", &q.memory)] {
            if !is_quantity(value) {
                errors.push(FieldError::new(
                    field,
                    "is not a Kubernetes quantity such as 4, 2500m or 8Gi",
                ));
            }
        }
        if q.pods == 0 {
            errors.push(FieldError::new("quota.pods", "must be at least 1"));
        }
    }
    let ttl = match &req.ttl {
        None => Some(settings.default_ttl()),
        Some(raw) => match parse_ttl("ttl", raw, settings) {
            Ok(ttl) => Some(ttl),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    (errors, ttl)
}

/// The lifetime of an extend request.
pub fn check_extend(req: &ExtendRequest, settings: &K8sSettings) -> Result<Duration, FieldError> {
    parse_ttl("ttl", &req.ttl, settings)
}

/// Kubernetes' rule for environment variable names (C identifiers plus `-` and `.`).
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// 1-512 characters, none of them white space or control characters.
fn is_image_reference(image: &str) -> bool {
    !image.trim().is_empty()
        && image.len() <= 512
        && !image.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks a job request; returns its deadline in seconds.
pub fn check_job(req: &JobRequest, settings: &K8sSettings) -> Result<i64, Vec<FieldError>> {
    let mut errors = Vec::new();
    if !is_image_reference(&req.image) {
        errors.push(FieldError::new(
            "image",
            "must be an image reference (1-512 characters, no spaces)",
        ));
    }
    if let Some(command) = &req.command
        && (command.is_empty()
            || command.len() > MAX_COMMAND_ARGS
            || command.iter().any(|a| a.len() > MAX_TEXT))
    {
        errors.push(FieldError::new(
            "command",
            format!("must have 1-{MAX_COMMAND_ARGS} arguments of at most {MAX_TEXT} bytes"),
        ));
    }
    for (name, value) in &req.env {
        if !is_env_name(name) || value.len() > MAX_TEXT {
            errors.push(FieldError::new(
                format!("env.{name}"),
                "must be a variable name with a value of at most 4096 bytes",
            ));
        }
    }
    if req.env.len() > MAX_ENV_VARS {
        errors.push(FieldError::new(
            "env",
            format!("has more than {MAX_ENV_VARS} variables"),
        ));
    }
    if !matches!(req.backoff_limit, None | Some(0) | Some(1)) {
        errors.push(FieldError::new("backoff_limit", "must be 0 or 1"));
    }
    if let Some(path) = &req.results_path {
        if !path.starts_with('/') || path.len() > 1024 || path.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "results_path",
                "must be an absolute path in the container, e.g. /results/junit.xml",
            ));
        }
        if req.command.is_none() {
            errors.push(FieldError::new(
                "command",
                "is needed with results_path (the command is wrapped to print the results file)",
            ));
        }
    }
    if let Some(p) = &req.project
        && (p.trim().is_empty() || p.len() > 200)
    {
        errors.push(FieldError::new("project", "must be 1-200 characters"));
    }
    let timeout = match &req.timeout {
        None => settings.job_default_timeout(),
        Some(raw) => match humantime::parse_duration(raw.trim()) {
            Ok(t) if t >= Duration::from_secs(1) && t <= settings.job_max_timeout() => t,
            _ => {
                errors.push(FieldError::new(
                    "timeout",
                    format!(
                        "must be a duration from 1s to {} (k8s.job_max_timeout), e.g. 20m",
                        humantime::format_duration(settings.job_max_timeout())
                    ),
                ));
                Duration::ZERO
            }
        },
    };
    if errors.is_empty() {
        Ok(timeout.as_secs().max(1) as i64)
    } else {
        Err(errors)
    }
}

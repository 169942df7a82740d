//! One error type for every handler, rendered as RFC 9457 (formerly 7807) `application/problem+json`:
//! `type`, `title`, `status`, `detail`, plus a stable `code`, field `errors` and the `trace_id`.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where `type` URIs point; each code gets its own fragment.
const PROBLEM_BASE: &str = "https://maestro.dev/problems/";

/// One invalid input field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a JSON path into the request (`parameters.project_name`, `steps[2].needs`).
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The problem+json body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, `<module>.<reason>` (e.g. `templates.not_found`).
    pub code: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// Implemented by each module's error enum so it converts into [`ApiError`] with a stable code.
pub trait ProblemCode {
    fn code(&self) -> &'static str;
    fn status(&self) -> StatusCode;
}

pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
    /// The cause, logged (never shown) for 5xx.
    pub source: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
            source: None,
        }
    }

    pub fn bad_request(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "auth.unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "auth.forbidden", detail)
    }

    /// A missing object, or another tenant's (never confirm that it exists).
    pub fn not_found(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn conflict(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn precondition_failed(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, code, detail)
    }

    pub fn payload_too_large(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, detail)
    }

    /// 422 listing every bad field.
    pub fn validation(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.validation_failed",
            detail,
        );
        e.errors = errors;
        e
    }

    pub fn unprocessable(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn unavailable(code: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
        e.retry_after_secs = Some(1);
        e
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "An unexpected error occurred; it has been logged with this trace id.",
        );
        e.source = Some(source.into());
        e
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            type_uri: format!("{PROBLEM_BASE}{}", self.code.replace('.', "-")),
            title: self.title().to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.clone(),
            errors: self.errors.clone(),
            trace_id: crate::platform::telemetry::current_trace_id(),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)?;
        if let Some(source) = &self.source {
            write!(f, "; caused by: {source:#}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(code = %self.code, error = ?source, "{}", self.detail)
                }
                None => tracing::warn!(code = %self.code, "{}", self.detail),
            }
        }
        let mut builder = HttpResponse::build(self.status);
        builder.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(secs) = self.retry_after_secs {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        builder.json(self.to_problem())
    }
}

/// Module error enums convert through their [`ProblemCode`].
pub fn from_problem_code<E>(err: E) -> ApiError
where
    E: ProblemCode + fmt::Display,
{
    ApiError::new(err.status(), err.code(), err.to_string())
}

impl From<crate::platform::db::DbError> for ApiError {
    fn from(err: crate::platform::db::DbError) -> Self {
        use crate::platform::db::DbError;
        match err {
            DbError::Unavailable(msg) => ApiError::unavailable(
                "db.unavailable",
                "The database is unavailable; retry shortly.",
            )
            .with_source(anyhow::anyhow!(msg)),
            DbError::Query(e) => e.into(),
            DbError::Worker(msg) => ApiError::internal(anyhow::anyhow!(msg)),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &err {
            Error::NotFound => ApiError::not_found("not_found", "The object does not exist."),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => ApiError::conflict(
                "conflict",
                "An object with the same unique key already exists.",
            ),
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::unavailable("db.contention", "The database was busy; retry shortly.")
                    .with_source(err)
            }
            _ if crate::platform::db::is_connection_error(&err) => ApiError::unavailable(
                "db.unavailable",
                "The database is unavailable; retry shortly.",
            )
            .with_source(err),
            _ => ApiError::internal(err),
        }
    }
}

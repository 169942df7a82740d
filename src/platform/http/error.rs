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

/// One invalid input field: the renderer's type, so its parameter errors need no conversion.
pub use crate::render::FieldError;

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

/// Implemented by each module's error enum (in the module's `error.rs`) so that it converts into
/// [`ApiError`] with a stable code. Write the implementation with `problem_codes!` (below), which
/// also lists every code for the uniqueness and documentation test (`crate::modules::tests`).
pub trait ProblemCode: fmt::Display {
    fn code(&self) -> &'static str;
    fn status(&self) -> StatusCode;
    /// Per-field problems, for 422s that name several inputs.
    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// One documented problem code: what a module can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeDoc {
    pub code: &'static str,
    pub status: StatusCode,
}

/// Implements [`ProblemCode`] for a module's error enum from one table of
/// `pattern => (STATUS, "module.code")` rows, and adds `const CODES: &[CodeDoc]` listing them.
/// The match is exhaustive, so a new variant cannot be forgotten; `Display` (from `thiserror`)
/// is the `detail`. An optional `field_errors(self) { … }` block supplies per-field errors.
///
/// ```ignore
/// problem_codes! {
///     TemplatesError {
///         Self::NotFound { .. } => (NOT_FOUND, "templates.not_found"),
///         Self::Invalid(_) => (UNPROCESSABLE_ENTITY, "templates.invalid"),
///     }
///     field_errors(self) { match self { Self::Invalid(errors) => errors.clone(), _ => Vec::new() } }
/// }
/// ```
#[macro_export]
macro_rules! problem_codes {
    (
        $ty:ty {
            $( $pat:pat => ($status:ident, $code:literal) ),+ $(,)?
        }
        $( field_errors($self_:ident) $fields:block )?
    ) => {
        impl $crate::platform::http::error::ProblemCode for $ty {
            fn code(&self) -> &'static str {
                match self {
                    $( $pat => $code, )+
                }
            }

            fn status(&self) -> ::actix_web::http::StatusCode {
                match self {
                    $( $pat => ::actix_web::http::StatusCode::$status, )+
                }
            }

            $(
                fn field_errors(&$self_) -> Vec<$crate::platform::http::error::FieldError> $fields
            )?
        }

        impl $ty {
            /// Every problem code this error can answer with.
            pub const CODES: &'static [$crate::platform::http::error::CodeDoc] = &[
                $( $crate::platform::http::error::CodeDoc {
                    code: $code,
                    status: ::actix_web::http::StatusCode::$status,
                }, )+
            ];
        }
    };
}

/// The platform's own problem codes (input at the edge, sign-in and roles, users, the database
/// and cache, unknown routes), listed beside the modules' enums for the uniqueness and
/// documentation test (`crate::modules::tests`). `internal` is the one code without a module.
pub const PLATFORM_CODES: &[CodeDoc] = &[
    CodeDoc::new(
        "request.validation_failed",
        StatusCode::UNPROCESSABLE_ENTITY,
    ),
    CodeDoc::new("request.invalid_json", StatusCode::BAD_REQUEST),
    CodeDoc::new("request.invalid_body", StatusCode::BAD_REQUEST),
    CodeDoc::new("request.invalid_query", StatusCode::BAD_REQUEST),
    CodeDoc::new("request.invalid_path", StatusCode::BAD_REQUEST),
    CodeDoc::new("request.body_too_large", StatusCode::PAYLOAD_TOO_LARGE),
    CodeDoc::new(
        "request.unsupported_media_type",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    ),
    CodeDoc::new("route.not_found", StatusCode::NOT_FOUND),
    CodeDoc::new("auth.unauthorized", StatusCode::UNAUTHORIZED),
    CodeDoc::new("auth.forbidden", StatusCode::FORBIDDEN),
    CodeDoc::new("auth.user_not_found", StatusCode::NOT_FOUND),
    CodeDoc::new("auth.email_taken", StatusCode::CONFLICT),
    CodeDoc::new("auth.last_admin", StatusCode::CONFLICT),
    CodeDoc::new("auth.cannot_delete_self", StatusCode::CONFLICT),
    CodeDoc::new("db.not_found", StatusCode::NOT_FOUND),
    CodeDoc::new("db.conflict", StatusCode::CONFLICT),
    CodeDoc::new("db.unavailable", StatusCode::SERVICE_UNAVAILABLE),
    CodeDoc::new("db.contention", StatusCode::SERVICE_UNAVAILABLE),
    CodeDoc::new("cache.unavailable", StatusCode::SERVICE_UNAVAILABLE),
    CodeDoc::new("internal", StatusCode::INTERNAL_SERVER_ERROR),
];

impl CodeDoc {
    pub const fn new(code: &'static str, status: StatusCode) -> CodeDoc {
        CodeDoc { code, status }
    }
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

    /// `Ok` when no field is bad; otherwise the 422 listing them under `detail`.
    pub fn check_fields(detail: impl Into<String>, errors: Vec<FieldError>) -> ApiResult<()> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Self::validation(detail, errors))
        }
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
                // `{:#}`: the error's chain. Its Debug form adds the backtrace anyhow captures
                // under `RUST_BACKTRACE=1` — hundreds of KB of async frames per line (seen on a
                // 503 under load), nothing the chain does not already say.
                Some(source) => {
                    tracing::error!(code = %self.code, error = %format!("{source:#}"), "{}", self.detail)
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

/// Module error enums become problems through their [`ProblemCode`]; a 5xx keeps the error as
/// its logged source.
impl<E> From<E> for ApiError
where
    E: ProblemCode + std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> Self {
        let status = err.status();
        let mut api = ApiError::new(status, err.code(), err.to_string());
        api.errors = err.field_errors();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            api.retry_after_secs = Some(1);
        }
        if status.is_server_error() {
            api.source = Some(anyhow::Error::new(err));
        }
        api
    }
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
            Error::NotFound => ApiError::not_found("db.not_found", "The object does not exist."),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => ApiError::conflict(
                "db.conflict",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum SampleError {
        #[error("Template {id} does not exist in your tenant.")]
        NotFound { id: String },
        #[error("The parameters are invalid; fix the fields listed.")]
        Invalid(Vec<FieldError>),
        #[error("The git store failed")]
        Storage,
    }

    crate::problem_codes! {
        SampleError {
            Self::NotFound { .. } => (NOT_FOUND, "sample.not_found"),
            Self::Invalid(_) => (UNPROCESSABLE_ENTITY, "sample.invalid"),
            Self::Storage => (INTERNAL_SERVER_ERROR, "sample.storage"),
        }
        field_errors(self) {
            match self {
                Self::Invalid(errors) => errors.clone(),
                _ => Vec::new(),
            }
        }
    }

    #[test]
    fn module_errors_convert_with_their_code_status_detail_and_fields() {
        let api: ApiError = SampleError::NotFound { id: "t1".into() }.into();
        assert_eq!(api.status, StatusCode::NOT_FOUND);
        assert_eq!(api.code, "sample.not_found");
        assert_eq!(api.detail, "Template t1 does not exist in your tenant.");
        assert!(api.source.is_none(), "a 4xx carries no logged source");

        let api: ApiError =
            SampleError::Invalid(vec![FieldError::new("parameters.name", "is required")]).into();
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(api.errors.len(), 1);
        assert_eq!(api.errors[0].field, "parameters.name");

        let api: ApiError = SampleError::Storage.into();
        assert!(api.source.is_some(), "a 5xx keeps the error for the log");

        let codes: Vec<_> = SampleError::CODES.iter().map(|c| c.code).collect();
        assert_eq!(
            codes,
            ["sample.not_found", "sample.invalid", "sample.storage"]
        );
    }
}

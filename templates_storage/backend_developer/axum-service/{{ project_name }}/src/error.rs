use axum::{
    Json,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// Errors returned by handlers, rendered as RFC 9457 `application/problem+json`.
#[derive(Debug)]
pub enum AppError {
    NotFound(String),
    Validation(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            AppError::NotFound(detail) => (StatusCode::NOT_FOUND, detail),
            AppError::Validation(detail) => (StatusCode::UNPROCESSABLE_ENTITY, detail),
        };
        let body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(body),
        )
            .into_response()
    }
}

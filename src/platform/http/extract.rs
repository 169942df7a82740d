//! Makes actix's own extractor failures (bad JSON, bad query, bad path, unknown route, oversized
//! body) answer in the same problem+json shape as everything else.

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ApiError;

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::payload_too_large(
            "request.body_too_large",
            format!("The JSON body is {length} bytes; the limit is {limit} bytes."),
        ),
        JsonPayloadError::Overflow { limit } => ApiError::payload_too_large(
            "request.body_too_large",
            format!("The JSON body is larger than the {limit}-byte limit."),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            "Send the body as JSON with `Content-Type: application/json`.",
        ),
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(
            "request.invalid_json",
            format!("The JSON body does not match the expected shape: {e}"),
        ),
        JsonPayloadError::Serialize(e) => ApiError::internal(e),
        JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::payload_too_large(
            "request.body_too_large",
            format!("The body is larger than the {limit}-byte limit."),
        ),
        other => ApiError::bad_request(
            "request.invalid_body",
            format!("The request body could not be read: {other}"),
        ),
    }
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let detail = match &err {
            QueryPayloadError::Deserialize(e) => format!("Bad query string: {e}"),
            other => format!("Bad query string: {other}"),
        };
        ApiError::bad_request("request.invalid_query", detail).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let detail = match &err {
            PathError::Deserialize(e) => format!("Bad path parameter: {e}"),
            other => format!("Bad path parameter: {other}"),
        };
        ApiError::bad_request("request.invalid_path", detail).into()
    })
}

pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

/// The answer for paths no module serves (including a disabled module's paths).
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::not_found(
        "route.not_found",
        format!(
            "No endpoint {} {}; see /docs for the API.",
            req.method(),
            req.path()
        ),
    )
    .error_response()
}

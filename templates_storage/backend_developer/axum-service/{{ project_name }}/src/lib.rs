//! HTTP service written in Rust with axum.
//!
//! The router is built by [`app`] so integration tests can drive it in-process with
//! `tower::ServiceExt::oneshot`, without binding a socket.

pub mod config;
pub mod error;
pub mod routes;
pub mod state;

use std::time::Duration;

use axum::{Router, http::StatusCode};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

pub use config::Config;
pub use state::AppState;

/// Builds the application router with all middleware applied.
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    Router::new()
        .merge(routes::health::router())
        .nest("/api/v1/items", routes::items::router())
        .with_state(state)
        // Layers run bottom-up for requests: the request ID is set first, so traces carry it.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

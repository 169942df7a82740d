//! HTTP conventions shared by every module: errors, pagination, extractor configs, middleware.

pub mod body;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod nul;
pub mod openapi;
pub mod pagination;

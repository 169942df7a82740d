//! The templates module.

pub mod archive;
pub mod engine;
pub mod git;
pub mod schema;
pub mod store;

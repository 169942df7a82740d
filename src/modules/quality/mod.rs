//! The quality module: explainable template scores, the publish and regression gates, reports.

pub mod checks;
pub mod report;
mod schema;
pub mod store;

//! The quality module: explainable template scores, the publish and regression gates, reports.

pub mod checks;

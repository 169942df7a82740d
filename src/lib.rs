//! Maestro: a template registry with git history and cookiecutter-compatible rendering, quality
//! gates, a durable workflow engine, test healing and ephemeral Kubernetes environments, as one
//! server binary. `platform` holds what every module shares; `modules` holds the features;
//! `render` is the template renderer (pure; the templates and quality modules use it).

pub mod cli;
pub mod config;
pub mod console;
pub mod modules;
pub mod platform;
pub mod render;
pub mod server;

//! The feature modules. This is the one place that decides which modules exist in a process:
//! each is built only when its `[modules]` flag is on, in dependency order (templates, quality,
//! workflows), and registers its service and workflow step types for the modules after it.

pub mod quality;
pub mod templates;
pub mod workflows;

use std::sync::Arc;

use crate::platform::Platform;
use crate::platform::http::error::CodeDoc;
use crate::platform::module::Module;

/// Every problem code a module can answer with (each module's error enum `CODES`), for the test
/// that codes are unique and documented in docs/errors.md. A module adds its enum here.
pub fn problem_codes() -> Vec<CodeDoc> {
    let mut codes: Vec<CodeDoc> = Vec::new();
    codes.extend_from_slice(crate::platform::http::nul::NulError::CODES);
    codes.extend_from_slice(templates::sync::SyncError::CODES);
    codes.extend_from_slice(workflows::WorkflowsError::CODES);
    codes
}

pub async fn build(platform: &Platform) -> anyhow::Result<Vec<Arc<dyn Module>>> {
    let flags = &platform.settings.modules;
    let mut modules: Vec<Arc<dyn Module>> = Vec::new();
    if flags.templates {
        modules.push(templates::build(platform)?);
    }
    if flags.quality
        && let Some(quality) = quality::build(platform)?
    {
        modules.push(quality);
    }
    if flags.workflows {
        modules.push(workflows::build(platform)?);
    }
    // The healing and k8s modules are planned (their flags exist so configurations stay valid)
    // but are not part of this build.
    Ok(modules)
}

//! The feature modules. This is the one place that decides which modules exist in a process:
//! each is built only when its `[modules]` flag is on, in dependency order (templates, quality,
//! healing, k8s, workflows), and registers its service for the modules after it.

pub mod workflows;

use std::sync::Arc;

use crate::platform::Platform;
use crate::platform::module::Module;

pub async fn build(platform: &Platform) -> anyhow::Result<Vec<Arc<dyn Module>>> {
    let flags = &platform.settings.modules;
    let mut modules: Vec<Arc<dyn Module>> = Vec::new();
    for (name, enabled) in [
        ("templates", flags.templates),
        ("quality", flags.quality),
        ("healing", flags.healing),
        ("k8s", flags.k8s),
        ("workflows", flags.workflows),
    ] {
        if enabled && name == "workflows" {
            modules.push(workflows::build(platform)?);
        } else if enabled {
            tracing::debug!(
                module = name,
                "module enabled but not part of this build yet"
            );
        }
    }
    Ok(modules)
}

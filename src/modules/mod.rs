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
    codes.extend_from_slice(templates::error::TemplatesError::CODES);
    codes.extend_from_slice(templates::sync::SyncError::CODES);
    codes.extend_from_slice(quality::error::QualityError::CODES);
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Every code has one status and a row in docs/errors.md with that status.
    #[test]
    fn problem_codes_are_unique_and_documented() {
        let docs = include_str!("../../docs/errors.md");
        let codes = problem_codes();
        assert!(codes.len() > 20, "the modules' enums are registered");
        let mut seen = HashMap::new();
        for doc in codes {
            if let Some(other) = seen.insert(doc.code, doc.status) {
                assert_eq!(other, doc.status, "{} has two statuses", doc.code);
            }
            let (module, reason) = doc.code.split_once('.').expect("<module>.<reason>");
            assert!(!module.is_empty() && !reason.is_empty(), "{}", doc.code);
            let row = docs
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", doc.code)))
                .unwrap_or_else(|| panic!("docs/errors.md has no row for `{}`", doc.code));
            assert!(
                row.contains(&format!("| {} |", doc.status.as_u16())),
                "docs/errors.md gives `{}` another status than {}: {row}",
                doc.code,
                doc.status.as_u16()
            );
        }
    }
}

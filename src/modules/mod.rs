//! The feature modules. This is the one place that decides which modules exist in a process:
//! each is built only when its `[modules]` flag is on, in dependency order (templates, quality,
//! workflows, healing, k8s), and registers its service and workflow step types for the modules
//! after it (healing before k8s: the k8s module hands test results to healing when it is on).

pub mod healing;
pub mod k8s;
pub mod quality;
pub mod templates;
pub mod workflows;

use std::sync::Arc;

use crate::platform::Platform;
use crate::platform::http::error::CodeDoc;
use crate::platform::module::Module;

/// Every module's problem codes, one table per error enum (its `CODES`), for the test that codes
/// are unique and documented in docs/errors.md. A module adds its enum here.
pub fn problem_code_tables() -> Vec<(&'static str, &'static [CodeDoc])> {
    vec![
        ("platform", crate::platform::http::error::PLATFORM_CODES),
        ("NulError", crate::platform::http::nul::NulError::CODES),
        ("TemplatesError", templates::error::TemplatesError::CODES),
        ("SyncError", templates::sync::SyncError::CODES),
        ("archive", templates::archive::ARCHIVE_CODES),
        ("QualityError", quality::error::QualityError::CODES),
        ("WorkflowsError", workflows::WorkflowsError::CODES),
        ("HealingError", healing::error::HealingError::CODES),
        ("K8sError", k8s::K8sError::CODES),
        ("console", crate::console::CONSOLE_CODES),
        (
            "GitImportError",
            templates::git_import::GitImportError::CODES,
        ),
        ("UpdateError", templates::service::UpdateError::CODES),
    ]
}

/// Every problem code a module can answer with.
pub fn problem_codes() -> Vec<CodeDoc> {
    problem_code_tables()
        .into_iter()
        .flat_map(|(_, codes)| codes.iter().copied())
        .collect()
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
    if flags.healing {
        modules.push(healing::build(platform)?);
    }
    if flags.k8s {
        modules.push(k8s::build(platform)?);
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Each code has exactly one status and belongs to one error enum (a client can switch on
    /// either), and has exactly one row in docs/errors.md (`` | `code` | status | ``).
    #[test]
    fn problem_codes_are_unique_and_documented() {
        let docs = include_str!("../../docs/errors.md");
        let mut owner: HashMap<&str, (u16, &str)> = HashMap::new();
        for (enum_name, codes) in problem_code_tables() {
            for doc in codes {
                let status = doc.status.as_u16();
                if let Some((other_status, other_enum)) =
                    owner.insert(doc.code, (status, enum_name))
                {
                    assert_eq!(
                        (other_status, other_enum),
                        (status, enum_name),
                        "{} is answered as {other_status} by {other_enum} and as {status} by \
                         {enum_name}: one status per code (split the code if the meanings differ)",
                        doc.code
                    );
                }
                if doc.code != "internal" {
                    let (module, reason) = doc.code.split_once('.').expect("<module>.<reason>");
                    assert!(!module.is_empty() && !reason.is_empty(), "{}", doc.code);
                }
                let code_cell = format!("| `{}` |", doc.code);
                let rows: Vec<&str> = docs.lines().filter(|l| l.starts_with(&code_cell)).collect();
                let row = format!("| `{}` | {status} |", doc.code);
                assert!(
                    rows.len() == 1 && rows[0].starts_with(&row),
                    "docs/errors.md needs exactly one row starting `{row}`, has {rows:?}"
                );
            }
        }
        assert!(owner.len() > 40, "the modules' enums are registered");
    }

    /// A code written by hand where an error is made (`ApiError::conflict("auth.last_admin", …)`)
    /// is one of the registered, documented codes: no module or platform file answers with a
    /// code a client cannot look up.
    #[test]
    fn hand_written_codes_are_registered() {
        let known: std::collections::HashSet<&str> =
            problem_codes().iter().map(|doc| doc.code).collect();
        let made = regex::Regex::new(
            r#"(?s)ApiError::(?:new|bad_request|not_found|conflict|precondition_failed|payload_too_large|unprocessable|unavailable)\(\s*(?:(?:actix_web::http::)?StatusCode::[A-Z_]+,\s*)?"([a-z_.]+)""#,
        )
        .unwrap();
        let mut files = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        let mut unknown = Vec::new();
        let mut seen = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for found in made.captures_iter(&text) {
                seen += 1;
                if !known.contains(&found[1]) {
                    unknown.push(format!("{}: {}", path.display(), &found[1]));
                }
            }
        }
        assert!(seen > 20, "the pattern finds the hand-made errors ({seen})");
        assert!(
            unknown.is_empty(),
            "codes made by hand but not registered (PLATFORM_CODES or a module enum) and \
             documented in docs/errors.md: {unknown:#?}"
        );
    }
}

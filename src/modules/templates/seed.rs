//! The starter catalog: `templates_storage/<category>/<template>/` imported into tenant
//! `default` by `maestro seed` and on first start (`templates.seed_on_start`). Idempotent: a
//! template whose content already matches is left alone (no commit); one changed on disk is
//! updated only if nobody but the seeder changed it since; a user's edits are never overwritten.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::archive;
use super::service::{TemplateInput, TemplatesService};
use super::spec;
use crate::platform::auth::{AuthSource, Principal, Role, TenantId};
use crate::platform::http::error::ApiError;
use crate::render::SourceFile;

/// The tenant the catalog is imported into.
pub const SEED_TENANT: &str = "default";
/// Who seeded templates are authored by.
pub const SEED_EMAIL: &str = "catalog@maestro.local";

#[derive(Debug, Default, Serialize)]
pub struct SeedReport {
    pub tenant_id: String,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    /// `<folder>: <why>` for templates that were not imported.
    pub skipped: Vec<String>,
}

fn seeder(tenant: &TenantId) -> Principal {
    Principal {
        user_id: "maestro-catalog".to_string(),
        tenant_id: tenant.clone(),
        email: Some(SEED_EMAIL.to_string()),
        role: Role::Admin,
        source: AuthSource::Local,
    }
}

/// Reads a template folder (regular files only; symlinks are refused).
pub fn read_folder(root: &Path) -> anyhow::Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| anyhow::anyhow!("{}: the name {n:?} is not UTF-8", dir.display()))?;
            let rel_path = rel.join(&name);
            let meta = std::fs::symlink_metadata(entry.path())?;
            if meta.file_type().is_symlink() {
                anyhow::bail!(
                    "{} is a symbolic link; the catalog holds regular files only",
                    rel_path.display()
                );
            }
            if meta.is_dir() {
                stack.push(rel_path);
                continue;
            }
            #[cfg(unix)]
            let executable = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o111 != 0
            };
            #[cfg(not(unix))]
            let executable = false;
            let path = rel_path
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push(SourceFile {
                path,
                content: std::fs::read(entry.path())?,
                executable,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// `<storage>/<category>/<template>/` folders, sorted.
fn template_folders(storage: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut categories: Vec<_> = std::fs::read_dir(storage)
        .map_err(|e| anyhow::anyhow!("cannot read the catalog at {}: {e}", storage.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .collect();
    categories.sort_by_key(|e| e.file_name());
    for category in categories {
        let mut templates: Vec<_> = std::fs::read_dir(category.path())?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .collect();
        templates.sort_by_key(|e| e.file_name());
        for template in templates {
            let label = format!(
                "{}/{}",
                category.file_name().to_string_lossy(),
                template.file_name().to_string_lossy()
            );
            out.push((label, template.path()));
        }
    }
    Ok(out)
}

/// Imports the catalog at `storage` into tenant `default` (created if absent).
pub async fn run(service: &TemplatesService, storage: &Path) -> anyhow::Result<SeedReport> {
    let tenant = service
        .auth()
        .ensure_tenant(SEED_TENANT)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create tenant {SEED_TENANT}: {}", e.detail))?;
    let actor = seeder(&tenant);
    let mut report = SeedReport {
        tenant_id: tenant.0.clone(),
        ..SeedReport::default()
    };
    let limits = service.limits();
    for (label, folder) in template_folders(storage)? {
        let files = match read_folder(&folder)
            .map_err(|e| e.to_string())
            .and_then(|f| archive::check_files(f, &limits).map_err(|e| e.detail))
        {
            Ok(files) => files,
            Err(why) => {
                report.skipped.push(format!("{label}: {why}"));
                continue;
            }
        };
        let inspected = match spec::inspect(&files) {
            Ok(i) => i,
            Err(e) => {
                let e = ApiError::from(e);
                let fields: Vec<String> = e
                    .errors
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect();
                report
                    .skipped
                    .push(format!("{label}: {} {}", e.detail, fields.join("; ")));
                continue;
            }
        };
        let name = inspected.manifest.name.clone();
        let existing = match service.find_by_name(&tenant, &name).await {
            Ok(t) => Some(t),
            Err(e) if e.status.as_u16() == 404 => None,
            Err(e) => return Err(anyhow::anyhow!("{label}: {}", e.detail)),
        };
        let outcome = match existing {
            None => service
                .create(&actor, TemplateInput::files(files))
                .await
                .map(|_| true),
            Some(current) => {
                let content = service
                    .get_content(&tenant, &current.id, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("{label}: {}", e.detail))?;
                if content.files == files {
                    report.unchanged.push(name.clone());
                    continue;
                }
                if current.updated_by != SEED_EMAIL {
                    report.skipped.push(format!(
                        "{label}: `{name}` was changed by {} since it was seeded; not overwriting",
                        current.updated_by
                    ));
                    continue;
                }
                service
                    .update(
                        &actor,
                        &current.id,
                        Some(&current.current_commit),
                        TemplateInput::files(files),
                        None,
                    )
                    .await
                    .map(|_| false)
            }
        };
        match outcome {
            Ok(true) => report.created.push(name),
            Ok(false) => report.updated.push(name),
            Err(e) => {
                let fields: Vec<String> = e
                    .errors
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect();
                report.skipped.push(
                    format!("{label}: {} {}", e.detail, fields.join("; "))
                        .trim()
                        .to_string(),
                );
            }
        }
    }
    Ok(report)
}

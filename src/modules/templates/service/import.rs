//! Bringing the rows in line with git: the difference between the commit the rows reflect and
//! the branch tip is re-read from git (start-up reconciliation, a write that finds the branch
//! ahead after a crash, git sync).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::write::{Recorded, store_row};
use super::{Authorship, TemplatesService, WriteKind, build_row, now_naive, system_principal};
use crate::modules::templates::archive::{self, Limits};
use crate::modules::templates::git;
use crate::modules::templates::model::ImportReport;
use crate::modules::templates::spec;
use crate::modules::templates::store::{self, TemplateRow};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::http::error::ApiResult;
use crate::render::{Inspected, SourceFile};

impl TemplatesService {
    // ----- import from git (reconciliation, sync) -----

    /// Brings the tenant's rows in line with the branch: templates whose folder changed since
    /// `from` (or that have no row) are re-read from git; rows whose folder is gone are deleted.
    /// The caller holds the tenant's lock.
    pub(in crate::modules::templates) async fn import_from_git(
        &self,
        tenant: &TenantId,
        from: Option<String>,
        actor: &Principal,
    ) -> ApiResult<ImportReport> {
        let t = tenant.clone();
        let db_rows: HashMap<String, String> = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::ids_and_commits(conn, &t)?) })
            .await?
            .into_iter()
            .collect();
        let known: HashSet<String> = db_rows.keys().cloned().collect();
        let limits = self.limits();
        let scanned = self
            .with_repo(tenant, move |repo| {
                scan_for_import(repo, from.as_deref(), &known, &limits)
            })
            .await?;
        let mut report = ImportReport {
            skipped: scanned.skipped.clone(),
            ..ImportReport::default()
        };
        let Some(tip) = scanned.tip.clone() else {
            return Ok(report);
        };
        let t = tenant.clone();
        let imports = scanned.imports;
        let deletions = scanned.deletions;
        let tip_c = tip.clone();
        let applied = self
            .inner
            .db
            .transaction(move |conn| -> ApiResult<Applied> {
                let mut written = Vec::new();
                let mut skipped = Vec::new();
                for import in imports {
                    let existing = store::find(conn, &t, &import.id)?;
                    // Ids are unique across tenants: a folder whose id another tenant uses (two
                    // tenants syncing with one repository) stays in git but is not imported.
                    if existing.is_none() && store::id_taken_by_another_tenant(conn, &t, &import.id)? {
                        skipped.push(format!(
                            "templates/{}: another tenant has a template with this id (ids are unique across Maestro), so it is not imported here; to use it in your tenant, create a copy (it gets a new id)",
                            import.id
                        ));
                        continue;
                    }
                    if let Some(other) =
                        store::find_by_name(conn, &t, &import.inspected.manifest.name)?
                        && other.id != import.id
                    {
                        skipped.push(format!(
                            "templates/{}: the name `{}` is already used by template {}",
                            import.id, import.inspected.manifest.name, other.id
                        ));
                        continue;
                    }
                    let who = Authorship::of(
                        existing.as_ref(),
                        import.author.clone(),
                        import.changed_at.naive_utc(),
                    );
                    let mut row = build_row(&t, &import.id, &import.inspected, &import.files, &who);
                    // A draft stays a draft: content from git did not pass the publish gate.
                    if let Some(existing) = &existing {
                        row.status = existing.status.clone();
                        row.draft_gate = existing.draft_gate.clone();
                    }
                    let row = store_row(conn, &t, row, &import.commit, existing.is_none())?;
                    written.push((row, existing.is_none()));
                }
                let mut removed = Vec::new();
                for id in deletions {
                    if let Some(old) = store::find(conn, &t, &id)? {
                        store::delete(conn, &t, &id)?;
                        removed.push(old);
                    }
                }
                store::set_head(conn, &t, Some(&tip_c), now_naive())?;
                Ok((written, removed, skipped))
            })
            .await?;
        let (written, removed, skipped) = applied;
        report.skipped.extend(skipped);
        for (row, created) in &written {
            let kind = if *created {
                WriteKind::Created
            } else {
                WriteKind::Updated
            };
            if *created {
                report.created.push(row.id.clone());
            } else {
                report.updated.push(row.id.clone());
            }
            self.after_write(tenant, row, &row.current_commit, actor, kind, None)
                .await;
        }
        for row in &removed {
            report.deleted.push(row.id.clone());
            self.after_write(tenant, row, &tip, actor, WriteKind::Deleted, None)
                .await;
        }
        if written.is_empty() && removed.is_empty() {
            self.invalidate(tenant).await;
        }
        Ok(report)
    }

    /// Moves a repository written before the fan-out layout into it (see
    /// [`git::migrate_layout`]): one commit by Maestro, and the rows' `head_commit` follows. No
    /// template's content, row or cached read changes. Returns the commit, if one was needed.
    pub(in crate::modules::templates) async fn migrate_layout(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<Option<String>> {
        let _guard = self.write_lock(tenant).await?;
        let at = Utc::now();
        let recorded = self
            .git_commit_then_record(
                tenant,
                move |repo| {
                    Ok(git::migrate_layout(repo, at)?
                        .unwrap_or(git::WriteOutcome::Unchanged { tip: None }))
                },
                |_conn, _commit| Ok(()),
                super::write::Flush::Now,
            )
            .await?;
        Ok(match recorded {
            Recorded::Committed { commit, .. } => Some(commit),
            Recorded::Unchanged => None,
        })
    }

    /// Before writing: if the branch is ahead of the rows (a crash between a git commit and its
    /// database write that start-up has not reconciled yet), import the difference first, so a
    /// new commit never buries an unrecorded one. The caller holds the tenant's lock.
    pub(super) async fn catch_up(&self, tenant: &TenantId) -> ApiResult<()> {
        if !self.inner.git.exists(tenant.as_str()) {
            return Ok(());
        }
        let t = tenant.clone();
        let head = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_repo(conn, &t)?) })
            .await?
            .and_then(|r| r.head_commit);
        let tip = self
            .with_repo(tenant, |repo| Ok(git::tip(repo)?.map(|c| c.to_string())))
            .await?;
        if tip.is_some() && tip != head {
            tracing::warn!(tenant = %tenant, ?head, ?tip, "template rows lag the git branch; importing before the write");
            self.import_from_git(tenant, head.clone(), &system_principal(tenant))
                .await
                .map_err(|e| match e.status {
                    actix_web::http::StatusCode::SERVICE_UNAVAILABLE => e,
                    _ => super::super::sync::SyncError::OutOfSync {
                        head: head.unwrap_or_else(|| "(none)".into()),
                        tip: tip.unwrap_or_default(),
                        cause: e.detail,
                    }
                    .into(),
                })?;
        }
        Ok(())
    }
}

/// Rows written (with whether each was created), rows deleted, and folders skipped.
type Applied = (Vec<(TemplateRow, bool)>, Vec<TemplateRow>, Vec<String>);

struct ImportItem {
    id: String,
    files: Vec<SourceFile>,
    inspected: Inspected,
    commit: String,
    author: String,
    changed_at: DateTime<Utc>,
}

struct Scanned {
    tip: Option<String>,
    imports: Vec<ImportItem>,
    deletions: Vec<String>,
    skipped: Vec<String>,
}

/// Template ids are URL path segments: keep them to safe characters.
fn valid_template_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads what changed between `from` and the branch tip (blocking).
fn scan_for_import(
    repo: &gix::Repository,
    from: Option<&str>,
    known: &HashSet<String>,
    limits: &Limits,
) -> anyhow::Result<Scanned> {
    let tip = git::tip(repo)?;
    let from = from.and_then(|f| git::parse_commit(repo, f));
    let before = git::templates_at(repo, from)?;
    let after = git::templates_at(repo, tip)?;
    let mut imports = Vec::new();
    let mut skipped = Vec::new();
    for (id, tree) in &after {
        let unchanged = before.get(id) == Some(tree) && known.contains(id);
        if unchanged {
            continue;
        }
        if !valid_template_id(id) {
            skipped.push(format!(
                "templates/{id}: folder names must be 1-64 letters, digits, '-' or '_'"
            ));
            continue;
        }
        let files = match git::files_of_tree(repo, *tree)
            .map_err(|e| e.to_string())
            .and_then(|files| archive::check_files(files, limits).map_err(|e| e.detail))
        {
            Ok(files) => files,
            Err(why) => {
                skipped.push(format!("templates/{id}: {why}"));
                continue;
            }
        };
        let inspected = match spec::inspect(&files) {
            Ok(i) => i,
            Err(e) => {
                skipped.push(format!("templates/{id}: {e}"));
                continue;
            }
        };
        let last = git::history(repo, tip, id, 1)?;
        let Some(last) = last.first() else {
            continue;
        };
        imports.push(ImportItem {
            id: id.clone(),
            files,
            inspected,
            commit: last.commit.to_string(),
            author: last.author_email.clone(),
            changed_at: last.time,
        });
    }
    let deletions = known
        .iter()
        .filter(|id| !after.contains_key(*id))
        .cloned()
        .collect();
    Ok(Scanned {
        tip: tip.map(|t| t.to_string()),
        imports,
        deletions,
        skipped,
    })
}

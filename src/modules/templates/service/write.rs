//! Writes: create, update, restore and delete, each exactly one git commit and one database
//! transaction, and the quality score the quality module reports back. Every new version goes
//! through [`TemplatesService::check_new_version`] (limits, format, a free name, the publish
//! gate) before anything is written.

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;

use super::{
    Authorship, TemplatesService, WriteKind, author_of, build_row, check_expected, file_entry,
    files_word, now_naive, short, with_manifest,
};
use crate::modules::templates::archive;
use crate::modules::templates::error::TemplatesError;
use crate::modules::templates::events::{
    TemplateChange, TemplateCreated, TemplateDeleted, TemplateRestored, TemplateUpdated,
};
use crate::modules::templates::gate::{
    ForcedPublish, GateVerdict, PublishCandidate, PublishGate, content_digest,
};
use crate::modules::templates::git::{self, Author, WriteOutcome};
use crate::modules::templates::model::{TemplateDetail, TemplateStatus, TemplateSummary};
use crate::modules::templates::spec;
use crate::modules::templates::store::{self, RowWrite, TemplateRow};
use crate::platform::auth::{Principal, Role, TenantId};
use crate::platform::db::DbConnection;
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::render::{Inspected, MANIFEST_FILE, SourceFile};

/// What a create or update carries: a manifest (as JSON) and/or files.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    pub manifest: Option<Value>,
    /// `None` on update keeps the current files.
    pub files: Option<Vec<SourceFile>>,
}

impl TemplateInput {
    /// A folder of files, its manifest among them (`manifest.yaml` or a derived one).
    pub fn files(files: Vec<SourceFile>) -> Self {
        TemplateInput {
            manifest: None,
            files: Some(files),
        }
    }
}

/// A new version's files, checked and read before any state is looked at: the limits and the
/// format ([`archive::check_files`], [`spec::inspect`]) and the content digest. This part needs
/// no lock; the publish gate prepares its evaluation of the content here too, and the files are
/// stored as git blobs ([`git::stage_files`]), so that the commit only writes trees.
struct Prepared {
    files: Vec<SourceFile>,
    inspected: Inspected,
    digest: String,
    staged: Vec<git::StagedFile>,
}

/// A new version that passed every check: its files (normalised and sorted), their reading,
/// and the publish gate's note for the response.
struct NewVersion {
    files: Vec<SourceFile>,
    inspected: Inspected,
    note: Option<Value>,
    /// [`content_digest`] of `files`, which the publish gate saw and the event carries.
    digest: String,
    /// `files` as blobs in the tenant's repository.
    staged: Vec<git::StagedFile>,
    /// Set when the gate refused and the write is kept as a draft ([`GateMode::DraftOnRefusal`]):
    /// the refusal (score, detail, recommendations).
    draft: Option<Value>,
}

/// What a refusal of the publish gate does to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GateMode {
    /// The write is refused (uploads, edits).
    Enforce,
    /// The write is stored as a draft with the refusal attached (imports from git).
    DraftOnRefusal,
}

/// The problem code of a failing quality score (the only refusal a draft may carry; a
/// regression or any other error still refuses the write).
const GATE_FAILED: &str = "quality.gate_failed";

/// A refusal as a draft's record: what to fix.
fn draft_record(error: &ApiError) -> Value {
    serde_json::json!({
        "code": error.code,
        "detail": error.detail,
        "recommendations": error.errors,
    })
}

/// When a write's database transaction becomes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    /// When it commits.
    Now,
    /// Later: its commit does not wait for the database's log flush, so the tenant's rows are
    /// unlocked sooner, and the caller calls [`crate::platform::db::Db::flush`] before answering
    /// (after releasing the tenant's write lock, so that the flush runs beside the next write).
    /// A crash before that flush loses the rows but not the git commit, which the next start (or
    /// write) imports.
    Later,
}

/// What [`TemplatesService::commit_then_record`] did: nothing (the content was already there),
/// or one commit and the value the database transaction returned.
pub(super) enum Recorded<T> {
    Unchanged,
    Committed { commit: String, value: T },
}

impl TemplatesService {
    fn publish_gate(&self) -> Option<Arc<dyn PublishGate>> {
        self.inner.services.get::<Arc<dyn PublishGate>>()
    }

    async fn gate(&self, candidate: PublishCandidate) -> ApiResult<Option<Value>> {
        let Some(gate) = self.publish_gate() else {
            return Ok(None);
        };
        match gate.check(&candidate).await? {
            GateVerdict::Allow { note } => Ok(note),
            GateVerdict::Refuse(error) => Err(error),
        }
    }

    /// The first half of the checks every new version passes (create, update and restore): the
    /// limits and the format, and the gate's preparation. Needs no lock: create runs it before
    /// taking the tenant's write lock, so that scoring runs beside other writes.
    async fn prepare_version(
        &self,
        tenant: &TenantId,
        files: Vec<SourceFile>,
    ) -> ApiResult<Prepared> {
        let files = archive::check_files(files, &self.limits())?;
        let inspected = spec::inspect(&files)?;
        let digest = content_digest(&files);
        // Shared, not copied: staging and the gate read the same files side by side (both on
        // the blocking pool).
        let files = Arc::new(files);
        let to_stage = files.clone();
        let stage = self.with_repo(tenant, move |repo| git::stage_files(repo, &to_stage));
        let evaluate = async {
            match self.publish_gate() {
                Some(gate) => gate.prepare(&digest, &files).await,
                None => Ok(()),
            }
        };
        let (staged, evaluated) = tokio::join!(stage, evaluate);
        evaluated?;
        // The staging closure has run (or failed) and dropped its handle.
        let files = Arc::try_unwrap(files).unwrap_or_else(|shared| (*shared).clone());
        Ok(Prepared {
            files,
            inspected,
            digest,
            staged: staged?,
        })
    }

    /// The second half, with the tenant's write lock held: a free name and the publish gate.
    /// `current` is the template's row (`None` when creating).
    async fn check_new_version(
        &self,
        actor: &Principal,
        template_id: &str,
        current: Option<&TemplateRow>,
        prepared: Prepared,
        force: &Option<ForcedPublish>,
        mode: GateMode,
    ) -> ApiResult<NewVersion> {
        let Prepared {
            files,
            inspected,
            digest,
            staged,
        } = prepared;
        let name = &inspected.manifest.name;
        if current.is_none_or(|c| &c.name != name) {
            self.name_free(&actor.tenant_id, name, current.map(|c| c.id.as_str()))
                .await?;
        }
        let gated = self
            .gate(PublishCandidate {
                tenant: actor.tenant_id.clone(),
                actor: actor.clone(),
                template_id: template_id.to_string(),
                previous_commit: current.map(|c| c.current_commit.clone()),
                name: name.clone(),
                category: inspected.manifest.category.clone(),
                manifest: inspected.manifest_json(),
                files: files.clone(),
                digest: digest.clone(),
                force: force.clone(),
            })
            .await;
        let (note, draft) = match gated {
            Ok(note) => (note, None),
            Err(e) if mode == GateMode::DraftOnRefusal && e.code == GATE_FAILED => {
                let record = draft_record(&e);
                (Some(serde_json::json!({"draft": record})), Some(record))
            }
            Err(e) => return Err(e),
        };
        Ok(NewVersion {
            files,
            inspected,
            note,
            digest,
            staged,
            draft,
        })
    }

    /// No other template of the tenant (but `except`) is named `name`.
    async fn name_free(
        &self,
        tenant: &TenantId,
        name: &str,
        except: Option<&str>,
    ) -> ApiResult<()> {
        let (t, n) = (tenant.clone(), name.to_string());
        let existing = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::find_by_name(conn, &t, &n)?) })
            .await?;
        match existing {
            Some(row) if Some(row.id.as_str()) != except => Err(TemplatesError::NameTaken {
                name: name.to_string(),
                id: Some(row.id),
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// Commits the template's new content (or its removal), then runs `record` in a database
    /// transaction and returns what it returned; when the database write fails, the branch is
    /// moved back.
    #[allow(clippy::too_many_arguments)]
    async fn commit_then_record<T, F>(
        &self,
        tenant: &TenantId,
        template_id: &str,
        files: Option<Vec<git::StagedFile>>,
        author: Author,
        message: impl FnOnce(&git::ChangeSummary) -> String + Send + 'static,
        record: F,
        flush: Flush,
    ) -> ApiResult<Recorded<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &str) -> ApiResult<T> + Send + 'static,
    {
        let id = template_id.to_string();
        let at = Utc::now();
        self.git_commit_then_record(
            tenant,
            move |repo| git::write_staged(repo, &id, files.as_deref(), &author, at, message),
            record,
            flush,
        )
        .await
    }

    /// Commits `version` as template `id`, then stores its row (by `who`, a draft when the gate
    /// refused) as of that commit: inserted when `new`, else updated. What create, update and
    /// restore share.
    #[allow(clippy::too_many_arguments)]
    async fn commit_version(
        &self,
        actor: &Principal,
        id: &str,
        version: &NewVersion,
        who: &Authorship,
        new: bool,
        message: impl FnOnce(&git::ChangeSummary) -> String + Send + 'static,
        flush: Flush,
    ) -> ApiResult<Recorded<TemplateRow>> {
        let tenant = &actor.tenant_id;
        let mut row = build_row(tenant, id, &version.inspected, &version.files, who);
        mark_draft(&mut row, &version.draft);
        let t = tenant.clone();
        self.commit_then_record(
            tenant,
            id,
            Some(version.staged.clone()),
            author_of(actor),
            message,
            move |conn, commit| store_row(conn, &t, row, commit, new),
            flush,
        )
        .await
    }

    /// Makes one commit with `write` (which may decide there is nothing to commit), then runs
    /// `record` in a database transaction that also stores the new branch head; when the
    /// database write fails, the branch is moved back. `flush`: see [`Flush`].
    pub(super) async fn git_commit_then_record<T, G, F>(
        &self,
        tenant: &TenantId,
        write: G,
        record: F,
        flush: Flush,
    ) -> ApiResult<Recorded<T>>
    where
        T: Send + 'static,
        G: FnOnce(&gix::Repository) -> anyhow::Result<WriteOutcome> + Send + 'static,
        F: FnOnce(&mut DbConnection, &str) -> ApiResult<T> + Send + 'static,
    {
        let outcome = self.with_repo(tenant, write).await?;
        let WriteOutcome::Committed {
            commit,
            previous_tip,
            ..
        } = outcome
        else {
            return Ok(Recorded::Unchanged);
        };
        let t = tenant.clone();
        let commit_hex = commit.to_string();
        let c = commit_hex.clone();
        let record = move |conn: &mut DbConnection| -> ApiResult<T> {
            let value = record(conn, &c)?;
            store::set_head(conn, &t, Some(&c), now_naive())?;
            Ok(value)
        };
        let db = &self.inner.db;
        let stored = match flush {
            Flush::Now => db.transaction(record).await,
            Flush::Later => db.transaction_unflushed(record).await,
        };
        match stored {
            Ok(value) => Ok(Recorded::Committed {
                commit: commit_hex,
                value,
            }),
            Err(error) => {
                let rollback = self
                    .with_repo(tenant, move |repo| {
                        git::move_branch(
                            repo,
                            Some(commit),
                            previous_tip,
                            "maestro: undo commit whose database write failed",
                        )
                    })
                    .await;
                if let Err(rollback_error) = rollback {
                    tracing::error!(tenant = %tenant, %commit, error = ?rollback_error, "could not undo a git commit after a failed database write; it will be imported at the next start");
                }
                Err(error)
            }
        }
    }

    fn forced_line(actor: &Principal, force: &Option<ForcedPublish>) -> String {
        match force {
            Some(f) => format!(
                "\nForced-By: {} (publish gate overridden: {})",
                actor.display_name(),
                f.reason.replace('\n', " ")
            ),
            None => String::new(),
        }
    }

    pub(super) fn check_force(actor: &Principal, force: &Option<ForcedPublish>) -> ApiResult<()> {
        if let Some(f) = force {
            if actor.role != Role::Admin {
                return Err(ApiError::forbidden(
                    "Only admins may force a publication past the publish gate.",
                ));
            }
            if f.reason.trim().is_empty() {
                return Err(ApiError::validation(
                    "A forced publication needs a reason.",
                    vec![FieldError::new(
                        "force.reason",
                        "say why the publish gate is overridden",
                    )],
                ));
            }
        }
        Ok(())
    }

    /// Creates a template: one commit `Create <name> <version> (<n> files)`.
    pub async fn create(
        &self,
        actor: &Principal,
        input: TemplateInput,
    ) -> ApiResult<TemplateDetail> {
        self.create_as(actor, input, GateMode::Enforce).await
    }

    /// [`TemplatesService::create`] with a choice of what a gate refusal does.
    pub(super) async fn create_as(
        &self,
        actor: &Principal,
        input: TemplateInput,
        mode: GateMode,
    ) -> ApiResult<TemplateDetail> {
        let tenant = actor.tenant_id.clone();
        let files = with_manifest(
            input.files.unwrap_or_default(),
            input.manifest.as_ref(),
            false,
        )?;
        let id = uuid::Uuid::new_v4().to_string();
        let prepared = self.prepare_version(&tenant, files).await?;
        let guard = self.write_lock(&tenant).await?;
        let version = self
            .check_new_version(actor, &id, None, prepared, &None, mode)
            .await?;
        let m = &version.inspected.manifest;
        let message_head = format!("Create {} {}", m.name, m.version);
        let trailer = format!("\n\nTemplate-Id: {id}");
        let who = Authorship::of(None, actor.display_name(), now_naive());
        let message = move |c: &git::ChangeSummary| {
            format!("{message_head} ({}){trailer}", files_word(c.added.len()))
        };
        let recorded = self
            .commit_version(actor, &id, &version, &who, true, message, Flush::Later)
            .await?;
        drop(guard);
        self.inner.db.flush().await?;
        let Recorded::Committed { commit, value: row } = recorded else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "creating template {id} made no commit"
            )));
        };
        Ok(self
            .announce_version(actor, row, &commit, WriteKind::Created, version)
            .await)
    }

    /// Replaces a template's content: one commit `Update <name>: <old> → <new> (<n> files
    /// changed)`. `expected_commit` is the caller's `If-Match`; a stale one is a 412. Identical
    /// content makes no commit (`changed: false`).
    pub async fn update(
        &self,
        actor: &Principal,
        id: &str,
        expected_commit: Option<&str>,
        input: TemplateInput,
        force: Option<ForcedPublish>,
    ) -> ApiResult<TemplateDetail> {
        self.update_as(actor, id, expected_commit, input, force, GateMode::Enforce)
            .await
    }

    /// [`TemplatesService::update`] with a choice of what a gate refusal does.
    pub(super) async fn update_as(
        &self,
        actor: &Principal,
        id: &str,
        expected_commit: Option<&str>,
        input: TemplateInput,
        force: Option<ForcedPublish>,
        mode: GateMode,
    ) -> ApiResult<TemplateDetail> {
        Self::check_force(actor, &force)?;
        let tenant = actor.tenant_id.clone();
        let _guard = self.write_lock(&tenant).await?;
        let current = self.row(&tenant, id).await?;
        check_expected(&current, expected_commit)?;
        let base = match input.files {
            Some(files) => files,
            None => {
                let mut files = self
                    .files_at(&tenant, &current.id, &current.current_commit)
                    .await?;
                if input.manifest.is_some() {
                    files.retain(|f| f.path != MANIFEST_FILE);
                }
                files
            }
        };
        let files = with_manifest(base, input.manifest.as_ref(), false)?;
        let prepared = self.prepare_version(&tenant, files).await?;
        let version = self
            .check_new_version(actor, &current.id, Some(&current), prepared, &force, mode)
            .await?;
        let m = &version.inspected.manifest;
        let head = if m.version != current.version {
            format!("Update {}: {} → {}", m.name, current.version, m.version)
        } else {
            format!("Update {} {}", m.name, m.version)
        };
        let head = if m.name != current.name {
            format!("{head} (renamed from {})", current.name)
        } else {
            head
        };
        let trailer = format!(
            "\n\nTemplate-Id: {}{}",
            current.id,
            Self::forced_line(actor, &force)
        );
        self.replace_content(actor, current, version, WriteKind::Updated, move |c| {
            format!(
                "{head} ({} changed){trailer}",
                files_word(c.files_changed())
            )
        })
        .await
    }

    /// Makes a new commit whose template content equals `commit`'s.
    pub async fn restore(
        &self,
        actor: &Principal,
        id: &str,
        commit: &str,
        expected_commit: Option<&str>,
        force: Option<ForcedPublish>,
    ) -> ApiResult<TemplateDetail> {
        Self::check_force(actor, &force)?;
        let tenant = actor.tenant_id.clone();
        let _guard = self.write_lock(&tenant).await?;
        let current = self.row(&tenant, id).await?;
        check_expected(&current, expected_commit)?;
        let source = self.resolve_commit(&tenant, &current, commit).await?;
        let files = self.files_at(&tenant, &current.id, &source).await?;
        let prepared = self.prepare_version(&tenant, files).await?;
        let version = self
            .check_new_version(
                actor,
                &current.id,
                Some(&current),
                prepared,
                &force,
                GateMode::Enforce,
            )
            .await?;
        let head = format!(
            "Restore {} to {} ({})",
            version.inspected.manifest.name,
            short(&source),
            version.inspected.manifest.version
        );
        let trailer = format!(
            "\n\nTemplate-Id: {}\nRestored-From: {source}{}",
            current.id,
            Self::forced_line(actor, &force)
        );
        self.replace_content(actor, current, version, WriteKind::Restored, move |c| {
            format!("{head}: {} changed{trailer}", files_word(c.files_changed()))
        })
        .await
    }

    async fn replace_content(
        &self,
        actor: &Principal,
        current: TemplateRow,
        version: NewVersion,
        kind: WriteKind,
        message: impl FnOnce(&git::ChangeSummary) -> String + Send + 'static,
    ) -> ApiResult<TemplateDetail> {
        let who = Authorship::of(Some(&current), actor.display_name(), now_naive());
        let recorded = self
            .commit_version(
                actor,
                &current.id,
                &version,
                &who,
                false,
                message,
                Flush::Now,
            )
            .await?;
        match recorded {
            Recorded::Unchanged => Ok(written(current, &version.files, version.note, false)),
            Recorded::Committed { commit, value: row } => Ok(self
                .announce_version(actor, row, &commit, kind, version)
                .await),
        }
    }

    /// After a new version's commit: [`Self::after_write`] (caches, events), and the answer.
    async fn announce_version(
        &self,
        actor: &Principal,
        row: TemplateRow,
        commit: &str,
        kind: WriteKind,
        version: NewVersion,
    ) -> TemplateDetail {
        self.after_write(
            &actor.tenant_id,
            &row,
            commit,
            actor,
            kind,
            Some(version.digest),
        )
        .await;
        written(row, &version.files, version.note, true)
    }

    /// Deletes a template: one commit `Delete <name> <version>` removing its folder. Its history
    /// and ledger stay.
    pub async fn delete(
        &self,
        actor: &Principal,
        id: &str,
        expected_commit: Option<&str>,
    ) -> ApiResult<()> {
        let tenant = actor.tenant_id.clone();
        let guard = self.write_lock(&tenant).await?;
        let current = self.row(&tenant, id).await?;
        check_expected(&current, expected_commit)?;
        let head = format!("Delete {} {}", current.name, current.version);
        let trailer = format!("\n\nTemplate-Id: {}", current.id);
        let (t, row_id) = (tenant.clone(), current.id.clone());
        let recorded = self
            .commit_then_record(
                &tenant,
                &current.id,
                None,
                author_of(actor),
                move |c| format!("{head} ({} removed){trailer}", files_word(c.removed.len())),
                move |conn, _commit| Ok(store::delete(conn, &t, &row_id)?),
                Flush::Now,
            )
            .await?;
        drop(guard);
        let commit = match recorded {
            Recorded::Committed { commit, .. } => commit,
            Recorded::Unchanged => {
                // The folder was already gone from git: drop the stale row.
                let (t, row_id) = (tenant.clone(), current.id.clone());
                self.inner
                    .db
                    .transaction(move |conn| -> ApiResult<usize> {
                        Ok(store::delete(conn, &t, &row_id)?)
                    })
                    .await?;
                current.current_commit.clone()
            }
        };
        self.after_write(&tenant, &current, &commit, actor, WriteKind::Deleted, None)
            .await;
        Ok(())
    }

    /// Cache invalidation, events and metrics after a committed write. `digest` is the new
    /// content's (see [`content_digest`]) when the caller has it.
    pub(super) async fn after_write(
        &self,
        tenant: &TenantId,
        row: &TemplateRow,
        commit: &str,
        actor: &Principal,
        kind: WriteKind,
        digest: Option<String>,
    ) {
        self.invalidate(tenant).await;
        let change = TemplateChange {
            tenant: tenant.clone(),
            template_id: row.id.clone(),
            name: row.name.clone(),
            category: row.category.clone(),
            version: row.version.clone(),
            commit: commit.to_string(),
            digest,
            actor: actor.clone(),
            at: Utc::now(),
        };
        metrics::counter!("maestro_template_writes_total", "kind" => kind.as_str()).increment(1);
        match kind {
            WriteKind::Created => self.inner.bus.publish(TemplateCreated(change)),
            WriteKind::Updated => self.inner.bus.publish(TemplateUpdated(change)),
            WriteKind::Restored => self.inner.bus.publish(TemplateRestored(change)),
            WriteKind::Deleted => self.inner.bus.publish(TemplateDeleted(change)),
        };
    }

    /// Stores the quality module's score for `commit`, if that is still the template's current
    /// commit. Returns whether it was stored.
    pub async fn set_quality_score(
        &self,
        tenant: &TenantId,
        template_id: &str,
        commit: &str,
        score: f64,
    ) -> ApiResult<bool> {
        let (stored, ()) = self
            .set_quality_score_with(tenant, template_id, commit, score, |_, _| Ok(()))
            .await?;
        Ok(stored)
    }

    /// [`Self::set_quality_score`], with `also` (given whether the score was stored, i.e. the
    /// commit is current) in the same transaction: the quality module's own rows. One
    /// transaction per scored version, whose commit does not wait for the log flush
    /// ([`crate::platform::db::Db::transaction_unflushed`]): it takes the tenant's change counter
    /// (see `store::next_change`), which every write of the tenant waits for, and a score lost
    /// in a database crash is derived data that scoring the template again restores.
    pub async fn set_quality_score_with<T, F>(
        &self,
        tenant: &TenantId,
        template_id: &str,
        commit: &str,
        score: f64,
        also: F,
    ) -> ApiResult<(bool, T)>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, bool) -> ApiResult<T> + Send + 'static,
    {
        if !score.is_finite() || !(0.0..=100.0).contains(&score) {
            return Err(ApiError::validation(
                "Quality scores are between 0 and 100.",
                vec![FieldError::new("score", format!("{score} is out of range"))],
            ));
        }
        let (t, id, c) = (tenant.clone(), template_id.to_string(), commit.to_string());
        let (stored, value) = self
            .inner
            .db
            .transaction_unflushed(move |conn| -> ApiResult<(bool, T)> {
                let stored = store::set_quality(conn, &t, &id, &c, score)? > 0;
                Ok((stored, also(conn, stored)?))
            })
            .await?;
        if stored {
            self.invalidate(tenant).await;
        }
        Ok((stored, value))
    }
}

/// The answer to a write: the stored row with the files just written (no git read) and the
/// publish gate's note.
/// A version the gate refused but kept as a draft ([`GateMode::DraftOnRefusal`]) is a draft row;
/// every other new version is published.
fn mark_draft(row: &mut TemplateRow, draft: &Option<Value>) {
    if let Some(record) = draft {
        row.status = TemplateStatus::Draft.as_str().to_string();
        row.draft_gate = Some(record.to_string());
    }
}

fn written(
    row: TemplateRow,
    files: &[SourceFile],
    note: Option<Value>,
    changed: bool,
) -> TemplateDetail {
    TemplateDetail {
        template: TemplateSummary::from(&row),
        manifest: serde_json::from_str(&row.manifest).unwrap_or(Value::Null),
        parameters: serde_json::from_str(&row.parameters).unwrap_or(Value::Array(Vec::new())),
        files: files.iter().map(|f| file_entry(f, false)).collect(),
        gate: note,
        changed: Some(changed),
    }
}

/// Stores a template's registry row as of `commit`: inserted when `new`, else updated. A name
/// another writer took meanwhile is a 409, a template deleted meanwhile a 404.
pub(super) fn store_row(
    conn: &mut DbConnection,
    tenant: &TenantId,
    row: TemplateRow,
    commit: &str,
    new: bool,
) -> ApiResult<TemplateRow> {
    let row = TemplateRow {
        current_commit: commit.to_string(),
        ..row
    };
    let outcome = if new {
        store::insert(conn, tenant, &row)?
    } else {
        store::update(conn, tenant, &row)?
    };
    match outcome {
        RowWrite::Written => Ok(row),
        RowWrite::NameTaken => Err(TemplatesError::NameTaken {
            name: row.name.clone(),
            id: None,
        }
        .into()),
        RowWrite::Missing => Err(TemplatesError::not_found().into()),
    }
}

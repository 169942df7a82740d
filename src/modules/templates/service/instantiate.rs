//! Instantiation: validate the parameters, render through [`crate::render`] on the blocking
//! pool, check every output path, record the instantiation in the ledger (unless a dry run)
//! and publish a usage event.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{TemplatesService, now_naive};
use crate::modules::templates::answers::{self, AnswersFile, AnswersTemplate, writable_answers};
use crate::modules::templates::archive;
use crate::modules::templates::error::TemplatesError;
use crate::modules::templates::model::{InstantiationView, TemplateSummary};
use crate::modules::templates::spec;
use crate::modules::templates::store::{self, InstantiationRow, TemplateRow};
use crate::platform::auth::{Principal, TenantId};
use crate::platform::blocking::run_blocking;
use crate::platform::http::error::{ApiError, ApiResult};
use crate::platform::http::pagination::{Page, PageQuery};
use crate::render::{self, RenderOptions, RenderOutput};

/// Where an instantiation came from (recorded in the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstantiationSource {
    Http,
    Stream,
    Workflow,
}

impl InstantiationSource {
    pub fn as_str(self) -> &'static str {
        match self {
            InstantiationSource::Http => "http",
            InstantiationSource::Stream => "stream",
            InstantiationSource::Workflow => "workflow",
        }
    }
}

/// One instantiation request, independent of the transport.
#[derive(Debug, Clone, Default)]
pub struct InstantiateRequest {
    pub parameters: Map<String, Value>,
    /// A commit of the template (full id or unique prefix from its history).
    pub version: Option<String>,
    pub dry_run: bool,
    /// Fixed clock and seed (reproducible output).
    pub now: Option<DateTime<Utc>>,
    pub seed: Option<u64>,
    /// `zip`, `tar.gz` or `json`, recorded in the ledger.
    pub output_format: String,
    /// Write the answers file: `None` = the template's default (native: yes, unless the
    /// manifest opts out; cookiecutter: no, so the output stays byte-identical).
    pub answers_file: Option<bool>,
    /// A label or repository URL for the generated project (drift report).
    pub project_label: Option<String>,
    /// Maestro's URL as the caller reached it (written into the answers file).
    pub server_url: Option<String>,
}

/// One render of a template version, without the ledger: what instantiation and update share.
#[derive(Debug, Clone)]
pub(super) struct RenderedVersion {
    pub format: &'static str,
    /// The manifest's version at the rendered commit.
    pub version: String,
    /// The resolved public parameters.
    pub parameters: Map<String, Value>,
    pub output: RenderOutput,
    /// `(path including root_dir, content, executable)` in generation order.
    pub files: Vec<(String, Vec<u8>, bool)>,
    pub empty_dirs: Vec<String>,
    /// Where the answers file goes (including root_dir), when the template writes one.
    pub answers_path: Option<String>,
    /// Parameters never written to the answers file.
    pub secret: Vec<String>,
}

/// A finished render.
#[derive(Debug, Clone)]
pub struct Instantiated {
    pub template: TemplateSummary,
    pub commit: String,
    pub format: &'static str,
    pub output: RenderOutput,
    /// `(path including root_dir, content, executable)` in generation order.
    pub files: Vec<(String, Vec<u8>, bool)>,
    pub empty_dirs: Vec<String>,
    pub checksum: String,
    pub parameters: Map<String, Value>,
    pub instantiation_id: Option<String>,
    pub warnings: Vec<String>,
    /// The clock used (also the archive entries' modification time).
    pub now: DateTime<Utc>,
}

impl Instantiated {
    /// The files as a `kind` archive. CPU-bound on large renders: callers that can wait run it
    /// off the async workers.
    pub fn archive(&self, kind: archive::ArchiveKind) -> anyhow::Result<Vec<u8>> {
        let entries: Vec<archive::OutEntry<'_>> = self
            .files
            .iter()
            .map(|(p, c, x)| archive::OutEntry {
                path: p,
                content: c,
                executable: *x,
            })
            .collect();
        archive::write(kind, &entries, &self.empty_dirs, self.now)
    }

    /// The download's file name stem: the root dir, else the template's name, with anything but
    /// ASCII letters, digits, `-`, `_` and `.` replaced by `_` (safe inside a quoted header).
    pub fn download_stem(&self) -> String {
        self.output
            .root_dir
            .as_deref()
            .unwrap_or(&self.template.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

impl TemplatesService {
    /// Validates parameters, renders, and (unless a dry run) records the instantiation.
    pub async fn instantiate(
        &self,
        actor: &Principal,
        id: &str,
        request: InstantiateRequest,
        source: InstantiationSource,
    ) -> ApiResult<Instantiated> {
        let tenant = actor.tenant_id.clone();
        let row = self.row(&tenant, id).await?;
        // Drafts are a 404 for viewers on every way in: HTTP, the stream edge, workflow steps.
        if row.status().hidden_from(actor.role) {
            return Err(TemplatesError::not_found().into());
        }
        let commit = match &request.version {
            Some(v) => self.resolve_commit(&tenant, &row, v).await?,
            None => row.current_commit.clone(),
        };
        let reproducible = request.now.is_some() || request.seed.is_some();
        let now = request.now.unwrap_or_else(|| {
            if reproducible {
                fixed_clock()
            } else {
                Utc::now()
            }
        });
        let seed = request.seed.or(reproducible.then_some(0));
        let RenderedVersion {
            format,
            version,
            parameters: resolved,
            output,
            mut files,
            empty_dirs,
            answers_path,
            secret,
        } = self
            .render_version(
                &tenant,
                &row,
                &commit,
                request.parameters.clone(),
                now,
                seed,
                request.answers_file,
                false,
            )
            .await?;
        let ledger_id = (!request.dry_run).then(|| uuid::Uuid::new_v4().to_string());
        if let Some(path) = answers_path {
            let file = AnswersFile {
                template: AnswersTemplate {
                    id: row.id.clone(),
                    name: row.name.clone(),
                    commit: commit.clone(),
                    version: version.clone(),
                    url: request.server_url.clone(),
                },
                instantiation_id: ledger_id.clone(),
                answers: writable_answers(&resolved, &secret),
            };
            put_file(&mut files, path, file.to_yaml());
        }
        let checksum = output_checksum(&files);
        let total_bytes: i64 = files.iter().map(|f| f.1.len() as i64).sum();
        let instantiation_id = if let Some(ledger_id) = ledger_id {
            let ledger = InstantiationRow {
                id: ledger_id,
                tenant_id: tenant.0.clone(),
                template_id: row.id.clone(),
                template_name: row.name.clone(),
                category: row.category.clone(),
                commit_id: commit.clone(),
                version: version.clone(),
                user_id: actor.user_id.clone(),
                actor: actor.display_name(),
                parameters: Value::Object(resolved.clone()).to_string(),
                checksum: checksum.clone(),
                file_count: files.len() as i64,
                total_bytes,
                output_format: request.output_format.clone(),
                source: source.as_str().to_string(),
                created_at: now_naive(),
                project_id: None,
                project_label: request.project_label.clone(),
                from_commit: None,
                conflicts: None,
            };
            let ledger_id = ledger.id.clone();
            self.record_ledger(&tenant, ledger).await?;
            metrics::counter!("maestro_template_instantiations_total", "category" => row.category.clone()).increment(1);
            self.usage_event(
                "instantiation",
                &tenant,
                &row.id,
                actor,
                &json!({
                    "instantiation_id": ledger_id,
                    "commit": commit,
                    "checksum": checksum,
                    "file_count": files.len(),
                    "source": source.as_str(),
                }),
            );
            Some(ledger_id)
        } else {
            None
        };
        Ok(Instantiated {
            warnings: output.warnings.clone(),
            template: TemplateSummary::from(&row),
            commit,
            format,
            output,
            files,
            empty_dirs,
            checksum,
            parameters: resolved,
            instantiation_id,
            now,
        })
    }

    /// Renders one version of a template with the given answers (validated against that
    /// version's schema: a 422 names each bad one) on the blocking pool, and checks every output
    /// path. Nothing is recorded.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn render_version(
        &self,
        tenant: &TenantId,
        row: &TemplateRow,
        commit: &str,
        parameters: Map<String, Value>,
        now: DateTime<Utc>,
        seed: Option<u64>,
        answers_file: Option<bool>,
        only_known: bool,
    ) -> ApiResult<RenderedVersion> {
        let files = self.files_at(tenant, &row.id, commit).await?;
        let settings = self.inner.settings.clone();
        let template_name = row.name.clone();
        // Issue 14: an imported template's cookiecutter source is its git URL and ref.
        let cookiecutter_source = self
            .cookiecutter_source(tenant, &row.id, &template_name)
            .await?;
        // Rendering is CPU work: keep it off the async workers.
        let rendered = run_blocking("render", move || -> ApiResult<_> {
            let inspected = spec::inspect(&files)?;
            let inputs = inspected.render_inputs(&files);
            let options = RenderOptions {
                now: Some(now),
                seed,
                max_output_files: settings.max_output_files,
                max_output_bytes: settings.max_output_bytes,
                source: cookiecutter_source,
                ..RenderOptions::default()
            };
            let mut parameters = parameters;
            if only_known {
                // Answers to parameters this version does not have are dropped.
                parameters.retain(|name, _| inspected.parameters.iter().any(|p| p.name == *name));
            }
            let context = render::resolve_parameters(&inspected.spec, &parameters, &options)
                .map_err(|errors| {
                    ApiError::validation(
                        "Some parameters are invalid.",
                        errors
                            .into_iter()
                            .map(|mut e| {
                                if !e.field.starts_with("parameters") {
                                    e.field = format!("parameters.{}", e.field);
                                }
                                e
                            })
                            .collect(),
                    )
                })?;
            let output = render::render(&inspected.spec, &inputs, &context, &options)
                .map_err(TemplatesError::from)?;
            let answers = answers::answers_path(&inspected.spec, &files, answers_file);
            let secret = answers::secret_parameters(&files);
            let version = inspected.manifest.version.clone();
            Ok((
                inspected.format(),
                version,
                context.parameters,
                output,
                answers,
                secret,
            ))
        })
        .await??;
        let (format, version, parameters, output, answers, secret) = rendered;
        let prefix = output
            .root_dir
            .as_ref()
            .map(|r| format!("{r}/"))
            .unwrap_or_default();
        for file in &output.files {
            // The renderer already refuses unsafe names; check again before anything leaves.
            archive::check_path(&format!("{prefix}{}", file.path))?;
        }
        let files: Vec<(String, Vec<u8>, bool)> = output
            .files
            .iter()
            .map(|f| {
                (
                    format!("{prefix}{}", f.path),
                    f.content.clone(),
                    f.executable,
                )
            })
            .collect();
        let empty_dirs: Vec<String> = output
            .empty_dirs
            .iter()
            .map(|d| format!("{prefix}{d}"))
            .collect();
        Ok(RenderedVersion {
            format,
            version,
            parameters,
            output,
            files,
            empty_dirs,
            answers_path: answers.map(|a| format!("{prefix}{a}")),
            secret,
        })
    }

    /// Writes one ledger entry: an instantiation, or an update of a generated project.
    pub(super) async fn record_ledger(
        &self,
        tenant: &TenantId,
        entry: InstantiationRow,
    ) -> ApiResult<()> {
        let t = tenant.clone();
        self.inner
            .db
            .run(move |conn| -> ApiResult<()> {
                Ok(store::insert_instantiation(conn, &t, &entry)?)
            })
            .await
    }

    pub async fn instantiations(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<InstantiationView>> {
        let row = self.row(tenant, id).await?;
        let t = tenant.clone();
        self.inner
            .db
            .page(
                page,
                move |conn, limit, offset| {
                    Ok(store::list_instantiations(
                        conn, &t, &row.id, limit, offset,
                    )?)
                },
                InstantiationView::from,
            )
            .await
    }

    /// Queues a usage event (`templates:usage`): buffered in-process and written in pipelined
    /// batches, so the caller never waits for Redis; repeats within the coalescing window (the
    /// same user viewing the same commit) become one entry with a `count` (see
    /// `Edge::publish_buffered`). `detail` goes out as JSON; a view passes a [`ViewDetail`], which
    /// writes itself without a map or an allocation (this runs on every GET of a template).
    pub fn usage_event(
        &self,
        event: &str,
        tenant: &TenantId,
        template_id: &str,
        actor: &Principal,
        detail: &impl UsageDetail,
    ) {
        let Some(edge) = &self.inner.edge else {
            return;
        };
        // Written into the thread's own buffer: a repeat (the usual case) then allocates nothing.
        thread_local! {
            static DETAIL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        DETAIL.with_borrow_mut(|buffer| {
            buffer.clear();
            detail.write_json(buffer);
            edge.publish_buffered(
                crate::modules::templates::stream::USAGE,
                &[
                    ("event", event),
                    ("template_id", template_id),
                    ("tenant_id", tenant.as_str()),
                    ("user_id", &actor.user_id),
                    ("detail", buffer),
                ],
            );
        });
    }
}

/// The `detail` of a usage event, as JSON.
pub trait UsageDetail {
    fn write_json(&self, out: &mut String);
}

impl UsageDetail for serde_json::Value {
    fn write_json(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
}

/// The `detail` of a `view` usage event.
#[derive(serde::Serialize)]
pub struct ViewDetail<'a> {
    /// The commit the viewer was served.
    pub commit: &'a str,
    /// How the template was read, when not through the HTTP API (`stream`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'a str>,
}

impl UsageDetail for ViewDetail<'_> {
    /// By hand when the commit needs no escaping (a hex id, as every commit is): serde escapes
    /// byte by byte, and this runs on every GET of a template.
    fn write_json(&self, out: &mut String) {
        if self.via.is_none() && json_plain(self.commit) {
            out.push_str("{\"commit\":\"");
            out.push_str(self.commit);
            out.push_str("\"}");
        } else {
            out.push_str(&serde_json::to_string(self).unwrap_or_default());
        }
    }
}

/// Whether `s` stands in a JSON string as it is: no quote, backslash or control character (all
/// below `0` but the backslash). Without a short circuit, so the compiler makes vector code of it.
fn json_plain(s: &str) -> bool {
    s.bytes()
        .fold(true, |plain, b| plain & (b >= b'0') & (b != b'\\'))
}

/// sha256 over the rendered output: for each file in generation order, its path, mode and
/// content (length-prefixed), so any change to a name, bit or byte changes the checksum.
pub fn output_checksum(files: &[(String, Vec<u8>, bool)]) -> String {
    let mut hasher = Sha256::new();
    for (path, content, executable) in files {
        hasher.update((path.len() as u64).to_be_bytes());
        hasher.update(path.as_bytes());
        hasher.update([u8::from(*executable)]);
        hasher.update((content.len() as u64).to_be_bytes());
        hasher.update(content);
    }
    hex::encode(hasher.finalize())
}

/// Adds or replaces one output file.
pub(super) fn put_file(files: &mut Vec<(String, Vec<u8>, bool)>, path: String, content: Vec<u8>) {
    match files.iter_mut().find(|f| f.0 == path) {
        Some(existing) => {
            existing.1 = content;
            existing.2 = false;
        }
        None => files.push((path, content, false)),
    }
}

/// A Y2K clock for reproducible renders when only a seed is given.
pub(super) fn fixed_clock() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_depend_on_names_modes_and_bytes() {
        let a = vec![("x".to_string(), b"1".to_vec(), false)];
        let b = vec![("x".to_string(), b"1".to_vec(), true)];
        let c = vec![("y".to_string(), b"1".to_vec(), false)];
        assert_ne!(output_checksum(&a), output_checksum(&b));
        assert_ne!(output_checksum(&a), output_checksum(&c));
        assert_eq!(output_checksum(&a), output_checksum(&a.clone()));
    }

    #[test]
    fn a_view_detail_written_by_hand_is_the_json_serde_writes() {
        let commits = [
            "0123456789abcdef0123456789abcdef01234567",
            "",
            "v1\"}, \"x",
            "é\n",
        ];
        for commit in commits {
            for via in [None, Some("stream")] {
                let detail = ViewDetail { commit, via };
                let mut written = String::new();
                detail.write_json(&mut written);
                let parsed: serde_json::Value = serde_json::from_str(&written).unwrap();
                assert_eq!(parsed, serde_json::to_value(&detail).unwrap(), "{written}");
                assert_eq!(parsed["commit"], commit);
            }
        }
    }
}

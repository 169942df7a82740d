//! Template pages: the catalog (search as you type, filters in the URL, server paging), a
//! template's detail (README, parameters, files, versions, diff, quality breakdown, ledger,
//! restore), the file viewer, and the "use template" form with its live dry-run preview.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{OffsetQuery, Ui, clean, lenient_i64, list_links, page_query};
use crate::console::Console;
use crate::console::markdown;
use crate::console::session::{CsrfForm, UiError, UiResult};
use crate::console::view::{self, Ctx};
use crate::modules::quality::QualityService;
use crate::modules::templates::archive::ArchiveKind;
use crate::modules::templates::model::{ListQuery, TemplateDetail, TemplateStatus};
use crate::modules::templates::service::{InstantiateRequest, Instantiated, InstantiationSource};
use crate::modules::templates::{ForcedPublish, TemplatesService};
use crate::platform::auth::Role;
use crate::platform::blocking::run_blocking;
use crate::platform::http::error::ApiError;
use crate::platform::http::pagination::PageQuery;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/templates", web::get().to(catalog))
        .route("/templates/drift", web::get().to(drift))
        .route("/templates/{id}", web::get().to(detail))
        .route("/templates/{id}/diff", web::get().to(diff))
        .route("/templates/{id}/files/{path:.*}", web::get().to(file))
        .route("/templates/{id}/restore", web::post().to(restore))
        .route("/templates/{id}/publish", web::post().to(publish))
        .route("/templates/{id}/use", web::get().to(use_form))
        .route("/templates/{id}/preview", web::post().to(preview))
        .route("/templates/{id}/download", web::post().to(download));
}

fn min_score(console: &Console) -> u32 {
    console
        .quality
        .as_ref()
        .map(|q| q.settings().min_score)
        .unwrap_or(70)
}

#[derive(Debug, Default, Deserialize)]
struct CatalogQuery {
    text: Option<String>,
    category: Option<String>,
    tags: Option<String>,
    sort: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

/// `/ui/templates`: the catalog. An htmx request (search as you type) gets the results only.
async fn catalog(ui: Ui<TemplatesService>, query: web::Query<CatalogQuery>) -> UiResult {
    let (req, console, session, service) = (&ui.req, &ui.console, &ui.session, &ui.service);
    let tenant = &session.principal.tenant_id;
    let q = query.into_inner();
    let page = page_query(lenient_i64(&q.limit), lenient_i64(&q.offset));
    let list = ListQuery {
        text: clean(&q.text),
        category: clean(&q.category),
        tags: clean(&q.tags),
        min_quality: None,
        sort: clean(&q.sort),
        limit: page.limit,
        offset: page.offset,
    };
    let published_only = TemplateStatus::only_published_for(session.role());
    let (results, problem) = match service.list(tenant, &list, published_only).await {
        Ok(p) => (Some(p), None),
        // A filter the search cannot use is shown above the (empty) results, not as an error
        // page: it happens while typing.
        Err(e) if e.status.is_client_error() => {
            let fields: Vec<String> = e
                .errors
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            (None, Some(format!("{} {}", e.detail, fields.join("; "))))
        }
        Err(e) => return Err(e.into()),
    };
    let mut ctx = catalog_ctx(
        ui.ctx(),
        results.as_ref(),
        problem,
        &list,
        min_score(console),
        console.quality.is_some(),
    );
    if view::is_htmx(req) {
        return view::ok("catalog_results.html", ctx);
    }
    ctx = ctx.set(
        "categories",
        service.categories(tenant, session.role()).await?,
    );
    view::ok("catalog.html", ctx)
}

/// `/ui/templates/drift`: generated projects behind their template's current version.
async fn drift(ui: Ui<TemplatesService>, query: web::Query<OffsetQuery>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let page = service
        .drift(
            &session.principal.tenant_id,
            session.role(),
            &query.page(20),
        )
        .await?;
    let ctx = ui
        .ctx()
        .set("page", &page)
        .set("base", "/ui/templates/drift?")
        .set("json_url", "/api/v1/templates/drift");
    view::ok("drift.html", ctx)
}

/// The catalog's view: results (or the problem with the filters), filters, pager and JSON link.
pub(crate) fn catalog_ctx(
    ctx: Ctx,
    results: Option<
        &crate::platform::http::pagination::Page<crate::modules::templates::model::TemplateSummary>,
    >,
    problem: Option<String>,
    list: &ListQuery,
    min_score: u32,
    quality_on: bool,
) -> Ctx {
    let filters = [
        ("text", list.text.clone()),
        ("category", list.category.clone()),
        ("tags", list.tags.clone()),
        ("sort", list.sort.clone()),
    ];
    let ctx = list_links(ctx, "/ui/templates", "/api/v1/templates", &filters);
    ctx.set("page", results)
        .set("problem", problem)
        .set(
            "q",
            json!({
                "text": list.text, "category": list.category, "tags": list.tags, "sort": list.sort,
            }),
        )
        .set("min_score", min_score)
        .set("quality_on", quality_on)
}

/// README first: `README.md`, then any top-level `readme*`.
fn readme_of(files: &[crate::render::SourceFile]) -> Option<(String, String)> {
    let top: Vec<&crate::render::SourceFile> =
        files.iter().filter(|f| !f.path.contains('/')).collect();
    let found = top.iter().find(|f| f.path == "README.md").or_else(|| {
        top.iter()
            .find(|f| f.path.to_ascii_lowercase().starts_with("readme"))
    })?;
    let text = String::from_utf8_lossy(&found.content).into_owned();
    let lower = found.path.to_ascii_lowercase();
    let html = if lower.ends_with(".md") || lower.ends_with(".markdown") {
        markdown::render(&text)
    } else {
        // Not Markdown: escaped text in a <pre>.
        format!("<pre>{}</pre>", view::html_escape(&text))
    };
    Some((found.path.clone(), html))
}

#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    versions_offset: Option<String>,
    ledger_offset: Option<String>,
}

/// `/ui/templates/{id}`.
async fn detail(
    ui: Ui<TemplatesService>,
    id: web::Path<String>,
    query: web::Query<DetailQuery>,
) -> UiResult {
    let (console, session, service) = (&ui.console, &ui.session, &ui.service);
    let tenant = session.principal.tenant_id.clone();
    let detail = service.detail(&tenant, &id, false).await?;
    TemplatesService::check_visible(&detail.template, session.role())?;
    let id = detail.template.id.clone();
    let content = service.get_content(&tenant, &id, None).await?;
    let versions = service
        .versions(
            &tenant,
            &id,
            &page_query(Some(20), lenient_i64(&query.versions_offset)),
        )
        .await?;
    let ledger = service
        .instantiations(
            &tenant,
            &id,
            &page_query(Some(10), lenient_i64(&query.ledger_offset)),
        )
        .await?;
    let readme = readme_of(&content.files);
    let (evaluation, history) = match &console.quality {
        Some(_) => {
            let files = content.files.clone();
            let min = min_score(console);
            let eval = run_blocking("console.quality", move || {
                QualityService::evaluate_files(&files, min)
            })
            .await
            .map_err(ApiError::from)?;
            let history = match &console.quality {
                Some(q) => Some(
                    q.history(&tenant, session.role(), &id, &PageQuery::new(10, 0))
                        .await?,
                ),
                None => None,
            };
            (Some(eval), history)
        }
        None => (None, None),
    };
    let ctx = ui
        .ctx()
        .set("t", &detail.template)
        .set("parameters", &detail.parameters)
        .set("files", &detail.files)
        .set("readme_path", readme.as_ref().map(|r| r.0.clone()))
        // Rendered by `markdown::render` (raw HTML dropped, links cleaned): the only `|safe`.
        .set("readme_html", readme.map(|r| r.1))
        .set("versions", &versions)
        .set("versions_base", format!("/ui/templates/{id}?"))
        .set("ledger", &ledger)
        .set("evaluation", &evaluation)
        .set("history", &history)
        .set("min_score", min_score(console))
        .set("json_url", format!("/api/v1/templates/{id}"));
    view::ok("template.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
struct FileQuery {
    version: Option<String>,
}

/// `/ui/templates/{id}/files/{path}`: one file, escaped (binary files are not shown).
async fn file(
    ui: Ui<TemplatesService>,
    path: web::Path<(String, String)>,
    query: web::Query<FileQuery>,
) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let (id, file_path) = path.into_inner();
    let tenant = &session.principal.tenant_id;
    let template = service.get(tenant, &id).await?;
    TemplatesService::check_visible(&template, session.role())?;
    let version = query.version.as_deref().filter(|v| !v.is_empty());
    let (file, commit) = service
        .file(tenant, &template.id, &file_path, version)
        .await?;
    let binary = std::str::from_utf8(&file.content).is_err() || file.content.contains(&0);
    let text = (!binary).then(|| String::from_utf8_lossy(&file.content).into_owned());
    let mut json_url = format!("/api/v1/templates/{}/files/{}", template.id, file.path);
    if let Some(v) = version {
        json_url.push_str(&format!(
            "?version={}",
            crate::console::session::urlencode(v)
        ));
    }
    let ctx = ui
        .ctx()
        .set("t", &template)
        .set("file_path", &file.path)
        .set("size", file.content.len())
        .set("executable", file.executable)
        .set("text", text)
        .set("commit", commit)
        .set("json_url", json_url);
    view::ok("file.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Debug, Serialize)]
struct DiffLine {
    kind: &'static str,
    text: String,
}

#[derive(Debug, Serialize)]
struct DiffFile {
    path: String,
    change: String,
    binary: bool,
    lines: Vec<DiffLine>,
}

/// `/ui/templates/{id}/diff?from=…&to=…` (to defaults to the current version).
async fn diff(
    ui: Ui<TemplatesService>,
    id: web::Path<String>,
    query: web::Query<DiffQuery>,
) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let tenant = &session.principal.tenant_id;
    let template = service.get(tenant, &id).await?;
    TemplatesService::check_visible(&template, session.role())?;
    let versions = service
        .versions(tenant, &template.id, &PageQuery::new(100, 0))
        .await?;
    let from = query
        .from
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| versions.items.get(1).map(|v| v.commit.clone()))
        .unwrap_or_else(|| template.current_commit.clone());
    let to = query.to.clone().filter(|s| !s.is_empty());
    let d = service
        .diff(tenant, &template.id, &from, to.as_deref())
        .await?;
    let files: Vec<DiffFile> = d
        .files
        .iter()
        .map(|f| DiffFile {
            path: f.path.clone(),
            change: f.change.clone(),
            binary: f.binary,
            lines: f
                .diff
                .lines()
                .map(|l| DiffLine {
                    kind: if l.starts_with("@@") {
                        "hunk"
                    } else if l.starts_with("+++") || l.starts_with("---") {
                        "meta"
                    } else if l.starts_with('+') {
                        "add"
                    } else if l.starts_with('-') {
                        "del"
                    } else {
                        "ctx"
                    },
                    text: l.to_string(),
                })
                .collect(),
        })
        .collect();
    let json_url = format!(
        "/api/v1/templates/{}/diff?from={}&to={}",
        template.id, d.from, d.to
    );
    let ctx = ui
        .ctx()
        .set("t", &template)
        .set(
            "d",
            json!({
                "from": d.from, "to": d.to, "files_changed": d.files_changed,
                "insertions": d.insertions, "deletions": d.deletions,
            }),
        )
        .set("files", files)
        .set("versions", &versions.items)
        .set("json_url", json_url);
    view::ok("diff.html", ctx)
}

/// `POST /ui/templates/{id}/restore` (editors): makes an earlier version current again.
async fn restore(ui: Ui<TemplatesService>, id: web::Path<String>, form: CsrfForm) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Editor)?;
    let commit = form.text("commit").ok_or_else(|| {
        ApiError::validation(
            "Choose the version to restore.",
            vec![crate::platform::http::error::FieldError::new(
                "commit", "required",
            )],
        )
    })?;
    let expected = form.text("expected");
    let detail = service
        .restore(&principal, &id, &commit, expected.as_deref(), None)
        .await?;
    Ok(view::see_other(format!(
        "/ui/templates/{}?restored={}",
        detail.template.id,
        crate::console::session::urlencode(&detail.template.current_commit)
    )))
}

/// `POST /ui/templates/{id}/publish` (editors): publishes a draft when the gate now passes; a
/// `reason` makes it an admin's forced publish, as `POST /api/v1/templates/{id}/publish` does.
async fn publish(ui: Ui<TemplatesService>, id: web::Path<String>, form: CsrfForm) -> UiResult {
    let principal = ui.session.as_role(Role::Editor)?;
    // A blank reason is sent as it is, so the answer says to give one (not a gate refusal).
    let force = form.get("reason").map(|reason| ForcedPublish {
        reason: reason.to_string(),
    });
    let published = ui.service.publish(&principal, &id, force).await?;
    Ok(view::see_other(format!("/ui/templates/{}", published.id)))
}

/// One parameter as the form shows it.
#[derive(Debug, Serialize)]
struct Field {
    index: usize,
    name: String,
    kind: String,
    help: Option<String>,
    required: bool,
    pattern: Option<String>,
    default: Option<String>,
    choices: Vec<String>,
    value: String,
    error: Option<String>,
    /// Schema keywords this form does not render (named on the form, never silently dropped).
    unsupported: Vec<String>,
}

/// The parameter keywords the form renders; any other keyword of a parameter is listed beside
/// the field so the user knows the form does not show it.
const RENDERED_KEYWORDS: &[&str] = &[
    "name", "type", "default", "choices", "pattern", "required", "help",
];
const RENDERED_TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "choice", "list", "object",
];

fn unsupported_keywords(p: &Value, kind: &str) -> Vec<String> {
    let mut out: Vec<String> = p
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !RENDERED_KEYWORDS.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if !RENDERED_TYPES.contains(&kind) {
        out.push(format!("type: {kind}"));
    }
    out
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn fields_of(
    parameters: &Value,
    values: &Map<String, Value>,
    errors: &[(String, String)],
) -> Vec<Field> {
    parameters
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(index, p)| {
            let name = p.get("name")?.as_str()?.to_string();
            let kind = p
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string")
                .to_string();
            let error = errors
                .iter()
                .filter(|(f, _)| f == &name || f.strip_prefix("parameters.") == Some(name.as_str()))
                .map(|(_, m)| m.clone())
                .collect::<Vec<_>>();
            Some(Field {
                index,
                value: values.get(&name).map(display).unwrap_or_default(),
                help: p.get("help").and_then(Value::as_str).map(str::to_string),
                required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                pattern: p.get("pattern").and_then(Value::as_str).map(str::to_string),
                default: p.get("default").map(display),
                choices: p
                    .get("choices")
                    .and_then(Value::as_array)
                    .map(|c| c.iter().map(display).collect())
                    .unwrap_or_default(),
                error: (!error.is_empty()).then(|| error.join("; ")),
                unsupported: unsupported_keywords(p, &kind),
                name,
                kind,
            })
        })
        .collect()
}

/// Form fields (`p.<name>`) to the parameters JSON, typed by the schema. An empty field is left
/// out, so the template's default (which may reference earlier answers) applies.
fn parameters_from(parameters: &Value, pairs: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    let specs = parameters
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default();
    for spec in specs {
        let Some(name) = spec.get("name").and_then(Value::as_str) else {
            continue;
        };
        let key = format!("p.{name}");
        let Some(raw) = pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.trim()) else {
            continue;
        };
        if raw.is_empty() {
            continue;
        }
        let kind = spec.get("type").and_then(Value::as_str).unwrap_or("string");
        let value = match kind {
            "integer" => raw
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| raw.into()),
            "number" => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| raw.into()),
            "boolean" => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                other => other.into(),
            },
            "choice" => spec
                .get("choices")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| display(c) == raw).cloned())
                .unwrap_or_else(|| raw.into()),
            "list" | "object" => serde_json::from_str(raw).unwrap_or_else(|_| raw.into()),
            _ => raw.into(),
        };
        out.insert(name.to_string(), value);
    }
    out
}

/// A rendered file for the preview (text escaped by the template; binary summarised).
#[derive(Debug, Serialize)]
struct PreviewFile {
    path: String,
    size: usize,
    executable: bool,
    text: Option<String>,
    truncated: bool,
}

const PREVIEW_FILE_BYTES: usize = 64 * 1024;
const PREVIEW_TOTAL_BYTES: usize = 512 * 1024;

fn preview_files(files: &[(String, Vec<u8>, bool)]) -> Vec<PreviewFile> {
    let mut budget = PREVIEW_TOTAL_BYTES;
    files
        .iter()
        .map(|(path, content, executable)| {
            let binary = content.contains(&0) || std::str::from_utf8(content).is_err();
            let take = content.len().min(PREVIEW_FILE_BYTES).min(budget);
            let text = (!binary && take > 0).then(|| {
                let mut end = take;
                let s = String::from_utf8_lossy(&content[..end]).into_owned();
                while !s.is_char_boundary(end.min(s.len())) {
                    end -= 1;
                }
                s
            });
            budget = budget.saturating_sub(take);
            PreviewFile {
                path: path.clone(),
                size: content.len(),
                executable: *executable,
                truncated: !binary && take < content.len(),
                text,
            }
        })
        .collect()
}

struct UseState {
    values: Map<String, Value>,
    errors: Vec<(String, String)>,
    general: Vec<String>,
    preview: Option<Value>,
}

/// The "use" page at `status`, showing `state`.
async fn use_page(
    ui: &Ui<TemplatesService>,
    id: &str,
    version: Option<String>,
    state: UseState,
    status: StatusCode,
) -> UiResult {
    let tenant = &ui.session.principal.tenant_id;
    let detail = ui.service.detail(tenant, id, false).await?;
    TemplatesService::check_visible(&detail.template, ui.session.role())?;
    let fields = fields_of(&detail.parameters, &state.values, &state.errors);
    let ctx = ui
        .ctx()
        .set("t", &detail.template)
        .set(
            "unsupported",
            fields
                .iter()
                .filter(|f| !f.unsupported.is_empty())
                .map(|f| (f.name.clone(), f.unsupported.join(", ")))
                .collect::<Vec<_>>(),
        )
        .set("fields", fields)
        .set("version", version)
        .set("general_errors", state.general)
        .set("preview", state.preview)
        .set(
            "json_url",
            format!("/api/v1/templates/{}/instantiate", detail.template.id),
        );
    view::page(status, "use.html", ctx)
}

/// `/ui/templates/{id}/use`: the form, prefilled from the query string (`?name=value`, or
/// `?from=<instantiation id>` to re-run with an earlier instantiation's answers).
async fn use_form(
    ui: Ui<TemplatesService>,
    id: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> UiResult {
    let (service, tenant) = (&ui.service, &ui.session.principal.tenant_id);
    let detail = service.detail(tenant, &id, false).await?;
    TemplatesService::check_visible(&detail.template, ui.session.role())?;
    let mut values = Map::new();
    let mut version = None;
    for (k, v) in query.iter() {
        match k.as_str() {
            "version" => version = Some(v.clone()).filter(|v| !v.is_empty()),
            "from" => {
                // The ledger keeps the answers; find that instantiation among the recent ones.
                let ledger = service
                    .instantiations(tenant, &detail.template.id, &PageQuery::new(100, 0))
                    .await?;
                if let Some(entry) = ledger.items.iter().find(|e| &e.id == v)
                    && let Some(map) = entry.parameters.as_object()
                {
                    values.extend(map.clone());
                    version = Some(entry.commit.clone());
                }
            }
            name => {
                values.insert(name.to_string(), Value::String(v.clone()));
            }
        }
    }
    let state = UseState {
        values,
        errors: Vec::new(),
        general: Vec::new(),
        preview: None,
    };
    let id = &detail.template.id;
    use_page(&ui, id, version, state, StatusCode::OK).await
}

/// A submitted "use" form: its template, the answers as typed and the version asked for.
struct Answers {
    detail: TemplateDetail,
    values: Map<String, Value>,
    version: Option<String>,
}

async fn answers(ui: &Ui<TemplatesService>, id: &str, form: &CsrfForm) -> Result<Answers, UiError> {
    let detail = ui
        .service
        .detail(&ui.session.principal.tenant_id, id, false)
        .await?;
    TemplatesService::check_visible(&detail.template, ui.session.role())?;
    let values = parameters_from(&detail.parameters, &form.0);
    Ok(Answers {
        detail,
        values,
        version: form.text("version"),
    })
}

/// Instantiates the answers (a dry run, or for real in `format`). Invalid answers (a client
/// error) come back as `Err((field errors, general errors))` for the form to show.
async fn instantiate_answers(
    ui: &Ui<TemplatesService>,
    answers: &Answers,
    dry_run: bool,
    format: &str,
) -> Result<Result<Instantiated, (Vec<(String, String)>, Vec<String>)>, UiError> {
    let request = InstantiateRequest {
        parameters: answers.values.clone(),
        version: answers.version.clone(),
        dry_run,
        output_format: format.into(),
        ..InstantiateRequest::default()
    };
    let id = &answers.detail.template.id;
    match ui
        .service
        .instantiate(
            // The role the user acts with (RBAC off: at least editor, as in the API).
            &ui.session.as_role(Role::Viewer)?,
            id,
            request,
            InstantiationSource::Http,
        )
        .await
    {
        Ok(done) => Ok(Ok(done)),
        Err(e) if e.status.is_client_error() => {
            let mut fields = Vec::new();
            let mut general = vec![e.detail.clone()];
            for f in &e.errors {
                if f.field.starts_with('(') || f.field.is_empty() {
                    general.push(f.message.clone());
                } else {
                    fields.push((f.field.clone(), f.message.clone()));
                }
            }
            Ok(Err((fields, general)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/templates/{id}/preview`: a dry run with the form's answers. htmx gets the preview
/// fragment (with out-of-band updates of each field's error); without JS, the whole form page.
async fn preview(ui: Ui<TemplatesService>, id: web::Path<String>, form: CsrfForm) -> UiResult {
    let answers = answers(&ui, &id, &form).await?;
    let (preview, errors, general) = match instantiate_answers(&ui, &answers, true, "json").await? {
        Ok(done) => (
            Some(json!({
                "files": preview_files(&done.files),
                "empty_dirs": done.empty_dirs,
                "warnings": done.warnings,
                "root_dir": done.output.root_dir,
                "checksum": done.checksum,
                "commit": done.commit,
            })),
            Vec::new(),
            Vec::new(),
        ),
        Err((fields, general)) => (None, fields, general),
    };
    let Answers {
        detail,
        values,
        version,
    } = answers;
    if view::is_htmx(&ui.req) {
        let fields = fields_of(&detail.parameters, &values, &errors);
        let ctx = ui
            .ctx()
            .set("t", &detail.template)
            .set("fields", fields)
            .set("general_errors", general)
            .set("preview", preview)
            .set("oob", true);
        return view::ok("preview.html", ctx);
    }
    let state = UseState {
        values,
        errors,
        general,
        preview,
    };
    let id = &detail.template.id;
    use_page(&ui, id, version, state, StatusCode::OK).await
}

/// `POST /ui/templates/{id}/download`: instantiates for real (recorded in the ledger) and
/// answers with the archive; invalid answers bring the form back with its errors.
async fn download(ui: Ui<TemplatesService>, id: web::Path<String>, form: CsrfForm) -> UiResult {
    let answers = answers(&ui, &id, &form).await?;
    let (kind, format) = match form.get("format") {
        Some("tar.gz") => (ArchiveKind::TarGz, "tar.gz"),
        _ => (ArchiveKind::Zip, "zip"),
    };
    let done = match instantiate_answers(&ui, &answers, false, format).await? {
        Ok(done) => done,
        Err((errors, general)) => {
            let state = UseState {
                values: answers.values,
                errors,
                general,
                preview: None,
            };
            let (id, version) = (&answers.detail.template.id, answers.version);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return use_page(&ui, id, version, state, status).await;
        }
    };
    let bytes = run_blocking("console.archive", move || {
        let stem = done.download_stem();
        done.archive(kind)
            .map(|b| (b, stem, done.instantiation_id.clone()))
    })
    .await
    .map_err(ApiError::from)?
    .map_err(ApiError::internal)?;
    let (bytes, stem, instantiation) = bytes;
    let mut response = HttpResponse::Ok();
    response.content_type(kind.content_type()).insert_header((
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{stem}.{}\"", kind.extension()),
    ));
    if let Some(id) = instantiation {
        response.insert_header(("X-Maestro-Instantiation-Id", id));
    }
    Ok(response.body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_the_form_cannot_render_are_named() {
        let schema = json!([
            {"name": "plain", "type": "string", "help": "h", "pattern": "x", "required": true},
            {"name": "age", "type": "integer", "minimum": 18, "format": "int32"},
            {"name": "when", "type": "date"}
        ]);
        let fields = fields_of(&schema, &Map::new(), &[]);
        assert!(fields[0].unsupported.is_empty());
        assert_eq!(fields[1].unsupported, vec!["minimum", "format"]);
        assert_eq!(fields[2].unsupported, vec!["type: date"]);
    }

    #[test]
    fn form_answers_are_typed_by_the_schema_and_blanks_keep_defaults() {
        let schema = json!([
            {"name": "name", "type": "string"},
            {"name": "port", "type": "integer"},
            {"name": "ci", "type": "boolean"},
            {"name": "db", "type": "choice", "choices": ["pg", "sqlite"]},
            {"name": "tags", "type": "list"},
            {"name": "empty", "type": "string", "default": "{{ cookiecutter.name }}"},
        ]);
        let pairs: Vec<(String, String)> = [
            ("p.name", "svc"),
            ("p.port", "8080"),
            ("p.ci", "false"),
            ("p.db", "sqlite"),
            ("p.tags", "[\"a\"]"),
            ("p.empty", " "),
            ("csrf", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let got = parameters_from(&schema, &pairs);
        assert_eq!(
            Value::Object(got),
            json!({"name": "svc", "port": 8080, "ci": false, "db": "sqlite", "tags": ["a"]})
        );
        // A non-number stays text, so the API's validation names the field.
        let got = parameters_from(&schema, &[("p.port".into(), "eighty".into())]);
        assert_eq!(got["port"], json!("eighty"));
    }

    #[test]
    fn preview_truncates_and_skips_binary() {
        let files = vec![
            (
                "a.txt".to_string(),
                vec![b'x'; PREVIEW_FILE_BYTES + 5],
                false,
            ),
            ("b.bin".to_string(), vec![0, 1, 2], false),
        ];
        let p = preview_files(&files);
        assert!(p[0].truncated);
        assert_eq!(p[0].text.as_ref().unwrap().len(), PREVIEW_FILE_BYTES);
        assert!(p[1].text.is_none());
    }
}

//! Workflow pages: definitions with versions (and a start form), the runs list (status and time
//! filters in the URL), a run's waterfall of step attempts that refreshes itself while the run is
//! live, run actions, the dead-letter queue with redrive (one, selected, or all of a workflow,
//! after a confirmation page), and a run's audit trail with its chain verification.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{OffsetQuery, Ui, clean, filter_base, lenient_i64, list_links, page_query};
use crate::console::session::{CsrfForm, Session, UiResult, urlencode};
use crate::console::view::{self, Ctx};
use crate::modules::workflows::WorkflowsService;
use crate::modules::workflows::model::{
    DlqQuery, ExecuteRequest, RedriveRequest, RunStatus, RunView, RunsQuery, StepStatus,
};
use crate::platform::auth::Role;
use crate::platform::http::error::{ApiError, FieldError};
use crate::platform::http::pagination::PageQuery;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/workflows", web::get().to(definitions))
        .route("/workflows/{id}", web::get().to(definition))
        .route("/workflows/{id}/execute", web::post().to(execute))
        .route("/workflows/{id}/pause", web::post().to(pause_workflow))
        .route("/workflows/{id}/resume", web::post().to(resume_workflow))
        .route("/runs", web::get().to(runs))
        .route("/runs/{id}", web::get().to(run))
        .route("/runs/{id}/audit", web::get().to(audit))
        .route("/runs/{id}/steps/{step}", web::get().to(step_page))
        .route("/runs/{id}/events", web::post().to(send_event))
        .route("/runs/{id}/{action}", web::post().to(run_action))
        .route("/dlq", web::get().to(dlq))
        .route("/dlq/redrive", web::post().to(redrive));
}

/// Workflow id → name for the tenant's workflows (first 100), for readable run lists.
async fn names(
    service: &WorkflowsService,
    session: &Session,
) -> Result<HashMap<String, String>, ApiError> {
    let defs = service
        .list_definitions(&session.principal.tenant_id, PageQuery::new(100, 0))
        .await?;
    Ok(defs.items.into_iter().map(|d| (d.id, d.name)).collect())
}

async fn definitions(ui: Ui<WorkflowsService>, query: web::Query<OffsetQuery>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let page = service
        .list_definitions(&session.principal.tenant_id, query.page(50))
        .await?;
    let ctx = ui
        .ctx()
        .set("page", &page)
        .set("base", "/ui/workflows?")
        .set("json_url", "/api/v1/workflows");
    view::ok("workflows.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
struct DefinitionQuery {
    version: Option<String>,
}

async fn definition(
    ui: Ui<WorkflowsService>,
    id: web::Path<String>,
    query: web::Query<DefinitionQuery>,
) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let detail = service
        .definition_detail(
            session.principal.tenant_id.clone(),
            id.into_inner(),
            lenient_i64(&query.version),
        )
        .await?;
    let runs = service
        .list_runs(
            &session.principal.tenant_id,
            RunsQuery {
                workflow_id: Some(detail.summary.id.clone()),
                ..RunsQuery::default()
            },
            &PageQuery::new(10, 0),
        )
        .await?;
    let definition_json = serde_json::to_string_pretty(&detail.definition).unwrap_or_default();
    let json_url = format!("/api/v1/workflows/{}", detail.summary.id);
    let ctx = ui
        .ctx()
        .set("w", &detail)
        .set("definition_json", definition_json)
        .set("runs", &runs)
        .set("json_url", json_url);
    view::ok("workflow.html", ctx)
}

fn json_object(raw: Option<&str>, field: &str) -> Result<Map<String, Value>, ApiError> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("{}");
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::validation(
            "The inputs must be a JSON object.",
            vec![FieldError::new(
                field,
                "write an object like {\"name\": \"value\"}",
            )],
        )),
        Err(e) => Err(ApiError::validation(
            "The inputs are not valid JSON.",
            vec![FieldError::new(field, e.to_string())],
        )),
    }
}

/// `POST /ui/workflows/{id}/execute` (editors): starts a run and shows it.
async fn execute(ui: Ui<WorkflowsService>, id: web::Path<String>, form: CsrfForm) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Editor)?;
    let inputs = json_object(form.get("inputs"), "inputs")?;
    let version = form.text("version").and_then(|v| v.parse().ok());
    let (run, _) = service
        .execute(
            &principal,
            id.into_inner(),
            ExecuteRequest { inputs, version },
            form.text("idempotency_key"),
        )
        .await?;
    Ok(view::see_other(format!("/ui/runs/{}", run.id)))
}

/// `POST /ui/workflows/{id}/pause` (admins, as the API): its active runs pause and new runs
/// start paused. `back` (a console path) is where to show the result.
async fn pause_workflow(
    ui: Ui<WorkflowsService>,
    id: web::Path<String>,
    form: CsrfForm,
) -> UiResult {
    set_workflow_paused(ui, id.into_inner(), form, true).await
}

/// `POST /ui/workflows/{id}/resume` (admins): resumes the workflow and the runs its pause paused.
async fn resume_workflow(
    ui: Ui<WorkflowsService>,
    id: web::Path<String>,
    form: CsrfForm,
) -> UiResult {
    set_workflow_paused(ui, id.into_inner(), form, false).await
}

async fn set_workflow_paused(
    ui: Ui<WorkflowsService>,
    id: String,
    form: CsrfForm,
    paused: bool,
) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Admin)?;
    let wf = service.set_workflow_paused(&principal, id, paused).await?;
    let back = form
        .text("back")
        .filter(|b| b.starts_with("/ui/runs/") && !b.contains("//"))
        .unwrap_or_else(|| format!("/ui/workflows/{}", urlencode(&wf.id)));
    Ok(view::see_other(back))
}

#[derive(Debug, Default, Deserialize)]
struct RunsFilter {
    status: Option<String>,
    workflow_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    offset: Option<String>,
}

/// `datetime-local` ("2026-12-06T18:30") or RFC 3339, read as UTC.
fn parse_time(raw: &Option<String>, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(ApiError::validation(
        "Unreadable time filter.",
        vec![FieldError::new(
            field,
            "use YYYY-MM-DDTHH:MM (UTC) or RFC 3339",
        )],
    ))
}

const STATUSES: &[&str] = &[
    "pending",
    "running",
    "retrying",
    "paused",
    "succeeded",
    "failed",
    "cancelled",
    "dead_lettered",
];

async fn runs(ui: Ui<WorkflowsService>, filter: web::Query<RunsFilter>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let f = filter.into_inner();
    let page = page_query(Some(50), lenient_i64(&f.offset));
    let query = RunsQuery {
        workflow_id: clean(&f.workflow_id),
        status: clean(&f.status),
        since: parse_time(&f.since, "since")?,
        until: parse_time(&f.until, "until")?,
    };
    let list = service
        .list_runs(&session.principal.tenant_id, query.clone(), &page)
        .await?;
    let names = names(service, session).await?;
    let pairs = [
        ("status", query.status.clone()),
        ("workflow_id", query.workflow_id.clone()),
        ("since", clean(&f.since)),
        ("until", clean(&f.until)),
    ];
    let api_pairs = [
        ("status", query.status.clone()),
        ("workflow_id", query.workflow_id.clone()),
        ("since", query.since.map(|t| t.to_rfc3339())),
        ("until", query.until.map(|t| t.to_rfc3339())),
    ];
    let json_url = filter_base("/api/v1/workflows/runs", &api_pairs);
    let ctx = ui
        .ctx()
        .set("page", &list)
        .set("names", &names)
        .set("statuses", STATUSES)
        .set(
            "f",
            json!({
                "status": query.status, "workflow_id": query.workflow_id,
                "since": clean(&f.since), "until": clean(&f.until),
            }),
        )
        .set("base", filter_base("/ui/runs", &pairs))
        .set("json_url", json_url.trim_end_matches(['?', '&']));
    view::ok("runs.html", ctx)
}

/// One bar of the waterfall: start and width as percentages of the run's span (`".33%"`), so
/// the SVG needs no viewBox (the page's CSP forbids inline styles).
#[derive(Debug, Serialize)]
struct Segment {
    x: String,
    width: String,
    class: &'static str,
    label: String,
}

impl Segment {
    fn new(x: f64, x2: f64, class: &'static str, label: String) -> Segment {
        Segment {
            x: percent(x),
            width: percent((x2 - x).max(2.0)),
            class,
            label,
        }
    }
}

/// Per-mille as a short percentage: 3.3 → ".33%", 1000 → "100%", 0 → "0%".
fn percent(permille: f64) -> String {
    let hundredths = (permille * 10.0).round() as i64;
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    let mut out = if whole == 0 && frac != 0 {
        String::new()
    } else {
        whole.to_string()
    };
    if frac != 0 {
        let digits = format!("{frac:02}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('%');
    out
}

#[derive(Debug, Serialize)]
struct StepRow {
    id: String,
    uses: String,
    status: String,
    attempts: i64,
    duration_ms: Option<i64>,
    segments: Vec<Segment>,
    /// Failed attempts' errors: first line (message), then the rest (details).
    errors: Vec<ErrorView>,
    next_retry: Option<DateTime<Utc>>,
    /// Inputs and outputs as compact JSON lines (empty when the step has neither).
    io: String,
}

#[derive(Debug, Serialize)]
struct ErrorView {
    attempt: i64,
    message: String,
    details: Option<String>,
}

fn split_error(raw: &str) -> (String, Option<String>) {
    match raw.split_once('\n') {
        Some((first, rest)) if !rest.trim().is_empty() => {
            (first.trim().to_string(), Some(rest.trim_end().to_string()))
        }
        _ => (raw.trim().to_string(), None),
    }
}

fn waterfall(run: &RunView, now: DateTime<Utc>) -> (Vec<StepRow>, i64) {
    let start = run.started_at.unwrap_or(run.created_at);
    let end = run.finished_at.unwrap_or(now).max(start);
    let span = (end - start).num_milliseconds().max(1) as f64;
    let pos = |t: DateTime<Utc>| {
        ((t - start).num_milliseconds() as f64 / span * 1000.0).clamp(0.0, 1000.0)
    };
    let rows = run
        .steps
        .iter()
        .map(|step| {
            let mut segments = Vec::new();
            let mut errors = Vec::new();
            let mut next_retry = None;
            for a in &step.attempt_log {
                if let Some(s) = a.started_at {
                    let (x, x2) = (pos(s), pos(a.finished_at));
                    let ok = a.outcome == "succeeded";
                    segments.push(Segment::new(
                        x,
                        x2,
                        if ok { "ok" } else { "bad" },
                        format!("attempt {} {}", a.attempt, a.outcome),
                    ));
                }
                if let Some(e) = &a.error {
                    let (message, details) = split_error(e);
                    errors.push(ErrorView {
                        attempt: a.attempt,
                        message,
                        details,
                    });
                }
                if a.next_attempt_at.is_some() {
                    next_retry = a.next_attempt_at;
                }
            }
            let live = matches!(step.status, StepStatus::Running);
            let covered = step.attempt_log.iter().any(|a| a.outcome == "succeeded");
            if let Some(s) = step.started_at
                && (live || (!covered && step.finished_at.is_some() && segments.is_empty()))
            {
                let fin = step.finished_at.unwrap_or(now);
                let (x, x2) = (pos(s), pos(fin));
                segments.push(Segment::new(
                    x,
                    x2,
                    match step.status {
                        StepStatus::Running => "live",
                        StepStatus::Succeeded | StepStatus::Skipped => "ok",
                        _ => "bad",
                    },
                    format!("attempt {} {}", step.attempts.max(1), step.status.as_str()),
                ));
            } else if let (Some(s), Some(f)) = (step.started_at, step.finished_at)
                && matches!(step.status, StepStatus::Succeeded)
                && !covered
            {
                let (x, x2) = (pos(s), pos(f));
                segments.push(Segment::new(
                    x,
                    x2,
                    "ok",
                    format!("attempt {} succeeded", step.attempts.max(1)),
                ));
            }
            if errors.is_empty()
                && let Some(e) = &step.error
            {
                let (message, details) = split_error(e);
                errors.push(ErrorView {
                    attempt: step.attempts,
                    message,
                    details,
                });
            }
            if matches!(step.status, StepStatus::Retrying) {
                next_retry = step.wake_at.or(next_retry);
            } else if !matches!(step.status, StepStatus::Running | StepStatus::Queued) {
                next_retry = None;
            }
            StepRow {
                id: step.id.clone(),
                uses: step.uses.clone(),
                status: step.status.as_str().to_string(),
                attempts: step.attempts,
                duration_ms: step.duration_ms,
                segments,
                errors,
                next_retry,
                io: io_text(&step.inputs, &step.outputs),
            }
        })
        .collect();
    (rows, span as i64)
}

fn is_empty_json(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn io_text(inputs: &Value, outputs: &Value) -> String {
    let mut out = String::new();
    if !is_empty_json(inputs) {
        out.push_str("inputs  ");
        out.push_str(&inputs.to_string());
    }
    if !is_empty_json(outputs) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("outputs ");
        out.push_str(&outputs.to_string());
    }
    out
}

/// Above this many steps the run page keeps each step to one row (first error message, a link
/// to the step's page for details, inputs and outputs), so a 400-step run stays small.
const INLINE_STEPS: usize = 50;

/// `/ui/runs/{id}/steps/{step}`: one step of a run in full (every attempt's error with its
/// details, inputs, outputs).
async fn step_page(ui: Ui<WorkflowsService>, path: web::Path<(String, String)>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let (run_id, step_id) = path.into_inner();
    let run = service
        .run_view(session.principal.tenant_id.clone(), run_id)
        .await?;
    let (steps, span_ms) = waterfall(&run, Utc::now());
    let step = steps.into_iter().find(|s| s.id == step_id).ok_or_else(|| {
        ApiError::not_found(
            "console.step_not_found",
            format!("The run has no step `{step_id}`."),
        )
    })?;
    let ctx = ui
        .ctx()
        .set("r", &run)
        .set("s", step)
        .set("span_ms", span_ms)
        .set("json_url", format!("/api/v1/workflows/runs/{}", run.id));
    view::ok("run_step.html", ctx)
}

/// A run's view: status, error (message, then details), the waterfall, actions.
pub(crate) fn run_ctx(
    ctx: Ctx,
    run: &RunView,
    now: DateTime<Utc>,
    can_edit: bool,
    can_redrive: bool,
) -> Ctx {
    let (steps, span_ms) = waterfall(run, now);
    let compact = steps.len() > INLINE_STEPS;
    let live = run.status.is_active();
    let retrying = steps.iter().any(|s| s.status == "retrying");
    let (error_message, error_details) = match &run.error {
        Some(e) => {
            let (m, d) = split_error(e);
            (Some(m), d)
        }
        None => (None, None),
    };
    ctx.set("r", run)
        .set("compact", compact)
        .set("status", run.status.as_str())
        .set("live", live)
        .set("retrying", retrying)
        .set("steps", steps)
        .set("span_ms", span_ms)
        .set("error_message", error_message)
        .set("error_details", error_details)
        .set("can_edit", can_edit)
        .set("can_redrive", can_redrive)
        .set("json_url", format!("/api/v1/workflows/runs/{}", run.id))
}

#[derive(Debug, Default, Deserialize)]
struct RunQuery {
    step: Option<String>,
}

/// `/ui/runs/{id}`; an htmx poll gets the run's body only (which stops polling once the run is
/// no longer live). `?step=` (the short link each step row carries) leads to the step's page.
async fn run(
    ui: Ui<WorkflowsService>,
    id: web::Path<String>,
    query: web::Query<RunQuery>,
) -> UiResult {
    let (req, session, service) = (&ui.req, &ui.session, &ui.service);
    if let Some(step) = query.step.as_deref().filter(|s| !s.is_empty()) {
        return Ok(view::see_other(format!(
            "/ui/runs/{}/steps/{}",
            urlencode(&id),
            urlencode(step)
        )));
    }
    let run = service
        .run_view(session.principal.tenant_id.clone(), id.into_inner())
        .await?;
    let can_redrive = run.status == RunStatus::DeadLettered && session.is_admin();
    let ctx = run_ctx(ui.ctx(), &run, Utc::now(), session.can_edit(), can_redrive);
    if view::is_htmx(req) {
        return view::ok("run_body.html", ctx);
    }
    view::ok("run.html", ctx)
}

/// `POST /ui/runs/{id}/{cancel|pause|resume}` (editors) and `redrive` (admins, as the API's
/// DLQ redrive).
async fn run_action(
    ui: Ui<WorkflowsService>,
    path: web::Path<(String, String)>,
    _form: CsrfForm,
) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let (id, action) = path.into_inner();
    match action.as_str() {
        "cancel" => {
            service
                .cancel(&session.as_role(Role::Editor)?, id.clone())
                .await?;
        }
        "pause" => {
            service
                .pause(&session.as_role(Role::Editor)?, id.clone())
                .await?;
        }
        "resume" => {
            service
                .resume(&session.as_role(Role::Editor)?, id.clone())
                .await?;
        }
        "redrive" => {
            let principal = session.as_role(Role::Admin)?;
            let done = service
                .redrive(
                    &principal,
                    RedriveRequest {
                        run_ids: vec![id.clone()],
                        workflow_id: None,
                    },
                )
                .await?;
            if let Some(skip) = done.skipped.first() {
                return Err(
                    ApiError::conflict("console.redrive_skipped", skip.reason.clone()).into(),
                );
            }
        }
        other => {
            return Err(ApiError::not_found(
                "console.not_found",
                format!("`{other}` is not a run action (cancel, pause, resume, redrive)."),
            )
            .into());
        }
    }
    Ok(view::see_other(format!("/ui/runs/{}", urlencode(&id))))
}

/// `POST /ui/runs/{id}/events` (editors): sends a named event with a JSON payload.
async fn send_event(ui: Ui<WorkflowsService>, id: web::Path<String>, form: CsrfForm) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Editor)?;
    let name = form.text("name").unwrap_or_default();
    let payload = match form.text("payload") {
        None => Value::Null,
        Some(raw) => serde_json::from_str(&raw).map_err(|e| {
            ApiError::validation(
                "The event payload is not valid JSON.",
                vec![FieldError::new("payload", e.to_string())],
            )
        })?,
    };
    let id = id.into_inner();
    service
        .send_event(
            &principal.tenant_id,
            principal.display_name(),
            id.clone(),
            name,
            payload,
            "console",
        )
        .await?;
    Ok(view::see_other(format!("/ui/runs/{}", urlencode(&id))))
}

async fn audit(
    ui: Ui<WorkflowsService>,
    id: web::Path<String>,
    query: web::Query<OffsetQuery>,
) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let tenant = session.principal.tenant_id.clone();
    let id = id.into_inner();
    let entries = service.audit(&tenant, id.clone(), query.page(100)).await?;
    let verification = service.verify_audit(&tenant, id.clone()).await?;
    let ctx = ui
        .ctx()
        .set("run_id", &id)
        .set("page", &entries)
        .set("v", &verification)
        .set("base", format!("/ui/runs/{}/audit?", urlencode(&id)))
        .set(
            "json_url",
            format!("/api/v1/workflows/runs/{}/audit", urlencode(&id)),
        );
    view::ok("audit.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
struct DlqFilter {
    workflow_id: Option<String>,
    offset: Option<String>,
    redriven: Option<String>,
    skipped: Option<String>,
}

async fn dlq(ui: Ui<WorkflowsService>, filter: web::Query<DlqFilter>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let workflow = filter.workflow_id.clone().filter(|s| !s.is_empty());
    let page = page_query(Some(50), lenient_i64(&filter.offset));
    let entries = service
        .list_dlq(
            &session.principal.tenant_id,
            DlqQuery {
                workflow_id: workflow.clone(),
            },
            &page,
        )
        .await?;
    let names = names(service, session).await?;
    let ctx = ui
        .ctx()
        .set("page", &entries)
        .set("names", &names)
        .set("workflow_id", &workflow)
        .set("redriven", lenient_i64(&filter.redriven))
        .set("skipped", lenient_i64(&filter.skipped));
    let ctx = list_links(
        ctx,
        "/ui/dlq",
        "/api/v1/workflows/dlq",
        &[("workflow_id", workflow.clone())],
    );
    view::ok("dlq.html", ctx)
}

/// `POST /ui/dlq/redrive` (admins, as the API): `run_ids` (checked rows) or `workflow_id` (all
/// of its dead-lettered runs). Without `confirm=yes` it shows what would be redriven and asks.
async fn redrive(ui: Ui<WorkflowsService>, form: CsrfForm) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Admin)?;
    let run_ids: Vec<String> = form
        .all("run_ids")
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let workflow_id = if form.get("scope") == Some("all") {
        form.text("workflow_id")
    } else {
        None
    };
    if run_ids.is_empty() && workflow_id.is_none() {
        return Err(ApiError::validation(
            "Choose the runs to redrive.",
            vec![FieldError::new(
                "run_ids",
                "tick at least one run, or redrive all of one workflow's dead letters",
            )],
        )
        .into());
    }
    if form.get("confirm") != Some("yes") {
        let names = names(service, session).await?;
        let ctx = ui
            .ctx()
            .set("run_ids", &run_ids)
            .set("workflow_id", &workflow_id)
            .set(
                "workflow_name",
                workflow_id.as_ref().and_then(|w| names.get(w)),
            )
            .set("json_url", "/api/v1/workflows/dlq");
        return view::page(StatusCode::OK, "dlq_confirm.html", ctx);
    }
    let done = service
        .redrive(
            &principal,
            RedriveRequest {
                run_ids,
                workflow_id,
            },
        )
        .await?;
    Ok(view::see_other(format!(
        "/ui/dlq?redriven={}&skipped={}",
        done.redriven.len(),
        done.skipped.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_positions_are_short_percentages() {
        assert_eq!(percent(3.3), ".33%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(1000.0), "100%");
        assert_eq!(percent(125.0), "12.5%");
        assert_eq!(percent(20.04), "2%");
        assert_eq!(percent(999.94), "99.99%");
    }

    #[test]
    fn errors_split_into_message_and_details() {
        assert_eq!(split_error("boom"), ("boom".into(), None));
        assert_eq!(
            split_error("boom\n  at step x\n  at y"),
            ("boom".into(), Some("  at step x\n  at y".into()))
        );
        assert_eq!(split_error("boom\n   "), ("boom\n".trim().into(), None));
    }

    #[test]
    fn time_filters_accept_datetime_local_and_rfc3339() {
        let t = parse_time(&Some("2026-12-06T18:30".into()), "since")
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-06T18:30:00+00:00");
        assert!(
            parse_time(&Some("2026-12-06T18:30:00Z".into()), "since")
                .unwrap()
                .is_some()
        );
        assert!(parse_time(&Some("yesterday".into()), "since").is_err());
        assert!(parse_time(&Some(" ".into()), "since").unwrap().is_none());
    }
}

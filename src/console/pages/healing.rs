//! Healing pages: failures (filters in the URL; one upload's failures with `?report_id=`), a
//! failure with its evidence and the healings proposed for it, the flaky tests of a project,
//! healing proposals with their patch or config change, evidence and risk, and approve
//! (apply) / reject for editors, as in the API.

use actix_web::web;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Ui, clean, lenient_i64, list_links, page_query};
use crate::console::session::{CsrfForm, UiResult, urlencode};
use crate::console::view;
use crate::modules::healing::HealingService;
use crate::modules::healing::classify::Category;
use crate::modules::healing::junit::Outcome;
use crate::modules::healing::model::{ApplyRequest, HealRequest, HealingStatus};
use crate::modules::healing::{FailureFilter, HealingFilter};
use crate::platform::auth::Role;
use crate::platform::http::error::{ApiError, FieldError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healing", web::get().to(failures))
        .route("/healing/failures/{id}", web::get().to(failure))
        .route("/healing/failures/{id}/heal", web::post().to(heal))
        .route("/healing/flaky", web::get().to(flaky))
        .route("/healing/healings", web::get().to(healings))
        .route("/healing/healings/{id}", web::get().to(healing))
        .route("/healing/healings/{id}/{decision}", web::post().to(decide));
}

const OUTCOMES: &[&str] = &["failed", "error", "flaky"];
const CATEGORIES: &[&str] = &[
    "timeout",
    "locator",
    "assertion",
    "snapshot",
    "unknown_symbol",
    "connection",
    "environment",
    "other",
];
const STATUSES: &[&str] = &[
    "proposed",
    "applied",
    "rejected",
    "verified",
    "false_heal",
    "abstained",
];

/// A filter value checked against the API's enum (the same 400 the API gives a wrong value).
fn checked<T: DeserializeOwned>(
    raw: Option<String>,
    field: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match raw {
        None => Ok(None),
        Some(v) if serde_json::from_value::<T>(serde_json::Value::String(v.clone())).is_ok() => {
            Ok(Some(v))
        }
        Some(v) => Err(ApiError::validation(
            format!("`{v}` is not a {field}."),
            vec![FieldError::new(
                field,
                format!("use one of: {}", allowed.join(", ")),
            )],
        )),
    }
}

#[derive(Debug, Default, Deserialize)]
struct FailuresQuery {
    project: Option<String>,
    outcome: Option<String>,
    category: Option<String>,
    report_id: Option<String>,
    test_id: Option<String>,
    offset: Option<String>,
}

/// `/ui/healing`: failures, newest first.
async fn failures(ui: Ui<HealingService>, query: web::Query<FailuresQuery>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let q = query.into_inner();
    let filter = FailureFilter {
        project: clean(&q.project),
        test_id: clean(&q.test_id),
        outcome: checked::<Outcome>(clean(&q.outcome), "outcome", OUTCOMES)?,
        commit_sha: None,
        branch: None,
        report_id: clean(&q.report_id),
        category: checked::<Category>(clean(&q.category), "category", CATEGORIES)?,
    };
    let pairs = [
        ("project", filter.project.clone()),
        ("outcome", filter.outcome.clone()),
        ("category", filter.category.clone()),
        ("report_id", filter.report_id.clone()),
        ("test_id", filter.test_id.clone()),
    ];
    let f = serde_json::json!({
        "project": &filter.project, "outcome": &filter.outcome, "category": &filter.category,
        "report_id": &filter.report_id, "test_id": &filter.test_id,
    });
    let page = service
        .failures(
            &session.principal.tenant_id,
            filter,
            &page_query(Some(50), lenient_i64(&q.offset)),
        )
        .await?;
    let ctx = ui
        .ctx()
        .set("page", &page)
        .set("f", f)
        .set("outcomes", OUTCOMES)
        .set("categories", CATEGORIES);
    let ctx = list_links(ctx, "/ui/healing", "/api/v1/healing/failures", &pairs);
    view::ok("healing_failures.html", ctx)
}

/// `/ui/healing/failures/{id}`: the failure, every failing attempt, captured output, and the
/// healings proposed for it.
async fn failure(ui: Ui<HealingService>, id: web::Path<String>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let tenant = &session.principal.tenant_id;
    let detail = service.failure(tenant, &id).await?;
    let proposals = service
        .healings(
            tenant,
            HealingFilter {
                project: None,
                strategy: None,
                status: None,
                test_id: None,
                failure_id: Some(detail.summary.id.clone()),
            },
            &page_query(Some(50), None),
        )
        .await?;
    let json_url = format!("/api/v1/healing/failures/{}", urlencode(&detail.summary.id));
    let ctx = ui
        .ctx()
        .set("d", &detail)
        .set("proposals", &proposals)
        .set("json_url", json_url);
    view::ok("healing_failure.html", ctx)
}

/// `POST /ui/healing/failures/{id}/heal` (editors): runs every strategy on the failure.
async fn heal(ui: Ui<HealingService>, id: web::Path<String>, _form: CsrfForm) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Editor)?;
    let healed = service
        .heal(
            &principal.tenant_id,
            &principal.display_name(),
            &id,
            HealRequest::default(),
        )
        .await?;
    Ok(view::see_other(format!(
        "/ui/healing/failures/{}#healings",
        urlencode(&healed.failure_id)
    )))
}

#[derive(Debug, Default, Deserialize)]
struct FlakyQuery {
    project: Option<String>,
    offset: Option<String>,
}

/// `/ui/healing/flaky?project=`: the project's flaky (and broken) tests, most evidence first.
async fn flaky(ui: Ui<HealingService>, query: web::Query<FlakyQuery>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let project = clean(&query.project);
    let page = match &project {
        Some(p) => Some(
            service
                .flaky(
                    &session.principal.tenant_id,
                    p,
                    &page_query(Some(50), lenient_i64(&query.offset)),
                )
                .await?,
        ),
        None => None,
    };
    let pairs = [("project", project.clone())];
    let ctx = ui.ctx().set("project", &project).set("page", &page);
    let ctx = list_links(
        ctx,
        "/ui/healing/flaky",
        "/api/v1/healing/tests/flaky",
        &pairs,
    );
    view::ok("healing_flaky.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
struct HealingsQuery {
    project: Option<String>,
    status: Option<String>,
    offset: Option<String>,
}

/// `/ui/healing/healings`: proposals, newest request first.
async fn healings(ui: Ui<HealingService>, query: web::Query<HealingsQuery>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let project = clean(&query.project);
    let status = checked::<HealingStatus>(clean(&query.status), "status", STATUSES)?;
    let pairs = [("project", project.clone()), ("status", status.clone())];
    let page = service
        .healings(
            &session.principal.tenant_id,
            HealingFilter {
                project: project.clone(),
                strategy: None,
                status: status.clone(),
                test_id: None,
                failure_id: None,
            },
            &page_query(Some(50), lenient_i64(&query.offset)),
        )
        .await?;
    let ctx = ui
        .ctx()
        .set("page", &page)
        .set(
            "f",
            serde_json::json!({"project": project, "status": status}),
        )
        .set("statuses", STATUSES);
    let ctx = list_links(
        ctx,
        "/ui/healing/healings",
        "/api/v1/healing/healings",
        &pairs,
    );
    view::ok("healing_list.html", ctx)
}

/// `/ui/healing/healings/{id}`: one proposal with its patch, config change, evidence and risk.
async fn healing(ui: Ui<HealingService>, id: web::Path<String>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let h = service.healing(&session.principal.tenant_id, &id).await?;
    let config = h
        .config
        .as_ref()
        .map(|c| serde_json::to_string_pretty(c).unwrap_or_default());
    let json_url = format!("/api/v1/healing/healings/{}", urlencode(&h.id));
    let ctx = ui
        .ctx()
        .set("h", &h)
        .set("config", config)
        .set("json_url", json_url);
    view::ok("healing.html", ctx)
}

/// `POST /ui/healing/healings/{id}/{apply|reject}` (editors). Applying a proposal that may mask
/// a regression needs the `approve_risk` box, as the API needs `approve_risk: true`.
async fn decide(
    ui: Ui<HealingService>,
    path: web::Path<(String, String)>,
    form: CsrfForm,
) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Editor)?;
    let (id, decision) = path.into_inner();
    match decision.as_str() {
        "apply" => {
            let req = ApplyRequest {
                approve_risk: form.get("approve_risk") == Some("true"),
                owner: form.text("owner"),
                expires_in: form.text("expires_in"),
            };
            service.apply(&principal, &id, req).await?;
        }
        "reject" => {
            service.reject(&principal, &id).await?;
        }
        other => {
            return Err(ApiError::not_found(
                "console.not_found",
                format!("`{other}` is not a healing decision (apply, reject)."),
            )
            .into());
        }
    }
    Ok(view::see_other(format!(
        "/ui/healing/healings/{}",
        urlencode(&id)
    )))
}

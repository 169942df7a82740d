//! Test environment pages (k8s module): the list with phase, owner and time left, an
//! environment with its endpoints, spec and jobs, a job with its log; editors extend or delete
//! an environment, as in the API.

use actix_web::web;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::{OffsetQuery, Ui, clean, lenient_i64, list_links, page_query};
use crate::console::session::{CsrfForm, UiResult, urlencode};
use crate::console::view;
use crate::modules::k8s::model::ExtendRequest;
use crate::modules::k8s::{JobLog, K8sService, ListFilter};
use crate::platform::auth::Role;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/environments", web::get().to(environments))
        .route("/environments/{id}", web::get().to(environment))
        .route("/environments/{id}/extend", web::post().to(extend))
        .route("/environments/{id}/delete", web::post().to(delete))
        .route("/environments/{id}/jobs/{job}", web::get().to(job));
}

const PHASES: &[&str] = &["provisioning", "ready", "failed", "terminating", "deleted"];

/// Time left before the reaper deletes it: "1h 05m", "12m", or "expired".
pub fn time_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let left = (expires_at - now).num_minutes();
    match left {
        l if l <= 0 => "expired".to_string(),
        l if l >= 24 * 60 => format!("{}d {:02}h", l / (24 * 60), (l % (24 * 60)) / 60),
        l if l >= 60 => format!("{}h {:02}m", l / 60, l % 60),
        l => format!("{l}m"),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    phase: Option<String>,
    owner: Option<String>,
    offset: Option<String>,
}

async fn environments(ui: Ui<K8sService>, query: web::Query<ListQuery>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let (phase, owner) = (clean(&query.phase), clean(&query.owner));
    let page = service
        .list(
            &session.principal,
            ListFilter {
                owner: owner.clone(),
                phase: phase.clone(),
            },
            page_query(Some(50), lenient_i64(&query.offset)),
        )
        .await?;
    let now = Utc::now();
    let left: Vec<String> = page
        .items
        .iter()
        .map(|e| time_left(e.expires_at, now))
        .collect();
    let pairs = [("phase", phase.clone()), ("owner", owner.clone())];
    let ctx = ui
        .ctx()
        .set("page", &page)
        .set("left", left)
        .set("phases", PHASES)
        .set("f", json!({"phase": phase, "owner": owner}));
    let ctx = list_links(ctx, "/ui/environments", "/api/v1/environments", &pairs);
    view::ok("environments.html", ctx)
}

/// `/ui/environments/{id}`: the environment (phase read from the cluster now, as the API does)
/// and its jobs.
async fn environment(
    ui: Ui<K8sService>,
    id: web::Path<String>,
    query: web::Query<OffsetQuery>,
) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let tenant = &session.principal.tenant_id;
    let env = service.get(tenant, &id).await?;
    let jobs = service.list_jobs(tenant, &env.id, query.page(25)).await?;
    let spec = serde_json::to_string_pretty(&env.spec).unwrap_or_default();
    let ctx = ui
        .ctx()
        .set("left", time_left(env.expires_at, Utc::now()))
        .set("spec", spec)
        .set("jobs", &jobs)
        .set("base", format!("/ui/environments/{}?", urlencode(&env.id)))
        .set(
            "json_url",
            format!("/api/v1/environments/{}", urlencode(&env.id)),
        )
        .set("e", &env);
    view::ok("environment.html", ctx)
}

/// The end of a log, as much as a page shows (the whole log is at the JSON link).
const LOG_TAIL_BYTES: usize = 64 * 1024;

fn tail(text: &str) -> (String, bool) {
    if text.len() <= LOG_TAIL_BYTES {
        return (text.to_string(), false);
    }
    let mut start = text.len() - LOG_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    (text[start..].to_string(), true)
}

/// `/ui/environments/{id}/jobs/{job}`: the job and its log (stored once it ended, else the
/// pod's log now; a job whose pod has not started says so instead of a log).
async fn job(ui: Ui<K8sService>, path: web::Path<(String, String)>) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let tenant = &session.principal.tenant_id;
    let (env_id, job_id) = path.into_inner();
    let job = service.get_job(tenant, &env_id, &job_id).await?;
    let (log, log_problem) = match service.job_log(tenant, &env_id, &job_id, false).await {
        Ok(JobLog::Stored(text)) => (Some(text), None),
        // Not asked for (no follow); nothing to show.
        Ok(JobLog::Live(_)) => (None, None),
        // Not started yet (409) or the cluster does not answer (502/503): the job is still
        // worth showing, with why there is no log.
        Err(e) if matches!(e.status.as_u16(), 409 | 502 | 503) => (None, Some(e.detail)),
        Err(e) => return Err(e.into()),
    };
    let (log, clipped) = match log {
        Some(text) => {
            let (t, c) = tail(&text);
            (Some(t), c)
        }
        None => (None, false),
    };
    let spec = serde_json::to_string_pretty(&job.spec).unwrap_or_default();
    let base = format!(
        "/api/v1/environments/{}/jobs/{}",
        urlencode(&env_id),
        urlencode(&job.id)
    );
    let ctx = ui
        .ctx()
        .set("j", &job)
        .set("spec", spec)
        .set("log", log)
        .set("log_clipped", clipped)
        .set("log_problem", log_problem)
        .set("log_url", format!("{base}/logs"))
        .set("json_url", base);
    view::ok("job.html", ctx)
}

/// `POST /ui/environments/{id}/extend` (editors): a new lifetime counted from now.
async fn extend(ui: Ui<K8sService>, id: web::Path<String>, form: CsrfForm) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Editor)?;
    let env = service
        .extend(
            &principal.tenant_id,
            &id,
            ExtendRequest {
                ttl: form.text("ttl").unwrap_or_default(),
            },
        )
        .await?;
    Ok(view::see_other(format!(
        "/ui/environments/{}",
        urlencode(&env.id)
    )))
}

/// `POST /ui/environments/{id}/delete` (editors): deletes the namespace and all in it.
async fn delete(ui: Ui<K8sService>, id: web::Path<String>, _form: CsrfForm) -> UiResult {
    let (session, service) = (&ui.session, &ui.service);
    let principal = session.as_role(Role::Editor)?;
    let env = service.delete(&principal.tenant_id, &id).await?;
    Ok(view::see_other(format!(
        "/ui/environments/{}",
        urlencode(&env.id)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_at_a_glance() {
        let now = Utc::now();
        let at = |m: i64| now + chrono::Duration::minutes(m) + chrono::Duration::seconds(30);
        assert_eq!(time_left(at(-5), now), "expired");
        assert_eq!(time_left(at(12), now), "12m");
        assert_eq!(time_left(at(65), now), "1h 05m");
        assert_eq!(time_left(at(26 * 60), now), "1d 02h");
    }

    #[test]
    fn long_logs_keep_their_end() {
        let log = "é".repeat(LOG_TAIL_BYTES);
        let (t, clipped) = tail(&log);
        assert!(clipped);
        assert!(t.len() <= LOG_TAIL_BYTES && t.ends_with('é'));
        assert_eq!(tail("short"), ("short".to_string(), false));
    }
}

//! The Redis Streams edge of the templates module. Requests on `templates:requests` (seed
//! fields: template_id, operation, tenant_id, user_id, parameters, timestamp) run through the same
//! [`TemplatesService`] calls as HTTP, acting as the named user of the named tenant; each gets a
//! result on `templates:results` (request_id, template_id, status, result, error, duration_ms).
//! A request that cannot succeed (bad input, unknown user, missing template, refused) is answered
//! with an error result and acknowledged; only transient failures (database or Redis down) are
//! left for redelivery.

use std::time::Instant;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::gate::ForcedPublish;
use super::service::{
    InstantiateRequest, InstantiationSource, TemplateInput, TemplatesService, ViewDetail,
    files_from_json,
};
use crate::platform::auth::{Principal, Role, TenantId};
use crate::platform::edge::{StreamHandler, StreamMessage, malformed, problem_text};
use crate::platform::http::error::ApiError;

pub const REQUESTS: &str = "templates:requests";
pub const RESULTS: &str = "templates:results";
pub const USAGE: &str = "templates:usage";
pub const GROUP: &str = "maestro-template-workers";

pub fn handler(service: TemplatesService) -> StreamHandler {
    StreamHandler::new(REQUESTS, GROUP, service, handle)
}

async fn handle(service: TemplatesService, message: StreamMessage) -> anyhow::Result<()> {
    let started = Instant::now();
    let request_id = message.request_id();
    let template_id = message.field("template_id").unwrap_or_default().to_string();
    let outcome = process(&service, &message).await;
    let (status, result, error, result_template) = match outcome {
        Ok((result, id)) => (
            "success",
            result.to_string(),
            String::new(),
            id.unwrap_or(template_id),
        ),
        Err(e) if e.status.is_server_error() => {
            // Transient (database unavailable, …): let the edge redeliver.
            return Err(anyhow::anyhow!("{e:?}"));
        }
        Err(e) => ("error", "null".to_string(), problem_text(&e), template_id),
    };
    metrics::counter!("maestro_template_stream_requests_total", "status" => status).increment(1);
    let Some(edge) = service.edge() else {
        return Ok(());
    };
    edge.publish(
        RESULTS,
        &[
            ("request_id", request_id),
            ("template_id", result_template),
            ("status", status.to_string()),
            ("result", result),
            ("error", error),
            ("duration_ms", started.elapsed().as_millis().to_string()),
        ],
    )
    .await?;
    Ok(())
}

/// The tenant (by id or name) and the user (by id or email) the request acts as.
async fn acting_user(
    service: &TemplatesService,
    tenant_raw: &str,
    user_raw: &str,
) -> Result<Principal, ApiError> {
    let unknown = || {
        ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "templates.unknown_user",
            "tenant_id and user_id must name an existing tenant (id or name) and one of its users (id or email).",
        )
    };
    if tenant_raw.is_empty() || user_raw.is_empty() {
        return Err(unknown());
    }
    let auth = service.auth();
    let tenant = if auth
        .tenant_name(&TenantId(tenant_raw.to_string()))
        .await?
        .is_some()
    {
        TenantId(tenant_raw.to_string())
    } else {
        let users = auth.list_all_users(Some(tenant_raw.to_string())).await?;
        match users.first() {
            Some((_, user)) => TenantId(user.tenant_id.clone()),
            None => return Err(unknown()),
        }
    };
    let user = match auth.get_user(&tenant, user_raw).await {
        Ok(user) => user,
        Err(e) if e.status.as_u16() == 404 => {
            let name = auth.tenant_name(&tenant).await?.ok_or_else(unknown)?;
            auth.list_all_users(Some(name))
                .await?
                .into_iter()
                .map(|(_, u)| u)
                .find(|u| u.email.eq_ignore_ascii_case(user_raw))
                .ok_or_else(unknown)?
        }
        Err(e) => return Err(e),
    };
    Ok(Principal {
        tenant_id: tenant,
        ..user.into_principal()
    })
}

/// Applies the same role rules as the HTTP handlers.
fn require(
    service: &TemplatesService,
    principal: &Principal,
    role: Role,
) -> Result<Principal, ApiError> {
    let auth = crate::platform::auth::Authenticated {
        principal: principal.clone(),
        rbac: service.auth().rbac(),
    };
    crate::platform::auth::authorize(&auth, role)
}

async fn process(
    service: &TemplatesService,
    message: &StreamMessage,
) -> Result<(Value, Option<String>), ApiError> {
    let operation = message
        .text("operation")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let template_id = message.text("template_id").unwrap_or_default().to_string();
    let parameters: Map<String, Value> = match message.text("parameters") {
        None => Map::new(),
        Some(raw) => match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(_) => return Err(malformed("parameters", "must be a JSON object")),
            Err(e) => return Err(malformed("parameters", format!("is not JSON: {e}"))),
        },
    };
    let principal = acting_user(
        service,
        message.text("tenant_id").unwrap_or_default(),
        message.text("user_id").unwrap_or_default(),
    )
    .await?;
    let need_id = || {
        if template_id.is_empty() {
            Err(malformed("template_id", "is required for this operation"))
        } else {
            Ok(template_id.clone())
        }
    };
    let if_match = parameters
        .get("if_match")
        .and_then(Value::as_str)
        .map(str::to_string);
    match operation.as_str() {
        "retrieve" | "get" => {
            let p = require(service, &principal, Role::Viewer)?;
            let id = need_id()?;
            let include = parameters.get("include").and_then(Value::as_str) == Some("content");
            let detail = service.detail(&p.tenant_id, &id, include).await?;
            // As on HTTP: a draft is a 404 for a viewer.
            TemplatesService::check_visible(&detail.template, p.role)?;
            service.usage_event(
                "view",
                &p.tenant_id,
                &id,
                &p,
                &ViewDetail {
                    commit: &detail.template.current_commit,
                    via: Some("stream"),
                },
            );
            Ok((
                serde_json::to_value(detail).unwrap_or(Value::Null),
                Some(id),
            ))
        }
        "create" => {
            let p = require(service, &principal, Role::Editor)?;
            let input = template_input(&parameters)?;
            let detail = service.create(&p, input).await?;
            let id = detail.template.id.clone();
            Ok((
                serde_json::to_value(detail).unwrap_or(Value::Null),
                Some(id),
            ))
        }
        "update" => {
            let p = require(service, &principal, Role::Editor)?;
            let id = need_id()?;
            let input = template_input(&parameters)?;
            let force = match parameters.get("force") {
                Some(Value::Object(f)) => Some(ForcedPublish {
                    reason: f
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                }),
                _ => None,
            };
            let detail = service
                .update(&p, &id, if_match.as_deref(), input, force)
                .await?;
            Ok((
                serde_json::to_value(detail).unwrap_or(Value::Null),
                Some(id),
            ))
        }
        "delete" => {
            let p = require(service, &principal, Role::Editor)?;
            let id = need_id()?;
            service.delete(&p, &id, if_match.as_deref()).await?;
            Ok((json!({"deleted": id}), Some(id)))
        }
        "instantiate" => {
            let p = require(service, &principal, Role::Viewer)?;
            let id = need_id()?;
            let request = InstantiateRequest {
                parameters: match parameters.get("parameters") {
                    Some(Value::Object(m)) => m.clone(),
                    None | Some(Value::Null) => Map::new(),
                    Some(_) => return Err(malformed("parameters.parameters", "must be an object")),
                },
                version: parameters
                    .get("version")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                dry_run: parameters
                    .get("dry_run")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                now: parameters
                    .get("now")
                    .and_then(Value::as_str)
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| d.with_timezone(&chrono::Utc)),
                seed: parameters.get("seed").and_then(Value::as_u64),
                output_format: "json".to_string(),
                ..InstantiateRequest::default()
            };
            let done = service
                .instantiate(&p, &id, request, InstantiationSource::Stream)
                .await?;
            let b64 = base64::engine::general_purpose::STANDARD;
            Ok((
                json!({
                    "instantiation_id": done.instantiation_id,
                    "template_id": done.template.id,
                    "commit": done.commit,
                    "checksum": done.checksum,
                    "files": done.files.iter().map(|(p, c, x)| json!({"path": p, "content_base64": b64.encode(c), "executable": x})).collect::<Vec<_>>(),
                    "warnings": done.warnings,
                }),
                Some(id),
            ))
        }
        "" => Err(malformed(
            "operation",
            "is required: retrieve, create, update, delete or instantiate",
        )),
        other => Err(malformed(
            "operation",
            format!("`{other}` is not one of retrieve, create, update, delete, instantiate"),
        )),
    }
}

fn template_input(parameters: &Map<String, Value>) -> Result<TemplateInput, ApiError> {
    let files = match parameters.get("files") {
        Some(Value::Object(map)) => Some(files_from_json(map)?),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(malformed(
                "parameters.files",
                "must be an object of path → content",
            ));
        }
    };
    Ok(TemplateInput {
        manifest: parameters.get("manifest").cloned().filter(|v| !v.is_null()),
        files,
    })
}

//! The workflow step `templates.instantiate`: `with: {template_id | name, parameters, version?}`
//! → outputs `{instantiation_id, template_id, commit, checksum, file_count, files}`. Bad input and
//! refusals are permanent failures; an unavailable database is retryable.

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::service::{InstantiateRequest, InstantiationSource, TemplatesService};
use crate::platform::steps::{StepContext, StepFailure, StepType};

pub struct InstantiateStep {
    service: TemplatesService,
}

impl InstantiateStep {
    pub fn new(service: TemplatesService) -> Self {
        InstantiateStep { service }
    }
}

/// Whether a value is (or contains) a `${{ … }}` run-time expression.
fn is_expression(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains("${{"))
}

impl StepType for InstantiateStep {
    fn name(&self) -> &'static str {
        "templates.instantiate"
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        let Some(obj) = with.as_object() else {
            return Err(
                "`with` must be an object: {template_id or name, parameters, version?}".into(),
            );
        };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "template_id" | "name" | "parameters" | "version"
            ) {
                return Err(format!(
                    "unknown key `{key}`; use template_id (or name), parameters, version"
                ));
            }
        }
        match (obj.get("template_id"), obj.get("name")) {
            (None, None) => return Err("give `template_id` or `name`".into()),
            (Some(_), Some(_)) => return Err("give `template_id` or `name`, not both".into()),
            (Some(v), None) | (None, Some(v)) if !v.is_string() => {
                return Err("`template_id`/`name` must be a string".into());
            }
            _ => {}
        }
        if let Some(p) = obj.get("parameters")
            && !p.is_object()
            && !is_expression(p)
        {
            return Err("`parameters` must be an object".into());
        }
        if let Some(v) = obj.get("version")
            && !v.is_string()
            && !v.is_null()
        {
            return Err("`version` must be a commit id string".into());
        }
        Ok(())
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.service.clone();
        Box::pin(async move {
            InstantiateStep {
                service: service.clone(),
            }
            .validate(&with)
            .map_err(StepFailure::Permanent)?;
            let key = with
                .get("template_id")
                .or_else(|| with.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let parameters: Map<String, Value> = match with.get("parameters") {
                Some(Value::Object(m)) => m.clone(),
                None | Some(Value::Null) => Map::new(),
                Some(_) => {
                    return Err(StepFailure::Permanent(
                        "`parameters` must be an object".into(),
                    ));
                }
            };
            let mut actor = ctx.actor.clone();
            actor.tenant_id = ctx.tenant.clone();
            let template = service
                .get_by_id_or_name(&ctx.tenant, &key)
                .await
                .map_err(StepFailure::from)?;
            let request = InstantiateRequest {
                parameters,
                version: with
                    .get("version")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                dry_run: false,
                now: None,
                seed: None,
                output_format: "workflow".to_string(),
                ..InstantiateRequest::default()
            };
            let done = service
                .instantiate(&actor, &template.id, request, InstantiationSource::Workflow)
                .await
                .map_err(StepFailure::from)?;
            Ok(json!({
                "instantiation_id": done.instantiation_id,
                "template_id": done.template.id,
                "commit": done.commit,
                "checksum": done.checksum,
                "file_count": done.files.len(),
                "files": done.files.iter().map(|(p, _, _)| p.clone()).collect::<Vec<_>>(),
            }))
        })
    }
}

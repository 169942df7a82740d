//! The workflow step `templates.instantiate`: `with: {template_id | name, parameters, version?}`
//! → outputs `{instantiation_id, template_id, commit, checksum, file_count, files}`. Bad input and
//! refusals are permanent failures; an unavailable database is retryable.

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::service::{InstantiateRequest, InstantiationSource, TemplatesService};
use crate::platform::steps::{OrExpr, StepContext, StepFailure, StepType, parse_with, resolved};

pub struct InstantiateStep {
    service: TemplatesService,
}

impl InstantiateStep {
    pub fn new(service: TemplatesService) -> Self {
        InstantiateStep { service }
    }
}

/// The step's `with:`, read when the definition is saved and when the step runs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstantiateWith {
    #[serde(default)]
    template_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parameters: Option<OrExpr<Map<String, Value>>>,
    /// A commit id.
    #[serde(default)]
    version: Option<String>,
}

impl InstantiateWith {
    /// Parses `with:` and checks it names the template once: its id or its name.
    fn parse(with: &Value) -> Result<(Self, String), String> {
        let w: InstantiateWith = parse_with(with)?;
        let key = match (&w.template_id, &w.name) {
            (Some(key), None) | (None, Some(key)) => key.clone(),
            (None, None) => return Err("give `template_id` or `name`".into()),
            (Some(_), Some(_)) => return Err("give `template_id` or `name`, not both".into()),
        };
        Ok((w, key))
    }
}

impl StepType for InstantiateStep {
    fn name(&self) -> &'static str {
        "templates.instantiate"
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        InstantiateWith::parse(with).map(|_| ())
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let service = self.service.clone();
        Box::pin(async move {
            let (with, key) = InstantiateWith::parse(&with).map_err(StepFailure::Permanent)?;
            let parameters = resolved(with.parameters, "parameters")?.unwrap_or_default();
            let mut actor = ctx.actor.clone();
            actor.tenant_id = ctx.tenant.clone();
            let template = service
                .get_by_id_or_name(&ctx.tenant, &key)
                .await
                .map_err(StepFailure::from)?;
            let request = InstantiateRequest {
                parameters,
                version: with.version,
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

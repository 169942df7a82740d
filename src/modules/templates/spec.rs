//! What the registry needs to know about a template's files, taken from the rendering engine:
//! the format, the registry metadata (from `manifest.yaml`, parsed by the engine's [`Manifest`])
//! and the parameter schema. Engine errors become 422s that say which file and line is wrong.

use serde_json::Value;

use super::engine::{
    self, COOKIECUTTER_FILE, EngineError, EngineErrorKind, MANIFEST_FILE, Manifest, ParameterSpec,
    SourceFile, TemplateSpec,
};
use crate::platform::http::error::{ApiError, FieldError};

/// A template's parsed description.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub spec: TemplateSpec,
    /// The registry metadata (`manifest.yaml`).
    pub manifest: Manifest,
    pub parameters: Vec<ParameterSpec>,
    pub has_hooks: bool,
}

impl Inspected {
    pub fn format(&self) -> &'static str {
        self.spec.format_name()
    }

    /// The manifest as JSON (what the API shows and the publish gate receives).
    pub fn manifest_json(&self) -> Value {
        serde_json::to_value(&self.manifest).unwrap_or(Value::Null)
    }

    pub fn parameters_json(&self) -> Value {
        serde_json::to_value(&self.parameters).unwrap_or(Value::Array(Vec::new()))
    }
}

/// An engine error as the 422 the API returns.
pub fn engine_error(err: EngineError) -> ApiError {
    let (code, title) = match err.kind {
        EngineErrorKind::InvalidSpec => ("templates.invalid_template", "The template is invalid"),
        EngineErrorKind::Syntax => (
            "templates.template_syntax",
            "A template file has a syntax error",
        ),
        EngineErrorKind::Render => ("templates.render_failed", "Rendering failed"),
        EngineErrorKind::UnsafePath => ("templates.unsafe_path", "A rendered path is unsafe"),
        EngineErrorKind::LimitExceeded => {
            ("templates.render_limit", "A rendering limit was exceeded")
        }
        EngineErrorKind::Unsupported => (
            "templates.unsupported_feature",
            "The template uses an unsupported feature",
        ),
        EngineErrorKind::InvalidContext => (
            "templates.invalid_parameters",
            "The parameters do not fit the template",
        ),
    };
    let field = match (&err.path, err.line) {
        (Some(path), Some(line)) => format!("{path}:{line}"),
        (Some(path), None) => path.clone(),
        _ => "template".to_string(),
    };
    let mut api = ApiError::unprocessable(code, format!("{title}: {err}"));
    api.errors = vec![FieldError::new(field, err.message.clone())];
    if err.kind == EngineErrorKind::LimitExceeded {
        api.status = actix_web::http::StatusCode::PAYLOAD_TOO_LARGE;
    }
    api
}

fn missing_manifest() -> ApiError {
    ApiError::unprocessable(
        "templates.manifest_required",
        format!(
            "The template has no {MANIFEST_FILE}. Native templates describe themselves there; \
             cookiecutter templates ({COOKIECUTTER_FILE}) need one too, with the registry fields \
             name, version, description, category and author."
        ),
    )
    .with_errors(vec![FieldError::new(
        "manifest",
        "send `manifest` in the JSON body or include manifest.yaml in the files",
    )])
}

/// Detects the format and reads metadata and parameters; every problem is a 422.
///
/// A folder with both `manifest.yaml` and `cookiecutter.json` is a cookiecutter template:
/// `manifest.yaml` only supplies the registry metadata (docs/template-format.md).
pub fn inspect(files: &[SourceFile]) -> Result<Inspected, ApiError> {
    let Some(manifest_file) = files.iter().find(|f| f.path == MANIFEST_FILE) else {
        // Let the engine say what is wrong when it is not a template at all.
        engine::detect(files).map_err(engine_error)?;
        return Err(missing_manifest());
    };
    let manifest = Manifest::parse(&manifest_file.content).map_err(engine_error)?;
    // Text from a file becomes registry text: no NULs, as for every other text input.
    if let Some(field) = serde_json::to_value(&manifest)
        .ok()
        .and_then(|v| crate::platform::http::nul::find_nul(&v))
    {
        return Err(ApiError::unprocessable(
            "templates.invalid_template",
            format!("The template is invalid: {MANIFEST_FILE} field `{field}` contains a NUL character; remove it."),
        )
        .with_errors(vec![FieldError::new(
            format!("{MANIFEST_FILE}:{field}"),
            "must not contain a NUL character",
        )]));
    }
    let has_cookiecutter = files.iter().any(|f| f.path == COOKIECUTTER_FILE);
    let spec = if has_cookiecutter {
        let without_manifest: Vec<SourceFile> = files
            .iter()
            .filter(|f| f.path != MANIFEST_FILE)
            .cloned()
            .collect();
        engine::detect(&without_manifest).map_err(engine_error)?
    } else {
        engine::detect(files).map_err(engine_error)?
    };
    let parameters = spec.parameters();
    let has_hooks = spec.has_hooks() || files.iter().any(|f| f.path.starts_with("hooks/"));
    Ok(Inspected {
        spec,
        manifest,
        parameters,
        has_hooks,
    })
}

/// The files the engine renders: for cookiecutter templates the registry's `manifest.yaml` is
/// not part of the template folder cookiecutter sees, so it is left out.
pub fn render_inputs(inspected: &Inspected, files: &[SourceFile]) -> Vec<SourceFile> {
    match inspected.spec {
        TemplateSpec::Cookiecutter(_) => files
            .iter()
            .filter(|f| f.path != MANIFEST_FILE)
            .cloned()
            .collect(),
        TemplateSpec::Native(_) => files.to_vec(),
    }
}

/// Serialises a manifest given as JSON in a request into `manifest.yaml` (key order kept), after
/// the engine validated it.
pub fn manifest_yaml(manifest: &Value) -> Result<Vec<u8>, ApiError> {
    if !manifest.is_object() {
        return Err(ApiError::validation(
            "The manifest must be an object.",
            vec![FieldError::new(
                "manifest",
                "an object with name, version, description, category, author, …",
            )],
        ));
    }
    let yaml = yaml_serde::to_string(manifest).map_err(|e| {
        ApiError::validation(
            "The manifest cannot be written as YAML.",
            vec![FieldError::new("manifest", e.to_string())],
        )
    })?;
    Manifest::parse(yaml.as_bytes()).map_err(engine_error)?;
    Ok(yaml.into_bytes())
}

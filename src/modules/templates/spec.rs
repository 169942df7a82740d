//! The registry's view of a template's files: the renderer's reading ([`render::inspect`]: format,
//! registry metadata, parameters) with its errors as the problems the API returns, and the
//! manifest given as JSON in requests.

use serde_json::Value;

use super::error::TemplatesError;
use crate::platform::http::error::{ApiError, FieldError};
use crate::render::{self, Inspected, Manifest, SourceFile};

/// Detects the format and reads metadata and parameters; every problem is a 4xx naming the file
/// and line.
pub fn inspect(files: &[SourceFile]) -> Result<Inspected, TemplatesError> {
    let inspected = render::inspect(files)?;
    // Text from a file becomes registry text: no NULs, as for every other text input.
    if let Some(field) = serde_json::to_value(&inspected.manifest)
        .ok()
        .and_then(|v| crate::platform::http::nul::find_nul(&v))
    {
        return Err(TemplatesError::NulInManifest { field });
    }
    Ok(inspected)
}

/// Serialises a manifest given as JSON in a request into `manifest.yaml` (key order kept), after
/// the renderer validated it.
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
    Manifest::parse(yaml.as_bytes()).map_err(TemplatesError::from)?;
    Ok(yaml.into_bytes())
}

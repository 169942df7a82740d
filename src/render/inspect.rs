//! How the registry reads a template's file set: the format, the registry metadata (from
//! `manifest.yaml`) and the parameter schema, once, so every user of the files (the write
//! path, the publish gate, scoring, instantiation) works from the same reading.
//!
//! A folder with both `manifest.yaml` and `cookiecutter.json` is a cookiecutter template whose
//! `manifest.yaml` only supplies the registry metadata (docs/template-format.md).

use super::{
    COOKIECUTTER_FILE, MANIFEST_FILE, Manifest, ParameterSpec, RenderError, RenderErrorKind,
    SourceFile, TemplateSpec, detect,
};

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
    pub fn manifest_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.manifest).unwrap_or(serde_json::Value::Null)
    }

    pub fn parameters_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.parameters)
            .unwrap_or_else(|_| serde_json::Value::Array(Vec::new()))
    }

    /// The files the renderer renders: for cookiecutter templates the registry's
    /// `manifest.yaml` is not part of the template folder cookiecutter sees, so it is left out.
    pub fn render_inputs(&self, files: &[SourceFile]) -> Vec<SourceFile> {
        match self.spec {
            TemplateSpec::Cookiecutter(_) => files
                .iter()
                .filter(|f| f.path != MANIFEST_FILE)
                .cloned()
                .collect(),
            TemplateSpec::Native(_) => files.to_vec(),
        }
    }
}

/// Detects the format and reads metadata and parameters. A file set that is a template but has
/// no `manifest.yaml` is a [`RenderErrorKind::MissingManifest`] error.
pub fn inspect(files: &[SourceFile]) -> Result<Inspected, RenderError> {
    let Some(manifest_file) = files.iter().find(|f| f.path == MANIFEST_FILE) else {
        // Say what is wrong when it is not a template at all.
        detect(files)?;
        return Err(RenderError::new(
            RenderErrorKind::MissingManifest,
            None,
            None,
            format!("the template has no {MANIFEST_FILE}"),
        ));
    };
    let manifest = Manifest::parse(&manifest_file.content)?;
    let has_cookiecutter = files.iter().any(|f| f.path == COOKIECUTTER_FILE);
    let spec = if has_cookiecutter {
        let without_manifest: Vec<SourceFile> = files
            .iter()
            .filter(|f| f.path != MANIFEST_FILE)
            .cloned()
            .collect();
        detect(&without_manifest)?
    } else {
        detect(files)?
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

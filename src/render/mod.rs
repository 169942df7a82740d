//! The template renderer: native `manifest.yaml` templates and cookiecutter templates
//! (rendered byte-identically to cookiecutter 2.7.1 with `--no-input`, hooks never run).
//!
//! The caller reads the template's files into [`SourceFile`]s, [`detect`]s the format,
//! [`resolve_parameters`] against the user's input and [`render`]s the result.
//!
//! Everything here is a pure function of its inputs: no file-system or network access, and no
//! module imports (the templates and quality modules use it; it uses neither). The generated
//! tables (`*_table.rs`, `binary_tree.rs`, from `gen_tables.py`) are the only unformatted files.

mod binary;
#[rustfmt::skip]
mod binary_tree;
#[rustfmt::skip]
mod cjk_table;
mod cookiecutter;
#[rustfmt::skip]
mod entities_table;
mod filters;
mod fnmatch;
mod inspect;
mod jinja;
mod manifest;
mod native;
mod output;
mod params;
mod paths;
mod python;
mod slugify;
#[cfg(test)]
pub(crate) mod soup;
#[rustfmt::skip]
mod translit_table;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use binary::is_binary;
pub use cookiecutter::{
    CookiecutterSource, CookiecutterSpec, NestedOption, NestedTemplates, PATH_KEYS,
    SUPPORTED_EXTENSIONS,
};
pub use filters::escape_with;
pub use inspect::{Inspected, inspect};
/// The stack size of the server's threads, so that rendering never needs a fresh stack mapping
/// (a thread with less, e.g. a test's, gets one per rendering).
pub use jinja::RENDER_STACK as THREAD_STACK;
pub use manifest::{CATEGORIES, Dependency, Manifest};
pub use params::{FieldError, ParamType, ParameterSpec};
pub use paths::{MAX_PATH_BYTES, MAX_SEGMENT_BYTES, PathError, safe_relative_path};
pub use slugify::{SlugifyOptions, slugify};

/// One file of a template (or of a rendered project).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Relative, '/'-separated path inside the template.
    pub path: String,
    pub content: Vec<u8>,
    /// The executable bit (kept on output, like `shutil.copymode`).
    pub executable: bool,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        SourceFile {
            path: path.into(),
            content: content.into(),
            executable: false,
        }
    }

    pub fn executable(mut self, yes: bool) -> Self {
        self.executable = yes;
        self
    }
}

/// A template's format and its parsed description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum TemplateSpec {
    Native(Manifest),
    Cookiecutter(CookiecutterSpec),
}

/// Name of the native format's description file.
pub const MANIFEST_FILE: &str = "manifest.yaml";
/// Name of the cookiecutter format's description file.
pub const COOKIECUTTER_FILE: &str = "cookiecutter.json";

/// Detects the format from the file set: a top-level `manifest.yaml` makes a native
/// template (it wins when both files exist); otherwise a top-level `cookiecutter.json`
/// plus a `{{cookiecutter.*}}` folder makes a cookiecutter template.
pub fn detect(files: &[SourceFile]) -> Result<TemplateSpec, RenderError> {
    if let Some(f) = files.iter().find(|f| f.path == MANIFEST_FILE) {
        let mut manifest = Manifest::parse(&f.content)?;
        manifest.check_files(files)?;
        manifest.has_hooks = files.iter().any(|f| f.path.starts_with("hooks/"));
        return Ok(TemplateSpec::Native(manifest));
    }
    if let Some(f) = files.iter().find(|f| f.path == COOKIECUTTER_FILE) {
        return Ok(TemplateSpec::Cookiecutter(CookiecutterSpec::parse(
            &f.content, files,
        )?));
    }
    Err(RenderError::spec(
        None,
        format!(
            "not a template: expected a top-level {MANIFEST_FILE} (native format) or \
             {COOKIECUTTER_FILE} with a {{{{cookiecutter.*}}}} folder (cookiecutter format)"
        ),
    ))
}

impl TemplateSpec {
    /// The parameter schema; the same shape for both formats.
    pub fn parameters(&self) -> Vec<ParameterSpec> {
        match self {
            TemplateSpec::Native(m) => m.parameter_specs(),
            TemplateSpec::Cookiecutter(c) => c.parameter_specs(),
        }
    }

    /// Whether the template ships hooks (a top-level `hooks/` folder). Maestro never runs
    /// them; [`render`] says so in its warnings.
    pub fn has_hooks(&self) -> bool {
        match self {
            TemplateSpec::Native(m) => m.has_hooks,
            TemplateSpec::Cookiecutter(c) => c.has_hooks,
        }
    }

    pub fn format_name(&self) -> &'static str {
        match self {
            TemplateSpec::Native(_) => "native",
            TemplateSpec::Cookiecutter(_) => "cookiecutter",
        }
    }
}

/// Options of one render. `Default` gives a live clock, fresh randomness and generous limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderOptions {
    /// Fixed clock for `{% now %}` (tests, reproducible renders); `None` = current time.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Seed for `uuid4()`, `random_ascii_string()` and the `random` filter; `None` = OS entropy.
    pub seed: Option<u64>,
    pub max_output_files: usize,
    pub max_output_bytes: u64,
    /// Work budget of each single template evaluation (minijinja fuel: about one unit per
    /// instruction or per 64 bytes produced), so a template cannot hang the server.
    pub fuel: u64,
    /// The template's defaults for cookiecutter's `_template`, `_repo_dir`, `_output_dir` and
    /// `_checkout` context keys (a request may still set each one).
    pub source: CookiecutterSource,
    /// The registry name: `_template`'s default when `source.template` is unset (kept for
    /// callers that only know the name).
    #[serde(default)]
    pub template_name: Option<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            now: None,
            seed: None,
            max_output_files: 10_000,
            max_output_bytes: 256 * 1024 * 1024,
            fuel: 2_000_000,
            source: CookiecutterSource::default(),
            template_name: None,
        }
    }
}

/// Resolved parameters: what templates see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The public parameters with their final values, in schema order.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// The top-level template variables. Native: every parameter plus `cookiecutter` (the
    /// same map). Cookiecutter: `cookiecutter` (the full context incl. private keys) and
    /// `_cookiecutter` (the unrendered public values), as cookiecutter passes them.
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// Cookiecutter nested templates: the folder of the chosen template, relative to the
    /// uploaded root (`None` for every other template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_path: Option<String>,
}

/// One produced file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Relative to [`RenderOutput::root_dir`] when that is set.
    pub path: String,
    pub content: Vec<u8>,
    pub executable: bool,
}

/// The rendered project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderOutput {
    /// Cookiecutter renders into a folder named by its template folder
    /// (`{{cookiecutter.project_slug}}` → `my-project`); native templates have none.
    pub root_dir: Option<String>,
    /// Files in generation order.
    pub files: Vec<OutputFile>,
    /// Folders cookiecutter creates that end up with no file (relative to `root_dir`).
    pub empty_dirs: Vec<String>,
    /// Things the user should know, e.g. that hooks were not executed.
    pub warnings: Vec<String>,
}

impl RenderOutput {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.content.len() as u64).sum()
    }
}

/// What went wrong, in which file and line, for the user (a 422 in the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.display())]
pub struct RenderError {
    pub kind: RenderErrorKind,
    /// Template-relative path of the file (or `cookiecutter.json` / `manifest.yaml`).
    pub path: Option<String>,
    /// 1-based line in that file, when known.
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenderErrorKind {
    /// The template's description (manifest.yaml, cookiecutter.json) or layout is invalid.
    InvalidSpec,
    /// A Jinja syntax error.
    Syntax,
    /// Rendering failed (undefined variable, bad filter argument, …).
    Render,
    /// A rendered or uploaded path is unsafe.
    UnsafePath,
    /// Output limits or the work budget were exceeded.
    LimitExceeded,
    /// A feature Maestro does not run (Python extensions, nested templates, …).
    Unsupported,
    /// The parameters passed to `render` do not belong to this template.
    InvalidContext,
    /// A template without the registry's `manifest.yaml` ([`inspect`]).
    MissingManifest,
}

impl RenderError {
    fn display(&self) -> String {
        match (&self.path, self.line) {
            (Some(p), Some(l)) => format!("{p}:{l}: {}", self.message),
            (Some(p), None) => format!("{p}: {}", self.message),
            _ => self.message.clone(),
        }
    }

    pub fn new(
        kind: RenderErrorKind,
        path: Option<&str>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        RenderError {
            kind,
            path: path.map(str::to_string),
            line,
            message: message.into(),
        }
    }

    pub(super) fn spec(path: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(RenderErrorKind::InvalidSpec, path, None, message)
    }
}

/// Validates the caller's parameters against the schema, fills defaults (rendering
/// defaults that reference earlier parameters, as cookiecutter does) and keeps key order.
/// On failure every bad field is listed.
pub fn resolve_parameters(
    spec: &TemplateSpec,
    input: &serde_json::Map<String, serde_json::Value>,
    opts: &RenderOptions,
) -> Result<Context, Vec<FieldError>> {
    // Defaults are templates too: one deep stack for all of them (see `jinja::on_deep_stack`).
    jinja::on_deep_stack(|| match spec {
        TemplateSpec::Native(m) => params::resolve_native(m, input, opts),
        TemplateSpec::Cookiecutter(c) => c.resolve(input, opts),
    })
}

/// Renders the template's files with a resolved context.
pub fn render(
    spec: &TemplateSpec,
    files: &[SourceFile],
    ctx: &Context,
    opts: &RenderOptions,
) -> Result<RenderOutput, RenderError> {
    // One deep stack for all the files (each evaluation needs one; see `jinja::on_deep_stack`).
    let mut out = jinja::on_deep_stack(|| match spec {
        TemplateSpec::Native(m) => native::render_native(m, files, ctx, opts),
        TemplateSpec::Cookiecutter(c) => c.render(files, ctx, opts),
    })?;
    if spec.has_hooks() {
        out.warnings.push(
            "the template has a hooks/ folder; hooks were not executed (Maestro never runs \
             template code)"
                .to_string(),
        );
    }
    Ok(out)
}

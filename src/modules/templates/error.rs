//! `TemplatesError`: every failure the templates module answers with, one variant per failure and
//! one code per variant (`templates.<reason>`, listed in docs/errors.md). `Display` is the
//! problem's `detail` and says what to fix. Generic input problems (a malformed field: 422
//! `request.validation_failed`) and role checks (403 `auth.forbidden`) stay the platform's.

use crate::platform::http::error::FieldError;
use crate::render::{MANIFEST_FILE, RenderError, RenderErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum TemplatesError {
    /// No such template in the caller's tenant (or another tenant's: never confirm it exists).
    #[error("{}", match name {
        Some(name) => format!("No template named `{name}` in your tenant."),
        None => "No template with this id in your tenant.".to_string(),
    })]
    NotFound { name: Option<String> },

    #[error("No such commit in this template's history.")]
    CommitNotFound,

    #[error("The template has no file {path}.")]
    FileNotFound { path: String },

    #[error("The template does not exist at commit {commit}.")]
    NotInCommit { commit: String },

    #[error("{}", match id {
        Some(id) => format!("A template named `{name}` already exists in your tenant (id {id})."),
        None => format!("A template named `{name}` already exists in your tenant."),
    })]
    NameTaken { name: String, id: Option<String> },

    #[error(
        "The template changed since you read it: If-Match names {expected}, the current version \
         is {current}. Read it again and retry."
    )]
    StaleWrite { expected: String, current: String },

    #[error(
        "Send `If-Match` with the template's ETag (from GET /api/v1/templates/{{id}}) so \
         concurrent edits cannot overwrite each other."
    )]
    IfMatchRequired,

    #[error(
        "The template has no {MANIFEST_FILE}. Native templates describe themselves there, with \
         the registry fields name, version, description, category and author (cookiecutter \
         templates get one derived from their folder, README and cookiecutter.json)."
    )]
    ManifestRequired,

    /// A plain cookiecutter folder (no manifest.yaml) whose registry field `field` cannot be
    /// derived (`derive.rs`).
    #[error(
        "The template has no {MANIFEST_FILE} and its `{field}` cannot be derived: {hint} (or \
         include a {MANIFEST_FILE})."
    )]
    ManifestUnderivable { field: &'static str, hint: String },

    /// The template's description (manifest.yaml, cookiecutter.json) or layout is invalid.
    #[error("The template is invalid: {0}")]
    InvalidTemplate(RenderError),

    /// Registry text read from a file (manifest.yaml, cookiecutter.json) holds a NUL, which no
    /// text input may.
    #[error(
        "The template is invalid: {MANIFEST_FILE} field `{field}` contains a NUL character; remove it."
    )]
    NulInManifest { field: String },

    #[error("A template file has a syntax error: {0}")]
    TemplateSyntax(RenderError),

    #[error("Rendering failed: {0}")]
    RenderFailed(RenderError),

    /// A rendered path is unsafe (uploaded paths are checked by `archive`).
    #[error("A rendered path is unsafe: {0}")]
    UnsafeRenderedPath(RenderError),

    #[error("A rendering limit was exceeded: {0}")]
    RenderLimit(RenderError),

    #[error("The template uses an unsupported feature: {0}")]
    UnsupportedFeature(RenderError),

    #[error("The parameters do not fit the template: {0}")]
    InvalidParameters(RenderError),

    /// A workflow or stream request names a tenant or user that does not exist.
    #[error(
        "tenant_id and user_id must name an existing tenant (id or name) and one of its users \
         (id or email)."
    )]
    UnknownUser,

    /// The upload is larger than `templates.max_upload_bytes` (named in the detail by the body
    /// reader, which uses this variant's code).
    #[error("The upload is larger than {limit} bytes (limit templates.max_upload_bytes).")]
    UploadTooLarge { limit: usize },
}

impl From<RenderError> for TemplatesError {
    fn from(err: RenderError) -> Self {
        match err.kind {
            RenderErrorKind::MissingManifest => TemplatesError::ManifestRequired,
            RenderErrorKind::InvalidSpec => TemplatesError::InvalidTemplate(err),
            RenderErrorKind::Syntax => TemplatesError::TemplateSyntax(err),
            RenderErrorKind::Render => TemplatesError::RenderFailed(err),
            RenderErrorKind::UnsafePath => TemplatesError::UnsafeRenderedPath(err),
            RenderErrorKind::LimitExceeded => TemplatesError::RenderLimit(err),
            RenderErrorKind::Unsupported => TemplatesError::UnsupportedFeature(err),
            RenderErrorKind::InvalidContext => TemplatesError::InvalidParameters(err),
        }
    }
}

impl TemplatesError {
    pub fn not_found() -> Self {
        TemplatesError::NotFound { name: None }
    }

    fn render_error(&self) -> Option<&RenderError> {
        match self {
            TemplatesError::InvalidTemplate(e)
            | TemplatesError::TemplateSyntax(e)
            | TemplatesError::RenderFailed(e)
            | TemplatesError::UnsafeRenderedPath(e)
            | TemplatesError::RenderLimit(e)
            | TemplatesError::UnsupportedFeature(e)
            | TemplatesError::InvalidParameters(e) => Some(e),
            _ => None,
        }
    }
}

crate::problem_codes! {
    TemplatesError {
        Self::NotFound { .. } => (NOT_FOUND, "templates.not_found"),
        Self::CommitNotFound => (NOT_FOUND, "templates.commit_not_found"),
        Self::FileNotFound { .. } => (NOT_FOUND, "templates.file_not_found"),
        Self::NotInCommit { .. } => (UNPROCESSABLE_ENTITY, "templates.not_in_commit"),
        Self::NameTaken { .. } => (CONFLICT, "templates.name_taken"),
        Self::StaleWrite { .. } => (PRECONDITION_FAILED, "templates.stale_write"),
        Self::IfMatchRequired => (PRECONDITION_REQUIRED, "templates.if_match_required"),
        Self::ManifestRequired => (UNPROCESSABLE_ENTITY, "templates.manifest_required"),
        Self::ManifestUnderivable { .. } => (UNPROCESSABLE_ENTITY, "templates.manifest_required"),
        Self::InvalidTemplate(_) => (UNPROCESSABLE_ENTITY, "templates.invalid_template"),
        Self::NulInManifest { .. } => (UNPROCESSABLE_ENTITY, "templates.invalid_template"),
        Self::TemplateSyntax(_) => (UNPROCESSABLE_ENTITY, "templates.template_syntax"),
        Self::RenderFailed(_) => (UNPROCESSABLE_ENTITY, "templates.render_failed"),
        Self::UnsafeRenderedPath(_) => (UNPROCESSABLE_ENTITY, "templates.unsafe_path"),
        Self::RenderLimit(_) => (PAYLOAD_TOO_LARGE, "templates.render_limit"),
        Self::UnsupportedFeature(_) => (UNPROCESSABLE_ENTITY, "templates.unsupported_feature"),
        Self::InvalidParameters(_) => (UNPROCESSABLE_ENTITY, "templates.invalid_parameters"),
        Self::UnknownUser => (FORBIDDEN, "templates.unknown_user"),
        Self::UploadTooLarge { .. } => (PAYLOAD_TOO_LARGE, "templates.upload_too_large"),
    }
    field_errors(self) {
        if let Some(err) = self.render_error() {
            let field = match (&err.path, err.line) {
                (Some(path), Some(line)) => format!("{path}:{line}"),
                (Some(path), None) => path.clone(),
                _ => "template".to_string(),
            };
            return vec![FieldError::new(field, err.message.clone())];
        }
        match self {
            TemplatesError::NulInManifest { field } => vec![FieldError::new(
                format!("{MANIFEST_FILE}:{field}"),
                "contains a NUL character",
            )],
            TemplatesError::ManifestUnderivable { field, hint } => {
                vec![FieldError::new(*field, hint.clone())]
            }
            TemplatesError::ManifestRequired => vec![FieldError::new(
                "manifest",
                "send `manifest` in the JSON body or include manifest.yaml in the files",
            )],
            _ => Vec::new(),
        }
    }
}

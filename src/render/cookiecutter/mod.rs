//! Cookiecutter templates, reproducing cookiecutter 2.7.1 with `--no-input` and hooks off:
//! `generate_context` + `apply_overwrites_to_context` (the caller's values act as
//! `extra_context`), `prompt_for_config(no_input=True)`, and `generate_files`.
//!
//! Here: the template's description ([`CookiecutterSpec`], [`CookiecutterSource`]) and resolving
//! a request's values into a context; [`context`] holds cookiecutter's context rules,
//! [`generate`] the file generation, [`nested`] nested templates.

mod context;
mod generate;
mod nested;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::jinja::{Loader, Renderer};
use super::params::{FieldError, ParamType, ParameterSpec, kind_name, unknown_fields};
use super::{
    COOKIECUTTER_FILE, Context, RenderError, RenderErrorKind, RenderOptions, RenderOutput,
    SourceFile,
};
use context::{
    check_extensions, copy_without_render, find_template_dir, new_lines, overwrite,
    prompt_for_config, syntax_from,
};
use nested::parse_nested;

/// `_extensions` entries Maestro provides natively (cookiecutter's defaults, the legacy
/// jinja2-time name, and Jinja's built-in extensions minijinja supports).
pub const SUPPORTED_EXTENSIONS: [&str; 8] = [
    "cookiecutter.extensions.JsonifyExtension",
    "cookiecutter.extensions.RandomStringExtension",
    "cookiecutter.extensions.SlugifyExtension",
    "cookiecutter.extensions.TimeExtension",
    "cookiecutter.extensions.UUIDExtension",
    "jinja2_time.TimeExtension",
    "jinja2.ext.loopcontrols",
    "jinja2.ext.do",
];

/// The context keys in which cookiecutter records where the template came from (`main.py` sets
/// them after prompting, whatever `cookiecutter.json` says). A request may set each one.
pub const PATH_KEYS: [&str; 4] = ["_template", "_output_dir", "_repo_dir", "_checkout"];

/// A template's defaults for [`PATH_KEYS`]: what cookiecutter would record when run on the
/// template's source. cookiecutter writes its command-line arguments there (`_template`: the
/// path or git URL given, `_checkout`: `--checkout`, `_output_dir`: the absolute output folder,
/// `_repo_dir`: the local folder of the template, a clone for a URL). Unset fields default to
/// `"template"` (`_template`), `_template` (`_repo_dir`), `"."` (`_output_dir`) and null
/// (`_checkout`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookiecutterSource {
    /// `_template`.
    pub template: Option<String>,
    /// `_repo_dir`.
    pub repo_dir: Option<String>,
    /// `_output_dir`.
    pub output_dir: Option<String>,
    /// `_checkout`.
    pub checkout: Option<String>,
}

impl CookiecutterSource {
    /// A template known by its registry name only.
    pub fn named(name: &str) -> Self {
        CookiecutterSource {
            template: Some(name.to_string()),
            ..CookiecutterSource::default()
        }
    }

    /// A template imported from `url` at `reference` (`cookiecutter URL --checkout REF`).
    pub fn git(url: &str, reference: Option<&str>) -> Self {
        CookiecutterSource {
            template: Some(url.to_string()),
            checkout: reference.map(str::to_string),
            ..CookiecutterSource::default()
        }
    }

    /// What cookiecutter records when it recurses into the nested template at `path`: the
    /// nested folder becomes both `_template` and `_repo_dir`.
    fn nested(&self, path: &str) -> Self {
        let base = self
            .repo_dir
            .clone()
            .or_else(|| self.template.clone())
            .unwrap_or_else(|| "template".to_string());
        let dir = format!("{}/{path}", base.trim_end_matches('/'));
        CookiecutterSource {
            template: Some(dir.clone()),
            repo_dir: Some(dir),
            output_dir: self.output_dir.clone(),
            checkout: self.checkout.clone(),
        }
    }

    /// The source of a render: `opts.source`, with the registry name as `_template` when the
    /// source does not say.
    fn of(opts: &RenderOptions) -> Self {
        let mut source = opts.source.clone();
        if source.template.is_none() {
            source.template = opts.template_name.clone();
        }
        source
    }

    /// The four keys in cookiecutter's order, with the request's values (`set`) winning.
    fn values(&self, set: &Map<String, Json>) -> [(&'static str, Json); 4] {
        let template = self
            .template
            .clone()
            .unwrap_or_else(|| "template".to_string());
        let default = |key: &str, v: Json| set.get(key).cloned().unwrap_or(v);
        [
            (
                "_template",
                default("_template", Json::String(template.clone())),
            ),
            (
                "_output_dir",
                default(
                    "_output_dir",
                    Json::String(self.output_dir.clone().unwrap_or_else(|| ".".into())),
                ),
            ),
            (
                "_repo_dir",
                default(
                    "_repo_dir",
                    Json::String(self.repo_dir.clone().unwrap_or(template)),
                ),
            ),
            (
                "_checkout",
                default(
                    "_checkout",
                    self.checkout
                        .clone()
                        .map(Json::String)
                        .unwrap_or(Json::Null),
                ),
            ),
        ]
    }
}

/// A parsed cookiecutter template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CookiecutterSpec {
    /// `cookiecutter.json` as written, key order kept.
    pub context: Map<String, Json>,
    /// The project template folder, e.g. `{{cookiecutter.project_slug}}` (empty for a
    /// template that only lists nested templates).
    pub template_dir: String,
    pub has_hooks: bool,
    /// Nested templates (`templates` / the old `template` list), when `cookiecutter.json`
    /// has them: cookiecutter then renders only the chosen one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nested: Option<NestedTemplates>,
}

/// cookiecutter's nested templates (`choose_nested_template`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedTemplates {
    /// `templates` (cookiecutter ≥ 2.5: a map of key → {path, title, description}) or
    /// `template` (the old list of `"Title (path)"` strings). It is also the parameter that
    /// chooses.
    pub key: String,
    pub options: Vec<NestedOption>,
}

/// One nested template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedOption {
    /// The value that chooses it: the key (`templates`, what cookiecutter's prompt returns) or
    /// the entry as written (`template`, what cookiecutter's `extra_context` matches).
    pub choice: String,
    /// Its folder, relative to the uploaded root, normalised (`./a/` → `a`).
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub spec: CookiecutterSpec,
}

fn spec_err(msg: impl Into<String>) -> RenderError {
    RenderError::spec(Some(COOKIECUTTER_FILE), msg)
}

impl CookiecutterSpec {
    /// Parses `cookiecutter.json` and finds the project template folder in `files`.
    pub fn parse(bytes: &[u8], files: &[SourceFile]) -> Result<CookiecutterSpec, RenderError> {
        let doc: Json = serde_json::from_slice(bytes).map_err(|e| {
            RenderError::new(
                RenderErrorKind::InvalidSpec,
                Some(COOKIECUTTER_FILE),
                Some(e.line()).filter(|l| *l > 0),
                format!("JSON decoding error: {e}"),
            )
        })?;
        let Json::Object(context) = doc else {
            return Err(spec_err(format!(
                "must be a JSON object of variables, got {}",
                kind_name(&doc)
            )));
        };
        check_extensions(&context)?;
        let syntax = syntax_from(&context)?;
        let has_hooks = files.iter().any(|f| f.path.starts_with("hooks/"));
        if context.contains_key("template") || context.contains_key("templates") {
            let nested = parse_nested(&context, files, &syntax)?;
            let has_hooks = has_hooks || nested.options.iter().any(|o| o.spec.has_hooks);
            return Ok(CookiecutterSpec {
                context,
                template_dir: String::new(),
                has_hooks,
                nested: Some(nested),
            });
        }
        let template_dir = find_template_dir(files, &syntax)?;
        Ok(CookiecutterSpec {
            context,
            template_dir,
            has_hooks,
            nested: None,
        })
    }

    /// Whether `key` may be given at instantiation: a variable of `cookiecutter.json`
    /// (private ones included, like cookiecutter's `extra_context`), or for nested templates
    /// the choosing key and the variables of any nested template.
    fn knows(&self, key: &str) -> bool {
        match &self.nested {
            Some(n) => n.key == key || n.options.iter().any(|o| o.spec.knows(key)),
            None => self.context.contains_key(key),
        }
    }

    /// The help `__prompts__` gives for `key`: a string, or a map's `__prompt__`.
    fn prompt_help(&self, key: &str) -> Option<String> {
        match self.context.get("__prompts__")?.get(key)? {
            Json::String(s) => Some(s.clone()),
            Json::Object(m) => m
                .get("__prompt__")
                .and_then(Json::as_str)
                .map(str::to_string),
            _ => None,
        }
    }

    /// The schema inferred from `cookiecutter.json`. Nested templates: the choosing parameter,
    /// then the variables of every nested template (the first declaration of a name wins).
    pub(super) fn parameter_specs(&self) -> Vec<ParameterSpec> {
        if let Some(n) = &self.nested {
            return self.nested_parameter_specs(n);
        }
        self.context
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| {
                let help = self.prompt_help(k);
                let (param_type, default, choices) = match v {
                    Json::Array(items) => (
                        ParamType::Choice,
                        items.first().cloned(),
                        Some(items.clone()),
                    ),
                    Json::Bool(_) => (ParamType::Boolean, Some(v.clone()), None),
                    Json::Number(n) if n.is_f64() => (ParamType::Number, Some(v.clone()), None),
                    Json::Number(_) => (ParamType::Integer, Some(v.clone()), None),
                    Json::Object(_) => (ParamType::Object, Some(v.clone()), None),
                    Json::String(_) => (ParamType::String, Some(v.clone()), None),
                    Json::Null => (ParamType::String, None, None),
                };
                ParameterSpec {
                    name: k.clone(),
                    param_type,
                    default,
                    choices,
                    pattern: None,
                    required: false,
                    help,
                }
            })
            .collect()
    }

    /// `generate_context(extra_context=input)` then `prompt_for_config(no_input=True)`.
    /// Private (`_`) variables of `cookiecutter.json` may be overridden like public ones, with
    /// cookiecutter's `apply_overwrites_to_context` rules; [`PATH_KEYS`] may always be set.
    pub(super) fn resolve(
        &self,
        input: &Map<String, Json>,
        opts: &RenderOptions,
    ) -> Result<Context, Vec<FieldError>> {
        if let Some(n) = &self.nested {
            return self.resolve_nested(n, input, opts);
        }
        let mut raw = self.context.clone();
        let public: Vec<String> = raw
            .keys()
            .filter(|k| !k.starts_with('_'))
            .cloned()
            .collect();
        let mut errors = Vec::new();
        let mut paths = Map::new();
        for (key, value) in input {
            if PATH_KEYS.contains(&key.as_str()) {
                match path_value(key, value) {
                    Ok(v) => {
                        paths.insert(key.clone(), v);
                    }
                    Err(msg) => errors.push(FieldError::new(key.clone(), msg)),
                }
                continue;
            }
            let Some(slot) = raw.get_mut(key) else {
                if key.starts_with('_') {
                    let private: Vec<&str> = self
                        .context
                        .keys()
                        .filter(|k| k.starts_with('_'))
                        .map(String::as_str)
                        .collect();
                    errors.push(FieldError::new(
                        key.clone(),
                        format!(
                            "not a private variable of this template (cookiecutter.json has {}); \
                             {} can always be set",
                            if private.is_empty() {
                                "none".to_string()
                            } else {
                                private.join(", ")
                            },
                            PATH_KEYS.join(", ")
                        ),
                    ));
                } else {
                    errors.push(unknown_field(key, &public));
                }
                continue;
            };
            if value.is_null() {
                continue;
            }
            if let Err(msg) = overwrite(slot, value) {
                errors.push(FieldError::new(key.clone(), msg));
            }
        }
        // Overridden private settings must still be valid.
        if input.contains_key("_extensions")
            && let Err(e) = check_extensions(&raw)
        {
            errors.push(FieldError::new("_extensions", e.message));
        }
        for (key, check) in [
            ("_jinja2_env_vars", syntax_from(&raw).err()),
            ("_new_lines", new_lines(&raw).err()),
            ("_copy_without_render", copy_without_render(&raw).err()),
        ] {
            if input.contains_key(key)
                && let Some(e) = check
            {
                errors.push(FieldError::new(key, e.message));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // main(): `_cookiecutter` keeps the public values before rendering.
        let unrendered: Map<String, Json> = raw
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        raw.shift_remove("__prompts__");

        let syntax =
            syntax_from(&raw).map_err(|e| vec![FieldError::new("(template)", e.to_string())])?;
        let renderer = Renderer::new(
            &[],
            Loader {
                prefixes: Vec::new(),
            },
            syntax,
            opts,
        )
        .map_err(|e| vec![FieldError::new("(template)", e.to_string())])?;

        let rendered = prompt_for_config(&raw, &renderer)?;
        let mut full = raw;
        for (k, v) in rendered {
            full.insert(k, v);
        }
        for (key, value) in CookiecutterSource::of(opts).values(&paths) {
            full.insert(key.into(), value);
        }

        let parameters: Map<String, Json> = public
            .iter()
            .filter_map(|k| full.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        let mut variables = Map::new();
        variables.insert("cookiecutter".into(), Json::Object(full));
        variables.insert("_cookiecutter".into(), Json::Object(unrendered));
        Ok(Context {
            parameters,
            variables,
            template_path: None,
        })
    }

    /// `generate_files`: renders the project template folder (of the chosen nested template).
    pub(super) fn render(
        &self,
        files: &[SourceFile],
        ctx: &Context,
        opts: &RenderOptions,
    ) -> Result<RenderOutput, RenderError> {
        match &self.nested {
            Some(n) => self.render_nested(n, files, ctx, opts),
            None => generate::generate_files(&self.template_dir, files, ctx, opts),
        }
    }
}

/// The error for an input key that is not a variable of the template.
fn unknown_field(key: &str, names: &[String]) -> FieldError {
    let mut input = Map::new();
    input.insert(key.to_string(), Json::Null);
    unknown_fields(&input, names.iter().map(String::as_str))
        .pop()
        .unwrap_or_else(|| FieldError::new(key, "unknown parameter"))
}

/// A request's value for one of [`PATH_KEYS`]: a string (`_checkout` may also be null).
fn path_value(key: &str, value: &Json) -> Result<Json, String> {
    match value {
        Json::String(_) => Ok(value.clone()),
        Json::Null if key == "_checkout" => Ok(Json::Null),
        other => Err(format!(
            "expected a string{}, got {}",
            if key == "_checkout" { " or null" } else { "" },
            kind_name(other)
        )),
    }
}

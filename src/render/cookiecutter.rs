//! Cookiecutter templates, reproducing cookiecutter 2.7.1 with `--no-input` and hooks off:
//! `generate_context` + `apply_overwrites_to_context` (the caller's values act as
//! `extra_context`), `prompt_for_config(no_input=True)`, and `generate_files`.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::Value;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::fnmatch::Pattern;
use super::jinja::{Loader, Renderer, Syntax};
use super::output::{self, Budget};
use super::params::{
    FieldError, ParamType, ParameterSpec, choice_matches, choices_text, coerce_bool,
    coerce_integer, coerce_number, kind_name, unknown_fields,
};
use super::paths;
use super::python::float_repr;
use super::{
    COOKIECUTTER_FILE, Context, OutputFile, RenderError, RenderErrorKind, RenderOptions,
    RenderOutput, SourceFile, binary, safe_relative_path,
};

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

    fn prompts(&self) -> Option<&Map<String, Json>> {
        self.context.get("__prompts__").and_then(Json::as_object)
    }

    /// The schema inferred from `cookiecutter.json`. Nested templates: the choosing parameter,
    /// then the variables of every nested template (the first declaration of a name wins).
    pub(super) fn parameter_specs(&self) -> Vec<ParameterSpec> {
        if let Some(n) = &self.nested {
            return self.nested_parameter_specs(n);
        }
        let prompts = self.prompts();
        self.context
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| {
                let help = prompts.and_then(|p| p.get(k)).and_then(|h| match h {
                    Json::String(s) => Some(s.clone()),
                    Json::Object(m) => m
                        .get("__prompt__")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                    _ => None,
                });
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

    fn nested_parameter_specs(&self, n: &NestedTemplates) -> Vec<ParameterSpec> {
        let choices: Vec<Json> = n
            .options
            .iter()
            .map(|o| Json::String(o.choice.clone()))
            .collect();
        let prompt = self
            .prompts()
            .and_then(|p| p.get(&n.key))
            .and_then(|h| match h {
                Json::String(s) => Some(s.clone()),
                Json::Object(m) => m
                    .get("__prompt__")
                    .and_then(Json::as_str)
                    .map(str::to_string),
                _ => None,
            });
        let listed: Vec<String> = n
            .options
            .iter()
            .map(|o| {
                let mut line = o.choice.clone();
                if let Some(t) = &o.title {
                    line.push_str(&format!(": {t}"));
                }
                if let Some(d) = &o.description {
                    line.push_str(&format!(" ({d})"));
                }
                line
            })
            .collect();
        let help = format!(
            "{}: {}",
            prompt.unwrap_or_else(|| "The nested template to generate".to_string()),
            listed.join("; ")
        );
        let mut specs = vec![ParameterSpec {
            name: n.key.clone(),
            param_type: ParamType::Choice,
            default: choices.first().cloned(),
            choices: Some(choices),
            pattern: None,
            required: false,
            help: Some(help),
        }];
        for o in &n.options {
            for p in o.spec.parameter_specs() {
                if !specs.iter().any(|s| s.name == p.name) {
                    specs.push(p);
                }
            }
        }
        specs
    }

    /// `choose_nested_template`: the option named by `input[key]` (the first one by default,
    /// as under `--no-input`), resolved with the same input (cookiecutter passes the same
    /// `extra_context` down; variables the chosen template does not have are ignored).
    fn resolve_nested(
        &self,
        n: &NestedTemplates,
        input: &Map<String, Json>,
        opts: &RenderOptions,
    ) -> Result<Context, Vec<FieldError>> {
        let names: Vec<String> = self.parameter_specs().into_iter().map(|p| p.name).collect();
        let mut errors: Vec<FieldError> = input
            .keys()
            .filter(|k| !PATH_KEYS.contains(&k.as_str()) && !self.knows(k))
            .map(|k| unknown_field(k, &names))
            .collect();
        let chosen = match input.get(&n.key).filter(|v| !v.is_null()) {
            None => n.options.first(),
            Some(v) => {
                let found = n
                    .options
                    .iter()
                    .find(|o| choice_matches(v, &Json::String(o.choice.clone())));
                if found.is_none() {
                    let choices: Vec<Json> = n
                        .options
                        .iter()
                        .map(|o| Json::String(o.choice.clone()))
                        .collect();
                    errors.push(FieldError::new(
                        n.key.clone(),
                        format!("{v} is not one of the choices: {}", choices_text(&choices)),
                    ));
                }
                found
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let Some(chosen) = chosen else {
            return Err(vec![FieldError::new(
                n.key.clone(),
                "the list of choices is empty",
            )]);
        };
        let sub_input: Map<String, Json> = input
            .iter()
            .filter(|(k, _)| {
                PATH_KEYS.contains(&k.as_str()) || (**k != n.key && chosen.spec.knows(k))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let sub_opts = RenderOptions {
            source: CookiecutterSource::of(opts).nested(&chosen.path),
            ..opts.clone()
        };
        let mut ctx = chosen.spec.resolve(&sub_input, &sub_opts)?;
        ctx.template_path = Some(match ctx.template_path.take() {
            Some(inner) => format!("{}/{inner}", chosen.path),
            None => chosen.path.clone(),
        });
        Ok(ctx)
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
        if let Some(n) = &self.nested {
            let path = ctx.template_path.as_deref().unwrap_or_default();
            let found = n.options.iter().find_map(|o| {
                if path == o.path {
                    Some((o, None))
                } else {
                    path.strip_prefix(&format!("{}/", o.path))
                        .map(|rest| (o, Some(rest.to_string())))
                }
            });
            let Some((option, rest)) = found else {
                return Err(RenderError::new(
                    RenderErrorKind::InvalidContext,
                    None,
                    None,
                    "the context names no nested template of this template; resolve its parameters first",
                ));
            };
            let sub_files = files_under(files, &option.path);
            let sub_ctx = Context {
                template_path: rest,
                ..ctx.clone()
            };
            return option.spec.render(&sub_files, &sub_ctx, opts);
        }
        let Some(Json::Object(cc)) = ctx.variables.get("cookiecutter") else {
            return Err(RenderError::new(
                RenderErrorKind::InvalidContext,
                None,
                None,
                "the context has no `cookiecutter` map; resolve the parameters of this template first",
            ));
        };
        let syntax = syntax_from(cc)?;
        let tdir = self.template_dir.as_str();
        let renderer = Renderer::new(
            files,
            Loader {
                prefixes: vec![format!("{tdir}/"), "templates/".to_string()],
            },
            syntax,
            opts,
        )?;
        let context = super::python::to_value(&ctx.variables);
        let newline = new_lines(cc)?;
        let copy_globs = copy_without_render(cc)?;

        let project =
            renderer.render_str(tdir, &context, tdir, "rendering the project folder name")?;
        if project.is_empty() {
            return Err(RenderError::new(
                RenderErrorKind::Render,
                Some(tdir),
                None,
                "the project folder name renders empty (cookiecutter fails here too)",
            ));
        }
        let root_dir =
            safe_relative_path(&project).map_err(|e| output::unsafe_path(tdir, &project, e))?;

        // The folder tree under the template folder.
        let prefix = format!("{tdir}/");
        let mut tree: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        let mut sources: BTreeMap<String, &SourceFile> = BTreeMap::new();
        tree.entry(String::new()).or_default();
        for f in files {
            let Some(rel) = f.path.strip_prefix(&prefix) else {
                continue;
            };
            sources.insert(rel.to_string(), f);
            let mut parent = String::new();
            let segs: Vec<&str> = rel.split('/').collect();
            for (i, seg) in segs.iter().enumerate() {
                if i + 1 == segs.len() {
                    tree.entry(parent.clone())
                        .or_default()
                        .1
                        .insert(seg.to_string());
                } else {
                    tree.entry(parent.clone())
                        .or_default()
                        .0
                        .insert(seg.to_string());
                    parent = super::paths::join(&[&parent, seg]);
                    tree.entry(parent.clone()).or_default();
                }
            }
        }

        let mut walk = Walk {
            renderer: &renderer,
            context: &context,
            tdir,
            tree: &tree,
            sources: &sources,
            copy_globs: &copy_globs,
            newline,
            output: Vec::new(),
            created: BTreeSet::new(),
            budget: Budget::new(opts),
        };
        walk.dir("")?;
        let empty_dirs = output::empty_dirs(&walk.created, &walk.output);
        Ok(RenderOutput {
            root_dir: Some(root_dir),
            files: walk.output,
            empty_dirs,
            warnings: Vec::new(),
        })
    }
}

/// State of the `os.walk` over the template folder.
struct Walk<'a> {
    renderer: &'a Renderer,
    context: &'a Value,
    tdir: &'a str,
    tree: &'a BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    sources: &'a BTreeMap<String, &'a SourceFile>,
    copy_globs: &'a [Pattern],
    newline: Option<&'static str>,
    output: Vec<OutputFile>,
    created: BTreeSet<String>,
    budget: Budget,
}

impl Walk<'_> {
    fn display(&self, rel: &str) -> String {
        format!("{}/{rel}", self.tdir)
    }

    fn copy_only(&self, rel: &str) -> bool {
        self.copy_globs.iter().any(|g| g.matches(rel))
    }

    fn render_path(&self, rel: &str) -> Result<String, RenderError> {
        self.renderer
            .render_str(rel, self.context, &self.display(rel), "rendering the path")
    }

    /// A rendered file path as an output path; `None` when the file name rendered empty.
    fn out_path(&self, rel: &str, rendered: &str) -> Result<Option<String>, RenderError> {
        if rendered.is_empty() || rendered.ends_with('/') {
            return Ok(None);
        }
        let norm: Vec<&str> = rendered
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        if norm.is_empty() {
            return Ok(None);
        }
        let joined = norm.join("/");
        safe_relative_path(&joined)
            .map(Some)
            .map_err(|e| output::unsafe_path(&self.display(rel), rendered, e))
    }

    fn push(&mut self, file: OutputFile) -> Result<(), RenderError> {
        output::push_output(&mut self.output, &mut self.budget, file)
    }

    fn dir(&mut self, dir_rel: &str) -> Result<(), RenderError> {
        let Some((subdirs, files)) = self.tree.get(dir_rel) else {
            return Ok(());
        };
        let mut render_dirs = Vec::new();
        for d in subdirs {
            let d_rel = super::paths::join(&[dir_rel, d]);
            if self.copy_only(&super::paths::normpath(&d_rel)) {
                self.copy_dir(&d_rel)?;
            } else {
                render_dirs.push(d_rel);
            }
        }
        let mut walk_into = Vec::new();
        for d_rel in render_dirs {
            let rendered = self.render_path(&d_rel)?;
            match self.out_path(&d_rel, rendered.trim_end_matches('/'))? {
                Some(p) => {
                    self.created.insert(p);
                    walk_into.push(d_rel);
                }
                None => {
                    // cookiecutter 2.7.1 "creates" the parent folder again and stops with
                    // OutputDirExistsException.
                    return Err(RenderError::new(
                        RenderErrorKind::Render,
                        Some(&self.display(&d_rel)),
                        None,
                        "the folder name renders empty; cookiecutter 2.7.1 stops here too \
                         (OutputDirExistsException). Make the condition part of the file names \
                         inside the folder instead",
                    ));
                }
            }
        }
        for f in files {
            let rel = super::paths::join(&[dir_rel, f]);
            let Some(src) = self.sources.get(&rel).copied() else {
                continue;
            };
            let rendered = self.render_path(&rel)?;
            let Some(out) = self.out_path(&rel, &rendered)? else {
                continue;
            };
            if self.created.contains(&out) {
                // os.path.isdir(outfile): cookiecutter skips names that are folders.
                continue;
            }
            let content = if self.copy_only(&rel) || binary::is_binary(&rel, &src.content) {
                src.content.clone()
            } else {
                output::render_text(
                    self.renderer,
                    &rel,
                    &self.display(&rel),
                    &src.content,
                    self.context,
                    self.newline,
                )?
            };
            self.push(OutputFile {
                path: out,
                content,
                executable: src.executable,
            })?;
        }
        for d_rel in walk_into {
            self.dir(&d_rel)?;
        }
        Ok(())
    }

    /// A `_copy_without_render` folder: its path is rendered, everything inside is copied
    /// with its names and contents untouched (`shutil.copytree`).
    fn copy_dir(&mut self, d_rel: &str) -> Result<(), RenderError> {
        let rendered = self.render_path(d_rel)?;
        let Some(out_dir) = self.out_path(d_rel, &rendered)? else {
            return Ok(());
        };
        self.created.insert(out_dir.clone());
        let prefix = format!("{d_rel}/");
        let inside: Vec<(String, &SourceFile)> = self
            .sources
            .iter()
            .filter_map(|(rel, f)| rel.strip_prefix(&prefix).map(|rest| (rest.to_string(), *f)))
            .collect();
        for (rest, src) in inside {
            let joined = format!("{out_dir}/{rest}");
            let path = safe_relative_path(&joined)
                .map_err(|e| output::unsafe_path(&self.display(d_rel), &joined, e))?;
            self.push(OutputFile {
                path,
                content: src.content.clone(),
                executable: src.executable,
            })?;
        }
        Ok(())
    }
}

/// `apply_overwrites_to_context` for one top-level variable, with Maestro's type checks.
fn overwrite(slot: &mut Json, value: &Json) -> Result<(), String> {
    match slot {
        Json::Array(options) => {
            if let Json::Array(selected) = value {
                // Multichoice: a subset of the options replaces the list.
                let bad: Vec<&Json> = selected
                    .iter()
                    .filter(|s| !options.iter().any(|o| choice_matches(s, o)))
                    .collect();
                if !bad.is_empty() {
                    return Err(format!(
                        "{} provided for a multi-choice variable, but the choices are: {}",
                        value,
                        choices_text(options)
                    ));
                }
                if selected.is_empty() {
                    return Err("the list of choices is empty".into());
                }
                let chosen: Vec<Json> = selected
                    .iter()
                    .filter_map(|s| options.iter().find(|o| choice_matches(s, o)).cloned())
                    .collect();
                *slot = Json::Array(chosen);
                return Ok(());
            }
            match options.iter().position(|o| choice_matches(value, o)) {
                Some(i) => {
                    // The chosen option becomes the first (= the default under --no-input).
                    let chosen = options.remove(i);
                    options.insert(0, chosen);
                    Ok(())
                }
                None => Err(format!(
                    "{value} is not one of the choices: {}",
                    choices_text(options)
                )),
            }
        }
        Json::Object(map) => match value {
            Json::Object(over) => {
                merge_dict(map, over);
                Ok(())
            }
            other => Err(format!(
                "expected an object (it is merged into the default), got {}",
                kind_name(other)
            )),
        },
        Json::Bool(_) => {
            *slot = Json::Bool(coerce_bool(value)?);
            Ok(())
        }
        Json::Number(n) if n.is_f64() => {
            *slot = coerce_number(value)?;
            Ok(())
        }
        Json::Number(_) => {
            *slot = coerce_integer(value)?;
            Ok(())
        }
        Json::String(_) => match value {
            Json::String(_) => {
                *slot = value.clone();
                Ok(())
            }
            other => Err(format!("expected a string, got {}", kind_name(other))),
        },
        Json::Null => match value {
            Json::String(_) | Json::Number(_) | Json::Bool(_) => {
                *slot = value.clone();
                Ok(())
            }
            other => Err(format!("expected a string, got {}", kind_name(other))),
        },
    }
}

/// `apply_overwrites_to_context(..., in_dictionary_variable=True)`.
fn merge_dict(map: &mut Map<String, Json>, over: &Map<String, Json>) {
    for (k, v) in over {
        match (map.get_mut(k), v) {
            (Some(Json::Object(inner)), Json::Object(o)) => merge_dict(inner, o),
            (Some(slot), _) => *slot = v.clone(),
            (None, _) => {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `prompt_for_config(context, no_input=True)`: renders every value in cookiecutter's two
/// passes (plain values and choices first, dictionaries second).
fn prompt_for_config(
    raw: &Map<String, Json>,
    r: &Renderer,
) -> Result<Map<String, Json>, Vec<FieldError>> {
    let mut dict = Map::new();
    let fail = |key: &str, e: RenderError| {
        vec![FieldError::new(
            key,
            format!("unable to render variable '{key}': {}", e.message),
        )]
    };
    for (key, value) in raw {
        if key.starts_with('_') && !key.starts_with("__") {
            dict.insert(key.clone(), value.clone());
            continue;
        }
        if key.starts_with("__") {
            let v = render_variable(r, value, &dict).map_err(|e| fail(key, e))?;
            dict.insert(key.clone(), v);
            continue;
        }
        match value {
            Json::Array(options) => {
                let mut rendered = Vec::new();
                for o in options {
                    rendered.push(render_variable(r, o, &dict).map_err(|e| fail(key, e))?);
                }
                match rendered.into_iter().next() {
                    Some(first) => {
                        dict.insert(key.clone(), first);
                    }
                    None => return Err(vec![FieldError::new(key, "the list of choices is empty")]),
                }
            }
            Json::Object(_) => {}
            other => {
                let v = render_variable(r, other, &dict).map_err(|e| fail(key, e))?;
                dict.insert(key.clone(), v);
            }
        }
    }
    for (key, value) in raw {
        if key.starts_with('_') && !key.starts_with("__") {
            continue;
        }
        if value.is_object() {
            let v = render_variable(r, value, &dict).map_err(|e| fail(key, e))?;
            dict.insert(key.clone(), v);
        }
    }
    Ok(dict)
}

/// `render_variable`: strings are rendered with `cookiecutter` = the values so far; other
/// scalars become their Python `str()` first; booleans and null stay as they are.
fn render_variable(
    r: &Renderer,
    raw: &Json,
    dict: &Map<String, Json>,
) -> Result<Json, RenderError> {
    let text = match raw {
        Json::Null | Json::Bool(_) => return Ok(raw.clone()),
        Json::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let rk = match render_variable(r, &Json::String(k.clone()), dict)? {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                let rv = render_variable(r, v, dict)?;
                out.insert(rk, rv);
            }
            return Ok(Json::Object(out));
        }
        Json::Array(items) => {
            return items
                .iter()
                .map(|v| render_variable(r, v, dict))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array);
        }
        Json::Number(n) if n.is_f64() => float_repr(n.as_f64().unwrap_or(f64::NAN)),
        Json::Number(n) => n.to_string(),
        Json::String(s) => s.clone(),
    };
    let mut ctx = Map::new();
    ctx.insert("cookiecutter".into(), Json::Object(dict.clone()));
    let v = r.render_str(&text, &super::python::to_value(&ctx), COOKIECUTTER_FILE, "")?;
    Ok(Json::String(v))
}

fn check_extensions(context: &Map<String, Json>) -> Result<(), RenderError> {
    let Some(ext) = context.get("_extensions") else {
        return Ok(());
    };
    let Json::Array(items) = ext else {
        return Err(spec_err(format!(
            "_extensions must be a list of extension names, got {}",
            kind_name(ext)
        )));
    };
    let mut refused = Vec::new();
    for item in items {
        let name = match item {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !SUPPORTED_EXTENSIONS.contains(&name.as_str()) {
            refused.push(name);
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(RenderError::new(
        RenderErrorKind::Unsupported,
        Some(COOKIECUTTER_FILE),
        None,
        format!(
            "_extensions: {} {} Python code, which Maestro never runs; supported extensions are: {}",
            refused.join(", "),
            if refused.len() == 1 { "is" } else { "are" },
            SUPPORTED_EXTENSIONS.join(", ")
        ),
    ))
}

/// Jinja settings from `_jinja2_env_vars`.
fn syntax_from(context: &Map<String, Json>) -> Result<Syntax, RenderError> {
    let mut s = Syntax::default();
    let Some(vars) = context.get("_jinja2_env_vars") else {
        return Ok(s);
    };
    let Json::Object(vars) = vars else {
        return Err(spec_err(format!(
            "_jinja2_env_vars must be an object, got {}",
            kind_name(vars)
        )));
    };
    for (k, v) in vars {
        let text = || {
            v.as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .ok_or_else(|| spec_err(format!("_jinja2_env_vars.{k} must be a non-empty string")))
        };
        let flag = || {
            v.as_bool()
                .ok_or_else(|| spec_err(format!("_jinja2_env_vars.{k} must be true or false")))
        };
        match k.as_str() {
            "trim_blocks" => s.trim_blocks = flag()?,
            "lstrip_blocks" => s.lstrip_blocks = flag()?,
            "autoescape" => s.autoescape = flag()?,
            "block_start_string" => s.block.0 = text()?,
            "block_end_string" => s.block.1 = text()?,
            "variable_start_string" => s.variable.0 = text()?,
            "variable_end_string" => s.variable.1 = text()?,
            "comment_start_string" => s.comment.0 = text()?,
            "comment_end_string" => s.comment.1 = text()?,
            "line_statement_prefix" => s.line_statement_prefix = Some(text()?),
            "line_comment_prefix" => s.line_comment_prefix = Some(text()?),
            "newline_sequence" => {
                let nl = v.as_str().unwrap_or_default();
                if !matches!(nl, "\n" | "\r\n" | "\r") {
                    return Err(spec_err(
                        "_jinja2_env_vars.newline_sequence must be \"\\n\", \"\\r\\n\" or \"\\r\"",
                    ));
                }
                s.newline_sequence = nl.to_string();
            }
            "keep_trailing_newline" => {
                return Err(spec_err(
                    "_jinja2_env_vars.keep_trailing_newline cannot be set: cookiecutter already passes \
                     keep_trailing_newline=True (it fails with \"multiple values\")",
                ));
            }
            other => {
                return Err(RenderError::new(
                    RenderErrorKind::Unsupported,
                    Some(COOKIECUTTER_FILE),
                    None,
                    format!("_jinja2_env_vars.{other} is not supported"),
                ));
            }
        }
    }
    Ok(s)
}

/// `find_template`: the first top-level folder whose name contains `cookiecutter` and the
/// variable delimiters (sorted; Python takes `os.listdir` order).
fn find_template_dir(files: &[SourceFile], syntax: &Syntax) -> Result<String, RenderError> {
    let dirs: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| f.path.split_once('/').map(|(d, _)| d))
        .collect();
    dirs.into_iter()
        .find(|d| {
            d.contains("cookiecutter")
                && d.contains(&syntax.variable.0)
                && d.contains(&syntax.variable.1)
        })
        .map(str::to_string)
        .ok_or_else(|| {
            spec_err(format!(
                "no project template folder: cookiecutter.json needs a top-level folder whose name \
                 contains 'cookiecutter' and '{} {}', e.g. {}cookiecutter.project_slug{}",
                syntax.variable.0, syntax.variable.1, syntax.variable.0, syntax.variable.1
            ))
        })
}

/// `_new_lines` when truthy (cookiecutter passes it to `open(newline=…)`).
fn new_lines(cc: &Map<String, Json>) -> Result<Option<&'static str>, RenderError> {
    match cc.get("_new_lines") {
        None | Some(Json::Null) | Some(Json::Bool(false)) => Ok(None),
        Some(Json::String(s)) => match s.as_str() {
            "" => Ok(None),
            "\n" => Ok(Some("\n")),
            "\r\n" => Ok(Some("\r\n")),
            "\r" => Ok(Some("\r")),
            other => Err(spec_err(format!(
                "_new_lines: illegal newline value {other:?}; use \"\\n\", \"\\r\\n\" or \"\\r\""
            ))),
        },
        Some(other) => Err(spec_err(format!(
            "_new_lines must be a string, got {}",
            kind_name(other)
        ))),
    }
}

/// `_copy_without_render` globs (a string is iterated per character, as Python does).
fn copy_without_render(cc: &Map<String, Json>) -> Result<Vec<Pattern>, RenderError> {
    let globs: Vec<String> = match cc.get("_copy_without_render") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| spec_err("_copy_without_render entries must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(Json::String(s)) => s.chars().map(String::from).collect(),
        Some(other) => {
            return Err(spec_err(format!(
                "_copy_without_render must be a list of globs, got {}",
                kind_name(other)
            )));
        }
    };
    globs
        .iter()
        .map(|g| Pattern::new(g).map_err(|e| spec_err(format!("_copy_without_render: {e}"))))
        .collect()
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

/// The files below `dir`, with paths relative to it.
fn files_under(files: &[SourceFile], dir: &str) -> Vec<SourceFile> {
    let prefix = format!("{dir}/");
    files
        .iter()
        .filter_map(|f| {
            f.path.strip_prefix(&prefix).map(|rest| SourceFile {
                path: rest.to_string(),
                content: f.content.clone(),
                executable: f.executable,
            })
        })
        .collect()
}

/// A nested template's path as cookiecutter resolves it (`repo_dir / path`), relative to the
/// uploaded root; it must name a folder inside it.
fn nested_path(field: &str, raw: &str) -> Result<String, RenderError> {
    let bad = |why: &str| spec_err(format!("{field}: {raw:?} {why}"));
    if raw.starts_with('/') || raw.starts_with('\\') || raw.contains('\\') || raw.contains(':') {
        return Err(bad("must be a relative path with '/' separators"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(bad("points outside the template"));
                }
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(bad(
            "must name a sub-folder (the template itself would choose again)",
        ));
    }
    let joined = parts.join("/");
    paths::safe_relative_path(&joined).map_err(|e| bad(&format!("is not a safe path: {e}")))
}

/// `choose_nested_template`'s two styles: `templates` (a non-empty map, cookiecutter ≥ 2.5)
/// wins; otherwise the old `template` list of `"Title (path)"` entries, rendered like any
/// choice variable.
fn parse_nested(
    context: &Map<String, Json>,
    files: &[SourceFile],
    syntax: &Syntax,
) -> Result<NestedTemplates, RenderError> {
    let mut raw: Vec<(String, String, Option<String>, Option<String>)> = Vec::new();
    let key = match context.get("templates") {
        Some(Json::Object(map)) if !map.is_empty() => {
            for (k, v) in map {
                let field = format!("templates.{k}");
                let Json::Object(entry) = v else {
                    return Err(spec_err(format!(
                        "{field} must be an object with \"path\" (and \"title\", \"description\")"
                    )));
                };
                let Some(path) = entry.get("path").and_then(Json::as_str) else {
                    return Err(spec_err(format!("{field}.path must be a string")));
                };
                let text = |name: &str| entry.get(name).and_then(Json::as_str).map(str::to_string);
                raw.push((
                    k.clone(),
                    nested_path(&format!("{field}.path"), path)?,
                    text("title"),
                    text("description"),
                ));
            }
            "templates"
        }
        Some(other) if !matches!(other, Json::Object(_)) && !other.is_null() => {
            return Err(spec_err(format!(
                "templates must be an object of nested templates, got {}",
                kind_name(other)
            )));
        }
        _ => {
            let items = match context.get("template") {
                Some(Json::Array(items)) if !items.is_empty() => items,
                Some(Json::Array(_)) | None => {
                    return Err(spec_err(
                        "the nested templates are empty: \"templates\" needs at least one entry \
                         (cookiecutter fails with \"The list of choices is empty\")",
                    ));
                }
                Some(other) => {
                    return Err(spec_err(format!(
                        "template must be a list of \"Title (path)\" entries, got {}",
                        kind_name(other)
                    )));
                }
            };
            let renderer = Renderer::new(
                &[],
                Loader {
                    prefixes: Vec::new(),
                },
                syntax.clone(),
                &RenderOptions::default(),
            )?;
            let empty = super::python::to_value(&{
                let mut m = Map::new();
                m.insert("cookiecutter".into(), Json::Object(Map::new()));
                m
            });
            for (i, item) in items.iter().enumerate() {
                let field = format!("template[{i}]");
                let Json::String(text) = item else {
                    return Err(spec_err(format!(
                        "{field} must be a string \"Title (path)\", got {}",
                        kind_name(item)
                    )));
                };
                let rendered = renderer.render_str(text, &empty, COOKIECUTTER_FILE, "")?;
                // re.search(r'\((.+)\)', val): from the first '(' to the last ')'.
                let path = match (rendered.find('('), rendered.rfind(')')) {
                    (Some(a), Some(b)) if b > a + 1 => rendered[a + 1..b].to_string(),
                    _ => {
                        return Err(spec_err(format!(
                            "{field}: {rendered:?} names no folder; write \"Title (path/to/template)\""
                        )));
                    }
                };
                let path = nested_path(&field, &path)?;
                let title = rendered[..rendered.find('(').unwrap_or(0)]
                    .trim()
                    .to_string();
                // extra_context chooses by the entry as written; that is the choice.
                raw.push((
                    text.clone(),
                    path,
                    Some(title).filter(|t| !t.is_empty()),
                    None,
                ));
            }
            "template"
        }
    };
    let mut options = Vec::new();
    for (choice, path, title, description) in raw {
        let sub_files = files_under(files, &path);
        let Some(json) = sub_files.iter().find(|f| f.path == COOKIECUTTER_FILE) else {
            return Err(spec_err(format!(
                "the nested template {choice:?} has no {path}/{COOKIECUTTER_FILE}"
            )));
        };
        let spec = CookiecutterSpec::parse(&json.content, &sub_files).map_err(|mut e| {
            e.path = Some(format!(
                "{path}/{}",
                e.path.as_deref().unwrap_or(COOKIECUTTER_FILE)
            ));
            e
        })?;
        options.push(NestedOption {
            choice,
            path,
            title,
            description,
            spec,
        });
    }
    Ok(NestedTemplates {
        key: key.to_string(),
        options,
    })
}

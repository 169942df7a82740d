//! cookiecutter's nested templates (`choose_nested_template`): reading the `templates` map or
//! the old `template` list, the parameters they offer, choosing one and rendering it.

use serde_json::{Map, Value as Json};

use super::super::jinja::{Loader, Renderer, Syntax};
use super::super::params::{
    FieldError, ParamType, ParameterSpec, choice_matches, choices_text, kind_name,
};
use super::super::{
    COOKIECUTTER_FILE, Context, RenderError, RenderErrorKind, RenderOptions, RenderOutput,
    SourceFile, paths,
};
use super::{
    CookiecutterSource, CookiecutterSpec, NestedOption, NestedTemplates, PATH_KEYS, spec_err,
    unknown_field,
};

impl CookiecutterSpec {
    pub(super) fn nested_parameter_specs(&self, n: &NestedTemplates) -> Vec<ParameterSpec> {
        let choices: Vec<Json> = n
            .options
            .iter()
            .map(|o| Json::String(o.choice.clone()))
            .collect();
        let prompt = self.prompt_help(&n.key);
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
    pub(super) fn resolve_nested(
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

    /// `generate_files` for nested templates: the chosen one (named by the context's
    /// `template_path`) renders with its own files.
    pub(super) fn render_nested(
        &self,
        n: &NestedTemplates,
        files: &[SourceFile],
        ctx: &Context,
        opts: &RenderOptions,
    ) -> Result<RenderOutput, RenderError> {
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
        option.spec.render(&sub_files, &sub_ctx, opts)
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
pub(super) fn parse_nested(
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
            let empty = super::super::python::to_value(&{
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

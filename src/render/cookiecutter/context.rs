//! cookiecutter's context: `apply_overwrites_to_context` (the caller's values), `prompt_for_config`
//! with `--no-input` (every value rendered), and the private settings of `cookiecutter.json`
//! (`_extensions`, `_jinja2_env_vars`, `_new_lines`, `_copy_without_render`) read and checked.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

use super::super::fnmatch::Pattern;
use super::super::jinja::{Renderer, Syntax};
use super::super::params::{
    FieldError, choice_matches, choices_text, coerce_bool, coerce_integer, coerce_number, kind_name,
};
use super::super::python::float_repr;
use super::super::{COOKIECUTTER_FILE, RenderError, RenderErrorKind, SourceFile};
use super::{SUPPORTED_EXTENSIONS, spec_err};

/// `apply_overwrites_to_context` for one top-level variable, with Maestro's type checks.
pub(super) fn overwrite(slot: &mut Json, value: &Json) -> Result<(), String> {
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
pub(super) fn merge_dict(map: &mut Map<String, Json>, over: &Map<String, Json>) {
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
pub(super) fn prompt_for_config(
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
pub(super) fn render_variable(
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
    let v = r.render_str(
        &text,
        &super::super::python::to_value(&ctx),
        COOKIECUTTER_FILE,
        "",
    )?;
    Ok(Json::String(v))
}

pub(super) fn check_extensions(context: &Map<String, Json>) -> Result<(), RenderError> {
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
pub(super) fn syntax_from(context: &Map<String, Json>) -> Result<Syntax, RenderError> {
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
pub(super) fn find_template_dir(
    files: &[SourceFile],
    syntax: &Syntax,
) -> Result<String, RenderError> {
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
pub(super) fn new_lines(cc: &Map<String, Json>) -> Result<Option<&'static str>, RenderError> {
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
pub(super) fn copy_without_render(cc: &Map<String, Json>) -> Result<Vec<Pattern>, RenderError> {
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

//! The native format: renders a `manifest.yaml` template's selected files and paths.

use super::fnmatch::Pattern;
use super::jinja::{Loader, Renderer, Syntax};
use super::manifest::Manifest;
use super::output::{Budget, push_output, render_text, unsafe_path};
use super::{
    Context, OutputFile, RenderError, RenderOptions, RenderOutput, SourceFile, binary,
    safe_relative_path,
};

/// Renders a native (`manifest.yaml`) template.
pub(super) fn render_native(
    m: &Manifest,
    files: &[SourceFile],
    ctx: &Context,
    opts: &RenderOptions,
) -> Result<RenderOutput, RenderError> {
    m.check_context(ctx)?;
    let selected = m.select_files(files)?;
    let renderer = Renderer::new(
        files,
        Loader {
            prefixes: vec![String::new()],
        },
        Syntax::default(),
        opts,
    )?;
    let context = super::python::to_value(&ctx.variables);
    let copy_globs = m
        .copy_without_render
        .iter()
        .map(|g| {
            Pattern::new(g).map_err(|e| {
                RenderError::spec(
                    Some(super::MANIFEST_FILE),
                    format!("copy_without_render: {e}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut output = Vec::new();
    let mut budget = Budget::new(opts);
    for file in selected {
        let mut segments = Vec::new();
        let mut skipped = false;
        for seg in file.path.split('/') {
            let rendered =
                renderer.render_str(seg, &context, &file.path, "rendering the file name")?;
            if rendered.is_empty() {
                skipped = true;
                break;
            }
            segments.push(rendered);
        }
        if skipped {
            continue;
        }
        let joined = segments.join("/");
        let out_path =
            safe_relative_path(&joined).map_err(|e| unsafe_path(&file.path, &joined, e))?;
        let raw = copy_globs.iter().any(|g| g.matches(&file.path))
            || binary::is_binary(&file.path, &file.content);
        let content = if raw {
            file.content.clone()
        } else {
            render_text(
                &renderer,
                &file.path,
                &file.path,
                &file.content,
                &context,
                None,
            )?
        };
        push_output(
            &mut output,
            &mut budget,
            OutputFile {
                path: out_path,
                content,
                executable: file.executable,
            },
        )?;
    }
    Ok(RenderOutput {
        root_dir: None,
        files: output,
        empty_dirs: Vec::new(),
        warnings: Vec::new(),
    })
}

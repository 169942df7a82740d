//! cookiecutter's `generate_files`: the project folder's name, then an `os.walk` over the
//! template folder that renders folder and file names and file contents (or copies them, for
//! `_copy_without_render` and binary files).

use std::collections::{BTreeMap, BTreeSet};

use minijinja::Value;
use serde_json::Value as Json;

use super::super::fnmatch::Pattern;
use super::super::jinja::{Loader, Renderer};
use super::super::output::{self, Budget};
use super::super::{
    Context, OutputFile, RenderError, RenderErrorKind, RenderOptions, RenderOutput, SourceFile,
    binary, safe_relative_path,
};
use super::context::{copy_without_render, new_lines, syntax_from};

/// Renders the project template folder `tdir` of a (not nested) cookiecutter template.
pub(super) fn generate_files(
    tdir: &str,
    files: &[SourceFile],
    ctx: &Context,
    opts: &RenderOptions,
) -> Result<RenderOutput, RenderError> {
    let Some(Json::Object(cc)) = ctx.variables.get("cookiecutter") else {
        return Err(RenderError::new(
            RenderErrorKind::InvalidContext,
            None,
            None,
            "the context has no `cookiecutter` map; resolve the parameters of this template first",
        ));
    };
    let syntax = syntax_from(cc)?;
    let renderer = Renderer::new(
        files,
        Loader {
            prefixes: vec![format!("{tdir}/"), "templates/".to_string()],
        },
        syntax,
        opts,
    )?;
    let context = super::super::python::to_value(&ctx.variables);
    let newline = new_lines(cc)?;
    let copy_globs = copy_without_render(cc)?;

    let project = renderer.render_str(tdir, &context, tdir, "rendering the project folder name")?;
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
                parent = super::super::paths::join(&[&parent, seg]);
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
            let d_rel = super::super::paths::join(&[dir_rel, d]);
            if self.copy_only(&super::super::paths::normpath(&d_rel)) {
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
            let rel = super::super::paths::join(&[dir_rel, f]);
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

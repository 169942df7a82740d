//! The Jinja environment shared by both formats: syntax, loader, source preprocessing (newline
//! normalisation, `{% now %}` tags) and error mapping.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::filters::{self, NOW_FN, Runtime, SHIFT_FN};
use super::{RenderError, RenderErrorKind, RenderOptions, SourceFile};

/// Jinja recursion depth (macros, includes, nesting); well below minijinja's stack-safe cap.
const RECURSION_LIMIT: usize = 200;

/// Jinja syntax settings (cookiecutter's `_jinja2_env_vars` can change them).
#[derive(Debug, Clone)]
pub(super) struct Syntax {
    pub block: (String, String),
    pub variable: (String, String),
    pub comment: (String, String),
    pub line_statement_prefix: Option<String>,
    pub line_comment_prefix: Option<String>,
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    /// What every newline of a template source becomes (Jinja's `newline_sequence`).
    pub newline_sequence: String,
    pub autoescape: bool,
}

impl Default for Syntax {
    /// Jinja2's defaults; cookiecutter adds `keep_trailing_newline=True`, which is always on.
    fn default() -> Self {
        Syntax {
            block: ("{%".into(), "%}".into()),
            variable: ("{{".into(), "}}".into()),
            comment: ("{#".into(), "#}".into()),
            line_statement_prefix: None,
            line_comment_prefix: None,
            trim_blocks: false,
            lstrip_blocks: false,
            newline_sequence: "\n".into(),
            autoescape: false,
        }
    }
}

/// Where `{% include %}` / `{% extends %}` names are looked up: each prefix in turn
/// (cookiecutter: the project template folder, then `templates/` at the repository root).
#[derive(Debug, Clone)]
pub(super) struct Loader {
    pub prefixes: Vec<String>,
}

impl Loader {
    /// Maps a Jinja template name to the repository path it loads, like Jinja's
    /// `FileSystemLoader` (no `..`, `.` and empty segments ignored).
    fn resolve(&self, name: &str, texts: &BTreeMap<String, String>) -> Option<String> {
        let mut segs = Vec::new();
        for seg in name.split('/') {
            match seg {
                "" | "." => {}
                ".." => return None,
                s => segs.push(s),
            }
        }
        let rel = segs.join("/");
        self.prefixes
            .iter()
            .map(|p| {
                if p.is_empty() {
                    rel.clone()
                } else {
                    format!("{p}{rel}")
                }
            })
            .find(|path| texts.contains_key(path))
    }
}

/// One configured Jinja environment for one render.
pub(super) struct Renderer {
    env: Environment<'static>,
    syntax: Syntax,
    loader: Loader,
    texts: Arc<BTreeMap<String, String>>,
}

impl Renderer {
    /// `files`: every file of the template; the UTF-8 ones can be templates or includes.
    pub fn new(
        files: &[SourceFile],
        loader: Loader,
        syntax: Syntax,
        opts: &RenderOptions,
    ) -> Result<Renderer, RenderError> {
        let texts: BTreeMap<String, String> = files
            .iter()
            .filter_map(|f| {
                std::str::from_utf8(&f.content)
                    .ok()
                    .map(|s| (f.path.clone(), s.to_string()))
            })
            .collect();
        let texts = Arc::new(texts);
        let mut env = Environment::new();
        let mut cfg = SyntaxConfig::builder();
        cfg.block_delimiters(syntax.block.0.clone(), syntax.block.1.clone())
            .variable_delimiters(syntax.variable.0.clone(), syntax.variable.1.clone())
            .comment_delimiters(syntax.comment.0.clone(), syntax.comment.1.clone())
            .trim_blocks(syntax.trim_blocks)
            .lstrip_blocks(syntax.lstrip_blocks)
            .keep_trailing_newline(true);
        if let Some(p) = &syntax.line_statement_prefix {
            cfg.line_statement_prefix(p.clone());
        }
        if let Some(p) = &syntax.line_comment_prefix {
            cfg.line_comment_prefix(p.clone());
        }
        let cfg = cfg.build().map_err(|e| {
            RenderError::new(
                RenderErrorKind::InvalidSpec,
                None,
                None,
                format!("invalid Jinja syntax settings: {}", detail(&e)),
            )
        })?;
        env.set_syntax(cfg);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let autoescape = syntax.autoescape;
        env.set_auto_escape_callback(move |_| {
            if autoescape {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_fuel(Some(opts.fuel));
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_debug(false);
        let runtime = Runtime::new(opts.now, opts.seed);
        filters::install(&mut env, &runtime, &syntax.newline_sequence);

        let loader_texts = Arc::clone(&texts);
        let loader_cfg = loader.clone();
        let loader_syntax = syntax.clone();
        env.set_loader(move |name| {
            Ok(loader_cfg
                .resolve(name, &loader_texts)
                .and_then(|path| loader_texts.get(&path))
                .map(|src| preprocess(src, &loader_syntax)))
        });
        Ok(Renderer {
            env,
            syntax,
            loader,
            texts,
        })
    }

    /// Renders a one-off template (a path, a default value). `what` names it in errors.
    pub fn render_str(
        &self,
        source: &str,
        ctx: &Value,
        path: &str,
        what: &str,
    ) -> Result<String, RenderError> {
        let src = preprocess(source, &self.syntax);
        let result = self
            .env
            .template_from_named_str("<string>", &src)
            .and_then(|t| on_deep_stack(|| t.render(ctx.clone())));
        result.map_err(|e| {
            let mut err = map_error(&e, |_| Some(path.to_string()));
            if !what.is_empty() {
                err.message = format!("{what}: {}", err.message);
            }
            err
        })
    }

    /// Renders the template file with Jinja name `name`.
    pub fn render_file(&self, name: &str, ctx: &Value) -> Result<String, RenderError> {
        let result = self
            .env
            .get_template(name)
            .and_then(|t| on_deep_stack(|| t.render(ctx.clone())));
        result.map_err(|e| map_error(&e, |n| self.loader.resolve(n, &self.texts)))
    }
}

/// Stack one template evaluation may need. A template can build a value nested once per loop
/// iteration (`{% set ns.x = [ns.x] %}`), hundreds of thousands deep within its fuel, and
/// minijinja frees it recursively: on a 2 MiB thread that overflows the stack, which aborts the
/// whole process. Measured: the deepest value the fuel allows is freed within 16 MiB (debug
/// build); twice that is required.
const RENDER_STACK_NEEDED: usize = 32 << 20;
/// A fresh stack's size: room for the 32 MiB an evaluation may need after what the rendering
/// of a whole template uses around it. Only the pages used are ever touched.
pub const RENDER_STACK: usize = 64 << 20;

/// Runs `f` with at least [`RENDER_STACK_NEEDED`] bytes of stack left: on this thread's stack
/// when it has that (e.g. inside [`crate::render::render`], which moves once for all files), on
/// a fresh mapping otherwise.
pub(crate) fn on_deep_stack<T>(f: impl FnOnce() -> T) -> T {
    stacker::maybe_grow(RENDER_STACK_NEEDED, RENDER_STACK, f)
}

fn detail(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// Maps a minijinja error (innermost cause first: the failing include, not its includer) to
/// an [`RenderError`] naming the template file and line.
fn map_error(e: &minijinja::Error, resolve: impl Fn(&str) -> Option<String>) -> RenderError {
    let mut inner = e;
    let mut cur: &dyn std::error::Error = e;
    while let Some(src) = cur.source() {
        if let Some(me) = src.downcast_ref::<minijinja::Error>()
            && (me.name().is_some() || me.line().is_some())
        {
            inner = me;
        }
        cur = src;
    }
    let kind = match inner.kind() {
        ErrorKind::SyntaxError | ErrorKind::BadEscape | ErrorKind::InvalidDelimiter => {
            RenderErrorKind::Syntax
        }
        ErrorKind::OutOfFuel => RenderErrorKind::LimitExceeded,
        _ => RenderErrorKind::Render,
    };
    let message = match inner.kind() {
        ErrorKind::OutOfFuel => {
            "the template used up its work budget (an endless or very large loop, \
                                 or too much output)"
                .to_string()
        }
        ErrorKind::UndefinedError => match inner.detail() {
            Some(d) => format!("undefined variable: {d}"),
            None => "undefined variable (cookiecutter renders with StrictUndefined)".to_string(),
        },
        _ => detail(inner),
    };
    let path = inner.name().and_then(&resolve);
    RenderError::new(kind, path.as_deref(), inner.line(), message)
}

// ---------------------------------------------------------------------------------------
// Source preprocessing
// ---------------------------------------------------------------------------------------

/// Jinja2 turns every `\r\n`, `\r` and `\n` of a source into `newline_sequence` before
/// lexing; then `{% now %}` tags (cookiecutter's TimeExtension, which minijinja cannot parse)
/// are rewritten into function calls.
pub(super) fn preprocess(src: &str, syntax: &Syntax) -> String {
    let mut normalized = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                normalized.push_str(&syntax.newline_sequence);
            }
            '\n' => normalized.push_str(&syntax.newline_sequence),
            c => normalized.push(c),
        }
    }
    if normalized.contains("now") {
        rewrite_now_tags(&normalized, syntax)
    } else {
        normalized
    }
}

/// Rewrites `{% now EXPR [, FMT] %}` into `{% if 1 %}{{ __maestro_now(EXPR, FMT) }}{% endif %}`
/// (keeping the tag's whitespace-control markers on the block tags, so `trim_blocks`,
/// `lstrip_blocks`, `{%-` and `-%}` act as on the original tag). `EXPR` of the form
/// `a + b` / `a - b` becomes the shifted variant, as TimeExtension parses it. Raw blocks,
/// comments and string literals are left alone; line numbers are preserved.
fn rewrite_now_tags(src: &str, syntax: &Syntax) -> String {
    let (bs, be) = (&syntax.block.0, &syntax.block.1);
    let (cs, ce) = (&syntax.comment.0, &syntax.comment.1);
    let (vs, ve) = (&syntax.variable.0, &syntax.variable.1);
    let mut out = String::with_capacity(src.len() + 64);
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        // The earliest opening delimiter decides what comes next.
        let next = [
            (rest.find(bs.as_str()), 0),
            (rest.find(cs.as_str()), 1),
            (rest.find(vs.as_str()), 2),
        ]
        .into_iter()
        .filter_map(|(p, k)| p.map(|p| (p, k)))
        .min_by_key(|&(p, k)| (p, k));
        let Some((pos, kind)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..pos]);
        let start = i + pos;
        match kind {
            1 => {
                // Comment: copy through its end.
                let body = start + cs.len();
                let end = src[body..]
                    .find(ce.as_str())
                    .map(|p| body + p + ce.len())
                    .unwrap_or(src.len());
                out.push_str(&src[start..end]);
                i = end;
            }
            2 => {
                let end = find_tag_end(src, start + vs.len(), ve).unwrap_or(src.len());
                out.push_str(&src[start..end]);
                i = end;
            }
            _ => {
                let inner_start = start + bs.len();
                let Some(end) = find_tag_end(src, inner_start, be) else {
                    out.push_str(&src[start..]);
                    break;
                };
                let inner = &src[inner_start..end - be.len()];
                let (lead, body, trail) = split_markers(inner);
                let word = body.trim_start();
                let keyword: String = word
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if keyword == "raw" {
                    // Copy the raw block verbatim up to and including its endraw tag.
                    let end_raw = find_endraw(src, end, syntax).unwrap_or(src.len());
                    out.push_str(&src[start..end_raw]);
                    i = end_raw;
                } else if keyword == "now" {
                    let expr = &word[3..];
                    out.push_str(&format!(
                        "{bs}{lead}if 1{be}{vs} {} {ve}{bs}endif{trail}{be}",
                        now_call(expr)
                    ));
                    i = end;
                } else {
                    out.push_str(&src[start..end]);
                    i = end;
                }
            }
        }
    }
    out
}

/// Whitespace-control markers at both ends of a tag body (`-`/`+`).
fn split_markers(inner: &str) -> (&str, &str, &str) {
    let lead = if inner.starts_with('-') || inner.starts_with('+') {
        &inner[..1]
    } else {
        ""
    };
    let rest = &inner[lead.len()..];
    let trail = if rest.ends_with('-') || rest.ends_with('+') {
        &rest[rest.len() - 1..]
    } else {
        ""
    };
    let body = &rest[..rest.len() - trail.len()];
    (lead, body, trail)
}

/// Byte index just past the closing delimiter of a tag starting at `from`, skipping string
/// literals.
fn find_tag_end(src: &str, from: usize, close: &str) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut i = from;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == q {
                    quote = None;
                }
            }
            None => {
                if b == b'\'' || b == b'"' {
                    quote = Some(b);
                } else if bytes[i..].starts_with(close.as_bytes()) {
                    return Some(i + close.len());
                }
            }
        }
        i += 1;
    }
    None
}

fn find_endraw(src: &str, from: usize, syntax: &Syntax) -> Option<usize> {
    let (bs, be) = (&syntax.block.0, &syntax.block.1);
    let mut i = from;
    while let Some(p) = src[i..].find(bs.as_str()) {
        let start = i + p;
        let inner_start = start + bs.len();
        let end = find_tag_end(src, inner_start, be)?;
        let (_, body, _) = split_markers(&src[inner_start..end - be.len()]);
        if body.trim() == "endraw" {
            return Some(end);
        }
        i = inner_start;
    }
    None
}

/// Builds the function call for a `now` tag's arguments.
fn now_call(args: &str) -> String {
    let (tz, fmt) = match split_top_level(args, |c| c == ',') {
        Some(i) => (&args[..i], args[i + 1..].trim_end()),
        None => (args, ""),
    };
    let fmt = if fmt.trim().is_empty() {
        "none".to_string()
    } else {
        format!("({fmt})")
    };
    match top_level_additive(tz) {
        Some((i, op)) => format!(
            "{SHIFT_FN}(({}), '{op}', ({}), {fmt})",
            &tz[..i],
            &tz[i + 1..]
        ),
        None => format!("{NOW_FN}(({tz}), {fmt})"),
    }
}

/// A quoted string literal (`'…'` or `"…"`, with backslash escapes) met while scanning an
/// expression one character at a time.
#[derive(Default)]
struct StringLiteral {
    quote: Option<char>,
    escaped: bool,
}

impl StringLiteral {
    /// `quote` opens a string.
    fn open(&mut self, quote: char) {
        self.quote = Some(quote);
    }

    /// `None` outside a string; inside one, `Some(true)` when `c` is its closing quote and
    /// `Some(false)` for any other character of it.
    fn inside(&mut self, c: char) -> Option<bool> {
        let quote = self.quote?;
        if self.escaped {
            self.escaped = false;
        } else if c == '\\' {
            self.escaped = true;
        } else if c == quote {
            self.quote = None;
            return Some(true);
        }
        Some(false)
    }
}

/// Index of the first top-level character matching `pred` (outside strings and brackets).
fn split_top_level(s: &str, pred: impl Fn(char) -> bool) -> Option<usize> {
    let mut depth = 0i32;
    let mut string = StringLiteral::default();
    for (i, c) in s.char_indices() {
        if string.inside(c).is_some() {
            continue;
        }
        match c {
            '\'' | '"' => string.open(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            c if depth == 0 && pred(c) => return Some(i),
            _ => {}
        }
    }
    None
}

/// The last top-level binary `+`/`-` of an expression, when the expression is an
/// addition/subtraction at its root (no lower-precedence operator at the top level).
fn top_level_additive(s: &str) -> Option<(usize, char)> {
    let mut depth = 0i32;
    let mut string = StringLiteral::default();
    let mut last: Option<(usize, char)> = None;
    let mut prev_operand = false;
    let mut word = String::new();
    let mut lower_precedence = false;
    let flush = |word: &mut String, lower: &mut bool| {
        if matches!(
            word.as_str(),
            "if" | "else" | "and" | "or" | "not" | "in" | "is"
        ) {
            *lower = true;
        }
        word.clear();
    };
    for (i, c) in s.char_indices() {
        if let Some(closed) = string.inside(c) {
            // A string that just closed is an operand.
            if closed {
                prev_operand = true;
            }
            continue;
        }
        if depth == 0 && (c.is_alphanumeric() || c == '_') {
            word.push(c);
            prev_operand = true;
            continue;
        }
        if depth == 0 {
            flush(&mut word, &mut lower_precedence);
        }
        match c {
            '\'' | '"' => string.open(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                prev_operand = true;
            }
            '+' | '-' if depth == 0 => {
                if prev_operand {
                    last = Some((i, c));
                }
                prev_operand = false;
            }
            '~' | '<' | '>' | '=' | '!' | '|' if depth == 0 => {
                // `|` is a filter (binds tighter) — harmless; the others bind looser.
                if c != '|' {
                    lower_precedence = true;
                }
                prev_operand = false;
            }
            c if c.is_whitespace() => {}
            _ => prev_operand = c == '.',
        }
    }
    flush(&mut word, &mut lower_precedence);
    if lower_precedence { None } else { last }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_tags_are_rewritten() {
        let s = Syntax::default();
        let out = preprocess("a {% now 'utc', '%Y' %} b", &s);
        assert_eq!(
            out,
            "a {%if 1%}{{ __maestro_now(( 'utc'), ( '%Y')) }}{%endif%} b"
        );
        let out = preprocess("{%- now 'utc' + 'hours=2' -%}", &s);
        assert_eq!(
            out,
            "{%-if 1%}{{ __maestro_datetime(( 'utc' ), '+', ( 'hours=2' ), none) }}{%endif-%}"
        );
        let out = preprocess(
            "{% raw %}{% now 'utc' %}{% endraw %}{# {% now 'utc' %} #}",
            &s,
        );
        assert_eq!(
            out,
            "{% raw %}{% now 'utc' %}{% endraw %}{# {% now 'utc' %} #}"
        );
        let out = preprocess("{% if x %}known{% endif %}{{ 'now' }}", &s);
        assert_eq!(out, "{% if x %}known{% endif %}{{ 'now' }}");
        assert_eq!(preprocess("a\r\nb\rc\n", &s), "a\nb\nc\n");
    }

    #[test]
    fn additive_split() {
        assert_eq!(top_level_additive(" 'utc' + 'days=1'"), Some((7, '+')));
        assert_eq!(top_level_additive("'utc'"), None);
        assert_eq!(top_level_additive("('a' + 'b')"), None);
        assert_eq!(top_level_additive("'a' ~ 'b' + 'c'"), None);
        assert_eq!(top_level_additive("-1"), None);
    }
}

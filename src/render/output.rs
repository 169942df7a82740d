//! What both formats do with rendered files: the newline a file is written with, the output
//! budget (file count and bytes), safe output paths, and folders left empty.

use std::collections::BTreeSet;

use minijinja::Value;

use super::jinja::Renderer;
use super::{OutputFile, RenderError, RenderErrorKind, RenderOptions};

/// The newline cookiecutter writes a rendered file with: `_new_lines` when set, else what
/// Python's universal-newline reader reports after reading the first line of the source.
/// Python decodes 8 KiB chunks until a line ends and records every newline kind seen in
/// them; with several kinds it reports them in the order `\r`, `\n`, `\r\n` and cookiecutter
/// takes the first. `None` = no newline seen (Python then writes `\n`).
pub(super) fn detect_newline(content: &[u8]) -> Option<&'static str> {
    const CHUNK: usize = 8192;
    let (mut cr, mut lf, mut crlf) = (false, false, false);
    let mut pending_cr = false;
    let mut pos = 0;
    loop {
        let chunk = &content[pos..content.len().min(pos + CHUNK)];
        let last = pos + chunk.len() >= content.len();
        pos += chunk.len();
        // Text seen by the newline decoder: a held-back '\r' from the previous chunk, then
        // this chunk (minus a trailing '\r', held back unless this is the end).
        let mut text: Vec<u8> = Vec::with_capacity(chunk.len() + 1);
        if pending_cr {
            text.push(b'\r');
            pending_cr = false;
        }
        text.extend_from_slice(chunk);
        if !last && text.last() == Some(&b'\r') {
            text.pop();
            pending_cr = true;
        }
        let mut found_line_end = false;
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'\r' if text.get(i + 1) == Some(&b'\n') => {
                    crlf = true;
                    found_line_end = true;
                    i += 1;
                }
                b'\r' => {
                    cr = true;
                    found_line_end = true;
                }
                b'\n' => {
                    lf = true;
                    found_line_end = true;
                }
                _ => {}
            }
            i += 1;
        }
        if found_line_end || last {
            break;
        }
    }
    if cr {
        Some("\r")
    } else if lf {
        Some("\n")
    } else if crlf {
        Some("\r\n")
    } else {
        None
    }
}

/// `open(path, 'w', newline=newline).write(text)`: every `\n` becomes `newline`
/// (`None` → `\n`, `""` → untouched).
pub(super) fn apply_newline(text: String, newline: Option<&str>) -> Vec<u8> {
    match newline {
        Some(nl) if !nl.is_empty() && nl != "\n" => text.replace('\n', nl).into_bytes(),
        _ => text.into_bytes(),
    }
}

/// Running totals checked against the output limits.
pub(super) struct Budget {
    files: usize,
    bytes: u64,
    max_files: usize,
    max_bytes: u64,
}

impl Budget {
    pub fn new(opts: &RenderOptions) -> Budget {
        Budget {
            files: 0,
            bytes: 0,
            max_files: opts.max_output_files,
            max_bytes: opts.max_output_bytes,
        }
    }

    /// Accounts for a file replacing `replaced_len` bytes (or a new file when `None`).
    pub fn add(
        &mut self,
        path: &str,
        len: usize,
        replaced_len: Option<usize>,
    ) -> Result<(), RenderError> {
        if replaced_len.is_none() {
            self.files += 1;
        }
        self.bytes = self.bytes - replaced_len.unwrap_or(0) as u64 + len as u64;
        if self.files > self.max_files {
            return Err(RenderError::new(
                RenderErrorKind::LimitExceeded,
                Some(path),
                None,
                format!("the output has more than {} files", self.max_files),
            ));
        }
        if self.bytes > self.max_bytes {
            return Err(RenderError::new(
                RenderErrorKind::LimitExceeded,
                Some(path),
                None,
                format!("the output is larger than {} bytes", self.max_bytes),
            ));
        }
        Ok(())
    }
}

/// Adds a file to the output, replacing an earlier file of the same path (later wins, as
/// when cookiecutter writes the same path twice).
pub(super) fn push_output(
    out: &mut Vec<OutputFile>,
    budget: &mut Budget,
    file: OutputFile,
) -> Result<(), RenderError> {
    match out.iter_mut().find(|f| f.path == file.path) {
        Some(existing) => {
            budget.add(&file.path, file.content.len(), Some(existing.content.len()))?;
            *existing = file;
        }
        None => {
            budget.add(&file.path, file.content.len(), None)?;
            out.push(file);
        }
    }
    Ok(())
}

pub(super) fn unsafe_path(source: &str, rendered: &str, err: super::PathError) -> RenderError {
    RenderError::new(
        RenderErrorKind::UnsafePath,
        Some(source),
        None,
        format!("the file name renders to {rendered:?}, which is not a safe relative path: {err}"),
    )
}

/// Renders a UTF-8 text file's content and applies the newline rules.
pub(super) fn render_text(
    r: &Renderer,
    name: &str,
    display_path: &str,
    content: &[u8],
    ctx: &Value,
    forced_newline: Option<&str>,
) -> Result<Vec<u8>, RenderError> {
    if std::str::from_utf8(content).is_err() {
        return Err(RenderError::new(
            RenderErrorKind::Render,
            Some(display_path),
            None,
            "the file is neither valid UTF-8 text nor detected as binary; list it in the \
             copy-without-render globs to copy it as is",
        ));
    }
    let text = r.render_file(name, ctx)?;
    let newline = match forced_newline {
        Some(nl) => Some(nl),
        None => detect_newline(content),
    };
    Ok(apply_newline(text, newline))
}

/// Folders that hold no output file: `created` folders minus the ancestors of every file.
pub(super) fn empty_dirs(created: &BTreeSet<String>, files: &[OutputFile]) -> Vec<String> {
    let mut used = BTreeSet::new();
    for f in files {
        let mut p = f.path.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            used.insert(p.to_string());
        }
    }
    created
        .iter()
        .filter(|d| !used.contains(*d))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_detection_matches_python_universal_newlines() {
        // Expected values from Python 3.11: open(..., encoding='utf-8').readline(); f.newlines
        assert_eq!(
            detect_newline(b"a\r\nb\nc"),
            Some("\n"),
            "('\\n', '\\r\\n') -> first"
        );
        let mut far = b"a\r\n".to_vec();
        far.extend(std::iter::repeat_n(b'x', 9000));
        far.push(b'\n');
        assert_eq!(
            detect_newline(&far),
            Some("\r\n"),
            "LF beyond the first chunk is unseen"
        );
        let mut boundary = vec![b'a'; 8191];
        boundary.extend_from_slice(b"\r\nb\n");
        assert_eq!(
            detect_newline(&boundary),
            Some("\n"),
            "CR held back across the chunk boundary"
        );
        assert_eq!(detect_newline(b"abc"), None);
        assert_eq!(detect_newline(b"a\rb\nc"), Some("\r"));
        assert_eq!(detect_newline(b""), None);
        assert_eq!(detect_newline(b"x\r"), Some("\r"));
    }
}

//! Untrusted relative paths: uploads and rendered output names go through
//! [`safe_relative_path`] before they touch a file system or an archive.

use serde::{Deserialize, Serialize};

/// Longest accepted path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest accepted path segment, in bytes (the common file-system limit).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path {path:?} is absolute; only relative paths are allowed")]
    Absolute { path: String },
    #[error("path {path:?} contains a backslash; use '/' as the separator")]
    Backslash { path: String },
    #[error("path {path:?} contains a NUL or control character")]
    ControlCharacter { path: String },
    #[error("path {path:?} contains a '..' segment")]
    ParentSegment { path: String },
    #[error("path {path:?} contains a '.' segment")]
    CurrentSegment { path: String },
    #[error("path {path:?} contains an empty segment ('//')")]
    EmptySegment { path: String },
    #[error("path {path:?} has a segment longer than {MAX_SEGMENT_BYTES} bytes")]
    SegmentTooLong { path: String },
    #[error("path is {len} bytes long; at most {MAX_PATH_BYTES} bytes are allowed")]
    TooLong { len: usize },
}

/// Checks an untrusted relative path and returns it normalised ('/'-separated, no
/// trailing '/').
///
/// Refused: empty paths, absolute paths (`/x`, `C:/x`, `//server`), backslashes,
/// NUL and other control characters, `..` and `.` segments, empty segments
/// (`a//b`), segments over 255 bytes and paths over 1024 bytes. A single trailing
/// `/` (a folder) is accepted and dropped.
pub fn safe_relative_path(p: &str) -> Result<String, PathError> {
    let shown = || truncate_for_message(p);
    if p.is_empty() {
        return Err(PathError::Empty);
    }
    if p.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong { len: p.len() });
    }
    if p.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter { path: shown() });
    }
    if p.contains('\\') {
        return Err(PathError::Backslash { path: shown() });
    }
    if p.starts_with('/') || is_drive_prefixed(p) {
        return Err(PathError::Absolute { path: shown() });
    }
    let trimmed = p.strip_suffix('/').unwrap_or(p);
    if trimmed.is_empty() {
        return Err(PathError::Empty);
    }
    for segment in trimmed.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment { path: shown() }),
            "." => return Err(PathError::CurrentSegment { path: shown() }),
            ".." => return Err(PathError::ParentSegment { path: shown() }),
            s if s.len() > MAX_SEGMENT_BYTES => {
                return Err(PathError::SegmentTooLong { path: shown() });
            }
            _ => {}
        }
    }
    Ok(trimmed.to_string())
}

/// `C:` style prefixes are absolute on Windows clients; refuse them everywhere.
fn is_drive_prefixed(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Error messages quote the path; keep them readable for absurdly long input.
fn truncate_for_message(p: &str) -> String {
    const LIMIT: usize = 200;
    if p.len() <= LIMIT {
        return p.to_string();
    }
    let mut end = LIMIT;
    while !p.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &p[..end])
}

/// Joins '/'-separated relative paths, ignoring empty parts.
pub(super) fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// Python's `os.path.normpath` for relative '/'-separated paths (as cookiecutter applies it
/// to the paths it matches `_copy_without_render` against).
pub(super) fn normpath(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(last) if *last != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_plain_paths() {
        assert_eq!(safe_relative_path("a/b.txt").as_deref(), Ok("a/b.txt"));
        assert_eq!(safe_relative_path("dir/").as_deref(), Ok("dir"));
        assert_eq!(
            safe_relative_path("{{ x }}/é .md").as_deref(),
            Ok("{{ x }}/é .md")
        );
        assert_eq!(
            safe_relative_path(".github/ci.yml").as_deref(),
            Ok(".github/ci.yml")
        );
        assert_eq!(safe_relative_path("..a/b..").as_deref(), Ok("..a/b.."));
    }

    #[test]
    fn refuses_each_unsafe_form_with_its_reason() {
        assert_eq!(safe_relative_path(""), Err(PathError::Empty));
        assert_eq!(
            safe_relative_path("/"),
            Err(PathError::Absolute { path: "/".into() })
        );
        assert!(matches!(
            safe_relative_path("/etc/passwd"),
            Err(PathError::Absolute { .. })
        ));
        assert!(matches!(
            safe_relative_path("C:/x"),
            Err(PathError::Absolute { .. })
        ));
        assert!(matches!(
            safe_relative_path("a\\b"),
            Err(PathError::Backslash { .. })
        ));
        assert!(matches!(
            safe_relative_path("a\0b"),
            Err(PathError::ControlCharacter { .. })
        ));
        assert!(matches!(
            safe_relative_path("a\nb"),
            Err(PathError::ControlCharacter { .. })
        ));
        assert!(matches!(
            safe_relative_path("a/../b"),
            Err(PathError::ParentSegment { .. })
        ));
        assert!(matches!(
            safe_relative_path(".."),
            Err(PathError::ParentSegment { .. })
        ));
        assert!(matches!(
            safe_relative_path("./a"),
            Err(PathError::CurrentSegment { .. })
        ));
        assert!(matches!(
            safe_relative_path("a//b"),
            Err(PathError::EmptySegment { .. })
        ));
        assert!(matches!(
            safe_relative_path("a//"),
            Err(PathError::EmptySegment { .. })
        ));
        let long_segment = "x".repeat(256);
        assert!(matches!(
            safe_relative_path(&long_segment),
            Err(PathError::SegmentTooLong { .. })
        ));
        assert!(safe_relative_path(&"x".repeat(255)).is_ok());
        let long_path = ["y"; 600].join("/");
        assert_eq!(
            safe_relative_path(&long_path),
            Err(PathError::TooLong { len: 1199 })
        );
    }

    #[test]
    fn messages_say_why() {
        let err = safe_relative_path("a/../b").unwrap_err();
        assert_eq!(err.to_string(), "path \"a/../b\" contains a '..' segment");
        let err = safe_relative_path(&"z".repeat(300)).unwrap_err();
        assert!(err.to_string().contains("longer than 255 bytes"));
    }

    #[test]
    fn normpath_matches_python() {
        assert_eq!(normpath("./a/b"), "a/b");
        assert_eq!(normpath("a/./b/"), "a/b");
        assert_eq!(normpath("."), ".");
        assert_eq!(normpath("a/../b"), "b");
        assert_eq!(join(&["", "a", "b"]), "a/b");
    }
}

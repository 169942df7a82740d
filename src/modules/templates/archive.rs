//! Archives in (uploaded templates: `.zip`, `.tar.gz`) and out (instantiated projects), and the
//! limits every incoming file set must respect. Everything that arrives is untrusted: paths go
//! through [`safe_relative_path`], symlinks, hard links and devices are refused, and sizes are
//! counted on the bytes actually decompressed (declared sizes can lie), so a zip bomb stops at the
//! first byte over the limit with a 413 naming it.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use crate::modules::templates::settings::TemplatesSettings;
use crate::platform::http::body::Metered;
use actix_web::http::StatusCode;

use crate::platform::http::error::{ApiError, CodeDoc};
use crate::render::{SourceFile, safe_relative_path};

/// Below this many expanded bytes the expansion ratio is not checked (tiny archives of repetitive
/// text legitimately compress very well).
const RATIO_FLOOR_BYTES: u64 = 1024 * 1024;

/// The limits a template's file set must respect.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_expansion_ratio: u64,
}

impl Limits {
    pub fn from_settings(s: &TemplatesSettings) -> Limits {
        Limits {
            max_files: s.max_files,
            max_file_bytes: s.max_file_bytes,
            max_total_bytes: s.max_total_bytes,
            max_expansion_ratio: s.max_expansion_ratio,
        }
    }
}

pub use crate::platform::http::body::ArchiveKind;

/// The problem codes of reading an upload (archives and JSON files maps), for the uniqueness and
/// documentation test beside the module enums (`crate::modules::problem_code_tables`).
pub const ARCHIVE_CODES: &[CodeDoc] = &[
    CodeDoc::new("templates.too_many_files", StatusCode::PAYLOAD_TOO_LARGE),
    CodeDoc::new("templates.file_too_large", StatusCode::PAYLOAD_TOO_LARGE),
    CodeDoc::new(
        "templates.template_too_large",
        StatusCode::PAYLOAD_TOO_LARGE,
    ),
    CodeDoc::new(
        "templates.archive_expansion_exceeded",
        StatusCode::PAYLOAD_TOO_LARGE,
    ),
    CodeDoc::new("templates.duplicate_path", StatusCode::UNPROCESSABLE_ENTITY),
    CodeDoc::new("templates.path_conflict", StatusCode::UNPROCESSABLE_ENTITY),
    CodeDoc::new("templates.empty_archive", StatusCode::UNPROCESSABLE_ENTITY),
    CodeDoc::new(
        "templates.symlink_refused",
        StatusCode::UNPROCESSABLE_ENTITY,
    ),
    CodeDoc::new(
        "templates.unsupported_entry",
        StatusCode::UNPROCESSABLE_ENTITY,
    ),
    CodeDoc::new("templates.invalid_archive", StatusCode::BAD_REQUEST),
];

fn too_many_files(limits: &Limits) -> ApiError {
    ApiError::payload_too_large(
        "templates.too_many_files",
        format!(
            "The template has more than {} files (limit templates.max_files).",
            limits.max_files
        ),
    )
}

fn file_too_large(path: &str, limits: &Limits) -> ApiError {
    ApiError::payload_too_large(
        "templates.file_too_large",
        format!(
            "{path} is larger than {} bytes (limit templates.max_file_bytes).",
            limits.max_file_bytes
        ),
    )
}

fn template_too_large(limits: &Limits) -> ApiError {
    ApiError::payload_too_large(
        "templates.template_too_large",
        format!(
            "The template's files add up to more than {} bytes (limit templates.max_total_bytes).",
            limits.max_total_bytes
        ),
    )
}

fn expansion_exceeded(compressed: u64, limits: &Limits) -> ApiError {
    ApiError::payload_too_large(
        "templates.archive_expansion_exceeded",
        format!(
            "The {compressed}-byte archive expands to more than {} times its size (limit templates.max_expansion_ratio); it looks like a decompression bomb.",
            limits.max_expansion_ratio
        ),
    )
}

pub fn unsafe_path(raw: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(
        "templates.unsafe_path",
        format!("Refused path {:?}: {why}.", truncate(raw, 200)),
    )
}

/// Two entries that name the same file (also `./a` and `a`). Names that differ only in case
/// are different files in git and on the systems Maestro runs on, so they are allowed.
fn duplicate_path(path: &str) -> ApiError {
    ApiError::unprocessable(
        "templates.duplicate_path",
        format!(
            "{:?} appears more than once; each file may be given only once.",
            truncate(path, 200)
        ),
    )
}

/// The first name the zip's central directory lists twice (read entry by entry, since the
/// archive reader keeps only one entry per name).
fn zip_duplicate_name(bytes: &[u8]) -> String {
    let fallback = || "an entry".to_string();
    let Ok(mut iterable) = zip::unstable::read::ZipIterable::try_new(
        std::io::Cursor::new(bytes),
        zip::read::Config::default(),
    ) else {
        return fallback();
    };
    let Ok(files) = iterable.files() else {
        return fallback();
    };
    let mut seen = BTreeSet::new();
    for entry in files {
        let Ok(entry) = entry else {
            break;
        };
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if !seen.insert(name.clone()) {
            return name;
        }
    }
    fallback()
}

fn invalid_archive(kind: ArchiveKind, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "templates.invalid_archive",
        format!("The {} upload could not be read: {why}.", kind.extension()),
    )
}

fn truncate(raw: &str, max: usize) -> String {
    if raw.len() <= max {
        return raw.to_string();
    }
    let mut end = max;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &raw[..end])
}

/// Checks one untrusted path and returns its normalised form (a leading `./` is accepted).
///
/// Besides [`safe_relative_path`]'s rules, no segment may name git's own folder: `.git` in any
/// case or disguise (`.git.`, `.git ` and other NTFS trailing forms, `git~1` 8.3 short names,
/// HFS+ ignorable code points as in `.g\u{200c}it`) — git's `core.protectNTFS`/`core.protectHFS`
/// rules, through gix. Such a path would touch the repository's own files in a tree (git and gix
/// refuse it, servers refuse it on push) and a project's `.git` when an archive is extracted, so
/// it is refused before anything is written or sent.
pub fn check_path(raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.strip_prefix("./").unwrap_or(raw);
    let path = safe_relative_path(trimmed).map_err(|e| unsafe_path(raw, e))?;
    if let Some(why) = path.split('/').find_map(|s| git_reserved(s, false)) {
        return Err(unsafe_path(raw, why));
    }
    Ok(path)
}

/// Why git reserves a path segment (`None`: an ordinary name). `.gitmodules` (in any spelling)
/// counts only with `gitmodules`: git treats it as submodule configuration anywhere in a tree
/// and servers that `fsck` pushes refuse malformed ones, so templates may not store it.
fn git_reserved(segment: &str, gitmodules: bool) -> Option<String> {
    use gix::validate::path::component::{Error, Mode, Options};
    let options = Options {
        // Windows device names and characters stay allowed: templates are not checked out on
        // the server, and cookiecutter names like `{{cookiecutter.x}}` use such characters.
        protect_windows: false,
        protect_hfs: true,
        protect_ntfs: true,
    };
    // `Mode::Symlink` makes gix report `.gitmodules` in every disguise too.
    let mode = gitmodules.then_some(Mode::Symlink);
    match gix::validate::path::component(segment.into(), mode, options) {
        Err(Error::DotGitDir) => Some(format!(
            "the segment {segment:?} names git's own `.git` folder (in some spelling); templates cannot hold it"
        )),
        Err(Error::SymlinkedGitModules) => Some(format!(
            "the segment {segment:?} is git's `.gitmodules` (in some spelling), which git treats as submodule configuration; templates cannot hold it"
        )),
        _ => None,
    }
}

/// Validates a complete file set: paths, duplicates, count and sizes. Returns the files sorted
/// by path with normalised paths.
pub fn check_files(
    mut files: Vec<SourceFile>,
    limits: &Limits,
) -> Result<Vec<SourceFile>, ApiError> {
    if files.len() > limits.max_files {
        return Err(too_many_files(limits));
    }
    let mut total: u64 = 0;
    let mut seen = BTreeSet::new();
    for file in &mut files {
        let raw = std::mem::take(&mut file.path);
        file.path = check_path(&raw)?;
        if let Some(why) = file.path.split('/').find_map(|s| git_reserved(s, true)) {
            return Err(unsafe_path(&raw, why));
        }
        let size = file.content.len() as u64;
        if size > limits.max_file_bytes {
            return Err(file_too_large(&file.path, limits));
        }
        total += size;
        if total > limits.max_total_bytes {
            return Err(template_too_large(limits));
        }
        if !seen.insert(file.path.clone()) {
            return Err(duplicate_path(&file.path));
        }
    }
    // A file and a folder of the same name cannot both exist (`a` and `a/b`).
    for file in &files {
        let mut prefix = String::new();
        for segment in file.path.split('/') {
            if !prefix.is_empty() && seen.contains(&prefix) {
                return Err(ApiError::unprocessable(
                    "templates.path_conflict",
                    format!("{prefix} is both a file and a folder (see {}).", file.path),
                ));
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(segment);
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Archives made with `tar czf x.tgz my-template/` wrap everything in one folder: when nothing
/// describes the template at the top level but one folder holds everything, unwrap it.
pub fn strip_common_root(files: Vec<SourceFile>) -> Vec<SourceFile> {
    let describes = |p: &str| p == "manifest.yaml" || p == "cookiecutter.json";
    if files.iter().any(|f| describes(&f.path)) {
        return files;
    }
    let Some(first) = files.first() else {
        return files;
    };
    let Some((root, _)) = first.path.split_once('/') else {
        return files;
    };
    let prefix = format!("{root}/");
    if !files.iter().all(|f| f.path.starts_with(&prefix)) {
        return files;
    }
    files
        .into_iter()
        .map(|mut f| {
            f.path = f.path[prefix.len()..].to_string();
            f
        })
        .collect()
}

/// Reads an uploaded archive into files, enforcing every limit while decompressing.
pub fn read_archive(
    kind: ArchiveKind,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<SourceFile>, ApiError> {
    Ok(read_archive_with_root(kind, bytes, limits)?.0)
}

/// [`read_archive`], also returning the name of the folder every file was in (stripped), if
/// any: a cookiecutter folder's name when it has no `manifest.yaml` (`derive.rs`).
pub fn read_archive_with_root(
    kind: ArchiveKind,
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<SourceFile>, Option<String>), ApiError> {
    let files = match kind {
        ArchiveKind::Zip => read_zip(bytes, limits)?,
        ArchiveKind::TarGz => read_tar_gz(bytes, limits)?,
    };
    if files.is_empty() {
        return Err(ApiError::unprocessable(
            "templates.empty_archive",
            "The archive holds no files.",
        ));
    }
    let first_before = files.first().map(|f| f.path.clone());
    let stripped = strip_common_root(files);
    // A root was stripped when the first path changed.
    let root = match (first_before, stripped.first()) {
        (Some(before), Some(after)) if before != after.path => {
            before.split_once('/').map(|(root, _)| root.to_string())
        }
        _ => None,
    };
    Ok((check_files(stripped, limits)?, root))
}

struct Budget<'a> {
    limits: &'a Limits,
    compressed: u64,
    total: u64,
    count: usize,
}

impl<'a> Budget<'a> {
    /// The budget of one upload of `compressed` bytes.
    fn new(limits: &'a Limits, compressed: &[u8]) -> Budget<'a> {
        Budget {
            limits,
            compressed: compressed.len() as u64,
            total: 0,
            count: 0,
        }
    }

    fn add_file(&mut self) -> Result<(), ApiError> {
        self.count += 1;
        if self.count > self.limits.max_files {
            return Err(too_many_files(self.limits));
        }
        Ok(())
    }

    fn add_bytes(&mut self, n: u64) -> Result<(), ApiError> {
        self.total += n;
        if self.total > RATIO_FLOOR_BYTES
            && self.total
                > self
                    .compressed
                    .max(1)
                    .saturating_mul(self.limits.max_expansion_ratio)
        {
            return Err(expansion_exceeded(self.compressed, self.limits));
        }
        if self.total > self.limits.max_total_bytes {
            return Err(template_too_large(self.limits));
        }
        Ok(())
    }
}

/// Reads one regular file of an archive: its path checked, counted against the file budget,
/// its declared and its actual size bounded (read in chunks, each charged to the byte budget).
fn read_file(
    reader: &mut impl Read,
    name: &str,
    declared_size: u64,
    executable: bool,
    kind: ArchiveKind,
    budget: &mut Budget<'_>,
) -> Result<SourceFile, ApiError> {
    let path = check_path(name)?;
    budget.add_file()?;
    let max = budget.limits.max_file_bytes;
    if declared_size > max {
        return Err(file_too_large(&path, budget.limits));
    }
    let mut content = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut chunk)
            .map_err(|e| invalid_archive(kind, format!("{path}: {e}")))?;
        if n == 0 {
            break;
        }
        if content.len() as u64 + n as u64 > max {
            return Err(file_too_large(&path, budget.limits));
        }
        budget.add_bytes(n as u64)?;
        content.extend_from_slice(&chunk[..n]);
    }
    Ok(SourceFile {
        path,
        content,
        executable,
    })
}

/// A 422 for an archive entry that is not a plain file (`why` completes "<name> …").
fn entry_refused(code: &'static str, name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(code, format!("{:?} {why}", truncate(name, 200)))
}

const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;

fn read_zip(bytes: &[u8], limits: &Limits) -> Result<Vec<SourceFile>, ApiError> {
    let kind = ArchiveKind::Zip;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| invalid_archive(kind, e))?;
    if archive.len() > limits.max_files.saturating_mul(2) + 16 {
        return Err(too_many_files(limits));
    }
    // The archive reader keeps one entry per name (the last one); two entries with one name
    // would otherwise be accepted with the second silently winning.
    if archive.has_duplicate_names() {
        return Err(duplicate_path(&zip_duplicate_name(bytes)));
    }
    let mut budget = Budget::new(limits, bytes);
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| invalid_archive(kind, format!("entry {index}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| {
                invalid_archive(kind, format!("entry {index} has an unreadable name: {e}"))
            })?
            .into_owned();
        let mode = entry.unix_mode();
        let file_type = mode.map(|m| m & S_IFMT).filter(|t| *t != 0);
        if entry.is_symlink() || file_type == Some(S_IFLNK) {
            return Err(entry_refused(
                "templates.symlink_refused",
                &name,
                "is a symbolic link; templates may only hold regular files.",
            ));
        }
        if entry.is_dir() || file_type == Some(S_IFDIR) {
            check_path(name.trim_end_matches('/')).or_else(|e| {
                if name == "./" || name.is_empty() {
                    Ok(String::new())
                } else {
                    Err(e)
                }
            })?;
            continue;
        }
        if let Some(t) = file_type
            && t != S_IFREG
        {
            return Err(entry_refused(
                "templates.unsupported_entry",
                &name,
                format!("is not a regular file (mode {t:o})."),
            ));
        }
        if entry.encrypted() {
            return Err(entry_refused(
                "templates.unsupported_entry",
                &name,
                "is encrypted; upload an unencrypted archive.",
            ));
        }
        let (size, executable) = (entry.size(), mode.is_some_and(|m| m & 0o111 != 0));
        files.push(read_file(
            &mut entry,
            &name,
            size,
            executable,
            kind,
            &mut budget,
        )?);
    }
    Ok(files)
}

fn read_tar_gz(bytes: &[u8], limits: &Limits) -> Result<Vec<SourceFile>, ApiError> {
    let kind = ArchiveKind::TarGz;
    // Headers and padding cost at most a few blocks per entry on top of the content.
    let overhead = (limits.max_files as u64 + 16).saturating_mul(3 * 512) + 64 * 1024;
    let ratio_cap = (bytes.len() as u64)
        .max(1)
        .saturating_mul(limits.max_expansion_ratio)
        .max(RATIO_FLOOR_BYTES);
    let total_cap = limits.max_total_bytes.saturating_add(overhead);
    let metered = Metered::new(
        flate2::read::GzDecoder::new(bytes),
        ratio_cap.min(total_cap),
    );
    let mut archive = tar::Archive::new(metered);
    let mut budget = Budget::new(limits, bytes);
    let mut files = Vec::new();
    let result: Result<(), ApiError> = (|| {
        let entries = archive.entries().map_err(|e| invalid_archive(kind, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| invalid_archive(kind, e))?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8(raw)
                .map_err(|_| unsafe_path("<non-UTF-8 name>", "paths must be UTF-8"))?;
            let entry_type = entry.header().entry_type();
            use tar::EntryType;
            match entry_type {
                EntryType::Directory => {
                    let trimmed = name.trim_end_matches('/');
                    if !(trimmed.is_empty() || trimmed == ".") {
                        check_path(trimmed)?;
                    }
                    continue;
                }
                EntryType::Symlink => {
                    return Err(entry_refused(
                        "templates.symlink_refused",
                        &name,
                        "is a symbolic link; templates may only hold regular files.",
                    ));
                }
                EntryType::Link => {
                    return Err(entry_refused(
                        "templates.symlink_refused",
                        &name,
                        "is a hard link; templates may only hold regular files.",
                    ));
                }
                EntryType::Regular | EntryType::Continuous => {}
                EntryType::XGlobalHeader | EntryType::XHeader => continue,
                other => {
                    return Err(entry_refused(
                        "templates.unsupported_entry",
                        &name,
                        format!("is not a regular file ({other:?})."),
                    ));
                }
            }
            let declared = entry.header().size().unwrap_or(0);
            let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
            files.push(read_file(
                &mut entry,
                &name,
                declared,
                executable,
                kind,
                &mut budget,
            )?);
        }
        Ok(())
    })();
    let exceeded = archive.into_inner().exceeded();
    match result {
        Err(_) | Ok(()) if exceeded => {
            if ratio_cap <= total_cap {
                Err(expansion_exceeded(bytes.len() as u64, limits))
            } else {
                Err(template_too_large(limits))
            }
        }
        Err(e) => Err(e),
        Ok(()) => Ok(files),
    }
}

/// One file of an archive to produce.
pub struct OutEntry<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub executable: bool,
}

/// Writes `entries` (and the empty folders) as an archive of `kind`.
pub fn write(
    kind: ArchiveKind,
    entries: &[OutEntry<'_>],
    empty_dirs: &[String],
    mtime: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<u8>> {
    match kind {
        ArchiveKind::Zip => write_zip(entries, empty_dirs, mtime),
        ArchiveKind::TarGz => write_tar_gz(entries, empty_dirs, mtime),
    }
}

/// Builds a zip (deflate) with unix modes and a fixed modification time.
pub fn write_zip(
    entries: &[OutEntry<'_>],
    empty_dirs: &[String],
    mtime: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<u8>> {
    use chrono::{Datelike, Timelike};
    use zip::write::SimpleFileOptions;
    let when = zip::DateTime::from_date_and_time(
        mtime.year().clamp(1980, 2107) as u16,
        mtime.month() as u8,
        mtime.day() as u8,
        mtime.hour() as u8,
        mtime.minute() as u8,
        mtime.second().min(59) as u8,
    )
    .unwrap_or_default();
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for dir in empty_dirs {
        let options = SimpleFileOptions::default()
            .last_modified_time(when)
            .unix_permissions(0o755);
        writer.add_directory(format!("{dir}/"), options)?;
    }
    for entry in entries {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(when)
            .large_file(entry.content.len() as u64 >= u32::MAX as u64)
            .unix_permissions(if entry.executable { 0o755 } else { 0o644 });
        writer.start_file(entry.path, options)?;
        writer.write_all(entry.content)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// Builds a gzip-compressed tar with unix modes and a fixed modification time.
pub fn write_tar_gz(
    entries: &[OutEntry<'_>],
    empty_dirs: &[String],
    mtime: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.mode(tar::HeaderMode::Deterministic);
    let seconds = mtime.timestamp().max(0) as u64;
    for dir in empty_dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(seconds);
        builder.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    }
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(if entry.executable { 0o755 } else { 0o644 });
        header.set_size(entry.content.len() as u64);
        header.set_mtime(seconds);
        builder.append_data(&mut header, entry.path, entry.content)?;
    }
    let encoder = builder.into_inner()?;
    Ok(encoder.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_files: 10,
            max_file_bytes: 4 * 1024 * 1024,
            max_total_bytes: 8 * 1024 * 1024,
            max_expansion_ratio: 50,
        }
    }

    fn zip_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        use zip::write::SimpleFileOptions;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (path, content, mode) in files {
            let o = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(*mode);
            w.start_file(*path, o).unwrap();
            w.write_all(content).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn zips_round_trip_with_modes_and_common_root_is_stripped() {
        let bytes = zip_of(&[
            ("t/manifest.yaml", b"name: x\n", 0o644),
            ("t/run.sh", b"#!/bin/sh\n", 0o755),
        ]);
        let files = read_archive(ArchiveKind::Zip, &bytes, &limits()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "manifest.yaml");
        assert!(files[1].executable);
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        for bad in ["../evil", "/etc/passwd", "a/../../b", "a\\b"] {
            let bytes = zip_of(&[(bad, b"x", 0o644)]);
            let err = read_archive(ArchiveKind::Zip, &bytes, &limits()).unwrap_err();
            assert_eq!(err.status.as_u16(), 422, "{bad}: {err:?}");
            assert_eq!(err.code, "templates.unsafe_path");
        }
    }

    #[test]
    fn git_reserved_segments_are_refused_in_every_spelling() {
        for bad in [
            ".git/config",
            ".GIT/hooks/pre-commit",
            "sub/.Git/HEAD",
            ".git./x",
            ".git /x",
            ".git../x",
            "git~1/config",
            "GIT~1/x",
            ".git::$INDEX_ALLOCATION/x",
            ".g\u{200c}it/x",
            "./.git/x",
        ] {
            let err = check_path(bad).unwrap_err();
            assert_eq!(err.code, "templates.unsafe_path", "{bad}");
            assert_eq!(err.status.as_u16(), 422, "{bad}");
        }
        // `.gitmodules` in any spelling: not in a template's files (but a rendered or requested
        // path may name it).
        let file = |p: &str| SourceFile {
            path: p.into(),
            content: b"x".to_vec(),
            executable: false,
        };
        for bad in [
            ".gitmodules",
            "a/.GitModules",
            ".gitmodules.",
            "gitmod~1",
            "gi7eba~1",
        ] {
            assert!(check_path(bad).is_ok(), "{bad}");
            let err = check_files(vec![file(bad)], &limits()).unwrap_err();
            assert_eq!(err.code, "templates.unsafe_path", "{bad}");
            assert!(err.detail.contains(".gitmodules"), "{}", err.detail);
        }
        for ok in [
            ".gitignore",
            ".gitattributes",
            ".github/workflows/ci.yml",
            ".gitlab-ci.yml",
            "git/notes.md",
            ".git-blame-ignore-revs",
            "my.git/x",
            "{{ cookiecutter.project_slug }}/.gitignore",
            "CON/aux.txt",
        ] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        let bytes = zip_of(&[
            ("manifest.yaml", b"name: x\n", 0o644),
            (".git/HEAD", b"x", 0o644),
        ]);
        let err = read_archive(ArchiveKind::Zip, &bytes, &limits()).unwrap_err();
        assert_eq!(err.code, "templates.unsafe_path");
        assert!(err.detail.contains(".git"), "{}", err.detail);
    }

    #[test]
    fn duplicate_entries_are_refused_naming_the_path() {
        // Two zip entries with one name (the writer refuses that, so patch the second name).
        let mut bytes = zip_of(&[
            ("manifest.yaml", b"name: x\n", 0o644),
            ("a/b.txt", b"first", 0o644),
            ("a/c.txt", b"second", 0o644),
        ]);
        let mut replaced = 0;
        for i in 0..bytes.len() - 7 {
            if &bytes[i..i + 7] == b"a/c.txt" {
                bytes[i..i + 7].copy_from_slice(b"a/b.txt");
                replaced += 1;
            }
        }
        assert_eq!(replaced, 2, "local and central headers");
        let err = read_archive(ArchiveKind::Zip, &bytes, &limits()).unwrap_err();
        assert_eq!(err.code, "templates.duplicate_path", "{err:?}");
        assert!(err.detail.contains("a/b.txt"), "{}", err.detail);

        // Equal after normalisation: `./a/b.txt` and `a/b.txt`.
        let bytes = zip_of(&[
            ("manifest.yaml", b"name: x\n", 0o644),
            ("a/b.txt", b"first", 0o644),
            ("./a/b.txt", b"second", 0o644),
        ]);
        let err = read_archive(ArchiveKind::Zip, &bytes, &limits()).unwrap_err();
        assert_eq!(err.code, "templates.duplicate_path", "{err:?}");

        // Tar keeps duplicates as separate entries.
        let entries: Vec<OutEntry<'_>> = ["manifest.yaml", "x.txt", "./x.txt", "x.txt"]
            .iter()
            .map(|p| OutEntry {
                path: p,
                content: b"x",
                executable: false,
            })
            .collect();
        let bytes = write_tar_gz(&entries, &[], chrono::Utc::now()).unwrap();
        let err = read_archive(ArchiveKind::TarGz, &bytes, &limits()).unwrap_err();
        assert_eq!(err.code, "templates.duplicate_path", "{err:?}");
        assert!(err.detail.contains("x.txt"), "{}", err.detail);

        // Case-only differences are different files.
        let bytes = zip_of(&[
            ("manifest.yaml", b"name: x\n", 0o644),
            ("README.md", b"a", 0o644),
            ("readme.md", b"b", 0o644),
        ]);
        assert_eq!(
            read_archive(ArchiveKind::Zip, &bytes, &limits())
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn zip_bombs_get_413_naming_the_limit() {
        let zeros = vec![0u8; 3 * 1024 * 1024];
        let bytes = zip_of(&[
            ("a", &zeros, 0o644),
            ("b", &zeros, 0o644),
            ("c", &zeros, 0o644),
        ]);
        assert!(bytes.len() < 100_000);
        let err = read_archive(ArchiveKind::Zip, &bytes, &limits()).unwrap_err();
        assert_eq!(err.status.as_u16(), 413);
        assert_eq!(err.code, "templates.archive_expansion_exceeded");
        assert!(err.detail.contains("templates.max_expansion_ratio"));
    }

    #[test]
    fn tar_symlinks_and_bombs_are_refused() {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "link", "/etc/passwd").unwrap();
        let bytes = b.into_inner().unwrap().finish().unwrap();
        let err = read_archive(ArchiveKind::TarGz, &bytes, &limits()).unwrap_err();
        assert_eq!(err.code, "templates.symlink_refused");

        let zeros = vec![0u8; 3 * 1024 * 1024];
        let entries: Vec<OutEntry<'_>> = ["a", "b", "c"]
            .iter()
            .map(|p| OutEntry {
                path: p,
                content: &zeros,
                executable: false,
            })
            .collect();
        let bytes = write_tar_gz(&entries, &[], chrono::Utc::now()).unwrap();
        let err = read_archive(ArchiveKind::TarGz, &bytes, &limits()).unwrap_err();
        assert_eq!(err.status.as_u16(), 413, "{err:?}");
    }

    #[test]
    fn tar_round_trip_keeps_modes_and_accepts_dot_slash() {
        let entries = vec![
            OutEntry {
                path: "./manifest.yaml",
                content: b"name: x\n",
                executable: false,
            },
            OutEntry {
                path: "./bin/run",
                content: b"#!/bin/sh\n",
                executable: true,
            },
        ];
        let bytes = write_tar_gz(&entries, &[], chrono::Utc::now()).unwrap();
        let files = read_archive(ArchiveKind::TarGz, &bytes, &limits()).unwrap();
        assert_eq!(
            files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            vec!["bin/run", "manifest.yaml"]
        );
        assert!(files[0].executable);
    }

    #[test]
    fn file_sets_are_checked_for_count_size_and_conflicts() {
        let f = |p: &str, n: usize| SourceFile {
            path: p.into(),
            content: vec![b'x'; n],
            executable: false,
        };
        let l = limits();
        assert_eq!(
            check_files((0..11).map(|i| f(&format!("f{i}"), 1)).collect(), &l)
                .unwrap_err()
                .code,
            "templates.too_many_files"
        );
        assert_eq!(
            check_files(vec![f("big", 5 * 1024 * 1024)], &l)
                .unwrap_err()
                .code,
            "templates.file_too_large"
        );
        assert_eq!(
            check_files(vec![f("a", 1), f("a/b", 1)], &l)
                .unwrap_err()
                .code,
            "templates.path_conflict"
        );
        assert_eq!(
            check_files(vec![f("a\0b", 1)], &l).unwrap_err().code,
            "templates.unsafe_path"
        );
        let long = "x".repeat(300);
        assert_eq!(
            check_files(vec![f(&long, 1)], &l).unwrap_err().code,
            "templates.unsafe_path"
        );
    }
}

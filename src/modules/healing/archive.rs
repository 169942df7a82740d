//! Report folders uploaded as `.zip` or `.tar.gz`: every regular `*.xml` file inside, in archive
//! order; other entries (folders, links, logs) are ignored. Nothing is ever written to disk, so
//! entry paths only name files in error messages; what matters is the budget — decompressed
//! bytes are counted as they are produced (declared sizes can lie), so a decompression bomb stops
//! at the limit with a 413.
//!
//! The formats and the byte counting are the platform's (`platform::http::body`). (The templates
//! module's archive reader also guards paths for extraction and answers with template-specific
//! codes; none of that applies to reports, which are parsed, not stored.)

use std::io::Read;

use super::error::HealingError;
use crate::platform::http::body::{ArchiveKind, Metered};

/// How much an archive may expand to, and how many report files it may hold.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_expanded_bytes: u64,
    pub max_files: usize,
}

fn invalid(reason: impl std::fmt::Display) -> HealingError {
    HealingError::InvalidArchive {
        reason: reason.to_string(),
    }
}

fn too_large(budget: &Budget) -> HealingError {
    HealingError::ArchiveTooLarge {
        max_bytes: budget.max_expanded_bytes,
        max_files: budget.max_files,
    }
}

fn is_report(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".xml")
}

/// Reads the report files of an archive: (path inside the archive, bytes).
pub fn report_files(
    kind: ArchiveKind,
    bytes: &[u8],
    budget: &Budget,
) -> Result<Vec<(String, Vec<u8>)>, HealingError> {
    match kind {
        ArchiveKind::Zip => read_zip(bytes, budget),
        ArchiveKind::TarGz => read_tar_gz(bytes, budget),
    }
}

fn read_zip(bytes: &[u8], budget: &Budget) -> Result<Vec<(String, Vec<u8>)>, HealingError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(invalid)?;
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index(index)
            .map_err(|e| invalid(format!("entry {index}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| invalid(format!("entry {index} has an unreadable name: {e}")))?
            .into_owned();
        if entry.is_dir() || entry.is_symlink() || !is_report(&name) {
            continue;
        }
        if files.len() >= budget.max_files {
            return Err(too_large(budget));
        }
        let mut metered = Metered::new(entry, budget.max_expanded_bytes.saturating_sub(total));
        let mut content = Vec::new();
        if let Err(e) = metered.read_to_end(&mut content) {
            return Err(if metered.exceeded() {
                too_large(budget)
            } else {
                invalid(format!("{name}: {e}"))
            });
        }
        total += content.len() as u64;
        files.push((name, content));
    }
    Ok(files)
}

fn read_tar_gz(bytes: &[u8], budget: &Budget) -> Result<Vec<(String, Vec<u8>)>, HealingError> {
    // Headers, padding and skipped entries are decompressed too: they count.
    let mut archive = tar::Archive::new(Metered::new(
        flate2::read::GzDecoder::new(bytes),
        budget.max_expanded_bytes,
    ));
    let mut files = Vec::new();
    let result: Result<(), HealingError> = (|| {
        for entry in archive.entries().map_err(invalid)? {
            let mut entry = entry.map_err(invalid)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if !entry.header().entry_type().is_file() || !is_report(&name) {
                continue;
            }
            if files.len() >= budget.max_files {
                return Err(too_large(budget));
            }
            let mut content = Vec::new();
            entry
                .read_to_end(&mut content)
                .map_err(|e| invalid(format!("{name}: {e}")))?;
            files.push((name, content));
        }
        Ok(())
    })();
    let exceeded = archive.into_inner().exceeded();
    match result {
        Err(_) if exceeded => Err(too_large(budget)),
        Err(e) => Err(e),
        Ok(()) => Ok(files),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const BUDGET: Budget = Budget {
        max_expanded_bytes: 1 << 20,
        max_files: 10,
    };

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn only_xml_files_are_read_from_both_formats() {
        let entries: &[(&str, &[u8])] = &[
            ("reports/TEST-a.xml", b"<testsuite/>"),
            ("reports/output.txt", b"log"),
            ("reports/nested/TEST-b.XML", b"<testsuites/>"),
        ];
        for (kind, bytes) in [
            (ArchiveKind::TarGz, tar_gz(entries)),
            (ArchiveKind::Zip, zip_of(entries)),
        ] {
            let files = report_files(kind, &bytes, &BUDGET).unwrap();
            let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                ["reports/TEST-a.xml", "reports/nested/TEST-b.XML"],
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_budget() {
        let zeros = vec![b' '; 4 << 20];
        for (kind, bytes) in [
            (ArchiveKind::TarGz, tar_gz(&[("big.xml", &zeros)])),
            (ArchiveKind::Zip, zip_of(&[("big.xml", &zeros)])),
        ] {
            assert!(bytes.len() < 100_000, "{kind:?} compresses well");
            assert!(
                matches!(
                    report_files(kind, &bytes, &BUDGET),
                    Err(HealingError::ArchiveTooLarge { .. })
                ),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn too_many_files_and_garbage_are_refused() {
        let many: Vec<(String, &[u8])> = (0..11)
            .map(|i| (format!("TEST-{i}.xml"), b"<testsuite/>" as &[u8]))
            .collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        assert!(matches!(
            report_files(ArchiveKind::Zip, &zip_of(&many), &BUDGET),
            Err(HealingError::ArchiveTooLarge { .. })
        ));
        assert!(matches!(
            report_files(ArchiveKind::Zip, b"not a zip", &BUDGET),
            Err(HealingError::InvalidArchive { .. })
        ));
        assert!(matches!(
            report_files(ArchiveKind::TarGz, b"not gzip", &BUDGET),
            Err(HealingError::InvalidArchive { .. })
        ));
    }
}

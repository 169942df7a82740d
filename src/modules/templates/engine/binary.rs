//! Binary-file detection, replicating binaryornot 0.6.0 (what cookiecutter 2.7.1 uses to
//! decide whether a file is copied raw or rendered).

use super::binary_tree::{BINARY_EXTENSIONS, BINARY_SIGNATURES, tree_is_binary};

/// binaryornot reads this many leading bytes.
const CHUNK_SIZE: usize = 512;

/// `binaryornot.check.is_binary(path)`: a known binary extension, a known magic number, or
/// the decision tree over byte statistics of the first 512 bytes.
pub fn is_binary(path: &str, content: &[u8]) -> bool {
    if has_binary_extension(path) {
        return true;
    }
    let chunk = &content[..content.len().min(CHUNK_SIZE)];
    is_binary_chunk(chunk)
}

/// `Path(filename).suffix.lower().lstrip('.')` in the extension list (Python 3.11 suffix rules).
fn has_binary_extension(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some(i) = name.rfind('.') else {
        return false;
    };
    // Python: a suffix needs a dot that is neither first nor last in the name.
    if i == 0 || i + 1 == name.len() {
        return false;
    }
    let ext = name[i + 1..].to_lowercase();
    let ext = ext.trim_start_matches('.');
    BINARY_EXTENSIONS.binary_search(&ext).is_ok()
}

fn has_signature(chunk: &[u8]) -> bool {
    BINARY_SIGNATURES.iter().any(|sig| chunk.starts_with(sig))
}

/// `binaryornot.helpers.is_binary_string`.
pub(super) fn is_binary_chunk(chunk: &[u8]) -> bool {
    if chunk.is_empty() {
        return false;
    }
    if has_signature(chunk) {
        return true;
    }
    tree_is_binary(&features(chunk))
}

fn is_control(b: u8) -> bool {
    b < 32 && !matches!(b, 9 | 10 | 13)
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// `binaryornot.helpers._compute_features`, same order and arithmetic.
fn features(chunk: &[u8]) -> [f64; 24] {
    let n = chunk.len();
    let nf = n as f64;
    let null_count = chunk.iter().filter(|&&b| b == 0).count();
    let control_count = chunk.iter().filter(|&&b| is_control(b)).count();
    let printable_count = chunk
        .iter()
        .filter(|&&b| (0x20..=0x7E).contains(&b))
        .count();
    let high_count = chunk.iter().filter(|&&b| b >= 0x80).count();

    let utf8_valid = flag(std::str::from_utf8(chunk).is_ok());

    let even_total = n.div_ceil(2);
    let odd_total = n / 2;
    let even_nulls = chunk.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd_nulls = chunk.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };

    let mut hist = [0usize; 256];
    for &b in chunk {
        hist[b as usize] += 1;
    }
    let mut entropy = 0.0f64;
    for &count in &hist {
        if count > 0 {
            let p = count as f64 / nf;
            entropy -= p * p.log2();
        }
    }

    let bom_utf32le = chunk.starts_with(b"\xff\xfe\x00\x00");
    let bom_utf32be = chunk.starts_with(b"\x00\x00\xfe\xff");
    let bom_utf16le = chunk.starts_with(b"\xff\xfe") && !bom_utf32le;
    let bom_utf16be = chunk.starts_with(b"\xfe\xff");
    let bom_utf8 = chunk.starts_with(b"\xef\xbb\xbf");

    let (mut t16le, mut t16be, mut t32le, mut t32be) = (false, false, false, false);
    if n >= 10 {
        t16le = decodes_utf16(chunk, false);
        t16be = decodes_utf16(chunk, true);
    }
    if n >= 16 {
        t32le = decodes_utf32(chunk, false);
        t32be = decodes_utf32(chunk, true);
    }

    let mut max_run = 0usize;
    let mut run = 0usize;
    for &b in chunk {
        if (0x20..=0x7E).contains(&b) || matches!(b, 9 | 10 | 13) {
            run += 1;
            max_run = max_run.max(run);
        } else {
            run = 0;
        }
    }

    let cjk = n >= 10;
    [
        null_count as f64 / nf,
        control_count as f64 / nf,
        printable_count as f64 / nf,
        high_count as f64 / nf,
        utf8_valid,
        ratio(even_nulls, even_total),
        ratio(odd_nulls, odd_total),
        entropy,
        flag(bom_utf32le),
        flag(bom_utf32be),
        flag(bom_utf16le),
        flag(bom_utf16be),
        flag(bom_utf8),
        flag(t16le),
        flag(t16be),
        flag(t32le),
        flag(t32be),
        max_run as f64 / nf,
        flag(cjk && decodes_euc_double(chunk, EucKind::Gb2312)),
        flag(cjk && decodes_big5(chunk)),
        flag(cjk && decodes_shift_jis(chunk)),
        flag(cjk && decodes_euc_jp(chunk)),
        flag(cjk && decodes_euc_double(chunk, EucKind::EucKr)),
        flag(has_signature(chunk)),
    ]
}

/// Python's strict `bytes.decode('utf-16-le'/'utf-16-be')`.
fn decodes_utf16(chunk: &[u8], big_endian: bool) -> bool {
    if chunk.len() % 2 != 0 {
        return false;
    }
    let units = chunk.chunks_exact(2).map(|p| {
        if big_endian {
            u16::from_be_bytes([p[0], p[1]])
        } else {
            u16::from_le_bytes([p[0], p[1]])
        }
    });
    char::decode_utf16(units).all(|r| r.is_ok())
}

/// Python's strict `bytes.decode('utf-32-le'/'utf-32-be')`.
fn decodes_utf32(chunk: &[u8], big_endian: bool) -> bool {
    if chunk.len() % 4 != 0 {
        return false;
    }
    chunk.chunks_exact(4).all(|q| {
        let v = if big_endian {
            u32::from_be_bytes([q[0], q[1], q[2], q[3]])
        } else {
            u32::from_le_bytes([q[0], q[1], q[2], q[3]])
        };
        char::from_u32(v).is_some()
    })
}

#[derive(Clone, Copy)]
enum EucKind {
    Gb2312,
    EucKr,
}

// The CJK checks below follow each codec's byte structure (lead/trail byte ranges).
// Python's codecs additionally refuse unassigned code positions inside those ranges;
// that only matters for chunks that are neither UTF-8 nor ASCII-like, deep in the tree.

/// GB2312 / EUC-KR: ASCII, or two bytes in 0xA1..=0xFE (GB2312 leads stop at 0xF7).
fn decodes_euc_double(chunk: &[u8], kind: EucKind) -> bool {
    let max_lead = match kind {
        EucKind::Gb2312 => 0xF7,
        EucKind::EucKr => 0xFE,
    };
    let mut i = 0;
    while i < chunk.len() {
        let b = chunk[i];
        if b < 0x80 {
            i += 1;
        } else if (0xA1..=max_lead).contains(&b) {
            match chunk.get(i + 1) {
                Some(&t) if (0xA1..=0xFE).contains(&t) => i += 2,
                _ => return false,
            }
        } else {
            return false;
        }
    }
    true
}

/// Big5: ASCII, or lead 0xA1..=0xF9 with trail 0x40..=0x7E / 0xA1..=0xFE.
fn decodes_big5(chunk: &[u8]) -> bool {
    let mut i = 0;
    while i < chunk.len() {
        let b = chunk[i];
        if b < 0x80 {
            i += 1;
        } else if (0xA1..=0xF9).contains(&b) {
            match chunk.get(i + 1) {
                Some(&t) if (0x40..=0x7E).contains(&t) || (0xA1..=0xFE).contains(&t) => i += 2,
                _ => return false,
            }
        } else {
            return false;
        }
    }
    true
}

/// Shift_JIS (JIS X 0208): ASCII, half-width katakana 0xA1..=0xDF, or lead
/// 0x81..=0x9F / 0xE0..=0xEF with trail 0x40..=0x7E / 0x80..=0xFC.
fn decodes_shift_jis(chunk: &[u8]) -> bool {
    let mut i = 0;
    while i < chunk.len() {
        let b = chunk[i];
        if b < 0x80 || (0xA1..=0xDF).contains(&b) {
            i += 1;
        } else if (0x81..=0x9F).contains(&b) || (0xE0..=0xEF).contains(&b) {
            match chunk.get(i + 1) {
                Some(&t) if (0x40..=0x7E).contains(&t) || (0x80..=0xFC).contains(&t) => i += 2,
                _ => return false,
            }
        } else {
            return false;
        }
    }
    true
}

/// EUC-JP: ASCII, 0x8E + kana, 0x8F + two JIS X 0212 bytes, or two bytes in 0xA1..=0xFE.
fn decodes_euc_jp(chunk: &[u8]) -> bool {
    let hi = |b: Option<&u8>| matches!(b, Some(&t) if (0xA1..=0xFE).contains(&t));
    let mut i = 0;
    while i < chunk.len() {
        let b = chunk[i];
        if b < 0x80 {
            i += 1;
        } else if b == 0x8E {
            match chunk.get(i + 1) {
                Some(&t) if (0xA1..=0xDF).contains(&t) => i += 2,
                _ => return false,
            }
        } else if b == 0x8F {
            if hi(chunk.get(i + 1)) && hi(chunk.get(i + 2)) {
                i += 3;
            } else {
                return false;
            }
        } else if (0xA1..=0xFE).contains(&b) {
            if hi(chunk.get(i + 1)) {
                i += 2;
            } else {
                return false;
            }
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01";

    #[test]
    fn text_is_text() {
        assert!(!is_binary(
            "README.md",
            b"# Hello\n\nSome text with \xc3\xa9 accents.\n"
        ));
        assert!(!is_binary("a.py", b"print('hi')\r\n"));
        assert!(!is_binary("empty.txt", b""));
    }

    #[test]
    fn extensions_and_signatures() {
        // Extension alone decides, whatever the content.
        assert!(is_binary("logo.PNG", b"plain text"));
        assert!(is_binary("x/archive.tar", b"plain text"));
        assert!(
            !is_binary(".png", b"plain text"),
            "a dot-file has no suffix"
        );
        assert!(!is_binary("file.", b"plain text"));
        assert!(is_binary("image", PNG));
        assert!(is_binary("data", b"\x1f\x8b\x08\x00\x00\x00\x00\x00"));
    }

    #[test]
    fn control_bytes_make_binary() {
        let blob: Vec<u8> = (0u8..=255).cycle().take(512).collect();
        assert!(is_binary("blob", &blob));
        let nulls = vec![0u8; 64];
        assert!(is_binary("zeros", &nulls));
    }

    #[test]
    fn utf16_checks() {
        assert!(decodes_utf16(&[0x61, 0x00, 0x62, 0x00], false));
        assert!(
            !decodes_utf16(&[0x00, 0xD8, 0x61, 0x00], false),
            "lone surrogate"
        );
        assert!(!decodes_utf16(&[0x61], false));
        assert!(decodes_utf32(&[0x61, 0, 0, 0], false));
        assert!(!decodes_utf32(&[0, 0, 0x11, 0], false));
    }
}

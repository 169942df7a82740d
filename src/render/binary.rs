//! Binary-file detection, replicating binaryornot 0.6.0 (what cookiecutter 2.7.1 uses to
//! decide whether a file is copied raw or rendered).

use super::binary_tree::{BINARY_EXTENSIONS, BINARY_SIGNATURES, TREE};
use super::cjk_table;

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

/// One node of binaryornot's decision tree (the table `binary_tree::TREE`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Node {
    /// `Split(feature, threshold, if_le, if_gt)`: the next node is `if_le` when
    /// `features[feature] <= threshold`, else `if_gt`.
    Split(usize, f64, usize, usize),
    Leaf(bool),
}

/// binaryornot's trained tree (`tree.py`) over the features of [`features`].
fn tree_is_binary(features: &[f64; 24]) -> bool {
    let mut node = 0;
    loop {
        match TREE[node] {
            Node::Split(feature, threshold, if_le, if_gt) => {
                node = if features[feature] <= threshold {
                    if_le
                } else {
                    if_gt
                };
            }
            Node::Leaf(binary) => return binary,
        }
    }
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
        flag(cjk && decodes_cjk(chunk, &cjk_table::GB2312)),
        flag(cjk && decodes_cjk(chunk, &cjk_table::BIG5)),
        flag(cjk && decodes_cjk(chunk, &cjk_table::SHIFT_JIS)),
        flag(cjk && decodes_cjk(chunk, &cjk_table::EUC_JP)),
        flag(cjk && decodes_cjk(chunk, &cjk_table::EUC_KR)),
        flag(has_signature(chunk)),
    ]
}

/// Python's strict `bytes.decode('utf-16-le'/'utf-16-be')`.
fn decodes_utf16(chunk: &[u8], big_endian: bool) -> bool {
    if !chunk.len().is_multiple_of(2) {
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
    if !chunk.len().is_multiple_of(4) {
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

/// Which byte sequences one of Python's CJK codecs decodes strictly (generated tables).
pub(super) struct CjkCodec {
    /// High bytes that decode on their own (bytes below 0x80 always do).
    pub single: &'static [u8],
    /// (lead, first trail, last trail) runs of valid two-byte sequences, sorted by lead.
    pub doubles: &'static [(u8, u8, u8)],
    /// EUC-JP's three-byte sequences: the lead and (second, first third, last third) runs.
    pub triple_lead: Option<u8>,
    pub triples: &'static [(u8, u8, u8)],
    /// EUC-KR's 8-byte Hangul make-up sequences `A4 D4 A4 cho A4 jung A4 jong`.
    pub jamo: Option<(&'static [u8], &'static [u8], &'static [u8])>,
}

fn in_runs(runs: &[(u8, u8, u8)], key: u8, value: u8) -> bool {
    let start = runs.partition_point(|r| r.0 < key);
    runs[start..]
        .iter()
        .take_while(|r| r.0 == key)
        .any(|r| r.1 <= value && value <= r.2)
}

/// `chunk.decode(codec)` succeeds (Python's strict, non-incremental decode).
fn decodes_cjk(chunk: &[u8], codec: &CjkCodec) -> bool {
    let mut i = 0;
    while i < chunk.len() {
        let b = chunk[i];
        if b < 0x80 || codec.single.contains(&b) {
            i += 1;
            continue;
        }
        if let Some((cho, jung, jong)) = codec.jamo
            && b == 0xA4
            && chunk.get(i + 1) == Some(&0xD4)
        {
            let ok = chunk.len() >= i + 8
                && chunk[i + 2] == 0xA4
                && chunk[i + 4] == 0xA4
                && chunk[i + 6] == 0xA4
                && cho.contains(&chunk[i + 3])
                && jung.contains(&chunk[i + 5])
                && jong.contains(&chunk[i + 7]);
            if !ok {
                return false;
            }
            i += 8;
            continue;
        }
        if codec.triple_lead == Some(b) {
            match (chunk.get(i + 1), chunk.get(i + 2)) {
                (Some(&m), Some(&t)) if in_runs(codec.triples, m, t) => {
                    i += 3;
                    continue;
                }
                _ => return false,
            }
        }
        match chunk.get(i + 1) {
            Some(&t) if in_runs(codec.doubles, b, t) => i += 2,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01";

    /// The generated table is a tree in preorder: every split names a feature and two nodes
    /// after it inside the table, so every walk ends at a leaf.
    #[test]
    fn the_tree_table_is_well_formed() {
        for (i, node) in TREE.iter().enumerate() {
            if let Node::Split(feature, _, if_le, if_gt) = *node {
                assert!(feature < 24, "node {i}");
                assert!(i < if_le && if_le < TREE.len(), "node {i}");
                assert!(i < if_gt && if_gt < TREE.len(), "node {i}");
            }
        }
    }

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

    #[test]
    fn cjk_codecs() {
        // "中文" in GB2312, "日本" in Shift_JIS / EUC-JP, "한국" in EUC-KR, "中文" in Big5.
        assert!(decodes_cjk(b"\xd6\xd0\xce\xc4", &cjk_table::GB2312));
        assert!(!decodes_cjk(b"\xd6", &cjk_table::GB2312), "truncated");
        assert!(
            !decodes_cjk(b"\xaa\xa1", &cjk_table::GB2312),
            "unassigned row"
        );
        assert!(decodes_cjk(b"\x93\xfa\x96\x7b", &cjk_table::SHIFT_JIS));
        assert!(
            decodes_cjk(b"\xb1", &cjk_table::SHIFT_JIS),
            "half-width katakana"
        );
        assert!(decodes_cjk(b"\xc6\xfc\xcb\xdc", &cjk_table::EUC_JP));
        assert!(decodes_cjk(b"\xc7\xd1\xb1\xb9", &cjk_table::EUC_KR));
        assert!(
            decodes_cjk(b"\xa4\xd4\xa4\xa1\xa4\xbf\xa4\xd4", &cjk_table::EUC_KR),
            "make-up sequence"
        );
        assert!(!decodes_cjk(b"\xa4\xd4\xa4\xa1", &cjk_table::EUC_KR));
        assert!(decodes_cjk(b"\xa4\xa4\xa4\xe5", &cjk_table::BIG5));
    }
}

//! Seed inputs made from the captures in `testdata/`: for the capture check,
//! the captures themselves (cut at a record boundary when large); for the
//! decoder check, groups of real frames of each link type. The defragmenter
//! and assembler checks draw structured operations and start from random bytes.
//!
//! Captures are recognised by their first bytes (pcap, pcapng or gzip around
//! one), never by file name, so every capture in the tree is found.

use std::io::Read;
use std::path::{Path, PathBuf};

use pcapread::{LinkType, SliceReader};

use crate::decode::{encode, LINK_TYPES};

/// Named inputs for one check.
pub type Seeds = Vec<(String, Vec<u8>)>;

/// The workspace's `testdata/` folder.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn is_capture_magic(head: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 7] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x34, 0xcd, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xcd, 0x34],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    MAGICS.iter().any(|m| head.starts_with(m))
}

/// The bytes of a capture file, decompressed when gzip; `None` when the file
/// is not a capture.
pub fn load(path: &Path) -> Option<Vec<u8>> {
    let raw = std::fs::read(path).ok()?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .ok()?;
        return is_capture_magic(&out).then_some(out);
    }
    is_capture_magic(&raw).then_some(raw)
}

/// Every capture under `root` (oracle output folders skipped), sorted by path.
pub fn captures(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p.ends_with("_oracle") {
                    stack.push(p);
                }
            } else if load(&p).is_some() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `data` cut at the end of the last whole record at or before `max_len`
/// (the whole of it when shorter).
pub fn cut_at_record(data: &[u8], max_len: usize) -> Vec<u8> {
    if data.len() <= max_len {
        return data.to_vec();
    }
    let mut end = 0usize;
    let mut reader = SliceReader::new(data, "seed");
    while let Some(Ok(_)) = reader.next() {
        let at = usize::try_from(reader.offset()).unwrap_or(usize::MAX);
        if at > max_len {
            break;
        }
        end = at;
    }
    // Keep at least the file header and first section when no record fits.
    data[..end.max(max_len.min(64))].to_vec()
}

/// Seeds of the capture check: every capture, at most `max_len` bytes each.
pub fn capture_seeds(root: &Path, max_len: usize) -> Seeds {
    captures(root)
        .iter()
        .filter_map(|p| {
            let data = load(p)?;
            Some((seed_name(root, p), cut_at_record(&data, max_len)))
        })
        .collect()
}

fn seed_name(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace(['/', '\\'], "_")
}

/// Seeds of the decoder check: groups of up to `group` frames of each
/// capture, at most `per_capture` groups per capture, and one empty input per
/// link type.
pub fn decode_seeds(root: &Path, group: usize, per_capture: usize) -> Seeds {
    let mut out = Vec::new();
    for &link in LINK_TYPES {
        if let Some(bytes) = encode(link, 1, &[]) {
            out.push((format!("empty-{}", link.0), bytes));
        }
    }
    for p in captures(root) {
        let Some(data) = load(&p) else { continue };
        let mut groups: Vec<(LinkType, Vec<&[u8]>)> = Vec::new();
        for f in SliceReader::new(&data, "seed").map_while(Result::ok) {
            match groups.last_mut() {
                Some((l, fs)) if *l == f.link_type && fs.len() < group => fs.push(f.data),
                _ => {
                    if groups.len() >= per_capture {
                        break;
                    }
                    groups.push((f.link_type, vec![f.data]));
                }
            }
        }
        for (i, (link, frames)) in groups.iter().enumerate() {
            if let Some(bytes) = encode(*link, 1, frames) {
                out.push((format!("{}-{i}", seed_name(root, &p)), bytes));
            }
        }
    }
    out
}

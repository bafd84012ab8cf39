//! Reading an [`Entity`]'s parts from their files: checking that
//! overlapping parts agree, and writing the whole entity when its parts
//! cover it.
//!
//! Memory is bounded whatever the sizes: files are read and written
//! through fixed buffers of [`BUFFER`] bytes, never held whole. The
//! stitched file is written under a temporary name in the same folder and
//! renamed into place, named as the store names bodies
//! ([`ObjectNaming::Readable`]: `FLOWID-EXCHANGE-entity-NAME` after the
//! entity's first part and the last segment of its target;
//! [`ObjectNaming::Sha256`]: the SHA-256 of its bytes).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::entity::{plan, Entity, Part, RangeConflict};
use crate::store::{hex, uri_name, ObjectNaming, MAX_NAME};

/// Bytes read or written at a time.
pub const BUFFER: usize = 64 << 10;

/// Conflicts listed per entity at most (the first ones, by offset).
pub const MAX_CONFLICTS: usize = 64;

/// [`crate::entity::entities`] of `records`, each checked and stitched by
/// [`stitch`] in `dir` (the folder of the records' files).
pub fn stitch_entities(
    records: &[crate::store::ObjectRecord],
    dir: &Path,
    naming: ObjectNaming,
) -> Vec<Entity> {
    let mut all = crate::entity::entities(records);
    for e in &mut all {
        stitch(e, dir, naming);
    }
    all
}

/// Check `e`'s overlapping identity parts in `dir` for bytes that differ
/// (filling [`Entity::conflicts`]) and, when the parts cover the entity and
/// agree, set [`Entity::file`]: the one part that gives it all, or a file
/// stitched from the parts in `dir`. Coded entities are left as they are.
/// I/O errors are reported in the entity (`no_file: "io"`, `detail`).
pub fn stitch(e: &mut Entity, dir: &Path, naming: ObjectNaming) {
    if !e.codings.is_empty() {
        return;
    }
    let end = e.length.unwrap_or_else(|| {
        e.parts
            .iter()
            .filter_map(Part::used_span)
            .map(|(_, b)| b)
            .max()
            .unwrap_or(0)
    });
    let segs = plan(&e.parts, end);
    if let Err(err) = check(e, dir, &segs) {
        e.no_file = Some("io");
        e.detail = Some(err.to_string());
        return;
    }
    if !e.conflicts.is_empty() {
        e.no_file = Some("conflict");
        return;
    }
    if !e.covered || e.no_file.is_some() {
        return;
    }
    if let [(_, _, only)] = segs[..] {
        let p = &e.parts[only];
        e.file = Some(p.file.clone());
        e.sha256 = Some(p.sha256.clone());
        return;
    }
    match write(e, dir, naming, &segs) {
        Ok((name, sha)) => {
            e.file = Some(name);
            e.sha256 = Some(sha);
            e.stitched = true;
        }
        Err(err) => {
            e.no_file = Some("io");
            e.detail = Some(err.to_string());
        }
    }
}

/// Compare, over each planned segment, the source part with every other
/// part that overlaps it.
fn check(e: &mut Entity, dir: &Path, segs: &[(u64, u64, usize)]) -> io::Result<()> {
    let mut found = Vec::new();
    for &(from, to, s) in segs {
        for (i, p) in e.parts.iter().enumerate() {
            let Some((a, b)) = p.used_span() else {
                continue;
            };
            let (lo, hi) = (from.max(a), to.min(b));
            if i == s || lo >= hi {
                continue;
            }
            let src = &e.parts[s];
            if let Some(at) = first_difference(dir, src, p, lo, hi - lo)? {
                found.push(RangeConflict {
                    offset: at,
                    parts: [src.file.clone(), p.file.clone()],
                });
            }
        }
    }
    found.sort_by(|x, y| x.offset.cmp(&y.offset).then_with(|| x.parts.cmp(&y.parts)));
    found.truncate(MAX_CONFLICTS);
    e.conflicts = found;
    Ok(())
}

/// Open a part's file at the entity offset `at`.
fn open_at(dir: &Path, p: &Part, at: u64) -> io::Result<File> {
    let path = dir.join(&p.file);
    let start = p.used.map_or(0, |(o, _)| o);
    let mut f = File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    f.seek(SeekFrom::Start(at - start))?;
    Ok(f)
}

/// The entity offset of the first byte in `[at, at + len)` where parts `x`
/// and `y` differ.
fn first_difference(dir: &Path, x: &Part, y: &Part, at: u64, len: u64) -> io::Result<Option<u64>> {
    let (mut fx, mut fy) = (open_at(dir, x, at)?, open_at(dir, y, at)?);
    let (mut bx, mut by) = (vec![0u8; BUFFER], vec![0u8; BUFFER]);
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(BUFFER as u64) as usize;
        fx.read_exact(&mut bx[..n])?;
        fy.read_exact(&mut by[..n])?;
        if let Some(i) = bx[..n].iter().zip(&by[..n]).position(|(a, b)| a != b) {
            return Ok(Some(at + done + i as u64));
        }
        done += n as u64;
    }
    Ok(None)
}

/// Write the planned segments to the entity's file; its name and SHA-256.
fn write(
    e: &Entity,
    dir: &Path,
    naming: ObjectNaming,
    segs: &[(u64, u64, usize)],
) -> io::Result<(String, String)> {
    let first = &e.parts[0];
    let tmp = dir.join(format!(
        ".partial-entity-{:010}-{:03}",
        first.flow, first.exchange
    ));
    let result = (|| {
        let mut out = io::BufWriter::with_capacity(BUFFER, File::create(&tmp)?);
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; BUFFER];
        for &(from, to, s) in segs {
            let mut f = open_at(dir, &e.parts[s], from)?;
            let mut left = to - from;
            while left > 0 {
                let n = left.min(BUFFER as u64) as usize;
                f.read_exact(&mut buf[..n])?;
                sha.update(&buf[..n]);
                out.write_all(&buf[..n])?;
                left -= n as u64;
            }
        }
        out.into_inner().map_err(io::IntoInnerError::into_error)?;
        let sha = hex(&sha.finalize());
        let name = match naming {
            ObjectNaming::Sha256 => sha.clone(),
            ObjectNaming::Readable => {
                let mut n = format!(
                    "{:010}-{:03}-entity-{}",
                    first.flow,
                    first.exchange,
                    uri_name(&e.uri)
                );
                n.truncate(MAX_NAME);
                n
            }
        };
        fs::rename(&tmp, dir.join(&name))?;
        Ok((name, sha))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

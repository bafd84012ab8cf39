//! The flow lists of an `extract` output — `flows.jsonl` and the `flows` of
//! `manifest.json` — written while the run goes on, as the engine hands the
//! flow records over in id order ([`engine::Engine::each_record`]), instead
//! of from the records read back after it.
//!
//! [`Lists::add`] (on the engine's record thread) writes each flow's line
//! and its pretty manifest entry into two part files beside the output,
//! and a 16-byte index entry (where its packed bytes end, the two lengths).
//! At the end the line file becomes
//! `flows.jsonl` and the entries are copied into `manifest.json` after its
//! other fields. After an output error the manifest lists only the flows
//! whose bytes all reached the disk: [`Written::keep_within`] has the
//! listing skip, through the index, the flows packed past the end of
//! `streams.bin`, and counts the totals of those kept from their lines.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use engine::{FlowRecord, Placement, DIRS};
use serde_json::ser::{CompactFormatter, Formatter};

use crate::files::{record_placement, Layout};
use crate::flow_json::{write_flow, Pretty};
use crate::manifest::{self, Totals};
use crate::naming::Naming;

/// The part files, in the output directory.
const LINES: &str = ".streamcut-flows.jsonl.part";
const ENTRIES: &str = ".streamcut-manifest-flows.part";
const INDEX: &str = ".streamcut-flows.idx.part";

/// Buffer of each part file.
const BUFFER: usize = 256 * 1024;

/// The lists being written (see the module docs).
pub struct Lists {
    dir: PathBuf,
    parts: Parts,
    /// The formatter inside `manifest.json`'s `flows` array.
    pretty: Pretty,
    count: u64,
    totals: Totals,
    derived: bool,
    line: Vec<u8>,
    entry: Vec<u8>,
}

/// The formatter where `manifest.json`'s flows start: one object deep, in
/// the array of its `flows` key (what [`manifest::ManifestOut::write_pretty`]
/// writes before the first flow).
pub fn flows_array(out: &mut Vec<u8>) -> io::Result<Pretty> {
    let mut f = Pretty::default();
    f.begin_object(&mut io::sink())?;
    f.begin_object_key(out, false)?;
    f.begin_string(out)?;
    f.write_string_fragment(out, "flows")?;
    f.end_string(out)?;
    f.end_object_key(out)?;
    f.begin_object_value(out)?;
    f.begin_array(out)?;
    Ok(f)
}

fn create(dir: &Path, name: &str) -> anyhow::Result<BufWriter<File>> {
    let path = dir.join(name);
    let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    crate::interrupt::remove_on_exit(&path);
    Ok(BufWriter::with_capacity(BUFFER, f))
}

/// Remove the part files of `dir`.
fn remove_parts(dir: &Path) {
    for name in [LINES, ENTRIES, INDEX] {
        let path = dir.join(name);
        let _ = fs::remove_file(&path);
        crate::interrupt::forget(&path);
    }
}

impl Lists {
    /// Start the part files in `dir`; `inline`: `manifest.json` lists the
    /// flows (else only `flows.jsonl` does, and its part is written anyway:
    /// the listing after an error reads it back).
    pub fn create(
        dir: &Path,
        layout: Layout,
        naming: Naming,
        inline: bool,
    ) -> anyhow::Result<Lists> {
        Ok(Lists {
            dir: dir.to_path_buf(),
            parts: Parts {
                lines: create(dir, LINES)?,
                entries: inline.then(|| create(dir, ENTRIES)).transpose()?,
                index: create(dir, INDEX)?,
            },
            pretty: flows_array(&mut Vec::new())?,
            count: 0,
            totals: Totals::default(),
            derived: crate::files::derived(layout, naming),
            line: Vec::with_capacity(2048),
            entry: Vec::with_capacity(4096),
        })
    }

    /// One flow, the next in id order.
    pub fn add(&mut self, r: &FlowRecord) -> anyhow::Result<()> {
        let placed = DIRS.map(|d| record_placement(r, d, self.derived));
        let packed_end = placed
            .iter()
            .map(|p| match p {
                Placement::Packed { offset, length, .. } => offset.saturating_add(*length),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        self.line.clear();
        write_flow(&mut self.line, &mut CompactFormatter, r, placed.clone())?;
        self.line.push(b'\n');
        self.entry.clear();
        if self.parts.entries.is_some() {
            let f = &mut self.pretty;
            f.begin_array_value(&mut self.entry, self.count == 0)?;
            write_flow(&mut self.entry, f, r, placed)?;
            f.end_array_value(&mut self.entry)?;
        }
        let lens =
            [self.line.len(), self.entry.len()].map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let mut index = [0u8; 16];
        index[..8].copy_from_slice(&packed_end.to_le_bytes());
        index[8..12].copy_from_slice(&lens[0].to_le_bytes());
        index[12..].copy_from_slice(&lens[1].to_le_bytes());
        // The index entry last: a flow is listed once its entry is there.
        let dir = &self.dir;
        let parts = &mut self.parts;
        write_part(dir, LINES, &mut parts.lines, &self.line)?;
        if let Some(e) = &mut parts.entries {
            write_part(dir, ENTRIES, e, &self.entry)?;
        }
        write_part(dir, INDEX, &mut parts.index, &index)?;
        self.count += 1;
        self.totals.add(r);
        Ok(())
    }

    /// The lists as written so far; [`Written::flush`] flushes them.
    pub fn close(self) -> Written {
        Written {
            dir: self.dir,
            inline: self.parts.entries.is_some(),
            count: self.count,
            totals: self.totals,
            within: None,
            pending: Some(self.parts),
        }
    }
}

/// The part files being written.
#[derive(Debug)]
struct Parts {
    lines: BufWriter<File>,
    entries: Option<BufWriter<File>>,
    index: BufWriter<File>,
}

/// Write `bytes` to part file `name` of `dir`; an error names the file.
fn write_part(dir: &Path, name: &str, w: &mut BufWriter<File>, bytes: &[u8]) -> anyhow::Result<()> {
    w.write_all(bytes)
        .with_context(|| format!("writing {}", dir.join(name).display()))
}

/// Flush part file `name` of `dir`; an error names the file.
fn flush_part(dir: &Path, name: &str, w: &mut BufWriter<File>) -> anyhow::Result<()> {
    w.flush()
        .with_context(|| format!("writing {}", dir.join(name).display()))
}

/// The lists of a run, written (see the module docs); the part files are
/// removed when it is dropped.
#[derive(Debug)]
pub struct Written {
    dir: PathBuf,
    inline: bool,
    count: u64,
    totals: Totals,
    /// After an error: only the flows packed within this many bytes, of
    /// the first so many in the index.
    within: Option<(u64, u64)>,
    /// The part files until they are flushed.
    pending: Option<Parts>,
}

/// One flow's entry in the index.
struct Indexed {
    packed_end: u64,
    line: usize,
    entry: usize,
}

/// The three part files, read in step.
struct Reader {
    index: BufReader<File>,
    lines: BufReader<File>,
    entries: Option<BufReader<File>>,
}

impl Reader {
    fn open(dir: &Path, inline: bool) -> anyhow::Result<Reader> {
        let open = |name: &str| -> anyhow::Result<BufReader<File>> {
            let path = dir.join(name);
            let f = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok(BufReader::with_capacity(BUFFER, f))
        };
        Ok(Reader {
            index: open(INDEX)?,
            lines: open(LINES)?,
            entries: inline.then(|| open(ENTRIES)).transpose()?,
        })
    }

    /// The next flow's index entry, line and entry; `None` at the end of
    /// what reached the disk.
    fn next(&mut self, line: &mut Vec<u8>, entry: &mut Vec<u8>) -> Option<Indexed> {
        let mut raw = [0u8; 16];
        self.index.read_exact(&mut raw).ok()?;
        let word = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let at = Indexed {
            packed_end: u64::from_le_bytes(raw[..8].try_into().ok()?),
            line: word(8) as usize,
            entry: word(12) as usize,
        };
        line.resize(at.line, 0);
        self.lines.read_exact(line).ok()?;
        entry.resize(at.entry, 0);
        if let Some(e) = &mut self.entries {
            e.read_exact(entry).ok()?;
        }
        Some(at)
    }
}

impl Written {
    /// Flush the part files (again, after an error: a full disk may have
    /// room once the manifest's reserve is freed). What does not reach the
    /// disk is not listed.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        let Some(p) = &mut self.pending else {
            return Ok(());
        };
        let dir = &self.dir;
        flush_part(dir, LINES, &mut p.lines)?;
        if let Some(e) = &mut p.entries {
            flush_part(dir, ENTRIES, e)?;
        }
        flush_part(dir, INDEX, &mut p.index)?;
        self.pending = None;
        Ok(())
    }

    /// Whether part of the lists is not on disk yet.
    pub fn unflushed(&self) -> bool {
        self.pending.is_some()
    }

    /// The flows listed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The totals over the flows listed (flow counts only: the run's
    /// counters come from its summary, [`Totals::with_run`]).
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// After an output error: list only the flows whose index entry, line
    /// and entry reached the disk and whose packed bytes end within
    /// `packed_len` (those written in full; `u64::MAX` for the files
    /// layout); the totals are counted again from their lines.
    pub fn keep_within(&mut self, packed_len: u64) -> anyhow::Result<()> {
        let mut reader = Reader::open(&self.dir, self.inline)?;
        let (mut line, mut entry) = (Vec::new(), Vec::new());
        let mut totals = Totals::default();
        let (mut count, mut read) = (0, 0);
        while let Some(at) = reader.next(&mut line, &mut entry) {
            if at.packed_end <= packed_len {
                let Ok(flow) = serde_json::from_slice::<manifest::Flow>(&line) else {
                    break;
                };
                totals = manifest::flow_totals(totals, std::slice::from_ref(&flow));
                count += 1;
            }
            read += 1;
        }
        self.totals = totals;
        self.count = count;
        self.within = Some((packed_len, read));
        Ok(())
    }

    /// List no flow (the list did not fit).
    pub fn clear(&mut self) {
        self.within = Some((0, 0));
        self.count = 0;
        self.totals = Totals::default();
        remove_parts(&self.dir);
    }

    /// Move the line file to `path` when it lists every flow (no error
    /// cut the run short); `false` when it does not.
    pub fn move_lines(&self, path: &Path) -> anyhow::Result<bool> {
        if self.within.is_some() {
            return Ok(false);
        }
        let from = self.dir.join(LINES);
        fs::rename(&from, path).with_context(|| format!("writing {}", path.display()))?;
        crate::interrupt::forget(&from);
        Ok(true)
    }

    /// Every listed flow, one compact JSON line each, as `flows.jsonl`
    /// holds them, into `w`.
    pub fn write_lines(&self, w: &mut BufWriter<File>) -> anyhow::Result<()> {
        match self.within {
            None => {
                // File to file: the kernel copies it.
                w.flush()?;
                let mut from = File::open(self.dir.join(LINES))?;
                io::copy(&mut from, w.get_mut())?;
            }
            Some(_) if self.count == 0 => {}
            Some((within, upto)) => {
                let mut reader = Reader::open(&self.dir, false)?;
                let (mut line, mut entry) = (Vec::new(), Vec::new());
                for _ in 0..upto {
                    let Some(at) = reader.next(&mut line, &mut entry) else {
                        break;
                    };
                    if at.packed_end <= within {
                        w.write_all(&line)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The entries of the flows listed, as `manifest.json`'s `flows` array
    /// holds them after `f` (from [`flows_array`]) began it; `f` is left
    /// as after the last one.
    pub fn write_entries(&self, f: &mut Pretty, w: &mut BufWriter<File>) -> anyhow::Result<()> {
        if !self.inline || self.count == 0 {
            return Ok(());
        }
        match self.within {
            None => {
                // File to file: the kernel copies it.
                w.flush()?;
                let mut from = File::open(self.dir.join(ENTRIES))?;
                io::copy(&mut from, w.get_mut())?;
            }
            Some((within, upto)) => {
                let mut reader = Reader::open(&self.dir, true)?;
                let (mut line, mut entry) = (Vec::new(), Vec::new());
                let mut first = true;
                for _ in 0..upto {
                    let Some(at) = reader.next(&mut line, &mut entry) else {
                        break;
                    };
                    if at.packed_end > within {
                        continue;
                    }
                    // Each entry begins with its separator: a comma unless
                    // it was the first flow of the run.
                    let value = entry.strip_prefix(b",").unwrap_or(&entry);
                    if !first {
                        w.write_all(b",")?;
                    }
                    first = false;
                    w.write_all(value)?;
                }
            }
        }
        // The formatter as after the last entry.
        f.begin_array_value(&mut io::sink(), true)?;
        f.end_array_value(&mut io::sink())?;
        Ok(())
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        // Not flushed: nothing more is written (the files are removed).
        if let Some(p) = self.pending.take() {
            let _ = p.lines.into_parts();
            let _ = p.entries.map(BufWriter::into_parts);
            let _ = p.index.into_parts();
        }
        remove_parts(&self.dir);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::flow_json::tests::record;

    /// Records with ids 1..=n, each direction packed after the previous
    /// flow's (flow i ends at byte 100 i).
    fn records(n: u64) -> Vec<FlowRecord> {
        (1..=n)
            .map(|i| {
                let mut r = record(
                    i,
                    i % 3 == 0,
                    i % 2 == 0,
                    (i % 2 == 1, false),
                    (i % 4) as usize,
                );
                let at = |o: u64, l: u64| Placement::Packed {
                    file: "streams.bin".into(),
                    offset: o,
                    length: l,
                };
                r.placed = Some(Box::new([
                    at(100 * (i - 1), 60),
                    at(100 * (i - 1) + 60, 40),
                ]));
                r
            })
            .collect()
    }

    /// What the lists of `rs` are: the lines, and the entries after the
    /// formatter that begins the manifest's flows.
    fn expected(rs: &[&FlowRecord]) -> (Vec<u8>, Vec<u8>) {
        let (mut lines, mut entries) = (Vec::new(), Vec::new());
        let mut f = flows_array(&mut Vec::new()).unwrap();
        for (i, r) in rs.iter().enumerate() {
            let placed = DIRS.map(|d| record_placement(r, d, false));
            write_flow(&mut lines, &mut CompactFormatter, r, placed.clone()).unwrap();
            lines.push(b'\n');
            f.begin_array_value(&mut entries, i == 0).unwrap();
            write_flow(&mut entries, &mut f, r, placed).unwrap();
            f.end_array_value(&mut entries).unwrap();
        }
        (lines, entries)
    }

    /// The lists as `written` writes them.
    fn got(dir: &Path, written: &Written) -> (Vec<u8>, Vec<u8>) {
        let out = |name: &str, write: &dyn Fn(&mut BufWriter<File>)| {
            let path = dir.join(name);
            let mut w = BufWriter::new(File::create(&path).unwrap());
            write(&mut w);
            w.flush().unwrap();
            drop(w);
            fs::read(path).unwrap()
        };
        let lines = out("lines", &|w| written.write_lines(w).unwrap());
        let entries = out("entries", &|w| {
            let mut f = flows_array(&mut Vec::new()).unwrap();
            written.write_entries(&mut f, w).unwrap();
        });
        (lines, entries)
    }

    fn totals(rs: &[&FlowRecord]) -> Totals {
        let mut t = Totals::default();
        rs.iter().for_each(|r| t.add(r));
        t
    }

    fn write(dir: &Path, rs: &[FlowRecord]) -> Written {
        let mut lists = Lists::create(dir, Layout::Packed, Naming::Default, true).unwrap();
        for r in rs {
            lists.add(r).unwrap();
        }
        let mut written = lists.close();
        written.flush().unwrap();
        written
    }

    #[test]
    fn the_lists_are_those_written_from_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let rs = records(40);
        let written = write(dir.path(), &rs);
        let all: Vec<&FlowRecord> = rs.iter().collect();
        assert_eq!(got(dir.path(), &written), expected(&all));
        assert_eq!(written.count(), 40);
        assert_eq!(written.totals(), &totals(&all));
        drop(written);
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".part"))
            .collect();
        assert!(left.is_empty(), "part files left: {left:?}");
    }

    #[test]
    fn after_an_error_only_the_flows_packed_in_full_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let rs = records(40);
        let mut written = write(dir.path(), &rs);
        // 2345 bytes reached `streams.bin`: flows 1..=23 end within them.
        written.keep_within(2345).unwrap();
        let kept: Vec<&FlowRecord> = rs.iter().take(23).collect();
        assert_eq!(got(dir.path(), &written), expected(&kept));
        assert_eq!(written.count(), 23);
        assert_eq!(written.totals(), &totals(&kept));
        // The entries make a JSON array whose flows are those of the lines.
        let (lines, entries) = got(dir.path(), &written);
        let array: Vec<manifest::Flow> =
            serde_json::from_slice(&[b"[".as_slice(), &entries, b"]"].concat()).unwrap();
        let from_lines: Vec<manifest::Flow> = serde_json::Deserializer::from_slice(&lines)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(array, from_lines);
    }

    #[test]
    fn a_flow_whose_index_entry_did_not_reach_the_disk_is_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let rs = records(10);
        let mut written = write(dir.path(), &rs);
        // The disk filled in the middle of the last index entry.
        let index = dir.path().join(INDEX);
        let len = fs::metadata(&index).unwrap().len();
        File::options()
            .write(true)
            .open(&index)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        written.keep_within(u64::MAX).unwrap();
        let kept: Vec<&FlowRecord> = rs.iter().take(9).collect();
        assert_eq!(got(dir.path(), &written), expected(&kept));
        assert_eq!(written.totals(), &totals(&kept));
    }
}

//! Flow records kept for the manifest, in memory that follows a fixed budget
//! rather than the number of flows.
//!
//! A [`RecordStore`] holds the records of completed flows. Past its limit it
//! sorts them by id and writes them to a temporary file as a *run*
//! (length-prefixed `postcard` encodings), so a capture with tens of millions
//! of flows holds at most the limit per store in memory. [`Spilled`] keeps
//! the runs (their files are removed when the last handle is dropped), and
//! [`sorted`] reads the in-memory records and the runs back as one sequence in
//! id order, merging them. Memory while reading is one buffered reader (32
//! KiB) and one record per run. Runs are merged in tiers as they accumulate
//! ([`FAN_IN`], 128, of a size into one), so a store has at most 127 runs of
//! each tier to read at once and a record is rewritten only a logarithmic
//! number of times: not at all below 128 runs (half a million flows a
//! worker with the default 4096 a run). Reading opens every run at once:
//! the soft limit on open files is raised towards the hard one for them, and
//! the stores of many workers, once combined, are merged down to at most
//! [`MAX_RUNS_READ`] runs first ([`RecordStore::bound_runs`]).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::flow::{FlowId, FlowRecord};

/// Records a store holds in memory before it writes them out (a record is
/// about 600 bytes, so about 2.4 MiB per worker). Writing them out is cheap
/// next to the streams (600 bytes a flow); 32768 cost 10 MiB more on the bulk
/// benchmark's 20k flows and was no faster on its 500k.
pub const SPILL_AT: usize = 4 * 1024;

/// Prefix of the temporary directory the runs are written in.
pub const SPILL_PREFIX: &str = ".streamcut-records-";

/// Runs of one tier merged into one run of the next. Each merge rewrites
/// every record it takes (a third of the time of `flows` on half a million
/// flows went to writing and reading records back with 16).
pub const FAN_IN: usize = 128;

/// Buffer of each run being read (up to [`FAN_IN`] at once per store).
const READ_BUFFER: usize = 32 * 1024;

/// Runs read at once at the end of a run, whatever the number of stores
/// combined ([`RecordStore::bound_runs`]): each is an open file and a
/// 32 KiB read buffer, and the CLI reads the records twice side by side (the
/// flow list and the manifest), so two readings fit in the usual soft limit
/// of 1024 open files with 8 MiB of buffers each.
pub const MAX_RUNS_READ: usize = 256;

/// Raise the soft limit on open files, if need be and if the hard limit
/// allows, so that `runs` run files can be open beside what the process
/// holds (a margin of 64); what cannot be opened is reported as an error.
fn room_for(runs: usize) {
    let _ = rlimit::increase_nofile_limit((runs as u64).saturating_add(64));
}

/// One sorted run on disk; its file is removed on drop (the directory with
/// the last run of its store).
#[derive(Debug)]
struct Run {
    path: PathBuf,
    len: usize,
    /// 0 for a run written from memory, n + 1 for a merge of runs of tier n.
    tier: u32,
    _dir: Arc<tempfile::TempDir>,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Records written out to disk, as sorted runs. Cloning shares the files.
#[derive(Debug, Clone, Default)]
pub struct Spilled {
    runs: Vec<Arc<Run>>,
}

impl Spilled {
    /// Records in the runs.
    pub fn len(&self) -> usize {
        self.runs.iter().map(|r| r.len).sum()
    }

    /// Whether nothing was written out.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Take over `other`'s runs.
    pub fn append(&mut self, other: Spilled) {
        self.runs.extend(other.runs);
    }
}

/// Where a store keeps the records of completed flows.
#[derive(Debug)]
pub struct RecordStore {
    mem: Vec<FlowRecord>,
    spilled: Spilled,
    /// Records held in memory before a run is written (`None`: never).
    limit: Option<usize>,
    /// Where the run directory is made (`None`: the system's temporary directory).
    parent: Option<PathBuf>,
    dir: Option<Arc<tempfile::TempDir>>,
    /// Names the next run file.
    next_run: usize,
    keep: bool,
    /// The lowest id written to a run (records below it are all in memory).
    spilled_floor: Option<FlowId>,
}

impl RecordStore {
    /// A store that writes a run every `limit` records (at least one) into a
    /// temporary directory made in `parent` (default: the system's).
    pub fn spilling(limit: usize, parent: Option<PathBuf>) -> RecordStore {
        RecordStore {
            limit: Some(limit.max(1)),
            parent,
            ..RecordStore::in_memory()
        }
    }

    /// A store that keeps every record in memory.
    pub fn in_memory() -> RecordStore {
        RecordStore {
            mem: Vec::new(),
            spilled: Spilled::default(),
            limit: None,
            parent: None,
            dir: None,
            next_run: 0,
            keep: true,
            spilled_floor: None,
        }
    }

    /// A store that keeps nothing (records are handled elsewhere).
    pub fn discarding() -> RecordStore {
        RecordStore {
            keep: false,
            ..RecordStore::in_memory()
        }
    }

    /// Keep `record`; an error comes from writing a run.
    pub fn push(&mut self, record: FlowRecord) -> anyhow::Result<()> {
        if !self.keep {
            return Ok(());
        }
        self.mem.push(record);
        match self.limit {
            Some(limit) if self.mem.len() >= limit => self.spill(),
            _ => Ok(()),
        }
    }

    /// Records kept so far.
    pub fn len(&self) -> usize {
        self.mem.len() + self.spilled.len()
    }

    /// Whether no record was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lowest id written out to a run, if any: records below it are in
    /// memory, so [`Self::release_below`] can take all of them.
    pub(crate) fn spilled_floor(&self) -> Option<FlowId> {
        self.spilled_floor
    }

    /// Move the records with an id below `below` out of the store into
    /// `out`, in id order. `below` must not exceed [`Self::spilled_floor`].
    pub(crate) fn release_below(&mut self, below: FlowId, out: &mut Vec<FlowRecord>) {
        debug_assert!(self.spilled_floor.is_none_or(|f| below <= f));
        let start = out.len();
        // The records in memory are in no order: each one released is
        // replaced by the last.
        let mut i = 0;
        while i < self.mem.len() {
            if self.mem[i].head.id < below {
                out.push(self.mem.swap_remove(i));
            } else {
                i += 1;
            }
        }
        out[start..].sort_unstable_by_key(|r| r.head.id);
    }

    /// Write the records in memory as a sorted run.
    fn spill(&mut self) -> anyhow::Result<()> {
        // Sorted by reference: the records are large to move.
        let mut order: Vec<&FlowRecord> = self.mem.iter().collect();
        order.sort_unstable_by_key(|r| r.head.id);
        if let Some(first) = order.first() {
            let id = first.head.id;
            self.spilled_floor = Some(self.spilled_floor.map_or(id, |f| f.min(id)));
        }
        let dir = match &self.dir {
            Some(d) => Arc::clone(d),
            None => {
                let parent = self.parent.clone().unwrap_or_else(std::env::temp_dir);
                let d = tempfile::Builder::new()
                    .prefix(SPILL_PREFIX)
                    .tempdir_in(&parent)
                    .with_context(|| {
                        format!(
                            "creating a directory for flow records in {}",
                            parent.display()
                        )
                    })?;
                let d = Arc::new(d);
                self.dir = Some(Arc::clone(&d));
                d
            }
        };
        let path = dir.path().join(format!("run-{}", self.next_run));
        self.next_run += 1;
        write_run(&path, order.into_iter().map(Ok))
            .with_context(|| format!("writing {}", path.display()))?;
        self.spilled.runs.push(Arc::new(Run {
            path,
            len: self.mem.len(),
            tier: 0,
            _dir: Arc::clone(&dir),
        }));
        self.mem.clear();
        self.compact(&dir)
    }

    /// Merge every [`FAN_IN`] runs of a tier into one of the next.
    fn compact(&mut self, dir: &Arc<tempfile::TempDir>) -> anyhow::Result<()> {
        loop {
            let full = (0..)
                .take_while(|&t| self.spilled.runs.iter().any(|r| r.tier >= t))
                .find(|&t| self.spilled.runs.iter().filter(|r| r.tier == t).count() >= FAN_IN);
            let Some(tier) = full else { return Ok(()) };
            let (merge, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.spilled.runs)
                .into_iter()
                .partition(|r| r.tier == tier);
            let merge = Spilled { runs: merge };
            let path = dir.path().join(format!("run-{}", self.next_run));
            self.next_run += 1;
            write_run(&path, sorted(&[], &merge))
                .with_context(|| format!("writing {}", path.display()))?;
            self.spilled.runs = keep;
            self.spilled.runs.push(Arc::new(Run {
                path,
                len: merge.len(),
                tier: tier + 1,
                _dir: Arc::clone(dir),
            }));
        }
    }

    /// Merge runs, the smallest [`FAN_IN`] at a time, until at most
    /// [`MAX_RUNS_READ`] are left: the stores of many workers, combined by
    /// [`Self::append`], can hold more runs than a reading can open. A run
    /// that cannot be written leaves the runs as they were, and is the error.
    pub fn bound_runs(&mut self) -> anyhow::Result<()> {
        while self.spilled.runs.len() > MAX_RUNS_READ {
            let mut runs = self.spilled.runs.clone();
            runs.sort_by_key(|r| r.len);
            let keep = runs.split_off(FAN_IN);
            let merge = Spilled { runs };
            let into = &merge.runs[0];
            let dir = Arc::clone(&into._dir);
            let tier = merge.runs.iter().map(|r| r.tier).max().unwrap_or(0) + 1;
            // "bound-": a name no store gives its own runs, in any store's directory.
            let path = dir.path().join(format!("bound-{}", self.next_run));
            self.next_run += 1;
            write_run(&path, sorted(&[], &merge))
                .with_context(|| format!("writing {}", path.display()))?;
            let len = merge.len();
            drop(merge);
            self.spilled.runs = keep;
            self.spilled.runs.push(Arc::new(Run {
                path,
                len,
                tier,
                _dir: dir,
            }));
        }
        Ok(())
    }

    /// Add `other`'s records (its runs and what it holds in memory).
    pub fn append(&mut self, other: RecordStore) {
        self.spilled_floor = match (self.spilled_floor, other.spilled_floor) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (mem, spilled) = other.finish();
        self.mem.extend(mem);
        self.spilled.append(spilled);
    }

    /// Everything kept: the records still in memory, sorted by id, and the runs.
    pub fn finish(mut self) -> (Vec<FlowRecord>, Spilled) {
        self.mem.sort_unstable_by_key(|r| r.head.id);
        (
            std::mem::take(&mut self.mem),
            std::mem::take(&mut self.spilled),
        )
    }
}

/// Write `records` (in id order) as a run at `path`.
fn write_run<R: std::borrow::Borrow<FlowRecord>>(
    path: &Path,
    records: impl Iterator<Item = anyhow::Result<R>>,
) -> anyhow::Result<()> {
    let mut w = BufWriter::with_capacity(256 * 1024, File::create(path)?);
    let mut buf = Vec::new();
    for r in records {
        buf.clear();
        buf = postcard::to_extend(r?.borrow(), buf)?;
        let len = u32::try_from(buf.len()).context("a flow record over 4 GiB")?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(&buf)?;
    }
    w.flush()?;
    Ok(())
}

/// Reads one run back, record by record.
struct RunReader {
    r: BufReader<File>,
    run: Arc<Run>,
    left: usize,
    buf: Vec<u8>,
}

impl RunReader {
    fn open(run: &Arc<Run>) -> anyhow::Result<RunReader> {
        let f = File::open(&run.path).with_context(|| format!("reading {}", run.path.display()))?;
        Ok(RunReader {
            r: BufReader::with_capacity(READ_BUFFER, f),
            run: Arc::clone(run),
            left: run.len,
            buf: Vec::new(),
        })
    }

    fn next(&mut self) -> anyhow::Result<Option<FlowRecord>> {
        if self.left == 0 {
            return Ok(None);
        }
        let read = |this: &mut RunReader| -> anyhow::Result<FlowRecord> {
            let mut len = [0u8; 4];
            this.r.read_exact(&mut len)?;
            let len = u32::from_le_bytes(len) as usize;
            this.buf.resize(len, 0);
            this.r.read_exact(&mut this.buf)?;
            Ok(postcard::from_bytes(&this.buf)?)
        };
        let record =
            read(self).with_context(|| format!("reading back {}", self.run.path.display()))?;
        self.left -= 1;
        Ok(Some(record))
    }
}

/// The records `mem` (sorted by id) and those in `spilled`, as one sequence
/// in id order. A run that cannot be read back ends the sequence with its error.
pub fn sorted<'a>(
    mem: &'a [FlowRecord],
    spilled: &Spilled,
) -> impl Iterator<Item = anyhow::Result<Cow<'a, FlowRecord>>> + 'a {
    let mut merge = Merge {
        mem: mem.iter().peekable(),
        readers: Vec::new(),
        heads: Vec::new(),
        heap: BinaryHeap::new(),
        failed: None,
    };
    room_for(spilled.runs.len());
    for run in &spilled.runs {
        match RunReader::open(run).and_then(|mut r| Ok((r.next()?, r))) {
            Ok((head, reader)) => merge.add(head, reader),
            Err(e) => {
                merge.failed = Some(e);
                break;
            }
        }
    }
    merge
}

/// A k-way merge of the runs (by a heap of their next ids) and the records
/// in memory.
struct Merge<'a> {
    mem: std::iter::Peekable<std::slice::Iter<'a, FlowRecord>>,
    readers: Vec<RunReader>,
    heads: Vec<Option<FlowRecord>>,
    heap: BinaryHeap<Reverse<(FlowId, usize)>>,
    failed: Option<anyhow::Error>,
}

impl Merge<'_> {
    fn add(&mut self, head: Option<FlowRecord>, reader: RunReader) {
        let i = self.readers.len();
        if let Some(r) = &head {
            self.heap.push(Reverse((r.head.id, i)));
        }
        self.readers.push(reader);
        self.heads.push(head);
    }
}

impl<'a> Iterator for Merge<'a> {
    type Item = anyhow::Result<Cow<'a, FlowRecord>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.heap.clear();
            self.mem = [].iter().peekable();
            return Some(Err(e));
        }
        let run_id = self.heap.peek().map(|Reverse((id, _))| *id);
        let mem_id = self.mem.peek().map(|r| r.head.id);
        match (mem_id, run_id) {
            (None, None) => None,
            (Some(m), Some(r)) if m < r => self.mem.next().map(|r| Ok(Cow::Borrowed(r))),
            (Some(_), None) => self.mem.next().map(|r| Ok(Cow::Borrowed(r))),
            _ => {
                let Reverse((_, i)) = self.heap.pop()?;
                let record = self.heads.get_mut(i)?.take()?;
                match self.readers.get_mut(i)?.next() {
                    Ok(Some(next)) => {
                        self.heap.push(Reverse((next.head.id, i)));
                        self.heads[i] = Some(next);
                    }
                    Ok(None) => {}
                    Err(e) => self.failed = Some(e),
                }
                Some(Ok(Cow::Owned(record)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Placement;
    use crate::flow::{DirRecord, FlowHead};
    use pcapread::{EncapPath, Layer, Proto};
    use reassembly::{EndReason, Gap};

    fn record(id: u64) -> FlowRecord {
        let mut encap = EncapPath::new();
        encap.push(Layer::Ethernet);
        encap.push(Layer::Vlan((id % 4000) as u16));
        let mut c2s = DirRecord {
            bytes: id * 3,
            packets: id,
            sha256: (id % 2 == 0).then_some([id as u8; 32]),
            ..DirRecord::default()
        };
        c2s.ledger.gaps.push(Gap { offset: id, len: 7 });
        FlowRecord {
            head: FlowHead {
                id,
                proto: if id % 3 == 0 { Proto::Udp } else { Proto::Tcp },
                client: format!("10.0.0.{}:{}", id % 250, 1000 + id % 5000)
                    .parse()
                    .unwrap(),
                server: "[2001:db8::1]:443".parse().unwrap(),
                first_ts: id * 1_000,
                syn_seen: id % 5 != 0,
                encap: encap.into(),
                client_mac: (id % 2 == 0).then_some(pcapread::Mac([id as u8; 6])),
                server_mac: (id % 3 != 0).then_some(pcapread::Mac([!(id as u8); 6])),
            },
            last_frame: id + 10,
            last_ts: id * 2_000,
            end: EndReason::Fin,
            idle_resumptions: (id % 3) as u32,
            longest_idle: id * 7,
            c2s,
            s2c: DirRecord::default(),
            placed: (id % 4 == 0).then(|| {
                Box::new([
                    Placement::Packed {
                        file: "streams.bin".into(),
                        offset: id * 100,
                        length: id,
                    },
                    Placement::File(None),
                ])
            }),
        }
    }

    /// Pushes `ids` into `stores` stores (round robin) spilling every
    /// `limit`, combines them, and reads everything back.
    fn round_trip(ids: &[u64], stores: usize, limit: usize) -> (Vec<FlowRecord>, usize) {
        let tmp = tempfile::tempdir().unwrap();
        let mut parts: Vec<RecordStore> = (0..stores)
            .map(|_| RecordStore::spilling(limit, Some(tmp.path().to_path_buf())))
            .collect();
        for (i, &id) in ids.iter().enumerate() {
            parts[i % stores].push(record(id)).unwrap();
        }
        let mut all = RecordStore::in_memory();
        for p in parts {
            all.append(p);
        }
        assert_eq!(all.len(), ids.len());
        let (mem, spilled) = all.finish();
        let runs = spilled.runs.len();
        let back = sorted(&mem, &spilled)
            .map(|r| r.unwrap().into_owned())
            .collect();
        drop(spilled);
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "runs removed when dropped: {left:?}");
        (back, runs)
    }

    #[test]
    fn combined_stores_are_read_through_a_bounded_number_of_runs() {
        // Three workers' stores of 110 one-record runs each: 330 runs,
        // none merged within its store (fewer than FAN_IN).
        let tmp = tempfile::tempdir().unwrap();
        let ids: Vec<u64> = (0..330u64).map(|i| (i * 7919) % 330 + 1).collect();
        let mut parts: Vec<RecordStore> = (0..3)
            .map(|_| RecordStore::spilling(1, Some(tmp.path().to_path_buf())))
            .collect();
        for (i, &id) in ids.iter().enumerate() {
            parts[i % 3].push(record(id)).unwrap();
        }
        let mut all = RecordStore::in_memory();
        for p in parts {
            all.append(p);
        }
        assert_eq!(all.spilled.runs.len(), 330);
        all.bound_runs().unwrap();
        assert_eq!(all.len(), 330);
        let (mem, spilled) = all.finish();
        assert!(
            spilled.runs.len() <= MAX_RUNS_READ,
            "{} runs to read",
            spilled.runs.len()
        );
        let back: Vec<FlowRecord> = sorted(&mem, &spilled)
            .map(|r| r.unwrap().into_owned())
            .collect();
        let want: Vec<FlowRecord> = (1..=330).map(record).collect();
        assert_eq!(back, want);
        drop(spilled);
        let dirs: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(dirs.is_empty(), "runs removed when dropped: {dirs:?}");
    }

    #[test]
    fn spilled_runs_read_back_merged_in_id_order() {
        // Ids out of order, as flows complete.
        let ids: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 1000 + 1).collect();
        let mut want: Vec<FlowRecord> = ids.iter().map(|&id| record(id)).collect();
        want.sort_by_key(|r| r.head.id);
        for (stores, limit) in [(1, 1), (1, 64), (3, 50), (4, 1000), (2, 7)] {
            let (back, runs) = round_trip(&ids, stores, limit);
            assert_eq!(back, want, "{stores} stores, limit {limit}");
            if limit < 1000 / stores {
                assert!(runs > 0, "{stores} stores, limit {limit}: spilled");
            }
            assert!(
                runs <= stores * 2 * (FAN_IN - 1),
                "{stores} stores, limit {limit}: {runs} runs"
            );
            if (stores, limit) == (1, 1) {
                // 1000 one-record runs are merged in tiers: 7 of 128, 104 left.
                assert_eq!(runs, 1000 / FAN_IN + 1000 % FAN_IN);
            }
        }
    }

    /// A worker's 500k flows with the default limit are 122 runs: each
    /// record is written once and read once, never merged into a bigger run
    /// (with 16 runs a merge, 112 of the 122 were rewritten).
    #[test]
    fn a_single_level_for_up_to_127_runs() {
        let ids: Vec<u64> = (0..122u64).rev().collect();
        let (back, runs) = round_trip(&ids, 1, 1);
        assert_eq!(runs, 122);
        let got: Vec<u64> = back.iter().map(|r| r.head.id).collect();
        assert_eq!(got, (0..122u64).collect::<Vec<_>>());
    }

    #[test]
    fn in_memory_and_discarding_stores_never_write() {
        let mut m = RecordStore::in_memory();
        let mut d = RecordStore::discarding();
        for id in [3, 1, 2] {
            m.push(record(id)).unwrap();
            d.push(record(id)).unwrap();
        }
        assert!(d.is_empty());
        let (mem, spilled) = m.finish();
        assert!(spilled.is_empty());
        let ids: Vec<u64> = mem.iter().map(|r| r.head.id).collect();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn a_damaged_run_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = RecordStore::spilling(2, Some(tmp.path().to_path_buf()));
        for id in 1..=4 {
            s.push(record(id)).unwrap();
        }
        let (mem, spilled) = s.finish();
        let run = &spilled.runs[1].path;
        let bytes = std::fs::read(run).unwrap();
        std::fs::write(run, &bytes[..bytes.len() / 2]).unwrap();
        let got: Vec<_> = sorted(&mem, &spilled).collect();
        assert!(
            got[0].is_ok() && got[1].is_ok(),
            "the intact run comes first"
        );
        let err = got.iter().find_map(|r| r.as_ref().err()).expect("an error");
        assert!(format!("{err:#}").contains("reading back"), "{err:#}");
    }
}

//! Writing flow directions to disk: a bounded pool of open files, and the
//! `extract` sink ([`FileSink`]) in its two layouts.
//!
//! # Layouts
//! - [`Layout::Files`]: one file per flow direction that has bytes, named by
//!   [`Namer`]. A file is created (truncated) on its first bytes and closed
//!   when its direction ends; at most `max_open` files are open at once, the
//!   least recently written one is closed first and reopened in append mode
//!   when more bytes come. A flow that goes quiet for the idle timeout
//!   ([`Sink::idle`]) has its files closed; if it carries on, they are
//!   reopened and continue.
//! - [`Layout::Packed`]: every direction appended to one `streams.bin` when
//!   it ends (its FIN is reached, or its flow completes; then client-to-server
//!   before server-to-client), in that order; the manifest gives each
//!   direction's `offset` and `length`. Until then a direction's bytes wait in
//!   memory, and past
//!   [`SPILL_AT`] bytes in a spill file under `DIR/.streamcut-spill/` (removed
//!   at the end). A flow that goes quiet for the idle timeout moves its
//!   buffered bytes to its spill files, so it holds no memory while quiet;
//!   if it carries on, its directions continue there and are packed, whole,
//!   when they end. Meant for captures with millions of flows, where
//!   millions of small files would be the bottleneck. UDP datagram
//!   boundaries go to one `datagrams.idx` ([`crate::packed_index`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use reassembly::Dir;

use crate::blockwrite::BlockWriter;
use crate::manifest::Totals;
use crate::naming::{check_inside, default_name, join_inside, Namer, Naming};
use crate::packed_index::{self, IndexWriter};
use crate::shard::OrderFile;
use engine::{FlowHead, FlowId, FlowRecord, Placement, Sink, DIRS};

/// Buffer size of each open file, and the size its writes are aligned to
/// ([`BlockWriter`]).
const BUF: usize = 8 * 1024;

/// Buffer size of `streams.bin`.
const PACKED_BUF: usize = 256 * 1024;

/// Bytes a packed direction holds in memory before spilling to disk.
pub const SPILL_AT: usize = 1024 * 1024;

/// Name of the packed streams file.
pub const STREAMS_BIN: &str = "streams.bin";

/// Name of the packed layout's spill directory (removed after a run).
pub const SPILL_DIR: &str = ".streamcut-spill";

/// A bounded set of open, buffered files, closed least recently used first
/// (an O(1) LRU: with many more flows than open files, every write may
/// reopen a file, so finding the victim must not scan the pool). Files are
/// known by a caller's key (a flow direction), so a write costs one integer
/// hash, not a path hash.
pub struct FilePool {
    open: lru::LruCache<u64, BlockWriter<File>>,
    /// Times a file was closed to make room (and later reopened).
    evictions: Arc<AtomicU64>,
}

impl std::fmt::Debug for FilePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePool")
            .field("open", &self.open.len())
            .field("cap", &self.open.cap())
            .field("evictions", &self.evictions())
            .finish()
    }
}

impl FilePool {
    /// A pool keeping at most `max_open` files open (at least one).
    pub fn new(max_open: usize) -> FilePool {
        FilePool::counting(max_open, Arc::default())
    }

    /// A pool that adds its evictions to a counter shared with other pools.
    fn counting(max_open: usize, evictions: Arc<AtomicU64>) -> FilePool {
        let cap =
            std::num::NonZeroUsize::new(max_open.max(1)).unwrap_or(std::num::NonZeroUsize::MIN);
        FilePool {
            open: lru::LruCache::new(cap),
            evictions,
        }
    }

    /// Files open right now.
    pub fn open_files(&self) -> usize {
        self.open.len()
    }

    /// Times a file was closed to make room (in every pool sharing the counter).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Append `bytes` to the file `key`, found at `path()` (asked only when
    /// the file must be opened). The file is created empty (truncated) when
    /// `fresh`, else opened for appending, unless it is open already.
    pub fn write(
        &mut self,
        key: u64,
        path: impl FnOnce() -> PathBuf,
        fresh: bool,
        bytes: &[u8],
    ) -> io::Result<()> {
        if let Some(w) = self.open.get_mut(&key) {
            return w.write_all(bytes);
        }
        if self.open.len() >= self.open.cap().get() {
            if let Some((_, mut w)) = self.open.pop_lru() {
                self.evictions.fetch_add(1, Ordering::Relaxed);
                w.flush()?;
            }
        }
        let path = path();
        let (file, len) = if fresh {
            (File::create(&path)?, 0)
        } else {
            let f = OpenOptions::new().append(true).open(&path)?;
            let len = f.metadata()?.len();
            (f, len)
        };
        let mut w = BlockWriter::new(file, BUF, len);
        w.write_all(bytes)?;
        self.open.put(key, w);
        Ok(())
    }

    /// Flush and close the file `key` if it is open.
    pub fn close(&mut self, key: u64) -> io::Result<()> {
        match self.open.pop(&key) {
            Some(mut w) => w.flush(),
            None => Ok(()),
        }
    }

    /// Flush and close the file `key`, its modification time set to
    /// `when`; one not open now (closed to make room) is opened at `path()`
    /// to set it.
    pub fn close_stamped(
        &mut self,
        key: u64,
        when: std::time::SystemTime,
        path: impl FnOnce() -> PathBuf,
    ) -> io::Result<()> {
        match self.open.pop(&key) {
            Some(mut w) => {
                w.flush()?;
                w.get_ref().set_modified(when)
            }
            None => OpenOptions::new()
                .write(true)
                .open(path())?
                .set_modified(when),
        }
    }

    /// Flush and close every file (in key order, so errors are deterministic).
    pub fn close_all(&mut self) -> io::Result<()> {
        let mut keys: Vec<u64> = self.open.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        for k in keys {
            self.close(k)?;
        }
        Ok(())
    }
}

/// How `extract` lays out stream bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One file per flow direction.
    #[default]
    Files,
    /// All directions in one `streams.bin`.
    Packed,
}

impl Layout {
    /// `"files"` or `"packed"`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Files => "files",
            Layout::Packed => "packed",
        }
    }
}

/// Per-direction output state of an open flow: small, because every flow
/// that has not completed yet (closed ones linger in the assembler) has one.
#[derive(Debug, Default)]
struct DirOut {
    /// Files layout: the file name (checked by [`check_inside`] once, at
    /// open), or `None` with default names, which [`dir_name`] rebuilds
    /// from the flow when it needs them (a million lingering flows would
    /// otherwise hold two million names); packed layout: the spill file name.
    name: Option<Box<str>>,
    /// Bytes written so far.
    written: u64,
    /// Packed layout only.
    packed: Option<Box<PackedDir>>,
    /// UDP only: datagram index lines not yet written out (files layout:
    /// to `<file>.idx`; packed: to `datagrams.idx` when packed, spilled
    /// past [`packed_index::LINES_BUF`]).
    idx: Option<Box<Idx>>,
}

/// Append a direction's buffered index lines to `DIR/<file>.idx` (created,
/// with its header, the first time).
fn flush_idx(base: &Path, out: &mut DirOut, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
    if out.idx.as_ref().is_none_or(|i| i.lines.is_empty()) {
        return Ok(());
    }
    let path = base.join(format!("{}{IDX_SUFFIX}", dir_name(out, head, dir)));
    let Some(idx) = out.idx.as_mut() else {
        return Ok(());
    };
    let write = |idx: &mut Idx| -> io::Result<()> {
        let mut f = if idx.started {
            OpenOptions::new().append(true).open(&path)?
        } else {
            let mut f = File::create(&path)?;
            f.write_all(IDX_HEADER.as_bytes())?;
            f
        };
        f.write_all(&idx.lines)
    };
    write(idx).with_context(|| format!("writing {}", path.display()))?;
    idx.started = true;
    idx.lines.clear();
    Ok(())
}

/// UDP: the datagram index lines of a direction not yet appended to its
/// `<file>.idx` ([`IDX_BUF`] bytes at most), or (packed layout) not yet
/// written to `datagrams.idx` or its spill file.
#[derive(Debug, Default)]
struct Idx {
    lines: Vec<u8>,
    /// Whether the index file was created (its header written); packed
    /// layout: whether lines are in the spill file.
    started: bool,
}

/// Bytes of index lines a direction buffers before appending them to its
/// index file (about 50 datagrams: most UDP flows have a few).
const IDX_BUF: usize = 1024;

/// Suffix of a UDP direction's datagram index file (files layout).
pub const IDX_SUFFIX: &str = ".idx";

/// First line of an index file; then one line per datagram.
pub const IDX_HEADER: &str = "offset\tlength\tframe\n";

/// The packed layout's state of one direction.
#[derive(Debug, Default)]
struct PackedDir {
    /// Bytes not yet spilled.
    buf: Vec<u8>,
    /// Whether some bytes are in the spill file.
    spilled: bool,
    /// Where the direction went once it ended.
    placed: Option<Placement>,
}

/// The `extract` sink: stream bytes to files (or `streams.bin`), and each
/// direction's [`Placement`] for the manifest.
///
/// With the files layout and default names, a flow's files depend on that
/// flow alone, so the sink [splits](Sink::split) into one part per worker of
/// the parallel engine: each writes its own flows' files on its own thread
/// (the open-file bound is shared out between them), and placements are
/// derived from the flow records instead of being remembered per flow.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    layout: Layout,
    namer: Namer,
    pool: FilePool,
    /// The output files asked for at most (`--max-open-files`).
    requested: usize,
    /// Descriptors each part keeps open beside its output files (the HTTP
    /// object store's partial files).
    beside_per_part: usize,
    active: HashMap<FlowId, [DirOut; 2]>,
    /// Placements that cannot be derived from the flow record (packed
    /// layout, tcpflow names).
    placements: BTreeMap<FlowId, [Placement; 2]>,
    packed: Option<BlockWriter<File>>,
    packed_len: u64,
    /// Packed layout: `datagrams.idx`.
    packed_idx: Option<IndexWriter>,
    spill_dir: PathBuf,
    /// `--shard` runs, packed layout: where each direction went, with the
    /// replay position (see [`crate::shard`]).
    order: Option<OrderFile>,
    /// The replay position of the current calls.
    pos: u64,
    /// The flows this sink closed, counted for the manifest's totals.
    closed: Totals,
    /// What every part of the sink closed, added at each part's finish.
    closed_all: Arc<Mutex<Totals>>,
}

fn di(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

/// The file name of one direction of `head`.
fn dir_name<'o>(out: &'o DirOut, head: &FlowHead, dir: Dir) -> Cow<'o, str> {
    match &out.name {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(default_name(head, dir)),
    }
}

/// The spill file name of a packed direction.
fn spill_name(out: &DirOut) -> anyhow::Result<&str> {
    out.name
        .as_deref()
        .context("packed direction without a spill file name")
}

/// The spill file name of a packed direction's datagram index lines.
fn idx_spill_name(out: &DirOut) -> anyhow::Result<String> {
    Ok(format!("{}{IDX_SUFFIX}", spill_name(out)?))
}

/// The pool key of one flow direction.
fn key(id: FlowId, dir: Dir) -> u64 {
    id.wrapping_mul(2).wrapping_add(di(dir) as u64)
}

/// File descriptors kept free for everything that is not an output file.
const FD_RESERVE: u64 = 64;

/// How many output files may really be open at once: `requested`, after
/// raising the soft `RLIMIT_NOFILE` towards the hard limit, at most what the
/// limit leaves beside `FD_RESERVE` (64) descriptors and `beside` more that
/// other writers keep open (and at least one).
pub fn usable_open_files(requested: usize, beside: usize) -> usize {
    let reserve = FD_RESERVE.saturating_add(beside as u64);
    let want = (requested as u64).saturating_add(reserve);
    let limit = rlimit::increase_nofile_limit(want).unwrap_or(1024);
    let usable = limit.saturating_sub(reserve).max(1);
    requested
        .min(usize::try_from(usable).unwrap_or(usize::MAX))
        .max(1)
}

impl FileSink {
    /// A sink writing into `dir` (which must exist).
    pub fn new(
        dir: &Path,
        layout: Layout,
        namer: Namer,
        max_open: usize,
    ) -> anyhow::Result<FileSink> {
        let spill_dir = dir.join(SPILL_DIR);
        let packed = match layout {
            Layout::Files => None,
            Layout::Packed => {
                let path = dir.join(STREAMS_BIN);
                let f =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                Some(BlockWriter::new(f, PACKED_BUF, 0))
            }
        };
        Ok(FileSink {
            dir: dir.to_path_buf(),
            layout,
            namer,
            pool: FilePool::new(usable_open_files(max_open, 0)),
            requested: max_open,
            beside_per_part: 0,
            active: HashMap::new(),
            placements: BTreeMap::new(),
            packed_idx: packed.is_some().then(|| IndexWriter::new(dir)),
            packed,
            packed_len: 0,
            spill_dir,
            order: None,
            pos: 0,
            closed: Totals::default(),
            closed_all: Arc::default(),
        })
    }

    /// Packed layout: also write the replay position of each direction
    /// appended to `streams.bin` to `path` ([`crate::shard::PACKED_ORDER`]).
    pub fn record_order(&mut self, path: &Path) -> anyhow::Result<()> {
        self.order = Some(OrderFile::create(path)?);
        Ok(())
    }

    /// Whether placements follow from the flow records alone.
    fn derived(&self) -> bool {
        self.layout == Layout::Files && self.namer.naming() == Naming::Default
    }

    /// Where one direction of a completed flow went.
    pub fn placement(&self, record: &FlowRecord, dir: Dir) -> Placement {
        if let Some(p) = record.placed.as_ref().and_then(|p| p.get(di(dir))) {
            return p.clone();
        }
        if self.derived() {
            return match record.dir(dir).bytes {
                0 => Placement::File(None),
                _ => Placement::File(Some(default_name(&record.head, dir))),
            };
        }
        self.placements
            .get(&record.head.id)
            .and_then(|p| p.get(di(dir)).cloned())
            .unwrap_or(Placement::File(None))
    }

    /// The totals of the flows closed by this sink and its parts (each
    /// part's once it finished; this sink's once it finished too): those of
    /// every flow record the run kept, when no output error stopped it.
    pub fn closed_totals(&self) -> Totals {
        let all = self
            .closed_all
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        let mut t = self.closed.clone();
        t.add_flows(&all);
        t
    }

    /// Times a file was closed to stay under the open-file bound (all parts).
    pub fn evictions(&self) -> u64 {
        self.pool.evictions()
    }

    /// Packed: move a direction's bytes (spill file, then buffer) to the end of
    /// `streams.bin`; returns its placement.
    fn pack(&mut self, id: FlowId, dir: Dir, out: &mut DirOut) -> anyhow::Result<Placement> {
        let offset = self.packed_len;
        let Some(w) = &mut self.packed else {
            anyhow::bail!("packed output is not open");
        };
        if out.packed.as_ref().is_some_and(|p| p.spilled) {
            let path = join_inside(&self.spill_dir, spill_name(out)?)?;
            self.pool.close(key(id, dir))?;
            let mut f = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
            io::copy(&mut f, w).context("writing streams.bin")?;
            fs::remove_file(&path)?;
        }
        let p = out.packed.get_or_insert_default();
        w.write_all(&p.buf).context("writing streams.bin")?;
        p.buf = Vec::new();
        self.packed_len += out.written;
        if let Some(idx) = out.idx.take() {
            let spilled = match idx.started {
                true => Some(join_inside(&self.spill_dir, &idx_spill_name(out)?)?),
                false => None,
            };
            let Some(w) = &mut self.packed_idx else {
                anyhow::bail!("packed datagram index is not open");
            };
            w.append(spilled.as_deref(), &idx.lines)?;
        }
        if let Some(o) = &mut self.order {
            o.line(&[&self.pos, &id, &dir.as_str(), &offset, &out.written])?;
        }
        Ok(Placement::Packed {
            file: STREAMS_BIN.to_string(),
            offset,
            length: out.written,
        })
    }

    /// Packed: append a direction's buffered bytes to its spill file.
    /// Files layout: close the file of `head`'s direction `dir`, if one was
    /// written (a later write reopens it to append), and write out its
    /// datagram index lines.
    fn close_file(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        let Some(out) = self.active.get_mut(&head.id).map(|d| &mut d[di(dir)]) else {
            return Ok(());
        };
        if out.written > 0 {
            self.pool.close(key(head.id, dir)).with_context(|| {
                let name = dir_name(out, head, dir);
                format!("writing {}", self.dir.join(&*name).display())
            })?;
        }
        flush_idx(&self.dir, out, head, dir)
    }

    /// Packed: append a direction's buffered datagram index lines to its
    /// spill file.
    fn spill_idx(&mut self, id: FlowId, dir: Dir) -> anyhow::Result<()> {
        let Some(out) = self.active.get_mut(&id).map(|d| &mut d[di(dir)]) else {
            return Ok(());
        };
        let name = idx_spill_name(out)?;
        let Some(idx) = out.idx.as_mut().filter(|i| !i.lines.is_empty()) else {
            return Ok(());
        };
        fs::create_dir_all(&self.spill_dir)
            .with_context(|| format!("creating {}", self.spill_dir.display()))?;
        packed_index::spill(&join_inside(&self.spill_dir, &name)?, &idx.lines)?;
        idx.started = true;
        idx.lines.clear();
        Ok(())
    }

    fn spill(&mut self, id: FlowId, dir: Dir) -> anyhow::Result<()> {
        let Some(out) = self.active.get_mut(&id).map(|d| &mut d[di(dir)]) else {
            return Ok(());
        };
        let p = out.packed.get_or_insert_default();
        let fresh = !p.spilled;
        p.spilled = true;
        let buf = std::mem::take(&mut p.buf);
        let path = join_inside(&self.spill_dir, spill_name(out)?)?;
        if fresh {
            fs::create_dir_all(&self.spill_dir)
                .with_context(|| format!("creating {}", self.spill_dir.display()))?;
        }
        self.pool
            .write(key(id, dir), || path.clone(), fresh, &buf)
            .with_context(|| format!("writing {}", path.display()))
    }
}

impl FileSink {
    /// Output files each of `parts` parts may keep open.
    fn part_cap(&self, parts: usize) -> usize {
        let beside = self.beside_per_part.saturating_mul(parts);
        (usable_open_files(self.requested, beside) / parts.max(1)).max(1)
    }

    /// Each part of this sink (the sink itself when it does not split) has
    /// `n` descriptors open beside its output files: keep room for them
    /// under the descriptor limit. Call before the first write.
    pub fn leave_descriptors_per_part(&mut self, n: usize) {
        self.beside_per_part = n;
        if self.pool.open_files() == 0 {
            let evictions = Arc::clone(&self.pool.evictions);
            self.pool = FilePool::counting(usable_open_files(self.requested, n), evictions);
        }
    }
}

impl Sink for FileSink {
    fn split(&mut self, parts: usize) -> Option<Vec<Box<dyn Sink + Send>>> {
        if !self.derived() || !self.active.is_empty() {
            return None;
        }
        let each = self.part_cap(parts);
        Some(
            (0..parts)
                .map(|_| {
                    Box::new(FileSink {
                        dir: self.dir.clone(),
                        layout: self.layout,
                        namer: Namer::new(Naming::Default),
                        pool: FilePool::counting(each, Arc::clone(&self.pool.evictions)),
                        requested: each,
                        beside_per_part: 0,
                        active: HashMap::new(),
                        placements: BTreeMap::new(),
                        packed: None,
                        packed_len: 0,
                        packed_idx: None,
                        spill_dir: self.spill_dir.clone(),
                        order: None,
                        pos: 0,
                        closed: Totals::default(),
                        closed_all: Arc::clone(&self.closed_all),
                    }) as Box<dyn Sink + Send>
                })
                .collect(),
        )
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Ok(mut all) = self.closed_all.lock() {
            all.add_flows(&std::mem::take(&mut self.closed));
        }
        self.pool.close_all().context("closing output files")?;
        if let Some(w) = &mut self.packed {
            w.flush().context("writing streams.bin")?;
        }
        if let Some(w) = &mut self.packed_idx {
            w.finish()?;
        }
        if let Some(o) = &mut self.order {
            o.finish()?;
        }
        if self.packed.is_some() && self.spill_dir.exists() {
            fs::remove_dir_all(&self.spill_dir)
                .with_context(|| format!("removing {}", self.spill_dir.display()))?;
        }
        Ok(())
    }

    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        // Default names are built from numbers and sanitized: always a
        // plain component, rebuilt when needed rather than kept.
        let [a, b] = if self.derived() {
            [None, None]
        } else {
            let names = match self.layout {
                Layout::Files => self.namer.names(head),
                Layout::Packed => [format!("{}.c2s", head.id), format!("{}.s2c", head.id)],
            };
            for name in &names {
                check_inside(name)?;
            }
            names.map(|n| Some(n.into_boxed_str()))
        };
        let packed = || (self.layout == Layout::Packed).then(Box::default);
        let outs = [
            DirOut {
                name: a,
                written: 0,
                packed: packed(),
                idx: None,
            },
            DirOut {
                name: b,
                written: 0,
                packed: packed(),
                idx: None,
            },
        ];
        self.active.insert(head.id, outs);
        Ok(())
    }

    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(out) = self.active.get_mut(&head.id).map(|d| &mut d[di(dir)]) else {
            anyhow::bail!("bytes for flow {} after it was closed", head.id);
        };
        if out.packed.as_ref().is_some_and(|p| p.placed.is_some()) {
            anyhow::bail!(
                "bytes for flow {} after its {dir:?} direction ended",
                head.id
            );
        }
        let fresh = out.written == 0;
        out.written += bytes.len() as u64;
        match self.layout {
            Layout::Files => {
                let base = &self.dir;
                let path = || base.join(&*dir_name(out, head, dir));
                self.pool
                    .write(key(head.id, dir), path, fresh, bytes)
                    .with_context(|| format!("writing {}", path().display()))
            }
            Layout::Packed => {
                let p = out.packed.get_or_insert_default();
                p.buf.extend_from_slice(bytes);
                if p.buf.len() >= SPILL_AT {
                    self.spill(head.id, dir)?;
                }
                Ok(())
            }
        }
    }

    /// One line for the datagram just written: files layout,
    /// `OFFSET\tLENGTH\tFRAME` in the direction's index (see
    /// [`IDX_HEADER`]); packed layout, the same prefixed with the flow id
    /// and direction, for `datagrams.idx` ([`crate::packed_index`]).
    fn datagram(&mut self, head: &FlowHead, dir: Dir, frame: u64, len: u64) -> anyhow::Result<()> {
        let Some(out) = self.active.get_mut(&head.id).map(|d| &mut d[di(dir)]) else {
            anyhow::bail!("a datagram for flow {} after it was closed", head.id);
        };
        let offset = out.written.saturating_sub(len);
        let idx = out.idx.get_or_insert_default();
        match self.layout {
            Layout::Files => {
                writeln!(idx.lines, "{offset}\t{len}\t{frame}")?;
                if idx.lines.len() >= IDX_BUF {
                    flush_idx(&self.dir, out, head, dir)?;
                }
            }
            Layout::Packed => {
                packed_index::line(&mut idx.lines, head.id, dir, offset, len, frame);
                if idx.lines.len() >= packed_index::LINES_BUF {
                    self.spill_idx(head.id, dir)?;
                }
            }
        }
        Ok(())
    }

    /// The flow went quiet (it may carry on): files layout, close its files
    /// (reopened to append if it does); packed layout, move its buffered
    /// bytes to its spill files, so a quiet flow holds no memory here.
    fn idle(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        for dir in DIRS {
            let Some(out) = self.active.get(&head.id).map(|d| &d[di(dir)]) else {
                return Ok(());
            };
            match self.layout {
                Layout::Files => self.close_file(head, dir)?,
                Layout::Packed => {
                    let buffered = out
                        .packed
                        .as_ref()
                        .is_some_and(|p| p.placed.is_none() && !p.buf.is_empty());
                    if buffered {
                        self.spill(head.id, dir)?;
                        self.pool.close(key(head.id, dir))?;
                    }
                    self.spill_idx(head.id, dir)?;
                }
            }
        }
        Ok(())
    }

    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        match self.layout {
            Layout::Files => self.close_file(head, dir)?,
            Layout::Packed => {
                // Pack the direction now rather than when its flow is
                // forgotten (a closed connection lingers), to free its memory.
                let Some(mut out) = self
                    .active
                    .get_mut(&head.id)
                    .map(|d| std::mem::take(&mut d[di(dir)]))
                else {
                    return Ok(());
                };
                if out.packed.as_ref().is_some_and(|p| p.placed.is_none()) {
                    let placed = self.pack(head.id, dir, &mut out)?;
                    out.packed.get_or_insert_default().placed = Some(placed);
                }
                if let Some(d) = self.active.get_mut(&head.id) {
                    d[di(dir)] = out;
                }
            }
        }
        Ok(())
    }

    fn position(&mut self, pos: u64) {
        self.pos = pos;
    }

    fn take_placement(&mut self, id: FlowId) -> Option<Box<[Placement; 2]>> {
        self.placements.remove(&id).map(Box::new)
    }

    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        let id = record.head.id;
        let Some(outs) = self.active.remove(&id) else {
            anyhow::bail!("flow {id} closed twice");
        };
        let derived = self.derived();
        let last_packet = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(record.last_ts);
        let mut placed = Vec::with_capacity(2);
        for (dir, mut out) in DIRS.into_iter().zip(outs) {
            let p = match self.layout {
                Layout::Files => {
                    if out.written > 0 {
                        // Closed with its flow's last packet time as its
                        // modification time (`ls -lt` sorts streams by time).
                        let path = || self.dir.join(&*dir_name(&out, &record.head, dir));
                        self.pool
                            .close_stamped(key(id, dir), last_packet, path)
                            .with_context(|| format!("writing {}", path().display()))?;
                    }
                    flush_idx(&self.dir, &mut out, &record.head, dir)?;
                    if derived || out.written == 0 {
                        // Derived placements are not kept (see `placement`).
                        Placement::File(None)
                    } else {
                        Placement::File(Some(dir_name(&out, &record.head, dir).into_owned()))
                    }
                }
                Layout::Packed => match out.packed.as_mut().and_then(|p| p.placed.take()) {
                    Some(p) => p,
                    None => self.pack(id, dir, &mut out)?,
                },
            };
            placed.push(p);
        }
        if !derived {
            let (Some(b), Some(a)) = (placed.pop(), placed.pop()) else {
                anyhow::bail!("flow {id}: placements missing");
            };
            self.placements.insert(id, [a, b]);
        }
        self.closed.add(record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_fit_the_descriptor_limit() {
        assert_eq!(usable_open_files(1, 0), 1);
        assert_eq!(usable_open_files(0, 0), 1);
        let huge = usable_open_files(usize::MAX, 0);
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert!(huge as u64 <= soft.saturating_sub(FD_RESERVE).max(1));
        // Descriptors other writers hold come off what is left.
        let beside = usable_open_files(usize::MAX, 1000);
        assert_eq!(beside, huge.saturating_sub(1000).max(1));
    }

    #[test]
    fn parts_leave_room_for_the_descriptors_beside_them() {
        let tmp = tempfile::tempdir().unwrap();
        let namer = || Namer::new(Naming::Default);
        let mut sink = FileSink::new(tmp.path(), Layout::Files, namer(), usize::MAX).unwrap();
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        let room = usize::try_from(soft.saturating_sub(FD_RESERVE)).unwrap();
        // Without the call the parts take all the room.
        assert!(sink.part_cap(4) * 4 + 400 > room);
        sink.leave_descriptors_per_part(100);
        assert!(sink.part_cap(4) * 4 + 400 <= room);
        assert!(sink.pool.open.cap().get() + 100 <= room);
        // A small request is not cut.
        let mut small = FileSink::new(tmp.path(), Layout::Files, namer(), 40).unwrap();
        small.leave_descriptors_per_part(100);
        assert_eq!((small.pool.open.cap().get(), small.part_cap(4)), (40, 10));
    }

    fn head(id: FlowId) -> FlowHead {
        FlowHead {
            id,
            proto: pcapread::Proto::Tcp,
            client: "10.0.0.1:40000".parse().unwrap(),
            server: "10.0.0.2:9092".parse().unwrap(),
            first_ts: 0,
            syn_seen: true,
            encap: Default::default(),
            client_mac: None,
            server_mac: None,
        }
    }

    /// The record of flow `head` with `c2s` bytes one way and none back.
    fn record(head: &FlowHead, c2s: u64) -> FlowRecord {
        let mut r = FlowRecord {
            head: head.clone(),
            last_frame: 9,
            last_ts: 0,
            end: reassembly::EndReason::Fin,
            idle_resumptions: 1,
            longest_idle: 400,
            c2s: Default::default(),
            s2c: Default::default(),
            placed: None,
        };
        r.c2s.bytes = c2s;
        r
    }

    #[test]
    fn a_quiet_packed_flow_moves_its_bytes_to_disk_and_continues() {
        let tmp = tempfile::tempdir().unwrap();
        let namer = Namer::new(Naming::Default);
        let mut sink = FileSink::new(tmp.path(), Layout::Packed, namer, 8).unwrap();
        let h = head(7);
        sink.open(&h).unwrap();
        sink.write(&h, Dir::ClientToServer, b"before ").unwrap();
        sink.idle(&h).unwrap();
        let out = &sink.active[&7][0];
        let p = out.packed.as_ref().unwrap();
        assert!(
            p.buf.is_empty() && p.spilled,
            "quiet: nothing held in memory"
        );
        assert_eq!(sink.pool.open_files(), 0, "and no file open");
        sink.write(&h, Dir::ClientToServer, b"after").unwrap();
        sink.end_dir(&h, Dir::ClientToServer).unwrap();
        let r = record(&h, 12);
        sink.close(&r).unwrap();
        sink.finish().unwrap();
        assert_eq!(
            sink.placement(&r, Dir::ClientToServer),
            Placement::Packed {
                file: STREAMS_BIN.to_string(),
                offset: 0,
                length: 12
            }
        );
        assert_eq!(
            fs::read(tmp.path().join(STREAMS_BIN)).unwrap(),
            b"before after"
        );
        assert!(!tmp.path().join(SPILL_DIR).exists());
    }

    #[test]
    fn packed_datagram_lines_spill_and_come_back_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let namer = Namer::new(Naming::Default);
        let mut sink = FileSink::new(tmp.path(), Layout::Packed, namer, 8).unwrap();
        let (a, b) = (head(3), head(5));
        sink.open(&a).unwrap();
        sink.open(&b).unwrap();
        let mut want = String::from(crate::packed_index::HEADER);
        // Flow 5 sends enough datagrams to spill its lines, goes quiet
        // (the rest spilled too: nothing held), and carries on.
        for i in 0..200u64 {
            sink.write(&b, Dir::ServerToClient, b"xy").unwrap();
            sink.datagram(&b, Dir::ServerToClient, 100 + i, 2).unwrap();
            want.push_str(&format!("5\ts2c\t{}\t2\t{}\n", 2 * i, 100 + i));
            if i == 150 {
                sink.idle(&b).unwrap();
                let out = &sink.active[&5][1];
                assert!(out
                    .idx
                    .as_ref()
                    .is_some_and(|i| i.lines.is_empty() && i.started));
            }
        }
        sink.write(&a, Dir::ClientToServer, b"abc").unwrap();
        sink.datagram(&a, Dir::ClientToServer, 1, 3).unwrap();
        // Flow 3 ends first, so its line comes first, as its bytes do.
        sink.end_dir(&a, Dir::ClientToServer).unwrap();
        sink.close(&record(&a, 3)).unwrap();
        sink.close(&record(&b, 0)).unwrap();
        sink.finish().unwrap();
        let text = fs::read_to_string(tmp.path().join("datagrams.idx")).unwrap();
        let want = want.replacen(
            crate::packed_index::HEADER,
            &format!("{}3\tc2s\t0\t3\t1\n", crate::packed_index::HEADER),
            1,
        );
        assert_eq!(text, want);
        assert!(!tmp.path().join(SPILL_DIR).exists());
    }

    #[test]
    fn a_quiet_flow_closes_its_files_and_appends_when_it_carries_on() {
        let tmp = tempfile::tempdir().unwrap();
        let namer = Namer::new(Naming::Default);
        let mut sink = FileSink::new(tmp.path(), Layout::Files, namer, 8).unwrap();
        let h = head(3);
        sink.open(&h).unwrap();
        sink.write(&h, Dir::ServerToClient, b"one ").unwrap();
        assert_eq!(sink.pool.open_files(), 1);
        sink.idle(&h).unwrap();
        assert_eq!(sink.pool.open_files(), 0);
        sink.write(&h, Dir::ServerToClient, b"two").unwrap();
        sink.close(&record(&h, 0)).unwrap();
        sink.finish().unwrap();
        let name = default_name(&h, Dir::ServerToClient);
        assert_eq!(fs::read(tmp.path().join(name)).unwrap(), b"one two");
    }

    #[test]
    fn pool_stays_bounded_and_appends_after_eviction() {
        let tmp = tempfile::tempdir().unwrap();
        let mut pool = FilePool::new(2);
        let p: Vec<PathBuf> = (0..4).map(|i| tmp.path().join(format!("f{i}"))).collect();
        for round in 0..3 {
            for (i, path) in p.iter().enumerate() {
                pool.write(
                    i as u64,
                    || path.clone(),
                    round == 0,
                    format!("{round}{i}").as_bytes(),
                )
                .unwrap();
                assert!(pool.open_files() <= 2);
            }
        }
        pool.close_all().unwrap();
        assert!(pool.evictions() > 0);
        for (i, path) in p.iter().enumerate() {
            assert_eq!(fs::read_to_string(path).unwrap(), format!("0{i}1{i}2{i}"));
        }
    }
}

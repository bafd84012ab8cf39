//! The packed layout's UDP datagram index, `DIR/datagrams.idx`: the files
//! layout's `<file>.idx` lines for every UDP direction of `streams.bin`,
//! each prefixed with its flow id and direction.
//!
//! A tab-separated text file: the header `flow\tdir\toffset\tlength\tframe`,
//! then one line per datagram. A direction's lines are consecutive, in the
//! order its datagrams were written, and directions come in the order their
//! bytes were appended to `streams.bin`. `offset` counts from the start of
//! the direction's range (the manifest's `offset` for that direction), as in
//! a files layout `.idx`, so `streams.bin[offset_dir + offset ..][..length]`
//! is the datagram. Written only when there is a UDP datagram; a
//! function of the input like `streams.bin` (one writer, in pack order).
//!
//! Until its direction is packed, a direction's lines wait in memory, and
//! past [`LINES_BUF`] bytes (or when its flow goes quiet) in a spill file
//! beside its bytes' (`.streamcut-spill/<name>.idx`). `merge` rebuilds the
//! file in single-run order from the shards' ([`merge_into`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use reassembly::Dir;

/// Name of the packed layout's datagram index.
pub const DATAGRAMS_IDX: &str = "datagrams.idx";

/// Its first line.
pub const HEADER: &str = "flow\tdir\toffset\tlength\tframe\n";

/// Bytes of lines a direction keeps in memory before appending them to its
/// spill file.
pub const LINES_BUF: usize = 1024;

/// Append one datagram's line to `lines`.
pub fn line(lines: &mut Vec<u8>, flow: u64, dir: Dir, offset: u64, len: u64, frame: u64) {
    // Writing to a Vec cannot fail.
    let _ = writeln!(lines, "{flow}\t{}\t{offset}\t{len}\t{frame}", dir.as_str());
}

/// Append `lines` to the spill file `path` (created on first use).
pub fn spill(path: &Path, lines: &[u8]) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(lines)
        .with_context(|| format!("writing {}", path.display()))
}

/// The index being written: created with its header on the first line.
#[derive(Debug)]
pub struct IndexWriter {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl IndexWriter {
    /// The index of the output directory `dir` (nothing created yet).
    pub fn new(dir: &Path) -> IndexWriter {
        IndexWriter {
            path: dir.join(DATAGRAMS_IDX),
            out: None,
        }
    }

    fn out(&mut self) -> anyhow::Result<&mut BufWriter<File>> {
        if self.out.is_none() {
            let f = File::create(&self.path)
                .with_context(|| format!("creating {}", self.path.display()))?;
            let mut w = BufWriter::with_capacity(64 * 1024, f);
            w.write_all(HEADER.as_bytes())
                .with_context(|| format!("writing {}", self.path.display()))?;
            self.out = Some(w);
        }
        self.out.as_mut().context("datagram index not open (a bug)")
    }

    /// Append a direction's lines: those of its spill file `spilled`
    /// (removed), then `lines`.
    pub fn append(&mut self, spilled: Option<&Path>, lines: &[u8]) -> anyhow::Result<()> {
        if spilled.is_none() && lines.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let w = self.out()?;
        if let Some(s) = spilled {
            let mut f = File::open(s).with_context(|| format!("reading {}", s.display()))?;
            io::copy(&mut f, w).with_context(|| format!("writing {}", path.display()))?;
            fs::remove_file(s).with_context(|| format!("removing {}", s.display()))?;
        }
        w.write_all(lines)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Flush what was written.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(w) = &mut self.out {
            w.flush()
                .with_context(|| format!("writing {}", self.path.display()))?;
        }
        Ok(())
    }
}

/// One shard's index, read a direction at a time.
struct ShardIndex {
    path: PathBuf,
    lines: Option<io::Lines<BufReader<File>>>,
    /// The next line not yet taken.
    peeked: Option<String>,
}

impl ShardIndex {
    fn open(dir: &Path) -> anyhow::Result<ShardIndex> {
        let path = dir.join(DATAGRAMS_IDX);
        let mut lines = match File::open(&path) {
            Ok(f) => Some(BufReader::new(f).lines()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if let Some(l) = &mut lines {
            let header = l.next().transpose()?;
            if header.as_deref() != Some(HEADER.trim_end()) {
                anyhow::bail!("{}: not a datagram index", path.display());
            }
        }
        let mut s = ShardIndex {
            path,
            lines,
            peeked: None,
        };
        s.advance()?;
        Ok(s)
    }

    fn advance(&mut self) -> anyhow::Result<()> {
        self.peeked = match &mut self.lines {
            Some(l) => l
                .next()
                .transpose()
                .with_context(|| format!("reading {}", self.path.display()))?,
            None => None,
        };
        Ok(())
    }

    /// Whether the next line belongs to `flow`'s direction `dir`.
    fn next_is(&self, prefix: &str) -> bool {
        self.peeked
            .as_deref()
            .is_some_and(|l| l.starts_with(prefix))
    }
}

/// `merge`: write `out/datagrams.idx` from the shard directories' indexes,
/// taking the directions in `order` (shard, flow, dir: single-run pack
/// order, each shard's directions in its own pack order). Writes nothing
/// when no shard has an index; an index line left over is an error.
pub fn merge_into(
    out: &Path,
    shards: &[&Path],
    order: impl IntoIterator<Item = (usize, u64, String)>,
) -> anyhow::Result<()> {
    let mut inputs = shards
        .iter()
        .map(|d| ShardIndex::open(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if inputs.iter().all(|s| s.lines.is_none()) {
        return Ok(());
    }
    let mut w = IndexWriter::new(out);
    let mut buf = Vec::new();
    for (shard, flow, dir) in order {
        let Some(input) = inputs.get_mut(shard) else {
            anyhow::bail!("shard {shard} out of range (a bug)");
        };
        let prefix = format!("{flow}\t{dir}\t");
        while input.next_is(&prefix) {
            if let Some(l) = input.peeked.take() {
                buf.extend_from_slice(l.as_bytes());
                buf.push(b'\n');
            }
            input.advance()?;
        }
        if buf.len() >= 64 * 1024 {
            w.append(None, &buf)?;
            buf.clear();
        }
    }
    w.append(None, &buf)?;
    if let Some(left) = inputs.iter().find(|s| s.peeked.is_some()) {
        anyhow::bail!(
            "{}: datagrams of a direction its order file does not list ({})",
            left.path.display(),
            left.peeked.as_deref().unwrap_or_default()
        );
    }
    w.finish()
}

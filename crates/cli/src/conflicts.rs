//! `--conflicts FILE`: every overlap conflict as one JSON line.
//!
//! A conflict is a retransmission whose bytes differ from the bytes held for
//! the same stream offsets — how evasion and injection show up on the wire.
//! [`ConflictTee`] wraps the command's sink, passes every call through, and
//! writes each conflict it sees to the file. Lines come in the engine's
//! deterministic replay order, so the file is the same for any `--threads`.
//!
//! One line:
//! ```json
//! {"flow":3,"dir":"c2s","stream_offset":1,"len":3,"old_frame":5,"new_frame":6,
//!  "old_bytes":"4f4f44","new_bytes":"585858","bytes_complete":true,
//!  "winner":"old","policy":"first","reason":"policy","shape":"after,same"}
//! ```
//! `old_bytes`/`new_bytes` are hex, at most the first
//! [`EXCERPT_MAX`](reassembly::conflict::EXCERPT_MAX) bytes of each version
//! (`bytes_complete` says whether that is all of them); `shape` is where the new
//! segment starts and ends relative to the held one (absent when the held bytes
//! had been delivered already).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;
use reassembly::{Conflict, ConflictReason, Dir, ScatterGather, Winner};
use serde::Serialize;

use crate::shard::OrderFile;
use engine::{FlowHead, FlowId, FlowRecord, Placement, Sink};

/// One line of the conflicts file.
#[derive(Debug, Serialize)]
pub struct ConflictLine {
    /// Flow id.
    pub flow: u64,
    /// `"c2s"` or `"s2c"`.
    pub dir: &'static str,
    /// Stream offset of the first conflicting byte (from the direction's first byte).
    pub stream_offset: u64,
    /// Conflicting bytes.
    pub len: u64,
    /// Frame that carried the held version.
    pub old_frame: u64,
    /// Frame that carried the new version.
    pub new_frame: u64,
    /// The held version (hex, first bytes).
    pub old_bytes: String,
    /// The new version (hex, first bytes).
    pub new_bytes: String,
    /// Whether `old_bytes`/`new_bytes` hold the whole range.
    pub bytes_complete: bool,
    /// `"old"` or `"new"`: the version the stream kept.
    pub winner: &'static str,
    /// The direction's overlap policy.
    pub policy: &'static str,
    /// Why: `"policy"`, `"delivered"` or `"memory-cap"`.
    pub reason: &'static str,
    /// `"START,END"` of the new segment relative to the held one, when the
    /// policy was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
}

impl ConflictLine {
    /// The line for `c` in flow `head`.
    pub fn new(head: &FlowHead, c: &Conflict) -> ConflictLine {
        let shape = match c.reason {
            ConflictReason::Policy(o) | ConflictReason::MemoryCap(o) => {
                Some(format!("{},{}", o.start.as_str(), o.end.as_str()))
            }
            ConflictReason::Delivered => None,
        };
        ConflictLine {
            flow: head.id,
            dir: c.dir.as_str(),
            stream_offset: c.stream_offset,
            len: c.len,
            old_frame: c.old_frame,
            new_frame: c.new_frame,
            old_bytes: hex::encode(c.old_bytes.as_bytes()),
            new_bytes: hex::encode(c.new_bytes.as_bytes()),
            bytes_complete: c.len <= c.old_bytes.len() as u64,
            winner: match c.winner {
                Winner::Old => "old",
                Winner::New => "new",
            },
            policy: c.policy.name(),
            reason: c.reason.as_str(),
            shape,
        }
    }
}

/// A sink that passes everything to `inner` and writes conflicts to a file.
pub struct ConflictTee<'a> {
    inner: &'a mut dyn Sink,
    out: BufWriter<File>,
    path: std::path::PathBuf,
    /// Conflicts written.
    pub written: u64,
    /// `--shard` runs: the replay position of each line (see [`crate::shard`]).
    order: Option<OrderFile>,
    pos: u64,
}

impl<'a> ConflictTee<'a> {
    /// Create (truncate) `path` and wrap `inner`.
    pub fn create(path: &Path, inner: &'a mut dyn Sink) -> anyhow::Result<ConflictTee<'a>> {
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ConflictTee {
            inner,
            out: BufWriter::new(f),
            path: path.to_path_buf(),
            written: 0,
            order: None,
            pos: 0,
        })
    }

    /// Also write the replay position and flow of each line to `path`
    /// ([`crate::shard::CONFLICTS_ORDER`]).
    pub fn record_order(&mut self, path: &Path) -> anyhow::Result<()> {
        self.order = Some(OrderFile::create(path)?);
        Ok(())
    }

    /// Flush the file (and the order file).
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(o) = &mut self.order {
            o.finish()?;
        }
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

impl Sink for ConflictTee<'_> {
    fn wants_deliveries(&self) -> bool {
        self.inner.wants_deliveries()
    }

    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        self.inner.open(head)
    }

    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        self.inner.write(head, dir, bytes)
    }

    fn delivery(
        &mut self,
        head: &FlowHead,
        dir: Dir,
        gap: u64,
        sg: &ScatterGather<'_>,
    ) -> anyhow::Result<()> {
        self.inner.delivery(head, dir, gap, sg)
    }

    fn datagram(&mut self, head: &FlowHead, dir: Dir, frame: u64, len: u64) -> anyhow::Result<()> {
        self.inner.datagram(head, dir, frame, len)
    }

    fn conflict(&mut self, head: &FlowHead, c: &Conflict) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(&ConflictLine::new(head, c))?;
        line.push(b'\n');
        self.out
            .write_all(&line)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.written += 1;
        if let Some(o) = &mut self.order {
            o.line(&[&self.pos, &head.id])?;
        }
        self.inner.conflict(head, c)
    }

    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        self.inner.end_dir(head, dir)
    }

    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        self.inner.close(record)
    }

    fn position(&mut self, pos: u64) {
        self.pos = pos;
        self.inner.position(pos);
    }

    fn take_placement(&mut self, id: FlowId) -> Option<Box<[Placement; 2]>> {
        self.inner.take_placement(id)
    }
}

//! A [`Stream`] that records what the assembler delivers and checks, on every
//! call, the promises of the stream contract (reassembly's `stream` and
//! `scatter` modules):
//!
//! - the new bytes of a delivery start exactly where the previous delivery's
//!   new bytes ended plus the bytes it says were skipped, so no stream offset is
//!   ever delivered twice, and delivered bytes never change;
//! - bytes kept with `keep_from` come back first, unchanged;
//! - `start` is set on the first delivery of a direction only, nothing follows a
//!   delivery marked `end`, and nothing at all follows `complete`;
//! - `complete` comes exactly once, and each direction's ledger then balances
//!   with nothing buffered, its `delivered` equals the bytes handed over, its
//!   `missing` covers every skip, its `captured` equals the payload bytes of
//!   the packets `accept` took in that direction, and the completion's packet
//!   count equals the packets taken.
//!
//! The records live in the stream while the connection is open and are handed
//! to the factory (the context of every call) by `complete`, so the factory
//! and its streams are plain `Send` values, as the engine's workers need: the
//! factory learns of every connection at `new_stream` and
//! [`RecordingFactory::into_records`] fails for one that never completed.
//!
//! A broken promise panics: in a fuzz target that is the crash to report, in a
//! test it is the failure.

use pcapread::Segment;
use reassembly::{
    Accept, AcceptInfo, Completion, Conflict, Dir, Ledger, ScatterGather, Skipped, Stream,
    StreamFactory, StreamInfo,
};

/// What one direction of a connection received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirRecord {
    /// Every new byte delivered, in order (gaps left out, kept bytes once).
    pub bytes: Vec<u8>,
    /// Stream offset just past the last new byte delivered (`None` before the first delivery).
    pub end_offset: Option<u64>,
    /// Sum of the skips reported before deliveries.
    pub skipped: u64,
    /// Deliveries received.
    pub deliveries: u64,
    /// Whether a delivery marked the end of the direction.
    pub ended: bool,
    /// Conflicts reported for this direction.
    pub conflicts: u64,
    /// Packets of this direction offered to `accept`.
    pub offered: u64,
    /// Packets of this direction `accept` took (did not drop).
    pub taken: u64,
    /// Payload bytes of the packets taken.
    pub taken_payload: u64,
    /// The previous delivery's bytes from its `keep_from` offset on (what must come back).
    kept: Vec<u8>,
}

/// Everything one connection received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLog {
    /// What the factory was told.
    pub info: StreamInfo,
    /// Client-to-server and server-to-client records.
    pub dirs: [DirRecord; 2],
    /// The completion, once it came.
    pub completion: Option<Completion>,
    /// Which deliveries keep bytes: every `keep_every`-th one keeps its last `keep_len` bytes.
    keep: Option<(u64, usize)>,
}

impl ConnLog {
    /// The record of one direction.
    pub fn dir(&self, dir: Dir) -> &DirRecord {
        match dir {
            Dir::ClientToServer => &self.dirs[0],
            Dir::ServerToClient => &self.dirs[1],
        }
    }
}

fn index(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

/// The checking stream handed out by [`RecordingFactory`].
#[derive(Debug)]
pub struct Recorder {
    /// Creation index of the connection in its factory.
    index: usize,
    /// The record, until `complete` hands it to the factory.
    rec: Option<ConnLog>,
}

impl Recorder {
    /// The record, while the connection is open.
    fn open(&mut self, call: &str) -> &mut ConnLog {
        match self.rec.as_mut() {
            Some(r) => r,
            None => panic!("{call} after complete"),
        }
    }
}

impl Stream for Recorder {
    type Context = RecordingFactory;

    fn accept(
        &mut self,
        segment: &Segment<'_>,
        info: &AcceptInfo,
        ctx: &mut RecordingFactory,
    ) -> Accept {
        let verdict = ctx.verdict;
        let r = self.open("accept");
        let d = &mut r.dirs[index(info.dir)];
        d.offered += 1;
        if verdict != Accept::Drop {
            d.taken += 1;
            d.taken_payload += segment.payload.len() as u64;
        }
        verdict
    }

    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, _ctx: &mut RecordingFactory) {
        let r = self.open("reassembled");
        let keep = r.keep;
        let d = &mut r.dirs[index(sg.dir())];
        assert!(!d.ended, "delivery after the end of the direction");
        let all: Vec<u8> = sg.chunks().flatten().copied().collect();
        let (len, saved) = sg.lengths();
        assert_eq!(all.len(), len, "chunks and len disagree");
        assert_eq!(sg.len(), len);
        assert_eq!(
            sg.fetch(usize::MAX).as_ref(),
            &all[..],
            "fetch and chunks disagree"
        );
        assert!(saved <= len, "saved {saved} > len {len}");
        assert!(
            len > 0 || sg.end(),
            "an empty delivery that does not end the direction"
        );
        assert_eq!(
            sg.start(),
            d.deliveries == 0,
            "start flag on delivery {}",
            d.deliveries
        );
        // Kept bytes come back unchanged (or not at all when a cap refused to keep them).
        let kept = std::mem::take(&mut d.kept);
        assert!(
            saved == 0 || saved == kept.len(),
            "{saved} bytes came back, {} were kept",
            kept.len()
        );
        assert_eq!(&all[..saved], &kept[..saved], "kept bytes changed");
        let skip = match sg.skip() {
            Skipped::None => 0,
            Skipped::Bytes(n) => {
                assert!(n > 0, "a skip of zero bytes");
                n
            }
        };
        let new_start = sg.stream_offset().checked_add(saved as u64);
        let new_start = new_start.expect("stream offset overflows");
        let expected = d.end_offset.unwrap_or(0).checked_add(skip);
        if d.end_offset.is_some() {
            assert_eq!(
                Some(new_start),
                expected,
                "new bytes at {new_start}, previous delivery ended at {:?}, skip {skip}",
                d.end_offset
            );
        } else {
            // The first delivery: whatever precedes it was skipped.
            assert!(
                new_start >= skip,
                "first delivery at {new_start} after a skip of {skip}"
            );
        }
        let new = &all[saved..];
        d.bytes.extend_from_slice(new);
        d.end_offset = Some(new_start + new.len() as u64);
        d.skipped += skip;
        d.deliveries += 1;
        d.ended = sg.end();
        if let Some((every, keep_len)) = keep {
            if !sg.end() && every > 0 && d.deliveries % every == 0 && len > 0 {
                let from = len.saturating_sub(keep_len);
                sg.keep_from(from);
                d.kept = all[from..].to_vec();
            }
        }
    }

    fn conflict(&mut self, c: &Conflict, _ctx: &mut RecordingFactory) {
        let r = self.open("conflict");
        assert!(c.len > 0, "a conflict of no bytes: {c:?}");
        r.dirs[index(c.dir)].conflicts += 1;
    }

    fn complete(&mut self, c: &Completion, ctx: &mut RecordingFactory) {
        let mut r = self.rec.take().expect("complete called twice");
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            let d = &r.dirs[index(dir)];
            check_final_ledger(c.ledger(dir), d, dir);
            assert_eq!(
                c.packets[index(dir)],
                d.taken,
                "{}: completion counts {} packets, accept took {}",
                dir.as_str(),
                c.packets[index(dir)],
                d.taken
            );
        }
        r.completion = Some(c.clone());
        let slot = &mut ctx.completed[self.index];
        assert!(slot.is_none(), "a connection completed twice");
        *slot = Some(r);
    }
}

/// The ledger of a finished direction against what its stream received.
fn check_final_ledger(l: &Ledger, d: &DirRecord, dir: Dir) {
    let dir = dir.as_str();
    assert_eq!(
        l.buffered, 0,
        "{dir}: bytes still buffered at completion: {l:?}"
    );
    assert!(l.balanced(), "{dir}: ledger does not balance: {l:?}");
    assert_eq!(
        l.captured, d.taken_payload,
        "{dir}: ledger says captured {}, the packets accept took carry {} payload bytes",
        l.captured, d.taken_payload
    );
    assert_eq!(
        l.delivered,
        d.bytes.len() as u64,
        "{dir}: ledger says delivered {}, the stream received {}",
        l.delivered,
        d.bytes.len()
    );
    assert_eq!(
        l.conflicts, d.conflicts,
        "{dir}: ledger counts {} conflicts, the stream was told of {}",
        l.conflicts, d.conflicts
    );
    let listed: u64 = l.gaps.iter().map(|g| g.len).sum();
    assert!(
        listed <= l.missing,
        "{dir}: gaps list {listed} > missing {}",
        l.missing
    );
    if l.gaps_unlisted == 0 {
        assert_eq!(
            listed, l.missing,
            "{dir}: gaps {:?} vs missing {}",
            l.gaps, l.missing
        );
    }
    for w in l.gaps.windows(2) {
        assert!(
            w[0].offset + w[0].len <= w[1].offset,
            "{dir}: gaps out of order or overlapping: {:?}",
            l.gaps
        );
    }
    assert!(
        d.skipped <= l.missing,
        "{dir}: the stream was told of {} skipped bytes, the ledger has {} missing",
        d.skipped,
        l.missing
    );
}

/// Creates [`Recorder`]s and keeps the records of the connections that
/// completed. A plain value (no shared cells): the engine runs one per worker.
#[derive(Debug)]
pub struct RecordingFactory {
    /// What each connection was told at creation, in creation order.
    pub created: Vec<StreamInfo>,
    /// Each connection's record once it completed, in creation order
    /// (`None` while it is open).
    pub completed: Vec<Option<ConnLog>>,
    /// What `accept` answers (for every stream; a driver may change it per
    /// packet through [`reassembly::Assembler::factory_mut`]).
    pub verdict: Accept,
    keep: Option<(u64, usize)>,
}

impl RecordingFactory {
    /// A factory whose streams take every packet and keep nothing.
    pub fn new() -> RecordingFactory {
        RecordingFactory {
            created: Vec::new(),
            completed: Vec::new(),
            verdict: Accept::Take,
            keep: None,
        }
    }

    /// Streams will keep the last `len` bytes of every `every`-th delivery of a direction.
    pub fn keeping(mut self, every: u64, len: usize) -> RecordingFactory {
        self.keep = (every > 0).then_some((every, len));
        self
    }

    /// Every connection's record, in creation order. Panics when a
    /// connection never completed: `complete` must come exactly once.
    pub fn into_records(self) -> Vec<ConnLog> {
        self.completed
            .into_iter()
            .zip(&self.created)
            .map(|(r, info)| {
                r.unwrap_or_else(|| {
                    panic!(
                        "connection {} (first frame {}) never completed",
                        info.client, info.first_frame
                    )
                })
            })
            .collect()
    }
}

impl Default for RecordingFactory {
    fn default() -> Self {
        RecordingFactory::new()
    }
}

impl StreamFactory for RecordingFactory {
    type Stream = Recorder;

    fn new_stream(&mut self, info: &StreamInfo) -> Recorder {
        let index = self.created.len();
        self.created.push(*info);
        self.completed.push(None);
        Recorder {
            index,
            rec: Some(ConnLog {
                info: *info,
                dirs: Default::default(),
                completion: None,
                keep: self.keep,
            }),
        }
    }
}

//! Sinks that need one global order (a packed file, clash-numbered names, a
//! conflicts file): the workers record what the sink must be told as
//! [`Event`]s, and the reading thread replays every worker's events of a
//! batch into the real [`Sink`] in (position, flow id) order.
//!
//! A position is the place in the input that caused a call: a tick counts
//! just before its frame, a packet at its frame, the end of input after
//! everything. A flow's events depend only on its own packets and on the
//! ticks, and a flow lives on one worker, so the replayed order is a
//! function of the input alone: the sink sees the same calls for any number
//! of workers.
//!
//! Bytes still in the memory-mapped capture or in the batch's arena are
//! recorded as ranges there (replayed without a copy); only bytes from the
//! assembler's pages and zero fill are copied into the log.

use std::collections::HashMap;
use std::ops::Range;

use reassembly::{Conflict, Dir};

use crate::flow::{FlowHead, FlowId, FlowRecord};
use crate::sink::Sink;
use crate::sink_stream::Out;
use crate::spill::RecordStore;

/// What the sink must be told, as recorded by a worker.
#[derive(Debug)]
enum What {
    Open(Box<FlowHead>),
    /// Bytes copied into the worker's log (queued data, zero fill).
    Write(Dir, Range<usize>),
    /// Bytes still in the memory-mapped capture (in-order data, no copy).
    WriteMapped(Dir, Range<usize>),
    /// Bytes in the batch's arena (in-order data of copied input).
    WriteArena(Dir, Range<usize>),
    /// A UDP datagram's boundary: frame, length.
    Datagram(Dir, u64, u64),
    EndDir(Dir),
    Idle,
    Conflict(Box<Conflict>),
    Close(Box<FlowRecord>),
}

/// One recorded sink call: `pos` orders calls across workers.
#[derive(Debug)]
struct Event {
    pos: u64,
    flow: FlowId,
    what: What,
}

/// Events of one worker for one batch, with the bytes their writes refer to.
#[derive(Debug, Default)]
pub(crate) struct Log {
    events: Vec<Event>,
    bytes: Vec<u8>,
}

/// The sink a worker's streams write into in replay mode.
pub(crate) struct EventLog {
    log: Log,
    pos: u64,
    /// Address range of the memory-mapped capture, if any.
    map: Option<(usize, usize)>,
    /// Address range of the current batch's arena.
    arena: (usize, usize),
}

/// `bytes` as a range of the region starting at `base` with `len` bytes, if inside.
fn within(bytes: &[u8], (base, len): (usize, usize)) -> Option<Range<usize>> {
    let p = bytes.as_ptr() as usize;
    let start = p.checked_sub(base)?;
    let end = start.checked_add(bytes.len())?;
    (end <= len && !bytes.is_empty()).then_some(start..end)
}

impl EventLog {
    /// A log for a run whose frames may borrow `map`.
    pub(crate) fn new(map: &[u8]) -> EventLog {
        EventLog {
            log: Log::default(),
            pos: 0,
            map: (!map.is_empty()).then_some((map.as_ptr() as usize, map.len())),
            arena: (0, 0),
        }
    }

    fn push(&mut self, flow: FlowId, what: What) {
        self.log.events.push(Event {
            pos: self.pos,
            flow,
            what,
        });
    }
}

impl Out for EventLog {
    type Harvest = Log;

    fn at(&mut self, pos: u64) {
        self.pos = pos;
    }

    fn harvest(&mut self) -> Log {
        std::mem::take(&mut self.log)
    }

    fn batch_arena(&mut self, arena: &[u8]) {
        self.arena = (arena.as_ptr() as usize, arena.len());
    }
}

// `delivery` keeps the trait's no-op: a sink that wants deliveries runs on
// one worker that calls it directly, so there is nothing to replay.
impl Sink for EventLog {
    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        self.push(head.id, What::Open(Box::new(head.clone())));
        Ok(())
    }

    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        if let Some(r) = self.map.and_then(|m| within(bytes, m)) {
            self.push(head.id, What::WriteMapped(dir, r));
            return Ok(());
        }
        if let Some(r) = within(bytes, self.arena) {
            self.push(head.id, What::WriteArena(dir, r));
            return Ok(());
        }
        let start = self.log.bytes.len();
        self.log.bytes.extend_from_slice(bytes);
        let range = start..self.log.bytes.len();
        self.push(head.id, What::Write(dir, range));
        Ok(())
    }

    fn datagram(&mut self, head: &FlowHead, dir: Dir, frame: u64, len: u64) -> anyhow::Result<()> {
        self.push(head.id, What::Datagram(dir, frame, len));
        Ok(())
    }

    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        self.push(head.id, What::EndDir(dir));
        Ok(())
    }

    fn conflict(&mut self, head: &FlowHead, conflict: &Conflict) -> anyhow::Result<()> {
        self.push(head.id, What::Conflict(Box::new(*conflict)));
        Ok(())
    }

    fn idle(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        self.push(head.id, What::Idle);
        Ok(())
    }

    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        self.push(record.head.id, What::Close(Box::new(record.clone())));
        Ok(())
    }
}

/// Replays recorded events into the real sink in (position, flow) order and
/// keeps the flow records.
pub(crate) struct Replay<'a, 'm> {
    pub(crate) sink: &'a mut dyn Sink,
    /// The memory-mapped capture (empty when there is none).
    map: &'m [u8],
    heads: HashMap<FlowId, FlowHead>,
    pub(crate) records: RecordStore,
}

impl<'a, 'm> Replay<'a, 'm> {
    /// Replays into `sink`; frames may borrow `map`.
    pub(crate) fn new(sink: &'a mut dyn Sink, map: &'m [u8], records: RecordStore) -> Self {
        Replay {
            sink,
            map,
            heads: HashMap::new(),
            records,
        }
    }

    /// Replay one batch's logs (in worker order); `arena` is the arena of the
    /// batch they refer to.
    pub(crate) fn apply(&mut self, logs: Vec<Log>, arena: &[u8]) -> anyhow::Result<()> {
        // (position, flow, worker, index within the worker's log): a flow's own
        // events keep their order because a flow lives in one worker.
        let mut order: Vec<(u64, FlowId, usize, usize)> = Vec::new();
        for (w, log) in logs.iter().enumerate() {
            order.extend(
                log.events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.pos, e.flow, w, i)),
            );
        }
        order.sort_unstable();
        let mut logs: Vec<(Vec<Option<Event>>, Vec<u8>)> = logs
            .into_iter()
            .map(|l| (l.events.into_iter().map(Some).collect(), l.bytes))
            .collect();
        let mut told = None;
        for (pos, _, w, i) in order {
            if told != Some(pos) {
                self.sink.position(pos);
                told = Some(pos);
            }
            let (events, bytes) = &mut logs[w];
            let e = events[i]
                .take()
                .expect("each event index is listed once in the order");
            let head = self.heads.get(&e.flow);
            match e.what {
                What::Open(head) => {
                    self.sink.open(&head)?;
                    self.heads.insert(head.id, *head);
                }
                What::Write(dir, r) => {
                    let head = head.expect("a flow is opened before its writes");
                    let b = bytes.get(r).expect("a copied write lies in its log");
                    self.sink.write(head, dir, b)?;
                }
                What::WriteMapped(dir, r) => {
                    let head = head.expect("a flow is opened before its writes");
                    let b = self.map.get(r).expect("a mapped write lies in the map");
                    self.sink.write(head, dir, b)?;
                }
                What::WriteArena(dir, r) => {
                    let head = head.expect("a flow is opened before its writes");
                    let b = arena
                        .get(r)
                        .expect("an arena write lies in its batch's arena");
                    self.sink.write(head, dir, b)?;
                }
                What::Datagram(dir, frame, len) => {
                    let head = head.expect("a flow is opened before its datagrams");
                    self.sink.datagram(head, dir, frame, len)?;
                }
                What::EndDir(dir) => {
                    let head = head.expect("a flow is opened before it ends");
                    self.sink.end_dir(head, dir)?;
                }
                What::Idle => {
                    let head = head.expect("a flow is opened before it goes quiet");
                    self.sink.idle(head)?;
                }
                What::Conflict(c) => {
                    let head = head.expect("a flow is opened before its conflicts");
                    self.sink.conflict(head, &c)?;
                }
                What::Close(mut record) => {
                    self.sink.close(&record)?;
                    self.heads.remove(&e.flow);
                    record.placed = self.sink.take_placement(record.head.id);
                    self.records.push(*record)?;
                }
            }
        }
        Ok(())
    }
}

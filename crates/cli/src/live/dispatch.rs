//! Software flow hashing: one rx queue, N assembler workers.
//!
//! Used when `--queues N > 1` but the port cannot spread packets by a
//! symmetric RSS hash. The queue's worker becomes a dispatcher:
//! - it decodes each frame with a decoder that defers IP fragments
//!   ([`DecoderConfig::defer_fragments`]) and sends the frame (copied, so the
//!   mbuf is freed at once) to shard `FlowKey::shard(N)` of its flow, where
//!   a [`FramePipeline`] decodes and assembles it again;
//! - deferred fragments go through the dispatcher's one defragmenting
//!   decoder, so all fragments of a datagram meet in one table whatever
//!   their flow; a completed datagram is sent as a segment to its flow's shard;
//! - housekeeping ticks are decided on every frame's time, exactly where
//!   `extract` decides them, and sent to every shard in sequence with the
//!   frames, so each shard's assembler flushes and expires at the same points
//!   of its own packet sequence as the single assembler of `extract`;
//! - the `--filter` program runs here, on every frame, before decoding.
//!
//! Frames travel in batches (one per shard, sent when full and at the end
//! of every poll) over bounded channels: a slow shard blocks the dispatcher,
//! the rx ring fills, and the port counts the drops as `missed`.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use anyhow::Context as _;
use pcapread::{DecodeStats, Decoder, DecoderConfig, Frame, LinkType, Segment, Skip};

use super::worker::FrameSink;
use crate::engine::{tick_due, EngineOptions, FramePipeline, PipelineSummary};
use crate::filter::BpfFilter;
use crate::sink::Sink;

/// Items per batch before it is sent.
const BATCH: usize = 64;
/// Batches queued per shard before the dispatcher waits.
const QUEUED: usize = 64;

/// One item of a batch; byte ranges point into the batch's buffer.
enum Item {
    Frame {
        number: u64,
        ts: u64,
        origlen: u32,
        data: Range<usize>,
    },
    /// A datagram rebuilt from fragments (rare: boxed, the segment is large).
    Segment {
        seg: Box<Segment<'static>>,
        payload: Range<usize>,
    },
    Tick(u64),
}

/// Items (frames, defragmented segments, ticks) for one shard and the
/// bytes they point into.
#[derive(Default)]
pub struct Batch {
    bytes: Vec<u8>,
    items: Vec<Item>,
}

impl Batch {
    fn push_bytes(&mut self, data: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        start..self.bytes.len()
    }
}

/// The dispatcher: the [`FrameSink`] of the single rx queue.
pub struct Dispatcher {
    filter: Option<BpfFilter>,
    peek: Decoder,
    defrag: Decoder,
    senders: Vec<SyncSender<Batch>>,
    batches: Vec<Batch>,
    tick: u64,
    next_tick: u64,
    frames: u64,
    filtered_out: u64,
}

/// What the dispatcher counted itself (shards count the rest).
#[derive(Debug, Clone)]
pub struct DispatchCounts {
    /// Frames seen.
    pub frames: u64,
    /// Frames the filter rejected.
    pub filtered_out: u64,
    /// Decoder counters for every frame (fragments as the defragmenter saw them).
    pub decode: DecodeStats,
}

impl Dispatcher {
    /// A dispatcher for `shards` workers; returns it with each worker's receiver.
    pub fn new(
        opts: &EngineOptions,
        shards: usize,
    ) -> anyhow::Result<(Self, Vec<Receiver<Batch>>)> {
        let mut filter = opts.filter.as_deref().map(BpfFilter::new);
        if let Some(f) = &mut filter {
            f.prepare(LinkType::ETHERNET)?;
        }
        let (senders, receivers) = (0..shards.max(1)).map(|_| sync_channel(QUEUED)).unzip();
        let dispatcher = Dispatcher {
            filter,
            peek: Decoder::new(DecoderConfig {
                defer_fragments: true,
                ..opts.decoder
            }),
            defrag: Decoder::new(opts.decoder),
            senders,
            batches: (0..shards.max(1)).map(|_| Batch::default()).collect(),
            tick: opts.housekeeping.tick,
            next_tick: 0,
            frames: 0,
            filtered_out: 0,
        };
        Ok((dispatcher, receivers))
    }

    fn send(&mut self, shard: usize) -> anyhow::Result<()> {
        if let (Some(batch), Some(tx)) = (self.batches.get_mut(shard), self.senders.get(shard)) {
            if !batch.items.is_empty() {
                tx.send(std::mem::take(batch))
                    .ok()
                    .context("an assembler worker stopped")?;
            }
        }
        Ok(())
    }

    fn send_all(&mut self) -> anyhow::Result<()> {
        (0..self.batches.len()).try_for_each(|i| self.send(i))
    }

    fn item(&mut self, shard: usize, item: Item) -> anyhow::Result<()> {
        if let Some(batch) = self.batches.get_mut(shard) {
            batch.items.push(item);
            if batch.items.len() >= BATCH {
                self.send(shard)?;
            }
        }
        Ok(())
    }

    fn ticks_to(&mut self, ts: u64) -> anyhow::Result<()> {
        if let Some(now) = tick_due(ts, &mut self.next_tick, self.tick) {
            for shard in 0..self.batches.len() {
                self.item(shard, Item::Tick(now))?;
            }
        }
        Ok(())
    }

    /// Sends what is left and closes the channels (the shards then finish);
    /// returns the dispatcher's own counts. A shard that stopped early (an
    /// output error, a panic) gets nothing more: it says why when joined.
    pub fn finish(mut self) -> DispatchCounts {
        for i in 0..self.batches.len() {
            let _ = self.send(i);
        }
        self.senders.clear();
        let decode = self.peek.stats().with_deferred(&self.defrag.stats());
        DispatchCounts {
            frames: self.frames,
            filtered_out: self.filtered_out,
            decode,
        }
    }
}

impl FrameSink for Dispatcher {
    fn frame(&mut self, frame: &Frame<'_>) -> anyhow::Result<()> {
        self.frames += 1;
        self.ticks_to(frame.ts)?;
        if let Some(f) = &mut self.filter {
            if !f.matches(frame.link_type, frame.data)? {
                self.filtered_out += 1;
                return Ok(());
            }
        }
        let shards = self.batches.len();
        // Time out pending datagrams on every frame, as one decoder of all
        // frames would (the capture's clock may step back).
        self.defrag.expire(frame.ts);
        let shard = match self.peek.decode(frame) {
            Ok(seg) => seg.tuple.canonical().0.shard(shards),
            Err(Skip::FragmentDeferred) => {
                let Ok(seg) = self.defrag.decode(frame) else {
                    return Ok(());
                };
                let shard = seg.tuple.canonical().0.shard(shards);
                let Some(batch) = self.batches.get_mut(shard) else {
                    return Ok(());
                };
                let payload = batch.push_bytes(seg.payload);
                let seg = Box::new(Segment {
                    frame: seg.frame,
                    ts: seg.ts,
                    tuple: seg.tuple,
                    transport: seg.transport,
                    payload: &[],
                    truncated: seg.truncated,
                    encap: seg.encap,
                    defragmented: seg.defragmented,
                });
                return self.item(shard, Item::Segment { seg, payload });
            }
            // Nothing to assemble; the decoder counted why.
            Err(_) => return Ok(()),
        };
        let Some(batch) = self.batches.get_mut(shard) else {
            return Ok(());
        };
        let data = batch.push_bytes(frame.data);
        let item = Item::Frame {
            number: frame.number,
            ts: frame.ts,
            origlen: frame.origlen,
            data,
        };
        self.item(shard, item)
    }

    fn advance(&mut self, now: u64) -> anyhow::Result<()> {
        self.ticks_to(now)?;
        self.send_all()
    }

    fn burst_end(&mut self) -> anyhow::Result<()> {
        self.send_all()
    }
}

/// One shard: replays its batches into a pipeline until the dispatcher
/// closes the channel, then flushes. `opts` must be the dispatcher's.
///
/// An output error (a full disk) stops the shard; it is returned beside the
/// records of the flows closed before it. When `failed` says another
/// pipeline sharing the sink met one, open flows are not completed either.
pub fn shard(
    opts: &EngineOptions,
    sink: &mut dyn Sink,
    batches: Receiver<Batch>,
    failed: &AtomicBool,
) -> anyhow::Result<(PipelineSummary, Option<anyhow::Error>)> {
    // The dispatcher filtered already; the shard never sees fragments.
    let opts = EngineOptions {
        filter: None,
        ..opts.clone()
    };
    let mut pipeline = FramePipeline::new(&opts, LinkType::ETHERNET, sink)?.with_external_ticks();
    for batch in batches {
        for item in batch.items {
            let fed = match item {
                Item::Frame {
                    number,
                    ts,
                    origlen,
                    data,
                } => {
                    let data = batch.bytes.get(data).unwrap_or_default();
                    let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
                    pipeline.frame(&Frame {
                        number,
                        input: 0,
                        file_offset: 0,
                        ts,
                        caplen,
                        origlen,
                        link_type: LinkType::ETHERNET,
                        data,
                    })
                }
                Item::Segment { seg, payload } => {
                    let payload = batch.bytes.get(payload).unwrap_or_default();
                    pipeline.segment(&Segment { payload, ..*seg })
                }
                Item::Tick(now) => {
                    pipeline.tick(now);
                    Ok(())
                }
            };
            if let Err(e) = fed {
                return Ok((pipeline.abandon(), Some(e)));
            }
        }
    }
    if failed.load(Ordering::Relaxed) {
        return Ok((pipeline.abandon(), None));
    }
    Ok(pipeline.finish_partial())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testpkt::{ipv4, udp};

    fn frame(number: u64, secs: u64, data: &[u8]) -> Frame<'_> {
        Frame {
            number,
            input: 0,
            file_offset: 0,
            ts: secs * 1_000_000_000,
            caplen: data.len() as u32,
            origlen: data.len() as u32,
            link_type: LinkType::IPV4,
            data,
        }
    }

    /// Rebuilt datagrams the shards were sent.
    fn rebuilt(receivers: &[Receiver<Batch>]) -> usize {
        receivers
            .iter()
            .flat_map(|r| r.try_iter())
            .flat_map(|b| b.items)
            .filter(|i| matches!(i, Item::Segment { .. }))
            .count()
    }

    /// A datagram's first fragment at 10 s, a frame at 55 s, its last
    /// fragment at 27 s (the clock stepped back): one decoder of every frame
    /// timed the first fragment out at 55 s, so nothing is rebuilt; without
    /// the frame at 55 s it is.
    #[test]
    fn fragments_time_out_on_every_frame_time() {
        let l4 = udp(1000, &[7; 24]);
        let first = ipv4(1, 0, true, &l4[..16], 2);
        let last = ipv4(1, 16, false, &l4[16..], 2);
        let other = ipv4(2, 0, false, &udp(2000, &[1; 8]), 3);
        for (late_frame, want) in [(true, 0), (false, 1)] {
            let opts = EngineOptions::new(Vec::new());
            let (mut d, receivers) = Dispatcher::new(&opts, 2).unwrap();
            d.frame(&frame(1, 10, &first)).unwrap();
            if late_frame {
                d.frame(&frame(2, 55, &other)).unwrap();
            }
            d.frame(&frame(3, 27, &last)).unwrap();
            let counts = d.finish();
            assert_eq!(rebuilt(&receivers), want, "frame at 55 s: {late_frame}");
            assert_eq!(counts.decode.defragmented, want as u64);
        }
    }
}

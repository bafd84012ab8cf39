//! Batches of frames, and how the workers decode them together.
//!
//! The reading thread only walks the input: it cuts [`Batch`]es of up to
//! [`BATCH`] raw frames (those the filter lets through) with the housekeeping
//! ticks that fall between them. Each batch is then made ready for the
//! assemblers in two steps:
//!
//! 1. **Decode, in parallel.** The frames are split into slices of [`SLICE`].
//!    The reading thread decodes the slices it reads while the workers are
//!    busy ([`Batch::decode_read`]); rayon hands the rest to whichever pool
//!    thread is free (work stealing). Each thread decodes with its own
//!    decoder, which defers IP fragments
//!    ([`DecoderConfig::defer_fragments`]) and so keeps no state, straight
//!    into the slice's slots ([`Decoder::decode_deferring_into`]), and
//!    picks each segment's worker ([`FlowKey::shard`](pcapread::FlowKey::shard),
//!    remembered for recent IPv4 flows).
//! 2. **Defragment, in order.** The deferred fragments of the whole batch go,
//!    in frame order, through the one defragmenting decoder of the run
//!    ([`Defrag`]); batch `n` is defragmented after batch `n - 1`. Before each
//!    fragment that decoder is told the latest time of the frames since the
//!    previous fragment ([`Decoder::expire`]), so datagrams time out exactly
//!    as with one decoder of every frame.
//!
//! Then worker `w` takes the segments of its shard in frame order
//! ([`Batch::for_shard`]). The result is the same as decoding every frame in
//! order on one thread, whatever the number of workers and however the
//! slices were shared out.

use std::net::{SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use pcapread::{DecodeStats, Decoder, DecoderConfig, FiveTuple, Frame, Proto, Segment, Skip};

use crate::shard::Shard;

/// Most frames per batch. Every batch ends in one synchronisation of the
/// workers, so larger batches run a little faster and hold more memory: on
/// the bulk harness capture, `flows --no-digest -t2` took 0.94 s with 4096
/// frames against 1.01-1.05 s with 1024 (the build before the engine
/// crate: 0.88-0.90 s), but peak anonymous memory rose 3.5 MiB there and
/// 8-15 MiB on the 500k-flow capture. 1024 keeps memory where it was.
pub const BATCH: usize = 1024;

/// Most bytes of copied frames (input that is not memory-mapped) per batch.
pub const BATCH_BYTES: usize = 2 << 20;

/// Frames a worker decodes at a time.
pub const SLICE: usize = 128;

/// A housekeeping round due just before frame `frame`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tick {
    pub(crate) frame: u64,
    pub(crate) now: u64,
}

/// A frame as read: its bytes are borrowed from the memory map (`frame.data`),
/// or copied into the batch's arena (`arena`, with `frame.data` empty).
struct RawFrame<'m> {
    frame: Frame<'m>,
    arena: Option<Range<usize>>,
}

/// One decoded segment; its payload is borrowed from the memory map
/// (`seg.payload`) or lies at `arena` in the arena of what holds the item
/// (the batch for a decoded frame, [`Defragged`] for a rebuilt datagram).
pub(crate) struct Item<'m> {
    pub(crate) seg: Segment<'m>,
    pub(crate) arena: Option<Range<usize>>,
    shard: u32,
}

impl Item<'_> {
    /// A slot to decode into.
    fn blank() -> Self {
        Item {
            seg: Segment::default(),
            arena: None,
            shard: 0,
        }
    }
}

/// What decoding one slice gave.
#[derive(Default)]
struct Decoded<'m> {
    /// Slots the segments are decoded into, in place (a segment is a few
    /// hundred bytes; building each on the stack and pushing it cost three
    /// copies): the first `len` hold the slice's segments, the rest whatever
    /// an earlier slice left there.
    slots: Vec<Item<'m>>,
    len: usize,
    /// Indexes (in the batch) of the frames that hold IP fragments.
    deferred: Vec<usize>,
}

impl<'m> Decoded<'m> {
    /// The slice's segments, in frame order.
    fn items(&self) -> &[Item<'m>] {
        self.slots.get(..self.len).unwrap_or(&[])
    }
}

/// The segments rebuilt from the fragments of one batch.
#[derive(Default)]
struct Defragged<'m> {
    items: Vec<Item<'m>>,
    arena: Vec<u8>,
}

/// A worker's decoder: it defers fragments, so it holds no state but counts.
pub(crate) struct Decoding {
    decoder: Decoder,
    route: Route,
}

/// Segments decoded but not reassembled.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// UDP datagrams dropped because UDP was not asked for.
    pub(crate) udp_ignored: u64,
    /// Segments of flows the flow selector did not select.
    pub(crate) deselected: u64,
    /// Segments of flows in other shards (`--shard`).
    pub(crate) other_shard: u64,
}

impl Dropped {
    fn add(&mut self, o: &Dropped) {
        self.udp_ignored += o.udp_ignored;
        self.deselected += o.deselected;
        self.other_shard += o.other_shard;
    }
}

/// Which worker a decoded segment goes to, if any: UDP only when asked
/// for, the flows the flow selector selects, and the run's shard's flows.
struct Route {
    workers: usize,
    udp: bool,
    /// The flow selector ([`crate::EngineOptions::flows`]).
    #[cfg(feature = "bpf")]
    flows: Option<crate::flow_filter::FlowFilter>,
    shard: Option<Shard>,
    dropped: Dropped,
    /// The workers of recently seen flows (see [`Workers`]).
    workers_of: Workers,
}

/// The worker of recently seen IPv4 flows, by their key packed in 97 bits:
/// [`FlowKey::shard`](pcapread::FlowKey::shard) hashes with SipHash (with
/// the key, 4% of `flows --no-digest -t2`'s CPU on the bulk capture), and
/// a run has far fewer flows active at a time than packets (on the bulk
/// harness capture, 97% of packets belong to one of the 256 flows seen
/// last). A slot per hash of the packed key; a later flow takes it over.
struct Workers {
    /// Workers of the run.
    workers: usize,
    slots: Box<[(u128, u32)]>,
}

/// Slots of [`Workers`] (a power of two).
const WORKER_SLOTS: usize = 512;

impl Workers {
    fn new(workers: usize) -> Workers {
        Workers {
            workers,
            slots: vec![(0, 0); WORKER_SLOTS].into_boxed_slice(),
        }
    }

    /// The flow of `t` packed in 97 bits, if both endpoints are IPv4: the
    /// lower endpoint (address, then port; as [`FiveTuple::canonical`]
    /// orders them) and the higher one in 48 bits each, whether it is UDP,
    /// and bit 96 set, so that no flow packs to 0, the empty slot.
    fn packed(t: &FiveTuple) -> Option<u128> {
        let (SocketAddr::V4(a), SocketAddr::V4(b)) = (&t.src, &t.dst) else {
            return None;
        };
        let word = |e: &SocketAddrV4| u128::from(e.ip().to_bits()) << 16 | u128::from(e.port());
        let (a, b) = (word(a), word(b));
        let udp = u128::from(t.proto == Proto::Udp);
        Some(1 << 96 | udp << 97 | a.min(b) << 48 | a.max(b))
    }

    /// The worker of the flow of `t`: `t.canonical().0.shard(workers)`.
    fn of(&mut self, t: &FiveTuple) -> u32 {
        let workers = self.workers;
        let shard = || t.canonical().0.shard(workers) as u32;
        let Some(packed) = Self::packed(t) else {
            return shard();
        };
        let folded = (packed as u64) ^ ((packed >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let i = (folded.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 55) as usize % WORKER_SLOTS;
        match self.slots.get_mut(i) {
            Some((k, w)) if *k == packed => *w,
            Some(slot) => {
                let w = shard();
                *slot = (packed, w);
                w
            }
            None => shard(),
        }
    }
}

impl Route {
    /// The worker of `seg` among `workers`; `None` (and counted) for UDP
    /// unless `udp`, for a flow the selector does not select, and for a
    /// flow of another shard. The selector comes before the shard, so
    /// every shard counts the same deselected segments.
    fn of(&mut self, seg: &Segment<'_>) -> Option<u32> {
        if !self.udp && seg.tuple.proto == Proto::Udp {
            self.dropped.udp_ignored += 1;
            return None;
        }
        #[cfg(feature = "bpf")]
        if let Some(f) = &self.flows {
            if !f.matches(&seg.tuple) {
                self.dropped.deselected += 1;
                return None;
            }
        }
        if self.workers == 1 && self.shard.is_none() {
            // One worker and no shard: nothing to hash.
            return Some(0);
        }
        let Some(shard) = self.shard else {
            return Some(self.workers_of.of(&seg.tuple));
        };
        let key = seg.tuple.canonical().0;
        if !shard.holds(&key) {
            self.dropped.other_shard += 1;
            return None;
        }
        Some(key.shard(self.workers) as u32)
    }
}

impl Decoding {
    /// A decoder for `workers` shards; UDP is kept when `udp`.
    pub(crate) fn new(config: DecoderConfig, workers: usize, udp: bool) -> Decoding {
        Decoding {
            decoder: Decoder::new(DecoderConfig {
                defer_fragments: true,
                ..config
            }),
            route: Route {
                workers,
                udp,
                #[cfg(feature = "bpf")]
                flows: None,
                shard: None,
                dropped: Dropped::default(),
                workers_of: Workers::new(workers),
            },
        }
    }

    /// This decoder, keeping only the segments of the flows `flows` selects.
    #[cfg(feature = "bpf")]
    pub(crate) fn selecting(mut self, flows: Option<crate::flow_filter::FlowFilter>) -> Decoding {
        self.route.flows = flows;
        self
    }

    /// This decoder keeping only the flows of `shard` (all when `None`).
    pub(crate) fn with_shard(mut self, shard: Option<Shard>) -> Decoding {
        self.route.shard = shard;
        self
    }

    /// The decoder's counters (deferred fragments counted as such) and the
    /// segments dropped.
    pub(crate) fn counts(&self) -> (DecodeStats, Dropped) {
        (self.decoder.stats(), self.route.dropped)
    }
}

/// The run's one defragmenting decoder, fed the deferred fragments in order.
pub(crate) struct Defrag {
    decoding: Decoding,
    /// Latest time of the frames after the last fragment decoded.
    since_ts: u64,
}

impl Defrag {
    /// A defragmenter for `workers` shards; UDP is kept when `udp`.
    pub(crate) fn new(config: DecoderConfig, workers: usize, udp: bool) -> Defrag {
        let mut decoding = Decoding::new(config, workers, udp);
        decoding.decoder = Decoder::new(DecoderConfig {
            defer_fragments: false,
            ..config
        });
        Defrag {
            decoding,
            since_ts: 0,
        }
    }

    /// This defragmenter, keeping only the segments of the flows `flows` selects.
    #[cfg(feature = "bpf")]
    pub(crate) fn selecting(mut self, flows: Option<crate::flow_filter::FlowFilter>) -> Defrag {
        self.decoding.route.flows = flows;
        self
    }

    /// This defragmenter keeping only the flows of `shard` (all when `None`):
    /// datagrams are rebuilt first, so a fragmented flow lands in one shard.
    pub(crate) fn with_shard(mut self, shard: Option<Shard>) -> Defrag {
        self.decoding.route.shard = shard;
        self
    }

    /// The counters of the workers' decoders combined with this one's: what
    /// one decoder of every frame would have counted; and the segments
    /// dropped.
    pub(crate) fn total(&self, workers: &[(DecodeStats, Dropped)]) -> (DecodeStats, Dropped) {
        let mut stats = DecodeStats::default();
        let mut dropped = self.decoding.route.dropped;
        for (s, d) in workers {
            stats.add(s);
            dropped.add(d);
        }
        (stats.with_deferred(&self.decoding.decoder.stats()), dropped)
    }
}

/// Buffers of finished batches, for the next ones: allocating fresh ones for
/// every batch, between the assemblers' long-lived allocations, left the heap
/// fragmented (a few MiB more resident on the bulk benchmark). Slots keep
/// their length (see [`Decoded`]).
#[derive(Default)]
pub(crate) struct Spares<'m> {
    frames: Mutex<Vec<Vec<RawFrame<'m>>>>,
    slots: Mutex<Vec<Vec<Item<'m>>>>,
}

/// Spare buffers kept, of each kind.
const SPARES: usize = 64;

impl<'m> Spares<'m> {
    fn take<T>(pool: &Mutex<Vec<Vec<T>>>, capacity: usize) -> Vec<T> {
        pool.lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    fn give<T>(pool: &Mutex<Vec<Vec<T>>>, mut v: Vec<T>) {
        v.clear();
        Self::keep(pool, v);
    }

    /// Give `v` back as it is.
    fn keep<T>(pool: &Mutex<Vec<Vec<T>>>, v: Vec<T>) {
        if let Ok(mut p) = pool.lock() {
            if p.len() < SPARES {
                p.push(v);
            }
        }
    }
}

/// Raw frames and ticks, and the decoded segments once prepared.
pub(crate) struct Batch<'m> {
    frames: Vec<RawFrame<'m>>,
    /// Bytes of the frames that are not in a memory map.
    pub(crate) arena: Vec<u8>,
    pub(crate) ticks: Vec<Tick>,
    /// Latest time of the batch's frames.
    max_ts: u64,
    /// The decoded slices: a prefix while the batch is read (the slices the
    /// reading thread decoded itself), all of them once prepared.
    slices: Vec<Decoded<'m>>,
    /// The datagrams rebuilt from the batch's fragments, once defragmented.
    defragged: Defragged<'m>,
    spares: Arc<Spares<'m>>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        Spares::give(&self.spares.frames, std::mem::take(&mut self.frames));
        for d in std::mem::take(&mut self.slices) {
            Spares::keep(&self.spares.slots, d.slots);
        }
    }
}

impl<'m> Batch<'m> {
    /// An empty batch with buffers from `spares`.
    pub(crate) fn new(spares: &Arc<Spares<'m>>) -> Batch<'m> {
        Batch {
            frames: Spares::take(&spares.frames, BATCH),
            arena: Vec::new(),
            ticks: Vec::new(),
            max_ts: 0,
            slices: Vec::new(),
            defragged: Defragged::default(),
            spares: Arc::clone(spares),
        }
    }

    /// Whether the batch holds [`BATCH`] frames or [`BATCH_BYTES`] copied bytes.
    pub(crate) fn is_full(&self) -> bool {
        self.frames.len() >= BATCH || self.arena.len() >= BATCH_BYTES
    }

    /// Add a frame whose bytes are borrowed from a memory map.
    pub(crate) fn push_mapped(&mut self, frame: Frame<'m>) {
        self.max_ts = self.max_ts.max(frame.ts);
        self.frames.push(RawFrame { frame, arena: None });
    }

    /// Add a frame whose bytes are copied into the batch.
    pub(crate) fn push_copied(&mut self, frame: &Frame<'_>) {
        self.max_ts = self.max_ts.max(frame.ts);
        let start = self.arena.len();
        self.arena.extend_from_slice(frame.data);
        self.frames.push(RawFrame {
            frame: Frame {
                data: &[],
                ..*frame
            },
            arena: Some(start..self.arena.len()),
        });
    }

    /// The number of the batch's last frame (frames come in number order).
    pub(crate) fn last_frame(&self) -> Option<u64> {
        self.frames.last().map(|f| f.frame.number)
    }

    /// Add the tick due before the next frame.
    pub(crate) fn push_tick(&mut self, tick: Tick) {
        self.ticks.push(tick);
    }

    /// Whether the batch holds no frame and no tick.
    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.ticks.is_empty()
    }

    /// Decode the next slice if all its frames are in: the reading thread
    /// does this for the slice it just read while the workers are busy
    /// (its frames are still in this core's caches).
    pub(crate) fn decode_read(&mut self, dec: &mut Decoding) {
        let s = self.slices.len();
        if self.frames.len() >= (s + 1) * SLICE {
            let d = self.decode(s, dec);
            self.slices.push(d);
        }
    }

    /// Decode the batch on the calling thread with `dec`, then defragment it
    /// (see the module docs).
    pub(crate) fn prepare(&mut self, dec: &mut Decoding, defrag: &mut Defrag) {
        let slices = self.frames.len().div_ceil(SLICE);
        for s in self.slices.len()..slices {
            let d = self.decode(s, dec);
            self.slices.push(d);
        }
        self.defragged = self.defragment(defrag);
    }

    /// Decode the batch's slices not decoded yet in parallel on the current
    /// rayon pool, each with the decoder of the pool thread that runs it
    /// (`decoders[current_thread_index]`), then defragment it.
    pub(crate) fn prepare_parallel(&mut self, decoders: &[Mutex<Decoding>], defrag: &mut Defrag) {
        let slices = self.frames.len().div_ceil(SLICE);
        let this = &*self;
        let decoded: Vec<Decoded<'m>> = (self.slices.len()..slices)
            .into_par_iter()
            .map(|s| {
                let i = rayon::current_thread_index().unwrap_or(0) % decoders.len().max(1);
                // Each pool thread locks only its own decoder: never contended.
                let mut dec = decoders[i]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                this.decode(s, &mut dec)
            })
            .collect();
        self.slices.extend(decoded);
        self.defragged = self.defragment(defrag);
    }

    /// `raw` with its bytes wherever they are.
    fn frame(&self, raw: &RawFrame<'m>) -> Frame<'_> {
        match &raw.arena {
            None => raw.frame,
            Some(r) => Frame {
                data: self
                    .arena
                    .get(r.clone())
                    .expect("a copied frame's range was cut from this arena"),
                ..raw.frame
            },
        }
    }

    /// Decode slice `s` with a deferring decoder.
    fn decode(&self, s: usize, dec: &mut Decoding) -> Decoded<'m> {
        let first = s.saturating_mul(SLICE);
        let end = first.saturating_add(SLICE).min(self.frames.len());
        let slice = self
            .frames
            .get(first..end)
            .expect("slice s < ceil(frames / SLICE) lies within the frames");
        let mut slots = Spares::take(&self.spares.slots, SLICE);
        if slots.len() < slice.len() {
            slots.resize_with(slice.len(), Item::blank);
        }
        let mut out = Decoded {
            slots,
            len: 0,
            deferred: Vec::new(),
        };
        for (i, raw) in slice.iter().enumerate() {
            let Some(slot) = out.slots.get_mut(out.len) else {
                break;
            };
            let decoded = match &raw.arena {
                None => {
                    slot.arena = None;
                    dec.decoder.decode_deferring_into(&raw.frame, &mut slot.seg)
                }
                Some(r) => self.decode_copied(&mut dec.decoder, raw, r, slot),
            };
            match decoded {
                Ok(()) => {}
                Err(Skip::FragmentDeferred) => {
                    out.deferred.push(first + i);
                    continue;
                }
                // Nothing to assemble; the decoder counted why.
                Err(_) => continue,
            }
            let Some(shard) = dec.route.of(&slot.seg) else {
                continue;
            };
            slot.shard = shard;
            out.len += 1;
        }
        out
    }

    /// Decode a frame copied into the arena at `r` into `slot`: the
    /// segment's payload is given as a range of the arena.
    fn decode_copied(
        &self,
        decoder: &mut Decoder,
        raw: &RawFrame<'m>,
        r: &Range<usize>,
        slot: &mut Item<'m>,
    ) -> Result<(), Skip> {
        let frame = self.frame(raw);
        let mut seg = Segment::default();
        decoder.decode_deferring_into(&frame, &mut seg)?;
        // A deferring decoder's payloads lie inside the frame (an empty one
        // may point anywhere).
        let at = if seg.payload.is_empty() {
            0..0
        } else {
            let start = (seg.payload.as_ptr() as usize).wrapping_sub(frame.data.as_ptr() as usize);
            start..start.wrapping_add(seg.payload.len())
        };
        slot.seg = with_payload(&seg, &[]);
        slot.arena = Some(r.start.saturating_add(at.start)..r.start.saturating_add(at.end));
        Ok(())
    }

    /// Run the deferred fragments through the defragmenter, in frame order.
    fn defragment(&self, d: &mut Defrag) -> Defragged<'m> {
        let mut out = Defragged::default();
        // Before each fragment the defragmenter is told the latest time of
        // the frames since the one before it: a decoder of every frame would
        // have timed datagrams out at each of them, and with no fragment in
        // between, that comes to the same as once at their latest time.
        let mut since = d.since_ts;
        let mut scanned = 0;
        let latest = |from: usize, to: usize, t: u64| {
            self.frames
                .get(from..to)
                .expect("from <= to <= frames: deferred indexes are increasing frame indexes")
                .iter()
                .fold(t, |t, f| t.max(f.frame.ts))
        };
        for &i in self.slices.iter().flat_map(|s| &s.deferred) {
            let Some(raw) = self.frames.get(i) else {
                continue;
            };
            since = latest(scanned, i, since);
            scanned = i + 1;
            d.decoding.decoder.expire(since);
            since = 0;
            let frame = self.frame(raw);
            let dec = &mut d.decoding;
            let Ok(seg) = dec.decoder.decode(&frame) else {
                continue;
            };
            let Some(shard) = dec.route.of(&seg) else {
                continue;
            };
            let start = out.arena.len();
            out.arena.extend_from_slice(seg.payload);
            out.items.push(Item {
                seg: with_payload(&seg, &[]),
                arena: Some(start..out.arena.len()),
                shard,
            });
        }
        d.since_ts = if scanned == 0 {
            since.max(self.max_ts)
        } else {
            latest(scanned, self.frames.len(), since)
        };
        out
    }

    /// Call `f` on each segment of shard `w` in frame order, with the arena
    /// its payload range refers to. Only after [`prepare`](Batch::prepare)
    /// (or [`prepare_parallel`](Batch::prepare_parallel)).
    pub(crate) fn for_shard(&self, w: u32, mut f: impl FnMut(&Item<'m>, &[u8])) {
        let rebuilt_arena = &self.defragged.arena[..];
        let mut rebuilt = self
            .defragged
            .items
            .iter()
            .filter(|i| i.shard == w)
            .peekable();
        for item in self
            .slices
            .iter()
            .flat_map(Decoded::items)
            .filter(|i| i.shard == w)
        {
            while let Some(r) = rebuilt.next_if(|r| r.seg.frame < item.seg.frame) {
                f(r, rebuilt_arena);
            }
            f(item, &self.arena);
        }
        for r in rebuilt {
            f(r, rebuilt_arena);
        }
    }
}

/// `seg` with another payload (and so another lifetime).
pub(crate) fn with_payload<'a>(seg: &Segment<'_>, payload: &'a [u8]) -> Segment<'a> {
    Segment {
        frame: seg.frame,
        ts: seg.ts,
        tuple: seg.tuple,
        transport: seg.transport,
        payload,
        truncated: seg.truncated,
        encap: seg.encap,
        link: seg.link,
        defragmented: seg.defragmented,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testpkt::{ipv4, udp};
    use pcapread::LinkType;

    /// Packets (time, bytes): whole datagrams between the three fragments of
    /// others that lie 150 frames apart (so across slices and batches),
    /// datagrams that never complete, and a clock that jumps ahead, then
    /// steps back, with datagrams held across both.
    fn packets() -> Vec<(u64, Vec<u8>)> {
        let s = 1_000_000_000u64;
        let mut slots: Vec<Option<(u64, Vec<u8>)>> = vec![None; 3400];
        // One frame per 10 ms; frames 1500..2200 are 40 s later, then the
        // clock steps back 35 s.
        let time = |i: usize| {
            let t = i as u64 * s / 100;
            match i {
                0..1500 => t,
                1500..2200 => t + 40 * s,
                _ => t + 5 * s,
            }
        };
        let mut put = |mut at: usize, p: Vec<u8>| {
            while slots[at].is_some() {
                at += 1;
            }
            slots[at] = Some((time(at), p));
            at
        };
        // Datagrams 0..200, before and after the jump, never across it.
        for d in 0..200usize {
            let body: Vec<u8> = (0..40).map(|b| (b + d) as u8).collect();
            let l4 = udp(1000 + d as u16, &body);
            let first = if d < 100 { d * 7 } else { 2300 + (d - 100) * 7 };
            for (k, (lo, hi)) in [(0, 16), (16, 32), (32, l4.len())].into_iter().enumerate() {
                // Datagrams 150..160 lose their last fragment.
                if k == 2 && (150..160).contains(&d) {
                    continue;
                }
                put(first + k * 150, ipv4(d as u16, lo, k < 2, &l4[lo..hi], 2));
            }
        }
        // Datagrams 200..210: the second fragment comes after the step back,
        // less than the timeout after the first by its own time, but frames
        // in between were later than that: one decoder of every frame has
        // timed the first fragment out by then.
        for d in 200..210usize {
            let l4 = udp(1000 + d as u16, &[d as u8; 24]);
            let at = put(1400 + (d - 200) * 9, ipv4(d as u16, 0, true, &l4[..16], 2));
            put(at + 800, ipv4(d as u16, 16, false, &l4[16..], 2));
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                p.unwrap_or_else(|| {
                    let l4 = udp(5000 + (i % 50) as u16, &[i as u8; 24]);
                    (time(i), ipv4(7, 0, false, &l4, 3))
                })
            })
            .collect()
    }

    fn frame(i: usize, (ts, data): &(u64, Vec<u8>)) -> Frame<'_> {
        Frame {
            number: i as u64 + 1,
            input: 0,
            file_offset: 0,
            ts: *ts,
            caplen: data.len() as u32,
            origlen: data.len() as u32,
            link_type: LinkType::IPV4,
            data,
        }
    }

    /// (frame, shard, flow, payload) of every segment.
    type Seen = Vec<(u64, u32, String, Vec<u8>)>;

    fn one_decoder(
        packets: &[(u64, Vec<u8>)],
        workers: usize,
        config: DecoderConfig,
    ) -> (Seen, DecodeStats) {
        let mut dec = Decoder::new(config);
        let mut out = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            if let Ok(seg) = dec.decode(&frame(i, p)) {
                let shard = seg.tuple.canonical().0.shard(workers) as u32;
                out.push((
                    seg.frame,
                    shard,
                    seg.tuple.to_string(),
                    seg.payload.to_vec(),
                ));
            }
        }
        (out, dec.stats())
    }

    /// Decode in batches of `per_batch` frames on a pool of `workers` threads,
    /// half the batches copied and half borrowed; every worker collects its shard.
    fn batches(
        packets: &[(u64, Vec<u8>)],
        workers: usize,
        per_batch: usize,
        config: DecoderConfig,
    ) -> (Seen, DecodeStats) {
        let mut all = Vec::new();
        let spares = Arc::default();
        for (b, chunk) in packets.chunks(per_batch).enumerate() {
            let mut batch = Batch::new(&spares);
            for (i, p) in chunk.iter().enumerate() {
                let f = frame(b * per_batch + i, p);
                if b % 2 == 0 {
                    batch.push_mapped(f);
                } else {
                    batch.push_copied(&f);
                }
            }
            all.push(batch);
        }
        // Decoded on a pool of `workers` threads (one decoder each), except
        // with one worker, decoded on this thread as the engine does then.
        let mut defrag = Defrag::new(config, workers, true);
        let decoders: Vec<Mutex<Decoding>> = (0..workers)
            .map(|_| Mutex::new(Decoding::new(config, workers, true)))
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .unwrap();
        for batch in &mut all {
            if workers == 1 {
                batch.prepare(&mut decoders[0].lock().unwrap(), &mut defrag);
            } else {
                pool.install(|| batch.prepare_parallel(&decoders, &mut defrag));
            }
        }
        let mut seen: Vec<Seen> = vec![Vec::new(); workers];
        for batch in &all {
            for (w, seen) in seen.iter_mut().enumerate() {
                batch.for_shard(w as u32, |item, arena| {
                    let payload = match &item.arena {
                        None => item.seg.payload,
                        Some(r) => &arena[r.clone()],
                    };
                    let flow = item.seg.tuple.to_string();
                    seen.push((item.seg.frame, item.shard, flow, payload.to_vec()));
                });
            }
        }
        let counts: Vec<(DecodeStats, Dropped)> = decoders
            .iter()
            .map(|d| d.lock().unwrap().counts())
            .collect();
        for (w, s) in seen.iter().enumerate() {
            assert!(
                s.windows(2).all(|p| p[0].0 < p[1].0),
                "worker {w}: frame order"
            );
            assert!(
                s.iter().all(|x| x.1 == w as u32),
                "worker {w}: only its shard"
            );
        }
        let mut seen: Seen = seen.concat();
        seen.sort();
        let (stats, dropped) = defrag.total(&counts);
        assert_eq!(dropped, Dropped::default());
        (seen, stats)
    }

    /// The remembered workers are the flows' shards, whichever flows share
    /// a slot and however often they come back: IPv4 and IPv6, TCP and
    /// UDP, both directions, many more flows than slots.
    #[test]
    fn remembered_workers_are_the_flows_shards() {
        let tuple = |i: u32, proto| {
            let a = SocketAddr::from((
                [10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
                1024 + (i % 7) as u16,
            ));
            let b = if i % 5 == 0 {
                SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16], 80))
            } else if i % 11 == 0 {
                // The same address: the ports decide which end is lower.
                SocketAddr::new(a.ip(), 80)
            } else {
                SocketAddr::from(([192, 0, 2, (i % 3) as u8], 80))
            };
            FiveTuple {
                proto,
                src: a,
                dst: b,
            }
        };
        for n in [2, 3] {
            let mut workers = Workers::new(n);
            for round in 0..3 {
                for i in 0..(WORKER_SLOTS as u32 * 4) {
                    for proto in [Proto::Tcp, Proto::Udp] {
                        let t = tuple(i, proto);
                        for t in [t, t.reversed()] {
                            assert_eq!(
                                workers.of(&t),
                                t.canonical().0.shard(n) as u32,
                                "round {round}, {t}, {n} workers"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn shared_decoding_equals_one_decoder_of_every_frame() {
        let packets = packets();
        for workers in [1, 2, 3] {
            let config = DecoderConfig::default();
            let (want, want_stats) = one_decoder(&packets, workers, config);
            // The capture exercises what it should: rebuilt datagrams, some
            // timed out, and held fragments completed across batches.
            assert_eq!(want_stats.defragmented, 190);
            assert!(!want.iter().any(|s| s.2.contains(":120")));
            for per_batch in [100, 700, BATCH] {
                let (got, stats) = batches(&packets, workers, per_batch, config);
                let differ = |a: &Seen, b: &Seen| -> Vec<(u64, String)> {
                    a.iter()
                        .filter(|x| !b.contains(x))
                        .map(|x| (x.0, x.2.clone()))
                        .collect()
                };
                assert!(
                    got == want,
                    "{workers} workers, batches of {per_batch}: only here {:?}, only with one decoder {:?}",
                    differ(&got, &want),
                    differ(&want, &got)
                );
                assert_eq!(
                    stats, want_stats,
                    "{workers} workers, batches of {per_batch}"
                );
            }
        }
    }

    /// A packet of the property test: a whole datagram, or a fragment of
    /// one of a few datagrams.
    #[derive(Debug, Clone)]
    enum Spec {
        Whole {
            sport: u16,
            len: usize,
        },
        Frag {
            id: u16,
            at: usize,
            more: bool,
            len: usize,
        },
    }

    /// A packet and the seconds the clock moves before it.
    fn spec() -> impl proptest::strategy::Strategy<Value = (Spec, i64)> {
        use proptest::prelude::*;
        let whole = (1u16..20, 0usize..40).prop_map(|(sport, len)| Spec::Whole { sport, len });
        let frag =
            (0u16..6, 0usize..5, any::<bool>(), 1usize..4).prop_map(|(id, at, more, len)| {
                Spec::Frag {
                    id,
                    at: at * 8,
                    more,
                    len: len * 8,
                }
            });
        (
            prop_oneof![whole, frag],
            prop_oneof![3 => 0i64..3, 1 => -40i64..40],
        )
    }

    fn spec_packets(specs: &[(Spec, i64)]) -> Vec<(u64, Vec<u8>)> {
        let mut t = 100i64;
        specs
            .iter()
            .enumerate()
            .map(|(i, (spec, step))| {
                t = (t + step).max(0);
                let p = match spec {
                    Spec::Whole { sport, len } => {
                        ipv4(9, 0, false, &udp(*sport, &vec![i as u8; *len]), 3)
                    }
                    Spec::Frag { id, at, more, len } => {
                        // A first fragment starts with a UDP header whose
                        // length the fragments may or may not complete.
                        let mut l4 = vec![i as u8; *len];
                        if *at == 0 {
                            l4[..8].copy_from_slice(&udp(7000 + id, &[0; 8])[..8]);
                        }
                        ipv4(*id, *at, *more, &l4, 2)
                    }
                };
                (t as u64 * 1_000_000_000, p)
            })
            .collect()
    }

    proptest::proptest! {
        /// Any mix of whole datagrams and fragments (overlapping, missing,
        /// repeated), a clock that jumps and steps back, small table limits:
        /// shared decoding gives what one decoder of every frame gives.
        #[test]
        fn shared_decoding_equals_one_decoder(
            specs in proptest::collection::vec(spec(), 0..300),
            workers in 1usize..4,
            per_batch in 1usize..40,
        ) {
            let packets = spec_packets(&specs);
            let mut config = DecoderConfig::default();
            config.defrag.max_datagrams = 3;
            config.defrag.max_bytes = 64;
            let (want, want_stats) = one_decoder(&packets, workers, config);
            let (got, stats) = batches(&packets, workers, per_batch, config);
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(stats, want_stats);
        }
    }
}

//! The live ingest as an [`engine::FrameSource`]: [`LiveSource`] polls the
//! port's rx queues and hands the engine one frame at a time, so live frames
//! go through the engine's batches, parallel decoding, defragmentation,
//! sharding by the symmetric flow hash, housekeeping and assemblers exactly
//! as the frames of a capture file do.
//!
//! - **Queues**: one queue is polled on its own; several (RSS) are polled
//!   round-robin, one poll of up to [`dpdk::BURST`] packets at a time, each
//!   round starting at the queue after the last one that gave packets.
//! - **Numbers**: each poll claims a block of consecutive frame numbers from
//!   the [`StopControl`], which also turns `--count` into dropped packets
//!   and a stop. With one queue the numbers are the arrival order.
//! - **Times**: from the [`Stamper`] (the driver's rx timestamp or the clock
//!   read once per poll).
//! - **Bytes**: a packet in one mbuf segment is handed over in place as
//!   [`Next::Frame`]; the engine copies it into its batch and the mbuf is
//!   freed at the next call, before anything else is polled. A chained packet
//!   (larger than one mbuf buffer, e.g. a 9000-byte frame) is first copied
//!   into a scratch buffer. When a chain holds fewer bytes than the packet
//!   length says (net_pcap in DPDK 22.11 with records over 64 KiB), the frame
//!   is marked captured-short (`caplen < origlen`), as a snaplen-cut record
//!   in a file would be. So a live frame is copied once (twice when
//!   chained), where the frames of a memory-mapped capture file are not
//!   copied at all.
//! - **Idle**: a round in which every queue came back empty returns
//!   [`Next::Idle`] at once (so the engine hands the frames it holds to its
//!   workers), and the next round waits [`IDLE_SLEEP`] first, so an idle port
//!   does not keep a core busy (rx_burst never blocks). With times from the
//!   clock, an idle round carries `now` every [`ADVANCE_EVERY`], so the
//!   engine's housekeeping goes on while no packets come.
//! - **End**: once the stop control says stop, every queue is drained (until
//!   it comes back empty, or after its ring size of packets, so a busy port
//!   cannot keep the capture forever), so that packets the port already
//!   counted as received are processed too; then [`Next::End`].
//!
//! What is polled and freed is generic ([`Queues`], [`Packet`]) so the rules
//! above are tested here with a scripted queue; the port's queues
//! (`Vec<RxQueue>`) and [`Mbuf`]s are the real thing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dpdk::{Mbuf, MbufData, RxQueue, TimestampField};
use engine::{FrameSource, Next};
use pcapread::{Frame, LinkType};

use super::stop::{Claim, StopControl};
use super::timestamp::Stamper;

/// Pause before polling again after a round in which every queue was empty.
pub const IDLE_SLEEP: Duration = Duration::from_micros(100);

/// How often an idle round tells the engine the clock's time, when packet
/// times come from the clock.
pub const ADVANCE_EVERY: Duration = Duration::from_millis(500);

/// A received packet as the source reads it ([`Mbuf`] on a port). It is
/// freed when dropped.
pub trait Packet {
    /// Its bytes, in place when they are in one segment.
    fn data(&self) -> MbufData<'_>;
    /// Copies a chained packet into `scratch`: the bytes the chain really
    /// holds.
    fn copy_to<'s>(&self, scratch: &'s mut Vec<u8>) -> &'s [u8];
    /// Its length as the driver announced it.
    fn pkt_len(&self) -> u32;
    /// The driver's rx timestamp, if it stamped this packet.
    fn timestamp(&self, field: TimestampField) -> Option<u64>;
}

impl Packet for Mbuf<'_> {
    fn data(&self) -> MbufData<'_> {
        Mbuf::data(self)
    }
    fn copy_to<'s>(&self, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        Mbuf::copy_to(self, scratch)
    }
    fn pkt_len(&self) -> u32 {
        Mbuf::pkt_len(self)
    }
    fn timestamp(&self, field: TimestampField) -> Option<u64> {
        Mbuf::timestamp(self, field)
    }
}

/// The rx queues a source polls (a port's `Vec<RxQueue>`).
pub trait Queues {
    /// What a poll receives.
    type Packet: Packet;
    /// How many queues there are.
    fn count(&self) -> usize;
    /// Polls queue `queue` once, without blocking, appending what it
    /// received to `into`; returns how many packets that was.
    fn poll(&mut self, queue: usize, into: &mut VecDeque<Self::Packet>) -> usize;
}

impl<'p> Queues for Vec<RxQueue<'p>> {
    type Packet = Mbuf<'p>;

    fn count(&self) -> usize {
        self.len()
    }

    fn poll(&mut self, queue: usize, into: &mut VecDeque<Mbuf<'p>>) -> usize {
        let Some(q) = self.get_mut(queue) else {
            return 0;
        };
        let burst = q.poll();
        let n = burst.len();
        into.extend(burst);
        n
    }
}

/// Counters of a source (printed in the capture's summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Frames handed to the engine.
    pub frames: u64,
    /// Of which were chained and copied.
    pub chained: u64,
    /// Packets freed unprocessed (past `--count`).
    pub dropped: u64,
    /// Polls of one queue that returned nothing.
    pub empty_polls: u64,
    /// Time from the first packet to the end of the last poll that gave
    /// packets (the active span, for a packets-per-second figure).
    pub active: Duration,
}

/// What a round of polls found.
enum Round {
    /// Packets are pending.
    Packets,
    /// Every queue was empty; packet time is `now` (clock times only).
    Idle(Option<u64>),
    /// Stopped, and every queue is drained.
    End,
}

/// The live ingest: frames from `Q`'s queues for the engine (see the module
/// docs). Polled only by the thread that runs the engine.
pub struct LiveSource<'s, Q: Queues> {
    queues: Q,
    stop: &'s StopControl,
    stamper: Stamper,
    /// Packets a queue may give after the stop before it counts as drained.
    ring_size: usize,
    /// The queue the next round starts with.
    cursor: usize,
    /// Per queue: packets taken since the stop was seen.
    drained: Vec<usize>,
    /// Per queue: drained, not to be polled again.
    done: Vec<bool>,
    /// Packets of the last poll not handed over yet.
    pending: VecDeque<Q::Packet>,
    /// The frame number of the first pending packet.
    next_number: u64,
    /// Clock time of the last poll that gave packets.
    poll_time: u64,
    /// The packet of the frame handed over last (freed at the next call).
    current: Option<Q::Packet>,
    scratch: Vec<u8>,
    /// Whether the last round was empty (and the stop control told so).
    idle: bool,
    /// Whether the last poll gave packets (the active span ends after it).
    in_burst: bool,
    last_advance: Instant,
    advance_every: Duration,
    first_rx: Option<Instant>,
    ended: bool,
    stats: SourceStats,
}

impl<'s, Q: Queues> LiveSource<'s, Q> {
    /// A source polling `queues`, each drained after a stop up to
    /// `ring_size` packets, numbering frames through `stop` and stamping
    /// them with `stamper`. The stop control counts the source as one
    /// worker (it starts busy).
    pub fn new(queues: Q, ring_size: u16, stop: &'s StopControl, stamper: Stamper) -> Self {
        let n = queues.count();
        LiveSource {
            queues,
            stop,
            stamper,
            ring_size: usize::from(ring_size),
            cursor: 0,
            drained: vec![0; n],
            done: vec![false; n],
            pending: VecDeque::new(),
            next_number: 1,
            poll_time: 0,
            current: None,
            scratch: Vec::new(),
            idle: false,
            in_burst: false,
            last_advance: Instant::now(),
            advance_every: ADVANCE_EVERY,
            first_rx: None,
            ended: false,
            stats: SourceStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> SourceStats {
        self.stats
    }

    /// Whether the source said [`Next::End`]: the capture stopped and every
    /// queue was drained. A run that ends before (an output error) leaves
    /// this false.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The end of the active span: now, if the last poll gave packets.
    fn close_burst(&mut self) {
        if std::mem::take(&mut self.in_burst) {
            if let Some(first) = self.first_rx {
                self.stats.active = first.elapsed();
            }
        }
    }

    /// One round: each queue not yet drained is polled, from the cursor on,
    /// until one gives packets.
    fn round(&mut self) -> Round {
        if self.idle {
            std::thread::sleep(IDLE_SLEEP);
        }
        self.close_burst();
        let stopping = self.stop.stopping();
        let n = self.queues.count();
        for _ in 0..n {
            let q = self.cursor;
            self.cursor = (q + 1) % n;
            if self.done[q] {
                continue;
            }
            let got = self.queues.poll(q, &mut self.pending);
            if got == 0 {
                self.stats.empty_polls += 1;
                if stopping {
                    self.done[q] = true;
                }
                continue;
            }
            if stopping {
                self.drained[q] = self.drained[q].saturating_add(got);
                if self.drained[q] >= self.ring_size {
                    self.done[q] = true;
                }
            }
            if self.idle {
                self.idle = false;
                self.stop.set_idle(false);
            }
            self.first_rx.get_or_insert_with(Instant::now);
            self.in_burst = true;
            self.next_number = self.stop.claim(got);
            self.poll_time = self.stamper.clock();
            return Round::Packets;
        }
        // Every queue still polled came back empty; after the stop that
        // made each of them drained.
        if stopping {
            return Round::End;
        }
        if !self.idle {
            self.idle = true;
            self.stop.set_idle(true);
        }
        let now = if self.stamper.uses_clock() && self.last_advance.elapsed() >= self.advance_every
        {
            self.last_advance = Instant::now();
            Some(self.stamper.clock())
        } else {
            None
        };
        Round::Idle(now)
    }
}

impl<Q: Queues> FrameSource for LiveSource<'_, Q> {
    fn link_types(&self) -> Vec<LinkType> {
        vec![LinkType::ETHERNET]
    }

    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        // The engine has copied the last frame: free its packet.
        self.current = None;
        if self.ended {
            return Ok(Next::End);
        }
        loop {
            let Some(packet) = self.pending.pop_front() else {
                match self.round() {
                    Round::Packets => continue,
                    Round::Idle(now) => return Ok(Next::Idle { now }),
                    Round::End => {
                        self.ended = true;
                        return Ok(Next::End);
                    }
                }
            };
            let number = self.next_number;
            self.next_number += 1;
            let number = match self.stop.admit(number) {
                Claim::Take(number) => number,
                Claim::Drop => {
                    self.stats.dropped += 1;
                    continue;
                }
            };
            let ts = self.stamper.stamp(&packet, self.poll_time);
            let pkt_len = packet.pkt_len();
            self.stats.frames += 1;
            let packet: &Q::Packet = self.current.insert(packet);
            let data = match packet.data() {
                MbufData::Contiguous(bytes) => bytes,
                MbufData::Chained(_) => {
                    self.stats.chained += 1;
                    packet.copy_to(&mut self.scratch)
                }
            };
            let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
            return Ok(Next::Frame(Frame {
                number,
                input: 0,
                file_offset: 0,
                ts,
                caplen,
                origlen: pkt_len.max(caplen),
                link_type: LinkType::ETHERNET,
                data,
            }));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::super::stop::StopReason;
    use super::super::timestamp::Resolved;
    use super::*;

    /// A scripted packet: its bytes (all of them, or for a chained one what
    /// the chain holds), the announced length and the driver's time (ns).
    struct FakePacket {
        id: u64,
        bytes: Vec<u8>,
        chained: bool,
        pkt_len: u32,
        ts: Option<u64>,
        freed: Rc<RefCell<Vec<u64>>>,
    }

    impl Drop for FakePacket {
        fn drop(&mut self) {
            self.freed.borrow_mut().push(self.id);
        }
    }

    impl Packet for FakePacket {
        fn data(&self) -> MbufData<'_> {
            if self.chained {
                MbufData::Chained(self.pkt_len)
            } else {
                MbufData::Contiguous(&self.bytes)
            }
        }
        fn copy_to<'s>(&self, scratch: &'s mut Vec<u8>) -> &'s [u8] {
            scratch.clear();
            scratch.extend_from_slice(&self.bytes);
            scratch
        }
        fn pkt_len(&self) -> u32 {
            self.pkt_len
        }
        fn timestamp(&self, _field: TimestampField) -> Option<u64> {
            self.ts
        }
    }

    /// What one queue gives when polled.
    enum Script {
        /// These bursts (packet ids), then nothing.
        Bursts(VecDeque<Vec<u64>>),
        /// A burst of this many packets at every poll.
        Endless(usize),
    }

    /// Scripted queues; a packet's bytes are its id, its time id µs.
    struct FakeQueues {
        scripts: Vec<Script>,
        next_id: u64,
        polls: Vec<usize>,
        freed: Rc<RefCell<Vec<u64>>>,
    }

    impl FakeQueues {
        fn new(scripts: Vec<Script>) -> Self {
            let n = scripts.len();
            FakeQueues {
                scripts,
                next_id: 1000,
                polls: vec![0; n],
                freed: Rc::default(),
            }
        }

        fn packet(&self, id: u64) -> FakePacket {
            FakePacket {
                id,
                bytes: id.to_be_bytes().to_vec(),
                chained: false,
                pkt_len: 8,
                ts: Some(id * 1000),
                freed: Rc::clone(&self.freed),
            }
        }
    }

    impl Queues for FakeQueues {
        type Packet = FakePacket;
        fn count(&self) -> usize {
            self.scripts.len()
        }
        fn poll(&mut self, queue: usize, into: &mut VecDeque<FakePacket>) -> usize {
            self.polls[queue] += 1;
            let ids: Vec<u64> = match &mut self.scripts[queue] {
                Script::Bursts(b) => b.pop_front().unwrap_or_default(),
                Script::Endless(n) => {
                    let ids = (self.next_id..self.next_id + *n as u64).collect();
                    self.next_id += *n as u64;
                    ids
                }
            };
            for &id in &ids {
                into.push_back(self.packet(id));
            }
            ids.len()
        }
    }

    fn bursts(b: &[&[u64]]) -> Script {
        Script::Bursts(b.iter().map(|x| x.to_vec()).collect())
    }

    fn control(count: Option<u64>, idle: Option<Duration>) -> (Arc<AtomicBool>, StopControl) {
        let flag = Arc::new(AtomicBool::new(false));
        (flag.clone(), StopControl::new(flag, count, idle, 1))
    }

    /// Driver times in ns, as the fake packets carry them.
    fn driver() -> Stamper {
        Stamper::new(Resolved::Driver {
            field: TimestampField::for_tests(),
            ns_per_unit: 1,
        })
    }

    /// What a call gave: `(number, packet id, ts)` of a frame, `Idle` or `End`.
    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Frame(u64, u64, u64),
        Idle(bool),
        End,
    }

    fn next<Q: Queues>(s: &mut LiveSource<'_, Q>) -> Got {
        match s.next().unwrap() {
            Next::Frame(f) => {
                assert_eq!(f.caplen as usize, f.data.len());
                let id = u64::from_be_bytes(f.data.try_into().expect("8 bytes"));
                Got::Frame(f.number, id, f.ts)
            }
            Next::Idle { now } => Got::Idle(now.is_some()),
            Next::End => Got::End,
        }
    }

    /// Calls until `End`, at most `limit` times, skipping idle answers.
    fn frames_to_end<Q: Queues>(s: &mut LiveSource<'_, Q>, limit: usize) -> Vec<Got> {
        let mut got = Vec::new();
        for _ in 0..limit {
            match next(s) {
                Got::End => return got,
                Got::Idle(_) => {}
                g => got.push(g),
            }
        }
        panic!("no end after {limit} calls: {got:?}");
    }

    #[test]
    fn queues_are_polled_round_robin_and_frames_numbered_in_poll_order() {
        let (_, stop) = control(None, None);
        let q = FakeQueues::new(vec![bursts(&[&[1, 2], &[], &[5]]), bursts(&[&[3], &[4]])]);
        let mut s = LiveSource::new(q, 64, &stop, driver());
        // q0 gives 1, 2; the next round starts at q1 (3); then q0 is empty
        // and q1 gives 4; then q0 gives 5.
        let want = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)];
        for (number, id) in want {
            assert_eq!(next(&mut s), Got::Frame(number, id, id * 1000));
        }
        assert_eq!(next(&mut s), Got::Idle(false));
        assert_eq!(stop.frames(), 5);
        let stats = s.stats();
        assert_eq!((stats.frames, stats.chained, stats.dropped), (5, 0, 0));
        // Empty: q0 once before 4, then q0 and q1 in the idle round.
        assert_eq!(stats.empty_polls, 3);
    }

    #[test]
    fn a_packet_is_freed_when_the_next_frame_is_asked_for() {
        let (_, stop) = control(None, None);
        let q = FakeQueues::new(vec![bursts(&[&[1, 2, 3]])]);
        let freed = Rc::clone(&q.freed);
        let mut s = LiveSource::new(q, 64, &stop, driver());
        assert_eq!(next(&mut s), Got::Frame(1, 1, 1000));
        assert!(freed.borrow().is_empty(), "frame 1 is still being read");
        assert_eq!(next(&mut s), Got::Frame(2, 2, 2000));
        assert_eq!(*freed.borrow(), [1]);
        assert_eq!(next(&mut s), Got::Frame(3, 3, 3000));
        assert_eq!(next(&mut s), Got::Idle(false));
        assert_eq!(*freed.borrow(), [1, 2, 3]);
    }

    #[test]
    fn after_the_stop_every_queue_is_drained_then_the_source_ends() {
        let (_, stop) = control(None, None);
        let q = FakeQueues::new(vec![bursts(&[&[1], &[3, 4]]), bursts(&[&[2], &[5], &[6]])]);
        let mut s = LiveSource::new(q, 64, &stop, driver());
        assert_eq!(next(&mut s), Got::Frame(1, 1, 1000));
        stop.stop(StopReason::Signal);
        let got = frames_to_end(&mut s, 100);
        let ids: Vec<u64> = got
            .iter()
            .map(|g| match g {
                Got::Frame(_, id, _) => *id,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(ids, [2, 3, 4, 5, 6]);
        assert!(s.ended());
        assert_eq!(next(&mut s), Got::End, "the end stays");
    }

    #[test]
    fn a_busy_queue_is_drained_up_to_its_ring_size() {
        let (_, stop) = control(None, None);
        let q = FakeQueues::new(vec![Script::Endless(8), bursts(&[&[1]])]);
        let mut s = LiveSource::new(q, 20, &stop, driver());
        assert!(matches!(next(&mut s), Got::Frame(1, ..)));
        stop.stop(StopReason::Signal);
        let got = frames_to_end(&mut s, 1000);
        // The 7 left of the first burst, then q1's one packet, then the
        // endless queue until it gave 20 or more: three bursts of 8.
        assert_eq!(got.len(), 7 + 1 + 24);
        assert_eq!(s.queues.polls[0], 4);
        assert_eq!(s.stats().frames, 33);
    }

    #[test]
    fn count_takes_exactly_n_frames_and_drops_the_rest() {
        let (_, stop) = control(Some(3), None);
        let q = FakeQueues::new(vec![bursts(&[&[1, 2], &[3, 4, 5], &[6]])]);
        let freed = Rc::clone(&q.freed);
        let mut s = LiveSource::new(q, 64, &stop, driver());
        let got = frames_to_end(&mut s, 100);
        assert_eq!(
            got,
            [
                Got::Frame(1, 1, 1000),
                Got::Frame(2, 2, 2000),
                Got::Frame(3, 3, 3000)
            ]
        );
        assert_eq!(stop.reason(), Some(StopReason::Count));
        // 4 and 5 came in the burst of 3; 6 was drained after the stop.
        assert_eq!(s.stats().dropped, 3);
        assert_eq!(stop.frames(), 3);
        drop(s);
        assert_eq!(freed.borrow().len(), 6, "every packet freed");
    }

    #[test]
    fn an_empty_round_makes_the_source_idle_for_the_stop_control() {
        let (_, stop) = control(None, Some(Duration::ZERO));
        let q = FakeQueues::new(vec![bursts(&[&[1], &[], &[2]]), bursts(&[])]);
        let mut s = LiveSource::new(q, 64, &stop, driver());
        assert!(!stop.check(), "a source that has not polled is busy");
        assert_eq!(next(&mut s), Got::Frame(1, 1, 1000));
        assert!(!stop.check());
        assert_eq!(next(&mut s), Got::Idle(false));
        assert!(stop.check(), "idle for zero time: stop");
        assert_eq!(stop.reason(), Some(StopReason::Idle));
        // Stopping: the rest is drained.
        assert_eq!(frames_to_end(&mut s, 10), [Got::Frame(2, 2, 2000)]);
    }

    #[test]
    fn with_clock_times_idle_rounds_carry_the_time() {
        let (_, stop) = control(None, None);
        let q = FakeQueues::new(vec![bursts(&[&[7]])]);
        let mut s = LiveSource::new(q, 64, &stop, Stamper::new(Resolved::Clock));
        let Got::Frame(1, 7, ts) = next(&mut s) else {
            panic!("frame")
        };
        assert!(ts > 1_600_000_000_000_000_000, "clock time: {ts}");
        // Not yet 500 ms since the start.
        assert_eq!(next(&mut s), Got::Idle(false));
        s.advance_every = Duration::ZERO;
        assert_eq!(next(&mut s), Got::Idle(true));
        // Driver times never advance by the clock.
        let (_, stop) = control(None, None);
        let mut s = LiveSource::new(FakeQueues::new(vec![bursts(&[])]), 64, &stop, driver());
        s.advance_every = Duration::ZERO;
        assert_eq!(next(&mut s), Got::Idle(false));
    }

    #[test]
    fn chained_packets_are_copied_and_short_chains_are_captured_short() {
        let (_, stop) = control(None, None);
        let q = FakeQueues::new(vec![bursts(&[])]);
        // A chained packet whose chain holds 8 bytes of the 70000 announced.
        let mut packet = q.packet(9);
        packet.chained = true;
        packet.pkt_len = 70_000;
        let mut s = LiveSource::new(q, 64, &stop, driver());
        s.pending.push_back(packet);
        let Next::Frame(f) = s.next().unwrap() else {
            panic!("frame")
        };
        assert_eq!((f.caplen, f.origlen), (8, 70_000));
        assert_eq!(f.data, 9u64.to_be_bytes());
        assert_eq!(s.stats().chained, 1);
    }

    /// The frames of a capture file, from a scripted queue in bursts of
    /// varying size, through the engine: the same flows and bytes as the
    /// file, for one worker and for three (flows hashed to workers by the
    /// engine, as `--queues 3` does).
    #[test]
    fn the_engine_gets_the_streams_of_the_file() {
        let capture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/corpus/arkime/tcp-reassembly-synthetic.pcap"
        );
        let mut reader = pcapread::CaptureReader::open(capture).unwrap();
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame().unwrap() {
            assert_eq!(f.link_type, LinkType::ETHERNET);
            frames.push((f.ts, f.data.to_vec()));
        }
        assert!(frames.len() > 50);
        for threads in [1, 3] {
            let opts = engine::EngineOptions::new().with_threads(threads);
            let (want, want_bytes) =
                engine::collect(&opts, engine::Input::files([capture])).unwrap();

            let (_, stop) = control(None, None);
            let freed = Rc::new(RefCell::new(Vec::new()));
            let packets: Vec<FakePacket> = frames
                .iter()
                .enumerate()
                .map(|(i, (ts, data))| FakePacket {
                    id: i as u64,
                    bytes: data.clone(),
                    chained: i % 5 == 0,
                    pkt_len: data.len() as u32,
                    ts: Some(*ts),
                    freed: Rc::clone(&freed),
                })
                .collect();
            let mut source = LiveSource::new(
                Replay {
                    packets: packets.into(),
                    sizes: [1, 32, 7, 0, 19, 3].into_iter().cycle(),
                    stop: &stop,
                },
                64,
                &stop,
                driver(),
            );
            let (got, got_bytes) =
                engine::collect(&opts, engine::Input::Frames(Box::new(&mut source))).unwrap();
            assert!(source.ended());
            assert_eq!(got.frames, want.frames);
            assert_eq!(got.flows, want.flows, "{threads} workers");
            assert_eq!(got_bytes.flows, want_bytes.flows);
            assert_eq!(source.stats().frames, frames.len() as u64);
        }
    }

    /// One queue replaying packets in bursts of the given sizes (0: an
    /// empty poll); once they are all out, the capture stops.
    struct Replay<'a, I> {
        packets: VecDeque<FakePacket>,
        sizes: I,
        stop: &'a StopControl,
    }

    impl<I: Iterator<Item = usize>> Queues for Replay<'_, I> {
        type Packet = FakePacket;
        fn count(&self) -> usize {
            1
        }
        fn poll(&mut self, _queue: usize, into: &mut VecDeque<FakePacket>) -> usize {
            if self.packets.is_empty() {
                self.stop.stop(StopReason::Idle);
                return 0;
            }
            let n = self.sizes.next().unwrap_or(1).min(self.packets.len());
            into.extend(self.packets.drain(..n));
            n
        }
    }
}

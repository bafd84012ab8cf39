//! One rx worker: polls one queue, turns each mbuf into a [`Frame`] and hands
//! it to its [`FrameSink`] (decode, assembler, output), freeing the mbuf right
//! after.
//!
//! - Zero copy: a packet in one mbuf segment is handed over in place; only a
//!   chained packet (larger than one mbuf buffer, e.g. a 5000-byte frame) is
//!   copied into the worker's scratch buffer. When a chain holds fewer bytes
//!   than the packet length says (net_pcap in DPDK 22.11 with records over
//!   64 KiB), the frame is marked captured-short (`caplen < origlen`), as a
//!   snaplen-cut record in a file would be.
//! - An empty poll sleeps [`IDLE_SLEEP`] before the next one, so an idle port
//!   does not keep a core busy (rx_burst never blocks).
//! - On stop, the queue is drained (up to its ring size, so a busy port cannot
//!   keep the worker forever) so that packets the port already counted as
//!   received are processed too; then the worker's owner flushes its sink.

use std::time::{Duration, Instant};

use pcapread::{Frame, LinkType};

use super::stop::{Claim, StopControl, StopReason};
use super::timestamp::Stamper;
use dpdk::{Eal, LcoreRegistration, MbufData, RxQueue};

/// Pause after an empty poll.
pub const IDLE_SLEEP: Duration = Duration::from_micros(100);

/// How often idle time is passed to the sink when packet times come from the clock.
const ADVANCE_EVERY: Duration = Duration::from_millis(500);

/// What a worker feeds: one per worker, owned by its thread. When
/// [`QueueRun::run`] returns, the capture is over and the owner flushes it.
pub trait FrameSink {
    /// One received frame; its bytes are valid only during the call.
    fn frame(&mut self, frame: &Frame<'_>) -> anyhow::Result<()>;

    /// Packet time advanced to `now` without packets (clock time only).
    fn advance(&mut self, now: u64) -> anyhow::Result<()>;

    /// The frames of one poll were all passed in.
    fn burst_end(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Counters of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Frames handed to the sink.
    pub frames: u64,
    /// Of which were chained and copied.
    pub chained: u64,
    /// Packets freed unprocessed (past `--count`).
    pub dropped: u64,
    /// Polls that returned nothing.
    pub empty_polls: u64,
    /// Time from the first packet to the end of the last burst processed
    /// (the worker's active span, for a packets-per-second figure).
    pub active: Duration,
}

/// One rx queue ready to be run by its worker thread.
#[derive(Debug)]
pub struct QueueRun<'a, 'p> {
    pub(super) eal: &'a Eal,
    pub(super) queue: RxQueue<'p>,
    pub(super) port_queues: u16,
    pub(super) ring_size: u16,
    pub(super) stop: &'a StopControl,
    pub(super) stamper: Stamper,
}

impl QueueRun<'_, '_> {
    /// The queue's index on its port.
    pub fn index(&self) -> u16 {
        self.queue.index()
    }

    /// How many rx queues the port has (more than one only with RSS).
    pub fn port_queues(&self) -> u16 {
        self.port_queues
    }

    /// Polls the queue into `sink` until the capture stops and the queue is
    /// drained. A sink error stops the whole capture and is returned.
    pub fn run<S: FrameSink>(self, sink: &mut S) -> anyhow::Result<WorkerStats> {
        let QueueRun {
            eal,
            mut queue,
            port_queues: _,
            ring_size,
            stop,
            mut stamper,
        } = self;
        let _lcore = LcoreRegistration::new(eal);
        let result = poll_loop(&mut queue, ring_size, stop, &mut stamper, sink);
        if result.is_err() {
            stop.stop(StopReason::Error);
        }
        result
    }
}

fn poll_loop<S: FrameSink>(
    queue: &mut RxQueue<'_>,
    ring_size: u16,
    stop: &StopControl,
    stamper: &mut Stamper,
    sink: &mut S,
) -> anyhow::Result<WorkerStats> {
    let mut stats = WorkerStats::default();
    let mut scratch = Vec::new();
    let mut drained: usize = 0;
    let mut last_advance = Instant::now();
    let mut first_rx: Option<Instant> = None;
    let mut was_idle = false;
    loop {
        let stopping = stop.stopping();
        let burst = queue.poll();
        if burst.is_empty() != was_idle {
            was_idle = burst.is_empty();
            stop.set_idle(was_idle);
        }
        if burst.is_empty() {
            drop(burst);
            if stopping {
                return Ok(stats);
            }
            stats.empty_polls += 1;
            if stamper.uses_clock() && last_advance.elapsed() >= ADVANCE_EVERY {
                last_advance = Instant::now();
                sink.advance(stamper.clock())?;
            }
            std::thread::sleep(IDLE_SLEEP);
            continue;
        }
        let n = burst.len();
        let started = *first_rx.get_or_insert_with(Instant::now);
        let first = stop.claim(n);
        let poll_time = stamper.clock();
        for (number, mbuf) in (first..).zip(burst) {
            let number = match stop.admit(number) {
                Claim::Take(number) => number,
                Claim::Drop => {
                    stats.dropped += 1;
                    continue;
                }
            };
            let ts = stamper.stamp(&mbuf, poll_time);
            let data = match mbuf.data() {
                MbufData::Contiguous(bytes) => bytes,
                MbufData::Chained(_) => {
                    stats.chained += 1;
                    mbuf.copy_to(&mut scratch)
                }
            };
            let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
            let frame = Frame {
                number,
                input: 0,
                file_offset: 0,
                ts,
                caplen,
                origlen: mbuf.pkt_len().max(caplen),
                link_type: LinkType::ETHERNET,
                data,
            };
            stats.frames += 1;
            sink.frame(&frame)?;
            // `mbuf` is dropped (freed) here, before the next packet.
        }
        sink.burst_end()?;
        stats.active = started.elapsed();
        if stopping {
            drained = drained.saturating_add(n);
            if drained >= usize::from(ring_size) {
                return Ok(stats);
            }
        }
    }
}

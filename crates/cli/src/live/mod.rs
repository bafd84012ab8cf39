//! Live capture from a DPDK port (`streamcut live`, cargo feature `dpdk`).
//!
//! Live mode replaces only where frames come from: the port's rx queues are
//! an [`engine::FrameSource`] ([`source::LiveSource`]), and the frames go
//! through the same engine as a capture file's (batches, parallel decoding,
//! defragmentation, sharding by the symmetric flow hash, housekeeping by
//! packet time, one assembler per worker) into the same
//! [`Output`](crate::output::Output) as `extract`. The pieces:
//! - the [`dpdk`] crate (`crates/dpdk`, package `streamcut-dpdk`): the FFI
//!   (the only `unsafe` in the workspace) and safe wrappers: EAL, port, rx
//!   queue, mbuf.
//! - [`source`]: the frame source: polls the queues round-robin, numbers,
//!   stamps and hands over frames, frees mbufs, idles, drains on stop.
//! - [`stop`]: signal / idle / count stop and the frame numbering.
//! - [`timestamp`]: driver rx timestamp or clock.
//! - [`capture`]: EAL, the port, the rx thread and the supervisor.
//! - [`command`]: `streamcut live` itself (output, signals, summary).
//!
//! # Threads
//! - EAL is initialised on a thread of its own, because `rte_eal_init` pins
//!   its calling thread (and every thread that thread creates later) to the
//!   first lcore.
//! - One rx thread, started from the main thread, registers with EAL as a
//!   non-EAL lcore ([`dpdk::LcoreRegistration`]) so the mempool cache serves
//!   it, and runs the engine ([`engine::Engine::run_sink_partial`]) on the
//!   source. The engine calls [`engine::FrameSource::next`] only from the
//!   thread that runs it, so every poll of a queue and every free of an mbuf
//!   happens on that registered thread.
//! - The engine's workers (a rayon pool of `--queues` threads, none with one
//!   worker: then the rx thread does everything) decode and assemble copies
//!   of the frames; they never touch an mbuf and need no lcore.
//! - The main thread supervises: it turns signals and idle time into a
//!   stop, then waits for the rx thread, whose source drains the queues and
//!   ends the input, and whose engine then flushes every flow.
//!
//! # Queues
//! `--queues N` sets the engine's assembler workers to N: flows are spread
//! over them in software by the symmetric flow hash ([`pcapread::FlowKey::shard`]),
//! exactly as `extract --threads N` does, and the output does not depend on
//! N. When the port can, it is also configured with N rx queues and RSS
//! with a symmetric key, all polled by the one source; a driver without
//! RSS gets one queue. Either way the engine, not the NIC, decides which
//! worker assembles a flow.

pub mod command;
pub mod source;
pub mod stop;
pub mod timestamp;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use dpdk::{Eal, LcoreRegistration, PortSetup, PortStats, RssMode, RxQueue};
use source::{LiveSource, SourceStats};
use stop::{StopControl, StopReason};
use timestamp::{Stamper, TimestampSource};

/// The live source over a port's rx queues.
pub type PortSource<'s, 'p> = LiveSource<'s, Vec<RxQueue<'p>>>;

/// How often the supervisor checks for a signal or an idle port.
const SUPERVISE_EVERY: Duration = Duration::from_millis(5);

/// Settings of a live capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// EAL arguments (after `--` on the command line).
    pub eal_args: Vec<String>,
    /// Port to capture from (`None`: port 0, which must exist).
    pub port: Option<u16>,
    /// Rx queues, when the port can spread them by RSS (the engine's
    /// workers are set apart, in the job).
    pub queues: u16,
    /// RSS hash when `queues > 1`.
    pub rss: RssMode,
    /// Stop after this long without packets.
    pub idle_exit: Option<Duration>,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Packet time source.
    pub timestamps: TimestampSource,
    /// Descriptors per rx queue.
    pub rx_desc: u16,
}

/// How the port was set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSummary {
    /// Port id.
    pub port: u16,
    /// Device name.
    pub name: String,
    /// Driver name.
    pub driver: String,
    /// Rx queues configured.
    pub rx_queues: u16,
    /// Whether RSS spreads packets over the queues.
    pub rss: bool,
    /// Whether packet times come from the driver.
    pub driver_timestamps: bool,
}

/// Everything a finished capture reports.
#[derive(Debug)]
pub struct LiveOutcome<T> {
    /// Port setup.
    pub port: PortSummary,
    /// Why it stopped.
    pub reason: StopReason,
    /// Port counters at the end.
    pub stats: PortStats,
    /// Frames numbered (processed plus dropped past `--count`).
    pub frames: u64,
    /// The source's counters.
    pub source: SourceStats,
    /// What the run on the rx thread returned.
    pub run: T,
}

/// Mbufs for a port: every descriptor of every queue filled, plus bursts in
/// flight and per-lcore caches, rounded up to 2^n - 1 (the mempool's best size).
fn pool_size(queues: u16, rx_desc: u16, cache: u32) -> u32 {
    let (queues, rx_desc) = (u64::from(queues), u64::from(rx_desc));
    let need = queues * (rx_desc + 2 * dpdk::BURST as u64) + (queues + 2) * u64::from(cache) + 1024;
    let size = need.max(8191).next_power_of_two() - 1;
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// Initialises EAL (on its own thread), starts the port, tells `started`
/// how it was set up, and calls `run` with a [`PortSource`] over the port's
/// rx queues on one thread, registered as an lcore (`run` runs the engine
/// on it, so the source is polled from that thread only). Meanwhile the
/// calling thread supervises: a signal, `--idle-exit` or `--count` stops
/// the capture (the source then drains the queues and ends, and `run`
/// finishes its work). Then the port is stopped and EAL released.
///
/// The port gets `opts.queues` rx queues when it can spread them by a
/// symmetric RSS hash, else one.
pub fn capture<T, F>(
    opts: &LiveOptions,
    signal: Arc<AtomicBool>,
    started: impl FnOnce(&PortSummary),
    run: F,
) -> anyhow::Result<LiveOutcome<T>>
where
    T: Send,
    F: for<'s, 'p> FnOnce(&mut PortSource<'s, 'p>) -> anyhow::Result<T> + Send,
{
    let args = opts.eal_args.clone();
    let eal = std::thread::Builder::new()
        .name("eal-init".into())
        .spawn(move || Eal::init(&args))
        .context("starting the EAL thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("EAL initialisation panicked"))??;
    let result = capture_with(&eal, opts, signal, started, run);
    eal.cleanup();
    result
}

fn capture_with<T, F>(
    eal: &Eal,
    opts: &LiveOptions,
    signal: Arc<AtomicBool>,
    started: impl FnOnce(&PortSummary),
    run: F,
) -> anyhow::Result<LiveOutcome<T>>
where
    T: Send,
    F: for<'s, 'p> FnOnce(&mut PortSource<'s, 'p>) -> anyhow::Result<T> + Send,
{
    let ports = eal.port_count();
    if ports == 0 {
        bail!("DPDK found no ports: bind a NIC to vfio-pci or pass a --vdev (see docs/live.md)");
    }
    let port_id = opts.port.unwrap_or(0);
    if port_id >= ports {
        bail!("port {port_id} does not exist (DPDK has {ports} port(s))");
    }
    let info = eal.port_info(port_id)?;
    let rss_ok = opts.queues > 1 && opts.rss != RssMode::Off && info.rss_ip;
    let rx_queues = if rss_ok { opts.queues } else { 1 };
    if rx_queues > info.max_rx_queues {
        bail!(
            "port {port_id} ({}) has at most {} rx queues, {rx_queues} asked",
            info.driver,
            info.max_rx_queues
        );
    }
    let cache = 256;
    let setup = |rx_queues: u16| PortSetup {
        rx_queues,
        rx_desc: opts.rx_desc,
        mbufs: pool_size(rx_queues, opts.rx_desc, cache),
        mbuf_cache: cache,
        rss: if rx_queues > 1 {
            opts.rss
        } else {
            RssMode::Off
        },
        hw_timestamp: opts.timestamps != TimestampSource::Clock,
    };
    let (port, rx_queues) = match eal.start_port(port_id, &setup(rx_queues)) {
        Ok(port) => (port, rx_queues),
        // Some drivers list RSS hash types but refuse the configuration
        // (net_tap without the multiq qdisc): fall back to one queue.
        Err(e) if rx_queues > 1 => {
            eprintln!("streamcut: {e}; RSS refused, using one rx queue");
            (eal.start_port(port_id, &setup(1))?, 1)
        }
        Err(e) => return Err(e.into()),
    };
    let resolved = match timestamp::resolve(opts.timestamps, &info.driver, port.timestamp_field()) {
        Ok(r) => r,
        Err(e) => {
            port.close()?;
            bail!(e);
        }
    };
    let summary = PortSummary {
        port: port_id,
        name: info.name.clone(),
        driver: info.driver.clone(),
        rx_queues,
        rss: port.rss_hf() != 0,
        driver_timestamps: resolved != timestamp::Resolved::Clock,
    };
    started(&summary);
    // One poller: the source.
    let stop = StopControl::new(signal, opts.count, opts.idle_exit, 1);
    let ring_size = port.rx_desc();
    let queues = port.rx_queues();
    let result: anyhow::Result<(T, SourceStats)> = std::thread::scope(|scope| {
        let stop = &stop;
        let spawned =
            std::thread::Builder::new()
                .name("rx".into())
                .spawn_scoped(scope, move || {
                    // Registered for as long as mbufs are polled and freed here:
                    // the source is dropped first.
                    let _lcore = LcoreRegistration::new(eal);
                    let mut source =
                        LiveSource::new(queues, ring_size, stop, Stamper::new(resolved));
                    let ran = run(&mut source);
                    // The run ended before the source did: an error (fatal, or
                    // an output error returned inside `T`).
                    if ran.is_err() || !source.ended() {
                        stop.stop(StopReason::Error);
                    }
                    let stats = source.stats();
                    drop(source);
                    ran.map(|t| (t, stats))
                });
        let handle = match spawned {
            Ok(h) => h,
            Err(e) => return Err(anyhow::Error::new(e).context("starting the rx thread")),
        };
        while !handle.is_finished() {
            stop.check();
            std::thread::sleep(SUPERVISE_EVERY);
        }
        handle
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the rx thread panicked")))
    });
    let stats = port.stats().unwrap_or_default();
    port.close()?;
    let (run, source) = result?;
    Ok(LiveOutcome {
        port: summary,
        reason: stop.reason().unwrap_or(StopReason::Signal),
        stats,
        frames: stop.frames(),
        source,
        run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_a_power_of_two_minus_one_and_covers_the_rings() {
        let p = pool_size(1, 1024, 256);
        assert_eq!(p, 8191);
        let p = pool_size(16, 4096, 256);
        assert!((p + 1).is_power_of_two());
        assert!(p >= 16 * 4096 + 18 * 256);
        // The largest request does not overflow.
        assert_eq!(pool_size(u16::MAX, u16::MAX, 512), u32::MAX);
    }
}

//! Live capture from a DPDK port (`streamcut live`, cargo feature `dpdk`).
//!
//! Live mode replaces only the first box of the data flow: frames come from
//! DPDK mbufs instead of a capture file and go into the same decoder,
//! assembler and output as `extract`. The pieces:
//! - the [`dpdk`] crate (`crates/dpdk`, package `streamcut-dpdk`): the FFI
//!   (the only `unsafe` in the workspace) and safe wrappers: EAL, port, rx
//!   queue, mbuf.
//! - [`worker`]: one thread per rx queue: poll, build [`pcapread::Frame`]s,
//!   feed a [`worker::FrameSink`], free mbufs.
//! - [`stop`]: signal / idle / count stop and the frame numbering.
//! - [`timestamp`]: driver rx timestamp or clock.
//! - [`dispatch`]: software flow hashing when the port has no RSS.
//!
//! Threads: EAL is initialised on a thread of its own, because `rte_eal_init`
//! pins its calling thread (and every thread that thread creates later) to
//! the first lcore. Workers are started from the main thread and register
//! with EAL for a mempool cache. The main thread supervises: it turns
//! signals and idle time into a stop, then waits for the workers to drain
//! and flush.
//!
//! Queues: with `--queues N > 1` the port is configured for RSS with a
//! symmetric key so both directions of a flow reach the same queue, and each
//! queue's worker owns a whole pipeline (decoder and assembler). A driver
//! without RSS gets one queue whose worker becomes a [`dispatch::Dispatcher`]
//! handing frames to N assembler threads by [`pcapread::FlowKey::shard`].
//!
//! The `streamcut live` command itself (pipelines, shared file sink,
//! manifest) is [`command`].

pub mod command;
pub mod dispatch;
pub mod stop;
pub mod timestamp;
pub mod worker;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use dpdk::{Eal, PortSetup, PortStats, RssMode};
use stop::{StopControl, StopReason};
use timestamp::{Stamper, TimestampSource};
use worker::{QueueRun, WorkerStats};

/// How often the supervisor checks for a signal or an idle port.
const SUPERVISE_EVERY: Duration = Duration::from_millis(5);

/// Settings of a live capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// EAL arguments (after `--` on the command line).
    pub eal_args: Vec<String>,
    /// Port to capture from (`None`: port 0, which must exist).
    pub port: Option<u16>,
    /// Rx queues (with RSS) or assembler workers (without).
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
    /// Per worker: its sink's output and counters, in queue order.
    pub workers: Vec<(T, WorkerStats)>,
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
/// how it was set up, calls `per_queue`
/// on one thread per rx queue (it builds that queue's pipeline, calls
/// [`QueueRun::run`] with it, flushes it and returns its result), and stops
/// on a signal, `--idle-exit` or `--count`; then stops the port and releases
/// EAL.
///
/// The port gets `opts.queues` rx queues when it can spread them by a
/// symmetric RSS hash, else one ([`QueueRun::port_queues`] tells the
/// pipelines which).
pub fn capture<T, F>(
    opts: &LiveOptions,
    signal: Arc<AtomicBool>,
    started: impl FnOnce(&PortSummary),
    per_queue: F,
) -> anyhow::Result<LiveOutcome<T>>
where
    T: Send,
    F: Fn(QueueRun<'_, '_>) -> anyhow::Result<(T, WorkerStats)> + Sync,
{
    let args = opts.eal_args.clone();
    let eal = std::thread::Builder::new()
        .name("eal-init".into())
        .spawn(move || Eal::init(&args))
        .context("starting the EAL thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("EAL initialisation panicked"))??;
    let result = capture_with(&eal, opts, signal, started, per_queue);
    eal.cleanup();
    result
}

fn capture_with<T, F>(
    eal: &Eal,
    opts: &LiveOptions,
    signal: Arc<AtomicBool>,
    started: impl FnOnce(&PortSummary),
    per_queue: F,
) -> anyhow::Result<LiveOutcome<T>>
where
    T: Send,
    F: Fn(QueueRun<'_, '_>) -> anyhow::Result<(T, WorkerStats)> + Sync,
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
    let stop = StopControl::new(signal, opts.count, opts.idle_exit, usize::from(rx_queues));
    let ring_size = port.rx_desc();
    let results: Vec<anyhow::Result<(T, WorkerStats)>> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for queue in port.rx_queues() {
            let (stop, per_queue) = (&stop, &per_queue);
            let run = QueueRun {
                eal,
                queue,
                port_queues: rx_queues,
                ring_size,
                stop,
                stamper: Stamper::new(resolved),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("rx-{}", run.index()))
                .spawn_scoped(scope, move || {
                    per_queue(run).inspect_err(|_| stop.stop(StopReason::Error))
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.stop(StopReason::Error);
                    handles.push(scope.spawn(move || {
                        Err(anyhow::Error::new(e).context("starting an rx worker"))
                    }));
                    break;
                }
            }
        }
        while !handles.iter().all(|h| h.is_finished()) {
            stop.check();
            std::thread::sleep(SUPERVISE_EVERY);
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("an rx worker panicked")))
            })
            .collect()
    });
    let stats = port.stats().unwrap_or_default();
    port.close()?;
    let mut workers = Vec::with_capacity(results.len());
    for r in results {
        workers.push(r?);
    }
    Ok(LiveOutcome {
        port: summary,
        reason: stop.reason().unwrap_or(StopReason::Signal),
        stats,
        frames: stop.frames(),
        workers,
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

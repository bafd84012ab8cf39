//! When a live capture stops, and the frame numbers it hands out.
//!
//! A capture from a port has no end of file (net_pcap, too, returns empty
//! polls forever after its last record), so it stops on a signal
//! (SIGINT/SIGTERM), after `--idle-exit` without packets, or after `--count`
//! frames. [`StopControl`] is shared by the supervisor (the main thread) and
//! the poller (the [`LiveSource`](super::source::LiveSource) on the thread
//! that runs the engine): the poller claims frame numbers and reports
//! activity; the supervisor checks the idle time and the signal flag.
//!
//! Idle means: the poller's latest round of polls was empty, and no packet
//! came for the `--idle-exit` duration. A poller that is merely slow
//! (descheduled on a loaded machine between two bursts of a busy port, or
//! waiting for the engine's workers) is not idle, so a replayed file is
//! never cut short by a scheduling hiccup.
//!
//! Frame numbers: each poll claims a contiguous block from one counter per
//! port, so numbers follow arrival order within a queue; across queues they
//! interleave by poll, not by wire time. With one queue they are exactly
//! the arrival order, which for net_pcap is the order of the records in the
//! file, the same numbers `extract` gives.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a capture stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Signal,
    /// No packet for the `--idle-exit` duration.
    Idle,
    /// `--count` frames were taken.
    Count,
    /// The run failed (its error is reported separately).
    Error,
}

impl StopReason {
    /// Name printed in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Signal => "signal",
            StopReason::Idle => "idle",
            StopReason::Count => "count",
            StopReason::Error => "error",
        }
    }

    fn code(self) -> u8 {
        match self {
            StopReason::Signal => 1,
            StopReason::Idle => 2,
            StopReason::Count => 3,
            StopReason::Error => 4,
        }
    }

    fn from_code(code: u8) -> Option<StopReason> {
        match code {
            1 => Some(StopReason::Signal),
            2 => Some(StopReason::Idle),
            3 => Some(StopReason::Count),
            4 => Some(StopReason::Error),
            _ => None,
        }
    }
}

/// What the poller may do with one claimed frame number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Process the frame under this number.
    Take(u64),
    /// Past `--count`: free the packet unprocessed.
    Drop,
}

/// Shared stop state of one capture.
#[derive(Debug)]
pub struct StopControl {
    /// Set asynchronously by the signal handler.
    signal: Arc<AtomicBool>,
    /// First stop reason (0: running).
    reason: std::sync::atomic::AtomicU8,
    /// Frame numbers handed out so far.
    frames: AtomicU64,
    /// Milliseconds after `start` of the last non-empty poll.
    last_rx_ms: AtomicU64,
    /// Pollers whose latest round returned packets (or that have not had an
    /// empty round yet). Idle time counts only while this is zero, so a
    /// poller descheduled between bursts of a busy port never looks idle.
    busy: AtomicUsize,
    start: Instant,
    count: Option<u64>,
    idle: Option<Duration>,
}

impl StopControl {
    /// A running capture with `pollers` pollers (the live source is one);
    /// `signal` is the flag the signal handler sets.
    pub fn new(
        signal: Arc<AtomicBool>,
        count: Option<u64>,
        idle: Option<Duration>,
        pollers: usize,
    ) -> Self {
        StopControl {
            signal,
            reason: std::sync::atomic::AtomicU8::new(0),
            frames: AtomicU64::new(0),
            last_rx_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(pollers),
            start: Instant::now(),
            count,
            idle,
        }
    }

    /// Records the first reason to stop (later ones are ignored).
    pub fn stop(&self, reason: StopReason) {
        let _ = self
            .reason
            .compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Why the capture stopped, if it did.
    pub fn reason(&self) -> Option<StopReason> {
        StopReason::from_code(self.reason.load(Ordering::SeqCst))
    }

    /// Whether pollers should stop taking new packets (and drain their queues).
    pub fn stopping(&self) -> bool {
        self.reason.load(Ordering::Relaxed) != 0
    }

    /// A poller's round came back empty (`true`) or with packets (`false`)
    /// after the opposite; each of the `pollers` starts as busy.
    pub fn set_idle(&self, idle: bool) {
        if idle {
            self.busy.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.busy.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Claims numbers for a poll of `n` packets and notes the activity;
    /// returns the first number (numbers start at 1).
    pub fn claim(&self, n: usize) -> u64 {
        let n = n as u64;
        let ms = self.elapsed_ms();
        self.last_rx_ms.fetch_max(ms, Ordering::Relaxed);
        self.frames.fetch_add(n, Ordering::SeqCst).saturating_add(1)
    }

    /// What to do with the frame numbered `number`; reaching `--count`
    /// stops the capture.
    pub fn admit(&self, number: u64) -> Claim {
        match self.count {
            Some(limit) if number > limit => {
                self.stop(StopReason::Count);
                Claim::Drop
            }
            Some(limit) if number == limit => {
                self.stop(StopReason::Count);
                Claim::Take(number)
            }
            _ => Claim::Take(number),
        }
    }

    /// Frames processed or dropped so far (numbers handed out, capped at `--count`).
    pub fn frames(&self) -> u64 {
        let n = self.frames.load(Ordering::SeqCst);
        self.count.map_or(n, |c| n.min(c))
    }

    /// The supervisor's check: turns a raised signal flag or an idle port
    /// into a stop. Returns whether the capture is stopping.
    pub fn check(&self) -> bool {
        if self.signal.load(Ordering::SeqCst) {
            self.stop(StopReason::Signal);
        }
        let all_idle = self.busy.load(Ordering::SeqCst) == 0;
        if let (Some(idle), true) = (self.idle, all_idle) {
            let quiet = self
                .elapsed_ms()
                .saturating_sub(self.last_rx_ms.load(Ordering::Relaxed));
            if u128::from(quiet) >= idle.as_millis() {
                self.stop(StopReason::Idle);
            }
        }
        self.stopping()
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(count: Option<u64>, idle: Option<Duration>) -> (Arc<AtomicBool>, StopControl) {
        let flag = Arc::new(AtomicBool::new(false));
        (flag.clone(), StopControl::new(flag, count, idle, 1))
    }

    #[test]
    fn claims_are_contiguous_blocks_from_one() {
        let (_, c) = control(None, None);
        assert_eq!(c.claim(3), 1);
        assert_eq!(c.claim(32), 4);
        assert_eq!(c.claim(1), 36);
        assert_eq!(c.frames(), 36);
        assert!(!c.stopping());
    }

    #[test]
    fn count_takes_exactly_n_frames_then_stops() {
        let (_, c) = control(Some(5), None);
        let first = c.claim(4);
        let taken: Vec<Claim> = (first..first + 4).map(|n| c.admit(n)).collect();
        assert!(taken.iter().all(|t| matches!(t, Claim::Take(_))));
        assert!(!c.stopping());
        let first = c.claim(3);
        assert_eq!(c.admit(first), Claim::Take(5));
        assert!(c.stopping());
        assert_eq!(c.admit(first + 1), Claim::Drop);
        assert_eq!(c.admit(first + 2), Claim::Drop);
        assert_eq!(c.reason(), Some(StopReason::Count));
        assert_eq!(c.frames(), 5);
    }

    #[test]
    fn signal_flag_becomes_a_signal_stop() {
        let (flag, c) = control(None, None);
        assert!(!c.check());
        flag.store(true, Ordering::SeqCst);
        assert!(c.check());
        assert_eq!(c.reason(), Some(StopReason::Signal));
    }

    #[test]
    fn first_reason_wins() {
        let (flag, c) = control(Some(1), None);
        let n = c.claim(1);
        assert_eq!(c.admit(n), Claim::Take(1));
        flag.store(true, Ordering::SeqCst);
        assert!(c.check());
        assert_eq!(c.reason(), Some(StopReason::Count));
    }

    #[test]
    fn zero_idle_stops_once_every_worker_polled_empty() {
        let (_, c) = control(None, Some(Duration::ZERO));
        // Not polled yet: a worker that has not run is not idle.
        assert!(!c.check());
        c.set_idle(true);
        assert!(c.check());
        assert_eq!(c.reason(), Some(StopReason::Idle));
    }

    #[test]
    fn a_busy_worker_is_never_idle() {
        let flag = Arc::new(AtomicBool::new(false));
        let c = StopControl::new(flag, None, Some(Duration::ZERO), 2);
        c.set_idle(true);
        assert!(!c.check(), "the second worker is still busy");
        c.set_idle(false);
        c.set_idle(true);
        assert!(!c.check());
        c.set_idle(true);
        assert!(c.check());
    }

    #[test]
    fn long_idle_does_not_stop_a_fresh_capture() {
        let (_, c) = control(None, Some(Duration::from_secs(3600)));
        c.claim(1);
        assert!(!c.check());
        assert_eq!(c.reason(), None);
    }
}

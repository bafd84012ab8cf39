//! Housekeeping by packet time: the one rule that says when the assemblers
//! give up on holes and complete idle flows.
//!
//! At the first frame whose timestamp reaches the next multiple of
//! [`Housekeeping::tick`] (nanoseconds since the epoch), with `now` that
//! multiple, every worker's assembler skips the holes whose data has waited
//! since before `now - flush_after` ([`Assembler::flush_older_than`]) and
//! completes idle or ended flows ([`Assembler::expire`], with the idle
//! timeouts of [`reassembly::AssemblerConfig`]). Only packet timestamps
//! decide when this happens, never the wall clock, so the same packets give
//! the same flows on any machine, with any number of workers. A library user
//! gets this for free: the engine runs it, the user never calls a tick.

use reassembly::{Assembler, StreamFactory};

/// When the engine asks the assemblers to give up on holes and idle flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Housekeeping {
    /// Interval between housekeeping rounds (ns of packet time).
    pub tick: u64,
    /// How long out-of-order data may wait for a hole to fill (ns).
    pub flush_after: u64,
}

impl Default for Housekeeping {
    /// Every second of packet time; holes wait up to 120 seconds.
    fn default() -> Self {
        Housekeeping {
            tick: 1_000_000_000,
            flush_after: 120 * 1_000_000_000,
        }
    }
}

impl Housekeeping {
    /// One housekeeping round at tick boundary `now` on `asm`.
    pub fn run<F: StreamFactory>(&self, asm: &mut Assembler<F>, now: u64) {
        asm.flush_older_than(now.saturating_sub(self.flush_after));
        asm.expire(now);
    }
}

/// Where packet time stands against the tick boundaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    next_tick: u64,
}

impl Clock {
    /// The tick boundary a frame at `ts` reaches, if it reaches the next one
    /// (boundaries are multiples of `tick` ns; the first frame always
    /// reaches one).
    pub fn due(&mut self, ts: u64, tick: u64) -> Option<u64> {
        if ts < self.next_tick {
            return None;
        }
        let tick = tick.max(1);
        let now = ts - ts % tick;
        self.next_tick = now.saturating_add(tick);
        Some(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_multiples_and_only_forward() {
        let mut c = Clock::default();
        let s = 1_000_000_000;
        assert_eq!(c.due(5 * s + 7, s), Some(5 * s));
        assert_eq!(c.due(5 * s + 900, s), None);
        // A clock that steps back does not tick again.
        assert_eq!(c.due(2 * s, s), None);
        assert_eq!(c.due(6 * s, s), Some(6 * s));
        // A jump ticks once, at the boundary it reaches.
        assert_eq!(c.due(60 * s + 1, s), Some(60 * s));
        // A zero tick is read as 1 ns.
        let mut z = Clock::default();
        assert_eq!(z.due(9, 0), Some(9));
        assert_eq!(z.due(9, 0), None);
        assert_eq!(z.due(10, 0), Some(10));
    }
}

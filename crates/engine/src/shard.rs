//! `--shard K/N`: the part of the flows one run of a split job reassembles.
//!
//! A run given [`Shard`] `K/N` reads and decodes every frame (IP fragments
//! are defragmented first, so a fragmented datagram lands with its flow),
//! then keeps only the segments whose flow is in shard `K`, counting the
//! others ([`Summary::other_shard`](crate::Summary::other_shard)). Flow ids
//! are frame numbers and housekeeping follows packet time over all frames,
//! so every flow of shard `K` gets exactly the records, bytes and file names
//! it gets in a run over everything, and the `N` shards together hold every
//! flow once.
//!
//! # The split (part of the output contract)
//! The shard of a flow is `floor(h × N / 2^64)`, where `h` is
//! [`FlowKey::symmetric_hash`] (specified there byte for byte): the
//! high-order bits of the hash, so it is the same on every machine, run and
//! version, and independent of the worker a flow lands on inside a run
//! (workers use `h mod workers`, the low-order bits): any `--threads` of a
//! shard writes the same output, and each shard still spreads over all its
//! workers.

use std::fmt;
use std::str::FromStr;

use pcapread::FlowKey;

/// Most shards a job may be split into.
pub const MAX_SHARDS: u32 = 1 << 16;

/// Shard `index` of `count` (`0 <= index < count <= MAX_SHARDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// A shard that cannot be: `K/N` with `K >= N`, `N = 0` or `N > MAX_SHARDS`,
/// or text not of the form `K/N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid shard {0:?}: expected K/N with 0 <= K < N <= {MAX_SHARDS} (e.g. 0/4)")]
pub struct ShardError(pub String);

impl Shard {
    /// Shard `index` of `count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(ShardError(format!("{index}/{count}")));
        }
        Ok(Shard { index, count })
    }

    /// K.
    pub fn index(self) -> u32 {
        self.index
    }

    /// N.
    pub fn count(self) -> u32 {
        self.count
    }

    /// The shard (of `count`) that flow `key` belongs to: `floor(h × count / 2^64)`.
    pub fn of(key: &FlowKey, count: u32) -> u32 {
        let wide = u128::from(key.symmetric_hash()) * u128::from(count.max(1));
        // < count <= u32::MAX: the shift leaves the high 64 bits, below count.
        u32::try_from(wide >> 64).unwrap_or(u32::MAX)
    }

    /// Whether flow `key` is in this shard.
    pub fn holds(self, key: &FlowKey) -> bool {
        Shard::of(key, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let parse = |t: &str| {
            // Digits only: no sign, no spaces.
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u32>().map_err(|_| bad())
        };
        Shard::new(parse(k)?, parse(n)?).map_err(|_| bad())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pcapread::{FiveTuple, Proto};
    use std::net::SocketAddr;

    fn key(i: u32) -> FlowKey {
        let a = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 40000));
        let b = SocketAddr::from(([192, 0, 2, 1], 80));
        FiveTuple {
            proto: Proto::Tcp,
            src: a,
            dst: b,
        }
        .canonical()
        .0
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!("3/4".parse::<Shard>().unwrap(), Shard::new(3, 4).unwrap());
        assert_eq!("0/1".parse::<Shard>().unwrap().to_string(), "0/1");
        for bad in [
            "4/4", "0/0", "1", "/2", "1/", "-1/2", "+1/2", " 1/2", "1/2/3", "a/b", "0/65537",
        ] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert!("65535/65536".parse::<Shard>().is_ok());
    }

    #[test]
    fn every_flow_in_exactly_one_shard() {
        for n in 1..=8 {
            for i in 0..500 {
                let k = key(i);
                let holders = (0..n)
                    .filter(|&s| Shard::new(s, n).unwrap().holds(&k))
                    .count();
                assert_eq!(holders, 1, "flow {i}, {n} shards");
            }
        }
    }

    /// The split does not follow the worker split: inside one shard, flows
    /// still spread over every worker (with `h mod N` for both, shard 0 of
    /// 2 would put every flow on worker 0 of 2).
    #[test]
    fn shards_spread_over_all_workers() {
        for n in [2u32, 3, 4, 8] {
            for workers in [2usize, 3, 4] {
                let shard = Shard::new(0, n).unwrap();
                let mut per_worker = vec![0usize; workers];
                let mut total = 0;
                for i in 0..20_000 {
                    let k = key(i);
                    if shard.holds(&k) {
                        per_worker[k.shard(workers)] += 1;
                        total += 1;
                    }
                }
                let even = total / workers;
                for (w, &c) in per_worker.iter().enumerate() {
                    assert!(
                        c > even * 8 / 10 && c < even * 12 / 10,
                        "shard 0/{n}, worker {w} of {workers}: {c} of {total} flows"
                    );
                }
                // And the shard holds about 1/n of the flows.
                let want = 20_000 / n as usize;
                assert!(
                    total > want * 8 / 10 && total < want * 12 / 10,
                    "0/{n}: {total}"
                );
            }
        }
    }
}

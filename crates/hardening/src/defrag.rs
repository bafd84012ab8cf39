//! Fuzz check of the IP defragmenter: a sequence of fragments of a few
//! datagrams (and clock jumps), drawn with `arbitrary`.
//!
//! Promises checked after every step: pending datagrams and bytes stay within
//! the limits, and the counters count every fragment. A completed datagram is
//! at most 65535 bytes, ends where a last fragment said it ends, and every one of
//! its bytes was offered at that offset by a fragment of the same datagram
//! (nothing mixes between datagrams). When nothing was evicted, timed out or
//! dropped, completion is exactly first-wins: each byte is the first one offered
//! at its offset.

use std::collections::BTreeMap;
use std::net::IpAddr;

use arbitrary::{Arbitrary, Unstructured};
use pcapread::defrag::{DropReason, FragKey, Fragment, Outcome};
use pcapread::{DefragConfig, Defragmenter};

/// One step of a defragmentation run.
#[derive(Debug, Arbitrary)]
pub enum FragOp {
    /// A fragment of datagram `datagram % 6`.
    Fragment {
        /// Which datagram (3 IPv4, 3 IPv6 keys).
        datagram: u8,
        /// Offset in 8-byte units (`% 8192`: the 13 bits of the wire encoding).
        offset_units: u16,
        /// Add this to the offset in bytes (non-zero values are unaligned).
        misalign: u8,
        /// More fragments follow.
        more: bool,
        /// Payload length in 8-byte units (`% 256`; 0 is an empty fragment).
        len_units: u8,
        /// Bytes added to the length when at least 128 (`% 8`: unaligned lengths).
        len_extra: u8,
        /// Byte content variant (0: the datagram's "true" bytes).
        variant: u8,
        /// Time step before it, in units of 10 ms.
        dt: u8,
    },
    /// Expire by packet time, `dt` units of 100 ms from now.
    Expire {
        /// Time step.
        dt: u8,
    },
}

/// Limits and steps of one run.
#[derive(Debug, Arbitrary)]
pub struct FragInput {
    max_datagrams: u8,
    max_bytes_kib: u8,
    timeout_units: u8,
    ops: Vec<FragOp>,
}

fn key(i: u8) -> FragKey {
    let i = i % 6;
    let (version, src, dst) = if i < 3 {
        (4, IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]))
    } else {
        (
            6,
            IpAddr::from([0xfe80u16, 0, 0, 0, 0, 0, 0, 1]),
            IpAddr::from([0xfe80u16, 0, 0, 0, 0, 0, 0, 2]),
        )
    };
    FragKey {
        version,
        src,
        dst,
        id: u32::from(i % 3),
        proto: if i % 3 == 2 { 17 } else { 6 },
    }
}

fn byte_at(key: u8, off: u32, variant: u8) -> u8 {
    (off.wrapping_mul(0x9e37_79b1) >> 24) as u8 ^ key.wrapping_mul(17) ^ variant
}

/// The defragmenter fuzz target's check: see the module documentation.
pub fn check_defrag(data: &[u8]) {
    let u = Unstructured::new(data);
    let Ok(input) = FragInput::arbitrary_take_rest(u) else {
        return;
    };
    run(&input);
}

/// Run one drawn input (exposed for tests that build inputs by hand).
pub fn run(input: &FragInput) {
    let cfg = DefragConfig {
        max_datagrams: usize::from(input.max_datagrams % 8),
        max_bytes: usize::from(input.max_bytes_kib) * 512,
        timeout_ns: (u64::from(input.timeout_units) + 1) * 100_000_000,
    };
    let mut d = Defragmenter::new(cfg);
    let mut now = 0u64;
    // Per datagram key: bytes offered at each offset since it last completed
    // (all variants), and the first one offered.
    let mut offered: BTreeMap<u8, BTreeMap<u32, Vec<u8>>> = BTreeMap::new();
    let mut fragments = 0u64;
    for op in &input.ops {
        match *op {
            FragOp::Fragment {
                datagram,
                offset_units,
                misalign,
                more,
                len_units,
                len_extra,
                variant,
                dt,
            } => {
                now += u64::from(dt) * 10_000_000;
                let k = datagram % 6;
                let offset = u32::from(offset_units % 8192) * 8
                    + u32::from(misalign % 8 * u8::from(misalign >= 200));
                let extra = if len_extra >= 128 {
                    u32::from(len_extra % 8)
                } else {
                    0
                };
                let len = u32::from(len_units) * 8 + extra;
                let payload: Vec<u8> = (0..len).map(|i| byte_at(k, offset + i, variant)).collect();
                fragments += 1;
                let outcome = d.add(
                    key(k),
                    Fragment {
                        offset,
                        more,
                        payload: &payload,
                    },
                    now,
                );
                let entry = offered.entry(k).or_default();
                let stored = !matches!(outcome, Outcome::Dropped(_));
                if stored {
                    for (i, &b) in payload.iter().enumerate() {
                        entry.entry(offset + i as u32).or_default().push(b);
                    }
                }
                if let Outcome::Dropped(r) = outcome {
                    // A fragment is dropped only for a reason its own fields or the limits explain.
                    match r {
                        DropReason::Unaligned => assert!(more && len % 8 != 0),
                        DropReason::TooBig | DropReason::Conflict => {}
                    }
                }
                if let Outcome::Complete { data, proto } = outcome {
                    assert_eq!(proto, key(k).proto);
                    assert!(data.len() <= 65535);
                    let lost = {
                        let s = d.stats();
                        s.evicted
                            + s.timed_out
                            + s.dropped_conflict
                            + s.dropped_too_big
                            + s.dropped_unaligned
                    };
                    for (i, &b) in data.iter().enumerate() {
                        let seen = entry.get(&(i as u32));
                        let seen = seen.unwrap_or_else(|| {
                            panic!("byte {i} of a completed datagram was never offered")
                        });
                        assert!(
                            seen.contains(&b),
                            "byte {i} of a completed datagram is not one offered there"
                        );
                        if lost == 0 {
                            assert_eq!(seen.first(), Some(&b), "byte {i}: first copy did not win");
                        }
                    }
                    offered.remove(&k);
                }
            }
            FragOp::Expire { dt } => {
                now += u64::from(dt) * 100_000_000;
                d.expire(now);
            }
        }
        assert!(
            d.pending_datagrams() <= cfg.max_datagrams.max(1),
            "{} datagrams pending",
            d.pending_datagrams()
        );
        assert!(
            d.pending_bytes() <= cfg.max_bytes,
            "{} bytes pending, cap {}",
            d.pending_bytes(),
            cfg.max_bytes
        );
        let s = d.stats();
        assert_eq!(s.fragments, fragments);
        if d.pending_datagrams() == 0 {
            assert_eq!(d.pending_bytes(), 0);
        }
    }
}

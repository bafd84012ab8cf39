//! Property test: for small random configs, the naive model reassembles
//! exactly what `Expected` says.

#![allow(clippy::unwrap_used)]

mod common;

use capgen::{ByteRange, DataOrder, EndMix, GenConfig, TsPrecision};
use proptest::prelude::*;

fn range(max: u64) -> impl Strategy<Value = ByteRange> {
    (0..=max, 0..=max).prop_map(|(a, b)| ByteRange::between(a.min(b), a.max(b)))
}

prop_compose! {
    fn small_config()(
        seed in any::<u64>(),
        flows in 0u64..12,
        concurrency in 1u32..6,
        c2s in range(6000),
        s2c in range(6000),
        mss in 1u16..1600,
        order in prop_oneof![Just(DataOrder::Interleaved), Just(DataOrder::RequestResponse)],
        ooo in 0.0..=1.0f64,
        retrans in 0.0..=1.0f64,
        overlap in 0.0..=1.0f64,
        ipv6 in 0.0..=1.0f64,
        wrap in 0.0..=1.0f64,
        udp in 0.0..=0.5f64,
        (fin, rst, none) in (0u32..3, 0u32..3, 1u32..3),
        precision in prop_oneof![Just(TsPrecision::Nano), Just(TsPrecision::Micro)],
        checksums in any::<bool>(),
        gap_ns in 0u64..2_000_000_000,
    ) -> GenConfig {
        GenConfig {
            seed, flows, concurrency,
            c2s_bytes: c2s, s2c_bytes: s2c, mss, data_order: order,
            ooo_rate: ooo, retrans_rate: retrans, overlap_rate: overlap,
            ipv6_fraction: ipv6, wrap_fraction: wrap, udp_fraction: udp,
            end: EndMix { fin, rst, none },
            start_ns: 1_600_000_000_000_000_000,
            gap_ns, precision, transport_checksums: checksums,
            http: None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn model_reproduces_expected(c in small_config()) {
        common::check(&c);
    }
}

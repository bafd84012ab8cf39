//! Same config and seed, same bytes; another seed, other bytes; and a flow's
//! content does not depend on how flows are interleaved.

#![allow(clippy::unwrap_used)]

use capgen::{generate_to_vec, ByteRange, GenConfig};

fn config(seed: u64) -> GenConfig {
    GenConfig {
        seed,
        flows: 50,
        concurrency: 8,
        c2s_bytes: ByteRange::between(0, 5000),
        s2c_bytes: ByteRange::between(0, 20_000),
        ooo_rate: 0.1,
        retrans_rate: 0.05,
        overlap_rate: 0.05,
        ipv6_fraction: 0.3,
        wrap_fraction: 0.2,
        udp_fraction: 0.1,
        ..GenConfig::default()
    }
}

#[test]
fn same_seed_same_bytes_and_answer() {
    let (a, ea) = generate_to_vec(&config(5)).unwrap();
    let (b, eb) = generate_to_vec(&config(5)).unwrap();
    assert_eq!(a, b);
    assert_eq!(ea, eb);
    assert_eq!(
        serde_json::to_string(&ea).unwrap(),
        serde_json::to_string(&eb).unwrap()
    );
}

#[test]
fn different_seed_different_bytes() {
    let (a, ea) = generate_to_vec(&config(5)).unwrap();
    let (b, eb) = generate_to_vec(&config(6)).unwrap();
    assert_ne!(a, b);
    assert_ne!(ea.flows[0].c2s.sha256, eb.flows[0].c2s.sha256);
}

#[test]
fn flows_do_not_depend_on_interleaving() {
    let one = GenConfig {
        concurrency: 1,
        ..config(8)
    };
    let many = GenConfig {
        concurrency: 13,
        ..config(8)
    };
    let (pa, a) = generate_to_vec(&one).unwrap();
    let (pb, b) = generate_to_vec(&many).unwrap();
    assert_ne!(pa, pb, "interleaving changes the packet order");
    assert_eq!(a.flows, b.flows);
    assert_eq!(a.totals, b.totals);
}

#[test]
fn expected_round_trips_through_json() {
    let (_, e) = generate_to_vec(&config(1)).unwrap();
    let mut json = Vec::new();
    e.to_json_writer(&mut json, true).unwrap();
    let mut compact = Vec::new();
    e.to_json_writer(&mut compact, false).unwrap();
    assert!(compact.len() < json.len());
    let back2: capgen::Expected = serde_json::from_slice(&compact).unwrap();
    assert_eq!(back2, e);
    let back: capgen::Expected = serde_json::from_slice(&json).unwrap();
    assert_eq!(back, e);
}

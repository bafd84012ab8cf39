//! The naive model (tests/common) reproduces `Expected` exactly — byte counts,
//! SHA-256, packet counts, endings — for each feature alone and all together,
//! and each feature really shows up in the capture.

#![allow(clippy::unwrap_used)]

mod common;

use capgen::{ByteRange, DataOrder, EndMix, FlowEnd, GenConfig, Proto, TsPrecision};
use common::check;

fn base() -> GenConfig {
    GenConfig {
        seed: 11,
        flows: 40,
        concurrency: 5,
        c2s_bytes: ByteRange::between(0, 9000),
        s2c_bytes: ByteRange::between(0, 30_000),
        mss: 1000,
        ..GenConfig::default()
    }
}

#[test]
fn in_order_baseline() {
    let (exp, m, _) = check(&base());
    for f in &m.flows {
        for d in [&f.c2s, &f.s2c] {
            assert_eq!((d.late_segments, d.dup_segments), (0, 0));
        }
    }
    assert!(exp
        .flows
        .iter()
        .all(|f| f.end == FlowEnd::Fin && f.proto == Proto::Tcp));
    assert_eq!(
        exp.totals.wire_payload_bytes,
        exp.totals.unique_payload_bytes
    );
}

#[test]
fn out_of_order_alone() {
    let c = GenConfig {
        ooo_rate: 0.2,
        ..base()
    };
    let (exp, m, _) = check(&c);
    let mut late = 0;
    for (e, f) in exp.flows.iter().zip(&m.flows) {
        // Without resends, a late segment is exactly a held-back one.
        assert_eq!(e.c2s.out_of_order, f.c2s.late_segments);
        assert_eq!(e.s2c.out_of_order, f.s2c.late_segments);
        assert_eq!(f.c2s.dup_segments + f.s2c.dup_segments, 0);
        late += f.c2s.late_segments + f.s2c.late_segments;
    }
    assert!(late > 20, "only {late} out-of-order segments");
    assert_eq!(
        exp.totals.wire_payload_bytes,
        exp.totals.unique_payload_bytes
    );
}

#[test]
fn retransmissions_alone() {
    let c = GenConfig {
        retrans_rate: 0.2,
        ..base()
    };
    let (exp, m, _) = check(&c);
    let mut dups = 0;
    for (e, f) in exp.flows.iter().zip(&m.flows) {
        // A retransmission never overtakes its original here (no holding
        // back), so each is a segment of nothing but old bytes.
        assert_eq!(e.c2s.retransmissions, f.c2s.dup_segments);
        assert_eq!(e.s2c.retransmissions, f.s2c.dup_segments);
        assert_eq!(f.c2s.partial_overlaps + f.s2c.partial_overlaps, 0);
        dups += f.c2s.dup_segments + f.s2c.dup_segments;
    }
    assert!(dups > 20, "only {dups} retransmissions");
    assert!(exp.totals.wire_payload_bytes > exp.totals.unique_payload_bytes);
}

#[test]
fn overlaps_alone() {
    let c = GenConfig {
        overlap_rate: 0.2,
        ..base()
    };
    let (exp, m, _) = check(&c);
    let mut n = 0;
    for (e, f) in exp.flows.iter().zip(&m.flows) {
        assert_eq!(e.c2s.overlaps, f.c2s.dup_segments);
        assert_eq!(e.s2c.overlaps, f.s2c.dup_segments);
        n += e.c2s.overlaps + e.s2c.overlaps;
    }
    assert!(n > 20, "only {n} overlaps");
    assert!(exp.totals.wire_payload_bytes > exp.totals.unique_payload_bytes);
}

#[test]
fn overlap_straddles_two_segments() {
    // One flow, one direction of three full segments: an overlapping resend
    // covers part of segment k-1 and part of segment k.
    let c = GenConfig {
        flows: 30,
        c2s_bytes: ByteRange::fixed(3000),
        s2c_bytes: ByteRange::fixed(0),
        overlap_rate: 1.0,
        ..base()
    };
    let (exp, m, pcap) = check(&c);
    assert!(exp.flows.iter().all(|f| f.c2s.overlaps == 2));
    assert!(m.flows.iter().all(|f| f.c2s.dup_segments == 2));
    // Find the resends in the capture: payloads not starting on a multiple
    // of the MSS.
    let mut straddling = 0;
    let (mut rest, _) = pcap_parser::pcap::parse_pcap_header(&pcap).unwrap();
    while !rest.is_empty() {
        let (r, b) = pcap_parser::pcap::parse_pcap_frame(rest).unwrap();
        rest = r;
        let p = etherparse::SlicedPacket::from_ethernet(b.data).unwrap();
        if let Some(etherparse::TransportSlice::Tcp(t)) = p.transport {
            if t.payload().is_empty() {
                continue;
            }
            let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
                panic!("not IPv4")
            };
            let src = std::net::IpAddr::from(ip.header().source_addr());
            let isn = exp
                .flows
                .iter()
                .find(|f| f.client.ip == src && f.client.port == t.source_port())
                .and_then(|f| f.c2s.isn)
                .unwrap();
            let off = u64::from(t.sequence_number().wrapping_sub(isn.wrapping_add(1)));
            let len = t.payload().len() as u64;
            if off % 1000 != 0 {
                let boundary = (off / 1000 + 1) * 1000;
                assert!(off < boundary && off + len > boundary, "not straddling");
                assert!(len <= 1000);
                straddling += 1;
            }
        }
    }
    assert_eq!(straddling, 60);
}

#[test]
fn wrap_across_2_pow_32_alone() {
    let c = GenConfig {
        wrap_fraction: 1.0,
        ..base()
    };
    let (exp, m, _) = check(&c);
    let wrapped = m
        .flows
        .iter()
        .flat_map(|f| [&f.c2s, &f.s2c])
        .filter(|d| d.wrapped)
        .count();
    let non_empty = exp
        .flows
        .iter()
        .flat_map(|f| [&f.c2s, &f.s2c])
        .filter(|d| d.bytes > 0)
        .count();
    assert_eq!(wrapped, non_empty, "every direction with data wraps");
    assert!(exp
        .flows
        .iter()
        .all(|f| f.c2s.isn.unwrap() > u32::MAX - 30_000));
}

#[test]
fn ipv6_alone() {
    let c = GenConfig {
        ipv6_fraction: 0.5,
        ..base()
    };
    let (exp, _, _) = check(&c);
    let v6 = exp.flows.iter().filter(|f| f.client.ip.is_ipv6()).count();
    assert!(v6 > 5 && v6 < 35, "{v6} IPv6 flows of 40");
}

#[test]
fn rst_alone() {
    let c = GenConfig {
        end: EndMix::RST,
        ..base()
    };
    let (exp, m, _) = check(&c);
    assert!(exp.flows.iter().all(|f| f.end == FlowEnd::Rst));
    // Both sides send RSTs in some flows.
    assert!(m.flows.iter().any(|f| f.c2s.rst) && m.flows.iter().any(|f| f.s2c.rst));
}

#[test]
fn no_ending_and_mixed_endings() {
    let (exp, _, _) = check(&GenConfig {
        end: EndMix::NONE,
        ..base()
    });
    assert!(exp.flows.iter().all(|f| f.end == FlowEnd::None));
    let (exp, _, _) = check(&GenConfig {
        end: EndMix {
            fin: 1,
            rst: 1,
            none: 1,
        },
        ..base()
    });
    for end in [FlowEnd::Fin, FlowEnd::Rst, FlowEnd::None] {
        assert!(exp.flows.iter().any(|f| f.end == end), "{end:?} missing");
    }
}

#[test]
fn udp_alone() {
    let c = GenConfig {
        udp_fraction: 1.0,
        ipv6_fraction: 0.3,
        ..base()
    };
    let (exp, _, _) = check(&c);
    assert!(exp.flows.iter().all(|f| f.proto == Proto::Udp
        && f.end == FlowEnd::None
        && f.c2s.isn.is_none()
        && f.c2s.bytes > 0));
}

#[test]
fn request_response_order() {
    let c = GenConfig {
        data_order: DataOrder::RequestResponse,
        ooo_rate: 0.1,
        retrans_rate: 0.1,
        ..base()
    };
    check(&c);
}

#[test]
fn microseconds_no_checksums_tiny_mss() {
    let c = GenConfig {
        precision: TsPrecision::Micro,
        transport_checksums: false,
        mss: 1,
        c2s_bytes: ByteRange::between(0, 40),
        s2c_bytes: ByteRange::between(0, 40),
        ooo_rate: 0.3,
        retrans_rate: 0.3,
        overlap_rate: 0.3,
        start_ns: 1_000_000_999_999_500,
        gap_ns: 333,
        ..base()
    };
    check(&c);
}

#[test]
fn empty_flows_and_zero_flows() {
    check(&GenConfig {
        c2s_bytes: ByteRange::fixed(0),
        s2c_bytes: ByteRange::fixed(0),
        wrap_fraction: 1.0,
        ..base()
    });
    let (exp, m, pcap) = check(&GenConfig { flows: 0, ..base() });
    assert!(exp.flows.is_empty() && m.flows.is_empty());
    assert_eq!(pcap.len(), 24);
}

#[test]
fn everything_together() {
    let c = GenConfig {
        seed: 99,
        flows: 120,
        concurrency: 17,
        ooo_rate: 0.1,
        retrans_rate: 0.1,
        overlap_rate: 0.1,
        ipv6_fraction: 0.4,
        wrap_fraction: 0.3,
        udp_fraction: 0.2,
        end: EndMix {
            fin: 3,
            rst: 1,
            none: 1,
        },
        ..base()
    };
    let (exp, m, _) = check(&c);
    let tcp = exp.flows.iter().filter(|f| f.proto == Proto::Tcp);
    assert!(tcp.clone().any(|f| f.client.ip.is_ipv6()));
    assert!(tcp.clone().any(|f| f.end == FlowEnd::Rst));
    assert!(exp.flows.iter().any(|f| f.proto == Proto::Udp));
    assert!(m.flows.iter().any(|f| f.c2s.wrapped || f.s2c.wrapped));
    let sum = |g: fn(&capgen::DirExpected) -> u64| -> u64 {
        exp.flows.iter().map(|f| g(&f.c2s) + g(&f.s2c)).sum()
    };
    assert!(sum(|d| d.out_of_order) > 0);
    assert!(sum(|d| d.retransmissions) > 0);
    assert!(sum(|d| d.overlaps) > 0);
}

#[test]
fn presets_scaled_down_agree() {
    check(&GenConfig {
        flows: 300,
        ..GenConfig::short()
    });
    check(&GenConfig {
        flows: 60,
        concurrency: 20,
        ..GenConfig::bulk(3_000_000)
    });
}

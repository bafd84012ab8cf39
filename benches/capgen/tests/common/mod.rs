//! A naive reassembly model, written independently of the generator: parse the
//! pcap with pcap-parser and etherparse, place every TCP payload byte at its
//! offset from ISN + 1 in a plain `Vec` (checking that a byte sent twice is
//! the same both times), append UDP payloads, and compare the result with the
//! generator's `Expected`.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::IpAddr;

use capgen::{generate_to_vec, Endpoint, Expected, FlowEnd, GenConfig, Proto, TsPrecision};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_header};
use sha2::{Digest, Sha256};

/// What the model saw of one direction.
#[derive(Default, Debug)]
pub struct ModelDir {
    pub isn: Option<u32>,
    data: Vec<u8>,
    have: Vec<bool>,
    pub packets: u64,
    pub payload_packets: u64,
    pub wire_bytes: u64,
    /// Highest stream offset + 1 seen so far.
    pub max_end: u64,
    /// Segments with new bytes starting below `max_end` (arrived late).
    pub late_segments: u64,
    /// Segments all of whose bytes had been seen before.
    pub dup_segments: u64,
    /// Segments that overlapped earlier bytes only in part.
    pub partial_overlaps: u64,
    /// Some payload byte sat at a sequence number that wrapped past 2^32.
    pub wrapped: bool,
    pub fin: bool,
    pub rst: bool,
}

impl ModelDir {
    fn place(&mut self, off: u64, payload: &[u8]) {
        let end = off + payload.len() as u64;
        assert!(end <= 1 << 31, "offset {off} out of any sane window");
        let end_us = end as usize;
        if self.data.len() < end_us {
            self.data.resize(end_us, 0);
            self.have.resize(end_us, false);
        }
        let mut new = 0usize;
        for (i, b) in payload.iter().enumerate() {
            let o = off as usize + i;
            if self.have[o] {
                assert_eq!(self.data[o], *b, "resent byte at offset {o} differs");
            } else {
                self.data[o] = *b;
                self.have[o] = true;
                new += 1;
            }
        }
        if new == 0 {
            self.dup_segments += 1;
        } else {
            if new < payload.len() {
                self.partial_overlaps += 1;
            }
            if off < self.max_end {
                self.late_segments += 1;
            }
        }
        self.max_end = self.max_end.max(end);
    }

    /// The stream: every byte from 0 to the highest offset, none missing.
    pub fn stream(&self) -> &[u8] {
        assert!(self.have.iter().all(|h| *h), "stream has a hole");
        &self.data
    }
}

#[derive(Debug)]
pub struct ModelFlow {
    pub proto: Proto,
    pub client: Endpoint,
    pub server: Endpoint,
    pub c2s: ModelDir,
    pub s2c: ModelDir,
}

impl ModelFlow {
    pub fn end(&self) -> FlowEnd {
        if self.c2s.rst || self.s2c.rst {
            FlowEnd::Rst
        } else if self.c2s.fin && self.s2c.fin {
            FlowEnd::Fin
        } else {
            assert!(!self.c2s.fin && !self.s2c.fin, "half-closed flow");
            FlowEnd::None
        }
    }
}

/// Everything the model reassembled, flows in order of first appearance.
#[derive(Debug, Default)]
pub struct Model {
    pub flows: Vec<ModelFlow>,
    pub packets: u64,
    pub nanosecond: bool,
    pub timestamps: Vec<(u32, u32)>,
}

fn key(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    if (a.ip, a.port) <= (b.ip, b.port) {
        (a, b)
    } else {
        (b, a)
    }
}

/// Parses and reassembles a whole capture; `checksums` also verifies the
/// TCP/UDP checksums. Panics on anything unexpected.
pub fn reassemble(pcap: &[u8], checksums: bool) -> Model {
    let (mut rest, header) = parse_pcap_header(pcap).unwrap();
    assert_eq!(header.network.0, 1, "link type Ethernet");
    assert!(!header.is_bigendian());
    let mut m = Model {
        nanosecond: header.is_nanosecond_precision(),
        ..Model::default()
    };
    let mut index: HashMap<(Endpoint, Endpoint), usize> = HashMap::new();
    while !rest.is_empty() {
        let (r, block) = parse_pcap_frame(rest).unwrap();
        rest = r;
        assert_eq!(block.caplen, block.origlen);
        m.packets += 1;
        m.timestamps.push((block.ts_sec, block.ts_usec));
        let p = SlicedPacket::from_ethernet(block.data).unwrap();
        let (src_ip, dst_ip): (IpAddr, IpAddr) = match &p.net {
            Some(NetSlice::Ipv4(ip)) => {
                let h = ip.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
                (
                    ip.header().source_addr().into(),
                    ip.header().destination_addr().into(),
                )
            }
            Some(NetSlice::Ipv6(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            other => panic!("not IP: {other:?}"),
        };
        let v6 = src_ip.is_ipv6();
        match &p.transport {
            Some(TransportSlice::Tcp(t)) => {
                if checksums {
                    let h = t.to_header();
                    let want = match &p.net {
                        Some(NetSlice::Ipv4(ip)) => h
                            .calc_checksum_ipv4(&ip.header().to_header(), t.payload())
                            .unwrap(),
                        Some(NetSlice::Ipv6(ip)) => h
                            .calc_checksum_ipv6(&ip.header().to_header(), t.payload())
                            .unwrap(),
                        _ => unreachable!(),
                    };
                    assert_eq!(t.checksum(), want, "TCP checksum");
                }
                let src = Endpoint {
                    ip: src_ip,
                    port: t.source_port(),
                };
                let dst = Endpoint {
                    ip: dst_ip,
                    port: t.destination_port(),
                };
                let k = key(src, dst);
                let fi = *index.entry(k).or_insert_with(|| {
                    assert!(t.syn() && !t.ack(), "TCP flow must start with a SYN");
                    m.flows.push(ModelFlow {
                        proto: Proto::Tcp,
                        client: src,
                        server: dst,
                        c2s: ModelDir::default(),
                        s2c: ModelDir::default(),
                    });
                    m.flows.len() - 1
                });
                let f = &mut m.flows[fi];
                assert_eq!(f.proto, Proto::Tcp);
                assert_eq!(f.client.ip.is_ipv6(), v6);
                let (me, peer) = if src == f.client {
                    (&mut f.c2s, &mut f.s2c)
                } else {
                    (&mut f.s2c, &mut f.c2s)
                };
                me.packets += 1;
                if t.syn() {
                    assert!(me.isn.is_none(), "second SYN");
                    assert!(t.payload().is_empty());
                    me.isn = Some(t.sequence_number());
                }
                let isn = me.isn.expect("data before SYN");
                if t.ack() {
                    let peer_isn = peer.isn.expect("ACK before the peer's SYN");
                    let acked = t
                        .acknowledgment_number()
                        .wrapping_sub(peer_isn.wrapping_add(1));
                    let limit = peer.max_end + u64::from(peer.fin);
                    assert!(u64::from(acked) <= limit, "ACK of unsent data");
                }
                if !t.payload().is_empty() {
                    assert!(!t.syn() && !me.fin && !me.rst, "data after SYN/FIN/RST");
                    let off = u64::from(t.sequence_number().wrapping_sub(isn.wrapping_add(1)));
                    let len = t.payload().len() as u64;
                    me.packets_with_payload(len);
                    if u64::from(isn) + 1 + off + len > 1 << 32 {
                        me.wrapped = true;
                    }
                    me.place(off, t.payload());
                }
                if t.fin() {
                    let off = u64::from(t.sequence_number().wrapping_sub(isn.wrapping_add(1)));
                    assert_eq!(off, me.max_end, "FIN right after the data");
                    me.fin = true;
                }
                if t.rst() {
                    me.rst = true;
                }
            }
            Some(TransportSlice::Udp(u)) => {
                if checksums {
                    let h = u.to_header();
                    let want = match &p.net {
                        Some(NetSlice::Ipv4(ip)) => h
                            .calc_checksum_ipv4(&ip.header().to_header(), u.payload())
                            .unwrap(),
                        Some(NetSlice::Ipv6(ip)) => h
                            .calc_checksum_ipv6(&ip.header().to_header(), u.payload())
                            .unwrap(),
                        _ => unreachable!(),
                    };
                    assert_eq!(u.checksum(), want, "UDP checksum");
                }
                let src = Endpoint {
                    ip: src_ip,
                    port: u.source_port(),
                };
                let dst = Endpoint {
                    ip: dst_ip,
                    port: u.destination_port(),
                };
                let fi = *index.entry(key(src, dst)).or_insert_with(|| {
                    m.flows.push(ModelFlow {
                        proto: Proto::Udp,
                        client: src,
                        server: dst,
                        c2s: ModelDir::default(),
                        s2c: ModelDir::default(),
                    });
                    m.flows.len() - 1
                });
                let f = &mut m.flows[fi];
                assert_eq!(f.proto, Proto::Udp);
                let me = if src == f.client {
                    &mut f.c2s
                } else {
                    &mut f.s2c
                };
                me.packets += 1;
                let len = u.payload().len() as u64;
                me.packets_with_payload(len);
                let off = me.max_end;
                me.place(off, u.payload());
            }
            other => panic!("not TCP/UDP: {other:?}"),
        }
    }
    m
}

impl ModelDir {
    fn packets_with_payload(&mut self, len: u64) {
        if len > 0 {
            self.payload_packets += 1;
            self.wire_bytes += len;
        }
    }
}

/// Generates `config`, reassembles it with the model, and asserts that the
/// model and `Expected` agree on everything. Returns both for further checks.
pub fn check(config: &GenConfig) -> (Expected, Model, Vec<u8>) {
    let (pcap, exp) = generate_to_vec(config).unwrap();
    let m = reassemble(&pcap, config.transport_checksums);
    assert_eq!(exp.config, *config);
    assert_eq!(exp.totals.pcap_bytes, pcap.len() as u64);
    assert_eq!(exp.totals.packets, m.packets);
    assert_eq!(exp.totals.flows, config.flows);
    assert_eq!(exp.flows.len(), m.flows.len(), "flow count");
    assert_eq!(m.nanosecond, config.precision == TsPrecision::Nano);
    for (i, (sec, frac)) in m.timestamps.iter().enumerate() {
        let ns = u128::from(config.start_ns) + u128::from(config.gap_ns) * i as u128;
        let want_frac = match config.precision {
            TsPrecision::Nano => ns % 1_000_000_000,
            TsPrecision::Micro => ns % 1_000_000_000 / 1000,
        };
        assert_eq!(u128::from(*sec), ns / 1_000_000_000, "packet {i} seconds");
        assert_eq!(u128::from(*frac), want_frac, "packet {i} fraction");
    }
    let mut wire = 0;
    let mut unique = 0;
    for (i, (e, f)) in exp.flows.iter().zip(&m.flows).enumerate() {
        assert_eq!(e.id, i as u64, "flows numbered by first appearance");
        assert_eq!(
            (e.client, e.server, e.proto),
            (f.client, f.server, f.proto),
            "flow {i}"
        );
        assert_eq!(e.end, f.end(), "flow {i} end");
        for (name, ed, md) in [("c2s", &e.c2s, &f.c2s), ("s2c", &e.s2c, &f.s2c)] {
            let stream = md.stream();
            assert_eq!(ed.bytes, stream.len() as u64, "flow {i} {name} bytes");
            assert_eq!(
                ed.sha256,
                hex::encode(Sha256::digest(stream)),
                "flow {i} {name} sha256"
            );
            assert_eq!(ed.packets, md.packets, "flow {i} {name} packets");
            assert_eq!(
                ed.payload_packets, md.payload_packets,
                "flow {i} {name} payload packets"
            );
            assert_eq!(ed.wire_bytes, md.wire_bytes, "flow {i} {name} wire bytes");
            assert_eq!(ed.isn, md.isn, "flow {i} {name} isn");
            wire += md.wire_bytes;
            unique += stream.len() as u64;
        }
    }
    assert_eq!(exp.totals.wire_payload_bytes, wire);
    assert_eq!(exp.totals.unique_payload_bytes, unique);
    (exp, m, pcap)
}

//! End to end on the synthetic generator's captures: read with pcapread, decode,
//! reassemble; every direction must equal the generator's expected bytes (sha256
//! and length), and every ledger must add up.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;

use capgen::{generate_to_vec, ByteRange, EndMix, GenConfig};
use pcapread::{Decoder, DecoderConfig, SliceReader};
use reassembly::{
    Assembler, AssemblerConfig, Completion, Dir, ScatterGather, Stream, StreamFactory, StreamInfo,
};
use sha2::{Digest, Sha256};

#[derive(Default)]
struct Out {
    client: Option<SocketAddr>,
    hash: [Sha256; 2],
    len: [u64; 2],
    completion: Option<Completion>,
}

/// A connection's stream: its output is `.0` of the factory's.
struct H(usize);
impl Stream for H {
    type Context = F;
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, ctx: &mut F) {
        let o = &mut ctx.0[self.0];
        let d = usize::from(sg.dir() == Dir::ServerToClient);
        let (_, saved) = sg.lengths();
        assert_eq!(saved, 0);
        for c in sg.chunks() {
            o.hash[d].update(c);
            o.len[d] += c.len() as u64;
        }
    }
    fn complete(&mut self, c: &Completion, ctx: &mut F) {
        ctx.0[self.0].completion = Some(c.clone());
    }
}
#[derive(Default)]
struct F(Vec<Out>);
impl StreamFactory for F {
    type Stream = H;
    fn new_stream(&mut self, info: &StreamInfo) -> H {
        self.0.push(Out {
            client: Some(info.client.src),
            ..Default::default()
        });
        H(self.0.len() - 1)
    }
}

fn check(gen: GenConfig, asm_cfg: AssemblerConfig) {
    let (pcap, expected) = generate_to_vec(&gen).unwrap();
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut asm = Assembler::new(asm_cfg, F::default());
    for frame in SliceReader::new(&pcap, "generated.pcap") {
        let frame = frame.unwrap();
        let seg = decoder.decode(&frame).unwrap();
        asm.assemble(&seg);
    }
    asm.flush_all();
    assert_eq!(asm.pages_in_use(), 0);
    let outs = asm.into_factory().0;
    assert_eq!(
        outs.len(),
        expected.flows.len(),
        "one stream per generated flow"
    );
    let mut by_client: HashMap<SocketAddr, Out> =
        outs.into_iter().map(|o| (o.client.unwrap(), o)).collect();
    for f in &expected.flows {
        let client = SocketAddr::new(f.client.ip, f.client.port);
        let o = by_client
            .get_mut(&client)
            .unwrap_or_else(|| panic!("flow {} ({client}) missing", f.id));
        let c = o.completion.clone().unwrap();
        for (d, want) in [(0, &f.c2s), (1, &f.s2c)] {
            let got = hex::encode(std::mem::take(&mut o.hash[d]).finalize());
            assert_eq!(o.len[d], want.bytes, "flow {} dir {d} length", f.id);
            assert_eq!(got, want.sha256, "flow {} dir {d} bytes", f.id);
            let l = if d == 0 { &c.c2s } else { &c.s2c };
            assert!(l.balanced(), "flow {} ledger {l:?}", f.id);
            assert_eq!(l.delivered, want.bytes);
            assert_eq!(
                l.captured, want.wire_bytes,
                "every payload byte on the wire is captured"
            );
            assert_eq!(
                l.captured,
                l.delivered + l.duplicate,
                "retransmissions are duplicates"
            );
            assert!(
                l.gaps.is_empty(),
                "flow {} dir {d}: gaps {:?}",
                f.id,
                l.gaps
            );
        }
    }
}

fn base() -> GenConfig {
    GenConfig {
        seed: 11,
        flows: 60,
        concurrency: 12,
        c2s_bytes: ByteRange::between(0, 40_000),
        s2c_bytes: ByteRange::between(0, 120_000),
        ..GenConfig::default()
    }
}

#[test]
fn in_order_flows() {
    check(base(), AssemblerConfig::default());
}

#[test]
fn out_of_order_retransmitted_overlapping_wrapping_ipv6() {
    let g = GenConfig {
        seed: 12,
        ooo_rate: 0.05,
        retrans_rate: 0.03,
        overlap_rate: 0.03,
        wrap_fraction: 0.5,
        ipv6_fraction: 0.4,
        end: EndMix {
            fin: 6,
            rst: 2,
            none: 2,
        },
        ..base()
    };
    check(g, AssemblerConfig::default());
}

#[test]
fn tiny_pages_still_exact() {
    let g = GenConfig {
        seed: 13,
        ooo_rate: 0.1,
        retrans_rate: 0.05,
        overlap_rate: 0.05,
        ..base()
    };
    check(
        g,
        AssemblerConfig {
            page_size: 64,
            ..AssemblerConfig::default()
        },
    );
}

#[test]
fn udp_flows() {
    let g = GenConfig {
        seed: 14,
        udp_fraction: 0.5,
        ..base()
    };
    check(g, AssemblerConfig::default());
}

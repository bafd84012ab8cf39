//! Assembler throughput on pre-decoded segments: in order, 2% out of order,
//! overlap-heavy, and many short flows; the `_verify64k` cases repeat some with
//! a 64 KiB verify window (every delivered byte also copied into it).
//! Throughput counts payload bytes on the wire.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use capgen::{ByteRange, GenConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use reassembly::{
    Assembler, AssemblerConfig, Completion, ScatterGather, Stream, StreamFactory, StreamInfo,
};

/// A stream that walks the chunks without reading their bytes: the figure is
/// the assembler's own cost (a sink that hashes or writes the bytes adds its own).
struct Touch(u64);
impl Stream for Touch {
    type Context = F;
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, _ctx: &mut F) {
        for c in sg.chunks() {
            self.0 = self.0.wrapping_add(c.len() as u64);
        }
    }
    fn complete(&mut self, c: &Completion, _ctx: &mut F) {
        black_box(c.c2s.delivered);
    }
}
struct F;
impl StreamFactory for F {
    type Stream = Touch;
    fn new_stream(&mut self, _i: &StreamInfo) -> Touch {
        Touch(0)
    }
}

fn bench(c: &mut Criterion) {
    let bulk = |seed, ooo, retrans, overlap| GenConfig {
        seed,
        ooo_rate: ooo,
        retrans_rate: retrans,
        overlap_rate: overlap,
        ..GenConfig::bulk(100_000_000)
    };
    let cases = [
        ("in_order", bulk(1, 0.0, 0.0, 0.0)),
        ("ooo_2pct", bulk(2, 0.02, 0.01, 0.0)),
        ("overlap_heavy", bulk(3, 0.05, 0.05, 0.10)),
        (
            "short_flows",
            GenConfig {
                seed: 4,
                flows: 50_000,
                ..GenConfig::short()
            },
        ),
        (
            "medium_flows",
            GenConfig {
                seed: 5,
                flows: 5_000,
                c2s_bytes: ByteRange::between(100, 2000),
                s2c_bytes: ByteRange::between(1000, 40_000),
                ..GenConfig::default()
            },
        ),
    ];
    let mut g = c.benchmark_group("assemble");
    g.sample_size(10);
    let verified = ["in_order", "ooo_2pct", "short_flows", "medium_flows"];
    let runs = cases.iter().flat_map(|(name, cfg)| {
        let with = verified
            .contains(name)
            .then(|| (format!("{name}_verify64k"), cfg.clone(), 64 * 1024));
        std::iter::once((name.to_string(), cfg.clone(), 0)).chain(with)
    });
    for (name, cfg, verify_window) in runs {
        let cap = micro::capture(&cfg);
        let segs = micro::segments(&cap.pcap);
        let acfg = AssemblerConfig {
            verify_window,
            ..AssemblerConfig::default()
        };
        g.throughput(Throughput::Bytes(cap.payload_bytes));
        g.bench_function(&name, |b| {
            b.iter(|| {
                let mut a = Assembler::new(acfg.clone(), F);
                for s in &segs {
                    a.assemble(s);
                }
                a.flush_all();
                black_box(a.stats().completed)
            })
        });
        println!(
            "{name}: {} payload bytes, {} packets",
            cap.payload_bytes, cap.packets
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Reading + decoding a generated capture, next to a plain sequential pass over
//! the same bytes (the floor: touching every byte once).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use capgen::GenConfig;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pcapread::{Decoder, DecoderConfig, SliceReader};

fn bench(c: &mut Criterion) {
    let cap = micro::capture(&GenConfig {
        seed: 1,
        ..GenConfig::bulk(200_000_000)
    });
    let mut g = c.benchmark_group("read_decode");
    g.throughput(Throughput::Bytes(cap.pcap.len() as u64));
    g.sample_size(10);
    g.bench_function("sequential_sum", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for chunk in cap.pcap.chunks_exact(8) {
                acc = acc.wrapping_add(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
            }
            black_box(acc)
        })
    });
    g.bench_function("read_frames", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for f in SliceReader::new(&cap.pcap, "bench.pcap") {
                n += u64::from(f.map(|f| f.caplen).unwrap_or(0));
            }
            black_box(n)
        })
    });
    g.bench_function("read_and_decode", |b| {
        b.iter(|| {
            let mut d = Decoder::new(DecoderConfig::default());
            let mut n = 0u64;
            for f in SliceReader::new(&cap.pcap, "bench.pcap") {
                let Ok(f) = f else { break };
                if let Ok(s) = d.decode(&f) {
                    n += s.payload.len() as u64;
                }
            }
            black_box(n)
        })
    });
    g.finish();
    println!("capture: {} bytes, {} packets", cap.pcap.len(), cap.packets);
}

criterion_group!(benches, bench);
criterion_main!(benches);

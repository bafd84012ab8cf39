//! `EngineOptions::shard`: a shard run reassembles exactly the flows of its
//! shard, as a run over everything does, for any number of workers, and
//! counts the segments of the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use engine::{Collector, EngineOptions, FlowRecord, Input, Shard, Summary};

fn capture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus"
    ))
    .join(rel)
}

/// Captures with many flows, IP fragments (TCP and UDP), VLAN and IPv6.
const CAPTURES: &[&str] = &[
    "dnscap/frags.pcap",
    "arkime/socks5-http-302-frag.pcap",
    "arkime/tcp-reassembly-synthetic.pcap",
    "suricata-verify/defrag/bug-6887-defrag-eth-vlan-ipv6-tcp/frag-eth-vlan-ipv6-tcp.pcap",
];

fn run(rel: &[&str], shard: Option<Shard>, threads: usize) -> (Summary, Collector) {
    let opts = EngineOptions {
        udp: true,
        shard,
        threads,
        ..EngineOptions::default()
    };
    engine::collect(&opts, Input::files(rel.iter().map(|r| capture(r)))).unwrap()
}

fn records(s: &Summary) -> Vec<FlowRecord> {
    s.records().map(|r| r.unwrap().into_owned()).collect()
}

#[test]
fn shards_partition_the_flows_of_one_run() {
    for inputs in [&CAPTURES[..1], &CAPTURES[1..2], &CAPTURES[2..3], CAPTURES] {
        let (full, all_bytes) = run(inputs, None, 2);
        let full_records = records(&full);
        assert!(!full_records.is_empty(), "{inputs:?}");
        assert_eq!(full.other_shard, 0);
        for n in 1..=4u32 {
            let mut seen = 0;
            let mut other = 0;
            for k in 0..n {
                let shard = Shard::new(k, n).unwrap();
                let (one, one_bytes) = run(inputs, Some(shard), 1);
                let (three, three_bytes) = run(inputs, Some(shard), 3);
                let (one_records, three_records) = (records(&one), records(&three));
                assert_eq!(one_records, three_records, "{inputs:?} {shard}: -t1 vs -t3");
                assert_eq!(one_bytes.flows, three_bytes.flows, "{inputs:?} {shard}");
                // Exactly the full run's flows of this shard, record for
                // record and byte for byte.
                let want: Vec<&FlowRecord> = full_records
                    .iter()
                    .filter(|r| {
                        let tuple = pcapread::FiveTuple {
                            proto: r.head.proto,
                            src: r.head.client,
                            dst: r.head.server,
                        };
                        shard.holds(&tuple.canonical().0)
                    })
                    .collect();
                assert_eq!(
                    one_records.iter().collect::<Vec<_>>(),
                    want,
                    "{inputs:?} {shard}"
                );
                for r in &one_records {
                    assert_eq!(one_bytes.flows[&r.head.id], all_bytes.flows[&r.head.id]);
                }
                seen += one_records.len();
                // Per-input counters are the full run's; the segments of
                // the other shards are counted, not reassembled.
                assert_eq!(one.frames, full.frames);
                assert_eq!(one.udp_ignored, full.udp_ignored);
                assert_eq!(one.decode, full.decode, "{inputs:?} {shard}");
                assert_eq!(
                    one.other_shard + one.assembler.segments,
                    full.assembler.segments,
                    "{inputs:?} {shard}"
                );
                assert_eq!(three.other_shard, one.other_shard);
                other += one.other_shard;
            }
            assert_eq!(seen, full_records.len(), "{inputs:?} {n} shards");
            assert_eq!(
                other,
                u64::from(n - 1) * full.assembler.segments,
                "{inputs:?}"
            );
        }
    }
}

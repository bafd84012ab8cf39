//! Every TCP stream of every capture in testdata/corpus, reassembled under the
//! `first` policy, compared with tshark 4.0.17's follow output (sha256 per
//! direction, from the oracle's index.tsv). Deliberate differences are listed in
//! testdata/DIFFERENCES.md and in `KNOWN` below, each with its reason; any other
//! difference fails the test.
//!
//! Every capture that has an oracle directory must be compared: the test counts
//! the captures it compared and fails unless that is exactly the number of
//! `index.tsv` files under `_oracle/tshark-4.0.17/` (counted from the tree, so
//! captures added with their oracle raise it by themselves), and an oracle
//! whose capture is missing fails too. It prints captures, directions compared
//! and directions that agree.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pcapread::{CaptureReader, Decoder, DecoderConfig, Proto};
use reassembly::{
    Assembler, AssemblerConfig, Completion, Dir, ScatterGather, Stream, StreamFactory, StreamInfo,
};
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus")
}

#[derive(Default, Debug)]
struct Flow {
    client: Option<SocketAddr>,
    server: Option<SocketAddr>,
    first_frame: u64,
    bytes: [Vec<u8>; 2],
}

/// A connection's stream: its flow is `.0` of the factory's.
struct Collect(usize);
impl Stream for Collect {
    type Context = Factory;
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, ctx: &mut Factory) {
        let f = &mut ctx.0[self.0];
        let d = match sg.dir() {
            Dir::ClientToServer => 0,
            Dir::ServerToClient => 1,
        };
        let (_, saved) = sg.lengths();
        let bytes: Vec<u8> = sg.chunks().flatten().copied().collect();
        f.bytes[d].extend_from_slice(&bytes[saved..]);
    }
    fn complete(&mut self, _c: &Completion, _ctx: &mut Factory) {}
}
#[derive(Default)]
struct Factory(Vec<Flow>);
impl StreamFactory for Factory {
    type Stream = Collect;
    fn new_stream(&mut self, info: &StreamInfo) -> Collect {
        self.0.push(Flow {
            client: Some(info.client.src),
            server: Some(info.client.dst),
            first_frame: info.first_frame,
            ..Default::default()
        });
        Collect(self.0.len() - 1)
    }
}

/// Reassemble every TCP flow of a capture.
fn reassemble(path: &Path) -> Vec<Flow> {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut asm = Assembler::new(AssemblerConfig::default(), Factory::default());
    // Captures in the corpus are whole; a damaged one would end the loop at the damage.
    while let Ok(Some(frame)) = reader.next_frame() {
        if let Ok(seg) = decoder.decode(&frame) {
            if seg.tuple.proto == Proto::Tcp {
                asm.assemble(&seg);
            }
        }
    }
    asm.flush_all();
    asm.into_factory().0
}

#[derive(Debug)]
struct OracleStream {
    node0: SocketAddr,
    node1: SocketAddr,
    sha0: String,
    sha1: String,
    bytes0: usize,
    bytes1: usize,
}

fn oracle_root() -> PathBuf {
    root().join("_oracle/tshark-4.0.17")
}

/// The capture's oracle streams; `None` when it has no oracle directory.
fn oracle(capture_rel: &str) -> Option<Vec<OracleStream>> {
    let p = oracle_root().join(capture_rel).join("index.tsv");
    let text = std::fs::read_to_string(p).ok()?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (Ok(node0), Ok(node1)) = (f[1].parse(), f[2].parse()) else {
            panic!("{capture_rel}: oracle line with unreadable endpoints: {line}");
        };
        out.push(OracleStream {
            node0,
            node1,
            bytes0: f[3].parse().unwrap(),
            bytes1: f[4].parse().unwrap(),
            sha0: f[5].to_string(),
            sha1: f[6].to_string(),
        });
    }
    Some(out)
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn captures() -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("_oracle") {
                    stack.push(p);
                }
            } else {
                let n = p.to_string_lossy().to_string();
                if n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".pcap.gz") {
                    out.push(
                        p.strip_prefix(root())
                            .unwrap()
                            .to_string_lossy()
                            .to_string(),
                    );
                }
            }
        }
    }
    out.sort();
    out
}

/// The capture paths (relative to testdata/corpus) that have an oracle: the
/// directories under the oracle root holding an `index.tsv`.
fn oracle_captures() -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![oracle_root()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "index.tsv") {
                let dir = p.parent().unwrap().strip_prefix(oracle_root()).unwrap();
                out.push(dir.to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}

/// What comparing one capture found.
#[derive(Default)]
struct Outcome {
    /// Mismatch descriptions.
    problems: Vec<String>,
    /// Oracle directions (stream, node) compared.
    directions: usize,
    /// Of those, directions whose bytes equal tshark's.
    agree: usize,
}

/// Compare one capture; `None` when it has no oracle.
fn compare(rel: &str) -> Option<Outcome> {
    let streams = oracle(rel)?;
    let mut out = Outcome::default();
    let flows = reassemble(&root().join(rel));
    // Match streams to flows by endpoint pair, in order of appearance.
    let mut by_pair: BTreeMap<(SocketAddr, SocketAddr), Vec<&Flow>> = BTreeMap::new();
    for f in &flows {
        let (a, b) = (f.client.unwrap(), f.server.unwrap());
        let key = if a <= b { (a, b) } else { (b, a) };
        by_pair.entry(key).or_default().push(f);
    }
    let mut used: BTreeMap<(SocketAddr, SocketAddr), usize> = BTreeMap::new();
    let problems = &mut out.problems;
    for (i, s) in streams.iter().enumerate() {
        let key = if s.node0 <= s.node1 {
            (s.node0, s.node1)
        } else {
            (s.node1, s.node0)
        };
        let n = used.entry(key).or_insert(0);
        out.directions += 2;
        let Some(f) = by_pair.get(&key).and_then(|v| v.get(*n)) else {
            // No flow: a direction agrees only if tshark has no bytes for it.
            out.agree += usize::from(s.bytes0 == 0) + usize::from(s.bytes1 == 0);
            if s.bytes0 + s.bytes1 > 0 {
                problems.push(format!("stream {i} {}<->{}: no flow", s.node0, s.node1));
            }
            continue;
        };
        *n += 1;
        let (b0, b1) = if f.client == Some(s.node0) {
            (&f.bytes[0], &f.bytes[1])
        } else {
            (&f.bytes[1], &f.bytes[0])
        };
        if let Ok(dir) = std::env::var("ORACLE_DUMP") {
            let base = format!("{dir}/{}.stream-{i}", rel.replace('/', "_"));
            std::fs::write(format!("{base}.node0.bin"), b0).ok();
            std::fs::write(format!("{base}.node1.bin"), b1).ok();
        }
        for (node, want_sha, want_len, got) in [
            (s.node0, &s.sha0, s.bytes0, b0),
            (s.node1, &s.sha1, s.bytes1, b1),
        ] {
            if &sha(got) == want_sha {
                out.agree += 1;
            } else {
                problems.push(format!(
                    "stream {i} from {node}: {} bytes (tshark {want_len})",
                    got.len()
                ));
            }
        }
    }
    for (key, v) in &by_pair {
        let n = used.get(key).copied().unwrap_or(0);
        for f in &v[n..] {
            if !f.bytes[0].is_empty() || !f.bytes[1].is_empty() {
                problems.push(format!(
                    "extra flow {}<->{} (frame {}) not in tshark",
                    key.0, key.1, f.first_frame
                ));
            }
        }
    }
    Some(out)
}

/// Differences explained in testdata/DIFFERENCES.md ("Reassembled bytes").
/// Each line is exactly what `compare` reports; a line that no longer appears
/// fails the test too, so the list stays true.
const KNOWN: &[&str] = &[
    // A junk segment 251 MB past the SYN; the peer never advertised a window.
    "arkime/tcpseq_synthetic.pcap: stream 0 from 30.0.0.0:0: 16 bytes (tshark 8)",
    // Deliberately damaged capture (overwritten sequence numbers and lengths).
    // (78, not 90: 12 bytes queued past a FIN learned later are after close.)
    "gopacket/linux_sll_oversized_addr.pcapng: stream 0 from 192.168.145.147:51218: 78 bytes (tshark 247)",
    "gopacket/linux_sll_oversized_addr.pcapng: stream 0 from 10.209.8.148:21999: 5441 bytes (tshark 4716)",
    // tshark stops at a hole that is never filled; we deliver the bytes after it.
    "suricata-verify/tcp-rst-unacked-stream-03-gap/input.pcap: stream 0 from 2.2.2.2:8080: 13 bytes (tshark 7)",
    "suricata-verify/tcp-rst-unacked-stream-07-http/input.pcap: stream 0 from 1.1.1.1:12345: 39 bytes (tshark 16)",
    // Split 5-way handshake: tshark makes two streams, it is one connection.
    "suricata-verify/tcp-split-handshake-02-5whs/split-handshake-5whs.pcap: stream 0 from 1.1.1.1:12345: 4 bytes (tshark 0)",
    "suricata-verify/tcp-split-handshake-02-5whs/split-handshake-5whs.pcap: stream 1 2.2.2.2:80<->1.1.1.1:12345: no flow",
    // Both ends on 127.0.0.1: tshark's follow mixes up the two directions.
    "tcpdump/of13_ericsson.pcapng: stream 9 from 127.0.0.1:6633: 208 bytes (tshark 8)",
    "tcpdump/of13_ericsson.pcapng: stream 9 from 127.0.0.1:58449: 344 bytes (tshark 344)",
    // Aruba GRE 0x8240 with an A-MSDU: tshark reports no TCP conversation; Zeek decodes it.
    "zeek/tunnels/gre-aruba-amsdu.pcap: extra flow 149.159.130.184:49392<->157.240.18.16:443 (frame 1) not in tshark",
    // Overlapping IP fragments with different bytes: our defragmenter keeps the first copy.
    "zeek/ipv4/fragmented-4.pcap: stream 1 from 128.32.46.142:7790: 69 bytes (tshark 69)",
    // A segment that fills a hole: tshark writes all of it over bytes queued earlier; `first` keeps the queued bytes.
    "zeek/tcp/reassembly.pcap: stream 0 from 63.193.213.194:2564: 28832 bytes (tshark 28832)",
];

/// Captures with a tshark oracle in testdata/corpus/_oracle when this floor
/// was last set. Raise it by hand when oracles are added; lowering it means an
/// oracle was removed on purpose (say why in the commit).
const MIN_ORACLES: usize = 105;

#[test]
fn corpus_matches_tshark_oracle() {
    let mut found = Vec::new();
    let all = captures();
    let (mut compared, mut directions, mut agree) = (Vec::new(), 0, 0);
    for rel in &all {
        let Some(o) = compare(rel) else {
            continue;
        };
        compared.push(rel.clone());
        directions += o.directions;
        agree += o.agree;
        for p in o.problems {
            found.push(format!("{rel}: {p}"));
        }
    }
    println!(
        "tshark oracle: {} of {} captures compared; directions agree / compared: {agree} / {directions}",
        compared.len(),
        all.len()
    );
    // Every oracle in the tree has its capture and was compared: the count to
    // reach is the tree's own, so captures added with an oracle raise it by
    // themselves. MIN_ORACLES guards the other way, against oracle directories
    // lost from the tree.
    let with_oracle = oracle_captures();
    assert!(
        with_oracle.len() >= MIN_ORACLES,
        "{} oracles under {}, expected at least {MIN_ORACLES}",
        with_oracle.len(),
        oracle_root().display()
    );
    let orphans: Vec<&String> = with_oracle.iter().filter(|o| !all.contains(o)).collect();
    assert!(
        orphans.is_empty(),
        "oracles without their capture: {orphans:#?}"
    );
    assert_eq!(
        compared, with_oracle,
        "captures compared vs captures with an oracle"
    );
    assert!(
        !compared.is_empty(),
        "expected the oracle under testdata/corpus/_oracle"
    );
    assert!(directions > 0 && agree <= directions);
    let unexplained: Vec<&String> = found
        .iter()
        .filter(|f| !KNOWN.contains(&f.as_str()))
        .collect();
    let vanished: Vec<&&str> = KNOWN
        .iter()
        .filter(|k| !found.iter().any(|f| f == *k))
        .collect();
    assert!(
        unexplained.is_empty(),
        "unexplained differences from tshark:\n{unexplained:#?}"
    );
    assert!(
        vanished.is_empty(),
        "known differences that no longer occur (update KNOWN and DIFFERENCES.md):\n{vanished:#?}"
    );
}

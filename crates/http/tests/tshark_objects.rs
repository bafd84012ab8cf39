//! Real captures: the HTTP bodies the reader finds in every capture of
//! testdata/corpus that tshark finds HTTP in, against tshark 4.0.17's
//! `--export-objects http` (by SHA-256, recorded in
//! `_oracle/tshark-4.0.17/<capture>/http-objects.tsv` by
//! benches/oracle-agreement/http_objects.sh). Deliberate differences are in
//! `KNOWN` below and testdata/DIFFERENCES.md, each with its reason.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::{HttpConfig, HttpFlow, Message, Objects, Outcome};
use pcapread::{CaptureReader, Decoder, DecoderConfig, Proto};
use reassembly::{
    Assembler, AssemblerConfig, Completion, ScatterGather, Stream, StreamFactory, StreamInfo,
};
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus")
}

/// Bodies found: SHA-256 (hex) of each non-empty decoded body, and whether
/// it is complete.
#[derive(Default)]
struct Found(Vec<(String, bool)>);

#[derive(Default)]
struct Body(Sha256, u64);

/// One connection: its reader and the bodies it has open.
struct Conn {
    http: HttpFlow,
    open: [Option<Body>; 2],
}

/// The [`Objects`] of a connection, borrowing the run's list.
struct Collect<'a> {
    open: &'a mut [Option<Body>; 2],
    found: &'a mut Found,
}

fn side(msg: &Message) -> usize {
    match msg.dir {
        reassembly::Dir::ClientToServer => 0,
        reassembly::Dir::ServerToClient => 1,
    }
}

impl Objects for Collect<'_> {
    fn begin(&mut self, msg: &Message) {
        self.open[side(msg)] = Some(Body::default());
    }
    fn data(&mut self, msg: &Message, bytes: &[u8]) {
        if let Some(b) = &mut self.open[side(msg)] {
            b.0.update(bytes);
            b.1 += bytes.len() as u64;
        }
    }
    fn end(&mut self, msg: &Message, outcome: &Outcome) {
        let complete = outcome.incomplete.is_none();
        if std::env::var("HTTP_DEBUG").is_ok() {
            eprintln!(
                "  {:?} #{} {:?} req {:?} wire {} enc {} dec {} {:?} codings {:?}",
                msg.dir,
                msg.exchange,
                msg.head.start,
                msg.request.as_ref().map(|r| &r.uri),
                outcome.wire_bytes,
                outcome.encoded_bytes,
                outcome.decoded_bytes,
                outcome.incomplete,
                msg.codings
            );
        }
        if let Some(b) = self.open[side(msg)].take() {
            if b.1 > 0 {
                let digest = b.0.finalize();
                self.found.0.push((
                    digest.iter().map(|x| format!("{x:02x}")).collect(),
                    complete,
                ));
            }
        }
    }
}

impl Stream for Conn {
    type Context = Found;
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, found: &mut Found) {
        let mut out = Collect {
            open: &mut self.open,
            found,
        };
        http::feed_delivery(&mut self.http, sg, &mut out);
    }
    fn complete(&mut self, _c: &Completion, found: &mut Found) {
        let mut out = Collect {
            open: &mut self.open,
            found,
        };
        self.http.finish(&mut out);
    }
}

impl StreamFactory for Found {
    type Stream = Conn;
    fn new_stream(&mut self, _info: &StreamInfo) -> Conn {
        Conn {
            http: HttpFlow::new(HttpConfig::default()),
            open: [None, None],
        }
    }
}

fn bodies(path: &Path) -> Vec<(String, bool)> {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut asm = Assembler::new(AssemblerConfig::default(), Found::default());
    while let Ok(Some(frame)) = reader.next_frame() {
        if let Ok(seg) = decoder.decode(&frame) {
            if seg.tuple.proto == Proto::Tcp {
                asm.assemble(&seg);
            }
        }
    }
    asm.flush_all();
    let mut v = asm.into_factory().0;
    v.sort();
    v
}

/// tshark's objects: SHA-256 of each non-empty file it exported.
fn oracle(tsv: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(tsv).unwrap();
    let mut v: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 3 && f[1] != "0").then(|| f[2].to_string())
        })
        .collect();
    v.sort();
    v
}

/// Captures whose objects differ from tshark's, and why (testdata/DIFFERENCES.md).
const KNOWN: &[(&str, &str)] = &[
    (
        "arkime/socks5-http-302-frag.pcap",
        "HTTP after a SOCKS5 handshake",
    ),
    (
        "arkime/tcp_handshake_synthetic.pcap",
        "tshark exports headless data",
    ),
    (
        "suricata-verify/tcp-urgp-01-oob/tcp-urgent1.pcap",
        "tshark exports headless data",
    ),
    (
        "suricata-verify/tcp-urgp-04-2byte-XY/tcp-urgent-2byte-XY.pcap",
        "tshark exports headless data",
    ),
    ("zeek/mpls-in-vlan.pcap", "tshark exports headless data"),
    ("zeek/mixed-vlan-mpls.pcap", "HTTP/0.9 is not HTTP/1.x"),
];

#[test]
fn bodies_match_tshark_export_objects() {
    let oracle_root = root().join("_oracle/tshark-4.0.17");
    let mut tsvs = Vec::new();
    let mut stack = vec![oracle_root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "http-objects.tsv") {
                tsvs.push(p);
            }
        }
    }
    tsvs.sort();
    assert!(tsvs.len() >= 40, "only {} HTTP oracles", tsvs.len());
    let mut differ = BTreeMap::new();
    let (mut compared, mut agree) = (0, 0);
    for tsv in &tsvs {
        let rel = tsv
            .parent()
            .unwrap()
            .strip_prefix(&oracle_root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if std::env::var("HTTP_DEBUG").is_ok_and(|d| !rel.contains(&d)) {
            continue;
        }
        if std::env::var("HTTP_DEBUG").is_ok() {
            eprintln!("{rel}: tshark {}", std::fs::read_to_string(tsv).unwrap());
        }
        let want = oracle(tsv);
        let got = bodies(&root().join(&rel));
        compared += want.len();
        // tshark exports complete bodies only; ours that are incomplete are
        // listed (marked so) and not compared.
        let missing: Vec<_> = want
            .iter()
            .filter(|w| !got.iter().any(|g| &g.0 == *w))
            .cloned()
            .collect();
        let extra: Vec<_> = got
            .iter()
            .filter(|g| g.1 && !want.contains(&g.0))
            .cloned()
            .collect();
        agree += want.len() - missing.len();
        if !missing.is_empty() || !extra.is_empty() {
            differ.insert(rel, (missing.len(), extra.len()));
        }
    }
    println!(
        "{} captures, tshark objects found by us: {agree}/{compared}; captures that differ: {}",
        tsvs.len(),
        differ.len()
    );
    for (rel, (m, e)) in &differ {
        println!("  {rel}: {m} of tshark's missing, {e} of ours extra");
    }
    let known: Vec<&str> = KNOWN.iter().map(|k| k.0).collect();
    // The floor: raise it when the reader finds more.
    assert!(agree >= 55, "tshark objects found: {agree}/{compared}");
    let unexpected: Vec<_> = differ
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexplained differences: {unexpected:?}"
    );
    for k in known {
        assert!(
            differ.contains_key(k),
            "{k} is listed as different but agrees now"
        );
    }
}

//! A UDP oracle: dnscap's own expected output (`testdata/corpus/dnscap/*.gold`)
//! for its UDP DNS captures, against what pcapread's decoder and the assembler
//! deliver for each UDP flow.
//!
//! - `dns.pcap`: 82 DNS datagrams, a query and its response on each of 41 UDP
//!   flows; `dns.gold` is dnscap's text dump of them (`dnscap -g`).
//! - `frags.pcap`: the same messages, every IPv4 datagram fragmented.
//!   Upstream's `frags.gold` is empty: its test3.sh builds the expectation from
//!   `dns.gold` (file name replaced, timestamps cut; see gold-commands.txt), so
//!   this test reads `dns.gold` for it too, and checks that the decoder really
//!   rebuilt fragmented datagrams.
//!
//! What is compared, per flow (the pair of endpoints), in arrival order: each
//! message's sender and receiver (address and port), its size, and its DNS
//! header and question as dnscap prints them — message id, opcode, rcode, the
//! flag bits (`qr|aa|tc|rd|ra|ad|cd`), the question count and the first
//! question (name, class, type). dnscap prints `[LEN]`, the IP datagram's
//! length; the captures are IPv4 without options, so the DNS message is
//! LEN - 20 - 8 bytes, which is what the assembler must deliver. Not compared:
//! timestamps (dnscap prints local time, and test3.sh cuts them for
//! frags.pcap), dnscap's message counter `#N`, and the answer, authority and
//! additional sections (dnscap prints them decoded, with compression expanded;
//! decoding them would test a DNS parser written here, not the reassembly).
//! The size and the header fields already pin down every datagram's boundaries.
//!
//! The TCP captures of the same directory and their gold files (`test7.gold`,
//! `test8.gold`) are not used here.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::Factory;
use pcapread::{CaptureReader, Decoder, DecoderConfig, Proto};
use reassembly::{Assembler, AssemblerConfig, Dir};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/dnscap")
}

/// One DNS message as dnscap describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    src: SocketAddr,
    dst: SocketAddr,
    /// DNS message bytes.
    size: usize,
    /// `OPCODE,RCODE,ID,FLAGS` as in dnscap's `dns` line.
    header: String,
    /// Question count, then the first question as `NAME,CLASS,TYPE`.
    question: String,
}

type Flows = BTreeMap<(SocketAddr, SocketAddr), Vec<Msg>>;

fn flow_key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// `[172.17.0.10].53199` as a socket address.
fn endpoint(s: &str) -> SocketAddr {
    let (ip, port) = s.strip_prefix('[').unwrap().split_once("].").unwrap();
    SocketAddr::new(ip.parse().unwrap(), port.parse().unwrap())
}

/// The messages of a dnscap `-g` dump. A record starts with `[LEN] date time
/// [#N file vlan]`; its next lines (tab-indented) hold the endpoints, the
/// `dns OPCODE,RCODE,ID,FLAGS` line and the sections, the first being the
/// question section (`COUNT NAME,CLASS,TYPE`).
fn gold(text: &str) -> Flows {
    let mut flows = Flows::new();
    let mut records: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') {
            records.push(vec![line]);
        } else {
            records.last_mut().unwrap().push(line);
        }
    }
    for r in records {
        let len: usize = r[0][1..r[0].find(']').unwrap()].parse().unwrap();
        let mut ends = r[1].split_whitespace();
        let (src, dst) = (
            endpoint(ends.next().unwrap()),
            endpoint(ends.next().unwrap()),
        );
        assert!(src.is_ipv4() && dst.is_ipv4(), "{r:?}");
        let header = r[2].trim().strip_prefix("dns ").unwrap();
        let header = header.trim_end_matches('\\').trim().to_string();
        // `1 google.com.,IN,A 0 0 0` or `1 google.com.,IN,A \`.
        let mut q = r[3].split_whitespace();
        let question = format!("{} {}", q.next().unwrap(), q.next().unwrap());
        flows.entry(flow_key(src, dst)).or_default().push(Msg {
            src,
            dst,
            size: len - 20 - 8,
            header,
            question,
        });
    }
    flows
}

fn name_of(table: &[(u16, &str)], v: u16) -> String {
    table
        .iter()
        .find(|(n, _)| *n == v)
        .map_or_else(|| format!("{v}"), |(_, s)| s.to_string())
}

/// dnscap's description of a delivered DNS message (the fields `gold` reads).
fn describe(src: SocketAddr, dst: SocketAddr, m: &[u8]) -> Msg {
    assert!(m.len() >= 12, "short DNS message {m:?}");
    let be = |i: usize| u16::from_be_bytes([m[i], m[i + 1]]);
    let (id, flags, qd) = (be(0), be(2), be(4));
    let opcode = name_of(
        &[
            (0, "QUERY"),
            (1, "IQUERY"),
            (2, "STATUS"),
            (4, "NOTIFY"),
            (5, "UPDATE"),
        ],
        (flags >> 11) & 0xf,
    );
    let rcode = name_of(
        &[
            (0, "NOERROR"),
            (1, "FORMERR"),
            (2, "SERVFAIL"),
            (3, "NXDOMAIN"),
            (4, "NOTIMP"),
            (5, "REFUSED"),
        ],
        flags & 0xf,
    );
    let bits: Vec<&str> = [
        (0x8000, "qr"),
        (0x0400, "aa"),
        (0x0200, "tc"),
        (0x0100, "rd"),
        (0x0080, "ra"),
        (0x0020, "ad"),
        (0x0010, "cd"),
    ]
    .iter()
    .filter(|(b, _)| flags & b != 0)
    .map(|(_, s)| *s)
    .collect();
    // The first question: labels (no compression pointers in a first name),
    // then type and class.
    let mut name = String::new();
    let mut at = 12;
    loop {
        let n = usize::from(m[at]);
        assert!(n < 64, "compressed or bad label at {at}");
        at += 1;
        if n == 0 {
            break;
        }
        name.push_str(std::str::from_utf8(&m[at..at + n]).unwrap());
        name.push('.');
        at += n;
    }
    let qtype = name_of(
        &[
            (1, "A"),
            (2, "NS"),
            (5, "CNAME"),
            (6, "SOA"),
            (12, "PTR"),
            (15, "MX"),
            (16, "TXT"),
            (28, "AAAA"),
            (33, "SRV"),
            (255, "ANY"),
        ],
        be(at),
    );
    let qclass = name_of(&[(1, "IN")], be(at + 2));
    Msg {
        src,
        dst,
        size: m.len(),
        header: format!("{opcode},{rcode},{id},{}", bits.join("|")),
        question: format!("{qd} {name},{qclass},{qtype}"),
    }
}

/// Decode and reassemble every UDP flow of a capture: its messages per flow,
/// and the number of datagrams the decoder rebuilt from fragments.
fn ours(pcap: &str) -> (Flows, u64) {
    let mut reader = CaptureReader::open(dir().join(pcap)).unwrap();
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut asm = Assembler::new(AssemblerConfig::default(), Factory::default());
    while let Some(frame) = reader.next_frame().unwrap() {
        // A fragment held for defragmentation is not a segment yet.
        if let Ok(seg) = dec.decode(&frame) {
            assert_eq!(seg.tuple.proto, Proto::Udp, "frame {}", frame.number);
            asm.assemble(&seg);
        }
    }
    asm.flush_all();
    let defragmented = dec.stats().defragmented;
    let mut flows = Flows::new();
    for r in asm.into_factory().streams {
        let info = r.info.unwrap();
        let (client, server) = (info.client.src, info.client.dst);
        let c = r.completion.as_ref().unwrap();
        assert!(c.c2s.balanced() && c.s2c.balanced());
        assert!(c.c2s.gaps.is_empty() && c.s2c.gaps.is_empty());
        // One delivery per datagram, in arrival order.
        let msgs = flows.entry(flow_key(client, server)).or_default();
        for d in &r.deliveries {
            let (src, dst) = match d.dir {
                Dir::ClientToServer => (client, server),
                Dir::ServerToClient => (server, client),
            };
            msgs.push(describe(src, dst, &d.bytes));
        }
    }
    (flows, defragmented)
}

fn check(pcap: &str) -> (usize, usize, u64) {
    let want = gold(&std::fs::read_to_string(dir().join("dns.gold")).unwrap());
    let (got, defragmented) = ours(pcap);
    let keys: Vec<_> = want.keys().collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), keys, "{pcap}: flows");
    for (k, w) in &want {
        assert_eq!(&got[k], w, "{pcap}: flow {} <-> {}", k.0, k.1);
    }
    let msgs = want.values().map(Vec::len).sum();
    println!(
        "dnscap {pcap}: {} UDP flows, {msgs} DNS messages as dns.gold lists them ({defragmented} datagrams defragmented)",
        want.len()
    );
    (want.len(), msgs, defragmented)
}

/// Records in dns.gold (lines that start one), so that no record is lost by
/// the parser; and at least one flow.
fn gold_records() -> usize {
    let text = std::fs::read_to_string(dir().join("dns.gold")).unwrap();
    text.lines().filter(|l| l.starts_with('[')).count()
}

#[test]
fn dns_pcap_matches_dnscap_gold() {
    let (flows, msgs, defragmented) = check("dns.pcap");
    assert!(flows > 0);
    assert_eq!((msgs, defragmented), (gold_records(), 0));
}

#[test]
fn fragmented_dns_pcap_matches_dnscap_gold() {
    // Upstream's frags.gold is built from dns.gold by its test script.
    assert_eq!(
        std::fs::metadata(dir().join("frags.gold")).unwrap().len(),
        0
    );
    let (flows, msgs, defragmented) = check("frags.pcap");
    assert!(flows > 0);
    assert_eq!(msgs, gold_records());
    assert!(defragmented > 0, "frags.pcap has fragmented datagrams");
}

//! The decoder against every capture of the third-party corpus.
//!
//! - Every frame of every capture decodes without panic (the pcapng block
//!   structure set included).
//! - The set of TCP flows that produced at least one segment equals the
//!   conversations tshark 4.0.17 reassembled (`_oracle/.../index.tsv`), and the
//!   captured payload of each direction (union of sequence ranges) equals
//!   tshark's byte count, except for the differences explained in
//!   `testdata/DIFFERENCES.md` and listed in [`ALLOWED_FLOWS`] /
//!   [`ALLOWED_BYTES`]: an unexplained difference fails, and so does an
//!   allowlist entry that no longer differs.
//! - Specific facts: encapsulation paths of tunnel and link-layer captures,
//!   snaplen truncation counts, defragmented TCP compared with Suricata's and
//!   Arkime's expected output, dnscap's fragmented DNS equal to its unfragmented twin.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use pcapread::{
    CaptureReader, Decoder, DecoderConfig, FiveTuple, FlowKey, Frame, LinkType, Proto, Skip,
};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/corpus");
const ORACLE: &str = "_oracle/tshark-4.0.17";

/// TCP flows (capture, flow as `tcp lo <-> hi`, "extra"/"missing") on which we
/// knowingly differ from tshark. Each entry is explained in DIFFERENCES.md.
const ALLOWED_FLOWS: &[(&str, &str, &str)] = &[(
    "zeek/tunnels/gre-aruba-amsdu.pcap",
    "tcp 149.159.130.184:49392 <-> 157.240.18.16:443",
    "extra",
)];

/// Per-direction captured payload bytes (capture, sender, receiver, ours,
/// tshark's) on which we knowingly differ. Each is explained in DIFFERENCES.md.
const ALLOWED_BYTES: &[(&str, &str, &str, u64, u64)] = &[
    (
        "arkime/tcpseq_synthetic.pcap",
        "30.0.0.0:0",
        "0.0.3.0:0",
        16,
        8,
    ),
    (
        "gopacket/linux_sll_oversized_addr.pcapng",
        "192.168.145.147:51218",
        "10.209.8.148:21999",
        623,
        247,
    ),
    (
        "gopacket/linux_sll_oversized_addr.pcapng",
        "10.209.8.148:21999",
        "192.168.145.147:51218",
        5441,
        4716,
    ),
    (
        "suricata-verify/tcp-rst-unacked-stream-03-gap/input.pcap",
        "2.2.2.2:8080",
        "1.1.1.1:12345",
        13,
        7,
    ),
    (
        "suricata-verify/tcp-rst-unacked-stream-07-http/input.pcap",
        "1.1.1.1:12345",
        "2.2.2.2:8080",
        39,
        16,
    ),
    (
        "tcpdump/of13_ericsson.pcapng",
        "127.0.0.1:6633",
        "127.0.0.1:58449",
        208,
        8,
    ),
];

/// Captures without a tshark oracle (no TCP in them): we must find no TCP flow either.
const NO_TCP: &[&str] = &[
    "dnscap/dns.pcap",
    "dnscap/frags.pcap",
    "suricata-verify/exception-policy-defrag-01/ipv4frags.pcap",
];

fn path(rel: &str) -> PathBuf {
    Path::new(CORPUS).join(rel)
}

fn captures() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if p.is_dir() {
                if !rel.starts_with("_oracle") {
                    walk(&p, root, out);
                }
            } else if rel.ends_with(".pcap")
                || rel.ends_with(".pcapng")
                || rel.ends_with(".pcap.gz")
            {
                out.push(rel);
            }
        }
    }
    let root = Path::new(CORPUS);
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// Decode every frame of a capture, handing each result to `f`.
fn each_segment(rel: &str, mut f: impl FnMut(&Frame<'_>, Result<&pcapread::Segment<'_>, Skip>)) {
    let mut reader = CaptureReader::open(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let mut dec = Decoder::new(DecoderConfig::default());
    // Damaged captures end with a reader error; everything before it counts.
    while let Ok(Some(frame)) = reader.next_frame() {
        match dec.decode(&frame) {
            Ok(seg) => f(&frame, Ok(&seg)),
            Err(skip) => f(&frame, Err(skip)),
        }
    }
}

/// One direction's first sequence number and the payload ranges relative to it.
type Ranges = (u32, Vec<(i64, i64)>);

/// The TCP flows of a capture and, per (sender, receiver), the union of the
/// sequence ranges its captured payload covers.
#[derive(Default)]
struct Flows {
    keys: BTreeSet<FlowKey>,
    ranges: BTreeMap<(SocketAddr, SocketAddr), Ranges>,
}

fn flows(rel: &str) -> Flows {
    let mut out = Flows::default();
    each_segment(rel, |_, seg| {
        let Ok(seg) = seg else { return };
        let Some(t) = seg.tcp() else { return };
        out.keys.insert(seg.tuple.canonical().0);
        let start = t.seq.wrapping_add(u32::from(t.flags.syn()));
        let e = out
            .ranges
            .entry((seg.tuple.src, seg.tuple.dst))
            .or_insert((start, Vec::new()));
        // Offsets relative to the first sequence number seen, within +-2^31.
        let rel_start = i64::from(start.wrapping_sub(e.0) as i32);
        if !seg.payload.is_empty() {
            e.1.push((rel_start, rel_start + seg.payload.len() as i64));
        }
    });
    out
}

fn covered(ranges: &[(i64, i64)]) -> u64 {
    let mut v = ranges.to_vec();
    v.sort_unstable();
    let (mut total, mut end) = (0u64, i64::MIN);
    for (a, b) in v {
        let a = a.max(end);
        if b > a {
            total += (b - a) as u64;
            end = b;
        }
    }
    total
}

/// tshark's streams: (node0, node1, bytes sent by node0, bytes sent by node1).
fn oracle(rel: &str) -> Option<Vec<(SocketAddr, SocketAddr, u64, u64)>> {
    let text = fs::read_to_string(path(ORACLE).join(rel).join("index.tsv")).ok()?;
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        rows.push((
            c[1].parse().unwrap(),
            c[2].parse().unwrap(),
            c[3].parse().unwrap(),
            c[4].parse().unwrap(),
        ));
    }
    Some(rows)
}

#[test]
fn tcp_flows_and_payload_match_tshark_except_where_explained() {
    let mut problems = Vec::new();
    let mut used_flows = BTreeSet::new();
    let mut used_bytes = BTreeSet::new();
    let mut compared = 0;
    for rel in captures() {
        let ours = flows(&rel);
        if rel.starts_with("pcapng-test-generator/") {
            // Block-structure cases: decoded (no panic) but not compared.
            continue;
        }
        let Some(rows) = oracle(&rel) else {
            assert!(
                NO_TCP.contains(&rel.as_str()),
                "{rel}: no oracle and not listed in NO_TCP"
            );
            assert!(
                ours.keys.is_empty(),
                "{rel}: TCP flows where none expected: {:?}",
                ours.keys
            );
            continue;
        };
        compared += 1;
        let want: BTreeSet<FlowKey> = rows
            .iter()
            .map(|r| {
                FiveTuple {
                    proto: Proto::Tcp,
                    src: r.0,
                    dst: r.1,
                }
                .canonical()
                .0
            })
            .collect();
        for (set_a, set_b, what) in [(&ours.keys, &want, "extra"), (&want, &ours.keys, "missing")] {
            for k in set_a.difference(set_b) {
                let entry = (rel.clone(), k.to_string(), what.to_string());
                if ALLOWED_FLOWS
                    .iter()
                    .any(|a| (a.0, a.1, a.2) == (&entry.0[..], &entry.1[..], &entry.2[..]))
                {
                    used_flows.insert(entry);
                } else {
                    problems.push(format!("{rel}: {what} flow {k}"));
                }
            }
        }
        for &(a, b, ba, bb) in &rows {
            // Port reuse gives tshark several streams per 4-tuple: not comparable.
            if rows
                .iter()
                .filter(|r| (r.0, r.1) == (a, b) || (r.0, r.1) == (b, a))
                .count()
                > 1
            {
                continue;
            }
            for (src, dst, theirs) in [(a, b, ba), (b, a, bb)] {
                let mine = ours
                    .ranges
                    .get(&(src, dst))
                    .map(|r| covered(&r.1))
                    .unwrap_or(0);
                if mine == theirs {
                    continue;
                }
                let (s, d) = (src.to_string(), dst.to_string());
                if ALLOWED_BYTES
                    .iter()
                    .any(|x| (x.0, x.1, x.2, x.3, x.4) == (&rel[..], &s[..], &d[..], mine, theirs))
                {
                    used_bytes.insert((rel.clone(), s, d));
                } else {
                    problems.push(format!(
                        "{rel}: {src} -> {dst} captured payload {mine} B, tshark {theirs} B"
                    ));
                }
            }
        }
    }
    assert!(compared >= 100, "only {compared} captures compared");
    for a in ALLOWED_FLOWS {
        if !used_flows.contains(&(a.0.to_string(), a.1.to_string(), a.2.to_string())) {
            problems.push(format!("stale ALLOWED_FLOWS entry {a:?}"));
        }
    }
    for a in ALLOWED_BYTES {
        if !used_bytes.contains(&(a.0.to_string(), a.1.to_string(), a.2.to_string())) {
            problems.push(format!("stale ALLOWED_BYTES entry {a:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "unexplained differences with tshark:\n{}",
        problems.join("\n")
    );
}

/// Encapsulation paths of the TCP segments of a capture, with counts.
fn tcp_paths(rel: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    each_segment(rel, |_, seg| {
        if let Ok(seg) = seg {
            if seg.tuple.proto == Proto::Tcp {
                *out.entry(seg.encap.to_string()).or_default() += 1;
            }
        }
    });
    out
}

#[test]
fn encapsulation_paths_of_tunnel_and_link_captures() {
    let cases: &[(&str, &[(&str, u64)])] = &[
        (
            "suricata-verify/bug-5437-01/input.pcap",
            &[("eth/ipv4/gre/erspan/eth/ipv4", 2)],
        ),
        // ERSPAN type I (no GRE sequence number, no ERSPAN header)
        ("zeek/erspan.pcap", &[("eth/ipv4/gre/eth/ipv4", 106)]),
        (
            "zeek/tunnels/vxlan-encapsulated-http.pcap",
            &[("eth/ipv4/vxlan:1/eth/ipv4", 12)],
        ),
        (
            "suricata-verify/vxlan-decoder-03/vxlan.pcap",
            &[("eth/ipv4/vxlan:5569041/eth/ipv4", 82)],
        ),
        (
            "suricata-verify/bug-6402-01/input.pcap",
            &[("eth/ipv4/geneve:0/ipv4/gre/ipv4", 12)],
        ),
        (
            "tcpdump/geneve.pcap",
            &[
                ("eth/ipv4/geneve:10/eth/ipv4", 16),
                ("eth/ipv4/geneve:11/eth/ipv4", 17),
            ],
        ),
        (
            "suricata-verify/bug-2576-02/temp1.pcap",
            &[("eth/ipv4/gre/eth/ipv4", 17)],
        ),
        ("zeek/tunnels/4in6.pcap", &[("eth/ipv6/ipv4", 1)]),
        (
            "zeek/tunnels/gtp1_gn_normal_incl_fragmentation.pcap",
            &[("eth/ipv4/gtpu/ipv4", 68)],
        ),
        (
            "zeek/tunnels/gtp2_different_udp_port.pcap",
            &[("eth/ipv4/gtpu/ipv4", 78)],
        ),
        (
            "zeek/tunnels/gtp_ext_header.pcap",
            &[("eth/ipv4/gtpu/ipv4", 1)],
        ),
        (
            "zeek/tunnels/gre-aruba.pcap",
            &[("eth/vlan:300/ipv4/gre/wlan/llc/ipv4", 2407)],
        ),
        (
            "zeek/tunnels/gre-aruba-amsdu.pcap",
            &[("eth/vlan:22/ipv4/gre/wlan/amsdu/llc/ipv4", 1)],
        ),
        (
            "zeek/tunnels/gre-over-udp-4754.pcap",
            &[("eth/ipv4/gre-udp/ipv4", 10)],
        ),
        ("zeek/tunnels/ayiya3.pcap", &[("eth/ipv4/ayiya/ipv6", 21)]),
        (
            "suricata-verify/bug-4571-01/ipv4_over_ipv4.pcap",
            &[("eth/ipv4/ipv4", 1)],
        ),
        (
            "suricata-verify/bug-4571-04/ipv6_over_ipv4.pcap",
            &[("eth/ipv4/ipv6", 1)],
        ),
        (
            "suricata-verify/bug-4571-06/ipv4_over_ipv6.pcap",
            &[("eth/ipv6/ipv4", 1)],
        ),
        ("arkime/twovlan.pcap", &[("eth/vlan:201/vlan:200/ipv4", 6)]),
        (
            "zeek/vlan-qinqinq.pcap",
            &[("eth/vlan:30/vlan:20/vlan:10/ipv4", 14)],
        ),
        (
            "arkime/mpls-basic.pcap",
            &[("eth/ipv4", 8), ("eth/mpls:29/ipv4", 11)],
        ),
        (
            "zeek/mpls-in-vlan.pcap",
            &[
                ("eth/vlan:0/mpls:16106/ipv4", 1),
                ("eth/vlan:3199/ipv4", 1),
                ("eth/vlan:3399/mpls:254/mpls:99/ipv4", 1),
            ],
        ),
        (
            "zeek/pbb.pcap",
            &[("eth/vlan:4051/pbb:2014020/eth/vlan:4020/ipv4", 8)],
        ),
        (
            "zeek/pppoe-over-qinq.pcap",
            &[("eth/vlan:3704/vlan:2474/pppoe/ppp/ipv4", 86)],
        ),
        (
            "suricata-verify/bug-4810/pppoe-session-http.pcap",
            &[("eth/pppoe/ppp/ipv4", 30)],
        ),
        (
            "tcpdump/lspping-fec-ldp.pcap",
            &[("ppp/mpls:100656/ipv4", 1), ("ppp/mpls:100704/ipv4", 2)],
        ),
        ("zeek/snap-tcp.pcap", &[("eth/llc/ipv4", 8)]),
        ("tcpdump/ipoib.pcap", &[("ipoib/ipv4", 20)]),
        (
            "tcpdump/arcnet-rfc1051-arp-icmp-http.pcap",
            &[("arcnet/ipv4", 14)],
        ),
        ("zeek/nflog-http.pcap", &[("nflog/ipv4", 13)]),
        (
            "suricata-verify/decode-chdlc-01/hdlc-http_1tx.pcap",
            &[("chdlc/ipv4", 17)],
        ),
        (
            "suricata-verify/decode-sll2-01/input.pcap",
            &[("sll2/ipv4", 5)],
        ),
        // 209 frames; frame 87's TCP header is cut by its IP length, frame 95's
        // has data offset 0 (this capture's headers were deliberately damaged).
        (
            "gopacket/linux_sll_oversized_addr.pcapng",
            &[("sll/ipv4", 207)],
        ),
        ("gopacket/test_loopback.pcap", &[("null/ipv6", 24)]),
        ("tcpdump/tcp_rst_diag_payload.pcap", &[("null/ipv4", 1)]),
        (
            "suricata-verify/linktype-228/flow-test-01.pcap",
            &[("ipv4", 7)],
        ),
    ];
    for (rel, want) in cases {
        let want: BTreeMap<String, u64> = want.iter().map(|(p, n)| (p.to_string(), *n)).collect();
        assert_eq!(tcp_paths(rel), want, "{rel}");
    }
}

/// Every decode outcome of a capture: `proto path` per segment, the skip
/// reason's name otherwise, with counts.
fn outcomes(rel: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    each_segment(rel, |_, seg| {
        let k = match seg {
            Ok(s) => format!("{} {}", s.tuple.proto, s.encap),
            Err(skip) => skip.name(),
        };
        *out.entry(k).or_default() += 1;
    });
    out
}

#[test]
fn udp_over_80211_links_gtp_ipv6_gre_udp_and_ayiya() {
    // No TCP in these (their tshark oracles are empty): the UDP datagrams and
    // the reasons for the other frames say what was decoded.
    let cases: &[(&str, &[(&str, u64)])] = &[
        // radiotap with the FCS flag set (the FCS is removed), QoS data
        // To DS, data From DS with LLC/SNAP IPv6
        (
            "zeek/wlan/radiotap.pcap",
            &[
                ("udp radiotap/wlan/llc/ipv4", 2),
                ("udp radiotap/wlan/llc/ipv6", 1),
            ],
        ),
        // the same frames as plain 802.11 (LINKTYPE 105)
        (
            "zeek/wlan/wlanmon.pcap",
            &[("udp wlan/llc/ipv4", 2), ("udp wlan/llc/ipv6", 1)],
        ),
        // GTP-U carrying IPv6: a UDP datagram and an ICMPv6 packet
        (
            "zeek/tunnels/gtp7_ipv6.pcap",
            &[("udp eth/ipv4/gtpu/ipv6", 1), ("ip-proto:58", 1)],
        ),
        // DNS inside GRE in UDP, besides the TCP flow
        (
            "zeek/tunnels/gre-over-udp-4754.pcap",
            &[
                ("tcp eth/ipv4/gre-udp/ipv4", 10),
                ("udp eth/ipv4/gre-udp/ipv4", 4),
            ],
        ),
        // AYIYA: forwarded IPv6 (TCP and ICMPv6); the 3 other AYIYA messages
        // carry no packet and stay UDP datagrams
        (
            "zeek/tunnels/ayiya3.pcap",
            &[
                ("tcp eth/ipv4/ayiya/ipv6", 21),
                ("ip-proto:58", 11),
                ("udp eth/ipv4", 3),
            ],
        ),
    ];
    for (rel, want) in cases {
        let want: BTreeMap<String, u64> = want.iter().map(|(p, n)| (p.to_string(), *n)).collect();
        assert_eq!(outcomes(rel), want, "{rel}");
    }
}

#[test]
fn amsdu_first_subframe_decoded_second_counted() {
    // One Aruba GRE frame with an A-MSDU of two subframes, both TCP segments
    // of one flow (229 and 31 payload bytes): the first is the frame's
    // segment, the second is counted as not decoded.
    let mut reader = CaptureReader::open(path("zeek/tunnels/gre-aruba-amsdu.pcap")).unwrap();
    let mut dec = Decoder::new(DecoderConfig::default());
    let frame = reader.next_frame().unwrap().unwrap();
    let seg = dec.decode(&frame).unwrap();
    assert_eq!(
        seg.tuple.to_string(),
        "tcp 157.240.18.16:443 -> 149.159.130.184:49392"
    );
    assert_eq!(seg.payload.len(), 229);
    assert_eq!(dec.stats().amsdu_subframes_skipped, 1);
}

#[test]
fn teredo_frames_decode_as_ipv6_not_udp() {
    // The Teredo packets of this capture carry ICMPv6 and a bubble (no next
    // header): decoded through the tunnel, they are IPv6 protocol 58/59, and no
    // UDP datagram on port 3544 remains.
    let mut skips = BTreeMap::new();
    let mut udp_3544 = 0;
    each_segment("zeek/tunnels/Teredo.pcap", |_, seg| match seg {
        Ok(s)
            if s.tuple.proto == Proto::Udp
                && (s.tuple.src.port() == 3544 || s.tuple.dst.port() == 3544) =>
        {
            udp_3544 += 1
        }
        Err(skip @ Skip::NotTcpUdp(58 | 59)) => *skips.entry(skip).or_insert(0) += 1,
        _ => {}
    });
    assert_eq!(udp_3544, 0);
    assert_eq!(
        skips,
        BTreeMap::from([(Skip::NotTcpUdp(58), 3), (Skip::NotTcpUdp(59), 1)])
    );
}

#[test]
fn routing_header_type0_flow_uses_final_destination() {
    let f = flows("zeek/chksums/ip6-route0-tcp-good-chksum.pcap");
    let k: Vec<String> = f.keys.iter().map(|k| k.to_string()).collect();
    // The header's destination is 2001:4f8:4:7:2e0:81ff:fe52:9a6b, the next hop.
    assert_eq!(
        k,
        ["tcp [2001:78:1:32::2]:80 <-> [2001:4f8:4:7:2e0:81ff:fe52:ffff]:30000"]
    );
}

#[test]
fn snaplen_truncation_is_counted_per_segment() {
    // zeek/tcp/timestamp.pcap was captured with snaplen 96: every segment's
    // missing bytes are exactly what the capture dropped (no Ethernet padding
    // in full-size frames), and captured + truncated is the IP-announced payload.
    let (mut segments, mut truncated_total, mut dropped_total) = (0u64, 0u64, 0u64);
    each_segment("zeek/tcp/timestamp.pcap", |frame, seg| {
        let seg = seg.unwrap_or_else(|e| panic!("frame {}: {e:?}", frame.number));
        assert!(frame.caplen <= 96);
        segments += 1;
        truncated_total += u64::from(seg.truncated);
        dropped_total += u64::from(frame.truncated_bytes());
        if frame.truncated_bytes() > 0 {
            assert_eq!(
                seg.truncated,
                frame.truncated_bytes(),
                "frame {}",
                frame.number
            );
        }
    });
    assert_eq!(segments, 878);
    assert!(truncated_total > 900_000, "{truncated_total}");
    assert_eq!(truncated_total, dropped_total);
}

#[test]
fn ethernet_padding_is_not_payload() {
    // suricata-verify/tcp-5379: one frame with bytes after the IP total length.
    let mut lens = Vec::new();
    each_segment("suricata-verify/tcp-5379/input.pcap", |frame, seg| {
        let seg = seg.unwrap();
        lens.push((frame.caplen, seg.payload.len(), seg.truncated));
    });
    let oracle = oracle("suricata-verify/tcp-5379/input.pcap").unwrap();
    assert_eq!(lens.len(), 1);
    assert_eq!(lens[0].1 as u64, oracle[0].2 + oracle[0].3);
    assert!((lens[0].0 as usize) > 14 + 20 + 20 + lens[0].1, "{lens:?}");
    assert_eq!(lens[0].2, 0);
}

#[test]
fn jumbogram_is_one_80000_byte_segment() {
    let mut seen = Vec::new();
    each_segment("tcpdump/bigtcp-ipv6-hbh.pcap", |_, seg| {
        let seg = seg.unwrap();
        seen.push((seg.payload.len(), seg.truncated));
    });
    assert_eq!(seen, [(80000, 0)]);
}

/// The first `packet:` (base64) and the link type given with it in a
/// suricata-verify test.yaml.
fn suricata_packet(test_yaml: &str) -> (Vec<u8>, LinkType) {
    let text = fs::read_to_string(path(test_yaml)).unwrap();
    let b64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("packet: "))
        .unwrap()
        .trim_matches('"');
    let link = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("packet_info.linktype: "))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    (
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        LinkType(link),
    )
}

#[test]
fn suricata_defrag_bug_6887_matches_reassembled_packet() {
    for dir in [
        "bug-6887-defrag-ipv6-tcp",
        "bug-6887-defrag-eth-vlan-ipv6-tcp",
        "bug-6887-defrag-ppp-ipv6-tcp",
        "bug-6887-defrag-ipv4-tcp-syn",
    ] {
        let base = format!("suricata-verify/defrag/{dir}");
        let pcap = fs::read_dir(path(&base))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".pcap"))
            .unwrap();
        // Ours: the one segment the fragments rebuild.
        let mut got = Vec::new();
        each_segment(&format!("{base}/{pcap}"), |_, seg| {
            if let Ok(s) = seg {
                assert!(
                    s.defragmented,
                    "{dir}: only the rebuilt datagram yields a segment"
                );
                got.push((s.tuple, *s.tcp().unwrap(), s.payload.to_vec()));
            }
        });
        // Suricata's: the reassembled packet it logged, decoded as a plain frame.
        let (bytes, link) = suricata_packet(&format!("{base}/test.yaml"));
        let n = bytes.len() as u32;
        let frame = Frame {
            number: 1,
            input: 0,
            file_offset: 0,
            ts: 0,
            caplen: n,
            origlen: n,
            link_type: link,
            data: &bytes,
        };
        let mut dec = Decoder::new(DecoderConfig::default());
        let want = dec.decode(&frame).unwrap();
        assert!(!want.defragmented);
        assert_eq!(got.len(), 1, "{dir}");
        assert_eq!(got[0].0, want.tuple, "{dir}");
        assert_eq!(got[0].1, *want.tcp().unwrap(), "{dir}");
        assert_eq!(got[0].2, want.payload, "{dir}");
    }
}

#[test]
fn arkime_socks5_fragmented_tcp_rebuilds_to_expected_sizes() {
    // arkime/socks5-http-302-frag.test: 14 packets, client 419 and server 942
    // data bytes; 62 of the 72 frames are IPv4 fragments of 4 TCP segments.
    let mut lens = Vec::new();
    let mut bytes: BTreeMap<u16, u64> = BTreeMap::new();
    let mut held = 0;
    each_segment("arkime/socks5-http-302-frag.pcap", |_, seg| match seg {
        Ok(s) => {
            lens.push((s.payload.len(), s.defragmented));
            *bytes.entry(s.tuple.src.port()).or_default() += s.payload.len() as u64;
        }
        Err(Skip::FragmentHeld) => held += 1,
        Err(e) => panic!("{e:?}"),
    });
    assert_eq!(lens.len(), 14);
    assert_eq!(held, 58);
    let defragmented: Vec<usize> = lens.iter().filter(|l| l.1).map(|l| l.0).collect();
    assert_eq!(defragmented, [21, 10, 395, 930]);
    assert_eq!(bytes, BTreeMap::from([(1637, 419), (21477, 942)]));
}

#[test]
fn dnscap_frags_defragment_to_the_same_udp_as_dns() {
    let udp = |rel: &str| {
        let mut v = Vec::new();
        each_segment(rel, |_, seg| {
            if let Ok(s) = seg {
                assert_eq!(s.tuple.proto, Proto::Udp);
                v.push((s.tuple, s.payload.to_vec(), s.defragmented));
            }
        });
        v
    };
    let frags = udp("dnscap/frags.pcap");
    let plain = udp("dnscap/dns.pcap");
    assert_eq!(frags.len(), 82);
    assert!(
        frags.iter().all(|f| f.2),
        "every datagram of frags.pcap is rebuilt"
    );
    let strip =
        |v: &[(FiveTuple, Vec<u8>, bool)]| v.iter().map(|x| (x.0, x.1.clone())).collect::<Vec<_>>();
    assert_eq!(strip(&frags), strip(&plain));
}

#[test]
fn fragmented_icmp_is_released_not_held() {
    // An ICMP echo in two fragments, then its (unfragmented) reply.
    let mut out = Vec::new();
    each_segment(
        "suricata-verify/exception-policy-defrag-01/ipv4frags.pcap",
        |_, seg| {
            out.push(seg.map(|_| ()).err());
        },
    );
    assert_eq!(
        out,
        [
            Some(Skip::FragmentHeld),
            Some(Skip::NotTcpUdp(1)),
            Some(Skip::NotTcpUdp(1))
        ]
    );
}

//! Conformance with the answers upstream projects ship beside their captures
//! (testdata/corpus: Zeek `expected/`, suricata-verify `expected/` and
//! `test.yaml`, Arkime `*.test`). Each test reads the upstream answer file
//! itself, so a change on either side shows up here.
//!
//! Where an upstream answer and ours differ on purpose, the test says why and
//! testdata/DIFFERENCES.md ("Upstream answers") records it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;

use common::*;
use engine::{collect, Collector, EngineOptions, FlowRecord, Input, Summary};
use reassembly::Gap;
use serde_json::Value;

fn path(rel: &str) -> PathBuf {
    root().join(corpus(rel))
}

/// Run the engine (one thread, UDP on) over one corpus capture.
fn run(rel: &str) -> (Summary, Collector) {
    let o = EngineOptions {
        threads: 1,
        udp: true,
        ..EngineOptions::default()
    };
    let (summary, collected) = collect(&o, Input::files([path(rel)])).unwrap();
    assert!(summary.complete(), "{rel}: input problems");
    (summary, collected)
}

/// The one flow with these endpoints, client first.
fn flow(s: &Summary, client: SocketAddr, server: SocketAddr) -> &FlowRecord {
    let found: Vec<&FlowRecord> = s
        .flows
        .iter()
        .filter(|r| r.head.client == client && r.head.server == server)
        .collect();
    assert_eq!(found.len(), 1, "flows {client} -> {server}");
    found[0]
}

fn gap(offset: u64, len: u64) -> Gap {
    Gap { offset, len }
}

/// Zeek's `contents_[A]-P-[B]-Q_{orig,resp}.dat` (conn/contents.zeek) against
/// the flow A:P -> B:Q. The first line of a `.dat` is btest's header.
#[test]
fn zeek_ftp_ipv6_contents_files() {
    let (summary, collected) = run("zeek/ftp/ipv6.pcap");
    assert_eq!(summary.flows.len(), 6);
    let dir = path("zeek/expected/scripts.base.protocols.conn.contents-default-extract");
    let mut checked = 0;
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dat"))
        .collect();
    names.sort();
    for name in names {
        // contents_[2001-470-...]-49185-[2001-470-4867-99--21]-21_orig.dat
        let stem = name
            .strip_prefix("contents_")
            .and_then(|n| n.strip_suffix(".dat"))
            .unwrap();
        let (ends, side) = stem.rsplit_once('_').unwrap();
        let sock = |ip: &str, port: &str| -> SocketAddr {
            format!("[{}]:{port}", ip.replace('-', ":"))
                .parse()
                .unwrap()
        };
        let (ip_a, rest) = ends.strip_prefix('[').unwrap().split_once("]-").unwrap();
        let (port_a, rest) = rest.split_once("-[").unwrap();
        let (ip_b, port_b) = rest.split_once("]-").unwrap();
        let (client, server) = (sock(ip_a, port_a), sock(ip_b, port_b));
        let r = flow(&summary, client, server);
        let raw = fs::read(dir.join(&name)).unwrap();
        let nl = raw.iter().position(|&c| c == b'\n').unwrap();
        assert!(raw.starts_with(b"### BTest baseline"));
        let want = &raw[nl + 1..];
        let got = &collected.flows[&r.head.id];
        let got = match side {
            "orig" => &got.c2s,
            "resp" => &got.s2c,
            other => panic!("side {other}"),
        };
        assert_eq!(got.as_slice(), want, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// Suricata's tcp-data.log hexdump: `CLIENT_PORT-SERVER_PORT-ts:` (to server)
/// or `-tc:` (to client) headers, then ` OOOO  hh hh ...   ascii` lines.
fn parse_tcp_data_log(text: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut key = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_suffix(':').filter(|_| !line.starts_with(' ')) {
            key = h.to_string();
            continue;
        }
        // Hex columns are 7..55; the ASCII column starts at 58.
        let hex = line.get(7..line.len().min(55)).unwrap();
        let bytes = out.entry(key.clone()).or_default();
        for tok in hex.split_whitespace() {
            bytes.push(u8::from_str_radix(tok, 16).unwrap());
        }
    }
    out
}

#[test]
fn suricata_tcp_data_log_hexdump() {
    let (summary, collected) = run("suricata-verify/output-tcp-data/input.pcap");
    let text = fs::read_to_string(path(
        "suricata-verify/output-tcp-data/expected/tcp-data.log",
    ))
    .unwrap();
    let want = parse_tcp_data_log(&text);
    assert_eq!(want.len(), 2);
    let r = flow(
        &summary,
        "10.16.1.11:59733".parse().unwrap(),
        "104.131.202.103:80".parse().unwrap(),
    );
    let got = &collected.flows[&r.head.id];
    let key = "10.16.1.11_59733-104.131.202.103_80";
    assert_eq!(got.c2s, want[&format!("{key}-ts")]);
    assert_eq!(got.s2c, want[&format!("{key}-tc")]);
    assert!(got
        .c2s
        .starts_with(b"GET /base64-hello-world.txt HTTP/1.1\r\n"));
    assert_eq!(r.c2s.bytes, 100);
    assert_eq!(r.s2c.bytes, 363);
}

/// The Lua streaming output file `6-CLIENT-SERVER-CPORT-SPORT` holds what the
/// server sent: the HTTP response head and the 177207-byte PDF.
#[test]
fn suricata_lua_streaming_pdf_is_the_server_stream() {
    let base = "suricata-verify/lua-output-streaming";
    let (summary, collected) = run(&format!("{base}/suricata-update-pdf.pcap"));
    let want = fs::read(path(&format!(
        "{base}/expected/6-172.16.1.68-162.209.114.75-58384-80"
    )))
    .unwrap();
    let body = fs::read(path(&format!(
        "{base}/expected/http-6-172.16.1.68-162.209.114.75-58384-80"
    )))
    .unwrap();
    let r = flow(
        &summary,
        "172.16.1.68:58384".parse().unwrap(),
        "162.209.114.75:80".parse().unwrap(),
    );
    let got = &collected.flows[&r.head.id];
    assert_eq!(want.len(), 177_601);
    assert_eq!(got.s2c, want);
    assert!(got.s2c.ends_with(&body));
    assert!(got.s2c.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(r.s2c.ledger.gaps.is_empty());
    assert!(got.c2s.starts_with(b"GET "));
}

/// One Arkime session: endpoints, protocol, payload bytes per side.
#[derive(Debug)]
struct Session {
    proto: u64,
    client: SocketAddr,
    server: SocketAddr,
    client_bytes: u64,
    server_bytes: u64,
}

/// The TCP and UDP sessions of an Arkime `.test` file (`sessions3[].body`).
fn arkime_sessions(name: &str) -> Vec<Session> {
    let text = fs::read_to_string(path(&format!("arkime/{name}.test"))).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for s in v["sessions3"].as_array().unwrap() {
        let b = &s["body"];
        let proto = b["ipProtocol"].as_u64().unwrap_or(0);
        if proto != 6 && proto != 17 {
            continue;
        }
        let ep = |e: &Value| -> SocketAddr {
            format!(
                "{}:{}",
                e["ip"].as_str().unwrap(),
                e["port"].as_u64().unwrap()
            )
            .parse()
            .unwrap()
        };
        out.push(Session {
            proto,
            client: ep(&b["source"]),
            server: ep(&b["destination"]),
            client_bytes: b["client"]["bytes"].as_u64().unwrap(),
            server_bytes: b["server"]["bytes"].as_u64().unwrap(),
        });
    }
    out
}

/// A known, deliberate difference from Arkime's count for one session side.
struct Deliberate {
    client: &'static str,
    server: &'static str,
    /// (Arkime client.bytes, Arkime server.bytes)
    arkime: (u64, u64),
    /// (our c2s bytes, our s2c bytes)
    ours: (u64, u64),
}

/// Arkime's `client.bytes` / `server.bytes` are the payload bytes its TCP
/// reassembly kept (retransmissions counted once); ours are the reassembled
/// bytes per direction. Sessions are matched in order by endpoints (a capture
/// may reuse a 4-tuple: Arkime and we both split it into two sessions).
fn check_arkime(name: &str, expected_sessions: usize, deliberate: &[Deliberate]) {
    let (summary, _) = run(&format!("arkime/{name}.pcap"));
    let sessions = arkime_sessions(name);
    assert_eq!(sessions.len(), expected_sessions, "{name}");
    let mut used = vec![false; summary.flows.len()];
    for s in &sessions {
        let i = summary
            .flows
            .iter()
            .enumerate()
            .position(|(i, r)| !used[i] && r.head.client == s.client && r.head.server == s.server)
            .unwrap_or_else(|| panic!("{name}: no flow for {s:?}"));
        used[i] = true;
        let r = &summary.flows[i];
        assert_eq!(
            r.head.proto.as_str(),
            if s.proto == 6 { "tcp" } else { "udp" }
        );
        let ours = (r.c2s.bytes, r.s2c.bytes);
        let arkime = (s.client_bytes, s.server_bytes);
        match deliberate.iter().find(|d| {
            d.client.parse::<SocketAddr>().unwrap() == s.client
                && d.server.parse::<SocketAddr>().unwrap() == s.server
        }) {
            Some(d) => {
                assert_eq!(arkime, d.arkime, "{name} {s:?}: Arkime's answer changed");
                assert_eq!(ours, d.ours, "{name} {s:?}");
            }
            None => assert_eq!(ours, arkime, "{name} {s:?}"),
        }
    }
}

#[test]
fn arkime_tcp_reassembly_synthetic_byte_counts() {
    // 40005: the server sends 8 bytes (seq 8001), the capture lacks 8009..8017,
    // then 16 bytes (seq 8017); the client ACKs 8033, so all 32 bytes reached
    // it. Arkime counts only the 8 bytes before the hole; we deliver 24 and
    // list the hole as a gap (offset 8, length 8).
    check_arkime(
        "tcp-reassembly-synthetic",
        11,
        &[Deliberate {
            client: "10.180.156.1:40005",
            server: "10.180.156.2:80",
            arkime: (37, 8),
            ours: (37, 24),
        }],
    );
    let (summary, _) = run("arkime/tcp-reassembly-synthetic.pcap");
    let r = flow(
        &summary,
        "10.180.156.1:40005".parse().unwrap(),
        "10.180.156.2:80".parse().unwrap(),
    );
    assert_eq!(r.s2c.ledger.gaps, vec![gap(8, 8)]);
}

#[test]
fn arkime_wireshark_retrans_byte_counts() {
    check_arkime("wireshark-retrans", 1, &[]);
}

#[test]
fn arkime_tcpseq_synthetic_byte_counts() {
    // 30.0.0.0:0 -> 0.0.3.0:0 is junk: a SYN carrying 8 bytes and a segment
    // 4 GB away in sequence space (see DIFFERENCES.md, "Captured payload").
    // Arkime keeps no payload for it; we deliver both 8-byte pieces with the
    // hole between them as a gap, so no captured byte goes unaccounted.
    check_arkime(
        "tcpseq_synthetic",
        6,
        &[Deliberate {
            client: "30.0.0.0:0",
            server: "0.0.3.0:0",
            arkime: (0, 0),
            ours: (16, 0),
        }],
    );
}

#[test]
fn arkime_dns_tcp_byte_counts() {
    check_arkime("dns-tcp", 2, &[]);
}

#[test]
fn arkime_http_tcp_seq_issue_byte_counts() {
    check_arkime("http-tcp-seq-issue", 1, &[]);
}

#[test]
fn arkime_twovlan_byte_counts() {
    check_arkime("twovlan", 1, &[]);
}

#[test]
fn arkime_mpls_basic_byte_counts() {
    // Arkime's ICMP/OSPF/other sessions are not streams; the two UDP flows and
    // the telnet connection are.
    check_arkime("mpls-basic", 3, &[]);
}

/// suricata-verify eve-overlap-payload-05-gap: "VERY", 4 bytes never
/// captured, "DATA" (payload_printable "VERY[4 bytes missing]DATA").
#[test]
fn suricata_gap_in_the_middle() {
    let (summary, collected) =
        run("suricata-verify/eve-overlap-payload-05-gap/tcp-simple-gap2.pcap");
    assert_eq!(summary.flows.len(), 1);
    let r = &summary.flows[0];
    assert_eq!(collected.flows[&r.head.id].c2s, b"VERYDATA");
    assert_eq!(r.c2s.ledger.gaps, vec![gap(4, 4)]);
    assert_eq!(r.c2s.ledger.missing, 4);
}

/// suricata-verify eve-payload-06-tcp-data-leading-gap: the first 4 bytes
/// after the handshake were never captured ("[4 bytes missing]GOODDATA").
#[test]
fn suricata_leading_gap() {
    let (summary, collected) =
        run("suricata-verify/eve-payload-06-tcp-data-leading-gap/tcp-leading-gap.pcap");
    let with_data: Vec<&FlowRecord> = summary.flows.iter().filter(|r| r.c2s.bytes > 0).collect();
    assert_eq!(with_data.len(), 1);
    let r = with_data[0];
    assert!(r.head.syn_seen);
    assert_eq!(collected.flows[&r.head.id].c2s, b"GOODDATA");
    assert_eq!(r.c2s.ledger.gaps, vec![gap(0, 4)]);
}

/// Zeek core.tcp.miss-end-data: `content_gap` on the responder at relative
/// seq 1 (our offset 0), length 2902; conn.log resp_bytes 2902, missed_bytes
/// 2902, orig_bytes 538.
#[test]
fn zeek_miss_end_data_gap() {
    let (summary, collected) = run("zeek/tcp/miss_end_data.pcap");
    let r = flow(
        &summary,
        "192.168.122.230:60648".parse().unwrap(),
        "77.238.160.184:80".parse().unwrap(),
    );
    assert_eq!(r.c2s.bytes, 538);
    assert!(collected.flows[&r.head.id].c2s.starts_with(b"GET "));
    assert_eq!(r.s2c.bytes, 0);
    assert_eq!(r.s2c.ledger.gaps, vec![gap(0, 2902)]);
    assert_eq!(r.s2c.ledger.missing, 2902);
    let conn = fs::read_to_string(path("zeek/expected/core.tcp.miss-end-data/conn.log")).unwrap();
    let row = conn.lines().find(|l| !l.starts_with('#')).unwrap();
    let cols: Vec<&str> = row.split('\t').collect();
    // orig_bytes, resp_bytes, ..., missed_bytes
    assert_eq!((cols[9], cols[10], cols[14]), ("538", "2902", "2902"));
    // `content_gap(c, is_orig, seq, length)`: F = responder, seq 1 = ISN + 1.
    let out = fs::read_to_string(path("zeek/expected/core.tcp.miss-end-data/out")).unwrap();
    let line = out.lines().find(|l| l.starts_with("content_gap")).unwrap();
    assert!(line.ends_with("F, 1, 2902"), "{line}");
}

//! Selecting flows and getting bytes out, on corpus captures: `follow
//! --flow` by id and by endpoints (repeatable), `follow --as bin`, and the
//! flow-level selector `--flows` against the packet filter `--filter`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{code, corpus, root, run, stderr, stdout};
use sha2::{Digest, Sha256};

/// 11 HTTP/1.0 connections from 10.180.156.1:4000N to 10.180.156.2:80.
const SYNTH: &str = "arkime/tcp-reassembly-synthetic.pcap";
/// 14 handshakes from 192.0.2.10:40001.. to 198.51.100.5:8080.
const HANDSHAKES: &str = "arkime/tcp_handshake_synthetic.pcap";
/// Four IPv6 HTTP connections.
const V6: &str = "zeek/ipv6-http-atomic-frag.pcap";

/// The `Flow: ID ...` lines of a transcript.
fn flow_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("Flow: ")).collect()
}

#[test]
fn several_flows_by_id_and_by_endpoints_in_either_order() {
    let o = run(&[
        "follow",
        "-q",
        &corpus(SYNTH),
        "--flow",
        "1",
        "--flow",
        "10.180.156.2:80-10.180.156.1:40005",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        flow_lines(&stdout(&o)),
        ["Flow: 1 (end: fin)", "Flow: 46 (end: fin)"]
    );
    // The same flow by its endpoints the other way round.
    let o = run(&[
        "follow",
        "-q",
        &corpus(SYNTH),
        "--flow",
        "10.180.156.1:40005-10.180.156.2:80",
    ]);
    assert_eq!(code(&o), 0);
    assert_eq!(flow_lines(&stdout(&o)), ["Flow: 46 (end: fin)"]);
}

#[test]
fn ipv6_endpoints_in_brackets() {
    let o = run(&[
        "follow",
        "-q",
        &corpus(V6),
        "--flow",
        "[2001:db8:1::1]:80-[2001:db8:1::2]:59694",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(flow_lines(&out), ["Flow: 13 (end: fin)"]);
    assert!(
        out.contains("Node 0: [2001:db8:1::2]:59694 (client)"),
        "{out}"
    );
}

#[test]
fn endpoints_that_match_nothing_are_an_error() {
    let o = run(&[
        "follow",
        &corpus(SYNTH),
        "--flow",
        "10.180.156.1:40005-10.180.156.2:81",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no flow between"), "{}", stderr(&o));
    let o = run(&["follow", &corpus(SYNTH), "--flow", "10.0.0.1-10.0.0.2"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("neither a flow id"), "{}", stderr(&o));
}

#[test]
fn dir_keeps_one_side_of_the_transcript() {
    let o = run(&[
        "follow",
        "-q",
        &corpus(SYNTH),
        "--flow",
        "1",
        "--dir",
        "s2c",
    ]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("\t16\n0123456789abcdef\n"), "{out}");
    assert!(!out.contains("GET "), "{out}");
    assert!(
        out.lines().filter(|l| l.starts_with('\t')).count() == 2,
        "{out}"
    );
}

/// `--as bin` writes exactly the bytes `extract` writes to the direction's
/// file: the manifest's length and SHA-256.
#[test]
fn bin_is_the_exact_bytes_of_one_direction() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&[
        "extract",
        "-q",
        &corpus(SYNTH),
        "-o",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for f in m["flows"].as_array().unwrap() {
        let id = f["id"].as_u64().unwrap().to_string();
        for dir in ["c2s", "s2c"] {
            let o = run(&[
                "follow",
                "-q",
                &corpus(SYNTH),
                "--flow",
                &id,
                "--dir",
                dir,
                "--as",
                "bin",
            ]);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            assert!(o.stderr.is_empty());
            assert_eq!(o.stdout.len() as u64, f[dir]["bytes"].as_u64().unwrap());
            assert_eq!(
                hex::encode(Sha256::digest(&o.stdout)),
                f[dir]["sha256"].as_str().unwrap(),
                "flow {id} {dir}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 22);
}

#[test]
fn bin_needs_one_flow_and_one_direction() {
    let c = corpus(SYNTH);
    for args in [
        vec!["follow", c.as_str(), "--flow", "1", "--as", "bin"],
        vec!["follow", c.as_str(), "--dir", "c2s", "--as", "bin"],
        vec![
            "follow",
            c.as_str(),
            "--flow",
            "1",
            "--flow",
            "12",
            "--dir",
            "c2s",
            "--as",
            "bin",
        ],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(o.stdout.is_empty());
        assert!(
            stderr(&o).contains("--as bin writes the bytes of one direction of one flow"),
            "{}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains("Usage: streamcut follow"),
            "{}",
            stderr(&o)
        );
    }
}

/// The flow id and the directions' byte counts of every flow `flows --json` lists.
fn flows(args: &[&str]) -> Vec<(u64, u64, u64)> {
    let mut all = vec!["flows", "-q", "--json"];
    all.extend_from_slice(args);
    let o = run(&all);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_u64().unwrap(),
                v["c2s"]["packets"].as_u64().unwrap(),
                v["s2c"]["packets"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `--filter 'dst port 40008'` keeps the packets sent to port 40008 (the
/// server's replies): a one-sided flow. `--flows` with the same expression
/// keeps the whole connection, both directions, as without any selection.
#[test]
fn flows_selects_whole_connections_where_filter_selects_packets() {
    let c = corpus(HANDSHAKES);
    let all = flows(&[&c]);
    assert_eq!(all.len(), 14);
    let whole = all.iter().copied().find(|f| f.0 == 27).unwrap();
    assert!(whole.1 > 0 && whole.2 > 0, "{whole:?}");
    let packet_level = flows(&[&c, "--filter", "dst port 40008"]);
    assert_eq!(packet_level.len(), 1);
    assert_eq!(packet_level[0].1 * packet_level[0].2, 0, "one-sided");
    assert_eq!(flows(&[&c, "--flows", "dst port 40008"]), [whole]);
    // Either direction, so "src host SERVER" selects every connection to it.
    assert_eq!(flows(&[&c, "--flows", "src host 198.51.100.5"]), all);
    assert_eq!(
        flows(&[&c, "--flows", "port 40003 or port 40008"])
            .iter()
            .map(|f| f.0)
            .collect::<Vec<_>>(),
        [9, 27]
    );
    assert!(flows(&[&c, "--flows", "udp"]).is_empty());
}

#[test]
fn flows_on_ipv6_and_in_extract() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&[
        "extract",
        "-q",
        &corpus(V6),
        "--flows",
        "ip6 and port 27393",
        "-o",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("manifest.json")).unwrap()).unwrap();
    let ids: Vec<u64> = m["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [23]);
    assert_eq!(m["flows"][0]["s2c"]["bytes"], 88);
    let o = run(&["stats", "-q", &corpus(V6), "--flows", "port 27393"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("not in --flows"), "{}", stdout(&o));
}

#[test]
fn flows_refuses_what_it_cannot_decide() {
    for expr in ["ether host 00:11:22:33:44:55", "port eighty"] {
        let o = run(&["flows", &corpus(SYNTH), "--flows", expr]);
        assert_eq!(code(&o), 2, "{expr}");
        assert!(stderr(&o).contains(expr), "{}", stderr(&o));
    }
    let _ = root();
}

/// `--filter` on raw IP captures (pcap link type 101, LINKTYPE_RAW, which
/// libpcap calls DLT_RAW, 12 on most systems): the expression compiles and
/// selects packets as on Ethernet. Raw IPv4 (link type 228) too.
#[test]
fn filter_on_raw_ip_captures() {
    // One TLS connection 192.168.0.54:49506 -> 17.173.66.179:443, 42 frames.
    let c = corpus("suricata-verify/tcp-empty-sack/tcp-opt.pcap");
    let all = flows(&[&c]);
    assert_eq!(all.len(), 1);
    let (id, c2s, s2c) = all[0];
    assert!(c2s > 0 && s2c > 0, "{all:?}");
    assert_eq!(flows(&[&c, "--filter", "tcp port 443"]), all);
    assert_eq!(flows(&[&c, "--filter", "dst port 443"]), [(id, c2s, 0)]);
    // The server's packets only: the flow's id is then its first server frame.
    let server = flows(&[&c, "--filter", "src host 17.173.66.179"]);
    assert_eq!(server.len(), 1, "{server:?}");
    assert_eq!((server[0].1, server[0].2), (0, s2c));
    assert!(flows(&[&c, "--filter", "tcp port 80"]).is_empty());
    // And the frames filtered out are counted.
    let o = run(&["stats", "-q", "--json", &c, "--filter", "dst port 443"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["filtered_out"].as_u64(), Some(s2c), "{v}");
    // Raw IPv4 (DLT 228) was already handled: it stays so.
    let c = corpus("suricata-verify/linktype-228/flow-test-01.pcap");
    let all = flows(&[&c]);
    assert_eq!(all.len(), 1);
    assert_eq!(flows(&[&c, "--filter", "tcp port 443"]), all);
    assert!(flows(&[&c, "--filter", "tcp port 80"]).is_empty());
}

//! Each flow's MAC addresses (`client_mac`, `server_mac`): those of its first
//! packet's outermost link header, oriented to the flow's client and server,
//! in `manifest.json`, `flows.jsonl`, `flows --json`, and through
//! `--shard` + `merge`.
//!
//! The expected addresses are tshark 4.0.17's `eth.src` / `eth.dst` (and
//! `sll.src.eth` for Linux cooked captures) of each flow's first frame,
//! computed once with
//! `tshark -r CAPTURE -T fields -e frame.number -e eth.src -e eth.dst -e ip.src -e tcp.srcport`
//! and checked in here as the oracle.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{code, corpus, manifest, run, stderr, stdout};
use serde_json::Value;

/// Its one connection is first seen at the server's SYN-ACK (frame 1:
/// 123.125.50.47:143 -> 10.0.1.150:55774, eth.src 94:d9:b3:02:cc:4a, eth.dst
/// e8:39:35:4e:ae:ed): the client is the SYN-ACK's receiver, so its MAC is
/// the frame's destination.
const ASYNC: &str = "suricata-verify/tcp-async-01/input.pcap";

/// Fourteen handshakes between two hosts whose frames all carry eth.src
/// 02:00:00:00:00:01 and eth.dst 02:00:00:00:00:02 (synthetic), whatever
/// their direction: flows 25 and 42 start with the server's SYN-ACK.
const HANDSHAKES: &str = "arkime/tcp_handshake_synthetic.pcap";

/// (flow id, client_mac, server_mac) of `HANDSHAKES`, from tshark.
fn handshakes_oracle() -> Vec<(u64, &'static str, &'static str)> {
    const A: &str = "02:00:00:00:00:01";
    const B: &str = "02:00:00:00:00:02";
    [1, 4, 9, 14, 18, 22, 25, 27, 32, 36, 39, 42, 45, 48]
        .into_iter()
        .map(|id| {
            if id == 25 || id == 42 {
                (id, B, A)
            } else {
                (id, A, B)
            }
        })
        .collect()
}

/// (id, client_mac, server_mac) of each flow object (`None` when absent).
fn macs(flows: &[Value]) -> Vec<(u64, Option<String>, Option<String>)> {
    flows
        .iter()
        .map(|f| {
            let mac = |k: &str| {
                f.get(k).map(|v| {
                    assert!(v.is_string(), "{k} is a string when present: {v}");
                    v.as_str().unwrap().to_string()
                })
            };
            (
                f["id"].as_u64().unwrap(),
                mac("client_mac"),
                mac("server_mac"),
            )
        })
        .collect()
}

fn expected(oracle: &[(u64, &str, &str)]) -> Vec<(u64, Option<String>, Option<String>)> {
    oracle
        .iter()
        .map(|&(id, c, s)| (id, Some(c.to_string()), Some(s.to_string())))
        .collect()
}

/// `flows --json` on one capture.
fn flows_json(capture: &str) -> Vec<Value> {
    let o = run(&["flows", "--json", "--udp", &corpus(capture)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn extract(out: &Path, args: &[&str]) {
    let mut all = vec!["extract", "-q", "--udp", "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(&all);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The flows of `flows.jsonl` in `dir`.
fn jsonl(dir: &Path) -> Vec<Value> {
    fs::read_to_string(dir.join("flows.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn ethernet_macs_are_oriented_to_client_and_server() {
    let want = expected(&[(1, "e8:39:35:4e:ae:ed", "94:d9:b3:02:cc:4a")]);
    assert_eq!(macs(&flows_json(ASYNC)), want);

    let want = expected(&handshakes_oracle());
    assert_eq!(macs(&flows_json(HANDSHAKES)), want);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    extract(&out, &["--threads", "2", &corpus(HANDSHAKES)]);
    let m = manifest(&out);
    assert_eq!(macs(m["flows"].as_array().unwrap()), want);
    assert_eq!(macs(&jsonl(&out)), want);
}

#[test]
fn wlan_macs_are_the_source_and_destination_addresses() {
    // tshark's wlan.sa / wlan.da of frames 1 (To DS: 172.17.156.76:61738 ->
    // 208.67.220.220:53) and 3 (From DS, IPv6 multicast): the stations at
    // the ends, not the access point that relays them.
    let want = expected(&[
        (1, "90:72:40:97:b6:f5", "44:2b:03:aa:ab:8d"),
        (3, "a4:67:06:f7:ec:54", "33:33:00:00:00:fb"),
    ]);
    assert_eq!(macs(&flows_json("zeek/wlan/radiotap.pcap")), want);
}

#[test]
fn raw_ip_has_no_macs_and_sll_only_the_sender() {
    // Raw IPv4 link type: no MAC anywhere, so the keys are absent.
    let raw = flows_json("dnscap/frags.pcap");
    assert!(!raw.is_empty());
    for (id, c, s) in macs(&raw) {
        assert_eq!((c, s), (None, None), "flow {id}");
    }
    // Linux SLL (frames 1 and 101, the flow's first packet and the first
    // after it ended: 192.168.145.147:51218 -> 10.209.8.148:21999, both
    // sll.src.eth a6:58:43:f2:48:06) and SLL2 (frame 1: 192.168.1.253:56478
    // -> 192.168.1.21:80, sll.src.eth aa:76:30:71:b0:e7): the first packet's
    // sender is the client, and the header names only the sender.
    let sll = flows_json("gopacket/linux_sll_oversized_addr.pcapng");
    let sender = || Some("a6:58:43:f2:48:06".to_string());
    assert_eq!(macs(&sll), vec![(1, sender(), None), (101, sender(), None)]);
    let sll2 = flows_json("suricata-verify/decode-sll2-01/input.pcap");
    assert_eq!(
        macs(&sll2),
        vec![(1, Some("aa:76:30:71:b0:e7".to_string()), None)]
    );
}

#[test]
fn shards_and_merge_carry_the_macs() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(HANDSHAKES);
    let (s0, s1, out) = (
        tmp.path().join("s0"),
        tmp.path().join("s1"),
        tmp.path().join("out"),
    );
    extract(&s0, &["--shard", "0/2", &input]);
    extract(&s1, &["--shard", "1/2", &input]);
    let o = common::merge(&[&s0, &s1], &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let want = expected(&handshakes_oracle());
    assert_eq!(macs(manifest(&out)["flows"].as_array().unwrap()), want);
    assert_eq!(macs(&jsonl(&out)), want);
}

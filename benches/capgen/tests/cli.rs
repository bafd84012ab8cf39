//! The `capgen` binary writes the same capture and answer as the library for
//! the same settings, and rejects bad flags with status 2.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use capgen::{generate_to_vec, ByteRange, EndMix, Expected, GenConfig};

#[test]
fn binary_matches_library() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("a.pcap");
    let json = dir.path().join("a.json");
    let out = Command::new(env!("CARGO_BIN_EXE_capgen"))
        .args([
            "--out",
            pcap.to_str().unwrap(),
            "--expected",
            json.to_str().unwrap(),
        ])
        .args([
            "--flows",
            "20",
            "--bytes",
            "1k..3k",
            "--ooo-rate",
            "0.1",
            "--end",
            "rst",
        ])
        .args(["--ipv6", "0.5", "--seed", "77"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("MB/s"));
    let want = GenConfig {
        seed: 77,
        flows: 20,
        c2s_bytes: ByteRange::between(1000, 3000),
        s2c_bytes: ByteRange::between(1000, 3000),
        ooo_rate: 0.1,
        ipv6_fraction: 0.5,
        end: EndMix::RST,
        ..GenConfig::default()
    };
    let (bytes, expected) = generate_to_vec(&want).unwrap();
    assert_eq!(std::fs::read(&pcap).unwrap(), bytes);
    let got: Expected = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("a.pcap");
    for args in [
        vec!["--ooo-rate", "3"],
        vec!["--total-bytes", "1G"],
        vec!["--bytes", "9..1"],
    ] {
        let st = Command::new(env!("CARGO_BIN_EXE_capgen"))
            .args(["--out", pcap.to_str().unwrap()])
            .args(&args)
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(2), "{args:?}");
    }
}

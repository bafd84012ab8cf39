//! The manifest's totals agree with the flow records the engine keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use engine::{EngineOptions, Input, Placement};

#[test]
fn record_totals_equal_manifest_flow_totals() {
    use streamcut::manifest::{self, Flow};
    let o = EngineOptions {
        udp: true,
        ..EngineOptions::default()
    };
    let input = Input::files([root().join(corpus("zeek/tunnels/Teredo.pcap"))]);
    let (summary, _) = engine::collect(&o, input).unwrap();
    let flows: Vec<Flow> = summary
        .flows
        .iter()
        .map(|r| Flow::new(r, |_| Placement::Unwritten))
        .collect();
    let t = manifest::record_totals(&summary, |_| true).unwrap();
    assert_eq!(t, manifest::totals(&summary, &flows));
    assert!(t.udp_flows > 0 && t.tcp_flows > 0 && t.bytes > 0);
}

/// `extract`'s totals, counted by the file sink (and its parts, one per
/// worker) as flows close, equal the sums over the flows its manifest lists,
/// for every layout and naming.
#[test]
fn extract_totals_equal_the_sums_over_its_flows() {
    use streamcut::manifest::{flow_totals, Manifest, Totals};
    let tmp = tempfile::tempdir().unwrap();
    let captures = ["zeek/tunnels/Teredo.pcap", "zeek/echo-connections.pcap.gz"];
    let options: [&[&str]; 4] = [
        &["--threads", "3"],
        &["--threads", "1"],
        &["--layout", "packed", "--threads", "2"],
        &["--naming", "tcpflow", "--threads", "2"],
    ];
    for (i, (capture, extra)) in captures
        .iter()
        .flat_map(|c| options.iter().map(move |o| (c, o)))
        .enumerate()
    {
        let out = tmp.path().join(format!("out{i}"));
        let capture = root().join(corpus(capture));
        let mut args = vec![
            "extract",
            "-q",
            "--udp",
            "-o",
            out.to_str().unwrap(),
            capture.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let text = std::fs::read(out.join("manifest.json")).unwrap();
        let m: Manifest = serde_json::from_slice(&text).unwrap();
        let flows = m.flows.unwrap();
        let t = &m.totals;
        let base = Totals {
            frames: t.frames,
            filtered_out: t.filtered_out,
            udp_ignored: t.udp_ignored,
            late_packets: t.late_packets,
            late_bytes: t.late_bytes,
            ..Totals::default()
        };
        assert_eq!(t, &flow_totals(base, &flows), "{capture:?} {extra:?}");
        assert!(t.flows > 1, "{capture:?} {extra:?}");
    }
}

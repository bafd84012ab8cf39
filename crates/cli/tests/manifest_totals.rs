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

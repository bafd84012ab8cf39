//! [`EngineOptions::flows`]: a library run selects whole flows as the CLI's
//! `--flows` does, on a corpus capture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine::{EngineOptions, FlowFilter, Input};

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/corpus/arkime/tcp-reassembly-synthetic.pcap"
);

#[test]
fn selected_flows_keep_both_directions_and_the_rest_is_counted() {
    let all = engine::collect(&EngineOptions::default(), Input::files([CAPTURE]))
        .unwrap()
        .0;
    let opts = EngineOptions {
        flows: Some(FlowFilter::new("dst port 40005").unwrap()),
        ..EngineOptions::default()
    };
    for threads in [1, 2] {
        let opts = opts.clone().with_threads(threads);
        let (summary, collected) = engine::collect(&opts, Input::files([CAPTURE])).unwrap();
        assert_eq!(summary.flows.len(), 1);
        let f = &summary.flows[0];
        assert_eq!(f.head.id, 46);
        assert_eq!(f, all.flows.iter().find(|r| r.head.id == 46).unwrap());
        assert_eq!(collected.flows.len(), 1);
        let kept = f.c2s.packets + f.s2c.packets;
        assert_eq!(summary.deselected, all.decode.tcp_segments - kept);
    }
}

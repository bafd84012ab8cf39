//! Feeding an [`HttpFlow`] from the reassembler's deliveries.

use reassembly::{ScatterGather, Skipped};

use crate::flow::HttpFlow;
use crate::message::Objects;

/// Hand one delivery of a reassembled direction to `flow`: the bytes missing
/// before it (a gap), its bytes chunk by chunk with the frame each chunk came
/// from, and the end of the direction when the delivery is its last.
///
/// Call it from [`reassembly::Stream::reassembled`]; the bytes are read in
/// place (nothing is kept with `keep_from`).
pub fn feed_delivery(flow: &mut HttpFlow, sg: &ScatterGather<'_>, out: &mut dyn Objects) {
    let dir = sg.dir();
    if let Skipped::Bytes(n) = sg.skip() {
        flow.gap(dir, n, out);
    }
    feed_bytes(flow, sg, out);
    if sg.end() {
        flow.end(dir, out);
    }
}

/// Hand a delivery's bytes to `flow`, chunk by chunk with the frame each
/// chunk came from; nothing about gaps or the end (for callers that learn
/// those another way, as the engine's `Sink` does).
pub fn feed_bytes(flow: &mut HttpFlow, sg: &ScatterGather<'_>, out: &mut dyn Objects) {
    let dir = sg.dir();
    let mut at = 0usize;
    for chunk in sg.chunks() {
        let frame = sg.capture_info(at).map_or(0, |p| p.frame);
        flow.feed(dir, chunk, frame, out);
        at += chunk.len();
    }
}

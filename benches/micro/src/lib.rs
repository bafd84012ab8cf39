//! Shared set-up for the criterion micro-benchmarks in `benches/`: generated
//! captures (from `capgen`) decoded once into segments that borrow the capture.
//!
//! Run them with `cargo bench -p micro`.

use capgen::{generate_to_vec, GenConfig};
use pcapread::{Decoder, DecoderConfig, Segment, SliceReader};

/// A generated capture held in memory.
pub struct Capture {
    /// The pcap bytes.
    pub pcap: Vec<u8>,
    /// Payload bytes on the wire.
    pub payload_bytes: u64,
    /// Packets.
    pub packets: u64,
}

/// Generate a capture from `config`.
pub fn capture(config: &GenConfig) -> Capture {
    let (pcap, expected) = generate_to_vec(config).expect("valid generator config");
    Capture {
        pcap,
        payload_bytes: expected.totals.wire_payload_bytes,
        packets: expected.totals.packets,
    }
}

/// Decode every frame of `pcap` once; the segments borrow `pcap`.
pub fn segments(pcap: &[u8]) -> Vec<Segment<'_>> {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    for frame in SliceReader::new(pcap, "bench.pcap") {
        let Ok(frame) = frame else { break };
        let data = frame.data;
        if let Ok(seg) = decoder.decode(&frame) {
            // Re-borrow the payload from the capture (not the decoder) so the
            // segment outlives this loop iteration; generated captures have no
            // fragments, so the payload is always inside the frame.
            let start = (seg.payload.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
            let Some(payload) = data.get(start..start + seg.payload.len()) else {
                continue;
            };
            out.push(Segment { payload, ..seg });
        }
    }
    out
}

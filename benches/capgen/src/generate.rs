//! The generator loop: keeps up to `concurrency` flows in flight, lets a
//! seeded scheduler pick which flow sends the next packet, builds each
//! packet's headers and streams it into the pcap, and collects each flow's
//! answer when it is done.
//!
//! Memory is bounded by the flows in flight (their queues hold offsets, not
//! bytes) plus one answer per flow; the capture itself is streamed.

use std::io::Write;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::config::GenConfig;
use crate::error::GenError;
use crate::expected::{Expected, FlowExpected, Totals};
use crate::flow::Flow;
use crate::frame::build_headers;
use crate::pcap::PcapWriter;

/// Generates the capture described by `config` into `writer` (a classic
/// little-endian pcap, Ethernet link type) and returns its exact answer.
///
/// The writer is buffered internally and flushed before returning; pass a
/// `File`, a `&mut Vec<u8>`, or any other [`Write`].
pub fn generate(config: &GenConfig, writer: impl Write) -> Result<Expected, GenError> {
    config.validate()?;
    let mut scheduler = ChaCha8Rng::seed_from_u64(config.seed);
    // Flows use their own streams under a key drawn from the seed; the
    // scheduler goes on with the rest of stream 0.
    let flow_seed: [u8; 32] = scheduler.random();
    let mut pcap = PcapWriter::new(writer, config.precision)?;
    let mut active: Vec<Flow> = Vec::new();
    let mut answers: Vec<Option<FlowExpected>> = Vec::new();
    let mut next_id = 0u64;
    let mut payload = Vec::with_capacity(usize::from(config.mss));
    let mut hdr = Vec::with_capacity(128);
    let concurrency = usize::try_from(config.concurrency).unwrap_or(usize::MAX);
    let mut wire = 0u64;
    let start = u128::from(config.start_ns);
    let gap = u128::from(config.gap_ns);

    loop {
        // A new flow starts (and sends its first packet) whenever there is
        // room, so flows are numbered in the order they appear.
        let i = if active.len() < concurrency && next_id < config.flows {
            active.push(Flow::new(next_id, config, flow_seed));
            answers.push(None);
            next_id += 1;
            active.len() - 1
        } else if active.is_empty() {
            break;
        } else {
            scheduler.random_range(0..active.len())
        };
        let flow = &mut active[i];
        match flow.step(&mut payload) {
            Some(e) => {
                let body = &payload[..e.payload_len];
                build_headers(
                    &mut hdr,
                    &flow.client,
                    &flow.server,
                    &e,
                    body,
                    flow.checksums,
                )?;
                let ts = start + gap * u128::from(pcap.records);
                pcap.record(ts, &hdr, body)?;
                wire += e.payload_len as u64;
            }
            None => {
                let done = active.swap_remove(i).finish();
                let slot = usize::try_from(done.id)
                    .ok()
                    .and_then(|id| answers.get_mut(id));
                if let Some(slot) = slot {
                    *slot = Some(done);
                }
            }
        }
    }

    let totals_packets = pcap.records;
    let pcap_bytes = pcap.bytes;
    pcap.finish()?;
    let flows: Vec<FlowExpected> = answers.into_iter().flatten().collect();
    let unique = flows.iter().map(|f| f.c2s.bytes + f.s2c.bytes).sum();
    Ok(Expected {
        config: config.clone(),
        totals: Totals {
            flows: flows.len() as u64,
            packets: totals_packets,
            wire_payload_bytes: wire,
            unique_payload_bytes: unique,
            pcap_bytes,
        },
        flows,
    })
}

/// [`generate`] into memory: the pcap bytes and the answer. For small
/// captures in tests.
pub fn generate_to_vec(config: &GenConfig) -> Result<(Vec<u8>, Expected), GenError> {
    let mut v = Vec::new();
    let e = generate(config, &mut v)?;
    Ok((v, e))
}

//! The exact answer for a generated capture: [`Expected`], written as JSON
//! beside the pcap so that any consumer (tests, benchmarks, the CLI's own
//! checks) can compare what it reassembled against it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::config::GenConfig;

/// Transport protocol of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP (with handshake, ACKs and an ending).
    Tcp,
    /// UDP (datagrams only).
    Udp,
}

/// How a flow ended in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowEnd {
    /// FIN from the client, FIN from the server, final ACK from the client.
    Fin,
    /// An RST from one side after all data.
    Rst,
    /// No ending packet (every UDP flow, and TCP flows drawn as "none").
    None,
}

/// One side of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
}

/// What one direction of a flow carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirExpected {
    /// Length of the stream the receiver should get (each byte counted once).
    pub bytes: u64,
    /// SHA-256 of that stream, lowercase hex.
    pub sha256: String,
    /// Packets this side sent (handshake, data, pure ACKs, FIN/RST included).
    pub packets: u64,
    /// Packets of those with a payload (retransmissions included).
    pub payload_packets: u64,
    /// Payload bytes on the wire, retransmitted and overlapping copies
    /// included; `wire_bytes - bytes` bytes arrived more than once.
    pub wire_bytes: u64,
    /// Segments that were sent after 1–3 later segments (out of order).
    pub out_of_order: u64,
    /// Exact retransmissions (same range as an earlier segment).
    pub retransmissions: u64,
    /// Overlapping retransmissions (partly covering two earlier segments).
    pub overlaps: u64,
    /// Initial sequence number (TCP only): stream offset `k` is at sequence
    /// number `isn + 1 + k` modulo 2^32.
    pub isn: Option<u32>,
}

/// What one flow carried and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowExpected {
    /// Index of the flow: flows are numbered in the order their first packet
    /// appears in the capture.
    pub id: u64,
    /// Transport protocol.
    pub proto: Proto,
    /// The side that sent the first packet (the SYN for TCP).
    pub client: Endpoint,
    /// The other side.
    pub server: Endpoint,
    /// How the flow ended.
    pub end: FlowEnd,
    /// Client to server.
    pub c2s: DirExpected,
    /// Server to client.
    pub s2c: DirExpected,
    /// The HTTP message bodies the flow carries ([`crate::GenConfig::http`]),
    /// in exchange order, request body before response body; absent when
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<crate::http::HttpObject>,
}

/// Sums over the whole capture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Flows.
    pub flows: u64,
    /// Packets (pcap records).
    pub packets: u64,
    /// Payload bytes on the wire, retransmitted copies included.
    pub wire_payload_bytes: u64,
    /// Payload bytes counted once per stream offset (sum of every
    /// direction's `bytes`).
    pub unique_payload_bytes: u64,
    /// Size of the pcap file in bytes.
    pub pcap_bytes: u64,
}

/// The exact answer for a generated capture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    /// The config that generated the capture.
    pub config: GenConfig,
    /// Every flow, by [`FlowExpected::id`].
    pub flows: Vec<FlowExpected>,
    /// Sums over the capture.
    pub totals: Totals,
}

impl Expected {
    /// Writes the answer as JSON, indented when `pretty` (about 1.6 times
    /// larger: some 860 bytes per flow instead of 550).
    pub fn to_json_writer(
        &self,
        writer: impl std::io::Write,
        pretty: bool,
    ) -> serde_json::Result<()> {
        if pretty {
            serde_json::to_writer_pretty(writer, self)
        } else {
            serde_json::to_writer(writer, self)
        }
    }
}

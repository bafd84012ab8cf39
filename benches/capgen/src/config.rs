//! What to generate: [`GenConfig`] and its parts, their validation, and the
//! two benchmark presets of issue #2 ([`GenConfig::bulk`], [`GenConfig::short`]).
//!
//! Every random choice the generator makes is drawn from generators seeded by
//! [`GenConfig::seed`], so a config fully determines the capture bytes.

use serde::{Deserialize, Serialize};

use crate::error::GenError;
use crate::http::HttpMix;

/// Largest number of payload bytes one direction of one flow may carry.
///
/// Kept at 2^31 so that a whole stream fits in half the 32-bit sequence space:
/// the stream's sequence numbers never become ambiguous (RFC 793 §3.3 compares
/// sequence numbers modulo 2^32), which keeps the expected answer unambiguous.
pub const MAX_DIRECTION_BYTES: u64 = 1 << 31;

/// Largest number of flows one capture may hold: client addresses and ports
/// are derived from the flow index (see [`crate::Endpoint`]), and this many
/// distinct (address, port) pairs exist in the scheme.
pub const MAX_FLOWS: u64 = CLIENT_V4_HOSTS * CLIENT_PORTS;

/// Number of client addresses: the hosts of 198.18.0.0/15 (RFC 2544's
/// benchmark range) without its first and last address.
pub(crate) const CLIENT_V4_HOSTS: u64 = (1 << 17) - 2;
/// Number of client ports (the ephemeral range 49152..=65535, RFC 6335).
pub(crate) const CLIENT_PORTS: u64 = 1 << 14;

/// Largest segment size: an IPv4 packet holds at most 65535 bytes, of which
/// 20 are the IPv4 header and 20 the TCP header.
pub const MAX_MSS: u16 = 65495;

/// An inclusive range of byte counts; a fixed count is `min == max`.
///
/// Each flow draws its count uniformly from the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    /// Smallest count (inclusive).
    pub min: u64,
    /// Largest count (inclusive).
    pub max: u64,
}

impl ByteRange {
    /// Exactly `n` bytes for every flow.
    pub const fn fixed(n: u64) -> Self {
        ByteRange { min: n, max: n }
    }

    /// Between `min` and `max` bytes, both inclusive.
    pub const fn between(min: u64, max: u64) -> Self {
        ByteRange { min, max }
    }

    /// Mean of the uniform distribution over the range.
    pub fn mean(&self) -> f64 {
        (self.min as f64 + self.max as f64) / 2.0
    }
}

/// How flows end, as relative weights (they need not add up to anything).
///
/// A flow draws its ending with probability `weight / (fin + rst + none)`.
/// UDP flows have no ending and ignore these weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndMix {
    /// Weight of the orderly close: the client sends FIN, the server answers
    /// FIN, the client acknowledges (RFC 793 §3.5).
    pub fin: u32,
    /// Weight of the abort: one side, chosen at random, sends RST after all
    /// data was sent (RFC 793 §3.4).
    pub rst: u32,
    /// Weight of no ending at all: the capture stops after the last data.
    pub none: u32,
}

impl EndMix {
    /// Every flow ends with FIN both ways.
    pub const FIN: EndMix = EndMix {
        fin: 1,
        rst: 0,
        none: 0,
    };
    /// Every flow ends with an RST.
    pub const RST: EndMix = EndMix {
        fin: 0,
        rst: 1,
        none: 0,
    };
    /// No flow ends.
    pub const NONE: EndMix = EndMix {
        fin: 0,
        rst: 0,
        none: 1,
    };

    /// Sum of the weights.
    pub fn total(&self) -> u64 {
        u64::from(self.fin) + u64::from(self.rst) + u64::from(self.none)
    }
}

/// In which order the two directions of a flow send their data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataOrder {
    /// The client sends all its bytes, then the server sends all of its
    /// (an HTTP/1.0-like request and response).
    RequestResponse,
    /// Each data packet goes in a direction chosen at random among those with
    /// bytes left (the client always sends first).
    Interleaved,
}

/// Timestamp resolution of the pcap file (which magic number it carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TsPrecision {
    /// Microseconds: magic 0xa1b2c3d4.
    Micro,
    /// Nanoseconds: magic 0xa1b23c4d.
    Nano,
}

/// Everything that decides a generated capture.
///
/// Rates and fractions are probabilities in `0.0..=1.0`. Rates apply per data
/// segment of a TCP flow; fractions apply per flow. UDP flows get no
/// reordering, retransmission or overlap (their stream is arrival order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    /// Seed of every random choice; same config and seed, same file bytes.
    pub seed: u64,
    /// Number of flows.
    pub flows: u64,
    /// Flows in flight at once: packets of this many flows are interleaved.
    pub concurrency: u32,
    /// Payload bytes the client sends, per flow.
    pub c2s_bytes: ByteRange,
    /// Payload bytes the server sends, per flow.
    pub s2c_bytes: ByteRange,
    /// Largest payload of one packet (TCP segment or UDP datagram). Segments
    /// are full-sized except the last of a direction; overlapping
    /// retransmissions are at most this long too.
    pub mss: u16,
    /// Order of the data of the two directions.
    pub data_order: DataOrder,
    /// Probability that a new data segment is held back until 1 to 3 later
    /// segments of the same direction were sent (out-of-order arrival).
    pub ooo_rate: f64,
    /// Probability that a data segment is sent again, with identical bytes,
    /// after 1 to 4 more data segments of its direction.
    pub retrans_rate: f64,
    /// Probability that a retransmission is sent that covers the tail of the
    /// previous segment and the head of this one (overlapping both partially,
    /// identical bytes).
    pub overlap_rate: f64,
    /// Fraction of flows over IPv6 instead of IPv4.
    pub ipv6_fraction: f64,
    /// Fraction of TCP flows whose initial sequence numbers sit just below
    /// 2^32 so that each direction's sequence numbers wrap to 0 inside the
    /// stream (or right after the SYN).
    pub wrap_fraction: f64,
    /// Fraction of flows that are UDP instead of TCP.
    pub udp_fraction: f64,
    /// How TCP flows end.
    pub end: EndMix,
    /// Time of the first packet, in nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// Time between consecutive packets of the capture, in nanoseconds.
    pub gap_ns: u64,
    /// Timestamp resolution of the pcap file.
    pub precision: TsPrecision,
    /// Compute TCP and UDP checksums (true) or leave them zero (false). The
    /// IPv4 header checksum is always computed.
    pub transport_checksums: bool,
    /// TCP flows carry HTTP/1.1 conversations of this mix instead of
    /// `c2s_bytes`/`s2c_bytes` of payload ([`crate::http`]); absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpMix>,
}

impl Default for GenConfig {
    /// A small capture: 16 interleaved TCP/IPv4 flows of a few kilobytes each,
    /// in order, no loss, FIN at the end.
    fn default() -> Self {
        GenConfig {
            seed: 1,
            flows: 16,
            concurrency: 4,
            c2s_bytes: ByteRange::between(100, 4000),
            s2c_bytes: ByteRange::between(100, 20_000),
            mss: 1460,
            data_order: DataOrder::Interleaved,
            ooo_rate: 0.0,
            retrans_rate: 0.0,
            overlap_rate: 0.0,
            ipv6_fraction: 0.0,
            wrap_fraction: 0.0,
            udp_fraction: 0.0,
            end: EndMix::FIN,
            start_ns: 1_700_000_000_000_000_000,
            gap_ns: 10_000,
            precision: TsPrecision::Nano,
            transport_checksums: true,
            http: None,
        }
    }
}

impl GenConfig {
    /// Issue #2's bulk capture: 20 000 TCP flows, 256 in flight, carrying
    /// about `total_bytes` payload bytes (a quarter client to server, three
    /// quarters back, each direction's size uniform within ±50 % of its mean),
    /// 2 % of segments out of order, 1 % retransmitted, FIN at the end.
    pub fn bulk(total_bytes: u64) -> Self {
        let flows = 20_000u64;
        let per_flow = total_bytes / flows;
        let c2s = per_flow / 4;
        let s2c = per_flow - c2s;
        GenConfig {
            flows,
            concurrency: 256,
            c2s_bytes: ByteRange::between(c2s / 2, c2s + c2s / 2),
            s2c_bytes: ByteRange::between(s2c / 2, s2c + s2c / 2),
            data_order: DataOrder::Interleaved,
            ooo_rate: 0.02,
            retrans_rate: 0.01,
            ..GenConfig::default()
        }
    }

    /// Issue #2's many-short-flows capture: 500 000 HTTP-like TCP flows, 1000
    /// in flight: a 64–512 byte request, a 128–2048 byte response, FIN.
    pub fn short() -> Self {
        GenConfig {
            flows: 500_000,
            concurrency: 1000,
            c2s_bytes: ByteRange::between(64, 512),
            s2c_bytes: ByteRange::between(128, 2048),
            data_order: DataOrder::RequestResponse,
            ..GenConfig::default()
        }
    }

    /// An HTTP-heavy capture of about `total_bytes` payload bytes: TCP
    /// flows, 64 in flight, each a keep-alive HTTP/1.1 connection of
    /// [`HttpMix::default`] (1 to 8 exchanges, bodies of 300 bytes to 4 MB,
    /// chunked and gzip mixed), 2 % of segments out of order, 1 %
    /// retransmitted, FIN at the end.
    pub fn http(total_bytes: u64) -> Self {
        let mix = HttpMix::default();
        let per_flow = mix.mean_exchange_bytes() * (mix.exchanges.min + mix.exchanges.max) / 2;
        GenConfig {
            flows: (total_bytes / per_flow.max(1)).max(1),
            concurrency: 64,
            data_order: DataOrder::Interleaved,
            ooo_rate: 0.02,
            retrans_rate: 0.01,
            http: Some(mix),
            ..GenConfig::default()
        }
    }

    /// Checks every field; [`crate::generate`] calls this first.
    pub fn validate(&self) -> Result<(), GenError> {
        let bad = |what: String| Err(GenError::InvalidConfig(what));
        if self.flows > MAX_FLOWS {
            return bad(format!("flows {} exceeds {MAX_FLOWS}", self.flows));
        }
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1".into());
        }
        for (name, r) in [("c2s_bytes", self.c2s_bytes), ("s2c_bytes", self.s2c_bytes)] {
            if r.min > r.max {
                return bad(format!("{name}: min {} > max {}", r.min, r.max));
            }
            if r.max > MAX_DIRECTION_BYTES {
                return bad(format!(
                    "{name}: max {} exceeds {MAX_DIRECTION_BYTES}",
                    r.max
                ));
            }
        }
        if self.mss == 0 || self.mss > MAX_MSS {
            return bad(format!("mss {} not in 1..={MAX_MSS}", self.mss));
        }
        for (name, p) in [
            ("ooo_rate", self.ooo_rate),
            ("retrans_rate", self.retrans_rate),
            ("overlap_rate", self.overlap_rate),
            ("ipv6_fraction", self.ipv6_fraction),
            ("wrap_fraction", self.wrap_fraction),
            ("udp_fraction", self.udp_fraction),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} {p} not in 0.0..=1.0"));
            }
        }
        if self.end.total() == 0 {
            return bad("end: all weights are zero".into());
        }
        if let Some(mix) = &self.http {
            mix.validate().map_err(GenError::InvalidConfig)?;
            // Chunk framing and gzip headers stay well under the bodies'
            // size again, so twice the bodies bounds a direction.
            let per = (mix.body.max + mix.request_body.max) * 2 + 1024;
            if mix.exchanges.max.saturating_mul(per) > MAX_DIRECTION_BYTES {
                return bad(format!(
                    "http: {} exchanges of up to {} bytes may exceed {MAX_DIRECTION_BYTES} bytes a direction",
                    mix.exchanges.max, mix.body.max
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_presets_are_valid() {
        GenConfig::default().validate().unwrap();
        GenConfig::short().validate().unwrap();
        GenConfig::bulk(2_000_000_000).validate().unwrap();
        GenConfig::bulk(0).validate().unwrap();
    }

    #[test]
    fn bulk_mean_matches_total() {
        let c = GenConfig::bulk(2_000_000_000);
        let mean = c.flows as f64 * (c.c2s_bytes.mean() + c.s2c_bytes.mean());
        assert!((mean - 2e9).abs() / 2e9 < 0.001, "mean {mean}");
    }

    #[test]
    fn rejects_bad_fields() {
        let ok = GenConfig::default();
        let cases: Vec<GenConfig> = vec![
            GenConfig {
                concurrency: 0,
                ..ok.clone()
            },
            GenConfig {
                mss: 0,
                ..ok.clone()
            },
            GenConfig {
                mss: MAX_MSS + 1,
                ..ok.clone()
            },
            GenConfig {
                ooo_rate: 1.5,
                ..ok.clone()
            },
            GenConfig {
                retrans_rate: -0.1,
                ..ok.clone()
            },
            GenConfig {
                overlap_rate: f64::NAN,
                ..ok.clone()
            },
            GenConfig {
                c2s_bytes: ByteRange::between(5, 4),
                ..ok.clone()
            },
            GenConfig {
                s2c_bytes: ByteRange::fixed(MAX_DIRECTION_BYTES + 1),
                ..ok.clone()
            },
            GenConfig {
                flows: MAX_FLOWS + 1,
                ..ok.clone()
            },
            GenConfig {
                end: EndMix {
                    fin: 0,
                    rst: 0,
                    none: 0,
                },
                ..ok.clone()
            },
        ];
        for c in cases {
            assert!(
                matches!(c.validate(), Err(GenError::InvalidConfig(_))),
                "{c:?}"
            );
        }
    }
}

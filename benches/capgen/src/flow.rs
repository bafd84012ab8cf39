//! One flow being generated: its plan (addresses, sizes, keys, ISNs, ending),
//! drawn from its own random stream at start, and the per-direction state the
//! TCP ([`crate::tcp`]) and UDP ([`crate::udp`]) packet sequences advance.
//!
//! Each flow draws from its own ChaCha8 stream (stream number = flow index + 1
//! under one seed), so a flow's packets do not depend on how flows are
//! interleaved: the interleaving comes from a separate scheduler stream.
//!
//! Invariant of a direction: `next_new` bytes have been produced, and the
//! hasher has seen exactly stream bytes `0..next_new`, in order. Every byte is
//! produced once (hashed then) and may be sent more than once; a resend
//! regenerates its bytes from the key, see [`crate::payload`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};

use crate::config::{DataOrder, GenConfig, CLIENT_V4_HOSTS};
use crate::expected::{DirExpected, Endpoint, FlowEnd, FlowExpected, Proto};
use crate::frame::{Direction, Emit};
use crate::http::{self, Content, HttpObject};
use crate::payload;

/// Server port of TCP flows.
pub(crate) const TCP_SERVER_PORT: u16 = 80;
/// Server port of UDP flows (iperf's; not a tunnel port any decoder would
/// try to unwrap, such as VXLAN's 4789 or Geneve's 6081).
pub(crate) const UDP_SERVER_PORT: u16 = 5001;
/// First client port (start of the dynamic range, RFC 6335 §6).
const CLIENT_PORT_BASE: u16 = 49152;

/// Why a resend or a held-back segment is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingKind {
    /// A new segment held back so later ones overtake it.
    Delayed,
    /// The same range sent again.
    Retransmit,
    /// A range straddling two earlier segments sent again.
    Overlap,
}

/// A segment waiting to be sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    /// Stream offset of its first byte.
    pub off: u64,
    /// Its length (at most the MSS).
    pub len: u16,
    /// Data packets of its direction still to be sent before it.
    pub wait: u32,
    /// Why it is queued.
    pub kind: PendingKind,
}

/// Counters of one direction, reported in [`DirExpected`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DirCounters {
    pub packets: u64,
    pub payload_packets: u64,
    pub wire_bytes: u64,
    pub out_of_order: u64,
    pub retransmissions: u64,
    pub overlaps: u64,
}

/// State of one direction of a flow.
pub(crate) struct DirState {
    /// Payload key (see [`crate::payload`]).
    pub key: u64,
    /// Initial sequence number (TCP).
    pub isn: u32,
    /// Total stream length.
    pub len: u64,
    /// Bytes produced (and hashed) so far.
    pub next_new: u64,
    hasher: Sha256,
    /// Held-back and resent segments, in the order they were queued.
    pub pending: Vec<Pending>,
    /// Data packets sent since the peer last sent anything (it owes an ACK).
    pub unacked: u32,
    /// IPv4 identification of the next packet.
    pub ip_id: u16,
    /// What was sent.
    pub counters: DirCounters,
    /// The bytes, when not the counter-based payload of `key` (HTTP).
    content: Option<Content>,
}

impl DirState {
    fn new(key: u64, isn: u32, len: u64) -> Self {
        DirState {
            key,
            isn,
            len,
            next_new: 0,
            hasher: Sha256::new(),
            pending: Vec::new(),
            unacked: 0,
            ip_id: 0,
            counters: DirCounters::default(),
            content: None,
        }
    }

    /// A direction carrying `content` (its length is the stream's).
    fn with_content(isn: u32, content: Content) -> Self {
        DirState {
            content: Some(content),
            ..DirState::new(0, isn, 0)
        }
        .sized()
    }

    fn sized(mut self) -> Self {
        if let Some(c) = &self.content {
            self.len = c.len();
        }
        self
    }

    /// Fills `buf[..n]` (growing `buf` if needed) with stream bytes
    /// `off..off+n`.
    pub fn regen(&self, off: u64, n: usize, buf: &mut Vec<u8>) {
        match &self.content {
            None => regen(self.key, off, n, buf),
            Some(c) => {
                if buf.len() < n {
                    buf.resize(n, 0);
                }
                c.fill(off, &mut buf[..n]);
            }
        }
    }

    /// Bytes not yet produced.
    pub fn has_new(&self) -> bool {
        self.next_new < self.len
    }

    /// Produces the next `n` stream bytes into `buf[..n]` and hashes them;
    /// returns their offset.
    pub fn produce(&mut self, n: usize, buf: &mut Vec<u8>) -> u64 {
        let off = self.next_new;
        self.regen(off, n, buf);
        self.hasher.update(&buf[..n]);
        self.next_new += n as u64;
        off
    }

    /// Sequence number of stream offset `off`: ISN + 1 + off, modulo 2^32
    /// (RFC 793 §3.3: the SYN takes the ISN itself).
    pub fn seq_at(&self, off: u64) -> u32 {
        // Streams are at most 2^31 bytes (config validation), so keeping the
        // low 32 bits of the offset is the modulo 2^32 we want.
        self.isn.wrapping_add(1).wrapping_add(off as u32)
    }

    /// What the peer acknowledges: the sequence number after the longest
    /// prefix of the stream sent so far (held-back segments leave a hole).
    pub fn ack_point(&self) -> u32 {
        let hole = self
            .pending
            .iter()
            .filter(|p| p.kind == PendingKind::Delayed)
            .map(|p| p.off)
            .min();
        let upto = hole.map_or(self.next_new, |h| h.min(self.next_new));
        self.seq_at(upto)
    }

    /// Counts one sent packet and returns its IPv4 identification.
    pub fn count_packet(&mut self, payload_len: usize) -> u16 {
        self.counters.packets += 1;
        if payload_len > 0 {
            self.counters.payload_packets += 1;
            self.counters.wire_bytes += payload_len as u64;
        }
        let id = self.ip_id;
        self.ip_id = self.ip_id.wrapping_add(1);
        id
    }

    fn finish(self, isn: Option<u32>) -> DirExpected {
        let c = self.counters;
        DirExpected {
            bytes: self.next_new,
            sha256: hex::encode(self.hasher.finalize()),
            packets: c.packets,
            payload_packets: c.payload_packets,
            wire_bytes: c.wire_bytes,
            out_of_order: c.out_of_order,
            retransmissions: c.retransmissions,
            overlaps: c.overlaps,
            isn,
        }
    }
}

/// Fills `buf[..n]` (growing `buf` if needed) with stream bytes `off..off+n`.
pub(crate) fn regen(key: u64, off: u64, n: usize, buf: &mut Vec<u8>) {
    if buf.len() < n {
        buf.resize(n, 0);
    }
    payload::fill(key, off, &mut buf[..n]);
}

/// Where a TCP flow is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Syn,
    SynAck,
    HandshakeAck,
    Data,
    ClientFin,
    ServerFin,
    LastAck,
    Rst,
    Done,
}

/// Per-segment probabilities copied from the config.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rates {
    pub ooo: f64,
    pub retrans: f64,
    pub overlap: f64,
}

/// One flow being generated.
pub(crate) struct Flow {
    pub id: u64,
    pub proto: Proto,
    pub client: Endpoint,
    pub server: Endpoint,
    pub end: FlowEnd,
    pub rng: ChaCha8Rng,
    pub c2s: DirState,
    pub s2c: DirState,
    pub phase: Phase,
    pub order: DataOrder,
    pub mss: u16,
    pub rates: Rates,
    /// Which side sends the RST when `end` is [`FlowEnd::Rst`].
    pub rst_from: Direction,
    pub checksums: bool,
    /// The HTTP objects the flow carries (HTTP conversations only).
    pub http: Vec<HttpObject>,
}

/// The (client, server) endpoints of flow `id`: clients in 198.18.0.0/15 (RFC
/// 2544) or 2001:db8:c::/48, servers in 203.0.113.0/24 (RFC 5737) or
/// 2001:db8:5::/48 (RFC 3849). Flow `id` has client host `1 + id mod H` and
/// port `49152 + id div H` (`H` = 2^17 - 2), so no two flows share a client
/// (address, port).
pub(crate) fn endpoints(id: u64, v6: bool, proto: Proto) -> (Endpoint, Endpoint) {
    let host = id % CLIENT_V4_HOSTS;
    // id < MAX_FLOWS (validated), so the quotient is below 2^14.
    let port = CLIENT_PORT_BASE.wrapping_add((id / CLIENT_V4_HOSTS) as u16);
    let server_host = (id % 254 + 1) as u8;
    let (cip, sip) = if v6 {
        let c = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 0)) + u128::from(host) + 1;
        let s = Ipv6Addr::new(0x2001, 0xdb8, 0x5, 0, 0, 0, 0, u16::from(server_host));
        (IpAddr::V6(Ipv6Addr::from(c)), IpAddr::V6(s))
    } else {
        // host < 2^17 - 2, so this stays inside 198.18.0.1..=198.19.255.254.
        let c = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + 1 + host as u32;
        (
            IpAddr::V4(Ipv4Addr::from(c)),
            IpAddr::V4(Ipv4Addr::new(203, 0, 113, server_host)),
        )
    };
    let sport = match proto {
        Proto::Tcp => TCP_SERVER_PORT,
        Proto::Udp => UDP_SERVER_PORT,
    };
    (
        Endpoint { ip: cip, port },
        Endpoint {
            ip: sip,
            port: sport,
        },
    )
}

/// Initial sequence number for a stream of `len` bytes: random, or (wrap)
/// `2^32 - 1 - k` with `k < len`, so that offset `k` sits at sequence 0.
fn draw_isn(rng: &mut ChaCha8Rng, wrap: bool, len: u64) -> u32 {
    if wrap {
        let k = rng.random_range(0..len.max(1));
        // len <= 2^31 (config validation), so k fits in u32.
        u32::MAX - k as u32
    } else {
        rng.random()
    }
}

impl Flow {
    /// Plans flow `id` from its own random stream under `flow_seed`.
    pub fn new(id: u64, cfg: &GenConfig, flow_seed: [u8; 32]) -> Flow {
        let mut rng = ChaCha8Rng::from_seed(flow_seed);
        rng.set_stream(id.wrapping_add(1));
        let proto = if rng.random_bool(cfg.udp_fraction) {
            Proto::Udp
        } else {
            Proto::Tcp
        };
        let v6 = rng.random_bool(cfg.ipv6_fraction);
        let wrap = rng.random_bool(cfg.wrap_fraction) && proto == Proto::Tcp;
        let mut c_len = rng.random_range(cfg.c2s_bytes.min..=cfg.c2s_bytes.max);
        let s_len = rng.random_range(cfg.s2c_bytes.min..=cfg.s2c_bytes.max);
        let end = match proto {
            Proto::Udp => {
                // A UDP flow's client is the side that sends first, so it
                // must send something.
                c_len = c_len.max(1);
                FlowEnd::None
            }
            Proto::Tcp => {
                let e = cfg.end;
                let pick = rng.random_range(0..e.total());
                if pick < u64::from(e.fin) {
                    FlowEnd::Fin
                } else if pick < u64::from(e.fin) + u64::from(e.rst) {
                    FlowEnd::Rst
                } else {
                    FlowEnd::None
                }
            }
        };
        let (client, server) = endpoints(id, v6, proto);
        // An HTTP conversation replaces the drawn sizes (TCP flows only).
        let conv = match (&cfg.http, proto) {
            (Some(mix), Proto::Tcp) => Some(http::conversation(
                &mut rng,
                mix,
                id,
                &format!("{}", server.ip).replace(':', "-"),
            )),
            _ => None,
        };
        if let Some(c) = &conv {
            c_len = c.c2s.len();
        }
        let s_len = conv.as_ref().map_or(s_len, |c| c.s2c.len());
        let c_isn = draw_isn(&mut rng, wrap, c_len);
        let s_isn = draw_isn(&mut rng, wrap, s_len);
        let c_key = rng.random();
        let s_key = rng.random();
        let rst_from = if rng.random_bool(0.5) {
            Direction::C2s
        } else {
            Direction::S2c
        };
        let (c2s, s2c, objects) = match conv {
            Some(c) => (
                DirState::with_content(c_isn, c.c2s),
                DirState::with_content(s_isn, c.s2c),
                c.objects,
            ),
            None => (
                DirState::new(c_key, c_isn, c_len),
                DirState::new(s_key, s_isn, s_len),
                Vec::new(),
            ),
        };
        Flow {
            id,
            proto,
            client,
            server,
            end,
            rng,
            c2s,
            s2c,
            phase: match proto {
                Proto::Tcp => Phase::Syn,
                Proto::Udp => Phase::Data,
            },
            order: cfg.data_order,
            mss: cfg.mss,
            rates: Rates {
                ooo: cfg.ooo_rate,
                retrans: cfg.retrans_rate,
                overlap: cfg.overlap_rate,
            },
            rst_from,
            checksums: cfg.transport_checksums,
            http: objects,
        }
    }

    /// The state of direction `d`.
    pub fn dir(&mut self, d: Direction) -> &mut DirState {
        match d {
            Direction::C2s => &mut self.c2s,
            Direction::S2c => &mut self.s2c,
        }
    }

    /// The next packet of the flow, its payload in `buf`; `None` once the
    /// flow has sent everything.
    pub fn step(&mut self, buf: &mut Vec<u8>) -> Option<Emit> {
        match self.proto {
            Proto::Tcp => self.tcp_step(buf),
            Proto::Udp => self.udp_step(buf),
        }
    }

    /// The answer for this flow; call once `step` returned `None`.
    pub fn finish(self) -> FlowExpected {
        let tcp = self.proto == Proto::Tcp;
        let (ci, si) = (self.c2s.isn, self.s2c.isn);
        FlowExpected {
            id: self.id,
            proto: self.proto,
            client: self.client,
            server: self.server,
            end: self.end,
            c2s: self.c2s.finish(tcp.then_some(ci)),
            s2c: self.s2c.finish(tcp.then_some(si)),
            http: self.http,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::MAX_FLOWS;
    use std::collections::HashSet;

    #[test]
    fn endpoints_are_unique_and_in_documentation_ranges() {
        let mut seen = HashSet::new();
        let ids = (0..300_000u64).chain([MAX_FLOWS - 1, MAX_FLOWS - 2]);
        for id in ids {
            let (c, s) = endpoints(id, false, Proto::Tcp);
            assert!(seen.insert((c.ip, c.port)), "duplicate client for {id}");
            let IpAddr::V4(a) = c.ip else { panic!() };
            assert_eq!(a.octets()[0], 198);
            assert!(a.octets()[1] == 18 || a.octets()[1] == 19);
            assert!(a != Ipv4Addr::new(198, 18, 0, 0) && a != Ipv4Addr::new(198, 19, 255, 255));
            assert!(c.port >= CLIENT_PORT_BASE);
            let IpAddr::V4(b) = s.ip else { panic!() };
            assert_eq!(&b.octets()[..3], &[203, 0, 113]);
        }
        let (c6, s6) = endpoints(MAX_FLOWS - 1, true, Proto::Udp);
        assert_eq!(c6.port, u16::MAX);
        assert_eq!(s6.port, UDP_SERVER_PORT);
        assert!(c6.ip.is_ipv6() && s6.ip.is_ipv6());
    }

    #[test]
    fn wrapped_isn_puts_sequence_zero_inside_the_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for len in [0u64, 1, 2, 1000, 1 << 31] {
            for _ in 0..50 {
                let isn = draw_isn(&mut rng, true, len);
                let k = u64::from(u32::MAX - isn);
                assert!(k < len.max(1), "len {len} k {k}");
                let d = DirState::new(0, isn, len);
                assert_eq!(d.seq_at(k), 0);
            }
        }
    }

    #[test]
    fn produce_hashes_in_stream_order() {
        let mut d = DirState::new(99, 0, 100);
        let mut buf = Vec::new();
        d.produce(30, &mut buf);
        d.produce(70, &mut buf);
        let mut whole = vec![0u8; 100];
        payload::fill(99, 0, &mut whole);
        let e = d.finish(None);
        assert_eq!(e.sha256, hex::encode(Sha256::digest(&whole)));
        assert_eq!(e.bytes, 100);
    }

    #[test]
    fn ack_point_stops_at_the_first_held_back_segment() {
        let mut d = DirState::new(0, 10, 100);
        d.next_new = 50;
        assert_eq!(d.ack_point(), 61);
        d.pending.push(Pending {
            off: 20,
            len: 10,
            wait: 1,
            kind: PendingKind::Delayed,
        });
        d.pending.push(Pending {
            off: 5,
            len: 10,
            wait: 1,
            kind: PendingKind::Retransmit,
        });
        assert_eq!(d.ack_point(), 31);
    }
}

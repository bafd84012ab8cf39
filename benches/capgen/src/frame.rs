//! Frame headers: Ethernet II, IPv4 (RFC 791) or IPv6 (RFC 8200), TCP
//! (RFC 793) or UDP (RFC 768), built with etherparse's header types.
//!
//! Only the headers are built here, into a small reused buffer; the payload is
//! written after them straight from the payload buffer, so it is never copied
//! into a frame.

use std::net::IpAddr;

use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, TcpHeader,
    TcpOptionElement, UdpHeader,
};

use crate::error::GenError;
use crate::expected::Endpoint;

/// MAC address of every client (locally administered, RFC 7042 §2.1).
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// MAC address of every server.
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// TTL / hop limit of every packet.
const TTL: u8 = 64;
/// Receive window announced in every TCP header (no window scaling).
const WINDOW: u16 = 65535;

/// Direction of a packet within its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Client to server.
    C2s,
    /// Server to client.
    S2c,
}

impl Direction {
    /// The opposite direction.
    pub fn other(self) -> Direction {
        match self {
            Direction::C2s => Direction::S2c,
            Direction::S2c => Direction::C2s,
        }
    }
}

/// TCP header fields that vary between packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TcpFields {
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub ack_flag: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    /// MSS option to carry (SYN and SYN-ACK only).
    pub mss_option: Option<u16>,
}

/// The transport part of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4 {
    Tcp(TcpFields),
    Udp,
}

/// A packet a flow wants sent; its payload is the first `payload_len` bytes
/// of the buffer passed to `Flow::step`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Emit {
    pub dir: Direction,
    pub l4: L4,
    pub payload_len: usize,
    pub ip_id: u16,
}

fn too_big(what: impl std::fmt::Display) -> GenError {
    GenError::InvalidConfig(format!("packet does not fit its headers: {what}"))
}

/// Writes the Ethernet, IP and transport headers of one packet into `hdr`
/// (cleared first). `client` and `server` must be of the same IP family.
pub(crate) fn build_headers(
    hdr: &mut Vec<u8>,
    client: &Endpoint,
    server: &Endpoint,
    emit: &Emit,
    payload: &[u8],
    checksums: bool,
) -> Result<(), GenError> {
    hdr.clear();
    let (dir, l4, ip_id) = (emit.dir, &emit.l4, emit.ip_id);
    let (src, dst, src_mac, dst_mac) = match dir {
        Direction::C2s => (client, server, CLIENT_MAC, SERVER_MAC),
        Direction::S2c => (server, client, SERVER_MAC, CLIENT_MAC),
    };
    let (tcp, proto) = match l4 {
        L4::Tcp(f) => {
            let mut t = TcpHeader::new(src.port, dst.port, f.seq, WINDOW);
            t.acknowledgment_number = f.ack;
            t.syn = f.syn;
            t.ack = f.ack_flag;
            t.fin = f.fin;
            t.rst = f.rst;
            t.psh = f.psh;
            if let Some(mss) = f.mss_option {
                t.set_options(&[TcpOptionElement::MaximumSegmentSize(mss)])
                    .map_err(too_big)?;
            }
            (Some(t), IpNumber::TCP)
        }
        L4::Udp => (None, IpNumber::UDP),
    };
    let l4_len = match &tcp {
        Some(t) => t.header_len() + payload.len(),
        None => UdpHeader::LEN + payload.len(),
    };
    let l4_len16 = u16::try_from(l4_len).map_err(too_big)?;
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let eth = Ethernet2Header {
                source: src_mac,
                destination: dst_mac,
                ether_type: EtherType::IPV4,
            };
            hdr.extend_from_slice(&eth.to_bytes());
            let mut ip =
                Ipv4Header::new(l4_len16, TTL, proto, s.octets(), d.octets()).map_err(too_big)?;
            ip.identification = ip_id;
            ip.header_checksum = ip.calc_header_checksum();
            hdr.extend_from_slice(&ip.to_bytes());
            match tcp {
                Some(mut t) => {
                    if checksums {
                        t.checksum = t.calc_checksum_ipv4(&ip, payload).map_err(too_big)?;
                    }
                    hdr.extend_from_slice(&t.to_bytes());
                }
                None => {
                    let u = if checksums {
                        UdpHeader::with_ipv4_checksum(src.port, dst.port, &ip, payload)
                    } else {
                        UdpHeader::without_ipv4_checksum(src.port, dst.port, payload.len())
                    }
                    .map_err(too_big)?;
                    hdr.extend_from_slice(&u.to_bytes());
                }
            }
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let eth = Ethernet2Header {
                source: src_mac,
                destination: dst_mac,
                ether_type: EtherType::IPV6,
            };
            hdr.extend_from_slice(&eth.to_bytes());
            let ip = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: l4_len16,
                next_header: proto,
                hop_limit: TTL,
                source: s.octets(),
                destination: d.octets(),
            };
            hdr.extend_from_slice(&ip.to_bytes());
            match tcp {
                Some(mut t) => {
                    if checksums {
                        t.checksum = t.calc_checksum_ipv6(&ip, payload).map_err(too_big)?;
                    }
                    hdr.extend_from_slice(&t.to_bytes());
                }
                None => {
                    let u = if checksums {
                        UdpHeader::with_ipv6_checksum(src.port, dst.port, &ip, payload)
                            .map_err(too_big)?
                    } else {
                        // The length field is the same as for IPv4; only the
                        // checksum differs, and it stays 0 here.
                        UdpHeader::without_ipv4_checksum(src.port, dst.port, payload.len())
                            .map_err(too_big)?
                    };
                    hdr.extend_from_slice(&u.to_bytes());
                }
            }
        }
        _ => {
            return Err(GenError::InvalidConfig(
                "client and server of different IP families".into(),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn ipv4_tcp_round_trips_through_etherparse() {
        let (c, s) = (ep("198.18.0.1", 49152), ep("203.0.113.1", 80));
        let f = TcpFields {
            seq: 0xffff_fff0,
            ack: 5,
            ack_flag: true,
            psh: true,
            ..Default::default()
        };
        let mut hdr = Vec::new();
        let payload = b"hello";
        let e = Emit {
            dir: Direction::C2s,
            l4: L4::Tcp(f),
            payload_len: payload.len(),
            ip_id: 7,
        };
        build_headers(&mut hdr, &c, &s, &e, payload, true).unwrap();
        hdr.extend_from_slice(payload);
        let p = SlicedPacket::from_ethernet(&hdr).unwrap();
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("not ipv4")
        };
        assert_eq!(ip.header().identification(), 7);
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!("not tcp")
        };
        assert_eq!(t.sequence_number(), 0xffff_fff0);
        assert_eq!(t.payload(), payload);
        assert_eq!(
            t.checksum(),
            t.to_header().calc_checksum_ipv4(&h, payload).unwrap()
        );
    }

    #[test]
    fn ipv6_udp_server_to_client() {
        let (c, s) = (ep("2001:db8::1", 49152), ep("2001:db8::2", 5001));
        let mut hdr = Vec::new();
        let e = Emit {
            dir: Direction::S2c,
            l4: L4::Udp,
            payload_len: 2,
            ip_id: 0,
        };
        build_headers(&mut hdr, &c, &s, &e, b"xy", false).unwrap();
        hdr.extend_from_slice(b"xy");
        let p = SlicedPacket::from_ethernet(&hdr).unwrap();
        let Some(NetSlice::Ipv6(ip)) = p.net else {
            panic!("not ipv6")
        };
        assert_eq!(
            ip.header().source_addr(),
            "2001:db8::2".parse::<std::net::Ipv6Addr>().unwrap()
        );
        let Some(TransportSlice::Udp(u)) = p.transport else {
            panic!("not udp")
        };
        assert_eq!((u.source_port(), u.destination_port()), (5001, 49152));
        assert_eq!(u.payload(), b"xy");
    }

    #[test]
    fn mixed_families_are_rejected() {
        let (c, s) = (ep("198.18.0.1", 1), ep("2001:db8::2", 2));
        let mut hdr = Vec::new();
        let e = Emit {
            dir: Direction::C2s,
            l4: L4::Udp,
            payload_len: 0,
            ip_id: 0,
        };
        let r = build_headers(&mut hdr, &c, &s, &e, b"", true);
        assert!(r.is_err());
    }
}

//! Tunnel headers: what sits between an outer IP or UDP header and the inner
//! packet. Each is a small checked parser that returns the tunnel's layer, what
//! follows it and where.
//!
//! - GRE (RFC 2784 with the RFC 1701 key, sequence and routing fields; RFC 2890;
//!   version 1 "enhanced GRE" of PPTP, RFC 2637, with its acknowledgment number);
//! - ERSPAN type II and III (draft-foschiano-erspan): in GRE protocol 0x88be or
//!   0x22eb; a 0x88be GRE packet without a sequence number is ERSPAN type I,
//!   which has no ERSPAN header at all;
//! - VXLAN (RFC 7348, UDP 4789; Linux's pre-standard port 8472);
//! - Geneve (RFC 8926, UDP 6081);
//! - Teredo (RFC 4380, UDP 3544), with the optional authentication and origin
//!   indications before the IPv6 header;
//! - GTPv1-U (3GPP TS 29.281, UDP 2152 as source or destination port): G-PDU
//!   messages (type 255), the optional sequence number, N-PDU number and next
//!   extension header type, and the chain of extension headers; the inner
//!   packet is IPv4 or IPv6 (first nibble). Other GTP-U messages (echo, error
//!   indication, end marker) stay ordinary UDP datagrams. Like Zeek, the port
//!   decides: the capture `gtp2_different_udp_port` has 2152 on one side of
//!   every datagram; GTP-U between two other ports is not guessed at (no
//!   heuristic, Wireshark's is off by default too);
//! - GRE in UDP (RFC 8086, UDP 4754): a GRE header as in IP protocol 47;
//! - AYIYA (draft-massar-v6ops-ayiya, UDP 5072): identity and signature of the
//!   lengths the header announces; forward messages carrying IPv4 or IPv6;
//! - CAPWAP data channel (RFC 5415 section 4.3, UDP 5247): the header length
//!   it announces, then an 802.3 frame or, with the T bit and the IEEE 802.11
//!   binding (RFC 5416), an 802.11 frame. DTLS-protected and fragmented CAPWAP
//!   packets stay ordinary UDP datagrams;
//! - Aruba GRE (protocol types 0x8200 to 0x8370 in steps of 0x10, as Zeek
//!   registers them): an 802.11 frame without FCS.
//!
//! IP-in-IP (IP protocols 4 and 41) needs no header of its own: the decoder
//! continues with the inner IP header.

use crate::encap::Layer;
use crate::error::Skip;
use crate::link::{Next, Step};

fn be16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be24(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(3)?)?;
    Some(u32::from_be_bytes([0, b[0], b[1], b[2]]))
}

/// A UDP-carried tunnel, recognised by port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UdpTunnel {
    /// VXLAN (4789, 8472).
    Vxlan,
    /// Geneve (6081).
    Geneve,
    /// Teredo (3544).
    Teredo,
    /// GTPv1-U (2152).
    Gtpu,
    /// GRE in UDP (4754).
    GreUdp,
    /// AYIYA (5072).
    Ayiya,
    /// CAPWAP data channel (5247).
    Capwap,
}

/// The tunnel a UDP datagram between these ports may carry (destination port
/// first, then source port).
pub(crate) fn udp_tunnel(src_port: u16, dst_port: u16) -> Option<UdpTunnel> {
    let by_port = |p: u16| match p {
        4789 | 8472 => Some(UdpTunnel::Vxlan),
        6081 => Some(UdpTunnel::Geneve),
        3544 => Some(UdpTunnel::Teredo),
        2152 => Some(UdpTunnel::Gtpu),
        4754 => Some(UdpTunnel::GreUdp),
        5072 => Some(UdpTunnel::Ayiya),
        5247 => Some(UdpTunnel::Capwap),
        _ => None,
    };
    by_port(dst_port).or_else(|| by_port(src_port))
}

/// Read the header of a UDP tunnel. [`Skip::NotIp`] means the datagram is a
/// message of that protocol that carries no packet (it stays a UDP datagram).
pub(crate) fn read_udp(kind: UdpTunnel, data: &[u8]) -> Result<Step<'_>, Skip> {
    match kind {
        UdpTunnel::Vxlan => vxlan(data),
        UdpTunnel::Geneve => geneve(data),
        UdpTunnel::Teredo => teredo(data),
        UdpTunnel::Gtpu => gtpu(data),
        UdpTunnel::GreUdp => gre(data).map(|s| Step {
            layer: Some(Layer::GreUdp),
            ..s
        }),
        UdpTunnel::Ayiya => ayiya(data),
        UdpTunnel::Capwap => capwap(data),
    }
}

/// Whether a GRE protocol type is one of Aruba's 802.11 encapsulations.
fn aruba(proto: u16) -> bool {
    (0x8200..=0x8370).contains(&proto) && proto & 0x000f == 0
}

const GRE_CHECKSUM: u16 = 0x8000;
const GRE_ROUTING: u16 = 0x4000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQ: u16 = 0x1000;
const GRE_ACK: u16 = 0x0080;

/// A GRE header: flags and version, protocol type, then the optional fields the
/// flags announce, in order checksum+offset, key, sequence, (v1) acknowledgment,
/// (RFC 1701) routing source route entries up to the null entry.
pub(crate) fn gre(data: &[u8]) -> Result<Step<'_>, Skip> {
    let flags = be16(data, 0).ok_or(Skip::Truncated("gre"))?;
    let proto = be16(data, 2).ok_or(Skip::Truncated("gre"))?;
    let version = flags & 0x7;
    if version > 1 {
        return Err(Skip::Malformed("gre"));
    }
    let mut at = 4usize;
    if flags & (GRE_CHECKSUM | GRE_ROUTING) != 0 {
        at += 4;
    }
    if flags & GRE_KEY != 0 {
        at += 4;
    }
    if flags & GRE_SEQ != 0 {
        at += 4;
    }
    if version == 1 && flags & GRE_ACK != 0 {
        at += 4;
    }
    if flags & GRE_ROUTING != 0 {
        // Source route entries: address family (2), offset (1), length (1), data;
        // each entry is at least 4 bytes long, so the loop makes progress.
        loop {
            let af = be16(data, at).ok_or(Skip::Truncated("gre"))?;
            let len = *data.get(at + 3).ok_or(Skip::Truncated("gre"))?;
            at += 4 + usize::from(len);
            if af == 0 && len == 0 {
                break;
            }
        }
    }
    let payload = data.get(at..).ok_or(Skip::Truncated("gre"))?;
    let next = match proto {
        // ERSPAN type I: no sequence number and no ERSPAN header.
        0x88be if flags & GRE_SEQ == 0 => Next::Ethernet,
        0x88be | 0x22eb => Next::Erspan,
        0x880b => Next::Ppp,
        0x6558 => Next::Ethernet,
        t if aruba(t) => Next::Wlan { padded: false },
        t => Next::EtherType(t),
    };
    Ok(Step {
        layer: Some(Layer::Gre),
        next,
        data: payload,
    })
}

/// ERSPAN type II (version 1, 8 bytes) or type III (version 2, 12 bytes, plus an
/// 8-byte platform-specific subheader when the O flag is set); the frame type of
/// type III says Ethernet (0) or IP (2).
pub(crate) fn erspan(data: &[u8]) -> Result<Step<'_>, Skip> {
    let b0 = *data.first().ok_or(Skip::Truncated("erspan"))?;
    let (hdr, next) = match b0 >> 4 {
        1 => (8usize, Next::Ethernet),
        2 => {
            let word3 = data.get(8..12).ok_or(Skip::Truncated("erspan"))?;
            let frame_type = (word3[2] >> 2) & 0x1f;
            let optional = word3[3] & 1 != 0;
            let next = match frame_type {
                0 => Next::Ethernet,
                2 => Next::Ip,
                _ => return Err(Skip::NotIp),
            };
            (if optional { 20 } else { 12 }, next)
        }
        _ => return Err(Skip::Malformed("erspan")),
    };
    let payload = data.get(hdr..).ok_or(Skip::Truncated("erspan"))?;
    Ok(Step {
        layer: Some(Layer::Erspan),
        next,
        data: payload,
    })
}

/// VXLAN: flags (I = VNI valid), reserved, 24-bit VNI, reserved; then Ethernet.
fn vxlan(data: &[u8]) -> Result<Step<'_>, Skip> {
    let hdr = data.get(..8).ok_or(Skip::Truncated("vxlan"))?;
    if hdr[0] & 0x08 == 0 {
        return Err(Skip::Malformed("vxlan"));
    }
    let vni = be24(hdr, 4).ok_or(Skip::Truncated("vxlan"))?;
    let payload = data.get(8..).ok_or(Skip::Truncated("vxlan"))?;
    Ok(Step {
        layer: Some(Layer::Vxlan(vni)),
        next: Next::Ethernet,
        data: payload,
    })
}

/// Geneve: version (must be 0) and option length in 4-byte words, flags,
/// protocol type, VNI, reserved, options; then what the protocol type says
/// (0x6558 Ethernet, or an EtherType such as IPv4/IPv6).
fn geneve(data: &[u8]) -> Result<Step<'_>, Skip> {
    let hdr = data.get(..8).ok_or(Skip::Truncated("geneve"))?;
    if hdr[0] >> 6 != 0 {
        return Err(Skip::Malformed("geneve"));
    }
    let opt_len = usize::from(hdr[0] & 0x3f) * 4;
    let proto = be16(hdr, 2).ok_or(Skip::Truncated("geneve"))?;
    let vni = be24(hdr, 4).ok_or(Skip::Truncated("geneve"))?;
    let payload = data.get(8 + opt_len..).ok_or(Skip::Truncated("geneve"))?;
    let next = match proto {
        0x6558 => Next::Ethernet,
        t => Next::EtherType(t),
    };
    Ok(Step {
        layer: Some(Layer::Geneve(vni)),
        next,
        data: payload,
    })
}

/// Teredo: an optional authentication indication (`00 01`, id and auth lengths,
/// client id, auth value, 8-byte nonce, confirmation byte), an optional origin
/// indication (`00 00`, port, address: 8 bytes), then an IPv6 header.
fn teredo(data: &[u8]) -> Result<Step<'_>, Skip> {
    let mut at = 0usize;
    if be16(data, 0) == Some(0x0001) {
        let id_len = *data.get(2).ok_or(Skip::Truncated("teredo"))?;
        let au_len = *data.get(3).ok_or(Skip::Truncated("teredo"))?;
        at = 4 + usize::from(id_len) + usize::from(au_len) + 8 + 1;
    }
    if be16(data, at) == Some(0x0000) {
        at += 8;
    }
    let payload = data.get(at..).ok_or(Skip::Truncated("teredo"))?;
    match payload.first() {
        Some(b) if b >> 4 == 6 => {}
        Some(_) => return Err(Skip::Malformed("teredo")),
        None => return Err(Skip::Truncated("teredo")),
    }
    Ok(Step {
        layer: Some(Layer::Teredo),
        next: Next::Ipv6,
        data: payload,
    })
}

/// The first nibble of an inner packet: IPv4 or IPv6.
fn inner_ip(payload: &[u8], layer: &'static str) -> Result<Next, Skip> {
    match payload.first().map(|b| b >> 4) {
        Some(4) => Ok(Next::Ipv4),
        Some(6) => Ok(Next::Ipv6),
        Some(_) => Err(Skip::Malformed(layer)),
        None => Err(Skip::Truncated(layer)),
    }
}

/// GTP-U flags: extension header, sequence number, N-PDU number present.
const GTP_E: u8 = 0x04;
const GTP_S: u8 = 0x02;
const GTP_PN: u8 = 0x01;
/// GTP-U message type of a G-PDU (a user packet).
const GTP_GPDU: u8 = 0xff;

/// GTPv1-U: version 1, protocol type 1 (GTP, not GTP'), message type, length,
/// TEID; with any of E, S, PN set, sequence number, N-PDU number and next
/// extension header type; then extension headers (length in 4-byte units,
/// content, next type) until the next type is 0.
fn gtpu(data: &[u8]) -> Result<Step<'_>, Skip> {
    let hdr = data.get(..8).ok_or(Skip::Truncated("gtp-u"))?;
    let flags = hdr[0];
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Err(Skip::Malformed("gtp-u"));
    }
    if hdr[1] != GTP_GPDU {
        return Err(Skip::NotIp);
    }
    // The length counts everything after the 8 mandatory bytes; a capture cut
    // short keeps what it has.
    let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    let msg = data.get(8..).ok_or(Skip::Truncated("gtp-u"))?;
    let msg = msg.get(..len).unwrap_or(msg);
    let mut at = 0usize;
    if flags & (GTP_E | GTP_S | GTP_PN) != 0 {
        let mut next_ext = *msg.get(3).ok_or(Skip::Truncated("gtp-u"))?;
        at = 4;
        if flags & GTP_E == 0 {
            next_ext = 0;
        }
        while next_ext != 0 {
            let units = usize::from(*msg.get(at).ok_or(Skip::Truncated("gtp-u"))?);
            if units == 0 {
                return Err(Skip::Malformed("gtp-u"));
            }
            let end = at + 4 * units;
            next_ext = *msg.get(end - 1).ok_or(Skip::Truncated("gtp-u"))?;
            at = end;
        }
    }
    let payload = msg.get(at..).ok_or(Skip::Truncated("gtp-u"))?;
    Ok(Step {
        layer: Some(Layer::Gtpu),
        next: inner_ip(payload, "gtp-u")?,
        data: payload,
    })
}

/// AYIYA: identity length (as a power of two) and type, signature length (in
/// 4-byte words) and hash method, authentication method and opcode, next
/// header, epoch time (8 bytes so far), identity, signature, packet.
fn ayiya(data: &[u8]) -> Result<Step<'_>, Skip> {
    let hdr = data.get(..8).ok_or(Skip::Truncated("ayiya"))?;
    let id_len = 1usize << (hdr[0] >> 4);
    let sig_len = usize::from(hdr[1] >> 4) * 4;
    let opcode = hdr[2] & 0x0f;
    let next_header = hdr[3];
    // Opcode 1 is "forward": the only message that carries a packet.
    if opcode != 1 {
        return Err(Skip::NotIp);
    }
    let want = match next_header {
        4 => Next::Ipv4,
        41 => Next::Ipv6,
        59 => return Err(Skip::NotIp),
        _ => return Err(Skip::Malformed("ayiya")),
    };
    let payload = data
        .get(8 + id_len + sig_len..)
        .ok_or(Skip::Truncated("ayiya"))?;
    if inner_ip(payload, "ayiya")? != want {
        return Err(Skip::Malformed("ayiya"));
    }
    Ok(Step {
        layer: Some(Layer::Ayiya),
        next: want,
        data: payload,
    })
}

/// CAPWAP wireless binding identifier of IEEE 802.11 (RFC 5416).
const CAPWAP_WBID_80211: u32 = 1;

/// CAPWAP data channel header: preamble (version 0, type 0 = clear CAPWAP
/// header; 1 = DTLS), then HLEN (header length in 4-byte words), RID, WBID,
/// the T (native frame), F (fragment) and other flags, fragment id and offset,
/// optional radio MAC address and wireless information (within HLEN).
fn capwap(data: &[u8]) -> Result<Step<'_>, Skip> {
    let preamble = *data.first().ok_or(Skip::Truncated("capwap"))?;
    match preamble {
        0x00 => {}
        // DTLS-protected: no packet to read.
        0x01 => return Err(Skip::NotIp),
        _ => return Err(Skip::Malformed("capwap")),
    }
    let w = data.get(..4).ok_or(Skip::Truncated("capwap"))?;
    let w = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
    let hlen = usize::try_from((w >> 19) & 0x1f).unwrap_or(0) * 4;
    let wbid = (w >> 9) & 0x1f;
    let native = w & (1 << 8) != 0;
    let fragment = w & (1 << 7) != 0;
    if hlen < 8 {
        return Err(Skip::Malformed("capwap"));
    }
    if fragment {
        return Err(Skip::NotIp);
    }
    let payload = data.get(hlen..).ok_or(Skip::Truncated("capwap"))?;
    let next = match (native, wbid) {
        (false, _) => Next::Ethernet,
        (true, CAPWAP_WBID_80211) => Next::Wlan { padded: false },
        (true, _) => return Err(Skip::NotIp),
    };
    Ok(Step {
        layer: Some(Layer::Capwap),
        next,
        data: payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_plain_and_optional_fields() {
        let s = gre(&[0x00, 0x00, 0x08, 0x00, 0x45]).expect("gre");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Gre), Next::EtherType(0x0800), &[0x45][..])
        );
        // checksum + key + sequence
        let mut d = vec![0xb0, 0x00, 0x65, 0x58];
        d.extend_from_slice(&[0; 12]);
        d.push(0xee);
        let s = gre(&d).expect("gre");
        assert_eq!((s.next, s.data), (Next::Ethernet, &[0xee][..]));
        assert_eq!(
            gre(&d[..15]).map(|s| s.data.len()),
            Err(Skip::Truncated("gre"))
        );
        // version 2 does not exist
        assert_eq!(gre(&[0x00, 0x02, 0x08, 0x00]), Err(Skip::Malformed("gre")));
    }

    #[test]
    fn gre_v1_pptp_with_ack() {
        // K, S set, version 1 with A: 4 + key 4 + seq 4 + ack 4
        let mut d = vec![0x30, 0x81, 0x88, 0x0b];
        d.extend_from_slice(&[0; 12]);
        d.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
        let s = gre(&d).expect("gre");
        assert_eq!((s.next, s.data.len()), (Next::Ppp, 4));
    }

    #[test]
    fn gre_routing_entries_end_at_null_entry() {
        // R flag (implies checksum/offset fields), one SRE of 4 data bytes, null SRE
        let mut d = vec![0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0];
        d.extend_from_slice(&[0x08, 0x00, 0x00, 0x04, 1, 2, 3, 4]);
        d.extend_from_slice(&[0, 0, 0, 0, 0x45]);
        assert_eq!(gre(&d).expect("gre").data, &[0x45]);
        assert_eq!(gre(&d[..12]), Err(Skip::Truncated("gre")));
    }

    #[test]
    fn gre_erspan_types() {
        // type I: no sequence number -> Ethernet directly
        assert_eq!(
            gre(&[0x00, 0x00, 0x88, 0xbe]).expect("gre").next,
            Next::Ethernet
        );
        // type II: with sequence number
        let s = gre(&[0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1]).expect("gre");
        assert_eq!(s.next, Next::Erspan);
        let mut e2 = vec![0x10, 0x64, 0x00, 0x01, 0, 0, 0, 0];
        e2.push(0xaa);
        let s = erspan(&e2).expect("erspan");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Erspan), Next::Ethernet, &[0xaa][..])
        );
        // type III with the optional subheader
        let mut e3 = vec![0x20, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x00, 0x01];
        e3.extend_from_slice(&[0; 8]);
        e3.push(0xbb);
        assert_eq!(erspan(&e3).expect("erspan").data, &[0xbb]);
        e3[11] = 0;
        assert_eq!(erspan(&e3).expect("erspan").data.len(), 9);
        assert_eq!(
            erspan(&[0x30, 0, 0, 0, 0, 0, 0, 0]),
            Err(Skip::Malformed("erspan"))
        );
    }

    #[test]
    fn vxlan_header() {
        let s = vxlan(&[0x08, 0, 0, 0, 0x00, 0x01, 0x2c, 0x00, 0xaa]).expect("vxlan");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Vxlan(300)), Next::Ethernet, &[0xaa][..])
        );
        assert_eq!(vxlan(&[0x08, 0, 0, 0]), Err(Skip::Truncated("vxlan")));
        assert_eq!(
            vxlan(&[0x00, 0, 0, 0, 0, 0, 0, 0]),
            Err(Skip::Malformed("vxlan"))
        );
        assert_eq!(udp_tunnel(40000, 8472), Some(UdpTunnel::Vxlan));
        assert_eq!(udp_tunnel(3544, 40000), Some(UdpTunnel::Teredo));
        assert_eq!(udp_tunnel(53, 40000), None);
    }

    #[test]
    fn geneve_with_options() {
        let mut d = vec![0x02, 0x00, 0x65, 0x58, 0x00, 0x00, 0x07, 0x00];
        d.extend_from_slice(&[0; 8]);
        d.push(0xcc);
        let s = geneve(&d).expect("geneve");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Geneve(7)), Next::Ethernet, &[0xcc][..])
        );
        d[2..4].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(geneve(&d).expect("geneve").next, Next::EtherType(0x0800));
        assert_eq!(geneve(&d[..12]), Err(Skip::Truncated("geneve")));
        d[0] = 0x42;
        assert_eq!(geneve(&d), Err(Skip::Malformed("geneve")));
    }

    #[test]
    fn teredo_indications() {
        assert_eq!(teredo(&[0x60, 0]).expect("teredo").data, &[0x60, 0]);
        // origin indication
        let d = [0, 0, 1, 2, 3, 4, 5, 6, 0x60];
        assert_eq!(teredo(&d).expect("teredo").data, &[0x60]);
        // authentication (id 1, auth 2) then origin
        let mut d = vec![0, 1, 1, 2, 9, 8, 8];
        d.extend_from_slice(&[0; 8]);
        d.push(0);
        d.extend_from_slice(&[0, 0, 1, 2, 3, 4, 5, 6, 0x60]);
        let s = teredo(&d).expect("teredo");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Teredo), Next::Ipv6, &[0x60][..])
        );
        assert_eq!(teredo(&[0x45]), Err(Skip::Malformed("teredo")));
        assert_eq!(teredo(&[]), Err(Skip::Truncated("teredo")));
    }

    /// A GTPv1-U G-PDU: flags, type 255, length of what follows the first 8 bytes.
    fn gtp(flags: u8, opt: &[u8], inner: &[u8]) -> Vec<u8> {
        let len = (opt.len() + inner.len()) as u16;
        let mut v = vec![flags, 0xff];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&[0x8c, 0x61, 0xbe, 0x36]);
        v.extend_from_slice(opt);
        v.extend_from_slice(inner);
        v
    }

    #[test]
    fn gtpu_every_optional_field_combination() {
        let ip4 = [0x45, 0, 0, 20];
        let d = gtp(0x30, &[], &ip4);
        let s = gtpu(&d).expect("gtp-u");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Gtpu), Next::Ipv4, &ip4[..])
        );
        // S, PN, S+PN: the 4-byte sequence / N-PDU / next-type block, next type
        // ignored without E.
        for flags in [0x32, 0x31, 0x33] {
            let d = gtp(flags, &[0, 5, 7, 0xc0], &ip4);
            let s = gtpu(&d).expect("gtp-u");
            assert_eq!(s.data, &ip4, "flags {flags:#x}");
        }
        // E with one extension header (PDCP PDU number, as in the Zeek capture),
        // then two chained ones (the 0x85 PDU session container, 2 units).
        let one = [0, 5, 0, 0xc0, 1, 9, 4, 0];
        let two = [0, 0, 0, 0x85, 2, 1, 2, 3, 4, 5, 6, 0xc0, 1, 9, 4, 0];
        for flags in [0x34, 0x36, 0x37] {
            for opt in [&one[..], &two[..]] {
                let d = gtp(flags, opt, &ip4);
                let s = gtpu(&d).expect("gtp-u");
                assert_eq!(s.data, &ip4, "flags {flags:#x}");
            }
        }
        // IPv6 inside.
        let ip6 = [0x60, 0, 0, 0];
        assert_eq!(gtpu(&gtp(0x30, &[], &ip6)).expect("v6").next, Next::Ipv6);
        // The length field bounds the message (trailing bytes are padding).
        let mut d = gtp(0x30, &[], &ip4);
        d.extend_from_slice(&[0xee; 6]);
        assert_eq!(gtpu(&d).expect("padded").data, &ip4);
    }

    #[test]
    fn gtpu_truncated_malformed_and_signalling() {
        let ip4 = [0x45, 0, 0, 20];
        assert_eq!(gtpu(&[0x30, 0xff, 0, 0]), Err(Skip::Truncated("gtp-u")));
        // version 2 (GTPv2-C), GTP' (PT 0)
        assert_eq!(gtpu(&gtp(0x48, &[], &ip4)), Err(Skip::Malformed("gtp-u")));
        assert_eq!(gtpu(&gtp(0x20, &[], &ip4)), Err(Skip::Malformed("gtp-u")));
        // echo request: a GTP-U message that carries no packet
        let mut echo = gtp(0x32, &[0, 1, 0, 0], &[]);
        echo[1] = 1;
        assert_eq!(gtpu(&echo), Err(Skip::NotIp));
        // extension header of length 0, chain cut short, optional block cut short
        let bad = gtp(0x34, &[0, 0, 0, 0xc0, 0, 9, 4, 0], &ip4);
        assert_eq!(gtpu(&bad), Err(Skip::Malformed("gtp-u")));
        let cut = gtp(0x34, &[0, 0, 0, 0xc0, 2, 9, 4, 0], &[]);
        assert_eq!(gtpu(&cut), Err(Skip::Truncated("gtp-u")));
        assert_eq!(
            gtpu(&gtp(0x32, &[0, 1], &[])),
            Err(Skip::Truncated("gtp-u"))
        );
        // not IP inside, nothing inside
        assert_eq!(
            gtpu(&gtp(0x30, &[], &[0x12])),
            Err(Skip::Malformed("gtp-u"))
        );
        assert_eq!(gtpu(&gtp(0x30, &[], &[])), Err(Skip::Truncated("gtp-u")));
        assert_eq!(udp_tunnel(2152, 5906), Some(UdpTunnel::Gtpu));
        assert_eq!(udp_tunnel(5906, 2152), Some(UdpTunnel::Gtpu));
    }

    #[test]
    fn gre_in_udp_and_aruba_protocol_types() {
        let s = read_udp(UdpTunnel::GreUdp, &[0, 0, 0x08, 0x00, 0x45]).expect("gre-udp");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::GreUdp), Next::EtherType(0x0800), &[0x45][..])
        );
        assert_eq!(udp_tunnel(36527, 4754), Some(UdpTunnel::GreUdp));
        for proto in [0x8200u16, 0x8240, 0x8370] {
            let mut d = vec![0, 0];
            d.extend_from_slice(&proto.to_be_bytes());
            assert_eq!(
                gre(&d).expect("aruba").next,
                Next::Wlan { padded: false },
                "{proto:#x}"
            );
        }
        for proto in [0x8201u16, 0x8380, 0x81f0] {
            let mut d = vec![0, 0];
            d.extend_from_slice(&proto.to_be_bytes());
            assert_eq!(gre(&d).expect("gre").next, Next::EtherType(proto));
        }
    }

    #[test]
    fn ayiya_header_lengths_and_opcodes() {
        // identity 2^4 = 16 bytes, signature 5 words = 20 bytes, forward, IPv6
        let mut d = vec![0x41, 0x52, 0x11, 41, 0, 0, 0, 0];
        d.extend_from_slice(&[0xaa; 36]);
        d.extend_from_slice(&[0x60, 0]);
        let s = ayiya(&d).expect("ayiya");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Ayiya), Next::Ipv6, &[0x60, 0][..])
        );
        // heartbeat (next header 59), echo request (opcode 2)
        let mut hb = d.clone();
        hb[3] = 59;
        assert_eq!(ayiya(&hb), Err(Skip::NotIp));
        let mut echo = d.clone();
        echo[2] = 0x12;
        assert_eq!(ayiya(&echo), Err(Skip::NotIp));
        // next header says IPv4 but the packet is IPv6; unknown next header
        let mut wrong = d.clone();
        wrong[3] = 4;
        assert_eq!(ayiya(&wrong), Err(Skip::Malformed("ayiya")));
        wrong[3] = 6;
        assert_eq!(ayiya(&wrong), Err(Skip::Malformed("ayiya")));
        assert_eq!(ayiya(&d[..40]), Err(Skip::Truncated("ayiya")));
        assert_eq!(ayiya(&d[..44]), Err(Skip::Truncated("ayiya")));
        assert_eq!(ayiya(&d[..5]), Err(Skip::Truncated("ayiya")));
    }

    /// A CAPWAP data header of `hlen` words with the T bit and WBID given.
    fn capwap_hdr(hlen: u32, wbid: u32, t: bool, f: bool) -> Vec<u8> {
        let w = (hlen << 19) | (wbid << 9) | (u32::from(t) << 8) | (u32::from(f) << 7);
        let mut v = w.to_be_bytes().to_vec();
        v.extend_from_slice(&[0; 4]);
        v.resize(hlen as usize * 4, 0);
        v
    }

    #[test]
    fn capwap_data_8023_and_80211() {
        let mut d = capwap_hdr(2, 1, false, false);
        d.push(0xaa);
        let s = capwap(&d).expect("capwap");
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Capwap), Next::Ethernet, &[0xaa][..])
        );
        // native 802.11, with a radio MAC address (HLEN 4)
        let mut d = capwap_hdr(4, 1, true, false);
        d.push(0xbb);
        let s = capwap(&d).expect("capwap");
        assert_eq!(
            (s.next, s.data),
            (Next::Wlan { padded: false }, &[0xbb][..])
        );
        // native frames of another binding, fragments, DTLS: no packet
        assert_eq!(capwap(&capwap_hdr(2, 3, true, false)), Err(Skip::NotIp));
        assert_eq!(capwap(&capwap_hdr(2, 1, false, true)), Err(Skip::NotIp));
        assert_eq!(capwap(&[0x01, 0, 0, 0]), Err(Skip::NotIp));
        // bad preamble, HLEN below 2, header cut short
        assert_eq!(capwap(&[0x10, 0, 0, 0]), Err(Skip::Malformed("capwap")));
        assert_eq!(
            capwap(&capwap_hdr(1, 1, false, false)),
            Err(Skip::Malformed("capwap"))
        );
        assert_eq!(
            capwap(&capwap_hdr(4, 1, false, false)[..12]),
            Err(Skip::Truncated("capwap"))
        );
        assert_eq!(capwap(&[0x00, 0x10]), Err(Skip::Truncated("capwap")));
        assert_eq!(udp_tunnel(5247, 40000), Some(UdpTunnel::Capwap));
    }
}

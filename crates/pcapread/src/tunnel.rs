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
//!   indications before the IPv6 header.
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
}

/// The tunnel a UDP datagram between these ports may carry (destination port
/// first, then source port).
pub(crate) fn udp_tunnel(src_port: u16, dst_port: u16) -> Option<UdpTunnel> {
    let by_port = |p: u16| match p {
        4789 | 8472 => Some(UdpTunnel::Vxlan),
        6081 => Some(UdpTunnel::Geneve),
        3544 => Some(UdpTunnel::Teredo),
        _ => None,
    };
    by_port(dst_port).or_else(|| by_port(src_port))
}

/// Read the header of a UDP tunnel.
pub(crate) fn read_udp(kind: UdpTunnel, data: &[u8]) -> Result<Step<'_>, Skip> {
    match kind {
        UdpTunnel::Vxlan => vxlan(data),
        UdpTunnel::Geneve => geneve(data),
        UdpTunnel::Teredo => teredo(data),
    }
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
}

//! Link layers: from a frame's first byte (chosen by its [`LinkType`]) down to the
//! IP header, one header per step.
//!
//! Each step reads one header and says what comes next ([`Next`]), so the decoder
//! can walk arbitrarily nested stacks (VLAN in VLAN in PBB in MPLS ...) in a
//! bounded loop and record every layer. Ethernet and 802.1Q tags are read with
//! etherparse; the headers etherparse lacks, or parses too strictly for
//! captures seen in the wild, are small checked parsers here:
//!
//! - 802.3 length field + 802.2 LLC / SNAP (IEEE 802.2, RFC 1042);
//! - 802.1ah PBB I-TAG (IEEE 802.1ah: 4-byte I-TAG with a 24-bit I-SID, then the
//!   customer MAC addresses);
//! - MPLS label stack entries (RFC 3032), with the payload guessed from the first
//!   nibble after the bottom of the stack (RFC 4385 pseudowire control word, then
//!   Ethernet, when it is neither 4 nor 6); labels 0 and 2 are the explicit-null
//!   labels for IPv4 and IPv6;
//! - PPPoE session (RFC 2516), PPP (RFC 1661, RFC 1662 `ff 03` framing, protocol
//!   field compression), Cisco HDLC;
//! - Linux cooked captures SLL (16 bytes, whatever the address length says: the
//!   header is fixed and longer addresses are cut to 8 bytes) and SLL2 (20 bytes).
//!   etherparse's SLL slice rejects hardware types such as loopback or `NONE`
//!   (tun devices), which real "any"-device captures contain;
//! - BSD null / OpenBSD loop (address family, host or network byte order);
//! - Linux NFLOG (TLVs in host byte order; the packet is the `NFULA_PAYLOAD` TLV);
//! - IP over InfiniBand (the 44-byte Linux pseudo-header tcpdump reads, or the
//!   4-byte RFC 4391 header) and Linux ARCNET (RFC 1051 and RFC 1201 headers).

use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

use crate::encap::Layer;
use crate::error::Skip;
use crate::linktype::LinkType;

/// What the bytes at the current position are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// An Ethernet II (or 802.3) header.
    Ethernet,
    /// A payload identified by an EtherType value.
    EtherType(u16),
    /// An 802.2 LLC header (maybe with SNAP).
    Llc,
    /// An IP header of either version (the first nibble decides).
    Ip,
    /// An IPv4 header.
    Ipv4,
    /// An IPv6 header.
    Ipv6,
    /// An MPLS label stack entry.
    Mpls,
    /// An MPLS pseudowire payload after the bottom of the stack that is not IP:
    /// an optional control word, then Ethernet.
    Pseudowire,
    /// A PPP header (optional `ff 03`, then the protocol field).
    Ppp,
    /// A PPPoE session header.
    PppoeSession,
    /// A Cisco HDLC header.
    Chdlc,
    /// PPP in HDLC-like framing, or Cisco HDLC (first byte decides).
    PppOrChdlc,
    /// An ERSPAN type II or III header (inside GRE).
    Erspan,
    /// BSD loopback family, host byte order of the capturing machine.
    Null,
    /// OpenBSD loopback family, network byte order.
    Loop,
    /// Linux cooked capture v1.
    Sll,
    /// Linux cooked capture v2.
    Sll2,
    /// Linux netfilter NFLOG.
    Nflog,
    /// IP over InfiniBand.
    Ipoib,
    /// Linux ARCNET.
    Arcnet,
    /// A radiotap header (802.11 follows).
    Radiotap,
    /// A PPI header.
    Ppi,
    /// An IEEE 802.11 frame; `padded`: its header is padded to 4 bytes.
    Wlan {
        /// Radiotap's "data padding" flag.
        padded: bool,
    },
    /// An 802.11 A-MSDU body (the decoder reads its first subframe).
    Amsdu,
}

/// The first thing in a frame of this link type, or `None` when unsupported.
pub(crate) fn first(link: LinkType) -> Option<Next> {
    Some(match link {
        LinkType::ETHERNET => Next::Ethernet,
        LinkType::NULL => Next::Null,
        LinkType::LOOP => Next::Loop,
        LinkType::PPP | LinkType::PPP_HDLC => Next::PppOrChdlc,
        LinkType::PPP_ETHER => Next::PppoeSession,
        LinkType::C_HDLC => Next::Chdlc,
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => Next::Ip,
        LinkType::IPV4 => Next::Ipv4,
        LinkType::IPV6 => Next::Ipv6,
        LinkType::LINUX_SLL => Next::Sll,
        LinkType::LINUX_SLL2 => Next::Sll2,
        LinkType::NFLOG => Next::Nflog,
        LinkType::IPOIB => Next::Ipoib,
        LinkType::ARCNET_LINUX => Next::Arcnet,
        LinkType::IEEE802_11 => Next::Wlan { padded: false },
        LinkType::IEEE802_11_RADIOTAP => Next::Radiotap,
        LinkType::PPI => Next::Ppi,
        _ => return None,
    })
}

/// The result of one link step: the layer read (if it is one worth recording),
/// what follows, and the bytes it starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step<'d> {
    pub layer: Option<Layer>,
    pub next: Next,
    pub data: &'d [u8],
}

fn step(layer: Option<Layer>, next: Next, data: &[u8]) -> Result<Step<'_>, Skip> {
    Ok(Step { layer, next, data })
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn le16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// `data[from..]`, or a truncation skip naming `layer`.
fn rest<'d>(data: &'d [u8], from: usize, layer: &'static str) -> Result<&'d [u8], Skip> {
    data.get(from..).ok_or(Skip::Truncated(layer))
}

/// EtherType values for IEEE 802.1Q C-tags, 802.1ad S-tags and the pre-standard
/// QinQ tags some switches still emit.
const VLAN_TYPES: [u16; 5] = [0x8100, 0x88a8, 0x9100, 0x9200, 0x9300];

/// Read one link-layer header of kind `next` at the start of `data`.
///
/// `next` must not be one of the IP kinds (the decoder handles those).
pub(crate) fn read(next: Next, data: &[u8]) -> Result<Step<'_>, Skip> {
    match next {
        Next::Ethernet => ethernet(data),
        Next::EtherType(t) => ether_type(t, data),
        Next::Llc => llc(data),
        Next::Mpls => mpls(data),
        Next::Pseudowire => pseudowire(data),
        Next::Ppp => ppp(data),
        Next::PppoeSession => pppoe(data),
        Next::Chdlc => chdlc(data),
        Next::PppOrChdlc => match data.first() {
            Some(0x0f | 0x8f) => chdlc(data),
            Some(_) => ppp(data),
            None => Err(Skip::Truncated("ppp")),
        },
        Next::Erspan => crate::tunnel::erspan(data),
        Next::Null => null(data, false),
        Next::Loop => null(data, true),
        Next::Sll => sll(data),
        Next::Sll2 => sll2(data),
        Next::Nflog => nflog(data),
        Next::Ipoib => ipoib(data),
        Next::Arcnet => arcnet(data),
        Next::Radiotap => crate::wlan::radiotap(data),
        Next::Ppi => crate::wlan::ppi(data),
        Next::Wlan { padded } => crate::wlan::frame(data, padded),
        Next::Amsdu => crate::wlan::amsdu(data).map(|(s, _)| s),
        // IP is the decoder's job; reaching here is a caller bug, reported as
        // malformed rather than a panic.
        Next::Ip | Next::Ipv4 | Next::Ipv6 => Err(Skip::Malformed("link")),
    }
}

/// Dispatch on an EtherType (no bytes consumed).
fn ether_type(t: u16, data: &[u8]) -> Result<Step<'_>, Skip> {
    let next = match t {
        0x0800 => Next::Ipv4,
        0x86dd => Next::Ipv6,
        0x8847 | 0x8848 => Next::Mpls,
        0x8864 => Next::PppoeSession,
        0x6558 => Next::Ethernet,
        0x88be | 0x22eb => Next::Erspan,
        0x880b => Next::Ppp,
        t if VLAN_TYPES.contains(&t) => return vlan(data),
        0x88e7 => return pbb(data),
        _ => return Err(Skip::NotIp),
    };
    step(None, next, data)
}

/// What follows a type-or-length field: EtherType, or 802.3 LLC.
fn type_or_len(t: u16) -> Result<Next, Skip> {
    if t >= 0x0600 {
        Ok(Next::EtherType(t))
    } else if t <= 1500 {
        Ok(Next::Llc)
    } else {
        Err(Skip::Malformed("eth"))
    }
}

/// Ethernet II, or IEEE 802.3 whose length field bounds the LLC payload.
fn ethernet(data: &[u8]) -> Result<Step<'_>, Skip> {
    let eth = Ethernet2HeaderSlice::from_slice(data).map_err(|_| Skip::Truncated("eth"))?;
    let t = eth.ether_type().0;
    let mut payload = rest(data, eth.slice().len(), "eth")?;
    let next = type_or_len(t)?;
    if next == Next::Llc {
        // 802.3: the length field says how much is LLC payload; the rest is padding.
        payload = payload.get(..usize::from(t)).unwrap_or(payload);
    }
    step(Some(Layer::Ethernet), next, payload)
}

/// One 802.1Q / 802.1ad tag.
fn vlan(data: &[u8]) -> Result<Step<'_>, Skip> {
    let tag = SingleVlanHeaderSlice::from_slice(data).map_err(|_| Skip::Truncated("vlan"))?;
    let next = type_or_len(tag.ether_type().0)?;
    let payload = rest(data, tag.slice().len(), "vlan")?;
    step(
        Some(Layer::Vlan(tag.vlan_identifier().value())),
        next,
        payload,
    )
}

/// 802.2 LLC, with SNAP (RFC 1042) or the IP SAP (0x06).
fn llc(data: &[u8]) -> Result<Step<'_>, Skip> {
    let hdr = data.get(..3).ok_or(Skip::Truncated("llc"))?;
    match (hdr[0], hdr[1], hdr[2]) {
        (0xaa, 0xaa, 0x03) => {
            let t = be16(data, 6).ok_or(Skip::Truncated("llc"))?;
            step(
                Some(Layer::LlcSnap),
                Next::EtherType(t),
                rest(data, 8, "llc")?,
            )
        }
        (0x06, 0x06, 0x03) => step(Some(Layer::LlcSnap), Next::Ipv4, rest(data, 3, "llc")?),
        _ => Err(Skip::NotIp),
    }
}

/// 802.1ah I-TAG: 4 bytes (flags, 24-bit I-SID), then the customer Ethernet header.
fn pbb(data: &[u8]) -> Result<Step<'_>, Skip> {
    let itag = be32(data, 0).ok_or(Skip::Truncated("pbb"))?;
    step(
        Some(Layer::Pbb(itag & 0x00ff_ffff)),
        Next::Ethernet,
        rest(data, 4, "pbb")?,
    )
}

/// One MPLS label stack entry (RFC 3032).
fn mpls(data: &[u8]) -> Result<Step<'_>, Skip> {
    let entry = be32(data, 0).ok_or(Skip::Truncated("mpls"))?;
    let label = entry >> 12;
    let bottom = entry & 0x100 != 0;
    let payload = rest(data, 4, "mpls")?;
    let next = if !bottom {
        Next::Mpls
    } else {
        match label {
            0 => Next::Ipv4,
            2 => Next::Ipv6,
            _ => match payload.first().map(|b| b >> 4) {
                Some(4) => Next::Ipv4,
                Some(6) => Next::Ipv6,
                Some(_) => Next::Pseudowire,
                None => return Err(Skip::Truncated("mpls")),
            },
        }
    };
    step(Some(Layer::Mpls(label)), next, payload)
}

/// After the bottom of an MPLS stack with a non-IP first nibble: a 4-byte control
/// word when the nibble is 0 (RFC 4385), then an Ethernet frame (RFC 4448).
fn pseudowire(data: &[u8]) -> Result<Step<'_>, Skip> {
    match data.first() {
        Some(b) if b >> 4 == 0 => step(None, Next::Ethernet, rest(data, 4, "mpls-pw")?),
        Some(_) => step(None, Next::Ethernet, data),
        None => Err(Skip::Truncated("mpls-pw")),
    }
}

/// PPPoE session header (RFC 2516); its length field bounds the PPP frame.
fn pppoe(data: &[u8]) -> Result<Step<'_>, Skip> {
    let hdr = data.get(..6).ok_or(Skip::Truncated("pppoe"))?;
    if hdr[0] != 0x11 || hdr[1] != 0x00 {
        return Err(Skip::Malformed("pppoe"));
    }
    let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let payload = rest(data, 6, "pppoe")?;
    let payload = payload.get(..len).unwrap_or(payload);
    step(Some(Layer::Pppoe), Next::Ppp, payload)
}

/// PPP: optional `ff 03` address/control (RFC 1662), then a 1- or 2-byte protocol
/// (RFC 1661 protocol field compression: an odd first byte is a 1-byte field).
fn ppp(data: &[u8]) -> Result<Step<'_>, Skip> {
    let mut at = 0usize;
    if data.get(..2) == Some(&[0xff, 0x03]) {
        at = 2;
    }
    let b0 = *data.get(at).ok_or(Skip::Truncated("ppp"))?;
    let (proto, len) = if b0 & 1 == 1 {
        (u16::from(b0), 1)
    } else {
        (be16(data, at).ok_or(Skip::Truncated("ppp"))?, 2)
    };
    let next = match proto {
        0x0021 => Next::Ipv4,
        0x0057 => Next::Ipv6,
        0x0281 | 0x0283 => Next::Mpls,
        _ => return Err(Skip::NotIp),
    };
    step(Some(Layer::Ppp), next, rest(data, at + len, "ppp")?)
}

/// Cisco HDLC: address, control, EtherType.
fn chdlc(data: &[u8]) -> Result<Step<'_>, Skip> {
    let t = be16(data, 2).ok_or(Skip::Truncated("chdlc"))?;
    step(
        Some(Layer::Chdlc),
        Next::EtherType(t),
        rest(data, 4, "chdlc")?,
    )
}

/// BSD address families that mean IPv4 / IPv6 (IPv6 differs per BSD: NetBSD and
/// OpenBSD 24, FreeBSD 28, Darwin 30).
fn family(af: u32) -> Option<Next> {
    match af {
        2 => Some(Next::Ipv4),
        24 | 28 | 30 => Some(Next::Ipv6),
        _ => None,
    }
}

/// DLT_NULL (host byte order of the machine that captured: both are accepted,
/// little-endian first) or DLT_LOOP (network byte order).
fn null(data: &[u8], network_order: bool) -> Result<Step<'_>, Skip> {
    let b = data.get(..4).ok_or(Skip::Truncated("null"))?;
    let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let next = if network_order {
        family(be)
    } else {
        family(le).or_else(|| family(be))
    };
    step(
        Some(Layer::Null),
        next.ok_or(Skip::NotIp)?,
        rest(data, 4, "null")?,
    )
}

/// What a Linux cooked-capture protocol field means, given the ARPHRD type.
fn sll_next(hatype: u16, proto: u16) -> Result<Next, Skip> {
    match (hatype, proto) {
        // Netlink messages carry no IP.
        (824, _) => Err(Skip::NotIp),
        // ETH_P_802_2: an LLC header follows.
        (_, 0x0004) => Ok(Next::Llc),
        (_, p) if p >= 0x0600 => Ok(Next::EtherType(p)),
        _ => Err(Skip::NotIp),
    }
}

/// Linux SLL: packet type, ARPHRD, address length, 8 address bytes, protocol.
/// The header is always 16 bytes; an address longer than 8 bytes is cut.
fn sll(data: &[u8]) -> Result<Step<'_>, Skip> {
    let hatype = be16(data, 2).ok_or(Skip::Truncated("sll"))?;
    let proto = be16(data, 14).ok_or(Skip::Truncated("sll"))?;
    step(
        Some(Layer::Sll),
        sll_next(hatype, proto)?,
        rest(data, 16, "sll")?,
    )
}

/// Linux SLL2: protocol, reserved, interface index, ARPHRD, packet type, address
/// length, 8 address bytes (20 bytes).
fn sll2(data: &[u8]) -> Result<Step<'_>, Skip> {
    let proto = be16(data, 0).ok_or(Skip::Truncated("sll2"))?;
    let hatype = be16(data, 8).ok_or(Skip::Truncated("sll2"))?;
    let payload = data.get(20..).ok_or(Skip::Truncated("sll2"))?;
    step(Some(Layer::Sll2), sll_next(hatype, proto)?, payload)
}

/// NFLOG TLV type of the packet payload.
const NFULA_PAYLOAD: u16 = 9;

/// Find the `NFULA_PAYLOAD` TLV, reading TLV lengths and types in one byte order.
fn nflog_payload(tlvs: &[u8], little_endian: bool) -> Result<&[u8], Skip> {
    let mut at = 0usize;
    while at < tlvs.len() {
        let (len, typ) = if little_endian {
            (le16(tlvs, at), le16(tlvs, at + 2))
        } else {
            (be16(tlvs, at), be16(tlvs, at + 2))
        };
        let (len, typ) = match (len, typ) {
            (Some(l), Some(t)) => (usize::from(l), t & 0x7fff),
            _ => return Err(Skip::Truncated("nflog")),
        };
        if len < 4 {
            return Err(Skip::Malformed("nflog"));
        }
        let end = at.checked_add(len).ok_or(Skip::Malformed("nflog"))?;
        if typ == NFULA_PAYLOAD {
            // A payload cut by snaplen is still what was captured.
            let value = tlvs.get(at + 4..).ok_or(Skip::Truncated("nflog"))?;
            return Ok(value.get(..len - 4).unwrap_or(value));
        }
        if end > tlvs.len() {
            return Err(Skip::Truncated("nflog"));
        }
        // TLVs are padded to 4 bytes; `end + 3` cannot overflow as end <= len.
        at = (end + 3) & !3;
    }
    Err(Skip::NotIp)
}

/// NFLOG: family, version, resource id, then TLVs in the capturing host's byte
/// order (little-endian tried first).
fn nflog(data: &[u8]) -> Result<Step<'_>, Skip> {
    let af = *data.first().ok_or(Skip::Truncated("nflog"))?;
    let tlvs = rest(data, 4, "nflog")?;
    let payload =
        nflog_payload(tlvs, true).or_else(|e| nflog_payload(tlvs, false).map_err(|_| e))?;
    let next = match af {
        2 => Next::Ipv4,
        10 => Next::Ipv6,
        _ => Next::Ip,
    };
    step(Some(Layer::Nflog), next, payload)
}

/// IP over InfiniBand. Linux captures (and tcpdump) use a 44-byte pseudo-header:
/// 20-byte destination and source hardware addresses, then the RFC 4391 header
/// (EtherType, 2 reserved bytes). A bare 4-byte RFC 4391 header is also accepted.
fn ipoib(data: &[u8]) -> Result<Step<'_>, Skip> {
    let known = |t: u16| matches!(t, 0x0800 | 0x86dd | 0x0806 | 0x8035);
    if let (Some(t), Some(0)) = (be16(data, 40), be16(data, 42)) {
        if known(t) {
            return step(
                Some(Layer::Ipoib),
                Next::EtherType(t),
                rest(data, 44, "ipoib")?,
            );
        }
    }
    let t = be16(data, 0).ok_or(Skip::Truncated("ipoib"))?;
    if be16(data, 2) == Some(0) && known(t) {
        return step(
            Some(Layer::Ipoib),
            Next::EtherType(t),
            rest(data, 4, "ipoib")?,
        );
    }
    if data.len() < 44 {
        return Err(Skip::Truncated("ipoib"));
    }
    Err(Skip::Malformed("ipoib"))
}

/// Linux ARCNET: source, destination, 2-byte offset, protocol; RFC 1201 types add
/// a split flag and a 2-byte sequence number (and 4 more bytes for an exception
/// packet, split flag 0xff). Split RFC 1201 packets are link-layer fragments,
/// which are not reassembled.
fn arcnet(data: &[u8]) -> Result<Step<'_>, Skip> {
    let typ = *data.get(4).ok_or(Skip::Truncated("arcnet"))?;
    let (next, hdr) = match typ {
        // RFC 1051 IP
        0xf0 => (Next::Ipv4, 5usize),
        // RFC 1051 ARP, diagnostics
        0xf1 | 0x80 => return Err(Skip::NotIp),
        // RFC 1201 IP, IPv6
        0xd4 | 0xc4 => {
            let flag = *data.get(5).ok_or(Skip::Truncated("arcnet"))?;
            let (flag, hdr) = if flag == 0xff {
                // Exception packet: the real flag follows 4 filler bytes.
                (*data.get(9).ok_or(Skip::Truncated("arcnet"))?, 12)
            } else {
                (flag, 8)
            };
            if flag != 0 {
                return Err(Skip::FragmentDropped);
            }
            (if typ == 0xd4 { Next::Ipv4 } else { Next::Ipv6 }, hdr)
        }
        _ => return Err(Skip::NotIp),
    };
    step(Some(Layer::Arcnet), next, rest(data, hdr, "arcnet")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(next: Next, data: &[u8]) -> Step<'_> {
        read(next, data).expect("step parses")
    }

    #[test]
    fn ethernet_ii_and_padding_free_8023() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45]);
        let s = ok(Next::Ethernet, &f);
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Ethernet), Next::EtherType(0x0800), &[0x45][..])
        );

        // 802.3 length 8 with SNAP, followed by 4 bytes of padding.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[
            0x00, 0x08, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, 0xee, 0xee, 0xee, 0xee,
        ]);
        let s = ok(Next::Ethernet, &f);
        assert_eq!(s.next, Next::Llc);
        assert_eq!(s.data.len(), 8);
        let s = ok(s.next, s.data);
        assert_eq!(
            (s.layer, s.next, s.data.len()),
            (Some(Layer::LlcSnap), Next::EtherType(0x0800), 0)
        );
    }

    #[test]
    fn non_ip_and_short_headers() {
        assert_eq!(read(Next::Ethernet, &[0; 13]), Err(Skip::Truncated("eth")));
        assert_eq!(read(Next::EtherType(0x0806), &[]), Err(Skip::NotIp));
        assert_eq!(read(Next::Llc, &[0x42, 0x42, 0x03]), Err(Skip::NotIp));
        assert_eq!(read(Next::Ip, &[0x45]), Err(Skip::Malformed("link")));
    }

    #[test]
    fn vlan_tags_stack() {
        let d = [0x20, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00];
        let s = ok(Next::EtherType(0x88a8), &d);
        assert_eq!(
            (s.layer, s.next),
            (Some(Layer::Vlan(100)), Next::EtherType(0x8100))
        );
        let s = ok(s.next, s.data);
        assert_eq!(
            (s.layer, s.next, s.data.len()),
            (Some(Layer::Vlan(200)), Next::EtherType(0x0800), 0)
        );
    }

    #[test]
    fn pbb_itag() {
        let d = [0x00, 0x01, 0x02, 0x03, 0xaa];
        let s = ok(Next::EtherType(0x88e7), &d);
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Pbb(0x010203)), Next::Ethernet, &[0xaa][..])
        );
    }

    #[test]
    fn mpls_stack_and_guesses() {
        // label 16, not bottom; then label 17 bottom, then IPv6 nibble.
        let d = [0x00, 0x01, 0x00, 0x40, 0x00, 0x01, 0x11, 0x40, 0x60];
        let s = ok(Next::Mpls, &d);
        assert_eq!((s.layer, s.next), (Some(Layer::Mpls(16)), Next::Mpls));
        let s = ok(s.next, s.data);
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Mpls(17)), Next::Ipv6, &[0x60][..])
        );
        // explicit null IPv4 label whatever the nibble
        let s = ok(Next::Mpls, &[0x00, 0x00, 0x01, 0x40, 0x60]);
        assert_eq!(s.next, Next::Ipv4);
        // pseudowire with a control word
        let s = ok(
            Next::Mpls,
            &[0x00, 0x01, 0x01, 0x40, 0x00, 0x00, 0x00, 0x00, 0xab],
        );
        assert_eq!(s.next, Next::Pseudowire);
        let s = ok(s.next, s.data);
        assert_eq!((s.next, s.data), (Next::Ethernet, &[0xab][..]));
        // pseudowire without control word
        assert_eq!(ok(Next::Pseudowire, &[0xab]).data, &[0xab]);
        assert_eq!(
            read(Next::Mpls, &[0x00, 0x01, 0x01, 0x40]),
            Err(Skip::Truncated("mpls"))
        );
    }

    #[test]
    fn pppoe_and_ppp() {
        let d = [0x11, 0x00, 0x12, 0x34, 0x00, 0x03, 0x00, 0x21, 0x45, 0xee];
        let s = ok(Next::EtherType(0x8864), &d);
        assert_eq!(
            (s.layer, s.next, s.data.len()),
            (None, Next::PppoeSession, 10)
        );
        let s = ok(s.next, s.data);
        assert_eq!(
            (s.layer, s.data),
            (Some(Layer::Pppoe), &[0x00, 0x21, 0x45][..])
        );
        let s = ok(s.next, s.data);
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Ppp), Next::Ipv4, &[0x45][..])
        );
        // ff03 framing, IPv6
        let s = ok(Next::PppOrChdlc, &[0xff, 0x03, 0x00, 0x57, 0x60]);
        assert_eq!((s.next, s.data), (Next::Ipv6, &[0x60][..]));
        // protocol field compression
        assert_eq!(ok(Next::Ppp, &[0x21, 0x45]).next, Next::Ipv4);
        // LCP
        assert_eq!(read(Next::Ppp, &[0xff, 0x03, 0xc0, 0x21]), Err(Skip::NotIp));
        assert_eq!(
            read(Next::PppoeSession, &[0x11, 0x09, 0, 0, 0, 0]),
            Err(Skip::Malformed("pppoe"))
        );
    }

    #[test]
    fn cisco_hdlc() {
        let s = ok(Next::PppOrChdlc, &[0x0f, 0x00, 0x08, 0x00, 0x45]);
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Chdlc), Next::EtherType(0x0800), &[0x45][..])
        );
        assert_eq!(
            ok(Next::Chdlc, &[0x8f, 0x00, 0x86, 0xdd]).next,
            Next::EtherType(0x86dd)
        );
    }

    #[test]
    fn null_both_orders_and_loop() {
        assert_eq!(ok(Next::Null, &[2, 0, 0, 0, 0x45]).next, Next::Ipv4);
        assert_eq!(ok(Next::Null, &[0, 0, 0, 2, 0x45]).next, Next::Ipv4);
        for af in [24u32, 28, 30] {
            assert_eq!(ok(Next::Null, &af.to_le_bytes()).next, Next::Ipv6);
            assert_eq!(ok(Next::Null, &af.to_be_bytes()).next, Next::Ipv6);
            assert_eq!(ok(Next::Loop, &af.to_be_bytes()).next, Next::Ipv6);
        }
        assert_eq!(read(Next::Loop, &[2, 0, 0, 0]), Err(Skip::NotIp));
        assert_eq!(read(Next::Null, &[7, 0, 0, 0]), Err(Skip::NotIp));
        assert_eq!(read(Next::Null, &[2, 0, 0]), Err(Skip::Truncated("null")));
    }

    #[test]
    fn sll_fixed_header_even_with_long_address() {
        // address length 20 (> 8) must not change the 16-byte header
        let mut d = vec![0x00, 0x04, 0x03, 0x04, 0x00, 0x14];
        d.extend_from_slice(&[0xaa; 8]);
        d.extend_from_slice(&[0x86, 0xdd, 0x60]);
        let s = ok(Next::Sll, &d);
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Sll), Next::EtherType(0x86dd), &[0x60][..])
        );
        // netlink
        d[2..4].copy_from_slice(&824u16.to_be_bytes());
        assert_eq!(read(Next::Sll, &d), Err(Skip::NotIp));
        // LLC
        d[2..4].copy_from_slice(&1u16.to_be_bytes());
        d[14..16].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(ok(Next::Sll, &d).next, Next::Llc);
    }

    #[test]
    fn sll2_header() {
        let mut d = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0x00, 0x01, 0x04, 0x06];
        d.extend_from_slice(&[0xaa; 8]);
        d.push(0x45);
        let s = ok(Next::Sll2, &d);
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Sll2), Next::EtherType(0x0800), &[0x45][..])
        );
        assert_eq!(read(Next::Sll2, &d[..19]), Err(Skip::Truncated("sll2")));
    }

    fn nflog_frame(le: bool) -> Vec<u8> {
        let enc = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut d = vec![2, 0, 0, 42];
        // prefix TLV with 1 byte of value, padded to 8
        d.extend_from_slice(&enc(5));
        d.extend_from_slice(&enc(10));
        d.extend_from_slice(&[b'x', 0, 0, 0]);
        // payload TLV
        d.extend_from_slice(&enc(4 + 3));
        d.extend_from_slice(&enc(NFULA_PAYLOAD));
        d.extend_from_slice(&[0x45, 1, 2, 0]);
        d
    }

    #[test]
    fn nflog_payload_tlv_in_either_order() {
        for le in [true, false] {
            let d = nflog_frame(le);
            let s = ok(Next::Nflog, &d);
            assert_eq!(
                (s.layer, s.next, s.data),
                (Some(Layer::Nflog), Next::Ipv4, &[0x45, 1, 2][..])
            );
        }
        // no payload TLV
        assert_eq!(
            read(Next::Nflog, &[2, 0, 0, 0, 8, 0, 1, 0, 0, 0, 0, 0]),
            Err(Skip::NotIp)
        );
        // zero-length TLV must not loop forever
        assert!(read(Next::Nflog, &[2, 0, 0, 0, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn ipoib_both_header_forms() {
        let mut d = vec![0u8; 40];
        d.extend_from_slice(&[0x08, 0x00, 0, 0, 0x45]);
        let s = ok(Next::Ipoib, &d);
        assert_eq!((s.next, s.data), (Next::EtherType(0x0800), &[0x45][..]));
        let s = ok(Next::Ipoib, &[0x86, 0xdd, 0, 0, 0x60]);
        assert_eq!((s.next, s.data), (Next::EtherType(0x86dd), &[0x60][..]));
        assert_eq!(read(Next::Ipoib, &[1, 2, 3]), Err(Skip::Truncated("ipoib")));
    }

    #[test]
    fn arcnet_headers() {
        let s = ok(Next::Arcnet, &[0xbe, 0x50, 0xab, 0x08, 0xf0, 0x45]);
        assert_eq!(
            (s.layer, s.next, s.data),
            (Some(Layer::Arcnet), Next::Ipv4, &[0x45][..])
        );
        let s = ok(Next::Arcnet, &[1, 2, 0, 0, 0xd4, 0, 0, 1, 0x45]);
        assert_eq!((s.next, s.data), (Next::Ipv4, &[0x45][..]));
        assert_eq!(
            read(Next::Arcnet, &[1, 2, 0, 0, 0xd4, 3, 0, 1, 0x45]),
            Err(Skip::FragmentDropped)
        );
        assert_eq!(read(Next::Arcnet, &[1, 2, 0, 0, 0xf1, 0]), Err(Skip::NotIp));
    }
}

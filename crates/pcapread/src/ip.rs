//! IPv4 and IPv6 headers: addresses, the protocol of the payload, the payload
//! bytes the IP length fields announce, and fragment information.
//!
//! Built on etherparse's lax slicing, so a packet cut short by the capture's
//! snaplen still yields its headers. What is added here:
//!
//! - the IP length governs: bytes after the announced end (Ethernet padding) are
//!   not payload, and bytes announced but not captured are counted (`missing`);
//! - IPv6 jumbograms (RFC 2675): payload length 0 and a Jumbo Payload option in
//!   the hop-by-hop header give the real length;
//! - the final destination of a packet with a routing header (type 0, RFC 2460;
//!   type 2, RFC 6275; segment routing, RFC 8754) is the flow's destination, as
//!   in the TCP/UDP pseudo-header (RFC 8200 section 8.1);
//! - fragments: the payload after the IPv4 header or after the IPv6 fragment
//!   header, bounded by the IP length, is what reassembly gets. For a fragment
//!   etherparse may have read later bytes as extension headers; those are ignored.

use std::net::IpAddr;

use etherparse::err::ip::LaxHeaderSliceError;
use etherparse::err::ipv6_exts::HeaderSliceError;
use etherparse::{
    ip_number, IpAuthHeaderSlice, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6FragmentHeaderSlice,
    Ipv6RawExtHeaderSlice, LaxIpSlice,
};

use crate::error::Skip;

/// A fragment of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragInfo<'d> {
    /// Identification.
    pub id: u32,
    /// Byte offset of `payload` in the datagram.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// Protocol of the reassembled payload.
    pub proto: u8,
    /// The fragment's captured bytes.
    pub payload: &'d [u8],
    /// The capture cut the fragment short.
    pub truncated: bool,
}

/// A parsed IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpInfo<'d> {
    /// 4 or 6.
    pub version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Final destination address.
    pub dst: IpAddr,
    /// Protocol of the payload (after IPv6 extension headers).
    pub proto: u8,
    /// The captured payload, at most what the IP length announces.
    pub payload: &'d [u8],
    /// Payload bytes announced but not captured.
    pub missing: u32,
    /// Set when the packet is a fragment of a larger datagram.
    pub frag: Option<FragInfo<'d>>,
}

/// Where `sub` starts within `base`, when it lies inside it.
pub(crate) fn offset_within(base: &[u8], sub: &[u8]) -> Option<usize> {
    if sub.is_empty() {
        return Some(base.len());
    }
    let off = (sub.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    (off.checked_add(sub.len())? <= base.len()).then_some(off)
}

/// The bytes announced as ending at `announced_end` (absolute offset in `data`)
/// against those captured: (payload bounded by the announcement, missing count).
fn bound<'d>(data: &'d [u8], payload: &'d [u8], announced_end: Option<usize>) -> (&'d [u8], u32) {
    let Some(start) = offset_within(data, payload) else {
        return (payload, 0);
    };
    let captured_end = start + payload.len();
    match announced_end {
        Some(end) if end >= start => {
            let keep = end.min(captured_end) - start;
            let missing = end.saturating_sub(captured_end);
            (&payload[..keep], u32::try_from(missing).unwrap_or(u32::MAX))
        }
        _ => (payload, 0),
    }
}

/// The Jumbo Payload length (RFC 2675) in a hop-by-hop header, if present.
fn jumbo_len(hbh: &[u8]) -> Option<u32> {
    let mut at = 2usize;
    while let Some(&typ) = hbh.get(at) {
        if typ == 0 {
            // Pad1
            at += 1;
            continue;
        }
        let len = usize::from(*hbh.get(at + 1)?);
        if typ == 0xc2 && len == 4 {
            let v = hbh.get(at + 2..at + 6)?;
            return Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
        }
        at += 2 + len;
    }
    None
}

/// The final destination named by a routing header with segments left.
fn routing_final_dst(rh: &[u8]) -> Option<IpAddr> {
    let hdr_ext_len = usize::from(*rh.get(1)?);
    let typ = *rh.get(2)?;
    let segments_left = *rh.get(3)?;
    if segments_left == 0 {
        return None;
    }
    let n = hdr_ext_len / 2;
    let addr_at = |i: usize| -> Option<IpAddr> {
        let a = rh.get(8 + 16 * i..8 + 16 * (i + 1))?;
        let bytes: [u8; 16] = a.try_into().ok()?;
        Some(IpAddr::from(bytes))
    };
    match typ {
        // Type 0: the last address; type 2: its single home address.
        0 | 2 if n > 0 => addr_at(n - 1),
        // Segment routing: Segment List[0] is the final segment.
        4 if n > 0 => addr_at(0),
        _ => None,
    }
}

/// Parse an IP header. `want` is the version the enclosing layer announced, if any.
pub(crate) fn parse(data: &[u8], want: Option<u8>) -> Result<IpInfo<'_>, Skip> {
    let name = match want {
        Some(4) => "ipv4",
        Some(6) => "ipv6",
        _ => "ip",
    };
    let (ip, ext_err) = LaxIpSlice::from_slice(data).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) => Skip::Truncated(name),
        LaxHeaderSliceError::Content(_) => Skip::Malformed(name),
    })?;
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            if want == Some(6) {
                return Err(Skip::Malformed("ipv6"));
            }
            let h = v4.header();
            let hdr_len = usize::from(h.ihl()) * 4;
            let total = usize::from(h.total_len());
            let src = IpAddr::from(h.source());
            let dst = IpAddr::from(h.destination());
            // A total length shorter than the header (0 in TSO captures) says
            // nothing: the captured bytes are the packet.
            let announced_end = (total >= hdr_len).then_some(total);
            if h.is_fragmenting_payload() {
                let end = announced_end.ok_or(Skip::Malformed("ipv4"))?;
                let payload = data
                    .get(hdr_len..end.min(data.len()))
                    .ok_or(Skip::Malformed("ipv4"))?;
                let proto = h.protocol().0;
                let frag = FragInfo {
                    id: u32::from(h.identification()),
                    offset: u32::from(h.fragments_offset().byte_offset()),
                    more: h.more_fragments(),
                    proto,
                    payload,
                    truncated: end > data.len(),
                };
                return Ok(IpInfo {
                    version: 4,
                    src,
                    dst,
                    proto,
                    payload,
                    missing: 0,
                    frag: Some(frag),
                });
            }
            if let Some((e, _)) = ext_err {
                return Err(match e {
                    HeaderSliceError::Len(_) => Skip::Truncated("ipv4-auth"),
                    HeaderSliceError::Content(_) => Skip::Malformed("ipv4-auth"),
                });
            }
            let p = v4.payload();
            let (payload, missing) = bound(data, p.payload, announced_end);
            Ok(IpInfo {
                version: 4,
                src,
                dst,
                proto: p.ip_number.0,
                payload,
                missing,
                frag: None,
            })
        }
        LaxIpSlice::Ipv6(v6) => {
            if want == Some(4) {
                return Err(Skip::Malformed("ipv4"));
            }
            let h = v6.header();
            let src = IpAddr::from(h.source());
            let mut dst = IpAddr::from(h.destination());
            let mut jumbo = None;
            let mut frag = None;
            for ext in ext_headers(v6.extensions()) {
                match ext {
                    Ipv6ExtensionSlice::HopByHop(hbh) => jumbo = jumbo_len(hbh.slice()),
                    Ipv6ExtensionSlice::Routing(rh) if frag.is_none() => {
                        if let Some(d) = routing_final_dst(rh.slice()) {
                            dst = d;
                        }
                    }
                    Ipv6ExtensionSlice::Fragment(fh) if frag.is_none() => frag = Some(fh),
                    _ => {}
                }
            }
            let payload_len = usize::from(h.payload_length());
            let announced_end = match (payload_len, jumbo) {
                (0, Some(j)) => usize::try_from(j).ok().and_then(|j| j.checked_add(40)),
                (0, None) => None,
                (n, _) => Some(40 + n),
            };
            if let Some(fh) = frag.filter(|f| f.is_fragmenting_payload()) {
                let start =
                    offset_within(data, fh.slice()).ok_or(Skip::Malformed("ipv6-frag"))? + 8;
                let end = announced_end.unwrap_or(data.len());
                let payload = data
                    .get(start..end.min(data.len()))
                    .ok_or(Skip::Malformed("ipv6-frag"))?;
                let proto = fh.next_header().0;
                let frag = FragInfo {
                    id: fh.identification(),
                    offset: u32::from(fh.fragment_offset().byte_offset()),
                    more: fh.more_fragments(),
                    proto,
                    payload,
                    truncated: end > data.len(),
                };
                return Ok(IpInfo {
                    version: 6,
                    src,
                    dst,
                    proto,
                    payload,
                    missing: 0,
                    frag: Some(frag),
                });
            }
            if let Some((e, _)) = ext_err {
                return Err(match e {
                    HeaderSliceError::Len(_) => Skip::Truncated("ipv6-ext"),
                    HeaderSliceError::Content(_) => Skip::Malformed("ipv6-ext"),
                });
            }
            let p = v6.payload();
            let (payload, missing) = bound(data, p.payload, announced_end);
            Ok(IpInfo {
                version: 6,
                src,
                dst,
                proto: p.ip_number.0,
                payload,
                missing,
                frag: None,
            })
        }
    }
}

/// The IPv6 extension headers of `exts`, walked with etherparse's checked
/// slice constructors.
///
/// etherparse 0.21's own iterator (`IntoIterator for Ipv6ExtensionsSlice`)
/// reads each header with unchecked constructors, trusting the slice to end
/// where the next header is no extension. A lax parse that stopped at an error
/// (a hop-by-hop header that is not first, a header cut short) ends the slice
/// after the last good header, whose next header is still an extension; the
/// iterator then reads past the slice (found by the decode fuzz check, where
/// debug builds catch it as a violated `get_unchecked` precondition).
fn ext_headers<'a>(exts: &Ipv6ExtensionsSlice<'a>) -> impl Iterator<Item = Ipv6ExtensionSlice<'a>> {
    let mut next = exts.first_header();
    let mut rest = exts.slice();
    std::iter::from_fn(move || {
        let (item, len, after) = match next? {
            ip_number::IPV6_HOP_BY_HOP | ip_number::IPV6_ROUTE | ip_number::IPV6_DEST_OPTIONS => {
                let s = Ipv6RawExtHeaderSlice::from_slice(rest).ok()?;
                let item = match next? {
                    ip_number::IPV6_HOP_BY_HOP => Ipv6ExtensionSlice::HopByHop(s.clone()),
                    ip_number::IPV6_ROUTE => Ipv6ExtensionSlice::Routing(s.clone()),
                    _ => Ipv6ExtensionSlice::DestinationOptions(s.clone()),
                };
                (item, s.slice().len(), s.next_header())
            }
            ip_number::IPV6_FRAG => {
                let s = Ipv6FragmentHeaderSlice::from_slice(rest).ok()?;
                let (len, after) = (s.slice().len(), s.next_header());
                (Ipv6ExtensionSlice::Fragment(s), len, after)
            }
            ip_number::AUTH => {
                let s = IpAuthHeaderSlice::from_slice(rest).ok()?;
                let (len, after) = (s.slice().len(), s.next_header());
                (Ipv6ExtensionSlice::Authentication(s), len, after)
            }
            _ => return None,
        };
        if len == 0 {
            return None;
        }
        rest = rest.get(len..)?;
        next = Some(after);
        Some(item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv4Header, Ipv6Header};

    fn v4(total_len: u16, proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut h =
            Ipv4Header::new(0, 64, IpNumber(proto), [10, 0, 0, 1], [10, 0, 0, 2]).expect("hdr");
        h.total_len = total_len;
        let mut d = h.to_bytes().to_vec();
        d.extend_from_slice(payload);
        d
    }

    #[test]
    fn ipv4_length_governs_padding_and_truncation() {
        let d = v4(24, 6, &[1, 2, 3, 4, 0, 0, 0]);
        let i = parse(&d, Some(4)).expect("v4");
        assert_eq!((i.payload, i.missing, i.proto), (&[1, 2, 3, 4][..], 0, 6));
        let d = v4(1500, 6, &[1, 2, 3, 4]);
        let i = parse(&d, None).expect("v4");
        assert_eq!((i.payload.len(), i.missing), (4, 1476));
        // total length 0 (segmentation offload): the captured bytes count
        let d = v4(0, 6, &[1, 2, 3]);
        assert_eq!(parse(&d, None).expect("v4").payload, &[1, 2, 3]);
        assert_eq!(parse(&d, Some(6)), Err(Skip::Malformed("ipv6")));
        assert_eq!(parse(&d[..10], Some(4)), Err(Skip::Truncated("ipv4")));
        assert_eq!(parse(&[0x75], None), Err(Skip::Malformed("ip")));
    }

    #[test]
    fn ipv4_fragment_fields() {
        let mut h = Ipv4Header::new(16, 64, IpNumber(17), [1, 1, 1, 1], [2, 2, 2, 2]).expect("hdr");
        h.identification = 0x1234;
        h.more_fragments = true;
        h.fragment_offset = 3u16.try_into().expect("offset");
        let mut d = h.to_bytes().to_vec();
        d.extend_from_slice(&[9; 16]);
        d.extend_from_slice(&[0; 6]); // padding
        let f = parse(&d, None).expect("v4").frag.expect("fragment");
        assert_eq!(
            (
                f.id,
                f.offset,
                f.more,
                f.proto,
                f.payload.len(),
                f.truncated
            ),
            (0x1234, 24, true, 17, 16, false)
        );
    }

    fn v6(next: u8, payload_len: u16, rest: &[u8]) -> Vec<u8> {
        let h = Ipv6Header {
            payload_length: payload_len,
            next_header: IpNumber(next),
            hop_limit: 64,
            source: [0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            destination: [0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            ..Default::default()
        };
        let mut d = h.to_bytes().to_vec();
        d.extend_from_slice(rest);
        d
    }

    #[test]
    fn ipv6_jumbogram() {
        // HBH: next TCP, len 0 (8 bytes): jumbo option c2 04 + 4 bytes length
        let mut rest = vec![6, 0, 0xc2, 4];
        rest.extend_from_slice(&100_000u32.to_be_bytes());
        rest.extend_from_slice(&[7; 50]);
        let d = v6(0, 0, &rest);
        let i = parse(&d, Some(6)).expect("v6");
        assert_eq!(
            (i.proto, i.payload.len(), i.missing),
            (6, 50, 100_000 - 8 - 50)
        );
    }

    #[test]
    fn ipv6_routing_type0_final_destination() {
        let mut rh = vec![6, 4, 0, 1, 0, 0, 0, 0];
        rh.extend_from_slice(&[0xfe; 16]);
        rh.extend_from_slice(&[0xfd; 16]);
        rh.extend_from_slice(&[1, 2]);
        let d = v6(43, 42, &rh);
        let i = parse(&d, None).expect("v6");
        assert_eq!(i.dst, IpAddr::from([0xfd; 16]));
        assert_eq!((i.proto, i.payload), (6, &[1, 2][..]));
    }

    #[test]
    fn ipv6_fragment_payload_starts_after_fragment_header() {
        // fragment header: next UDP, offset 2 (16 bytes), M=1, id 7; payload is
        // bytes that look like a destination options header but are not one.
        let mut rest = vec![17, 0, 0x00, 0x11, 0, 0, 0, 7];
        rest.extend_from_slice(&[60, 255, 1, 2, 3, 4, 5, 6]);
        let d = v6(44, 16, &rest);
        let f = parse(&d, None).expect("v6").frag.expect("fragment");
        assert_eq!(
            (f.id, f.offset, f.more, f.proto, f.payload.len()),
            (7, 16, true, 17, 8)
        );
        // atomic fragment (offset 0, M=0) is not a fragment
        let mut rest = vec![17, 0, 0, 0, 0, 0, 0, 7];
        rest.extend_from_slice(&[0; 8]);
        let d = v6(44, 16, &rest);
        let i = parse(&d, None).expect("v6");
        assert_eq!((i.frag, i.proto, i.payload.len()), (None, 17, 8));
    }

    #[test]
    fn ipv6_truncated_extension_header() {
        let d = v6(0, 16, &[6, 1, 0, 0]);
        assert_eq!(parse(&d, None), Err(Skip::Truncated("ipv6-ext")));
    }

    #[test]
    fn offsets() {
        let d = [1u8, 2, 3, 4];
        assert_eq!(offset_within(&d, &d[1..3]), Some(1));
        assert_eq!(offset_within(&d[1..], &d[..2]), None);
        assert_eq!(offset_within(&d, &[]), Some(4));
    }

    /// Regression (decode fuzz check): a destination-options header followed by
    /// a hop-by-hop header (only allowed first) makes etherparse's lax parse stop
    /// after the first header while its next header is still an extension; its
    /// own iterator then read past the slice. The walk stops there instead.
    #[test]
    fn extension_walk_stops_where_the_lax_parse_stopped() {
        let mut h = Ipv6Header {
            next_header: IpNumber::IPV6_DESTINATION_OPTIONS,
            payload_length: 16,
            hop_limit: 64,
            source: [1; 16],
            destination: [2; 16],
            ..Default::default()
        }
        .to_bytes()
        .to_vec();
        // Destination options (next: hop-by-hop, 8 bytes), then 8 bytes of anything.
        h.extend_from_slice(&[0, 0, 1, 4, 0, 0, 0, 0]);
        h.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&h, Some(6)), Err(Skip::Malformed("ipv6-ext")));
        // Cut short inside the second header: still no read past the end.
        assert!(parse(&h[..50], None).is_err());
    }
}

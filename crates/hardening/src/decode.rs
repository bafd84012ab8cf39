//! Fuzz check of the packet decoder, for every link type it knows.
//!
//! Input layout: byte 0 picks the link type ([`LINK_TYPES`], or an unknown one),
//! byte 1 the time step between frames (so fragment timeouts happen); the rest
//! is a sequence of frames, each a little-endian `u16` length and that many
//! bytes (the last frame takes whatever is left). Frames go through one
//! [`Decoder`] with small defragmentation limits, so a sequence of fragments
//! can complete, conflict, be evicted or time out.
//!
//! Promises checked: no panic; a segment's payload lies inside its frame
//! (unless rebuilt from fragments), its five-tuple's protocol matches its
//! transport, its encapsulation path names an IP layer; the counters add up;
//! the defragmenter stays within its limits.

use pcapread::{Decoder, DecoderConfig, DefragConfig, Frame, Layer, LinkType, Proto, Transport};

/// The link types the decoder knows (byte 0 of the input indexes this list;
/// past its end, the link type is an unknown one).
pub const LINK_TYPES: &[LinkType] = &[
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::PPP,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::PPP_HDLC,
    LinkType::PPP_ETHER,
    LinkType::RAW,
    LinkType::C_HDLC,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::ARCNET_LINUX,
    LinkType::IPOIB,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::NFLOG,
    LinkType::LINUX_SLL2,
    LinkType::IEEE802_11,
    LinkType::IEEE802_11_RADIOTAP,
    LinkType::PPI,
];

/// The decoder settings of the check: small defragmentation limits.
pub fn config() -> DecoderConfig {
    DecoderConfig {
        defrag: DefragConfig {
            max_datagrams: 4,
            max_bytes: 16 * 1024,
            timeout_ns: 2_000_000_000,
        },
        max_tunnel_depth: 8,
        ..DecoderConfig::default()
    }
}

/// Byte 0 of a decode input for `link` (its index in [`LINK_TYPES`]).
pub fn selector(link: LinkType) -> Option<u8> {
    LINK_TYPES
        .iter()
        .position(|&l| l == link)
        .and_then(|i| u8::try_from(i).ok())
}

/// Build a decode input from frames of one link type (for seeds).
pub fn encode(link: LinkType, step: u8, frames: &[&[u8]]) -> Option<Vec<u8>> {
    let mut out = vec![selector(link)?, step];
    for f in frames {
        let len = u16::try_from(f.len()).ok()?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    Some(out)
}

/// The decoder fuzz target's check: see the module documentation.
pub fn check_decode(data: &[u8]) {
    let (Some(&sel), Some(&step)) = (data.first(), data.get(1)) else {
        return;
    };
    let link = LINK_TYPES
        .get(usize::from(sel))
        .copied()
        .unwrap_or(LinkType(u32::from(sel) << 8));
    let cfg = config();
    let mut dec = Decoder::new(cfg);
    let mut rest = data.get(2..).unwrap_or(&[]);
    let mut n = 0u64;
    let mut ts = 1_000_000_000u64;
    while !rest.is_empty() {
        let (frame_bytes, after) = match rest {
            [a, b, tail @ ..] => {
                let len = usize::from(u16::from_le_bytes([*a, *b])).min(tail.len());
                tail.split_at(len)
            }
            _ => (rest, &[][..]),
        };
        rest = after;
        n += 1;
        ts += u64::from(step) * 50_000_000;
        let caplen = u32::try_from(frame_bytes.len()).unwrap_or(u32::MAX);
        let frame = Frame {
            number: n,
            input: 0,
            file_offset: n * 16,
            ts,
            caplen,
            origlen: caplen,
            link_type: link,
            data: frame_bytes,
        };
        if let Ok(seg) = dec.decode(&frame) {
            if !seg.defragmented {
                let f = frame_bytes.as_ptr_range();
                let p = seg.payload.as_ptr_range();
                assert!(
                    seg.payload.is_empty() || (f.start <= p.start && p.end <= f.end),
                    "payload outside its frame"
                );
            }
            assert!(seg.payload.len() <= 65535 || !seg.defragmented);
            assert_eq!(seg.frame, n);
            match seg.transport {
                Transport::Tcp(_) => assert_eq!(seg.tuple.proto, Proto::Tcp),
                Transport::Udp => assert_eq!(seg.tuple.proto, Proto::Udp),
            }
            assert!(
                seg.encap.overflowed()
                    || seg
                        .encap
                        .layers()
                        .iter()
                        .any(|l| matches!(l, Layer::Ipv4 | Layer::Ipv6)),
                "a segment without an IP layer: {}",
                seg.encap
            );
        }
        let d = dec.defragmenter();
        assert!(d.pending_datagrams() <= cfg.defrag.max_datagrams.max(1));
        assert!(d.pending_bytes() <= cfg.defrag.max_bytes);
    }
    let s = dec.stats();
    assert_eq!(s.frames, n);
    let skipped: u64 = s.skipped.values().sum();
    assert_eq!(
        s.tcp_segments + s.udp_datagrams + skipped,
        n,
        "counters: {s:?}"
    );
    assert!(s.defragmented <= s.tcp_segments + s.udp_datagrams);
    assert_eq!(s.link_types.values().sum::<u64>(), n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcapread::Skip;

    /// Every link type the decoder supports is in [`LINK_TYPES`], so the
    /// fuzz target reaches it (a new one added to the decoder fails this).
    #[test]
    fn link_types_cover_every_supported_link_type() {
        let mut dec = Decoder::new(DecoderConfig::default());
        for n in 0..=1024u32 {
            let frame = Frame {
                number: 1,
                input: 0,
                file_offset: 0,
                ts: 0,
                caplen: 0,
                origlen: 0,
                link_type: LinkType(n),
                data: &[],
            };
            let supported = !matches!(dec.decode(&frame), Err(Skip::UnsupportedLinkType(_)));
            assert_eq!(
                supported,
                LINK_TYPES.contains(&LinkType(n)),
                "link type {n}: supported by the decoder {supported}"
            );
        }
    }
}

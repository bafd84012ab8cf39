//! The packet decoder: a [`Frame`] in, the innermost TCP segment or UDP datagram
//! out as a [`Segment`], or the [`Skip`] reason why there is none.
//!
//! The walk goes link layer (module `link`) -> IP (module `ip`, with
//! fragments through the [`Defragmenter`]) -> TCP/UDP (module `transport`);
//! a tunnel (module `tunnel`: GRE, IP-in-IP, VXLAN, Geneve, Teredo, GTP-U,
//! GRE in UDP, AYIYA, CAPWAP; module `wlan` for the 802.11 they may carry) starts
//! the walk again on its inner packet. Every layer on the way is recorded in the
//! segment's [`EncapPath`], outermost first, IP headers included.
//!
//! Bounds: at most [`DecoderConfig::max_tunnel_depth`] tunnels and
//! [`MAX_LAYERS`] link-layer headers per frame ([`Skip::TooDeep`] beyond), so
//! the walk always ends.
//!
//! A UDP datagram on a tunnel port (VXLAN, Geneve, Teredo, GTP-U, GRE in UDP,
//! AYIYA, CAPWAP) is decoded as the packet it carries only when that inner
//! packet parses; if the tunnel header or an inner header is malformed or cut
//! short, the datagram is an ordinary UDP datagram (ports are a hint, not a
//! promise), counted in [`DecodeStats::udp_tunnel_fallbacks`]. A message of
//! the tunnel protocol that carries no packet (a GTP-U echo, an AYIYA
//! heartbeat, a DTLS-protected or fragmented CAPWAP packet) is an ordinary
//! UDP datagram too, not counted as a fallback.
//!
//! 802.11 (plain, radiotap, PPI; or inside Aruba GRE and CAPWAP): data frames
//! are decoded through their LLC/SNAP header; management, control and
//! null-data frames are [`Skip::NotData`], protected (encrypted) frames
//! [`Skip::Protected`], MSDU fragments [`Skip::Unsupported`]. Of an A-MSDU, the
//! first subframe is decoded and the others are counted in
//! [`DecodeStats::amsdu_subframes_skipped`].
//!
//! The payload of a segment borrows the frame, or, for a datagram rebuilt from
//! fragments, the decoder's output buffer, valid until the next call.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, Ipv6ExtensionsSlice};

use crate::defrag::{DefragConfig, DefragStats, Defragmenter, FragKey, Fragment, Outcome};
use crate::encap::{EncapPath, Layer};
use crate::error::Skip;
use crate::flow::{FiveTuple, Proto};
use crate::frame::Frame;
use crate::ip::{self, offset_within};
use crate::link::{self, Next};
use crate::link_addr::{self, LinkAddrs};
use crate::linktype::LinkType;
use crate::segment::{Segment, Transport};
use crate::transport;
use crate::tunnel;
use crate::wlan;

/// Most link-layer headers (Ethernet, VLAN tags, MPLS labels, ...) read in one frame.
pub const MAX_LAYERS: u16 = 64;

/// Settings of a [`Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// IP defragmentation limits.
    pub defrag: DefragConfig,
    /// Most tunnels (GRE, IP-in-IP, VXLAN, Geneve, Teredo) followed inside one frame.
    pub max_tunnel_depth: u8,
    /// Return [`Skip::FragmentDeferred`] for IP fragments instead of
    /// defragmenting them. A parallel engine decodes with several deferring
    /// decoders and hands the deferred frames, in frame order, to one ordinary
    /// decoder, so fragments of one datagram meet in one table.
    pub defer_fragments: bool,
}

impl Default for DecoderConfig {
    /// Default defragmentation limits, 8 nested tunnels.
    fn default() -> Self {
        DecoderConfig {
            defrag: DefragConfig::default(),
            max_tunnel_depth: 8,
            defer_fragments: false,
        }
    }
}

/// What the decoder saw: frames per link type, segments, and frames per skip reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames decoded.
    pub frames: u64,
    /// Frames per link type.
    pub link_types: BTreeMap<LinkType, u64>,
    /// TCP segments produced.
    pub tcp_segments: u64,
    /// UDP datagrams produced.
    pub udp_datagrams: u64,
    /// Segments that were rebuilt from IP fragments.
    pub defragmented: u64,
    /// Rebuilt datagrams that carried neither TCP nor UDP.
    pub defragmented_other: u64,
    /// UDP datagrams on a tunnel port whose content did not parse as that tunnel.
    pub udp_tunnel_fallbacks: u64,
    /// 802.11 A-MSDU subframes after the first, which are not decoded (a frame
    /// yields one segment: the first subframe's).
    pub amsdu_subframes_skipped: u64,
    /// Frames that produced no segment, per reason.
    pub skipped: BTreeMap<Skip, u64>,
}

impl DecodeStats {
    /// Frames skipped for `reason`.
    pub fn skipped(&self, reason: Skip) -> u64 {
        self.skipped.get(&reason).copied().unwrap_or(0)
    }

    /// Add the counters of `other` (decoders that shared out the frames).
    pub fn add(&mut self, other: &DecodeStats) {
        self.frames += other.frames;
        for (k, v) in &other.link_types {
            *self.link_types.entry(*k).or_default() += v;
        }
        self.add_outcomes(other);
    }

    /// Counters of deferring decoders (see [`DecoderConfig::defer_fragments`])
    /// combined with those of the decoder that decoded the deferred frames
    /// again: what one ordinary decoder would have counted for the same frames.
    pub fn with_deferred(mut self, defrag: &DecodeStats) -> DecodeStats {
        self.skipped.remove(&Skip::FragmentDeferred);
        self.add_outcomes(defrag);
        self
    }

    /// Add every counter of `other` but the frames seen.
    fn add_outcomes(&mut self, other: &DecodeStats) {
        self.tcp_segments += other.tcp_segments;
        self.udp_datagrams += other.udp_datagrams;
        self.defragmented += other.defragmented;
        self.defragmented_other += other.defragmented_other;
        self.udp_tunnel_fallbacks += other.udp_tunnel_fallbacks;
        self.amsdu_subframes_skipped += other.amsdu_subframes_skipped;
        for (k, v) in &other.skipped {
            *self.skipped.entry(*k).or_default() += v;
        }
    }
}

/// Decodes frames into segments; holds the defragmentation table.
///
/// ```
/// use pcapread::{Decoder, DecoderConfig, Frame, LinkType};
/// // raw IPv4 + UDP 1234 -> 53 carrying "hi"
/// let pkt = [
///     0x45, 0, 0, 30, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x04, 0xd2, 0, 53, 0, 10, 0, 0, b'h', b'i',
/// ];
/// let frame = Frame {
///     number: 1, input: 0, file_offset: 24, ts: 0, caplen: 30, origlen: 30,
///     link_type: LinkType::IPV4, data: &pkt,
/// };
/// let mut dec = Decoder::new(DecoderConfig::default());
/// let seg = dec.decode(&frame).unwrap();
/// assert_eq!(seg.payload, b"hi");
/// assert_eq!(seg.tuple.to_string(), "udp 10.0.0.1:1234 -> 10.0.0.2:53");
/// assert_eq!(seg.encap.to_string(), "ipv4");
/// ```
#[derive(Debug)]
pub struct Decoder {
    core: Core,
    stats: DecodeStats,
    /// Frames of one link type not yet added to `stats.link_types`: most
    /// captures have one link type, and a map update per frame cost more
    /// than the rest of the counting.
    link_run: Option<(LinkType, u64)>,
    /// The last rebuilt datagram (what a defragmented segment's payload borrows).
    out: Vec<u8>,
}

#[derive(Debug)]
struct Core {
    config: DecoderConfig,
    defrag: Defragmenter,
    defragmented_other: u64,
    udp_tunnel_fallbacks: u64,
    amsdu_subframes_skipped: u64,
}

/// Walk state of one frame.
#[derive(Debug, Clone, Copy, Default)]
struct Ctx {
    encap: EncapPath,
    /// MAC addresses of the outermost link header that has them.
    link: LinkAddrs,
    tunnels: u8,
    layers: u16,
    ts: u64,
    /// Defer IP fragments rather than defragment them.
    defer: bool,
}

/// Where a segment's payload is.
#[derive(Debug)]
enum Payload<'d> {
    /// In the bytes being decoded.
    Borrowed(&'d [u8]),
    /// In a rebuilt datagram.
    Rebuilt {
        buf: Vec<u8>,
        start: usize,
        len: usize,
    },
}

/// A decoded segment before its payload is placed.
#[derive(Debug)]
/// The layers walked stay in the walk's [`Ctx`], not copied here: this is
/// returned through every layer of the walk.
struct Walked<'d> {
    tuple: FiveTuple,
    transport: Transport,
    truncated: u32,
    payload: Payload<'d>,
}

impl Decoder {
    /// A decoder with empty state.
    pub fn new(config: DecoderConfig) -> Self {
        Decoder {
            core: Core {
                config,
                defrag: Defragmenter::new(config.defrag),
                defragmented_other: 0,
                udp_tunnel_fallbacks: 0,
                amsdu_subframes_skipped: 0,
            },
            stats: DecodeStats::default(),
            link_run: None,
            out: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> DecodeStats {
        let mut s = self.stats.clone();
        if let Some((link, n)) = self.link_run {
            *s.link_types.entry(link).or_default() += n;
        }
        s.defragmented_other = self.core.defragmented_other;
        s.udp_tunnel_fallbacks = self.core.udp_tunnel_fallbacks;
        s.amsdu_subframes_skipped = self.core.amsdu_subframes_skipped;
        s
    }

    /// The defragmenter's counters.
    pub fn defrag_stats(&self) -> &DefragStats {
        self.core.defrag.stats()
    }

    /// The defragmenter (pending datagrams and bytes).
    pub fn defragmenter(&self) -> &Defragmenter {
        &self.core.defrag
    }

    /// Drop pending fragments whose first fragment came more than the
    /// timeout before `now`, as decoding a frame of time `now` does first.
    /// A decoder that sees only some of the frames (the deferred fragments)
    /// is told the latest time of the frames it did not see, so that it times
    /// datagrams out exactly as a decoder of every frame would.
    pub fn expire(&mut self, now: u64) {
        self.core.defrag.expire(now);
    }

    /// Decode one frame. The segment's payload borrows the frame, or this
    /// decoder's buffer for a datagram rebuilt from fragments.
    pub fn decode<'b>(&'b mut self, frame: &Frame<'b>) -> Result<Segment<'b>, Skip> {
        let mut ctx = Ctx::default();
        let mut w = self.walk(frame, &mut ctx)?;
        let (payload, defragmented) = match &mut w.payload {
            Payload::Borrowed(p) => (*p, false),
            Payload::Rebuilt { buf, start, len } => {
                self.stats.defragmented += 1;
                self.out = std::mem::take(buf);
                let end = start.saturating_add(*len);
                (self.out.get(*start..end).unwrap_or(&[]), true)
            }
        };
        Ok(segment(frame, &w, &ctx, payload, defragmented))
    }

    /// Decode one frame into `seg`, deferring IP fragments
    /// ([`Skip::FragmentDeferred`]) whatever
    /// [`DecoderConfig::defer_fragments`] says, so the payload always
    /// borrows the frame itself: the segment lives as long as the frame's
    /// bytes, not just until the next call. Counts as
    /// [`decode`](Decoder::decode) with deferral on. The segment is written
    /// where the caller keeps it (a segment is a few hundred bytes, and
    /// copies of it were a tenth of decoding); on `Err`, `seg` holds
    /// whatever it held or part of this frame's fields.
    pub fn decode_deferring_into<'f>(
        &mut self,
        frame: &Frame<'f>,
        seg: &mut Segment<'f>,
    ) -> Result<(), Skip> {
        let mut ctx = Ctx {
            defer: true,
            ..Ctx::default()
        };
        // Read in place: moving the result out copied it twice.
        let walked = self.walk(frame, &mut ctx);
        let w = match &walked {
            Ok(w) => w,
            Err(skip) => return Err(*skip),
        };
        let Payload::Borrowed(payload) = w.payload else {
            // A deferring walk rebuilds no datagram.
            return Err(Skip::FragmentDeferred);
        };
        // Whole, so that no field keeps the previous frame's value.
        *seg = segment(frame, w, &ctx, payload, false);
        Ok(())
    }

    /// Walk one frame's headers with `ctx` (whose `defer` the configuration
    /// may turn on) and count it: the segment found, or why there is none.
    /// Inlined into its two callers, which read the fields in place
    /// (returning the result from here copied it).
    #[inline(always)]
    fn walk<'f>(&mut self, frame: &Frame<'f>, ctx: &mut Ctx) -> Result<Walked<'f>, Skip> {
        self.stats.frames += 1;
        match &mut self.link_run {
            Some((link, n)) if *link == frame.link_type => *n += 1,
            run => {
                if let Some((link, n)) = run.replace((frame.link_type, 1)) {
                    *self.stats.link_types.entry(link).or_default() += n;
                }
            }
        }
        self.core.defrag.expire(frame.ts);
        ctx.ts = frame.ts;
        ctx.defer |= self.core.config.defer_fragments;
        let Some(next) = link::first(frame.link_type) else {
            let skip = Skip::UnsupportedLinkType(frame.link_type.0);
            *self.stats.skipped.entry(skip).or_default() += 1;
            return Err(skip);
        };
        let walked = self.core.link(ctx, next, frame.data);
        // Counted through a reference: the walk's result is returned where
        // it was written (taking it apart, or choosing it among two, copied
        // it).
        match &walked {
            Ok(Walked {
                transport: Transport::Tcp(_),
                ..
            }) => self.stats.tcp_segments += 1,
            Ok(_) => self.stats.udp_datagrams += 1,
            Err(skip) => *self.stats.skipped.entry(*skip).or_default() += 1,
        }
        walked
    }
}

/// The segment of a walked frame: every field, in one struct literal (both
/// decoding paths build it here, inlined, so it is written in place).
#[inline(always)]
fn segment<'f>(
    frame: &Frame<'f>,
    w: &Walked<'f>,
    ctx: &Ctx,
    payload: &'f [u8],
    defragmented: bool,
) -> Segment<'f> {
    Segment {
        frame: frame.number,
        ts: frame.ts,
        tuple: w.tuple,
        transport: w.transport,
        payload,
        truncated: w.truncated,
        encap: ctx.encap,
        link: ctx.link,
        defragmented,
    }
}

impl Core {
    /// Walk link-layer headers from `next` until an IP header.
    fn link<'d>(
        &mut self,
        ctx: &mut Ctx,
        mut next: Next,
        mut data: &'d [u8],
    ) -> Result<Walked<'d>, Skip> {
        loop {
            ctx.layers += 1;
            if ctx.layers > MAX_LAYERS {
                return Err(Skip::TooDeep);
            }
            match next {
                Next::Ip => return self.ip(ctx, data, None),
                Next::Ipv4 => return self.ip(ctx, data, Some(4)),
                Next::Ipv6 => return self.ip(ctx, data, Some(6)),
                Next::Amsdu => {
                    let (s, more) = wlan::amsdu(data)?;
                    self.amsdu_subframes_skipped += more;
                    if let Some(layer) = s.layer {
                        ctx.encap.push(layer);
                    }
                    next = s.next;
                    data = s.data;
                }
                other => {
                    if ctx.link.is_empty() {
                        ctx.link = link_addr::read(other, data);
                    }
                    let s = link::read(other, data)?;
                    if let Some(layer) = s.layer {
                        ctx.encap.push(layer);
                    }
                    next = s.next;
                    data = s.data;
                }
            }
        }
    }

    /// An IP header and what it carries.
    fn ip<'d>(
        &mut self,
        ctx: &mut Ctx,
        data: &'d [u8],
        want: Option<u8>,
    ) -> Result<Walked<'d>, Skip> {
        let info = ip::parse(data, want)?;
        ctx.encap.push(if info.version == 4 {
            Layer::Ipv4
        } else {
            Layer::Ipv6
        });
        let Some(f) = info.frag else {
            return self.transport(
                ctx,
                info.proto,
                info.payload,
                info.src,
                info.dst,
                info.missing,
            );
        };
        if ctx.defer {
            return Err(Skip::FragmentDeferred);
        }
        if f.truncated {
            // Bytes the capture did not keep cannot be reassembled.
            return Err(Skip::FragmentDropped);
        }
        let key = FragKey {
            version: info.version,
            src: info.src,
            dst: info.dst,
            id: f.id,
            proto: f.proto,
        };
        let frag = Fragment {
            offset: f.offset,
            more: f.more,
            payload: f.payload,
        };
        let (buf, proto) = match self.defrag.add(key, frag, ctx.ts) {
            Outcome::Held => return Err(Skip::FragmentHeld),
            Outcome::Dropped(_) => return Err(Skip::FragmentDropped),
            Outcome::Complete { data, proto } => (data, proto),
        };
        let rebuilt = self.rebuilt(ctx, &buf, info.version, proto, info.src, info.dst);
        let w = match rebuilt {
            Ok(w) => w,
            Err(skip) => {
                if let Skip::NotTcpUdp(_) = skip {
                    self.defragmented_other += 1;
                }
                return Err(skip);
            }
        };
        // Move the payload's location out of the borrow of `buf`, then `buf` itself.
        let Walked {
            tuple,
            transport,
            truncated,
            payload,
        } = w;
        let payload = match payload {
            Payload::Rebuilt { buf, start, len } => Payload::Rebuilt { buf, start, len },
            Payload::Borrowed(p) => {
                let start = offset_within(&buf, p).ok_or(Skip::Malformed("defrag"))?;
                let len = p.len();
                Payload::Rebuilt { buf, start, len }
            }
        };
        Ok(Walked {
            tuple,
            transport,
            truncated,
            payload,
        })
    }

    /// Decode the payload of a rebuilt datagram.
    fn rebuilt<'r>(
        &mut self,
        ctx: &mut Ctx,
        buf: &'r [u8],
        version: u8,
        proto: u8,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<Walked<'r>, Skip> {
        let (proto, payload) = if version == 6 {
            // Extension headers after the fragment header belong to the
            // reassembled payload (RFC 8200 section 4.5).
            let (_, next, rest, err) = Ipv6ExtensionsSlice::from_slice_lax(IpNumber(proto), buf);
            if err.is_some() {
                return Err(Skip::Malformed("ipv6-ext"));
            }
            (next.0, rest)
        } else {
            (proto, buf)
        };
        self.transport(ctx, proto, payload, src, dst, 0)
    }

    /// Enter a tunnel, or refuse when too deep.
    fn enter_tunnel(&self, ctx: &mut Ctx) -> Result<(), Skip> {
        if ctx.tunnels >= self.config.max_tunnel_depth {
            return Err(Skip::TooDeep);
        }
        ctx.tunnels += 1;
        Ok(())
    }

    /// The IP payload: TCP, UDP, or a tunnel.
    fn transport<'d>(
        &mut self,
        ctx: &mut Ctx,
        proto: u8,
        data: &'d [u8],
        src: IpAddr,
        dst: IpAddr,
        missing: u32,
    ) -> Result<Walked<'d>, Skip> {
        match proto {
            6 => {
                let t = transport::tcp(data)?;
                let payload = data.get(t.header_len..).unwrap_or(&[]);
                Ok(Walked {
                    tuple: FiveTuple {
                        proto: Proto::Tcp,
                        src: SocketAddr::new(src, t.src_port),
                        dst: SocketAddr::new(dst, t.dst_port),
                    },
                    transport: Transport::Tcp(t.info),
                    truncated: missing,
                    payload: Payload::Borrowed(payload),
                })
            }
            17 => self.udp(ctx, data, src, dst, missing),
            4 | 41 => {
                self.enter_tunnel(ctx)?;
                self.ip(ctx, data, Some(if proto == 4 { 4 } else { 6 }))
            }
            47 => {
                self.enter_tunnel(ctx)?;
                let s = tunnel::gre(data)?;
                if let Some(layer) = s.layer {
                    ctx.encap.push(layer);
                }
                self.link(ctx, s.next, s.data)
            }
            p => Err(Skip::NotTcpUdp(p)),
        }
    }

    /// A UDP datagram, or the tunnelled packet it carries.
    fn udp<'d>(
        &mut self,
        ctx: &mut Ctx,
        data: &'d [u8],
        src: IpAddr,
        dst: IpAddr,
        missing: u32,
    ) -> Result<Walked<'d>, Skip> {
        let u = transport::udp(data)?;
        let captured = data.get(8..).unwrap_or(&[]);
        // The UDP length governs when it is consistent with IP's (0 in jumbograms).
        let ip_len = (captured.len() as u64).saturating_add(u64::from(missing));
        let announced = match u64::from(u.length).checked_sub(8) {
            Some(n) if u.length >= 8 && n <= ip_len => n,
            _ => ip_len,
        };
        let keep = usize::try_from(announced)
            .unwrap_or(usize::MAX)
            .min(captured.len());
        let payload = captured.get(..keep).unwrap_or(captured);
        let truncated = u32::try_from(announced - keep as u64).unwrap_or(u32::MAX);

        if let Some(kind) = tunnel::udp_tunnel(u.src_port, u.dst_port) {
            match tunnel::read_udp(kind, payload) {
                Ok(s) => {
                    let saved = *ctx;
                    self.enter_tunnel(ctx)?;
                    if let Some(layer) = s.layer {
                        ctx.encap.push(layer);
                    }
                    match self.link(ctx, s.next, s.data) {
                        Err(Skip::Malformed(_) | Skip::Truncated(_)) => *ctx = saved,
                        other => return other,
                    }
                    self.udp_tunnel_fallbacks += 1;
                }
                // A message of the tunnel protocol that carries no packet
                // (GTP-U echo, AYIYA heartbeat, DTLS CAPWAP): the datagram's own.
                Err(Skip::NotIp) => {}
                Err(_) => self.udp_tunnel_fallbacks += 1,
            }
        }
        Ok(Walked {
            tuple: FiveTuple {
                proto: Proto::Udp,
                src: SocketAddr::new(src, u.src_port),
                dst: SocketAddr::new(dst, u.dst_port),
            },
            transport: Transport::Udp,
            truncated,
            payload: Payload::Borrowed(payload),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Ipv4Header, Ipv6FragmentHeader, Ipv6Header, PacketBuilder};
    use proptest::prelude::*;

    const A4: [u8; 4] = [192, 0, 2, 1];
    const B4: [u8; 4] = [198, 51, 100, 2];
    const A6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const B6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    fn tcp4(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(A4, B4, 64)
            .tcp(1234, 80, 1000, 8192)
            .ack(7)
            .psh()
            .write(&mut v, payload)
            .expect("build");
        v
    }

    fn tcp6(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv6(A6, B6, 64)
            .tcp(1234, 80, 1000, 8192)
            .syn()
            .write(&mut v, payload)
            .expect("build");
        v
    }

    fn udp4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(B4, A4, 64)
            .udp(sport, dport)
            .write(&mut v, payload)
            .expect("build");
        v
    }

    fn eth(ether_type: u16, inner: &[u8]) -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        v.extend_from_slice(&ether_type.to_be_bytes());
        v.extend_from_slice(inner);
        v
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
        let n = data.len() as u32;
        Frame {
            number: 1,
            input: 0,
            file_offset: 0,
            ts: 0,
            caplen: n,
            origlen: n,
            link_type: link,
            data,
        }
    }

    fn path(link: LinkType, data: &[u8]) -> String {
        let mut d = Decoder::new(DecoderConfig::default());
        let seg = d.decode(&frame(link, data)).expect("segment");
        seg.encap.to_string()
    }

    fn skip(link: LinkType, data: &[u8]) -> Skip {
        let mut d = Decoder::new(DecoderConfig::default());
        d.decode(&frame(link, data)).expect_err("no segment")
    }

    #[test]
    fn ethernet_ipv4_tcp_fields_and_padding() {
        let mut f = eth(0x0800, &tcp4(b"hello"));
        f.extend_from_slice(&[0; 6]); // Ethernet padding is not payload
        let mut d = Decoder::new(DecoderConfig::default());
        let s = d.decode(&frame(LinkType::ETHERNET, &f)).expect("segment");
        assert_eq!(s.payload, b"hello");
        assert_eq!(s.truncated, 0);
        assert_eq!(s.tuple.to_string(), "tcp 192.0.2.1:1234 -> 198.51.100.2:80");
        let t = s.tcp().expect("tcp");
        assert_eq!((t.seq, t.ack, t.window), (1000, 7, 8192));
        assert!(t.flags.ack() && t.flags.psh() && !t.flags.syn());
        assert_eq!(s.encap.to_string(), "eth/ipv4");
        assert!(!s.defragmented);
    }

    #[test]
    fn snaplen_cut_counts_truncated_bytes() {
        let f = eth(0x86dd, &tcp6(&[7; 100]));
        let cut = &f[..f.len() - 60];
        let mut d = Decoder::new(DecoderConfig::default());
        let s = d.decode(&frame(LinkType::ETHERNET, cut)).expect("segment");
        assert_eq!((s.payload.len(), s.truncated, s.wire_len()), (40, 60, 100));
        // cut inside the TCP header
        assert_eq!(
            skip(LinkType::ETHERNET, &f[..14 + 40 + 10]),
            Skip::Truncated("tcp")
        );
    }

    #[test]
    fn vlan_stacks_and_llc_snap() {
        let f = eth(
            0x88a8,
            &cat(&[
                &[0, 100, 0x81, 0x00],
                &[0, 200, 0x81, 0x00],
                &[0, 44, 0x08, 0x00],
                &tcp4(b"x"),
            ]),
        );
        assert_eq!(
            path(LinkType::ETHERNET, &f),
            "eth/vlan:100/vlan:200/vlan:44/ipv4"
        );
        let ip = tcp4(b"x");
        let snap = cat(&[&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], &ip]);
        let f = eth(snap.len() as u16, &snap);
        assert_eq!(path(LinkType::ETHERNET, &f), "eth/llc/ipv4");
    }

    #[test]
    fn pbb_and_mpls() {
        let inner = eth(0x0800, &tcp4(b"x"));
        let f = eth(0x88e7, &cat(&[&[0, 0, 0x30, 0x39], &inner]));
        assert_eq!(path(LinkType::ETHERNET, &f), "eth/pbb:12345/eth/ipv4");
        let f = eth(
            0x8847,
            &cat(&[&[0, 0x01, 0x00, 0x40], &[0, 0x01, 0x11, 0x40], &tcp6(b"")]),
        );
        assert_eq!(path(LinkType::ETHERNET, &f), "eth/mpls:16/mpls:17/ipv6");
        // Ethernet pseudowire with control word
        let f = eth(
            0x8847,
            &cat(&[&[0, 0x01, 0x21, 0x40], &[0, 0, 0, 0], &inner]),
        );
        assert_eq!(path(LinkType::ETHERNET, &f), "eth/mpls:18/eth/ipv4");
    }

    #[test]
    fn pppoe_ppp_chdlc() {
        let ip = tcp6(b"");
        let mut pppoe = vec![0x11, 0x00, 0x00, 0x01];
        pppoe.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
        pppoe.extend_from_slice(&[0x00, 0x57]);
        pppoe.extend_from_slice(&ip);
        assert_eq!(
            path(LinkType::ETHERNET, &eth(0x8864, &pppoe)),
            "eth/pppoe/ppp/ipv6"
        );
        assert_eq!(path(LinkType::PPP_ETHER, &pppoe), "pppoe/ppp/ipv6");
        assert_eq!(
            path(
                LinkType::PPP,
                &cat(&[&[0xff, 0x03, 0x00, 0x21], &tcp4(b"")])
            ),
            "ppp/ipv4"
        );
        assert_eq!(
            path(LinkType::PPP, &cat(&[&[0x00, 0x21], &tcp4(b"")])),
            "ppp/ipv4"
        );
        assert_eq!(
            path(
                LinkType::PPP_HDLC,
                &cat(&[&[0x0f, 0x00, 0x08, 0x00], &tcp4(b"")])
            ),
            "chdlc/ipv4"
        );
        assert_eq!(
            path(
                LinkType::C_HDLC,
                &cat(&[&[0x8f, 0x00, 0x86, 0xdd], &tcp6(b"")])
            ),
            "chdlc/ipv6"
        );
        assert_eq!(
            skip(LinkType::C_HDLC, &[0x8f, 0x00, 0x80, 0x35, 0, 0]),
            Skip::NotIp
        );
    }

    #[test]
    fn cooked_loopback_raw_nflog_ipoib_arcnet() {
        let ip4 = tcp4(b"p");
        let ip6 = tcp6(b"p");
        let mut sll = vec![0, 0, 0x03, 0x04, 0, 12];
        sll.extend_from_slice(&[0; 8]);
        sll.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(path(LinkType::LINUX_SLL, &cat(&[&sll, &ip4])), "sll/ipv4");
        let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6];
        sll2.extend_from_slice(&[0; 8]);
        assert_eq!(
            path(LinkType::LINUX_SLL2, &cat(&[&sll2, &ip6])),
            "sll2/ipv6"
        );
        assert_eq!(
            path(LinkType::NULL, &cat(&[&[2, 0, 0, 0], &ip4])),
            "null/ipv4"
        );
        assert_eq!(
            path(LinkType::NULL, &cat(&[&[0, 0, 0, 30], &ip6])),
            "null/ipv6"
        );
        assert_eq!(
            path(LinkType::LOOP, &cat(&[&[0, 0, 0, 24], &ip6])),
            "null/ipv6"
        );
        for lt in [LinkType::RAW, LinkType::RAW_BSD12, LinkType::RAW_BSD14] {
            assert_eq!(path(lt, &ip6), "ipv6");
        }
        assert_eq!(path(LinkType::IPV4, &ip4), "ipv4");
        assert_eq!(skip(LinkType::IPV4, &ip6), Skip::Malformed("ipv4"));
        let mut nflog = vec![10, 0, 0, 1];
        nflog.extend_from_slice(&((ip6.len() + 4) as u16).to_le_bytes());
        nflog.extend_from_slice(&9u16.to_le_bytes());
        assert_eq!(path(LinkType::NFLOG, &cat(&[&nflog, &ip6])), "nflog/ipv6");
        let mut ipoib = vec![0u8; 40];
        ipoib.extend_from_slice(&[0x08, 0x00, 0, 0]);
        assert_eq!(path(LinkType::IPOIB, &cat(&[&ipoib, &ip4])), "ipoib/ipv4");
        assert_eq!(
            path(LinkType::ARCNET_LINUX, &cat(&[&[1, 2, 0, 0, 0xf0], &ip4])),
            "arcnet/ipv4"
        );
        assert_eq!(skip(LinkType(147), &ip4), Skip::UnsupportedLinkType(147));
    }

    #[test]
    fn gre_erspan_and_transparent_ethernet() {
        let inner = eth(0x0800, &tcp4(b"mirrored"));
        let mut gre = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1];
        gre.extend_from_slice(&[0x10, 0x0a, 0x00, 0x01, 0, 0, 0, 0]);
        gre.extend_from_slice(&inner);
        let mut outer = Vec::new();
        PacketBuilder::ipv4(B4, A4, 64)
            .write(&mut outer, IpNumber(47), &gre)
            .expect("build");
        let f = eth(0x0800, &outer);
        let mut d = Decoder::new(DecoderConfig::default());
        let s = d.decode(&frame(LinkType::ETHERNET, &f)).expect("segment");
        assert_eq!(s.encap.to_string(), "eth/ipv4/gre/erspan/eth/ipv4");
        assert_eq!(s.payload, b"mirrored");
        assert_eq!(s.tuple.src.to_string(), "192.0.2.1:1234");
        let gre = cat(&[&[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 9], &inner]);
        let mut outer = Vec::new();
        PacketBuilder::ipv4(B4, A4, 64)
            .write(&mut outer, IpNumber(47), &gre)
            .expect("build");
        assert_eq!(path(LinkType::RAW, &outer), "ipv4/gre/eth/ipv4");
    }

    #[test]
    fn vxlan_and_fallback_to_udp() {
        let inner = eth(0x0800, &tcp4(b"in"));
        let vx = cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], &inner]);
        let f = eth(0x0800, &udp4(50000, 4789, &vx));
        let mut d = Decoder::new(DecoderConfig::default());
        let s = d.decode(&frame(LinkType::ETHERNET, &f)).expect("segment");
        assert_eq!(s.encap.to_string(), "eth/ipv4/vxlan:42/eth/ipv4");
        assert_eq!(s.tuple.proto, Proto::Tcp);
        // The outer Ethernet header's addresses, not the inner one's.
        let mut outer_eth = f.clone();
        outer_eth[..12].copy_from_slice(&[0xaa, 0, 0, 0, 0, 0xd, 0xaa, 0, 0, 0, 0, 0x5]);
        let s = d
            .decode(&frame(LinkType::ETHERNET, &outer_eth))
            .expect("segment");
        assert_eq!(
            (
                s.link.src.map(|m| m.to_string()),
                s.link.dst.map(|m| m.to_string())
            ),
            (
                Some("aa:00:00:00:00:05".into()),
                Some("aa:00:00:00:00:0d".into())
            )
        );
        let raw_vx = udp4(50000, 4789, &vx);
        let s = d.decode(&frame(LinkType::RAW, &raw_vx)).expect("segment");
        assert_eq!(s.encap.to_string(), "ipv4/vxlan:42/eth/ipv4");
        assert_eq!(s.link.src.map(|m| m.0), Some([2, 0, 0, 0, 0, 2]));
        let raw = tcp4(b"raw");
        let s = d.decode(&frame(LinkType::RAW, &raw)).expect("segment");
        assert!(s.link.is_empty());
        // not VXLAN after all: stays a UDP datagram on port 4789
        let f = eth(0x0800, &udp4(50000, 4789, b"not a vxlan header"));
        let s = d.decode(&frame(LinkType::ETHERNET, &f)).expect("segment");
        assert_eq!(
            (s.tuple.proto, s.payload),
            (Proto::Udp, &b"not a vxlan header"[..])
        );
        assert_eq!(s.encap.to_string(), "eth/ipv4");
        assert_eq!(d.stats().udp_tunnel_fallbacks, 1);
        // valid VXLAN carrying ARP: the tunnel parsed, the frame has no IP
        let vx = cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], &eth(0x0806, &[0; 28])]);
        assert_eq!(skip(LinkType::RAW, &udp4(1, 4789, &vx)), Skip::NotIp);
    }

    #[test]
    fn geneve_gre_ipv4() {
        let gre = cat(&[&[0, 0, 0x08, 0x00], &tcp4(b"deep")]);
        let mut mid = Vec::new();
        PacketBuilder::ipv4(A4, B4, 64)
            .write(&mut mid, IpNumber(47), &gre)
            .expect("build");
        let gen = cat(&[
            &[0x01, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2, 3, 4],
            &eth(0x0800, &mid),
        ]);
        let f = eth(0x0800, &udp4(40000, 6081, &gen));
        assert_eq!(
            path(LinkType::ETHERNET, &f),
            "eth/ipv4/geneve:7/eth/ipv4/gre/ipv4"
        );
    }

    #[test]
    fn teredo_and_ip_in_ip() {
        let orig = [0u8, 0, 0xff, 0xff, 1, 2, 3, 4];
        let f = udp4(3544, 40000, &cat(&[&orig, &tcp6(b"t")]));
        assert_eq!(path(LinkType::RAW, &f), "ipv4/teredo/ipv6");
        let mut v = Vec::new();
        PacketBuilder::ipv6(B6, A6, 64)
            .write(&mut v, IpNumber(4), &tcp4(b""))
            .expect("build");
        assert_eq!(path(LinkType::RAW, &v), "ipv6/ipv4");
        let mut v = Vec::new();
        PacketBuilder::ipv4(B4, A4, 64)
            .write(&mut v, IpNumber(41), &tcp6(b""))
            .expect("build");
        assert_eq!(path(LinkType::RAW, &v), "ipv4/ipv6");
        // ICMP is not TCP/UDP
        let mut v = Vec::new();
        PacketBuilder::ipv4(B4, A4, 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut v, b"ping")
            .expect("build");
        assert_eq!(skip(LinkType::RAW, &v), Skip::NotTcpUdp(1));
    }

    #[test]
    fn tunnel_depth_is_bounded() {
        let mut pkt = tcp4(b"");
        for _ in 0..10 {
            let mut v = Vec::new();
            PacketBuilder::ipv4(B4, A4, 64)
                .write(&mut v, IpNumber(4), &pkt)
                .expect("build");
            pkt = v;
        }
        assert_eq!(skip(LinkType::RAW, &pkt), Skip::TooDeep);
        let cfg = DecoderConfig {
            max_tunnel_depth: 10,
            ..DecoderConfig::default()
        };
        let mut d = Decoder::new(cfg);
        let s = d.decode(&frame(LinkType::RAW, &pkt)).expect("segment");
        assert_eq!(s.encap.layers().len(), 11);
        // VLAN tags beyond the layer budget
        let mut tags = Vec::new();
        for _ in 0..80 {
            tags.extend_from_slice(&[0, 1, 0x81, 0x00]);
        }
        let f = eth(0x8100, &cat(&[&tags, &[0, 1, 0x08, 0x00], &tcp4(b"")]));
        assert_eq!(skip(LinkType::ETHERNET, &f), Skip::TooDeep);
    }

    /// IPv4 fragments of `l4` (the IP payload) with protocol `proto`, `size` bytes each.
    fn frags4(proto: u8, l4: &[u8], size: usize, id: u16) -> Vec<Vec<u8>> {
        let n = l4.len().div_ceil(size);
        l4.chunks(size)
            .enumerate()
            .map(|(i, c)| {
                let mut h =
                    Ipv4Header::new(c.len() as u16, 64, IpNumber(proto), A4, B4).expect("hdr");
                h.identification = id;
                h.more_fragments = i + 1 < n;
                h.fragment_offset = ((i * size / 8) as u16).try_into().expect("offset");
                cat(&[&h.to_bytes(), c])
            })
            .collect()
    }

    #[test]
    fn deferring_decoder_leaves_fragments_alone() {
        let frags = frags4(6, &tcp4(b"deferred payload, long enough to split"), 16, 7);
        let mut d = Decoder::new(DecoderConfig {
            defer_fragments: true,
            ..DecoderConfig::default()
        });
        for f in &frags {
            let data = eth(0x0800, f);
            assert_eq!(
                d.decode(&frame(LinkType::ETHERNET, &data)).unwrap_err(),
                Skip::FragmentDeferred
            );
        }
        assert_eq!(d.defragmenter().pending_datagrams(), 0);
    }

    #[test]
    fn ipv4_defrag_out_of_order_through_decoder() {
        let full = tcp4(&(0..200u8).collect::<Vec<_>>());
        let l4 = &full[20..];
        let fr = frags4(6, l4, 64, 99);
        let mut d = Decoder::new(DecoderConfig::default());
        for i in [3usize, 1, 0] {
            let f = eth(0x0800, &fr[i]);
            assert_eq!(
                d.decode(&frame(LinkType::ETHERNET, &f)),
                Err(Skip::FragmentHeld)
            );
        }
        let f = eth(0x0800, &fr[2]);
        let mut fr2 = frame(LinkType::ETHERNET, &f);
        fr2.number = 4;
        let s = d.decode(&fr2).expect("segment");
        assert!(s.defragmented);
        assert_eq!(s.frame, 4);
        assert_eq!(s.payload, &(0..200u8).collect::<Vec<_>>()[..]);
        assert_eq!(s.tcp().expect("tcp").seq, 1000);
        assert_eq!(s.encap.to_string(), "eth/ipv4");
        let st = d.stats();
        assert_eq!(
            (
                st.skipped(Skip::FragmentHeld),
                st.defragmented,
                st.tcp_segments
            ),
            (3, 1, 1)
        );
        assert_eq!(d.defragmenter().pending_datagrams(), 0);
    }

    #[test]
    fn ipv6_defrag_udp_and_icmp_released() {
        let mut full = Vec::new();
        PacketBuilder::ipv6(A6, B6, 64)
            .udp(5353, 53)
            .write(&mut full, &[0x5a; 100])
            .expect("build");
        let l4 = &full[40..];
        let mut d = Decoder::new(DecoderConfig::default());
        let mut out = None;
        for (i, c) in l4.chunks(56).enumerate() {
            let fh = Ipv6FragmentHeader::new(
                IpNumber(17),
                ((i * 7) as u16).try_into().expect("off"),
                i == 0,
                77,
            );
            let h = Ipv6Header {
                payload_length: (8 + c.len()) as u16,
                next_header: IpNumber(44),
                hop_limit: 9,
                source: A6,
                destination: B6,
                ..Default::default()
            };
            let pkt = cat(&[&h.to_bytes(), &fh.to_bytes(), c]);
            match d.decode(&frame(LinkType::IPV6, &pkt)) {
                Ok(s) => out = Some((s.payload.to_vec(), s.tuple.to_string(), s.defragmented)),
                Err(e) => assert_eq!(e, Skip::FragmentHeld),
            }
        }
        let (payload, tuple, defragmented) = out.expect("completed");
        assert_eq!(payload, vec![0x5a; 100]);
        assert_eq!(tuple, "udp [2001:db8::1]:5353 -> [2001:db8::2]:53");
        assert!(defragmented);
        // fragmented ICMP is held, then released as not TCP/UDP and counted
        let mut icmp = Vec::new();
        PacketBuilder::ipv4(A4, B4, 64)
            .icmpv4_echo_request(1, 2)
            .write(&mut icmp, &[1; 40])
            .expect("build");
        let fr = frags4(1, &icmp[20..], 24, 5);
        assert_eq!(
            d.decode(&frame(LinkType::RAW, &fr[0])),
            Err(Skip::FragmentHeld)
        );
        assert_eq!(
            d.decode(&frame(LinkType::RAW, &fr[1])),
            Err(Skip::NotTcpUdp(1))
        );
        assert_eq!(d.stats().defragmented_other, 1);
    }

    #[test]
    fn fragmented_tunnel_inner_is_decoded() {
        // GRE packet carrying IPv4/TCP, fragmented at the outer IP
        let gre = cat(&[&[0, 0, 0x08, 0x00], &tcp4(&[3; 60])]);
        let fr = frags4(47, &gre, 48, 1);
        let mut d = Decoder::new(DecoderConfig::default());
        assert_eq!(fr.len(), 3);
        assert_eq!(
            d.decode(&frame(LinkType::RAW, &fr[2])),
            Err(Skip::FragmentHeld)
        );
        assert_eq!(
            d.decode(&frame(LinkType::RAW, &fr[1])),
            Err(Skip::FragmentHeld)
        );
        let s = d.decode(&frame(LinkType::RAW, &fr[0])).expect("segment");
        assert_eq!((s.payload, s.defragmented), (&[3u8; 60][..], true));
        assert_eq!(s.encap.to_string(), "ipv4/gre/ipv4");
    }

    #[test]
    fn truncated_fragment_is_dropped() {
        let fr = frags4(6, &tcp4(&[1; 64])[20..], 48, 3);
        let cut = &fr[0][..40];
        assert_eq!(skip(LinkType::RAW, cut), Skip::FragmentDropped);
    }

    /// An 802.11 QoS data frame (To DS) with LLC/SNAP IPv4 around `ip`.
    fn wlan_qos(ip: &[u8]) -> Vec<u8> {
        let mut v = vec![0x88, 0x01, 0, 0];
        v.extend_from_slice(&[1; 18]);
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        v.extend_from_slice(ip);
        v
    }

    #[test]
    fn capwap_carries_8023_and_80211() {
        // HLEN 2, 802.3 frame
        let capwap = cat(&[&[0, 0x10, 0, 0, 0, 0, 0, 0], &eth(0x0800, &tcp4(b"hi"))]);
        let f = eth(0x0800, &udp4(40000, 5247, &capwap));
        assert_eq!(path(LinkType::ETHERNET, &f), "eth/ipv4/capwap/eth/ipv4");
        // HLEN 2, WBID 1, T: native 802.11
        let capwap = cat(&[&[0, 0x10, 0x03, 0, 0, 0, 0, 0], &wlan_qos(&tcp4(b"hi"))]);
        let f = eth(0x0800, &udp4(40000, 5247, &capwap));
        assert_eq!(
            path(LinkType::ETHERNET, &f),
            "eth/ipv4/capwap/wlan/llc/ipv4"
        );
    }

    #[test]
    fn tunnel_messages_without_a_packet_stay_udp() {
        let mut d = Decoder::new(DecoderConfig::default());
        // GTP-U echo request (type 1) on port 2152
        let echo = [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0];
        let pkt = udp4(2152, 2152, &echo);
        let s = d.decode(&frame(LinkType::RAW, &pkt)).expect("udp");
        assert_eq!((s.tuple.proto, s.payload), (Proto::Udp, &echo[..]));
        // A malformed GTP-U header (version 2) is a fallback.
        let v2 = [0x48, 0xff, 0, 0, 0, 0, 0, 0];
        let _ = d.decode(&frame(LinkType::RAW, &udp4(2152, 2152, &v2)));
        assert_eq!(d.stats().udp_tunnel_fallbacks, 1);
    }

    #[test]
    fn wlan_skip_reasons_are_counted() {
        let mut d = Decoder::new(DecoderConfig::default());
        let mut beacon = vec![0x80, 0, 0, 0];
        beacon.extend_from_slice(&[0xff; 20]);
        let mut protected = wlan_qos(&tcp4(b"x"));
        protected[1] |= 0x40;
        for f in [&beacon, &protected] {
            let _ = d.decode(&frame(LinkType::IEEE802_11, f));
        }
        let s = d.stats();
        assert_eq!(s.skipped(Skip::NotData("802.11")), 1);
        assert_eq!(s.skipped(Skip::Protected("802.11")), 1);
        assert_eq!(Skip::NotData("802.11").name(), "not-data:802.11");
        assert_eq!(Skip::Protected("802.11").name(), "protected:802.11");
        let good = wlan_qos(&tcp4(b"x"));
        let ok = d
            .decode(&frame(LinkType::IEEE802_11, &good))
            .expect("segment");
        assert_eq!(ok.encap.to_string(), "wlan/llc/ipv4");
    }

    #[test]
    fn stats_per_link_type_and_reason() {
        let mut d = Decoder::new(DecoderConfig::default());
        let ok = eth(0x0800, &tcp4(b""));
        let arp = eth(0x0806, &[0; 28]);
        let _ = d.decode(&frame(LinkType::ETHERNET, &ok));
        let _ = d.decode(&frame(LinkType::ETHERNET, &arp));
        let _ = d.decode(&frame(LinkType::RAW, &udp4(1, 2, b"")));
        let s = d.stats();
        assert_eq!(s.frames, 3);
        assert_eq!(s.link_types.get(&LinkType::ETHERNET), Some(&2));
        assert_eq!(s.link_types.get(&LinkType::RAW), Some(&1));
        assert_eq!(
            (s.tcp_segments, s.udp_datagrams, s.skipped(Skip::NotIp)),
            (1, 1, 1)
        );
    }

    /// Decoding into a caller's slot gives what a deferring decoder's
    /// `decode` gives, and counts the same: frames per link type as the
    /// link type changes from frame to frame, fragments as deferred even
    /// when the configuration does not defer, skips by reason.
    #[test]
    fn decoding_into_a_slot_equals_deferring_decode() {
        let frags = frags4(6, &tcp4(b"deferred payload, long enough to split"), 16, 7);
        let frames: Vec<(LinkType, Vec<u8>)> = vec![
            (LinkType::ETHERNET, eth(0x0800, &tcp4(b"one"))),
            (LinkType::ETHERNET, eth(0x0806, &[0; 28])),
            (LinkType::RAW, udp4(1, 2, b"two")),
            (LinkType::ETHERNET, eth(0x0800, &frags[0])),
            (LinkType::RAW, frags[1].clone()),
            (LinkType(65000), vec![0; 20]),
            (LinkType::ETHERNET, eth(0x86dd, &tcp6(b"three"))),
            (LinkType::RAW, tcp4(b"four")),
        ];
        let mut deferring = Decoder::new(DecoderConfig {
            defer_fragments: true,
            ..DecoderConfig::default()
        });
        let mut into = Decoder::new(DecoderConfig::default());
        let mut slot = Segment::default();
        for (link, data) in &frames {
            let f = frame(*link, data);
            let want = deferring.decode(&f).map(|s| (s, s.payload.to_vec()));
            let got = into
                .decode_deferring_into(&f, &mut slot)
                .map(|()| (slot, slot.payload.to_vec()));
            assert_eq!(got, want, "{link:?}");
        }
        let stats = into.stats();
        assert_eq!(stats, deferring.stats());
        assert_eq!(stats.link_types.get(&LinkType::ETHERNET), Some(&4));
        assert_eq!(stats.link_types.get(&LinkType::RAW), Some(&3));
        assert_eq!(stats.skipped(Skip::FragmentDeferred), 2);
        assert_eq!((stats.tcp_segments, stats.udp_datagrams), (3, 1));
    }

    const LINKS: [u32; 22] = [
        0, 1, 9, 12, 14, 50, 51, 101, 104, 105, 108, 113, 127, 129, 192, 228, 229, 239, 242, 276,
        147, 65000,
    ];

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(link in proptest::sample::select(&LINKS[..]), data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut d = Decoder::new(DecoderConfig::default());
            if let Ok(s) = d.decode(&frame(LinkType(link), &data)) {
                prop_assert!(s.payload.len() <= data.len());
            }
        }

        /// Random bytes behind valid prefixes reach the deeper parsers.
        #[test]
        fn mutated_packets_never_panic(
            which in 0usize..10,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
        ) {
            let inner = eth(0x0800, &tcp4(b"payload"));
            let base = match which {
                0 => eth(0x0800, &tcp4(b"data")),
                1 => eth(0x86dd, &tcp6(b"data")),
                2 => eth(0x0800, &udp4(1, 4789, &cat(&[&[0x08, 0, 0, 0, 0, 0, 1, 0], &inner]))),
                3 => eth(0x0800, &udp4(1, 6081, &cat(&[&[0, 0, 0x65, 0x58, 0, 0, 1, 0], &inner]))),
                4 => eth(0x8847, &cat(&[&[0, 1, 0x01, 0x40], &tcp4(b"")])),
                6 => eth(0x0800, &udp4(1, 2152, &cat(&[&[0x34, 0xff, 0, 60, 0, 0, 0, 1, 0, 0, 0, 0xc0, 1, 0, 0, 0], &tcp4(b"x")]))),
                7 => eth(0x0800, &udp4(1, 5247, &cat(&[&[0, 0x10, 0x03, 0, 0, 0, 0, 0], &wlan_qos(&tcp4(b"x"))]))),
                8 => cat(&[&[0, 0, 18, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0], &wlan_qos(&tcp4(b"x")), &[0; 4]]),
                9 => eth(0x0800, &udp4(1, 5072, &cat(&[&[0x41, 0x52, 0x11, 4, 0, 0, 0, 0], &[0; 36], &tcp4(b"x")]))),
                _ => frags4(6, &tcp4(&[9; 40])[20..], 16, 1).concat(),
            };
            let mut data = base.clone();
            for (i, b) in flips {
                if !data.is_empty() {
                    let n = data.len();
                    data[i % n] = b;
                }
            }
            data.truncate(cut % (data.len() + 1));
            let mut d = Decoder::new(DecoderConfig::default());
            let link = match which {
                5 => LinkType::RAW,
                8 => LinkType::IEEE802_11_RADIOTAP,
                _ => LinkType::ETHERNET,
            };
            // What the unmutated packet carries (a first fragment alone is held).
            let want: Option<&[u8]> = match which {
                0 | 1 => Some(b"data"),
                2 | 3 => Some(b"payload"),
                4 => Some(b""),
                6..=9 => Some(b"x"),
                _ => None,
            };
            match d.decode(&frame(link, &data)) {
                Ok(s) => {
                    prop_assert!(s.payload.len() <= data.len());
                    if data == base {
                        prop_assert_eq!(Some(s.payload), want);
                    }
                }
                Err(_) => prop_assert!(data != base || want.is_none()),
            }
        }
    }
}

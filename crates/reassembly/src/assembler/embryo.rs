//! Half-open connections kept small: a TCP connection whose only packet so
//! far is a bare SYN (no ACK, FIN, RST or URG, no payload) is held as an
//! 80-byte [`Embryo`] — the SYN's fields, packed — instead of a full
//! connection and [`Stream`](crate::Stream) (about 1.6 KiB with the engine's
//! stream). A SYN scan or SYN flood of a million addresses then costs about
//! 100 MiB instead of 1.6 GiB.
//!
//! The embryo is born (counted as a connection) at the SYN. At the
//! connection's second packet, or when housekeeping or the end of input
//! reaches it, the SYN is replayed through the normal path: the stream is
//! created and `accept`s the SYN then, so a stream's callbacks are those of
//! a connection created at the SYN, only later (its first callback comes at
//! its second packet or its end). Outputs do not change; the engine's
//! `Sink::open` of such a flow comes at that moment too.
//!
//! A SYN qualifies when everything the segment carries can be rebuilt from
//! the packed fields: no SACK blocks, a zero ACK number and urgent pointer,
//! IPv6 addresses without flow label or scope, and an encapsulation and
//! link-address pair among at most [`MAX_CONTEXTS`] distinct ones in use;
//! any other SYN opens a full connection as before. Once no embryo is left,
//! the memory a flood made the store grow to is given back.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hashbrown::HashTable;
use pcapread::{
    EncapPath, FiveTuple, FlowKey, LinkAddrs, Proto, Segment, Side, TcpFlags, TcpInfo, TcpOptions,
    Transport,
};

use crate::recency::{Recency, MAX_SLOTS};

/// Distinct (encapsulation, link addresses) pairs the embryos alive may
/// refer to; a SYN with another pair past this opens a full connection.
pub(crate) const MAX_CONTEXTS: usize = 4096;

/// Slab entries kept when the last embryo leaves (smaller slabs are not
/// worth giving back: normal traffic empties the store all the time).
const KEEP_EMPTY: usize = 4096;

/// `Embryo::bits`.
const V6_LO: u8 = 1;
const V6_HI: u8 = 1 << 1;
const FROM_HI: u8 = 1 << 2;
const HAS_MSS: u8 = 1 << 3;
const HAS_WSCALE: u8 = 1 << 4;
const HAS_TS: u8 = 1 << 5;
const SACK_OK: u8 = 1 << 6;
const DEFRAGMENTED: u8 = 1 << 7;

/// A bare SYN, packed: the half-open connection it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Embryo {
    pub(crate) frame: u64,
    pub(crate) ts: u64,
    /// The key's addresses (lower endpoint first); IPv4 in the first four bytes.
    addrs: [[u8; 16]; 2],
    ports: [u16; 2],
    seq: u32,
    ts_val: u32,
    ts_ecr: u32,
    window: u16,
    mss: u16,
    wscale: u8,
    flags: u8,
    bits: u8,
    /// Index of the (encapsulation, link addresses) pair in [`Contexts`].
    ctx: u32,
}

fn pack_addr(a: &SocketAddr) -> Option<([u8; 16], bool)> {
    match a {
        SocketAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.ip().octets());
            Some((b, false))
        }
        SocketAddr::V6(v6) if v6.flowinfo() == 0 && v6.scope_id() == 0 => {
            Some((v6.ip().octets(), true))
        }
        SocketAddr::V6(_) => None,
    }
}

fn unpack_addr(b: &[u8; 16], v6: bool, port: u16) -> SocketAddr {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(*b))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    SocketAddr::new(ip, port)
}

/// The packed form of a TCP key: addresses, ports and family bits.
fn pack_key(key: &FlowKey) -> Option<([[u8; 16]; 2], [u16; 2], u8)> {
    if key.proto != Proto::Tcp {
        return None;
    }
    let (lo, lo6) = pack_addr(&key.lo)?;
    let (hi, hi6) = pack_addr(&key.hi)?;
    let bits = if lo6 { V6_LO } else { 0 } | if hi6 { V6_HI } else { 0 };
    Some(([lo, hi], [key.lo.port(), key.hi.port()], bits))
}

impl Embryo {
    /// The embryo of `seg` (from `side` of `key`) if it is a bare SYN whose
    /// every field can be rebuilt; `ctx` is set later.
    pub(crate) fn of(key: &FlowKey, side: Side, seg: &Segment<'_>) -> Option<Embryo> {
        let Transport::Tcp(t) = &seg.transport else {
            return None;
        };
        let f = t.flags;
        let bare = f.syn() && !f.ack() && !f.fin() && !f.rst() && !f.urg();
        let o = &t.options;
        let plain = t.ack == 0
            && t.urgent == 0
            && o.sack_len == 0
            && o.sack == TcpOptions::default().sack
            && seg.payload.is_empty()
            && seg.truncated == 0;
        if !bare || !plain {
            return None;
        }
        let (addrs, ports, family) = pack_key(key)?;
        let (ts_val, ts_ecr) = o.timestamps.unwrap_or_default();
        let bits = family
            | if side == Side::Hi { FROM_HI } else { 0 }
            | if o.mss.is_some() { HAS_MSS } else { 0 }
            | if o.window_scale.is_some() {
                HAS_WSCALE
            } else {
                0
            }
            | if o.timestamps.is_some() { HAS_TS } else { 0 }
            | if o.sack_permitted { SACK_OK } else { 0 }
            | if seg.defragmented { DEFRAGMENTED } else { 0 };
        Some(Embryo {
            frame: seg.frame,
            ts: seg.ts,
            addrs,
            ports,
            seq: t.seq,
            ts_val,
            ts_ecr,
            window: t.window,
            mss: o.mss.unwrap_or_default(),
            wscale: o.window_scale.unwrap_or_default(),
            flags: f.0,
            bits,
            ctx: 0,
        })
    }

    fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    /// The connection's key.
    pub(crate) fn key(&self) -> FlowKey {
        FlowKey {
            proto: Proto::Tcp,
            lo: unpack_addr(&self.addrs[0], self.has(V6_LO), self.ports[0]),
            hi: unpack_addr(&self.addrs[1], self.has(V6_HI), self.ports[1]),
        }
    }

    /// The side that sent the SYN.
    pub(crate) fn side(&self) -> Side {
        if self.has(FROM_HI) {
            Side::Hi
        } else {
            Side::Lo
        }
    }

    /// The SYN again, as it was given to the assembler.
    pub(crate) fn segment(&self, (encap, link): (EncapPath, LinkAddrs)) -> Segment<'static> {
        let key = self.key();
        let (src, dst) = match self.side() {
            Side::Lo => (key.lo, key.hi),
            Side::Hi => (key.hi, key.lo),
        };
        let options = TcpOptions {
            mss: self.has(HAS_MSS).then_some(self.mss),
            window_scale: self.has(HAS_WSCALE).then_some(self.wscale),
            timestamps: self.has(HAS_TS).then_some((self.ts_val, self.ts_ecr)),
            sack_permitted: self.has(SACK_OK),
            ..TcpOptions::default()
        };
        Segment {
            frame: self.frame,
            ts: self.ts,
            tuple: FiveTuple {
                proto: Proto::Tcp,
                src,
                dst,
            },
            transport: Transport::Tcp(TcpInfo {
                seq: self.seq,
                ack: 0,
                flags: TcpFlags(self.flags),
                window: self.window,
                urgent: 0,
                options,
            }),
            payload: &[],
            truncated: 0,
            encap,
            link,
            defragmented: self.has(DEFRAGMENTED),
        }
    }
}

/// The (encapsulation, link addresses) pairs embryos refer to, with how
/// many do. A pair no embryo refers to stays (the next SYN most likely
/// comes the same way) until room is needed for another.
#[derive(Debug, Default)]
struct Contexts {
    index: HashMap<(EncapPath, LinkAddrs), u32, foldhash::fast::RandomState>,
    /// By index: the pair and how many embryos refer to it.
    list: Vec<((EncapPath, LinkAddrs), u32)>,
    /// Entries forgotten, to be reused.
    free: Vec<u32>,
    /// The pair given out last: most SYNs of a capture come the same way,
    /// and comparing is cheaper than hashing.
    last: u32,
}

impl Contexts {
    /// A reference to `pair`, unless [`MAX_CONTEXTS`] others are in use.
    fn acquire(&mut self, pair: (EncapPath, LinkAddrs)) -> Option<u32> {
        let i = match self.list.get(self.last as usize) {
            Some((p, _)) if *p == pair => self.last,
            _ => match self.index.get(&pair) {
                Some(&i) => i,
                None => self.add(pair)?,
            },
        };
        self.list[i as usize].1 += 1;
        self.last = i;
        Some(i)
    }

    /// A new entry for `pair`. When [`MAX_CONTEXTS`] are taken, the pairs
    /// no embryo refers to are forgotten first.
    fn add(&mut self, pair: (EncapPath, LinkAddrs)) -> Option<u32> {
        if self.free.is_empty() && self.list.len() >= MAX_CONTEXTS {
            for (i, (p, refs)) in self.list.iter().enumerate() {
                if *refs == 0 && self.index.remove(p).is_some() {
                    self.free.push(i as u32);
                }
            }
            self.last = u32::MAX;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.list[i as usize] = (pair, 0);
                i
            }
            None if self.list.len() < MAX_CONTEXTS => {
                self.list.push((pair, 0));
                (self.list.len() - 1) as u32
            }
            None => return None,
        };
        self.index.insert(pair, i);
        Some(i)
    }

    /// Pairs some embryo refers to.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.list.iter().filter(|(_, refs)| *refs > 0).count()
    }

    fn get(&self, i: u32) -> (EncapPath, LinkAddrs) {
        self.list
            .get(i as usize)
            .map(|(p, _)| *p)
            .unwrap_or_default()
    }

    fn release(&mut self, i: u32) {
        if let Some((_, refs)) = self.list.get_mut(i as usize) {
            *refs = refs.saturating_sub(1);
        }
    }
}

/// The embryos of one assembler: a slab of packed SYNs, a hash table of
/// slab indices by key, and the slab's order of arrival (oldest first, the
/// order in which they are evicted).
#[derive(Debug)]
pub(crate) struct Embryos {
    slab: Vec<Embryo>,
    /// Slab indices not in use.
    free: Vec<u32>,
    /// Slab indices in use, by key.
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    order: Recency,
    /// Whether `order` is also the order of first packet (frame, then
    /// time): each embryo came after the newest one alive in both. True
    /// unless the input's frame numbers or times go backwards.
    in_packet_order: bool,
    contexts: Contexts,
}

impl Default for Embryos {
    fn default() -> Self {
        Embryos {
            slab: Vec::new(),
            free: Vec::new(),
            table: HashTable::new(),
            hasher: Default::default(),
            order: Recency::default(),
            in_packet_order: true,
            contexts: Contexts::default(),
        }
    }
}

fn hash_of(h: &foldhash::fast::RandomState, e: &Embryo) -> u64 {
    h.hash_one((&e.addrs, &e.ports, e.bits & (V6_LO | V6_HI)))
}

fn same_key(a: &Embryo, b: &Embryo) -> bool {
    a.addrs == b.addrs && a.ports == b.ports && (a.bits ^ b.bits) & (V6_LO | V6_HI) == 0
}

impl Embryos {
    /// Embryos alive.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Keep `e`, unless it cannot be stored (no context left, or the slab
    /// is full); `e`'s key must not be held yet.
    pub(crate) fn insert(&mut self, mut e: Embryo, pair: (EncapPath, LinkAddrs)) -> bool {
        if self.free.is_empty() && self.slab.len() >= MAX_SLOTS {
            return false;
        }
        let Some(ctx) = self.contexts.acquire(pair) else {
            return false;
        };
        e.ctx = ctx;
        match self.newest() {
            Some(n) if (n.frame, n.ts) > (e.frame, e.ts) => self.in_packet_order = false,
            None => self.in_packet_order = true,
            _ => {}
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = e;
                i
            }
            None => {
                self.slab.push(e);
                (self.slab.len() - 1) as u32
            }
        };
        let h = hash_of(&self.hasher, &e);
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.table
            .insert_unique(h, i, |&j| hash_of(hasher, &slab[j as usize]));
        self.order.push(i as usize);
        true
    }

    /// Take the embryo of `key` out, with its SYN's encapsulation and link
    /// addresses.
    pub(crate) fn take(&mut self, key: &FlowKey) -> Option<Segment<'static>> {
        if self.table.is_empty() {
            return None;
        }
        let (addrs, ports, bits) = pack_key(key)?;
        let probe = Embryo {
            addrs,
            ports,
            bits,
            ..Embryo::blank()
        };
        let h = hash_of(&self.hasher, &probe);
        let slab = &self.slab;
        let found = self
            .table
            .find_entry(h, |&j| same_key(&slab[j as usize], &probe))
            .ok()?;
        let (i, _) = found.remove();
        Some(self.release(i))
    }

    /// Take out the embryo in slab index `i` (in use) and rebuild its SYN.
    fn release(&mut self, i: u32) -> Segment<'static> {
        let e = self.slab[i as usize];
        self.order.remove(i as usize);
        self.free.push(i);
        let seg = e.segment(self.contexts.get(e.ctx));
        self.contexts.release(e.ctx);
        if self.table.is_empty() && self.slab.len() > KEEP_EMPTY {
            // The last of a flood: give its memory back.
            self.slab = Vec::new();
            self.free = Vec::new();
            self.table = HashTable::new();
            self.order = Recency::default();
        }
        seg
    }

    /// Take out the embryo at slab index `i` (from
    /// [`Embryos::picked_in_order`] or [`Embryos::oldest`]).
    pub(crate) fn take_at(&mut self, i: u32) -> Option<Segment<'static>> {
        let e = *self.slab.get(i as usize)?;
        let h = hash_of(&self.hasher, &e);
        let found = self.table.find_entry(h, |&j| j == i).ok()?;
        found.remove();
        Some(self.release(i))
    }

    /// The embryo that arrived last.
    fn newest(&self) -> Option<&Embryo> {
        self.order.newest().map(|i| &self.slab[i])
    }

    /// The embryo that arrived first, by slab index.
    pub(crate) fn oldest(&self) -> Option<u32> {
        self.order.oldest().map(|i| i as u32)
    }

    /// The lowest frame number of the embryos alive (the oldest one's
    /// unless frame numbers went backwards).
    pub(crate) fn oldest_frame(&self) -> Option<u64> {
        if self.in_packet_order {
            return self.oldest().map(|i| self.get(i).frame);
        }
        self.table
            .iter()
            .map(|&i| self.slab[i as usize].frame)
            .min()
    }

    /// The embryo at slab index `i` (alive).
    pub(crate) fn get(&self, i: u32) -> &Embryo {
        &self.slab[i as usize]
    }

    /// Slab indices of the embryos `pick` selects, in order of first packet
    /// (frame, then time, then index). Walks the arrival order when it is
    /// that order (4 bytes per embryo picked), else sorts.
    pub(crate) fn picked_in_order(&self, pick: impl Fn(&Embryo) -> bool) -> Vec<u32> {
        if self.in_packet_order {
            let mut out = Vec::new();
            let mut at = self.order.oldest();
            while let Some(i) = at {
                if pick(&self.slab[i]) {
                    out.push(i as u32);
                }
                at = self.order.next(i);
            }
            return out;
        }
        let mut v: Vec<(u64, u64, u32)> = self
            .table
            .iter()
            .map(|&i| (&self.slab[i as usize], i))
            .filter(|(e, _)| pick(e))
            .map(|(e, i)| (e.frame, e.ts, i))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, _, i)| i).collect()
    }
}

impl Embryo {
    fn blank() -> Embryo {
        Embryo {
            frame: 0,
            ts: 0,
            addrs: [[0; 16]; 2],
            ports: [0; 2],
            seq: 0,
            ts_val: 0,
            ts_ecr: 0,
            window: 0,
            mss: 0,
            wscale: 0,
            flags: 0,
            bits: 0,
            ctx: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn syn(src: SocketAddr, dst: SocketAddr, options: TcpOptions) -> Segment<'static> {
        Segment {
            frame: 7,
            ts: 1_000_000_123,
            tuple: FiveTuple {
                proto: Proto::Tcp,
                src,
                dst,
            },
            transport: Transport::Tcp(TcpInfo {
                seq: 0xdead_beef,
                ack: 0,
                flags: TcpFlags(TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR),
                window: 64240,
                urgent: 0,
                options,
            }),
            payload: &[],
            truncated: 0,
            encap: EncapPath::new(),
            link: LinkAddrs::default(),
            defragmented: true,
        }
    }

    #[test]
    fn an_embryo_is_80_bytes() {
        assert_eq!(std::mem::size_of::<Embryo>(), 80);
    }

    #[test]
    fn an_embryo_gives_back_the_syn_it_was_made_of() {
        let v4 = |a: [u8; 4], p: u16| SocketAddr::from((a, p));
        let v6 = |last: u16, p: u16| SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, last], p));
        let full = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            timestamps: Some((1, 2)),
            sack_permitted: true,
            ..TcpOptions::default()
        };
        for (src, dst) in [
            (v4([10, 0, 0, 2], 80), v4([10, 0, 0, 1], 40000)),
            (v4([10, 0, 0, 1], 40000), v4([10, 0, 0, 2], 80)),
            (v6(1, 5), v6(2, 6)),
            (v6(2, 6), v4([192, 0, 2, 1], 7)),
        ] {
            for options in [TcpOptions::default(), full] {
                let seg = syn(src, dst, options);
                let (key, side) = seg.tuple.canonical();
                let mut store = Embryos::default();
                let e = Embryo::of(&key, side, &seg).unwrap();
                assert!(store.insert(e, (seg.encap, seg.link)));
                assert_eq!(store.len(), 1);
                assert_eq!(store.take(&key).unwrap(), seg);
                assert_eq!(store.len(), 0);
                assert!(store.take(&key).is_none());
            }
        }
    }

    #[test]
    fn only_a_bare_rebuildable_syn_is_an_embryo() {
        let src = SocketAddr::from(([10, 0, 0, 1], 40000));
        let dst = SocketAddr::from(([10, 0, 0, 2], 80));
        let base = syn(src, dst, TcpOptions::default());
        let (key, side) = base.tuple.canonical();
        assert!(Embryo::of(&key, side, &base).is_some());
        let with_tcp = |f: &dyn Fn(&mut TcpInfo)| {
            let mut s = base;
            if let Transport::Tcp(t) = &mut s.transport {
                f(t);
            }
            s
        };
        let not = [
            with_tcp(&|t| t.flags.0 |= TcpFlags::ACK),
            with_tcp(&|t| t.flags.0 |= TcpFlags::FIN),
            with_tcp(&|t| t.flags.0 |= TcpFlags::RST),
            with_tcp(&|t| t.flags.0 |= TcpFlags::URG),
            with_tcp(&|t| t.flags.0 = TcpFlags::ACK),
            with_tcp(&|t| t.ack = 5),
            with_tcp(&|t| t.urgent = 5),
            with_tcp(&|t| t.options.sack_len = 1),
            Segment {
                payload: b"x",
                ..base
            },
            Segment {
                truncated: 3,
                ..base
            },
        ];
        for s in not {
            assert!(Embryo::of(&key, side, &s).is_none(), "{s:?}");
        }
        let scoped = SocketAddr::V6(std::net::SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0, 3));
        let s = syn(scoped, dst, TcpOptions::default());
        let (k, sd) = s.tuple.canonical();
        assert!(Embryo::of(&k, sd, &s).is_none());
    }

    #[test]
    fn embryos_leave_in_arrival_order_and_their_contexts_are_freed() {
        let mut store = Embryos::default();
        let mut keys = Vec::new();
        for i in 0..10u16 {
            let mut seg = syn(
                SocketAddr::from(([10, 0, 0, 1], 1000 + i)),
                SocketAddr::from(([10, 0, 0, 2], 80)),
                TcpOptions::default(),
            );
            seg.link.src = Some(pcapread::Mac([0, 0, 0, 0, 0, i as u8]));
            let (key, side) = seg.tuple.canonical();
            assert!(store.insert(Embryo::of(&key, side, &seg).unwrap(), (seg.encap, seg.link)));
            keys.push(key);
        }
        assert_eq!(store.contexts.in_use(), 10);
        assert!(store.take(&keys[0]).is_some());
        let oldest = store.oldest().unwrap();
        let seg = store.take_at(oldest).unwrap();
        assert_eq!(seg.tuple.canonical().0, keys[1]);
        assert_eq!(store.len(), 8);
        assert_eq!(store.contexts.in_use(), 8);
        assert_eq!(store.picked_in_order(|_| true).len(), 8);
        while let Some(i) = store.oldest() {
            store.take_at(i).unwrap();
        }
        assert_eq!(store.len(), 0);
        assert_eq!(store.contexts.in_use(), 0);
    }

    #[test]
    fn contexts_past_the_cap_reuse_those_no_embryo_needs() {
        let pair = |n: u16| {
            let link = LinkAddrs {
                src: Some(pcapread::Mac([0, 0, 0, 0, (n >> 8) as u8, n as u8])),
                dst: None,
            };
            (EncapPath::new(), link)
        };
        let mut c = Contexts::default();
        let held: Vec<u32> = (0..MAX_CONTEXTS as u16)
            .map(|n| c.acquire(pair(n)).unwrap())
            .collect();
        assert_eq!(c.in_use(), MAX_CONTEXTS);
        assert!(c.acquire(pair(u16::MAX)).is_none(), "all in use");
        // Released pairs make room; the ones still held keep their index.
        c.release(held[5]);
        c.release(held[9]);
        let a = c.acquire(pair(u16::MAX)).unwrap();
        let b = c.acquire(pair(u16::MAX - 1)).unwrap();
        assert_eq!(
            [a, b]
                .iter()
                .filter(|i| [held[5], held[9]].contains(i))
                .count(),
            2
        );
        assert!(c.acquire(pair(u16::MAX - 2)).is_none());
        assert_eq!(c.get(held[6]), pair(6));
        assert_eq!(c.get(a), pair(u16::MAX));
        // The same pair again is the same entry.
        assert_eq!(c.acquire(pair(7)), Some(held[7]));
    }

    #[test]
    fn the_last_embryo_of_a_flood_gives_the_memory_back() {
        let mut store = Embryos::default();
        let n = KEEP_EMPTY as u32 + 10;
        for i in 0..n {
            let seg = syn(
                SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), 1000)),
                SocketAddr::from(([10, 0, 0, 2], 80)),
                TcpOptions::default(),
            );
            let (key, side) = seg.tuple.canonical();
            assert!(store.insert(Embryo::of(&key, side, &seg).unwrap(), (seg.encap, seg.link)));
        }
        while let Some(i) = store.oldest() {
            assert!(store.slab.capacity() > 0);
            store.take_at(i).unwrap();
        }
        assert_eq!((store.slab.capacity(), store.free.capacity()), (0, 0));
        assert_eq!(store.table.capacity(), 0);
    }
}

//! Flow identity: the directional five-tuple a packet carries, the canonical
//! direction-independent key both directions share, and the symmetric shard hash.
//!
//! Like conntrack's original/reply tuples, a [`FlowKey`] names the connection, and
//! a [`Side`] says which of its two endpoints sent a given packet. The key orders the
//! two endpoints (lower address, then lower port, first), so both directions of a
//! connection map to the same key and therefore to the same hash and shard.

use std::fmt;
use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher13;
use siphasher::sip128::{Hasher128 as _, SipHasher13 as SipHasher13_128};

/// The most bytes a key's layout takes (protocol, two IPv6 endpoints).
const KEY_BYTES: usize = 1 + 2 * (1 + 16 + 2);

/// Transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Proto {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl Proto {
    /// `"tcp"` or `"udp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The directional five-tuple of one packet: who sent it to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiveTuple {
    /// Transport protocol.
    pub proto: Proto,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
}

/// Which of a [`FlowKey`]'s two endpoints sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Sent by [`FlowKey::lo`].
    Lo,
    /// Sent by [`FlowKey::hi`].
    Hi,
}

impl Side {
    /// The other side.
    pub fn flip(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }
}

/// Canonical, direction-independent identity of a flow: the same value for both
/// directions of a connection.
///
/// Invariant: `(lo.ip(), lo.port()) <= (hi.ip(), hi.port())`, comparing
/// addresses as IPv4 before IPv6 and then numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    /// Transport protocol.
    pub proto: Proto,
    /// The lower endpoint.
    pub lo: SocketAddr,
    /// The higher endpoint.
    pub hi: SocketAddr,
}

/// Addresses, ports and protocol folded into two or three words: every
/// connection's packets look their key up, and hashing each field of the
/// two `SocketAddr`s on its own cost several times more. An IPv6 flow
/// label or scope (never set by the decoder) is left out, so equal keys
/// still hash alike.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let proto: u64 = match self.proto {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        };
        let ports = (u64::from(self.lo.port()) << 16 | u64::from(self.hi.port())) << 8 | proto;
        match (self.lo.ip(), self.hi.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                h.write_u64(u64::from(u32::from(a)) << 32 | u64::from(u32::from(b)));
                h.write_u64(ports);
            }
            (a, b) => {
                let wide = |ip: IpAddr| match ip {
                    IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
                    IpAddr::V6(v6) => u128::from(v6),
                };
                h.write_u128(wide(a));
                h.write_u128(wide(b));
                h.write_u64(ports | 1 << 48);
            }
        }
    }
}

fn endpoint_order(a: &SocketAddr, b: &SocketAddr) -> std::cmp::Ordering {
    (a.ip(), a.port()).cmp(&(b.ip(), b.port()))
}

impl FiveTuple {
    /// The canonical key of this packet's flow and the side that sent it.
    pub fn canonical(&self) -> (FlowKey, Side) {
        // Every packet asks this; the IPv4 case compares two words.
        let lo_first = match (&self.src, &self.dst) {
            (SocketAddr::V4(a), SocketAddr::V4(b)) => {
                let word = |e: &std::net::SocketAddrV4| {
                    u64::from(e.ip().to_bits()) << 16 | u64::from(e.port())
                };
                word(a) <= word(b)
            }
            (a, b) => endpoint_order(a, b).is_le(),
        };
        if lo_first {
            (
                FlowKey {
                    proto: self.proto,
                    lo: self.src,
                    hi: self.dst,
                },
                Side::Lo,
            )
        } else {
            (
                FlowKey {
                    proto: self.proto,
                    lo: self.dst,
                    hi: self.src,
                },
                Side::Hi,
            )
        }
    }

    /// The same tuple seen from the other end.
    pub fn reversed(&self) -> FiveTuple {
        FiveTuple {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
        }
    }
}

impl FlowKey {
    /// The five-tuple of a packet sent by `side`.
    pub fn tuple(&self, side: Side) -> FiveTuple {
        match side {
            Side::Lo => FiveTuple {
                proto: self.proto,
                src: self.lo,
                dst: self.hi,
            },
            Side::Hi => FiveTuple {
                proto: self.proto,
                src: self.hi,
                dst: self.lo,
            },
        }
    }

    /// A keyed hash of the key: equal for both directions (the key is canonical),
    /// stable across runs, platforms and thread counts, so it can pick a shard.
    ///
    /// It is part of the output contract (`streamcut --shard K/N` splits flows
    /// by it), so it is written down exactly: SipHash-1-3 with keys
    /// `k0 = 0x7374_7265_616d_6375`, `k1 = 0x745f_7368_6172_6421` over the
    /// bytes: the IP protocol number (6 or 17), then for the lower endpoint
    /// and then the higher one, `4` and the 4 address octets (IPv4) or `6`
    /// and the 16 address octets (IPv6), then the port, big-endian. Nothing
    /// depends on the machine's byte order; the value never changes silently
    /// (a test pins it).
    pub fn symmetric_hash(&self) -> u64 {
        // Only bytes go into the hasher (never `write_u16` and the like,
        // whose bytes follow the machine's byte order), so the value is the
        // same on every machine: `--shard K/N` depends on it. They are laid
        // out first and written at once (SipHash of a byte string is the same
        // however it is fed; one write is cheaper than nine).
        let mut buf = [0u8; KEY_BYTES];
        let n = self.layout(&mut buf);
        let mut h = SipHasher13::new_with_keys(0x7374_7265_616d_6375, 0x745f_7368_6172_6421);
        h.write(&buf[..n]);
        h.finish()
    }

    /// A 128-bit keyed hash of the key (SipHash-1-3, 128-bit output, over
    /// the bytes [`symmetric_hash`](Self::symmetric_hash) describes, with
    /// other keys): a compact stand-in for the key where 16 bytes must do
    /// (the assembler's tombstones of closed connections). Finding two keys
    /// with the same fingerprint takes about 2^64 hashes, out of reach of a
    /// crafted capture.
    pub fn fingerprint(&self) -> u128 {
        let mut buf = [0u8; KEY_BYTES];
        let n = self.layout(&mut buf);
        let mut h = SipHasher13_128::new_with_keys(0x666c_6f77_2d6b_6579, 0x2d74_6f6d_6273_746e);
        h.write(&buf[..n]);
        h.finish128().as_u128()
    }

    /// The key's bytes as [`symmetric_hash`](Self::symmetric_hash) lays them
    /// out; returns how many of `buf` were written.
    fn layout(&self, buf: &mut [u8; KEY_BYTES]) -> usize {
        buf[0] = match self.proto {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        };
        let mut n = 1;
        for ep in [&self.lo, &self.hi] {
            match ep.ip() {
                IpAddr::V4(a) => {
                    buf[n] = 4;
                    buf[n + 1..n + 5].copy_from_slice(&a.octets());
                    n += 5;
                }
                IpAddr::V6(a) => {
                    buf[n] = 6;
                    buf[n + 1..n + 17].copy_from_slice(&a.octets());
                    n += 17;
                }
            }
            buf[n..n + 2].copy_from_slice(&ep.port().to_be_bytes());
            n += 2;
        }
        n
    }

    /// The shard (0..`shards`) this flow belongs to; `shards` of 0 is treated as 1.
    pub fn shard(&self, shards: usize) -> usize {
        (self.symmetric_hash() % shards.max(1) as u64) as usize
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} <-> {}", self.proto, self.lo, self.hi)
    }
}

impl fmt::Display for FiveTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.proto, self.src, self.dst)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The key's hash with a fixed hasher.
    fn hash_of(k: &FlowKey) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault};
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(k)
    }

    #[test]
    fn keys_hash_by_every_field_that_tells_flows_apart() {
        let key = |a: &str, b: &str, proto| {
            FiveTuple {
                proto,
                src: a.parse().unwrap(),
                dst: b.parse().unwrap(),
            }
            .canonical()
            .0
        };
        let base = key("10.0.0.1:1000", "10.0.0.2:80", Proto::Tcp);
        let others = [
            key("10.0.0.1:1000", "10.0.0.2:80", Proto::Udp),
            key("10.0.0.1:1001", "10.0.0.2:80", Proto::Tcp),
            key("10.0.0.1:1000", "10.0.0.2:81", Proto::Tcp),
            key("10.0.0.3:1000", "10.0.0.2:80", Proto::Tcp),
            key("10.0.0.1:1000", "10.0.0.4:80", Proto::Tcp),
            key("[::ffff:10.0.0.1]:1000", "[::ffff:10.0.0.2]:80", Proto::Tcp),
            key("[2001:db8::1]:1000", "10.0.0.2:80", Proto::Tcp),
            key("[2001:db8::1]:1000", "[2001:db8::2]:80", Proto::Tcp),
        ];
        for o in &others {
            assert_ne!(hash_of(&base), hash_of(o), "{o:?}");
        }
        // Both directions of a flow have one key, so one hash.
        let back = key("10.0.0.2:80", "10.0.0.1:1000", Proto::Tcp);
        assert_eq!(hash_of(&base), hash_of(&back));
    }
    use proptest::prelude::*;

    fn t(src: &str, dst: &str) -> FiveTuple {
        FiveTuple {
            proto: Proto::Tcp,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
        }
    }

    #[test]
    fn both_directions_share_key_and_hash() {
        let a = t("10.0.0.2:80", "10.0.0.1:5555");
        let (ka, sa) = a.canonical();
        let (kb, sb) = a.reversed().canonical();
        assert_eq!(ka, kb);
        assert_ne!(sa, sb);
        assert_eq!(sa, Side::Hi);
        assert_eq!(ka.lo, "10.0.0.1:5555".parse().unwrap());
        assert_eq!(ka.symmetric_hash(), kb.symmetric_hash());
        assert_eq!(ka.tuple(sa), a);
    }

    #[test]
    fn same_address_orders_by_port() {
        let (k, s) = t("[::1]:9", "[::1]:7").canonical();
        assert_eq!(k.lo.port(), 7);
        assert_eq!(s, Side::Hi);
    }

    #[test]
    fn hash_is_stable_across_builds() {
        // The shard a flow lands in is part of the output contract (--shard K/N):
        // this value must never change silently.
        let (k, _) = t("192.0.2.1:1234", "198.51.100.2:80").canonical();
        assert_eq!(k.symmetric_hash(), k.symmetric_hash());
        let other = t("192.0.2.1:1235", "198.51.100.2:80").canonical().0;
        assert_ne!(k.symmetric_hash(), other.symmetric_hash());
        // The values themselves, byte order independent (computed once on
        // a little-endian machine; a big-endian one must agree).
        assert_eq!(k.symmetric_hash(), PINNED_V4);
        let v6 = t("[2001:db8::1]:443", "[2001:db8::2]:51000").canonical().0;
        assert_eq!(v6.symmetric_hash(), PINNED_V6);
    }

    #[test]
    fn fingerprint_tells_keys_apart_and_is_not_the_shard_hash() {
        let (k, _) = t("192.0.2.1:1234", "198.51.100.2:80").canonical();
        let (back, _) = t("198.51.100.2:80", "192.0.2.1:1234").canonical();
        assert_eq!(k.fingerprint(), back.fingerprint());
        let mut seen = std::collections::HashSet::new();
        for port in 0..2000u16 {
            let (o, _) = t("192.0.2.1:1", "198.51.100.2:80").canonical();
            let o = FlowKey {
                lo: SocketAddr::new(o.lo.ip(), port),
                ..o
            };
            assert!(seen.insert(o.fingerprint()), "port {port}");
        }
        let udp = FlowKey {
            proto: Proto::Udp,
            ..k
        };
        assert_ne!(k.fingerprint(), udp.fingerprint());
        // Other keys than the shard hash: its low 64 bits are not it.
        assert_ne!(k.fingerprint() as u64, k.symmetric_hash());
    }

    const PINNED_V4: u64 = 13_424_908_637_194_705_923;
    const PINNED_V6: u64 = 6_899_711_315_184_770_681;

    proptest! {
        #[test]
        fn canonical_is_symmetric(a in any::<[u8; 4]>(), b in any::<[u8; 4]>(), p in any::<u16>(), q in any::<u16>()) {
            let tup = FiveTuple {
                proto: Proto::Udp,
                src: SocketAddr::from((a, p)),
                dst: SocketAddr::from((b, q)),
            };
            let (k1, s1) = tup.canonical();
            let (k2, s2) = tup.reversed().canonical();
            prop_assert_eq!(k1, k2);
            prop_assert_eq!(k1.shard(7), k2.shard(7));
            prop_assert!(endpoint_order(&k1.lo, &k1.hi).is_le());
            prop_assert_eq!(k1.tuple(s1), tup);
            prop_assert_eq!(k2.tuple(s2), tup.reversed());
        }

        /// The IPv4 shortcut orders endpoints as the general comparison
        /// does, ties included (few addresses and ports, so equal ones and
        /// an address decided by its low or high octet both come up).
        #[test]
        fn ipv4_shortcut_orders_like_the_general_comparison(
            a in (0u8..3, 0u8..3), b in (0u8..3, 0u8..3), p in 0u16..3, q in 0u16..3,
        ) {
            let tup = FiveTuple {
                proto: Proto::Tcp,
                src: SocketAddr::from(([a.0, 0, 0, a.1], p << 14)),
                dst: SocketAddr::from(([b.0, 0, 0, b.1], q << 14)),
            };
            let (k, side) = tup.canonical();
            let want = if endpoint_order(&tup.src, &tup.dst).is_le() { Side::Lo } else { Side::Hi };
            prop_assert_eq!(side, want);
            prop_assert_eq!(k.tuple(side), tup);
        }
    }
}

//! The link-layer (MAC) addresses of a frame: those of its outermost link
//! header that carries 48-bit addresses, as a packet's [`LinkAddrs`].
//!
//! Which addresses a header gives:
//! - Ethernet II / 802.3: destination and source (the first 12 bytes);
//! - IEEE 802.11 data frames: the frame's source address (SA) and destination
//!   address (DA), taken from address 1 to 4 as the To DS / From DS bits say
//!   (IEEE 802.11-2020 table 9-30), not the transmitter and receiver of the
//!   hop: the stations at the ends, as an Ethernet bridge would forward them;
//! - Linux cooked captures (SLL, SLL2): only the source, and only when the
//!   hardware type is Ethernet with a 6-byte address;
//! - every other link layer (raw IP, PPP, BSD loopback, ...): none.
//!
//! Only the outermost header with addresses counts: a tunnel's inner Ethernet
//! header does not replace the outer one.

use std::fmt;

use crate::link::Next;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    /// Lowercase hex, colon separated (`aa:bb:cc:dd:ee:ff`), as tshark prints
    /// `eth.src`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The source and destination MAC addresses of a packet, each when its link
/// layer has it (14 bytes, no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LinkAddrs {
    /// The sender's address.
    pub src: Option<Mac>,
    /// The receiver's address.
    pub dst: Option<Mac>,
}

impl LinkAddrs {
    /// Whether neither address is known.
    pub fn is_empty(&self) -> bool {
        self.src.is_none() && self.dst.is_none()
    }
}

/// Linux ARPHRD_ETHER.
const ARPHRD_ETHER: u16 = 1;

/// Six bytes of `d` at `at`.
fn mac_at(d: &[u8], at: usize) -> Option<Mac> {
    let b = d.get(at..at.checked_add(6)?)?;
    let mut m = [0u8; 6];
    m.copy_from_slice(b);
    Some(Mac(m))
}

/// The addresses a header of kind `next` at the start of `data` carries
/// (empty for kinds without addresses, or when `data` is too short).
pub(crate) fn read(next: Next, data: &[u8]) -> LinkAddrs {
    match next {
        Next::Ethernet => LinkAddrs {
            dst: mac_at(data, 0),
            src: mac_at(data, 6),
        },
        Next::Wlan { .. } => wlan(data),
        Next::Sll => sll(data),
        Next::Sll2 => sll2(data),
        _ => LinkAddrs::default(),
    }
}

/// Big-endian u16 at `at`.
fn be16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// SLL: ARPHRD at 2, address length (u16) at 4, address at 6.
fn sll(data: &[u8]) -> LinkAddrs {
    cooked(be16(data, 2), be16(data, 4), data, 6)
}

/// SLL2: ARPHRD at 8, address length (u8) at 11, address at 12.
fn sll2(data: &[u8]) -> LinkAddrs {
    cooked(be16(data, 8), data.get(11).map(|&b| u16::from(b)), data, 12)
}

/// A cooked header's source address, when its hardware type is Ethernet
/// and its address length 6.
fn cooked(hatype: Option<u16>, halen: Option<u16>, data: &[u8], addr_at: usize) -> LinkAddrs {
    if hatype == Some(ARPHRD_ETHER) && halen == Some(6) {
        LinkAddrs {
            src: mac_at(data, addr_at),
            dst: None,
        }
    } else {
        LinkAddrs::default()
    }
}

/// An 802.11 data frame's SA and DA.
fn wlan(data: &[u8]) -> LinkAddrs {
    // Address n (1-based) starts at 4 + 6 (n - 1) for n <= 3; address 4 at 24.
    const A1: usize = 4;
    const A2: usize = 10;
    const A3: usize = 16;
    const A4: usize = 24;
    let Some(&fc1) = data.get(1) else {
        return LinkAddrs::default();
    };
    let (da, sa) = match fc1 & 0x03 {
        0 => (A1, A2), // IBSS / direct: DA, SA
        1 => (A3, A2), // To DS: BSSID, SA, DA
        2 => (A1, A3), // From DS: DA, BSSID, SA
        _ => (A3, A4), // WDS / mesh: RA, TA, DA, SA
    };
    LinkAddrs {
        src: mac_at(data, sa),
        dst: mac_at(data, da),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(b: u8) -> Option<Mac> {
        Some(Mac([b; 6]))
    }

    #[test]
    fn ethernet_destination_then_source() {
        let mut f = vec![1u8; 6];
        f.extend_from_slice(&[2; 6]);
        f.extend_from_slice(&[0x08, 0x00]);
        let a = read(Next::Ethernet, &f);
        assert_eq!((a.dst, a.src), (m(1), m(2)));
        assert!(read(Next::Ethernet, &f[..11]).src.is_none());
        assert_eq!(
            Mac([0xaa, 0xbb, 0x0c, 0, 1, 0xff]).to_string(),
            "aa:bb:0c:00:01:ff"
        );
    }

    #[test]
    fn wlan_source_and_destination_by_ds_bits() {
        // Frame control, duration, then addresses 1..3 (bytes 1, 2, 3), the
        // sequence control and address 4 (bytes 4).
        let mut f = vec![0x08, 0, 0, 0];
        for b in [1u8, 2, 3] {
            f.extend_from_slice(&[b; 6]);
        }
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&[4; 6]);
        for (ds, sa, da) in [(0u8, 2, 1), (1, 2, 3), (2, 3, 1), (3, 4, 3)] {
            f[1] = ds;
            let a = read(Next::Wlan { padded: false }, &f);
            assert_eq!((a.src, a.dst), (m(sa), m(da)), "ds bits {ds}");
        }
    }

    #[test]
    fn cooked_source_only_for_ethernet_addresses() {
        // SLL: packet type, ARPHRD, address length, 8 address bytes, protocol.
        let mut sll = vec![0, 0, 0, 1, 0, 6];
        sll.extend_from_slice(&[7; 6]);
        sll.extend_from_slice(&[0, 0, 0x08, 0x00]);
        assert_eq!(
            read(Next::Sll, &sll),
            LinkAddrs {
                src: m(7),
                dst: None
            }
        );
        sll[3] = 0x04; // ARPHRD 772: loopback
        assert!(read(Next::Sll, &sll).is_empty());
        // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, length, address.
        let mut sll2 = vec![0x08, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6];
        sll2.extend_from_slice(&[9; 6]);
        sll2.extend_from_slice(&[0, 0]);
        assert_eq!(read(Next::Sll2, &sll2).src, m(9));
        sll2[11] = 0;
        assert!(read(Next::Sll2, &sll2).is_empty());
        assert!(read(Next::Ip, &sll2).is_empty());
    }
}

//! The encapsulation path of a packet: every layer, outermost first, down to and
//! including the innermost IP header that carries the TCP/UDP header
//! (for example `eth/vlan:100/ipv4/gre/eth/ipv4`).

use std::fmt;

/// One encapsulation layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Layer {
    /// Placeholder for unused slots.
    #[default]
    None,
    /// Ethernet II.
    Ethernet,
    /// IEEE 802.2 LLC/SNAP.
    LlcSnap,
    /// 802.1Q / 802.1ad VLAN tag with its VLAN id.
    Vlan(u16),
    /// 802.1ah provider backbone bridging (MAC-in-MAC) with its I-SID.
    Pbb(u32),
    /// MPLS label.
    Mpls(u32),
    /// PPPoE session.
    Pppoe,
    /// PPP.
    Ppp,
    /// Cisco HDLC.
    Chdlc,
    /// Linux cooked capture v1.
    Sll,
    /// Linux cooked capture v2.
    Sll2,
    /// BSD null / loopback.
    Null,
    /// Netfilter NFLOG.
    Nflog,
    /// IP over InfiniBand.
    Ipoib,
    /// ARCNET.
    Arcnet,
    /// An IPv4 header.
    Ipv4,
    /// An IPv6 header.
    Ipv6,
    /// GRE.
    Gre,
    /// ERSPAN (type II or III) inside GRE.
    Erspan,
    /// VXLAN with its VNI.
    Vxlan(u32),
    /// Geneve with its VNI.
    Geneve(u32),
    /// Teredo (IPv6 in UDP).
    Teredo,
    /// GTPv1-U (user plane of mobile networks).
    Gtpu,
    /// GRE in UDP (RFC 8086).
    GreUdp,
    /// AYIYA (anything in anything, IPv6 tunnel brokers).
    Ayiya,
    /// CAPWAP data channel.
    Capwap,
    /// Radiotap capture header.
    Radiotap,
    /// PPI capture header.
    Ppi,
    /// IEEE 802.11 data frame.
    Wlan,
    /// 802.11 A-MSDU subframe.
    Amsdu,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::None => f.write_str("none"),
            Layer::Ethernet => f.write_str("eth"),
            Layer::LlcSnap => f.write_str("llc"),
            Layer::Vlan(id) => write!(f, "vlan:{id}"),
            Layer::Pbb(isid) => write!(f, "pbb:{isid}"),
            Layer::Mpls(label) => write!(f, "mpls:{label}"),
            Layer::Pppoe => f.write_str("pppoe"),
            Layer::Ppp => f.write_str("ppp"),
            Layer::Chdlc => f.write_str("chdlc"),
            Layer::Sll => f.write_str("sll"),
            Layer::Sll2 => f.write_str("sll2"),
            Layer::Null => f.write_str("null"),
            Layer::Nflog => f.write_str("nflog"),
            Layer::Ipoib => f.write_str("ipoib"),
            Layer::Arcnet => f.write_str("arcnet"),
            Layer::Ipv4 => f.write_str("ipv4"),
            Layer::Ipv6 => f.write_str("ipv6"),
            Layer::Gre => f.write_str("gre"),
            Layer::Erspan => f.write_str("erspan"),
            Layer::Vxlan(vni) => write!(f, "vxlan:{vni}"),
            Layer::Geneve(vni) => write!(f, "geneve:{vni}"),
            Layer::Teredo => f.write_str("teredo"),
            Layer::Gtpu => f.write_str("gtpu"),
            Layer::GreUdp => f.write_str("gre-udp"),
            Layer::Ayiya => f.write_str("ayiya"),
            Layer::Capwap => f.write_str("capwap"),
            Layer::Radiotap => f.write_str("radiotap"),
            Layer::Ppi => f.write_str("ppi"),
            Layer::Wlan => f.write_str("wlan"),
            Layer::Amsdu => f.write_str("amsdu"),
        }
    }
}

/// Up to [`EncapPath::CAPACITY`] layers, outermost first, stored inline (no
/// allocation per packet). Deeper stacks keep the outermost layers and set
/// `overflowed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EncapPath {
    layers: [Layer; EncapPath::CAPACITY],
    len: u8,
    overflowed: bool,
}

impl EncapPath {
    /// How many layers are kept.
    pub const CAPACITY: usize = 16;

    /// An empty path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append an inner layer.
    pub fn push(&mut self, layer: Layer) {
        let n = usize::from(self.len);
        if n < Self::CAPACITY {
            self.layers[n] = layer;
            self.len += 1;
        } else {
            self.overflowed = true;
        }
    }

    /// The recorded layers, outermost first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers[..usize::from(self.len)]
    }

    /// Whether layers were dropped because the stack was deeper than the capacity.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

impl fmt::Display for EncapPath {
    /// Layers joined with `/`, e.g. `eth/vlan:100/ipv4/gre/eth`; `+` marks overflow.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.layers().iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{l}")?;
        }
        if self.overflowed {
            f.write_str("/+")?;
        }
        Ok(())
    }
}

//! Link-layer header types (the tcpdump.org LINKTYPE_ registry).

use std::fmt;

/// A link-layer header type as stored in a pcap header or pcapng IDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback (4-byte address family in host byte order).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II / 802.3.
    pub const ETHERNET: LinkType = LinkType(1);
    /// PPP (RFC 1661), possibly with HDLC-like framing.
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP on some BSDs (DLT_RAW value 12).
    pub const RAW_BSD12: LinkType = LinkType(12);
    /// Raw IP on OpenBSD (DLT_RAW value 14).
    pub const RAW_BSD14: LinkType = LinkType(14);
    /// PPP in HDLC-like framing (RFC 1662).
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// PPP over Ethernet session data with no Ethernet header.
    pub const PPP_ETHER: LinkType = LinkType(51);
    /// Raw IPv4 or IPv6 (version nibble decides).
    pub const RAW: LinkType = LinkType(101);
    /// Cisco HDLC.
    pub const C_HDLC: LinkType = LinkType(104);
    /// OpenBSD loopback (address family in network byte order).
    pub const LOOP: LinkType = LinkType(108);
    /// IEEE 802.11 frames (no capture header).
    pub const IEEE802_11: LinkType = LinkType(105);
    /// Radiotap header, then an IEEE 802.11 frame.
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    /// PPI (Per-Packet Information) header, then the frame of the link type it names.
    pub const PPI: LinkType = LinkType(192);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// ARCNET as seen on Linux.
    pub const ARCNET_LINUX: LinkType = LinkType(129);
    /// IP over InfiniBand (RFC 4391 encapsulation header).
    pub const IPOIB: LinkType = LinkType(242);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux netfilter NFLOG.
    pub const NFLOG: LinkType = LinkType(239);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// A short lowercase name for reports (`ether`, `linux-sll`, ...), or `linktype-N`.
    pub fn name(self) -> String {
        let s = match self {
            LinkType::NULL => "null",
            LinkType::ETHERNET => "ether",
            LinkType::PPP => "ppp",
            LinkType::RAW_BSD12 | LinkType::RAW_BSD14 | LinkType::RAW => "raw",
            LinkType::PPP_HDLC => "ppp-hdlc",
            LinkType::PPP_ETHER => "ppp-ether",
            LinkType::C_HDLC => "chdlc",
            LinkType::LOOP => "loop",
            LinkType::IEEE802_11 => "ieee802-11",
            LinkType::IEEE802_11_RADIOTAP => "ieee802-11-radiotap",
            LinkType::PPI => "ppi",
            LinkType::LINUX_SLL => "linux-sll",
            LinkType::ARCNET_LINUX => "arcnet-linux",
            LinkType::IPOIB => "ipoib",
            LinkType::IPV4 => "ipv4",
            LinkType::IPV6 => "ipv6",
            LinkType::NFLOG => "nflog",
            LinkType::LINUX_SLL2 => "linux-sll2",
            LinkType(n) => return format!("linktype-{n}"),
        };
        s.to_string()
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

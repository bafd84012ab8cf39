//! What the tool knows about one flow: its identity when the first packet is
//! seen ([`FlowHead`]) and everything measured by the time it completes
//! ([`FlowRecord`]).
//!
//! # Flow identity
//! A flow's id is the frame number of its first packet (frames are numbered
//! 1.. over the timestamp-merged inputs). One frame yields at most one segment,
//! and a segment opens at most one flow, so ids are unique; they depend only on
//! the input, never on the number of worker threads.

use std::net::SocketAddr;
use std::sync::Arc;

use pcapread::{EncapPath, Layer, LinkAddrs, Mac, Proto};
use reassembly::{Dir, EndReason, Ledger};

/// A flow id: the frame number of the flow's first packet.
pub type FlowId = u64;

/// A flow as known from its first packet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowHead {
    /// Frame number of the first packet.
    pub id: FlowId,
    /// TCP or UDP.
    pub proto: Proto,
    /// The client: the side that sent the SYN, or with no SYN seen, the first packet.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Timestamp of the first packet (ns since the Unix epoch).
    pub first_ts: u64,
    /// Whether the connection was seen from its SYN.
    pub syn_seen: bool,
    /// Encapsulation of the first packet (outermost first). Shared: the
    /// flows of one worker that came the same way hold one copy. Serialized
    /// as the path itself.
    pub encap: Arc<EncapPath>,
    /// The client's MAC address: the first packet's source or destination
    /// (whichever the client was) in its outermost link header that has
    /// addresses; `None` when that link has none (raw IP) or only the other
    /// side's (Linux SLL gives only the source).
    pub client_mac: Option<Mac>,
    /// The server's MAC address, likewise.
    pub server_mac: Option<Mac>,
}

impl FlowHead {
    /// The sender and receiver of one direction.
    pub fn endpoints(&self, dir: Dir) -> (SocketAddr, SocketAddr) {
        match dir {
            Dir::ClientToServer => (self.client, self.server),
            Dir::ServerToClient => (self.server, self.client),
        }
    }

    /// Record the first packet's link addresses, sent by `sender`: its
    /// source is the client's when the client sent it, else the server's.
    pub fn set_macs(&mut self, sender: std::net::SocketAddr, link: LinkAddrs) {
        let (client, server) = if sender == self.client {
            (link.src, link.dst)
        } else {
            (link.dst, link.src)
        };
        self.client_mac = client;
        self.server_mac = server;
    }

    /// The outermost VLAN id of the first packet, if it had one.
    pub fn vlan(&self) -> Option<u16> {
        self.encap.layers().iter().find_map(|l| match l {
            Layer::Vlan(id) => Some(*id),
            _ => None,
        })
    }
}

/// What one direction of a flow produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DirRecord {
    /// Bytes handed to the sink (delivered bytes plus zero fill).
    pub bytes: u64,
    /// Packets sent in this direction.
    pub packets: u64,
    /// SHA-256 of the bytes handed to the sink (`None` when digests are off:
    /// [`EngineOptions::digest`](crate::EngineOptions::digest)). Serialized
    /// as bytes (one copy, not 32 elements: records are written out and read
    /// back in bulk, see [`crate::spill`]).
    #[serde(with = "serde_bytes")]
    pub sha256: Option<[u8; 32]>,
    /// Zero bytes written in place of missing bytes (`--gaps zero`).
    pub zero_filled: u64,
    /// The byte ledger, gaps included.
    pub ledger: Ledger,
}

/// A completed flow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowRecord {
    /// Identity and first-packet facts.
    pub head: FlowHead,
    /// Frame number of the last packet.
    pub last_frame: u64,
    /// Timestamp of the last packet (ns).
    pub last_ts: u64,
    /// How the flow ended.
    pub end: EndReason,
    /// Times the connection went quiet past the idle timeout and carried on
    /// (see [`reassembly::AssemblerConfig::resume_window`]).
    pub idle_resumptions: u32,
    /// The longest of those quiet periods (ns); 0 when it never resumed.
    pub longest_idle: u64,
    /// Client-to-server direction.
    pub c2s: DirRecord,
    /// Server-to-client direction.
    pub s2c: DirRecord,
    /// Where the sink put the two directions (client to server first), when
    /// it decided that as the flow closed (packed layout, tcpflow names), so
    /// the sink need not remember it for every flow; `None` otherwise.
    pub placed: Option<Box<[Placement; 2]>>,
}

impl FlowRecord {
    /// One direction's record.
    pub fn dir(&self, dir: Dir) -> &DirRecord {
        match dir {
            Dir::ClientToServer => &self.c2s,
            Dir::ServerToClient => &self.s2c,
        }
    }
}

/// Where a sink put one direction of a flow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Placement {
    /// Not written anywhere (`streamcut flows`).
    Unwritten,
    /// A file of its own (`None` when there were no bytes).
    File(Option<String>),
    /// A range of one packed file.
    Packed {
        /// The packed file's name.
        file: String,
        /// First byte.
        offset: u64,
        /// Length.
        length: u64,
    },
}

/// Both directions in manifest order.
pub const DIRS: [Dir; 2] = [Dir::ClientToServer, Dir::ServerToClient];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_is_the_outermost_tag() {
        let mut encap = EncapPath::new();
        for l in [Layer::Ethernet, Layer::Vlan(6), Layer::Vlan(7), Layer::Ipv4] {
            encap.push(l);
        }
        let head = FlowHead {
            id: 1,
            proto: Proto::Tcp,
            client: "10.0.0.1:1".parse().unwrap(),
            server: "10.0.0.2:2".parse().unwrap(),
            first_ts: 0,
            syn_seen: true,
            encap: encap.into(),
            client_mac: None,
            server_mac: None,
        };
        assert_eq!(head.vlan(), Some(6));
        assert_eq!(
            head.endpoints(Dir::ServerToClient),
            (head.server, head.client)
        );
    }

    #[test]
    fn macs_follow_the_first_packets_direction() {
        let mut head = FlowHead {
            id: 1,
            proto: Proto::Tcp,
            client: "10.0.0.1:1".parse().unwrap(),
            server: "10.0.0.2:2".parse().unwrap(),
            first_ts: 0,
            syn_seen: false,
            encap: EncapPath::new().into(),
            client_mac: None,
            server_mac: None,
        };
        let link = LinkAddrs {
            src: Some(Mac([1; 6])),
            dst: Some(Mac([2; 6])),
        };
        head.set_macs(head.client, link);
        assert_eq!((head.client_mac, head.server_mac), (link.src, link.dst));
        head.set_macs(head.server, link);
        assert_eq!((head.client_mac, head.server_mac), (link.dst, link.src));
        // Linux SLL: the source only, so only the sender's side.
        let sll = LinkAddrs {
            src: Some(Mac([3; 6])),
            dst: None,
        };
        head.set_macs(head.server, sll);
        assert_eq!((head.client_mac, head.server_mac), (None, sll.src));
    }
}

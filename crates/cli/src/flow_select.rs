//! `follow --flow SEL`: which flows to show, by id or by endpoints.
//!
//! A selector is a flow id (`46`, as `streamcut flows` lists them) or a
//! pair of endpoints `ADDR:PORT-ADDR:PORT` in either order, IPv6 addresses
//! in brackets (`10.0.0.1:443-10.0.0.2:51234`,
//! `[2001:db8::1]:443-[2001:db8::2]:51234`), as tshark's
//! `-z follow,tcp,ascii,ADDR:PORT,ADDR:PORT` takes them. Endpoints select
//! every flow between them (a port reused later is another flow).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use engine::{FlowHead, FlowId};

/// One `--flow` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowSel {
    /// The flow with this id.
    Id(FlowId),
    /// The flows between these endpoints (either one the client).
    Endpoints(SocketAddr, SocketAddr),
}

impl FlowSel {
    /// Whether the flow `head` is selected.
    pub fn matches(&self, head: &FlowHead) -> bool {
        match *self {
            FlowSel::Id(id) => head.id == id,
            FlowSel::Endpoints(a, b) => {
                (head.client == a && head.server == b) || (head.client == b && head.server == a)
            }
        }
    }
}

impl fmt::Display for FlowSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowSel::Id(id) => write!(f, "{id}"),
            FlowSel::Endpoints(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

/// A `--flow` value that is neither an id nor two endpoints.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is neither a flow id nor two endpoints ADDR:PORT-ADDR:PORT (IPv6 in brackets: [::1]:80-[::2]:5000)"
)]
pub struct BadFlowSel(String);

impl FromStr for FlowSel {
    type Err = BadFlowSel;

    fn from_str(s: &str) -> Result<FlowSel, BadFlowSel> {
        let bad = || BadFlowSel(s.to_string());
        if let Ok(id) = s.parse::<FlowId>() {
            return Ok(FlowSel::Id(id));
        }
        // Neither an IPv4 address nor a bracketed IPv6 one has a '-'.
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let a: SocketAddr = a.trim().parse().map_err(|_| bad())?;
        let b: SocketAddr = b.trim().parse().map_err(|_| bad())?;
        Ok(FlowSel::Endpoints(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcapread::{EncapPath, Proto};

    fn head(client: &str, server: &str) -> FlowHead {
        FlowHead {
            id: 7,
            proto: Proto::Tcp,
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            first_ts: 0,
            syn_seen: true,
            encap: EncapPath::new().into(),
            client_mac: None,
            server_mac: None,
        }
    }

    #[test]
    fn ids_and_endpoints_in_either_order() {
        let h = head("10.0.0.2:51234", "10.0.0.1:443");
        assert!("7".parse::<FlowSel>().unwrap().matches(&h));
        assert!(!"8".parse::<FlowSel>().unwrap().matches(&h));
        for s in ["10.0.0.1:443-10.0.0.2:51234", "10.0.0.2:51234-10.0.0.1:443"] {
            assert!(s.parse::<FlowSel>().unwrap().matches(&h), "{s}");
        }
        assert!(!"10.0.0.1:443-10.0.0.2:51235"
            .parse::<FlowSel>()
            .unwrap()
            .matches(&h));
    }

    #[test]
    fn ipv6_in_brackets() {
        let h = head("[2001:db8::2]:51234", "[2001:db8::1]:443");
        let s: FlowSel = "[2001:db8::1]:443-[2001:db8::2]:51234".parse().unwrap();
        assert!(s.matches(&h));
        assert_eq!(s.to_string(), "[2001:db8::1]:443-[2001:db8::2]:51234");
    }

    #[test]
    fn nonsense_is_refused() {
        for s in [
            "",
            "x",
            "10.0.0.1-10.0.0.2",
            "10.0.0.1:80",
            "2001:db8::1:80-::2:5",
        ] {
            assert!(s.parse::<FlowSel>().is_err(), "{s}");
        }
    }
}

//! [`EngineOptions::flows`](crate::EngineOptions::flows) (the CLI's
//! `--flows EXPR`): select whole flows, not packets, with a tcpdump
//! expression matched against the flow's endpoints in either direction.
//!
//! `--filter 'dst port 443'` is a packet filter: it keeps the packets sent
//! to port 443 and drops the replies, so every connection ends one-sided.
//! A [`FlowFilter`] instead decides from a segment's addresses, ports and
//! protocol alone, trying both directions, so every packet of a connection
//! gets the same answer: `dst port 443` selects the connections whose
//! server (or client) port is 443, with both their directions.
//!
//! How: the expression is compiled by libpcap for raw IP (`DLT_RAW`, no
//! link-layer header) and run on a synthetic packet built from the
//! segment's four-tuple: an IPv4 or IPv6 header and a TCP or UDP header with
//! the ports, nothing else; a segment is kept when either direction
//! matches. What the expression can sensibly test is therefore the
//! protocol (`tcp`, `udp`, `ip`, `ip6`), addresses (`host`, `net`, `src`,
//! `dst`) and ports (`port`, `portrange`); link-layer words (`ether`,
//! `vlan`) do not compile for raw IP and are refused, and tests of packet
//! contents (TCP flags, lengths, payload bytes) see the synthetic packet,
//! not the real ones. Inside tunnels the four-tuple is the innermost one,
//! the flow's own.
//!
//! libpcap's compiled programs cannot move between threads, so each thread
//! that decodes (the reading thread and every worker) compiles the
//! expression once for itself, on first use, and keeps it for the run;
//! [`FlowFilter::new`] compiles it once up front so a bad expression is an
//! error before anything is read.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use pcap::{BpfProgram, Capture, Linktype};
use pcapread::{FiveTuple, Proto};

use crate::filter::FilterError;

/// libpcap's `DLT_RAW` (its `pcap_open_dead` takes DLT numbers; the file
/// format's `LINKTYPE_RAW` is 101): packets start with their IPv4 or IPv6
/// header.
#[cfg(not(target_os = "openbsd"))]
const RAW: i32 = 12;
#[cfg(target_os = "openbsd")]
const RAW: i32 = 14;

/// A flow selector: a tcpdump expression over a flow's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFilter {
    expr: String,
}

thread_local! {
    /// This thread's compiled programs, by expression.
    static PROGRAMS: RefCell<HashMap<String, BpfProgram>> = RefCell::new(HashMap::new());
}

/// Most expressions a thread keeps compiled (a library that runs many
/// different selectors on one thread recompiles instead of growing).
const KEPT: usize = 16;

fn compile(expr: &str) -> Result<BpfProgram, FilterError> {
    let err = |detail: String| FilterError {
        expr: expr.to_string(),
        link_type: "raw IP, as a flow selector".to_string(),
        number: 101,
        detail,
    };
    let dead = Capture::dead(Linktype(RAW)).map_err(|e| err(e.to_string()))?;
    dead.compile(expr, true).map_err(|e| err(e.to_string()))
}

impl FlowFilter {
    /// A selector for `expr`, compiled once here to check it.
    pub fn new(expr: &str) -> Result<FlowFilter, FilterError> {
        compile(expr)?;
        Ok(FlowFilter {
            expr: expr.to_string(),
        })
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Whether the flow of `tuple` is selected: the expression matches the
    /// synthetic packet from `src` to `dst` or the one from `dst` to `src`.
    pub fn matches(&self, tuple: &FiveTuple) -> bool {
        PROGRAMS.with(|programs| {
            let mut programs = programs.borrow_mut();
            if !programs.contains_key(&self.expr) {
                if programs.len() >= KEPT {
                    programs.clear();
                }
                // Checked by `new`; a program that somehow no longer
                // compiles selects nothing.
                let Ok(p) = compile(&self.expr) else {
                    return false;
                };
                programs.insert(self.expr.clone(), p);
            }
            let Some(p) = programs.get(&self.expr) else {
                return false;
            };
            p.filter(&packet(tuple.proto, tuple.src, tuple.dst))
                || p.filter(&packet(tuple.proto, tuple.dst, tuple.src))
        })
    }
}

/// A raw IP packet from `src` to `dst` with an empty TCP or UDP header.
fn packet(proto: Proto, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (number, l4): (u8, Vec<u8>) = match proto {
        Proto::Tcp => {
            let mut h = vec![0u8; 20];
            h[12] = 5 << 4;
            (6, h)
        }
        Proto::Udp => {
            let mut h = vec![0u8; 8];
            h[4..6].copy_from_slice(&8u16.to_be_bytes());
            (17, h)
        }
    };
    let mut l4 = l4;
    l4[0..2].copy_from_slice(&src.port().to_be_bytes());
    l4[2..4].copy_from_slice(&dst.port().to_be_bytes());
    let len = u16::try_from(l4.len()).unwrap_or(0);
    let mut p = Vec::with_capacity(40 + l4.len());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&(20 + len).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0x40, 0, 64, number, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(a) => a.octets(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            };
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&len.to_be_bytes());
            p.extend_from_slice(&[number, 64]);
            p.extend_from_slice(&v6(s));
            p.extend_from_slice(&v6(d));
        }
    }
    p.extend_from_slice(&l4);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(proto: Proto, src: &str, dst: &str) -> FiveTuple {
        FiveTuple {
            proto,
            src: src.parse().unwrap_or_else(|_| unreachable!()),
            dst: dst.parse().unwrap_or_else(|_| unreachable!()),
        }
    }

    #[test]
    fn either_direction_selects_the_flow() {
        let f = FlowFilter::new("dst port 443 and host 10.0.0.2").unwrap_or_else(|e| panic!("{e}"));
        let c2s = tuple(Proto::Tcp, "10.0.0.1:51234", "10.0.0.2:443");
        let s2c = tuple(Proto::Tcp, "10.0.0.2:443", "10.0.0.1:51234");
        assert!(f.matches(&c2s));
        assert!(f.matches(&s2c));
        assert!(!f.matches(&tuple(Proto::Tcp, "10.0.0.1:51234", "10.0.0.2:80")));
    }

    #[test]
    fn protocols_and_ipv6() {
        let f = FlowFilter::new("udp and net 2001:db8::/32").unwrap_or_else(|e| panic!("{e}"));
        assert!(f.matches(&tuple(Proto::Udp, "[2001:db8::1]:53", "[2001:db9::2]:5000")));
        assert!(!f.matches(&tuple(Proto::Tcp, "[2001:db8::1]:53", "[2001:db9::2]:5000")));
        let tcp = FlowFilter::new("tcp port 80").unwrap_or_else(|e| panic!("{e}"));
        assert!(!tcp.matches(&tuple(Proto::Udp, "10.0.0.1:80", "10.0.0.2:9")));
        assert!(tcp.matches(&tuple(Proto::Tcp, "10.0.0.1:9", "10.0.0.2:80")));
    }

    #[test]
    fn link_layer_words_and_bad_syntax_are_refused() {
        assert!(FlowFilter::new("ether host 00:11:22:33:44:55").is_err());
        let e = FlowFilter::new("port eighty").unwrap_err();
        assert!(e.to_string().contains("port eighty"), "{e}");
    }
}

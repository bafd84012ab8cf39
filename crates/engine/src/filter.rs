//! [`EngineOptions::filter`](crate::EngineOptions::filter) (the CLI's `--filter EXPR`):
//! tcpdump filter expressions, compiled by libpcap (through the `pcap` crate)
//! once per link type and run on every frame before decoding (cargo feature
//! `bpf`, on by default).
//!
//! Like tcpdump reading a file, the filter sees the frame from its link-layer
//! header on. The program is compiled against a "dead" libpcap handle of the
//! frame's link type (`pcap_open_dead`), so an expression that names headers a
//! link type cannot have (for example `vlan` on raw IP) fails to compile for
//! that link type: that is a fatal error naming the expression and the link type.
//! The frame's link type is a pcap file's LINKTYPE value; libpcap compiles for
//! a DLT value, and the two differ for raw IP: LINKTYPE_RAW (101) and the
//! BSD raw-IP link types 12 and 14 (which streamcut decodes as raw IP) all
//! become the platform's DLT_RAW (14 on OpenBSD, 12 elsewhere), as libpcap
//! itself maps them when it reads a file (`linktype_to_dlt` in
//! pcap-common.c). Every other link type streamcut decodes has equal values.
//! Known limit: the `pcap` crate runs the program with the captured length as
//! the wire length, so `greater`/`less` compare against the captured length
//! of snaplen-truncated frames.

use std::collections::HashMap;

use pcap::{BpfProgram, Capture, Linktype};
use pcapread::LinkType;

/// A compiled filter expression, with one BPF program per link type seen.
pub struct BpfFilter {
    expr: String,
    programs: HashMap<LinkType, BpfProgram>,
}

/// A clone holds the expression; its programs are compiled again as needed.
impl Clone for BpfFilter {
    fn clone(&self) -> Self {
        BpfFilter::new(&self.expr)
    }
}

impl std::fmt::Debug for BpfFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpfFilter")
            .field("expr", &self.expr)
            .field("link_types", &self.programs.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// An expression libpcap refused.
#[derive(Debug, thiserror::Error)]
#[error("filter {expr:?} does not compile for link type {link_type} ({number}): {detail}")]
pub struct FilterError {
    /// The expression.
    pub expr: String,
    /// Link type name.
    pub link_type: String,
    /// Link type number.
    pub number: u32,
    /// libpcap's message.
    pub detail: String,
}

impl BpfFilter {
    /// A filter for `expr`; nothing is compiled yet.
    pub fn new(expr: &str) -> BpfFilter {
        BpfFilter {
            expr: expr.to_string(),
            programs: HashMap::new(),
        }
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Compile the program for `link_type` unless already done.
    pub fn prepare(&mut self, link_type: LinkType) -> Result<(), FilterError> {
        if self.programs.contains_key(&link_type) {
            return Ok(());
        }
        let err = |detail: String| FilterError {
            expr: self.expr.clone(),
            link_type: link_type.name(),
            number: link_type.0,
            detail,
        };
        let number = i32::try_from(dlt(link_type)).map_err(|_| err("no such link type".into()))?;
        let dead = Capture::dead(Linktype(number)).map_err(|e| err(e.to_string()))?;
        let program = dead
            .compile(&self.expr, true)
            .map_err(|e| err(e.to_string()))?;
        self.programs.insert(link_type, program);
        Ok(())
    }

    /// Whether a frame of `link_type` with captured bytes `data` passes.
    pub fn matches(&mut self, link_type: LinkType, data: &[u8]) -> Result<bool, FilterError> {
        self.prepare(link_type)?;
        Ok(self
            .programs
            .get(&link_type)
            .is_some_and(|p| p.filter(data)))
    }
}

/// libpcap's DLT_RAW on this platform.
const DLT_RAW: u32 = if cfg!(target_os = "openbsd") { 14 } else { 12 };

/// The DLT value libpcap compiles a filter for, for frames of pcap link
/// type `link_type`: raw IP's three numbers become DLT_RAW, the rest are
/// the same numbers (see the module docs).
fn dlt(link_type: LinkType) -> u32 {
    match link_type {
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => DLT_RAW,
        other => other.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 + TCP header, ports 1234 -> `dport`.
    fn eth_tcp(dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&1234u16.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        f
    }

    #[test]
    fn port_filter_on_ethernet() {
        let mut f = BpfFilter::new("tcp port 80");
        assert!(f.matches(LinkType::ETHERNET, &eth_tcp(80)).unwrap());
        assert!(!f.matches(LinkType::ETHERNET, &eth_tcp(81)).unwrap());
        // Garbage never matches and never fails.
        assert!(!f.matches(LinkType::ETHERNET, &[1, 2, 3]).unwrap());
    }

    /// Raw IPv4 + TCP header, ports 1234 -> `dport`.
    fn raw_tcp(dport: u16) -> Vec<u8> {
        eth_tcp(dport)[14..].to_vec()
    }

    /// Raw IP under its three link type numbers (LINKTYPE_RAW, and the BSD
    /// DLT_RAW values 12 and 14) compiles and matches as on Ethernet.
    #[test]
    fn port_filter_on_raw_ip() {
        for lt in [LinkType::RAW, LinkType::RAW_BSD12, LinkType::RAW_BSD14] {
            let mut f = BpfFilter::new("tcp port 80");
            assert!(f.matches(lt, &raw_tcp(80)).unwrap(), "{lt:?}");
            assert!(!f.matches(lt, &raw_tcp(81)).unwrap(), "{lt:?}");
            assert!(!f.matches(lt, &eth_tcp(80)).unwrap(), "{lt:?}");
        }
    }

    #[test]
    fn bad_expression_names_link_type() {
        let mut f = BpfFilter::new("tcp port eighty");
        let e = f.prepare(LinkType::ETHERNET).unwrap_err();
        assert_eq!(e.link_type, "ether");
        assert!(e.to_string().contains("tcp port eighty"), "{e}");
    }
}

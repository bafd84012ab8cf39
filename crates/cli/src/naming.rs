//! File names of extracted flow directions, and the guard that keeps every
//! name inside the output directory.
//!
//! # Default naming
//! `<id>-<proto>-<clientip>.<cport>-<serverip>.<sport>.<c2s|s2c>`, for example
//! `0000000001-tcp-10.0.0.1.49152-10.0.0.2.80.c2s`:
//! - `id` is the flow id (frame number of its first packet), zero-padded to
//!   [`ID_WIDTH`] digits so names sort in capture order (wider ids simply use
//!   more digits);
//! - IPv4 addresses are dotted quads; IPv6 addresses are written in their
//!   RFC 5952 text form with every `:` replaced by `_` (`2001_db8__1`), so no
//!   name contains a character that is special in paths on any common system;
//! - ports are decimal, not padded.
//!
//! Ids are unique, so default names never clash.
//!
//! # tcpflow naming (`--naming tcpflow`)
//! The names Debian's tcpflow 1.6 writes (template `%A.%a-%B.%b%V%v%C%c`):
//! sender address and port, then receiver address and port. IPv4 octets are
//! zero-padded to three digits, ports to five (`010.000.000.001.01234`); IPv6
//! addresses keep tcpflow's RFC 5952 form with colons. A first packet carrying
//! a VLAN tag adds `--<vlan id>`. When an earlier flow already used the same
//! name (a reused address/port tuple), the name gets `c<n>`, n counting the
//! earlier flows with that name (`...00080c1`), in flow id order.
//!
//! # Safety
//! Names are built from numbers only, but still go through [`sanitize`] (a
//! default name only when [`is_sanitized`] says it must) and
//! [`check_inside`]: a name is a single path component of
//! `[A-Za-z0-9._:-]`, never `.` or `..`, at most 255 bytes. Default names,
//! which start with the ten-digit id, are that by construction (a property
//! test checks it for any flow), so the files layout rebuilds them when it
//! needs them rather than keeping checked copies.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use reassembly::Dir;

use engine::FlowHead;

/// Digits of the zero-padded flow id in default names.
pub const ID_WIDTH: usize = 10;

/// Longest file name written (the common file-system limit, in bytes).
pub const MAX_NAME: usize = 255;

/// How flow files are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// `<id>-<proto>-<client>.<port>-<server>.<port>.<c2s|s2c>`.
    #[default]
    Default,
    /// tcpflow's `SRCIP.SRCPORT-DSTIP.DSTPORT` names.
    Tcpflow,
}

impl Naming {
    /// The name used on the command line and in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Naming::Default => "default",
            Naming::Tcpflow => "tcpflow",
        }
    }
}

impl FromStr for Naming {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(Naming::Default),
            "tcpflow" => Ok(Naming::Tcpflow),
            _ => Err(format!(
                "unknown naming {s:?} (expected \"default\" or \"tcpflow\")"
            )),
        }
    }
}

/// Gives each flow direction its file name; remembers the names used so far
/// (tcpflow names of reused tuples get a `c<n>` suffix).
#[derive(Debug, Default)]
pub struct Namer {
    naming: Naming,
    /// tcpflow base name -> flows that used it so far.
    used: HashMap<String, u32>,
}

impl Namer {
    /// A namer for `naming`.
    pub fn new(naming: Naming) -> Namer {
        Namer {
            naming,
            used: HashMap::new(),
        }
    }

    /// The naming scheme.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// The names of both directions of a new flow (client-to-server first).
    /// Must be called once per flow, in flow id order, for tcpflow's clash
    /// suffixes to be deterministic.
    pub fn names(&mut self, head: &FlowHead) -> [String; 2] {
        let [a, b] = engine::DIRS;
        match self.naming {
            Naming::Default => [default_name(head, a), default_name(head, b)],
            Naming::Tcpflow => {
                let mut out = [tcpflow_base(head, a), tcpflow_base(head, b)];
                for name in &mut out {
                    let n = self.used.entry(name.clone()).or_insert(0);
                    if *n > 0 {
                        let _ = write!(name, "c{n}");
                    }
                    *n = n.saturating_add(1);
                }
                out.map(|n| sanitize(&n))
            }
        }
    }
}

/// The default name of one direction (built in one buffer, numbers by
/// `itoa`: extracting a million flows names two million files).
pub fn default_name(head: &FlowHead, dir: Dir) -> String {
    let mut name = String::with_capacity(64);
    let mut n = itoa::Buffer::new();
    let id = n.format(head.id);
    name.extend(std::iter::repeat_n('0', ID_WIDTH.saturating_sub(id.len())));
    name.push_str(id);
    name.push('-');
    name.push_str(head.proto.as_str());
    name.push('-');
    push_default_ip(&mut name, head.client.ip());
    name.push('.');
    name.push_str(n.format(head.client.port()));
    name.push('-');
    push_default_ip(&mut name, head.server.ip());
    name.push('.');
    name.push_str(n.format(head.server.port()));
    name.push('.');
    name.push_str(dir.as_str());
    if is_sanitized(&name) {
        name
    } else {
        sanitize(&name)
    }
}

fn push_default_ip(name: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            let mut n = itoa::Buffer::new();
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    name.push('.');
                }
                name.push_str(n.format(o));
            }
        }
        IpAddr::V6(a) => name.push_str(&a.to_string().replace(':', "_")),
    }
}

/// tcpflow's name of one direction, before any clash suffix.
pub fn tcpflow_base(head: &FlowHead, dir: Dir) -> String {
    let (src, dst) = head.endpoints(dir);
    let mut name = format!("{}-{}", tcpflow_endpoint(src), tcpflow_endpoint(dst));
    if let Some(vlan) = head.vlan() {
        let _ = write!(name, "--{vlan}");
    }
    name
}

fn tcpflow_endpoint(ep: SocketAddr) -> String {
    match ep.ip() {
        IpAddr::V4(a) => {
            let [a, b, c, d] = a.octets();
            format!("{a:03}.{b:03}.{c:03}.{d:03}.{:05}", ep.port())
        }
        IpAddr::V6(a) => format!("{a}.{:05}", ep.port()),
    }
}

/// Make `name` a safe single file name: characters outside `[A-Za-z0-9._:-]`
/// become `_`, a name of only dots (or an empty one) gets a leading `_`, and the
/// result is cut to [`MAX_NAME`] bytes.
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.chars().all(|c| c == '.') {
        out.insert(0, '_');
    }
    // Only ASCII remains, so any byte index is a char boundary.
    out.truncate(MAX_NAME);
    out
}

/// Whether [`sanitize`] would return `name` unchanged.
pub fn is_sanitized(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
        && !name.bytes().all(|c| c == b'.')
}

/// `dir/name`, after checking that `name` is one plain path component (no
/// separator, no `.`/`..`, no root or drive prefix), so the result can never
/// point outside `dir`.
pub fn join_inside(dir: &Path, name: &str) -> Result<PathBuf, UnsafeName> {
    check_inside(name)?;
    Ok(dir.join(name))
}

/// The check of [`join_inside`], without the join.
pub fn check_inside(name: &str) -> Result<(), UnsafeName> {
    let mut comps = Path::new(name).components();
    match (comps.next(), comps.next()) {
        (Some(Component::Normal(c)), None)
            if c == std::ffi::OsStr::new(name)
                && !name.contains(['/', '\\', '\0'])
                && name.len() <= MAX_NAME =>
        {
            Ok(())
        }
        _ => Err(UnsafeName(name.to_string())),
    }
}

/// A file name that would not stay inside the output directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing unsafe output file name {0:?}")]
pub struct UnsafeName(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use pcapread::{EncapPath, Layer, Proto};
    use proptest::prelude::*;

    fn head(id: u64, client: &str, server: &str, vlan: Option<u16>) -> FlowHead {
        let mut encap = EncapPath::new();
        encap.push(Layer::Ethernet);
        if let Some(v) = vlan {
            encap.push(Layer::Vlan(v));
        }
        encap.push(Layer::Ipv4);
        FlowHead {
            id,
            proto: Proto::Tcp,
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            first_ts: 0,
            syn_seen: true,
            encap: encap.into(),
            client_mac: None,
            server_mac: None,
        }
    }

    #[test]
    fn default_names() {
        let mut n = Namer::new(Naming::Default);
        let h = head(7, "10.0.0.1:1234", "10.0.0.2:80", None);
        assert_eq!(
            n.names(&h),
            [
                "0000000007-tcp-10.0.0.1.1234-10.0.0.2.80.c2s",
                "0000000007-tcp-10.0.0.1.1234-10.0.0.2.80.s2c"
            ]
        );
        let h6 = head(12345678901, "[2001:db8::1]:5", "[::ffff:1.2.3.4]:6", None);
        assert_eq!(
            default_name(&h6, Dir::ClientToServer),
            "12345678901-tcp-2001_db8__1.5-__ffff_1.2.3.4.6.c2s"
        );
    }

    #[test]
    fn tcpflow_names_match_tcpflow() {
        // As written by Debian's tcpflow 1.6.1 for corpus captures
        // (arkime/tcp-reassembly-synthetic.pcap, zeek/ftp/ipv6.pcap,
        // suricata-verify/eve-overlap-payload-01/tcp-overlap.pcap).
        let mut n = Namer::new(Naming::Tcpflow);
        let h = head(1, "10.180.156.1:40008", "10.180.156.2:80", None);
        assert_eq!(
            n.names(&h),
            [
                "010.180.156.001.40008-010.180.156.002.00080",
                "010.180.156.002.00080-010.180.156.001.40008"
            ]
        );
        // The same tuple again: tcpflow's connection counter.
        let again = n.names(&head(9, "10.180.156.1:40008", "10.180.156.2:80", None));
        assert_eq!(again[0], "010.180.156.001.40008-010.180.156.002.00080c1");
        let third = n.names(&head(19, "10.180.156.1:40008", "10.180.156.2:80", None));
        assert_eq!(third[1], "010.180.156.002.00080-010.180.156.001.40008c2");
        let v = head(2, "1.1.1.1:12345", "2.2.2.2:8080", Some(6));
        assert_eq!(
            tcpflow_base(&v, Dir::ClientToServer),
            "001.001.001.001.12345-002.002.002.002.08080--6"
        );
        let h6 = head(
            3,
            "[2001:470:4867:99::21]:21",
            "[2001:470:1f11:81f:c999:d94:aa7c:2e3e]:49185",
            None,
        );
        assert_eq!(
            tcpflow_base(&h6, Dir::ServerToClient),
            "2001:470:1f11:81f:c999:d94:aa7c:2e3e.49185-2001:470:4867:99::21.00021"
        );
    }

    #[test]
    fn crafted_names_cannot_escape() {
        let dir = Path::new("/out");
        for bad in [
            "../../etc/passwd",
            "..",
            ".",
            "",
            "a/b",
            "/abs",
            "a\\b",
            "a\0b",
            "C:\\x",
            "x/../../y",
        ] {
            assert!(join_inside(dir, bad).is_err(), "{bad:?} accepted raw");
            let s = sanitize(bad);
            let p = join_inside(dir, &s).unwrap_or_else(|e| panic!("{bad:?} -> {s:?}: {e}"));
            assert_eq!(p.parent(), Some(dir), "{bad:?} -> {p:?}");
        }
        assert_eq!(sanitize("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(sanitize(".."), "_..");
        assert_eq!(sanitize(&"a".repeat(300)).len(), MAX_NAME);
    }

    proptest! {
        #[test]
        fn any_string_sanitizes_to_a_child(s in ".*") {
            let name = sanitize(&s);
            let p = join_inside(Path::new("out"), &name).unwrap();
            prop_assert_eq!(p.parent(), Some(Path::new("out")));
            prop_assert!(name.len() <= MAX_NAME);
            prop_assert!(is_sanitized(&name));
        }

        /// Default names are safe by construction (the files layout keeps
        /// none, so they are not checked again at open): sanitized, one
        /// plain component, for any flow.
        #[test]
        fn default_names_are_plain_components(
            id in any::<u64>(),
            udp in any::<bool>(),
            v6 in any::<bool>(),
            a in any::<[u8; 16]>(),
            b in any::<[u8; 16]>(),
            ports in any::<(u16, u16)>(),
        ) {
            let ip = |x: [u8; 16]| -> IpAddr {
                if v6 {
                    std::net::Ipv6Addr::from(x).into()
                } else {
                    std::net::Ipv4Addr::new(x[0], x[1], x[2], x[3]).into()
                }
            };
            let mut h = head(id, "10.0.0.1:1", "10.0.0.2:2", None);
            h.proto = if udp { Proto::Udp } else { Proto::Tcp };
            h.client = SocketAddr::new(ip(a), ports.0);
            h.server = SocketAddr::new(ip(b), ports.1);
            for dir in engine::DIRS {
                let name = default_name(&h, dir);
                // The layout, as `format!` writes it.
                let text = |ip: IpAddr| ip.to_string().replace(':', "_");
                let want = format!(
                    "{:010}-{}-{}.{}-{}.{}.{}",
                    id,
                    h.proto,
                    text(h.client.ip()),
                    ports.0,
                    text(h.server.ip()),
                    ports.1,
                    dir.as_str()
                );
                prop_assert_eq!(&name, &sanitize(&want));
                prop_assert!(is_sanitized(&name), "{}", name);
                prop_assert!(check_inside(&name).is_ok(), "{}", name);
            }
        }

        /// `is_sanitized` says exactly when `sanitize` changes nothing (it
        /// lets `default_name` skip the copy).
        #[test]
        fn is_sanitized_means_sanitize_is_identity(s in "[a-z0-9._:/-]{0,5}|[.]{0,3}|.{0,300}") {
            prop_assert_eq!(is_sanitized(&s), sanitize(&s) == s);
        }
    }
}

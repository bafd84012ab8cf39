//! [`PolicyMap`]: which overlap policy a receiving host uses, by address or
//! subnet, like Suricata's `host-os-policy`.
//!
//! Overlapping segments are resolved the way the *receiving* stack would
//! resolve them (Novak & Sturges 2007), so the assembler looks up each
//! direction's receiver: the server for client-to-server bytes, the client for
//! server-to-client bytes (Suricata does the same: it keys a stream's policy on
//! the destination address of its packets). The lookup is a longest-prefix match
//! over IPv4 and IPv6 prefixes; an address no rule covers gets the assembler's
//! default policy ([`AssemblerConfig::overlap_policy`](crate::AssemblerConfig)).
//! A map holds each prefix at most once, so the match is unique and the result
//! does not depend on the order rules were added.
//!
//! # File format
//! One rule per line: a prefix (`10.0.0.0/8`, `2001:db8::/32`) or a single
//! address (`192.0.2.7`, same as `/32` or `/128`), white space, a policy name
//! ([`OverlapPolicy::ALL`]). `#` starts a comment; blank lines are ignored.
//!
//! ```
//! use reassembly::{OverlapPolicy, PolicyMap};
//!
//! let map = PolicyMap::parse("
//!     ## lab hosts
//!     0.0.0.0/0     windows
//!     10.1.0.0/16   linux
//!     10.1.2.3      old-linux   # the old box
//!     2001:db8::/32 bsd
//! ")?;
//! assert_eq!(map.lookup("10.1.2.3".parse()?), Some(OverlapPolicy::OldLinux));
//! assert_eq!(map.lookup("10.1.9.9".parse()?), Some(OverlapPolicy::Linux));
//! assert_eq!(map.lookup("192.0.2.1".parse()?), Some(OverlapPolicy::Windows));
//! assert_eq!(map.lookup("2001:db8::1".parse()?), Some(OverlapPolicy::Bsd));
//! assert_eq!(map.lookup("2001:db9::1".parse()?), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use crate::policy::{OverlapPolicy, UnknownPolicy};

/// Overlap policies by receiver address prefix (longest prefix wins).
///
/// Invariant: every key is a truncated prefix (no host bits) and appears once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyMap {
    rules: BTreeMap<IpNet, OverlapPolicy>,
}

impl PolicyMap {
    /// An empty map (every address gets the default policy).
    pub fn new() -> Self {
        PolicyMap::default()
    }

    /// Map `net` (host bits are cleared) to `policy`; returns the policy it
    /// replaced, if the same prefix was mapped already.
    pub fn insert(&mut self, net: IpNet, policy: OverlapPolicy) -> Option<OverlapPolicy> {
        self.rules.insert(net.trunc(), policy)
    }

    /// The policy of the longest prefix containing `addr` (an IPv4-mapped IPv6
    /// address is looked up as IPv4), or `None` when no prefix contains it.
    pub fn lookup(&self, addr: IpAddr) -> Option<OverlapPolicy> {
        let addr = addr.to_canonical();
        self.rules
            .iter()
            .filter(|(net, _)| net.contains(&addr))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(_, p)| *p)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules in address order.
    pub fn rules(&self) -> impl Iterator<Item = (IpNet, OverlapPolicy)> + '_ {
        self.rules.iter().map(|(n, p)| (*n, *p))
    }

    /// Parse the text of a policy map (see the [module documentation](self)).
    pub fn parse(text: &str) -> Result<PolicyMap, PolicyMapError> {
        let mut map = PolicyMap::new();
        let mut first_line: BTreeMap<IpNet, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |problem| PolicyMapError::Line {
                file: None,
                line,
                problem,
            };
            let content = raw.split('#').next().unwrap_or("");
            let fields: Vec<&str> = content.split_whitespace().collect();
            let (prefix, policy) = match fields[..] {
                [] => continue,
                [prefix, policy] => (prefix, policy),
                _ => return Err(err(LineProblem::Fields(fields.len()))),
            };
            let net = parse_prefix(prefix).map_err(err)?;
            let policy = policy
                .parse::<OverlapPolicy>()
                .map_err(|e| err(LineProblem::Policy(e)))?;
            if let Some(&first) = first_line.get(&net) {
                return Err(err(LineProblem::Duplicate {
                    prefix: net,
                    first_line: first,
                }));
            }
            first_line.insert(net, line);
            map.insert(net, policy);
        }
        Ok(map)
    }

    /// Read and parse a policy map file; errors name the file (and line).
    pub fn from_file(path: impl AsRef<Path>) -> Result<PolicyMap, PolicyMapError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyMapError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        PolicyMap::parse(&text).map_err(|e| match e {
            PolicyMapError::Line { line, problem, .. } => PolicyMapError::Line {
                file: Some(path.to_path_buf()),
                line,
                problem,
            },
            other => other,
        })
    }
}

impl fmt::Display for PolicyMap {
    /// The map in file format, one rule per line in address order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (net, policy) in self.rules() {
            writeln!(f, "{net} {policy}")?;
        }
        Ok(())
    }
}

/// A prefix or a bare address; host bits must be clear.
fn parse_prefix(s: &str) -> Result<IpNet, LineProblem> {
    let net = if s.contains('/') {
        s.parse::<IpNet>()
            .map_err(|_| LineProblem::Address(s.to_string()))?
    } else {
        IpNet::from(
            s.parse::<IpAddr>()
                .map_err(|_| LineProblem::Address(s.to_string()))?,
        )
    };
    if net.trunc() != net {
        return Err(LineProblem::HostBits {
            text: s.to_string(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

/// Why a policy map could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyMapError {
    /// The file could not be read.
    // The I/O error is the source, not part of this message: error chains
    // print it once, after this.
    #[error("cannot read policy map {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a valid rule.
    #[error("{}line {line}: {problem}", file.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Line {
        /// The file, when the map was read from one.
        file: Option<PathBuf>,
        /// Line number, from 1.
        line: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
}

/// What is wrong with one line of a policy map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// Not two fields.
    #[error("expected `PREFIX POLICY`, found {0} fields")]
    Fields(usize),
    /// The first field is not an address or prefix.
    #[error("{0:?} is not an IP address or prefix")]
    Address(String),
    /// The prefix has bits set past its length.
    #[error("{text:?} has host bits set (the network is {network})")]
    HostBits {
        /// The prefix as written.
        text: String,
        /// The prefix with host bits cleared.
        network: IpNet,
    },
    /// The second field is not a policy name.
    #[error("{0} (known: {names})", names = policy_names())]
    Policy(UnknownPolicy),
    /// The prefix was mapped on an earlier line.
    #[error("{prefix} is already mapped on line {first_line}")]
    Duplicate {
        /// The prefix.
        prefix: IpNet,
        /// Where it was first mapped.
        first_line: usize,
    },
}

fn policy_names() -> String {
    OverlapPolicy::ALL
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_v4_and_v6() {
        let map = PolicyMap::parse(
            "0.0.0.0/0 windows\n10.0.0.0/8 bsd\n10.1.0.0/16 linux\n10.1.2.3 old-linux\n\
             ::/0 vista\n2001:db8::/32 solaris\n2001:db8:1::/48 hpux11\n",
        )
        .unwrap();
        assert_eq!(map.len(), 7);
        assert_eq!(map.lookup(ip("10.1.2.3")), Some(OverlapPolicy::OldLinux));
        assert_eq!(map.lookup(ip("10.1.2.4")), Some(OverlapPolicy::Linux));
        assert_eq!(map.lookup(ip("10.2.0.1")), Some(OverlapPolicy::Bsd));
        assert_eq!(map.lookup(ip("11.0.0.1")), Some(OverlapPolicy::Windows));
        assert_eq!(map.lookup(ip("2001:db8:1::5")), Some(OverlapPolicy::Hpux11));
        assert_eq!(
            map.lookup(ip("2001:db8:2::5")),
            Some(OverlapPolicy::Solaris)
        );
        assert_eq!(map.lookup(ip("2001:db9::5")), Some(OverlapPolicy::Vista));
        // IPv4-mapped IPv6 is looked up as IPv4.
        assert_eq!(
            map.lookup(ip("::ffff:10.1.2.3")),
            Some(OverlapPolicy::OldLinux)
        );
    }

    #[test]
    fn no_rule_is_none_and_families_do_not_mix() {
        let map = PolicyMap::parse("0.0.0.0/0 linux").unwrap();
        assert_eq!(map.lookup(ip("2001:db8::1")), None);
        assert_eq!(PolicyMap::new().lookup(ip("1.2.3.4")), None);
    }

    #[test]
    fn order_of_rules_does_not_matter() {
        let a = PolicyMap::parse("10.0.0.0/8 bsd\n10.1.0.0/16 linux").unwrap();
        let b = PolicyMap::parse("10.1.0.0/16 linux\n10.0.0.0/8 bsd").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "10.0.0.0/8 bsd\n10.1.0.0/16 linux\n");
        assert_eq!(PolicyMap::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn comments_blank_lines_and_spacing() {
        let map = PolicyMap::parse(
            "# header\n\n   \t\n  192.0.2.0/24\t\tfirst   # trailing\n#10.0.0.0/8 last\n",
        )
        .unwrap();
        assert_eq!(
            map.rules().collect::<Vec<_>>(),
            vec![("192.0.2.0/24".parse().unwrap(), OverlapPolicy::First)]
        );
    }

    fn line_err(text: &str) -> (usize, LineProblem) {
        match PolicyMap::parse(text) {
            Err(PolicyMapError::Line { line, problem, .. }) => (line, problem),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            line_err("10.0.0.0/8 bsd\n10.0.0.0/8\n"),
            (2, LineProblem::Fields(1))
        );
        assert_eq!(
            line_err("# c\n10.0.0.0/8 bsd extra\n"),
            (2, LineProblem::Fields(3))
        );
        assert_eq!(
            line_err("\n\n10.0.0.0/33 bsd"),
            (3, LineProblem::Address("10.0.0.0/33".into()))
        );
        assert_eq!(
            line_err("host.example bsd"),
            (1, LineProblem::Address("host.example".into()))
        );
        assert_eq!(
            line_err("10.0.0.0/8 freebsd"),
            (1, LineProblem::Policy(UnknownPolicy("freebsd".into())))
        );
        assert_eq!(
            line_err("10.0.0.1/8 bsd"),
            (
                1,
                LineProblem::HostBits {
                    text: "10.0.0.1/8".into(),
                    network: "10.0.0.0/8".parse().unwrap()
                }
            )
        );
        assert_eq!(
            line_err("10.0.0.0/8 bsd\n#\n10.0.0.0/8 linux"),
            (
                3,
                LineProblem::Duplicate {
                    prefix: "10.0.0.0/8".parse().unwrap(),
                    first_line: 1
                }
            )
        );
        // A bare address and its /32 are the same prefix.
        assert!(matches!(
            line_err("192.0.2.1 bsd\n192.0.2.1/32 linux").1,
            LineProblem::Duplicate { first_line: 1, .. }
        ));
    }

    #[test]
    fn error_messages_name_file_and_line() {
        let dir = std::env::temp_dir().join(format!("policy-map-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("map.txt");
        std::fs::write(&f, "10.0.0.0/8 bsd\n10.0.0.0/8 nope\n").unwrap();
        let e = PolicyMap::from_file(&f).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: line 2: ", f.display())), "{e}");
        assert!(e.contains("\"nope\"") && e.contains("old-linux"), "{e}");
        let missing = dir.join("missing.txt");
        let e = PolicyMap::from_file(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.txt"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

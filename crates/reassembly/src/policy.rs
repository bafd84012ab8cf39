//! Overlap policies: which copy of a byte range wins when a new segment overlaps
//! bytes the assembler still holds in its out-of-order queue.
//!
//! Different TCP stacks resolve overlapping out-of-order segments differently,
//! so an observer that reassembles with the wrong rule sees a different stream
//! than the target host did (Ptacek & Newsham 1998; Novak & Sturges 2007,
//! "Target-Based TCP Stream Reassembly"). A policy names the receiving stack's
//! rule; the names are Suricata's `host-os-policy` names plus `first` and `last`.
//!
//! # The decision
//! The insert path describes each overlap between the new segment and one stored
//! (queued) segment with an [`Overlap`]: where the new segment starts relative
//! to the stored one's start, and where it ends relative to the stored one's end
//! (9 shapes). [`OverlapPolicy::decide`] looks the [`Winner`] up in a constant
//! table indexed by policy and shape; the winner takes all the overlapping
//! bytes of that pair. It is asked only when the overlapping bytes differ.
//!
//! "Stored segment" means the queued bytes of one packet as they are now: a
//! segment trimmed by an earlier winner counts with its trimmed extent, as in a
//! receiving stack's out-of-order queue (BSD's `tcp_reass` trims queued
//! segments the same way). Bytes already delivered never change, whatever the
//! policy (see [`ConflictReason::Delivered`](crate::ConflictReason::Delivered)).
//!
//! `O` = the stored (old) bytes win, `N` = the new bytes win:
//!
//! | new start, new end   | first | last | bsd | bsd-right | linux | old-linux | solaris | old-solaris | hpux10 | hpux11 | irix | macos | windows | vista | windows2k3 |
//! |----------------------|-------|------|-----|-----------|-------|-----------|---------|-------------|--------|--------|------|-------|---------|-------|------------|
//! | before, before       | O     | N    | N   | N         | N     | N         | O       | O           | N      | O      | N    | N     | N       | O     | N          |
//! | before, same         | O     | N    | N   | N         | N     | N         | N       | N           | N      | N      | N    | N     | N       | O     | N          |
//! | before, after        | O     | N    | N   | N         | N     | N         | N       | N           | N      | N      | N    | N     | N       | O     | N          |
//! | same, before         | O     | N    | O   | O         | O     | O         | O       | O           | O      | O      | O    | O     | O       | O     | O          |
//! | same, same           | O     | N    | O   | O         | O     | N         | N       | N           | O      | N      | O    | O     | O       | O     | O          |
//! | same, after          | O     | N    | O   | O         | N     | N         | N       | N           | O      | N      | O    | O     | O       | O     | O          |
//! | after, before        | O     | N    | O   | O         | O     | O         | O       | O           | O      | O      | O    | O     | O       | O     | O          |
//! | after, same          | O     | N    | O   | O         | O     | O         | O       | O           | O      | O      | O    | O     | O       | O     | O          |
//! | after, after         | O     | N    | O   | O         | O     | O         | N       | N           | O      | N      | O    | O     | O       | O     | O          |
//!
//! (A unit test checks that this table and the one the code uses agree.)
//!
//! # The rules and where they come from
//! The table is Suricata's `DoHandleDataOverlap` (src/stream-tcp-list.c, which
//! makes the same per-pair decision from the same two comparisons, for the
//! same policy names), read from its source; Suricata in turn implements Novak
//! & Sturges' target-based policies. Six rules cover the fifteen names:
//!
//! - **first** (`first`, `vista`): the stored bytes always win. `first` is
//!   what tshark and Zeek do. Suricata's overlap code has no branch for Vista,
//!   so it keeps the stored bytes there.
//! - **last** (`last`): the new bytes always win (tcpflow; Novak & Sturges
//!   found Cisco IOS behaves this way).
//! - **bsd** (`bsd`, `bsd-right`, `hpux10`, `irix`, `macos`, `windows`,
//!   `windows2k3`): a new segment that starts before the stored one wins;
//!   otherwise the stored one
//!   (4.4BSD `tcp_reass`: the new segment is trimmed by the queued segment at or
//!   before its start, and trims the queued segments that start after it).
//! - **linux** (`linux`): as bsd, and also when both start together and the new
//!   segment is strictly longer.
//! - **old-linux** (`old-linux`): as linux, and also when both start together
//!   and end together (the suricata-verify test
//!   `eve-overlap-payload-02-policy-oldlinux` expects the second of two
//!   same-range segments to win under old-linux).
//! - **solaris** (`solaris`, `old-solaris`, `hpux11`): the new segment wins
//!   when it ends after the stored one, or ends with it and starts at or before
//!   it — but not when it starts before and also ends before the stored one's
//!   end.
//!
//! `bsd-right` and `old-solaris` are names Suricata accepts and maps before
//! reassembly: `StreamTcpSetOSPolicy` (src/stream-tcp.c) turns them into `bsd`
//! and `solaris`, which is why its overlap code has no branch of its own for
//! them. They decide the same way here. (Novak & Sturges describe a separate
//! BSD-right behaviour, HP JetDirect, that Suricata does not model; neither do
//! we. Suricata's IP defragmenter does treat the two names differently; that is
//! not TCP overlap.)
//!
//! Suricata compares against the original extent of each stored segment, we
//! against its current (trimmed) extent; the two can differ only when three or
//! more segments pile up on the same bytes.
//!
//! # Delivered bytes and the verify window
//! The policy decides among bytes the assembler still holds: queued out of
//! order, or kept by the stream with
//! [`keep_from`](crate::ScatterGather::keep_from). Bytes already delivered
//! cannot change, so the policy is not asked about them: a retransmission that
//! contradicts delivered bytes is a [`Conflict`](crate::Conflict) with reason
//! [`Delivered`](crate::ConflictReason::Delivered), the delivered (old)
//! version the winner, its bytes counted in `overlap_lost`. That is how an
//! injected segment that raced the real one and arrived first shows up (Zeek's
//! `rexmit_inconsistency`, e.g. a Quantum Insert response).
//!
//! To compare, the delivered bytes must still be held. In-order bytes are
//! delivered straight from the packet and not retained, so by default only
//! kept bytes can be compared. [`AssemblerConfig::verify_window`](crate::AssemblerConfig::verify_window)
//! makes each direction keep a copy of its last N delivered bytes with their
//! frames (memory: about 1.25 N per direction, 0 by default). Retransmitted
//! bytes that are no longer held (older than the window, or skipped over a hole
//! and never delivered) are counted as duplicates without comparison.

use std::fmt;
use std::str::FromStr;

/// Where the new segment starts or ends relative to the stored one's start or end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rel {
    /// Before it.
    Before,
    /// At the same offset.
    Same,
    /// After it.
    After,
}

impl Rel {
    /// Where `new` lies relative to `old`.
    pub fn of(new: u64, old: u64) -> Rel {
        match new.cmp(&old) {
            std::cmp::Ordering::Less => Rel::Before,
            std::cmp::Ordering::Equal => Rel::Same,
            std::cmp::Ordering::Greater => Rel::After,
        }
    }

    /// `"before"`, `"same"` or `"after"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rel::Before => "before",
            Rel::Same => "same",
            Rel::After => "after",
        }
    }
}

/// The shape of one overlap between a new segment and a stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Overlap {
    /// New segment's start relative to the stored segment's start.
    pub start: Rel,
    /// New segment's end relative to the stored segment's end.
    pub end: Rel,
}

impl Overlap {
    /// The nine shapes, in table order (start, then end: before, same, after).
    pub const ALL: [Overlap; 9] = {
        const R: [Rel; 3] = [Rel::Before, Rel::Same, Rel::After];
        let mut out = [Overlap {
            start: Rel::Before,
            end: Rel::Before,
        }; 9];
        let mut i = 0;
        while i < 9 {
            out[i] = Overlap {
                start: R[i / 3],
                end: R[i % 3],
            };
            i += 1;
        }
        out
    };

    /// The shape of new bytes `[new_start, new_end)` against stored bytes
    /// `[old_start, old_end)` (the two are assumed to overlap).
    pub fn of(new_start: u64, new_end: u64, old_start: u64, old_end: u64) -> Overlap {
        Overlap {
            start: Rel::of(new_start, old_start),
            end: Rel::of(new_end, old_end),
        }
    }

    /// Position of this shape in [`Overlap::ALL`].
    pub fn index(self) -> usize {
        self.start as usize * 3 + self.end as usize
    }
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.start.as_str(), self.end.as_str())
    }
}

/// Which copy of the overlapping bytes is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Winner {
    /// The bytes already held.
    Old,
    /// The newly arrived bytes.
    New,
}

impl Winner {
    /// `"old"` or `"new"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Winner::Old => "old",
            Winner::New => "new",
        }
    }
}

/// A named overlap policy (Suricata's `host-os-policy` names, plus `first` and
/// `last`). See the [module documentation](self) for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum OverlapPolicy {
    /// Bytes already held win (tshark, Zeek; the default).
    #[default]
    First,
    /// Newly arrived bytes win (tcpflow).
    Last,
    /// 4.4BSD and descendants: the earlier-starting segment wins, ties to the old one.
    Bsd,
    /// Suricata's `bsd-right` name; decides as [`Bsd`](Self::Bsd).
    BsdRight,
    /// Linux 2.4 and later: as BSD, and a new segment with the same start wins if longer.
    Linux,
    /// Linux 2.2 and earlier: as Linux, and a same-start new segment also wins at equal length.
    OldLinux,
    /// Solaris: the new segment wins when it ends at or after the stored one.
    Solaris,
    /// Suricata's `old-solaris` name; decides as [`Solaris`](Self::Solaris).
    OldSolaris,
    /// HP-UX 10: decides as [`Bsd`](Self::Bsd).
    Hpux10,
    /// HP-UX 11: decides as [`Solaris`](Self::Solaris).
    Hpux11,
    /// IRIX: decides as [`Bsd`](Self::Bsd).
    Irix,
    /// macOS: decides as [`Bsd`](Self::Bsd).
    Macos,
    /// Windows (98, NT, 2000, XP): decides as [`Bsd`](Self::Bsd).
    Windows,
    /// Windows Vista: decides as [`First`](Self::First).
    Vista,
    /// Windows Server 2003: decides as [`Bsd`](Self::Bsd).
    Windows2k3,
}

const O: Winner = Winner::Old;
const N: Winner = Winner::New;

/// The decision table: one row per policy (in [`OverlapPolicy::ALL`] order),
/// one column per shape (in [`Overlap::ALL`] order:
/// BB BS BA SB SS SA AB AS AA, start letter first).
const TABLE: [[Winner; 9]; 15] = [
    // BB BS BA SB SS SA AB AS AA
    [O, O, O, O, O, O, O, O, O], // first
    [N, N, N, N, N, N, N, N, N], // last
    [N, N, N, O, O, O, O, O, O], // bsd
    [N, N, N, O, O, O, O, O, O], // bsd-right
    [N, N, N, O, O, N, O, O, O], // linux
    [N, N, N, O, N, N, O, O, O], // old-linux
    [O, N, N, O, N, N, O, O, N], // solaris
    [O, N, N, O, N, N, O, O, N], // old-solaris
    [N, N, N, O, O, O, O, O, O], // hpux10
    [O, N, N, O, N, N, O, O, N], // hpux11
    [N, N, N, O, O, O, O, O, O], // irix
    [N, N, N, O, O, O, O, O, O], // macos
    [N, N, N, O, O, O, O, O, O], // windows
    [O, O, O, O, O, O, O, O, O], // vista
    [N, N, N, O, O, O, O, O, O], // windows2k3
];

impl OverlapPolicy {
    /// Every policy, in documentation order.
    pub const ALL: &'static [OverlapPolicy] = &[
        OverlapPolicy::First,
        OverlapPolicy::Last,
        OverlapPolicy::Bsd,
        OverlapPolicy::BsdRight,
        OverlapPolicy::Linux,
        OverlapPolicy::OldLinux,
        OverlapPolicy::Solaris,
        OverlapPolicy::OldSolaris,
        OverlapPolicy::Hpux10,
        OverlapPolicy::Hpux11,
        OverlapPolicy::Irix,
        OverlapPolicy::Macos,
        OverlapPolicy::Windows,
        OverlapPolicy::Vista,
        OverlapPolicy::Windows2k3,
    ];

    /// The policy's name as used on the command line and in policy maps.
    pub fn name(self) -> &'static str {
        match self {
            OverlapPolicy::First => "first",
            OverlapPolicy::Last => "last",
            OverlapPolicy::Bsd => "bsd",
            OverlapPolicy::BsdRight => "bsd-right",
            OverlapPolicy::Linux => "linux",
            OverlapPolicy::OldLinux => "old-linux",
            OverlapPolicy::Solaris => "solaris",
            OverlapPolicy::OldSolaris => "old-solaris",
            OverlapPolicy::Hpux10 => "hpux10",
            OverlapPolicy::Hpux11 => "hpux11",
            OverlapPolicy::Irix => "irix",
            OverlapPolicy::Macos => "macos",
            OverlapPolicy::Windows => "windows",
            OverlapPolicy::Vista => "vista",
            OverlapPolicy::Windows2k3 => "windows2k3",
        }
    }

    /// Which copy wins an overlap of this shape (a lookup in the decision table).
    pub fn decide(self, overlap: Overlap) -> Winner {
        TABLE[self as usize][overlap.index()]
    }
}

impl fmt::Display for OverlapPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown overlap policy {0:?}")]
pub struct UnknownPolicy(pub String);

impl FromStr for OverlapPolicy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OverlapPolicy::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPolicy(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order() {
        for (i, p) in OverlapPolicy::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i, "{p}");
        }
        assert_eq!(OverlapPolicy::ALL.len(), TABLE.len());
        for (i, s) in Overlap::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn names_round_trip() {
        for p in OverlapPolicy::ALL {
            assert_eq!(p.name().parse::<OverlapPolicy>(), Ok(*p));
        }
        assert!("bsd_right".parse::<OverlapPolicy>().is_err());
        assert!("First".parse::<OverlapPolicy>().is_err());
    }

    /// The table in the module documentation is the table the code uses.
    #[test]
    fn doc_table_matches_code() {
        let src = include_str!("policy.rs");
        let doc_rows: Vec<Vec<String>> = src
            .lines()
            .filter_map(|l| l.strip_prefix("//! | "))
            .map(|l| {
                l.trim_end_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect();
        let header = &doc_rows[0];
        let names: Vec<&str> = OverlapPolicy::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(&header[1..], &names[..], "policy columns");
        assert_eq!(doc_rows.len(), 1 + Overlap::ALL.len());
        for (row, shape) in doc_rows[1..].iter().zip(Overlap::ALL) {
            assert_eq!(row[0], shape.to_string());
            for (cell, p) in row[1..].iter().zip(OverlapPolicy::ALL) {
                let want = match p.decide(shape) {
                    Winner::Old => "O",
                    Winner::New => "N",
                };
                assert_eq!(cell, want, "{p} at {shape}");
            }
        }
    }

    /// The six rules stated in the module documentation, written as predicates.
    #[test]
    fn table_follows_the_stated_rules() {
        use OverlapPolicy::*;
        for s in Overlap::ALL {
            let starts_before = s.start == Rel::Before;
            let same_start = s.start == Rel::Same;
            let bsd = starts_before;
            let linux = bsd || (same_start && s.end == Rel::After);
            let old_linux = bsd || (same_start && s.end != Rel::Before);
            let solaris = s.end == Rel::After || (s.end == Rel::Same && s.start != Rel::After);
            let rule = |new: bool| if new { Winner::New } else { Winner::Old };
            for p in OverlapPolicy::ALL {
                let want = match p {
                    First | Vista => Winner::Old,
                    Last => Winner::New,
                    Bsd | BsdRight | Hpux10 | Irix | Macos | Windows | Windows2k3 => rule(bsd),
                    Linux => rule(linux),
                    OldLinux => rule(old_linux),
                    Solaris | OldSolaris | Hpux11 => rule(solaris),
                };
                assert_eq!(p.decide(s), want, "{p} at {s}");
            }
        }
    }
}

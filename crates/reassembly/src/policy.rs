//! Overlap policies: which copy of a byte range wins when a new segment overlaps
//! bytes the assembler still holds.
//!
//! The insert path describes each overlap with an [`Overlap`] and asks
//! [`OverlapPolicy::decide`] for the [`Winner`]; the decision is a pure function
//! of the policy and the overlap's shape, so a policy is data, not code spread
//! through the insert path.

use std::fmt;
use std::str::FromStr;

/// Where the new segment starts or ends relative to the stored one's start or end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rel {
    /// Before it.
    Before,
    /// At the same offset.
    Same,
    /// After it.
    After,
}

/// The shape of one overlap between a new segment and a stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Overlap {
    /// New segment's start relative to the stored segment's start.
    pub start: Rel,
    /// New segment's end relative to the stored segment's end.
    pub end: Rel,
}

/// Which copy of the overlapping bytes is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Winner {
    /// The bytes already held.
    Old,
    /// The newly arrived bytes.
    New,
}

/// A named overlap policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OverlapPolicy {
    /// Bytes already held win (tshark, Zeek; the default).
    #[default]
    First,
    /// Newly arrived bytes win (tcpflow).
    Last,
}

impl OverlapPolicy {
    /// Every policy, in documentation order.
    pub const ALL: &'static [OverlapPolicy] = &[OverlapPolicy::First, OverlapPolicy::Last];

    /// The policy's name as used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OverlapPolicy::First => "first",
            OverlapPolicy::Last => "last",
        }
    }

    /// Which copy wins an overlap of this shape.
    pub fn decide(self, _overlap: Overlap) -> Winner {
        match self {
            OverlapPolicy::First => Winner::Old,
            OverlapPolicy::Last => Winner::New,
        }
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

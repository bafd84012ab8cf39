//! Whole entities out of range responses: the `206 Partial Content` bodies
//! of one resource grouped together, and whether their ranges cover it.
//!
//! [`entities`] reads the [`ObjectRecord`]s of a run after every flow has
//! ended (the grouping needs them all) and returns one [`Entity`] per
//! resource that had at least one 206 response with a `Content-Range`. A
//! resource is the response's request `Host` (case-insensitive) and target
//! (as sent, query included), and its validators: the `ETag` and
//! `Last-Modified` values exactly as sent (a part without one only joins
//! parts without it: a changed resource is another entity), and the codings
//! applied to the body (a range counts bytes of the *encoded*
//! representation, RFC 9110 section 14.1, so a gzip-coded part and an
//! identity part are different entities). A `200` response for the same
//! resource joins it as a part covering the whole.
//!
//! What each part gives is [`Part::used`]: a complete part its whole range
//! (for a coded part, all its encoded bytes arrived, decodable alone or
//! not); an incomplete one (a gap, a truncated body) the bytes before the
//! first missing byte, which are in an identity part's file at their
//! offsets; a part whose body is not as long as its range gives nothing. The
//! entity's length is the complete length the parts state; parts that
//! disagree on it make it unknown. The entity is [`Entity::covered`] when
//! the parts' used ranges cover `[0, length)`; the rest is listed in
//! [`Entity::missing`].
//!
//! Reading the parts' files to check overlaps and writing the whole entity
//! is [`crate::stitch`]'s job. Only identity parts can be checked and
//! stitched: the files hold decoded bytes, and a coded part's range is in
//! the coordinates of bytes that are not in any file.
//!
//! The result is the same whatever order the records come in: parts are
//! sorted by flow id and exchange, entities by their first part.
//!
//! `multipart/byteranges` responses (several ranges in one body, no
//! `Content-Range` in the head) are not split into parts.

use std::collections::BTreeMap;

use crate::store::ObjectRecord;

/// One part of an entity: a 206 (or 200) response for the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Part {
    /// The body's file (the object's `file`).
    pub file: String,
    /// The flow's id.
    pub flow: u64,
    /// Exchange number in the flow.
    pub exchange: u32,
    /// The response status (206 or 200).
    pub status: u16,
    /// A 206's `Content-Range`: first and last byte (inclusive).
    pub range: Option<(u64, u64)>,
    /// SHA-256 of the part's file.
    pub sha256: String,
    /// The bytes of the entity this part gives, `[offset, length]`; `None`
    /// when it gives none.
    pub used: Option<(u64, u64)>,
    /// Why the part gives less than its range (or nothing): `incomplete`
    /// (the body has a gap or was cut short: only the bytes before it
    /// count), `length` (the body is not as long as its range).
    pub short: Option<&'static str>,
}

impl Part {
    /// The entity bytes the part gives as a half-open interval.
    pub fn used_span(&self) -> Option<(u64, u64)> {
        self.used.map(|(o, l)| (o, o + l))
    }
}

/// Two parts whose bytes differ where their ranges overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RangeConflict {
    /// The entity offset of the first byte that differs.
    pub offset: u64,
    /// The two parts' files.
    pub parts: [String; 2],
}

/// A resource fetched in ranges, and what the capture holds of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Entity {
    /// The request's `Host`, lowercased.
    pub host: Option<String>,
    /// The request target.
    pub uri: String,
    /// The responses' `ETag`.
    pub etag: Option<String>,
    /// The responses' `Last-Modified`.
    pub last_modified: Option<String>,
    /// The codings of the parts' bodies, in the order applied (empty: identity).
    pub codings: Vec<String>,
    /// The complete length of the (encoded) representation, when the parts
    /// state one and agree on it.
    pub length: Option<u64>,
    /// Every complete length the parts state, when they disagree.
    pub lengths: Vec<u64>,
    /// The parts, by flow id and exchange.
    pub parts: Vec<Part>,
    /// The parts' used ranges cover the whole entity.
    pub covered: bool,
    /// Ranges of `[0, length)` no part gives, `[offset, length]`.
    pub missing: Vec<(u64, u64)>,
    /// Overlapping parts whose bytes differ (filled in by [`crate::stitch`]).
    pub conflicts: Vec<RangeConflict>,
    /// The whole entity's file, when there is one: a part's own file when
    /// one part gives it all, else the stitched file.
    pub file: Option<String>,
    /// `file` was written by stitching parts.
    pub stitched: bool,
    /// SHA-256 of `file`.
    pub sha256: Option<String>,
    /// Why there is no `file`: `not-covered`, `unknown-length` (no part
    /// states it), `lengths` (the parts disagree), `coded` (see the module
    /// docs), `conflict`, `io` (a part's file could not be read or the
    /// entity's written: see `detail`).
    pub no_file: Option<&'static str>,
    /// What went wrong reading or writing files.
    pub detail: Option<String>,
}

/// The grouping key: host, target, ETag, Last-Modified, codings.
type Key = (
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Vec<String>,
);

/// Group the range responses among `records` into entities and work out
/// their coverage (no file is read: see [`crate::stitch::stitch`]).
pub fn entities(records: &[ObjectRecord]) -> Vec<Entity> {
    let mut groups: BTreeMap<Key, (bool, Vec<&ObjectRecord>)> = BTreeMap::new();
    for r in records {
        let partial = r.status == Some(206) && r.range.is_some();
        if r.dir != "s2c" || !(partial || r.status == Some(200)) {
            continue;
        }
        let Some(uri) = &r.uri else { continue };
        let key = (
            r.host.as_ref().map(|h| h.to_ascii_lowercase()),
            uri.clone(),
            r.etag.clone(),
            r.last_modified.clone(),
            r.codings.clone(),
        );
        let g = groups.entry(key).or_default();
        g.0 |= partial;
        g.1.push(r);
    }
    let mut out: Vec<Entity> = groups
        .into_iter()
        .filter(|(_, (partial, _))| *partial)
        .map(|(key, (_, mut recs))| {
            recs.sort_by_key(|r| (r.flow, r.exchange));
            entity(key, &recs)
        })
        .collect();
    out.sort_by(|a, b| {
        let first = |e: &Entity| e.parts.first().map(|p| (p.flow, p.exchange));
        first(a).cmp(&first(b)).then_with(|| a.uri.cmp(&b.uri))
    });
    out
}

/// The length a record's body has in the entity's coordinates (encoded
/// bytes: for identity bodies the same as decoded).
fn body_len(r: &ObjectRecord) -> u64 {
    if r.codings.is_empty() {
        r.decoded_bytes
    } else {
        r.encoded_bytes
    }
}

fn part(r: &ObjectRecord) -> Part {
    let (start, want) = match r.range {
        Some((first, last, _)) if r.status == Some(206) => (first, last - first + 1),
        _ => (0, body_len(r)),
    };
    let have = body_len(r);
    // A coded part's range is of encoded bytes: all of them arrived even
    // when they do not decode alone (a slice of a gzip stream rarely does).
    let whole = r.missing.is_empty()
        && match r.incomplete {
            None => true,
            Some("decode" | "limit") => !r.codings.is_empty(),
            Some(_) => false,
        };
    let (len, short) = if whole {
        if have == want {
            (want, None)
        } else {
            (0, Some("length"))
        }
    } else {
        // Cut short or holed: only the bytes before the first missing one
        // are at their offsets (an identity file holds the captured bytes
        // back to back).
        let before_gap = r.missing.first().map_or(have, |&(off, _)| off.min(have));
        (before_gap.min(want), Some("incomplete"))
    };
    Part {
        file: r.file.clone(),
        flow: r.flow,
        exchange: r.exchange,
        status: r.status.unwrap_or_default(),
        range: r
            .range
            .filter(|_| r.status == Some(206))
            .map(|(f, l, _)| (f, l)),
        sha256: r.sha256.clone(),
        used: (len > 0).then_some((start, len)),
        short,
    }
}

fn entity(key: Key, recs: &[&ObjectRecord]) -> Entity {
    let (host, uri, etag, last_modified, codings) = key;
    let parts: Vec<Part> = recs.iter().map(|r| part(r)).collect();
    let mut lengths: Vec<u64> = recs
        .iter()
        .filter_map(|r| match (r.status, r.range) {
            (Some(206), Some((_, _, complete))) => complete,
            (Some(200), _) if r.complete => Some(body_len(r)),
            _ => None,
        })
        .collect();
    lengths.sort_unstable();
    lengths.dedup();
    let length = match lengths[..] {
        [one] => Some(one),
        _ => None,
    };
    let mut e = Entity {
        host,
        uri,
        etag,
        last_modified,
        codings,
        length,
        lengths: if lengths.len() > 1 {
            lengths
        } else {
            Vec::new()
        },
        parts,
        covered: false,
        missing: Vec::new(),
        conflicts: Vec::new(),
        file: None,
        stitched: false,
        sha256: None,
        no_file: None,
        detail: None,
    };
    match length {
        Some(len) => {
            e.missing = uncovered(&e.parts, len);
            e.covered = e.missing.is_empty();
            if !e.covered {
                e.no_file = Some("not-covered");
            } else if !e.codings.is_empty() {
                e.no_file = Some("coded");
            }
        }
        None if e.lengths.is_empty() => e.no_file = Some("unknown-length"),
        None => e.no_file = Some("lengths"),
    }
    e
}

/// The ranges of `[0, len)` no part's used range gives, `[offset, length]`.
fn uncovered(parts: &[Part], len: u64) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = parts.iter().filter_map(Part::used_span).collect();
    spans.sort_unstable();
    let mut missing = Vec::new();
    let mut pos = 0u64;
    for (a, b) in spans {
        if a >= len {
            break;
        }
        if a > pos {
            missing.push((pos, a - pos));
        }
        pos = pos.max(b.min(len));
    }
    if pos < len {
        missing.push((pos, len - pos));
    }
    missing
}

/// The order in which to read the parts to build `[0, end)` of the entity:
/// `(from, to, part index)` segments, each from the part that reaches
/// furthest among those that hold `from` (the first such part on a tie).
/// Offsets no part gives are skipped.
pub(crate) fn plan(parts: &[Part], end: u64) -> Vec<(u64, u64, usize)> {
    let mut segs = Vec::new();
    let mut pos = 0u64;
    while pos < end {
        let best = parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.used_span().map(|s| (i, s)))
            .filter(|&(_, (a, b))| a <= pos && pos < b)
            .max_by(|x, y| x.1 .1.cmp(&y.1 .1).then(y.0.cmp(&x.0)));
        match best {
            Some((i, (_, b))) => {
                let to = b.min(end);
                segs.push((pos, to, i));
                pos = to;
            }
            None => {
                match parts
                    .iter()
                    .filter_map(Part::used_span)
                    .map(|(a, _)| a)
                    .filter(|&a| a > pos)
                    .min()
                {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    segs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(file: &str, used: Option<(u64, u64)>) -> Part {
        Part {
            file: file.into(),
            flow: 1,
            exchange: 1,
            status: 206,
            range: None,
            sha256: String::new(),
            used,
            short: None,
        }
    }

    #[test]
    fn uncovered_lists_the_holes() {
        let parts = [
            p("a", Some((0, 10))),
            p("b", Some((20, 5))),
            p("c", Some((5, 3))),
        ];
        assert_eq!(uncovered(&parts, 30), vec![(10, 10), (25, 5)]);
        assert_eq!(uncovered(&parts[..1], 10), vec![]);
        assert_eq!(uncovered(&[], 4), vec![(0, 4)]);
    }

    #[test]
    fn plan_takes_the_furthest_reaching_part() {
        let parts = [
            p("a", Some((0, 10))),
            p("b", Some((5, 20))),
            p("c", Some((6, 2))),
            p("d", Some((40, 5))),
        ];
        assert_eq!(plan(&parts, 45), vec![(0, 10, 0), (10, 25, 1), (40, 45, 3)]);
    }
}

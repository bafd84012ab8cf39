//! A manifest flow object ([`crate::manifest::Flow`]) written as JSON text
//! straight from its flow record: the bytes serde_json writes for the
//! `Flow` through the same formatter (compact for `flows.jsonl` and `flows
//! --json`, pretty inside `manifest.json`), without building the `Flow` and
//! its strings first.
//!
//! Keys, numbers, times, addresses and hex digests need no escaping and go
//! straight into the buffer; strings of any other content (file names, the
//! encapsulation) are escaped by serde_json when they need it. The tests
//! compare every field against serde_json's output for the `Flow`.

use std::io::{self, Write as _};
use std::net::IpAddr;

use engine::{DirRecord, FlowRecord, Placement};
use reassembly::Ledger;
use serde_json::ser::Formatter;

use crate::timefmt::{write_rfc3339, RFC3339_LEN};

/// Write the manifest flow object of `r`, its directions placed as `placed`
/// (client to server first), through `f` into `w`.
pub fn write_flow<F: Formatter>(
    w: &mut Vec<u8>,
    f: &mut F,
    r: &FlowRecord,
    placed: [Placement; 2],
) -> io::Result<()> {
    let h = &r.head;
    let [c2s, s2c] = placed;
    let mut o = Obj::begin(w, f)?;
    o.key(w, f, "id")?;
    f.write_u64(w, h.id)?;
    o.key(w, f, "proto")?;
    plain_str(w, f, h.proto.as_str().as_bytes())?;
    for (k, ep) in [("client", h.client), ("server", h.server)] {
        o.key(w, f, k)?;
        let mut e = Obj::begin(w, f)?;
        e.key(w, f, "ip")?;
        f.begin_string(w)?;
        write_ip(w, ep.ip())?;
        f.end_string(w)?;
        e.key(w, f, "port")?;
        f.write_u16(w, ep.port())?;
        e.end(w, f)?;
    }
    let mut time = [0; RFC3339_LEN];
    o.key(w, f, "first_ts")?;
    f.write_u64(w, h.first_ts)?;
    o.key(w, f, "first_time")?;
    plain_str(w, f, write_rfc3339(h.first_ts, &mut time))?;
    o.key(w, f, "last_ts")?;
    f.write_u64(w, r.last_ts)?;
    o.key(w, f, "last_time")?;
    plain_str(w, f, write_rfc3339(r.last_ts, &mut time))?;
    o.key(w, f, "duration_ns")?;
    f.write_u64(w, r.last_ts.saturating_sub(h.first_ts))?;
    o.key(w, f, "first_frame")?;
    f.write_u64(w, h.id)?;
    o.key(w, f, "last_frame")?;
    f.write_u64(w, r.last_frame)?;
    o.key(w, f, "end_reason")?;
    plain_str(w, f, r.end.as_str().as_bytes())?;
    o.key(w, f, "syn_seen")?;
    f.write_bool(w, h.syn_seen)?;
    if r.idle_resumptions != 0 {
        o.key(w, f, "idle_resumptions")?;
        f.write_u32(w, r.idle_resumptions)?;
    }
    if r.longest_idle != 0 {
        o.key(w, f, "longest_idle_ns")?;
        f.write_u64(w, r.longest_idle)?;
    }
    o.key(w, f, "encap")?;
    // Written in place; escaped through serde_json in the unlikely case it
    // needs it.
    let before = w.len();
    f.begin_string(w)?;
    let start = w.len();
    write!(w, "{}", h.encap)?;
    if w[start..].iter().copied().all(plain) {
        f.end_string(w)?;
    } else {
        let text = String::from_utf8_lossy(&w[start..]).into_owned();
        w.truncate(before);
        any_str(w, f, &text)?;
    }
    for (k, mac) in [("client_mac", h.client_mac), ("server_mac", h.server_mac)] {
        if let Some(mac) = mac {
            o.key(w, f, k)?;
            let mut text = [b':'; 17];
            for (i, b) in mac.0.iter().enumerate() {
                hex::encode_to_slice([*b], &mut text[i * 3..i * 3 + 2])
                    .map_err(io::Error::other)?;
            }
            plain_str(w, f, &text)?;
        }
    }
    let udp = h.proto == pcapread::Proto::Udp;
    o.key(w, f, "c2s")?;
    write_dir(w, f, &r.c2s, c2s, udp)?;
    o.key(w, f, "s2c")?;
    write_dir(w, f, &r.s2c, s2c, udp)?;
    o.end(w, f)
}

/// One direction ([`crate::manifest::Direction`]).
fn write_dir<F: Formatter>(
    w: &mut Vec<u8>,
    f: &mut F,
    d: &DirRecord,
    placement: Placement,
    udp: bool,
) -> io::Result<()> {
    let (file, offset_length) = crate::manifest::placed_fields(placement);
    let mut o = Obj::begin(w, f)?;
    if let Some(file) = &file {
        o.key(w, f, "file")?;
        match file {
            Some(name) => any_str(w, f, name)?,
            None => f.write_null(w)?,
        }
    }
    if let (true, Some(Some(file))) = (udp, &file) {
        o.key(w, f, "index")?;
        any_str(
            w,
            f,
            &crate::manifest::index_name(file, offset_length.is_some()),
        )?;
    }
    if let Some((offset, length)) = offset_length {
        o.key(w, f, "offset")?;
        f.write_u64(w, offset)?;
        o.key(w, f, "length")?;
        f.write_u64(w, length)?;
    }
    o.key(w, f, "bytes")?;
    f.write_u64(w, d.bytes)?;
    o.key(w, f, "packets")?;
    f.write_u64(w, d.packets)?;
    o.key(w, f, "sha256")?;
    match &d.sha256 {
        Some(digest) => {
            let mut text = [0; 64];
            hex::encode_to_slice(digest, &mut text).map_err(io::Error::other)?;
            plain_str(w, f, &text)?;
        }
        None => f.write_null(w)?,
    }
    o.key(w, f, "zero_filled")?;
    f.write_u64(w, d.zero_filled)?;
    o.key(w, f, "gaps")?;
    f.begin_array(w)?;
    for (i, g) in d.ledger.gaps.iter().enumerate() {
        f.begin_array_value(w, i == 0)?;
        let mut go = Obj::begin(w, f)?;
        go.key(w, f, "offset")?;
        f.write_u64(w, g.offset)?;
        go.key(w, f, "len")?;
        f.write_u64(w, g.len)?;
        go.end(w, f)?;
        f.end_array_value(w)?;
    }
    f.end_array(w)?;
    o.key(w, f, "gaps_unlisted")?;
    f.write_u64(w, d.ledger.gaps_unlisted)?;
    o.key(w, f, "ledger")?;
    write_ledger(w, f, &d.ledger)?;
    o.key(w, f, "conflicts")?;
    f.write_u64(w, d.ledger.conflicts)?;
    o.end(w, f)
}

/// A direction's ledger ([`crate::manifest::LedgerOut`]).
fn write_ledger<F: Formatter>(w: &mut Vec<u8>, f: &mut F, l: &Ledger) -> io::Result<()> {
    let mut o = Obj::begin(w, f)?;
    for (k, v) in [
        ("captured", l.captured),
        ("delivered", l.delivered),
        ("duplicate", l.duplicate),
        ("overlap_lost", l.overlap_lost),
        ("out_of_window", l.out_of_window),
        ("after_close", l.after_close),
        ("evicted", l.evicted),
        ("keep_alive", l.keep_alive),
        ("missing", l.missing),
        ("cap_flushes", l.cap_flushes),
        ("ignored_syns", l.ignored_syns),
    ] {
        o.key(w, f, k)?;
        f.write_u64(w, v)?;
    }
    o.end(w, f)
}

/// An object being written: the formatter calls serde_json makes for a
/// struct, with keys that need no escaping written as they are.
struct Obj {
    first: bool,
}

impl Obj {
    fn begin<F: Formatter>(w: &mut Vec<u8>, f: &mut F) -> io::Result<Obj> {
        f.begin_object(w)?;
        Ok(Obj { first: true })
    }

    /// Start the member `k` (ending the one before): its value follows.
    fn key<F: Formatter>(&mut self, w: &mut Vec<u8>, f: &mut F, k: &str) -> io::Result<()> {
        if !self.first {
            f.end_object_value(w)?;
        }
        f.begin_object_key(w, self.first)?;
        self.first = false;
        f.begin_string(w)?;
        f.write_string_fragment(w, k)?;
        f.end_string(w)?;
        f.end_object_key(w)?;
        f.begin_object_value(w)
    }

    fn end<F: Formatter>(self, w: &mut Vec<u8>, f: &mut F) -> io::Result<()> {
        if !self.first {
            f.end_object_value(w)?;
        }
        f.end_object(w)
    }
}

/// A string known to need no escaping (ASCII letters, digits and
/// punctuation other than `"` and `\`).
fn plain_str<F: Formatter>(w: &mut Vec<u8>, f: &mut F, s: &[u8]) -> io::Result<()> {
    f.begin_string(w)?;
    w.extend_from_slice(s);
    f.end_string(w)
}

/// A string of any content, escaped as serde_json escapes it (both of its
/// formatters write strings alike).
fn any_str<F: Formatter>(w: &mut Vec<u8>, f: &mut F, s: &str) -> io::Result<()> {
    if s.bytes().all(plain) {
        return plain_str(w, f, s.as_bytes());
    }
    serde::Serializer::serialize_str(&mut serde_json::Serializer::new(&mut *w), s)
        .map_err(io::Error::other)
}

/// serde_json's pretty layout (`PrettyFormatter`: two spaces a level), with
/// each line break and its indentation written in one copy where
/// `PrettyFormatter` writes the indentation two bytes at a time (most of
/// the time of writing `manifest.json`'s flows). The tests compare it with
/// `PrettyFormatter` on nested documents.
#[derive(Debug, Clone, Default)]
pub struct Pretty {
    depth: usize,
    has_value: bool,
}

/// A comma, a line break and the indentation of 32 levels.
const LINE: &[u8; 66] = b",\n                                                                ";

impl Pretty {
    /// A line break (after a comma when `comma`) and the indentation of the
    /// current depth.
    fn line<W: ?Sized + io::Write>(&self, w: &mut W, comma: bool) -> io::Result<()> {
        let from = usize::from(!comma);
        match LINE.get(from..2 + 2 * self.depth) {
            Some(text) => w.write_all(text),
            None => {
                w.write_all(&LINE[from..2])?;
                (0..self.depth).try_for_each(|_| w.write_all(b"  "))
            }
        }
    }

    fn open<W: ?Sized + io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.line(w, false)?;
        }
        w.write_all(bracket)
    }
}

impl Formatter for Pretty {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.line(w, !first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.line(w, !first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Whether serde_json writes byte `b` of a string as it is.
fn plain(b: u8) -> bool {
    b >= 0x20 && b != b'"' && b != b'\\'
}

/// An address in its usual text form (IPv4 octet by octet; IPv6 as the
/// standard library writes it).
fn write_ip(w: &mut Vec<u8>, ip: IpAddr) -> io::Result<()> {
    match ip {
        IpAddr::V4(a) => {
            let mut n = itoa::Buffer::new();
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    w.push(b'.');
                }
                w.extend_from_slice(n.format(o).as_bytes());
            }
            Ok(())
        }
        IpAddr::V6(a) => write!(w, "{a}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Flow;
    use engine::FlowHead;
    use pcapread::{EncapPath, Layer, Mac, Proto};
    use proptest::prelude::*;
    use reassembly::{EndReason, Gap};
    use serde::Serialize as _;
    use serde_json::ser::{CompactFormatter, PrettyFormatter};

    /// A record with every field set from `seed`.
    fn record(seed: u64, udp: bool, v6: bool, macs: (bool, bool), gaps: usize) -> FlowRecord {
        let ip = |x: u64| -> IpAddr {
            if v6 {
                std::net::Ipv6Addr::from(
                    (u128::from(x) * 0x1_0000_0001) | (u128::from(x % 3) << 100),
                )
                .into()
            } else {
                std::net::Ipv4Addr::from(x as u32).into()
            }
        };
        let mut encap = EncapPath::new();
        encap.push(Layer::Ethernet);
        encap.push(Layer::Vlan((seed % 4000) as u16));
        let dir = |k: u64| {
            let mut ledger = Ledger {
                captured: k + 1,
                delivered: k + 2,
                duplicate: k + 3,
                overlap_lost: k + 4,
                out_of_window: k + 5,
                after_close: k + 6,
                evicted: k + 7,
                keep_alive: k + 8,
                missing: k + 9,
                gaps_unlisted: k + 10,
                cap_flushes: k + 11,
                conflicts: k + 12,
                ignored_syns: k + 13,
                ..Ledger::default()
            };
            for g in 0..gaps as u64 {
                ledger.gaps.push(Gap {
                    offset: k * 100 + g,
                    len: g + 1,
                });
            }
            DirRecord {
                bytes: k * 3,
                packets: k / 2,
                sha256: (k % 2 == 0).then_some([(k % 256) as u8; 32]),
                zero_filled: k % 17,
                ledger,
            }
        };
        FlowRecord {
            head: FlowHead {
                id: seed,
                proto: if udp { Proto::Udp } else { Proto::Tcp },
                client: std::net::SocketAddr::new(ip(seed), (seed % 65536) as u16),
                server: std::net::SocketAddr::new(ip(seed ^ 0xdead_beef), 443),
                first_ts: seed.wrapping_mul(1_000_003),
                syn_seen: seed % 5 != 0,
                encap: encap.into(),
                client_mac: macs
                    .0
                    .then_some(Mac([(seed % 256) as u8, 0xab, 0, 1, 2, 0xff])),
                server_mac: macs.1.then_some(Mac([9, 8, 7, 6, 5, (seed % 256) as u8])),
            },
            last_frame: seed.wrapping_add(10),
            last_ts: seed
                .wrapping_mul(1_000_003)
                .wrapping_add(seed % 999_999_999),
            end: [EndReason::Fin, EndReason::Rst, EndReason::IdleTimeout][(seed % 3) as usize],
            idle_resumptions: (seed % 3) as u32,
            longest_idle: seed % 4 * 7,
            c2s: dir(seed),
            s2c: dir(seed / 3 + 1),
            placed: None,
        }
    }

    fn placements(kind: u8, name: &str, len: u64) -> [Placement; 2] {
        match kind {
            0 => [Placement::Unwritten, Placement::Unwritten],
            1 => [Placement::File(Some(name.into())), Placement::File(None)],
            _ => [
                Placement::Packed {
                    file: "streams.bin".into(),
                    offset: 77,
                    length: len,
                },
                Placement::Packed {
                    file: "streams.bin".into(),
                    offset: 0,
                    length: 0,
                },
            ],
        }
    }

    /// The compact line and the object at the depth of `manifest.json`'s
    /// flows, written here and by serde_json from the `Flow`.
    fn both(r: &FlowRecord, placed: [Placement; 2]) -> ([Vec<u8>; 2], [Vec<u8>; 2]) {
        let mut p = placed.clone().into_iter();
        let flow = Flow::new(r, |_| p.next().unwrap());
        let mut want_compact = Vec::new();
        flow.serialize(&mut serde_json::Serializer::new(&mut want_compact))
            .unwrap();
        let mut ours_compact = Vec::new();
        write_flow(&mut ours_compact, &mut CompactFormatter, r, placed.clone()).unwrap();
        // Pretty, nested two deep (`{"flows": [ ... ]}`).
        let nest = |one: &dyn Fn(&mut Vec<u8>, &mut PrettyFormatter)| {
            let mut out = Vec::new();
            let mut f = PrettyFormatter::new();
            f.begin_object(&mut out).unwrap();
            f.begin_array(&mut out).unwrap();
            f.begin_array_value(&mut out, true).unwrap();
            one(&mut out, &mut f);
            f.end_array_value(&mut out).unwrap();
            f.end_array(&mut out).unwrap();
            out
        };
        let want_pretty = nest(&|out, f| {
            flow.serialize(&mut serde_json::Serializer::with_formatter(out, f.clone()))
                .unwrap()
        });
        let mut ours_pretty = Vec::new();
        let mut g = Pretty::default();
        g.begin_object(&mut ours_pretty).unwrap();
        g.begin_array(&mut ours_pretty).unwrap();
        g.begin_array_value(&mut ours_pretty, true).unwrap();
        write_flow(&mut ours_pretty, &mut g, r, placed.clone()).unwrap();
        g.end_array_value(&mut ours_pretty).unwrap();
        g.end_array(&mut ours_pretty).unwrap();
        ([ours_compact, want_compact], [ours_pretty, want_pretty])
    }

    /// `Pretty` lays documents out as `PrettyFormatter` does: empty and
    /// nested containers, and deeper than its one-copy indentation.
    #[test]
    fn pretty_as_serde_json_lays_it_out() {
        let mut deep = serde_json::json!([1, {}, []]);
        for i in 0..40 {
            deep = if i % 2 == 0 {
                serde_json::json!({ "k": deep, "e": [], "o": {}, "n": null })
            } else {
                serde_json::json!([deep, 1, [[]], [{}], "s"])
            };
        }
        let docs = [
            serde_json::json!({}),
            serde_json::json!([]),
            serde_json::json!({"a": {}, "b": [], "c": [{}], "d": {"e": [1, 2, {"f": []}]}}),
            serde_json::json!([[], [[]], {"x": {"y": {}}}, 3]),
            deep,
        ];
        for doc in docs {
            let want = serde_json::to_vec_pretty(&doc).unwrap();
            let mut ours = Vec::new();
            doc.serialize(&mut serde_json::Serializer::with_formatter(
                &mut ours,
                Pretty::default(),
            ))
            .unwrap();
            assert_eq!(text(&ours), text(&want));
        }
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn every_field_as_serde_json_writes_it() {
        for (i, kind) in [0u8, 1, 2, 2].into_iter().enumerate() {
            for udp in [false, true] {
                for v6 in [false, true] {
                    let r = record(1_000_000_007 + i as u64, udp, v6, (i % 2 == 0, i < 3), i);
                    let len = if i == 3 { 0 } else { 5 };
                    let ([a, b], [c, d]) = both(&r, placements(kind, "x/y\"\\\u{1}é", len));
                    assert_eq!(text(&a), text(&b));
                    assert_eq!(text(&c), text(&d));
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_record_as_serde_json_writes_it(
            seed in 0..u64::MAX / 1000,
            udp in any::<bool>(),
            v6 in any::<bool>(),
            macs in any::<(bool, bool)>(),
            gaps in 0usize..4,
            kind in 0u8..3,
            name in ".{0,12}",
            len in 0u64..3,
        ) {
            let r = record(seed, udp, v6, macs, gaps);
            let ([a, b], [c, d]) = both(&r, placements(kind, &name, len));
            prop_assert_eq!(text(&a), text(&b));
            prop_assert_eq!(text(&c), text(&d));
        }
    }
}

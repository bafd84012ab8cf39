//! Mutation suite over every capture in testdata/corpus: damaged copies of real
//! captures go through the engine (read -> decode -> shard -> assemble, on one
//! worker and on three, with the checks of `hardening::pipeline` and
//! `hardening::record`), each under a per-input deadline, and must:
//!
//! - never panic or hang;
//! - stop reading with an error that names the file and a byte offset (no
//!   earlier than the damage, and exactly the first incomplete record for
//!   truncated pcap files);
//! - still extract everything before the damage: for a truncation, the streams
//!   from the damaged file equal, byte for byte per flow, the streams from the
//!   undamaged prefix of frames (run on two workers); for other damage, every
//!   frame before the damaged record is read unchanged.
//!
//! Kinds of damage: truncation at many offsets, of the capture and of its
//! gzip- and zstd-compressed copies (as files the engine opens); bit flips in record headers and in
//! packet headers; absurd captured and block lengths; zero-length records
//! inserted. Large captures are used through their first 256 KiB (cut
//! at a record boundary): the damage is local, the rest would only add time.
//!
//! This lives in the `hardening` crate (not `reassembly`) because it needs the
//! whole engine, and shares its runs and checking stream with the fuzz targets.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use hardening::capture::{read_slice, read_stream, ReadFacts};
use hardening::mutate::Mutator;
use hardening::pipeline::{
    extract_file, extract_slice, extract_slice_prefix, Extraction, Settings,
};
use hardening::seeds::{captures, cut_at_record, load, testdata};
use hardening::watchdog::with_deadline;
use pcapread::{Compression, SliceReader};

const MAX_LEN: usize = 256 * 1024;
const DEADLINE: Duration = Duration::from_secs(60);

/// One capture and the layout of its records.
struct Capture {
    name: String,
    data: Arc<Vec<u8>>,
    /// Each packet record: its bytes in the file, and where its packet data starts.
    records: Vec<(Range<usize>, usize)>,
    /// End of the file header (pcap) or of the blocks before the first packet.
    header_end: usize,
    pcap: bool,
}

fn corpus() -> Vec<Capture> {
    let root = testdata().join("corpus");
    let mut out = Vec::new();
    for path in captures(&root) {
        let raw = load(&path).unwrap();
        let data = cut_at_record(&raw, MAX_LEN);
        let mut records = Vec::new();
        let mut reader = SliceReader::new(&data, "x");
        let mut start = None;
        while let Some(Ok(f)) = reader.next() {
            let end = reader.offset() as usize;
            let at = f.file_offset as usize;
            let data_at = f.data.as_ptr() as usize - data.as_ptr() as usize;
            start.get_or_insert(at);
            records.push((at..end, data_at));
        }
        let name = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        out.push(Capture {
            header_end: start.unwrap_or(data.len()),
            pcap: !data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]),
            name,
            data: Arc::new(data),
            records,
        });
    }
    assert!(out.len() > 100, "expected the corpus under testdata/corpus");
    out
}

/// Run `bytes` through the slice pipeline and the stream reader, under the deadline.
fn run(name: &str, bytes: Vec<u8>, settings: Settings) -> (Extraction, ReadFacts, ReadFacts) {
    let label = name.to_string();
    with_deadline(name, DEADLINE, move || {
        let x = extract_slice(&bytes, &label, settings);
        let slice = read_slice(&bytes, &label);
        let stream = read_stream(bytes.clone(), &label, bytes.len());
        (x, slice, stream)
    })
}

/// The engine over the first `n` packet records of the undamaged capture, on
/// two workers (the damaged runs have one and three).
fn prefix_extraction(c: &Capture, n: usize) -> Extraction {
    let settings = Settings::default().with_workers(&[2]);
    let x = extract_slice_prefix(&c.data, &c.name, n as u64, settings);
    assert_eq!(x.frames, n as u64, "{}: prefix of {n} frames", c.name);
    assert!(x.error.is_none(), "{}: {:?}", c.name, x.error);
    x
}

fn error_of(x: &Extraction, name: &str) -> Option<u64> {
    let e = x.error.as_ref()?;
    let text = &e.message;
    assert!(text.contains(name), "error does not name the file: {text}");
    let off = e
        .offset
        .unwrap_or_else(|| panic!("error without an offset: {text}"));
    assert!(text.contains(&format!("offset {off}")), "{text}");
    Some(off)
}

/// Offsets to cut at: spread over the file, around the header, and inside and
/// at the edges of a few records.
fn cut_points(c: &Capture, m: &mut Mutator) -> Vec<usize> {
    let len = c.data.len();
    let mut cuts: Vec<usize> = (1..=12).map(|i| i * len / 13).collect();
    cuts.extend([0, 1, 4, 8, 23, 24, 25, c.header_end, c.header_end + 1]);
    for _ in 0..4 {
        if let Some((r, _)) = c.records.get(m.below(c.records.len())) {
            cuts.extend([r.start + 1, r.end - 1, r.end]);
        }
    }
    cuts.retain(|&x| x < len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn truncation_keeps_every_stream_before_the_damage() {
    let mut m = Mutator::new(11);
    let mut checked = 0;
    for c in corpus() {
        for cut in cut_points(&c, &mut m) {
            let label = format!("{}@{cut}", c.name);
            let (x, slice, stream) = run(&label, c.data[..cut].to_vec(), Settings::default());
            // The undamaged prefix: records that end at or before the cut.
            let whole = c.records.iter().take_while(|(r, _)| r.end <= cut).count();
            assert_eq!(x.frames, whole as u64, "{label}: frames read");
            let want = prefix_extraction(&c, whole);
            assert_eq!(x.delivered(), want.delivered(), "{label}: streams differ");
            assert_eq!(
                slice.frames, stream.frames,
                "{label}: slice and stream readers"
            );
            assert_eq!(
                slice.error.as_ref().map(|e| e.0),
                stream.error.as_ref().map(|e| e.0),
                "{label}: slice and stream errors"
            );
            let good_end = c.records[..whole].last().map_or(0, |(r, _)| r.end);
            match error_of(&x, &label) {
                Some(off) => {
                    assert!(off as usize <= cut, "{label}: error at {off}, past the cut");
                    assert!(
                        off as usize >= good_end,
                        "{label}: error at {off} before the last whole record ({good_end})"
                    );
                    if c.pcap {
                        let want = if cut < 24 { 0 } else { good_end.max(24) };
                        assert_eq!(off as usize, want, "{label}: error offset");
                    }
                }
                // pcapng blocks without packets are not in `records`: a cut at
                // their edge is clean too. A pcap file is clean only after its
                // header or a whole record.
                None if c.pcap => assert!(
                    cut == 24 || c.records.iter().any(|(r, _)| r.end == cut),
                    "{label}: a cut inside a record gave no error"
                ),
                None => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} truncations");
}

/// Flip one bit in `range` of a copy of the capture.
fn flipped(c: &Capture, range: Range<usize>, m: &mut Mutator) -> (Vec<u8>, usize) {
    let mut d = c.data.to_vec();
    let at = range.start + m.below(range.len());
    d[at] ^= 1 << m.below(8);
    (d, at)
}

/// The record indexes to damage: a few spread over the capture.
fn victims(c: &Capture) -> Vec<usize> {
    let n = c.records.len();
    let mut v: Vec<usize> = (0..6).map(|i| i * n / 6).filter(|&i| i < n).collect();
    v.dedup();
    v
}

#[test]
fn bit_flips_in_record_headers_keep_the_frames_before() {
    let mut m = Mutator::new(12);
    let mut checked = 0;
    for c in corpus() {
        let original = read_slice(&c.data, &c.name);
        for k in victims(&c) {
            let (rec, data_at) = c.records[k].clone();
            for _ in 0..3 {
                let (d, at) = flipped(&c, rec.start..data_at, &mut m);
                let label = format!("{} record {k} bit flip at {at}", c.name);
                for settings in [Settings::default(), Settings::tiny()] {
                    let (x, slice, _) = run(&label, d.clone(), settings);
                    assert!(
                        slice.frames.len() >= k,
                        "{label}: frames before the damage lost"
                    );
                    assert_eq!(slice.frames[..k], original.frames[..k], "{label}");
                    if let Some(off) = error_of(&x, &label) {
                        assert!(
                            off as usize >= rec.start,
                            "{label}: error at {off} before the damage"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked} flips");
}

#[test]
fn bit_flips_in_packet_headers_only_change_that_packet() {
    let mut m = Mutator::new(13);
    let mut checked = 0;
    for c in corpus() {
        let original = read_slice(&c.data, &c.name);
        for k in victims(&c) {
            let (rec, data_at) = c.records[k].clone();
            let end = rec.end.min(data_at + 64);
            if end <= data_at {
                continue;
            }
            for _ in 0..4 {
                let (d, at) = flipped(&c, data_at..end, &mut m);
                let label = format!("{} packet {k} bit flip at {at}", c.name);
                for settings in [Settings::default(), Settings::tiny()] {
                    let (x, slice, _) = run(&label, d.clone(), settings);
                    assert_eq!(slice.frames.len(), original.frames.len(), "{label}");
                    assert_eq!(
                        slice.error.as_ref().map(|e| e.0),
                        original.error.as_ref().map(|e| e.0),
                        "{label}"
                    );
                    assert_eq!(x.frames, original.frames.len() as u64);
                    for (i, (a, b)) in slice.frames.iter().zip(&original.frames).enumerate() {
                        if i != k {
                            assert_eq!(a, b, "{label}: frame {i} changed");
                        }
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked} flips");
}

/// Absurd lengths written over a record's length fields: the frames before it
/// are read, then the error (or, for a length that still fits, whatever the
/// bytes now say) — never a panic, a hang or a huge allocation.
#[test]
fn absurd_lengths_stop_at_the_record() {
    let values = [
        0u32,
        1,
        3,
        0x7fff_ffff,
        0xffff_ffff,
        0x1000_0001,
        65_536,
        0xfff0,
    ];
    let mut checked = 0;
    for c in corpus() {
        let original = read_slice(&c.data, &c.name);
        for k in victims(&c).into_iter().take(3) {
            let (rec, _) = c.records[k].clone();
            // pcap: caplen at +8 (and origlen at +12); pcapng: block length at +4
            // and, in an enhanced packet block, the captured length at +20.
            let fields: &[usize] = if c.pcap { &[8, 12] } else { &[4, 20] };
            for &field in fields {
                for v in values {
                    let mut d = c.data.to_vec();
                    let at = rec.start + field;
                    if at + 4 > rec.end {
                        continue;
                    }
                    let le = d[..4] == [0xd4, 0xc3, 0xb2, 0xa1]
                        || d[..4] == [0x4d, 0x3c, 0xb2, 0xa1]
                        || d[..4] == [0x34, 0xcd, 0xb2, 0xa1]
                        || (!c.pcap && d[8..12] == [0x4d, 0x3c, 0x2b, 0x1a]);
                    let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
                    d[at..at + 4].copy_from_slice(&b);
                    let label = format!("{} record {k} field +{field} = {v:#x}", c.name);
                    let (x, slice, stream) = run(&label, d, Settings::tiny());
                    assert!(
                        slice.frames.len() >= k,
                        "{label}: frames before the damage lost"
                    );
                    assert_eq!(slice.frames[..k], original.frames[..k], "{label}");
                    assert_eq!(slice.frames, stream.frames, "{label}: slice vs stream");
                    if let Some(off) = error_of(&x, &label) {
                        assert!(
                            off as usize >= rec.start,
                            "{label}: error at {off} before the damage"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "{checked} length edits");
}

/// A zero-length record inserted between two records: a pcap record with
/// caplen 0 is a legal, empty frame (every stream stays the same); a pcapng
/// block whose length field is 0 is impossible and ends reading there.
#[test]
fn zero_length_records() {
    let mut checked = 0;
    for c in corpus() {
        let original = extract_slice(&c.data, &c.name, Settings::default());
        for k in victims(&c).into_iter().take(3) {
            let (rec, _) = c.records[k].clone();
            let mut d = c.data.to_vec();
            let le = c.pcap
                && matches!(
                    d[..4],
                    [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] | [0x34, 0xcd, 0xb2, 0xa1]
                );
            let w = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
            let mut ins = Vec::new();
            if c.pcap {
                // Same timestamp as the record it precedes, no bytes.
                ins.extend_from_slice(&d[rec.start..rec.start + 8]);
                ins.extend_from_slice(&w(0));
                ins.extend_from_slice(&w(0));
                if d[..4] == [0x34, 0xcd, 0xb2, 0xa1] || d[..4] == [0xa1, 0xb2, 0xcd, 0x34] {
                    ins.extend_from_slice(&[0; 8]);
                }
            } else {
                // Block type EPB, total length 0 (in the section's byte order:
                // any order reads 0).
                ins.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
            }
            d.splice(rec.start..rec.start, ins);
            let label = format!("{} zero-length record before record {k}", c.name);
            let (x, slice, stream) = run(&label, d, Settings::default());
            assert_eq!(slice.frames, stream.frames, "{label}: slice vs stream");
            if c.pcap {
                assert!(
                    x.error.is_none() == original.error.is_none(),
                    "{label}: {:?}",
                    x.error
                );
                assert_eq!(x.frames, original.frames + 1, "{label}");
                assert_eq!(
                    x.delivered(),
                    original.delivered(),
                    "{label}: streams changed"
                );
            } else {
                let off = error_of(&x, &label).unwrap_or_else(|| panic!("{label}: no error"));
                assert_eq!(off as usize, rec.start, "{label}");
                assert_eq!(x.frames, k as u64, "{label}");
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked} insertions");
}

/// Random mutations anywhere (the smoke mutator), a few per capture, under
/// tiny caps: no panic, no hang, errors name the file.
#[test]
fn random_damage_never_panics_or_hangs() {
    let mut m = Mutator::new(14);
    for c in corpus() {
        for i in 0..4 {
            let mut d = c.data.to_vec();
            m.mutate(&mut d);
            let label = format!("{} random damage {i}", c.name);
            let (x, _, _) = run(&label, d, Settings::tiny());
            error_of(&x, &label);
        }
    }
}

/// `data` compressed as gzip or zstd.
fn compress(kind: Compression, data: &[u8]) -> Vec<u8> {
    match kind {
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).unwrap();
            gz.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
        Compression::None => data.to_vec(),
    }
}

/// What a decompressor makes of a cut compressed stream before it fails:
/// the bytes a reader can have seen.
fn decompressible_prefix(kind: Compression, cut: &[u8]) -> Vec<u8> {
    let mut r: Box<dyn Read> = match kind {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(cut)),
        Compression::Zstd => match zstd::stream::read::Decoder::new(cut) {
            Ok(d) => Box::new(d),
            Err(_) => return Vec::new(),
        },
        Compression::None => Box::new(cut),
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = r.read(&mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// A gzip- or zstd-compressed capture cut short: reading stops with a
/// decompression error naming the file and the offset in the decompressed
/// stream where the data ended, and every stream of the records before it is
/// extracted, as from the same records uncompressed.
#[test]
fn truncated_compressed_captures_keep_every_stream_before_the_damage() {
    let mut m = Mutator::new(15);
    let mut checked = 0;
    let mut with_frames = 0;
    let dir = tempfile::tempdir().unwrap();
    for c in corpus() {
        for kind in [Compression::Gzip, Compression::Zstd] {
            let packed = compress(kind, &c.data);
            let len = packed.len();
            let mut cuts = vec![5, len / 3, 2 * len / 3, len - 1, 1 + m.below(len - 1)];
            cuts.sort_unstable();
            cuts.dedup();
            for cut in cuts {
                let label = format!("{}.{kind:?}@{cut}", c.name);
                let bytes = &packed[..cut];
                let plain = decompressible_prefix(kind, bytes);
                assert!(c.data.starts_with(&plain), "{label}: decompressed bytes");
                // A file the engine opens (and decompresses) itself.
                let path = dir.path().join(format!("{checked}.{kind:?}"));
                let file = path.display().to_string();
                std::fs::write(&path, bytes).unwrap();
                let x = with_deadline(&label, DEADLINE, move || {
                    extract_file(&path, Settings::default())
                });
                if let Some(info) = x.inputs[0].info.as_ref() {
                    assert_eq!(info.compression, kind, "{label}");
                }
                let whole = c
                    .records
                    .iter()
                    .take_while(|(r, _)| r.end <= plain.len())
                    .count();
                assert_eq!(x.frames, whole as u64, "{label}: frames read");
                let want = prefix_extraction(&c, whole);
                assert_eq!(x.delivered(), want.delivered(), "{label}: streams differ");
                let off = error_of(&x, &file)
                    .unwrap_or_else(|| panic!("{label}: a cut stream gave no error"));
                if x.frames > 0 {
                    assert!(
                        x.error.as_ref().is_some_and(|e| e
                            .message
                            .contains("decompression failed at byte offset")),
                        "{label}: {:?}",
                        x.error
                    );
                    assert_eq!(off as usize, plain.len(), "{label}: error offset");
                    with_frames += 1;
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked} truncations");
    assert!(
        with_frames > 300,
        "{with_frames} truncations after some frames"
    );
}

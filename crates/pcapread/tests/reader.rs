//! Capture reading against third-party captures and their upstream descriptions,
//! compressed and streamed variants, damage at every offset, and arbitrary bytes.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use pcapread::{
    ByteOrder, CaptureReader, Compression, Error, Format, LinkType, SliceReader, TsResolution,
};
use proptest::prelude::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/corpus");

fn corpus(rel: &str) -> PathBuf {
    Path::new(CORPUS).join(rel)
}

/// An owned copy of a frame, for comparing readers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned {
    number: u64,
    input: u16,
    file_offset: u64,
    ts: u64,
    caplen: u32,
    origlen: u32,
    link_type: LinkType,
    data: Vec<u8>,
}

impl From<pcapread::Frame<'_>> for Owned {
    fn from(f: pcapread::Frame<'_>) -> Owned {
        assert_eq!(f.data.len(), f.caplen as usize, "caplen is the data length");
        Owned {
            number: f.number,
            input: f.input,
            file_offset: f.file_offset,
            ts: f.ts,
            caplen: f.caplen,
            origlen: f.origlen,
            link_type: f.link_type,
            data: f.data.to_vec(),
        }
    }
}

/// All frames of a reader, then the error that stopped it (if any); checks
/// that the reader stays finished afterwards.
fn drain(r: &mut CaptureReader) -> (Vec<Owned>, Option<Error>) {
    let mut out = Vec::new();
    let err = loop {
        match r.next_frame() {
            Ok(Some(f)) => out.push(Owned::from(f)),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert!(r.next_frame().unwrap().is_none(), "reader ended for good");
    (out, err)
}

fn drain_slice(r: SliceReader<'_>) -> (Vec<Owned>, Option<Error>) {
    let mut out = Vec::new();
    let mut err = None;
    for item in r {
        match item {
            Ok(f) => out.push(Owned::from(f)),
            Err(e) => {
                assert!(err.is_none(), "one error only");
                err = Some(e);
            }
        }
    }
    (out, err)
}

fn read_ok(path: &Path) -> Vec<Owned> {
    let mut r = CaptureReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let (frames, err) = drain(&mut r);
    if let Some(e) = err {
        panic!("{}: {e}", path.display());
    }
    frames
}

/// A reader that returns at most `chunk` bytes per call (pipes do this).
struct Trickle<R> {
    inner: R,
    chunk: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.inner.read(&mut buf[..n])
    }
}

// ---------------------------------------------------------------- pcapng-test-generator

/// Block counts from a pcapng-test-generator description file: the indented
/// `NAME: count` lines under `Block counts:`.
fn block_counts(txt: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut lines = txt.lines().skip_while(|l| !l.starts_with("Block counts:"));
    lines.next();
    for line in lines.take_while(|l| l.starts_with('\t')) {
        let (name, n) = line.trim().split_once(':').unwrap();
        counts.insert(name.to_string(), n.trim().parse().unwrap());
    }
    assert!(
        counts.contains_key("SHB"),
        "every file has a section header"
    );
    counts
}

fn generator_files(order: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for cat in ["basic", "advanced", "difficult"] {
        let dir = corpus(&format!("pcapng-test-generator/output_{order}/{cat}"));
        for entry in fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "pcapng") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn pcapng_test_generator_files_match_their_descriptions() {
    let mut checked = 0;
    for order in ["le", "be"] {
        for path in generator_files(order) {
            let txt = fs::read_to_string(path.with_extension("txt")).unwrap();
            let counts = block_counts(&txt);
            let get = |k: &str| counts.get(k).copied().unwrap_or(0);
            let mut r = CaptureReader::open(&path).unwrap();
            assert_eq!(r.info().format, Format::PcapNg);
            let frames = read_ok_reader(&mut r, &path);
            let name = path.display();
            assert_eq!(frames.len(), get("EPB") + get("SPB"), "{name}: packets");
            assert_eq!(r.info().interfaces.len(), get("IDB"), "{name}: interfaces");
            assert_eq!(r.info().sections as usize, get("SHB"), "{name}: sections");
            let link_types = r.info().link_types();
            for f in &frames {
                assert!(link_types.contains(&f.link_type), "{name}: frame link type");
            }
            if txt.contains("different linktype") {
                assert_eq!(link_types.len(), 2, "{name}: {link_types:?}");
            }
            // Interface ids restart in every section.
            for w in r.info().interfaces.windows(2) {
                if w[1].section == w[0].section {
                    assert_eq!(w[1].id, w[0].id + 1, "{name}");
                } else {
                    assert_eq!(w[1].id, 0, "{name}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 48);
}

fn read_ok_reader(r: &mut CaptureReader, path: &Path) -> Vec<Owned> {
    let (frames, err) = drain(r);
    if let Some(e) = err {
        panic!("{}: {e}", path.display());
    }
    frames
}

#[test]
fn pcapng_big_and_little_endian_files_read_the_same() {
    let le = generator_files("le");
    let be = generator_files("be");
    assert_eq!(le.len(), be.len());
    let mut frames_compared = 0;
    for (l, b) in le.iter().zip(&be) {
        assert_eq!(l.file_name(), b.file_name());
        let mut rl = CaptureReader::open(l).unwrap();
        let mut rb = CaptureReader::open(b).unwrap();
        let fl = read_ok_reader(&mut rl, l);
        let fb = read_ok_reader(&mut rb, b);
        assert_eq!(fl, fb, "{}", l.display());
        assert_eq!(
            rl.info().interfaces,
            rb.info().interfaces,
            "{}",
            l.display()
        );
        frames_compared += fl.len();
    }
    assert!(frames_compared > 50);
}

#[test]
fn pcapng_timestamps_use_interface_resolution_and_offset() {
    // The generator's first EPB (test009 in pcap-parser's own tests) is at
    // 1340954905.298858 s with the default microsecond resolution.
    let frames = read_ok(&corpus(
        "pcapng-test-generator/output_le/basic/test009.pcapng",
    ));
    assert_eq!(frames[0].ts, 1_340_954_905_298_858_000);
    assert_eq!(frames[0].caplen, 314);
}

// ---------------------------------------------------------------- classic pcap

#[test]
fn nanosecond_pcap_timestamps_match_tcpdump() {
    let path = corpus("tcpdump/tcp-handshake-nano.pcap");
    let mut r = CaptureReader::open(&path).unwrap();
    assert_eq!(
        r.info().format,
        Format::Pcap {
            byte_order: ByteOrder::Little,
            resolution: TsResolution::Nano,
            modified: false
        }
    );
    assert_eq!(r.info().interfaces[0].link_type, LinkType::LINUX_SLL);
    let frames = read_ok_reader(&mut r, &path);
    // Exact nanoseconds as stored in the file.
    let ts: Vec<u64> = frames.iter().map(|f| f.ts).collect();
    assert_eq!(
        ts,
        [
            1_418_145_369_924_505_488,
            1_418_145_370_052_027_262,
            1_418_145_370_052_115_157
        ]
    );
    // tcpdump prints them with microsecond precision in UTC (the .out files of
    // its test suite; there is no nanosecond .out for this capture upstream).
    let out = fs::read_to_string(corpus("tcpdump/tcp-handshake-micro.out")).unwrap();
    let printed: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(printed.len(), frames.len());
    for (f, want) in frames.iter().zip(printed) {
        let micros = f.ts / 1_000;
        let day_us = micros % 86_400_000_000;
        let (s, us) = (day_us / 1_000_000, day_us % 1_000_000);
        let got = format!("{:02}:{:02}:{:02}.{:06}", s / 3600, s / 60 % 60, s % 60, us);
        assert_eq!(got, want);
    }
}

#[test]
fn gzip_capture_is_streamed() {
    let path = corpus("zeek/echo-connections.pcap.gz");
    let mut r = CaptureReader::open(&path).unwrap();
    assert!(r.mapped_bytes().is_none());
    assert!(r.slice_reader().is_none());
    assert_eq!(r.info().compression, Compression::Gzip);
    assert!(matches!(r.info().format, Format::Pcap { .. }));
    let mut n = 0u64;
    let mut last_offset = 0;
    while let Some(f) = r.next_frame().unwrap() {
        n += 1;
        assert_eq!(f.number, n);
        if n == 1 {
            assert_eq!(f.file_offset, 24);
        } else {
            assert!(f.file_offset > last_offset);
        }
        last_offset = f.file_offset;
    }
    assert_eq!(n, 82_582);
}

fn compressed_copy_reads_like_original(
    rel: &str,
    kind: Compression,
    compress: impl Fn(&[u8]) -> Vec<u8>,
) {
    let original = corpus(rel);
    let want = read_ok(&original);
    assert!(!want.is_empty());
    let bytes = fs::read(&original).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A name that says nothing: the magic decides.
    let copy = dir.path().join("capture.bin");
    fs::write(&copy, compress(&bytes)).unwrap();
    let mut r = CaptureReader::open(&copy).unwrap();
    assert_eq!(r.info().compression, kind);
    assert!(r.mapped_bytes().is_none(), "compressed input is streamed");
    let got = read_ok_reader(&mut r, &copy);
    // Same frames; the file name in errors would be the copy's.
    assert_eq!(got, want, "{rel}");
}

#[test]
fn zstd_copy_reads_like_the_original() {
    let zstd = |b: &[u8]| zstd::encode_all(b, 3).unwrap();
    compressed_copy_reads_like_original("zeek/tcp/reassembly.pcap", Compression::Zstd, zstd);
    compressed_copy_reads_like_original("tcpdump/of13_ericsson.pcapng", Compression::Zstd, zstd);
}

#[test]
fn multi_member_gzip_copy_reads_like_the_original() {
    let gzip_in_two_members = |b: &[u8]| {
        let mut out = Vec::new();
        let (a, c) = b.split_at(b.len() / 3);
        for part in [a, c] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            out.extend(gz.finish().unwrap());
        }
        out
    };
    compressed_copy_reads_like_original(
        "arkime/wireshark-retrans.pcap",
        Compression::Gzip,
        gzip_in_two_members,
    );
    compressed_copy_reads_like_original(
        "zeek/tcp/http-on-irc-port-missing-syn.pcapng",
        Compression::Gzip,
        gzip_in_two_members,
    );
}

#[test]
fn streamed_input_equals_the_memory_map_frame_by_frame() {
    for rel in [
        "zeek/tcp/reassembly.pcap",
        "tcpdump/of13_ericsson.pcapng",
        "tcpdump/tcp-handshake-nano.pcap",
        "pcapng-test-generator/output_be/difficult/test202.pcapng",
    ] {
        let path = corpus(rel);
        let mut mapped = CaptureReader::open(&path).unwrap();
        assert!(mapped.mapped_bytes().is_some(), "{rel} is mapped");
        let want = read_ok_reader(&mut mapped, &path);
        let (via_slice, err) = drain_slice(mapped.slice_reader().unwrap());
        assert!(err.is_none());
        assert_eq!(via_slice, want, "{rel}: slice reader");
        for chunk in [1, 7, 4096, usize::MAX] {
            let file = fs::File::open(&path).unwrap();
            let mut r = CaptureReader::from_reader("-", Trickle { inner: file, chunk }).unwrap();
            assert_eq!(r.info().compression, Compression::None);
            let (got, err) = drain(&mut r);
            assert!(err.is_none(), "{rel}: {err:?}");
            assert_eq!(got, want, "{rel}: chunks of {chunk}");
        }
    }
}

// ---------------------------------------------------------------- the whole corpus

fn corpus_captures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from(CORPUS)];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "_oracle" {
                    dirs.push(p);
                }
            } else if name.ends_with(".pcap")
                || name.ends_with(".pcapng")
                || name.ends_with(".pcap.gz")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `path -> pkts` from TABLE.md's tables.
fn table_counts() -> BTreeMap<String, u64> {
    let table = fs::read_to_string(corpus("TABLE.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in table.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        // | path | bytes | link type | pkts | ...
        if cols.len() > 5 {
            if let Ok(n) = cols[4].parse() {
                out.insert(cols[1].to_string(), n);
            }
        }
    }
    out
}

#[test]
fn every_corpus_capture_reads_to_the_end_with_tables_frame_counts() {
    let files = corpus_captures();
    assert!(files.len() >= 150, "found {}", files.len());
    let table = table_counts();
    let mut compared = 0;
    for path in &files {
        let frames = read_ok(path);
        let rel = path
            .strip_prefix(CORPUS)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if let Some(&want) = table.get(&rel) {
            assert_eq!(frames.len() as u64, want, "{rel}: TABLE.md pkts");
            compared += 1;
        }
    }
    assert!(compared >= 50, "compared {compared} counts with TABLE.md");
}

// ---------------------------------------------------------------- damage

/// Boundaries of the records or blocks of a capture, found by a naive walk:
/// (start, end, is_packet).
fn record_spans(bytes: &[u8]) -> Vec<(usize, usize, bool)> {
    let mut spans = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut pos = 0;
        let mut be = false;
        while pos < bytes.len() {
            let word = |at: usize, be: bool| {
                let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
                if be {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            };
            if bytes[pos..pos + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                be = bytes[pos + 8..pos + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
            }
            let ty = word(pos, be);
            let len = word(pos + 4, be) as usize;
            spans.push((pos, pos + len, matches!(ty, 2 | 3 | 6)));
            pos += len;
        }
    } else {
        let be = bytes[0] == 0xa1;
        spans.push((0, 24, false));
        let mut pos = 24;
        while pos < bytes.len() {
            let b: [u8; 4] = bytes[pos + 8..pos + 12].try_into().unwrap();
            let caplen = if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            } as usize;
            spans.push((pos, pos + 16 + caplen, true));
            pos += 16 + caplen;
        }
    }
    spans
}

fn check_every_cut(rel: &str) {
    let bytes = fs::read(corpus(rel)).unwrap();
    let all = read_ok(&corpus(rel));
    let spans = record_spans(&bytes);
    assert_eq!(spans.last().unwrap().1, bytes.len(), "{rel}: naive walk");
    for cut in 0..=bytes.len() {
        let prefix = &bytes[..cut];
        // Frames whose record ends within the prefix survive; the first record
        // that does not fit is reported as truncated at its start.
        let whole = spans.iter().filter(|s| s.1 <= cut && s.2).count();
        let broken = spans.iter().find(|s| s.1 > cut && s.0 < cut.max(1));
        let (frames, err) = drain_slice(SliceReader::new(prefix, rel));
        assert_eq!(frames, all[..whole], "{rel} cut at {cut}");
        match (broken, err) {
            (None, None) => {}
            (
                Some(&(start, end, _)),
                Some(Error::Truncated {
                    offset,
                    needed,
                    available,
                    file,
                    ..
                }),
            ) => {
                assert_eq!(offset, start as u64, "{rel} cut at {cut}");
                assert_eq!(available, (cut - start) as u64, "{rel} cut at {cut}");
                assert!(needed > available && needed <= (end - start) as u64);
                assert_eq!(file, Path::new(rel));
            }
            (b, e) => panic!("{rel} cut at {cut}: expected damage at {b:?}, got {e:?}"),
        }
        // The streamed reader agrees (an error at the header comes from `from_reader`).
        match CaptureReader::from_reader(rel, Cursor::new(prefix.to_vec())) {
            Ok(mut r) => {
                let (sframes, serr) = drain(&mut r);
                assert_eq!(sframes, frames, "{rel} streamed cut at {cut}");
                assert_eq!(
                    serr.as_ref().and_then(Error::offset),
                    broken.map(|b| b.0 as u64),
                    "{rel} streamed cut at {cut}"
                );
            }
            Err(e) => {
                assert!(matches!(e, Error::Truncated { offset: 0, .. }), "{e}");
                assert!(cut < spans[0].1, "{rel} cut at {cut}");
            }
        }
    }
}

#[test]
fn truncated_pcap_at_every_offset_keeps_the_frames_before() {
    check_every_cut("suricata-verify/eve-overlap-payload-01/tcp-overlap.pcap");
    check_every_cut("tcpdump/tcp-handshake-nano.pcap");
}

#[test]
fn truncated_pcapng_at_every_offset_keeps_the_frames_before() {
    check_every_cut("pcapng-test-generator/output_le/advanced/test102.pcapng");
    check_every_cut("pcapng-test-generator/output_be/difficult/test202.pcapng");
}

#[test]
fn corrupt_length_fields_name_the_record() {
    let rel = "suricata-verify/eve-overlap-payload-01/tcp-overlap.pcap";
    let bytes = fs::read(corpus(rel)).unwrap();
    let spans = record_spans(&bytes);
    let (third, _, _) = spans[3];
    // An absurd caplen in the third record.
    let mut bad = bytes.clone();
    bad[third + 8..third + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let (frames, err) = drain_slice(SliceReader::new(&bad, "bad.pcap"));
    assert_eq!(frames.len(), 2);
    match err {
        Some(Error::BadLength { offset, len, .. }) => {
            assert_eq!(offset, third as u64);
            assert_eq!(len, 0x7fff_ffff);
        }
        other => panic!("{other:?}"),
    }

    let rel = "pcapng-test-generator/output_le/basic/test001.pcapng";
    let bytes = fs::read(corpus(rel)).unwrap();
    let spans = record_spans(&bytes);
    let (epb2, _, _) = spans[3];
    // A block length smaller than any block.
    let mut bad = bytes.clone();
    bad[epb2 + 4..epb2 + 8].copy_from_slice(&8u32.to_le_bytes());
    let (frames, err) = drain_slice(SliceReader::new(&bad, "bad.pcapng"));
    assert_eq!(frames.len(), 1);
    assert!(matches!(err, Some(Error::BadLength { offset, len: 8, .. }) if offset == epb2 as u64));
    // A trailing length that disagrees with the leading one.
    let mut bad = bytes.clone();
    let end = spans[3].1;
    bad[end - 4..end].copy_from_slice(&4u32.to_le_bytes());
    let (frames, err) = drain_slice(SliceReader::new(&bad, "bad.pcapng"));
    assert_eq!(frames.len(), 1);
    assert!(matches!(err, Some(Error::Malformed { offset, .. }) if offset == epb2 as u64));
    // An EPB on an interface nobody described.
    let mut bad = bytes.clone();
    bad[epb2 + 8..epb2 + 12].copy_from_slice(&5u32.to_le_bytes());
    let (frames, err) = drain_slice(SliceReader::new(&bad, "bad.pcapng"));
    assert_eq!(frames.len(), 1);
    match err {
        Some(e @ Error::Malformed { .. }) => {
            assert_eq!(e.offset(), Some(epb2 as u64));
            assert!(e.to_string().contains("interface id 5"), "{e}");
            assert!(e.to_string().contains("bad.pcapng"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn not_a_capture_is_a_bad_magic_and_empty_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.pcap");
    fs::write(&p, b"hello world, not a capture").unwrap();
    match CaptureReader::open(&p) {
        Err(Error::BadMagic { magic, file }) => {
            assert_eq!(magic, b"hell");
            assert_eq!(file, p);
        }
        other => panic!("{other:?}"),
    }
    let p = dir.path().join("empty.pcap");
    fs::write(&p, b"").unwrap();
    assert!(matches!(
        CaptureReader::open(&p),
        Err(Error::Truncated {
            offset: 0,
            available: 0,
            ..
        })
    ));
    assert!(matches!(
        CaptureReader::open(dir.path().join("missing.pcap")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn header_only_captures_have_no_frames() {
    let bytes = fs::read(corpus("tcpdump/tcp-handshake-nano.pcap")).unwrap();
    let (frames, err) = drain_slice(SliceReader::new(&bytes[..24], "h.pcap"));
    assert!(frames.is_empty() && err.is_none());
    let mut r = CaptureReader::open(corpus(
        "pcapng-test-generator/output_le/basic/test002.pcapng",
    ))
    .unwrap();
    assert!(r.next_frame().unwrap().is_none());
    assert_eq!(r.info().sections, 1);
}

// ---------------------------------------------------------------- arbitrary bytes

fn pcap_header(be: bool) -> Vec<u8> {
    let words = [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1];
    words
        .iter()
        .flat_map(|w| if be { w.to_be_bytes() } else { w.to_le_bytes() })
        .collect()
}

fn pcapng_header() -> Vec<u8> {
    // SHB (28 bytes) + IDB (20 bytes), little-endian.
    let mut v = Vec::new();
    for w in [
        0x0a0d_0d0au32,
        28,
        0x1a2b_3c4d,
        1,
        0xffff_ffff,
        0xffff_ffff,
        28,
    ] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    for w in [1u32, 20, 1, 0, 20] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

/// A capture written from a list of (ts in µs, data) records: the naive model.
fn write_pcap(be: bool, recs: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut v = pcap_header(be);
    for (sec, usec, data) in recs {
        for w in [*sec, *usec, data.len() as u32, data.len() as u32 + 3] {
            v.extend_from_slice(&if be { w.to_be_bytes() } else { w.to_le_bytes() });
        }
        v.extend_from_slice(data);
    }
    v
}

proptest! {
    #[test]
    fn arbitrary_bytes_after_a_header_never_panic_or_loop(
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
        kind in 0u8..3,
    ) {
        let mut bytes = match kind {
            0 => pcap_header(false),
            1 => pcap_header(true),
            _ => pcapng_header(),
        };
        let header_len = bytes.len();
        bytes.extend_from_slice(&tail);
        let mut items = 0usize;
        let mut last_offset = None;
        for item in SliceReader::new(&bytes, "fuzz") {
            items += 1;
            // Every item is a record of at least 12 bytes: a bounded count proves progress.
            prop_assert!(items <= tail.len() / 12 + 1);
            match item {
                Ok(f) => {
                    prop_assert!(f.file_offset >= header_len as u64);
                    prop_assert!(last_offset.is_none_or(|o| f.file_offset > o));
                    prop_assert_eq!(f.data.len(), f.caplen as usize);
                    last_offset = Some(f.file_offset);
                }
                Err(e) => prop_assert!(e.offset().is_some()),
            }
        }
        // The streaming path survives the same bytes.
        let mut r = CaptureReader::from_reader("fuzz", Cursor::new(bytes)).unwrap();
        let mut n = 0usize;
        while let Ok(Some(_)) = r.next_frame() {
            n += 1;
            prop_assert!(n <= tail.len() / 12 + 1);
        }
    }

    #[test]
    fn pcap_written_by_a_model_reads_back(
        be in any::<bool>(),
        recs in proptest::collection::vec(
            (any::<u32>(), 0u32..1_000_000, proptest::collection::vec(any::<u8>(), 0..100)),
            0..20,
        ),
    ) {
        let bytes = write_pcap(be, &recs);
        let (frames, err) = drain_slice(SliceReader::new(&bytes, "model"));
        prop_assert!(err.is_none());
        prop_assert_eq!(frames.len(), recs.len());
        let mut offset = 24u64;
        for (i, (f, (sec, usec, data))) in frames.iter().zip(&recs).enumerate() {
            prop_assert_eq!(f.number, i as u64 + 1);
            prop_assert_eq!(f.file_offset, offset);
            prop_assert_eq!(f.ts, u64::from(*sec) * 1_000_000_000 + u64::from(*usec) * 1_000);
            prop_assert_eq!(&f.data, data);
            prop_assert_eq!(f.origlen, data.len() as u32 + 3);
            offset += 16 + data.len() as u64;
        }
    }
}

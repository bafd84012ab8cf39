//! Fuzz check of the capture readers: any bytes, read as a pcap/pcapng capture
//! three ways, must give the same frames and the same error, and the frames must
//! go through the engine (decoding, defragmentation, sharding, reassembly on
//! one and on three workers) with every promise of [`crate::pipeline`] kept.
//!
//! The three ways: [`SliceReader`] over the bytes, [`CaptureReader::from_reader`]
//! streaming them, and the same stream gzip-compressed (offsets in errors are
//! offsets in the decompressed stream, so they must agree). Two streamed copies
//! merged by a [`MergedReader`] must give every frame twice.
//!
//! Promises checked: reading ends (at most one record per input byte); an
//! error comes once, last, names the file and an offset inside the input;
//! frames lie inside the input, in increasing offset order, with
//! `data.len() == caplen`.

use std::io::{Cursor, Write};

use pcapread::{CaptureReader, Compression, Error, Frame, MergedReader, SliceReader};

use crate::pipeline::{extract_slice, Settings};

/// The name inputs are read under (errors must mention it).
pub const NAME: &str = "fuzz-input.pcap";

/// One frame's facts (data copied) for comparing readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameFacts {
    /// Frame number.
    pub number: u64,
    /// Record offset.
    pub file_offset: u64,
    /// Timestamp (ns).
    pub ts: u64,
    /// Captured length.
    pub caplen: u32,
    /// Original length.
    pub origlen: u32,
    /// Link type number.
    pub link_type: u32,
    /// The bytes.
    pub data: Vec<u8>,
}

impl FrameFacts {
    fn of(f: &Frame<'_>) -> FrameFacts {
        FrameFacts {
            number: f.number,
            file_offset: f.file_offset,
            ts: f.ts,
            caplen: f.caplen,
            origlen: f.origlen,
            link_type: f.link_type.0,
            data: f.data.to_vec(),
        }
    }
}

/// Frames and the error (its offset and message) one reader produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFacts {
    /// Frames in order.
    pub frames: Vec<FrameFacts>,
    /// The error's offset and text.
    pub error: Option<(Option<u64>, String)>,
}

fn check_error(e: &Error, len: usize, name: &str) -> (Option<u64>, String) {
    let text = e.to_string();
    assert!(text.contains(name), "error does not name the file: {text}");
    if let Some(off) = e.offset() {
        // Decompression errors count in the decompressed stream; the others
        // point at a record that starts inside the input.
        if !matches!(e, Error::Decompress { .. }) {
            assert!(
                off <= len as u64,
                "error offset {off} past the input ({len} bytes): {text}"
            );
        }
        assert!(
            text.contains(&off.to_string()),
            "error text lacks its offset: {text}"
        );
    }
    (e.offset(), text)
}

fn check_frames(frames: &[FrameFacts], len: u64) {
    let mut last: Option<u64> = None;
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.number, i as u64 + 1, "frame numbers are not 1, 2, ...");
        assert_eq!(f.data.len(), f.caplen as usize, "data length is not caplen");
        if let Some(l) = last {
            assert!(f.file_offset > l, "frame offsets do not increase");
        }
        assert!(
            f.file_offset < len || len == 0,
            "frame offset past the input"
        );
        last = Some(f.file_offset);
    }
}

/// Read `data` with a [`SliceReader`].
pub fn read_slice(data: &[u8], name: &str) -> ReadFacts {
    let mut frames = Vec::new();
    let mut error = None;
    let mut reader = SliceReader::new(data, name);
    let mut steps = 0usize;
    for item in reader.by_ref() {
        steps += 1;
        assert!(
            steps <= data.len() + 1,
            "slice reader does not make progress"
        );
        match item {
            Ok(f) => {
                assert!(error.is_none(), "a frame after the error");
                let r = data.as_ptr_range();
                let p = f.data.as_ptr_range();
                assert!(f.data.is_empty() || (r.start <= p.start && p.end <= r.end));
                frames.push(FrameFacts::of(&f));
            }
            Err(e) => {
                assert!(error.is_none(), "two errors");
                error = Some(check_error(&e, data.len(), name));
            }
        }
    }
    assert!(reader.next().is_none(), "the iterator is not fused");
    assert!(reader.offset() <= data.len() as u64);
    check_frames(&frames, data.len() as u64);
    ReadFacts { frames, error }
}

/// Read `bytes` (maybe compressed) with a streaming [`CaptureReader`].
/// `plain_len` bounds the frames (one per decompressed byte at most).
pub fn read_stream(bytes: Vec<u8>, name: &str, plain_len: usize) -> ReadFacts {
    let len = bytes.len();
    let mut reader = match CaptureReader::from_reader(name, Cursor::new(bytes)) {
        Ok(r) => r,
        Err(e) => {
            return ReadFacts {
                frames: Vec::new(),
                error: Some(check_error(&e, len.max(plain_len), name)),
            }
        }
    };
    let mut frames = Vec::new();
    let mut error = None;
    loop {
        match reader.next_frame() {
            Ok(Some(f)) => {
                assert!(error.is_none(), "a frame after the error");
                assert!(
                    frames.len() <= plain_len,
                    "stream reader does not make progress"
                );
                frames.push(FrameFacts::of(&f));
            }
            Ok(None) => break,
            Err(e) => {
                assert!(error.is_none(), "two errors");
                error = Some(check_error(&e, len.max(plain_len), name));
            }
        }
    }
    assert!(
        matches!(reader.next_frame(), Ok(None)),
        "reader goes on after its end"
    );
    assert_eq!(reader.frames_read(), frames.len() as u64);
    check_frames(&frames, plain_len as u64);
    ReadFacts { frames, error }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    gz.write_all(data).ok();
    gz.finish().unwrap_or_default()
}

/// The capture fuzz target's check: see the module documentation.
pub fn check_capture(data: &[u8]) {
    let slice = read_slice(data, NAME);
    let stream = read_stream(data.to_vec(), NAME, data.len());
    let compressed = Compression::sniff(data) != Compression::None;
    if !compressed {
        assert_eq!(
            slice.frames, stream.frames,
            "slice and stream readers disagree on frames"
        );
        assert_eq!(
            slice.error.as_ref().map(|e| e.0),
            stream.error.as_ref().map(|e| e.0),
            "slice and stream readers disagree on the error: {:?} vs {:?}",
            slice.error,
            stream.error
        );
        let gz = read_stream(gzip(data), NAME, data.len());
        assert_eq!(
            stream.frames, gz.frames,
            "gzip-wrapped input gives other frames"
        );
        assert_eq!(
            stream.error.as_ref().map(|e| e.0),
            gz.error.as_ref().map(|e| e.0),
            "gzip-wrapped input gives another error: {:?} vs {:?}",
            stream.error,
            gz.error
        );
        check_merged(data, &stream);
    }
    // Through the engine, with tiny caps and then the defaults.
    for settings in [Settings::tiny(), Settings::default()] {
        let x = extract_slice(data, NAME, settings);
        assert_eq!(x.frames, slice.frames.len() as u64);
        assert_eq!(
            x.error.as_ref().map(|e| e.offset),
            slice.error.as_ref().map(|e| e.0),
            "the engine run and the slice reader disagree on the error"
        );
    }
}

/// Two streamed copies merged: every frame twice, the error twice.
fn check_merged(data: &[u8], one: &ReadFacts) {
    let open = || CaptureReader::from_reader(NAME, Cursor::new(data.to_vec()));
    let (Ok(a), Ok(b)) = (open(), open()) else {
        return;
    };
    let mut merged = MergedReader::new(vec![a, b]);
    let mut frames = 0usize;
    let mut errors = 0usize;
    let mut steps = 0usize;
    loop {
        steps += 1;
        assert!(
            steps <= 2 * (data.len() + 2),
            "merged reader does not make progress"
        );
        match merged.next_frame() {
            Ok(Some(_)) => frames += 1,
            Ok(None) => break,
            Err(_) => errors += 1,
        }
    }
    assert_eq!(
        frames,
        2 * one.frames.len(),
        "merged reader lost or invented frames"
    );
    assert_eq!(
        errors,
        2 * usize::from(one.error.is_some()),
        "merged reader errors"
    );
}

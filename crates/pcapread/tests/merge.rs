//! Merging capture sets: timestamp order, ties by input, renumbering, and one
//! damaged input among good ones.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use pcapread::{CaptureReader, Error, MergedReader};
use proptest::prelude::*;

/// A little-endian nanosecond pcap whose records carry `(ts_ns, tag)`; each
/// record's data is the tag byte.
fn pcap(recs: &[(u64, u8)]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [0xa1b2_3c4du32, 0x0004_0002, 0, 0, 65535, 1] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    for &(ts, tag) in recs {
        let (s, ns) = ((ts / 1_000_000_000) as u32, (ts % 1_000_000_000) as u32);
        for w in [s, ns, 1, 1] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.push(tag);
    }
    v
}

/// (input, number, ts, tag, file_offset) of every merged frame, and the errors.
type Seen = (Vec<(u16, u64, u64, u8, u64)>, Vec<Error>);

fn drain(m: &mut MergedReader) -> Seen {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    loop {
        match m.next_frame() {
            Ok(Some(f)) => out.push((f.input, f.number, f.ts, f.data[0], f.file_offset)),
            Ok(None) => break,
            Err(e) => errors.push(e),
        }
        assert!(out.len() + errors.len() < 100_000, "merge must end");
    }
    assert!(m.next_frame().unwrap().is_none());
    (out, errors)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn interleaved_and_equal_timestamps_merge_in_order() {
    let a = pcap(&[(10, b'a'), (20, b'b'), (20, b'c'), (40, b'd')]);
    let b = pcap(&[(5, b'V'), (20, b'W'), (30, b'X'), (40, b'Y'), (50, b'Z')]);
    let dir = tempfile::tempdir().unwrap();
    let paths = [
        write(dir.path(), "a.pcap", &a),
        write(dir.path(), "b.pcap", &b),
    ];
    let mut m = MergedReader::open(&paths).unwrap();
    let (frames, errors) = drain(&mut m);
    assert!(errors.is_empty());
    let order: String = frames.iter().map(|f| f.3 as char).collect();
    // Ties at 20 and 40: input 0 first, and within input 0 its file order.
    assert_eq!(order, "VabcWXdYZ");
    let numbers: Vec<u64> = frames.iter().map(|f| f.1).collect();
    assert_eq!(numbers, (1..=9).collect::<Vec<u64>>());
    let inputs: Vec<u16> = frames.iter().map(|f| f.0).collect();
    assert_eq!(inputs, [1, 0, 0, 0, 1, 1, 0, 1, 1]);
    // Offsets stay those of each frame's own file.
    assert_eq!(frames[0].4, 24);
    assert_eq!(frames[1].4, 24);
    assert_eq!(frames[2].4, 24 + 17);
    assert_eq!(m.frames_read(), 9);
    assert_eq!(m.inputs()[1].path(), paths[1]);

    // Streamed inputs merge the same way; swapping them flips the ties.
    let streamed =
        |x: &[u8], name: &str| CaptureReader::from_reader(name, Cursor::new(x.to_vec())).unwrap();
    let mut m = MergedReader::new(vec![streamed(&b, "b"), streamed(&a, "a")]);
    let (frames, _) = drain(&mut m);
    let order: String = frames.iter().map(|f| f.3 as char).collect();
    assert_eq!(order, "VaWbcXYdZ");
}

#[test]
fn a_damaged_input_stops_alone_and_is_named() {
    let good = pcap(&[(1, b'a'), (3, b'b'), (5, b'c'), (7, b'd')]);
    let full = pcap(&[(2, b'W'), (4, b'X'), (6, b'Y'), (8, b'Z')]);
    // Cut inside the third record of the second input.
    let third = 24 + 2 * 17;
    let damaged = &full[..third + 5];
    let dir = tempfile::tempdir().unwrap();
    let paths = [
        write(dir.path(), "good.pcap", &good),
        write(dir.path(), "damaged.pcap", damaged),
    ];
    let mut m = MergedReader::open(&paths).unwrap();
    let (frames, errors) = drain(&mut m);
    let order: String = frames.iter().map(|f| f.3 as char).collect();
    assert_eq!(order, "aWbXcd");
    assert_eq!(frames.last().unwrap().1, 6);
    assert_eq!(errors.len(), 1);
    match &errors[0] {
        Error::Truncated { file, offset, .. } => {
            assert_eq!(file, &paths[1]);
            assert_eq!(*offset, third as u64);
        }
        other => panic!("{other}"),
    }
    assert!(errors[0].to_string().contains("damaged.pcap"));
}

#[test]
fn no_inputs_and_empty_inputs_end_at_once() {
    let mut m = MergedReader::new(Vec::new());
    assert!(m.next_frame().unwrap().is_none());
    let empty = CaptureReader::from_reader("e", Cursor::new(pcap(&[]))).unwrap();
    let mut m = MergedReader::new(vec![empty]);
    assert!(m.next_frame().unwrap().is_none());
}

proptest! {
    /// Against a naive model: with every input in time order, the merge is a
    /// stable sort of all frames by (timestamp, input index).
    #[test]
    fn merge_equals_a_stable_sort_of_sorted_inputs(
        inputs in proptest::collection::vec(
            proptest::collection::vec(0u64..20, 0..12), 1..5),
    ) {
        let mut model = Vec::new();
        let mut readers = Vec::new();
        for (i, ts) in inputs.iter().enumerate() {
            let mut ts = ts.clone();
            ts.sort_unstable();
            let recs: Vec<(u64, u8)> =
                ts.iter().enumerate().map(|(k, &t)| (t, k as u8)).collect();
            for &(t, k) in &recs {
                model.push((t, i as u16, k));
            }
            readers.push(CaptureReader::from_reader("m", Cursor::new(pcap(&recs))).unwrap());
        }
        model.sort_by_key(|&(t, i, _)| (t, i));
        let mut m = MergedReader::new(readers);
        let (frames, errors) = drain(&mut m);
        prop_assert!(errors.is_empty());
        let got: Vec<(u64, u16, u8)> = frames.iter().map(|f| (f.2, f.0, f.3)).collect();
        prop_assert_eq!(got, model);
    }

    /// Inputs out of time order are still read in their own file order.
    #[test]
    fn unsorted_inputs_keep_their_file_order(
        inputs in proptest::collection::vec(
            proptest::collection::vec(0u64..20, 0..12), 1..4),
    ) {
        let readers = inputs
            .iter()
            .map(|ts| {
                let recs: Vec<(u64, u8)> =
                    ts.iter().enumerate().map(|(k, &t)| (t, k as u8)).collect();
                CaptureReader::from_reader("u", Cursor::new(pcap(&recs))).unwrap()
            })
            .collect();
        let mut m = MergedReader::new(readers);
        let (frames, _) = drain(&mut m);
        prop_assert_eq!(frames.len(), inputs.iter().map(Vec::len).sum::<usize>());
        for (i, ts) in inputs.iter().enumerate() {
            let tags: Vec<u8> =
                frames.iter().filter(|f| f.0 == i as u16).map(|f| f.3).collect();
            prop_assert_eq!(tags, (0..ts.len() as u8).collect::<Vec<u8>>());
        }
    }
}

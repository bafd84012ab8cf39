//! Range responses: 206 parts of one resource grouped into an entity, its
//! coverage, overlap checks and the stitched file (generated streams
//! through an `ObjectStore`, files on disk).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use http::{
    stitch_entities, Entity, HttpConfig, HttpFlow, ObjectNaming, ObjectRecord, ObjectStore,
    OpenBodies,
};
use reassembly::Dir;
use sha2::{Digest, Sha256};

/// Bytes of an entity of `len` bytes: no run repeats, so a part at the
/// wrong offset would not match.
fn entity_bytes(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One response as a server sends it: status line, extra headers, body.
struct Resp {
    flow: u64,
    head: String,
    body: Vec<u8>,
}

/// A 206 for `[first, last]` of `whole`, with `ETag: "v1"`.
fn part(flow: u64, whole: &[u8], first: usize, last: usize) -> Resp {
    let body = whole[first..=last].to_vec();
    Resp {
        flow,
        head: format!(
            "HTTP/1.1 206 Partial Content\r\nETag: \"v1\"\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {first}-{last}/{}\r\nContent-Length: {}\r\n\r\n",
            whole.len(),
            body.len()
        ),
        body,
    }
}

/// Every response in its own flow (one GET of `/files/video.bin` on host
/// `Media.example` each), written to a store in `dir`; the records.
fn serve(dir: &std::path::Path, resps: &[Resp]) -> Vec<ObjectRecord> {
    let mut store = ObjectStore::new(dir, ObjectNaming::Readable).unwrap();
    for r in resps {
        let mut http = HttpFlow::new(HttpConfig::default());
        let mut open = OpenBodies::default();
        let mut w = store.writer(r.flow, &mut open);
        http.feed(
            Dir::ClientToServer,
            b"GET /files/video.bin HTTP/1.1\r\nHost: Media.example\r\n\r\n",
            1,
            &mut w,
        );
        let mut bytes = r.head.clone().into_bytes();
        bytes.extend_from_slice(&r.body);
        // Pieces smaller than the store's buffer and than a part.
        for p in bytes.chunks(7000) {
            http.feed(Dir::ServerToClient, p, 2, &mut w);
        }
        http.finish(&mut w);
    }
    assert_eq!(store.error(), None);
    store.take_records()
}

fn run(resps: &[Resp]) -> (tempfile::TempDir, Vec<Entity>) {
    let tmp = tempfile::tempdir().unwrap();
    let records = serve(tmp.path(), resps);
    let es = stitch_entities(&records, tmp.path(), ObjectNaming::Readable);
    (tmp, es)
}

#[test]
fn two_parts_covering_an_entity_are_stitched_in_order() {
    // Larger than the stitcher's buffer; the later range arrives on the
    // earlier flow.
    let whole = entity_bytes(150_000);
    let (tmp, es) = run(&[part(9, &whole, 0, 79_999), part(4, &whole, 80_000, 149_999)]);
    assert_eq!(es.len(), 1);
    let e = &es[0];
    assert_eq!(e.host.as_deref(), Some("media.example"));
    assert_eq!(e.uri, "/files/video.bin");
    assert_eq!(e.etag.as_deref(), Some("\"v1\""));
    assert_eq!(e.length, Some(150_000));
    // Parts by flow id.
    let files: Vec<_> = e.parts.iter().map(|p| p.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "0000000004-001-s2c-video.bin",
            "0000000009-001-s2c-video.bin"
        ]
    );
    assert_eq!(e.parts[0].used, Some((80_000, 70_000)));
    assert_eq!(e.parts[1].range, Some((0, 79_999)));
    assert!(e.covered);
    assert!(e.missing.is_empty());
    assert!(e.conflicts.is_empty());
    assert!(e.stitched);
    assert_eq!(e.no_file, None);
    assert_eq!(e.file.as_deref(), Some("0000000004-001-entity-video.bin"));
    let stitched = std::fs::read(tmp.path().join(e.file.as_ref().unwrap())).unwrap();
    assert!(stitched == whole, "stitched bytes differ from the entity");
    assert_eq!(e.sha256.as_deref(), Some(sha(&whole).as_str()));
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_entities_do_not_depend_on_the_order_of_the_records() {
    let whole = entity_bytes(3000);
    let tmp = tempfile::tempdir().unwrap();
    let mut records = serve(
        tmp.path(),
        &[
            part(5, &whole, 1000, 2999),
            part(2, &whole, 0, 1499),
            part(8, &whole, 0, 999),
        ],
    );
    let a = http::entities(&records);
    records.reverse();
    assert_eq!(http::entities(&records), a);
    records.swap(0, 1);
    assert_eq!(http::entities(&records), a);
}

#[test]
fn a_gap_between_ranges_is_listed_and_nothing_is_stitched() {
    let whole = entity_bytes(300);
    let (tmp, es) = run(&[part(1, &whole, 0, 99), part(2, &whole, 200, 299)]);
    let e = &es[0];
    assert!(!e.covered);
    assert_eq!(e.missing, vec![(100, 100)]);
    assert_eq!(e.file, None);
    assert_eq!(e.no_file, Some("not-covered"));
    // Only the two parts are in the folder.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
}

#[test]
fn overlapping_parts_that_agree_are_stitched() {
    let whole = entity_bytes(300);
    let (tmp, es) = run(&[
        part(1, &whole, 100, 299),
        part(2, &whole, 0, 199),
        part(3, &whole, 50, 60),
    ]);
    let e = &es[0];
    assert!(e.covered);
    assert!(e.conflicts.is_empty(), "{:?}", e.conflicts);
    assert!(e.stitched);
    let stitched = std::fs::read(tmp.path().join(e.file.as_ref().unwrap())).unwrap();
    assert_eq!(stitched, whole);
}

#[test]
fn overlapping_parts_that_conflict_are_reported_and_not_stitched() {
    let whole = entity_bytes(300);
    let mut bad = part(2, &whole, 100, 299);
    bad.body[150 - 100] ^= 0xff; // entity offset 150, inside [100, 200)
    let (_tmp, es) = run(&[part(1, &whole, 0, 199), bad]);
    let e = &es[0];
    assert!(e.covered);
    assert_eq!(e.conflicts.len(), 1, "{:?}", e.conflicts);
    assert_eq!(e.conflicts[0].offset, 150);
    assert_eq!(
        e.conflicts[0].parts,
        [
            "0000000001-001-s2c-video.bin".to_string(),
            "0000000002-001-s2c-video.bin".to_string()
        ]
    );
    assert_eq!(e.file, None);
    assert!(!e.stitched);
    assert_eq!(e.no_file, Some("conflict"));
}

#[test]
fn a_200_for_the_same_resource_covers_it_and_is_the_entity_file() {
    let whole = entity_bytes(500);
    let full = Resp {
        flow: 3,
        head: format!(
            "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            whole.len()
        ),
        body: whole.clone(),
    };
    let (_tmp, es) = run(&[part(1, &whole, 100, 199), full]);
    let e = &es[0];
    assert_eq!(e.parts.len(), 2);
    assert_eq!(e.parts[1].status, 200);
    assert_eq!(e.parts[1].used, Some((0, 500)));
    assert!(e.covered);
    assert!(e.conflicts.is_empty());
    // The 200's own file is the whole entity: nothing is written.
    assert_eq!(e.file.as_deref(), Some("0000000003-001-s2c-video.bin"));
    assert!(!e.stitched);
    assert_eq!(e.sha256.as_deref(), Some(sha(&whole).as_str()));
}

#[test]
fn a_200_alone_is_no_entity_and_other_validators_are_another_entity() {
    let whole = entity_bytes(500);
    let full = Resp {
        flow: 3,
        head: format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", whole.len()),
        body: whole.clone(),
    };
    let mut changed = part(4, &whole, 0, 99);
    changed.head = changed.head.replace("\"v1\"", "\"v2\"");
    let (_tmp, es) = run(&[full, part(1, &whole, 100, 499), changed]);
    // The 200 has no ETag: it joins no entity. v1 and v2 are two entities.
    assert_eq!(es.len(), 2);
    assert_eq!(es[0].etag.as_deref(), Some("\"v1\""));
    assert_eq!(es[0].missing, vec![(0, 100)]);
    assert_eq!(es[1].etag.as_deref(), Some("\"v2\""));
    assert_eq!(es[1].missing, vec![(100, 400)]);
}

#[test]
fn compressed_parts_are_covered_but_not_stitched() {
    // The ranges count bytes of the gzip representation.
    let whole = entity_bytes(4000);
    let gz = gzip(&whole);
    let cut = gz.len() / 2;
    let coded = |flow: u64, first: usize, last: usize| {
        let mut r = part(flow, &gz, first, last);
        r.head = r
            .head
            .replace("\r\n\r\n", "\r\nContent-Encoding: gzip\r\n\r\n");
        r
    };
    let (_tmp, es) = run(&[coded(1, 0, cut - 1), coded(2, cut, gz.len() - 1)]);
    assert_eq!(es.len(), 1);
    let e = &es[0];
    assert_eq!(e.codings, ["gzip"]);
    assert_eq!(e.length, Some(gz.len() as u64));
    assert!(e.covered);
    assert_eq!(e.file, None);
    assert_eq!(e.no_file, Some("coded"));
}

#[test]
fn a_part_cut_short_gives_the_bytes_it_has() {
    let whole = entity_bytes(1000);
    let mut short = part(2, &whole, 500, 999);
    short.body.truncate(300); // the capture ends 200 bytes early
    let (_tmp, es) = run(&[part(1, &whole, 0, 499), short]);
    let e = &es[0];
    assert_eq!(e.parts[1].used, Some((500, 300)));
    assert_eq!(e.parts[1].short, Some("incomplete"));
    assert_eq!(e.missing, vec![(800, 200)]);
    assert!(!e.covered);
}

#[test]
fn parts_disagreeing_on_the_length_make_it_unknown() {
    let whole = entity_bytes(600);
    let mut other = part(2, &whole, 100, 199);
    other.head = other.head.replace("/600", "/700");
    let (_tmp, es) = run(&[part(1, &whole, 0, 99), other]);
    let e = &es[0];
    assert_eq!(e.length, None);
    assert_eq!(e.lengths, vec![600, 700]);
    assert_eq!(e.no_file, Some("lengths"));
    assert!(!e.covered);
}

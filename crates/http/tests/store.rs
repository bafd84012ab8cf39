//! Bodies written to files: names, contents, records.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use http::{HttpConfig, HttpFlow, ObjectNaming, ObjectStore, OpenBodies};
use reassembly::Dir;
use sha2::{Digest, Sha256};

/// Run one flow's bytes (client bytes, then server bytes) through a store.
fn store_flow(store: &mut ObjectStore, flow: u64, c2s: &[u8], s2c: &[u8], piece: usize) {
    let mut http = HttpFlow::new(HttpConfig::default());
    let mut open = OpenBodies::default();
    for p in c2s.chunks(piece) {
        http.feed(
            Dir::ClientToServer,
            p,
            1,
            &mut store.writer(flow, &mut open),
        );
    }
    for p in s2c.chunks(piece) {
        http.feed(
            Dir::ServerToClient,
            p,
            2,
            &mut store.writer(flow, &mut open),
        );
    }
    http.finish(&mut store.writer(flow, &mut open));
}

#[test]
fn bodies_are_files_with_readable_safe_unique_names() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = ObjectStore::new(tmp.path().join("http"), ObjectNaming::Readable).unwrap();
    let pdf = {
        let mut v = b"%PDF-1.4\n".to_vec();
        v.extend(page(3000)); // larger than the store's buffer
        v
    };
    let png =
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
            .to_vec();
    let c2s = b"GET /docs/report.pdf?x=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /img/ HTTP/1.1\r\n\r\nPOST /../../etc/passwd HTTP/1.1\r\nContent-Length: 4\r\n\r\nroot".to_vec();
    let mut s2c = msg(
        &format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            gzip(&pdf).len()
        ),
        &gzip(&pdf),
    );
    s2c.extend(msg(
        &format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            png.len()
        ),
        &png,
    ));
    s2c.extend(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    store_flow(&mut store, 42, &c2s, &s2c, 1000);
    assert_eq!(store.error(), None);
    let mut recs = store.records().to_vec();
    // Records come in the order bodies ended (the client's were all fed first).
    recs.sort_by_key(|r| (r.exchange, r.dir));
    let names: Vec<_> = recs.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(
        names,
        [
            "0000000042-001-s2c-report.pdf",
            "0000000042-002-s2c-index.png",
            "0000000042-003-c2s-passwd",
            "0000000042-003-s2c-passwd",
        ]
    );
    let dir = tmp.path().join("http");
    assert_eq!(std::fs::read(dir.join(names[0])).unwrap(), pdf);
    assert_eq!(std::fs::read(dir.join(names[1])).unwrap(), png);
    assert_eq!(std::fs::read(dir.join(names[2])).unwrap(), b"root");
    assert_eq!(std::fs::read(dir.join(names[3])).unwrap(), b"");
    // Nothing but the four bodies (no partial files left, nothing outside).
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    let r = &recs[0];
    assert_eq!(r.sha256, hex(&Sha256::digest(&pdf)));
    assert_eq!(r.codings, ["gzip"]);
    assert!(r.decoded && r.complete && !r.type_mismatch);
    assert_eq!(r.detected_type, Some("application/pdf"));
    assert_eq!(
        (
            r.method.as_deref(),
            r.host.as_deref(),
            r.uri.as_deref(),
            r.status
        ),
        (
            Some("GET"),
            Some("h"),
            Some("/docs/report.pdf?x=1"),
            Some(200)
        )
    );
    assert!(recs[1].type_mismatch, "PNG bytes declared text/plain");
    assert_eq!(recs[2].dir, "c2s");
}

#[test]
fn sha256_naming_shares_identical_bodies() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = ObjectStore::new(tmp.path(), ObjectNaming::Sha256).unwrap();
    let c2s = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    let s2c = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    store_flow(&mut store, 1, c2s, s2c, 7);
    let recs = store.records();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].file, recs[1].file);
    assert_eq!(recs[0].file, hex(&Sha256::digest(b"abc")));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn an_incomplete_body_is_recorded_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = ObjectStore::new(tmp.path(), ObjectNaming::Readable).unwrap();
    let mut http = HttpFlow::new(HttpConfig::default());
    let mut open = OpenBodies::default();
    http.feed(
        Dir::ClientToServer,
        b"GET /f.bin HTTP/1.1\r\n\r\n",
        1,
        &mut store.writer(9, &mut open),
    );
    http.feed(
        Dir::ServerToClient,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123",
        2,
        &mut store.writer(9, &mut open),
    );
    http.gap(Dir::ServerToClient, 3, &mut store.writer(9, &mut open));
    http.feed(
        Dir::ServerToClient,
        b"789",
        3,
        &mut store.writer(9, &mut open),
    );
    http.finish(&mut store.writer(9, &mut open));
    let r = &store.records()[0];
    assert!(!r.complete);
    assert_eq!(r.incomplete, Some("gap"));
    assert_eq!(r.missing, vec![(4, 3)]);
    assert_eq!((r.first_frame, r.last_frame), (2, 3));
    assert_eq!(std::fs::read(tmp.path().join(&r.file)).unwrap(), b"0123789");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// More bodies written at once than the store keeps files open for, fed in
/// turns in pieces smaller and larger than its buffer: each file holds its
/// body exactly, and no partial file is left.
#[test]
fn interleaved_bodies_beyond_the_open_files_are_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = ObjectStore::new(tmp.path(), ObjectNaming::Readable).unwrap();
    let flows = http::OPEN_FILES as u64 + 7;
    let body = |f: u64| -> Vec<u8> {
        (0..100_000u64)
            .map(|i| (i.wrapping_mul(31) ^ f) as u8)
            .collect()
    };
    let mut readers: Vec<(HttpFlow, OpenBodies, Vec<u8>)> = Vec::new();
    for f in 0..flows {
        let mut http = HttpFlow::new(HttpConfig::default());
        let mut open = OpenBodies::default();
        let get = format!("GET /f{f}.bin HTTP/1.1\r\n\r\n");
        http.feed(
            Dir::ClientToServer,
            get.as_bytes(),
            1,
            &mut store.writer(f, &mut open),
        );
        let s2c = msg(
            "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
            &body(f),
        );
        readers.push((http, open, s2c));
    }
    // Pieces of 1000 bytes (buffered) and of 40000 (written straight).
    let mut at = vec![0usize; readers.len()];
    let mut round = 0;
    while at.iter().zip(&readers).any(|(a, r)| *a < r.2.len()) {
        let piece = if round % 3 == 2 { 40_000 } else { 1000 };
        for (f, (http, open, s2c)) in readers.iter_mut().enumerate() {
            let end = (at[f] + piece).min(s2c.len());
            http.feed(
                Dir::ServerToClient,
                &s2c[at[f]..end],
                2,
                &mut store.writer(f as u64, open),
            );
            at[f] = end;
        }
        round += 1;
    }
    for (f, (http, open, _)) in readers.iter_mut().enumerate() {
        http.finish(&mut store.writer(f as u64, open));
    }
    assert_eq!(store.error(), None);
    let recs = store.records();
    assert_eq!(recs.len(), flows as usize);
    for r in recs {
        assert!(r.complete);
        assert_eq!(
            std::fs::read(tmp.path().join(&r.file)).unwrap(),
            body(r.flow)
        );
    }
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), flows as usize, "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with(".partial")));
}

//! The reader's rules, one generated exchange each: framing, codings,
//! pairing, bodiless responses, gaps, limits and garbage.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use http::{DecodeLimits, HttpConfig, Incomplete, Stop};
use sha2::{Digest, Sha256};

/// One line per message, short enough to read in a failure.
fn summary(r: &Recorder) -> Vec<String> {
    r.objs
        .iter()
        .map(|o| {
            let out = o.outcome();
            format!(
                "{:?} #{} {:?} body {} gaps {} wire {} enc {} missing {:?} {:?} @{}..{}",
                o.msg.dir,
                o.msg.exchange,
                o.msg.head.start,
                o.body.len(),
                o.gaps,
                out.wire_bytes,
                out.encoded_bytes,
                out.missing,
                out.incomplete,
                o.msg.head_offset,
                out.end_offset
            )
        })
        .collect()
}

fn cfg() -> HttpConfig {
    HttpConfig::default()
}

/// Every split of the events' bytes gives the same messages.
fn run_all(events: &[Ev]) -> Recorder {
    let whole = run(events, usize::MAX, cfg());
    for piece in [1, 2, 3, 7, 64, 1000] {
        let split = run(events, piece, cfg());
        assert_eq!(summary(&split), summary(&whole), "piece size {piece}");
        assert!(split.objs == whole.objs, "piece size {piece}");
    }
    whole
}

#[test]
fn get_with_content_length_pairs_request_and_response() {
    let body = page(100);
    let r = run_all(&[
        c("GET /docs/report.pdf HTTP/1.1\r\nHost: files.example\r\n\r\n"),
        s(msg(
            &format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            &body,
        )),
    ]);
    assert_eq!(r.objs.len(), 2);
    let req = &r.objs[0];
    assert!(!req.msg.has_body);
    assert_eq!(req.msg.head.method(), Some("GET"));
    let res = &r.objs[1];
    assert_eq!(res.msg.exchange, 1);
    let line = res.msg.request.as_ref().unwrap();
    assert_eq!(
        (
            line.method.as_str(),
            line.uri.as_str(),
            line.host.as_deref()
        ),
        ("GET", "/docs/report.pdf", Some("files.example"))
    );
    assert_eq!(res.body, body);
    let o = res.outcome();
    assert_eq!(o.incomplete, None);
    assert_eq!(o.sha256, <[u8; 32]>::from(Sha256::digest(&body)));
    assert_eq!(o.decoded_bytes, body.len() as u64);
    assert_eq!(o.wire_bytes, body.len() as u64);
    assert_eq!(res.msg.declared_type().as_deref(), Some("application/pdf"));
    // Offsets: the head starts the direction, the body follows it.
    assert_eq!(res.msg.head_offset, 0);
    assert_eq!(res.msg.body_offset, res.msg.head.len as u64);
    assert_eq!(o.end_offset, res.msg.body_offset + body.len() as u64);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let body = page(50);
    let wire = chunked(&body, 300);
    let r = run_all(&[
        c("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        s(msg(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            &wire,
        )),
        // The next response on the same connection starts right after the trailers.
        c("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    let res = &r.objs[1];
    assert!(res.msg.chunked);
    assert_eq!(res.body, body);
    assert_eq!(res.outcome().wire_bytes, wire.len() as u64);
    assert_eq!(res.outcome().encoded_bytes, body.len() as u64);
    assert_eq!(res.outcome().incomplete, None);
    assert_eq!(r.objs[3].body, b"ok");
    assert_eq!(r.objs[3].msg.exchange, 2);
}

#[test]
fn every_coding_is_undone_also_inside_chunked() {
    let body = page(2000);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gzip", gzip(&body)),
        ("x-gzip", gzip(&body)),
        ("deflate", zlib(&body)),
        ("deflate", raw_deflate(&body)),
        ("br", brotli(&body)),
        ("zstd", zstd(&body)),
        ("identity", body.clone()),
    ];
    for (name, enc) in cases {
        for chunk in [false, true] {
            let resp = if chunk {
                msg(
                    &format!(
                        "HTTP/1.1 200 OK\r\nContent-Encoding: {name}\r\nTransfer-Encoding: chunked\r\n\r\n"
                    ),
                    &chunked(&enc, 777),
                )
            } else {
                msg(
                    &format!(
                        "HTTP/1.1 200 OK\r\nContent-Encoding: {name}\r\nContent-Length: {}\r\n\r\n",
                        enc.len()
                    ),
                    &enc,
                )
            };
            let r = run_all(&[c("GET / HTTP/1.1\r\n\r\n"), s(resp)]);
            let res = &r.objs[1];
            assert_eq!(res.body, body, "{name} chunked={chunk}");
            assert_eq!(res.outcome().incomplete, None, "{name}");
            assert_eq!(res.outcome().encoded_bytes, enc.len() as u64, "{name}");
        }
    }
}

#[test]
fn transfer_coding_gzip_before_chunked_and_stacked_content_codings() {
    let body = page(300);
    let r = run_all(&[
        c("GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
        s(msg(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            &chunked(&gzip(&body), 100),
        )),
        s(msg(
            &format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip, br\r\nContent-Length: {}\r\n\r\n",
                brotli(&gzip(&body)).len()
            ),
            &brotli(&gzip(&body)),
        )),
    ]);
    let res: Vec<_> = r
        .objs
        .iter()
        .filter(|o| o.msg.head.status().is_some())
        .collect();
    assert_eq!(res.len(), 2);
    for o in res {
        assert_eq!(o.body, body);
        assert_eq!(o.outcome().incomplete, None);
    }
}

#[test]
fn unsupported_coding_passes_the_body_through() {
    let r = run_all(&[
        c("GET / HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\nContent-Length: 4\r\n\r\nLZW!"),
    ]);
    let res = &r.objs[1];
    assert!(!res.msg.decoding);
    assert_eq!(res.body, b"LZW!");
    assert_eq!(res.msg.codings[0].name(), "compress");
}

#[test]
fn keep_alive_and_pipelining_pair_in_order() {
    // Three pipelined requests, one of them a POST with a body; responses in order.
    let r = run_all(&[
        c("GET /a HTTP/1.1\r\n\r\nPOST /upload HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloHEAD /c HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"),
        s("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
        // HEAD: Content-Length describes the GET, no body follows.
        s("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        c("GET /d HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nD"),
    ]);
    let requests: Vec<_> = r
        .objs
        .iter()
        .filter(|o| o.msg.head.method().is_some())
        .collect();
    let responses: Vec<_> = r
        .objs
        .iter()
        .filter(|o| o.msg.head.status().is_some())
        .collect();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[1].body, b"hello");
    assert_eq!(requests[1].msg.exchange, 2);
    let uris: Vec<_> = responses
        .iter()
        .map(|o| {
            (
                o.msg.exchange,
                o.msg.request.as_ref().unwrap().uri.clone(),
                o.body.clone(),
            )
        })
        .collect();
    assert_eq!(
        uris,
        vec![
            (1, "/a".to_string(), b"A".to_vec()),
            (2, "/upload".to_string(), b"ok".to_vec()),
            (3, "/c".to_string(), Vec::new()),
            (4, "/d".to_string(), b"D".to_vec()),
        ]
    );
    assert!(!responses[2].msg.has_body);
}

#[test]
fn bodiless_statuses_and_continue() {
    let r = run_all(&[
        c("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"),
        s("HTTP/1.1 204 No Content\r\n\r\n"),
        c("PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
        s("HTTP/1.1 100 Continue\r\n\r\n"),
        c("abc"),
        s("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    let responses: Vec<_> = r
        .objs
        .iter()
        .filter(|o| o.msg.head.status().is_some())
        .collect();
    let got: Vec<_> = responses
        .iter()
        .map(|o| {
            (
                o.msg.head.status().unwrap(),
                o.msg.exchange,
                o.msg.has_body,
                o.body.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (304, 1, false, vec![]),
            (204, 2, false, vec![]),
            (100, 3, false, vec![]),
            (200, 3, true, b"ok".to_vec()),
        ]
    );
    assert_eq!(responses[3].msg.request.as_ref().unwrap().uri, "/up");
    let put = r
        .objs
        .iter()
        .find(|o| o.msg.head.method() == Some("PUT"))
        .unwrap();
    assert_eq!(put.body, b"abc");
}

#[test]
fn close_delimited_body_ends_with_the_connection() {
    let body = page(20);
    let r = run_all(&[
        c("GET / HTTP/1.0\r\n\r\n"),
        s(msg(
            "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n",
            &body,
        )),
        Ev::EndS,
    ]);
    let res = &r.objs[1];
    assert_eq!(res.body, body);
    assert_eq!(res.outcome().incomplete, None);
}

#[test]
fn a_body_cut_by_the_end_of_the_connection_is_truncated() {
    let r = run_all(&[
        c("GET / HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"),
        Ev::EndS,
    ]);
    let res = &r.objs[1];
    assert_eq!(res.body, b"12345");
    assert_eq!(res.outcome().incomplete, Some(Incomplete::Truncated));
}

#[test]
fn a_gap_inside_an_identity_body_is_listed_and_reported() {
    let r = run_all(&[
        c("GET / HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n123"),
        Ev::GapS(4),
        s("890GET"),
    ]);
    let res = &r.objs[1];
    assert_eq!(res.body, b"123890");
    assert_eq!(res.gaps, 4);
    let o = res.outcome();
    assert_eq!(o.missing, vec![(3, 4)]);
    assert_eq!(o.incomplete, Some(Incomplete::Gap));
    assert_eq!(o.encoded_bytes, 10);
    assert_eq!(o.decoded_bytes, 6);
}

#[test]
fn a_gap_inside_an_encoded_body_stops_decoding() {
    let body = page(3000);
    let enc = gzip(&body);
    let (a, rest) = enc.split_at(enc.len() / 3);
    let (_, b) = rest.split_at(100);
    let r = run_all(&[
        c("GET / HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n"),
        s(msg(
            &format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                enc.len()
            ),
            a,
        )),
        Ev::GapS(100),
        s(b),
        s("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnxt"),
    ]);
    let res = &r.objs[2];
    let o = res.outcome();
    assert_eq!(o.incomplete, Some(Incomplete::Gap));
    assert_eq!(o.missing, vec![(a.len() as u64, 100)]);
    // What was decoded is a prefix of the page.
    assert!(body.starts_with(&res.body));
    assert_eq!(res.gaps, 0);
    // The framing held: the next response is read.
    let next = &r.objs[3];
    assert_eq!(next.body, b"nxt");
    assert_eq!(next.msg.request.as_ref().unwrap().uri, "/next");
}

#[test]
fn a_gap_in_chunk_framing_ends_the_message_and_the_reader_resyncs() {
    let r = run_all(&[
        c("GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
        Ev::GapS(30),
        s("garbage after the hole\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    let first = &r.objs[2];
    assert_eq!(first.body, b"hello");
    assert_eq!(first.outcome().incomplete, Some(Incomplete::Gap));
    let second = &r.objs[3];
    assert_eq!(second.body, b"ok");
    assert_eq!(second.msg.exchange, 2);
}

#[test]
fn a_gzip_bomb_is_stopped_and_reported() {
    let zeros = vec![0u8; 64 << 20];
    let enc = gzip(&zeros);
    let limits = DecodeLimits {
        max_ratio: 100,
        ratio_floor: 1 << 20,
        ..DecodeLimits::default()
    };
    let cfg = HttpConfig {
        limits,
        ..HttpConfig::default()
    };
    let r = run(
        &[
            c("GET /bomb HTTP/1.1\r\n\r\n"),
            s(msg(
                &format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    enc.len()
                ),
                &enc,
            )),
        ],
        4096,
        cfg,
    );
    let o = r.objs[1].outcome();
    assert_eq!(o.incomplete, Some(Incomplete::LimitExceeded));
    assert!(o.decoded_bytes <= (enc.len() as u64 * 100).max(1 << 20));
    assert_eq!(o.wire_bytes, enc.len() as u64);
}

#[test]
fn garbage_http09_and_tls_are_not_http() {
    for first in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"GET /\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x00\x00\x00\x00garbage",
    ] {
        let r = run(
            &[Ev::C(first.to_vec()), s("HTTP/1.1 200 OK\r\n\r\n")],
            3,
            cfg(),
        );
        assert!(
            r.objs.iter().all(|o| o.msg.head.method().is_none()),
            "{first:?}"
        );
    }
    // The reader says why.
    let mut flow = http::HttpFlow::new(cfg());
    let mut rec = Recorder::default();
    flow.feed(
        reassembly::Dir::ClientToServer,
        b"\x16\x03\x01garbage\r\n\r\n",
        1,
        &mut rec,
    );
    // Searched for a head (a midstream pickup starts inside a message)...
    assert_eq!(flow.stats().stopped[0], None);
    // ... until `max_search` bytes without one.
    flow.feed(
        reassembly::Dir::ClientToServer,
        &[0x17; 70_000],
        2,
        &mut rec,
    );
    assert!(matches!(flow.stats().stopped[0], Some(Stop::NotHttp(_))));
    assert!(rec.objs.is_empty());
}

#[test]
fn a_direction_picked_up_midstream_finds_its_next_head() {
    let r = run_all(&[
        c("ody of a request we missed\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
        s("the end of a response we missed\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    assert_eq!(r.objs.len(), 2);
    assert_eq!(r.objs[1].body, b"ok");
    assert_eq!(r.objs[1].msg.request.as_ref().unwrap().uri, "/next");
}

#[test]
fn a_flow_whose_server_spoke_first_is_read_with_roles_swapped() {
    // Picked up without its handshake, the flow's "client" (first sender) is
    // the HTTP server: its first bytes are a response, then its peer's
    // requests and its responses follow.
    let r = run_all(&[
        c("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        Ev::EndS,
    ]);
    assert_eq!(r.objs.len(), 1);
    assert_eq!(r.objs[0].msg.dir, reassembly::Dir::ClientToServer);
    assert_eq!(r.objs[0].msg.head.status(), Some(200));
    assert_eq!(r.objs[0].body, b"ok");
    let r = run_all(&[
        s("GET /a HTTP/1.1\r\n\r\n"),
        c("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes"),
    ]);
    assert_eq!(r.objs[1].msg.request.as_ref().unwrap().uri, "/a");
    assert_eq!(r.objs[1].body, b"yes");
}

#[test]
fn connect_and_upgrade_end_http_parsing() {
    let r = run_all(&[
        c("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n"),
        s("HTTP/1.1 200 Connection established\r\n\r\n"),
        c("\x16\x03\x01 tls bytes that are not http"),
        s("\x16\x03\x03 more tls"),
    ]);
    assert_eq!(r.objs.len(), 2);
    assert!(!r.objs[1].msg.has_body);
    let mut flow = http::HttpFlow::new(cfg());
    let mut rec = Recorder::default();
    flow.feed(
        reassembly::Dir::ClientToServer,
        b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        1,
        &mut rec,
    );
    flow.feed(
        reassembly::Dir::ServerToClient,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        2,
        &mut rec,
    );
    assert_eq!(
        flow.stats().stopped[1],
        Some(Stop::Tunnel("websocket".into()))
    );
    assert!(flow.done());
    assert_eq!(rec.objs.len(), 2);
}

#[test]
fn a_response_before_its_request_waits_for_it() {
    // The request direction is behind a hole: the response (frame 2) is
    // delivered before the request that came before it (frame 1).
    let r = run_all(&[
        Ev::Frame(2),
        s("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        Ev::Frame(1),
        c("HEAD /big HTTP/1.1\r\n\r\n"),
        Ev::Frame(3),
        c("GET /x HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
    ]);
    let responses: Vec<_> = r
        .objs
        .iter()
        .filter(|o| o.msg.head.status().is_some())
        .collect();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].msg.request.as_ref().unwrap().uri, "/big");
    assert!(!responses[0].msg.has_body, "HEAD response has no body");
    assert_eq!(responses[1].body, b"x");
}

#[test]
fn a_response_without_any_request_is_read_unpaired() {
    // Only the server side was captured: held up to the cap, then read.
    let body = vec![b'z'; 200_000];
    let r = run_all(&[s(msg(
        &format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()),
        &body,
    ))]);
    assert_eq!(r.objs.len(), 1);
    assert_eq!(r.objs[0].msg.request, None);
    assert_eq!(r.objs[0].body, body);
    assert_eq!(r.objs[0].msg.exchange, 1);
}

#[test]
fn conflicting_content_length_stops_the_direction() {
    let r = run_all(&[
        c("GET / HTTP/1.1\r\n\r\n"),
        s("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello.."),
    ]);
    let res = &r.objs[1];
    assert!(matches!(
        res.outcome().incomplete,
        Some(Incomplete::Framing(_))
    ));
}

#[test]
fn detected_type_comes_from_the_bytes() {
    let png =
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00";
    let r = run_all(&[
        c("GET /logo HTTP/1.1\r\n\r\n"),
        s(msg(
            &format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                png.len()
            ),
            png,
        )),
    ]);
    let res = &r.objs[1];
    assert_eq!(res.outcome().detected_type, Some("image/png"));
    assert_eq!(res.msg.declared_type().as_deref(), Some("text/html"));
}

#[test]
fn ranges_are_parsed() {
    let r = run_all(&[
        c("GET /iso HTTP/1.1\r\nRange: bytes=0-3\r\n\r\n"),
        s("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-3/10\r\nContent-Length: 4\r\n\r\nabcd"),
    ]);
    let range = r.objs[1].msg.content_range().unwrap();
    assert_eq!((range.first, range.last, range.complete), (0, 3, Some(10)));
}

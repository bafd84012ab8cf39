//! Property: for generated keep-alive connections (random methods, statuses,
//! framings, codings and bodies), the reader gives exactly the messages that
//! were generated, whatever pieces the two directions arrive in and however
//! they interleave (responses may even arrive before their requests).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use http::{HttpConfig, HttpFlow};
use proptest::prelude::*;
use reassembly::Dir;

#[derive(Debug, Clone)]
struct Exchange {
    method: &'static str,
    upload: Option<Vec<u8>>,
    status: u16,
    body: Vec<u8>,
    chunk: Option<usize>,
    gzip: bool,
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        prop::sample::select(vec!["GET", "POST", "HEAD"]),
        prop::collection::vec(any::<u8>(), 0..200),
        prop::sample::select(vec![200u16, 204, 206, 304, 404]),
        prop::collection::vec(prop::sample::select(b"ab\r\n0HTTP/1.1 ".to_vec()), 0..600),
        prop::option::of(1usize..100),
        any::<bool>(),
    )
        .prop_map(|(method, upload, status, body, chunk, gzip)| Exchange {
            method,
            upload: (method == "POST").then_some(upload),
            status,
            body,
            chunk,
            gzip,
        })
}

/// A message the reader must give: direction, exchange, decoded body.
type Want = (Dir, u32, Vec<u8>);

/// The wire bytes of both directions, and the messages the reader must give.
fn wire(exchanges: &[Exchange]) -> (Vec<u8>, Vec<u8>, Vec<Want>) {
    let (mut c2s, mut s2c, mut want) = (Vec::new(), Vec::new(), Vec::new());
    for (i, x) in exchanges.iter().enumerate() {
        let n = i as u32 + 1;
        match &x.upload {
            Some(up) => {
                c2s.extend(msg(
                    &format!(
                        "{} /u{n} HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                        x.method,
                        up.len()
                    ),
                    up,
                ));
                want.push((Dir::ClientToServer, n, up.clone()));
            }
            None => {
                c2s.extend(format!("{} /r{n} HTTP/1.1\r\nHost: h\r\n\r\n", x.method).bytes());
                want.push((Dir::ClientToServer, n, Vec::new()));
            }
        }
        let bodiless = x.method == "HEAD" || x.status == 204 || x.status == 304;
        let enc = if x.gzip {
            gzip(&x.body)
        } else {
            x.body.clone()
        };
        let coding = if x.gzip {
            "Content-Encoding: gzip\r\n"
        } else {
            ""
        };
        let head = match x.chunk {
            Some(_) => format!(
                "HTTP/1.1 {} X\r\n{coding}Transfer-Encoding: chunked\r\n\r\n",
                x.status
            ),
            None => format!(
                "HTTP/1.1 {} X\r\n{coding}Content-Length: {}\r\n\r\n",
                x.status,
                enc.len()
            ),
        };
        s2c.extend(head.bytes());
        if !bodiless {
            match x.chunk {
                Some(size) => s2c.extend(chunked(&enc, size)),
                None => s2c.extend(&enc),
            }
        }
        want.push((
            Dir::ServerToClient,
            n,
            if bodiless { Vec::new() } else { x.body.clone() },
        ));
    }
    (c2s, s2c, want)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_split_and_interleaving_gives_the_generated_messages(
        exchanges in prop::collection::vec(exchange(), 1..6),
        cuts in prop::collection::vec(1usize..400, 1..40),
        order in prop::collection::vec(any::<bool>(), 1..40),
    ) {
        let (c2s, s2c, want) = wire(&exchanges);
        let mut flow = HttpFlow::new(HttpConfig::default());
        let mut rec = Recorder::default();
        let (mut a, mut b) = (&c2s[..], &s2c[..]);
        let mut k = 0;
        while !a.is_empty() || !b.is_empty() {
            let n = cuts[k % cuts.len()];
            let client = order[k % order.len()];
            k += 1;
            let (dir, rest) = if (client && !a.is_empty()) || b.is_empty() {
                (Dir::ClientToServer, &mut a)
            } else {
                (Dir::ServerToClient, &mut b)
            };
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            *rest = tail;
            flow.feed(dir, piece, k as u64, &mut rec);
        }
        flow.finish(&mut rec);
        let mut got: Vec<Want> = rec
            .objs
            .iter()
            .map(|o| {
                prop_assert_eq!(&o.outcome().incomplete, &None);
                Ok((o.msg.dir, o.msg.exchange, o.body.clone()))
            })
            .collect::<Result<_, _>>()?;
        let mut want = want;
        got.sort_by_key(|(d, n, _)| (*n, *d == Dir::ServerToClient));
        want.sort_by_key(|(d, n, _)| (*n, *d == Dir::ServerToClient));
        prop_assert_eq!(got, want);
        // Responses name their request.
        for o in rec.objs.iter().filter(|o| o.msg.dir == Dir::ServerToClient) {
            let uri = &o.msg.request.as_ref().unwrap().uri;
            prop_assert!(uri.ends_with(&o.msg.exchange.to_string()));
        }
    }
}

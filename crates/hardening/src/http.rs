//! Fuzz check of the HTTP/1.x reader (`http::HttpFlow`): a sequence of
//! deliveries, gaps and ends on the two directions of one connection, drawn
//! with `arbitrary`, under small limits.
//!
//! Promises checked: every message is begun, given its bytes and ended once,
//! in order per direction; an outcome's decoded size is what was handed out
//! and stays within the decode limits; offsets never go backwards (head, body,
//! end); missing ranges lie inside the encoded body; and the same deliveries
//! cut into one-byte pieces give the same messages with the same bodies
//! (unless a decode limit stopped a body: where a cap is reached depends on
//! the pieces the decoder is handed).

use arbitrary::{Arbitrary, Unstructured};
use http::{DecodeLimits, HttpConfig, HttpFlow, Incomplete, Message, Objects, Outcome};
use reassembly::Dir;

/// One step of a run.
#[derive(Debug, Arbitrary)]
pub enum HttpOp {
    /// Bytes of a direction.
    Data {
        /// Server to client when set.
        server: bool,
        /// The bytes; a few fixed heads are mixed in when `head` picks one.
        bytes: Vec<u8>,
        /// 0..HEADS: prefix one of the stock heads (real messages are likely).
        head: u8,
    },
    /// Bytes never captured.
    Gap {
        /// Server to client when set.
        server: bool,
        /// How many (`% 4096`).
        len: u16,
    },
    /// A direction ended.
    End {
        /// Server to client when set.
        server: bool,
    },
}

/// A drawn run.
#[derive(Debug, Arbitrary)]
pub struct HttpInput {
    /// The steps.
    pub ops: Vec<HttpOp>,
}

const HEADS: [&[u8]; 8] = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /u HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n",
];

fn limits() -> HttpConfig {
    HttpConfig {
        limits: DecodeLimits {
            max_decoded: 1 << 20,
            max_ratio: 50,
            ratio_floor: 4096,
        },
        max_head: 512,
        max_pending: 4,
        max_held: 256,
        sniff_len: 64,
        max_search: 300,
    }
}

/// What a run handed out, message by message.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    msgs: Vec<(Message, Vec<u8>, u64, Option<Outcome>)>,
    open: [Option<usize>; 2],
}

fn side(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

impl Objects for Seen {
    fn begin(&mut self, msg: &Message) {
        let d = side(msg.dir);
        assert!(self.open[d].is_none(), "begin inside a message");
        assert!(msg.body_offset >= msg.head_offset + msg.head.len as u64 || msg.head.len == 0);
        if let Some(prev) = self.msgs.iter().rev().find(|m| m.0.dir == msg.dir) {
            let end = prev.3.as_ref().map_or(0, |o| o.end_offset);
            assert!(
                msg.head_offset >= end,
                "head before the previous message's end"
            );
        }
        self.open[d] = Some(self.msgs.len());
        self.msgs.push((msg.clone(), Vec::new(), 0, None));
    }

    fn data(&mut self, msg: &Message, bytes: &[u8]) {
        let i = self.open[side(msg.dir)].expect("data outside a message");
        assert_eq!(&self.msgs[i].0, msg);
        self.msgs[i].1.extend_from_slice(bytes);
    }

    fn gap(&mut self, msg: &Message, len: u64) {
        let i = self.open[side(msg.dir)].expect("gap outside a message");
        assert!(!msg.decoding, "a gap reported in an encoded body");
        self.msgs[i].2 += len;
    }

    fn end(&mut self, msg: &Message, o: &Outcome) {
        let i = self.open[side(msg.dir)]
            .take()
            .expect("end outside a message");
        assert_eq!(&self.msgs[i].0, msg);
        assert_eq!(o.decoded_bytes, self.msgs[i].1.len() as u64);
        assert!(o.end_offset >= msg.body_offset);
        assert!(o.wire_bytes >= o.encoded_bytes);
        assert!(o.decoded_bytes <= limits().limits.max_decoded);
        for &(off, len) in &o.missing {
            assert!(
                off + len <= o.encoded_bytes,
                "missing range outside the body"
            );
        }
        if !msg.decoding {
            assert_eq!(o.decoded_bytes + self.msgs[i].2, o.encoded_bytes);
        }
        self.msgs[i].3 = Some(o.clone());
    }
}

fn run_ops(input: &HttpInput, piece: usize) -> Seen {
    let mut flow = HttpFlow::new(limits());
    let mut seen = Seen::default();
    for (frame, op) in input.ops.iter().enumerate() {
        match op {
            HttpOp::Data {
                server,
                bytes,
                head,
            } => {
                let dir = if *server {
                    Dir::ServerToClient
                } else {
                    Dir::ClientToServer
                };
                let mut all = HEADS
                    .get(usize::from(*head))
                    .map_or_else(Vec::new, |h| h.to_vec());
                all.extend_from_slice(bytes);
                for p in all.chunks(piece) {
                    flow.feed(dir, p, frame as u64, &mut seen);
                }
            }
            HttpOp::Gap { server, len } => {
                let dir = if *server {
                    Dir::ServerToClient
                } else {
                    Dir::ClientToServer
                };
                flow.gap(dir, u64::from(*len % 4096), &mut seen);
            }
            HttpOp::End { server } => {
                let dir = if *server {
                    Dir::ServerToClient
                } else {
                    Dir::ClientToServer
                };
                flow.end(dir, &mut seen);
            }
        }
    }
    flow.finish(&mut seen);
    assert!(
        seen.open.iter().all(Option::is_none),
        "a message never ended"
    );
    seen
}

/// Run the check on fuzzer bytes.
pub fn check_http(data: &[u8]) {
    let Ok(input) = HttpInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    run(&input);
}

/// Run one drawn input (exposed for tests that build inputs by hand).
pub fn run(input: &HttpInput) {
    let whole = run_ops(input, usize::MAX);
    let bytes = run_ops(input, 1);
    let limited = |s: &Seen| {
        s.msgs.iter().any(|m| {
            m.3.as_ref().and_then(|o| o.incomplete.as_ref()) == Some(&Incomplete::LimitExceeded)
        })
    };
    if limited(&whole) || limited(&bytes) {
        let heads = |s: &Seen| s.msgs.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            heads(&whole),
            heads(&bytes),
            "messages depend on the pieces"
        );
    } else {
        assert_eq!(whole, bytes, "messages depend on the pieces");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stock_exchanges_pass_the_check() {
        let input = HttpInput {
            ops: vec![
                HttpOp::Data {
                    server: false,
                    bytes: b"helloGET /x HTTP/1.1\r\n\r\n".to_vec(),
                    head: 1,
                },
                HttpOp::Data {
                    server: true,
                    bytes: b"0123456789".to_vec(),
                    head: 3,
                },
                HttpOp::Gap {
                    server: true,
                    len: 7,
                },
                HttpOp::Data {
                    server: true,
                    bytes: b"HTTP/1.1 204 No\r\n\r\n".to_vec(),
                    head: 255,
                },
                HttpOp::End { server: true },
            ],
        };
        let seen = run_ops(&input, usize::MAX);
        assert_eq!(seen.msgs.len(), 4);
        run(&input);
    }

    /// Inputs the check once failed on (found by random inputs, shrunk).
    #[test]
    fn past_failures_pass() {
        let cases = [
            // A gap while a response waited for its request: the held bytes
            // were read after the gap.
            vec![
                HttpOp::Gap {
                    server: true,
                    len: 2922,
                },
                HttpOp::Data {
                    server: true,
                    bytes: vec![72, 6],
                    head: 7,
                },
                HttpOp::Gap {
                    server: true,
                    len: 148,
                },
            ],
            // Bytes a deflate decoder gave out while failing at the end were dropped.
            vec![HttpOp::Data {
                server: true,
                bytes: vec![90, 172, 67],
                head: 7,
            }],
            // A bad chunk line cut across deliveries was counted as body.
            vec![HttpOp::Data {
                server: true,
                bytes: b"zz\r\nHTTP/1.1 204 N\r\n\r\n".to_vec(),
                head: 4,
            }],
        ];
        for ops in cases {
            run(&HttpInput { ops });
        }
    }

    #[test]
    fn random_inputs_pass_the_check() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..300 {
            let len = rng.random_range(0..2000);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            check_http(&data);
        }
    }
}

//! A recorder of what an `HttpFlow` hands out, and body encoders.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;

use http::{HttpConfig, HttpFlow, Message, Objects, Outcome};
use reassembly::Dir;

/// One message as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obj {
    pub msg: Message,
    pub body: Vec<u8>,
    pub gaps: u64,
    pub outcome: Option<Outcome>,
}

impl Obj {
    pub fn outcome(&self) -> &Outcome {
        self.outcome.as_ref().unwrap()
    }
}

/// Every message, in the order `begin` was called.
#[derive(Debug, Default)]
pub struct Recorder {
    pub objs: Vec<Obj>,
    /// Index of the open message per direction.
    open: [Option<usize>; 2],
}

fn d(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

impl Objects for Recorder {
    fn begin(&mut self, msg: &Message) {
        assert!(
            self.open[d(msg.dir)].is_none(),
            "begin while a message of the same direction is open"
        );
        self.open[d(msg.dir)] = Some(self.objs.len());
        self.objs.push(Obj {
            msg: msg.clone(),
            body: Vec::new(),
            gaps: 0,
            outcome: None,
        });
    }
    fn data(&mut self, msg: &Message, bytes: &[u8]) {
        let i = self.open[d(msg.dir)].expect("data outside a message");
        assert_eq!(&self.objs[i].msg, msg);
        self.objs[i].body.extend_from_slice(bytes);
    }
    fn gap(&mut self, msg: &Message, len: u64) {
        let i = self.open[d(msg.dir)].expect("gap outside a message");
        self.objs[i].gaps += len;
    }
    fn end(&mut self, msg: &Message, outcome: &Outcome) {
        let i = self.open[d(msg.dir)].take().expect("end outside a message");
        assert_eq!(&self.objs[i].msg, msg);
        assert_eq!(outcome.decoded_bytes, self.objs[i].body.len() as u64);
        self.objs[i].outcome = Some(outcome.clone());
    }
}

/// What to feed: a direction's bytes, a gap, or a direction's end.
#[derive(Debug, Clone)]
pub enum Ev {
    C(Vec<u8>),
    S(Vec<u8>),
    GapC(u64),
    GapS(u64),
    EndC,
    EndS,
    /// The next events carry frames from this number on (events count
    /// frames from 1 by default).
    Frame(u64),
}

/// Run the events through a fresh flow, each data event split into pieces of
/// at most `piece` bytes, and finish it.
pub fn run(events: &[Ev], piece: usize, cfg: HttpConfig) -> Recorder {
    let mut flow = HttpFlow::new(cfg);
    let mut rec = Recorder::default();
    let mut next = 1;
    for e in events {
        if let Ev::Frame(n) = e {
            next = *n;
            continue;
        }
        let frame = next;
        next += 1;
        match e {
            Ev::C(b) => {
                for p in b.chunks(piece.max(1)) {
                    flow.feed(Dir::ClientToServer, p, frame, &mut rec);
                }
            }
            Ev::S(b) => {
                for p in b.chunks(piece.max(1)) {
                    flow.feed(Dir::ServerToClient, p, frame, &mut rec);
                }
            }
            Ev::GapC(n) => flow.gap(Dir::ClientToServer, *n, &mut rec),
            Ev::GapS(n) => flow.gap(Dir::ServerToClient, *n, &mut rec),
            Ev::EndC => flow.end(Dir::ClientToServer, &mut rec),
            Ev::EndS => flow.end(Dir::ServerToClient, &mut rec),
            Ev::Frame(_) => {}
        }
    }
    flow.finish(&mut rec);
    assert!(
        rec.open.iter().all(Option::is_none),
        "a message was never ended"
    );
    rec
}

pub fn c(s: impl AsRef<[u8]>) -> Ev {
    Ev::C(s.as_ref().to_vec())
}

pub fn s(s: impl AsRef<[u8]>) -> Ev {
    Ev::S(s.as_ref().to_vec())
}

/// `head` followed by `body`.
pub fn msg(head: &str, body: &[u8]) -> Vec<u8> {
    let mut v = head.as_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// `data` in chunked framing, chunks of `size` bytes, with a chunk extension
/// on the first chunk and a trailer field.
pub fn chunked(data: &[u8], size: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, part) in data.chunks(size.max(1)).enumerate() {
        if i == 0 {
            v.extend_from_slice(format!("{:x};name=value\r\n", part.len()).as_bytes());
        } else {
            v.extend_from_slice(format!("{:X}\r\n", part.len()).as_bytes());
        }
        v.extend_from_slice(part);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\nX-Checksum: 1\r\n\r\n");
    v
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// A page of text that compresses well.
pub fn page(lines: u32) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| format!("<p>line {i} of the page</p>\n").into_bytes())
        .collect()
}

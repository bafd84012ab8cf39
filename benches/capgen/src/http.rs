//! HTTP/1.1 conversations as the payload of TCP flows ([`HttpMix`]): each
//! connection is kept alive for several request/response exchanges; a
//! request is a GET or a POST with a `Content-Length` body, a response body
//! is sent with `Content-Length` or `Transfer-Encoding: chunked`, and some
//! bodies are text compressed with gzip (`Content-Encoding: gzip`). Every
//! message body the conversation carries is an [`HttpObject`] of the
//! answer: its direction, exchange number, encodings, decoded size and the
//! SHA-256 of its decoded bytes, what an HTTP reader must hand out.
//!
//! A direction's bytes are a [`Content`]: literal parts (message heads,
//! chunk framing, gzip output) and parts of the counter-based payload
//! ([`crate::payload`]) for binary bodies, so any offset can be regenerated
//! for a resend and memory holds only heads and compressed bodies. All
//! choices come from the flow's random stream, with integers only (sizes
//! are drawn from power-of-two buckets, no floating-point logarithm), so
//! the bytes are the same on every platform.

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use rand::rngs::ChaCha8Rng;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::ByteRange;
use crate::payload;

/// What the HTTP conversations of a capture look like (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpMix {
    /// Request/response exchanges per connection.
    pub exchanges: ByteRange,
    /// Decoded size of a response body; sizes are spread evenly over the
    /// powers of two between `min` and `max` (many small, some large).
    pub body: ByteRange,
    /// Decoded size of a POST request body, drawn the same way.
    pub request_body: ByteRange,
    /// Fraction of requests that are POSTs with a body.
    pub post: f64,
    /// Fraction of response bodies sent chunked.
    pub chunked: f64,
    /// Fraction of response bodies that are text sent gzip-compressed.
    pub gzip: f64,
}

impl Default for HttpMix {
    /// 1 to 8 exchanges, response bodies of 300 bytes to 4 MB, POST bodies
    /// of 100 bytes to 64 kB on 10 % of requests, 40 % chunked, 30 % gzip.
    fn default() -> Self {
        HttpMix {
            exchanges: ByteRange::between(1, 8),
            body: ByteRange::between(300, 4 << 20),
            request_body: ByteRange::between(100, 64 << 10),
            post: 0.1,
            chunked: 0.4,
            gzip: 0.3,
        }
    }
}

impl HttpMix {
    /// Largest exchanges per connection and body size accepted.
    pub const MAX_EXCHANGES: u64 = 10_000;
    /// Largest decoded body accepted (64 MB).
    pub const MAX_BODY: u64 = 64 << 20;

    /// Mean payload bytes of one exchange, roughly (for presets).
    pub fn mean_exchange_bytes(&self) -> u64 {
        let spread = |r: ByteRange| {
            // Even over power-of-two buckets: the mean of the bucket means.
            let mut lo = r.min.max(1);
            let (mut sum, mut n) = (0u64, 0u64);
            while lo <= r.max {
                let hi = lo.saturating_mul(2).min(r.max);
                sum += (lo + hi) / 2;
                n += 1;
                lo = lo.saturating_mul(2).max(lo + 1);
            }
            sum / n.max(1)
        };
        spread(self.body) + 300
    }

    /// Checks the mix: ranges in order, within bounds, fractions in 0..=1.
    pub fn validate(&self) -> Result<(), String> {
        if self.exchanges.min == 0
            || self.exchanges.min > self.exchanges.max
            || self.exchanges.max > Self::MAX_EXCHANGES
        {
            return Err(format!(
                "http exchanges must be 1..={} with min <= max",
                Self::MAX_EXCHANGES
            ));
        }
        for (name, r) in [("body", self.body), ("request_body", self.request_body)] {
            if r.min == 0 || r.min > r.max || r.max > Self::MAX_BODY {
                return Err(format!(
                    "http {name} must be 1..={} with min <= max",
                    Self::MAX_BODY
                ));
            }
        }
        for (name, v) in [
            ("post", self.post),
            ("chunked", self.chunked),
            ("gzip", self.gzip),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("http {name} must be in 0..=1, got {v}"));
            }
        }
        Ok(())
    }
}

/// One message body of a generated conversation, as an HTTP reader must
/// hand it out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpObject {
    /// `c2s` (a POST body) or `s2c` (a response body).
    pub dir: String,
    /// The exchange on the connection, from 1.
    pub exchange: u32,
    /// The request method.
    pub method: String,
    /// The request target.
    pub uri: String,
    /// Sent with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// `Content-Encoding` applied (`gzip`), empty for none.
    pub codings: Vec<String>,
    /// Bytes of the body after content coding, without chunk framing.
    pub wire_bytes: u64,
    /// Bytes of the decoded body.
    pub decoded_bytes: u64,
    /// SHA-256 (hex) of the decoded body.
    pub sha256: String,
}

/// One part of a direction's bytes.
#[derive(Debug)]
enum Part {
    /// Bytes held here.
    Lit(Vec<u8>),
    /// Counter-based payload bytes `start..start + len` of `key`.
    Gen { key: u64, start: u64, len: u64 },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Lit(b) => b.len() as u64,
            Part::Gen { len, .. } => *len,
        }
    }
}

/// The bytes of one direction of a conversation, any range of which can be
/// produced again.
#[derive(Debug, Default)]
pub(crate) struct Content {
    parts: Vec<Part>,
    /// `ends[i]`: the stream offset just past part `i`.
    ends: Vec<u64>,
}

impl Content {
    /// Total length.
    pub(crate) fn len(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    fn lit(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let (Some(Part::Lit(last)), Some(end)) = (self.parts.last_mut(), self.ends.last_mut()) {
            last.extend_from_slice(bytes);
            *end += bytes.len() as u64;
            return;
        }
        self.push(Part::Lit(bytes.to_vec()));
    }

    fn generated(&mut self, key: u64, start: u64, len: u64) {
        if len > 0 {
            self.push(Part::Gen { key, start, len });
        }
    }

    fn push(&mut self, p: Part) {
        let end = self.len() + p.len();
        self.parts.push(p);
        self.ends.push(end);
    }

    /// Fills `out` with the bytes at `off..off + out.len()` (which must lie
    /// within the content).
    pub(crate) fn fill(&self, off: u64, out: &mut [u8]) {
        let mut i = self.ends.partition_point(|&e| e <= off);
        let mut at = off;
        let mut rest = out;
        while !rest.is_empty() {
            let (Some(part), Some(&end)) = (self.parts.get(i), self.ends.get(i)) else {
                // Past the end: the caller asked for more than there is.
                rest.fill(0);
                return;
            };
            let begin = end - part.len();
            let within = at - begin;
            // Both bounded by the part's length, a usize for literals.
            let n = usize::try_from((end - at).min(rest.len() as u64)).unwrap_or(rest.len());
            let (head, tail) = rest.split_at_mut(n);
            match part {
                Part::Lit(b) => {
                    let w = within as usize;
                    head.copy_from_slice(&b[w..w + n]);
                }
                Part::Gen { key, start, .. } => payload::fill(*key, start + within, head),
            }
            at += n as u64;
            rest = tail;
            i += 1;
        }
    }
}

/// A connection's two directions and the objects they carry.
#[derive(Debug)]
pub(crate) struct Conversation {
    pub c2s: Content,
    pub s2c: Content,
    pub objects: Vec<HttpObject>,
}

/// A size in `r`: a power-of-two bucket between `min` and `max` chosen
/// evenly, then a size evenly within it.
fn draw_size(rng: &mut ChaCha8Rng, r: ByteRange) -> u64 {
    let (min, max) = (r.min.max(1), r.max.max(1));
    let buckets = u64::from(63 - (max / min).max(1).leading_zeros()) + 1;
    let b = rng.random_range(0..buckets);
    let lo = min.saturating_mul(1u64 << b).min(max);
    let hi = lo.saturating_mul(2).min(max);
    rng.random_range(lo..=hi)
}

const WORDS: [&str; 32] = [
    "stream",
    "packet",
    "capture",
    "flow",
    "segment",
    "window",
    "offset",
    "ledger",
    "reassembly",
    "network",
    "header",
    "payload",
    "sequence",
    "acknowledge",
    "gateway",
    "server",
    "client",
    "request",
    "response",
    "object",
    "content",
    "encoding",
    "chunked",
    "archive",
    "report",
    "evidence",
    "session",
    "address",
    "protocol",
    "timestamp",
    "interface",
    "frame",
];

/// `len` bytes of text (words, spaces, newlines) from `rng`: compressible,
/// as pages and scripts are.
fn text(rng: &mut ChaCha8Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut bits = 0u64;
    let mut left = 0;
    while out.len() < len {
        if left == 0 {
            bits = rng.random();
            left = 10;
        }
        let w = (bits & 31) as usize;
        let sep = if bits & 0x20 == 0 && w < 4 {
            b'\n'
        } else {
            b' '
        };
        bits >>= 6;
        left -= 1;
        out.extend_from_slice(WORDS[w].as_bytes());
        out.push(sep);
    }
    out.truncate(len);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3 + 64),
        Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

fn hex_sha(h: Sha256) -> String {
    hex::encode(h.finalize())
}

/// SHA-256 of counter-based bytes `0..len` of `key`.
fn gen_sha(key: u64, len: u64) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut off = 0;
    while off < len {
        let n = usize::try_from((len - off).min(buf.len() as u64)).unwrap_or(buf.len());
        payload::fill(key, off, &mut buf[..n]);
        h.update(&buf[..n]);
        off += n as u64;
    }
    hex_sha(h)
}

/// A body's wire bytes.
enum Wire {
    Lit(Vec<u8>),
    Gen { key: u64, len: u64 },
}

impl Wire {
    fn len(&self) -> u64 {
        match self {
            Wire::Lit(b) => b.len() as u64,
            Wire::Gen { len, .. } => *len,
        }
    }

    /// Appends wire bytes `from..from + n` to `c`.
    fn put(&self, c: &mut Content, from: u64, n: u64) {
        match self {
            Wire::Lit(b) => c.lit(&b[from as usize..(from + n) as usize]),
            Wire::Gen { key, .. } => c.generated(*key, from, n),
        }
    }
}

/// Appends `wire` to `c`, chunked (chunks of 1 to 16 kB, then the last
/// chunk) or whole.
fn put_body(c: &mut Content, rng: &mut ChaCha8Rng, wire: &Wire, chunked: bool) {
    if !chunked {
        wire.put(c, 0, wire.len());
        return;
    }
    let mut at = 0;
    while at < wire.len() {
        let n = rng.random_range(1..=16_384u64).min(wire.len() - at);
        c.lit(format!("{n:x}\r\n").as_bytes());
        wire.put(c, at, n);
        c.lit(b"\r\n");
        at += n;
    }
    c.lit(b"0\r\n\r\n");
}

/// The conversation of flow `id` (server `host`), drawn from `rng`.
pub(crate) fn conversation(
    rng: &mut ChaCha8Rng,
    mix: &HttpMix,
    id: u64,
    host: &str,
) -> Conversation {
    let mut conv = Conversation {
        c2s: Content::default(),
        s2c: Content::default(),
        objects: Vec::new(),
    };
    let n = rng.random_range(mix.exchanges.min..=mix.exchanges.max);
    for exchange in 1..=n as u32 {
        let post = rng.random_bool(mix.post);
        let gz = rng.random_bool(mix.gzip);
        let chunked = rng.random_bool(mix.chunked);
        let ext = if gz { "txt" } else { "bin" };
        let uri = format!("/objects/{id}/{exchange}.{ext}");
        let method = if post { "POST" } else { "GET" };
        // The request, with its body when a POST.
        let mut head = format!(
            "{method} {uri} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: capgen\r\n\
             Accept-Encoding: gzip\r\n"
        );
        if post {
            let len = draw_size(rng, mix.request_body);
            let key = rng.random();
            head.push_str(&format!(
                "Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
            ));
            conv.c2s.lit(head.as_bytes());
            conv.c2s.generated(key, 0, len);
            conv.objects.push(HttpObject {
                dir: "c2s".into(),
                exchange,
                method: method.into(),
                uri: uri.clone(),
                chunked: false,
                codings: Vec::new(),
                wire_bytes: len,
                decoded_bytes: len,
                sha256: gen_sha(key, len),
            });
        } else {
            head.push_str("\r\n");
            conv.c2s.lit(head.as_bytes());
        }
        // The response.
        let len = draw_size(rng, mix.body);
        let (wire, sha) = if gz {
            let t = text(rng, usize::try_from(len).unwrap_or(0));
            let sha = hex_sha(Sha256::new_with_prefix(&t));
            (Wire::Lit(gzip(&t)), sha)
        } else {
            let key = rng.random();
            (Wire::Gen { key, len }, gen_sha(key, len))
        };
        let mut head = String::from("HTTP/1.1 200 OK\r\nServer: capgen\r\n");
        head.push_str(if gz {
            "Content-Type: text/plain\r\nContent-Encoding: gzip\r\n"
        } else {
            "Content-Type: application/octet-stream\r\n"
        });
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        } else {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", wire.len()));
        }
        conv.s2c.lit(head.as_bytes());
        put_body(&mut conv.s2c, rng, &wire, chunked);
        conv.objects.push(HttpObject {
            dir: "s2c".into(),
            exchange,
            method: method.into(),
            uri,
            chunked,
            codings: if gz { vec!["gzip".into()] } else { Vec::new() },
            wire_bytes: wire.len(),
            decoded_bytes: len,
            sha256: sha,
        });
    }
    conv
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn whole(c: &Content) -> Vec<u8> {
        let mut v = vec![0u8; c.len() as usize];
        c.fill(0, &mut v);
        v
    }

    #[test]
    fn any_range_is_the_slice_of_the_whole() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mix = HttpMix {
            body: ByteRange::between(10, 40_000),
            ..HttpMix::default()
        };
        let conv = conversation(&mut rng, &mix, 3, "h.example");
        for c in [&conv.c2s, &conv.s2c] {
            let all = whole(c);
            assert!(all.len() > 100);
            for (from, n) in [
                (0usize, 1usize),
                (7, 90),
                (all.len() / 2, 1460),
                (all.len() - 5, 5),
            ] {
                let n = n.min(all.len() - from);
                let mut part = vec![0u8; n];
                c.fill(from as u64, &mut part);
                assert_eq!(part, all[from..from + n]);
            }
        }
    }

    #[test]
    fn draw_size_stays_in_range_and_spreads() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let r = ByteRange::between(300, 4 << 20);
        let sizes: Vec<u64> = (0..2000).map(|_| draw_size(&mut rng, r)).collect();
        assert!(sizes.iter().all(|s| (300..=4 << 20).contains(s)));
        assert!(sizes.iter().any(|&s| s < 1000));
        assert!(sizes.iter().any(|&s| s > 1 << 20));
    }

    #[test]
    fn text_compresses() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let t = text(&mut rng, 100_000);
        assert_eq!(t.len(), 100_000);
        assert!(gzip(&t).len() < t.len() / 2);
    }
}

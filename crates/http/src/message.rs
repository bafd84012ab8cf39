//! What the reader hands out: a [`Message`] when a head is parsed, its decoded
//! body bytes, and an [`Outcome`] when the body ends, through the [`Objects`]
//! trait.

use reassembly::Dir;

use crate::coding::Coding;
use crate::head::{ContentRange, Head};

/// The request a response answers (paired in order on the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// The request's method.
    pub method: String,
    /// The request target as sent.
    pub uri: String,
    /// The request's `Host` header.
    pub host: Option<String>,
}

/// One HTTP message: its head and where it sits in the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The flow direction that carried it: `ClientToServer` for requests,
    /// unless the flow was picked up without its handshake and the HTTP
    /// server spoke first (the reassembler then calls it the client; the
    /// reader tells requests from responses by the first bytes).
    pub dir: Dir,
    /// Exchange number in the flow, from 1: request n and the response to it
    /// share n (interim 1xx responses share it too).
    pub exchange: u32,
    /// The parsed head.
    pub head: Head,
    /// For a response, the request it answers, when that request was seen.
    pub request: Option<RequestLine>,
    /// Codings undone to get the decoded body, in the order they were applied:
    /// the content codings (`Content-Encoding`), then the transfer codings
    /// other than `chunked` (`Transfer-Encoding: gzip, chunked`).
    pub codings: Vec<Coding>,
    /// The codings are undone (all of them are supported); when false, the
    /// body is handed out as it came (after de-chunking).
    pub decoding: bool,
    /// The body is chunked on the wire.
    pub chunked: bool,
    /// The message has a body (possibly empty: `Content-Length: 0`).
    pub has_body: bool,
    /// Stream offset of the head's first byte in its direction (bytes never
    /// captured count: it is the offset the reassembler reports).
    pub head_offset: u64,
    /// Stream offset of the body's first byte.
    pub body_offset: u64,
    /// Frame that carried the head's first byte.
    pub first_frame: u64,
}

impl Message {
    /// The declared media type: `Content-Type` up to any parameter, lowercased.
    pub fn declared_type(&self) -> Option<String> {
        let v = self.head.header("content-type")?;
        let essence = v.split(';').next().unwrap_or_default().trim();
        (!essence.is_empty()).then(|| essence.to_ascii_lowercase())
    }

    /// The `Content-Range` of a 206 response.
    pub fn content_range(&self) -> Option<ContentRange> {
        ContentRange::parse(self.head.header("content-range")?)
    }
}

/// Why a body is not whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incomplete {
    /// Bytes of the body were never captured (see [`Outcome::missing`]).
    Gap,
    /// The direction ended before the body did.
    Truncated,
    /// The chunked framing could not be followed (a gap or a bad chunk line).
    Framing(&'static str),
    /// Undoing a content coding failed: the encoded bytes are not valid.
    Decode(String),
    /// The body decodes to more than the limits allow (a decompression bomb);
    /// decoding stopped there.
    LimitExceeded,
}

impl Incomplete {
    /// Every [`name`](Self::name), for reading them back.
    pub const NAMES: [&'static str; 5] = ["gap", "truncated", "framing", "decode", "limit"];

    /// A short stable name (`gap`, `truncated`, `framing`, `decode`, `limit`).
    pub fn name(&self) -> &'static str {
        match self {
            Incomplete::Gap => "gap",
            Incomplete::Truncated => "truncated",
            Incomplete::Framing(_) => "framing",
            Incomplete::Decode(_) => "decode",
            Incomplete::LimitExceeded => "limit",
        }
    }
}

/// How a message's body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Body bytes on the wire, chunk framing and trailers included.
    pub wire_bytes: u64,
    /// Body bytes after de-chunking, before the content codings were undone.
    pub encoded_bytes: u64,
    /// Decoded body bytes handed out.
    pub decoded_bytes: u64,
    /// SHA-256 of the decoded body bytes handed out.
    pub sha256: [u8; 32],
    /// The media type the decoded bytes look like (by magic numbers), if known.
    pub detected_type: Option<&'static str>,
    /// The usual file extension of that type (`pdf`, `png`, ...).
    pub detected_extension: Option<&'static str>,
    /// Ranges of the encoded body (offset, length) that were never captured.
    pub missing: Vec<(u64, u64)>,
    /// `None` when the body is whole and decoded.
    pub incomplete: Option<Incomplete>,
    /// Frame that carried the body's last byte (the head's, for no body).
    pub last_frame: u64,
    /// Stream offset just past the body.
    pub end_offset: u64,
}

/// Receives messages as a [`crate::HttpFlow`] finds them.
///
/// For each message: [`begin`](Objects::begin), then its decoded body in
/// pieces ([`data`](Objects::data), with [`gap`](Objects::gap) where bytes
/// were never captured and the body has no content coding), then
/// [`end`](Objects::end). Messages of one direction do not overlap; the two
/// directions interleave as the bytes arrive.
pub trait Objects {
    /// A message head was parsed.
    fn begin(&mut self, msg: &Message);
    /// Decoded body bytes.
    fn data(&mut self, msg: &Message, bytes: &[u8]);
    /// `len` decoded bytes were never captured here (identity bodies only: a
    /// gap in an encoded body stops its decoding).
    fn gap(&mut self, msg: &Message, len: u64) {
        let _ = (msg, len);
    }
    /// The message ended.
    fn end(&mut self, msg: &Message, outcome: &Outcome);
}

//! [`HttpFlow`]: the HTTP/1.x reader of one connection, fed with both
//! directions' reassembled bytes.
//!
//! Each direction is a small state machine: waiting for a head, inside a
//! body (framed by `Content-Length`, chunked, or the end of the connection),
//! looking for the next head after bytes were lost (resync), or stopped (not
//! HTTP, or the connection became a tunnel). Requests are queued as they are
//! parsed and each final response takes the oldest (keep-alive and
//! pipelining); a response needs its request to know whether it has a body
//! (`HEAD`, `CONNECT`), so when a response head arrives before its request
//! (the request's direction is behind a hole), the response bytes wait, up to
//! [`HttpConfig::max_held`], for the request to be parsed.
//!
//! Body length follows RFC 9112 section 6.3: no body for responses to `HEAD`
//! and for 1xx, 204 and 304; `CONNECT` 2xx and 101 end parsing (a tunnel);
//! `Transfer-Encoding` ending in `chunked` is chunked, any other
//! `Transfer-Encoding` on a response is delimited by the connection's end;
//! then `Content-Length`; a response with neither ends with the connection, a
//! request with neither has no body.

use std::collections::VecDeque;

use reassembly::Dir;
use sha2::{Digest, Sha256};

use crate::coding::{BodyDecoder, Coding, DecodeError, DecodeLimits};
use crate::head::{parse_request, parse_response, Head, Parsed, StartLine};
use crate::message::{Incomplete, Message, Objects, Outcome, RequestLine};

/// Limits of one flow's reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Caps on decoding each body.
    pub limits: DecodeLimits,
    /// Longest head (request or status line and header fields).
    pub max_head: usize,
    /// Requests waiting for their responses (pipelining); more are parsed
    /// but their responses are not paired.
    pub max_pending: usize,
    /// Response bytes held while the response waits for its request.
    pub max_held: usize,
    /// Decoded bytes looked at to detect a body's type.
    pub sniff_len: usize,
    /// Bytes searched for a first head when a direction does not start with
    /// one (a connection picked up midstream) before it is taken as not HTTP.
    pub max_search: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            limits: DecodeLimits::default(),
            max_head: 64 << 10,
            max_pending: 256,
            max_held: 64 << 10,
            sniff_len: 8 << 10,
            max_search: 64 << 10,
        }
    }
}

/// Why a direction stopped being read as HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Its first bytes are not an HTTP/1.x head (another protocol, HTTP/0.9,
    /// HTTP/2 prior knowledge, garbage).
    NotHttp(&'static str),
    /// A head that cannot be framed (conflicting `Content-Length`, a request
    /// transfer coding other than chunked).
    Unframeable(&'static str),
    /// `CONNECT` succeeded or the protocol was switched (101): the rest is
    /// not HTTP/1.x.
    Tunnel(String),
}

/// What a flow's reader counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Heads parsed, per direction (client to server first).
    pub messages: [u64; 2],
    /// Why each direction stopped, if it did.
    pub stopped: [Option<Stop>; 2],
    /// Bytes passed over while looking for the next head after lost bytes.
    pub resync_skipped: [u64; 2],
    /// Heads lost: cut by a gap, or not parseable after the first message.
    pub lost_heads: [u64; 2],
    /// Bytes after a direction stopped.
    pub ignored: [u64; 2],
}

enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

enum Framing {
    Length(u64),
    Chunked(ChunkState),
    Close,
}

struct Body {
    msg: Message,
    framing: Framing,
    decoder: Option<BodyDecoder>,
    wire: u64,
    encoded: u64,
    decoded: u64,
    sha: Sha256,
    sniff: Vec<u8>,
    missing: Vec<(u64, u64)>,
    incomplete: Option<Incomplete>,
    last_frame: u64,
}

enum Mode {
    Head,
    Body(Box<Body>),
    Resync,
    Stopped,
}

struct Side {
    mode: Mode,
    /// Partial structure (a head, a chunk line, trailers) across deliveries;
    /// in resync, the tail of the last delivery.
    scratch: Vec<u8>,
    /// Stream offset of the next byte.
    offset: u64,
    /// Frame of the bytes being read.
    frame: u64,
    /// Where the head being collected started: (offset, frame).
    head_start: (u64, u64),
    /// A head was parsed in this direction.
    seen_head: bool,
    /// Why the first bytes were not a head (the direction is not HTTP if no
    /// head turns up within `max_search` bytes).
    first_error: Option<&'static str>,
    /// In resync: a line starts at the first byte of `scratch` (or of the
    /// next bytes, when `scratch` is empty).
    tail_line_start: bool,
    ended: bool,
}

impl Side {
    fn new() -> Side {
        Side {
            mode: Mode::Head,
            scratch: Vec::new(),
            offset: 0,
            frame: 0,
            head_start: (0, 0),
            seen_head: false,
            first_error: None,
            tail_line_start: false,
            ended: false,
        }
    }
}

struct Pending {
    exchange: u32,
    line: RequestLine,
    head: bool,
    connect: bool,
}

/// Bytes kept in the order they came, each run with its frame.
type Runs = Vec<(u64, Vec<u8>)>;

/// The HTTP/1.x reader of one connection.
///
/// Feed it each direction's reassembled bytes in order ([`feed`](Self::feed)),
/// the bytes never captured ([`gap`](Self::gap)) and the end of each
/// direction ([`end`](Self::end)); it calls an [`Objects`] with every message.
/// [`crate::feed_delivery`] does this from a reassembler's `ScatterGather`.
pub struct HttpFlow {
    cfg: HttpConfig,
    sides: [Side; 2],
    pending: VecDeque<Pending>,
    requests: u32,
    responses: u32,
    /// Response bytes waiting for their request, with the frame of each run.
    held: Runs,
    held_len: usize,
    holding: bool,
    /// The HTTP client is the flow's server side (decided by the first bytes).
    swapped: Option<bool>,
    /// The flow's first bytes while `swapped` is undecided: their direction
    /// and runs (frame, bytes); at most [`LEAD_MAX`] bytes and one more run.
    lead: Option<(Dir, Runs)>,
    /// The other direction's bytes that came meanwhile.
    other: Runs,
    other_len: usize,
    /// Holding gave up (the cap was reached) until the next request.
    no_hold: bool,
    stats: FlowStats,
}

impl std::fmt::Debug for HttpFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFlow")
            .field("requests", &self.requests)
            .field("responses", &self.responses)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

const C2S: usize = 0;
const S2C: usize = 1;

fn index(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => C2S,
        Dir::ServerToClient => S2C,
    }
}

/// First bytes of a flow held to tell who speaks HTTP first (blank lines
/// before a head aside).
const LEAD_MAX: usize = 64;

/// Bytes of the other direction held meanwhile.
const OTHER_MAX: usize = 64 << 10;

/// The first bytes after blank lines.
fn lead_start(bytes: &[u8]) -> &[u8] {
    bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .map_or(&[][..], |i| &bytes[i..])
}

/// The first bytes say enough: they start a response or a request line in
/// full, or cannot start either.
fn roles_known(bytes: &[u8]) -> bool {
    let start = lead_start(bytes);
    let patterns = METHODS.iter().copied().chain([&b"HTTP/1."[..]]);
    let mut undecided = false;
    for p in patterns {
        if start.starts_with(p) {
            return true;
        }
        if p.starts_with(start) {
            undecided = true;
        }
    }
    !undecided
}

/// Whether the flow's client (the side the reassembler calls the client:
/// with no SYN seen, the first to send) is the HTTP server, judged from the
/// flow's first bytes: a response from the client side, or a request from
/// the server side. A prefix of either counts (the first bytes were all
/// there was before the other side spoke).
fn roles_swapped(dir: Dir, bytes: &[u8]) -> bool {
    let start = lead_start(bytes);
    let is = |p: &[u8]| !start.is_empty() && (start.starts_with(p) || p.starts_with(start));
    let response = is(b"HTTP/1.");
    let request = METHODS.iter().any(|m| is(m));
    // Only clear evidence swaps (`H` may start `HTTP/1.` or `HEAD `).
    let (response, request) = (response && !request, request && !response);
    match dir {
        Dir::ClientToServer => response,
        Dir::ServerToClient => request,
    }
}

/// What collecting a piece of structure gave.
enum Step<T> {
    Done(T),
    More,
    Bad(&'static str),
}

type ParseFn<T> = fn(&[u8]) -> Result<Option<(usize, T)>, &'static str>;

/// Parse a structure that may span deliveries: from `input` directly when
/// nothing is held, else from `scratch` with `input` appended (at most `max`
/// bytes in all, whatever the pieces). Advances `input` past what was used.
/// On `Bad`, `scratch` holds only the bytes taken by earlier calls and
/// `input` is where it was: the caller reads them again.
fn collect<T>(scratch: &mut Vec<u8>, input: &mut &[u8], max: usize, parse: ParseFn<T>) -> Step<T> {
    if scratch.is_empty() {
        let window = &input[..input.len().min(max.saturating_add(1))];
        return match parse(window) {
            Ok(Some((n, t))) => {
                *input = &input[n..];
                Step::Done(t)
            }
            Ok(None) if window.len() > max => Step::Bad("too long"),
            Ok(None) => {
                scratch.extend_from_slice(input);
                *input = &[];
                Step::More
            }
            Err(e) => Step::Bad(e),
        };
    }
    let old = scratch.len();
    let take = input.len().min((max + 1).saturating_sub(old));
    scratch.extend_from_slice(&input[..take]);
    match parse(scratch) {
        Ok(Some((n, t))) => {
            let used = n.saturating_sub(old).min(take);
            *input = &input[used..];
            scratch.clear();
            Step::Done(t)
        }
        Ok(None) if scratch.len() > max => {
            scratch.truncate(old);
            Step::Bad("too long")
        }
        Ok(None) => {
            *input = &input[take..];
            Step::More
        }
        Err(e) => {
            scratch.truncate(old);
            Step::Bad(e)
        }
    }
}

fn request_head(buf: &[u8]) -> Result<Option<(usize, Head)>, &'static str> {
    match parse_request(buf) {
        Parsed::Complete(h) => Ok(Some((h.len, h))),
        Parsed::Partial => Ok(None),
        Parsed::Invalid(e) => Err(e),
    }
}

fn response_head(buf: &[u8]) -> Result<Option<(usize, Head)>, &'static str> {
    match parse_response(buf) {
        Parsed::Complete(h) => Ok(Some((h.len, h))),
        Parsed::Partial => Ok(None),
        Parsed::Invalid(e) => Err(e),
    }
}

fn chunk_size(buf: &[u8]) -> Result<Option<(usize, u64)>, &'static str> {
    match httparse::parse_chunk_size(buf) {
        Ok(httparse::Status::Complete((n, size))) => Ok(Some((n, size))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err("invalid chunk size line"),
    }
}

/// The line end after a chunk's data (a bare LF is tolerated).
fn chunk_end(buf: &[u8]) -> Result<Option<(usize, ())>, &'static str> {
    match buf {
        [] | [b'\r'] => Ok(None),
        [b'\r', b'\n', ..] => Ok(Some((2, ()))),
        [b'\n', ..] => Ok(Some((1, ()))),
        _ => Err("chunk data not followed by a line end"),
    }
}

fn trailers(buf: &[u8]) -> Result<Option<(usize, ())>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    match httparse::parse_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete((n, _))) => Ok(Some((n, ()))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err("invalid trailer section"),
    }
}

/// Methods a request found while resynchronising may start with.
const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// Longest pattern a head may start with (kept across deliveries in resync).
const PATTERN_MAX: usize = 8;

/// Where a head may start in `data`: at a line start, a method (requests) or
/// `HTTP/1.` (responses). `at_start` says position 0 is a line start.
fn find_head(data: &[u8], d: usize, at_start: bool) -> Option<usize> {
    (0..data.len()).find(|&i| {
        let line_start = if i == 0 {
            at_start
        } else {
            data[i - 1] == b'\n'
        };
        line_start
            && if d == S2C {
                data[i..].starts_with(b"HTTP/1.")
            } else {
                METHODS.iter().any(|m| data[i..].starts_with(m))
            }
    })
}

impl HttpFlow {
    /// A reader with the given limits.
    pub fn new(cfg: HttpConfig) -> HttpFlow {
        HttpFlow {
            cfg,
            sides: [Side::new(), Side::new()],
            pending: VecDeque::new(),
            requests: 0,
            responses: 0,
            held: Vec::new(),
            held_len: 0,
            holding: false,
            swapped: None,
            lead: None,
            other: Vec::new(),
            other_len: 0,
            no_hold: false,
            stats: FlowStats::default(),
        }
    }

    /// Decide who is the HTTP client from the first bytes held, and read them.
    fn decide_roles(&mut self, out: &mut dyn Objects) {
        if self.swapped.is_some() {
            return;
        }
        let Some((dir, runs)) = self.lead.take() else {
            self.swapped = Some(false);
            return;
        };
        let lead: Vec<u8> = runs.iter().flat_map(|r| r.1.iter().copied()).collect();
        self.swapped = Some(roles_swapped(dir, &lead));
        for (frame, bytes) in runs {
            self.feed(dir, &bytes, frame, out);
        }
        let other = dir.reverse();
        self.other_len = 0;
        for (frame, bytes) in std::mem::take(&mut self.other) {
            self.feed(other, &bytes, frame, out);
        }
    }

    /// The reader's side (requests 0, responses 1) of the flow's `dir`.
    fn side_of(&self, dir: Dir) -> usize {
        let d = index(dir);
        if self.swapped == Some(true) {
            1 - d
        } else {
            d
        }
    }

    /// The flow's direction of the reader's side `d`.
    fn dir_of(&self, d: usize) -> Dir {
        let flow_side = if self.swapped == Some(true) { 1 - d } else { d };
        if flow_side == C2S {
            Dir::ClientToServer
        } else {
            Dir::ServerToClient
        }
    }

    /// What the reader counted so far (per side: requests first).
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Whether both directions stopped being read (not HTTP, a tunnel, or ended).
    pub fn done(&self) -> bool {
        self.sides
            .iter()
            .all(|s| s.ended || matches!(s.mode, Mode::Stopped))
    }

    /// The next reassembled bytes of `dir`, carried by frame `frame`.
    pub fn feed(&mut self, dir: Dir, bytes: &[u8], frame: u64, out: &mut dyn Objects) {
        if self.swapped.is_none() {
            if bytes.is_empty() {
                return;
            }
            match &mut self.lead {
                // The first bytes of the flow: who speaks first decides, as
                // soon as they say enough (whatever the pieces); the other
                // direction's bytes wait meanwhile, up to OTHER_MAX.
                None => self.lead = Some((dir, vec![(frame, bytes.to_vec())])),
                Some((first, runs)) if *first == dir => runs.push((frame, bytes.to_vec())),
                Some(_) => {
                    self.other_len += bytes.len();
                    self.other.push((frame, bytes.to_vec()));
                    if self.other_len > OTHER_MAX {
                        self.decide_roles(out);
                    }
                    return;
                }
            }
            let Some((_, runs)) = &self.lead else {
                return;
            };
            let lead: Vec<u8> = runs.iter().flat_map(|r| r.1.iter().copied()).collect();
            if roles_known(&lead) || lead.len() > LEAD_MAX {
                self.decide_roles(out);
            }
            return;
        }
        let d = self.side_of(dir);
        if d == S2C && self.holding {
            self.hold(frame, bytes, out);
            return;
        }
        self.read(d, bytes, frame, out);
        if d == C2S {
            self.maybe_release(out);
        }
    }

    /// `len` bytes of `dir` were never captured.
    pub fn gap(&mut self, dir: Dir, len: u64, out: &mut dyn Objects) {
        self.decide_roles(out);
        let d = self.side_of(dir);
        if d == S2C && self.holding {
            // Held bytes come before the gap: read them now, unpaired.
            self.no_hold = true;
            self.release(out);
        }
        self.lose(d, len, out);
        if d == C2S {
            self.maybe_release(out);
        }
    }

    /// `dir` ended (FIN, reset, or the end of the capture).
    pub fn end(&mut self, dir: Dir, out: &mut dyn Objects) {
        self.decide_roles(out);
        let d = self.side_of(dir);
        if d == S2C && self.holding {
            self.no_hold = true;
            self.release(out);
        }
        self.close(d, out);
        if d == C2S {
            self.maybe_release(out);
        }
    }

    /// End both directions.
    pub fn finish(&mut self, out: &mut dyn Objects) {
        self.decide_roles(out);
        self.end(Dir::ClientToServer, out);
        self.end(Dir::ServerToClient, out);
    }

    fn hold(&mut self, frame: u64, bytes: &[u8], out: &mut dyn Objects) {
        self.held_len += bytes.len();
        self.held.push((frame, bytes.to_vec()));
        if self.held_len > self.cfg.max_held {
            // The request is not coming soon: read the response unpaired.
            self.no_hold = true;
            self.release(out);
        }
    }

    /// Whether the response side, at a head, should wait for a request.
    fn should_hold(&self) -> bool {
        let c = &self.sides[C2S];
        !self.no_hold && self.pending.is_empty() && !c.ended && !matches!(c.mode, Mode::Stopped)
    }

    fn maybe_release(&mut self, out: &mut dyn Objects) {
        if self.holding && !self.should_hold() {
            self.release(out);
        }
    }

    /// Read the held response bytes now. Reading them may reach another
    /// response without its request: the rest is held again.
    fn release(&mut self, out: &mut dyn Objects) {
        self.holding = false;
        let held = std::mem::take(&mut self.held);
        self.held_len = 0;
        for (frame, bytes) in held {
            if self.holding {
                self.held_len += bytes.len();
                self.held.push((frame, bytes));
            } else {
                self.read(S2C, &bytes, frame, out);
            }
        }
        if self.holding && self.held_len > self.cfg.max_held {
            self.no_hold = true;
            self.release(out);
        }
    }

    fn read(&mut self, d: usize, mut input: &[u8], frame: u64, out: &mut dyn Objects) {
        self.sides[d].frame = frame;
        while !input.is_empty() {
            if d == S2C && self.holding {
                // Re-reading bytes reached a response that waits for its request.
                self.hold(frame, input, out);
                return;
            }
            let side = &mut self.sides[d];
            match side.mode {
                Mode::Stopped => {
                    self.stats.ignored[d] += input.len() as u64;
                    side.offset += input.len() as u64;
                    return;
                }
                Mode::Resync => {
                    let found = self.resync(d, &mut input);
                    let side = &mut self.sides[d];
                    if !side.seen_head && self.stats.resync_skipped[d] > self.cfg.max_search as u64
                    {
                        let why = side.first_error.unwrap_or("no HTTP head");
                        side.mode = Mode::Stopped;
                        side.scratch.clear();
                        self.stats.stopped[d] = Some(Stop::NotHttp(why));
                        continue;
                    }
                    if !found {
                        return;
                    }
                }
                Mode::Head => {
                    if d == S2C && side.scratch.is_empty() && self.should_hold() {
                        self.holding = true;
                        self.hold(frame, input, out);
                        return;
                    }
                    let side = &mut self.sides[d];
                    if side.scratch.is_empty() {
                        // Empty lines before a head are ignored (RFC 9112 section 2.2).
                        let blank = input
                            .iter()
                            .take_while(|&&b| b == b'\r' || b == b'\n')
                            .count();
                        side.offset += blank as u64;
                        input = &input[blank..];
                        if input.is_empty() {
                            return;
                        }
                        side.head_start = (side.offset, frame);
                    }
                    let before = input.len();
                    let parse: ParseFn<Head> = if d == C2S {
                        request_head
                    } else {
                        response_head
                    };
                    let step = collect(&mut side.scratch, &mut input, self.cfg.max_head, parse);
                    side.offset += (before - input.len()) as u64;
                    match step {
                        Step::Done(head) => self.on_head(d, head, out),
                        Step::More => return,
                        Step::Bad(why) => self.bad_head(d, why, &mut input, out),
                    }
                }
                Mode::Body(_) => self.body(d, &mut input, out),
            }
        }
    }

    /// A head did not parse: the direction is not HTTP (nothing parsed yet)
    /// or lost its place (look for the next head, from the head's second byte:
    /// bytes taken by earlier deliveries are read again, so where the
    /// deliveries were cut changes nothing).
    fn bad_head(&mut self, d: usize, why: &'static str, input: &mut &[u8], out: &mut dyn Objects) {
        let frame = self.sides[d].frame;
        let side = &mut self.sides[d];
        let mut taken = std::mem::take(&mut side.scratch);
        side.offset -= taken.len() as u64;
        side.tail_line_start = false;
        if side.seen_head {
            self.stats.lost_heads[d] += 1;
        } else {
            // A flow picked up midstream starts inside a message: look for a
            // head, for at most `max_search` bytes.
            side.first_error.get_or_insert(why);
        }
        side.mode = Mode::Resync;
        side.offset += 1;
        self.stats.resync_skipped[d] += 1;
        if taken.is_empty() {
            *input = &input[1.min(input.len())..];
        } else {
            taken.remove(0);
            self.read(d, &taken, frame, out);
        }
    }

    /// Look for the next head. Returns false when `input` was used up.
    fn resync(&mut self, d: usize, input: &mut &[u8]) -> bool {
        let side = &mut self.sides[d];
        // `scratch` holds the last bytes passed over: a head may start there.
        let tail = std::mem::take(&mut side.scratch);
        if !tail.is_empty() {
            let mut joined = tail.clone();
            joined.extend_from_slice(&input[..input.len().min(PATTERN_MAX)]);
            if let Some(p) = find_head(&joined, d, side.tail_line_start).filter(|&p| p < tail.len())
            {
                let back = (tail.len() - p) as u64;
                side.offset -= back;
                self.stats.resync_skipped[d] -= back;
                side.mode = Mode::Head;
                if d == S2C && self.should_hold() {
                    // A response head starts here, as when it comes in one piece.
                    let frame = self.sides[d].frame;
                    self.holding = true;
                    self.held_len += tail.len() - p + input.len();
                    self.held.push((frame, tail[p..].to_vec()));
                    self.held.push((frame, input.to_vec()));
                    *input = &[];
                    return false;
                }
                let side = &mut self.sides[d];
                side.offset += back;
                side.scratch = tail[p..].to_vec();
                side.head_start = (side.offset - back, side.frame);
                return true;
            }
        }
        let line_start = match tail.last() {
            Some(&b) => b == b'\n',
            None => side.tail_line_start,
        };
        if let Some(p) = find_head(input, d, line_start) {
            side.offset += p as u64;
            self.stats.resync_skipped[d] += p as u64;
            *input = &input[p..];
            side.mode = Mode::Head;
            return true;
        }
        let n = input.len();
        side.offset += n as u64;
        self.stats.resync_skipped[d] += n as u64;
        // Keep the last PATTERN_MAX bytes passed over, and whether a line
        // starts at the first of them.
        let mut last = tail;
        last.extend_from_slice(&input[n.saturating_sub(PATTERN_MAX)..]);
        let cut = last.len().saturating_sub(PATTERN_MAX);
        if cut > 0 {
            side.tail_line_start = last[cut - 1] == b'\n';
        }
        side.scratch = last[cut..].to_vec();
        *input = &[];
        false
    }

    fn on_head(&mut self, d: usize, head: Head, out: &mut dyn Objects) {
        self.stats.messages[d] += 1;
        let (head_offset, first_frame) = self.sides[d].head_start;
        self.sides[d].seen_head = true;
        let te = head.list("transfer-encoding");
        let mut codings: Vec<Coding> = head
            .list("content-encoding")
            .iter()
            .filter_map(|t| Coding::from_token(t))
            .collect();
        let chunked = te.last().is_some_and(|t| t == "chunked");
        codings.extend(
            te.iter()
                .filter(|t| *t != "chunked")
                .filter_map(|t| Coding::from_token(t)),
        );
        let (exchange, request, framing) = match head.start {
            StartLine::Request {
                ref method,
                ref uri,
            } => {
                self.requests += 1;
                self.no_hold = false;
                let exchange = self.requests;
                if self.pending.len() < self.cfg.max_pending {
                    self.pending.push_back(Pending {
                        exchange,
                        line: RequestLine {
                            method: method.clone(),
                            uri: uri.clone(),
                            host: head.header("host").map(str::to_string),
                        },
                        head: method.eq_ignore_ascii_case("HEAD"),
                        connect: method.eq_ignore_ascii_case("CONNECT"),
                    });
                }
                let framing = if chunked {
                    Ok(Some(Framing::Chunked(ChunkState::Size)))
                } else if !te.is_empty() {
                    Err("request transfer coding is not chunked")
                } else {
                    match head.content_length() {
                        Ok(Some(n)) => Ok(Some(Framing::Length(n))),
                        Ok(None) => Ok(None),
                        Err(e) => Err(e),
                    }
                };
                (exchange, None, framing)
            }
            StartLine::Response { status, .. } => {
                let interim = (100..200).contains(&status) && status != 101;
                let req = if interim {
                    None
                } else {
                    self.pending.pop_front()
                };
                let exchange = match (&req, self.pending.front()) {
                    (Some(r), _) => r.exchange,
                    (None, Some(p)) if interim => p.exchange,
                    _ => self.responses + 1,
                };
                if !interim {
                    self.responses = exchange;
                }
                let head_only = req.as_ref().is_some_and(|r| r.head);
                let connect = req.as_ref().is_some_and(|r| r.connect);
                let tunnel = if status == 101 {
                    Some(
                        head.header("upgrade")
                            .map_or_else(|| "upgrade".to_string(), str::to_string),
                    )
                } else if connect && (200..300).contains(&status) {
                    Some("connect".to_string())
                } else {
                    None
                };
                let framing = if tunnel.is_some()
                    || head_only
                    || (100..200).contains(&status)
                    || status == 204
                    || status == 304
                {
                    Ok(None)
                } else if chunked {
                    Ok(Some(Framing::Chunked(ChunkState::Size)))
                } else if !te.is_empty() {
                    Ok(Some(Framing::Close))
                } else {
                    match head.content_length() {
                        Ok(Some(n)) => Ok(Some(Framing::Length(n))),
                        Ok(None) => Ok(Some(Framing::Close)),
                        Err(e) => Err(e),
                    }
                };
                if let Some(t) = tunnel {
                    for s in 0..2 {
                        if self.stats.stopped[s].is_none() {
                            self.stats.stopped[s] = Some(Stop::Tunnel(t.clone()));
                        }
                    }
                }
                (exchange, req.map(|r| r.line), framing)
            }
        };
        let (framing, unframeable) = match framing {
            Ok(f) => (f, None),
            Err(e) => (None, Some(e)),
        };
        let dir = self.dir_of(d);
        let side = &mut self.sides[d];
        let msg = Message {
            dir,
            exchange,
            request,
            has_body: framing.is_some(),
            decoding: !codings.is_empty() && BodyDecoder::supported(&codings),
            codings,
            chunked,
            head_offset,
            body_offset: side.offset,
            first_frame,
            head,
        };
        out.begin(&msg);
        let decoder = if msg.decoding {
            BodyDecoder::new(&msg.codings, self.cfg.limits)
        } else {
            None
        };
        let mut body = Box::new(Body {
            msg,
            framing: framing.unwrap_or(Framing::Length(0)),
            decoder,
            wire: 0,
            encoded: 0,
            decoded: 0,
            sha: Sha256::new(),
            sniff: Vec::new(),
            missing: Vec::new(),
            incomplete: None,
            last_frame: side.frame,
        });
        if let Some(why) = unframeable {
            self.stats.stopped[d] = Some(Stop::Unframeable(why));
            let side = &mut self.sides[d];
            side.mode = Mode::Stopped;
            body.incomplete = Some(Incomplete::Framing(why));
            self.emit_end(d, body, out);
            return;
        }
        let tunnel = matches!(self.stats.stopped[d], Some(Stop::Tunnel(_)));
        if matches!(body.framing, Framing::Length(0)) {
            self.emit_end(d, body, out);
            let side = &mut self.sides[d];
            side.mode = Mode::Head;
        } else {
            self.sides[d].mode = Mode::Body(body);
        }
        if tunnel {
            for s in [C2S, S2C] {
                if let Mode::Body(mut body) =
                    std::mem::replace(&mut self.sides[s].mode, Mode::Stopped)
                {
                    body.incomplete.get_or_insert(Incomplete::Truncated);
                    self.emit_end(s, body, out);
                }
                self.sides[s].mode = Mode::Stopped;
            }
        }
    }

    /// Body bytes: consume what belongs to the current body from `input`.
    fn body(&mut self, d: usize, input: &mut &[u8], out: &mut dyn Objects) {
        let sniff_len = self.cfg.sniff_len;
        let max_head = self.cfg.max_head;
        let side = &mut self.sides[d];
        let Mode::Body(body) = &mut side.mode else {
            return;
        };
        body.last_frame = side.frame;
        let before = input.len();
        let mut finished: Option<Option<Incomplete>> = None;
        match &mut body.framing {
            Framing::Length(left) => {
                let n = (*left).min(input.len() as u64) as usize;
                *left -= n as u64;
                let (data, rest) = input.split_at(n);
                *input = rest;
                deliver(body, data, sniff_len, out);
                if matches!(body.framing, Framing::Length(0)) {
                    finished = Some(None);
                }
            }
            Framing::Close => {
                let data = std::mem::take(input);
                deliver(body, data, sniff_len, out);
            }
            Framing::Chunked(state) => match state {
                ChunkState::Size => match collect(&mut side.scratch, input, 4096, chunk_size) {
                    Step::Done(0) => *state = ChunkState::Trailers,
                    Step::Done(n) => *state = ChunkState::Data(n),
                    Step::More => {}
                    Step::Bad(why) => finished = Some(Some(Incomplete::Framing(why))),
                },
                ChunkState::Data(left) => {
                    let n = (*left).min(input.len() as u64) as usize;
                    *left -= n as u64;
                    if *left == 0 {
                        *state = ChunkState::DataEnd;
                    }
                    let (data, rest) = input.split_at(n);
                    *input = rest;
                    deliver(body, data, sniff_len, out);
                }
                ChunkState::DataEnd => match collect(&mut side.scratch, input, 2, chunk_end) {
                    Step::Done(()) => *state = ChunkState::Size,
                    Step::More => {}
                    Step::Bad(why) => finished = Some(Some(Incomplete::Framing(why))),
                },
                ChunkState::Trailers => match collect(&mut side.scratch, input, max_head, trailers)
                {
                    Step::Done(()) => finished = Some(None),
                    Step::More => {}
                    Step::Bad(why) => finished = Some(Some(Incomplete::Framing(why))),
                },
            },
        }
        let used = (before - input.len()) as u64;
        side.offset += used;
        body.wire += used;
        // A framing error: the bytes earlier deliveries gave to the bad line
        // are read again after the message (as if they came in one piece).
        let mut taken = Vec::new();
        if matches!(finished, Some(Some(_))) {
            taken = std::mem::take(&mut side.scratch);
            side.offset -= taken.len() as u64;
            body.wire -= taken.len() as u64;
        }
        if let Some(why) = finished {
            let framing_error = why.is_some();
            let Mode::Body(mut body) = std::mem::replace(&mut side.mode, Mode::Head) else {
                return;
            };
            if let Some(why) = why {
                body.incomplete.get_or_insert(why);
            }
            side.scratch.clear();
            if framing_error {
                side.mode = Mode::Resync;
                side.tail_line_start = false;
            }
            let frame = side.frame;
            self.emit_end(d, body, out);
            if !taken.is_empty() {
                self.read(d, &taken, frame, out);
            }
        }
    }

    /// `len` bytes never captured.
    fn lose(&mut self, d: usize, len: u64, out: &mut dyn Objects) {
        let side = &mut self.sides[d];
        side.offset += len;
        // Packets often start with a head: after lost bytes, one may start at once.
        side.tail_line_start = true;
        match &mut side.mode {
            Mode::Stopped => {}
            Mode::Resync => side.scratch.clear(),
            Mode::Head => {
                if !side.scratch.is_empty() {
                    self.stats.lost_heads[d] += 1;
                    side.scratch.clear();
                }
                side.mode = Mode::Resync;
            }
            Mode::Body(body) => {
                let inside = match &mut body.framing {
                    Framing::Length(left) | Framing::Chunked(ChunkState::Data(left)) => {
                        let n = len.min(*left);
                        *left -= n;
                        n
                    }
                    Framing::Close => len,
                    Framing::Chunked(_) => 0,
                };
                if inside > 0 {
                    body.missing.push((body.encoded, inside));
                    body.encoded += inside;
                    body.wire += inside;
                    body.incomplete.get_or_insert(Incomplete::Gap);
                    if body.msg.decoding {
                        // The coded stream cannot be resumed past a hole.
                        if let Some(mut dec) = body.decoder.take() {
                            let Body {
                                msg,
                                decoded,
                                sha,
                                sniff,
                                ..
                            } = &mut **body;
                            let sniff_len = self.cfg.sniff_len;
                            dec.abandon(&mut |b| emit(msg, decoded, sha, sniff, sniff_len, b, out));
                        }
                    } else {
                        out.gap(&body.msg, inside);
                    }
                }
                let framing_lost = inside < len
                    || matches!(
                        body.framing,
                        Framing::Chunked(
                            ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailers
                        )
                    );
                let done = matches!(body.framing, Framing::Length(0));
                if matches!(body.framing, Framing::Chunked(ChunkState::Data(0))) {
                    body.framing = Framing::Chunked(ChunkState::DataEnd);
                }
                if framing_lost || done {
                    body.incomplete.get_or_insert(Incomplete::Gap);
                    let Mode::Body(body) = std::mem::replace(
                        &mut side.mode,
                        if framing_lost {
                            Mode::Resync
                        } else {
                            Mode::Head
                        },
                    ) else {
                        return;
                    };
                    side.scratch.clear();
                    self.emit_end(d, body, out);
                }
            }
        }
    }

    /// The direction ended.
    fn close(&mut self, d: usize, out: &mut dyn Objects) {
        let side = &mut self.sides[d];
        if side.ended {
            return;
        }
        side.ended = true;
        if !side.seen_head && self.stats.stopped[d].is_none() {
            if let Some(why) = side.first_error {
                self.stats.stopped[d] = Some(Stop::NotHttp(why));
            }
        }
        let side = &mut self.sides[d];
        match std::mem::replace(&mut side.mode, Mode::Stopped) {
            Mode::Body(mut body) => {
                if !matches!(body.framing, Framing::Close) {
                    body.incomplete.get_or_insert(Incomplete::Truncated);
                }
                self.emit_end(d, body, out);
            }
            Mode::Head if !side.scratch.is_empty() => self.stats.lost_heads[d] += 1,
            _ => {}
        }
        self.sides[d].scratch.clear();
    }

    /// Finish the decoding of a body and report its outcome.
    fn emit_end(&mut self, d: usize, mut body: Box<Body>, out: &mut dyn Objects) {
        let sniff_len = self.cfg.sniff_len;
        // An empty body is empty whatever its coding (`Content-Length: 0`
        // with `Content-Encoding: gzip` is common).
        if let Some(mut dec) = body.decoder.take().filter(|_| body.encoded > 0) {
            let Body {
                msg,
                decoded,
                sha,
                sniff,
                ..
            } = &mut *body;
            dec.finish(&mut |b| emit(msg, decoded, sha, sniff, sniff_len, b, out));
            if let Some(e) = dec.failed() {
                body.incomplete.get_or_insert(decode_incomplete(e));
            }
        }
        let outcome = Outcome {
            wire_bytes: body.wire,
            encoded_bytes: body.encoded,
            decoded_bytes: body.decoded,
            sha256: body.sha.finalize_reset().into(),
            detected_type: infer::get(&body.sniff).map(|t| t.mime_type()),
            detected_extension: infer::get(&body.sniff).map(|t| t.extension()),
            missing: std::mem::take(&mut body.missing),
            incomplete: body.incomplete.take(),
            last_frame: body.last_frame,
            end_offset: self.sides[d].offset,
        };
        out.end(&body.msg, &outcome);
    }
}

fn decode_incomplete(e: &DecodeError) -> Incomplete {
    match e {
        DecodeError::Corrupt(s) => Incomplete::Decode(s.clone()),
        DecodeError::LimitExceeded => Incomplete::LimitExceeded,
    }
}

/// Encoded body bytes: decode them (or pass them on) to `out`.
fn deliver(body: &mut Body, data: &[u8], sniff_len: usize, out: &mut dyn Objects) {
    if data.is_empty() {
        return;
    }
    body.encoded += data.len() as u64;
    let Body {
        msg,
        decoder,
        decoded,
        sha,
        sniff,
        incomplete,
        ..
    } = body;
    if msg.decoding {
        let Some(dec) = decoder else {
            return;
        };
        dec.push(data, &mut |b| {
            emit(msg, decoded, sha, sniff, sniff_len, b, out)
        });
        if let Some(e) = dec.failed() {
            incomplete.get_or_insert(decode_incomplete(e));
            *decoder = None;
        }
    } else {
        emit(msg, decoded, sha, sniff, sniff_len, data, out);
    }
}

fn emit(
    msg: &Message,
    decoded: &mut u64,
    sha: &mut Sha256,
    sniff: &mut Vec<u8>,
    sniff_len: usize,
    bytes: &[u8],
    out: &mut dyn Objects,
) {
    *decoded += bytes.len() as u64;
    sha.update(bytes);
    if sniff.len() < sniff_len {
        let n = (sniff_len - sniff.len()).min(bytes.len());
        sniff.extend_from_slice(&bytes[..n]);
    }
    out.data(msg, bytes);
}

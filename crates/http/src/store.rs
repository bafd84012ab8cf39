//! Writing message bodies to files: an [`ObjectStore`] (one per worker)
//! hands out a [`Writer`], the [`Objects`] of one connection, which writes
//! each body to its own file in the store's directory and records an
//! [`ObjectRecord`].
//!
//! File names are safe (a fixed set of characters, never a path separator,
//! so never outside the directory), unique and the same whatever the thread
//! count: with [`ObjectNaming::Readable`], the flow id, the exchange number,
//! the direction and the last segment of the request target, with an
//! extension from the detected type when the target gives none
//! (`0000000042-001-s2c-report.pdf`); with [`ObjectNaming::Sha256`], the
//! SHA-256 of the decoded body, as Suricata's filestore does (identical
//! bodies share one file).
//!
//! Memory is bounded per open body: decoded bytes are buffered up to
//! [`BUFFER`] bytes and then appended to a partial file (a piece of at
//! least [`BUFFER`] bytes handed out at once is written straight from the
//! caller's slice, not copied). The partial files of the bodies written to
//! most recently stay open, at most [`OPEN_FILES`] per store, so a body is
//! not reopened for every write while no more than that many bodies are
//! being written at once; past that (or when the process runs out of file
//! descriptors) the least recently written one is closed and reopened for
//! its next write. A body is renamed to its final name when it ends.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use reassembly::Dir;

use crate::message::{Incomplete, Message, Objects, Outcome};

/// Decoded bytes held per open body before they are appended to its file.
pub const BUFFER: usize = 16 << 10;

/// Partial files a store keeps open between writes (the bodies written to
/// most recently).
pub const OPEN_FILES: usize = 64;

/// Longest file name written (most file systems allow 255 bytes).
pub(crate) const MAX_NAME: usize = 200;

/// How body files are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObjectNaming {
    /// `FLOWID-EXCHANGE-DIR-NAME`, NAME from the request target.
    #[default]
    Readable,
    /// The hex SHA-256 of the decoded body.
    Sha256,
}

impl ObjectNaming {
    /// The name of the scheme (`readable`, `sha256`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectNaming::Readable => "readable",
            ObjectNaming::Sha256 => "sha256",
        }
    }
}

/// What the manifest says of one message body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ObjectRecord {
    /// The flow's id.
    pub flow: u64,
    /// `c2s` (a request body) or `s2c` (a response body).
    pub dir: &'static str,
    /// Exchange number in the flow (request n and its response share n).
    pub exchange: u32,
    /// The body's file, relative to the store's directory.
    pub file: String,
    /// The request's method (for a response, its request's, when seen).
    pub method: Option<String>,
    /// The request's `Host`.
    pub host: Option<String>,
    /// The request target.
    pub uri: Option<String>,
    /// The response status.
    pub status: Option<u16>,
    /// `Content-Type` without parameters.
    pub declared_type: Option<String>,
    /// The type the decoded bytes look like.
    pub detected_type: Option<&'static str>,
    /// Both types are known and differ.
    pub type_mismatch: bool,
    /// The body was chunked on the wire.
    pub chunked: bool,
    /// Codings undone, in the order they were applied (`gzip`, `br`, ...);
    /// when `decoded` is false they were not (an unsupported one).
    pub codings: Vec<String>,
    /// Whether the codings were undone.
    pub decoded: bool,
    /// Body bytes on the wire (chunk framing included).
    pub wire_bytes: u64,
    /// Body bytes after de-chunking.
    pub encoded_bytes: u64,
    /// Bytes in the file.
    pub decoded_bytes: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Stream offset of the head in its direction.
    pub head_offset: u64,
    /// Stream offset of the body.
    pub body_offset: u64,
    /// Stream offset just past the body.
    pub end_offset: u64,
    /// Frame of the head's first byte.
    pub first_frame: u64,
    /// Frame of the body's last byte.
    pub last_frame: u64,
    /// `Content-Range` of a 206 response: first, last (inclusive), complete length.
    pub range: Option<(u64, u64, Option<u64>)>,
    /// A response's `ETag` (a validator: parts of one entity share it).
    pub etag: Option<String>,
    /// A response's `Last-Modified` (the other validator).
    pub last_modified: Option<String>,
    /// The body is whole and decoded.
    pub complete: bool,
    /// Why not: `gap`, `truncated`, `framing`, `decode` or `limit`.
    pub incomplete: Option<&'static str>,
    /// What went wrong, in words (decode and framing errors).
    pub detail: Option<String>,
    /// Ranges of the encoded body never captured (offset, length).
    pub missing: Vec<(u64, u64)>,
}

/// Where bodies go, and the records of those written.
#[derive(Debug)]
pub struct ObjectStore {
    dir: PathBuf,
    naming: ObjectNaming,
    records: Vec<ObjectRecord>,
    error: Option<String>,
    files: OpenFiles,
}

impl ObjectStore {
    /// Bodies go to `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>, naming: ObjectNaming) -> io::Result<ObjectStore> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(ObjectStore {
            dir,
            naming,
            records: Vec::new(),
            error: None,
            files: OpenFiles::default(),
        })
    }

    /// How bodies are named.
    pub fn naming(&self) -> ObjectNaming {
        self.naming
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The records so far, in the order bodies ended.
    pub fn records(&self) -> &[ObjectRecord] {
        &self.records
    }

    /// Take the records.
    pub fn take_records(&mut self) -> Vec<ObjectRecord> {
        std::mem::take(&mut self.records)
    }

    /// The first error writing a body, if any (writing goes on for the others).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The [`Objects`] of flow `flow` for one call into its `HttpFlow`;
    /// `open` is that flow's [`OpenBodies`], kept with its `HttpFlow`.
    pub fn writer<'a>(&'a mut self, flow: u64, open: &'a mut OpenBodies) -> Writer<'a> {
        Writer {
            store: self,
            flow,
            open,
        }
    }

    fn fail(&mut self, e: io::Error, what: &Path) {
        if self.error.is_none() {
            self.error = Some(format!("{}: {e}", what.display()));
        }
    }
}

/// Which body a partial file holds: flow, exchange, direction.
type BodyKey = (u64, u32, usize);

/// The partial files kept open between writes, at most [`OPEN_FILES`]; the
/// least recently written is closed first.
#[derive(Debug, Default)]
struct OpenFiles {
    /// Files with the tick of their last write.
    files: Vec<(BodyKey, File, u64)>,
    tick: u64,
}

impl OpenFiles {
    /// The open partial file of body `key` at `path`, opened (created if
    /// missing, for appending) when it is not open.
    fn get(&mut self, key: BodyKey, path: &Path) -> io::Result<&mut File> {
        self.tick += 1;
        let tick = self.tick;
        let at = match self.files.iter().position(|(k, _, _)| *k == key) {
            Some(at) => at,
            None => {
                let open = || OpenOptions::new().create(true).append(true).open(path);
                // Out of descriptors (other stores hold theirs too): close
                // this store's files and try again.
                let file = open().or_else(|_| {
                    self.files.clear();
                    open()
                })?;
                if self.files.len() >= OPEN_FILES {
                    let oldest = (0..self.files.len())
                        .min_by_key(|&i| self.files[i].2)
                        .unwrap_or(0);
                    self.files.swap_remove(oldest);
                }
                self.files.push((key, file, tick));
                self.files.len() - 1
            }
        };
        let entry = &mut self.files[at];
        entry.2 = tick;
        Ok(&mut entry.1)
    }

    /// Take body `key`'s file out (to finish it), if it is open.
    fn close(&mut self, key: BodyKey) -> Option<File> {
        let at = self.files.iter().position(|(k, _, _)| *k == key)?;
        Some(self.files.swap_remove(at).1)
    }
}

/// A body being written.
#[derive(Debug, Default)]
pub struct OpenBody {
    buf: Vec<u8>,
    /// Bytes already appended to the partial file.
    flushed: u64,
}

/// The open bodies of one flow (one per direction at most): keep it with the
/// flow's `HttpFlow` and pass it to [`ObjectStore::writer`].
#[derive(Debug, Default)]
pub struct OpenBodies([Option<OpenBody>; 2]);

/// Writes one flow's bodies (see [`ObjectStore::writer`]).
#[derive(Debug)]
pub struct Writer<'a> {
    store: &'a mut ObjectStore,
    flow: u64,
    open: &'a mut OpenBodies,
}

fn side(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

fn dir_name(dir: Dir) -> &'static str {
    match dir {
        Dir::ClientToServer => "c2s",
        Dir::ServerToClient => "s2c",
    }
}

impl Writer<'_> {
    fn partial(&self, msg: &Message) -> PathBuf {
        self.store.dir.join(format!(
            ".partial-{:010}-{:03}-{}",
            self.flow,
            msg.exchange,
            dir_name(msg.dir)
        ))
    }

    /// Append `bytes` to the partial file of `msg`'s body (created by the
    /// first append), kept open for the next one.
    fn append(&mut self, msg: &Message, bytes: &[u8]) {
        let key = (self.flow, msg.exchange, side(msg.dir));
        let path = self.partial(msg);
        let r = self
            .store
            .files
            .get(key, &path)
            .and_then(|f| f.write_all(bytes));
        if let Err(e) = r {
            self.store.files.close(key);
            self.store.fail(e, &path);
        }
    }
}

impl Objects for Writer<'_> {
    fn begin(&mut self, msg: &Message) {
        if msg.has_body {
            self.open.0[side(msg.dir)] = Some(OpenBody::default());
        }
    }

    fn data(&mut self, msg: &Message, bytes: &[u8]) {
        let Some(mut body) = self.open.0[side(msg.dir)].take() else {
            return;
        };
        if body.buf.is_empty() && bytes.len() >= BUFFER {
            // A large piece goes to the file as it is, not through the buffer.
            self.append(msg, bytes);
            body.flushed += bytes.len() as u64;
        } else {
            body.buf.extend_from_slice(bytes);
            if body.buf.len() >= BUFFER {
                self.append(msg, &body.buf);
                body.flushed += body.buf.len() as u64;
                body.buf.clear();
            }
        }
        self.open.0[side(msg.dir)] = Some(body);
    }

    fn end(&mut self, msg: &Message, outcome: &Outcome) {
        let Some(body) = self.open.0[side(msg.dir)].take() else {
            return;
        };
        let sha = hex(&outcome.sha256);
        let name = match self.store.naming {
            ObjectNaming::Readable => readable_name(self.flow, msg, outcome),
            ObjectNaming::Sha256 => sha.clone(),
        };
        let target = self.store.dir.join(&name);
        // Written under the partial name and renamed into place: a file of
        // the final name is always whole (two workers may write the same
        // SHA-256 name at once).
        let partial = self.partial(msg);
        let open = self
            .store
            .files
            .close((self.flow, msg.exchange, side(msg.dir)));
        let result = match open {
            Some(mut f) => f.write_all(&body.buf),
            None if body.flushed == 0 => {
                File::create(&partial).and_then(|mut f| f.write_all(&body.buf))
            }
            None => OpenOptions::new()
                .append(true)
                .open(&partial)
                .and_then(|mut f| f.write_all(&body.buf)),
        }
        .and_then(|()| fs::rename(&partial, &target));
        if let Err(e) = result {
            self.store.fail(e, &target);
        }
        let declared = msg.declared_type();
        let request = msg.request.as_ref();
        let (method, host, uri) = match msg.dir {
            Dir::ClientToServer => (
                msg.head.method().map(str::to_string),
                msg.head.header("host").map(str::to_string),
                match &msg.head.start {
                    crate::head::StartLine::Request { uri, .. } => Some(uri.clone()),
                    crate::head::StartLine::Response { .. } => None,
                },
            ),
            Dir::ServerToClient => (
                request.map(|r| r.method.clone()),
                request.and_then(|r| r.host.clone()),
                request.map(|r| r.uri.clone()),
            ),
        };
        let type_mismatch = match (&declared, outcome.detected_type) {
            (Some(d), Some(t)) => !same_type(d, t),
            _ => false,
        };
        let (incomplete, detail) = match &outcome.incomplete {
            None => (None, None),
            Some(i) => (
                Some(i.name()),
                match i {
                    Incomplete::Decode(s) => Some(s.clone()),
                    Incomplete::Framing(s) => Some((*s).to_string()),
                    _ => None,
                },
            ),
        };
        self.store.records.push(ObjectRecord {
            flow: self.flow,
            dir: dir_name(msg.dir),
            exchange: msg.exchange,
            file: name,
            method,
            host,
            uri,
            status: msg.head.status(),
            declared_type: declared,
            detected_type: outcome.detected_type,
            type_mismatch,
            chunked: msg.chunked,
            codings: msg.codings.iter().map(|c| c.name().to_string()).collect(),
            decoded: msg.decoding || msg.codings.is_empty(),
            wire_bytes: outcome.wire_bytes,
            encoded_bytes: outcome.encoded_bytes,
            decoded_bytes: outcome.decoded_bytes,
            sha256: sha,
            head_offset: msg.head_offset,
            body_offset: msg.body_offset,
            end_offset: outcome.end_offset,
            first_frame: msg.first_frame,
            last_frame: outcome.last_frame,
            range: msg.content_range().map(|r| (r.first, r.last, r.complete)),
            etag: response_header(msg, "etag"),
            last_modified: response_header(msg, "last-modified"),
            complete: outcome.incomplete.is_none(),
            incomplete,
            detail,
            missing: outcome.missing.clone(),
        });
    }
}

/// A header of a response (`None` for requests).
fn response_header(msg: &Message, name: &str) -> Option<String> {
    match msg.dir {
        Dir::ServerToClient => msg.head.header(name).map(|v| v.trim().to_string()),
        Dir::ClientToServer => None,
    }
}

/// Declared and detected types name the same thing (aliases that differ
/// only in spelling are not a mismatch).
fn same_type(declared: &str, detected: &str) -> bool {
    let norm = |t: &str| match t {
        "image/jpg" | "image/pjpeg" => "image/jpeg".to_string(),
        "application/x-gzip" => "application/gzip".to_string(),
        "application/x-zip-compressed" => "application/zip".to_string(),
        "application/x-javascript" | "text/javascript" => "application/javascript".to_string(),
        other => other.to_string(),
    };
    norm(declared) == norm(detected)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The last segment of a request target (query and fragment cut), made
/// safe for a file name: characters other than ASCII letters, digits, `.`,
/// `_` and `-` become `_`; `index` when nothing is left.
pub(crate) fn uri_name(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.trim_matches('.').is_empty() {
        "index".to_string()
    } else {
        name
    }
}

/// `FLOWID-EXCHANGE-DIR-NAME`: NAME is the last segment of the request
/// target (query and fragment cut), made safe; `index` when empty; an
/// extension from the detected type is added when NAME has none.
pub fn readable_name(flow: u64, msg: &Message, outcome: &Outcome) -> String {
    let uri = match msg.dir {
        Dir::ClientToServer => match &msg.head.start {
            crate::head::StartLine::Request { uri, .. } => Some(uri.as_str()),
            crate::head::StartLine::Response { .. } => None,
        },
        Dir::ServerToClient => msg.request.as_ref().map(|r| r.uri.as_str()),
    };
    let mut name = uri_name(uri.unwrap_or_default());
    if !name.contains('.') {
        if let Some(ext) = outcome.detected_extension {
            name.push('.');
            name.push_str(ext);
        }
    }
    let mut full = format!(
        "{flow:010}-{:03}-{}-{name}",
        msg.exchange,
        dir_name(msg.dir)
    );
    full.truncate(MAX_NAME);
    full
}

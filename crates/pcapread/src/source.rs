//! Where capture bytes come from: a memory-mapped file, or a stream (standard
//! input, gzip, zstd, any `Read`) pulled through a bounded, growable buffer.
//!
//! The kind of input is chosen by its first bytes, never by its file name:
//! gzip (`1f 8b`, RFC 1952) and zstd (`28 b5 2f fd`, RFC 8878) are decompressed
//! on the fly; anything else in a regular file is memory-mapped so that frames
//! can borrow straight from the page cache. Compressed input is never held in
//! memory as a whole: the stream buffer only ever holds the record being parsed
//! (at most [`MAX_RECORD_LEN`] plus a header) and whatever one `read` returned.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::Error;

/// Hard cap on the size of one record or block: a length field beyond this is
/// reported as [`Error::BadLength`] instead of being buffered or trusted.
pub const MAX_RECORD_LEN: usize = 256 * 1024 * 1024;

/// Room above [`MAX_RECORD_LEN`] for the record's own header.
const MAX_FILL: usize = MAX_RECORD_LEN + 64;

/// Initial size of a stream buffer (grown on demand for bigger records).
const STREAM_BUF_LEN: usize = 256 * 1024;

/// The gzip member magic (RFC 1952 section 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The zstd frame magic (RFC 8878 section 3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How the capture bytes were compressed on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Plain pcap or pcapng.
    None,
    /// gzip, possibly several concatenated members.
    Gzip,
    /// zstd, possibly several concatenated frames.
    Zstd,
}

impl Compression {
    /// Recognise a compression format by the first bytes of a file.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// An opened capture input, before any of its records are parsed.
pub enum Source {
    /// A regular, uncompressed file mapped into memory.
    Mapped(MappedFile),
    /// Bytes pulled from a reader (standard input, compressed files, pipes).
    Stream(StreamSource),
}

impl Source {
    /// Open `path` (`-` is standard input), choosing memory map or stream by
    /// the file's kind and first bytes.
    pub fn open(path: impl AsRef<Path>) -> Result<Source, Error> {
        let path = path.as_ref();
        if path == Path::new("-") {
            return StreamSource::new(path, io::stdin()).map(Source::Stream);
        }
        let io_err = |source| Error::Io {
            file: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io_err)?;
        let is_regular = file.metadata().map_err(io_err)?.is_file();
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head).map_err(io_err)?;
        let head = head.get(..n).unwrap_or(&[]);
        if is_regular && Compression::sniff(head) == Compression::None {
            // A failed map (some special file systems refuse) falls back to streaming.
            if let Ok(map) = map_file(&file) {
                return Ok(Source::Mapped(MappedFile {
                    map,
                    path: path.to_path_buf(),
                }));
            }
        }
        let reader = Cursor::new(head.to_vec()).chain(file);
        StreamSource::new(path, reader).map(Source::Stream)
    }

    /// The path this input was opened from (`-` for standard input).
    pub fn path(&self) -> &Path {
        match self {
            Source::Mapped(m) => m.path(),
            Source::Stream(s) => s.path(),
        }
    }

    /// How the input is compressed.
    pub fn compression(&self) -> Compression {
        match self {
            Source::Mapped(_) => Compression::None,
            Source::Stream(s) => s.compression(),
        }
    }
}

/// Map `file` read-only into memory.
///
/// One of the crate's two `unsafe` blocks (the other is the read-ahead hint in
/// `prefetch.rs`, which cannot fault). Hazards: the map reflects the file as it
/// changes. If another process truncates the file while it is mapped, reading
/// the vanished pages raises SIGBUS and the process dies; if it rewrites bytes in
/// place, frames already handed out may change under the caller, breaking the
/// immutability a `&[u8]` promises. Capture files are normally written once and
/// then only read, which is the case this crate is built for; callers that read
/// files still being written should stream them instead (`cat file | streamcut
/// extract -`).
#[allow(unsafe_code)]
fn map_file(file: &File) -> io::Result<Mmap> {
    // SAFETY: see the hazards above; the map is read-only and private to this
    // process, and no safe code can make it dangle (it owns its own file handle).
    unsafe { Mmap::map(file) }
}

/// Read until `buf` is full or the reader ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n = n.saturating_add(k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A memory-mapped capture file: frames read from it borrow the map.
pub struct MappedFile {
    map: Mmap,
    path: PathBuf,
}

impl MappedFile {
    /// Map the file at `path` as it is, compressed or not (hashing a file's
    /// bytes, say). Fails where [`Source::open`] would stream instead: a file
    /// that is not a regular file, or a file system that refuses maps. A
    /// map's hazards (`map_file`) come with it: a file truncated by another
    /// process while it is read kills this one with SIGBUS.
    pub fn open(path: &Path) -> io::Result<MappedFile> {
        let file = File::open(path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(MappedFile {
            map: map_file(&file)?,
            path: path.to_path_buf(),
        })
    }

    /// The whole file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A capture read through a buffer: standard input, pipes and compressed files.
///
/// Invariant: `start <= end <= buf.len()`; `buf[start..end]` are the bytes read
/// but not yet consumed, and `base` is the stream offset of `buf[0]`.
pub struct StreamSource {
    path: PathBuf,
    compression: Compression,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    base: u64,
    eof: bool,
}

impl StreamSource {
    /// Wrap `reader` (named `path` in errors), decompressing gzip or zstd when
    /// its first bytes say so.
    pub fn new(
        path: impl AsRef<Path>,
        mut reader: impl Read + Send + 'static,
    ) -> Result<StreamSource, Error> {
        let path = path.as_ref().to_path_buf();
        let mut head = [0u8; 4];
        let n = read_up_to(&mut reader, &mut head).map_err(|source| Error::Io {
            file: path.clone(),
            source,
        })?;
        let head = head.get(..n).unwrap_or(&[]);
        let compression = Compression::sniff(head);
        let raw = Cursor::new(head.to_vec()).chain(reader);
        let reader: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(raw),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(raw).map_err(|source| {
                    Error::Decompress {
                        file: path.clone(),
                        offset: 0,
                        source,
                    }
                })?)
            }
        };
        Ok(StreamSource {
            path,
            compression,
            reader,
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
        })
    }

    /// The path this stream was opened from (`-` for standard input).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the stream is compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The bytes read but not consumed yet.
    pub(crate) fn window(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// The buffer as a whole; ranges handed out by [`Self::window_start`] index it.
    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Index in [`Self::buffer`] of the first unconsumed byte.
    pub(crate) fn window_start(&self) -> usize {
        self.start
    }

    /// Offset in the (decompressed) stream of the first unconsumed byte.
    pub(crate) fn window_offset(&self) -> u64 {
        self.base.saturating_add(self.start as u64)
    }

    /// Whether the reader has ended: the window is all that is left.
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    /// Mark `n` bytes of the window as used. Their bytes stay in place until the
    /// next [`Self::fill`].
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
    }

    /// Read until the window holds at least `want` bytes or the reader ends.
    pub(crate) fn fill(&mut self, want: usize) -> Result<(), Error> {
        if want > MAX_FILL {
            return Err(Error::BadLength {
                file: self.path.clone(),
                offset: self.window_offset(),
                what: "record",
                len: want as u64,
                limit: MAX_FILL as u64,
            });
        }
        if self.end - self.start >= want || self.eof {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.base = self.base.saturating_add(self.start as u64);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < want {
            if self.end == self.buf.len() {
                // Grow with the bytes that actually arrive (doubling), not to
                // what a length field claims: a 100-byte input announcing a
                // 256 MiB record must not allocate 256 MiB.
                let target = self
                    .buf
                    .len()
                    .saturating_mul(2)
                    .max(STREAM_BUF_LEN)
                    .min(self.start.saturating_add(want).max(STREAM_BUF_LEN));
                if target <= self.buf.len() {
                    break;
                }
                self.buf.resize(target, 0);
            }
            let Some(space) = self.buf.get_mut(self.end..) else {
                break;
            };
            match self.reader.read(space) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end = self.end.saturating_add(n).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    let file = self.path.clone();
                    return Err(match self.compression {
                        Compression::None => Error::Io { file, source },
                        Compression::Gzip | Compression::Zstd => Error::Decompress {
                            file,
                            offset: self.base.saturating_add(self.end as u64),
                            source,
                        },
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sniff_recognises_magics_not_names() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(Compression::sniff(&ZSTD_MAGIC), Compression::Zstd);
        assert_eq!(
            Compression::sniff(&[0xd4, 0xc3, 0xb2, 0xa1]),
            Compression::None
        );
        assert_eq!(Compression::sniff(&[0x1f]), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
    }

    #[test]
    fn fill_grows_compacts_and_stops_at_eof() {
        let data: Vec<u8> = (0..=255u8).cycle().take(STREAM_BUF_LEN * 3).collect();
        let mut s = StreamSource::new("mem", Cursor::new(data.clone())).unwrap();
        s.fill(10).unwrap();
        assert!(s.window().len() >= 10);
        assert_eq!(&s.window()[..10], &data[..10]);
        s.consume(7);
        assert_eq!(s.window_offset(), 7);
        // Ask for more than the initial buffer: it grows and keeps the unconsumed bytes.
        s.fill(STREAM_BUF_LEN + 5).unwrap();
        assert!(s.window().len() >= STREAM_BUF_LEN + 5);
        assert_eq!(s.window()[0], data[7]);
        assert_eq!(s.window_offset(), 7);
        s.consume(s.window().len());
        s.fill(usize::MAX / 2).unwrap_err();
        s.fill(STREAM_BUF_LEN * 4).unwrap();
        assert!(s.at_eof());
        assert_eq!(
            s.window_offset() + s.window().len() as u64,
            data.len() as u64
        );
    }

    /// Regression (capture fuzz check): a short stream whose record header
    /// claims a huge length made `fill` allocate (and zero) the whole claimed
    /// size up front; the buffer now grows only with the bytes that arrive.
    #[test]
    fn fill_does_not_allocate_what_a_length_field_claims() {
        let data = vec![7u8; 1000];
        let mut s = StreamSource::new("mem", Cursor::new(data)).unwrap();
        s.fill(MAX_RECORD_LEN).unwrap();
        assert!(s.at_eof());
        assert_eq!(s.window().len(), 1000);
        assert!(
            s.buf.len() <= STREAM_BUF_LEN,
            "buffer grew to {}",
            s.buf.len()
        );
    }

    #[test]
    fn gzip_and_zstd_streams_are_decompressed() {
        let plain = b"\xd4\xc3\xb2\xa1 some capture bytes".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&plain[..], 1).unwrap();
        for (bytes, kind) in [(gz, Compression::Gzip), (zs, Compression::Zstd)] {
            let mut s = StreamSource::new("mem", Cursor::new(bytes)).unwrap();
            assert_eq!(s.compression(), kind);
            s.fill(plain.len() + 1).unwrap();
            assert!(s.at_eof());
            assert_eq!(s.window(), &plain[..]);
        }
    }

    #[test]
    fn corrupt_gzip_is_a_decompress_error() {
        let mut bytes = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        bytes.extend_from_slice(&[0xff; 64]);
        let mut s = StreamSource::new("bad.gz", Cursor::new(bytes)).unwrap();
        let err = s.fill(100).unwrap_err();
        assert!(matches!(err, Error::Decompress { .. }), "{err}");
    }
}

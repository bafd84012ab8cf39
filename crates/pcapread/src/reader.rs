//! Reading frames out of one capture: [`CaptureReader`] for any input, and the
//! zero-copy [`SliceReader`] over a memory-mapped (or in-memory) capture.
//!
//! # Formats
//!
//! The format is recognised by the first bytes, never by the file name:
//!
//! - **pcap** (libpcap, draft-ietf-opsawg-pcap) in either byte order, with
//!   microsecond (`a1b2c3d4`) or nanosecond (`a1b23c4d`) timestamps, and the
//!   little-endian "modified" format of Kuznetzov's patches (`a1b2cd34`,
//!   24-byte record headers). The link type is the header's, with the FCS bits
//!   masked off.
//! - **pcapng** (draft-ietf-opsawg-pcapng): any number of sections, each in its
//!   own byte order, with interface ids restarting at 0 in every section; any
//!   number of interfaces with different link types; `if_tsresol` (a power of 10
//!   or of 2) and `if_tsoffset`; packets from Enhanced Packet Blocks, Simple
//!   Packet Blocks (interface 0; captured length is the smallest of the original
//!   length, the interface's snaplen and the block's data; no timestamp of their
//!   own, so they carry the previous packet's) and the obsolete Packet Block.
//!   Every other block (statistics, name resolution, custom, secrets, unknown
//!   types) is skipped by its length.
//! - Either of them compressed with **gzip** or **zstd**, decompressed as a
//!   stream, as is anything read from standard input (`-`) or a pipe. Plain
//!   regular files are memory-mapped and frames borrow the map.
//!
//! Timestamps are nanoseconds since the Unix epoch, clamped at 0 and
//! `u64::MAX`. [`Frame::number`] counts packet records from 1;
//! [`Frame::file_offset`] is where the record or block starts (in the
//! decompressed stream for compressed input).
//!
//! # Damage
//!
//! A record that is cut short, a length that is impossible (smaller than its
//! header, beyond [`MAX_RECORD_LEN`](crate::source::MAX_RECORD_LEN), or with
//! leading and trailing block lengths that disagree), or a block that does not
//! parse ends the input: every good frame before it is returned first, then the
//! matching [`Error`] once, naming the file and the byte offset of the record,
//! and then nothing more (`Ok(None)`, or `None` from the iterator). The reader
//! does not try to resynchronise after damage. A file that ends exactly at a
//! record boundary is not damaged; a header-only file has no frames.

use std::io::Read;
use std::iter::FusedIterator;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::info::CaptureInfo;
use crate::records::{RecordParser, Step};
use crate::source::{MappedFile, Source, StreamSource};
use crate::{Error, Frame, LinkType};

/// A packet parsed but not delivered yet, its data range absolute in the
/// map or stream buffer.
#[derive(Debug, Clone)]
struct Pending {
    data: Range<usize>,
    offset: u64,
    ts: u64,
    caplen: u32,
    origlen: u32,
    link_type: LinkType,
}

impl Pending {
    fn frame<'a>(&self, bytes: &'a [u8], number: u64, input: u16) -> Frame<'a> {
        Frame {
            number,
            input,
            file_offset: self.offset,
            ts: self.ts,
            caplen: self.caplen,
            origlen: self.origlen,
            link_type: self.link_type,
            data: bytes.get(self.data.clone()).unwrap_or(&[]),
        }
    }
}

/// Result of one step with positions made absolute.
enum Found {
    Packet(Pending),
    Other,
    End,
}

/// Step over fully available bytes `data` from `*pos`, advancing `*pos`.
fn step_slice(parser: &mut RecordParser, data: &[u8], pos: &mut usize) -> Result<Found, Error> {
    let start = *pos;
    let window = data.get(start..).unwrap_or(&[]);
    match parser.step(window, start as u64, true)? {
        Step::Packet(p) => {
            *pos = start.saturating_add(p.len);
            Ok(Found::Packet(Pending {
                data: start.saturating_add(p.data.start)..start.saturating_add(p.data.end),
                offset: start as u64,
                ts: p.ts,
                caplen: p.caplen,
                origlen: p.origlen,
                link_type: p.link_type,
            }))
        }
        Step::Other(n) if n > 0 => {
            *pos = start.saturating_add(n);
            Ok(Found::Other)
        }
        // NeedMore cannot happen at end of input; Other(0) would not progress.
        Step::Other(_) | Step::NeedMore(_) | Step::End => Ok(Found::End),
    }
}

/// Step over a stream, refilling its buffer until the step can be decided.
fn step_stream(parser: &mut RecordParser, s: &mut StreamSource) -> Result<Found, Error> {
    loop {
        let base = s.window_start();
        let offset = s.window_offset();
        match parser.step(s.window(), offset, s.at_eof())? {
            Step::Packet(p) => {
                s.consume(p.len);
                return Ok(Found::Packet(Pending {
                    data: base.saturating_add(p.data.start)..base.saturating_add(p.data.end),
                    offset,
                    ts: p.ts,
                    caplen: p.caplen,
                    origlen: p.origlen,
                    link_type: p.link_type,
                }));
            }
            Step::Other(n) if n > 0 => {
                s.consume(n);
                return Ok(Found::Other);
            }
            // `fill` returns with the window holding `n` bytes or at end of input,
            // where the parser decides without asking again.
            Step::NeedMore(n) if !s.at_eof() => s.fill(n)?,
            Step::Other(_) | Step::NeedMore(_) | Step::End => return Ok(Found::End),
        }
    }
}

/// Reads the frames of one capture input, whatever its source.
///
/// Frames are lent: each borrows the reader (the memory map, or the stream's
/// buffer) until the next call. For frames that outlive the reader's next call,
/// as a parallel engine needs, use [`CaptureReader::slice_reader`] on a mapped
/// capture.
pub struct CaptureReader {
    source: Source,
    /// Next unparsed byte of a mapped source.
    pos: usize,
    parser: RecordParser,
    input: u16,
    number: u64,
    pending: Option<Pending>,
    done: bool,
    /// Read-ahead of a mapped source's walk.
    ahead: crate::prefetch::Ahead,
}

impl CaptureReader {
    /// Open the capture at `path` (`-` for standard input) and read its file
    /// header. Regular uncompressed files are memory-mapped; see
    /// [`Source::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<CaptureReader, Error> {
        CaptureReader::from_source(Source::open(path)?)
    }

    /// Read a capture from any reader (a pipe, a socket, an in-memory buffer),
    /// decompressing gzip or zstd. `name` is used in errors.
    pub fn from_reader(
        name: impl AsRef<Path>,
        reader: impl Read + Send + 'static,
    ) -> Result<CaptureReader, Error> {
        CaptureReader::from_source(Source::Stream(StreamSource::new(name, reader)?))
    }

    /// Read a capture from an opened source, starting with its file header
    /// (pcap header or first pcapng section header), whose errors are returned here.
    pub fn from_source(source: Source) -> Result<CaptureReader, Error> {
        let parser = RecordParser::new(source.path().to_path_buf(), source.compression());
        let mut reader = CaptureReader {
            source,
            pos: 0,
            parser,
            input: 0,
            number: 0,
            pending: None,
            done: false,
            ahead: crate::prefetch::Ahead::default(),
        };
        match reader.step()? {
            Found::Other => Ok(reader),
            // The first step is always the file header; anything else is a bug
            // we report rather than hide.
            Found::Packet(_) | Found::End => Err(Error::Malformed {
                file: reader.path().to_path_buf(),
                offset: 0,
                what: "capture file header",
                detail: "no file header".to_string(),
            }),
        }
    }

    /// Set the input index given to frames (the position in a set of inputs).
    pub fn with_input(mut self, input: u16) -> CaptureReader {
        self.input = input;
        self
    }

    /// The input index given to frames.
    pub fn input(&self) -> u16 {
        self.input
    }

    /// The capture's path (`-` for standard input).
    pub fn path(&self) -> &Path {
        self.parser.file()
    }

    /// Format, compression and interfaces seen so far.
    pub fn info(&self) -> &CaptureInfo {
        self.parser.info()
    }

    /// Frames delivered so far.
    pub fn frames_read(&self) -> u64 {
        self.number
    }

    /// The whole file when it is memory-mapped, `None` for streamed input.
    pub fn mapped_bytes(&self) -> Option<&[u8]> {
        match &self.source {
            Source::Mapped(m) => Some(m.bytes()),
            Source::Stream(_) => None,
        }
    }

    /// A zero-copy reader over the whole mapped file, from its start and
    /// independent of this reader's position; `None` for streamed input. Its
    /// frames borrow the map for as long as this `CaptureReader` lives.
    pub fn slice_reader(&self) -> Option<SliceReader<'_>> {
        match &self.source {
            Source::Mapped(m) => Some(SliceReader::from_mapped(m).with_input(self.input)),
            Source::Stream(_) => None,
        }
    }

    fn step(&mut self) -> Result<Found, Error> {
        match &mut self.source {
            Source::Mapped(m) => {
                self.ahead.at(m.bytes(), self.pos);
                step_slice(&mut self.parser, m.bytes(), &mut self.pos)
            }
            Source::Stream(s) => step_stream(&mut self.parser, s),
        }
    }

    /// Parse up to the next packet unless one is already waiting.
    fn fill_pending(&mut self) -> Result<(), Error> {
        while self.pending.is_none() && !self.done {
            match self.step() {
                Ok(Found::Packet(p)) => self.pending = Some(p),
                Ok(Found::Other) => {}
                Ok(Found::End) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The timestamp of the next frame, without consuming it; `Ok(None)` at the
    /// end. An error is returned once, as [`CaptureReader::next_frame`] would.
    pub fn peek_ts(&mut self) -> Result<Option<u64>, Error> {
        self.fill_pending()?;
        Ok(self.pending.as_ref().map(|p| p.ts))
    }

    /// The next frame, `Ok(None)` at the end of the capture. After an error
    /// (returned once), always `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        self.fill_pending()?;
        let Some(p) = self.pending.take() else {
            return Ok(None);
        };
        self.number = self.number.saturating_add(1);
        let bytes = match &self.source {
            Source::Mapped(m) => m.bytes(),
            Source::Stream(s) => s.buffer(),
        };
        Ok(Some(p.frame(bytes, self.number, self.input)))
    }
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.path())
            .field("input", &self.input)
            .field("frames_read", &self.number)
            .field("info", self.info())
            .finish_non_exhaustive()
    }
}

/// A zero-copy frame iterator over a whole capture held in memory (usually a
/// memory map): every frame borrows `'a`, so frames can be batched and handed to
/// other threads while the map lives.
///
/// The file header is read by the first call to `next`; errors come as one
/// `Err` item, after which the iterator ends.
#[derive(Debug)]
pub struct SliceReader<'a> {
    data: &'a [u8],
    pos: usize,
    parser: RecordParser,
    input: u16,
    number: u64,
    done: bool,
    /// Read-ahead of the walk.
    ahead: crate::prefetch::Ahead,
}

impl<'a> SliceReader<'a> {
    /// Read the capture in `data`, named `file` in errors. Compressed bytes are
    /// not accepted here (they are reported as a bad magic); use
    /// [`CaptureReader::from_reader`] for them.
    pub fn new(data: &'a [u8], file: impl Into<PathBuf>) -> SliceReader<'a> {
        SliceReader {
            data,
            pos: 0,
            parser: RecordParser::new(file.into(), crate::source::Compression::None),
            input: 0,
            number: 0,
            done: false,
            ahead: crate::prefetch::Ahead::default(),
        }
    }

    /// A reader over a mapped file.
    pub fn from_mapped(m: &'a MappedFile) -> SliceReader<'a> {
        SliceReader::new(m.bytes(), m.path())
    }

    /// Set the input index given to frames.
    pub fn with_input(mut self, input: u16) -> SliceReader<'a> {
        self.input = input;
        self
    }

    /// Format and interfaces seen so far.
    pub fn info(&self) -> &CaptureInfo {
        self.parser.info()
    }

    /// Byte offset of the first unread byte.
    pub fn offset(&self) -> u64 {
        self.pos as u64
    }
}

impl<'a> Iterator for SliceReader<'a> {
    type Item = Result<Frame<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.ahead.at(self.data, self.pos);
            match step_slice(&mut self.parser, self.data, &mut self.pos) {
                Ok(Found::Packet(p)) => {
                    self.number = self.number.saturating_add(1);
                    return Some(Ok(p.frame(self.data, self.number, self.input)));
                }
                Ok(Found::Other) => {}
                Ok(Found::End) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl FusedIterator for SliceReader<'_> {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::info::{ByteOrder, Format, TsResolution};

    /// A pcapng writer for tests: blocks in the byte order of the current section.
    struct Ng {
        be: bool,
        out: Vec<u8>,
    }

    impl Ng {
        fn new() -> Ng {
            Ng {
                be: false,
                out: Vec::new(),
            }
        }
        fn u16(&self, v: u16) -> [u8; 2] {
            if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn u32(&self, v: u32) -> [u8; 4] {
            if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        /// Offset the next block will start at.
        fn at(&self) -> u64 {
            self.out.len() as u64
        }
        fn block(&mut self, ty: u32, body: &[u8]) -> &mut Ng {
            let mut body = body.to_vec();
            while body.len() % 4 != 0 {
                body.push(0);
            }
            let len = 12 + body.len() as u32;
            let (t, l) = (self.u32(ty), self.u32(len));
            self.out.extend_from_slice(&t);
            self.out.extend_from_slice(&l);
            self.out.extend_from_slice(&body);
            self.out.extend_from_slice(&l);
            self
        }
        fn options(&self, opts: &[(u16, Vec<u8>)]) -> Vec<u8> {
            let mut v = Vec::new();
            for (code, value) in opts {
                v.extend_from_slice(&self.u16(*code));
                v.extend_from_slice(&self.u16(value.len() as u16));
                v.extend_from_slice(value);
                while v.len() % 4 != 0 {
                    v.push(0);
                }
            }
            if !opts.is_empty() {
                v.extend_from_slice(&[0; 4]);
            }
            v
        }
        fn shb(&mut self, be: bool) -> &mut Ng {
            self.be = be;
            let mut body = self.u32(0x1a2b_3c4d).to_vec();
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&[0xff; 8]);
            self.block(0x0a0d_0d0a, &body)
        }
        fn idb(&mut self, link: u16, snaplen: u32, opts: &[(u16, Vec<u8>)]) -> &mut Ng {
            let mut body = self.u16(link).to_vec();
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&self.u32(snaplen));
            body.extend(self.options(opts));
            self.block(1, &body)
        }
        fn epb(&mut self, if_id: u32, ticks: u64, data: &[u8]) -> &mut Ng {
            let mut body = self.u32(if_id).to_vec();
            body.extend_from_slice(&self.u32((ticks >> 32) as u32));
            body.extend_from_slice(&self.u32(ticks as u32));
            body.extend_from_slice(&self.u32(data.len() as u32));
            body.extend_from_slice(&self.u32(data.len() as u32 + 1));
            body.extend_from_slice(data);
            self.block(6, &body)
        }
        fn spb(&mut self, origlen: u32, data: &[u8]) -> &mut Ng {
            let mut body = self.u32(origlen).to_vec();
            body.extend_from_slice(data);
            self.block(3, &body)
        }
        fn packet_block(&mut self, if_id: u16, ticks: u64, data: &[u8]) -> &mut Ng {
            let mut body = self.u16(if_id).to_vec();
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&self.u32((ticks >> 32) as u32));
            body.extend_from_slice(&self.u32(ticks as u32));
            body.extend_from_slice(&self.u32(data.len() as u32));
            body.extend_from_slice(&self.u32(data.len() as u32));
            body.extend_from_slice(data);
            self.block(2, &body)
        }
    }

    fn tsresol(v: u8) -> (u16, Vec<u8>) {
        (9, vec![v])
    }

    fn tsoffset(ng: &Ng, secs: i64) -> (u16, Vec<u8>) {
        let b = if ng.be {
            secs.to_be_bytes()
        } else {
            secs.to_le_bytes()
        };
        (14, b.to_vec())
    }

    fn read_all(bytes: &[u8]) -> (Vec<Frame<'_>>, Option<Error>) {
        let mut frames = Vec::new();
        let mut err = None;
        for item in SliceReader::new(bytes, "t.pcapng") {
            match item {
                Ok(f) => frames.push(f),
                Err(e) => err = Some(e),
            }
        }
        (frames, err)
    }

    #[test]
    fn sections_switch_byte_order_and_restart_interface_ids() {
        let mut ng = Ng::new();
        ng.shb(false)
            .idb(1, 0, &[])
            .idb(101, 0, &[])
            .epb(1, 1_500_000, b"first");
        ng.shb(true);
        let opts = [tsresol(0x80 | 10), tsoffset(&ng, 100)];
        ng.idb(228, 0, &opts);
        // 2.5 s in units of 1/1024 s, plus the 100 s offset.
        ng.epb(0, 2560, b"second");
        let bad_at = ng.at();
        // Interface 1 existed in the first section only.
        ng.epb(1, 0, b"third");
        let (frames, err) = read_all(&ng.out);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].ts, 1_500_000_000);
        assert_eq!(frames[0].link_type, LinkType::RAW);
        assert_eq!(frames[0].data, b"first");
        assert_eq!((frames[0].caplen, frames[0].origlen), (5, 6));
        assert_eq!(frames[1].ts, 102_500_000_000);
        assert_eq!(frames[1].link_type, LinkType::IPV4);
        assert_eq!(frames[1].data, b"second");
        assert_eq!(frames[1].number, 2);
        let err = err.unwrap();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        assert_eq!(err.offset(), Some(bad_at));

        let mut r = SliceReader::new(&ng.out, "t");
        while let Some(Ok(_)) = r.next() {}
        let info = r.info();
        assert_eq!(info.format, Format::PcapNg);
        assert_eq!(info.sections, 2);
        assert_eq!(info.byte_order, Some(ByteOrder::Big));
        let ids: Vec<(u32, u32)> = info.interfaces.iter().map(|i| (i.section, i.id)).collect();
        assert_eq!(ids, [(0, 0), (0, 1), (1, 0)]);
        assert_eq!(info.interfaces[2].ts_units_per_sec, 1024);
        assert_eq!(info.interfaces[2].ts_offset_secs, 100);
        assert_eq!(
            info.link_types(),
            [LinkType::ETHERNET, LinkType::RAW, LinkType::IPV4]
        );
    }

    #[test]
    fn timestamps_follow_tsresol_and_saturate() {
        for be in [false, true] {
            let mut ng = Ng::new();
            ng.shb(be);
            ng.idb(1, 0, &[tsresol(9)]);
            ng.idb(1, 0, &[tsresol(0)]);
            let neg = [tsresol(3), tsoffset(&ng, -5)];
            ng.idb(1, 0, &neg);
            ng.epb(0, 1_234_567_891, b"ns")
                .epb(1, u64::MAX, b"max")
                .epb(2, 4_000, b"neg")
                .epb(2, 6_001, b"pos");
            let (frames, err) = read_all(&ng.out);
            assert!(err.is_none(), "{err:?}");
            let ts: Vec<u64> = frames.iter().map(|f| f.ts).collect();
            assert_eq!(ts, [1_234_567_891, u64::MAX, 0, 1_001_000_000], "be={be}");
        }
    }

    #[test]
    fn bad_tsresol_is_malformed_at_the_idb() {
        let mut ng = Ng::new();
        ng.shb(false);
        let at = ng.at();
        ng.idb(1, 0, &[tsresol(20)]);
        let (frames, err) = read_all(&ng.out);
        assert!(frames.is_empty());
        let err = err.unwrap();
        assert!(err.to_string().contains("if_tsresol"), "{err}");
        assert_eq!(err.offset(), Some(at));
    }

    #[test]
    fn simple_packet_blocks_use_interface_zero_snaplen_and_previous_time() {
        let mut ng = Ng::new();
        ng.shb(false).idb(1, 4, &[]).epb(0, 7_000_000, b"ab");
        ng.spb(10, b"0123456789");
        ng.spb(3, b"xyz-padding");
        ng.shb(true).idb(1, 0, &[]).spb(6, b"abcdef");
        let (frames, err) = read_all(&ng.out);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 4);
        assert_eq!((frames[1].data, frames[1].origlen), (&b"0123"[..], 10));
        assert_eq!(frames[1].ts, 7_000_000_000);
        assert_eq!(frames[2].data, b"xyz");
        assert_eq!(frames[3].data, b"abcdef");
        // With no interface described, an SPB is damage.
        let mut ng = Ng::new();
        ng.shb(false);
        let at = ng.at();
        ng.spb(1, b"a");
        let (_, err) = read_all(&ng.out);
        assert_eq!(err.unwrap().offset(), Some(at));
    }

    #[test]
    fn obsolete_packet_blocks_are_read_in_both_byte_orders() {
        for be in [false, true] {
            let mut ng = Ng::new();
            ng.shb(be)
                .idb(1, 0, &[])
                .idb(113, 0, &[])
                .packet_block(1, 3_000_001, b"old")
                .packet_block(0, 0, b"");
            let (frames, err) = read_all(&ng.out);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0].link_type, LinkType::LINUX_SLL);
            assert_eq!(frames[0].ts, 3_000_001_000);
            assert_eq!(frames[0].data, b"old");
            assert_eq!(frames[1].caplen, 0);
        }
    }

    #[test]
    fn other_blocks_are_skipped() {
        let mut ng = Ng::new();
        ng.shb(false).idb(1, 0, &[]);
        ng.block(5, &[0; 20]); // interface statistics
        ng.block(0x0000_0bad, b"custom block payload");
        ng.block(0x1234_5678, &[]);
        ng.block(4, &[0; 4]); // name resolution
        ng.epb(0, 1, b"x");
        let (frames, err) = read_all(&ng.out);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].file_offset, ng.out.len() as u64 - 36);
    }

    #[test]
    fn impossible_blocks_are_reported_at_their_offset() {
        let base = || {
            let mut ng = Ng::new();
            ng.shb(false).idb(1, 0, &[]).epb(0, 1, b"good");
            ng
        };
        // Length not a multiple of 4.
        let mut ng = base();
        let at = ng.at();
        ng.epb(0, 2, b"bad!");
        let l = at as usize + 4;
        ng.out[l] = 37;
        let (frames, err) = read_all(&ng.out);
        assert_eq!(frames.len(), 1);
        let err = err.unwrap();
        assert!(err.to_string().contains("multiple of 4"), "{err}");
        assert_eq!(err.offset(), Some(at));
        // caplen beyond the block.
        let mut ng = base();
        let at = ng.at();
        ng.epb(0, 2, b"bad!");
        ng.out[at as usize + 20] = 200;
        let (frames, err) = read_all(&ng.out);
        assert_eq!(frames.len(), 1);
        assert!(matches!(err, Some(Error::Malformed { offset, .. }) if offset == at));
        // Huge length.
        let mut ng = base();
        let at = ng.at();
        ng.out.extend_from_slice(&6u32.to_le_bytes());
        ng.out.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
        let (_, err) = read_all(&ng.out);
        assert!(matches!(err, Some(Error::BadLength { offset, .. }) if offset == at));
        // A section of an unknown major version.
        let mut ng = base();
        let at = ng.at();
        ng.shb(false);
        ng.out[at as usize + 12] = 2;
        let (frames, err) = read_all(&ng.out);
        assert_eq!(frames.len(), 1);
        let err = err.unwrap();
        assert!(err.to_string().contains("version 2.0"), "{err}");
        assert_eq!(err.offset(), Some(at));
        // A section header with a bad byte-order magic.
        let mut ng = base();
        let at = ng.at();
        ng.shb(false);
        ng.out[at as usize + 8] = 0;
        let (_, err) = read_all(&ng.out);
        assert!(matches!(err, Some(Error::Malformed { offset, .. }) if offset == at));
    }

    fn pcap(magic: u32, be: bool, link: u32, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut v = Vec::new();
        for x in [magic, 0x0004_0002, 0, 0, 65535, link] {
            v.extend_from_slice(&w(x));
        }
        for (s, frac, data) in recs {
            for x in [*s, *frac, data.len() as u32, data.len() as u32] {
                v.extend_from_slice(&w(x));
            }
            if magic == 0xa1b2_cd34 {
                v.extend_from_slice(&[0; 8]); // ifindex, protocol, pkt_type, pad
            }
            v.extend_from_slice(data);
        }
        v
    }

    #[test]
    fn pcap_variants_by_magic() {
        let recs: &[(u32, u32, &[u8])] = &[(10, 20, b"one"), (11, 999_999_999, b"")];
        let cases = [
            (
                0xa1b2_c3d4,
                false,
                TsResolution::Micro,
                false,
                [10_000_020_000, 1_010_999_999_000],
            ),
            (
                0xa1b2_c3d4,
                true,
                TsResolution::Micro,
                false,
                [10_000_020_000, 1_010_999_999_000],
            ),
            (
                0xa1b2_3c4d,
                false,
                TsResolution::Nano,
                false,
                [10_000_000_020, 11_999_999_999],
            ),
            (
                0xa1b2_3c4d,
                true,
                TsResolution::Nano,
                false,
                [10_000_000_020, 11_999_999_999],
            ),
            (
                0xa1b2_cd34,
                false,
                TsResolution::Micro,
                true,
                [10_000_020_000, 1_010_999_999_000],
            ),
        ];
        for (magic, be, resolution, modified, ts) in cases {
            // Link type 1 with an FCS length of 4 in the top bits.
            let bytes = pcap(magic, be, 0x8000_0001 | (4 << 28), recs);
            let mut r = CaptureReader::from_reader("p", std::io::Cursor::new(bytes)).unwrap();
            let byte_order = if be {
                ByteOrder::Big
            } else {
                ByteOrder::Little
            };
            assert_eq!(
                r.info().format,
                Format::Pcap {
                    byte_order,
                    resolution,
                    modified
                }
            );
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!(
                (f.ts, f.data, f.link_type),
                (ts[0], &b"one"[..], LinkType::ETHERNET)
            );
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!((f.ts, f.caplen, f.number), (ts[1], 0, 2));
            assert!(r.next_frame().unwrap().is_none());
        }
    }

    #[test]
    fn peek_does_not_consume() {
        let bytes = pcap(0xa1b2_c3d4, false, 1, &[(1, 0, b"a"), (2, 0, b"b")]);
        let mut r = CaptureReader::from_reader("p", std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(r.peek_ts().unwrap(), Some(1_000_000_000));
        assert_eq!(r.peek_ts().unwrap(), Some(1_000_000_000));
        assert_eq!(r.next_frame().unwrap().unwrap().data, b"a");
        assert_eq!(r.peek_ts().unwrap(), Some(2_000_000_000));
        assert_eq!(r.next_frame().unwrap().unwrap().number, 2);
        assert_eq!(r.peek_ts().unwrap(), None);
        assert_eq!(r.frames_read(), 2);
    }

    #[test]
    fn mapped_frames_outlive_the_iterator_and_cross_threads() {
        let recs: Vec<(u32, u32, &[u8])> = (0..50).map(|i| (i, 0, &b"payload"[..])).collect();
        let bytes = pcap(0xa1b2_c3d4, false, 1, &recs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pcap");
        std::fs::write(&path, bytes).unwrap();
        let reader = CaptureReader::open(&path).unwrap();
        assert!(reader.mapped_bytes().is_some());
        let frames: Vec<Frame<'_>> = reader
            .slice_reader()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let total: usize = std::thread::scope(|s| {
            let handles: Vec<_> = frames
                .chunks(16)
                .map(|batch| s.spawn(move || batch.iter().map(|f| f.data.len()).sum::<usize>()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(total, 50 * 7);
        assert_eq!(frames[49].number, 50);
    }
}

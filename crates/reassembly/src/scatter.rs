//! [`ScatterGather`]: what a stream receives — the next in-order bytes of one
//! direction, as chunks borrowed from the packet (when it arrived in order) or
//! from pages (when it was queued or kept), plus where they came from.

use std::borrow::Cow;

use crate::page::{PageCache, PageRun, PageSlices};
use crate::stream::Dir;

/// Where one piece of a delivery lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    /// Bytes `[from, to)` of the current packet's payload.
    Packet { from: usize, to: usize },
    /// A run in the page cache.
    Run(PageRun),
}

/// One piece of a delivery with its capture facts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Piece {
    pub(crate) src: Source,
    pub(crate) len: usize,
    pub(crate) frame: u64,
    pub(crate) ts: u64,
}

/// Bytes missing right before the data of a delivery (named apart from
/// [`pcapread::Skip`], why the decoder passed over a frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// None: the data follows the previous delivery (or the stream start) directly.
    None,
    /// This many bytes are missing.
    Bytes(u64),
}

/// Capture facts of the packet a byte came from (gopacket's `CaptureInfo`;
/// named apart from [`pcapread::CaptureInfo`], which describes a capture file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// Frame number.
    pub frame: u64,
    /// Packet timestamp (ns).
    pub ts: u64,
}

/// Counters describing one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryStats {
    /// Pieces in this delivery (kept, packet and queued).
    pub chunks: usize,
    /// Bytes that came from the page cache (queued out of order or kept).
    pub from_pages: usize,
    /// Bytes borrowed straight from the packet.
    pub from_packet: usize,
}

/// The next in-order bytes of one direction.
///
/// Bytes `[0, saved)` were kept by the previous call's [`keep_from`](Self::keep_from);
/// bytes `[saved, len)` are new.
#[derive(Debug)]
pub struct ScatterGather<'a> {
    pub(crate) pieces: &'a [Piece],
    pub(crate) packet: &'a [u8],
    pub(crate) pages: &'a PageCache,
    pub(crate) dir: Dir,
    pub(crate) start: bool,
    pub(crate) end: bool,
    pub(crate) skip: Skipped,
    pub(crate) saved: usize,
    pub(crate) len: usize,
    pub(crate) stream_offset: u64,
    pub(crate) keep: Option<usize>,
}

impl<'a> ScatterGather<'a> {
    /// Direction of the bytes.
    pub fn dir(&self) -> Dir {
        self.dir
    }

    /// Whether these are the first bytes of the direction.
    pub fn start(&self) -> bool {
        self.start
    }

    /// Whether the direction ends with these bytes (FIN reached, RST, or the
    /// connection is being completed).
    pub fn end(&self) -> bool {
        self.end
    }

    /// Bytes missing right before the new bytes.
    pub fn skip(&self) -> Skipped {
        self.skip
    }

    /// `(total, saved)`: bytes available, and how many of them were kept from the
    /// previous call.
    pub fn lengths(&self) -> (usize, usize) {
        (self.len, self.saved)
    }

    /// Bytes available.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are available (only for an end-of-direction notice).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stream offset of the first byte of this delivery (kept bytes included),
    /// counted from the direction's first byte, missing bytes included.
    pub fn stream_offset(&self) -> u64 {
        self.stream_offset
    }

    /// The bytes as chunks, in order (no allocation, no copy).
    pub fn chunks(&self) -> Chunks<'a> {
        Chunks {
            pieces: self.pieces,
            packet: self.packet,
            pages: self.pages,
            run: None,
        }
    }

    /// The first `len` bytes (all of them if fewer are available): borrowed when
    /// one chunk holds them, copied otherwise.
    pub fn fetch(&self, len: usize) -> Cow<'a, [u8]> {
        let len = len.min(self.len);
        let mut it = self.chunks();
        let first = it.next().unwrap_or(&[]);
        if first.len() >= len {
            return Cow::Borrowed(&first[..len]);
        }
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(first);
        for c in it {
            let n = c.len().min(len - v.len());
            v.extend_from_slice(&c[..n]);
            if v.len() == len {
                break;
            }
        }
        Cow::Owned(v)
    }

    /// Keep bytes `[offset, len)` for the next call of this direction (they will
    /// come back first, counted in `saved`). The last call wins; an offset past the
    /// end keeps nothing. Ignored on the direction's final delivery.
    pub fn keep_from(&mut self, offset: usize) {
        self.keep = (offset < self.len).then_some(offset);
    }

    /// Frame number and timestamp of the packet that carried byte `offset`.
    pub fn capture_info(&self, offset: usize) -> Option<PacketInfo> {
        let mut at = 0;
        for p in self.pieces {
            if offset < at + p.len {
                return Some(PacketInfo {
                    frame: p.frame,
                    ts: p.ts,
                });
            }
            at += p.len;
        }
        None
    }

    /// Where this delivery's bytes came from.
    pub fn stats(&self) -> DeliveryStats {
        let mut s = DeliveryStats {
            chunks: self.pieces.len(),
            ..Default::default()
        };
        for p in self.pieces {
            match p.src {
                Source::Packet { .. } => s.from_packet += p.len,
                Source::Run(_) => s.from_pages += p.len,
            }
        }
        s
    }
}

/// Iterator over the chunks of a [`ScatterGather`].
#[derive(Debug)]
pub struct Chunks<'a> {
    pieces: &'a [Piece],
    packet: &'a [u8],
    pages: &'a PageCache,
    run: Option<PageSlices<'a>>,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if let Some(run) = &mut self.run {
                if let Some(s) = run.next() {
                    return Some(s);
                }
                self.run = None;
            }
            let (first, rest) = self.pieces.split_first()?;
            self.pieces = rest;
            match first.src {
                Source::Packet { from, to } => return self.packet.get(from..to),
                Source::Run(run) => self.run = Some(self.pages.slices(&run)),
            }
        }
    }
}

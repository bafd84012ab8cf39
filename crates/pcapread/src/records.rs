//! Record framing: turns the bytes at the front of a capture into the next pcap
//! record or pcapng block, deciding how long it is, whether it is whole, and what
//! packet (if any) it holds.
//!
//! The parser never holds capture bytes: it looks at a window of unread bytes
//! and answers with ranges into that window, so the same code serves the
//! memory map (the window is the rest of the file) and streams (the window is
//! whatever the buffer holds). Lengths are validated here, before pcap-parser
//! sees a block, because pcap-parser's streaming parsers answer `Incomplete`
//! both for "more bytes needed" and for "a length field points past its block";
//! we hand them exactly one whole block, so any `Incomplete` from them is
//! damage, never a request for more input.
//!
//! Formats: libpcap's file format (draft-ietf-opsawg-pcap) and pcapng
//! (draft-ietf-opsawg-pcapng: SHB, IDB, EPB, SPB and the obsolete Packet Block;
//! all other blocks are skipped by their length).

use std::ops::Range;
use std::path::PathBuf;

use pcap_parser::nom;
use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, parse_simplepacketblock_be,
    parse_simplepacketblock_le, OptionCode, PcapNGOption,
};
use pcap_parser::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header, PcapError,
};

use crate::info::{ByteOrder, CaptureInfo, Format, InterfaceInfo, TsResolution};
use crate::source::{Compression, MAX_RECORD_LEN};
use crate::{Error, LinkType};

/// pcapng Section Header Block type (the same bytes in either byte order).
const SHB_BYTES: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// pcapng byte-order magic 0x1A2B3C4D as written by a little-endian writer.
const BOM_LE: [u8; 4] = [0x4d, 0x3c, 0x2b, 0x1a];
/// The same magic written big-endian.
const BOM_BE: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];

/// pcapng block types this parser reads; all others are skipped.
const IDB: u32 = 0x0000_0001;
const PB_OBSOLETE: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
const SHB: u32 = 0x0a0d_0d0a;

/// Longest pcapng block accepted: one maximal packet plus EPB fields and options room.
const MAX_BLOCK_LEN: usize = MAX_RECORD_LEN + 64 * 1024;

/// Interfaces kept per input (a pcapng file may declare one per IDB; real files
/// have a handful, a hostile one could declare millions).
const MAX_INTERFACES: usize = 65_536;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// One packet found in a record: where its bytes are and what the record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packet {
    /// The captured bytes, relative to the window the step looked at.
    pub data: Range<usize>,
    /// Length of the whole record or block.
    pub len: usize,
    /// Timestamp, nanoseconds since the Unix epoch.
    pub ts: u64,
    /// Captured length (`data.len()`).
    pub caplen: u32,
    /// Original length on the wire.
    pub origlen: u32,
    /// Link type of the interface.
    pub link_type: LinkType,
}

/// What one parser step found at the front of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A packet record or block.
    Packet(Packet),
    /// A header or block without a packet, of this many bytes (never 0).
    Other(usize),
    /// The window must hold at least this many bytes to decide (only when not at
    /// end of input).
    NeedMore(usize),
    /// The input ended cleanly at a record boundary.
    End,
}

/// One pcapng interface of the current section.
#[derive(Debug, Clone, Copy)]
struct Iface {
    link_type: LinkType,
    snaplen: u32,
    units_per_sec: u64,
    offset_secs: i64,
}

/// Where the parser is in the file.
#[derive(Debug)]
enum State {
    /// Before the file header.
    Start,
    /// Classic pcap, after its header.
    Pcap {
        big_endian: bool,
        nanos: bool,
        modified: bool,
        link_type: LinkType,
    },
    /// pcapng; `ifaces` are the current section's interfaces.
    PcapNg {
        big_endian: bool,
        ifaces: Vec<Iface>,
    },
}

/// The record/block parser of one input.
#[derive(Debug)]
pub(crate) struct RecordParser {
    file: PathBuf,
    state: State,
    info: CaptureInfo,
    /// Timestamp of the last packet, given to Simple Packet Blocks (which have none).
    last_ts: u64,
}

/// Read a u32 at `at`; callers check the length first (a short slice reads 0).
fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let Some(bytes) = at
        .checked_add(4)
        .and_then(|end| b.get(at..end))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
    else {
        return 0;
    };
    if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    }
}

/// Round up to a multiple of 4 (pcapng pads packet data and options to 32 bits).
fn pad4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

/// Timestamp units per second for an `if_tsresol` value (pcapng section 4.2):
/// the low 7 bits are a negative power of 10, or of 2 when the top bit is set.
fn units_per_sec(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exp)
    } else {
        1u64.checked_shl(exp).filter(|_| exp < 64)
    }
}

/// `ticks` units of `1/units_per_sec` seconds plus `offset_secs`, in
/// nanoseconds, clamped to `0..=u64::MAX`.
fn ticks_to_nanos(ticks: u64, units_per_sec: u64, offset_secs: i64) -> u64 {
    let units = u128::from(units_per_sec.max(1));
    let ns = u128::from(ticks) * u128::from(NANOS_PER_SEC) / units;
    // ns < 2^94 and |offset| * 10^9 < 2^93: no i128 overflow.
    let total = i128::try_from(ns).unwrap_or(i128::MAX)
        + i128::from(offset_secs) * i128::from(NANOS_PER_SEC);
    u64::try_from(total.max(0)).unwrap_or(u64::MAX)
}

/// A short description of why pcap-parser rejected a block (without its bytes).
fn nom_detail(e: &nom::Err<PcapError<&[u8]>>) -> String {
    match e {
        nom::Err::Incomplete(_) => "a field runs past the end of the block".to_string(),
        nom::Err::Error(pe) | nom::Err::Failure(pe) => match pe {
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                format!("{kind:?} check failed")
            }
            PcapError::HeaderNotRecognized => "header not recognized".to_string(),
            other => format!("{other:?}"),
        },
    }
}

/// The `if_tsresol` and `if_tsoffset` options of an IDB, read in the section's
/// byte order (pcapng section 4.2, option codes 9 and 14).
fn ts_options(options: &[PcapNGOption<'_>], big_endian: bool) -> (Option<u8>, i64) {
    let mut tsresol = None;
    let mut offset = 0i64;
    for opt in options {
        if opt.code == OptionCode::EndOfOpt {
            break;
        }
        let Ok(value) = opt.as_bytes() else { continue };
        if opt.code == OptionCode::IfTsresol {
            tsresol = value.first().copied();
        } else if opt.code == OptionCode::IfTsoffset {
            if let Ok(b) = <[u8; 8]>::try_from(value) {
                offset = if big_endian {
                    i64::from_be_bytes(b)
                } else {
                    i64::from_le_bytes(b)
                };
            }
        }
    }
    (tsresol, offset)
}

impl RecordParser {
    /// A parser for the input named `file` (used in errors).
    pub(crate) fn new(file: PathBuf, compression: Compression) -> RecordParser {
        RecordParser {
            file,
            state: State::Start,
            info: CaptureInfo::new(compression),
            last_ts: 0,
        }
    }

    /// What has been learned about the input so far.
    pub(crate) fn info(&self) -> &CaptureInfo {
        &self.info
    }

    /// The input's name as used in errors.
    pub(crate) fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// Parse what starts at `w[0]`, which is at byte `off` of the input; `eof`
    /// says `w` is all that is left. Never returns `NeedMore` when `eof`, and
    /// never `Other(0)`; a `Packet`'s `len` is at least 16.
    pub(crate) fn step(&mut self, w: &[u8], off: u64, eof: bool) -> Result<Step, Error> {
        match self.state {
            State::Start => self.file_header(w, off, eof),
            State::Pcap {
                big_endian,
                nanos,
                modified,
                link_type,
            } => self.pcap_record(w, off, eof, big_endian, nanos, modified, link_type),
            State::PcapNg { big_endian, .. } => self.ng_block(w, off, eof, big_endian),
        }
    }

    /// Not enough bytes for `needed`: ask for more, or report truncation at end.
    fn short(
        &self,
        w: &[u8],
        off: u64,
        eof: bool,
        needed: usize,
        what: &'static str,
    ) -> Result<Step, Error> {
        if eof {
            Err(Error::Truncated {
                file: self.file.clone(),
                offset: off,
                what,
                needed: needed as u64,
                available: w.len() as u64,
            })
        } else {
            Ok(Step::NeedMore(needed))
        }
    }

    fn malformed(&self, off: u64, what: &'static str, detail: String) -> Error {
        Error::Malformed {
            file: self.file.clone(),
            offset: off,
            what,
            detail,
        }
    }

    fn bad_length(&self, off: u64, what: &'static str, len: usize, limit: usize) -> Error {
        Error::BadLength {
            file: self.file.clone(),
            offset: off,
            what,
            len: len as u64,
            limit: limit as u64,
        }
    }

    /// The first bytes: a pcap file header, or a pcapng SHB.
    fn file_header(&mut self, w: &[u8], off: u64, eof: bool) -> Result<Step, Error> {
        let Some(magic) = w.get(..4) else {
            return self.short(w, off, eof, 4, "capture file header");
        };
        if magic == SHB_BYTES {
            self.info.format = Format::PcapNg;
            self.state = State::PcapNg {
                big_endian: false,
                ifaces: Vec::new(),
            };
            return self.ng_block(w, off, eof, false);
        }
        let known = matches!(
            u32_at(magic, 0, false),
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1
        );
        if !known {
            return Err(Error::BadMagic {
                file: self.file.clone(),
                magic: magic.to_vec(),
            });
        }
        let Some(hdr) = w.get(..24) else {
            return self.short(w, off, eof, 24, "pcap file header");
        };
        let h = match parse_pcap_header(hdr) {
            Ok((_, h)) => h,
            Err(e) => return Err(self.malformed(off, "pcap file header", nom_detail(&e))),
        };
        let big_endian = h.is_bigendian();
        let nanos = h.is_nanosecond_precision();
        let modified = h.is_modified_format();
        // The field is unsigned on disk (pcap-parser keeps it as i32): LINKTYPE_
        // in the low bits, FCS information in the top bits.
        let link_type = LinkType(h.network.0 as u32 & 0x03ff_ffff);
        self.state = State::Pcap {
            big_endian,
            nanos,
            modified,
            link_type,
        };
        let byte_order = if big_endian {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        };
        self.info.format = Format::Pcap {
            byte_order,
            resolution: if nanos {
                TsResolution::Nano
            } else {
                TsResolution::Micro
            },
            modified,
        };
        self.info.byte_order = Some(byte_order);
        self.info.interfaces.push(InterfaceInfo {
            section: 0,
            id: 0,
            link_type,
            snaplen: h.snaplen,
            ts_units_per_sec: if nanos { NANOS_PER_SEC } else { 1_000_000 },
            ts_offset_secs: 0,
        });
        Ok(Step::Other(24))
    }

    /// One classic pcap record: 16-byte header (24 in the modified format) and data.
    #[allow(clippy::too_many_arguments)]
    fn pcap_record(
        &mut self,
        w: &[u8],
        off: u64,
        eof: bool,
        big_endian: bool,
        nanos: bool,
        modified: bool,
        link_type: LinkType,
    ) -> Result<Step, Error> {
        if w.is_empty() && eof {
            return Ok(Step::End);
        }
        let hdr_len = if modified { 24 } else { 16 };
        if w.len() < hdr_len {
            return self.short(w, off, eof, hdr_len, "pcap record header");
        }
        let caplen = u32_at(w, 8, big_endian) as usize;
        if caplen > MAX_RECORD_LEN {
            return Err(self.bad_length(off, "pcap record caplen", caplen, MAX_RECORD_LEN));
        }
        let len = hdr_len + caplen;
        let Some(rec) = w.get(..len) else {
            return self.short(w, off, eof, len, "pcap record");
        };
        let parsed = if modified {
            parse_pcap_frame_modified(rec)
        } else if big_endian {
            parse_pcap_frame_be(rec)
        } else {
            parse_pcap_frame(rec)
        };
        let b = parsed.map_err(|e| self.malformed(off, "pcap record", nom_detail(&e)))?;
        let b = b.1;
        let frac_unit = if nanos { 1 } else { 1_000 };
        let ts = u64::from(b.ts_sec)
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(u64::from(b.ts_usec).saturating_mul(frac_unit));
        self.last_ts = ts;
        Ok(Step::Packet(Packet {
            data: hdr_len..len,
            len,
            ts,
            caplen: b.caplen,
            origlen: b.origlen,
            link_type,
        }))
    }

    /// One pcapng block (pcapng section 3.1: type, total length, body, total length).
    fn ng_block(&mut self, w: &[u8], off: u64, eof: bool, big_endian: bool) -> Result<Step, Error> {
        if w.is_empty() && eof {
            return Ok(Step::End);
        }
        if w.len() < 8 {
            return self.short(w, off, eof, 8, "pcapng block header");
        }
        let is_shb = w.get(..4) == Some(&SHB_BYTES[..]);
        let big_endian = if is_shb {
            // A new section declares its own byte order.
            match w.get(8..12) {
                None => return self.short(w, off, eof, 12, "pcapng section header"),
                Some(b) if b == BOM_LE => false,
                Some(b) if b == BOM_BE => true,
                Some(b) => {
                    return Err(self.malformed(
                        off,
                        "pcapng section header",
                        format!("byte-order magic {b:02x?} is neither 1a2b3c4d nor 4d3c2b1a"),
                    ))
                }
            }
        } else {
            big_endian
        };
        let block_type = u32_at(w, 0, big_endian);
        let len = u32_at(w, 4, big_endian) as usize;
        let min = match block_type {
            SHB => 28,
            IDB => 20,
            EPB | PB_OBSOLETE => 32,
            SPB => 16,
            _ => 12,
        };
        if len < min {
            return Err(self.bad_length(off, "pcapng block", len, min));
        }
        if len > MAX_BLOCK_LEN {
            return Err(self.bad_length(off, "pcapng block", len, MAX_BLOCK_LEN));
        }
        if len % 4 != 0 {
            return Err(self.malformed(
                off,
                "pcapng block",
                format!("block length {len} is not a multiple of 4"),
            ));
        }
        let Some(block) = w.get(..len) else {
            return self.short(w, off, eof, len, "pcapng block");
        };
        let trailer = u32_at(block, len - 4, big_endian) as usize;
        if trailer != len {
            return Err(self.malformed(
                off,
                "pcapng block",
                format!("trailing block length {trailer} differs from leading length {len}"),
            ));
        }
        match block_type {
            SHB => self.shb(block, off, big_endian),
            IDB => self.idb(block, off, big_endian),
            EPB => self.epb(block, off, big_endian),
            SPB => self.spb(block, off, big_endian),
            PB_OBSOLETE => self.packet_block(block, off, big_endian),
            _ => Ok(Step::Other(len)),
        }
    }

    fn shb(&mut self, block: &[u8], off: u64, big_endian: bool) -> Result<Step, Error> {
        let (_, shb) = parse_sectionheaderblock(block)
            .map_err(|e| self.malformed(off, "pcapng section header", nom_detail(&e)))?;
        if shb.major_version != 1 {
            return Err(self.malformed(
                off,
                "pcapng section header",
                format!(
                    "unsupported version {}.{}",
                    shb.major_version, shb.minor_version
                ),
            ));
        }
        self.state = State::PcapNg {
            big_endian,
            ifaces: Vec::new(),
        };
        self.info.sections = self.info.sections.saturating_add(1);
        self.info.byte_order = Some(if big_endian {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        });
        Ok(Step::Other(block.len()))
    }

    fn idb(&mut self, block: &[u8], off: u64, big_endian: bool) -> Result<Step, Error> {
        const WHAT: &str = "pcapng interface description";
        let parsed = if big_endian {
            parse_interfacedescriptionblock_be(block)
        } else {
            parse_interfacedescriptionblock_le(block)
        };
        let (_, idb) = parsed.map_err(|e| self.malformed(off, WHAT, nom_detail(&e)))?;
        let (tsresol, offset_secs) = ts_options(&idb.options, big_endian);
        let units_per_sec = match tsresol {
            None => 1_000_000,
            Some(r) => units_per_sec(r).ok_or_else(|| {
                self.malformed(off, WHAT, format!("if_tsresol {r:#04x} is out of range"))
            })?,
        };
        let iface = Iface {
            // A u16 on disk, widened to i32 by pcap-parser.
            link_type: LinkType(idb.linktype.0 as u32),
            snaplen: idb.snaplen,
            units_per_sec,
            offset_secs,
        };
        if self.info.interfaces.len() >= MAX_INTERFACES {
            return Err(self.malformed(
                off,
                WHAT,
                format!("more than {MAX_INTERFACES} interfaces"),
            ));
        }
        let section = self.info.sections.saturating_sub(1);
        let State::PcapNg { ifaces, .. } = &mut self.state else {
            return Err(self.malformed(off, WHAT, "interface outside pcapng".to_string()));
        };
        let id = u32::try_from(ifaces.len()).unwrap_or(u32::MAX);
        ifaces.push(iface);
        self.info.interfaces.push(InterfaceInfo {
            section,
            id,
            link_type: iface.link_type,
            snaplen: iface.snaplen,
            ts_units_per_sec: units_per_sec,
            ts_offset_secs: offset_secs,
        });
        Ok(Step::Other(block.len()))
    }

    /// The current section's interface `id`, or a Malformed error naming `what`.
    fn iface(&self, id: u32, off: u64, what: &'static str) -> Result<Iface, Error> {
        let known = match &self.state {
            State::PcapNg { ifaces, .. } => usize::try_from(id)
                .ok()
                .and_then(|i| ifaces.get(i))
                .copied(),
            _ => None,
        };
        known.ok_or_else(|| {
            self.malformed(
                off,
                what,
                format!("interface id {id} was not described in this section"),
            )
        })
    }

    /// Enhanced Packet Block (pcapng section 4.3): interface id, 64-bit
    /// timestamp, caplen, origlen, data padded to 32 bits, options.
    fn epb(&mut self, block: &[u8], off: u64, big_endian: bool) -> Result<Step, Error> {
        const WHAT: &str = "pcapng enhanced packet block";
        let caplen = u32_at(block, 20, big_endian) as usize;
        let body = block.len() - 32;
        if pad4(caplen).is_none_or(|p| p > body) {
            return Err(self.malformed(
                off,
                WHAT,
                format!("captured length {caplen} exceeds the block's {body} data bytes"),
            ));
        }
        let parsed = if big_endian {
            parse_enhancedpacketblock_be(block)
        } else {
            parse_enhancedpacketblock_le(block)
        };
        let (_, epb) = parsed.map_err(|e| self.malformed(off, WHAT, nom_detail(&e)))?;
        let iface = self.iface(epb.if_id, off, WHAT)?;
        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
        let ts = ticks_to_nanos(ticks, iface.units_per_sec, iface.offset_secs);
        self.last_ts = ts;
        Ok(Step::Packet(Packet {
            data: 28..28 + caplen,
            len: block.len(),
            ts,
            caplen: epb.caplen,
            origlen: epb.origlen,
            link_type: iface.link_type,
        }))
    }

    /// Simple Packet Block (pcapng section 4.4): interface 0, no timestamp; the
    /// captured length is the smallest of the original length, the interface's
    /// snaplen and the block's data. It takes the previous packet's timestamp.
    fn spb(&mut self, block: &[u8], off: u64, big_endian: bool) -> Result<Step, Error> {
        const WHAT: &str = "pcapng simple packet block";
        let parsed = if big_endian {
            parse_simplepacketblock_be(block)
        } else {
            parse_simplepacketblock_le(block)
        };
        let (_, spb) = parsed.map_err(|e| self.malformed(off, WHAT, nom_detail(&e)))?;
        let iface = self.iface(0, off, WHAT)?;
        let mut caplen = (spb.origlen as usize).min(block.len() - 16);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Ok(Step::Packet(Packet {
            data: 12..12 + caplen,
            len: block.len(),
            ts: self.last_ts,
            caplen: u32::try_from(caplen).unwrap_or(u32::MAX),
            origlen: spb.origlen,
            link_type: iface.link_type,
        }))
    }

    /// The obsolete Packet Block (pcapng appendix A, type 2): a 16-bit interface
    /// id and drops count, then the same fields as an EPB. pcap-parser does not
    /// decode it, so it is read here.
    fn packet_block(&mut self, block: &[u8], off: u64, big_endian: bool) -> Result<Step, Error> {
        const WHAT: &str = "pcapng packet block";
        let if_id = u32_at(block, 8, big_endian);
        let if_id = if big_endian {
            if_id >> 16
        } else {
            if_id & 0xffff
        };
        let ts_high = u32_at(block, 12, big_endian);
        let ts_low = u32_at(block, 16, big_endian);
        let caplen = u32_at(block, 20, big_endian);
        let origlen = u32_at(block, 24, big_endian);
        let body = block.len() - 32;
        if pad4(caplen as usize).is_none_or(|p| p > body) {
            return Err(self.malformed(
                off,
                WHAT,
                format!("captured length {caplen} exceeds the block's {body} data bytes"),
            ));
        }
        let iface = self.iface(if_id, off, WHAT)?;
        let ticks = (u64::from(ts_high) << 32) | u64::from(ts_low);
        let ts = ticks_to_nanos(ticks, iface.units_per_sec, iface.offset_secs);
        self.last_ts = ts;
        Ok(Step::Packet(Packet {
            data: 28..28 + caplen as usize,
            len: block.len(),
            ts,
            caplen,
            origlen,
            link_type: iface.link_type,
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tsresol_powers_of_ten_and_two() {
        assert_eq!(units_per_sec(6), Some(1_000_000));
        assert_eq!(units_per_sec(9), Some(1_000_000_000));
        assert_eq!(units_per_sec(19), Some(10_000_000_000_000_000_000));
        assert_eq!(units_per_sec(20), None);
        assert_eq!(units_per_sec(0x80 | 10), Some(1024));
        assert_eq!(units_per_sec(0x80 | 63), Some(1 << 63));
        assert_eq!(units_per_sec(0x80 | 64), None);
        assert_eq!(units_per_sec(0xff), None);
    }

    #[test]
    fn ticks_convert_with_offset_and_saturate() {
        assert_eq!(ticks_to_nanos(1_500_000, 1_000_000, 0), 1_500_000_000);
        assert_eq!(ticks_to_nanos(3, 2, 10), 11_500_000_000);
        assert_eq!(ticks_to_nanos(5, 1, -10), 0);
        assert_eq!(ticks_to_nanos(u64::MAX, 1, i64::MAX), u64::MAX);
        assert_eq!(ticks_to_nanos(u64::MAX, 10u64.pow(19), 0), 1_844_674_407);
        // Zero units per second cannot come from an IDB, but must not divide by zero.
        assert_eq!(ticks_to_nanos(7, 0, 0), 7_000_000_000);
    }

    #[test]
    fn parser_never_needs_more_at_eof_and_never_steps_zero() {
        let mut p = RecordParser::new("x".into(), Compression::None);
        let hdr = [
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ];
        assert_eq!(p.step(&hdr[..3], 0, false).unwrap(), Step::NeedMore(4));
        assert_eq!(p.step(&hdr[..10], 0, false).unwrap(), Step::NeedMore(24));
        assert!(matches!(
            p.step(&hdr[..10], 0, true),
            Err(Error::Truncated {
                needed: 24,
                available: 10,
                ..
            })
        ));
        assert_eq!(p.step(&hdr, 0, true).unwrap(), Step::Other(24));
        assert_eq!(p.step(&[], 24, true).unwrap(), Step::End);
        assert_eq!(p.step(&[], 24, false).unwrap(), Step::NeedMore(16));
    }
}

//! Classic pcap output: the 24-byte global header and 16-byte record headers,
//! little-endian, link type 1 (Ethernet), as described in
//! draft-ietf-opsawg-pcap (the "libpcap file format").
//!
//! Writes go through one large `BufWriter`, so the capture streams out and is
//! never held in memory.

use std::io::{BufWriter, Write};

use crate::config::TsPrecision;
use crate::error::GenError;

/// Link type of every generated capture: LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length announced in the header (libpcap's default); every
/// generated frame is shorter, so none is cut.
pub const SNAPLEN: u32 = 262_144;
const NS_PER_S: u128 = 1_000_000_000;

/// Streams pcap records to a writer and counts what it wrote (also for
/// tests that build their own frames).
pub struct PcapWriter<W: Write> {
    out: BufWriter<W>,
    precision: TsPrecision,
    /// Bytes written so far, global header included.
    pub bytes: u64,
    /// Records written so far.
    pub records: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(writer: W, precision: TsPrecision) -> Result<Self, GenError> {
        let mut out = BufWriter::with_capacity(1 << 20, writer);
        let magic: u32 = match precision {
            TsPrecision::Micro => 0xa1b2_c3d4,
            TsPrecision::Nano => 0xa1b2_3c4d,
        };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            precision,
            bytes: 24,
            records: 0,
        })
    }

    /// Writes one record whose frame is `head` followed by `tail`, stamped
    /// `ts_ns` nanoseconds after the Unix epoch.
    pub fn record(&mut self, ts_ns: u128, head: &[u8], tail: &[u8]) -> Result<(), GenError> {
        let overflow = || GenError::TimestampOverflow {
            packet: self.records,
            ns: ts_ns,
        };
        let secs = u32::try_from(ts_ns / NS_PER_S).map_err(|_| overflow())?;
        let sub_ns = ts_ns % NS_PER_S;
        let frac = match self.precision {
            TsPrecision::Micro => sub_ns / 1000,
            TsPrecision::Nano => sub_ns,
        };
        // below 10^9, so it fits
        let frac = u32::try_from(frac).map_err(|_| overflow())?;
        let len = head.len() + tail.len();
        let len32 =
            u32::try_from(len).map_err(|_| std::io::Error::other("frame longer than 4 GiB"))?;
        let mut r = [0u8; 16];
        r[0..4].copy_from_slice(&secs.to_le_bytes());
        r[4..8].copy_from_slice(&frac.to_le_bytes());
        r[8..12].copy_from_slice(&len32.to_le_bytes());
        r[12..16].copy_from_slice(&len32.to_le_bytes());
        self.out.write_all(&r)?;
        self.out.write_all(head)?;
        self.out.write_all(tail)?;
        self.bytes += 16 + len as u64;
        self.records += 1;
        Ok(())
    }

    /// Flushes the buffer and returns the writer.
    pub fn finish(self) -> Result<W, GenError> {
        self.out
            .into_inner()
            .map_err(|e| GenError::Io(e.into_error()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new(), TsPrecision::Micro).unwrap();
        w.record(1_500_000_123_456_789, &[1, 2], &[3]).unwrap();
        assert_eq!((w.bytes, w.records), (24 + 16 + 3, 1));
        let v = w.finish().unwrap();
        assert_eq!(&v[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&v[20..24], &[1, 0, 0, 0]);
        assert_eq!(u32::from_le_bytes(v[24..28].try_into().unwrap()), 1_500_000);
        assert_eq!(u32::from_le_bytes(v[28..32].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(v[32..36].try_into().unwrap()), 3);
        assert_eq!(&v[40..], &[1, 2, 3]);
    }

    #[test]
    fn nanosecond_magic_and_fraction() {
        let mut w = PcapWriter::new(Vec::new(), TsPrecision::Nano).unwrap();
        w.record(2_000_000_007, &[], &[]).unwrap();
        let v = w.finish().unwrap();
        assert_eq!(&v[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(v[24..28].try_into().unwrap()), 2);
        assert_eq!(u32::from_le_bytes(v[28..32].try_into().unwrap()), 7);
    }

    #[test]
    fn timestamp_past_2106_is_an_error() {
        let mut w = PcapWriter::new(Vec::new(), TsPrecision::Nano).unwrap();
        let ns = (u128::from(u32::MAX) + 1) * NS_PER_S;
        assert!(matches!(
            w.record(ns, &[], &[]),
            Err(GenError::TimestampOverflow { packet: 0, .. })
        ));
    }
}

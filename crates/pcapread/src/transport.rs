//! TCP and UDP headers: ports, TCP fields and options, and where the payload
//! starts and how long the sender made it.
//!
//! Headers are read with etherparse. TCP options are parsed here because they
//! must be tolerant: etherparse's option iterator stops at the first option it
//! considers invalid (for example an empty SACK option, length 2, which real
//! stacks send: suricata-verify `tcp-empty-sack`), losing the options after it.
//! Kinds follow RFC 9293 (end, no-op, MSS), RFC 7323 (window scale, timestamps)
//! and RFC 2018 (SACK permitted, SACK blocks).

use etherparse::err::tcp::HeaderSliceError;
use etherparse::{TcpHeaderSlice, UdpHeaderSlice};

use crate::error::Skip;
use crate::segment::{TcpFlags, TcpInfo, TcpOptions};

/// A parsed TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub info: TcpInfo,
    /// Header length including options.
    pub header_len: usize,
}

/// Parse a TCP header (options included) at the start of `data`.
pub(crate) fn tcp(data: &[u8]) -> Result<Tcp, Skip> {
    let h = TcpHeaderSlice::from_slice(data).map_err(|e| match e {
        HeaderSliceError::Len(_) => Skip::Truncated("tcp"),
        HeaderSliceError::Content(_) => Skip::Malformed("tcp"),
    })?;
    // Flags byte 13 holds CWR..FIN in the same bit order as TcpFlags.
    let flags = data.get(13).copied().unwrap_or(0);
    Ok(Tcp {
        src_port: h.source_port(),
        dst_port: h.destination_port(),
        info: TcpInfo {
            seq: h.sequence_number(),
            ack: h.acknowledgment_number(),
            flags: TcpFlags(flags),
            window: h.window_size(),
            urgent: h.urgent_pointer(),
            options: tcp_options(h.options()),
        },
        header_len: h.slice().len(),
    })
}

/// Parse TCP options, keeping what is readable: an unknown or malformed option
/// ends the parse (its length cannot be trusted) but keeps what came before.
pub(crate) fn tcp_options(opts: &[u8]) -> TcpOptions {
    let mut o = TcpOptions::default();
    let mut at = 0usize;
    while let Some(&kind) = opts.get(at) {
        match kind {
            0 => break,
            1 => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = opts.get(at + 1) else { break };
        let len = usize::from(len);
        if len < 2 {
            break;
        }
        let Some(body) = opts.get(at + 2..at + len) else {
            break;
        };
        match (kind, body.len()) {
            (2, 2) => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
            (3, 1) => o.window_scale = Some(body[0]),
            (4, 0) => o.sack_permitted = true,
            (5, _) => {
                o.sack_len = 0;
                for (slot, block) in o.sack.iter_mut().zip(body.chunks_exact(8)) {
                    let edge = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    *slot = (edge(&block[..4]), edge(&block[4..]));
                    o.sack_len += 1;
                }
            }
            (8, 8) => {
                let v = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                o.timestamps = Some((v(&body[..4]), v(&body[4..])));
            }
            _ => {}
        }
        at += len;
    }
    o
}

/// A parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Udp {
    pub src_port: u16,
    pub dst_port: u16,
    /// The length field (header included).
    pub length: u16,
}

/// Parse a UDP header.
pub(crate) fn udp(data: &[u8]) -> Result<Udp, Skip> {
    let h = UdpHeaderSlice::from_slice(data).map_err(|_| Skip::Truncated("udp"))?;
    Ok(Udp {
        src_port: h.source_port(),
        dst_port: h.destination_port(),
        length: h.length(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_all_kinds() {
        let mut o = vec![
            2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
        ];
        o.extend_from_slice(&[5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
        let p = tcp_options(&o);
        assert_eq!(p.mss, Some(1460));
        assert_eq!(p.window_scale, Some(7));
        assert!(p.sack_permitted);
        assert_eq!(p.timestamps, Some((1, 2)));
        assert_eq!(p.sack_blocks(), &[(1, 2), (3, 4)]);
    }

    #[test]
    fn empty_and_odd_sack_are_tolerated() {
        // empty SACK, then timestamps still parsed
        let p = tcp_options(&[5, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 8]);
        assert_eq!((p.sack_len, p.timestamps), (0, Some((9, 8))));
        // SACK of 13 bytes: one whole block, the rest ignored
        let mut o = vec![5, 13, 0, 0, 0, 1, 0, 0, 0, 2, 9, 9, 9];
        o.extend_from_slice(&[3, 3, 2]);
        let p = tcp_options(&o);
        assert_eq!((p.sack_blocks(), p.window_scale), (&[(1, 2)][..], Some(2)));
        // length 0 or running past the end stops without panic
        assert_eq!(tcp_options(&[2, 0, 2, 4, 0, 1]).mss, None);
        assert_eq!(tcp_options(&[2, 4, 0]).mss, None);
        assert_eq!(tcp_options(&[1, 1, 1]), TcpOptions::default());
    }

    #[test]
    fn tcp_header_fields() {
        let mut d = vec![
            0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x12, 0x20, 0x00, 0, 0, 0, 0,
        ];
        d.extend_from_slice(&[2, 4, 0x05, 0xb4]);
        d.extend_from_slice(b"data");
        let t = tcp(&d).expect("tcp");
        assert_eq!((t.src_port, t.dst_port, t.header_len), (12345, 80, 24));
        assert_eq!((t.info.seq, t.info.ack, t.info.window), (1, 2, 0x2000));
        assert!(t.info.flags.syn() && t.info.flags.ack() && !t.info.flags.fin());
        assert_eq!(t.info.options.mss, Some(1460));
        assert_eq!(tcp(&d[..22]), Err(Skip::Truncated("tcp")));
        d[12] = 0x40;
        assert_eq!(tcp(&d), Err(Skip::Malformed("tcp")));
        assert_eq!(udp(&[0; 7]), Err(Skip::Truncated("udp")));
    }
}

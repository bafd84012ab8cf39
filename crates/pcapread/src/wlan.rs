//! IEEE 802.11 frames and the capture headers in front of them, down to the
//! LLC header of the data they carry. Small checked parsers (etherparse has no
//! 802.11):
//!
//! - radiotap (LINKTYPE_IEEE802_11_RADIOTAP, radiotap.org): version 0, length,
//!   the chain of present words; only the Flags field is read, for its "frame
//!   includes FCS" (0x10) and "data padding" (0x20) bits. The `radiotap` crate
//!   was considered; it is unmaintained since 2019 and indexes slices without
//!   checks, and the Flags field needs only the TSFT alignment rule;
//! - PPI (LINKTYPE_PPI, the CACE Per-Packet Information header): version 0,
//!   length, the link type of the packet behind it; the 802.11-common field's
//!   "FCS present" flag;
//! - the 802.11 MAC header of data frames (IEEE 802.11-2020 9.2.3, 9.3.2.1):
//!   24 bytes, the fourth address when both To DS and From DS are set, the QoS
//!   control field of QoS subtypes, the HT control field when a QoS data frame
//!   has the +HTC/Order bit set; the body is LLC/SNAP;
//! - A-MSDU (9.3.2.2): subframes of destination, source, length and an LLC
//!   MSDU, each padded to 4 bytes. The decoder produces one segment per frame:
//!   it decodes the first subframe and counts the others
//!   ([`DecodeStats::amsdu_subframes_skipped`](crate::DecodeStats::amsdu_subframes_skipped)).
//!
//! Management, control and null-data frames carry no packet
//! ([`Skip::NotData`]); protected frames are encrypted ([`Skip::Protected`]);
//! fragments of an MSDU cannot be decoded alone ([`Skip::Unsupported`]).

use crate::encap::Layer;
use crate::error::Skip;
use crate::link::{Next, Step};
use crate::linktype::LinkType;

fn le16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Radiotap Flags bits.
const RT_FLAG_FCS: u8 = 0x10;
const RT_FLAG_PAD: u8 = 0x20;

/// `data` without its 4-byte FCS (when `fcs`).
fn strip_fcs<'d>(data: &'d [u8], fcs: bool, layer: &'static str) -> Result<&'d [u8], Skip> {
    if !fcs {
        return Ok(data);
    }
    let keep = data.len().checked_sub(4).ok_or(Skip::Truncated(layer))?;
    Ok(&data[..keep])
}

/// A radiotap header, then an 802.11 frame (its FCS removed when the Flags
/// field says it is there).
pub(crate) fn radiotap(data: &[u8]) -> Result<Step<'_>, Skip> {
    let version = *data.first().ok_or(Skip::Truncated("radiotap"))?;
    if version != 0 {
        return Err(Skip::Malformed("radiotap"));
    }
    let len = usize::from(le16(data, 2).ok_or(Skip::Truncated("radiotap"))?);
    if len < 8 {
        return Err(Skip::Malformed("radiotap"));
    }
    let hdr = data.get(..len).ok_or(Skip::Truncated("radiotap"))?;
    let present = le32(hdr, 4).ok_or(Skip::Truncated("radiotap"))?;
    // Further present words follow while bit 31 is set.
    let mut at = 8usize;
    let mut word = present;
    while word & 0x8000_0000 != 0 {
        word = le32(hdr, at).ok_or(Skip::Malformed("radiotap"))?;
        at += 4;
    }
    let mut flags = 0u8;
    if present & 0b10 != 0 {
        if present & 0b1 != 0 {
            // TSFT: 8 bytes aligned to 8 from the header's start.
            at = at.next_multiple_of(8) + 8;
        }
        flags = *hdr.get(at).ok_or(Skip::Malformed("radiotap"))?;
    }
    let frame = strip_fcs(&data[len..], flags & RT_FLAG_FCS != 0, "radiotap")?;
    Ok(Step {
        layer: Some(Layer::Radiotap),
        next: Next::Wlan {
            padded: flags & RT_FLAG_PAD != 0,
        },
        data: frame,
    })
}

/// PPI field type of the 802.11-common field, and its FCS-present flag.
const PPI_80211_COMMON: u16 = 2;
const PPI_FLAG_FCS: u16 = 0x0001;

/// A PPI header; what follows is the link type it names (802.11 usually).
pub(crate) fn ppi(data: &[u8]) -> Result<Step<'_>, Skip> {
    let version = *data.first().ok_or(Skip::Truncated("ppi"))?;
    if version != 0 {
        return Err(Skip::Malformed("ppi"));
    }
    let len = usize::from(le16(data, 2).ok_or(Skip::Truncated("ppi"))?);
    let dlt = le32(data, 4).ok_or(Skip::Truncated("ppi"))?;
    if len < 8 {
        return Err(Skip::Malformed("ppi"));
    }
    let hdr = data.get(..len).ok_or(Skip::Truncated("ppi"))?;
    let mut fcs = false;
    let mut at = 8usize;
    while at < len {
        let typ = le16(hdr, at).ok_or(Skip::Malformed("ppi"))?;
        let flen = usize::from(le16(hdr, at + 2).ok_or(Skip::Malformed("ppi"))?);
        let body = hdr
            .get(at + 4..at + 4 + flen)
            .ok_or(Skip::Malformed("ppi"))?;
        if typ == PPI_80211_COMMON {
            fcs = le16(body, 8).is_some_and(|f| f & PPI_FLAG_FCS != 0);
        }
        at += 4 + flen;
    }
    let rest = &data[len..];
    let next = match LinkType(dlt) {
        LinkType::IEEE802_11 => Next::Wlan { padded: false },
        // PPI inside PPI is not a thing; refuse rather than loop.
        LinkType::PPI => return Err(Skip::Malformed("ppi")),
        other => crate::link::first(other).ok_or(Skip::UnsupportedLinkType(dlt))?,
    };
    let rest = if matches!(next, Next::Wlan { .. }) {
        strip_fcs(rest, fcs, "ppi")?
    } else {
        rest
    };
    Ok(Step {
        layer: Some(Layer::Ppi),
        next,
        data: rest,
    })
}

/// Frame control bits (second byte).
const FC_TO_DS: u8 = 0x01;
const FC_FROM_DS: u8 = 0x02;
const FC_MORE_FRAGMENTS: u8 = 0x04;
const FC_PROTECTED: u8 = 0x40;
const FC_ORDER: u8 = 0x80;

/// QoS control: an A-MSDU is the body (bit 7 of the first byte).
const QOS_AMSDU: u8 = 0x80;

/// An 802.11 frame: the MAC header of a data frame, then LLC (or an A-MSDU).
/// `padded`: radiotap says the header is padded to a multiple of 4 bytes.
pub(crate) fn frame(data: &[u8], padded: bool) -> Result<Step<'_>, Skip> {
    let fc0 = *data.first().ok_or(Skip::Truncated("802.11"))?;
    let fc1 = *data.get(1).ok_or(Skip::Truncated("802.11"))?;
    if fc0 & 0x03 != 0 {
        return Err(Skip::Malformed("802.11"));
    }
    let ftype = (fc0 >> 2) & 0x03;
    let subtype = fc0 >> 4;
    if ftype != 2 {
        return Err(Skip::NotData("802.11"));
    }
    // Subtypes with bit 2 set (null data, QoS null, ...) have no body.
    if subtype & 0x04 != 0 {
        return Err(Skip::NotData("802.11"));
    }
    let qos = subtype & 0x08 != 0;
    let mut len = 24usize;
    if fc1 & (FC_TO_DS | FC_FROM_DS) == FC_TO_DS | FC_FROM_DS {
        len += 6;
    }
    let mut amsdu = false;
    if qos {
        let qc = *data.get(len).ok_or(Skip::Truncated("802.11"))?;
        amsdu = qc & QOS_AMSDU != 0;
        len += 2;
        if fc1 & FC_ORDER != 0 {
            len += 4;
        }
    }
    if padded {
        len = len.next_multiple_of(4);
    }
    let body = data.get(len..).ok_or(Skip::Truncated("802.11"))?;
    if fc1 & FC_PROTECTED != 0 {
        return Err(Skip::Protected("802.11"));
    }
    let seq_ctl = le16(data, 22).ok_or(Skip::Truncated("802.11"))?;
    if fc1 & FC_MORE_FRAGMENTS != 0 || seq_ctl & 0x000f != 0 {
        return Err(Skip::Unsupported("802.11-fragment"));
    }
    Ok(Step {
        layer: Some(Layer::Wlan),
        next: if amsdu { Next::Amsdu } else { Next::Llc },
        data: body,
    })
}

/// The MSDUs of an A-MSDU body, in order. A subframe cut short ends the
/// iteration with an error.
pub(crate) fn amsdu_subframes(body: &[u8]) -> impl Iterator<Item = Result<&[u8], Skip>> {
    let mut at = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at >= body.len() {
            return None;
        }
        let Some(len) = body
            .get(at + 12..at + 14)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            failed = true;
            return Some(Err(Skip::Truncated("a-msdu")));
        };
        let start = at + 14;
        let Some(msdu) = body.get(start..start + len) else {
            failed = true;
            // The last subframe may be cut by snaplen: what was captured.
            return Some(body.get(start..).ok_or(Skip::Truncated("a-msdu")));
        };
        // Subframes are padded to a multiple of 4 bytes (not the last one).
        at = (start + len).next_multiple_of(4);
        Some(Ok(msdu))
    })
}

/// The first subframe of an A-MSDU, and how many subframes follow it.
pub(crate) fn amsdu(body: &[u8]) -> Result<(Step<'_>, u64), Skip> {
    let mut subframes = amsdu_subframes(body);
    let first = subframes.next().unwrap_or(Err(Skip::Truncated("a-msdu")))?;
    let more = subframes.count() as u64;
    Ok((
        Step {
            layer: Some(Layer::Amsdu),
            next: Next::Llc,
            data: first,
        },
        more,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLC_IP4: [u8; 9] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, 0x45];

    /// A data frame header: frame control, duration, addresses, sequence control.
    fn mac(fc0: u8, fc1: u8) -> Vec<u8> {
        let mut v = vec![fc0, fc1, 0, 0];
        v.extend_from_slice(&[1; 18]);
        v.extend_from_slice(&[0x10, 0x00]);
        if fc1 & 3 == 3 {
            v.extend_from_slice(&[4; 6]);
        }
        v
    }

    #[test]
    fn data_frame_every_ds_combination() {
        for fc1 in 0..4u8 {
            let mut f = mac(0x08, fc1);
            let hdr = f.len();
            assert_eq!(hdr, if fc1 == 3 { 30 } else { 24 });
            f.extend_from_slice(&LLC_IP4);
            let s = frame(&f, false).expect("data frame");
            assert_eq!(
                (s.layer, s.next, s.data),
                (Some(Layer::Wlan), Next::Llc, &LLC_IP4[..]),
                "ds bits {fc1}"
            );
        }
    }

    #[test]
    fn qos_data_with_and_without_ht_control() {
        for fc1 in [0x01, 0x02, 0x03] {
            // QoS data: 2-byte QoS control after the addresses.
            let mut f = mac(0x88, fc1);
            f.extend_from_slice(&[0x00, 0x00]);
            f.extend_from_slice(&LLC_IP4);
            assert_eq!(frame(&f, false).expect("qos").data, &LLC_IP4);
            // Order bit: 4-byte HT control after QoS control.
            let mut f = mac(0x88, fc1 | FC_ORDER);
            f.extend_from_slice(&[0x00, 0x00, 9, 9, 9, 9]);
            f.extend_from_slice(&LLC_IP4);
            assert_eq!(frame(&f, false).expect("qos+htc").data, &LLC_IP4);
        }
        // A non-QoS data frame with the Order bit has no HT control.
        let mut f = mac(0x08, FC_ORDER);
        f.extend_from_slice(&LLC_IP4);
        assert_eq!(frame(&f, false).expect("order").data, &LLC_IP4);
        // Radiotap data padding: a 26-byte QoS header padded to 28.
        let mut f = mac(0x88, 0x01);
        f.extend_from_slice(&[0x00, 0x00, 0xee, 0xee]);
        f.extend_from_slice(&LLC_IP4);
        assert_eq!(frame(&f, true).expect("padded").data, &LLC_IP4);
    }

    #[test]
    fn skip_reasons_for_frames_without_a_packet() {
        // beacon (management), ACK (control), null data, QoS null
        assert_eq!(frame(&mac(0x80, 0), false), Err(Skip::NotData("802.11")));
        assert_eq!(frame(&[0xd4, 0, 0, 0], false), Err(Skip::NotData("802.11")));
        assert_eq!(frame(&mac(0x48, 1), false), Err(Skip::NotData("802.11")));
        assert_eq!(frame(&mac(0xc8, 1), false), Err(Skip::NotData("802.11")));
        let mut f = mac(0x08, 0x41);
        f.extend_from_slice(&[0; 16]);
        assert_eq!(frame(&f, false), Err(Skip::Protected("802.11")));
        let mut f = mac(0x08, 0x01 | FC_MORE_FRAGMENTS);
        f.extend_from_slice(&LLC_IP4);
        assert_eq!(frame(&f, false), Err(Skip::Unsupported("802.11-fragment")));
        // protocol version 1, truncated headers
        assert_eq!(frame(&[0x09, 0], false), Err(Skip::Malformed("802.11")));
        assert_eq!(frame(&[0x08], false), Err(Skip::Truncated("802.11")));
        assert_eq!(
            frame(&mac(0x08, 3)[..29], false),
            Err(Skip::Truncated("802.11"))
        );
        assert_eq!(frame(&mac(0x88, 0), false), Err(Skip::Truncated("802.11")));
    }

    fn subframe(payload: &[u8]) -> Vec<u8> {
        let mut v = vec![2; 12];
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn amsdu_with_several_subframes() {
        let a = [LLC_IP4.as_slice(), &[1, 2]].concat(); // 11 bytes
        let b = [LLC_IP4.as_slice(), &[3, 4, 5, 6, 7]].concat(); // 14 bytes
        let c = LLC_IP4.to_vec();
        let mut body = subframe(&a);
        body.resize(body.len().next_multiple_of(4), 0);
        body.extend_from_slice(&subframe(&b));
        body.resize(body.len().next_multiple_of(4), 0);
        body.extend_from_slice(&subframe(&c));
        let got: Vec<_> = amsdu_subframes(&body).collect();
        assert_eq!(got, [Ok(&a[..]), Ok(&b[..]), Ok(&c[..])]);
        let (s, more) = amsdu(&body).expect("a-msdu");
        assert_eq!(
            (s.layer, s.next, s.data, more),
            (Some(Layer::Amsdu), Next::Llc, &a[..], 2)
        );
        // A QoS data frame with the A-MSDU bit leads here.
        let mut f = mac(0x88, 0x02);
        f.extend_from_slice(&[0x80, 0x00]);
        f.extend_from_slice(&body);
        assert_eq!(frame(&f, false).expect("qos").next, Next::Amsdu);
        // Cut inside the second subframe's header, and inside the last MSDU.
        let cut: Vec<_> = amsdu_subframes(&body[..30]).collect();
        assert_eq!(cut, [Ok(&a[..]), Err(Skip::Truncated("a-msdu"))]);
        let n = body.len() - 3;
        let cut: Vec<_> = amsdu_subframes(&body[..n]).collect();
        assert_eq!(cut[2], Ok(&c[..6]));
        assert_eq!(amsdu(&[]).map(|s| s.1), Err(Skip::Truncated("a-msdu")));
    }

    /// A radiotap header with TSFT and Flags (the layout of the Zeek capture).
    fn radiotap_hdr(flags: u8) -> Vec<u8> {
        let mut v = vec![0, 0, 18, 0, 0x03, 0, 0, 0];
        v.extend_from_slice(&[0; 8]); // TSFT at offset 8
        v.extend_from_slice(&[flags, 0]); // Flags, Rate
        v
    }

    #[test]
    fn radiotap_fcs_flag_strips_the_fcs() {
        let mut f = radiotap_hdr(RT_FLAG_FCS);
        f.extend_from_slice(b"frame");
        f.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let s = radiotap(&f).expect("radiotap");
        assert_eq!(
            (s.layer, s.next, s.data),
            (
                Some(Layer::Radiotap),
                Next::Wlan { padded: false },
                &b"frame"[..]
            )
        );
        let mut f = radiotap_hdr(0);
        f.extend_from_slice(b"frame");
        assert_eq!(radiotap(&f).expect("no fcs").data, b"frame");
        let f = radiotap_hdr(RT_FLAG_PAD);
        assert_eq!(radiotap(&f).expect("pad").next, Next::Wlan { padded: true });
        // An FCS flag on a frame shorter than an FCS.
        let mut f = radiotap_hdr(RT_FLAG_FCS);
        f.extend_from_slice(&[1, 2]);
        assert_eq!(radiotap(&f), Err(Skip::Truncated("radiotap")));
    }

    #[test]
    fn radiotap_extended_present_words_and_bad_headers() {
        // Two present words (bit 31), Flags only: Flags right after them.
        let mut f = vec![0, 0, 13, 0, 0x02, 0, 0, 0x80, 0, 0, 0, 0, RT_FLAG_FCS];
        f.extend_from_slice(b"ab1234");
        assert_eq!(radiotap(&f).expect("ext").data, b"ab");
        // The chain runs past the header length.
        let f = [0, 0, 8, 0, 0, 0, 0, 0x80, 0, 0];
        assert_eq!(radiotap(&f), Err(Skip::Malformed("radiotap")));
        assert_eq!(
            radiotap(&[1, 0, 8, 0, 0, 0, 0, 0]),
            Err(Skip::Malformed("radiotap"))
        );
        assert_eq!(radiotap(&[0, 0, 4, 0]), Err(Skip::Malformed("radiotap")));
        assert_eq!(
            radiotap(&[0, 0, 64, 0, 0, 0, 0, 0]),
            Err(Skip::Truncated("radiotap"))
        );
        assert_eq!(radiotap(&[]), Err(Skip::Truncated("radiotap")));
        // Flags announced but the header ends first.
        assert_eq!(
            radiotap(&[0, 0, 8, 0, 0x02, 0, 0, 0]),
            Err(Skip::Malformed("radiotap"))
        );
    }

    #[test]
    fn ppi_with_80211_common_fcs_flag() {
        // PPI: version, flags, length 8 + 4 + 20, DLT 105; one 802.11-common field.
        let mut f = vec![0, 0, 32, 0, 105, 0, 0, 0];
        f.extend_from_slice(&[2, 0, 20, 0]);
        let mut common = [0u8; 20];
        common[8] = 0x01;
        f.extend_from_slice(&common);
        f.extend_from_slice(b"frame1234");
        let s = ppi(&f).expect("ppi");
        assert_eq!(
            (s.layer, s.next, s.data),
            (
                Some(Layer::Ppi),
                Next::Wlan { padded: false },
                &b"frame"[..]
            )
        );
        f[12 + 8] = 0;
        assert_eq!(ppi(&f).expect("no fcs").data, b"frame1234");
        // A field running past the header, an unknown DLT, PPI in PPI.
        let mut g = f.clone();
        g[10] = 21;
        assert_eq!(ppi(&g), Err(Skip::Malformed("ppi")));
        let mut g = f.clone();
        g[4] = 0xfe;
        assert_eq!(ppi(&g), Err(Skip::UnsupportedLinkType(254)));
        let mut g = f.clone();
        g[4] = 192;
        assert_eq!(ppi(&g), Err(Skip::Malformed("ppi")));
        // Ethernet behind PPI.
        let mut g = f.clone();
        g[4] = 1;
        assert_eq!(ppi(&g).expect("eth").next, Next::Ethernet);
        assert_eq!(ppi(&f[..6]), Err(Skip::Truncated("ppi")));
        assert_eq!(ppi(&f[..20]), Err(Skip::Truncated("ppi")));
    }
}

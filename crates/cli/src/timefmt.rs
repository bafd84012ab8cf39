//! Packet timestamps (nanoseconds since the Unix epoch) as RFC 3339 strings.
//!
//! Always UTC, always nine fractional digits (`2012-02-15T18:22:37.123456789Z`),
//! so the strings sort like the numbers and snapshots never depend on the
//! local time zone (RFC 3339 section 5.6 `date-time` with `Z`).

use time::OffsetDateTime;

/// Bytes in [`write_rfc3339`]'s text (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`).
pub const RFC3339_LEN: usize = 30;

/// `ns` nanoseconds after the Unix epoch in RFC 3339 form, UTC.
pub fn rfc3339(ns: u64) -> String {
    let mut buf = [0; RFC3339_LEN];
    String::from_utf8_lossy(write_rfc3339(ns, &mut buf)).into_owned()
}

/// [`rfc3339`] written into `buf` (no allocation: the `time` crate
/// computes the calendar date, the fixed layout is filled in digit by
/// digit); returns the text.
pub fn write_rfc3339(ns: u64, buf: &mut [u8; RFC3339_LEN]) -> &[u8] {
    // Every u64 of nanoseconds is a year from 1970 to 2554: four digits.
    // (Unreachable: the epoch rather than a panic.)
    *buf = *b"1970-01-01T00:00:00.000000000Z";
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)) else {
        return buf;
    };
    let year = u32::try_from(t.year()).unwrap_or(0);
    digits(&mut buf[0..4], year);
    digits(&mut buf[5..7], u8::from(t.month()).into());
    digits(&mut buf[8..10], t.day().into());
    digits(&mut buf[11..13], t.hour().into());
    digits(&mut buf[14..16], t.minute().into());
    digits(&mut buf[17..19], t.second().into());
    digits(&mut buf[20..29], t.nanosecond());
    buf
}

/// `v` in decimal filling `out`, zero padded on the left (its lowest digits
/// when it has more).
fn digits(out: &mut [u8], mut v: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_fraction() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_329_330_157_123_456_789),
            "2012-02-15T18:22:37.123456789Z"
        );
    }

    /// The digit-by-digit layout agrees with the `time` crate's own
    /// formatting over the whole range.
    #[test]
    fn same_text_as_the_time_crate() {
        use time::macros::format_description;
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
        );
        let mut ns = 1u64;
        for i in 0..2000u64 {
            ns = ns.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
            for v in [ns, ns % 4_000_000_000_000_000_000, i * 86_399_999_999_999] {
                let want = OffsetDateTime::from_unix_timestamp_nanos(i128::from(v))
                    .unwrap()
                    .format(format)
                    .unwrap();
                assert_eq!(rfc3339(v), want, "{v}");
            }
        }
    }

    #[test]
    fn largest_timestamp() {
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }
}

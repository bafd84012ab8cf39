//! Packet timestamps (nanoseconds since the Unix epoch) as RFC 3339 strings.
//!
//! Always UTC, always nine fractional digits (`2012-02-15T18:22:37.123456789Z`),
//! so the strings sort like the numbers and snapshots never depend on the
//! local time zone (RFC 3339 section 5.6 `date-time` with `Z`).

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

const FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// `ns` nanoseconds after the Unix epoch in RFC 3339 form, UTC.
pub fn rfc3339(ns: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        // Every u64 of nanoseconds is a year below 2600, so this is unreachable;
        // the raw number is still a faithful answer.
        .unwrap_or_else(|| format!("{ns}ns"))
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

    #[test]
    fn largest_timestamp() {
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }
}

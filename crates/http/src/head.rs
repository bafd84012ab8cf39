//! Message heads: the request or status line and the header fields, parsed by
//! `httparse` and kept as owned values (a head outlives the bytes it came in).

/// Header fields read per head; a head with more is not parsed (counted as
/// not HTTP). Real heads rarely carry more than 50.
const MAX_HEADERS: usize = 128;

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD TARGET HTTP/1.x`.
    Request {
        /// The method token, as sent (`GET`, `POST`, ...).
        method: String,
        /// The request target, as sent (origin form `/a/b?c`, absolute form, ...).
        uri: String,
    },
    /// `HTTP/1.x STATUS REASON`.
    Response {
        /// The status code.
        status: u16,
        /// The reason phrase (may be empty).
        reason: String,
    },
}

/// A parsed message head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request or status line.
    pub start: StartLine,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header fields in order, names as sent; values decoded as UTF-8 with
    /// invalid bytes replaced (U+FFFD).
    pub headers: Vec<(String, String)>,
    /// Bytes of the head on the wire, the empty line included.
    pub len: usize,
}

impl Head {
    /// The first value of header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// Every value of header `name` (case-insensitive), trimmed, in order.
    pub fn values<'h, 'n>(&'h self, name: &'n str) -> impl Iterator<Item = &'h str> + use<'h, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// The comma-separated list elements of every `name` header, lowercased
    /// (`Transfer-Encoding: gzip, chunked` gives `["gzip", "chunked"]`).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values(name)
            .flat_map(|v| v.split(','))
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect()
    }

    /// `Content-Length`: `Ok(None)` when absent; an error when it is not a
    /// number or several values disagree (RFC 9112 section 6.3, item 5).
    pub fn content_length(&self) -> Result<Option<u64>, &'static str> {
        let mut found: Option<u64> = None;
        for v in self.values("content-length") {
            for part in v.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("invalid Content-Length");
                }
                let n: u64 = part.parse().map_err(|_| "invalid Content-Length")?;
                match found {
                    Some(f) if f != n => return Err("conflicting Content-Length values"),
                    _ => found = Some(n),
                }
            }
        }
        Ok(found)
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// The method, for a request.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }
}

/// What parsing a head from the start of a buffer gave.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A whole head.
    Complete(Head),
    /// The buffer ends inside the head.
    Partial,
    /// Not an HTTP/1.x head.
    Invalid(&'static str),
}

fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

fn error_name(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid method or token",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "not HTTP/1.x",
    }
}

/// Parse a request head at the start of `buf`.
pub(crate) fn parse_request(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Parsed::Complete(Head {
            start: StartLine::Request {
                method: req.method.unwrap_or_default().to_string(),
                uri: req.path.unwrap_or_default().to_string(),
            },
            minor_version: req.version.unwrap_or(1),
            headers: owned_headers(req.headers),
            len,
        }),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(e) => Parsed::Invalid(error_name(e)),
    }
}

/// Parse a response head at the start of `buf`.
pub(crate) fn parse_response(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Parsed::Complete(Head {
            start: StartLine::Response {
                status: res.code.unwrap_or_default(),
                reason: res.reason.unwrap_or_default().to_string(),
            },
            minor_version: res.version.unwrap_or(1),
            headers: owned_headers(res.headers),
            len,
        }),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(e) => Parsed::Invalid(error_name(e)),
    }
}

/// A `Content-Range: bytes FIRST-LAST/COMPLETE` value (RFC 9110 section 14.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte position.
    pub first: u64,
    /// Last byte position (inclusive).
    pub last: u64,
    /// Complete length of the representation, when the server knows it.
    pub complete: Option<u64>,
}

impl ContentRange {
    /// Parse a `Content-Range` value; `None` for other units, unsatisfied
    /// ranges (`bytes */N`) and malformed values.
    pub fn parse(v: &str) -> Option<ContentRange> {
        let rest = v.trim().strip_prefix("bytes")?.trim_start();
        let (range, complete) = rest.split_once('/')?;
        let (first, last) = range.trim().split_once('-')?;
        let first: u64 = first.trim().parse().ok()?;
        let last: u64 = last.trim().parse().ok()?;
        let complete = match complete.trim() {
            "*" => None,
            n => Some(n.parse().ok()?),
        };
        (first <= last && complete.is_none_or(|c| last < c)).then_some(ContentRange {
            first,
            last,
            complete,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn complete(p: Parsed) -> Head {
        match p {
            Parsed::Complete(h) => h,
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn request_head_fields() {
        let h = complete(parse_request(
            b"GET /a/b.pdf?x=1 HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\nbody",
        ));
        assert_eq!(
            h.start,
            StartLine::Request {
                method: "GET".into(),
                uri: "/a/b.pdf?x=1".into()
            }
        );
        assert_eq!(h.header("HOST"), Some("example.org"));
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.len, 61);
    }

    #[test]
    fn partial_and_invalid() {
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nHost: a"),
            Parsed::Partial
        ));
        assert!(matches!(
            parse_request(b"\x16\x03\x01\x02\x00"),
            Parsed::Invalid(_)
        ));
        // HTTP/0.9: no version.
        assert!(matches!(parse_request(b"GET /\r\n"), Parsed::Invalid(_)));
        assert!(matches!(
            parse_response(b"SSH-2.0-OpenSSH\r\n"),
            Parsed::Invalid(_)
        ));
    }

    #[test]
    fn lists_and_lengths() {
        let h = complete(parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\nContent-Length: 5, 5\r\n\r\n",
        ));
        assert_eq!(h.list("transfer-encoding"), ["gzip", "chunked"]);
        assert_eq!(h.content_length(), Ok(Some(5)));
        assert_eq!(h.status(), Some(200));
        let bad = complete(parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        ));
        assert!(bad.content_length().is_err());
        let neg = complete(parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ));
        assert!(neg.content_length().is_err());
    }

    #[test]
    fn content_range() {
        assert_eq!(
            ContentRange::parse("bytes 0-499/1234"),
            Some(ContentRange {
                first: 0,
                last: 499,
                complete: Some(1234)
            })
        );
        assert_eq!(
            ContentRange::parse("bytes 500-999/*").map(|r| r.complete),
            Some(None)
        );
        assert_eq!(ContentRange::parse("bytes */1234"), None);
        assert_eq!(ContentRange::parse("bytes 9-1/10"), None);
        assert_eq!(ContentRange::parse("bytes 0-10/10"), None);
        assert_eq!(ContentRange::parse("items 0-1/2"), None);
    }
}

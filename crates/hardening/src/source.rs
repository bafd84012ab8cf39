//! [`SliceSource`]: a capture held in memory (a fuzz input, a damaged copy of
//! a test capture) as an [`engine::FrameSource`], so such captures go through
//! the real engine.
//!
//! It reads with [`SliceReader`] and hands the engine the reader's frames as
//! the reader numbers them (1, 2, ...). The first capture error ends the
//! input: the source remembers it ([`SliceSource::error`]) and from then on
//! says [`Next::End`], as the engine does with a damaged capture file.
//!
//! Progress check: a capture of `n` bytes yields at most `n + 1` records
//! (frames and the error), so a reader that stops advancing panics here
//! instead of hanging the run.

use engine::{FrameSource, Next};
use pcapread::{Frame, LinkType, SliceReader};

/// A capture in memory, read by a [`SliceReader`], as a frame source.
#[derive(Debug)]
pub struct SliceSource<'a> {
    reader: SliceReader<'a>,
    /// The reader's first item, read ahead so the header is known.
    ahead: Option<Result<Frame<'a>, pcapread::Error>>,
    len: usize,
    link_types: Vec<LinkType>,
    /// Records read (frames and the error).
    steps: usize,
    frames: u64,
    limit: Option<u64>,
    error: Option<pcapread::Error>,
}

impl<'a> SliceSource<'a> {
    /// The capture in `data`, named `name` in errors. The first record is
    /// read at once, so the link types of the header (and of the interfaces
    /// before the first packet) are known.
    pub fn new(data: &'a [u8], name: &str) -> SliceSource<'a> {
        let mut reader = SliceReader::new(data, name);
        let ahead = reader.next();
        let link_types = reader.info().link_types();
        SliceSource {
            reader,
            ahead,
            len: data.len(),
            link_types,
            steps: 0,
            frames: 0,
            limit: None,
            error: None,
        }
    }

    /// Only the first `n` frames (the input then ends, without an error).
    pub fn limit(mut self, n: u64) -> SliceSource<'a> {
        self.limit = Some(n);
        self
    }

    /// Frames handed out so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The capture error that ended reading, if any.
    pub fn error(&self) -> Option<&pcapread::Error> {
        self.error.as_ref()
    }

    /// The capture error that ended reading, if any.
    pub fn into_error(self) -> Option<pcapread::Error> {
        self.error
    }
}

impl FrameSource for SliceSource<'_> {
    fn link_types(&self) -> Vec<LinkType> {
        self.link_types.clone()
    }

    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        if self.error.is_some() || self.limit.is_some_and(|n| self.frames >= n) {
            return Ok(Next::End);
        }
        let item = match self.ahead.take() {
            Some(item) => Some(item),
            None => self.reader.next(),
        };
        let Some(item) = item else {
            return Ok(Next::End);
        };
        self.steps += 1;
        assert!(
            self.steps <= self.len + 1,
            "reader does not make progress: {} records from {} bytes",
            self.steps,
            self.len
        );
        match item {
            Ok(frame) => {
                self.frames += 1;
                assert_eq!(
                    frame.number, self.frames,
                    "frames are not numbered 1, 2, ..."
                );
                Ok(Next::Frame(frame))
            }
            Err(e) => {
                self.error = Some(e);
                Ok(Next::End)
            }
        }
    }
}

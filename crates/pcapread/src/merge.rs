//! Merging the captures of one capture set (rotated files, one file per
//! interface or per sensor) into a single frame sequence in timestamp order.
//!
//! Each input is already in (roughly) time order, so this is a k-way merge: a
//! heap holds the next timestamp of every input ([`CaptureReader::peek_ts`]),
//! and the smallest is delivered. Ties go to the lower input index, and within
//! one input file order is kept, so the output is deterministic. An input that
//! is not itself in time order is still read in its own file order; the merge
//! only ever chooses between the inputs' next frames.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::Path;

use crate::{CaptureReader, Error, Frame};

/// Frames of several captures in timestamp order, numbered 1.. in delivery order.
///
/// Invariant: every input that may still have frames is either in `heap` (with
/// its next timestamp) or in `unpeeked`, never both.
///
/// An error in one input is returned once (naming that input's file and the
/// offset) and ends that input only: keep calling [`MergedReader::next_frame`]
/// until it returns `Ok(None)` to get the other inputs' remaining frames.
#[derive(Debug)]
pub struct MergedReader {
    inputs: Vec<CaptureReader>,
    /// `(next timestamp, input index)`, smallest first.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    /// Inputs whose next timestamp must be looked at before choosing.
    unpeeked: VecDeque<usize>,
    number: u64,
}

impl MergedReader {
    /// Merge `readers`; each one's position in the vector becomes its input
    /// index ([`Frame::input`], saturating at `u16::MAX`), which breaks
    /// timestamp ties.
    pub fn new(readers: Vec<CaptureReader>) -> MergedReader {
        let inputs: Vec<CaptureReader> = readers
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.with_input(u16::try_from(i).unwrap_or(u16::MAX)))
            .collect();
        MergedReader {
            unpeeked: (0..inputs.len()).collect(),
            heap: BinaryHeap::with_capacity(inputs.len()),
            inputs,
            number: 0,
        }
    }

    /// Open every path (see [`CaptureReader::open`]) and merge them in the
    /// order given. Fails with the first input that cannot be opened.
    pub fn open<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<MergedReader, Error> {
        let readers = paths
            .into_iter()
            .map(CaptureReader::open)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MergedReader::new(readers))
    }

    /// The inputs, in input-index order.
    pub fn inputs(&self) -> &[CaptureReader] {
        &self.inputs
    }

    /// Frames delivered so far.
    pub fn frames_read(&self) -> u64 {
        self.number
    }

    /// The next frame of the set: the smallest next timestamp over all inputs,
    /// the lower input index on ties. `Ok(None)` once every input has ended.
    /// An `Err` ends only the input it names; later calls continue with the others.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        while let Some(i) = self.unpeeked.pop_front() {
            let Some(reader) = self.inputs.get_mut(i) else {
                continue;
            };
            // On error the reader is finished; it is simply not put back.
            if let Some(ts) = reader.peek_ts()? {
                self.heap.push(Reverse((ts, i)));
            }
        }
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(None);
        };
        // Its next timestamp is needed again after this frame.
        self.unpeeked.push_back(i);
        let Some(reader) = self.inputs.get_mut(i) else {
            return Ok(None);
        };
        // The peek above left a parsed frame waiting, so this cannot fail or end.
        let Some(mut frame) = reader.next_frame()? else {
            return Ok(None);
        };
        self.number = self.number.saturating_add(1);
        frame.number = self.number;
        Ok(Some(frame))
    }
}

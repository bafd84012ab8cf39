//! What a run reports: [`Summary`], built in one place (`Summary::new`, private).

use std::borrow::Cow;
use std::path::Path;

use pcapread::DecodeStats;
use reassembly::AssemblerStats;

use crate::flow::FlowRecord;
use crate::input::{InputReport, Problem, ReadingEnd};
use crate::spill::{RecordStore, Spilled};

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// One report per input file, in the order given (none for a
    /// [`FrameSource`](crate::FrameSource)).
    pub inputs: Vec<InputReport>,
    /// Frames read over all inputs.
    pub frames: u64,
    /// Frames the filter rejected.
    pub filtered_out: u64,
    /// Reading was stopped by the run's interrupt flag
    /// ([`Engine::interrupt`](crate::Engine::interrupt)) before the end of
    /// the input: everything read before was processed and every open flow
    /// completed, but the input was not read to its end.
    pub interrupted: bool,
    /// UDP datagrams not reassembled because UDP was not asked for.
    pub udp_ignored: u64,
    /// Segments not reassembled because their flow was not selected
    /// ([`EngineOptions::flows`](crate::EngineOptions::flows)).
    pub deselected: u64,
    /// Segments decoded but not reassembled because their flow is in
    /// another shard (`EngineOptions::shard`; 0 without it).
    pub other_shard: u64,
    /// Decoder counters (frames, link types, skips by reason): what one
    /// decoder of every frame would have counted.
    pub decode: DecodeStats,
    /// Assembler counters, summed over the workers.
    pub assembler: AssemblerStats,
    /// Sink runs: the flows whose records stayed in memory, sorted by id:
    /// every flow unless some were written out to disk ([`Self::spilled`]).
    /// Read all of them with [`Self::records`]. A Stream-level run keeps no
    /// records (its factories hold what they kept).
    pub flows: Vec<FlowRecord>,
    /// Sink runs: the flows whose records were written out to disk (more
    /// flows than [`EngineOptions::records_in_memory`](crate::EngineOptions::records_in_memory)).
    pub spilled: Spilled,
    /// Sink runs with [`Engine::each_record`](crate::Engine::each_record):
    /// the records handed to its consumer (then none are kept here).
    pub handed: u64,
}

/// The workers' counters at the end of a run.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) assembler: AssemblerStats,
    pub(crate) decode: DecodeStats,
    pub(crate) udp_ignored: u64,
    pub(crate) deselected: u64,
    pub(crate) other_shard: u64,
}

impl Summary {
    /// The summary of a run: what the reading side saw, what the workers
    /// counted, and the records kept.
    pub(crate) fn new(reading: ReadingEnd, counts: Counts, records: RecordStore) -> Summary {
        let (flows, spilled) = records.finish();
        Summary {
            inputs: reading.inputs,
            frames: reading.frames,
            filtered_out: reading.filtered_out,
            interrupted: reading.interrupted,
            udp_ignored: counts.udp_ignored,
            deselected: counts.deselected,
            other_shard: counts.other_shard,
            decode: counts.decode,
            assembler: counts.assembler,
            flows,
            spilled,
            handed: 0,
        }
    }

    /// Every flow's record, in id order (those in [`Self::flows`] merged
    /// with those spilled to disk; none when they were handed to
    /// [`Engine::each_record`](crate::Engine::each_record)'s consumer). A
    /// spill file that cannot be read back ends the sequence with its error.
    pub fn records(&self) -> impl Iterator<Item = anyhow::Result<Cow<'_, FlowRecord>>> + '_ {
        crate::spill::sorted(&self.flows, &self.spilled)
    }

    /// How many flows there are (in memory, spilled, and handed to a
    /// consumer).
    pub fn flow_count(&self) -> usize {
        self.flows.len() + self.spilled.len() + self.handed as usize
    }

    /// Whether every input was read to its end without problems (and the
    /// run was not [interrupted](Self::interrupted)).
    pub fn complete(&self) -> bool {
        !self.interrupted && self.inputs.iter().all(|i| i.problems.is_empty())
    }

    /// Every problem with its input.
    pub fn problems(&self) -> impl Iterator<Item = (&Path, &Problem)> {
        self.inputs
            .iter()
            .flat_map(|i| i.problems.iter().map(move |p| (i.path.as_path(), p)))
    }
}

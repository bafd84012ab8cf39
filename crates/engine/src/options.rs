//! What a run is asked to do: [`EngineOptions`], with the CLI's defaults.

use std::path::PathBuf;

use pcapread::DecoderConfig;
use reassembly::AssemblerConfig;

use crate::housekeeping::Housekeeping;
use crate::shard::Shard;

/// What goes into a direction's output where bytes are missing (sink runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GapMode {
    /// Nothing: missing bytes are left out (the flow record lists the gaps).
    #[default]
    Skip,
    /// Zero bytes: each gap is filled with `min(gap length, cap)` zeros.
    Zero {
        /// Most zero bytes written for one gap.
        cap: u64,
    },
}

impl GapMode {
    /// `"skip"` or `"zero"`.
    pub fn name(self) -> &'static str {
        match self {
            GapMode::Skip => "skip",
            GapMode::Zero { .. } => "zero",
        }
    }
}

/// Flow records each sink-run worker keeps in memory before writing them to
/// a temporary file (see [`crate::spill`]).
pub const RECORDS_IN_MEMORY: usize = crate::spill::SPILL_AT;

/// Everything a run needs to know besides where frames come from: typed
/// values only (a compiled filter, a loaded policy map inside
/// [`AssemblerConfig`]); nothing here is a path for the engine to open,
/// except where sink runs may put temporary files.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Reassemble UDP flows too (default: TCP only).
    pub udp: bool,
    /// Keep only the frames this tcpdump expression matches (before decoding).
    #[cfg(feature = "bpf")]
    pub filter: Option<crate::filter::BpfFilter>,
    /// Keep only the flows this tcpdump expression selects, matched against
    /// each flow's endpoints in either direction (both directions of a
    /// selected flow are kept; see [`crate::flow_filter`]).
    #[cfg(feature = "bpf")]
    pub flows: Option<crate::flow_filter::FlowFilter>,
    /// Worker threads, each with its own assembler (output is identical for
    /// any value). 0, the default, picks from the CPUs: one worker per CPU
    /// when the workers do all the work (Stream-level runs, sinks that
    /// split), one fewer when the reading thread also replays every sink
    /// call. One worker runs everything on the calling thread.
    pub threads: usize,
    /// Reassembly options (overlap policy and policy map, caps, timeouts).
    pub assembler: AssemblerConfig,
    /// Decoder options (defragmentation limits, tunnel depth).
    pub decoder: DecoderConfig,
    /// Housekeeping schedule (packet time).
    pub housekeeping: Housekeeping,
    /// Sink runs: what to write for missing bytes.
    pub gaps: GapMode,
    /// Sink runs: compute each direction's SHA-256 (the costliest step of
    /// reassembly without output).
    pub digest: bool,
    /// Sink runs: flow records each worker holds in memory before writing
    /// them to a temporary file ([`crate::spill`]).
    pub records_in_memory: usize,
    /// Sink runs: where that temporary file's directory is made (default:
    /// the system's temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// Reassemble only the flows of this shard (`--shard K/N`, see
    /// [`crate::shard`]); every frame is still read and decoded. `None`,
    /// the default: every flow.
    pub shard: Option<Shard>,
}

impl Default for EngineOptions {
    /// The CLI's defaults: TCP only, no filter, all cores, `first` overlap
    /// policy, gaps skipped, SHA-256 on.
    fn default() -> Self {
        EngineOptions {
            udp: false,
            #[cfg(feature = "bpf")]
            filter: None,
            #[cfg(feature = "bpf")]
            flows: None,
            threads: 0,
            assembler: AssemblerConfig::default(),
            decoder: DecoderConfig::default(),
            housekeeping: Housekeeping::default(),
            gaps: GapMode::Skip,
            digest: true,
            records_in_memory: RECORDS_IN_MEMORY,
            spill_dir: None,
            shard: None,
        }
    }
}

impl EngineOptions {
    /// The CLI's defaults ([`Default`]).
    pub fn new() -> EngineOptions {
        EngineOptions::default()
    }

    /// These options with `threads` workers.
    pub fn with_threads(mut self, threads: usize) -> EngineOptions {
        self.threads = threads;
        self
    }
}

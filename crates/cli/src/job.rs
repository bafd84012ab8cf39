//! One command's run of the engine: the capture files (or, for `live`, any
//! [`engine::Input`]), the engine options (with the policy map already
//! loaded), the conflicts file, the progress bar and the interrupt flag, around
//! [`engine::Engine`].

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use engine::{EachRecord, Engine, EngineOptions, Input, Sink, Summary};

use crate::conflicts::ConflictTee;
use crate::progress::Progress;

/// What a reading command reads and how.
#[derive(Debug, Clone)]
pub struct Job {
    /// Capture files, read as one timestamp-merged set (`-` is standard input).
    pub inputs: Vec<PathBuf>,
    /// Reassembly options (typed: the filter compiled lazily per link type,
    /// the policy map loaded).
    pub engine: EngineOptions,
    /// Write every overlap conflict to this file as JSON lines.
    pub conflicts: Option<PathBuf>,
    /// `--shard` extractions: write the replay position of each conflict
    /// line to this file (see [`crate::shard`]).
    pub conflicts_order: Option<PathBuf>,
    /// Show a progress bar on standard error (only when it is a terminal).
    pub progress: bool,
    /// Stop reading once this is set (see [`crate::interrupt`] and
    /// [`Engine::interrupt`]); `None`: read to the end.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Job {
    /// A job reading `inputs` with the CLI's defaults.
    pub fn new(inputs: Vec<PathBuf>) -> Job {
        Job {
            inputs,
            engine: EngineOptions::default(),
            conflicts: None,
            conflicts_order: None,
            progress: false,
            interrupt: None,
        }
    }

    /// Run into `sink`; errors are fatal ones and sink errors.
    pub fn run(&self, sink: &mut dyn Sink) -> anyhow::Result<Summary> {
        match self.run_partial(sink)? {
            (summary, None) => Ok(summary),
            (_, Some(e)) => Err(e),
        }
    }

    /// Run [`Self::inputs`] into `sink` (through the conflicts file when
    /// there is one), telling apart errors before anything was done (`Err`)
    /// from an output error that stopped the run part way (returned beside
    /// the summary, see [`Engine::run_sink_partial`]).
    pub fn run_partial(
        &self,
        sink: &mut dyn Sink,
    ) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
        self.run_input_partial(Input::Files(self.inputs.clone()), sink)
    }

    /// [`Self::run_partial`] on `input` in place of [`Self::inputs`] (the
    /// live capture's frame source). The progress bar follows capture files
    /// only.
    pub fn run_input_partial(
        &self,
        input: Input<'_>,
        sink: &mut dyn Sink,
    ) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
        self.run_engine(input, sink, None)
    }

    /// Run [`Self::inputs`] into `sink`, handing every flow record to
    /// `each` in id order while the run goes on (see
    /// [`Engine::each_record`]): the summary keeps none. Errors as
    /// [`Self::run`]'s, `each`'s included.
    pub fn run_each<'e>(
        &'e self,
        sink: &mut dyn Sink,
        each: &'e mut EachRecord<'e>,
    ) -> anyhow::Result<Summary> {
        match self.run_engine(Input::Files(self.inputs.clone()), sink, Some(each))? {
            (summary, None) => Ok(summary),
            (_, Some(e)) => Err(e),
        }
    }

    fn run_engine<'e>(
        &'e self,
        input: Input<'e>,
        sink: &mut dyn Sink,
        each: Option<&'e mut EachRecord<'e>>,
    ) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
        let total = match &input {
            Input::Files(paths) => paths
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum(),
            Input::Frames(_) => 0,
        };
        let mut bar = Progress::new(self.progress && matches!(input, Input::Files(_)), total);
        let mut engine = Engine::new(&self.engine, input).progress(&mut bar);
        if let Some(flag) = &self.interrupt {
            engine = engine.interrupt(flag);
        }
        if let Some(each) = each {
            engine = engine.each_record(each);
        }
        let outcome = match &self.conflicts {
            Some(path) => {
                let mut tee = ConflictTee::create(path, sink)?;
                if let Some(order) = &self.conflicts_order {
                    tee.record_order(order)?;
                }
                let (summary, stop) = engine.run_sink_partial(&mut tee)?;
                let stop = stop.or_else(|| tee.finish().err());
                (summary, stop)
            }
            None => engine.run_sink_partial(sink)?,
        };
        bar.finish();
        Ok(outcome)
    }
}

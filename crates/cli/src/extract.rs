//! `streamcut extract`: every flow direction's bytes to files, and `manifest.json`.
//!
//! The capture files of the [`Job`] go through one engine run into an
//! [`Output`] (the same object `streamcut live` writes through): see
//! [`crate::output`] for the directory rules, the manifest written last, and
//! what happens after an output error (a full disk): the manifest is still
//! written, marked incomplete, and [`run`] returns a [`Stopped`] error.

use std::path::PathBuf;

use engine::Input;

use crate::input_digest::Digests;
use crate::job::Job;
use crate::manifest;
use crate::output::{Output, OutputOptions};

pub use crate::output::{
    Extracted, ManifestOutcome, NotEmpty, Stopped, MANIFEST, MANIFEST_RESERVE, RESERVE,
};

/// Options of an extraction.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// What to read and how to reassemble it.
    pub job: Job,
    /// Where and how to write it.
    pub output: OutputOptions,
    /// Hash each input file for the manifest (`--no-input-digest` turns it
    /// off; sizes are recorded either way).
    pub input_digest: bool,
}

impl ExtractOptions {
    /// Defaults: files layout, default naming, 4096 open files.
    pub fn new(job: Job, out_dir: impl Into<PathBuf>) -> ExtractOptions {
        ExtractOptions {
            job,
            output: OutputOptions::new(out_dir),
            input_digest: true,
        }
    }
}

/// Run an extraction: write the streams and the manifest into the output
/// directory.
///
/// An error before anything was written (bad options, an output directory
/// that cannot be used) is returned as it is; an error that stops the run
/// part way is a [`Stopped`] (see [`crate::output`]).
pub fn run(opts: &ExtractOptions) -> anyhow::Result<Extracted> {
    if opts.output.http.is_some() && opts.job.engine.shard.is_some() {
        crate::shard::http_allowed(opts.output.layout, opts.job.conflicts.is_some())?;
    }
    let mut out = Output::create(&opts.output)?;
    // Hashed beside the run (see `crate::input_digest`).
    let digests = Digests::spawn(
        &opts.job.inputs,
        opts.input_digest,
        opts.job.interrupt.clone(),
    );
    let ran = out.run(&opts.job, Input::Files(opts.job.inputs.clone()));
    let digests = digests.join();
    out.finish(&opts.job.engine, ran?, |summary| {
        let mut inputs = manifest::inputs(summary);
        for (i, d) in inputs.iter_mut().zip(digests) {
            i.size = d.size;
            i.sha256 = d.sha256;
        }
        inputs
    })
}

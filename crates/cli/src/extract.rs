//! `streamcut extract`: every flow direction's bytes to files, and `manifest.json`.
//!
//! The output directory is created if missing; a directory that already has
//! entries is refused unless `force` is set (then files with the same names
//! are overwritten and other entries are left alone). `manifest.json` is
//! written last, through a temporary file renamed into place, so a manifest
//! present means the extraction it describes finished (nothing is fsynced:
//! durability across a crash of the machine is the file system's).

use std::fs;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use reassembly::Dir;
use serde::Serialize;

use crate::engine::{self, EngineOptions, Summary};
use crate::files::{FileSink, Layout};
use crate::flow::FlowRecord;
use crate::manifest::{self, Flows, ManifestOut, Tool, Totals};
use crate::naming::{Namer, Naming};
use crate::sink::Sink as _;

/// Name of the manifest file in the output directory.
pub const MANIFEST: &str = "manifest.json";

/// Options of an extraction.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// What to read and how to reassemble it.
    pub engine: EngineOptions,
    /// The output directory.
    pub out_dir: PathBuf,
    /// Allow a non-empty output directory.
    pub force: bool,
    /// One file per direction, or one packed file.
    pub layout: Layout,
    /// How files are named.
    pub naming: Naming,
    /// Most files open at once.
    pub max_open_files: usize,
}

impl ExtractOptions {
    /// Defaults: files layout, default naming, 4096 open files.
    pub fn new(engine: EngineOptions, out_dir: impl Into<PathBuf>) -> ExtractOptions {
        ExtractOptions {
            engine,
            out_dir: out_dir.into(),
            force: false,
            layout: Layout::Files,
            naming: Naming::Default,
            max_open_files: 4096,
        }
    }
}

/// The output directory has entries and `--force` was not given.
#[derive(Debug, thiserror::Error)]
#[error("output directory {0} is not empty (use --force to write into it anyway)")]
pub struct NotEmpty(pub PathBuf);

/// What an extraction produced.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// The engine's summary (its flows are the manifest's, in the same order).
    pub summary: Summary,
    /// The manifest's totals.
    pub totals: Totals,
}

/// Run an extraction: write the streams and the manifest into `opts.out_dir`.
pub fn run(opts: &ExtractOptions) -> anyhow::Result<Extracted> {
    prepare_dir(&opts.out_dir, opts.force)?;
    let mut sink = FileSink::new(
        &opts.out_dir,
        opts.layout,
        Namer::new(opts.naming),
        opts.max_open_files,
    )?;
    let summary = engine::run(&opts.engine, &mut sink)?;
    sink.finish()?;
    let totals = manifest::record_totals(&summary);
    let manifest = ManifestOut {
        tool: Tool::this(),
        inputs: manifest::inputs(&summary),
        options: manifest::options(&opts.engine, opts.layout.name(), opts.naming),
        complete: summary.complete(),
        totals: totals.clone(),
        flows: Flows {
            records: &summary.flows,
            place: |r: &FlowRecord, dir: Dir| sink.placement(r, dir),
        },
    };
    write_manifest(&opts.out_dir, &manifest)?;
    Ok(Extracted { summary, totals })
}

/// Create `dir` if needed; refuse a non-empty one unless `force`.
pub(crate) fn prepare_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !force && entries.next().is_some() {
        return Err(NotEmpty(dir.to_path_buf()).into());
    }
    Ok(())
}

/// Write `manifest.json` (pretty JSON, trailing newline) atomically.
pub(crate) fn write_manifest(dir: &Path, m: &impl Serialize) -> anyhow::Result<()> {
    let tmp = dir.join(".manifest.json.tmp");
    let path = dir.join(MANIFEST);
    let f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(256 * 1024, f);
    serde_json::to_writer_pretty(&mut w, m)
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(w.write_all(b"\n")?))
        .and_then(|()| Ok(w.flush()?))
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

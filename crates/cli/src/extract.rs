//! `streamcut extract`: every flow direction's bytes to files, and `manifest.json`.
//!
//! The output directory is created if missing; a directory that already has
//! entries is refused unless `force` is set (then files with the same names
//! are overwritten and other entries are left alone). `manifest.json` is
//! written last, through a temporary file renamed into place, so a manifest
//! present means the extraction it describes finished.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::engine::{self, EngineOptions, Summary};
use crate::files::{FileSink, Layout};
use crate::manifest::{self, Flow, Manifest, Placement, Tool};
use crate::naming::{Namer, Naming};

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
    /// Defaults: files layout, default naming, 256 open files.
    pub fn new(engine: EngineOptions, out_dir: impl Into<PathBuf>) -> ExtractOptions {
        ExtractOptions {
            engine,
            out_dir: out_dir.into(),
            force: false,
            layout: Layout::Files,
            naming: Naming::Default,
            max_open_files: 256,
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
    /// The engine's summary.
    pub summary: Summary,
    /// The manifest as written.
    pub manifest: Manifest,
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
    let placements = sink.placements();
    let flows: Vec<Flow> = summary
        .flows
        .iter()
        .map(|r| {
            let p = placements.get(&r.head.id);
            Flow::new(r, |dir| {
                let i = usize::from(dir == reassembly::Dir::ServerToClient);
                p.and_then(|p| p.get(i).cloned())
                    .unwrap_or(Placement::File(None))
            })
        })
        .collect();
    let manifest = Manifest {
        tool: Tool::this(),
        inputs: manifest::inputs(&summary),
        options: manifest::options(&opts.engine, opts.layout.name(), opts.naming),
        complete: summary.complete(),
        totals: manifest::totals(&summary, &flows),
        flows,
    };
    write_manifest(&opts.out_dir, &manifest)?;
    Ok(Extracted { summary, manifest })
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
pub(crate) fn write_manifest(dir: &Path, m: &Manifest) -> anyhow::Result<()> {
    let tmp = dir.join(".manifest.json.tmp");
    let path = dir.join(MANIFEST);
    let mut f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut text = serde_json::to_vec_pretty(m)?;
    text.push(b'\n');
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

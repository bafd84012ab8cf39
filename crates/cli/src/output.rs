//! The output of `extract` and `live`: a directory of flow files (one per
//! flow direction, or one packed `streams.bin`) and `manifest.json`.
//!
//! [`Output`] is the one object both commands write through; they differ
//! only in where the frames come from ([`engine::Input::Files`] for
//! `extract`, the live DPDK source as [`engine::Input::Frames`] for `live`)
//! and in the manifest's `inputs` entry. Its life:
//! 1. [`Output::create`]: the directory is created if missing; a directory
//!    that already has entries is refused unless `force` is set (then files
//!    with the same names are overwritten, an earlier `manifest.json` is
//!    removed at the start, and other entries are left alone); room is
//!    reserved for the manifest; the [`FileSink`] is made.
//! 2. [`Output::run`]: one engine run of a [`Job`] into the sink (which the
//!    engine splits per worker when the layout allows), each flow file
//!    getting its flow's last packet time as its modification time as it
//!    closes (files layout), flow records past the in-memory budget
//!    spilling beside the output.
//! 3. [`Output::finish`]: the files are flushed, and `manifest.json` is
//!    written last, through a temporary file renamed into place, so a
//!    manifest present means the run it describes ended (nothing is
//!    fsynced: durability across a crash of the machine is the file
//!    system's).
//!
//! # Output errors
//! An error writing the output (a full disk) stops the run, and the manifest
//! is still written: `complete: false`, `error` saying what happened, and
//! only the flows whose bytes were all written before the error (the files
//! of the others were cut short). So that it fits on a full disk,
//! [`MANIFEST_RESERVE`] bytes are set aside in [`RESERVE`] when the output
//! is created (which also checks early that the directory can be written)
//! and freed just before the manifest is written; if the whole flow list
//! still does not fit, a manifest without it is written instead.
//! [`Output::finish`] then returns a [`Stopped`] error.
//!
//! # Interrupts
//! A run whose job was interrupted ([`crate::interrupt`]: SIGINT, SIGTERM)
//! ends as at the end of its input, and its manifest is written as usual
//! but marked incomplete with `"error": "interrupted"`: it lists every flow
//! (each was completed and written in full), the inputs' frame counts say
//! how far reading came. The reserve file is removed in every case, and on
//! an exit at a second signal too.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use reassembly::Dir;

use engine::{EngineOptions, FlowRecord, Input, Placement, Sink as _, Summary};

use crate::files::{FileSink, Layout, STREAMS_BIN};
use crate::http_objects::{HttpObjects, HttpSink, ENTITIES, HTTP_DIR, OBJECTS};
use crate::job::Job;
use crate::manifest::{self, Flows, ManifestOut, Tool, Totals, FLOWS_FILE};
use crate::naming::{Namer, Naming};
use crate::run_info::{self, RUN_FILE};
use crate::shard::ShardRun;

/// Name of the manifest file in the output directory.
pub const MANIFEST: &str = "manifest.json";

/// Name of the file holding room for the manifest during a run.
pub const RESERVE: &str = ".streamcut-reserve";

/// Bytes set aside for the manifest during a run (about 700 flows' worth).
pub const MANIFEST_RESERVE: usize = 1 << 20;

/// Where and how streams are written.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// The output directory.
    pub dir: PathBuf,
    /// Allow a non-empty output directory.
    pub force: bool,
    /// One file per direction, or one packed file.
    pub layout: Layout,
    /// How files are named.
    pub naming: Naming,
    /// Most files open at once.
    pub max_open_files: usize,
    /// `--http`: HTTP message bodies to `DIR/http/`, named so.
    pub http: Option<http::ObjectNaming>,
    /// Where the flow list goes.
    pub manifest_flows: ManifestFlows,
}

/// Where the flow list is written (`--manifest-flows`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ManifestFlows {
    /// In `manifest.json` only.
    Inline,
    /// In `flows.jsonl` only: `manifest.json` keeps the run summary.
    Jsonl,
    /// In both (the default: scripts reading `manifest.json`'s `flows`
    /// keep working, and streaming readers have `flows.jsonl`).
    #[default]
    Both,
}

impl ManifestFlows {
    /// `manifest.json` lists the flows.
    pub fn inline(self) -> bool {
        self != ManifestFlows::Jsonl
    }

    /// `flows.jsonl` is written.
    pub fn jsonl(self) -> bool {
        self != ManifestFlows::Inline
    }
}

impl OutputOptions {
    /// Defaults: files layout, default naming, 4096 open files.
    pub fn new(dir: impl Into<PathBuf>) -> OutputOptions {
        OutputOptions {
            dir: dir.into(),
            force: false,
            layout: Layout::Files,
            naming: Naming::Default,
            max_open_files: 4096,
            http: None,
            manifest_flows: ManifestFlows::default(),
        }
    }
}

/// The output directory has entries and `--force` was not given.
#[derive(Debug, thiserror::Error)]
#[error("output directory {0} is not empty (use --force to write into it anyway)")]
pub struct NotEmpty(pub PathBuf);

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// The engine's summary (its flows are the manifest's, in the same order).
    pub summary: Summary,
    /// The manifest's totals.
    pub totals: Totals,
}

/// A run stopped part way by an error (a full disk): what happened, and
/// whether a manifest describing the partial output was written. The CLI
/// exits with status 1 when it was, 2 when not.
#[derive(Debug)]
pub struct Stopped {
    /// What stopped the run (with its causes).
    pub error: anyhow::Error,
    /// The manifest written, if any.
    pub manifest: ManifestOutcome,
    /// The manifest's path.
    pub path: PathBuf,
    /// What was read before the error; its in-memory flows are the ones
    /// written in full (records spilled to disk are filtered as the manifest
    /// is written).
    pub summary: Box<Summary>,
}

/// What became of the manifest of a [`Stopped`] run.
#[derive(Debug)]
pub enum ManifestOutcome {
    /// Written (marked incomplete), listing this many flows written in full.
    Listed(usize),
    /// Written (marked incomplete) without its flow list, which did not fit;
    /// this many flows had been written in full.
    Unlisted(usize),
    /// Not written, for this reason.
    Failed(anyhow::Error),
}

impl Stopped {
    /// Whether a manifest (marked incomplete) was written.
    pub fn manifest_written(&self) -> bool {
        !matches!(self.manifest, ManifestOutcome::Failed(_))
    }

    /// One sentence on what the output directory holds now.
    pub fn outcome(&self) -> String {
        let path = self.path.display();
        match &self.manifest {
            ManifestOutcome::Listed(n) => format!(
                "the output is partial: {path} is marked incomplete and lists the {n} flows \
                 written in full before the error; files it does not list were cut short"
            ),
            ManifestOutcome::Unlisted(n) => format!(
                "the output is partial: {path} is marked incomplete; the list of the {n} \
                 flows written in full before the error did not fit on the disk"
            ),
            ManifestOutcome::Failed(e) => format!(
                "the output is partial and not described: {path} could not be written: {e:#}"
            ),
        }
    }
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}; {}", self.error, self.outcome())
    }
}

impl std::error::Error for Stopped {}

/// An engine run into an [`Output`]: the summary, and the output error that
/// stopped it part way, if one did.
#[derive(Debug)]
pub struct Ran {
    /// What was read and reassembled.
    pub summary: Summary,
    /// The error that stopped the run part way (see the module docs).
    pub stop: Option<anyhow::Error>,
}

/// One output directory being written (see the module docs).
#[derive(Debug)]
pub struct Output {
    opts: OutputOptions,
    sink: FileSink,
    reserve: Reserve,
    /// A `--shard` run's facts for its manifest block.
    shard: Option<ShardRun>,
    /// `--http`: the objects the run found.
    http: Option<HttpObjects>,
    /// When the run started (for `run.json`).
    started: run_info::Started,
}

impl Output {
    /// Prepare the directory (refusing a non-empty one unless `force`),
    /// reserve room for the manifest, remove an earlier manifest, and open
    /// the sink. Errors here come before anything was written.
    pub fn create(opts: &OutputOptions) -> anyhow::Result<Output> {
        let started = run_info::Started::now();
        let dir = &opts.dir;
        prepare_dir(dir, opts.force)?;
        let reserve = Reserve::create(dir)?;
        // An earlier run's manifest and flow list must not outlive the
        // files they describe.
        for name in [MANIFEST, FLOWS_FILE, RUN_FILE] {
            let old = dir.join(name);
            match fs::remove_file(&old) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(
                        anyhow::Error::from(e).context(format!("removing {}", old.display()))
                    );
                }
                _ => {}
            }
        }
        let sink = FileSink::new(
            dir,
            opts.layout,
            Namer::new(opts.naming),
            opts.max_open_files,
        )?;
        Ok(Output {
            opts: opts.clone(),
            sink,
            reserve,
            shard: None,
            http: None,
            started,
        })
    }

    /// The options it was created with.
    pub fn options(&self) -> &OutputOptions {
        &self.opts
    }

    /// Run `job`'s engine on `input` into the files (through `job`'s
    /// conflicts file, with its progress bar). Flow records past the
    /// in-memory budget go to a temporary directory beside the output,
    /// unless the job names one. `Err` is a fatal error (nothing useful was
    /// written: a filter that does not compile); an output error that
    /// stopped the run part way is [`Ran::stop`].
    pub fn run(&mut self, job: &Job, input: Input<'_>) -> anyhow::Result<Ran> {
        let mut job = job.clone();
        job.engine
            .spill_dir
            .get_or_insert_with(|| self.opts.dir.clone());
        if let Some((shard, packed)) =
            ShardRun::prepare(&self.opts.dir, &mut job, self.opts.layout)?
        {
            if let Some(p) = packed {
                self.sink.record_order(&p)?;
            }
            self.shard = Some(shard);
        }
        let (summary, stop) = match self.opts.http {
            Some(naming) => {
                // Each part's object store keeps partial files open too.
                self.sink.leave_descriptors_per_part(http::OPEN_FILES);
                let (mut sink, objects) =
                    HttpSink::new(Box::new(&mut self.sink), &self.opts.dir, naming)?;
                let ran = job.run_input_partial(input, &mut sink)?;
                sink.finish_http();
                self.http = Some(objects);
                ran
            }
            None => job.run_input_partial(input, &mut self.sink)?,
        };
        Ok(Ran { summary, stop })
    }

    /// Flush the files and write the manifest of `ran`, run with `engine`'s
    /// options: its `inputs` block is `inputs(summary)`. A run stopped part
    /// way (or whose files could not be flushed) is a [`Stopped`] error.
    pub fn finish(
        mut self,
        engine: &EngineOptions,
        ran: Ran,
        inputs: impl FnOnce(&Summary) -> Vec<manifest::Input>,
    ) -> anyhow::Result<Extracted> {
        let Ran { mut summary, stop } = ran;
        let dir = self.opts.dir.as_path();
        // Flush everything; after an error too, keeping what fits.
        let mut http_objects = None;
        let finished = self.sink.finish().and_then(|()| match &self.http {
            Some(objects) => objects.write(dir).map(|n| http_objects = Some(n)),
            None => Ok(()),
        });
        let stop = match stop {
            Some(e) => Some(e),
            None => finished.err(),
        };
        let sink = &self.sink;
        let keep = listed(dir, sink, stop.is_some());
        let keep: &(dyn Fn(&FlowRecord) -> bool + Sync) = &keep;
        summary.flows.retain(keep);
        // With no error every flow the sink closed is listed, and the sink
        // counted them as they closed (no pass over the records here).
        let totals = match &stop {
            None => sink.closed_totals().with_run(&summary),
            Some(_) => manifest::record_totals(&summary, keep)?,
        };
        let mut manifest = ManifestOut {
            schema: manifest::SCHEMA,
            tool: Tool::this(),
            inputs: inputs(&summary),
            options: manifest::Options {
                http: self.opts.http.map(|n| n.name().to_string()),
                ..manifest::options(engine, self.opts.layout.name(), self.opts.naming)
            },
            http: http_objects.map(|listed| manifest::HttpOut {
                file: format!("{HTTP_DIR}/{OBJECTS}"),
                objects: listed.objects,
                entities_file: format!("{HTTP_DIR}/{ENTITIES}"),
                entities: listed.entities,
            }),
            shard: self.shard.as_ref().map(|s| {
                s.block(
                    engine,
                    self.opts.layout,
                    self.opts.naming,
                    summary.other_shard,
                )
            }),
            complete: summary.complete() && stop.is_none(),
            error: match &stop {
                Some(e) => Some(format!("{e:#}")),
                None if summary.interrupted => Some(crate::interrupt::INTERRUPTED.to_string()),
                None => None,
            },
            totals: totals.clone(),
            flows_file: self
                .opts
                .manifest_flows
                .jsonl()
                .then(|| FLOWS_FILE.to_string()),
            flows: Flows {
                summary: &summary,
                keep,
                place: |r: &FlowRecord, dir: Dir| sink.placement(r, dir),
                inline: self.opts.manifest_flows.inline(),
            },
        };
        let run = self.started.info(None);
        let Some((error, outcome)) = write_final(dir, &run, &mut manifest, &mut self.reserve, stop)
        else {
            return Ok(Extracted { summary, totals });
        };
        Err(Stopped {
            error,
            manifest: outcome,
            path: dir.join(MANIFEST),
            summary: Box::new(summary),
        }
        .into())
    }
}

/// Write `run.json`, the flow list (`flows.jsonl`, when asked for) and then
/// the manifest of a run into `dir`, first freeing `reserve`. After `stop` (an
/// error that cut the run short) they list the flows written in full; when
/// even that list does not fit, the manifest is written without it (and
/// without `flows.jsonl`). Returns `None` when all went well, else the
/// error and what became of the manifest.
fn write_final<P: Fn(&FlowRecord, Dir) -> Placement + Sync>(
    dir: &Path,
    run: &run_info::RunInfo,
    manifest: &mut ManifestOut<'_, P>,
    reserve: &mut Reserve,
    stop: Option<anyhow::Error>,
) -> Option<(anyhow::Error, ManifestOutcome)> {
    reserve.release();
    let listed = usize::try_from(manifest.totals.flows).unwrap_or(usize::MAX);
    let written = run_info::write(dir, run).and_then(|()| write_lists(dir, manifest));
    match (written, stop) {
        (Ok(()), None) => None,
        (Ok(()), Some(e)) => Some((e, ManifestOutcome::Listed(listed))),
        (Err(full), stop) => {
            // The flow list did not fit: the rest of the manifest may.
            let what = format!("{full:#}");
            let error = stop.unwrap_or(full);
            manifest.complete = false;
            manifest.error = Some(format!(
                "{error:#}; the list of the {listed} flows written in full did not fit ({what})"
            ));
            manifest.flows.keep = &|_| false;
            if manifest.flows_file.take().is_some() {
                let _ = fs::remove_file(dir.join(FLOWS_FILE));
            }
            let outcome = match write_manifest(dir, manifest) {
                Ok(()) => ManifestOutcome::Unlisted(listed),
                Err(e) => ManifestOutcome::Failed(e),
            };
            Some((error, outcome))
        }
    }
}

/// Set `path`'s modification time (not following a symlink's target is not
/// needed: the sink created the file).
pub fn set_mtime(path: &Path, when: std::time::SystemTime) -> io::Result<()> {
    File::options().write(true).open(path)?.set_modified(when)
}

/// Which flow records the manifest lists: all of them, or after an output
/// error (`stopped`) those whose bytes are all on disk. The engine kept the
/// records of the flows closed before the error; packed ones must also lie
/// inside what reached `streams.bin`.
fn listed<'a>(dir: &Path, sink: &'a FileSink, stopped: bool) -> impl Fn(&FlowRecord) -> bool + 'a {
    let packed_len = fs::metadata(dir.join(STREAMS_BIN)).map_or(0, |m| m.len());
    move |r| {
        !stopped
            || [Dir::ClientToServer, Dir::ServerToClient]
                .into_iter()
                .all(|d| match sink.placement(r, d) {
                    Placement::Packed { offset, length, .. } => {
                        offset.saturating_add(length) <= packed_len
                    }
                    _ => true,
                })
    }
}

/// Room kept for the manifest in the output directory during a run: a file
/// of [`MANIFEST_RESERVE`] bytes, removed by [`Reserve::release`] or when
/// dropped. (Best effort: a file system that compresses or deduplicates may
/// not keep the room.)
#[derive(Debug)]
struct Reserve(Option<PathBuf>);

impl Reserve {
    /// Write the reserve into `dir`; an error names the file (a read-only or
    /// full file system is found here, before any output).
    fn create(dir: &Path) -> anyhow::Result<Reserve> {
        let path = dir.join(RESERVE);
        let fill = |path: &Path| -> io::Result<()> {
            let mut f = File::create(path)?;
            f.write_all(&vec![0u8; MANIFEST_RESERVE])?;
            f.flush()
        };
        if let Err(e) = fill(&path) {
            let _ = fs::remove_file(&path);
            return Err(anyhow::Error::from(e)
                .context(format!("creating {}", path.display()))
                .context(format!(
                    "cannot write into the output directory {}",
                    dir.display()
                )));
        }
        crate::interrupt::remove_on_exit(&path);
        Ok(Reserve(Some(path)))
    }

    /// Free the room.
    fn release(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(&p);
            crate::interrupt::forget(&p);
        }
    }
}

impl Drop for Reserve {
    fn drop(&mut self) {
        self.release();
    }
}

/// Create `dir` if needed; refuse a non-empty one unless `force`.
fn prepare_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    if fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        anyhow::bail!(
            "output directory {} exists and is not a directory",
            dir.display()
        );
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !force && entries.next().is_some() {
        return Err(NotEmpty(dir.to_path_buf()).into());
    }
    Ok(())
}

/// Write `flows.jsonl` (when asked for) and `manifest.json` side by side:
/// with many flows both are long lists (each reads the records back), and
/// one thread each halves the time the run ends with.
fn write_lists<P: Fn(&FlowRecord, Dir) -> Placement + Sync>(
    dir: &Path,
    manifest: &ManifestOut<'_, P>,
) -> anyhow::Result<()> {
    std::thread::scope(|scope| {
        let lines = manifest
            .flows_file
            .as_ref()
            .map(|_| scope.spawn(|| write_flows_file(dir, &manifest.flows)));
        let whole = write_manifest(dir, manifest);
        let lines = match lines.map(|t| t.join()) {
            None => Ok(()),
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(anyhow::anyhow!("writing {FLOWS_FILE} failed")),
        };
        lines.and(whole)
    })
}

/// Write `flows.jsonl` (one flow a line, in id order) atomically; on an
/// error the temporary file is removed.
fn write_flows_file<P: Fn(&FlowRecord, Dir) -> Placement>(
    dir: &Path,
    flows: &Flows<'_, P>,
) -> anyhow::Result<()> {
    atomic(dir, FLOWS_FILE, |w| flows.write_lines(w))
}

/// Write `dir/name` through a temporary file renamed into place; on an
/// error the temporary file is removed.
fn atomic(
    dir: &Path,
    name: &str,
    body: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let write = || -> anyhow::Result<()> {
        let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = BufWriter::with_capacity(256 * 1024, f);
        body(&mut w)
            .and_then(|()| Ok(w.flush()?))
            .with_context(|| format!("writing {}", tmp.display()))?;
        drop(w);
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Write `manifest.json` (pretty JSON, trailing newline) atomically; on an
/// error the temporary file is removed.
fn write_manifest<P: Fn(&FlowRecord, Dir) -> Placement>(
    dir: &Path,
    m: &ManifestOut<'_, P>,
) -> anyhow::Result<()> {
    atomic(dir, MANIFEST, |w| {
        m.write_pretty(&mut *w)?;
        Ok(w.write_all(b"\n")?)
    })
}

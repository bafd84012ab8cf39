//! What a `--shard K/N` extraction leaves beside its output for
//! `streamcut merge`: the manifest's `shard` block, and the replay order of
//! what one run over everything writes in one global order.
//!
//! The packed `streams.bin` and the conflicts file are written in the
//! engine's replay order ((input position, flow id), see
//! [`engine::Sink::position`]). A shard run records the position of each
//! packed direction and of each conflict line in `DIR/.streamcut-shard/`
//! ([`PACKED_ORDER`], [`CONFLICTS_ORDER`]: one tab-separated line each, in
//! the order written), so that `merge` can interleave the shards into the
//! order of a single run. Merge reads these files and copies none of them.

use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::files::Layout;
use crate::job::Job;
use crate::manifest::{self, ShardOut};

/// The directory, inside a shard's output directory, of its order files.
pub const ORDER_DIR: &str = ".streamcut-shard";

/// Packed layout: `POSITION \t FLOW \t c2s|s2c \t OFFSET \t LENGTH` per
/// direction appended to `streams.bin`, in that order.
pub const PACKED_ORDER: &str = "packed.tsv";

/// `POSITION \t FLOW` per line of the conflicts file, in that order.
pub const CONFLICTS_ORDER: &str = "conflicts.tsv";

/// A line-per-record order file being written.
#[derive(Debug)]
pub struct OrderFile {
    out: BufWriter<File>,
    path: PathBuf,
}

impl OrderFile {
    /// Create (truncate) `path`.
    pub fn create(path: &Path) -> anyhow::Result<OrderFile> {
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(OrderFile {
            out: BufWriter::new(f),
            path: path.to_path_buf(),
        })
    }

    /// Append one line of tab-separated fields.
    pub fn line(&mut self, fields: &[&dyn std::fmt::Display]) -> anyhow::Result<()> {
        let mut first = true;
        for f in fields {
            if !first {
                self.out.write_all(b"\t")?;
            }
            first = false;
            write!(self.out, "{f}")?;
        }
        self.out
            .write_all(b"\n")
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Flush.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// What a shard extraction knows before it runs, for its manifest block.
#[derive(Debug, Clone)]
pub struct ShardRun {
    shard: engine::Shard,
    input_sizes: Vec<Option<u64>>,
    conflicts: Option<String>,
}

impl ShardRun {
    /// Prepare a shard run of `job` into `dir` (if the job is one): make
    /// the order directory, point the job's conflicts order there, and
    /// return the packed order file's path (packed layout) with the run's
    /// facts. A conflicts file outside `dir` is refused (merge gathers it
    /// from the shard directories).
    pub fn prepare(
        dir: &Path,
        job: &mut Job,
        layout: Layout,
    ) -> anyhow::Result<Option<(ShardRun, Option<PathBuf>)>> {
        let Some(shard) = job.engine.shard else {
            return Ok(None);
        };
        let conflicts = match &job.conflicts {
            None => None,
            Some(c) => Some(inside(dir, c)?),
        };
        let order_dir = dir.join(ORDER_DIR);
        fs::create_dir_all(&order_dir)
            .with_context(|| format!("creating {}", order_dir.display()))?;
        if conflicts.is_some() {
            job.conflicts_order = Some(order_dir.join(CONFLICTS_ORDER));
        }
        let packed = (layout == Layout::Packed).then(|| order_dir.join(PACKED_ORDER));
        let input_sizes = job
            .inputs
            .iter()
            .map(|p| {
                (p.as_os_str() != "-")
                    .then(|| fs::metadata(p).ok().map(|m| m.len()))
                    .flatten()
            })
            .collect();
        Ok(Some((
            ShardRun {
                shard,
                input_sizes,
                conflicts,
            },
            packed,
        )))
    }

    /// The manifest block of the run, `other_shard` segments left to the
    /// other shards.
    pub fn block(
        &self,
        engine: &engine::EngineOptions,
        layout: Layout,
        naming: crate::naming::Naming,
        other_shard: u64,
    ) -> ShardOut {
        ShardOut {
            index: self.shard.index(),
            count: self.shard.count(),
            other_shard_packets: other_shard,
            input_sizes: self.input_sizes.clone(),
            options_digest: manifest::options_digest(engine, layout.name(), naming),
            conflicts: self.conflicts.clone(),
        }
    }
}

/// `file` relative to `dir`, when it lies inside it (as a plain relative
/// path with `/` separators).
fn inside(dir: &Path, file: &Path) -> anyhow::Result<String> {
    let abs =
        |p: &Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
    let (d, f) = (abs(dir)?, abs(file)?);
    let rel = f.strip_prefix(&d).ok().filter(|r| {
        r.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            && r.components().next().is_some()
    });
    let Some(rel) = rel else {
        anyhow::bail!(
            "with --shard, --conflicts must name a file inside the output directory {} \
             (streamcut merge gathers it from each shard's directory); got {}",
            dir.display(),
            file.display()
        );
    };
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

/// Whether `--http` may go with `--shard`: with the files layout and no
/// conflicts file. Reading HTTP needs each flow's live deliveries, so a run
/// whose sink needs one global order (the packed `streams.bin`, the
/// conflicts file) then runs on one worker and writes in the assembler's
/// order at each input position, which is not always the flow id order by
/// which `merge` interleaves the shards; the merge could differ from one
/// run, so such a shard run is refused.
pub fn http_allowed(layout: Layout, conflicts: bool) -> anyhow::Result<()> {
    if layout == Layout::Packed {
        anyhow::bail!(
            "--http with --shard needs the files layout (not --layout packed): \
             merge could not rebuild a single run's streams.bin order"
        );
    }
    if conflicts {
        anyhow::bail!(
            "--http with --shard cannot write a conflicts file (--conflicts): \
             merge could not rebuild a single run's order of its lines"
        );
    }
    Ok(())
}

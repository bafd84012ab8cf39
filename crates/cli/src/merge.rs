//! `streamcut merge SHARD_DIR... -o DIR`: the output directories of the N
//! runs of `extract --shard K/N` joined into the directory one `extract` of
//! the same inputs with the same options writes, byte for byte.
//!
//! 1. **Check, before writing anything.** Every directory holds a complete
//!    shard manifest (a `shard` block, no `error`); all were written by the
//!    same version from the same inputs (paths, formats, frames, problems,
//!    sizes, SHA-256 digests when recorded), with the same options (the `options` block and the digest of
//!    all the others) and the same N, and every K in `0..N` comes exactly
//!    once; the output directory is missing or empty. Any failure is an
//!    error (exit status 2) and nothing is written.
//! 2. **Stream files.** Files layout: each flow direction's file is
//!    hard-linked into DIR (moved with `--move`; copied when DIR is on
//!    another file system, keeping its modification time). Packed layout: `streams.bin` is rewritten with
//!    the directions in the order a single run appends them, from each
//!    shard's order file ([`crate::shard`]), and the offsets follow;
//!    `datagrams.idx` likewise ([`crate::packed_index::merge_into`]).
//! 3. **HTTP objects** (`extract --http`): the body files placed as the
//!    stream files are, each SHA-256 name once, and `http/objects.jsonl`
//!    in single-run order ([`crate::merge_http`]).
//! 4. **Conflicts file** (when the shards wrote one inside their
//!    directories): the lines interleaved in single-run order.
//! 5. **Run metadata** (`run.json`: merge's own command line and times,
//!    with each shard's `run.json`), **flow list** (`flows.jsonl`, when the
//!    shards wrote one) and **manifest**, written last: the flows of every shard in id order;
//!    the per-input counters (`frames`, `filtered_out`, `udp_ignored`, the
//!    `inputs` block: the same in every shard) taken once, the rest summed
//!    over the flows; no `shard` block.
//!
//! Memory holds every shard's manifest (as a single run's `flows --json`
//! would) and the order files' entries, not the stream bytes.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::files::STREAMS_BIN;
use crate::manifest::{self, Flow, Manifest, ShardOut, Totals};
use crate::naming::check_inside;
use crate::output::MANIFEST;
use crate::shard::{CONFLICTS_ORDER, ORDER_DIR, PACKED_ORDER};

/// What to merge, and where.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// The shard directories, in any order.
    pub shards: Vec<PathBuf>,
    /// The output directory (missing or empty).
    pub output: PathBuf,
    /// Move stream files instead of hard-linking them.
    pub move_files: bool,
}

/// What a merge wrote.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Shards joined.
    pub shards: usize,
    /// Flows in the merged manifest.
    pub flows: usize,
    /// The merged manifest's `complete` (false when inputs had problems).
    pub complete: bool,
}

/// One shard directory and its manifest.
struct ShardDir {
    dir: PathBuf,
    manifest: Manifest,
    block: ShardOut,
    /// Its flows, from `manifest.json` or its flow list file.
    flows: Vec<Flow>,
    /// Whether `manifest.json` listed them.
    inline: bool,
}

/// Merge the shard directories (see the module docs).
pub fn run(opts: &MergeOptions) -> anyhow::Result<Merged> {
    let started = crate::run_info::Started::now();
    let shards = load(&opts.shards)?;
    check(&shards)?;
    check_output(&opts.output)?;
    let first = &shards[0];
    let packed = first.manifest.options.layout == "packed";
    // Read every order file before anything is written.
    let packed_order = if packed {
        Some(packed_order(&shards)?)
    } else {
        None
    };
    let http_lists = match first.manifest.options.http {
        Some(_) => {
            let dirs: Vec<_> = shards
                .iter()
                .map(|s| (s.dir.as_path(), s.manifest.http.as_ref()))
                .collect();
            Some(crate::merge_http::read(&dirs)?)
        }
        None => None,
    };
    let conflicts = first.block.conflicts.clone();
    let conflict_lines = match &conflicts {
        Some(rel) => Some(conflict_order(&shards, rel)?),
        None => None,
    };

    fs::create_dir_all(&opts.output)
        .with_context(|| format!("creating {}", opts.output.display()))?;
    let out = opts.output.as_path();
    let mut flows: Vec<Flow> = Vec::new();
    let mut from: Vec<usize> = Vec::new();
    for (i, s) in shards.iter().enumerate() {
        flows.extend(s.flows.iter().cloned());
        from.extend(std::iter::repeat_n(i, s.flows.len()));
    }
    let mut order: Vec<usize> = (0..flows.len()).collect();
    order.sort_by_key(|&i| flows[i].id);
    if order.windows(2).any(|w| flows[w[0]].id == flows[w[1]].id) {
        bail!("the shards list the same flow id twice: they are not shards of one split");
    }
    match packed_order {
        Some(entries) => write_packed(out, &shards, &entries, &mut flows)?,
        None => place_files(out, &shards, &flows, &from, opts.move_files)?,
    }
    let http = match &http_lists {
        Some(lists) => {
            let dirs: Vec<&Path> = shards.iter().map(|s| s.dir.as_path()).collect();
            let naming = match first.manifest.options.http.as_deref() {
                Some("sha256") => http::ObjectNaming::Sha256,
                _ => http::ObjectNaming::Readable,
            };
            Some(lists.write(out, &dirs, naming, |src, dst| {
                place(src, dst, opts.move_files)
            })?)
        }
        None => None,
    };
    if let (Some(rel), Some(lines)) = (&conflicts, conflict_lines) {
        write_conflicts(out, &shards, rel, &lines)?;
    }
    let flows: Vec<Flow> = {
        let mut slots: Vec<Option<Flow>> = flows.into_iter().map(Some).collect();
        order.iter().filter_map(|&i| slots[i].take()).collect()
    };
    let base = Totals {
        frames: first.manifest.totals.frames,
        filtered_out: first.manifest.totals.filtered_out,
        udp_ignored: first.manifest.totals.udp_ignored,
        // Each shard's late packets are its own flows' (shards split by key).
        late_packets: shards.iter().map(|s| s.manifest.totals.late_packets).sum(),
        late_bytes: shards.iter().map(|s| s.manifest.totals.late_bytes).sum(),
        ..Totals::default()
    };
    let merged = Manifest {
        schema: manifest::SCHEMA,
        tool: first.manifest.tool.clone(),
        inputs: first.manifest.inputs.clone(),
        options: first.manifest.options.clone(),
        http,
        shard: None,
        complete: first.manifest.complete,
        error: None,
        totals: manifest::flow_totals(base, &flows),
        flows_file: first.manifest.flows_file.clone(),
        flows: None,
    };
    let count = flows.len();
    let shard_runs = shards
        .iter()
        .map(|s| crate::run_info::read(&s.dir))
        .collect();
    crate::run_info::write(out, &started.info(Some(shard_runs)))?;
    if let Some(name) = &merged.flows_file {
        write_flows_file(out, name, &flows)?;
    }
    let merged = Manifest {
        flows: first.inline.then_some(flows),
        ..merged
    };
    write_manifest(out, &merged)?;
    Ok(Merged {
        shards: shards.len(),
        flows: count,
        complete: merged.complete,
    })
}

/// Read each directory's manifest; a directory without one, or whose
/// manifest has no `shard` block, is not a shard output.
fn load(dirs: &[PathBuf]) -> anyhow::Result<Vec<ShardDir>> {
    let mut out = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let path = dir.join(MANIFEST);
        let text = fs::read(&path).with_context(|| {
            format!(
                "{} is not a shard output directory: cannot read {}",
                dir.display(),
                path.display()
            )
        })?;
        let mut manifest: Manifest = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a streamcut manifest", path.display()))?;
        let inline = manifest.flows.is_some();
        let flows = match (manifest.flows.take(), &manifest.flows_file) {
            (Some(flows), _) => flows,
            (None, Some(name)) => read_flows_file(dir, name)?,
            // A run stopped part way whose list did not fit: refused below.
            (None, None) if manifest.error.is_some() => Vec::new(),
            (None, None) => bail!(
                "{} lists no flows and names no flow list file",
                path.display()
            ),
        };
        let Some(block) = manifest.shard.clone() else {
            bail!(
                "{} is not a shard output directory: its manifest has no shard block \
                 (it was not written by `extract --shard K/N`)",
                dir.display()
            );
        };
        out.push(ShardDir {
            dir: dir.clone(),
            manifest,
            block,
            flows,
            inline,
        });
    }
    Ok(out)
}

/// The shards come from one split: same version, inputs, options and N,
/// every K once, each complete.
fn check(shards: &[ShardDir]) -> anyhow::Result<()> {
    let Some(first) = shards.first() else {
        bail!("no shard directories given");
    };
    let name = |s: &ShardDir| {
        format!(
            "{} (shard {}/{})",
            s.dir.display(),
            s.block.index,
            s.block.count
        )
    };
    for s in shards {
        if let Some(e) = &s.manifest.error {
            bail!("{} stopped part way and is not merged: {e}", name(s));
        }
        let m = &s.manifest;
        let f = &first.manifest;
        if m.tool != f.tool {
            bail!(
                "{} was written by {} {}, {} by {} {}: shards must come from one version",
                name(s),
                m.tool.name,
                m.tool.version,
                name(first),
                f.tool.name,
                f.tool.version
            );
        }
        if m.inputs != f.inputs || s.block.input_sizes != first.block.input_sizes {
            let paths = |x: &ShardDir| {
                x.manifest
                    .inputs
                    .iter()
                    .zip(&x.block.input_sizes)
                    .map(|(i, size)| match size {
                        Some(n) => format!("{} ({n} bytes, {} frames)", i.path, i.frames),
                        None => format!("{} ({} frames)", i.path, i.frames),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            bail!(
                "{} and {} read different inputs: [{}] against [{}]",
                name(first),
                name(s),
                paths(first),
                paths(s)
            );
        }
        if m.options.http != f.options.http {
            let http = |x: &ShardDir| match &x.manifest.options.http {
                Some(naming) => format!("--http --http-naming {naming}"),
                None => "no --http".to_string(),
            };
            bail!(
                "{} and {} were run with different HTTP options: {} against {}",
                name(first),
                name(s),
                http(first),
                http(s)
            );
        }
        if m.options != f.options || s.block.options_digest != first.block.options_digest {
            bail!(
                "{} and {} were run with different options: {} against {}",
                name(first),
                name(s),
                serde_json::to_string(&f.options)?,
                serde_json::to_string(&m.options)?
            );
        }
        if m.flows_file != f.flows_file || s.inline != first.inline {
            let form = |x: &ShardDir| match (x.inline, &x.manifest.flows_file) {
                (true, Some(_)) => "both",
                (true, None) => "inline",
                (false, _) => "jsonl",
            };
            bail!(
                "{} and {} were run with different options: --manifest-flows {} against {}",
                name(first),
                name(s),
                form(first),
                form(s)
            );
        }
        if s.block.count != first.block.count {
            bail!(
                "{} and {} split the flows differently: N = {} against N = {}",
                name(first),
                name(s),
                first.block.count,
                s.block.count
            );
        }
        if s.block.conflicts != first.block.conflicts {
            bail!(
                "{} and {} differ in their conflicts file: {:?} against {:?}",
                name(first),
                name(s),
                first.block.conflicts,
                s.block.conflicts
            );
        }
    }
    let n = first.block.count;
    let mut seen: Vec<Option<&ShardDir>> = vec![None; n as usize];
    for s in shards {
        let Some(slot) = seen.get_mut(s.block.index as usize) else {
            bail!("{}: shard index out of range", name(s));
        };
        if let Some(other) = slot {
            bail!(
                "shard {}/{n} is given twice: {} and {}",
                s.block.index,
                other.dir.display(),
                s.dir.display()
            );
        }
        *slot = Some(s);
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(k, _)| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "shards missing: {} (every K of 0..{n} must be given once)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The output directory must be missing or empty (nothing is overwritten).
fn check_output(dir: &Path) -> anyhow::Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("output directory {} is not empty", dir.display());
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context(format!("reading {}", dir.display()))),
    }
}

/// Files layout: every listed file of every shard into `out`.
fn place_files(
    out: &Path,
    shards: &[ShardDir],
    flows: &[Flow],
    from: &[usize],
    move_files: bool,
) -> anyhow::Result<()> {
    for (f, &s) in flows.iter().zip(from) {
        for d in [&f.c2s, &f.s2c] {
            let Some(Some(name)) = &d.file else {
                continue;
            };
            for name in std::iter::once(name).chain(&d.index) {
                check_inside(name)?;
                let src = shards[s].dir.join(name);
                let dst = out.join(name);
                place(&src, &dst, move_files)
                    .with_context(|| format!("placing {} as {}", src.display(), dst.display()))?;
            }
        }
    }
    Ok(())
}

/// Hard-link (or move) `src` to `dst`, copying across file systems.
fn place(src: &Path, dst: &Path, move_files: bool) -> io::Result<()> {
    let linked = if move_files {
        fs::rename(src, dst)
    } else {
        fs::hard_link(src, dst)
    };
    match linked {
        Ok(()) => Ok(()),
        // Another file system (EXDEV), or one without hard links.
        Err(_) if src.is_file() && !dst.exists() => {
            copy_keeping_mtime(src, dst)?;
            if move_files {
                fs::remove_file(src)?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Copy `src` to `dst` and give the copy `src`'s modification time (a
/// flow file's is its last packet time; a hard link or a rename keeps it,
/// a plain copy would not).
fn copy_keeping_mtime(src: &Path, dst: &Path) -> io::Result<()> {
    fs::copy(src, dst)?;
    let when = fs::metadata(src)?.modified()?;
    crate::output::set_mtime(dst, when)
}

/// One direction appended to a shard's `streams.bin`.
struct Packed {
    pos: u64,
    flow: u64,
    shard: usize,
    line: usize,
    dir: String,
    offset: u64,
    length: u64,
}

/// Every shard's packed order entries, in single-run order.
fn packed_order(shards: &[ShardDir]) -> anyhow::Result<Vec<Packed>> {
    let mut all = Vec::new();
    for (si, s) in shards.iter().enumerate() {
        let path = s.dir.join(ORDER_DIR).join(PACKED_ORDER);
        for (line, fields) in read_order(&path)?.into_iter().enumerate() {
            let bad = || anyhow::anyhow!("{}: line {} is damaged", path.display(), line + 1);
            let [pos, flow, dir, offset, length] = fields.as_slice() else {
                return Err(bad());
            };
            let num = |t: &String| t.parse::<u64>().map_err(|_| bad());
            all.push(Packed {
                pos: num(pos)?,
                flow: num(flow)?,
                shard: si,
                line,
                dir: dir.clone(),
                offset: num(offset)?,
                length: num(length)?,
            });
        }
    }
    all.sort_by_key(|p| (p.pos, p.flow, p.shard, p.line));
    Ok(all)
}

/// The lines of an order file, split at tabs.
fn read_order(path: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    BufReader::new(f)
        .lines()
        .map(|l| {
            l.map(|l| l.split('\t').map(str::to_string).collect())
                .with_context(|| format!("reading {}", path.display()))
        })
        .collect()
}

/// Packed layout: `streams.bin` rewritten in single-run order; the flows'
/// offsets follow.
fn write_packed(
    out: &Path,
    shards: &[ShardDir],
    entries: &[Packed],
    flows: &mut [Flow],
) -> anyhow::Result<()> {
    let path = out.join(STREAMS_BIN);
    let mut w = BufWriter::with_capacity(
        256 * 1024,
        File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut inputs: Vec<Option<File>> = shards.iter().map(|_| None).collect();
    let mut placed: HashMap<(u64, String), u64> = HashMap::new();
    let mut at = 0u64;
    for e in entries.iter().filter(|e| e.length > 0) {
        let src = shards[e.shard].dir.join(STREAMS_BIN);
        let f = match &mut inputs[e.shard] {
            Some(f) => f,
            slot => {
                slot.insert(File::open(&src).with_context(|| format!("reading {}", src.display()))?)
            }
        };
        f.seek(SeekFrom::Start(e.offset))?;
        let copied = io::copy(&mut Read::by_ref(f).take(e.length), &mut w)
            .with_context(|| format!("copying from {} to {}", src.display(), path.display()))?;
        if copied != e.length {
            bail!(
                "{} is shorter than its order file says (flow {} {})",
                src.display(),
                e.flow,
                e.dir
            );
        }
        placed.insert((e.flow, e.dir.clone()), at);
        at += e.length;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    let dirs: Vec<&Path> = shards.iter().map(|s| s.dir.as_path()).collect();
    let order = entries.iter().map(|e| (e.shard, e.flow, e.dir.clone()));
    crate::packed_index::merge_into(out, &dirs, order)?;
    for f in flows.iter_mut() {
        for (name, d) in [("c2s", &mut f.c2s), ("s2c", &mut f.s2c)] {
            if d.length.is_some_and(|l| l > 0) {
                let Some(&offset) = placed.get(&(f.id, name.to_string())) else {
                    bail!(
                        "flow {} {name}: packed bytes missing from the order files",
                        f.id
                    );
                };
                d.offset = Some(offset);
            }
        }
    }
    Ok(())
}

/// One conflict line's place in single-run order.
struct ConflictAt {
    pos: u64,
    flow: u64,
    shard: usize,
    line: usize,
}

/// Every shard's conflict lines, in single-run order (lines checked
/// against the conflicts files' lengths).
fn conflict_order(shards: &[ShardDir], rel: &str) -> anyhow::Result<Vec<ConflictAt>> {
    let mut all = Vec::new();
    for (si, s) in shards.iter().enumerate() {
        let path = s.dir.join(ORDER_DIR).join(CONFLICTS_ORDER);
        let order = read_order(&path)?;
        let lines = conflict_lines(&s.dir.join(rel))?;
        if lines.len() != order.len() {
            bail!(
                "{}: {} lines, but its order file lists {}",
                s.dir.join(rel).display(),
                lines.len(),
                order.len()
            );
        }
        for (line, fields) in order.into_iter().enumerate() {
            let bad = || anyhow::anyhow!("{}: line {} is damaged", path.display(), line + 1);
            let [pos, flow] = fields.as_slice() else {
                return Err(bad());
            };
            all.push(ConflictAt {
                pos: pos.parse().map_err(|_| bad())?,
                flow: flow.parse().map_err(|_| bad())?,
                shard: si,
                line,
            });
        }
    }
    all.sort_by_key(|c| (c.pos, c.flow, c.shard, c.line));
    Ok(all)
}

/// The lines of a conflicts file (with their newlines).
fn conflict_lines(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut r = BufReader::new(f);
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(lines);
        }
        lines.push(line);
    }
}

/// The conflicts file at `out/rel`, its lines in single-run order.
fn write_conflicts(
    out: &Path,
    shards: &[ShardDir],
    rel: &str,
    order: &[ConflictAt],
) -> anyhow::Result<()> {
    let path = out.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let lines: Vec<Vec<Vec<u8>>> = shards
        .iter()
        .map(|s| conflict_lines(&s.dir.join(rel)))
        .collect::<anyhow::Result<_>>()?;
    let mut w = BufWriter::new(
        File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    for c in order {
        w.write_all(&lines[c.shard][c.line])?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// A shard's flow list file (`flows.jsonl`), one flow a line.
fn read_flows_file(dir: &Path, name: &str) -> anyhow::Result<Vec<Flow>> {
    check_inside(name)?;
    let path = dir.join(name);
    let f = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut flows = Vec::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        flows.push(
            serde_json::from_str(&line)
                .with_context(|| format!("{}: line {} is not a flow", path.display(), n + 1))?,
        );
    }
    Ok(flows)
}

/// The flow list file as `extract` writes it, through a temporary file
/// renamed into place.
fn write_flows_file(dir: &Path, name: &str, flows: &[Flow]) -> anyhow::Result<()> {
    check_inside(name)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut w =
        BufWriter::new(File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
    for f in flows {
        manifest::write_line(&mut w, f)?;
    }
    w.flush()
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(w);
    let path = dir.join(name);
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

/// `manifest.json` as `extract` writes it (pretty JSON, trailing newline),
/// through a temporary file renamed into place.
fn write_manifest(dir: &Path, m: &Manifest) -> anyhow::Result<()> {
    let tmp = dir.join(".manifest.json.tmp");
    let path = dir.join(MANIFEST);
    let mut w =
        BufWriter::new(File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
    serde_json::to_writer_pretty(&mut w, m)?;
    w.write_all(b"\n")?;
    w.flush()
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(w);
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_the_modification_time() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::write(&src, b"bytes").unwrap();
        let when =
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_041_002_000_000);
        crate::output::set_mtime(&src, when).unwrap();
        copy_keeping_mtime(&src, &dst).unwrap();
        assert_eq!(fs::read(&dst).unwrap(), b"bytes");
        assert_eq!(fs::metadata(&dst).unwrap().modified().unwrap(), when);
    }
}

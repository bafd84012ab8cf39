//! The HTTP objects of `extract --http --shard K/N` runs joined by
//! `streamcut merge`: `DIR/http/` and `DIR/http/objects.jsonl` as one
//! `extract --http` run writes them.
//!
//! A flow's objects all come from the one shard that reassembled it, so
//! each shard's list holds whole flows. The merged list is every shard's
//! lines (kept byte for byte) in the order a single run sorts its records:
//! flow, exchange, direction (then the shard's own order, for ties inside a
//! flow). Body files are hard-linked (moved, or copied across file
//! systems) as the stream files are. Readable names begin with the flow id,
//! so they never meet across shards; SHA-256 names are the digest of the
//! body, and two shards may both hold one (identical bodies in flows of
//! different shards): it is placed once, after checking the copies have
//! the same size.
//!
//! [`read`] reads and checks every list before anything is written;
//! [`HttpLists::write`] writes.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context as _};
use serde::Deserialize;

use http::{ObjectNaming, ObjectRecord};

use crate::http_objects::{write_jsonl, ENTITIES, HTTP_DIR, OBJECTS};
use crate::manifest::HttpOut;
use crate::naming::check_inside;

/// The fields of an object line that order the list and name its file.
#[derive(Deserialize)]
struct Key {
    flow: u64,
    exchange: u32,
    dir: String,
    file: String,
}

/// One line of a shard's object list.
struct Line {
    key: Key,
    shard: usize,
    /// Its place in the shard's list.
    line: usize,
    /// The line as written, with its newline.
    text: Vec<u8>,
}

/// Every shard's object list, read and checked.
pub struct HttpLists {
    lines: Vec<Line>,
}

/// Read the object list of each shard directory (`dirs`, with the `http`
/// block of its manifest). The lists must be there, hold as many objects as
/// the block says, and name safe files that exist.
pub fn read(dirs: &[(&Path, Option<&HttpOut>)]) -> anyhow::Result<HttpLists> {
    let want = format!("{HTTP_DIR}/{OBJECTS}");
    let mut lines = Vec::new();
    for (shard, &(dir, block)) in dirs.iter().enumerate() {
        let Some(block) = block else {
            bail!(
                "{} records --http in its options but has no http block in its manifest",
                dir.display()
            );
        };
        if block.file != want {
            bail!(
                "{}: the http block names {:?}, not {want:?}",
                dir.display(),
                block.file
            );
        }
        let path = dir.join(&block.file);
        let f = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut r = BufReader::new(f);
        let mut n = 0usize;
        loop {
            let mut text = Vec::new();
            if r.read_until(b'\n', &mut text)
                .with_context(|| format!("reading {}", path.display()))?
                == 0
            {
                break;
            }
            let key: Key = serde_json::from_slice(&text)
                .with_context(|| format!("{}: line {} is not an object", path.display(), n + 1))?;
            check_inside(&key.file)
                .with_context(|| format!("{}: line {}", path.display(), n + 1))?;
            lines.push(Line {
                key,
                shard,
                line: n,
                text,
            });
            n += 1;
        }
        if n as u64 != block.objects {
            bail!(
                "{} lists {n} objects, but its manifest says {}",
                path.display(),
                block.objects
            );
        }
    }
    lines.sort_by(|a, b| {
        (a.key.flow, a.key.exchange, &a.key.dir, a.shard, a.line).cmp(&(
            b.key.flow,
            b.key.exchange,
            &b.key.dir,
            b.shard,
            b.line,
        ))
    });
    // A name listed twice (SHA-256 naming: one flow's bodies, or flows of
    // two shards) is one body: the copies must have the same size.
    let mut sizes: HashMap<&str, (usize, u64)> = HashMap::new();
    for l in &lines {
        let (dir, file) = (dirs[l.shard].0, l.key.file.as_str());
        let path = dir.join(HTTP_DIR).join(file);
        let size = fs::metadata(&path)
            .with_context(|| {
                format!(
                    "{} is in the object list but cannot be read",
                    path.display()
                )
            })?
            .len();
        match sizes.get(file) {
            None => {
                sizes.insert(file, (l.shard, size));
            }
            Some(&(other, was)) if was != size => bail!(
                "{} holds {file} with {size} bytes, {} with {was}: one name, different bodies",
                dir.display(),
                dirs[other].0.display()
            ),
            Some(_) => {}
        }
    }
    Ok(HttpLists { lines })
}

impl HttpLists {
    /// Place every body file of the shards (`dirs`, in the order given to
    /// [`read`]) in `out/http/` and write the merged list; returns the
    /// manifest's `http` block.
    pub fn write(
        &self,
        out: &Path,
        dirs: &[&Path],
        naming: ObjectNaming,
        place: impl Fn(&Path, &Path) -> std::io::Result<()>,
    ) -> anyhow::Result<HttpOut> {
        let http = out.join(HTTP_DIR);
        fs::create_dir_all(&http).with_context(|| format!("creating {}", http.display()))?;
        let mut placed: HashSet<&str> = HashSet::new();
        for l in &self.lines {
            let src = dirs[l.shard].join(HTTP_DIR).join(&l.key.file);
            let dst = http.join(&l.key.file);
            if !placed.insert(&l.key.file) {
                // The same SHA-256 name again: placed once (sizes checked
                // by `read`).
                continue;
            }
            place(&src, &dst)
                .with_context(|| format!("placing {} as {}", src.display(), dst.display()))?;
        }
        let path = http.join(OBJECTS);
        let tmp = http.join(format!(".{OBJECTS}.tmp"));
        let mut w = BufWriter::new(
            File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        for l in &self.lines {
            w.write_all(&l.text)?;
        }
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_data())
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        // An entity's parts may come from flows of several shards: the
        // entities (and their stitched files) are worked out anew over the
        // merged list, from the placed files, as a single run does.
        let records = self
            .lines
            .iter()
            .map(|l| listed_record(&l.text))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let entities = http::stitch_entities(&records, &http, naming);
        write_jsonl(&http, ENTITIES, &entities)?;
        Ok(HttpOut {
            file: format!("{HTTP_DIR}/{OBJECTS}"),
            objects: self.lines.len() as u64,
            entities_file: format!("{HTTP_DIR}/{ENTITIES}"),
            entities: entities.len() as u64,
        })
    }
}

/// The fields of an object line that range entities are made of.
#[derive(Deserialize)]
struct Listed {
    flow: u64,
    dir: String,
    exchange: u32,
    file: String,
    method: Option<String>,
    host: Option<String>,
    uri: Option<String>,
    status: Option<u16>,
    declared_type: Option<String>,
    chunked: bool,
    codings: Vec<String>,
    decoded: bool,
    wire_bytes: u64,
    encoded_bytes: u64,
    decoded_bytes: u64,
    sha256: String,
    head_offset: u64,
    body_offset: u64,
    end_offset: u64,
    first_frame: u64,
    last_frame: u64,
    range: Option<(u64, u64, Option<u64>)>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    complete: bool,
    incomplete: Option<String>,
    detail: Option<String>,
    missing: Vec<(u64, u64)>,
}

/// An object line read back as the record it was written from (what
/// [`http::stitch_entities`] reads of it; the detected type, which it does
/// not read, is left out).
fn listed_record(text: &[u8]) -> anyhow::Result<ObjectRecord> {
    let l: Listed = serde_json::from_slice(text).context("reading an object line")?;
    let dir = match l.dir.as_str() {
        "c2s" => "c2s",
        "s2c" => "s2c",
        other => bail!("object of flow {}: direction {other:?}", l.flow),
    };
    let incomplete = match l.incomplete.as_deref() {
        None => None,
        Some(name) => Some(
            http::Incomplete::NAMES
                .iter()
                .copied()
                .find(|n| *n == name)
                .with_context(|| format!("object of flow {}: reason {name:?}", l.flow))?,
        ),
    };
    Ok(ObjectRecord {
        flow: l.flow,
        dir,
        exchange: l.exchange,
        file: l.file,
        method: l.method,
        host: l.host,
        uri: l.uri,
        status: l.status,
        declared_type: l.declared_type,
        detected_type: None,
        type_mismatch: false,
        chunked: l.chunked,
        codings: l.codings,
        decoded: l.decoded,
        wire_bytes: l.wire_bytes,
        encoded_bytes: l.encoded_bytes,
        decoded_bytes: l.decoded_bytes,
        sha256: l.sha256,
        head_offset: l.head_offset,
        body_offset: l.body_offset,
        end_offset: l.end_offset,
        first_frame: l.first_frame,
        last_frame: l.last_frame,
        range: l.range,
        etag: l.etag,
        last_modified: l.last_modified,
        complete: l.complete,
        incomplete,
        detail: l.detail,
        missing: l.missing,
    })
}

//! `extract --http`: every HTTP/1.x message body of the run written to
//! `DIR/http/`, and the objects listed in `DIR/http/objects.jsonl`.
//!
//! [`HttpSink`] wraps the output's sink: every call goes on to it
//! unchanged, and each TCP flow's deliveries also feed an
//! [`http::HttpFlow`] whose bodies an [`http::ObjectStore`] writes. It
//! splits with the sink it wraps (each worker's part reads the flows of
//! that worker), so the HTTP reading runs on all cores. The records of all
//! parts are gathered and written sorted by (flow, exchange, direction):
//! the file is the same whatever the thread count.
//!
//! Then the range responses among them are grouped into entities by
//! [`http::stitch_entities`] (after every flow has ended, from the sorted
//! records, so the same for any thread count): each entity's coverage,
//! missing ranges, conflicting overlaps, and the whole entity's file when
//! the parts cover it, listed in `DIR/http/entities.jsonl`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use engine::{FlowHead, FlowId, FlowRecord, Placement, Sink};
use http::{HttpConfig, HttpFlow, ObjectNaming, ObjectRecord, ObjectStore, OpenBodies};
use pcapread::Proto;
use reassembly::{Conflict, Dir, ScatterGather};

/// The folder of the objects, in the output directory.
pub const HTTP_DIR: &str = "http";

/// The object list, in [`HTTP_DIR`].
pub const OBJECTS: &str = "objects.jsonl";

/// The list of entities fetched in ranges, in [`HTTP_DIR`].
pub const ENTITIES: &str = "entities.jsonl";

/// What [`HttpObjects::write`] listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// Objects in [`OBJECTS`].
    pub objects: u64,
    /// Entities in [`ENTITIES`].
    pub entities: u64,
}

/// One flow's reader and its open bodies.
struct FlowHttp {
    reader: HttpFlow,
    open: OpenBodies,
}

/// The records every part wrote, and the first error.
#[derive(Debug, Default)]
struct Gathered {
    records: Vec<ObjectRecord>,
    error: Option<String>,
}

/// A sink that also reads HTTP out of the flows it passes on.
pub struct HttpSink<'s> {
    inner: Box<dyn Sink + Send + 's>,
    store: ObjectStore,
    flows: HashMap<FlowId, FlowHttp>,
    gathered: Arc<Mutex<Gathered>>,
}

impl std::fmt::Debug for HttpSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("store", &self.store)
            .field("flows", &self.flows.len())
            .finish_non_exhaustive()
    }
}

/// What the run's HTTP reading gives back when it is over.
#[derive(Debug, Clone)]
pub struct HttpObjects {
    gathered: Arc<Mutex<Gathered>>,
    naming: ObjectNaming,
}

impl HttpObjects {
    /// Write `DIR/http/objects.jsonl`: every record, one JSON object a
    /// line, sorted by flow, exchange and direction; then the entities of
    /// the range responses (stitched files in `DIR/http/`) and
    /// `DIR/http/entities.jsonl`. Returns how many of each.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Listed> {
        let mut g = self
            .gathered
            .lock()
            .map_err(|_| anyhow::anyhow!("HTTP records poisoned"))?;
        if let Some(e) = &g.error {
            anyhow::bail!("writing HTTP objects: {e}");
        }
        g.records
            .sort_by(|a, b| (a.flow, a.exchange, a.dir).cmp(&(b.flow, b.exchange, b.dir)));
        let http_dir = dir.join(HTTP_DIR);
        write_jsonl(&http_dir, OBJECTS, &g.records)?;
        let entities = http::stitch_entities(&g.records, &http_dir, self.naming);
        write_jsonl(&http_dir, ENTITIES, &entities)?;
        Ok(Listed {
            objects: g.records.len() as u64,
            entities: entities.len() as u64,
        })
    }
}

/// Write `items` to `dir/name`, one JSON object a line, through a
/// temporary file renamed into place.
pub(crate) fn write_jsonl<T: serde::Serialize>(
    dir: &Path,
    name: &str,
    items: &[T],
) -> anyhow::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    for r in items {
        serde_json::to_writer(&mut f, r)?;
        f.write_all(b"\n")?;
    }
    f.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_data().map(|()| f))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

impl<'s> HttpSink<'s> {
    /// Wrap `inner`; bodies go to `DIR/http/` named by `naming`.
    pub fn new(
        inner: Box<dyn Sink + Send + 's>,
        dir: &Path,
        naming: ObjectNaming,
    ) -> anyhow::Result<(HttpSink<'s>, HttpObjects)> {
        let gathered = Arc::new(Mutex::new(Gathered::default()));
        let sink = HttpSink::part(inner, dir.join(HTTP_DIR), naming, gathered.clone())?;
        Ok((sink, HttpObjects { gathered, naming }))
    }

    fn part(
        inner: Box<dyn Sink + Send + 's>,
        dir: PathBuf,
        naming: ObjectNaming,
        gathered: Arc<Mutex<Gathered>>,
    ) -> anyhow::Result<HttpSink<'s>> {
        let store = ObjectStore::new(&dir, naming)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(HttpSink {
            inner,
            store,
            flows: HashMap::new(),
            gathered,
        })
    }

    /// Hand this part's records (and its first error) to the run's list.
    fn gather(&mut self) {
        let records = self.store.take_records();
        if let Ok(mut g) = self.gathered.lock() {
            g.records.extend(records);
            if g.error.is_none() {
                g.error = self.store.error().map(str::to_string);
            }
        }
    }
}

impl Sink for HttpSink<'_> {
    fn wants_deliveries(&self) -> bool {
        true
    }

    fn split(&mut self, parts: usize) -> Option<Vec<Box<dyn Sink + Send>>> {
        let inner = self.inner.split(parts)?;
        let dir = self.store.dir().to_path_buf();
        let naming = self.naming();
        let mut out: Vec<Box<dyn Sink + Send>> = Vec::with_capacity(parts);
        for p in inner {
            let part = HttpSink::part(p, dir.clone(), naming, self.gathered.clone()).ok()?;
            out.push(Box::new(part));
        }
        Some(out)
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.finish_http();
        self.inner.finish()
    }

    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        if head.proto == Proto::Tcp {
            self.flows.insert(
                head.id,
                FlowHttp {
                    reader: HttpFlow::new(HttpConfig::default()),
                    open: OpenBodies::default(),
                },
            );
        }
        self.inner.open(head)
    }

    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        self.inner.write(head, dir, bytes)
    }

    fn delivery(
        &mut self,
        head: &FlowHead,
        dir: Dir,
        gap: u64,
        sg: &ScatterGather<'_>,
    ) -> anyhow::Result<()> {
        if let Some(f) = self.flows.get_mut(&head.id) {
            let mut w = self.store.writer(head.id, &mut f.open);
            if gap > 0 {
                f.reader.gap(dir, gap, &mut w);
            }
            http::feed_bytes(&mut f.reader, sg, &mut w);
        }
        self.inner.delivery(head, dir, gap, sg)
    }

    fn conflict(&mut self, head: &FlowHead, conflict: &Conflict) -> anyhow::Result<()> {
        self.inner.conflict(head, conflict)
    }

    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        if let Some(f) = self.flows.get_mut(&head.id) {
            f.reader
                .end(dir, &mut self.store.writer(head.id, &mut f.open));
        }
        self.inner.end_dir(head, dir)
    }

    fn idle(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        self.inner.idle(head)
    }

    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        self.end_flow(record.head.id);
        self.inner.close(record)
    }

    fn position(&mut self, pos: u64) {
        self.inner.position(pos);
    }

    fn take_placement(&mut self, id: FlowId) -> Option<Box<[Placement; 2]>> {
        self.inner.take_placement(id)
    }
}

impl HttpSink<'_> {
    fn naming(&self) -> ObjectNaming {
        self.store.naming()
    }

    /// The run is over (a sink that did not split is not finished by the
    /// engine): finish every flow still open and hand over the records.
    /// The wrapped sink is not finished here (its owner does that).
    pub fn finish_http(&mut self) {
        let ids: Vec<FlowId> = self.flows.keys().copied().collect();
        for id in ids {
            self.end_flow(id);
        }
        self.gather();
    }

    /// The flow ended: finish its messages and forget it.
    fn end_flow(&mut self, id: FlowId) {
        if let Some(mut f) = self.flows.remove(&id) {
            f.reader.finish(&mut self.store.writer(id, &mut f.open));
        }
    }
}

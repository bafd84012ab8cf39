//! `manifest.json`: what an extraction read, which options it used, and every
//! flow with its files, hashes, gaps and byte ledger. The full schema is
//! documented in `docs/cli.md`; these types are that schema.
//!
//! The manifest is a pure function of the inputs and the options that change
//! output (the thread count and output directory are not in it), and flows
//! are sorted by id, so two runs write byte-identical manifests.

use anyhow::Context as _;
use pcapread::{Compression, Format};
use reassembly::{Dir, Ledger};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::ser::CompactFormatter;

use crate::timefmt::rfc3339;
use engine::{DirRecord, FlowRecord, GapMode, Placement, Summary};

/// The version of the manifest schema this build writes (see
/// `docs/cli.md`, "Schema versions"). Version 1 had no `schema` field and
/// named a flow's end `end`; version 2 names it `end_reason` and records
/// `--flows` in `options`. Readers here accept both.
pub const SCHEMA: u32 = 2;

fn schema_v1() -> u32 {
    1
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The schema version ([`SCHEMA`]; 1 when absent).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// The tool that wrote it.
    pub tool: Tool,
    /// Inputs, in the order given.
    pub inputs: Vec<Input>,
    /// Options that shape the output.
    pub options: Options,
    /// `--http`: where the HTTP objects are listed, and how many; absent
    /// without `--http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpOut>,
    /// A `--shard K/N` run: which shard, and what `streamcut merge` checks;
    /// absent in a run over every flow (and in a merged output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardOut>,
    /// Whether every input was read to its end without problems and all
    /// output was written.
    pub complete: bool,
    /// The error that stopped the run part way (a full disk), with its
    /// causes; absent when there was none. Then `flows` lists only the flows
    /// written in full before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Sums over everything.
    pub totals: Totals,
    /// The file beside the manifest listing every flow, one JSON object a
    /// line in id order ([`FLOWS_FILE`]); absent when it was not written
    /// (`--manifest-flows inline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows_file: Option<String>,
    /// Every flow, sorted by id; absent with `--manifest-flows jsonl`
    /// (then they are in `flows_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<Vec<Flow>>,
}

/// Name of the flow list file in the output directory: one flow object a
/// line (compact JSON, the same fields as the manifest's `flows`), in id
/// order.
pub const FLOWS_FILE: &str = "flows.jsonl";

/// The `shard` block of a `--shard K/N` run's manifest. Its totals are
/// those of its own flows, but for `frames`, `filtered_out` and
/// `udp_ignored`, which count every frame read, as in a run over everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardOut {
    /// K.
    pub index: u32,
    /// N.
    pub count: u32,
    /// Segments decoded but not reassembled: their flows are in other shards.
    pub other_shard_packets: u64,
    /// Size in bytes of each input when it was read (null for standard
    /// input), in the order of `inputs`.
    pub input_sizes: Vec<Option<u64>>,
    /// SHA-256 (hex) over every option that shapes the output, those the
    /// `options` block lists and the others (caps, timeouts, policy map,
    /// decoder limits, digests).
    pub options_digest: String,
    /// The conflicts file (`--conflicts`), relative to the output
    /// directory; null without one.
    pub conflicts: Option<String>,
}

/// Tool name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `"streamcut"`.
    pub name: String,
    /// The crate version.
    pub version: String,
}

impl Tool {
    /// This build.
    pub fn this() -> Tool {
        Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// One input capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// The path as given on the command line.
    pub path: String,
    /// `"pcap"`, `"pcapng"`, or `"unknown"` (could not be opened).
    pub format: String,
    /// `"none"`, `"gzip"` or `"zstd"`.
    pub compression: String,
    /// Bytes in the file (as stored: compressed for compressed input);
    /// absent for standard input, named pipes and in schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of the file as stored (lowercase hex), as `sha256sum`
    /// prints it; absent for standard input and named pipes, with
    /// `--no-input-digest`, after an interrupt, and in schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Link types of its interfaces, in order of appearance (`"ether"`, ...).
    pub link_types: Vec<String>,
    /// Frames read.
    pub frames: u64,
    /// What went wrong; reading stopped at the first problem.
    pub problems: Vec<InputProblem>,
}

/// A problem with an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputProblem {
    /// Byte offset in the file (decompressed stream for compressed input), if any.
    pub offset: Option<u64>,
    /// The error message.
    pub message: String,
}

/// The options that shape the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// UDP flows included.
    pub udp: bool,
    /// Overlap policy name.
    pub overlap_policy: String,
    /// Delivered bytes kept per direction to compare retransmissions with
    /// (`--verify-window`); absent when 0 (off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub verify_window: usize,
    /// The filter expression, if any.
    pub filter: Option<String>,
    /// The flow selector (`--flows`); absent when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<String>,
    /// `--http`: how body files are named (`readable` or `sha256`); absent
    /// without `--http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// `"skip"` or `"zero"`.
    pub gaps: String,
    /// Most zero bytes written per gap (`gaps` = `"zero"`), else null.
    pub zero_fill_cap: Option<u64>,
    /// `"files"` or `"packed"`.
    pub layout: String,
    /// `"default"` or `"tcpflow"`.
    pub naming: String,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// Sums over the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Frames read over all inputs.
    pub frames: u64,
    /// Frames the filter rejected.
    pub filtered_out: u64,
    /// UDP datagrams skipped because UDP was not asked for.
    pub udp_ignored: u64,
    /// Flows.
    pub flows: u64,
    /// TCP flows.
    pub tcp_flows: u64,
    /// UDP flows.
    pub udp_flows: u64,
    /// Packets in flows.
    pub packets: u64,
    /// Bytes written over all directions.
    pub bytes: u64,
    /// Gaps over all directions (listed or not).
    pub gaps: u64,
    /// Overlap conflicts over all directions.
    pub conflicts: u64,
    /// Ledgers summed over all directions.
    pub ledger: LedgerOut,
    /// Packets of TCP connections already complete: after a clean close
    /// (both FINs delivered and acknowledged), within the linger time. They
    /// belong to no flow (the flow's record was final at its close) and
    /// are counted here; omitted when 0.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub late_packets: u64,
    /// Payload bytes of those packets (never delivered: after close).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub late_bytes: u64,
}

/// One flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Flow id: the frame number of its first packet.
    pub id: u64,
    /// `"tcp"` or `"udp"`.
    pub proto: String,
    /// The side that sent the SYN (or with no SYN seen, the first packet).
    pub client: Endpoint,
    /// The other side.
    pub server: Endpoint,
    /// First packet time, ns since the Unix epoch.
    pub first_ts: u64,
    /// First packet time, RFC 3339 UTC.
    pub first_time: String,
    /// Last packet time, ns since the Unix epoch.
    pub last_ts: u64,
    /// Last packet time, RFC 3339 UTC.
    pub last_time: String,
    /// `last_ts - first_ts`, ns.
    pub duration_ns: u64,
    /// Frame number of the first packet.
    pub first_frame: u64,
    /// Frame number of the last packet.
    pub last_frame: u64,
    /// How it ended (`fin`, `rst`, `idle-timeout`, `end-of-input`, `evicted`,
    /// `reused`); `end` in schema 1 (not a key `jq` can name bare).
    #[serde(alias = "end")]
    pub end_reason: String,
    /// Whether the handshake was seen from its SYN.
    pub syn_seen: bool,
    /// Times the connection went quiet past the TCP idle timeout (300 s)
    /// and carried on as the same flow; absent when 0.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub idle_resumptions: u32,
    /// The longest of those quiet periods, ns; absent when 0.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub longest_idle_ns: u64,
    /// Encapsulation of the first packet (`eth/vlan:6/ipv4`).
    pub encap: String,
    /// The client's MAC address (`aa:bb:cc:dd:ee:ff`) in the first packet's
    /// outermost link header that has addresses (Ethernet; 802.11 SA/DA;
    /// Linux SLL the sender only); absent when unknown, and in schema 2
    /// manifests written before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mac: Option<String>,
    /// The server's MAC address, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_mac: Option<String>,
    /// Client-to-server direction.
    pub c2s: Direction,
    /// Server-to-client direction.
    pub s2c: Direction,
}

/// An address and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Address in its usual text form.
    pub ip: String,
    /// Port.
    pub port: u16,
}

/// One direction of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Direction {
    /// Output file relative to the output directory, or null when the
    /// direction has no bytes; absent in `flows --json`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub file: Option<Option<String>>,
    /// UDP: the datagram index. Files layout: beside the file
    /// (`<file>.idx`: a header line `offset\tlength\tframe`, then one line
    /// per datagram); packed layout: `datagrams.idx` (the same lines
    /// prefixed with `flow\tdir`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// Packed layout: where the bytes start in `streams.bin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Packed layout: how many bytes there are in `streams.bin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// Bytes written (delivered bytes plus zero fill).
    pub bytes: u64,
    /// Packets sent in this direction.
    pub packets: u64,
    /// SHA-256 of the bytes written, lowercase hex (null when digests were
    /// turned off, `--no-digest`).
    pub sha256: Option<String>,
    /// Zero bytes written in place of missing bytes.
    pub zero_filled: u64,
    /// Missing byte ranges, offsets in the sender's stream (missing bytes included).
    pub gaps: Vec<GapOut>,
    /// Gaps not listed because the list was full (all are in `ledger.missing`).
    pub gaps_unlisted: u64,
    /// Where every captured payload byte went.
    pub ledger: LedgerOut,
    /// Overlaps whose two versions differed (events, not bytes; their bytes
    /// are in `ledger.overlap_lost`).
    pub conflicts: u64,
}

/// `Some(value)` for a present field, even when it is null.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A missing byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapOut {
    /// Stream offset of the first missing byte.
    pub offset: u64,
    /// Number of missing bytes.
    pub len: u64,
}

/// The byte ledger of a direction (see [`reassembly::Ledger`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerOut {
    /// Payload bytes in packets taken.
    pub captured: u64,
    /// Bytes delivered in order, each once.
    pub delivered: u64,
    /// Bytes seen again with the same content.
    pub duplicate: u64,
    /// Bytes seen again with different content that lost under the overlap policy.
    pub overlap_lost: u64,
    /// Bytes before the stream start or beyond the window.
    pub out_of_window: u64,
    /// Bytes after the stream ended.
    pub after_close: u64,
    /// Bytes dropped to respect a memory cap.
    pub evicted: u64,
    /// Bytes of keep-alive probes (counted, never delivered).
    #[serde(default)]
    pub keep_alive: u64,
    /// Bytes never captured (the sum of the gaps).
    pub missing: u64,
    /// Times a memory cap forced delivery past a hole.
    pub cap_flushes: u64,
    /// SYNs whose initial sequence number the peer never confirmed, ignored
    /// (events, not bytes).
    #[serde(default)]
    pub ignored_syns: u64,
}

impl From<&Ledger> for LedgerOut {
    fn from(l: &Ledger) -> Self {
        LedgerOut {
            captured: l.captured,
            delivered: l.delivered,
            duplicate: l.duplicate,
            overlap_lost: l.overlap_lost,
            out_of_window: l.out_of_window,
            after_close: l.after_close,
            evicted: l.evicted,
            keep_alive: l.keep_alive,
            missing: l.missing,
            cap_flushes: l.cap_flushes,
            ignored_syns: l.ignored_syns,
        }
    }
}

impl LedgerOut {
    fn add(&mut self, o: &LedgerOut) {
        self.captured += o.captured;
        self.delivered += o.delivered;
        self.duplicate += o.duplicate;
        self.overlap_lost += o.overlap_lost;
        self.out_of_window += o.out_of_window;
        self.after_close += o.after_close;
        self.evicted += o.evicted;
        self.keep_alive += o.keep_alive;
        self.missing += o.missing;
        self.cap_flushes += o.cap_flushes;
        self.ignored_syns += o.ignored_syns;
    }
}

/// How a direction's placement shows in its manifest entry: `file` (left
/// out for an unwritten direction, null for an empty one) and, in a packed
/// file, `offset` and `length`.
pub(crate) fn placed_fields(placement: Placement) -> (Option<Option<String>>, Option<(u64, u64)>) {
    match placement {
        Placement::Unwritten => (None, None),
        Placement::File(f) => (Some(f), None),
        Placement::Packed { length: 0, .. } => (Some(None), None),
        Placement::Packed {
            file,
            offset,
            length,
        } => (Some(Some(file)), Some((offset, length))),
    }
}

/// The datagram index of a UDP direction written to `file`: `<file>.idx`
/// beside its own file, `datagrams.idx` for `streams.bin`.
pub(crate) fn index_name(file: &str, packed: bool) -> String {
    if packed {
        crate::packed_index::DATAGRAMS_IDX.to_string()
    } else {
        format!("{file}{}", crate::files::IDX_SUFFIX)
    }
}

impl Direction {
    /// The manifest entry of one direction placed as `placement`.
    pub fn new(d: &DirRecord, placement: Placement) -> Direction {
        let (file, packed) = placed_fields(placement);
        Direction {
            file,
            index: None,
            offset: packed.map(|(offset, _)| offset),
            length: packed.map(|(_, length)| length),
            bytes: d.bytes,
            packets: d.packets,
            sha256: d.sha256.map(hex::encode),
            zero_filled: d.zero_filled,
            gaps: d
                .ledger
                .gaps
                .iter()
                .map(|g| GapOut {
                    offset: g.offset,
                    len: g.len,
                })
                .collect(),
            gaps_unlisted: d.ledger.gaps_unlisted,
            ledger: LedgerOut::from(&d.ledger),
            conflicts: d.ledger.conflicts,
        }
    }
}

impl Direction {
    /// With its datagram index named, for a UDP direction that has bytes:
    /// `<file>.idx` in its own file, `datagrams.idx` in `streams.bin`.
    fn indexed(mut self, proto: pcapread::Proto) -> Direction {
        if let (pcapread::Proto::Udp, Some(Some(file))) = (proto, &self.file) {
            self.index = Some(index_name(file, self.offset.is_some()));
        }
        self
    }
}

impl Flow {
    /// The manifest entry of a flow, its directions placed by `place`.
    pub fn new(r: &FlowRecord, mut place: impl FnMut(Dir) -> Placement) -> Flow {
        let h = &r.head;
        Flow {
            id: h.id,
            proto: h.proto.as_str().to_string(),
            client: Endpoint {
                ip: h.client.ip().to_string(),
                port: h.client.port(),
            },
            server: Endpoint {
                ip: h.server.ip().to_string(),
                port: h.server.port(),
            },
            first_ts: h.first_ts,
            first_time: rfc3339(h.first_ts),
            last_ts: r.last_ts,
            last_time: rfc3339(r.last_ts),
            duration_ns: r.last_ts.saturating_sub(h.first_ts),
            first_frame: h.id,
            last_frame: r.last_frame,
            end_reason: r.end.as_str().to_string(),
            syn_seen: h.syn_seen,
            idle_resumptions: r.idle_resumptions,
            longest_idle_ns: r.longest_idle,
            encap: h.encap.to_string(),
            client_mac: h.client_mac.map(|m| m.to_string()),
            server_mac: h.server_mac.map(|m| m.to_string()),
            c2s: Direction::new(&r.c2s, place(Dir::ClientToServer)).indexed(h.proto),
            s2c: Direction::new(&r.s2c, place(Dir::ServerToClient)).indexed(h.proto),
        }
    }
}

/// `"pcap"`, `"pcapng"` or `"unknown"`.
pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::Unknown => "unknown",
        Format::Pcap { .. } => "pcap",
        Format::PcapNg => "pcapng",
    }
}

/// `"none"`, `"gzip"` or `"zstd"`.
pub fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}

/// The manifest's input list.
pub fn inputs(summary: &Summary) -> Vec<Input> {
    summary
        .inputs
        .iter()
        .map(|i| Input {
            path: i.path.to_string_lossy().into_owned(),
            format: i
                .info
                .as_ref()
                .map_or("unknown", |x| format_name(x.format))
                .to_string(),
            compression: i
                .info
                .as_ref()
                .map_or("none", |x| compression_name(x.compression))
                .to_string(),
            size: None,
            sha256: None,
            link_types: i.link_types().iter().map(|l| l.name()).collect(),
            frames: i.frames,
            problems: i
                .problems
                .iter()
                .map(|p| InputProblem {
                    offset: p.offset,
                    message: p.message.clone(),
                })
                .collect(),
        })
        .collect()
}

/// Totals over manifest flows (the run's counters from `summary`).
pub fn totals(summary: &Summary, flows: &[Flow]) -> Totals {
    flow_totals(Totals::of_run(summary), flows)
}

/// `base` (the counters of what was read) with the sums over `flows` added.
pub fn flow_totals(base: Totals, flows: &[Flow]) -> Totals {
    let mut t = base;
    for f in flows {
        t.flows += 1;
        match f.proto.as_str() {
            "tcp" => t.tcp_flows += 1,
            _ => t.udp_flows += 1,
        }
        for d in [&f.c2s, &f.s2c] {
            t.packets += d.packets;
            t.bytes += d.bytes;
            t.gaps += d.gaps.len() as u64 + d.gaps_unlisted;
            t.conflicts += d.conflicts;
            t.ledger.add(&d.ledger);
        }
    }
    t
}

/// Totals over a run's flow records that `keep` accepts: the same numbers
/// as [`totals`] over the manifest flows made from them. An error is a
/// spilled record that could not be read back.
pub fn record_totals(
    summary: &Summary,
    keep: impl Fn(&FlowRecord) -> bool,
) -> anyhow::Result<Totals> {
    let mut t = Totals::of_run(summary);
    for r in summary.records() {
        let r = r?;
        if keep(&r) {
            t.add(&r);
        }
    }
    Ok(t)
}

impl Totals {
    /// The run's counters of `summary`, with no flow counted yet.
    pub fn of_run(summary: &Summary) -> Totals {
        Totals {
            frames: summary.frames,
            filtered_out: summary.filtered_out,
            udp_ignored: summary.udp_ignored,
            late_packets: summary.assembler.late_packets,
            late_bytes: summary.assembler.late_bytes,
            ..Totals::default()
        }
    }

    /// Count flow `r`.
    pub fn add(&mut self, r: &FlowRecord) {
        self.flows += 1;
        match r.head.proto {
            pcapread::Proto::Tcp => self.tcp_flows += 1,
            pcapread::Proto::Udp => self.udp_flows += 1,
        }
        for d in [&r.c2s, &r.s2c] {
            self.packets += d.packets;
            self.bytes += d.bytes;
            self.gaps += d.ledger.gaps.len() as u64 + d.ledger.gaps_unlisted;
            self.conflicts += d.ledger.conflicts;
            self.ledger.add(&LedgerOut::from(&d.ledger));
        }
    }

    /// Add `other`'s flow counts (not the run's counters).
    pub fn add_flows(&mut self, other: &Totals) {
        self.flows += other.flows;
        self.tcp_flows += other.tcp_flows;
        self.udp_flows += other.udp_flows;
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.gaps += other.gaps;
        self.conflicts += other.conflicts;
        self.ledger.add(&other.ledger);
    }

    /// These flow counts with the run's counters of `summary`.
    pub fn with_run(self, summary: &Summary) -> Totals {
        let mut t = Totals::of_run(summary);
        t.add_flows(&self);
        t
    }
}

/// The manifest as written: the same fields as [`Manifest`], with the flows
/// written one at a time from their records (a capture with millions of
/// flows never holds them all as JSON values). Write it with
/// [`ManifestOut::write_pretty`]: serde serializes every field but `flows`.
#[derive(Serialize)]
#[serde(bound = "")]
pub struct ManifestOut<'a, P: Fn(&FlowRecord, Dir) -> Placement> {
    /// The schema version ([`SCHEMA`]).
    pub schema: u32,
    /// The tool that wrote it.
    pub tool: Tool,
    /// Inputs, in the order given.
    pub inputs: Vec<Input>,
    /// Options that shape the output.
    pub options: Options,
    /// `--http`: where the HTTP objects are listed, and how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpOut>,
    /// A `--shard K/N` run's block (see [`Manifest::shard`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardOut>,
    /// Whether every input was read to its end without problems and all
    /// output was written.
    pub complete: bool,
    /// The error that stopped the run part way, if any (see [`Manifest::error`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Sums over everything.
    pub totals: Totals,
    /// The flow list file, when written ([`Manifest::flows_file`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows_file: Option<String>,
    /// Every flow, sorted by id (when [`Flows::inline`]); written by
    /// [`ManifestOut::write_pretty`] after the other fields.
    #[serde(skip)]
    pub flows: Flows<'a, P>,
}

impl<P: Fn(&FlowRecord, Dir) -> Placement> ManifestOut<'_, P> {
    /// Write the manifest as pretty JSON (no trailing newline): the text
    /// serde_json's pretty printer writes for the [`Manifest`] it stands
    /// for. The fields before `flows` are serialized by serde; `flows`, the
    /// last, is written flow by flow in the same layout (see
    /// [`crate::flow_json`]).
    pub fn write_pretty(&self, mut w: impl std::io::Write) -> anyhow::Result<()> {
        use serde_json::ser::Formatter;
        let head = serde_json::to_vec_pretty(self)?;
        if !self.flows.inline {
            w.write_all(&head)?;
            return Ok(());
        }
        // The fields so far (there is always one), without the closing `\n}`.
        let open = head
            .strip_suffix(b"\n}")
            .context("the manifest's fields as one JSON object")?;
        w.write_all(open)?;
        let mut f = crate::flow_json::Pretty::default();
        let mut buf = Vec::with_capacity(64 * 1024);
        // The formatter one object deep, where `open` left off.
        f.begin_object(&mut std::io::sink())?;
        f.begin_object_key(&mut buf, false)?;
        f.begin_string(&mut buf)?;
        f.write_string_fragment(&mut buf, "flows")?;
        f.end_string(&mut buf)?;
        f.end_object_key(&mut buf)?;
        f.begin_object_value(&mut buf)?;
        f.begin_array(&mut buf)?;
        let mut first = true;
        for r in self.flows.summary.records() {
            let r = r?;
            if (self.flows.keep)(&r) {
                let placed = engine::DIRS.map(|d| (self.flows.place)(&r, d));
                f.begin_array_value(&mut buf, first)?;
                first = false;
                crate::flow_json::write_flow(&mut buf, &mut f, &r, placed)?;
                f.end_array_value(&mut buf)?;
                if buf.len() >= 60 * 1024 {
                    w.write_all(&buf)?;
                    buf.clear();
                }
            }
        }
        f.end_array(&mut buf)?;
        f.end_object_value(&mut buf)?;
        f.end_object(&mut buf)?;
        w.write_all(&buf)?;
        Ok(())
    }
}

/// A run's flow records (read in id order, some perhaps from disk)
/// serialized as manifest [`Flow`]s: those `keep` accepts, each direction
/// placed by `place`.
pub struct Flows<'a, P: Fn(&FlowRecord, Dir) -> Placement> {
    /// The run whose records these are.
    pub summary: &'a Summary,
    /// Which records are listed.
    pub keep: &'a (dyn Fn(&FlowRecord) -> bool + Sync),
    /// Where a direction's bytes went.
    pub place: P,
    /// Whether `manifest.json` lists them (else only `flows.jsonl` does).
    pub inline: bool,
}

impl<P: Fn(&FlowRecord, Dir) -> Placement> Flows<'_, P> {
    /// Write them to `w`, one compact JSON object a line ([`FLOWS_FILE`]).
    pub fn write_lines(&self, mut w: impl std::io::Write) -> anyhow::Result<()> {
        let mut line = Vec::with_capacity(2048);
        for r in self.summary.records() {
            let r = r?;
            if (self.keep)(&r) {
                let placed = engine::DIRS.map(|d| (self.place)(&r, d));
                line.clear();
                crate::flow_json::write_flow(&mut line, &mut CompactFormatter, &r, placed)?;
                line.push(b'\n');
                w.write_all(&line)?;
            }
        }
        Ok(())
    }
}

/// One line of [`FLOWS_FILE`]: `flow` as compact JSON and a newline.
pub fn write_line(mut w: impl std::io::Write, flow: &Flow) -> anyhow::Result<()> {
    serde_json::to_writer(&mut w, flow)?;
    w.write_all(b"\n")?;
    Ok(())
}

/// SHA-256 (hex) over every option of `engine` that shapes the output, with
/// the layout and naming: [`ShardOut::options_digest`]. The thread count,
/// the record budget, the spill directory and the shard are left out.
pub fn options_digest(
    engine: &engine::EngineOptions,
    layout: &str,
    naming: crate::naming::Naming,
) -> String {
    use sha2::Digest as _;
    let text = format!(
        "udp={:?} filter={:?} flows={:?} assembler={:?} decoder={:?} housekeeping={:?} gaps={:?} \
         digest={:?} layout={layout} naming={}",
        engine.udp,
        engine.filter.as_ref().map(|f| f.expr()),
        engine.flows.as_ref().map(|f| f.expr()),
        engine.assembler,
        engine.decoder,
        engine.housekeeping,
        engine.gaps,
        engine.digest,
        naming.name(),
    );
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The options block for an engine run with the given layout and naming.
pub fn options(
    engine: &engine::EngineOptions,
    layout: &str,
    naming: crate::naming::Naming,
) -> Options {
    Options {
        udp: engine.udp,
        overlap_policy: engine.assembler.overlap_policy.name().to_string(),
        verify_window: engine.assembler.verify_window,
        filter: engine.filter.as_ref().map(|f| f.expr().to_string()),
        flows: engine.flows.as_ref().map(|f| f.expr().to_string()),
        gaps: engine.gaps.name().to_string(),
        zero_fill_cap: match engine.gaps {
            GapMode::Skip => None,
            GapMode::Zero { cap } => Some(cap),
        },
        layout: layout.to_string(),
        naming: naming.name().to_string(),
        http: None,
    }
}

/// The manifest's `http` block (`extract --http`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpOut {
    /// The object list, relative to the output directory.
    pub file: String,
    /// Objects it lists.
    pub objects: u64,
    /// The list of entities fetched in ranges, relative to the output directory.
    pub entities_file: String,
    /// Entities it lists.
    pub entities: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_field_absent_null_or_name() {
        let d = DirRecord::default();
        let unwritten = serde_json::to_value(Direction::new(&d, Placement::Unwritten)).unwrap();
        assert!(unwritten.get("file").is_none());
        let null = serde_json::to_value(Direction::new(&d, Placement::File(None))).unwrap();
        assert_eq!(null["file"], serde_json::Value::Null);
        let packed = Direction::new(
            &DirRecord {
                bytes: 3,
                ..DirRecord::default()
            },
            Placement::Packed {
                file: "streams.bin".into(),
                offset: 10,
                length: 3,
            },
        );
        let v = serde_json::to_value(&packed).unwrap();
        assert_eq!(v["offset"], 10);
        assert_eq!(v["length"], 3);
        // Round trip keeps "null" apart from "absent".
        let back: Direction = serde_json::from_value(null).unwrap();
        assert_eq!(back.file, Some(None));
        let back: Direction = serde_json::from_value(unwritten).unwrap();
        assert_eq!(back.file, None);
        let back: Direction = serde_json::from_value(v).unwrap();
        assert_eq!(back, packed);
    }

    /// A schema 1 manifest (no `schema`, `end` for the end reason) reads
    /// as schema 1 with the end reason in `end_reason`; written again it
    /// uses the new name.
    #[test]
    fn schema_1_manifests_are_read() {
        let record = FlowRecord {
            head: engine::FlowHead {
                id: 3,
                proto: pcapread::Proto::Tcp,
                client: "10.0.0.1:40000".parse().unwrap(),
                server: "10.0.0.2:80".parse().unwrap(),
                first_ts: 0,
                syn_seen: true,
                encap: Default::default(),
                client_mac: None,
                server_mac: None,
            },
            last_frame: 9,
            last_ts: 0,
            end: reassembly::EndReason::Rst,
            idle_resumptions: 0,
            longest_idle: 0,
            c2s: Default::default(),
            s2c: Default::default(),
            placed: None,
        };
        let flow = Flow::new(&record, |_| Placement::Unwritten);
        let mut v = serde_json::to_value(&flow).unwrap();
        let o = v.as_object_mut().unwrap();
        let reason = o.remove("end_reason").unwrap();
        o.insert("end".into(), reason.clone());
        let back: Flow = serde_json::from_value(v).unwrap();
        assert_eq!(back, flow);
        let again = serde_json::to_value(&back).unwrap();
        assert_eq!(again["end_reason"], reason);
        assert!(again.get("end").is_none());
        let old = serde_json::json!({
            "tool": Tool::this(),
            "inputs": [],
            "options": options(&engine::EngineOptions::default(), "files", crate::naming::Naming::Default),
            "complete": true,
            "totals": Totals::default(),
            "flows": [],
        });
        let m: Manifest = serde_json::from_value(old).unwrap();
        assert_eq!(m.schema, 1);
        assert_eq!(m.options.flows, None);
    }
}

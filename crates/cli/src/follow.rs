//! `streamcut follow`: a flow's two-way transcript in capture order, in the
//! spirit of tshark's `-z follow,tcp,ascii|hex|raw`.
//!
//! Reassembled bytes are cut at packet boundaries (each piece is the bytes one
//! packet contributed, found with `ScatterGather::capture_info`), and the
//! pieces of both directions are printed in the order of the frame that
//! carried them, so a reply comes after the request it answers even when the
//! request's bytes were delivered late (after a retransmission filled a hole).
//!
//! # Format
//! ```text
//! ===================================================================
//! Follow: tcp,ascii
//! Flow: 1 (end: fin)
//! Node 0: 10.0.0.1:49152 (client)
//! Node 1: 10.0.0.2:80 (server)
//! 18
//! GET / HTTP/1.0
//!
//! →[4 bytes missing]
//! →9
//! HTTP/1.0
//! ===================================================================
//! ```
//! Client pieces start at the margin, server pieces are indented by a tab
//! (shown as `→` above). Each
//! piece is its length then its bytes; a gap shows as `[N bytes missing]`
//! before the bytes that follow it. ASCII shows printable characters and
//! newlines, other bytes as `.`; `hex` is a 16-bytes-per-line dump with
//! stream offsets; `raw` is one lowercase hex string per piece.
//!
//! # Selection and raw bytes
//! `--flow` (repeatable) selects flows by id or endpoints
//! ([`crate::flow_select`]); `--dir c2s|s2c` keeps one direction's pieces.
//! `--as bin` writes one direction of one flow as its exact bytes (those
//! `extract` writes to its file, gaps left out) and nothing else, for
//! piping into `file`, `xxd` or a parser.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use reassembly::{Dir, ScatterGather};

use crate::args::FollowAs;
use crate::flow_select::FlowSel;
use engine::{FlowHead, FlowId, FlowRecord, Sink, Summary};

use crate::job::Job;

/// How transcript bytes are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Render {
    /// Printable ASCII and newlines, other bytes as `.`.
    #[default]
    Ascii,
    /// Hex dump, 16 bytes a line, with stream offsets.
    Hex,
    /// One hex string per piece.
    Raw,
}

impl Render {
    fn name(self) -> &'static str {
        match self {
            Render::Ascii => "ascii",
            Render::Hex => "hex",
            Render::Raw => "raw",
        }
    }
}

/// What `follow` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Transcripts, rendered so.
    Transcript(Render),
    /// The exact bytes of one direction of one flow.
    Bin,
}

impl From<FollowAs> for Output {
    fn from(a: FollowAs) -> Self {
        match a {
            FollowAs::Ascii => Output::Transcript(Render::Ascii),
            FollowAs::Hex => Output::Transcript(Render::Hex),
            FollowAs::Raw => Output::Transcript(Render::Raw),
            FollowAs::Bin => Output::Bin,
        }
    }
}

/// What `follow` shows.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// The flows (any selector matching); every flow when empty.
    pub select: Vec<FlowSel>,
    /// Only this direction; both when `None`.
    pub dir: Option<Dir>,
}

/// The bytes one packet contributed to one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Direction.
    pub dir: Dir,
    /// Frame that carried the bytes (for an empty end-of-direction piece, the
    /// last frame of that direction's bytes).
    pub frame: u64,
    /// Bytes missing right before this piece.
    pub gap: u64,
    /// Stream offset of the first byte.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// One flow's transcript.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The flow.
    pub head: FlowHead,
    /// Pieces in delivery order (sorted by frame when printed).
    pub pieces: Vec<Piece>,
    /// The final record, once the flow completed.
    pub record: Option<FlowRecord>,
}

impl Transcript {
    /// Pieces in capture order: by frame, ties in delivery order.
    pub fn in_capture_order(&self) -> Vec<&Piece> {
        let mut v: Vec<&Piece> = self.pieces.iter().collect();
        v.sort_by_key(|p| p.frame);
        v
    }
}

/// Collects the transcripts of the selected flows.
#[derive(Debug, Default)]
pub struct FollowSink {
    select: Vec<FlowSel>,
    /// Transcripts by flow id.
    pub flows: BTreeMap<FlowId, Transcript>,
    /// Last frame that carried bytes, per flow and direction.
    last_frame: BTreeMap<(FlowId, usize), u64>,
}

impl FollowSink {
    /// Follow the flows `select` matches (every flow when it is empty).
    pub fn new(select: Vec<FlowSel>) -> FollowSink {
        FollowSink {
            select,
            ..FollowSink::default()
        }
    }

    fn wanted(&self, head: &FlowHead) -> bool {
        self.select.is_empty() || self.select.iter().any(|s| s.matches(head))
    }
}

impl Sink for FollowSink {
    fn wants_deliveries(&self) -> bool {
        true
    }

    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        if self.wanted(head) {
            self.flows.insert(
                head.id,
                Transcript {
                    head: head.clone(),
                    pieces: Vec::new(),
                    record: None,
                },
            );
        }
        Ok(())
    }

    fn write(&mut self, _head: &FlowHead, _dir: Dir, _bytes: &[u8]) -> anyhow::Result<()> {
        Ok(())
    }

    fn delivery(
        &mut self,
        head: &FlowHead,
        dir: Dir,
        gap: u64,
        sg: &ScatterGather<'_>,
    ) -> anyhow::Result<()> {
        let Some(t) = self.flows.get_mut(&head.id) else {
            return Ok(());
        };
        let key = (head.id, usize::from(dir == Dir::ServerToClient));
        let first = t.pieces.len();
        let mut at = 0usize;
        for chunk in sg.chunks() {
            let frame = sg.capture_info(at).map_or(0, |c| c.frame);
            let offset = sg.stream_offset() + at as u64;
            at += chunk.len();
            let fresh = t.pieces.len() == first;
            match t.pieces.last_mut() {
                Some(p) if !fresh && p.frame == frame => p.data.extend_from_slice(chunk),
                _ => t.pieces.push(Piece {
                    dir,
                    frame,
                    gap: if t.pieces.len() == first { gap } else { 0 },
                    offset,
                    data: chunk.to_vec(),
                }),
            }
        }
        if let Some(p) = t.pieces.last() {
            if t.pieces.len() > first {
                self.last_frame.insert(key, p.frame);
            }
        }
        if t.pieces.len() == first && gap > 0 {
            // A gap with no bytes after it (the end of the direction).
            t.pieces.push(Piece {
                dir,
                frame: self.last_frame.get(&key).copied().unwrap_or(head.id),
                gap,
                offset: sg.stream_offset(),
                data: Vec::new(),
            });
        }
        Ok(())
    }

    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        if let Some(t) = self.flows.get_mut(&record.head.id) {
            t.record = Some(record.clone());
        }
        Ok(())
    }
}

/// The "no such flow" usage error.
#[derive(Debug, thiserror::Error)]
#[error("no flow with id {0} (`streamcut flows` lists ids; UDP flows need --udp)")]
pub struct NoSuchFlow(pub FlowId);

/// A `--flow` selector that matched no flow.
#[derive(Debug, thiserror::Error)]
#[error("no flow between {0} (`streamcut flows` lists them; UDP flows need --udp)")]
pub struct NoFlowBetween(pub FlowSel);

/// `--as bin` with a selection of several flows.
#[derive(Debug, thiserror::Error)]
#[error("--as bin writes one flow, but {sel} selects {} flows (ids {}); select one by id", ids.len(), ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))]
pub struct SeveralFlows {
    /// The selector.
    pub sel: FlowSel,
    /// The flows it selected.
    pub ids: Vec<FlowId>,
}

/// Run `follow`: print the transcripts of the flows `opts` selects (every
/// flow when none is), in id order, or with [`Output::Bin`] the bytes of
/// the one selected flow's one direction, to `out`. A selector matching
/// nothing is an error ([`NoSuchFlow`], [`NoFlowBetween`]).
pub fn run(
    job: &Job,
    opts: &FollowOptions,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let mut sink = FollowSink::new(opts.select.clone());
    let summary = job.run(&mut sink)?;
    for sel in &opts.select {
        if !sink.flows.values().any(|t| sel.matches(&t.head)) {
            return Err(match *sel {
                FlowSel::Id(id) => NoSuchFlow(id).into(),
                s => NoFlowBetween(s).into(),
            });
        }
    }
    match output {
        Output::Transcript(render) => {
            for t in sink.flows.values_mut() {
                if let Some(dir) = opts.dir {
                    t.pieces.retain(|p| p.dir == dir);
                }
                out.write_all(render_transcript(t, render).as_bytes())?;
            }
        }
        Output::Bin => {
            let ids: Vec<FlowId> = sink.flows.keys().copied().collect();
            if let ([sel], [_, _, ..]) = (opts.select.as_slice(), ids.as_slice()) {
                return Err(SeveralFlows { sel: *sel, ids }.into());
            }
            let dir = opts.dir.unwrap_or(Dir::ClientToServer);
            for t in sink.flows.values() {
                for p in t.pieces.iter().filter(|p| p.dir == dir) {
                    out.write_all(&p.data)?;
                }
            }
        }
    }
    Ok(summary)
}

const RULE: &str = "===================================================================";

/// The text of one transcript.
pub fn render_transcript(t: &Transcript, render: Render) -> String {
    let h = &t.head;
    let mut s = String::new();
    let _ = writeln!(s, "{RULE}");
    let _ = writeln!(s, "Follow: {},{}", h.proto, render.name());
    match &t.record {
        Some(r) => {
            let _ = writeln!(s, "Flow: {} (end: {})", h.id, r.end.as_str());
        }
        None => {
            let _ = writeln!(s, "Flow: {}", h.id);
        }
    }
    let _ = writeln!(s, "Node 0: {} (client)", h.client);
    let _ = writeln!(s, "Node 1: {} (server)", h.server);
    for p in t.in_capture_order() {
        let indent = match p.dir {
            Dir::ClientToServer => "",
            Dir::ServerToClient => "\t",
        };
        if p.gap > 0 {
            let _ = writeln!(s, "{indent}[{} bytes missing]", p.gap);
        }
        if p.data.is_empty() {
            continue;
        }
        match render {
            Render::Ascii => {
                let _ = writeln!(s, "{indent}{}", p.data.len());
                s.extend(p.data.iter().map(|&b| match b {
                    b'\n' | 0x20..=0x7e => char::from(b),
                    _ => '.',
                }));
                s.push('\n');
            }
            Render::Raw => {
                let _ = writeln!(s, "{indent}{}", hex::encode(&p.data));
            }
            Render::Hex => hexdump(&mut s, indent, p.offset, &p.data),
        }
    }
    let _ = writeln!(s, "{RULE}");
    s
}

/// 16 bytes a line: offset, hex (extra space after 8 bytes), ASCII.
fn hexdump(s: &mut String, indent: &str, offset: u64, data: &[u8]) {
    for (i, line) in data.chunks(16).enumerate() {
        let _ = write!(s, "{indent}{:08X}  ", offset + (i as u64) * 16);
        for k in 0..16 {
            match line.get(k) {
                Some(b) => {
                    let _ = write!(s, "{b:02x} ");
                }
                None => s.push_str("   "),
            }
            if k == 7 {
                s.push(' ');
            }
        }
        s.push(' ');
        s.extend(line.iter().map(|&b| match b {
            0x20..=0x7e => char::from(b),
            _ => '.',
        }));
        s.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcapread::{EncapPath, Proto};

    fn transcript(pieces: Vec<Piece>) -> Transcript {
        Transcript {
            head: FlowHead {
                id: 1,
                proto: Proto::Tcp,
                client: "10.0.0.1:1234".parse().unwrap(),
                server: "10.0.0.2:80".parse().unwrap(),
                first_ts: 0,
                syn_seen: true,
                encap: EncapPath::new().into(),
                client_mac: None,
                server_mac: None,
            },
            pieces,
            record: None,
        }
    }

    fn piece(dir: Dir, frame: u64, gap: u64, offset: u64, data: &[u8]) -> Piece {
        Piece {
            dir,
            frame,
            gap,
            offset,
            data: data.to_vec(),
        }
    }

    #[test]
    fn pieces_print_in_frame_order_with_gaps() {
        let t = transcript(vec![
            // Delivered late (after the reply) but carried by an earlier frame.
            piece(Dir::ServerToClient, 6, 0, 0, b"OK\r\n"),
            piece(Dir::ClientToServer, 4, 0, 0, b"GET\x00\n"),
            piece(Dir::ClientToServer, 8, 3, 8, b"x"),
        ]);
        assert_eq!(
            render_transcript(&t, Render::Ascii),
            format!(
                "{RULE}\nFollow: tcp,ascii\nFlow: 1\nNode 0: 10.0.0.1:1234 (client)\n\
                 Node 1: 10.0.0.2:80 (server)\n5\nGET.\n\n\t4\nOK.\n\n[3 bytes missing]\n1\nx\n{RULE}\n"
            )
        );
        let raw = render_transcript(&t, Render::Raw);
        assert!(raw.contains("\n474554000a\n\t4f4b0d0a\n"), "{raw}");
    }

    #[test]
    fn hexdump_lines() {
        let mut s = String::new();
        hexdump(&mut s, "\t", 16, b"0123456789abcdefXY");
        assert_eq!(
            s,
            "\t00000010  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  0123456789abcdef\n\
             \t00000020  58 59                                             XY\n"
        );
    }
}

//! Test harness: segments built by hand and a stream that records every call.
#![allow(dead_code)]

use pcapread::{EncapPath, FiveTuple, Proto, Segment, TcpFlags, TcpInfo, TcpOptions, Transport};
use reassembly::{
    Accept, AcceptInfo, Assembler, AssemblerConfig, Completion, Conflict, Dir, ScatterGather,
    Skipped, Stream, StreamFactory, StreamInfo,
};

pub const SYN: u8 = TcpFlags::SYN;
pub const ACK: u8 = TcpFlags::ACK;
pub const FIN: u8 = TcpFlags::FIN;
pub const RST: u8 = TcpFlags::RST;
pub const PSH: u8 = TcpFlags::PSH;

/// One `reassembled` call as seen by the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub dir: Dir,
    pub bytes: Vec<u8>,
    pub skip: u64,
    pub start: bool,
    pub end: bool,
    pub saved: usize,
    pub offset: u64,
}

#[derive(Debug, Default)]
pub struct Record {
    pub info: Option<StreamInfo>,
    pub deliveries: Vec<Delivery>,
    /// Conflicts in the order reported, with the number of deliveries made before each.
    pub conflicts: Vec<(Conflict, usize)>,
    pub completion: Option<Completion>,
    pub completions: usize,
    /// Calls after complete (must stay 0).
    pub late_calls: usize,
}

impl Record {
    /// All bytes of one direction in order, with skipped bytes left out (kept
    /// bytes are counted once).
    pub fn bytes(&self, dir: Dir) -> Vec<u8> {
        let mut out = Vec::new();
        for d in self.deliveries.iter().filter(|d| d.dir == dir) {
            out.extend_from_slice(&d.bytes[d.saved..]);
        }
        out
    }

    /// Bytes of one direction placed at their stream offsets; missing bytes are `None`.
    pub fn placed(&self, dir: Dir) -> Vec<Option<u8>> {
        let mut out: Vec<Option<u8>> = Vec::new();
        for d in self.deliveries.iter().filter(|d| d.dir == dir) {
            let new_start = d.offset as usize + d.saved;
            if out.len() < new_start {
                out.resize(new_start, None);
            }
            for (i, b) in d.bytes[d.saved..].iter().enumerate() {
                let at = new_start + i;
                if at < out.len() {
                    assert_eq!(
                        out[at],
                        Some(*b),
                        "byte {at} delivered twice with different values"
                    );
                } else {
                    out.push(Some(*b));
                }
            }
        }
        out
    }

    pub fn total_skip(&self, dir: Dir) -> u64 {
        self.deliveries
            .iter()
            .filter(|d| d.dir == dir)
            .map(|d| d.skip)
            .sum()
    }
}

/// A connection's stream: its record is `streams[.0]` of the factory.
pub struct Rec(pub usize);

impl Stream for Rec {
    type Context = Factory;

    fn accept(&mut self, seg: &Segment<'_>, _info: &AcceptInfo, ctx: &mut Factory) -> Accept {
        ctx.verdicts
            .iter()
            .find(|(f, _)| *f == seg.frame)
            .map(|(_, v)| *v)
            .unwrap_or(Accept::Take)
    }

    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, ctx: &mut Factory) {
        let r = &mut ctx.streams[self.0];
        if r.completions > 0 {
            r.late_calls += 1;
        }
        let bytes: Vec<u8> = sg.chunks().flatten().copied().collect();
        assert_eq!(bytes.len(), sg.len());
        assert_eq!(sg.fetch(usize::MAX).as_ref(), &bytes[..]);
        let (_, saved) = sg.lengths();
        let idx = r.deliveries.len();
        r.deliveries.push(Delivery {
            dir: sg.dir(),
            bytes,
            skip: match sg.skip() {
                Skipped::None => 0,
                Skipped::Bytes(n) => n,
            },
            start: sg.start(),
            end: sg.end(),
            saved,
            offset: sg.stream_offset(),
        });
        if let Some(Some(k)) = ctx.keep_plan.get(idx) {
            sg.keep_from(*k);
        }
    }

    fn conflict(&mut self, c: &Conflict, ctx: &mut Factory) {
        let r = &mut ctx.streams[self.0];
        if r.completions > 0 {
            r.late_calls += 1;
        }
        let n = r.deliveries.len();
        r.conflicts.push((*c, n));
    }

    fn complete(&mut self, c: &Completion, ctx: &mut Factory) {
        let r = &mut ctx.streams[self.0];
        r.completions += 1;
        r.completion = Some(c.clone());
    }
}

/// Makes the streams and, as the context of their calls, holds their records.
#[derive(Default)]
pub struct Factory {
    /// One record per connection, in creation order.
    pub streams: Vec<Record>,
    /// `keep_from` instruction per call index of each stream (relative
    /// offset), applied in `reassembled`.
    pub keep_plan: Vec<Option<usize>>,
    /// Accept verdict for packets by frame number.
    pub verdicts: Vec<(u64, Accept)>,
}

impl StreamFactory for Factory {
    type Stream = Rec;
    fn new_stream(&mut self, info: &StreamInfo) -> Rec {
        self.streams.push(Record {
            info: Some(*info),
            ..Default::default()
        });
        Rec(self.streams.len() - 1)
    }
}

pub fn client() -> FiveTuple {
    FiveTuple {
        proto: Proto::Tcp,
        src: "10.0.0.1:40000".parse().unwrap(),
        dst: "10.0.0.2:80".parse().unwrap(),
    }
}

/// A segment description: direction (true = client to server), seq, ack, flags, payload.
#[derive(Debug, Clone)]
pub struct Pkt {
    pub c2s: bool,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
    pub truncated: u32,
    pub ts: u64,
}

pub fn c(seq: u32, flags: u8, payload: &[u8]) -> Pkt {
    Pkt {
        c2s: true,
        seq,
        ack: 0,
        flags,
        payload: payload.to_vec(),
        truncated: 0,
        ts: 0,
    }
}

pub fn s(seq: u32, flags: u8, payload: &[u8]) -> Pkt {
    Pkt {
        c2s: false,
        seq,
        ack: 0,
        flags,
        payload: payload.to_vec(),
        truncated: 0,
        ts: 0,
    }
}

impl Pkt {
    pub fn ack(mut self, ack: u32) -> Pkt {
        self.ack = ack;
        self.flags |= ACK;
        self
    }
    pub fn at(mut self, ts: u64) -> Pkt {
        self.ts = ts;
        self
    }
    pub fn truncated(mut self, n: u32) -> Pkt {
        self.truncated = n;
        self
    }
}

pub fn segment<'a>(p: &'a Pkt, frame: u64, tuple: FiveTuple) -> Segment<'a> {
    Segment {
        frame,
        ts: if p.ts == 0 { frame * 1_000_000 } else { p.ts },
        tuple: if p.c2s { tuple } else { tuple.reversed() },
        transport: Transport::Tcp(TcpInfo {
            seq: p.seq,
            ack: p.ack,
            flags: TcpFlags(p.flags),
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
        }),
        payload: &p.payload,
        truncated: p.truncated,
        encap: EncapPath::new(),
        link: Default::default(),
        defragmented: false,
    }
}

pub fn udp_segment<'a>(c2s: bool, payload: &'a [u8], frame: u64) -> Segment<'a> {
    let t = FiveTuple {
        proto: Proto::Udp,
        src: "10.0.0.1:5353".parse().unwrap(),
        dst: "10.0.0.2:53".parse().unwrap(),
    };
    Segment {
        frame,
        ts: frame * 1_000_000,
        tuple: if c2s { t } else { t.reversed() },
        transport: Transport::Udp,
        payload,
        truncated: 0,
        encap: EncapPath::new(),
        link: Default::default(),
        defragmented: false,
    }
}

/// Run packets through a fresh assembler and end the input.
pub fn run_with(cfg: AssemblerConfig, pkts: &[Pkt]) -> Vec<Record> {
    run_factory(cfg, Factory::default(), pkts)
}

pub fn run_factory(cfg: AssemblerConfig, factory: Factory, pkts: &[Pkt]) -> Vec<Record> {
    let mut a = Assembler::new(cfg, factory);
    for (i, p) in pkts.iter().enumerate() {
        a.assemble(&segment(p, i as u64 + 1, client()));
    }
    a.flush_all();
    assert_eq!(a.pages_in_use(), 0, "pages leaked after flush_all");
    let f = a.into_factory();
    for r in &f.streams {
        assert_eq!(r.completions, 1, "complete must be called exactly once");
        assert_eq!(r.late_calls, 0, "no call after complete");
        let c = r.completion.as_ref().unwrap();
        assert!(c.c2s.balanced(), "c2s ledger unbalanced: {:?}", c.c2s);
        assert!(c.s2c.balanced(), "s2c ledger unbalanced: {:?}", c.s2c);
        assert_eq!(c.c2s.buffered, 0);
        assert_eq!(c.s2c.buffered, 0);
        for (dir, l) in [(Dir::ClientToServer, &c.c2s), (Dir::ServerToClient, &c.s2c)] {
            let reported = r.conflicts.iter().filter(|(x, _)| x.dir == dir).count();
            assert_eq!(
                l.conflicts, reported as u64,
                "ledger counts each reported conflict"
            );
        }
    }
    f.streams
}

pub fn run(pkts: &[Pkt]) -> Vec<Record> {
    run_with(AssemblerConfig::default(), pkts)
}

/// The three packets of a handshake with client ISN `ci` and server ISN `si`.
pub fn handshake(ci: u32, si: u32) -> Vec<Pkt> {
    vec![
        c(ci, SYN, b""),
        s(si, SYN, b"").ack(ci.wrapping_add(1)),
        c(ci.wrapping_add(1), 0, b"").ack(si.wrapping_add(1)),
    ]
}

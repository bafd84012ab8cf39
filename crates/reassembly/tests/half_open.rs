//! Half-open connections held as a bare SYN (`compact_half_open`, on by
//! default): every stream sees the same calls as with the option off, only
//! the creation of a stream whose first packet is a bare SYN (and its
//! `accept` of that SYN) comes later; the SYN-flood case costs no stream at
//! all until the end; a full table evicts half-open connections first.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use pcapread::{
    EncapPath, FiveTuple, FlowKey, LinkAddrs, Mac, Proto, Segment, TcpFlags, TcpInfo, TcpOptions,
    Transport,
};
use proptest::prelude::*;
use reassembly::{
    Accept, AcceptInfo, Assembler, AssemblerConfig, Completion, Conflict, Dir, EndReason,
    ScatterGather, Stream, StreamFactory, StreamInfo,
};

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PSH: u8 = TcpFlags::PSH;

/// One stream callback, as the flow (its first frame) saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    New(StreamInfo),
    Accept(Segment<'static>, Dir),
    Bytes(Dir, u64, Vec<u8>, bool, bool),
    Conflict(Conflict),
    Parked,
    Complete(Completion),
}

/// Every call in order, tagged with its flow and the step that made it.
#[derive(Default)]
struct Log {
    calls: Vec<(u64, Call)>,
    /// The step of each call.
    steps: Vec<usize>,
    step: usize,
    /// Frames whose segment the stream drops.
    drop: HashSet<u64>,
}

struct Rec(u64);

fn leak(seg: &Segment<'_>) -> Segment<'static> {
    Segment {
        payload: Box::leak(seg.payload.to_vec().into_boxed_slice()),
        ..*seg
    }
}

impl Log {
    fn push(&mut self, flow: u64, call: Call) {
        self.calls.push((flow, call));
        self.steps.push(self.step);
    }
}

impl Stream for Rec {
    type Context = Log;
    fn accept(&mut self, seg: &Segment<'_>, info: &AcceptInfo, log: &mut Log) -> Accept {
        log.push(self.0, Call::Accept(leak(seg), info.dir));
        if log.drop.contains(&seg.frame) {
            Accept::Drop
        } else {
            Accept::Take
        }
    }
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, log: &mut Log) {
        let bytes = sg.chunks().flatten().copied().collect();
        let call = Call::Bytes(sg.dir(), sg.stream_offset(), bytes, sg.start(), sg.end());
        log.push(self.0, call);
    }
    fn conflict(&mut self, c: &Conflict, log: &mut Log) {
        log.push(self.0, Call::Conflict(*c));
    }
    fn parked(&mut self, log: &mut Log) {
        log.push(self.0, Call::Parked);
    }
    fn complete(&mut self, c: &Completion, log: &mut Log) {
        log.push(self.0, Call::Complete(c.clone()));
    }
}

impl StreamFactory for Log {
    type Stream = Rec;
    fn new_stream(&mut self, info: &StreamInfo) -> Rec {
        self.push(info.first_frame, Call::New(*info));
        Rec(info.first_frame)
    }
}

/// What a test feeds: a packet, or a housekeeping call at a time.
#[derive(Debug, Clone)]
enum Step {
    /// Flow, from the client, flags, sequence offset, ACK offset, payload, time step.
    Packet(u16, bool, u8, u32, u32, Vec<u8>, u64),
    Flush(u64),
    Close(u64),
    Expire(u64),
}

/// A segment of flow `port` at (frame, time).
fn segment(
    (frame, ts): (u64, u64),
    port: u16,
    c2s: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Segment<'_> {
    let client: SocketAddr = format!("10.0.0.1:{}", 40000 + port).parse().unwrap();
    let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let (src, dst) = if c2s {
        (client, server)
    } else {
        (server, client)
    };
    Segment {
        frame,
        ts,
        tuple: FiveTuple {
            proto: Proto::Tcp,
            src,
            dst,
        },
        transport: Transport::Tcp(TcpInfo {
            seq,
            ack: if flags & ACK != 0 { ack } else { 0 },
            flags: TcpFlags(flags),
            window: 512,
            urgent: 0,
            options: TcpOptions {
                mss: (flags & SYN != 0).then_some(1460),
                ..TcpOptions::default()
            },
        }),
        payload,
        truncated: 0,
        encap: EncapPath::new(),
        link: LinkAddrs {
            src: Some(Mac([2, 0, 0, 0, 0, u8::from(c2s)])),
            dst: None,
        },
        defragmented: false,
    }
}

/// Feed `steps` with `compact_half_open` set to `compact`; the calls and
/// the stats, with the connection count after every step. Frame numbers
/// count up, or jump around when `scramble` is set (a library caller may
/// number packets as it likes).
fn run(
    steps: &[Step],
    drops: &HashSet<u64>,
    scramble: bool,
    compact: bool,
) -> (Log, reassembly::AssemblerStats, Vec<usize>) {
    let cfg = AssemblerConfig {
        compact_half_open: compact,
        tcp_idle_timeout: 100,
        resume_window: 400,
        max_parked: 2,
        close_linger: 50,
        ..AssemblerConfig::default()
    };
    let log = Log {
        drop: drops.clone(),
        ..Log::default()
    };
    let mut asm = Assembler::new(cfg, log);
    let (mut frame, mut now) = (0u64, 1u64);
    let mut counts = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        asm.factory_mut().step = k;
        match step {
            Step::Packet(port, c2s, flags, seq, ack, payload, dt) => {
                frame += 1;
                now += dt;
                let frame = if scramble {
                    frame * 37 % 101 + 1
                } else {
                    frame
                };
                // Client ISN 1000, server ISN 5000 (a second server ISN 7000 for port 3).
                let (isn, peer) = if *c2s {
                    (1000, 5000)
                } else {
                    (if *port == 3 { 7000 } else { 5000 }, 1000)
                };
                let seg = segment(
                    (frame, now),
                    *port,
                    *c2s,
                    *flags,
                    isn + seq,
                    peer + ack,
                    payload,
                );
                asm.assemble(&seg);
            }
            Step::Flush(back) => asm.flush_older_than(now.saturating_sub(*back)),
            Step::Close(back) => asm.close_older_than(now.saturating_sub(*back)),
            Step::Expire(ahead) => {
                now += ahead;
                asm.expire(now);
            }
        }
        counts.push(asm.connections());
    }
    asm.factory_mut().step = steps.len();
    asm.flush_all();
    counts.push(asm.connections());
    let stats = asm.stats();
    (asm.into_factory(), stats, counts)
}

/// The calls of each flow, in order.
fn by_flow(log: &Log) -> BTreeMap<u64, Vec<Call>> {
    let mut m: BTreeMap<u64, Vec<Call>> = BTreeMap::new();
    for (f, c) in &log.calls {
        m.entry(*f).or_default().push(c.clone());
    }
    m
}

/// The calls that are not the creation of a stream or its `accept` of a
/// packet, by step and then by flow: these are the same with or without
/// compact half-open connections. (Within one housekeeping call, flushes
/// of different flows come in the order of their slots, which differs.)
fn outputs(log: &Log) -> Vec<(usize, u64, Call)> {
    let mut v: Vec<(usize, u64, Call)> = log
        .calls
        .iter()
        .zip(&log.steps)
        .filter(|((_, c), _)| !matches!(c, Call::New(_) | Call::Accept(..)))
        .map(|((f, c), s)| (*s, *f, c.clone()))
        .collect();
    v.sort_by_key(|(s, f, _)| (*s, *f));
    v
}

/// The completions in the order they came.
fn completions(log: &Log) -> Vec<(u64, Call)> {
    log.calls
        .iter()
        .filter(|(_, c)| matches!(c, Call::Complete(_) | Call::Parked))
        .cloned()
        .collect()
}

fn step() -> impl Strategy<Value = Step> {
    let flags = prop::sample::select(vec![
        SYN,
        SYN,
        SYN | ACK,
        ACK,
        ACK | PSH,
        FIN | ACK,
        RST,
        SYN | TcpFlags::ECE | TcpFlags::CWR,
    ]);
    prop_oneof![
        8 => (1u16..5, any::<bool>(), flags, 0u32..8, 0u32..8, prop::collection::vec(b'a'..b'e', 0..4), prop::sample::select(vec![0u64, 1, 5, 60, 150]))
            .prop_map(|(p, c, f, s, a, d, dt)| Step::Packet(p, c, f, s, a, if f & SYN != 0 && d.len() > 1 { Vec::new() } else { d }, dt)),
        1 => (0u64..200).prop_map(Step::Flush),
        1 => (0u64..200).prop_map(Step::Close),
        1 => prop::sample::select(vec![0u64, 50, 120, 600]).prop_map(Step::Expire),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compact_half_open_connections_change_nothing_but_when_a_stream_is_made(
        steps in prop::collection::vec(step(), 1..40),
        drops in prop::collection::hash_set(1u64..40, 0..3),
        scramble in any::<bool>(),
    ) {
        let (full, full_stats, full_counts) = run(&steps, &drops, scramble, false);
        let (compact, compact_stats, compact_counts) = run(&steps, &drops, scramble, true);
        prop_assert_eq!(by_flow(&full), by_flow(&compact));
        prop_assert_eq!(outputs(&full), outputs(&compact));
        prop_assert_eq!(completions(&full), completions(&compact));
        prop_assert_eq!(full_stats, compact_stats);
        prop_assert_eq!(full_counts, compact_counts);
    }
}

/// `n` SYNs to `n` addresses, 1 ms apart.
fn syn_flood(asm: &mut Assembler<Log>, n: u32) {
    for i in 0..n {
        let dst = std::net::Ipv4Addr::from((10u32 << 24) + i + 1);
        let seg = Segment {
            tuple: FiveTuple {
                proto: Proto::Tcp,
                src: "192.0.2.1:40000".parse().unwrap(),
                dst: SocketAddr::from((dst, 80)),
            },
            ..segment(
                (u64::from(i) + 1, u64::from(i) * 1_000_000),
                0,
                true,
                SYN,
                1000 + i,
                0,
                b"",
            )
        };
        asm.assemble(&seg);
    }
}

#[test]
fn a_syn_flood_makes_no_stream_until_each_connection_ends() {
    let mut asm = Assembler::new(AssemblerConfig::default(), Log::default());
    syn_flood(&mut asm, 10_000);
    assert_eq!(asm.connections(), 10_000);
    assert_eq!(asm.half_open(), 10_000);
    assert!(asm.factory().calls.is_empty(), "no stream made yet");
    assert_eq!(asm.stats().connections, 10_000);
    assert_eq!(asm.stats().connections_high_water, 10_000);
    asm.flush_all();
    assert_eq!(asm.connections(), 0);
    let flows = by_flow(asm.factory());
    assert_eq!(flows.len(), 10_000);
    // Completed in order of first packet, each as a one-packet flow.
    let completed: Vec<u64> = asm
        .factory()
        .calls
        .iter()
        .filter(|(_, c)| matches!(c, Call::Complete(_)))
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(completed, (1..=10_000).collect::<Vec<u64>>());
    for (frame, calls) in flows {
        let [Call::New(info), Call::Accept(seg, Dir::ClientToServer), Call::Complete(c)] =
            &calls[..]
        else {
            panic!("flow {frame}: {calls:?}");
        };
        assert_eq!((info.first_frame, info.syn_seen), (frame, true));
        assert_eq!(seg.frame, frame);
        assert_eq!(
            (c.reason, c.packets, c.last_frame),
            (EndReason::EndOfInput, [1, 0], frame)
        );
    }
    // The store gave the flood's memory back and works as new.
    let before = asm.factory().calls.len();
    syn_flood(&mut asm, 3);
    assert_eq!((asm.half_open(), asm.factory().calls.len()), (3, before));
    asm.flush_all();
    assert_eq!(asm.factory().calls.len(), before + 9);
}

#[test]
fn the_stream_of_a_half_open_connection_is_made_at_its_second_packet() {
    let mut asm = Assembler::new(AssemblerConfig::default(), Log::default());
    asm.assemble(&segment((1, 10), 1, true, SYN, 1000, 0, b""));
    asm.assemble(&segment((2, 11), 2, true, SYN, 1000, 0, b""));
    assert!(asm.factory().calls.is_empty());
    asm.assemble(&segment((3, 12), 2, false, SYN | ACK, 5000, 1001, b""));
    let calls = &asm.factory().calls;
    assert_eq!(calls.len(), 3, "{calls:?}");
    let (2, Call::New(info)) = &calls[0] else {
        panic!("{calls:?}")
    };
    assert_eq!((info.first_frame, info.first_ts), (2, 11));
    assert!(
        matches!(&calls[1], (2, Call::Accept(s, Dir::ClientToServer)) if s.frame == 2 && s.ts == 11)
    );
    assert!(matches!(&calls[2], (2, Call::Accept(s, Dir::ServerToClient)) if s.frame == 3));
    assert_eq!((asm.connections(), asm.half_open()), (2, 1));
}

#[test]
fn a_full_table_evicts_half_open_connections_first() {
    let cfg = AssemblerConfig {
        max_connections: 3,
        ..AssemblerConfig::default()
    };
    let mut asm = Assembler::new(cfg, Log::default());
    // Flow 1 carries data, then stays quiet: the least recently active.
    asm.assemble(&segment((1, 1), 1, true, SYN, 1000, 0, b""));
    asm.assemble(&segment((2, 2), 1, false, SYN | ACK, 5000, 1001, b""));
    asm.assemble(&segment((3, 3), 1, true, ACK | PSH, 1001, 5001, b"GET /"));
    for (frame, port) in [(4, 2), (5, 3), (6, 4), (7, 5)] {
        asm.assemble(&segment((frame, frame), port, true, SYN, 1000, 0, b""));
    }
    let evicted: Vec<u64> = asm
        .factory()
        .calls
        .iter()
        .filter_map(|(f, c)| match c {
            Call::Complete(c) if c.reason == EndReason::Evicted => Some(*f),
            _ => None,
        })
        .collect();
    assert_eq!(evicted, [4, 5], "the SYNs of flows 2 and 3 go, not flow 1");
    assert_eq!(asm.stats().evicted_connections, 2);
    assert_eq!(asm.connections(), 3);
}

#[test]
fn an_unanswered_syn_completes_at_the_idle_timeout_rather_than_parking() {
    for compact in [false, true] {
        let cfg = AssemblerConfig {
            compact_half_open: compact,
            tcp_idle_timeout: 100,
            ..AssemblerConfig::default()
        };
        let mut asm = Assembler::new(cfg, Log::default());
        asm.assemble(&segment((1, 10), 1, true, SYN, 1000, 0, b""));
        asm.expire(110);
        assert_eq!(asm.connections(), 1, "not idle for 100 yet");
        asm.expire(111);
        assert_eq!(asm.connections(), 0);
        assert_eq!(asm.stats().parked, 0);
        let last = asm.factory().calls.last().cloned();
        assert!(
            matches!(&last, Some((1, Call::Complete(c))) if c.reason == EndReason::IdleTimeout && c.last_ts == 10),
            "{last:?}"
        );
    }
}

#[test]
fn a_syn_with_what_an_embryo_cannot_hold_opens_a_full_connection() {
    let mut asm = Assembler::new(AssemblerConfig::default(), Log::default());
    let mut seg = segment((1, 10), 1, true, SYN, 1000, 0, b"");
    if let Transport::Tcp(t) = &mut seg.transport {
        t.options.sack_len = 1;
        t.options.sack[0] = (1, 2);
    }
    asm.assemble(&seg);
    assert_eq!((asm.connections(), asm.half_open()), (1, 0));
    assert_eq!(asm.factory().calls.len(), 2, "made and accepted at once");
    let key: FlowKey = seg.tuple.canonical().0;
    assert!(asm.ledgers(&key).is_some());
}

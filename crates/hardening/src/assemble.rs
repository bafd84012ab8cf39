//! Fuzz check of the [`Assembler`] driven by a sequence of operations drawn
//! with `arbitrary`: TCP segments with any sequence and acknowledgement numbers,
//! flags, payload and snaplen-truncated length, UDP datagrams, on a few flows,
//! interleaved with `flush_older_than`, `close_older_than`, `expire` and
//! `flush_all`, under caps drawn too (tiny pages, few pages, few connections)
//! and with or without a verify window.
//!
//! Promises checked after every operation: pages in use never exceed the total
//! cap, connections never exceed their cap, no connection buffers more than its
//! page cap holds, verify windows stay within their bound, every live ledger
//! balances. The streams check their own
//! deliveries ([`crate::record`]): no offset is delivered twice, delivered bytes
//! never change, kept bytes come back unchanged. At the end: every connection
//! completed exactly once with balanced ledgers and nothing buffered, every page
//! returned, and the ledgers captured exactly the payload bytes the assembler took.
//!
//! This target drives the bare [`Assembler`] (its own fuzz target, with checks
//! after every call, [`check_resources`]); whole captures go through the
//! engine in [`crate::pipeline`].

use std::net::SocketAddr;

use arbitrary::{Arbitrary, Unstructured};
use pcapread::{EncapPath, FiveTuple, Proto, Segment, TcpFlags, TcpInfo, TcpOptions, Transport};
use reassembly::{Accept, Assembler, AssemblerConfig, OverlapPolicy, PolicyMap, StreamFactory};

use crate::record::RecordingFactory;

/// A sequence number: near the direction's base, or anywhere.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Seq {
    /// The direction's base plus this.
    Near(i16),
    /// The base plus this many 32 KiB steps (far ahead or behind).
    Jump(i8),
    /// This exact number.
    Raw(u32),
}

/// One step.
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// A TCP segment.
    Tcp {
        /// Flow (`% FLOWS`).
        flow: u8,
        /// Client-to-server (else server-to-client).
        c2s: bool,
        /// Sequence number.
        seq: Seq,
        /// Acknowledgement number (relative to the other direction's base).
        ack: Seq,
        /// TCP flags.
        flags: u8,
        /// Payload length: below 0x8000, `% 64` (small and empty segments are
        /// common); else `% 4096`.
        len: u16,
        /// Content variant (0: the stream's "true" bytes; others differ).
        fill: u8,
        /// Bytes cut by snaplen after the payload (like `len`, `% 2048` when large).
        truncated: u16,
        /// Time step in ms before the segment.
        dt: u8,
        /// What the stream's `accept` answers (mostly take).
        verdict: u8,
    },
    /// A UDP datagram.
    Udp {
        /// Flow.
        flow: u8,
        /// Direction.
        c2s: bool,
        /// Payload length.
        len: u16,
        /// Snaplen-cut bytes.
        truncated: u16,
        /// Time step in ms.
        dt: u8,
    },
    /// `flush_older_than(now - back ms)`.
    FlushOlderThan(u8),
    /// `close_older_than(now - back ms)`.
    CloseOlderThan(u8),
    /// `expire(now + ahead ms)`.
    Expire(u8),
    /// `flush_all()`.
    FlushAll,
}

/// Caps and options (reduced to small ranges) and the operations.
#[derive(Debug, Clone, Arbitrary)]
pub struct AsmInput {
    policy: u8,
    /// Policy of the receivers 10.0.0.2 and 2001:db8::1 (by the policy map).
    receiver_policy: u8,
    page_size: u8,
    per_conn: u8,
    total: u8,
    connections: u8,
    midstream: u8,
    window_log: u8,
    keep_every: u8,
    keep_len: u8,
    /// The operations.
    pub ops: Vec<Op>,
}

/// Flows in play.
pub const FLOWS: u8 = 5;

const MS: u64 = 1_000_000;

fn tuple(flow: u8, proto: Proto) -> FiveTuple {
    let v6 = |last: u16| std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last);
    let (src, dst) = match flow % FLOWS {
        0 => (
            SocketAddr::from(([10, 0, 0, 1], 40000)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
        ),
        1 => (
            SocketAddr::from(([10, 0, 0, 1], 40001)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
        ),
        2 => (
            SocketAddr::from(([10, 0, 0, 3], 5000)),
            SocketAddr::from(([10, 0, 0, 4], 443)),
        ),
        3 => (
            SocketAddr::from((v6(1), 1234)),
            SocketAddr::from((v6(2), 22)),
        ),
        _ => (
            SocketAddr::from(([192, 168, 1, 1], 53)),
            SocketAddr::from(([192, 168, 1, 2], 53)),
        ),
    };
    FiveTuple { proto, src, dst }
}

/// Initial sequence number of a flow direction (some near the 32-bit wrap).
fn base(flow: u8, c2s: bool) -> u32 {
    match (flow % FLOWS, c2s) {
        (0, true) => 1000,
        (0, false) => 0xffff_ff00,
        (1, true) => 0xffff_fff0,
        (1, false) => 7,
        (2, _) => 0x8000_0000,
        (3, true) => 0x7fff_fff0,
        _ => 42,
    }
}

fn seq_of(s: Seq, base: u32) -> u32 {
    match s {
        Seq::Near(d) => base.wrapping_add(d as i32 as u32),
        Seq::Jump(j) => base.wrapping_add((i32::from(j) * 32768) as u32),
        Seq::Raw(v) => v,
    }
}

/// A length drawn from `v`: half the values give 0..64, the others 0..`max`.
fn small_or_large(v: u16, max: u32) -> u32 {
    if v < 0x8000 {
        u32::from(v % 64)
    } else {
        u32::from(v) % max
    }
}

/// The byte at sequence number `seq` of a direction, in content variant `fill`.
fn byte_at(seq: u32, fill: u8) -> u8 {
    (seq.wrapping_mul(0x9e37_79b1) >> 24) as u8 ^ fill
}

/// The assembler options an input asks for.
pub fn config(input: &AsmInput) -> AssemblerConfig {
    let policies = OverlapPolicy::ALL;
    let receiver = policies[usize::from(input.receiver_policy) % policies.len()];
    let policy_map = PolicyMap::parse(&format!(
        "10.0.0.2 {0}\n2001:db8::1/128 {0}\n",
        receiver.name()
    ))
    .unwrap_or_default();
    AssemblerConfig {
        overlap_policy: policies[usize::from(input.policy) % policies.len()],
        policy_map,
        page_size: 64 << (input.page_size % 4),
        max_pages_per_conn: usize::from(input.per_conn % 16),
        max_pages_total: usize::from(input.total % 32),
        max_connections: usize::from(input.connections % 6),
        // Half-open connections held compact or not, from bits already
        // drawn so older inputs keep their layout.
        compact_half_open: input.midstream / 5 % 2 == 0,
        midstream_window: u32::from(input.midstream % 5),
        max_window: 1 << (10 + input.window_log % 22),
        tcp_idle_timeout: 200 * MS,
        // Quiet connections park (0 to 2 at once, 0 meaning parking off),
        // from bits already drawn so older inputs keep their layout.
        resume_window: 300 * MS,
        max_parked: usize::from(input.connections / 6 % 3),
        udp_idle_timeout: 100 * MS,
        close_linger: 50 * MS,
        max_gaps_listed: 3,
        // From `keep_every`'s upper bits, so older inputs keep their layout.
        verify_window: [0, 16, 256, 4096][usize::from(input.keep_every / 4 % 4)],
    }
}

/// The assembler fuzz target's check: see the module documentation.
pub fn check_assembler(data: &[u8]) {
    let u = Unstructured::new(data);
    let Ok(input) = AsmInput::arbitrary_take_rest(u) else {
        return;
    };
    run(&input);
}

/// Run one drawn input.
pub fn run(input: &AsmInput) {
    let cfg = config(input);
    let factory = RecordingFactory::new()
        .keeping(u64::from(input.keep_every % 4), usize::from(input.keep_len));
    let mut asm = Assembler::new(cfg, factory);
    let mut now = 1_000 * MS;
    let mut frame = 0u64;
    let mut taken_payload = 0u64;
    let mut payload = Vec::new();
    for op in &input.ops {
        match op {
            Op::Tcp {
                flow,
                c2s,
                seq,
                ack,
                flags,
                len,
                fill,
                truncated,
                dt,
                verdict: v,
            } => {
                now += u64::from(*dt) * MS;
                frame += 1;
                let t = tuple(*flow, Proto::Tcp);
                let t = if *c2s {
                    t
                } else {
                    FiveTuple {
                        proto: t.proto,
                        src: t.dst,
                        dst: t.src,
                    }
                };
                let s = seq_of(*seq, base(*flow, *c2s));
                let a = seq_of(*ack, base(*flow, !*c2s));
                let data_seq = if flags & TcpFlags::SYN != 0 {
                    s.wrapping_add(1)
                } else {
                    s
                };
                payload.clear();
                payload.extend(
                    (0..small_or_large(*len, 4096))
                        .map(|i| byte_at(data_seq.wrapping_add(i), *fill)),
                );
                let seg = Segment {
                    frame,
                    ts: now,
                    tuple: t,
                    transport: Transport::Tcp(TcpInfo {
                        seq: s,
                        ack: a,
                        flags: TcpFlags(*flags),
                        window: 65535,
                        urgent: 0,
                        options: TcpOptions::default(),
                    }),
                    payload: &payload,
                    truncated: small_or_large(*truncated, 2048),
                    encap: EncapPath::new(),
                    link: Default::default(),
                    defragmented: false,
                };
                let answer = match v {
                    0..=239 => Accept::Take,
                    240..=247 => Accept::Drop,
                    _ => Accept::TakeAndStart,
                };
                asm.factory_mut().verdict = answer;
                if answer != Accept::Drop {
                    taken_payload += payload.len() as u64;
                }
                asm.assemble(&seg);
                check_resources(&asm, Some(&t.canonical().0));
            }
            Op::Udp {
                flow,
                c2s,
                len,
                truncated,
                dt,
            } => {
                now += u64::from(*dt) * MS;
                frame += 1;
                let t = tuple(*flow, Proto::Udp);
                let t = if *c2s {
                    t
                } else {
                    FiveTuple {
                        proto: t.proto,
                        src: t.dst,
                        dst: t.src,
                    }
                };
                payload.clear();
                payload.extend((0..small_or_large(*len, 2048)).map(|i| byte_at(i, 0)));
                let seg = Segment {
                    frame,
                    ts: now,
                    tuple: t,
                    transport: Transport::Udp,
                    payload: &payload,
                    truncated: small_or_large(*truncated, 512),
                    encap: EncapPath::new(),
                    link: Default::default(),
                    defragmented: false,
                };
                asm.factory_mut().verdict = Accept::Take;
                taken_payload += payload.len() as u64;
                asm.assemble(&seg);
                check_resources(&asm, Some(&t.canonical().0));
            }
            Op::FlushOlderThan(back) => {
                asm.flush_older_than(now.saturating_sub(u64::from(*back) * MS))
            }
            Op::CloseOlderThan(back) => {
                asm.close_older_than(now.saturating_sub(u64::from(*back) * MS))
            }
            Op::Expire(ahead) => asm.expire(now + u64::from(*ahead) * MS),
            Op::FlushAll => asm.flush_all(),
        }
        check_resources(&asm, None);
        for f in 0..FLOWS {
            for proto in [Proto::Tcp, Proto::Udp] {
                check_resources(&asm, Some(&tuple(f, proto).canonical().0));
            }
        }
    }
    asm.flush_all();
    assert_eq!(asm.pages_in_use(), 0, "pages still in use after flush_all");
    assert_eq!(asm.connections(), 0, "connections left after flush_all");
    assert_eq!(asm.verify_bytes_in_use(), 0, "verify windows left");
    let stats = asm.stats();
    let records = asm.into_factory().into_records();
    assert_eq!(stats.connections, records.len() as u64);
    assert_eq!(
        stats.completed, stats.connections,
        "connections created vs completed"
    );
    let mut captured = 0u64;
    for r in &records {
        let c = r.completion.as_ref().expect("every connection completes");
        captured += c.c2s.captured + c.s2c.captured;
    }
    assert_eq!(
        captured, taken_payload,
        "payload taken vs captured in the ledgers"
    );
}

/// The assembler's caps right now, and the ledgers of `key`'s connection if
/// it is tracked: pages in use within `max_pages_total`, connections within
/// `max(1, max_connections)`, parked connections within `max_parked`, verify windows within `1.25 * verify_window +
/// 256` bytes per direction, the connection's ledgers balanced and its
/// buffered bytes within its page cap.
pub fn check_resources<F: StreamFactory>(asm: &Assembler<F>, key: Option<&pcapread::FlowKey>) {
    let cfg = asm.config();
    assert!(
        asm.pages_in_use() <= cfg.max_pages_total,
        "{} pages in use, cap {}",
        asm.pages_in_use(),
        cfg.max_pages_total
    );
    assert!(asm.stats().pages_high_water <= cfg.max_pages_total);
    assert!(
        asm.connections() <= cfg.max_connections.max(1),
        "{} connections, cap {}",
        asm.connections(),
        cfg.max_connections
    );
    assert!(
        asm.parked() <= cfg.max_parked && asm.stats().parked_high_water <= cfg.max_parked,
        "{} parked, cap {}",
        asm.parked(),
        cfg.max_parked
    );
    // Each direction's verify window: at most 1.25 * window + 256 bytes.
    let w = cfg.verify_window;
    let verify_cap = asm.connections() * 2 * (w + w / 4 + 256) * usize::from(w > 0);
    assert!(
        asm.verify_bytes_in_use() <= verify_cap,
        "verify windows hold {} bytes, bound {verify_cap}",
        asm.verify_bytes_in_use()
    );
    if let Some((a, b)) = key.and_then(|k| asm.ledgers(k)) {
        assert!(a.balanced(), "live c2s ledger does not balance: {a:?}");
        assert!(b.balanced(), "live s2c ledger does not balance: {b:?}");
        let page = cfg.page_size.clamp(64, 1 << 24) as u64;
        let cap = cfg.max_pages_per_conn as u64 * page;
        assert!(
            a.buffered + b.buffered <= cap,
            "connection buffers {} bytes, cap {cap}",
            a.buffered + b.buffered
        );
    }
}

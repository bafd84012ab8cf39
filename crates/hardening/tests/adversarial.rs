//! Adversarial resource tests: inputs built to exhaust memory or time, checked
//! against the configured caps with a counting allocator (bytes allocated and
//! not yet freed by the test's own thread, and their peak).
//!
//! - one flow with a huge number of one-byte holes that are never filled;
//! - a flood of SYN-only flows, far beyond `max_connections`;
//! - a flood of IP fragments that never complete;
//! - sequence numbers that jump by huge amounts.
//!
//! Each runs at a size that takes seconds in CI. The SYN flood also runs at
//! full size (a million flows through a table of 10 000: eviction finds its
//! victim in O(1), so this takes seconds); the other full-size versions (a
//! million holes, fragments, jumps) are `#[ignore]`d; run them with
//! `cargo test --release -p hardening --test adversarial -- --ignored --nocapture`
//! (they print their peaks).

#![allow(clippy::unwrap_used)]
// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;

use pcapread::{
    Decoder, DecoderConfig, EncapPath, FiveTuple, Frame, LinkType, Proto, Segment, TcpFlags,
    TcpInfo, TcpOptions, Transport,
};
use reassembly::{
    Assembler, AssemblerConfig, Completion, EndReason, Ledger, ScatterGather, Stream,
    StreamFactory, StreamInfo,
};

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn note(delta: i64) {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let on = ON.try_with(|c| c.get()).unwrap_or(false);
    if on {
        let live = LIVE.try_with(|l| {
            let v = l.get() + delta;
            l.set(v);
            v
        });
        if let Ok(v) = live {
            PEAK.try_with(|p| p.set(p.get().max(v))).ok();
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Run `f` counting this thread's allocations; returns its result and the
/// peak of bytes allocated and not yet freed while it ran.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, u64) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    ON.with(|o| o.set(true));
    let out = f();
    ON.with(|o| o.set(false));
    (out, PEAK.with(|p| p.get()).max(0) as u64)
}

const MIB: u64 = 1 << 20;

/// A stream that keeps only counts (so the consumer's own memory is not measured).
#[derive(Default)]
struct Count {
    delivered: u64,
}
impl Stream for Count {
    type Context = Counts;
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, _ctx: &mut Counts) {
        self.delivered += (sg.len() - sg.lengths().1) as u64;
    }
    fn complete(&mut self, c: &Completion, _ctx: &mut Counts) {
        assert!(c.c2s.balanced() && c.s2c.balanced(), "{c:?}");
        assert_eq!(c.c2s.buffered + c.s2c.buffered, 0);
        assert_eq!(c.c2s.delivered + c.s2c.delivered, self.delivered);
        COMPLETED.with(|n| n.set(n.get() + 1));
        if c.reason == EndReason::Evicted {
            EVICTED.with(|n| n.set(n.get() + 1));
        }
        LAST.with(|l| *l.borrow_mut() = Some(c.c2s.clone()));
    }
}

thread_local! {
    static COMPLETED: Cell<u64> = const { Cell::new(0) };
    static EVICTED: Cell<u64> = const { Cell::new(0) };
    static LAST: std::cell::RefCell<Option<Ledger>> = const { std::cell::RefCell::new(None) };
}

struct Counts;
impl StreamFactory for Counts {
    type Stream = Count;
    fn new_stream(&mut self, _i: &StreamInfo) -> Count {
        Count::default()
    }
}

fn tuple(i: u32) -> FiveTuple {
    let ip = 0x0a00_0000u32 + (i >> 16);
    FiveTuple {
        proto: Proto::Tcp,
        src: SocketAddr::from((ip.to_be_bytes(), (i & 0xffff) as u16)),
        dst: SocketAddr::from(([192, 0, 2, 1], 80)),
    }
}

fn seg(t: FiveTuple, seq: u32, flags: u8, payload: &[u8], frame: u64) -> Segment<'_> {
    Segment {
        frame,
        ts: frame * 1000,
        tuple: t,
        transport: Transport::Tcp(TcpInfo {
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
        }),
        payload,
        truncated: 0,
        encap: EncapPath::new(),
        link: Default::default(),
        defragmented: false,
    }
}

/// One flow, `holes` one-byte holes never filled: byte 2i is missing, byte
/// 2i+1 arrives. Pages stay within the per-connection cap, each cap hit is a
/// counted cap flush, every hole is counted missing.
fn many_holes(holes: u32) -> u64 {
    let cfg = AssemblerConfig::default();
    let page = cfg.page_size.clamp(64, 1 << 24) as u64;
    let page_cap = cfg.max_pages_per_conn as u64 * page;
    let t = tuple(1);
    let (_, peak) = peak_of(|| {
        let mut asm = Assembler::new(cfg.clone(), Counts);
        let isn = 0xffff_0000u32; // wraps early on
        asm.assemble(&seg(t, isn, TcpFlags::SYN, b"", 1));
        for i in 0..holes {
            let seq = isn.wrapping_add(1).wrapping_add(2 * i + 1);
            asm.assemble(&seg(t, seq, TcpFlags::ACK, b"x", u64::from(i) + 2));
            assert!(asm.pages_in_use() <= cfg.max_pages_per_conn);
        }
        let stats = asm.stats();
        assert!(stats.pages_high_water <= cfg.max_pages_per_conn);
        asm.flush_all();
        let l = LAST.with(|l| l.borrow_mut().take()).unwrap();
        assert_eq!(l.missing, u64::from(holes), "every hole is counted missing");
        assert_eq!(l.gaps.len(), cfg.max_gaps_listed);
        assert_eq!(
            l.gaps_unlisted,
            u64::from(holes) - cfg.max_gaps_listed as u64
        );
        assert_eq!(l.delivered, u64::from(holes));
        assert!(l.cap_flushes > 0, "the page cap was hit and counted");
    });
    println!(
        "many_holes({holes}): peak {peak} bytes ({:.2} MiB); page cap {page_cap} bytes",
        peak as f64 / MIB as f64
    );
    // Pages at their cap, the listed gaps, the queue's nodes: a small constant
    // above the page cap, whatever the number of holes.
    assert!(peak < page_cap + 2 * MIB, "peak {peak}");
    peak
}

#[test]
fn many_holes_in_one_flow() {
    many_holes(20_000);
}

#[test]
#[ignore = "full size (a million holes): run with --release -- --ignored"]
fn a_million_holes_in_one_flow() {
    many_holes(1_000_000);
}

/// `flows` SYN-only connections with `max` as the table bound: the table never
/// grows past it, each eviction is counted and completes its stream.
fn syn_flood(flows: u32, max: usize) -> u64 {
    let cfg = AssemblerConfig {
        max_connections: max,
        ..AssemblerConfig::default()
    };
    COMPLETED.with(|n| n.set(0));
    EVICTED.with(|n| n.set(0));
    let (_, peak) = peak_of(|| {
        let mut asm = Assembler::new(cfg.clone(), Counts);
        for i in 0..flows {
            asm.assemble(&seg(
                tuple(i),
                i.wrapping_mul(2_654_435_761),
                TcpFlags::SYN,
                b"",
                u64::from(i) + 1,
            ));
            assert!(asm.connections() <= max);
        }
        let stats = asm.stats();
        assert_eq!(stats.evicted_connections, u64::from(flows) - max as u64);
        assert_eq!(stats.connections_high_water, max);
        assert_eq!(EVICTED.with(|n| n.get()), u64::from(flows) - max as u64);
        asm.flush_all();
        assert_eq!(COMPLETED.with(|n| n.get()), u64::from(flows));
    });
    println!(
        "syn_flood({flows} flows, max {max}): peak {peak} bytes ({:.2} MiB, {} bytes per tracked connection)",
        peak as f64 / MIB as f64,
        peak / max as u64
    );
    peak
}

#[test]
fn syn_flood_is_bounded_by_max_connections() {
    let small = syn_flood(20_000, 500);
    let big = syn_flood(20_000, 5_000);
    // Memory follows the bound, not the number of flows: ten times the bound,
    // about ten times the memory, and a few KiB per tracked connection at most.
    assert!(small < 500 * 4096 + MIB, "{small}");
    assert!(big < 5_000 * 4096 + MIB, "{big}");
    let again = syn_flood(60_000, 500);
    assert!(
        again < small + small / 4 + 64 * 1024,
        "{again} vs {small}: grows with the flood"
    );
}

#[test]
fn a_million_syn_flows() {
    let peak = syn_flood(1_000_000, 10_000);
    assert!(peak < 10_000 * 4096 + MIB);
}

/// A raw IPv4 fragment of datagram `id`: 1480 bytes at `units` * 8, more to follow.
fn fragment(id: u32, units: u16) -> Vec<u8> {
    let [hi, lo] = units.to_be_bytes();
    // Version/IHL, TOS, total length 1500; id, MF and offset; TTL, UDP, checksum.
    let mut p = vec![0x45, 0, 0x05, 0xdc];
    p.extend_from_slice(&[(id >> 8) as u8, id as u8, 0x20 | (hi & 0x1f), lo]);
    p.extend_from_slice(&[64, 17, 0, 0]);
    p.extend_from_slice(&[10, (id >> 24) as u8, (id >> 16) as u8, 1]);
    p.extend_from_slice(&[10, 0, 0, 2]);
    p.resize(1500, 0xab);
    p
}

/// `n` fragments (at `units` * 8 bytes) of distinct datagrams that never complete.
fn fragment_flood(n: u32, ts_step: u64, units: u16) -> u64 {
    let cfg = DecoderConfig::default();
    let lim = cfg.defrag;
    let (_, peak) = peak_of(|| {
        let mut dec = Decoder::new(cfg);
        for i in 0..n {
            let pkt = fragment(i, units);
            let frame = Frame {
                number: u64::from(i) + 1,
                input: 0,
                file_offset: 0,
                ts: u64::from(i) * ts_step,
                caplen: 1500,
                origlen: 1500,
                link_type: LinkType::IPV4,
                data: &pkt,
            };
            assert!(dec.decode(&frame).is_err(), "nothing completes");
            let d = dec.defragmenter();
            assert!(d.pending_datagrams() <= lim.max_datagrams);
            assert!(d.pending_bytes() <= lim.max_bytes);
        }
        let s = dec.defrag_stats().clone();
        let held = dec.defragmenter().pending_datagrams() as u64;
        assert_eq!(s.fragments, u64::from(n));
        assert_eq!(
            s.evicted + s.timed_out + held,
            u64::from(n),
            "every datagram is held or counted: {s:?}"
        );
        if ts_step == 0 {
            assert!(s.evicted > 0 || n as usize <= lim.max_datagrams, "{s:?}");
            let buffer = (u64::from(units) * 8 + 1480) * u64::from(n);
            if buffer > lim.max_bytes as u64 {
                assert!(
                    s.evicted_bytes > 0,
                    "the byte limit was hit and counted: {s:?}"
                );
            }
        }
    });
    println!(
        "fragment_flood({n}, ts step {ts_step} ns, offset {}): peak {peak} bytes ({:.2} MiB); limit {} bytes of buffers",
        u32::from(units) * 8,
        peak as f64 / MIB as f64,
        lim.max_bytes
    );
    assert!(peak < lim.max_bytes as u64 + 2 * MIB, "peak {peak}");
    peak
}

#[test]
fn fragment_flood_stays_within_the_defrag_limits() {
    // All at once (evictions at the datagram limit), spread over time
    // (timeouts), and far into their datagrams (evictions at the byte limit:
    // each implies a 57 KB buffer).
    fragment_flood(20_000, 0, 0);
    fragment_flood(20_000, 50_000_000, 0);
    fragment_flood(5_000, 0, 7_000);
}

#[test]
#[ignore = "full size (a million fragments): run with --release -- --ignored"]
fn a_million_fragments() {
    fragment_flood(1_000_000, 0, 0);
    fragment_flood(1_000_000, 0, 7_000);
}

/// Sequence numbers that jump by nearly 2^31 (the farthest a 32-bit sequence
/// number can point), forwards and back, interleaved with in-order data: the
/// far ones are out of window or old, nothing is buffered for them, the
/// ledger balances, and memory stays small.
fn sequence_jumps(n: u32) -> u64 {
    let cfg = AssemblerConfig::default();
    let t = tuple(7);
    let (_, peak) = peak_of(|| {
        let mut asm = Assembler::new(cfg.clone(), Counts);
        let isn = 1u32;
        asm.assemble(&seg(t, isn, TcpFlags::SYN, b"", 1));
        let mut next = isn.wrapping_add(1);
        for i in 0..n {
            let frame = u64::from(i) * 3 + 2;
            asm.assemble(&seg(t, next, TcpFlags::ACK, b"in order", frame));
            next = next.wrapping_add(8);
            let far = next.wrapping_add(0x7fff_fff0 - (i % 1024) * 4096);
            asm.assemble(&seg(t, far, TcpFlags::ACK, b"far ahead", frame + 1));
            let back = next.wrapping_sub(0x7fff_fff0 - (i % 1024) * 4096);
            asm.assemble(&seg(t, back, TcpFlags::ACK, b"far behind", frame + 2));
            assert!(asm.pages_in_use() <= 1);
        }
        asm.flush_all();
        let l = LAST.with(|l| l.borrow_mut().take()).unwrap();
        assert_eq!(l.delivered, u64::from(n) * 8, "{l:?}");
        // Far ahead: past the window; far behind: before the stream's start.
        assert_eq!(l.out_of_window, u64::from(n) * 19, "{l:?}");
        assert_eq!(l.missing, 0, "{l:?}");
    });
    println!(
        "sequence_jumps({n}): peak {peak} bytes ({:.2} MiB)",
        peak as f64 / MIB as f64
    );
    assert!(peak < MIB, "peak {peak}");
    peak
}

#[test]
fn huge_sequence_jumps_are_counted_not_buffered() {
    sequence_jumps(20_000);
}

#[test]
#[ignore = "full size: run with --release -- --ignored"]
fn a_million_sequence_jumps() {
    sequence_jumps(1_000_000);
}

//! The fully in-order path does not allocate per packet: bytes are borrowed
//! from the packet, scratch space is reused. Measured with a counting allocator.

#![allow(clippy::unwrap_used)]
// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use pcapread::{EncapPath, FiveTuple, Proto, Segment, TcpFlags, TcpInfo, TcpOptions, Transport};
use reassembly::{
    Assembler, AssemblerConfig, Completion, ScatterGather, Stream, StreamFactory, StreamInfo,
};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the test thread's allocations count (the test harness allocates on its own threads).
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn note() {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Sum(u64);
impl Stream for Sum {
    type Context = F;
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, _ctx: &mut F) {
        for c in sg.chunks() {
            self.0 += c.iter().map(|&b| u64::from(b)).sum::<u64>();
        }
    }
    fn complete(&mut self, _c: &Completion, _ctx: &mut F) {}
}
struct F;
impl StreamFactory for F {
    type Stream = Sum;
    fn new_stream(&mut self, _i: &StreamInfo) -> Sum {
        Sum(0)
    }
}

fn seg(seq: u32, flags: u8, payload: &[u8], frame: u64, tuple: FiveTuple) -> Segment<'_> {
    Segment {
        frame,
        ts: frame,
        tuple,
        transport: Transport::Tcp(TcpInfo {
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            window: 0,
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

#[test]
fn in_order_path_does_not_allocate() {
    let tuple = FiveTuple {
        proto: Proto::Tcp,
        src: "10.0.0.1:1".parse().unwrap(),
        dst: "10.0.0.2:2".parse().unwrap(),
    };
    let payload = vec![7u8; 1460];
    COUNTING.with(|c| c.set(true));
    let mut a = Assembler::new(AssemblerConfig::default(), F);
    a.assemble(&seg(0, TcpFlags::SYN, &[], 1, tuple));
    a.assemble(&seg(
        9,
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
        2,
        tuple.reversed(),
    ));
    let mut seq = 1u32;
    // Warm up: the first deliveries may size scratch buffers.
    for f in 0..10 {
        a.assemble(&seg(seq, TcpFlags::ACK, &payload, 3 + f, tuple));
        seq = seq.wrapping_add(payload.len() as u32);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    for f in 0..10_000 {
        a.assemble(&seg(seq, TcpFlags::ACK, &payload, 100 + f, tuple));
        seq = seq.wrapping_add(payload.len() as u32);
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the in-order path");
    // An out-of-order segment does use pages (allocation is allowed there), proving
    // the counter works.
    a.assemble(&seg(
        seq.wrapping_add(5000),
        TcpFlags::ACK,
        &payload,
        20_000,
        tuple,
    ));
    assert!(ALLOCS.load(Ordering::Relaxed) > after);
    a.flush_all();
}

//! The binding (feature `ffi`): `extern "C"` declarations of the C shim
//! (`shim.c`) and the safe types built on them. Every `unsafe` block says
//! which invariant makes it sound; the ownership rules the types encode are
//! in the crate docs.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

/// Raw declarations matching `shim.c` one to one.
mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    /// Opaque `struct rte_mbuf`.
    #[repr(C)]
    pub struct RteMbuf {
        _opaque: [u8; 0],
    }

    /// `struct sc_port_info`.
    #[repr(C)]
    pub struct PortInfo {
        pub name: [c_char; 64],
        pub driver: [c_char; 64],
        pub max_rx_queues: u16,
        pub hash_key_size: u16,
        pub flow_type_rss_offloads: u64,
        pub rss_ip: c_int,
        pub timestamp_offload: c_int,
    }

    /// `struct sc_port_setup`.
    #[repr(C)]
    pub struct PortSetup {
        pub rx_queues: u16,
        pub rx_desc: u16,
        pub mbufs: u32,
        pub mbuf_cache: u32,
        pub rss: c_int,
        pub timestamp: c_int,
    }

    /// `struct sc_port_started`.
    #[repr(C)]
    pub struct PortStarted {
        pub pool: *mut c_void,
        pub rss_hf: u64,
        pub ts_offset: c_int,
        pub ts_flag: u64,
        pub rx_desc: u16,
    }

    /// `struct sc_port_stats`.
    #[repr(C)]
    pub struct PortStats {
        pub ipackets: u64,
        pub imissed: u64,
        pub ierrors: u64,
        pub rx_nombuf: u64,
    }

    extern "C" {
        pub fn sc_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
        pub fn sc_eal_cleanup() -> c_int;
        pub fn sc_strerror(err: c_int) -> *const c_char;
        pub fn sc_thread_register() -> c_int;
        pub fn sc_thread_unregister();
        pub fn sc_port_count() -> u16;
        pub fn sc_port_query(port: u16, out: *mut PortInfo) -> c_int;
        pub fn sc_port_start(port: u16, setup: *const PortSetup, out: *mut PortStarted) -> c_int;
        pub fn sc_port_stats(port: u16, out: *mut PortStats) -> c_int;
        pub fn sc_port_close(port: u16, pool: *mut c_void) -> c_int;
        pub fn sc_rx_burst(port: u16, queue: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16;
        pub fn sc_mbuf_data(m: *const RteMbuf, seg_len: *mut u32, pkt_len: *mut u32) -> *const u8;
        pub fn sc_mbuf_chain_len(m: *const RteMbuf) -> u32;
        pub fn sc_mbuf_copy(m: *const RteMbuf, dst: *mut u8, cap: u32) -> u32;
        pub fn sc_mbuf_timestamp(
            m: *const RteMbuf,
            offset: c_int,
            flag: u64,
            ts: *mut u64,
        ) -> c_int;
        pub fn sc_mbuf_free(m: *mut RteMbuf);
    }
}

/// A DPDK call that failed: what was being done and DPDK's error text.
#[derive(Debug, thiserror::Error)]
#[error("DPDK: {what}: {text} (error {code})")]
pub struct DpdkError {
    /// What streamcut was doing.
    pub what: String,
    /// The negative errno value DPDK returned.
    pub code: i32,
    /// `rte_strerror` of the code.
    pub text: String,
}

impl DpdkError {
    fn new(what: impl Into<String>, code: c_int) -> Self {
        // SAFETY: rte_strerror accepts any value and returns a pointer to a
        // NUL-terminated string that stays valid until the next call on this
        // thread; it is copied out at once.
        let text = unsafe { CStr::from_ptr(ffi::sc_strerror(code)) }
            .to_string_lossy()
            .into_owned();
        DpdkError {
            what: what.into(),
            code,
            text,
        }
    }
}

static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// Proof that the EAL was initialised in this process; [`Eal::cleanup`] releases it.
#[derive(Debug)]
pub struct Eal {
    _once: (),
}

impl Eal {
    /// Initialises the EAL with `args` (program name first is added here).
    ///
    /// Pins the calling thread to the first lcore and lets later threads it
    /// creates inherit that pinning: call it on a thread of its own. Fails if
    /// called twice in a process.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new(
                "EAL already initialised in this process",
                -16,
            ));
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        for a in std::iter::once("streamcut").chain(args.iter().map(String::as_str)) {
            owned.push(
                CString::new(a).map_err(|_| DpdkError::new("EAL argument with a NUL byte", -22))?,
            );
        }
        // EAL may keep pointers into argv (it permutes the array and some
        // options are stored by reference), so the strings are leaked: this
        // runs once per process.
        let mut argv: Vec<*mut c_char> = owned.into_iter().map(CString::into_raw).collect();
        let argc = c_int::try_from(argv.len())
            .map_err(|_| DpdkError::new("too many EAL arguments", -7))?;
        argv.push(std::ptr::null_mut());
        let argv = argv.leak();
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a
        // null pointer, all leaked so they live for the rest of the process;
        // EAL_STARTED guarantees this is the only rte_eal_init call.
        let ret = unsafe { ffi::sc_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::new("rte_eal_init", ret));
        }
        Ok(Eal { _once: () })
    }

    /// Number of ethernet ports EAL probed (virtual devices included).
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised (self exists); the call only reads the port table.
        unsafe { ffi::sc_port_count() }
    }

    /// What the driver of `port` offers.
    pub fn port_info(&self, port: u16) -> Result<PortInfo, DpdkError> {
        let mut raw = ffi::PortInfo {
            name: [0; 64],
            driver: [0; 64],
            max_rx_queues: 0,
            hash_key_size: 0,
            flow_type_rss_offloads: 0,
            rss_ip: 0,
            timestamp_offload: 0,
        };
        // SAFETY: EAL is initialised; `raw` is a valid, writable sc_port_info
        // (same layout as the C struct; RTE_ETH_NAME_MAX_LEN is 64).
        let ret = unsafe { ffi::sc_port_query(port, &mut raw) };
        if ret != 0 {
            return Err(DpdkError::new(
                format!("port {port}: rte_eth_dev_info_get"),
                ret,
            ));
        }
        Ok(PortInfo {
            id: port,
            name: c_text(&raw.name),
            driver: c_text(&raw.driver),
            max_rx_queues: raw.max_rx_queues,
            rss_offloads: raw.flow_type_rss_offloads,
            rss_ip: raw.rss_ip != 0,
            timestamp_offload: raw.timestamp_offload != 0,
        })
    }

    /// Configures and starts `port` as `setup` says.
    pub fn start_port(&self, port: u16, setup: &PortSetup) -> Result<Port<'_>, DpdkError> {
        let raw_setup = ffi::PortSetup {
            rx_queues: setup.rx_queues,
            rx_desc: setup.rx_desc,
            mbufs: setup.mbufs,
            mbuf_cache: setup.mbuf_cache,
            rss: match setup.rss {
                RssMode::Off => 0,
                RssMode::IpPair => 1,
                RssMode::IpPairPorts => 2,
            },
            timestamp: c_int::from(setup.hw_timestamp),
        };
        let mut out = ffi::PortStarted {
            pool: std::ptr::null_mut(),
            rss_hf: 0,
            ts_offset: -1,
            ts_flag: 0,
            rx_desc: 0,
        };
        // SAFETY: EAL is initialised; both structs are valid and laid out as
        // in C; on failure the shim has released what it created.
        let ret = unsafe { ffi::sc_port_start(port, &raw_setup, &mut out) };
        if ret != 0 {
            return Err(DpdkError::new(
                format!("port {port}: configure and start"),
                ret,
            ));
        }
        Ok(Port {
            id: port,
            pool: out.pool,
            rx_queues: setup.rx_queues,
            rx_desc: out.rx_desc,
            rss_hf: out.rss_hf,
            timestamp: (out.ts_offset >= 0).then_some(TimestampField {
                offset: out.ts_offset,
                flag: out.ts_flag,
            }),
            _eal: PhantomData,
        })
    }

    /// Releases EAL resources (hugepages, device handles). EAL cannot be
    /// initialised again afterwards in this process.
    pub fn cleanup(self) {
        // SAFETY: every Port borrows the Eal, so none is alive here; no rx
        // queue or mbuf outlives its port.
        unsafe {
            ffi::sc_eal_cleanup();
        }
    }
}

fn c_text(raw: &[c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What a port's driver offers ([`Eal::port_info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Port id.
    pub id: u16,
    /// Device name (`net_pcap0`, `0000:01:00.0`).
    pub name: String,
    /// Driver name (`net_pcap`, `net_ice`).
    pub driver: String,
    /// Most rx queues the driver accepts.
    pub max_rx_queues: u16,
    /// RSS hash types the driver supports (0: no RSS).
    pub rss_offloads: u64,
    /// Whether the driver can hash on IP addresses (what [`RssMode`] needs).
    pub rss_ip: bool,
    /// Whether the driver offers the rx timestamp offload.
    pub timestamp_offload: bool,
}

/// How received packets are spread over rx queues by the NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RssMode {
    /// No RSS (one queue).
    Off,
    /// Symmetric hash of the IP address pair: fragments and tunnelled flows
    /// stay with their flow.
    IpPair,
    /// Symmetric hash of addresses and ports: finer spread, but fragments of a
    /// datagram (which carry no ports after the first) may reach another queue.
    IpPairPorts,
}

/// Port configuration for [`Eal::start_port`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSetup {
    /// Rx queues (one worker each).
    pub rx_queues: u16,
    /// Descriptors per rx queue.
    pub rx_desc: u16,
    /// Mbufs in the port's pool.
    pub mbufs: u32,
    /// Per-lcore mempool cache size.
    pub mbuf_cache: u32,
    /// RSS spreading.
    pub rss: RssMode,
    /// Enable the NIC's rx timestamp offload when offered.
    pub hw_timestamp: bool,
}

/// Where the driver's rx timestamp lives in an mbuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampField {
    offset: c_int,
    flag: u64,
}

impl TimestampField {
    /// A field value for tests that compare fields but poll no port (the
    /// CLI's time-source tests). It names no field: [`Mbuf::timestamp`]
    /// given it reads nothing and returns `None` (the shim ignores a
    /// negative offset), so safe code cannot use it to read past an mbuf.
    #[doc(hidden)]
    pub fn for_tests() -> Self {
        TimestampField {
            offset: -1,
            flag: 1 << 20,
        }
    }
}

/// Port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received by the port.
    pub received: u64,
    /// Packets dropped because the rx queues were full.
    pub missed: u64,
    /// Erroneous packets.
    pub errors: u64,
    /// Mbuf allocation failures.
    pub no_mbuf: u64,
}

/// A configured and started port. Shared by reference between worker threads.
#[derive(Debug)]
pub struct Port<'eal> {
    id: u16,
    pool: *mut c_void,
    rx_queues: u16,
    rx_desc: u16,
    rss_hf: u64,
    timestamp: Option<TimestampField>,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: a Port is an id and a pool pointer; the DPDK calls made through
// `&Port` (stats, the read-only fields) are thread-safe, and the pool is only
// touched by close, which takes the Port by value.
unsafe impl Send for Port<'_> {}
// SAFETY: as above: shared access only reads counters through thread-safe calls.
unsafe impl Sync for Port<'_> {}

impl<'eal> Port<'eal> {
    /// Port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Descriptors per rx queue after the driver's adjustment.
    pub fn rx_desc(&self) -> u16 {
        self.rx_desc
    }

    /// RSS hash types enabled (0: none).
    pub fn rss_hf(&self) -> u64 {
        self.rss_hf
    }

    /// Where the driver stamps rx times, if it does.
    pub fn timestamp_field(&self) -> Option<TimestampField> {
        self.timestamp
    }

    /// The rx queues, each to be polled by one thread.
    pub fn rx_queues(&self) -> Vec<RxQueue<'_>> {
        (0..self.rx_queues)
            .map(|queue| RxQueue {
                port: self.id,
                queue,
                _port: PhantomData,
            })
            .collect()
    }

    /// Current counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut raw = ffi::PortStats {
            ipackets: 0,
            imissed: 0,
            ierrors: 0,
            rx_nombuf: 0,
        };
        // SAFETY: the port is started; rte_eth_stats_get may be called from
        // any thread while queues are polled; `raw` is valid for writing.
        let ret = unsafe { ffi::sc_port_stats(self.id, &mut raw) };
        if ret != 0 {
            return Err(DpdkError::new(
                format!("port {}: rte_eth_stats_get", self.id),
                ret,
            ));
        }
        Ok(PortStats {
            received: raw.ipackets,
            missed: raw.imissed,
            errors: raw.ierrors,
            no_mbuf: raw.rx_nombuf,
        })
    }

    /// Stops and closes the port and frees its mbuf pool.
    pub fn close(self) -> Result<(), DpdkError> {
        // SAFETY: `self` by value means no RxQueue and no Mbuf (both borrow
        // the port) is alive: nothing polls
        // the port and every mbuf is back in the pool being freed.
        let ret = unsafe { ffi::sc_port_close(self.id, self.pool) };
        if ret != 0 {
            return Err(DpdkError::new(
                format!("port {}: stop and close", self.id),
                ret,
            ));
        }
        Ok(())
    }
}

/// Gives the current (non-EAL) thread an lcore id while it lives, so the
/// mempool's per-lcore cache serves it; unregisters on drop.
#[derive(Debug)]
pub struct LcoreRegistration {
    registered: bool,
    _not_send: PhantomData<*const ()>,
}

impl LcoreRegistration {
    /// Registers the calling thread. Without a free lcore id the thread still
    /// works, just without a mempool cache.
    pub fn new(_eal: &Eal) -> Self {
        // SAFETY: EAL is initialised; registering a thread only assigns it
        // a free lcore id (or fails harmlessly).
        let registered = unsafe { ffi::sc_thread_register() } == 0;
        LcoreRegistration {
            registered,
            _not_send: PhantomData,
        }
    }
}

impl Drop for LcoreRegistration {
    fn drop(&mut self) {
        if self.registered {
            // SAFETY: this thread registered itself in `new` (the type is
            // not Send, so drop runs on the same thread).
            unsafe { ffi::sc_thread_unregister() }
        }
    }
}

/// Most packets taken from a queue in one poll.
pub const BURST: usize = 32;

/// One rx queue of a started port; polled by exactly one thread.
#[derive(Debug)]
pub struct RxQueue<'port> {
    port: u16,
    queue: u16,
    _port: PhantomData<&'port ()>,
}

// SAFETY: an RxQueue is handed out once per queue and is not Clone, so moving
// it to a thread keeps DPDK's rule of one poller per queue.
unsafe impl Send for RxQueue<'_> {}

impl<'port> RxQueue<'port> {
    /// Queue index.
    pub fn index(&self) -> u16 {
        self.queue
    }

    /// Polls the queue once (never blocks) and returns up to [`BURST`]
    /// received packets, oldest first. The packets borrow the port, not the
    /// queue: they may be kept while the queue is polled again (a reader
    /// holding the packet it handed on while it polls the next queue), and
    /// they are all freed before the port can close.
    pub fn poll(&mut self) -> Burst<'port> {
        let mut ptrs: [*mut ffi::RteMbuf; BURST] = [std::ptr::null_mut(); BURST];
        // SAFETY: the port is started and this queue exists (RxQueue is only
        // made by Port::rx_queues); `&mut self` makes this the only poller;
        // `ptrs` has room for BURST pointers.
        let n = unsafe { ffi::sc_rx_burst(self.port, self.queue, ptrs.as_mut_ptr(), BURST as u16) };
        Burst {
            ptrs,
            next: 0,
            len: usize::from(n).min(BURST),
            _port: PhantomData,
        }
    }
}

/// The packets of one poll, handed out one by one as [`Mbuf`]s; any not
/// taken are freed when the burst is dropped.
#[derive(Debug)]
pub struct Burst<'port> {
    ptrs: [*mut ffi::RteMbuf; BURST],
    next: usize,
    len: usize,
    _port: PhantomData<&'port ()>,
}

impl Burst<'_> {
    /// Packets in this burst.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the poll returned nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<'port> Iterator for Burst<'port> {
    type Item = Mbuf<'port>;

    fn next(&mut self) -> Option<Mbuf<'port>> {
        if self.next >= self.len {
            return None;
        }
        let ptr = self.ptrs.get(self.next).copied()?;
        self.next += 1;
        NonNull::new(ptr).map(|ptr| Mbuf {
            ptr,
            _port: PhantomData,
        })
    }
}

impl Drop for Burst<'_> {
    fn drop(&mut self) {
        for mbuf in self.by_ref() {
            drop(mbuf);
        }
    }
}

/// One received packet; freed back to its pool on drop.
#[derive(Debug)]
pub struct Mbuf<'port> {
    ptr: NonNull<ffi::RteMbuf>,
    _port: PhantomData<&'port ()>,
}

/// An mbuf's bytes.
#[derive(Debug)]
pub enum MbufData<'m> {
    /// The whole packet in one segment, borrowed in place.
    Contiguous(&'m [u8]),
    /// A chained packet of this many bytes: copy it with [`Mbuf::copy_to`].
    Chained(u32),
}

impl Mbuf<'_> {
    /// The packet's bytes, borrowed when they sit in one segment.
    pub fn data(&self) -> MbufData<'_> {
        let (mut seg_len, mut pkt_len) = (0u32, 0u32);
        // SAFETY: `ptr` is a live mbuf received from rx_burst and owned by
        // self; the shim only reads its header fields.
        let data = unsafe { ffi::sc_mbuf_data(self.ptr.as_ptr(), &mut seg_len, &mut pkt_len) };
        if seg_len >= pkt_len && !data.is_null() {
            // SAFETY: the first segment holds `seg_len` initialised bytes at
            // `data` (rte_pktmbuf_mtod/data_len); the buffer is not written
            // or freed while self is alive, and the slice borrows self.
            let bytes = unsafe { std::slice::from_raw_parts(data, pkt_len as usize) };
            MbufData::Contiguous(bytes)
        } else {
            MbufData::Chained(pkt_len)
        }
    }

    /// Copies a chained packet into `scratch` and returns the bytes the
    /// chain really holds (at most the packet length; fewer when a driver
    /// announced more than it chained, see `sc_mbuf_copy`).
    pub fn copy_to<'s>(&self, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        // SAFETY: the shim walks the live mbuf's segment list (stopping at a
        // null `next`) and only reads data_len fields.
        let held = unsafe { ffi::sc_mbuf_chain_len(self.ptr.as_ptr()) };
        // Never trust pkt_len for the allocation: the chain bounds it.
        let len = self.pkt_len().min(held);
        scratch.clear();
        scratch.resize(len as usize, 0);
        // SAFETY: `scratch` has exactly `len` writable bytes and the shim
        // writes at most that many; it walks the live mbuf's segment list,
        // stopping at a null `next`.
        let copied = unsafe { ffi::sc_mbuf_copy(self.ptr.as_ptr(), scratch.as_mut_ptr(), len) };
        scratch.truncate(copied as usize);
        scratch.as_slice()
    }

    /// The packet's length as the driver announced it.
    pub fn pkt_len(&self) -> u32 {
        let (mut seg_len, mut pkt_len) = (0u32, 0u32);
        // SAFETY: as in `data`: only header fields are read.
        unsafe { ffi::sc_mbuf_data(self.ptr.as_ptr(), &mut seg_len, &mut pkt_len) };
        pkt_len
    }

    /// The driver's rx timestamp, if it stamped this packet (unit: the
    /// driver's; net_pcap gives microseconds since the epoch).
    pub fn timestamp(&self, field: TimestampField) -> Option<u64> {
        let mut ts = 0u64;
        // SAFETY: `field` comes from the dynfield lookup of the started port,
        // so `offset` lies inside the mbuf's dynamic area; the shim checks
        // the valid-flag before reading 8 bytes there.
        let ok =
            unsafe { ffi::sc_mbuf_timestamp(self.ptr.as_ptr(), field.offset, field.flag, &mut ts) };
        (ok == 1).then_some(ts)
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: self owns this mbuf (taken once from a burst); after this
        // no borrow of its bytes exists (they borrow self).
        unsafe { ffi::sc_mbuf_free(self.ptr.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_text_stops_at_the_first_nul_and_survives_bad_utf8() {
        let mut raw = [0 as c_char; 64];
        for (dst, &b) in raw.iter_mut().zip(b"net_pcap0\0junk") {
            *dst = b as c_char;
        }
        assert_eq!(c_text(&raw), "net_pcap0");
        assert_eq!(c_text(&[0 as c_char; 4]), "");
        // No NUL at all: the whole array, invalid bytes replaced.
        let raw = [b'a' as c_char, 0xff_u8 as c_char];
        assert_eq!(c_text(&raw), "a\u{fffd}");
    }

    #[test]
    fn errors_carry_dpdk_error_text() {
        // rte_strerror needs no initialised EAL.
        let e = DpdkError::new("port 3: configure and start", -22);
        assert_eq!(e.code, -22);
        assert!(!e.text.is_empty());
        let shown = e.to_string();
        assert!(
            shown.starts_with("DPDK: port 3: configure and start: "),
            "{shown}"
        );
        assert!(shown.ends_with("(error -22)"), "{shown}");
    }
}

//! Read -> decode -> assemble, the way the `streamcut` tool runs a capture, with
//! the resource promises checked after every segment:
//!
//! - pages in use never exceed `max_pages_total`, connections never exceed
//!   `max_connections`, and a connection never buffers more than
//!   `max_pages_per_conn` pages' worth of bytes;
//! - every live ledger balances (buffered bytes counted as a bucket);
//! - the defragmenter stays within its datagram and byte limits;
//! - reading makes progress: a capture of `n` bytes yields at most `n + 1`
//!   records, so a reader that stops advancing is caught instead of hanging.
//!
//! At the end, every connection is completed exactly once, every page is
//! returned, and the payload bytes handed to the assembler equal the bytes the
//! ledgers say were captured. The streams themselves are checked by
//! [`crate::record`].

use pcapread::{
    CaptureReader, DecodeStats, Decoder, DecoderConfig, DefragConfig, Frame, SliceReader,
};
use reassembly::{Assembler, AssemblerConfig, AssemblerStats};

use crate::record::{FlowRecord, RecordingFactory};

/// Everything that shapes a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Assembler options (caps, policy, timeouts).
    pub assembler: AssemblerConfig,
    /// Decoder options (defragmentation limits, tunnel depth).
    pub decoder: DecoderConfig,
    /// Call [`Assembler::expire`] with the packet time every this many frames (0: never).
    pub expire_every: u64,
    /// Streams keep the last `.1` bytes of every `.0`-th delivery (see [`RecordingFactory::keeping`]).
    pub keep: Option<(u64, usize)>,
}

impl Default for Settings {
    /// The tool's defaults: default assembler and decoder, expiry every 1024 frames, no keeping.
    fn default() -> Self {
        Settings {
            assembler: AssemblerConfig::default(),
            decoder: DecoderConfig::default(),
            expire_every: 1024,
            keep: None,
        }
    }
}

impl Settings {
    /// Caps so small that every capture hits them: 64-byte pages, 4 per
    /// connection, 16 in all, 8 connections, 4 pending fragmented datagrams.
    pub fn tiny() -> Settings {
        Settings {
            assembler: AssemblerConfig {
                page_size: 64,
                max_pages_per_conn: 4,
                max_pages_total: 16,
                max_connections: 8,
                midstream_window: 2,
                max_gaps_listed: 4,
                ..AssemblerConfig::default()
            },
            decoder: DecoderConfig {
                defrag: DefragConfig {
                    max_datagrams: 4,
                    max_bytes: 8 * 1024,
                    timeout_ns: 5_000_000_000,
                },
                max_tunnel_depth: 2,
                ..DecoderConfig::default()
            },
            expire_every: 16,
            keep: Some((3, 5)),
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Extraction {
    /// Every connection, in creation order, completed.
    pub flows: Vec<FlowRecord>,
    /// Frames read.
    pub frames: u64,
    /// The error that ended reading, if any.
    pub error: Option<pcapread::Error>,
    /// Decoder counters.
    pub decode: DecodeStats,
    /// Assembler counters.
    pub assembler: AssemblerStats,
    /// Payload bytes of the segments the assembler took.
    pub payload_offered: u64,
}

impl Extraction {
    /// Each connection's client five-tuple and delivered bytes (client to
    /// server, server to client), in creation order.
    pub fn delivered(&self) -> Vec<(pcapread::FiveTuple, [Vec<u8>; 2])> {
        self.flows
            .iter()
            .map(|f| {
                (
                    f.info.client,
                    [f.dirs[0].bytes.clone(), f.dirs[1].bytes.clone()],
                )
            })
            .collect()
    }
}

/// A running read -> decode -> assemble pipeline with checks.
pub struct Pipeline {
    settings: Settings,
    decoder: Decoder,
    asm: Assembler<RecordingFactory>,
    frames: u64,
    payload_offered: u64,
}

impl Pipeline {
    /// A pipeline with empty state.
    pub fn new(settings: Settings) -> Pipeline {
        let factory = match settings.keep {
            Some((every, len)) => RecordingFactory::new().keeping(every, len),
            None => RecordingFactory::new(),
        };
        Pipeline {
            decoder: Decoder::new(settings.decoder),
            asm: Assembler::new(settings.assembler.clone(), factory),
            settings,
            frames: 0,
            payload_offered: 0,
        }
    }

    /// The assembler (for counters and page use).
    pub fn assembler(&self) -> &Assembler<RecordingFactory> {
        &self.asm
    }

    /// Decode one frame and give its segment, if any, to the assembler.
    pub fn push(&mut self, frame: &Frame<'_>) {
        self.frames += 1;
        let ts = frame.ts;
        if let Ok(seg) = self.decoder.decode(frame) {
            if !seg.defragmented {
                let d = frame.data.as_ptr_range();
                let p = seg.payload.as_ptr_range();
                assert!(
                    seg.payload.is_empty() || (d.start <= p.start && p.end <= d.end),
                    "payload outside its frame"
                );
            }
            self.payload_offered += seg.payload.len() as u64;
            self.asm.assemble(&seg);
            let key = seg.tuple.canonical().0;
            check_resources(&self.asm, Some(&key));
        }
        let d = self.decoder.defragmenter();
        let lim = self.settings.decoder.defrag;
        assert!(d.pending_datagrams() <= lim.max_datagrams.max(1));
        assert!(d.pending_bytes() <= lim.max_bytes);
        let every = self.settings.expire_every;
        if every > 0 && self.frames % every == 0 {
            self.asm.expire(ts);
            check_resources(&self.asm, None);
        }
    }

    /// End of input: flush everything and check the final state.
    pub fn finish(mut self, error: Option<pcapread::Error>) -> Extraction {
        self.asm.flush_all();
        assert_eq!(
            self.asm.pages_in_use(),
            0,
            "pages still in use after flush_all"
        );
        assert_eq!(
            self.asm.connections(),
            0,
            "connections left after flush_all"
        );
        let decode = self.decoder.stats();
        assert_eq!(decode.frames, self.frames);
        let skipped: u64 = decode.skipped.values().sum();
        assert_eq!(
            decode.tcp_segments + decode.udp_datagrams + skipped,
            self.frames,
            "decoder counters do not add up: {decode:?}"
        );
        let assembler = self.asm.stats();
        let flows = self.asm.into_factory().records();
        let mut captured = 0u64;
        for f in &flows {
            let c = f.completion.as_ref().expect("every connection completes");
            captured += c.c2s.captured + c.s2c.captured;
        }
        assert_eq!(
            captured, self.payload_offered,
            "payload bytes given to the assembler vs captured in the ledgers"
        );
        Extraction {
            flows,
            frames: self.frames,
            error,
            decode,
            assembler,
            payload_offered: self.payload_offered,
        }
    }
}

/// The assembler's caps, and the ledgers of `key`'s connection if it is tracked.
pub fn check_resources<F: reassembly::StreamFactory>(
    asm: &Assembler<F>,
    key: Option<&pcapread::FlowKey>,
) {
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

/// Run a capture held in memory through the pipeline with [`SliceReader`].
pub fn extract_slice(data: &[u8], name: &str, settings: Settings) -> Extraction {
    let mut p = Pipeline::new(settings);
    let mut error = None;
    let mut steps = 0usize;
    for item in SliceReader::new(data, name) {
        steps += 1;
        assert!(steps <= data.len() + 1, "reader does not make progress");
        match item {
            Ok(frame) => p.push(&frame),
            Err(e) => {
                assert!(error.is_none(), "two errors from one reader");
                error = Some(e);
            }
        }
    }
    p.finish(error)
}

/// Run an opened capture through the pipeline. `limit` bounds the frames read
/// (a progress check: pass the input's length when it is known).
pub fn extract_reader(mut reader: CaptureReader, settings: Settings, limit: u64) -> Extraction {
    let mut p = Pipeline::new(settings);
    let mut error = None;
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                assert!(p.frames < limit, "reader does not make progress");
                p.push(&frame);
            }
            Ok(None) => break,
            Err(e) => {
                assert!(error.is_none(), "two errors from one reader");
                error = Some(e);
            }
        }
    }
    p.finish(error)
}

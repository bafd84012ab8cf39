//! `capgen`: writes a synthetic capture and its exact answer (see the library
//! docs of the `capgen` crate for what is generated).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use capgen::{generate, ByteRange, DataOrder, EndMix, GenConfig, TsPrecision};
use clap::{Parser, ValueEnum};

/// Write a deterministic synthetic pcap and a JSON file with its exact answer
/// (per flow and direction: byte count, SHA-256 of the stream, packets, how
/// the flow ended).
///
/// A preset sets the base config; the other flags override single fields of
/// it (of the defaults without a preset: 16 TCP/IPv4 flows, in order, FIN).
/// Byte counts accept k, M, G suffixes (powers of 1000); ranges are
/// inclusive: `500`, `1k..64k`. Rates and fractions are probabilities 0..=1.
///
/// Examples:
///   capgen --out a.pcap --expected a.json --flows 1000 --bytes 1k..100k --ooo-rate 0.02
///   capgen --preset bulk --total-bytes 2G --out bulk.pcap --expected bulk.json
///   capgen --preset short --out short.pcap --expected short.json
#[derive(Parser, Debug)]
#[command(name = "capgen", version, verbatim_doc_comment)]
struct Args {
    /// Pcap file to write (`-` for standard output).
    #[arg(long, value_name = "FILE.pcap")]
    out: PathBuf,
    /// JSON file to write the expected answer to.
    #[arg(long, value_name = "FILE.json")]
    expected: Option<PathBuf>,
    /// Base config: `bulk` = 20k flows, 256 in flight, 2% out of order, 1%
    /// retransmitted, --total-bytes of payload (default 2G); `short` = 500k
    /// HTTP-like flows (64-512 byte request, 128-2048 byte response, FIN);
    /// `http` = real keep-alive HTTP/1.1 conversations (1-8 exchanges,
    /// bodies of 300 B to 4 MB, Content-Length and chunked, some gzip), 64
    /// in flight, 2% out of order, 1% retransmitted, --total-bytes of payload
    /// (default 1G); the answer lists every body's decoded SHA-256.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Payload bytes of the whole `bulk` or `http` preset (split over its
    /// flows).
    #[arg(long, value_parser = parse_count, value_name = "N")]
    total_bytes: Option<u64>,
    /// Seed of every random choice.
    #[arg(long)]
    seed: Option<u64>,
    /// Number of flows.
    #[arg(long)]
    flows: Option<u64>,
    /// Flows in flight at once (interleaved).
    #[arg(long)]
    concurrency: Option<u32>,
    /// Payload bytes per flow, both directions (N or MIN..MAX).
    #[arg(long, value_parser = parse_range, value_name = "RANGE")]
    bytes: Option<ByteRange>,
    /// Payload bytes per flow, client to server (overrides --bytes).
    #[arg(long, value_parser = parse_range, value_name = "RANGE")]
    c2s_bytes: Option<ByteRange>,
    /// Payload bytes per flow, server to client (overrides --bytes).
    #[arg(long, value_parser = parse_range, value_name = "RANGE")]
    s2c_bytes: Option<ByteRange>,
    /// Largest payload per packet.
    #[arg(long)]
    mss: Option<u16>,
    /// Order of the two directions' data.
    #[arg(long, value_enum)]
    order: Option<Order>,
    /// Probability that a segment is held back behind 1-3 later ones.
    #[arg(long, value_name = "P")]
    ooo_rate: Option<f64>,
    /// Probability that a segment is sent again (identical bytes).
    #[arg(long, value_name = "P")]
    retrans_rate: Option<f64>,
    /// Probability of a resend overlapping two segments partially.
    #[arg(long, value_name = "P")]
    overlap_rate: Option<f64>,
    /// Fraction of flows over IPv6.
    #[arg(long, value_name = "FRACTION")]
    ipv6: Option<f64>,
    /// Fraction of TCP flows whose sequence numbers wrap past 2^32.
    #[arg(long, value_name = "FRACTION")]
    wrap: Option<f64>,
    /// Fraction of flows that are UDP.
    #[arg(long, value_name = "FRACTION")]
    udp: Option<f64>,
    /// How TCP flows end: fin, rst, none, or weights like fin=8,rst=1,none=1.
    #[arg(long, value_parser = parse_end, value_name = "END")]
    end: Option<EndMix>,
    /// Time of the first packet, nanoseconds since the Unix epoch.
    #[arg(long, value_name = "NS")]
    start_ns: Option<u64>,
    /// Time between packets, nanoseconds.
    #[arg(long, value_name = "NS")]
    gap_ns: Option<u64>,
    /// Timestamp resolution of the pcap.
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// Leave TCP/UDP checksums zero (the IPv4 header checksum stays right).
    #[arg(long)]
    no_checksums: bool,
    /// Indent the JSON answer (it is compact otherwise).
    #[arg(long)]
    pretty: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Preset {
    Bulk,
    Short,
    Http,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Order {
    RequestResponse,
    Interleaved,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Precision {
    Us,
    Ns,
}

/// A count with an optional k/M/G (×1000) suffix.
fn parse_count(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1_000),
        Some((i, 'm' | 'M')) => (&s[..i], 1_000_000),
        Some((i, 'g' | 'G')) => (&s[..i], 1_000_000_000),
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|e| format!("`{s}` is not a count: {e}"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// `N`, `MIN..MAX` or `MIN..=MAX` (both inclusive).
fn parse_range(s: &str) -> Result<ByteRange, String> {
    match s.split_once("..") {
        None => Ok(ByteRange::fixed(parse_count(s)?)),
        Some((a, b)) => {
            let b = b.strip_prefix('=').unwrap_or(b);
            let r = ByteRange::between(parse_count(a)?, parse_count(b)?);
            if r.min > r.max {
                return Err(format!("range `{s}` has min > max"));
            }
            Ok(r)
        }
    }
}

/// `fin`, `rst`, `none`, or `fin=W,rst=W,none=W` (missing weights are 0).
fn parse_end(s: &str) -> Result<EndMix, String> {
    match s {
        "fin" => return Ok(EndMix::FIN),
        "rst" => return Ok(EndMix::RST),
        "none" => return Ok(EndMix::NONE),
        _ => {}
    }
    let mut m = EndMix {
        fin: 0,
        rst: 0,
        none: 0,
    };
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: expected fin, rst, none or NAME=WEIGHT"))?;
        let w: u32 = v.parse().map_err(|e| format!("`{part}`: {e}"))?;
        match k.trim() {
            "fin" => m.fin = w,
            "rst" => m.rst = w,
            "none" => m.none = w,
            other => return Err(format!("unknown ending `{other}`")),
        }
    }
    if m.total() == 0 {
        return Err("all ending weights are 0".into());
    }
    Ok(m)
}

impl Args {
    /// The config: the preset (or the defaults), then each given flag.
    fn config(&self) -> Result<GenConfig, String> {
        let mut c = match self.preset {
            Some(Preset::Bulk) => GenConfig::bulk(self.total_bytes.unwrap_or(2_000_000_000)),
            Some(Preset::Http) => GenConfig::http(self.total_bytes.unwrap_or(1_000_000_000)),
            Some(Preset::Short) | None => {
                if self.total_bytes.is_some() {
                    return Err("--total-bytes applies to --preset bulk and http only".into());
                }
                match self.preset {
                    Some(_) => GenConfig::short(),
                    None => GenConfig::default(),
                }
            }
        };
        macro_rules! set {
            ($field:ident, $arg:expr) => {
                if let Some(v) = $arg {
                    c.$field = v;
                }
            };
        }
        set!(seed, self.seed);
        set!(flows, self.flows);
        set!(concurrency, self.concurrency);
        set!(c2s_bytes, self.bytes);
        set!(s2c_bytes, self.bytes);
        set!(c2s_bytes, self.c2s_bytes);
        set!(s2c_bytes, self.s2c_bytes);
        set!(mss, self.mss);
        set!(
            data_order,
            self.order.map(|o| match o {
                Order::RequestResponse => DataOrder::RequestResponse,
                Order::Interleaved => DataOrder::Interleaved,
            })
        );
        set!(ooo_rate, self.ooo_rate);
        set!(retrans_rate, self.retrans_rate);
        set!(overlap_rate, self.overlap_rate);
        set!(ipv6_fraction, self.ipv6);
        set!(wrap_fraction, self.wrap);
        set!(udp_fraction, self.udp);
        set!(end, self.end);
        set!(start_ns, self.start_ns);
        set!(gap_ns, self.gap_ns);
        set!(
            precision,
            self.precision.map(|p| match p {
                Precision::Us => TsPrecision::Micro,
                Precision::Ns => TsPrecision::Nano,
            })
        );
        if self.no_checksums {
            c.transport_checksums = false;
        }
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

fn run(args: &Args) -> Result<(), String> {
    let config = args.config()?;
    let out_name = args.out.display().to_string();
    let sink: Box<dyn Write> = if out_name == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(File::create(&args.out).map_err(|e| format!("{out_name}: {e}"))?)
    };
    let started = Instant::now();
    let expected = generate(&config, sink).map_err(|e| format!("{out_name}: {e}"))?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    if let Some(path) = &args.expected {
        let name = path.display();
        let f = File::create(path).map_err(|e| format!("{name}: {e}"))?;
        let mut w = BufWriter::new(f);
        expected
            .to_json_writer(&mut w, args.pretty)
            .map_err(|e| format!("{name}: {e}"))?;
        w.flush().map_err(|e| format!("{name}: {e}"))?;
    }
    let t = &expected.totals;
    let mb = |b: u64| b as f64 / 1e6;
    eprintln!(
        "capgen: {} flows, {} packets, {:.1} MB pcap ({:.1} MB payload on the wire, {:.1} MB unique) in {:.2} s: {:.0} MB/s pcap, {:.0} MB/s payload, {:.2} Mpkt/s",
        t.flows,
        t.packets,
        mb(t.pcap_bytes),
        mb(t.wire_payload_bytes),
        mb(t.unique_payload_bytes),
        secs,
        mb(t.pcap_bytes) / secs,
        mb(t.wire_payload_bytes) / secs,
        t.packets as f64 / 1e6 / secs,
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capgen: error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranges() {
        assert_eq!(parse_count("2G"), Ok(2_000_000_000));
        assert_eq!(parse_count("64k"), Ok(64_000));
        assert_eq!(parse_count("17"), Ok(17));
        assert!(parse_count("x").is_err());
        assert!(parse_count("99999999999G").is_err());
        assert_eq!(parse_range("1k..2k"), Ok(ByteRange::between(1000, 2000)));
        assert_eq!(parse_range("5..=5"), Ok(ByteRange::fixed(5)));
        assert_eq!(parse_range("300"), Ok(ByteRange::fixed(300)));
        assert!(parse_range("9..1").is_err());
    }

    #[test]
    fn endings() {
        assert_eq!(parse_end("rst"), Ok(EndMix::RST));
        assert_eq!(
            parse_end("fin=8,none=2"),
            Ok(EndMix {
                fin: 8,
                rst: 0,
                none: 2
            })
        );
        assert!(parse_end("fin=0").is_err());
        assert!(parse_end("close=1").is_err());
    }

    #[test]
    fn flags_override_the_preset() {
        let a = Args::parse_from([
            "capgen",
            "--out",
            "x",
            "--preset",
            "bulk",
            "--total-bytes",
            "20M",
            "--wrap",
            "0.5",
            "--bytes",
            "10",
            "--s2c-bytes",
            "20",
        ]);
        let c = a.config().unwrap();
        assert_eq!(c.flows, 20_000);
        assert_eq!(c.wrap_fraction, 0.5);
        assert_eq!(c.c2s_bytes, ByteRange::fixed(10));
        assert_eq!(c.s2c_bytes, ByteRange::fixed(20));
        let bad = Args::parse_from(["capgen", "--out", "x", "--total-bytes", "1G"]);
        assert!(bad.config().is_err());
        let invalid = Args::parse_from(["capgen", "--out", "x", "--ooo-rate", "2"]);
        assert!(invalid.config().is_err());
    }
}

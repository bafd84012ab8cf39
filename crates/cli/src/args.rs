//! Command-line arguments (clap derive), turned into validated library options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reassembly::OverlapPolicy;

use engine::{BpfFilter, GapMode};

use crate::examples;
use crate::extract::ExtractOptions;
use crate::files::Layout;
use crate::job::Job;
use crate::naming::Naming;
use crate::output::ManifestFlows;

/// Extract the byte streams of every TCP connection (and UDP flow) from
/// pcap/pcapng captures.
#[derive(Debug, Parser)]
#[command(name = "streamcut", version, about, after_help = examples::PROGRAM)]
pub struct Cli {
    /// Print nothing but errors and input problems (no progress bar).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Say more on standard error: -v a summary line after each reading command
    /// (frames, flows, bytes, time); -vv also each input, what was dropped
    /// before reassembly and the assemblers' high-water marks.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write each flow direction's reassembled bytes to files, plus DIR/manifest.json.
    #[command(after_help = examples::EXTRACT)]
    Extract(ExtractArgs),
    /// List flows (reassembled fully; no stream bytes written).
    #[command(after_help = examples::FLOWS)]
    Flows(FlowsArgs),
    /// Print the two-way transcript of flows in capture order.
    #[command(after_help = examples::FOLLOW)]
    Follow(FollowArgs),
    /// Count formats, link types, decoded and skipped frames, flows and ledger totals.
    #[command(after_help = examples::STATS)]
    Stats(StatsArgs),
    /// Join the directories of `extract --shard K/N` runs (K = 0..N-1) into
    /// the directory one `extract` run writes, byte for byte.
    #[command(after_help = examples::MERGE)]
    Merge(MergeArgs),
    /// Capture from a DPDK port into DIR like `extract` (see docs/live.md).
    #[cfg(feature = "dpdk")]
    #[command(after_help = examples::LIVE)]
    Live(LiveArgs),
    /// Print a shell completion script.
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff): the overview, or one command's page.
    #[command(after_help = examples::MAN)]
    Man {
        /// The command whose page to print, with all its options (default:
        /// the overview page, which lists the global options and every
        /// command's page, streamcut-COMMAND(1)).
        #[arg(value_name = "COMMAND", value_parser = clap::builder::PossibleValuesParser::new(crate::manpage::PAGES))]
        command: Option<String>,
    },
}

/// Options every reading command shares.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Capture files: pcap or pcapng, optionally gzip or zstd compressed;
    /// `-` reads standard input. Several files are merged by timestamp.
    #[arg(required = true, value_name = "CAPTURE")]
    pub inputs: Vec<PathBuf>,
    /// Reassemble UDP flows too (default: TCP only).
    #[arg(long)]
    pub udp: bool,
    /// Which copy wins when retransmitted bytes differ.
    #[arg(long, value_name = "NAME", default_value = "first", value_parser = policy_parser(),
          long_help = policy_help())]
    pub overlap_policy: OverlapPolicy,
    /// Overlap policy per receiving host: a file of `CIDR POLICY` lines
    /// (`#` comments); hosts it does not cover use --overlap-policy.
    #[arg(long, value_name = "FILE")]
    pub policy_map: Option<PathBuf>,
    /// Write every overlap conflict (retransmitted bytes that differ) to FILE
    /// as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub conflicts: Option<PathBuf>,
    /// Keep a copy of each direction's last BYTES delivered bytes, so a
    /// retransmission that contradicts bytes already delivered is reported as
    /// a conflict (0: off; memory up to about 2.5 x BYTES per open connection).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub verify_window: usize,
    /// Only frames matching this tcpdump filter expression (compiled by libpcap).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Only the flows (both directions) whose endpoints match this tcpdump
    /// expression in either direction: protocol, hosts, nets and ports,
    /// e.g. 'tcp port 443 and host 10.0.0.1' (see docs/cli.md: --filter or --flows).
    #[arg(long, value_name = "EXPR")]
    pub flows: Option<String>,
    /// Assembler worker threads (output is identical for any value; default or 0: one per CPU when
    /// the workers write the files, CPUs - 1 when the reading thread writes: packed layout,
    /// tcpflow names, --conflicts). With workers writing, 1 runs everything on one thread.
    #[arg(short = 't', long, value_name = "N", value_parser = clap::value_parser!(u16))]
    pub threads: Option<u16>,
    /// Flow records each worker keeps in memory for the manifest; past that
    /// they go to a temporary file (in the output directory for `extract`,
    /// else in TMPDIR), so memory does not grow with the number of flows.
    #[arg(long, value_name = "N", default_value_t = engine::options::RECORDS_IN_MEMORY,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub records_in_memory: usize,
}

/// The overlap policy names as clap's possible values (so shell completion
/// offers them), parsed into an [`OverlapPolicy`].
fn policy_parser() -> impl clap::builder::TypedValueParser<Value = OverlapPolicy> {
    use clap::builder::TypedValueParser as _;
    let names: Vec<&'static str> = OverlapPolicy::ALL.iter().map(|p| p.name()).collect();
    clap::builder::PossibleValuesParser::new(names).try_map(|s| s.parse::<OverlapPolicy>())
}

fn policy_names() -> String {
    OverlapPolicy::ALL
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn policy_help() -> String {
    format!(
        "Which copy wins when retransmitted bytes differ: {} (default: first, like tshark)",
        policy_names()
    )
}

impl Common {
    /// The run these arguments ask for; the policy map file is read here.
    pub fn job(&self) -> anyhow::Result<Job> {
        let mut job = Job::new(self.inputs.clone());
        let e = &mut job.engine;
        e.udp = self.udp;
        e.filter = self.filter.as_deref().map(BpfFilter::new);
        e.flows = self
            .flows
            .as_deref()
            .map(engine::FlowFilter::new)
            .transpose()?;
        // 0: the engine picks (see `EngineOptions::threads`).
        e.threads = self.threads.map_or(0, usize::from);
        e.records_in_memory = self.records_in_memory;
        e.assembler.overlap_policy = self.overlap_policy;
        e.assembler.verify_window = self.verify_window;
        if let Some(path) = &self.policy_map {
            e.assembler.policy_map = reassembly::PolicyMap::from_file(path)?;
        }
        job.conflicts = self.conflicts.clone();
        Ok(job)
    }
}

/// `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// One file per flow direction.
    Files,
    /// One streams.bin; the manifest gives each direction's offset and length.
    Packed,
}

/// `--naming`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NamingArg {
    /// ID-PROTO-CLIENTIP.PORT-SERVERIP.PORT.(c2s or s2c), e.g. 0000000001-tcp-10.0.0.1.1234-10.0.0.2.80.c2s
    Default,
    /// tcpflow's SRCIP.SRCPORT-DSTIP.DSTPORT
    Tcpflow,
}

/// `--manifest-flows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManifestFlowsArg {
    /// Only in manifest.json's flows array.
    Inline,
    /// Only in flows.jsonl (one flow a line); manifest.json keeps the summary.
    Jsonl,
    /// In both.
    Both,
}

/// `--gaps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GapsArg {
    /// Leave missing bytes out (the manifest lists them).
    Skip,
    /// Write zeros for missing bytes (up to --zero-fill-cap per gap).
    Zero,
}

/// `streamcut extract`.
#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// Inputs and reassembly options.
    #[command(flatten)]
    pub common: Common,
    /// Output directory (created if missing; must be empty unless --force).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Write into a non-empty output directory.
    #[arg(long)]
    pub force: bool,
    /// One file per direction, or everything packed into streams.bin.
    #[arg(long, value_enum, default_value = "files")]
    pub layout: LayoutArg,
    /// File naming scheme.
    #[arg(long, value_enum, default_value = "default")]
    pub naming: NamingArg,
    /// What to write where bytes are missing.
    #[arg(long, value_enum, default_value = "skip")]
    pub gaps: GapsArg,
    /// Most zero bytes written for one gap with --gaps zero.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub zero_fill_cap: u64,
    /// Most output files open at once (fewer if the open-file limit is lower;
    /// more open files mean fewer reopens when flows outnumber them).
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_files: u32,
    /// Skip the SHA-256 of each direction (the manifest's `sha256` is then
    /// null): for when the files are hashed later, or not at all.
    #[arg(long)]
    pub no_digest: bool,
    /// Where the flow list goes: manifest.json's flows array, flows.jsonl
    /// (one flow a line, for streaming readers and many flows), or both.
    #[arg(long, value_enum, value_name = "WHERE", default_value = "both")]
    pub manifest_flows: ManifestFlowsArg,
    /// Do not hash the input files for the manifest (their sizes are still
    /// recorded): for inputs so large that reading them twice matters.
    #[arg(long)]
    pub no_input_digest: bool,
    /// Reassemble only shard K of N of the flows (every frame is still read
    /// and decoded); `streamcut merge` joins the N shard directories into
    /// what one run writes. See docs/scale.md.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<engine::Shard>,
    /// Also write every HTTP/1.x message body (de-chunked, decompressed) to
    /// DIR/http/ and list them in DIR/http/objects.jsonl (see docs/cli.md);
    /// with --shard, `streamcut merge` joins them too.
    #[arg(long)]
    pub http: bool,
    /// How --http names body files: from the request target, or by the
    /// SHA-256 of the body (identical bodies share one file).
    #[arg(long, value_enum, default_value_t = HttpNamingArg::Readable, requires = "http")]
    pub http_naming: HttpNamingArg,
}

/// `--http-naming`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HttpNamingArg {
    /// FLOWID-EXCHANGE-DIR-NAME, NAME the last segment of the request target.
    Readable,
    /// The hex SHA-256 of the decoded body.
    Sha256,
}

impl NamingArg {
    /// The naming scheme.
    pub fn naming(self) -> Naming {
        match self {
            NamingArg::Default => Naming::Default,
            NamingArg::Tcpflow => Naming::Tcpflow,
        }
    }
}

impl ExtractArgs {
    /// The extraction these arguments ask for.
    pub fn options(&self) -> anyhow::Result<ExtractOptions> {
        let mut job = self.common.job()?;
        job.engine.digest = !self.no_digest;
        job.engine.shard = self.shard;
        job.engine.gaps = match self.gaps {
            GapsArg::Skip => GapMode::Skip,
            GapsArg::Zero => GapMode::Zero {
                cap: self.zero_fill_cap,
            },
        };
        let mut o = ExtractOptions::new(job, self.output.clone());
        let out = &mut o.output;
        out.force = self.force;
        out.layout = match self.layout {
            LayoutArg::Files => Layout::Files,
            LayoutArg::Packed => Layout::Packed,
        };
        out.naming = match self.naming {
            NamingArg::Default => Naming::Default,
            NamingArg::Tcpflow => Naming::Tcpflow,
        };
        out.max_open_files = self.max_open_files as usize;
        out.http = self.http.then_some(match self.http_naming {
            HttpNamingArg::Readable => http::ObjectNaming::Readable,
            HttpNamingArg::Sha256 => http::ObjectNaming::Sha256,
        });
        o.input_digest = !self.no_input_digest;
        let out = &mut o.output;
        out.manifest_flows = match self.manifest_flows {
            ManifestFlowsArg::Inline => ManifestFlows::Inline,
            ManifestFlowsArg::Jsonl => ManifestFlows::Jsonl,
            ManifestFlowsArg::Both => ManifestFlows::Both,
        };
        Ok(o)
    }
}

/// `--rss`.
#[cfg(feature = "dpdk")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RssArg {
    /// Hash the IP address pair (fragments and tunnels stay with their flow).
    Ip,
    /// Hash addresses and ports (finer spread; fragments may change queue).
    IpPort,
}

/// `--timestamps`.
#[cfg(feature = "dpdk")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimestampsArg {
    /// The driver's rx timestamp where its unit is known (net_pcap), else the clock.
    Auto,
    /// The system clock when the packet is polled.
    Clock,
    /// The driver's rx timestamp, in microseconds since the epoch.
    DriverUs,
    /// The driver's rx timestamp, in nanoseconds since the epoch.
    DriverNs,
}

/// `streamcut live`.
#[cfg(feature = "dpdk")]
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Output directory (created if missing; must be empty unless --force).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Write into a non-empty output directory.
    #[arg(long)]
    pub force: bool,
    /// Reassemble UDP flows too (default: TCP only).
    #[arg(long)]
    pub udp: bool,
    /// Which copy wins when retransmitted bytes differ.
    #[arg(long, value_name = "NAME", default_value = "first", value_parser = policy_parser(),
          long_help = policy_help())]
    pub overlap_policy: OverlapPolicy,
    /// Overlap policy per receiving host: a file of `CIDR POLICY` lines
    /// (`#` comments); hosts it does not cover use --overlap-policy.
    #[arg(long, value_name = "FILE")]
    pub policy_map: Option<PathBuf>,
    /// Write every overlap conflict (retransmitted bytes that differ) to FILE
    /// as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub conflicts: Option<PathBuf>,
    /// Keep a copy of each direction's last BYTES delivered bytes to compare
    /// retransmissions with (0: off), as for `extract`.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub verify_window: usize,
    /// Flow records each worker keeps in memory; past that they go to a
    /// temporary file in the output directory, as for `extract`.
    #[arg(long, value_name = "N", default_value_t = engine::options::RECORDS_IN_MEMORY,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub records_in_memory: usize,
    /// Only frames matching this tcpdump filter expression (compiled by libpcap).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// One file per direction, or everything packed into streams.bin.
    #[arg(long, value_enum, default_value = "files")]
    pub layout: LayoutArg,
    /// File naming scheme.
    #[arg(long, value_enum, default_value = "default")]
    pub naming: NamingArg,
    /// What to write where bytes are missing.
    #[arg(long, value_enum, default_value = "skip")]
    pub gaps: GapsArg,
    /// Most zero bytes written for one gap with --gaps zero.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub zero_fill_cap: u64,
    /// Most output files open at once (fewer if the open-file limit is lower;
    /// more open files mean fewer reopens when flows outnumber them).
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_files: u32,
    /// Where the flow list goes: manifest.json's flows array, flows.jsonl
    /// (one flow a line, for streaming readers and many flows), or both.
    #[arg(long, value_enum, value_name = "WHERE", default_value = "both")]
    pub manifest_flows: ManifestFlowsArg,
    /// Also write every HTTP/1.x message body (de-chunked, decompressed) to
    /// DIR/http/ and list them in DIR/http/objects.jsonl, as `extract --http`.
    #[arg(long)]
    pub http: bool,
    /// How --http names body files: from the request target, or by the
    /// SHA-256 of the body (identical bodies share one file).
    #[arg(long, value_enum, default_value_t = HttpNamingArg::Readable, requires = "http")]
    pub http_naming: HttpNamingArg,
    /// DPDK port id to capture from.
    #[arg(long, value_name = "ID", default_value_t = 0)]
    pub port: u16,
    /// Assembler workers, flows spread over them by their symmetric hash;
    /// also rx queues, spread by a symmetric RSS hash and all polled by one
    /// thread, when the port can (else one queue).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub queues: u16,
    /// What the RSS hash covers when --queues is above 1.
    #[arg(long, value_enum, default_value = "ip")]
    pub rss: RssArg,
    /// Where packet times come from.
    #[arg(long, value_enum, default_value = "auto")]
    pub timestamps: TimestampsArg,
    /// Stop after this long without packets (e.g. 300ms, 10s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub idle_exit: Option<std::time::Duration>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Descriptors per rx queue.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u16).range(64..))]
    pub rx_desc: u16,
    /// Arguments for DPDK's EAL (cores, devices, memory), after `--`.
    #[arg(last = true, value_name = "EAL-ARGS")]
    pub eal: Vec<String>,
}

#[cfg(feature = "dpdk")]
impl LiveArgs {
    /// The live capture these arguments ask for; the policy map file is
    /// read here.
    pub fn command(&self) -> anyhow::Result<crate::live::command::LiveCommand> {
        use crate::live::timestamp::TimestampSource;
        use dpdk::RssMode;
        let common = Common {
            inputs: Vec::new(),
            udp: self.udp,
            overlap_policy: self.overlap_policy,
            policy_map: self.policy_map.clone(),
            conflicts: self.conflicts.clone(),
            verify_window: self.verify_window,
            filter: self.filter.clone(),
            flows: None,
            // The engine's assembler workers, one per queue.
            threads: Some(self.queues),
            records_in_memory: self.records_in_memory,
        };
        let extract = ExtractArgs {
            common,
            output: self.output.clone(),
            force: self.force,
            layout: self.layout,
            naming: self.naming,
            gaps: self.gaps,
            zero_fill_cap: self.zero_fill_cap,
            max_open_files: self.max_open_files,
            no_digest: false,
            manifest_flows: self.manifest_flows,
            // A port is no file: nothing to hash (the manifest's input has
            // no size and no sha256).
            no_input_digest: true,
            shard: None,
            http: self.http,
            http_naming: self.http_naming,
        }
        .options()?;
        let live = crate::live::LiveOptions {
            eal_args: self.eal.clone(),
            port: Some(self.port),
            queues: self.queues,
            rss: match self.rss {
                RssArg::Ip => RssMode::IpPair,
                RssArg::IpPort => RssMode::IpPairPorts,
            },
            idle_exit: self.idle_exit,
            count: self.count,
            timestamps: match self.timestamps {
                TimestampsArg::Auto => TimestampSource::Auto,
                TimestampsArg::Clock => TimestampSource::Clock,
                TimestampsArg::DriverUs => TimestampSource::DriverMicros,
                TimestampsArg::DriverNs => TimestampSource::DriverNanos,
            },
            rx_desc: self.rx_desc,
        };
        Ok(crate::live::command::LiveCommand {
            job: extract.job,
            output: extract.output,
            live,
        })
    }
}

/// `streamcut merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The output directories of the N shard runs, in any order.
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
    /// Output directory (created; must be missing or empty).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Move the stream files out of the shard directories instead of hard-linking
    /// them (copied across file systems either way).
    #[arg(long = "move")]
    pub move_files: bool,
}

/// `streamcut flows`.
#[derive(Debug, Clone, Args)]
pub struct FlowsArgs {
    /// Inputs and reassembly options.
    #[command(flatten)]
    pub common: Common,
    /// JSON lines (the manifest's flow objects, naming the files `extract`
    /// would write) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// File naming scheme of the `file` fields of --json (as for `extract`).
    #[arg(long, value_enum, default_value = "default")]
    pub naming: NamingArg,
    /// List only the flows of shard K of N (see `extract --shard`).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<engine::Shard>,
    /// Skip the SHA-256 of each direction (`sha256` is then null): reassembly
    /// only, about twice as fast on bulk captures.
    #[arg(long)]
    pub no_digest: bool,
}

/// `--as`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FollowAs {
    /// Printable ASCII, other bytes as '.'.
    Ascii,
    /// Hex dump with offsets.
    Hex,
    /// One hex string per packet.
    Raw,
    /// The exact bytes of one direction (--dir c2s or s2c) of one flow, nothing else.
    Bin,
}

/// `--dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirArg {
    /// Client to server only.
    C2s,
    /// Server to client only.
    S2c,
    /// Both directions.
    Both,
}

/// `streamcut follow`.
#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// Inputs and reassembly options (--filter selects the packets to follow).
    #[command(flatten)]
    pub common: Common,
    /// A flow to show: its id (as in `streamcut flows`) or its endpoints
    /// ADDR:PORT-ADDR:PORT in either order, IPv6 in brackets; repeat for
    /// several; all flows if absent.
    #[arg(long, value_name = "ID|ENDPOINTS")]
    pub flow: Vec<crate::flow_select::FlowSel>,
    /// Only this direction's bytes (required by --as bin).
    #[arg(long, value_enum, default_value = "both")]
    pub dir: DirArg,
    /// How bytes are shown.
    #[arg(
        long = "as",
        value_enum,
        default_value = "ascii",
        value_name = "FORMAT"
    )]
    pub format: FollowAs,
}

impl FollowArgs {
    /// What to show; `--as bin` needs one flow and one direction (a usage error otherwise).
    pub fn options(&self) -> Result<crate::follow::FollowOptions, clap::Error> {
        use clap::CommandFactory as _;
        let dir = match self.dir {
            DirArg::C2s => Some(reassembly::Dir::ClientToServer),
            DirArg::S2c => Some(reassembly::Dir::ServerToClient),
            DirArg::Both => None,
        };
        if self.format == FollowAs::Bin && (dir.is_none() || self.flow.len() != 1) {
            let mut cmd = Cli::command();
            let follow = cmd
                .find_subcommand_mut("follow")
                .map(|c| c.clone().bin_name("streamcut follow"));
            let mut cmd = follow.unwrap_or(cmd);
            return Err(cmd.error(
                clap::error::ErrorKind::ArgumentConflict,
                "--as bin writes the bytes of one direction of one flow: give exactly one --flow and --dir c2s or --dir s2c",
            ));
        }
        Ok(crate::follow::FollowOptions {
            select: self.flow.clone(),
            dir,
        })
    }
}

/// `streamcut stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Inputs and reassembly options.
    #[command(flatten)]
    pub common: Common,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn extract_options() {
        let cli = Cli::try_parse_from([
            "streamcut",
            "extract",
            "a.pcap",
            "b.pcapng",
            "-o",
            "out",
            "--gaps",
            "zero",
            "--zero-fill-cap",
            "10",
            "--overlap-policy",
            "last",
            "--naming",
            "tcpflow",
            "--verify-window",
            "65536",
        ])
        .unwrap();
        let Command::Extract(x) = cli.command else {
            panic!("not extract")
        };
        let o = x.options().unwrap();
        assert_eq!(o.job.inputs.len(), 2);
        assert_eq!(o.job.engine.gaps, GapMode::Zero { cap: 10 });
        assert_eq!(o.job.engine.assembler.overlap_policy, OverlapPolicy::Last);
        assert_eq!(o.job.engine.assembler.verify_window, 65536);
        assert_eq!(o.output.naming, Naming::Tcpflow);
    }

    /// `--queues N`: N rx queues when the port can, and N engine workers.
    #[cfg(feature = "dpdk")]
    #[test]
    fn live_queues_are_also_the_engine_workers() {
        let cli = Cli::try_parse_from([
            "streamcut",
            "live",
            "-o",
            "out",
            "--queues",
            "3",
            "--layout",
            "packed",
            "--",
            "--no-huge",
        ])
        .unwrap();
        let Command::Live(l) = cli.command else {
            panic!("not live")
        };
        let c = l.command().unwrap();
        assert_eq!(c.live.queues, 3);
        assert_eq!(c.job.engine.threads, 3);
        assert!(c.job.inputs.is_empty());
        assert_eq!(c.output.layout, Layout::Packed);
        assert_eq!(c.live.eal_args, ["--no-huge"]);
    }

    #[test]
    fn unknown_policy_is_a_usage_error() {
        let e = Cli::try_parse_from(["streamcut", "flows", "a.pcap", "--overlap-policy", "nope"])
            .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("first"), "{e}");
    }

    /// `--threads 0` is "all cores", as documented, and `-t` is its short form.
    #[test]
    fn threads_zero_is_automatic_and_t_is_short() {
        let threads = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Flows(f) = cli.command else {
                panic!("not flows")
            };
            f.common.job().unwrap().engine.threads
        };
        assert_eq!(
            threads(&["streamcut", "flows", "a.pcap", "--threads", "0"]),
            0
        );
        assert_eq!(threads(&["streamcut", "flows", "a.pcap", "-t", "2"]), 2);
        assert_eq!(threads(&["streamcut", "flows", "a.pcap", "-t2"]), 2);
        assert_eq!(threads(&["streamcut", "flows", "a.pcap"]), 0);
    }
}

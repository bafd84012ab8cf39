//! `streamcut live` against `streamcut extract` on the same packets (needs
//! the `dpdk` feature and DPDK 22.11 installed; run with
//! `cargo test -p streamcut --features dpdk --test live`).
//!
//! No NIC is needed: DPDK's net_pcap driver replays a capture file as a real
//! port (EAL, port setup, rx bursts, mbufs and the rx timestamp all run for
//! real), and net_tap inside a private network namespace receives frames
//! injected from an AF_PACKET socket, a truly live path. EAL can be
//! initialised once per process, so every capture runs the binary as a
//! subprocess.
//!
//! Live output must equal extract output: same files with the same bytes,
//! same manifest flows (ids, endpoints, ends, hashes, gaps, ledgers) and
//! totals. Only timestamps may differ: net_pcap keeps microseconds, and
//! net_tap packets get the clock's time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_streamcut");

fn corpus(rel: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus"
    ))
    .join(rel)
    .canonicalize()
    .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// EAL arguments that need no hugepages, no PCI and no shared files.
fn eal(vdev: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "-l",
        "0",
        "--no-telemetry",
        "--log-level=warning",
    ]
    .map(String::from)
    .to_vec();
    a.push(format!("--vdev={vdev}"));
    a
}

fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn extract(capture: &Path, out: &Path, extra: &[&str]) -> Output {
    let o = Command::new(BIN)
        .arg("extract")
        .arg(capture)
        .arg("-o")
        .arg(out)
        .args(["--quiet"])
        .args(extra)
        .output()
        .expect("run streamcut extract");
    check(o, "extract")
}

fn live_command(out: &Path, extra: &[&str], eal: &[String]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("live")
        .arg("-o")
        .arg(out)
        .args(extra)
        .arg("--")
        .args(eal);
    c
}

/// Replays `capture` through net_pcap until 300 ms without packets.
fn live_pcap(capture: &Path, out: &Path, extra: &[&str]) -> Output {
    let vdev = format!("net_pcap0,rx_pcap={}", capture.display());
    let mut args = vec!["--idle-exit", "300ms"];
    args.extend_from_slice(extra);
    let o = live_command(out, &args, &eal(&vdev))
        .output()
        .expect("run streamcut live");
    check(o, "live")
}

/// Every output file but the manifest, its flow list and `run.json` (the
/// manifest is compared on its own), not in subdirectories: name -> bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("read output dir") {
        let e = e.expect("dir entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            // `http/`: compared by the tests of --http.
            continue;
        }
        if !["manifest.json", "flows.jsonl", "run.json"].contains(&name.as_str()) {
            all.insert(name, std::fs::read(e.path()).expect("read output file"));
        }
    }
    all
}

/// How timestamps are compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Times {
    /// Cut to microseconds (net_pcap keeps µs).
    Micros,
    /// Ignored (packets stamped by the clock).
    Ignore,
}

/// The manifest without its `inputs` block, timestamps as `times` says.
fn manifest(dir: &Path, times: Times) -> Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("read manifest");
    let mut v: Value = serde_json::from_str(&text).expect("manifest is JSON");
    v.as_object_mut().expect("manifest object").remove("inputs");
    normalize(&mut v, times);
    v
}

/// `2023-11-14T22:13:20.123456789Z` -> `...20.123456Z` (or `"<time>"`), and
/// `*_ts` nanosecond numbers cut to microseconds (or null).
fn normalize(v: &mut Value, times: Times) {
    match v {
        Value::String(s) => {
            let b = s.as_bytes();
            let looks_like_time = b.len() == 30
                && b.get(10) == Some(&b'T')
                && b.get(19) == Some(&b'.')
                && s.ends_with('Z');
            if looks_like_time {
                *s = match times {
                    Times::Micros => format!("{}Z", &s[..26]),
                    Times::Ignore => "<time>".to_string(),
                };
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalize(x, times)),
        Value::Object(o) => {
            for (key, x) in o.iter_mut() {
                // Numeric times: `first_ts`, `last_ts` (ns since the epoch).
                if let (true, Some(ns)) = (key.ends_with("_ts"), x.as_u64()) {
                    *x = match times {
                        Times::Micros => Value::from(ns - ns % 1000),
                        Times::Ignore => Value::Null,
                    };
                } else if key == "duration_ns" {
                    // last_ts - first_ts: checked through those two (cut
                    // to microseconds each, their difference may move by 1).
                    *x = Value::Null;
                } else {
                    normalize(x, times);
                }
            }
        }
        _ => {}
    }
}

fn assert_same_output(live: &Path, extract: &Path, times: Times, what: &str) {
    let (lf, xf) = (files(live), files(extract));
    assert_eq!(
        lf.keys().collect::<Vec<_>>(),
        xf.keys().collect::<Vec<_>>(),
        "{what}: output file names"
    );
    for (name, bytes) in &xf {
        assert!(
            lf.get(name) == Some(bytes),
            "{what}: bytes of {name} differ"
        );
    }
    let (lm, xm) = (manifest(live, times), manifest(extract, times));
    let (lflows, xflows) = (&lm["flows"], &xm["flows"]);
    assert!(
        xflows.as_array().is_some_and(|f| !f.is_empty()),
        "{what}: extract found no flows (bad test capture)"
    );
    if let (Some(l), Some(x)) = (lflows.as_array(), xflows.as_array()) {
        assert_eq!(l.len(), x.len(), "{what}: number of flows");
        for (a, b) in l.iter().zip(x) {
            assert_eq!(a, b, "{what}: flow {}", b["id"]);
        }
    }
    assert_eq!(lm, xm, "{what}: manifest");
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The number before `word` in the live summary (`"... 3 chained ..."`).
fn number_before(text: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
}

/// Captures whose every frame is Ethernet in a plain pcap or pcapng file
/// (net_pcap reads what libpcap reads, and presents it as Ethernet), and no
/// record over 64 KiB (see `records_over_64k_are_cut_short_not_crashed`).
const CAPTURES: &[(&str, &[&str])] = &[
    // 11 sessions: out of order, retransmissions, gap, port reuse.
    ("arkime/tcp-reassembly-synthetic.pcap", &[]),
    // Sequence numbers wrapping past 2^32, duplicates.
    ("arkime/tcpseq_synthetic.pcap", &[]),
    // Many duplicate retransmissions each way.
    ("zeek/tcp/ssh-dups.pcap", &[]),
    // TCP carried in IPv4 fragments.
    ("arkime/socks5-http-302-frag.pcap", &[]),
    // GRE/ERSPAN tunnels, flows with holes.
    ("zeek/erspan.pcap", &[]),
    // IPv6, six FTP flows.
    ("zeek/ftp/ipv6.pcap", &[]),
    // 177 KB download.
    (
        "suricata-verify/lua-output-streaming/suricata-update-pdf.pcap",
        &[],
    ),
    // pcapng, no SYN.
    ("zeek/tcp/http-on-irc-port-missing-syn.pcapng", &[]),
    // UDP DNS (with --udp) and VLAN/MPLS mixes.
    ("dnscap/dns.pcap", &["--udp"]),
    ("zeek/mixed-vlan-mpls.pcap", &["--udp"]),
    // Overlap policy is passed through: last-wins changes the stream.
    (
        "suricata-verify/eve-overlap-payload-04-partial-overlap/tcp-overlap2.pcap",
        &["--overlap-policy", "last"],
    ),
];

/// net_pcap has no RSS: `--queues N` gives one rx queue and N engine
/// workers, among which the engine hashes flows in software; that must
/// change nothing, with the files layout (each worker writes its own flows)
/// or packed (the reading thread replays every call in input order), nor
/// must flow records going through temporary files (`--records-in-memory 2`).
#[test]
fn software_flow_hashing_matches_extract() {
    for (rel, extra) in CAPTURES {
        for (queues, layout) in [("2", "packed"), ("3", "files")] {
            let capture = corpus(rel);
            let tmp = tempfile::tempdir().expect("tempdir");
            let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
            let mut same = vec!["--layout", layout];
            same.extend_from_slice(extra);
            let mut args = vec!["--queues", queues, "--records-in-memory", "2"];
            args.extend_from_slice(&same);
            let out = live_pcap(&capture, &d1, &args);
            extract(&capture, &d2, &same);
            let what = format!("{rel} --queues {queues} --layout {layout}");
            assert_same_output(&d1, &d2, Times::Micros, &what);
            let err = stderr(&out);
            assert!(
                err.contains(&format!(
                    "1 rx queue(s), software hashing to {queues} workers"
                )),
                "{what}: {err}"
            );
        }
    }
}

#[test]
fn net_pcap_replay_matches_extract() {
    for (rel, extra) in CAPTURES {
        let capture = corpus(rel);
        let tmp = tempfile::tempdir().expect("tempdir");
        let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
        let out = live_pcap(&capture, &d1, extra);
        extract(&capture, &d2, extra);
        assert_same_output(&d1, &d2, Times::Micros, rel);
        let err = stderr(&out);
        assert!(err.contains("stopped by idle"), "{rel}: {err}");
        assert!(err.contains("times from the driver"), "{rel}: {err}");
        assert!(err.contains("missed 0, errors 0"), "{rel}: {err}");
    }
}

/// `--conflicts FILE` lists the same overlap conflicts as extract's, and
/// `--policy-map` reaches the assembler (a map choosing last-wins for the
/// server changes the stream as `--overlap-policy last` does).
#[test]
fn conflicts_and_policy_map_match_extract() {
    for queues in ["1", "2"] {
        conflicts_and_policy_map_with(queues);
    }
}

fn conflicts_and_policy_map_with(queues: &str) {
    let capture = corpus("zeek/tcp/reassembly.pcap");
    let tmp = tempfile::tempdir().expect("tempdir");
    let map = tmp.path().join("policy.map");
    std::fs::write(&map, "0.0.0.0/0 last\n::/0 last\n").expect("write map");
    let (c1, c2) = (tmp.path().join("c1.jsonl"), tmp.path().join("c2.jsonl"));
    let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
    let args = |c: &Path| {
        vec![
            "--conflicts".to_string(),
            c.display().to_string(),
            "--policy-map".to_string(),
            map.display().to_string(),
        ]
    };
    let (mut a1, a2) = (args(&c1), args(&c2));
    a1.extend(["--queues".to_string(), queues.to_string()]);
    let a1: Vec<&str> = a1.iter().map(String::as_str).collect();
    let a2: Vec<&str> = a2.iter().map(String::as_str).collect();
    live_pcap(&capture, &d1, &a1);
    extract(&capture, &d2, &a2);
    assert_same_output(
        &d1,
        &d2,
        Times::Micros,
        &format!("policy map, --queues {queues}"),
    );
    let lines = |p: &Path| {
        let mut l: Vec<String> = std::fs::read_to_string(p)
            .expect("conflicts file")
            .lines()
            .map(str::to_owned)
            .collect();
        l.sort();
        l
    };
    let (l1, l2) = (lines(&c1), lines(&c2));
    assert!(!l2.is_empty(), "the capture has an overlap conflict");
    assert_eq!(l1, l2);
    assert!(
        l1.iter().all(|l| l.contains("\"policy\":\"last\"")),
        "{l1:?}"
    );
}

/// A synthetic capture with 9000-byte frames: each arrives as a chain of
/// mbufs, copied into the source's scratch buffer (then into the batch).
#[test]
fn jumbo_frames_arrive_chained_and_match() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let capture = tmp.path().join("jumbo.pcap");
    let config = capgen::GenConfig {
        seed: 11,
        flows: 12,
        mss: 8960,
        c2s_bytes: capgen::ByteRange::between(1, 60_000),
        s2c_bytes: capgen::ByteRange::between(1, 200_000),
        ooo_rate: 0.05,
        retrans_rate: 0.03,
        ipv6_fraction: 0.3,
        udp_fraction: 0.2,
        wrap_fraction: 0.2,
        precision: capgen::TsPrecision::Micro,
        ..capgen::GenConfig::default()
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(&capture).expect("create"));
    capgen::generate(&config, &mut file).expect("generate");
    std::io::Write::flush(&mut file).expect("flush");
    drop(file);
    let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
    let out = live_pcap(&capture, &d1, &["--udp"]);
    extract(&capture, &d2, &["--udp"]);
    assert_same_output(&d1, &d2, Times::Micros, "jumbo");
    let chained = number_before(&stderr(&out), "chained").expect("summary line");
    assert!(chained > 0, "no chained mbufs: {}", stderr(&out));
}

/// net_pcap in DPDK 22.11 chains only (length mod 65536) bytes of a record
/// over 64 KiB while announcing its full length; the source copies what the
/// chain holds and marks the frame captured-short, instead of reading past
/// the chain.
#[test]
fn records_over_64k_are_cut_short_not_crashed() {
    let capture = corpus("tcpdump/bigtcp-ipv6-hbh.pcap");
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = live_pcap(&capture, &tmp.path().join("live"), &[]);
    let err = stderr(&out);
    assert_eq!(number_before(&err, "frames"), Some(1), "{err}");
    assert_eq!(number_before(&err, "chained"), Some(1), "{err}");
}

/// The first `n` records of a classic pcap, as a new pcap.
fn first_records(capture: &Path, n: usize, out: &Path) {
    let data = std::fs::read(capture).expect("read capture");
    assert_eq!(
        data.get(..4),
        Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]),
        "little-endian µs pcap"
    );
    let mut end = 24;
    for _ in 0..n {
        let caplen = u32::from_le_bytes(data[end + 8..end + 12].try_into().expect("4 bytes"));
        end += 16 + caplen as usize;
    }
    std::fs::write(out, &data[..end]).expect("write pcap");
}

/// `--count N` processes exactly the first N frames: the same output as
/// extracting a file cut after N records.
#[test]
fn count_takes_exactly_the_first_n_frames() {
    let capture = corpus("zeek/tcp/ssh-dups.pcap");
    let tmp = tempfile::tempdir().expect("tempdir");
    let cut = tmp.path().join("first-150.pcap");
    first_records(&capture, 150, &cut);
    let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
    let out = live_pcap(&capture, &d1, &["--count", "150"]);
    extract(&cut, &d2, &[]);
    assert_same_output(&d1, &d2, Times::Micros, "count");
    let err = stderr(&out);
    assert!(err.contains("stopped by count"), "{err}");
    assert_eq!(number_before(&err, "frames"), Some(150), "{err}");
}

/// Reads the child's stderr until a line containing `needle`; returns all
/// lines read. Panics if the child ends first.
fn wait_for_line(
    child: &mut Child,
    needle: &str,
) -> (Vec<String>, BufReader<std::process::ChildStderr>) {
    let mut reader = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stderr");
        assert!(
            n > 0,
            "streamcut ended before printing {needle:?}: {lines:?}"
        );
        let found = line.contains(needle);
        lines.push(line);
        if found {
            return (lines, reader);
        }
    }
}

/// Waits for the child, killing it after `limit` (a hang is a failure, not
/// a timing assertion).
fn wait_with_limit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("streamcut live did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGINT stops a capture cleanly: everything received is processed and
/// flushed, and the manifest is written. Without --idle-exit or --count the
/// signal is the only way out, so the test cannot pass by accident.
#[test]
fn sigint_flushes_and_writes_the_manifest() {
    let capture = corpus("arkime/tcp-reassembly-synthetic.pcap");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
    let vdev = format!("net_pcap0,rx_pcap={}", capture.display());
    let mut child = live_command(&d1, &[], &eal(&vdev))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn streamcut live");
    let (_, mut rest) = wait_for_line(&mut child, "capturing");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send SIGINT");
    let status = wait_with_limit(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut rest, &mut err).expect("read stderr");
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("stopped by signal"), "{err}");
    extract(&capture, &d2, &[]);
    assert_same_output(&d1, &d2, Times::Micros, "sigint");
}

/// The lines of a JSON lines file, each parsed and its times cut to
/// microseconds.
fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("a JSON line");
            normalize(&mut v, Times::Micros);
            v
        })
        .collect()
}

/// `live --http` writes the HTTP objects `extract --http` writes from the
/// same packets: the same `http/objects.jsonl` (file names, SHA-256 of
/// each body, offsets), the same body files, and the manifest's `http`
/// block and `options.http`.
#[test]
fn http_objects_match_extract() {
    for (rel, naming) in [
        // One 177 KB PDF over one connection.
        (
            "suricata-verify/lua-output-streaming/suricata-update-pdf.pcap",
            "readable",
        ),
        // Several objects, retransmissions.
        ("arkime/wireshark-retrans.pcap", "sha256"),
    ] {
        let capture = corpus(rel);
        let tmp = tempfile::tempdir().expect("tempdir");
        let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
        let args = ["--http", "--http-naming", naming];
        live_pcap(&capture, &d1, &args);
        extract(&capture, &d2, &args);
        assert_same_output(&d1, &d2, Times::Micros, rel);
        let (l, x) = (d1.join("http"), d2.join("http"));
        let objects = json_lines(&x.join("objects.jsonl"));
        assert!(!objects.is_empty(), "{rel}: extract found no objects");
        assert_eq!(json_lines(&l.join("objects.jsonl")), objects, "{rel}");
        assert_eq!(files(&l), files(&x), "{rel}: body files");
        for o in &objects {
            let name = o["file"].as_str().expect("file");
            assert!(files(&l).contains_key(name), "{rel}: {name}");
        }
        let m = manifest(&d1, Times::Micros);
        assert_eq!(m["options"]["http"], naming, "{rel}");
        assert_eq!(m["http"]["objects"], objects.len(), "{rel}");
    }
}

/// `live --manifest-flows jsonl` writes the flows to `flows.jsonl` only,
/// as `extract --manifest-flows jsonl` does; the live input has no size
/// or SHA-256 (a port is no file).
#[test]
fn manifest_flows_jsonl_matches_extract() {
    let capture = corpus("arkime/tcp-reassembly-synthetic.pcap");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
    let args = ["--manifest-flows", "jsonl"];
    live_pcap(&capture, &d1, &args);
    extract(&capture, &d2, &args);
    let (lm, xm) = (manifest(&d1, Times::Micros), manifest(&d2, Times::Micros));
    assert!(lm.get("flows").is_none(), "no inline flows: {lm}");
    assert_eq!(lm["flows_file"], "flows.jsonl");
    assert_eq!(lm, xm);
    let flows = json_lines(&d2.join("flows.jsonl"));
    assert_eq!(flows.len(), 11);
    assert_eq!(json_lines(&d1.join("flows.jsonl")), flows);
    assert_eq!(files(&d1), files(&d2));
    let text = std::fs::read_to_string(d1.join("manifest.json")).expect("manifest");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let input = &v["inputs"][0];
    assert!(input["path"]
        .as_str()
        .is_some_and(|p| p.starts_with("dpdk:")));
    assert!(
        input.get("size").is_none() && input.get("sha256").is_none(),
        "{input}"
    );
}

mod tap {
    //! net_tap in a private network namespace: frames injected from an
    //! AF_PACKET socket reach the DPDK port as on a wire.

    use super::*;
    use pcapread::CaptureReader;

    const IFACE: &str = "sctap0";

    /// Moves the calling thread (and the processes it starts) into a new
    /// network namespace, with IPv6 off so the kernel sends nothing on the
    /// new interface by itself. `Err` says why the machine does not allow it.
    fn private_netns() -> Result<(), String> {
        if !Path::new("/dev/net/tun").exists() {
            return Err("/dev/net/tun is missing".into());
        }
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
        for which in ["default", "all"] {
            let knob = format!("/proc/sys/net/ipv6/conf/{which}/disable_ipv6");
            if Path::new(&knob).exists() {
                std::fs::write(&knob, "1").map_err(|e| format!("{knob}: {e}"))?;
            }
        }
        Ok(())
    }

    fn find_iface() -> Option<pnet_datalink::NetworkInterface> {
        pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == IFACE && i.is_up())
    }

    /// Sends every frame of `capture` out of the tap interface.
    fn inject(capture: &Path) -> u64 {
        let start = Instant::now();
        let iface = loop {
            if let Some(i) = find_iface() {
                break i;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{IFACE} never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let config = pnet_datalink::Config::default();
        let Ok(pnet_datalink::Channel::Ethernet(mut tx, _rx)) =
            pnet_datalink::channel(&iface, config)
        else {
            panic!("no AF_PACKET channel on {IFACE}");
        };
        let mut reader = CaptureReader::open(capture).expect("open capture");
        let mut sent = 0;
        while let Some(frame) = reader.next_frame().expect("read capture") {
            tx.send_to(frame.data, None)
                .expect("one send")
                .expect("send frame");
            sent += 1;
        }
        sent
    }

    #[test]
    fn tap_injection_matches_extract() {
        // Few frames within milliseconds of each other in the capture, so
        // clock time (the tap gives no timestamps) changes no timeout decision.
        let capture = corpus("arkime/dns-tcp.pcap");
        let tmp = tempfile::tempdir().expect("tempdir");
        let (d1, d2) = (tmp.path().join("live"), tmp.path().join("extract"));
        extract(&capture, &d2, &[]);
        let frames = CaptureReader::open(&capture)
            .map(|mut r| {
                let mut n = 0u64;
                while let Ok(Some(_)) = r.next_frame() {
                    n += 1;
                }
                n
            })
            .expect("count frames");

        // The namespace belongs to this test's thread only.
        let outcome = std::thread::spawn(move || {
            private_netns()?;
            let count = frames.to_string();
            let mut child = live_command(
                &d1,
                &["--count", &count, "--idle-exit", "60s"],
                &eal(&format!("net_tap0,iface={IFACE}")),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn streamcut live");
            let (first, mut rest) = wait_for_line(&mut child, "capturing");
            let sent = inject(&capture);
            let status = wait_with_limit(&mut child, Duration::from_secs(90));
            let mut err = first.concat();
            std::io::Read::read_to_string(&mut rest, &mut err).expect("read stderr");
            Ok::<_, String>((sent, status, err, d1))
        })
        .join()
        .expect("tap thread");
        let (sent, status, err, d1) = match outcome {
            Ok(x) => x,
            Err(why) => {
                // CI runs as root on a fresh machine, where it must run: a
                // skip there would pass silently.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "tap_injection_matches_extract must run under CI (env CI is set) but cannot: {why}"
                );
                eprintln!("SKIPPED tap_injection_matches_extract: no private network namespace here ({why}); it fails instead when env CI is set");
                return;
            }
        };
        assert_eq!(sent, frames);
        assert!(status.success(), "{status}: {err}");
        assert!(err.contains("stopped by count"), "{err}");
        assert!(err.contains("times from the clock"), "{err}");
        assert_same_output(&d1, &d2, Times::Ignore, "tap");
    }
}

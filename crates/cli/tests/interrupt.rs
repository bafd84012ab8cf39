//! SIGINT and SIGTERM on a running `streamcut`: real signals sent to the real
//! binary reading a capture from a pipe that a thread feeds slowly (as
//! `tcpdump -w - | streamcut extract -` would), so the signal lands in the
//! middle of the input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{root, streamcut};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The capture fed through the pipe: 106 frames of 11 TCP connections.
const CAPTURE: &str = "testdata/corpus/arkime/tcp-reassembly-synthetic.pcap";
const FRAMES: u64 = 106;

/// The capture's pcap header and its records.
fn records() -> (Vec<u8>, Vec<Vec<u8>>) {
    let bytes = std::fs::read(root().join(CAPTURE)).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut at = 24;
    let mut recs = Vec::new();
    while at < bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        recs.push(bytes[at..at + 16 + caplen].to_vec());
        at += 16 + caplen;
    }
    assert_eq!(recs.len() as u64, FRAMES);
    (bytes[..24].to_vec(), recs)
}

/// Feed the header, then one record every 20 ms while `go` is set, until
/// the records run out (the pipe then stays open) or the reader is gone.
fn feed(mut stdin: ChildStdin, go: Arc<AtomicBool>) -> JoinHandle<usize> {
    thread::spawn(move || {
        let (header, recs) = records();
        if stdin.write_all(&header).is_err() {
            return 0;
        }
        let mut sent = 0;
        for r in &recs {
            if !go.load(Ordering::SeqCst) {
                break;
            }
            if stdin.write_all(r).and_then(|()| stdin.flush()).is_err() {
                return sent;
            }
            sent += 1;
            thread::sleep(Duration::from_millis(20));
        }
        // Keep the pipe open (no end of input) until the child is gone.
        while go.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(10));
        }
        sent
    })
}

/// Wait until `path` exists (the child is past its start-up).
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), sig).unwrap();
}

/// Wait for `child` with a deadline; its exit code.
fn wait(mut child: Child) -> (i32, String, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let code = status.code().expect("exited, not killed by the signal");
            return (
                code,
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("streamcut did not exit after the signal");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// `extract -` into a fresh directory, fed slowly; interrupted by `sig`
/// once a few records went in (more keep coming after it).
fn interrupted_extract(sig: Signal) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut child = streamcut()
        .args(["-q", "extract", "-", "-o"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reserve is made after the signal handler is installed.
    wait_for(&out.join(".streamcut-reserve"));
    let go = Arc::new(AtomicBool::new(true));
    let feeder = feed(child.stdin.take().unwrap(), Arc::clone(&go));
    thread::sleep(Duration::from_millis(300));
    signal(&child, sig);
    let (code, _, stderr) = wait(child);
    go.store(false, Ordering::SeqCst);
    let sent = feeder.join().unwrap();
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        !out.join(".streamcut-reserve").exists(),
        "the reserve is removed"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["complete"], false);
    assert_eq!(m["error"], "interrupted");
    let frames = m["inputs"][0]["frames"].as_u64().unwrap();
    assert!(
        frames > 0 && frames < FRAMES,
        "read {frames} of {sent} sent"
    );
    assert!(m["inputs"][0]["problems"].as_array().unwrap().is_empty());
    // Every flow listed was completed and written in full.
    let flows = m["flows"].as_array().unwrap();
    assert!(!flows.is_empty());
    for f in flows {
        for dir in ["c2s", "s2c"] {
            if let Some(file) = f[dir]["file"].as_str() {
                let len = std::fs::metadata(out.join(file)).unwrap().len();
                assert_eq!(len, f[dir]["bytes"].as_u64().unwrap(), "{file}");
            }
        }
    }
    // A rerun into the same directory needs --force, as after any run.
}

#[test]
fn sigint_writes_an_incomplete_manifest_and_exits_1() {
    interrupted_extract(Signal::SIGINT);
}

#[test]
fn sigterm_writes_an_incomplete_manifest_and_exits_1() {
    interrupted_extract(Signal::SIGTERM);
}

#[test]
fn a_second_signal_exits_at_once_without_the_reserve() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut child = streamcut()
        .args(["-q", "extract", "-", "-o"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&out.join(".streamcut-reserve"));
    // The header and a few records, then silence on an open pipe: the
    // reading is blocked, so the first signal cannot end the run.
    let (header, recs) = records();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&header).unwrap();
    for r in &recs[..5] {
        stdin.write_all(r).unwrap();
    }
    stdin.flush().unwrap();
    thread::sleep(Duration::from_millis(300));
    signal(&child, Signal::SIGINT);
    thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting for input"
    );
    signal(&child, Signal::SIGINT);
    let (code, _, stderr) = wait(child);
    drop(stdin);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("interrupted again"), "{stderr}");
    assert!(!out.join(".streamcut-reserve").exists());
    assert!(!out.join("manifest.json").exists());
}

/// Run `streamcut ARGS -` on an endless capture fed through standard input,
/// interrupt it once reading is under way, and check it stopped as an
/// interrupted read does (status 1, the message); its standard output.
fn interrupted_flows(args: &[&str]) -> String {
    let mut child = streamcut()
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let go = Arc::new(AtomicBool::new(true));
    let feeder = feed(child.stdin.take().unwrap(), Arc::clone(&go));
    // No file tells when the handler is in: give the process a moment.
    thread::sleep(Duration::from_millis(800));
    signal(&child, Signal::SIGINT);
    let (code, stdout, stderr) = wait(child);
    go.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("streamcut: interrupted: reading stopped after"),
        "{stderr}"
    );
    stdout
}

#[test]
fn interrupted_flows_prints_what_it_has_and_exits_1() {
    let stdout = interrupted_flows(&["-q", "flows"]);
    // The header line and at least one flow.
    assert!(stdout.lines().count() >= 2, "{stdout}");
}

/// `flows --json` prints lines as the engine hands the records over: an
/// interrupt still ends with every flow read so far printed once, in id
/// order, each line whole.
#[test]
fn interrupted_flows_json_prints_every_flow_once_in_order() {
    let stdout = interrupted_flows(&["-q", "flows", "--json"]);
    let ids: Vec<u64> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_u64().unwrap()
        })
        .collect();
    assert!(!ids.is_empty(), "{stdout}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

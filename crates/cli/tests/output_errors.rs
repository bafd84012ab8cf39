//! `streamcut extract` (and `live`) when the output cannot be written: a disk
//! that fills up part way, a read-only file system, an output path that is a
//! file.
//!
//! The file system cases mount a small or read-only tmpfs inside a private
//! mount namespace (`unshare -rm`, then `sh -c`), so nothing outlives the
//! test. Without `unshare` these tests fail, saying so: they must not pass
//! without having run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use capgen::{ByteRange, DataOrder, GenConfig};
use common::*;
use sha2::{Digest, Sha256};

/// A capture of `flows` TCP flows, two at a time, one packet a second of
/// packet time: flows end (FIN, then the linger time) one after another
/// all through the run, so a run stopped part way has finished some.
fn capture(dir: &Path, flows: u64, c2s: ByteRange, s2c: ByteRange) -> PathBuf {
    let cfg = GenConfig {
        seed: 7,
        flows,
        concurrency: 2,
        c2s_bytes: c2s,
        s2c_bytes: s2c,
        data_order: DataOrder::Interleaved,
        gap_ns: 1_000_000_000,
        ..GenConfig::default()
    };
    let path = dir.join("gen.pcap");
    let f = fs::File::create(&path).unwrap();
    capgen::generate(&cfg, std::io::BufWriter::new(f)).unwrap();
    path
}

/// Run `script` under `sh -c` in a private mount namespace with `args` as
/// `$1`...; fails the test, saying why, when no namespace can be made.
fn in_private_mounts(script: &str, args: &[&Path]) -> Output {
    match Command::new("unshare").args(["-rm", "true"]).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`unshare -rm true` failed ({}): the output error tests need a private \
             mount namespace (run them as root, or allow user namespaces)",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("cannot run `unshare` ({e}): the output error tests need it (util-linux)"),
    }
    Command::new("unshare")
        .arg("-rm")
        .args(["sh", "-c", script, "sh"])
        .args(args)
        .current_dir(root())
        .output()
        .expect("run unshare")
}

/// `streamcut extract -q CAPTURE -o MNT/out EXTRA...` with a tmpfs of `size`
/// mounted on a fresh `MNT`; the output directory is copied to `host/out`
/// (the tmpfs goes away with the namespace). Returns the exit code and
/// standard error of `streamcut`.
fn extract_on_tmpfs(size: &str, capture: &Path, host: &Path, extra: &str) -> (i32, String) {
    on_tmpfs(
        size,
        capture,
        host,
        &format!(r#"extract -q "$3" -o "$1/out" {extra}"#),
    )
}

/// `streamcut ARGS` as [`extract_on_tmpfs`] runs it: in `ARGS`, `$1` is the
/// tmpfs and `$3` the capture.
fn on_tmpfs(size: &str, capture: &Path, host: &Path, args: &str) -> (i32, String) {
    let mnt = host.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let script = format!(
        r#"set -u
mount -t tmpfs -o size={size} tmpfs "$1" || exit 97
"$2" {args} 2>"$4/stderr"
echo $? >"$4/rc"
cp -a "$1/out" "$4/out""#
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_streamcut"));
    let o = in_private_mounts(&script, &[&mnt, bin, capture, host]);
    assert!(o.status.success(), "the script failed: {}", stderr(&o));
    let rc = fs::read_to_string(host.join("rc")).unwrap();
    let err = fs::read_to_string(host.join("stderr")).unwrap();
    (rc.trim().parse().unwrap(), err)
}

/// The same extraction into a directory with room.
fn reference(capture: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "extract",
        "-q",
        capture.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    manifest(out)
}

/// Flows of a manifest by id.
fn by_id(m: &serde_json::Value) -> BTreeMap<u64, serde_json::Value> {
    m["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_u64().unwrap(), f.clone()))
        .collect()
}

/// The bytes of one direction as the manifest places them in `dir`.
fn dir_bytes(dir: &Path, d: &serde_json::Value) -> Vec<u8> {
    let Some(name) = d["file"].as_str() else {
        return Vec::new();
    };
    let all = fs::read(dir.join(name)).unwrap();
    match (d["offset"].as_u64(), d["length"].as_u64()) {
        (Some(o), Some(l)) => all[o as usize..(o + l) as usize].to_vec(),
        _ => all,
    }
}

/// A disk that fills up part way: exit 1, an error naming the file and the
/// cause, a manifest marked incomplete that lists only flows whose bytes are
/// all there, byte for byte as in a run with room, and no temporary files.
fn full_disk(layout: &str, threads: &str) {
    let args = format!(r#"extract -q "$3" -o "$1/out" --layout {layout} --threads {threads}"#);
    full_disk_with(layout, &args);
}

/// [`full_disk`] for the command `args` (as [`on_tmpfs`] takes it).
fn full_disk_with(layout: &str, args: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let cap = capture(
        tmp.path(),
        60,
        ByteRange::between(2_000, 4_000),
        ByteRange::between(30_000, 50_000),
    );
    let big = tmp.path().join("big");
    let want = reference(&cap, &big, &["--layout", layout]);
    let host = tmp.path().join("host");
    fs::create_dir(&host).unwrap();
    // 1 MiB of it is the manifest's reserve: about a megabyte of streams fits.
    let (rc, err) = on_tmpfs("2m", &cap, &host, args);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("/out/"), "the error names the file: {err}");
    assert!(err.contains("marked incomplete"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = host.join("out");
    let m = manifest(&out);
    assert_eq!(m["complete"], false);
    let error = m["error"].as_str().unwrap();
    assert!(error.contains("No space left on device"), "{error}");
    assert!(error.starts_with("writing "), "{error}");
    assert!(
        err.contains(error),
        "the manifest's error is the one reported"
    );
    let names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with('.')),
        "no reserve or temporary file left: {names:?}"
    );

    let got = by_id(&m);
    let all = by_id(&want);
    println!(
        "{args}: {} of {} flows written in full before the disk filled",
        got.len(),
        all.len()
    );
    assert!(
        !got.is_empty(),
        "some flows finished before the disk filled"
    );
    assert!(got.len() < all.len(), "the disk filled before the end");
    for (id, f) in &got {
        let w = &all[id];
        for d in ["c2s", "s2c"] {
            assert_eq!(f[d]["sha256"], w[d]["sha256"], "flow {id} {d}");
            assert_eq!(f[d]["bytes"], w[d]["bytes"], "flow {id} {d}");
            let bytes = dir_bytes(&out, &f[d]);
            assert_eq!(bytes, dir_bytes(&big, &w[d]), "flow {id} {d}: bytes differ");
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                f[d]["sha256"].as_str().unwrap(),
                "flow {id} {d}"
            );
        }
    }
    assert_eq!(m["totals"]["flows"].as_u64().unwrap(), got.len() as u64);
}

#[test]
fn full_disk_files_layout() {
    // One worker, and several (each writes its own flows' files).
    full_disk("files", "1");
    full_disk("files", "3");
    // Flow records written out beside the output as each flow closes: the
    // disk fills up under them too.
    full_disk_with(
        "files",
        r#"extract -q "$3" -o "$1/out" --threads 2 --records-in-memory 1"#,
    );
}

#[test]
fn full_disk_packed_layout() {
    full_disk("packed", "1");
    full_disk("packed", "3");
}

/// `streamcut live` on a disk that fills up: the same as `extract` (DPDK's
/// net_pcap driver replays the capture into one rx queue; one engine worker,
/// and three, which write their own flows' files or, packed, are replayed
/// on the rx thread).
#[cfg(feature = "dpdk")]
#[test]
fn full_disk_live() {
    let eal = "--no-huge --no-pci --no-shconf -l 0 --no-telemetry --log-level=warning \
               --vdev=net_pcap0,rx_pcap=\"$3\"";
    for (layout, queues) in [
        ("files", "1"),
        ("files", "3"),
        ("packed", "1"),
        ("packed", "3"),
    ] {
        let args = format!(
            r#"live -q -o "$1/out" --layout {layout} --queues {queues} --idle-exit 300ms -- {eal}"#
        );
        full_disk_with(layout, &args);
    }
}

/// More flows finish than the manifest's reserve can list: the manifest is
/// still written, marked incomplete, without its flow list, and says so.
#[test]
fn full_disk_manifest_without_flow_list() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = capture(
        tmp.path(),
        3_000,
        ByteRange::between(10, 20),
        ByteRange::between(10, 20),
    );
    let host = tmp.path().join("host");
    fs::create_dir(&host).unwrap();
    // Each small file takes a 4 KiB page: about 1000 flows fit beside the
    // reserve, and their list does not fit in it.
    let (rc, err) = extract_on_tmpfs("9m", &cap, &host, "");
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("did not fit"), "{err}");
    let m = manifest(&host.join("out"));
    assert_eq!(m["complete"], false);
    let error = m["error"].as_str().unwrap();
    assert!(error.contains("No space left on device"), "{error}");
    assert!(error.contains("did not fit"), "{error}");
    assert!(m["flows"].as_array().unwrap().is_empty());
    println!("{err}");
    assert!(
        m["totals"]["flows"].as_u64().unwrap() > 500,
        "{}",
        m["totals"]
    );
}

/// A read-only file system, as the output directory and as its parent:
/// exit 2 before any output, naming the path.
#[test]
fn read_only_output_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let cap = root().join(corpus(
        "suricata-verify/eve-overlap-payload-05-gap/tcp-simple-gap2.pcap",
    ));
    let bin = Path::new(env!("CARGO_BIN_EXE_streamcut"));
    let script = r#"set -u
mount -t tmpfs -o ro tmpfs "$1" || exit 97
"$2" extract -q "$3" -o "$1"; echo "rc=$?"
"$2" extract -q "$3" -o "$1/out"; echo "rc=$?""#;
    let o = in_private_mounts(script, &[&mnt, bin, &cap]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "rc=2\nrc=2\n", "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    let m = mnt.display().to_string();
    assert!(
        err.contains(&format!(
            "error: cannot write into the output directory {m}\n"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("error: creating {m}/out\n")), "{err}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("Read-only file system"))
            .count(),
        2,
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// An output path that is a regular file: exit 2, naming it, the file untouched.
#[test]
fn output_path_that_is_a_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, b"keep").unwrap();
    let cap = corpus("suricata-verify/eve-overlap-payload-05-gap/tcp-simple-gap2.pcap");
    let o = run(&["extract", "-q", &cap, "-o", file.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "output directory {} exists and is not a directory",
            file.display()
        )),
        "{}",
        stderr(&o)
    );
    let inside = file.join("out");
    let o = run(&["extract", "-q", &cap, "-o", inside.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("creating {}", inside.display())),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("Not a directory"), "{}", stderr(&o));
    assert_eq!(fs::read(&file).unwrap(), b"keep");
}

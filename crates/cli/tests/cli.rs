//! The `streamcut` binary end to end on corpus captures: exit codes, output
//! layouts, naming, gap filling, filters, path safety, broken pipes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use common::*;
use sha2::{Digest, Sha256};

/// 11 HTTP connections: retransmissions, a gap, port reuse, a late SYN.
const SYNTH: &str = "arkime/tcp-reassembly-synthetic.pcap";
/// "VERY", 4 missing bytes, "DATA".
const GAP: &str = "suricata-verify/eve-overlap-payload-05-gap/tcp-simple-gap2.pcap";
/// Plain TCP on port 80 next to Teredo, DNS and NetBIOS over UDP.
const TEREDO: &str = "zeek/tunnels/Teredo.pcap";
/// IPv6 FTP: six connections.
const FTP6: &str = "zeek/ftp/ipv6.pcap";

fn extract(capture: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let c = corpus(capture);
    let mut args = vec!["extract", "-q", c.as_str(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

fn flows(m: &serde_json::Value) -> &Vec<serde_json::Value> {
    m["flows"].as_array().unwrap()
}

#[test]
fn extract_writes_files_matching_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = extract(SYNTH, &out, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "quiet run printed: {}", stderr(&o));
    let m = manifest(&out);
    // The file is exactly the `Manifest` type, written pretty with a newline.
    let text = fs::read_to_string(out.join("manifest.json")).unwrap();
    let typed: streamcut::manifest::Manifest = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string_pretty(&typed).unwrap() + "\n", text);
    assert_eq!(m["tool"]["name"], "streamcut");
    assert_eq!(m["complete"], true);
    assert_eq!(m["inputs"][0]["path"], corpus(SYNTH));
    assert_eq!(m["inputs"][0]["format"], "pcap");
    assert_eq!(m["inputs"][0]["frames"], 106);
    let fl = flows(&m);
    assert_eq!(fl.len(), 11);
    let ids: Vec<u64> = fl.iter().map(|f| f["id"].as_u64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "flows sorted by id");
    assert_eq!(ids[0], 1);
    let mut files = 0;
    for f in fl {
        assert_eq!(f["first_frame"], f["id"]);
        for d in ["c2s", "s2c"] {
            let dir = &f[d];
            let bytes = dir["bytes"].as_u64().unwrap();
            match dir["file"].as_str() {
                None => assert_eq!(bytes, 0),
                Some(name) => {
                    files += 1;
                    let data = fs::read(out.join(name)).unwrap();
                    assert_eq!(data.len() as u64, bytes);
                    assert_eq!(hex::encode(Sha256::digest(&data)), dir["sha256"]);
                    assert!(name.ends_with(&format!(".{d}")));
                }
            }
            let l = &dir["ledger"];
            let sum: u64 = [
                "delivered",
                "duplicate",
                "overlap_lost",
                "out_of_window",
                "after_close",
                "evicted",
                "keep_alive",
            ]
            .iter()
            .map(|k| l[*k].as_u64().unwrap())
            .sum();
            assert_eq!(l["captured"].as_u64().unwrap(), sum, "ledger balances");
        }
    }
    // Every direction with bytes has a file, and nothing else is in DIR
    // but the manifest and the flow list.
    assert_eq!(dir_files(&out).len(), files + 2);
    let first = &fl[0];
    assert_eq!(
        first["c2s"]["file"],
        "0000000001-tcp-10.180.156.1.40001-10.180.156.2.80.c2s"
    );
    assert_eq!(first["first_time"], "2023-11-14T22:13:20.000000000Z");
    assert_eq!(first["first_ts"], 1_700_000_000_000_000_000u64);
    assert_eq!(first["end_reason"], "fin");
    // Schema 2: `end_reason`, not the jq keyword `end`.
    assert_eq!(m["schema"], 2);
    assert!(fl.iter().all(|f| f.get("end").is_none()));
    assert!(m["options"].get("flows").is_none(), "no --flows given");
    assert_eq!(first["encap"], "eth/ipv4");
    // The flow with a hole in its response lists the gap in stream offsets.
    let gap = fl.iter().find(|f| f["client"]["port"] == 40005).unwrap();
    assert_eq!(
        gap["s2c"]["gaps"],
        serde_json::json!([{"offset": 8, "len": 8}])
    );
}

#[test]
fn output_is_byte_identical_across_runs_and_thread_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    assert_eq!(code(&extract(SYNTH, &a, &["--udp"])), 0);
    assert_eq!(code(&extract(SYNTH, &b, &["--udp", "--threads", "4"])), 0);
    assert_eq!(dir_files(&a), dir_files(&b));
}

#[test]
fn truncated_capture_exits_1_with_partial_output() {
    let tmp = tempfile::tempdir().unwrap();
    let full = fs::read(root().join(corpus(SYNTH))).unwrap();
    let cut = tmp.path().join("cut.pcap");
    // Cut inside the record of frame 60.
    fs::write(&cut, &full[..5000]).unwrap();
    let out = tmp.path().join("out");
    let o = run(&[
        "extract",
        "-q",
        cut.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("input problem") && err.contains("cut.pcap"),
        "{err}"
    );
    let m = manifest(&out);
    assert_eq!(m["complete"], false);
    let p = &m["inputs"][0]["problems"][0];
    let offset = p["offset"].as_u64().unwrap();
    assert!(offset > 4900 && offset < 5000, "{p}");
    assert!(err.contains(&format!("byte offset {offset}")), "{err}");
    assert!(p["message"].as_str().unwrap().contains("truncated"), "{p}");
    // Everything before the damage was extracted: the first flows are the
    // same as from the whole capture.
    let whole = tmp.path().join("whole");
    assert_eq!(code(&extract(SYNTH, &whole, &[])), 0);
    let mw = manifest(&whole);
    let frames = m["inputs"][0]["frames"].as_u64().unwrap();
    assert!(frames > 50 && frames < 106);
    let done: Vec<&serde_json::Value> = flows(&mw)
        .iter()
        .filter(|f| f["last_frame"].as_u64().unwrap() <= frames && f["end_reason"] == "fin")
        .collect();
    assert!(done.len() >= 4);
    for f in done {
        let g = flows(&m).iter().find(|g| g["id"] == f["id"]).unwrap();
        assert_eq!(g["c2s"]["sha256"], f["c2s"]["sha256"]);
        assert_eq!(g["s2c"]["sha256"], f["s2c"]["sha256"]);
    }
}

#[test]
fn unreadable_input_is_an_input_problem_and_others_go_on() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let c = corpus(GAP);
    let o = run(&[
        "extract",
        "-q",
        "no/such.pcap",
        &c,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let m = manifest(&out);
    assert_eq!(m["inputs"][0]["format"], "unknown");
    assert_eq!(
        m["inputs"][0]["problems"][0]["offset"],
        serde_json::Value::Null
    );
    assert_eq!(flows(&m).len(), 1);
}

#[test]
fn usage_and_fatal_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let out = out.to_str().unwrap();
    let c = corpus(GAP);
    for args in [
        vec![],
        vec!["extract", c.as_str()],
        vec!["extract", c.as_str(), "-o", out, "--bogus"],
        vec!["flows", c.as_str(), "--overlap-policy", "nope"],
        vec!["flows", c.as_str(), "--threads", "many"],
        vec!["follow", c.as_str(), "--flow", "999"],
        vec!["flows", c.as_str(), "--filter", "tcp port eighty"],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(!o.stderr.is_empty(), "{args:?} printed no error");
    }
    // `--threads 0` is not one of them: it means all cores.
    let o = run(&["flows", c.as_str(), "--threads", "0"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["flows", c.as_str(), "--filter", "tcp port eighty"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("tcp port eighty"), "{}", stderr(&o));
    let o = run(&["follow", c.as_str(), "--flow", "999"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no flow with id 999"), "{}", stderr(&o));
}

#[test]
fn non_empty_output_dir_is_refused_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), b"mine").unwrap();
    let o = extract(GAP, &out, &[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert!(!out.join("manifest.json").exists());
    let o = extract(GAP, &out, &["--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read(out.join("keep.txt")).unwrap(), b"mine");
    assert!(out.join("manifest.json").exists());
}

/// The packed layout holds, for every direction, exactly the bytes of the
/// per-file layout, and the manifests agree on everything else.
fn packed_equals_files(capture: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    let packed = tmp.path().join("packed");
    assert_eq!(code(&extract(capture, &files, &["--udp"])), 0);
    assert_eq!(
        code(&extract(capture, &packed, &["--udp", "--layout", "packed"])),
        0
    );
    let streams = fs::read(packed.join("streams.bin")).unwrap();
    let (mf, mp) = (manifest(&files), manifest(&packed));
    assert_eq!(mp["options"]["layout"], "packed");
    assert_eq!(flows(&mf).len(), flows(&mp).len());
    let mut total = 0u64;
    for (f, p) in flows(&mf).iter().zip(flows(&mp)) {
        for d in ["c2s", "s2c"] {
            let (fd, pd) = (&f[d], &p[d]);
            match fd["file"].as_str() {
                None => {
                    assert_eq!(pd["file"], serde_json::Value::Null);
                    assert!(pd.get("offset").is_none());
                }
                Some(name) => {
                    assert_eq!(pd["file"], "streams.bin");
                    let off = pd["offset"].as_u64().unwrap() as usize;
                    let len = pd["length"].as_u64().unwrap() as usize;
                    assert_eq!(
                        &streams[off..off + len],
                        &fs::read(files.join(name)).unwrap()[..],
                        "flow {} {d}",
                        f["id"]
                    );
                    total += len as u64;
                }
            }
            for k in ["bytes", "packets", "sha256", "gaps", "ledger"] {
                assert_eq!(fd[k], pd[k]);
            }
        }
    }
    assert_eq!(
        total,
        streams.len() as u64,
        "streams.bin holds nothing else"
    );
    assert_eq!(mf["totals"], mp["totals"]);
    assert!(!packed.join(".streamcut-spill").exists());
}

#[test]
fn packed_layout_equals_files_layout() {
    packed_equals_files(SYNTH);
    packed_equals_files(TEREDO);
}

#[test]
fn packed_layout_spills_large_directions() {
    // A 1.3 MB DCC transfer: more than the in-memory limit of one direction.
    packed_equals_files("zeek/irc-dcc-send.pcapng");
}

#[test]
fn gaps_zero_fills_up_to_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let read = |dir: &Path| {
        let m = manifest(dir);
        let name = m["flows"][0]["c2s"]["file"].as_str().unwrap().to_string();
        (fs::read(dir.join(name)).unwrap(), m)
    };
    let skip = tmp.path().join("skip");
    assert_eq!(code(&extract(GAP, &skip, &[])), 0);
    let (bytes, m) = read(&skip);
    assert_eq!(bytes, b"VERYDATA");
    assert_eq!(
        m["flows"][0]["c2s"]["gaps"],
        serde_json::json!([{"offset": 4, "len": 4}])
    );
    assert_eq!(m["options"]["gaps"], "skip");

    let zero = tmp.path().join("zero");
    assert_eq!(code(&extract(GAP, &zero, &["--gaps", "zero"])), 0);
    let (bytes, m) = read(&zero);
    assert_eq!(bytes, b"VERY\0\0\0\0DATA");
    assert_eq!(m["flows"][0]["c2s"]["zero_filled"], 4);
    assert_eq!(m["flows"][0]["c2s"]["bytes"], 12);
    assert_eq!(m["options"]["zero_fill_cap"], 1 << 20);

    let capped = tmp.path().join("capped");
    let o = extract(GAP, &capped, &["--gaps", "zero", "--zero-fill-cap", "3"]);
    assert_eq!(code(&o), 0);
    let (bytes, m) = read(&capped);
    assert_eq!(bytes, b"VERY\0\0\0DATA");
    let c2s = &m["flows"][0]["c2s"];
    assert_eq!(c2s["sha256"], hex::encode(Sha256::digest(&bytes)));
    // The gap is still listed whole: it is what is missing, not what was written.
    assert_eq!(c2s["gaps"], serde_json::json!([{"offset": 4, "len": 4}]));
}

#[test]
fn filter_keeps_matching_frames_only() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    let web = tmp.path().join("web");
    assert_eq!(code(&extract(TEREDO, &all, &["--udp"])), 0);
    let o = extract(TEREDO, &web, &["--udp", "--filter", "tcp port 80"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (ma, mw) = (manifest(&all), manifest(&web));
    assert_eq!(mw["options"]["filter"], "tcp port 80");
    assert!(mw["totals"]["filtered_out"].as_u64().unwrap() > 0);
    let web_flows = flows(&mw);
    assert_eq!(web_flows.len(), 4);
    assert!(flows(&ma).len() > web_flows.len());
    for f in web_flows {
        assert_eq!(f["proto"], "tcp");
        assert!(
            f["client"]["port"] == 80 || f["server"]["port"] == 80,
            "{f}"
        );
        // The same flow, the same bytes as without the filter.
        let g = flows(&ma).iter().find(|g| g["id"] == f["id"]).unwrap();
        assert_eq!(g["c2s"]["sha256"], f["c2s"]["sha256"]);
        assert_eq!(g["s2c"]["sha256"], f["s2c"]["sha256"]);
    }
}

#[test]
fn tcpflow_naming_matches_tcpflow() {
    // The names Debian's tcpflow 1.6.1 writes for these captures (`tcpflow -r
    // CAPTURE -o DIR`), reused tuples and VLANs included.
    let cases: &[(&str, &[&str])] = &[
        (
            SYNTH,
            &[
                "010.180.156.001.40001-010.180.156.002.00080",
                "010.180.156.001.40002-010.180.156.002.00080",
                "010.180.156.001.40003-010.180.156.002.00080",
                "010.180.156.001.40004-010.180.156.002.00080",
                "010.180.156.001.40005-010.180.156.002.00080",
                "010.180.156.001.40006-010.180.156.002.00080",
                "010.180.156.001.40007-010.180.156.002.00080",
                "010.180.156.001.40008-010.180.156.002.00080",
                "010.180.156.001.40008-010.180.156.002.00080c1",
                "010.180.156.001.40009-010.180.156.002.00080",
                "010.180.156.001.40010-010.180.156.002.00080",
                "010.180.156.002.00080-010.180.156.001.40001",
                "010.180.156.002.00080-010.180.156.001.40002",
                "010.180.156.002.00080-010.180.156.001.40003",
                "010.180.156.002.00080-010.180.156.001.40004",
                "010.180.156.002.00080-010.180.156.001.40005",
                "010.180.156.002.00080-010.180.156.001.40006",
                "010.180.156.002.00080-010.180.156.001.40007",
                "010.180.156.002.00080-010.180.156.001.40008",
                "010.180.156.002.00080-010.180.156.001.40009",
            ],
        ),
        (
            FTP6,
            &[
                "2001:470:1f11:81f:c999:d94:aa7c:2e3e.49185-2001:470:4867:99::21.00021",
                "2001:470:4867:99::21.00021-2001:470:1f11:81f:c999:d94:aa7c:2e3e.49185",
                "2001:470:4867:99::21.55647-2001:470:1f11:81f:c999:d94:aa7c:2e3e.49190",
                "2001:470:4867:99::21.55785-2001:470:1f11:81f:c999:d94:aa7c:2e3e.49189",
                "2001:470:4867:99::21.57086-2001:470:1f11:81f:c999:d94:aa7c:2e3e.49186",
                "2001:470:4867:99::21.57087-2001:470:1f11:81f:c999:d94:aa7c:2e3e.49187",
                "2001:470:4867:99::21.57088-2001:470:1f11:81f:c999:d94:aa7c:2e3e.49188",
            ],
        ),
        (
            "suricata-verify/eve-overlap-payload-01/tcp-overlap.pcap",
            &["001.001.001.001.12345-002.002.002.002.08080--6"],
        ),
    ];
    for (capture, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let o = extract(capture, &out, &["--naming", "tcpflow"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let mut names: Vec<String> = dir_files(&out).into_iter().map(|(n, _)| n).collect();
        names.retain(|n| n != "manifest.json" && n != "flows.jsonl");
        assert_eq!(&names, want, "{capture}");
        assert_eq!(manifest(&out)["options"]["naming"], "tcpflow");
    }
}

#[test]
fn default_names_are_plain_portable_file_names() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(code(&extract(FTP6, &out, &[])), 0);
    let m = manifest(&out);
    for f in flows(&m) {
        for d in ["c2s", "s2c"] {
            let Some(name) = f[d]["file"].as_str() else {
                continue;
            };
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
                "{name}"
            );
            let p = Path::new(name);
            assert_eq!(p.components().count(), 1, "{name}");
            assert!(out.join(p).is_file());
        }
    }
    assert_eq!(
        flows(&m)[0]["c2s"]["file"],
        "0000000001-tcp-2001_470_1f11_81f_c999_d94_aa7c_2e3e.49185-2001_470_4867_99__21.21.c2s"
    );
}

#[test]
fn broken_pipe_is_not_an_error() {
    // About 480 KB of JSON lines: far more than a pipe holds, so writing must
    // fail once the reader is gone.
    let mut child = streamcut()
        .args([
            "flows",
            "-q",
            "--json",
            "--udp",
            &corpus("zeek/echo-connections.pcap.gz"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(first[0], b'{');
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn flows_json_lines_are_the_manifest_flows_of_extract() {
    for naming in ["default", "tcpflow"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        assert_eq!(code(&extract(SYNTH, &out, &["--naming", naming])), 0);
        let m = manifest(&out);
        let o = run(&["flows", "--json", "--naming", naming, &corpus(SYNTH)]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let lines: Vec<serde_json::Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The same objects, file names included (tcpflow's `c1` of a
        // reused tuple too), with the duration.
        assert_eq!(&lines, flows(&m), "{naming}");
        let names: Vec<&str> = lines
            .iter()
            .flat_map(|f| [f["c2s"]["file"].as_str(), f["s2c"]["file"].as_str()])
            .flatten()
            .collect();
        assert!(names.iter().all(|n| out.join(n).is_file()), "{names:?}");
        let gap = lines.iter().find(|f| f["client"]["port"] == 40005).unwrap();
        assert_eq!(gap["duration_ns"], 1_002_000_000u64);
    }
    // The table has a header, one line per flow, and a duration column.
    let o = run(&["flows", &corpus(SYNTH)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.trim_start().starts_with("ID  PROTO  CLIENT"), "{text}");
    assert!(
        text.lines().next().unwrap().contains("GAPS  DURATION  END"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 12);
    let row = text.lines().find(|l| l.contains(":40005")).unwrap();
    assert!(row.contains(" 1.002  fin"), "{row}");
}

#[test]
fn flows_no_digest_differs_only_in_sha256() {
    let parse = |o: &std::process::Output| -> Vec<serde_json::Value> {
        stdout(o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let with = parse(&run(&["flows", "--json", &corpus(SYNTH)]));
    let mut without = parse(&run(&["flows", "--json", "--no-digest", &corpus(SYNTH)]));
    assert_eq!(with.len(), without.len());
    for (w, n) in with.iter().zip(&mut without) {
        for d in ["c2s", "s2c"] {
            assert!(w[d]["sha256"].is_string(), "{w}");
            assert!(n[d]["sha256"].is_null(), "{n}");
            n[d]["sha256"] = w[d]["sha256"].clone();
        }
    }
    assert_eq!(with, without);
}

#[test]
fn extract_no_digest_writes_the_same_files_without_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert_eq!(code(&extract(SYNTH, &a, &[])), 0);
    assert_eq!(code(&extract(SYNTH, &b, &["--no-digest"])), 0);
    let files = |d: &Path| {
        let mut f = dir_files(d);
        f.retain(|(n, _)| n != "manifest.json" && n != "flows.jsonl");
        f
    };
    assert!(files(&a).len() > 2);
    assert_eq!(files(&a), files(&b));
    let with = manifest(&a);
    let mut without = manifest(&b);
    let fl = without["flows"].as_array_mut().unwrap();
    assert_eq!(flows(&with).len(), fl.len());
    for (w, n) in flows(&with).iter().zip(fl.iter_mut()) {
        for d in ["c2s", "s2c"] {
            assert!(w[d]["sha256"].is_string(), "{w}");
            assert!(n[d]["sha256"].is_null(), "{n}");
            n[d]["sha256"] = w[d]["sha256"].clone();
        }
    }
    assert_eq!(flows(&with), flows(&without));
}

/// Flow records spilled to temporary files (one record per run, merged in
/// tiers) print the same lists and totals, and leave nothing behind.
#[test]
fn records_in_memory_does_not_change_what_is_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus(SYNTH);
    for cmd in [
        vec!["flows", "--json"],
        vec!["flows"],
        vec!["stats", "--json"],
    ] {
        for threads in ["1", "2"] {
            let mut base = cmd.clone();
            base.extend([c.as_str(), "--threads", threads]);
            let want = run(&base);
            assert_eq!(code(&want), 0, "{}", stderr(&want));
            let mut spill = base.clone();
            spill.extend(["--records-in-memory", "1"]);
            let got = streamcut()
                .args(&spill)
                .env("TMPDIR", tmp.path())
                .output()
                .unwrap();
            assert_eq!(code(&got), 0, "{}", stderr(&got));
            assert_eq!(stdout(&got), stdout(&want), "{spill:?}");
        }
    }
    let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    // They did go through TMPDIR: without one, the run fails, saying why.
    let gone = tmp.path().join("gone");
    let o = streamcut()
        .args(["flows", c.as_str(), "--records-in-memory", "1"])
        .env("TMPDIR", &gone)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "creating a directory for flow records in {}",
            gone.display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn follow_prints_one_flow_in_capture_order() {
    let o = run(&["follow", &corpus(GAP), "--flow", "1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "===================================================================\n\
         Follow: tcp,ascii\n\
         Flow: 1 (end: end-of-input)\n\
         Node 0: 1.1.1.1:12345 (client)\n\
         Node 1: 2.2.2.2:8080 (server)\n\
         4\nVERY\n[4 bytes missing]\n4\nDATA\n\
         ===================================================================\n"
    );
    let o = run(&["follow", &corpus(SYNTH), "--flow", "46", "--as", "raw"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("Flow: 46 "), "{text}");
    assert!(!text.contains("Flow: 1 "), "{text}");
    // The request, then the response with its 8-byte hole.
    let req = text.find("474554202f7463702d676170").unwrap();
    let gap = text.find("\t[8 bytes missing]").unwrap();
    assert!(req < gap, "{text}");
}

#[test]
fn stats_totals_match_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(code(&extract(TEREDO, &out, &["--udp"])), 0);
    let o = run(&["stats", "--json", "--udp", &corpus(TEREDO)]);
    assert_eq!(code(&o), 0);
    let s: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(s["totals"], manifest(&out)["totals"]);
    assert_eq!(s["frames"], 78);
    assert_eq!(s["link_types"]["ether"], 78);
    assert!(s["skipped"]["ip-proto:58"].as_u64().unwrap() > 0);
    let o = run(&["stats", &corpus(TEREDO)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("link type ether"), "{text}");
    // Every key is apart from its value, the longest ones too.
    assert!(
        text.lines()
            .any(|l| l.starts_with("udp ignored (no --udp) ")
                && l.trim_end().ends_with(|c: char| c.is_ascii_digit())),
        "{text}"
    );
    assert!(
        text.lines().all(|l| !l.contains(")2") && !l.contains(")1")),
        "{text}"
    );
}

#[test]
fn a_missing_policy_map_names_its_cause_once() {
    let o = run(&[
        "flows",
        &corpus(TEREDO),
        "--policy-map",
        "/nonexistent/map.txt",
    ]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("cannot read policy map /nonexistent/map.txt"),
        "{err}"
    );
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

#[test]
fn help_completions_and_man() {
    let o = run(&["--help"]);
    assert_eq!(code(&o), 0);
    let help = stdout(&o);
    assert!(help.contains("Examples:") && help.contains("streamcut extract capture.pcap -o out/"));
    assert!(help.contains("Exit status"));
    let o = run(&["completions", "bash"]);
    assert_eq!(code(&o), 0);
    let bash = stdout(&o);
    assert!(bash.contains("streamcut"));
    // --overlap-policy completes to the policy names, not to file names.
    assert!(
        bash.contains("first last bsd bsd-right linux old-linux"),
        "{}",
        &bash[..bash.len().min(2000)]
    );
    let o = run(&["man"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains(".TH streamcut"));
    assert_eq!(code(&run(&["--version"])), 0);
}

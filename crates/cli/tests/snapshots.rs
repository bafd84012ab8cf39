//! The regression suite of what users see, as insta snapshots stored at the
//! repository root in `snapshots/`:
//! - `snapshots/manifest/<capture path>.snap`: `manifest.json` of
//!   `streamcut extract --udp CAPTURE` for every capture of the corpus (it
//!   carries a SHA-256 per direction instead of the bytes);
//! - `snapshots/follow/<capture path>.snap`: `streamcut follow --udp CAPTURE`
//!   (every flow, ASCII) for captures under 20 KB;
//! - `snapshots/{flows,flows-json,stats,conflicts}/<capture path>[@ARGS].snap`:
//!   the `flows` table, `flows --json`, the `stats` text and the `--conflicts`
//!   file of `extract`, for chosen captures and options ([`VIEWS`]); the
//!   snapshot's description is the command line.
//!
//! Captures are named relative to the workspace root, as a user would type
//! them, so the snapshots hold no machine-specific paths; the tool version is
//! replaced by `<version>` so a release does not rewrite every snapshot.
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always` and
//! `git diff snapshots/`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use common::*;

/// Captures at most this big also get a `follow` transcript snapshot.
const FOLLOW_MAX: u64 = 20 * 1024;

/// Settings that store snapshot `rel` (a corpus path) under `snapshots/<kind>/`.
fn settings(kind: &str, rel: &str) -> (insta::Settings, String) {
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let mut s = insta::Settings::clone_current();
    let path: PathBuf = root().join("snapshots").join(kind).join(dir);
    s.set_snapshot_path(path);
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s.set_description(format!("streamcut {kind} of testdata/corpus/{rel}"));
    (s, name.to_string())
}

/// Run `check` for every capture, collecting failures so one run reports them all.
fn for_each_capture(filter: impl Fn(&str) -> bool, check: impl Fn(&str)) {
    let mut failed = Vec::new();
    let mut n = 0;
    for rel in captures() {
        if !filter(&rel) {
            continue;
        }
        n += 1;
        if catch_unwind(AssertUnwindSafe(|| check(&rel))).is_err() {
            failed.push(rel);
        }
    }
    assert!(n > 0, "no captures under testdata/corpus");
    assert!(
        failed.is_empty(),
        "{} snapshot(s) differ: {failed:#?}",
        failed.len()
    );
}

#[test]
fn manifests() {
    let all = captures();
    assert!(
        all.len() > 150,
        "expected the whole corpus, found {}",
        all.len()
    );
    assert!(all.iter().any(|c| c.starts_with("pcapng-test-generator/")));
    for_each_capture(
        |_| true,
        |rel| {
            let tmp = tempfile::tempdir().unwrap();
            let out = tmp.path().join("out");
            let o = run(&[
                "extract",
                "-q",
                "--udp",
                &corpus(rel),
                "-o",
                out.to_str().unwrap(),
            ]);
            let text = std::fs::read_to_string(out.join("manifest.json"))
                .unwrap_or_else(|e| panic!("{rel}: no manifest ({e}): {}", stderr(&o)));
            let m: serde_json::Value = serde_json::from_str(&text).unwrap();
            // Exit 1 exactly when the manifest says the input had problems.
            let want = if m["complete"] == true { 0 } else { 1 };
            assert_eq!(code(&o), want, "{rel}: {}", stderr(&o));
            let version = format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION"));
            let text = text.replacen(&version, "\"version\": \"<version>\"", 1);
            let (s, name) = settings("manifest", rel);
            s.bind(|| insta::assert_snapshot!(name, text));
        },
    );
}

#[test]
fn follow_transcripts() {
    for_each_capture(
        |rel| {
            std::fs::metadata(root().join(corpus(rel)))
                .map(|m| m.len() < FOLLOW_MAX)
                .unwrap_or(false)
        },
        |rel| {
            let o = run(&["follow", "-q", "--udp", &corpus(rel)]);
            assert!(code(&o) < 2, "{rel}: {}", stderr(&o));
            let (s, name) = settings("follow", rel);
            let text = stdout(&o);
            s.bind(|| insta::assert_snapshot!(name, text));
        },
    );
}

/// What users read, beyond manifests and transcripts: (kind, capture, extra
/// options). Kinds: `flows` (the table), `flows-json`, `stats` (the text) and
/// `conflicts` (the `--conflicts FILE` of `extract`).
const VIEWS: &[(&str, &str, &[&str])] = &[
    // Gaps, a reused tuple, FIN and end of input.
    ("flows", "arkime/tcp-reassembly-synthetic.pcap", &[]),
    // IPv6 endpoints widen the columns.
    ("flows", "zeek/ftp/ipv6.pcap", &[]),
    // Flows inside Teredo, RST ends.
    ("flows", "zeek/tunnels/Teredo.pcap", &[]),
    // UDP flows, and the same capture without --udp: the bare header.
    ("flows", "dnscap/dns.pcap", &["--udp"]),
    ("flows", "dnscap/dns.pcap", &[]),
    // A flow-level selection over VLAN and MPLS.
    (
        "flows",
        "zeek/mixed-vlan-mpls.pcap",
        &["--flows", "tcp port 80"],
    ),
    (
        "flows-json",
        "arkime/tcp-reassembly-synthetic.pcap",
        &["--json"],
    ),
    (
        "flows-json",
        "zeek/tunnels/Teredo.pcap",
        &["--json", "--no-digest"],
    ),
    ("stats", "arkime/tcp-reassembly-synthetic.pcap", &[]),
    // Defragmentation, held fragments, UDP.
    ("stats", "dnscap/frags.pcap", &["--udp"]),
    // UDP ignored without --udp.
    ("stats", "dnscap/dns.pcap", &[]),
    // Frames filtered out by --filter.
    (
        "stats",
        "zeek/tunnels/Teredo.pcap",
        &["--filter", "tcp port 80"],
    ),
    // Flows left out by --flows, several link-layer encapsulations.
    (
        "stats",
        "zeek/mixed-vlan-mpls.pcap",
        &["--flows", "port 80"],
    ),
    ("conflicts", "zeek/tcp/reassembly.pcap", &[]),
    (
        "conflicts",
        "zeek/tcp/reassembly.pcap",
        &["--overlap-policy", "last"],
    ),
    (
        "conflicts",
        "zeek/tcp/qi_internet_SYNACK_curl_jsonip.pcap",
        &["--verify-window", "65536"],
    ),
];

/// The snapshot name of `capture` run with `args`: its file name, then
/// `@` and the options without their leading dashes, joined by `_`, every
/// character but letters, digits, `.` and `-` as `_`.
fn view_name(capture: &str, args: &[&str]) -> String {
    let file = capture.rsplit('/').next().unwrap_or(capture);
    if args.is_empty() {
        return file.to_string();
    }
    let slug: String = args
        .iter()
        .map(|a| a.trim_start_matches('-'))
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{file}@{slug}")
}

/// Run one view; returns the command line and what it shows.
fn view(kind: &str, rel: &str, args: &[&str]) -> (String, String) {
    let capture = corpus(rel);
    let tmp = tempfile::tempdir().unwrap();
    let conflicts = tmp.path().join("conflicts.jsonl");
    let out = tmp.path().join("out");
    let mut argv: Vec<&str> = match kind {
        "flows" | "flows-json" => vec!["flows", "-q", &capture],
        "stats" => vec!["stats", "-q", &capture],
        "conflicts" => vec![
            "extract",
            "-q",
            &capture,
            "-o",
            out.to_str().unwrap(),
            "--conflicts",
            conflicts.to_str().unwrap(),
        ],
        _ => panic!("unknown view {kind}"),
    };
    argv.extend_from_slice(args);
    let o = run(&argv);
    assert_eq!(code(&o), 0, "{kind} {rel} {args:?}: {}", stderr(&o));
    let text = if kind == "conflicts" {
        std::fs::read_to_string(&conflicts).unwrap()
    } else {
        stdout(&o)
    };
    let shown = if kind == "conflicts" {
        format!(
            "streamcut extract {capture} -o OUT --conflicts FILE {}",
            args.join(" ")
        )
    } else {
        format!(
            "streamcut {}",
            argv[..1]
                .iter()
                .chain(&argv[2..])
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    (shown.trim_end().to_string(), text)
}

#[test]
fn flows_stats_and_conflicts_views() {
    let mut failed = Vec::new();
    for &(kind, rel, args) in VIEWS {
        let name = view_name(rel, args);
        let ok = catch_unwind(AssertUnwindSafe(|| {
            let (command, text) = view(kind, rel, args);
            assert!(!text.is_empty(), "{command}: shows nothing");
            let (mut s, _) = settings(kind, rel);
            s.set_description(command);
            s.bind(|| insta::assert_snapshot!(name.clone(), text));
        }));
        if ok.is_err() {
            failed.push(format!("{kind}/{rel} {args:?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} view(s) differ: {failed:#?}",
        failed.len()
    );
}

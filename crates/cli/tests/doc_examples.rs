//! Every example command of README.md, docs/cli.md and docs/live.md, run
//! (or at least parsed) against the binary, so the docs cannot drift from it.
//!
//! Examples are the lines of ```sh, ```console, ```bash and ```shell blocks
//! (synopses are ```text blocks and are not run). In a block whose lines
//! start with a `$ ` prompt only those lines are commands, they share one
//! working directory, and the lines after each are its expected standard
//! output, compared exactly; in other blocks every line but comments is a
//! command run in a fresh directory. Each command runs with bash (`-o
//! pipefail`, so the `streamcut` part's exit status counts) in a temporary
//! directory holding `testdata` (a link to the repository's), a `bin/`
//! with `streamcut` first on PATH, and the captures the docs use as
//! placeholders ([`PLACEHOLDERS`], [`RING`]); an absolute redirection
//! target becomes a file of that directory. Every command must exit 0.
//! Not run, and printed as skipped with the reason: installing packages,
//! building or testing the workspace, `sudo`, and `streamcut live` (a DPDK
//! port): their `streamcut` part is still parsed with clap. A pipe into a
//! tool that is not installed is parsed only, also printed. Any other
//! command is an error, so a new kind of example needs a decision here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use clap::Parser as _;
use common::shell::{first_command, words};
use common::*;
use streamcut::args::Cli;

/// The documents whose examples are checked.
const DOCS: &[&str] = &["README.md", "docs/cli.md", "docs/live.md"];

/// The capture names the docs use as examples, and the corpus capture that
/// stands for each (flow ids and endpoints in the docs are this capture's).
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("capture.pcap", "zeek/pppoe-over-qinq.pcap"),
    ("capture.pcapng", "zeek/irc-dcc-send.pcapng"),
    ("big.pcapng", "zeek/irc-dcc-send.pcapng"),
];

/// `ring-*.pcap.gz`: these captures, gzip-compressed, as `ring-1.pcap.gz`...
const RING: &[&str] = &["arkime/tcp-reassembly-synthetic.pcap", "dnscap/dns.pcap"];

/// Tools an example may pipe into or run after `streamcut`.
const TOOLS: &[&str] = &["jq", "file", "xxd", "grep", "cat", "head", "ls", "man"];

/// One example: where it is, the command line, its expected output (console
/// blocks), and the block it shares a directory with.
#[derive(Debug)]
struct Example {
    at: String,
    line: String,
    expected: Option<String>,
    block: usize,
}

/// The examples of a Markdown document.
fn examples(doc: &str) -> Vec<Example> {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut block = 0;
    while let Some((_, l)) = lines.next() {
        let Some(lang) = l.strip_prefix("```") else {
            continue;
        };
        let mut body: Vec<(usize, String)> = Vec::new();
        for (m, l) in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            // A trailing backslash continues the line.
            match body.last_mut() {
                Some((_, prev)) if prev.ends_with('\\') => {
                    prev.pop();
                    prev.push(' ');
                    prev.push_str(l.trim_start());
                }
                _ => body.push((m + 1, l.to_string())),
            }
        }
        if !matches!(lang.trim(), "sh" | "console" | "bash" | "shell") {
            continue;
        }
        block += 1;
        let prompted = body.iter().any(|(_, l)| l.starts_with("$ "));
        let mut i = 0;
        while i < body.len() {
            let (m, l) = &body[i];
            i += 1;
            let at = format!("{doc}:{m}");
            if prompted {
                let Some(cmd) = l.strip_prefix("$ ") else {
                    panic!("{at}: output line without a command before it");
                };
                let mut expected = String::new();
                while i < body.len() && !body[i].1.starts_with("$ ") {
                    expected.push_str(&body[i].1);
                    expected.push('\n');
                    i += 1;
                }
                out.push(Example {
                    at,
                    line: cmd.to_string(),
                    expected: Some(expected),
                    block,
                });
            } else {
                let cmd = l.split(" # ").next().unwrap_or(l).trim();
                if cmd.is_empty() || cmd.starts_with('#') {
                    continue;
                }
                block += 1;
                out.push(Example {
                    at,
                    line: cmd.to_string(),
                    expected: None,
                    block,
                });
            }
        }
    }
    out
}

/// Whether a program is on PATH.
fn installed(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A working directory with the placeholders, `testdata` and `bin/streamcut`.
fn workdir() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    std::fs::create_dir(p.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_streamcut"), p.join("bin/streamcut")).unwrap();
    std::os::unix::fs::symlink(root().join("testdata"), p.join("testdata")).unwrap();
    for (name, rel) in PLACEHOLDERS {
        std::fs::copy(root().join(corpus(rel)), p.join(name)).unwrap();
    }
    for (i, rel) in RING.iter().enumerate() {
        let bytes = std::fs::read(root().join(corpus(rel))).unwrap();
        let f = std::fs::File::create(p.join(format!("ring-{}.pcap.gz", i + 1))).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap();
    }
    t
}

/// `words` with absolute redirection targets made relative to the working
/// directory (`> /etc/x/name` becomes `> name`).
fn local_redirects(line: &str) -> String {
    let mut out = Vec::new();
    let mut redirect = false;
    for w in line.split(' ') {
        if redirect && w.starts_with('/') {
            out.push(w.rsplit('/').next().unwrap_or(w).to_string());
        } else {
            out.push(w.to_string());
        }
        redirect = w == ">" || w == ">>";
    }
    out.join(" ")
}

/// Parse the `streamcut` command of `words` with clap; an error names `at`.
fn parse(at: &str, argv: &[String]) {
    if let Err(e) = Cli::try_parse_from(argv) {
        panic!("{at}: `{}` does not parse:\n{e}", argv.join(" "));
    }
}

/// What to do with one `&&`-separated part of an example.
enum Plan {
    /// Run it (as rewritten).
    Run(String),
    /// Do not run it, for this reason; parse this `streamcut` command, if any.
    Skip(&'static str, Option<Vec<String>>),
}

fn plan(at: &str, part: &str) -> Plan {
    let (cmd, rest) = first_command(part);
    let w = words(cmd);
    let first = w.first().map(String::as_str).unwrap_or("");
    match first {
        "sudo" => {
            let sc = (w.get(1).map(String::as_str) == Some("streamcut")).then(|| w[1..].to_vec());
            Plan::Skip("needs root", sc)
        }
        "apt-get" => Plan::Skip("installs system packages (root, network)", None),
        "cargo" => {
            if let Some(dash) = w.iter().position(|a| a == "--") {
                if w.iter().any(|a| a == "run") && w.windows(2).any(|p| p == ["-p", "streamcut"]) {
                    let mut argv = vec!["streamcut".to_string()];
                    argv.extend(w[dash + 1..].iter().cloned());
                    let line = format!(
                        "{} {rest}",
                        shlex::try_join(argv.iter().map(String::as_str)).unwrap()
                    );
                    return plan(at, line.trim());
                }
            }
            Plan::Skip(
                "builds or tests the workspace (this test runs inside that suite)",
                None,
            )
        }
        "streamcut" if w.get(1).map(String::as_str) == Some("live") => Plan::Skip(
            "captures from a DPDK port (EAL, hugepages or a vdev)",
            Some(w),
        ),
        "streamcut" => {
            let tools: Vec<String> = rest
                .split('|')
                .skip(1)
                .filter_map(|seg| words(first_command(seg).0).into_iter().next())
                .collect();
            if let Some(t) = tools.iter().find(|t| !TOOLS.contains(&t.as_str())) {
                panic!("{at}: pipes into {t}, which this test does not know; add it to TOOLS");
            }
            match tools.iter().find(|t| !installed(t)) {
                Some(_) => Plan::Skip("pipes into a tool that is not installed", Some(w)),
                None => Plan::Run(local_redirects(part)),
            }
        }
        t if TOOLS.contains(&t) => {
            if installed(t) {
                Plan::Run(local_redirects(part))
            } else {
                Plan::Skip("a tool that is not installed", None)
            }
        }
        _ => panic!("{at}: unknown command `{first}`; run it or skip it with a reason here"),
    }
}

#[test]
fn every_doc_example_runs() {
    let mut ran = 0;
    let mut skipped = Vec::new();
    let mut dir: Option<(usize, String, tempfile::TempDir)> = None;
    for doc in DOCS {
        for e in examples(doc) {
            let key = (e.block, doc.to_string());
            if dir.as_ref().map(|(b, d, _)| (*b, d.clone())) != Some(key.clone()) {
                dir = Some((key.0, key.1, workdir()));
            }
            let wd = dir.as_ref().unwrap().2.path().to_path_buf();
            let mut stdout_all = String::new();
            for part in e.line.split(" && ") {
                match plan(&e.at, part) {
                    Plan::Skip(why, parse_it) => {
                        if let Some(argv) = parse_it {
                            if argv.get(1).map(String::as_str) == Some("live")
                                && !cfg!(feature = "dpdk")
                            {
                                skipped.push(format!(
                                    "{}: {part}: {why}; not parsed: built without feature dpdk",
                                    e.at
                                ));
                                continue;
                            }
                            parse(&e.at, &argv);
                        }
                        skipped.push(format!("{}: {part}: {why}", e.at));
                    }
                    Plan::Run(line) => {
                        let o = run_in(&wd, &line);
                        assert_eq!(
                            o.status.code(),
                            Some(0),
                            "{}: `{line}` failed:\n{}\n{}",
                            e.at,
                            stdout(&o),
                            stderr(&o)
                        );
                        stdout_all.push_str(&stdout(&o));
                        ran += 1;
                    }
                }
            }
            if let Some(want) = &e.expected {
                assert_eq!(
                    &stdout_all, want,
                    "{}: `{}` printed other output",
                    e.at, e.line
                );
            }
        }
    }
    eprintln!(
        "doc examples: {ran} commands run, {} not run:",
        skipped.len()
    );
    for s in &skipped {
        eprintln!("  skipped {s}");
    }
    assert!(ran >= 15, "only {ran} doc examples ran");
}

/// Run `line` with bash in `wd`, `bin/streamcut` first on PATH.
fn run_in(wd: &Path, line: &str) -> std::process::Output {
    let path = format!(
        "{}:{}",
        wd.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .args(["-o", "pipefail", "-c", line])
        .current_dir(wd)
        .env("PATH", path)
        .env("MANPAGER", "cat")
        .output()
        .expect("run bash")
}

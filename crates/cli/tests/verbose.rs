//! `-v` and `-vv` on every reading command: a summary on standard error,
//! standard output untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{code, corpus, run, stderr};

const SYNTH: &str = "arkime/tcp-reassembly-synthetic.pcap";

/// Every reading command, with `-v` or `-vv` in front.
fn commands(c: &str, out: &str) -> Vec<(&'static str, Vec<String>)> {
    let v = |args: &[&str]| args.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    vec![
        ("flows", v(&["flows", c])),
        ("stats", v(&["stats", c])),
        ("follow", v(&["follow", c, "--flow", "1"])),
        ("extract", v(&["extract", c, "-o", out, "--force"])),
    ]
}

#[test]
fn v_prints_one_summary_line_for_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let c = corpus(SYNTH);
    for (name, args) in commands(&c, out) {
        let quiet = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let mut with_v = vec!["-v"];
        with_v.extend(args.iter().map(String::as_str));
        let o = run(&with_v);
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        assert_eq!(o.stdout, quiet.stdout, "{name}: stdout unchanged");
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {err}");
        assert!(
            lines[0].starts_with(&format!(
                "streamcut {name}: 106 frames read, 11 flows (11 tcp, 0 udp), 721 bytes in 106 packets"
            )),
            "{err}"
        );
        assert!(lines[0].ends_with(" s"), "{err}");
    }
}

#[test]
fn one_flow_is_singular() {
    let o = run(&["-v", "flows", &corpus("arkime/http-tcp-seq-issue.pcap")]);
    assert_eq!(code(&o), 0);
    assert!(
        stderr(&o).contains(" 1 flow (1 tcp, 0 udp)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn vv_adds_inputs_drops_and_assemblers() {
    let o = run(&["-vv", "stats", &corpus(SYNTH), "--flows", "port 40005"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(lines[0].contains(" 1 flow "), "{err}");
    assert_eq!(
        lines[1],
        format!(
            "streamcut stats:   input {}: pcap, compression none, link types ether, 106 frames, 0 problems",
            corpus(SYNTH)
        )
    );
    assert_eq!(
        lines[2],
        "streamcut stats:   dropped before reassembly: 0 frames by --filter, 95 segments of flows not in --flows, 0 udp datagrams (no --udp), 0 frames without a segment"
    );
    assert!(
        lines[3].starts_with("streamcut stats:   assemblers: 11 segments, 1 connection"),
        "{err}"
    );
}

//! The Dask launcher (`deploy/dask/streamcut_dask.py`) on a local cluster of
//! 2 worker processes: its merged output equals one `extract`, byte for
//! byte, and a shard that fails part way is run again, never half-merged.
//!
//! Needs `python3` with `dask.distributed` (`.ci/run` installs it). Without
//! it the test fails under CI (`CI=true`) and is skipped loudly elsewhere.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{corpus, root};

fn dask_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import dask.distributed"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "CI=true but python3 cannot import dask.distributed (.ci/run installs it)"
        );
        eprintln!(
            "\n========================================================================\n\
             SKIPPED: the Dask launcher test needs python3 with dask.distributed\n\
             (pip install -r deploy/dask/requirements.txt); not run.\n\
             ========================================================================\n"
        );
    }
    ok
}

/// Every file under `dir` (relative path -> bytes).
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "run.json") {
                // Wall times and the command line: differs between runs.
                continue;
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn launcher(
    streamcut: &Path,
    out: &Path,
    captures: &[String],
    extra: &[&str],
) -> std::process::Output {
    let mut c = Command::new("python3");
    c.current_dir(root())
        .arg("deploy/dask/streamcut_dask.py")
        .args(["--local", "2", "-n", "3", "--conflicts", "conflicts.jsonl"])
        .arg("--streamcut")
        .arg(streamcut)
        .arg("-o")
        .arg(out)
        .args(captures)
        .arg("--")
        .args(extra);
    c.output().unwrap()
}

fn single(out: &Path, captures: &[String], extra: &[&str]) {
    let o = common::streamcut()
        .args(["-q", "extract"])
        .args(captures)
        .arg("-o")
        .arg(out)
        .arg("--conflicts")
        .arg(out.join("conflicts.jsonl"))
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn dask_launcher_on_a_local_cluster_equals_one_run() {
    if !dask_available() {
        return;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_streamcut"));
    let captures = vec![
        corpus("zeek/tcp/reassembly.pcap"),
        corpus("arkime/tcp-reassembly-synthetic.pcap"),
        corpus("dnscap/frags.pcap"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    // A binary whose first run of shard 1 writes part of its output and
    // fails: Dask must run it again, and merge must not see the debris.
    let flaky = tmp.path().join("flaky-streamcut");
    let mark = tmp.path().join("failed-once");
    std::fs::write(
        &flaky,
        format!(
            "#!/bin/sh\n\
             out=\nprev=\n\
             for a in \"$@\"; do [ \"$prev\" = -o ] && out=\"$a\"; prev=\"$a\"; done\n\
             case \" $* \" in *' --shard 1/'*)\n\
               if [ ! -e '{mark}' ]; then touch '{mark}'; mkdir -p \"$out\"; \
             echo partial > \"$out/0000000001-tcp-half-written.c2s\"; exit 2; fi;;\n\
             esac\n\
             exec '{bin}' \"$@\"\n",
            mark = mark.display(),
            bin = bin.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&flaky, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (name, extra) in [
        ("files", vec!["--udp"]),
        ("packed", vec!["--udp", "--layout", "packed"]),
    ] {
        let want = tmp.path().join(format!("single-{name}"));
        single(&want, &captures, &extra);
        let got = tmp.path().join(format!("dask-{name}"));
        let _ = std::fs::remove_file(&mark);
        let o = launcher(&flaky, &got, &captures, &extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(err.contains("3/3 shards done"), "progress reported: {err}");
        assert!(mark.exists(), "the flaky shard failed once");
        assert_eq!(
            tree(&got),
            tree(&want),
            "{name}: Dask output differs from one run"
        );
        assert!(!tmp.path().join(format!("dask-{name}.shards")).exists());
    }
}

//! Helpers for running the real `streamcut` binary on corpus captures.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (captures are given relative to it, as a user would).
pub fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("workspace root")
}

/// `testdata/corpus/<rel>` relative to the root.
pub fn corpus(rel: &str) -> String {
    format!("testdata/corpus/{rel}")
}

/// A `streamcut` command running in the workspace root.
pub fn streamcut() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_streamcut"));
    c.current_dir(root());
    c
}

/// Run `streamcut args...` in the workspace root.
pub fn run(args: &[&str]) -> Output {
    streamcut().args(args).output().expect("run streamcut")
}

/// The exit code (panics on death by signal).
/// `streamcut merge DIRS... -o OUT`.
pub fn merge(dirs: &[&Path], out: &Path) -> Output {
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(dirs.iter().map(|d| d.to_str().expect("utf-8 path")));
    args.extend(["-o", out.to_str().expect("utf-8 path")]);
    run(&args)
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every capture of the corpus (pcap, pcapng, pcap.gz), relative to
/// `testdata/corpus`, sorted.
pub fn captures() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .expect("corpus dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p
                .strip_prefix(base)
                .expect("under corpus")
                .to_string_lossy()
                .replace('\\', "/");
            if p.is_dir() {
                if !rel.starts_with("_oracle") {
                    walk(&p, base, out);
                }
            } else if rel.ends_with(".pcap")
                || rel.ends_with(".pcapng")
                || rel.ends_with(".pcap.gz")
            {
                out.push(rel);
            }
        }
    }
    let base = root().join("testdata/corpus");
    let mut out = Vec::new();
    walk(&base, &base, &mut out);
    out
}

/// Every file under `dir`, in subdirectories and hidden ones too (relative
/// path -> bytes), but for `run.json` (wall times and the command line,
/// different in every run).
pub fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "run.json") {
                continue;
            } else {
                out.insert(
                    p.strip_prefix(dir).expect("under dir").to_path_buf(),
                    fs::read(&p).expect("read file"),
                );
            }
        }
    }
    out
}

/// All files of a directory (name -> bytes), sorted by name, but for
/// `run.json` (wall times and the command line, different in every run).
pub fn dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .expect("read dir")
        .filter(|e| e.as_ref().map_or(true, |e| e.file_name() != "run.json"))
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).expect("read file"),
            )
        })
        .collect();
    v.sort();
    v
}

/// The manifest of an output directory as JSON.
pub fn manifest(dir: &Path) -> serde_json::Value {
    let text = fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

pub mod shell;

//! The regression suite of what users see, as insta snapshots stored at the
//! repository root in `snapshots/`:
//! - `snapshots/manifest/<capture path>.snap`: `manifest.json` of
//!   `streamcut extract --udp CAPTURE` for every capture of the corpus (it
//!   carries a SHA-256 per direction instead of the bytes);
//! - `snapshots/follow/<capture path>.snap`: `streamcut follow --udp CAPTURE`
//!   (every flow, ASCII) for captures under 20 KB.
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

//! `streamcut extract` on damaged copies of every capture in testdata/corpus
//! (the CLI-level half of the hardening mutation suite, issue #8): the binary
//! always ends, under a timeout, with status 0 or 1 — never a signal and never
//! 101 (a panic) — and with status 1 it names the file and the byte offset on
//! standard error and in the manifest (`complete: false`, `problems`).
//!
//! For a truncated capture the output before the damage is all there: the
//! manifest's flows and every stream file equal those extracted from the
//! undamaged prefix of the capture (its whole records).
//!
//! Damage: truncation inside a record, a bit flip in a record header, an
//! absurd captured length, and a few random byte edits; and gzip- and
//! zstd-compressed copies cut short.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pcapread::SliceReader;

const TIMEOUT: Duration = Duration::from_secs(60);

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus")
}

/// Uncompressed pcap and pcapng files of the corpus (by their first bytes).
fn captures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![corpus_root()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("_oracle") {
                    stack.push(p);
                }
                continue;
            }
            let head = std::fs::read(&p).map(|d| d.get(..4).map(<[u8]>::to_vec));
            if let Ok(Some(h)) = head {
                let magics: [[u8; 4]; 5] = [
                    [0xd4, 0xc3, 0xb2, 0xa1],
                    [0xa1, 0xb2, 0xc3, 0xd4],
                    [0x4d, 0x3c, 0xb2, 0xa1],
                    [0xa1, 0xb2, 0x3c, 0x4d],
                    [0x0a, 0x0d, 0x0d, 0x0a],
                ];
                if magics.iter().any(|m| h == m) {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// Run `streamcut extract FILE -o DIR -q` under the timeout.
fn extract(file: &Path, out: &Path) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamcut"))
        .arg("extract")
        .arg(file)
        .arg("-o")
        .arg(out)
        .arg("-q")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "{}: streamcut still running after {TIMEOUT:?}",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr).ok();
    }
    let code = status.code().unwrap_or_else(|| {
        panic!(
            "{}: killed by a signal ({status:?}); {stderr}",
            file.display()
        )
    });
    (code, stderr)
}

fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every stream file of the output (not the manifest, flow list or run.json), by name.
fn stream_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                !["manifest.json", "flows.jsonl", "run.json"].contains(&n.to_str().unwrap_or(""))
            })
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = if p.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            (name, bytes)
        })
        .collect();
    v.sort();
    v
}

/// Where the library says reading stops: the error's offset, and the end of
/// the last whole packet record before it.
fn library_view(data: &[u8]) -> (Option<u64>, usize) {
    let mut reader = SliceReader::new(data, "x");
    let mut good_end = 0usize;
    let mut err = None;
    loop {
        match reader.next() {
            Some(Ok(_)) => good_end = reader.offset() as usize,
            Some(Err(e)) => err = e.offset(),
            None => break,
        }
    }
    (err, good_end)
}

/// Check one run of a damaged file; returns the manifest.
fn check_run(file: &Path, out: &Path, data: &[u8]) -> serde_json::Value {
    let (code, stderr) = extract(file, out);
    let label = file.display().to_string();
    assert!(
        code == 0 || code == 1,
        "{label}: exit status {code} (0 or 1 expected); stderr: {stderr}"
    );
    let m = manifest(out);
    let (err, _) = library_view(data);
    let problems = &m["inputs"][0]["problems"];
    if code == 1 {
        assert_eq!(m["complete"], false, "{label}");
        assert!(
            stderr.contains(&label),
            "{label}: stderr does not name the file: {stderr}"
        );
        let off = problems[0]["offset"].as_u64();
        let off = off.unwrap_or_else(|| panic!("{label}: problem without offset: {problems}"));
        assert!(
            stderr.contains(&off.to_string()),
            "{label}: stderr lacks the offset {off}: {stderr}"
        );
        // Pinned to the reader's own answer (a non-capture start is offset 0).
        if let Some(e) = err {
            assert_eq!(off, e, "{label}: manifest offset vs reader");
        }
    } else {
        assert_eq!(m["complete"], true, "{label}");
        assert!(
            err.is_none(),
            "{label}: the reader fails at {err:?}, streamcut says success"
        );
    }
    m
}

#[test]
fn damaged_captures_exit_0_or_1_and_keep_what_came_before() {
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for (i, path) in captures().into_iter().enumerate() {
        let data = std::fs::read(&path).unwrap();
        if data.len() > 512 * 1024 {
            continue;
        }
        let mut records = Vec::new();
        let mut reader = SliceReader::new(&data, "x");
        while let Some(Ok(f)) = reader.next() {
            records.push((f.file_offset as usize, reader.offset() as usize));
        }
        let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();
        if let Some(&(start, end)) = records.get(rand(records.len())) {
            // Truncated inside a record.
            let cut = start + 1 + rand(end - start - 1);
            variants.push(("cut", data[..cut].to_vec()));
            // A flipped bit in its header, and an absurd captured length.
            let mut d = data.clone();
            d[start + rand(16.min(end - start))] ^= 1 << rand(8);
            variants.push(("flip", d));
            let mut d = data.clone();
            let at = start
                + if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
                    20
                } else {
                    8
                };
            if at + 4 <= data.len() {
                d[at..at + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
                variants.push(("caplen", d));
            }
        }
        let mut d = data.clone();
        for _ in 0..3 {
            let at = rand(d.len());
            d[at] = d[at].wrapping_add(1 + rand(255) as u8);
        }
        variants.push(("random", d));
        for (kind, bytes) in variants {
            let file = tmp.path().join(format!("{i}-{kind}.pcap"));
            std::fs::write(&file, &bytes).unwrap();
            let out = tmp.path().join(format!("{i}-{kind}.out"));
            let m = check_run(&file, &out, &bytes);
            runs += 1;
            if kind == "cut" {
                // The undamaged prefix: every whole record before the cut.
                let (_, good_end) = library_view(&bytes);
                let prefix = tmp.path().join(format!("{i}-prefix.pcap"));
                // (With no whole record: the headers before the first one.)
                let first = records.first().map_or(0, |r| r.0);
                std::fs::write(&prefix, &bytes[..good_end.max(first)]).unwrap();
                let pout = tmp.path().join(format!("{i}-prefix.out"));
                let (code, stderr) = extract(&prefix, &pout);
                assert_eq!(code, 0, "{}: {stderr}", prefix.display());
                let pm = manifest(&pout);
                assert_eq!(
                    m["flows"],
                    pm["flows"],
                    "{}: flows differ from the prefix's",
                    file.display()
                );
                assert_eq!(
                    stream_files(&out),
                    stream_files(&pout),
                    "{}",
                    file.display()
                );
                std::fs::remove_dir_all(&pout).ok();
            }
            std::fs::remove_dir_all(&out).ok();
        }
    }
    assert!(runs > 300, "{runs} runs");
}

/// `data` compressed as gzip or zstd, by file extension.
fn compress(ext: &str, data: &[u8]) -> Vec<u8> {
    match ext {
        "gz" => {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).unwrap();
            gz.finish().unwrap()
        }
        _ => zstd::encode_all(data, 3).unwrap(),
    }
}

/// A gzip- or zstd-compressed capture cut short: status 1, the file and the
/// offset in the decompressed stream named on standard error and in the
/// manifest, and the same flows and stream files as from the uncompressed
/// capture cut at that offset (everything before the damage).
#[test]
fn truncated_compressed_captures_exit_1_and_keep_what_came_before() {
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = 0;
    for rel in [
        "zeek/irc-dcc-send.pcapng",
        "suricata-verify/lua-output-streaming/suricata-update-pdf.pcap",
    ] {
        let data = std::fs::read(corpus_root().join(rel)).unwrap();
        for ext in ["gz", "zst"] {
            let packed = compress(ext, &data);
            for (n, cut) in [packed.len() / 2, packed.len() - 1].into_iter().enumerate() {
                let file = tmp.path().join(format!("cut{n}.pcap.{ext}"));
                std::fs::write(&file, &packed[..cut]).unwrap();
                let out = tmp.path().join(format!("cut{n}-{ext}.out"));
                let (code, stderr) = extract(&file, &out);
                let label = format!("{rel} as .{ext} cut at {cut}");
                assert_eq!(code, 1, "{label}: {stderr}");
                let m = manifest(&out);
                assert_eq!(m["complete"], false, "{label}");
                let p = &m["inputs"][0]["problems"][0];
                let off = p["offset"].as_u64().unwrap();
                let text = format!(
                    "{}: decompression failed at byte offset {off} of the decompressed stream",
                    file.display()
                );
                assert!(stderr.contains(&text), "{label}: {stderr}");
                assert!(p["message"].as_str().unwrap().contains(&text), "{label}");
                // (zstd decompresses whole blocks of up to 128 KiB: a cut in
                // the first one leaves nothing, offset 0.)
                assert!(off as usize <= data.len(), "{label}: {off}");

                // The same bytes, uncompressed and cut where decompression stopped.
                let plain = tmp.path().join(format!("plain{n}-{ext}.pcap"));
                std::fs::write(&plain, &data[..off as usize]).unwrap();
                let pout = tmp.path().join(format!("plain{n}-{ext}.out"));
                let (pcode, pstderr) = extract(&plain, &pout);
                assert!(pcode < 2, "{label}: {pstderr}");
                let pm = manifest(&pout);
                if n == 1 {
                    // Only the end of the stream is missing.
                    assert!(m["inputs"][0]["frames"].as_u64().unwrap() > 0, "{label}");
                }
                assert_eq!(
                    m["inputs"][0]["frames"], pm["inputs"][0]["frames"],
                    "{label}: frames"
                );
                assert_eq!(m["flows"], pm["flows"], "{label}: flows");
                assert_eq!(stream_files(&out), stream_files(&pout), "{label}");
                std::fs::remove_dir_all(&out).ok();
                std::fs::remove_dir_all(&pout).ok();
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 8);
}

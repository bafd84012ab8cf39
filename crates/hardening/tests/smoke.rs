//! CI smoke run of the fuzz targets' checks without a fuzzer: each check over
//! its seed inputs (made from testdata/) and a few thousand deterministic
//! random and mutated inputs. A failing input is written under the test's
//! temporary folder and named in the failure, ready for
//! `cargo fuzz run TARGET FILE` or a regression test.

#![allow(clippy::unwrap_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Duration;

use hardening::mutate::Mutator;
use hardening::seeds::{capture_seeds, decode_seeds, testdata};
use hardening::watchdog::with_deadline;
use hardening::{assemble, capture, decode, defrag};

/// Inputs kept under fuzz/seeds/TARGET (past crashes and hangs, small).
fn kept(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Run `check` on every seed (and the inputs kept for `target`) and then on
/// `mutants` mutated seeds (and `random` random inputs); report the first
/// failing input.
fn smoke(
    target: &'static str,
    check: fn(&[u8]),
    seeds: Vec<(String, Vec<u8>)>,
    mutants: usize,
    random: usize,
) {
    let mut seeds = seeds;
    seeds.extend(kept(target));
    with_deadline(target, Duration::from_secs(300), move || {
        let mut m = Mutator::new(0x5eed ^ target.len() as u64);
        let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
        let run = |name: &str, input: &[u8]| {
            if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
                let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smoke-failures");
                std::fs::create_dir_all(&dir).unwrap();
                let file = dir.join(format!("{target}-{}", name.replace('/', "_")));
                std::fs::write(&file, input).unwrap();
                panic!(
                    "{target}: check failed on {name}; input saved as {}",
                    file.display()
                );
            }
        };
        for (name, s) in &seeds {
            run(name, s);
        }
        for i in 0..random {
            let len = m.below(2048);
            inputs.push((format!("random-{i}"), m.bytes(len)));
        }
        for (name, s) in &inputs {
            run(name, s);
        }
        let pool: Vec<&Vec<u8>> = seeds
            .iter()
            .map(|(_, s)| s)
            .chain(inputs.iter().map(|(_, s)| s))
            .collect();
        assert!(!pool.is_empty());
        for i in 0..mutants {
            let mut input = pool[m.below(pool.len())].clone();
            m.mutate(&mut input);
            run(&format!("mutant-{i}"), &input);
        }
    });
}

#[test]
fn capture_check_smoke() {
    let seeds = capture_seeds(&testdata(), 8 * 1024);
    assert!(seeds.len() > 100, "expected the captures of testdata/");
    smoke("capture", capture::check_capture, seeds, 3000, 200);
}

#[test]
fn decode_check_smoke() {
    let seeds = decode_seeds(&testdata(), 8, 4);
    assert!(seeds.len() > 100);
    smoke("decode", decode::check_decode, seeds, 20_000, 2_000);
}

#[test]
fn defrag_check_smoke() {
    smoke("defrag", defrag::check_defrag, Vec::new(), 10_000, 5_000);
}

#[test]
fn assembler_check_smoke() {
    smoke(
        "assemble",
        assemble::check_assembler,
        Vec::new(),
        10_000,
        5_000,
    );
}

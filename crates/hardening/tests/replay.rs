//! Replay one saved input through a check, printing the drawn operations:
//! `REPLAY=assemble:PATH cargo test -p hardening --test replay -- --ignored --nocapture`
//! (targets: capture, decode, defrag, assemble).

#![allow(clippy::unwrap_used)]

use arbitrary::{Arbitrary, Unstructured};

#[test]
#[ignore = "a debugging aid: needs REPLAY=target:path"]
fn replay() {
    let spec = std::env::var("REPLAY").expect("REPLAY=target:path");
    let (target, path) = spec.split_once(':').unwrap();
    let data = std::fs::read(path).unwrap();
    match target {
        "capture" => hardening::capture::check_capture(&data),
        "decode" => hardening::decode::check_decode(&data),
        "defrag" => {
            let input = hardening::defrag::FragInput::arbitrary_take_rest(Unstructured::new(&data));
            println!("{input:#?}");
            hardening::defrag::check_defrag(&data)
        }
        "assemble" => {
            let input =
                hardening::assemble::AsmInput::arbitrary_take_rest(Unstructured::new(&data));
            println!("{input:#?}");
            hardening::assemble::check_assembler(&data)
        }
        other => panic!("unknown target {other}"),
    }
}

//! Fuzz target `capture`: the checks live in `hardening::capture::check_capture` so that
//! `cargo test -p hardening` runs them too (see that function's module docs). Each
//! input is read by the capture readers and then run through the real engine
//! (`hardening::pipeline`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hardening::capture::check_capture(data));

//! Fuzz target `capture`: the checks live in `hardening::capture::check_capture` so that
//! `cargo test -p hardening` runs them too (see that function's module docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hardening::capture::check_capture(data));

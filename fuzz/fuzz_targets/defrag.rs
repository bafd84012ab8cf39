//! Fuzz target `defrag`: the checks live in `hardening::defrag::check_defrag` so that
//! `cargo test -p hardening` runs them too (see that function's module docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hardening::defrag::check_defrag(data));

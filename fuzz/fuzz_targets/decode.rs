//! Fuzz target `decode`: the checks live in `hardening::decode::check_decode` so that
//! `cargo test -p hardening` runs them too (see that function's module docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hardening::decode::check_decode(data));

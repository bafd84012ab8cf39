//! Fuzz target `http`: the checks live in `hardening::http::check_http` so that
//! `cargo test -p hardening` runs them too (see that function's module docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hardening::http::check_http(data));

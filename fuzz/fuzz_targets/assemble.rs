//! Fuzz target `assemble`: the checks live in `hardening::assemble::check_assembler` so that
//! `cargo test -p hardening` runs them too (see that function's module docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hardening::assemble::check_assembler(data));

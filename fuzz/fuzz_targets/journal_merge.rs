//! Fuzz target `journal_merge`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::journal_merge`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::journal_merge(data));

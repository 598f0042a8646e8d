//! Fuzz target `plugin_results`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::plugin_results`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::plugin_results(data));

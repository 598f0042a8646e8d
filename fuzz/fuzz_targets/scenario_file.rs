//! Fuzz target `scenario_file`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::scenario_file`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::scenario_file(data));

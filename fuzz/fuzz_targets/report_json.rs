//! Fuzz target `report_json`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::report_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::report_json(data));

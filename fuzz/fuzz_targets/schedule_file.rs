//! Fuzz target `schedule_file`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::schedule_file`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::schedule_file(data));

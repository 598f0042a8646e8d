//! Fuzz target `toxic_attributes`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::toxic_attributes`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::toxic_attributes(data));

//! Fuzz target `component_bytes`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::component_bytes`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::component_bytes(data));

//! Fuzz target `toxiproxy_api`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::toxiproxy_api`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::toxiproxy_api(data));

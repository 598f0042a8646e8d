//! Fuzz target `toxiproxy_client`: see `fuzz/src/lib.rs` (`chaoskit_fuzz::toxiproxy_client`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chaoskit_fuzz::toxiproxy_client(data));

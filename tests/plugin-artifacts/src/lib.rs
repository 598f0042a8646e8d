//! Paths of the plugins in `plugins/`, built from source for `wasm32-wasip2` by this crate's
//! build script (never committed as binaries).
//!
//! - one `pub const NAME: &str` per guest crate (`LATENCY_SPIKE`, `FIXTURE_MISBEHAVE`, …);
//! - [`foreach_plugin!`] / [`foreach_fixture!`] call a macro for every plugin / fixture, so a
//!   test file can refuse to compile when a plugin has no test;
//! - [`BUILD_ERROR`] says why the guests could not be built (for example a missing
//!   `wasm32-wasip2` target), and [`path`] turns it into a test failure with the reason.

include!(concat!(env!("OUT_DIR"), "/gen.rs"));

/// `path` if the guests were built and the file exists; otherwise a panic that says why.
///
/// # Panics
///
/// When the plugins could not be built or the file is missing.
pub fn path(path: &'static str) -> &'static str {
    if let Some(error) = BUILD_ERROR {
        panic!("plugins were not built: {error}");
    }
    assert!(std::path::Path::new(path).exists(), "plugin artifact `{path}` is missing");
    path
}

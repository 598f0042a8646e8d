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

/// A JavaScript or Python guest's path, or `None` with a message on stderr when its
/// toolchain is not installed here (the test is then skipped). On CI (`CI` set) a missing
/// toolchain is a failure: `.ci/run` installs it.
///
/// # Panics
///
/// When the guests could not be built, or on CI without the toolchain.
pub fn foreign(guest: Option<&'static str>, name: &str) -> Option<&'static str> {
    if let Some(error) = BUILD_ERROR {
        panic!("plugins were not built: {error}");
    }
    match guest {
        Some(path) => {
            assert!(std::path::Path::new(path).exists(), "plugin artifact `{path}` is missing");
            Some(path)
        }
        None => {
            let why = GUEST_SKIPPED.unwrap_or("its toolchain is not installed");
            assert!(std::env::var_os("CI").is_none(), "guest `{name}` was not built on CI: {why}");
            eprintln!("SKIPPED: guest `{name}` was not built ({why})");
            None
        }
    }
}

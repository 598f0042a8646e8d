//! Holds no code: the `fail` crate's own tests live in `tests/`, copied from fail 0.5.1
//! (Apache-2.0, TiKV Project Authors) with only the import changed to `chaoskit::fail`.
//! Run them with `cargo test -p fail-compat`; see BENCHMARKS.md for the count.

//! ChaosKit library.

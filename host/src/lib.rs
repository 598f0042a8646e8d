//! ChaosKit library.
pub mod plugin;

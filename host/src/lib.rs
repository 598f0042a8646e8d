//! ChaosKit library.

pub mod proxy;

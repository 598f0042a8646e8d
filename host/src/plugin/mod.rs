//! Wasm plugins.
mod bindings;
mod error;
mod health;
mod runtime;
mod state;

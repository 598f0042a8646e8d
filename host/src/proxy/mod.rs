//! A TCP chaos proxy with a Toxiproxy-compatible HTTP API, and a client for any such server.
//!
//! # Brief overview
//!
//! * [`ProxyRegistry`] runs named proxies in-process: each listens, dials its upstream for every
//!   accepted connection, and passes both directions through a chain of toxics.
//! * [`Toxic`] / [`ToxicKind`] / [`Stream`] describe faults with Toxiproxy's names, attributes and
//!   units: latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data.
//! * [`api::router`], [`serve`] and [`ProxyServer`] expose a registry over Toxiproxy's HTTP API.
//! * [`Client`] drives any Toxiproxy-compatible server (ours or Shopify's) with the same types.
//!
//! # Where this differs from Toxiproxy
//!
//! * A half-close is forwarded: when the client shuts down its write side, the upstream reads EOF
//!   and can still answer.
//! * Attributes that would stall or crash (bandwidth `rate` ≤ 0, slicer `average_size` ≤ 0, any
//!   negative value) and toxicities outside `[0, 1]` are refused with 400 and a message.
//! * An empty `listen` binds `127.0.0.1:0`, not every interface.
//! * Randomness is seeded ([`ProxyRegistryBuilder::seed`]) and replayable.
//! * `reset_peer` resets only the connections where it fires; a failed upstream dial resets the
//!   client instead of closing it cleanly.
//! * Toxic changes never wait for live connections, so the API cannot hang on a stuck link; a live
//!   connection applies a new chain from its next chunk (an idle one is woken, so a new `timeout`
//!   starts its clock at once).
//! * Without toxics, a connection costs about 4 KiB of memory and bulk transfers use `splice(2)` on
//!   Linux; see `BENCHMARKS.md`.
//! * Unchanged toxics keep their toxicity draw when other toxics are added or removed.
//! * Sleeps use tokio's millisecond timer, so a slicer `delay` below 1000 µs waits about 1 ms.
//! * Proxy objects carry no `"Logger":{}` and responses no `X-Toxiproxy-Request-Id`.
//!
//! Logs go through `tracing` under the `chaoskit::proxy` target, at debug level and below for
//! per-connection events.

pub mod api;
mod chain;
mod client;
mod config;
mod error;
mod json;
mod link;
mod server;
mod toxic;

pub use api::{ProxyServer, serve};
pub use client::Client;
pub use config::{Proxy, ProxyUpdate};
pub use error::{ClientError, PopulateError, ProxyError};
pub use server::{ProxyRegistry, ProxyRegistryBuilder};
pub use toxic::{Stream, Toxic, ToxicKind, ToxicUpdate};

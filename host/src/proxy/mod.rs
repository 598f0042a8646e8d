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
//! * [`ToxicPlugin`] / [`ConnectionFilter`]: custom toxic types (a Wasm `toxic` plugin is one),
//!   registered with [`ProxyRegistryBuilder::toxic_plugin`].
//!
//! # Where this differs from Toxiproxy
//!
//! Every deliberate difference is in one table in the README ("The chaos proxy and
//! Toxiproxy"): half-close forwarded; settings that stall or crash refused with 400; an empty
//! `listen` binds loopback; seeded, journaled draws; `reset_peer` only on the connections where
//! it fires; toxic changes never wait for live connections; plugin toxics
//! ([`ToxicPlugin`]); no `X-Toxiproxy-Request-Id`. Latency-held data is released when its toxic
//! is deleted, lowered or the proxy reset, and deadlines are kept to about 0.1 ms by a timer
//! thread per registry (tokio's timer alone rounds up to the next millisecond). Without toxics,
//! a connection costs about 4 KiB and bulk transfers use `splice(2)` on Linux; see
//! `BENCHMARKS.md`.
//!
//! Logs go through `tracing` under the `chaoskit::proxy` target, at debug level and below for
//! per-connection events.

pub mod api;
mod chain;
mod client;
mod config;
mod error;
mod filter;
mod json;
mod link;
mod server;
mod timer;
mod toxic;

pub use api::{ProxyServer, serve};
pub use client::{CONNECT_TIMEOUT, Client, MAX_RESPONSE_BYTES, RESPONSE_TIMEOUT};
pub use config::{Proxy, ProxyUpdate};
pub use error::{ClientError, PopulateError, ProxyError};
pub use filter::{ConnectionFilter, ConnectionInfo, FilterFailed, FilterStats, FilterStep, ToxicPlugin};
pub use link::MAX_HELD_BYTES;
pub use server::{MAX_PROXIES, MAX_TOXICS, ProxyRegistry, ProxyRegistryBuilder};
pub use toxic::{ATTRIBUTE_RANGES, AttributeRange, Stream, Toxic, ToxicKind, ToxicUpdate};

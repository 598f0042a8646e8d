//! Custom toxic types: [`ToxicPlugin`] opens a [`ConnectionFilter`] per connection, which says
//! what to do with each chunk as a list of [`FilterStep`]s.
//!
//! A Wasm `toxic` plugin (`chaoskit::plugin::WasmToxic`) is one implementation; the proxy knows
//! only these traits. Register one with [`ProxyRegistryBuilder::toxic_plugin`]; a toxic whose
//! `type` is its name then runs it on each connection, like a built-in toxic.
//!
//! [`ProxyRegistryBuilder::toxic_plugin`]: super::ProxyRegistryBuilder::toxic_plugin

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::toxic::Stream;
use crate::chaos::Draws;

/// A toxic type implemented outside the proxy (e.g. by a Wasm plugin).
pub trait ToxicPlugin: Send + Sync + fmt::Debug + 'static {
    /// The toxic `type` it implements, e.g. `http_fault`.
    fn type_name(&self) -> &str;

    /// Checks a toxic's attributes (a JSON object); `Err(message)` refuses the toxic, and the
    /// API answers 400 with the message.
    fn check(&self, attributes: &str) -> Result<(), String>;

    /// A filter for one connection, configured with `attributes`. `None` lets the connection's
    /// bytes pass unchanged (a limit was reached or the plugin failed; the implementation counts
    /// and reports it). `draws` is the toxic's seeded stream for this connection.
    fn open(
        &self,
        attributes: &str,
        connection: &ConnectionInfo<'_>,
        draws: &mut Draws<'_>,
    ) -> Option<Box<dyn ConnectionFilter>>;

    /// Counters for the toxic's stats and the run report.
    fn stats(&self) -> FilterStats;

    /// Report lines: failures, limits hit, reloads.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Which connection a filter is for.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionInfo<'a> {
    /// The proxy's name.
    pub proxy: &'a str,
    /// The toxic's name.
    pub toxic: &'a str,
    /// The connection's index on its proxy (accept order).
    pub index: u64,
    /// The direction the toxic acts on.
    pub stream: Stream,
}

/// One connection's filter; dropping it tells the plugin the connection ended.
pub trait ConnectionFilter: Send {
    /// What to do with one chunk of `stream`. `Err` means the filter failed (trapped, ran past
    /// its deadline, broke a limit): the proxy passes this connection's bytes unchanged from
    /// then on; the implementation counts and logs the failure.
    fn filter(&mut self, stream: Stream, chunk: &[u8], draws: &mut Draws<'_>) -> Result<Vec<FilterStep>, FilterFailed>;
}

/// A filter call failed; the connection fails open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterFailed;

/// One step of what to do with a chunk (see `wit/toxic.wit`, `step`). Bytes no `Pass` or
/// `Skip` reached pass unchanged after the last step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterStep {
    /// Forward the next `n` bytes unchanged.
    Pass(usize),
    /// Drop the next `n` bytes.
    Skip(usize),
    /// Write these bytes in this direction.
    Insert(Vec<u8>),
    /// Write these bytes back the other way.
    Reply(Vec<u8>),
    /// Hold what follows this long.
    Delay(Duration),
    /// Close the connection after what precedes.
    Close,
    /// Reset both sides of the connection.
    Reset,
}

/// Counters of a toxic plugin, over every connection it filtered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FilterStats {
    /// Connections that got a filter.
    pub connections: u64,
    /// Chunks filtered.
    pub chunks: u64,
    /// Chunks whose steps did something other than pass them unchanged.
    pub fired: u64,
    /// Failed calls (traps, deadlines, memory, limits); each failed its connection open.
    pub failures: u64,
    /// Connections passed unfiltered because the plugin had no instance to spare.
    pub unfiltered: u64,
}

impl FilterStats {
    /// Builds stats (for [`ToxicPlugin`] implementations outside this crate).
    pub fn new(connections: u64, chunks: u64, fired: u64, failures: u64, unfiltered: u64) -> Self {
        FilterStats { connections, chunks, fired, failures, unfiltered }
    }
}

/// The toxic plugins a registry knows, by type name.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToxicPlugins {
    plugins: Vec<Arc<dyn ToxicPlugin>>,
}

impl ToxicPlugins {
    pub(crate) fn add(&mut self, plugin: Arc<dyn ToxicPlugin>) {
        self.plugins.retain(|p| p.type_name() != plugin.type_name());
        self.plugins.push(plugin);
    }

    pub(crate) fn get(&self, type_name: &str) -> Option<&Arc<dyn ToxicPlugin>> {
        self.plugins.iter().find(|p| p.type_name() == type_name)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<dyn ToxicPlugin>> {
        self.plugins.iter()
    }
}

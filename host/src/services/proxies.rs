//! The chaos proxies a scenario file declares: created before the target starts, removed
//! after it stopped, in this process or on a remote Toxiproxy-compatible server.

use crate::chaos::DecisionLog;
use crate::inject::ProxyEndpoint;
use crate::proxy::{Client, Proxy, ProxyRegistry, ToxicPlugin};
use crate::scenario::BoxError;
use std::sync::Arc;

/// A scenario's `[[proxies]]`.
#[derive(Debug)]
pub struct ProxySet {
    registry: ProxyRegistry,
    entries: Vec<(Proxy, Option<Client>)>,
}

impl ProxySet {
    /// No proxies yet; in-process ones draw their toxic randomness from `seed` and journal
    /// the toxicity draws that fire in `decisions`.
    pub fn new(seed: u64, decisions: DecisionLog) -> Self {
        Self::with_toxic_plugins(seed, decisions, Vec::new())
    }

    /// As [`new`](Self::new), with custom toxic types (Wasm `toxic` plugins) the in-process
    /// proxies' toxics may name.
    pub fn with_toxic_plugins(seed: u64, decisions: DecisionLog, plugins: Vec<Arc<dyn ToxicPlugin>>) -> Self {
        let builder = plugins
            .into_iter()
            .fold(ProxyRegistry::builder().seed(seed).decisions(decisions), |b, p| b.toxic_plugin(p));
        ProxySet { registry: builder.build(), entries: Vec::new() }
    }

    /// Report lines of the toxic plugins (failures that failed open, limits hit).
    pub fn plugin_notes(&self) -> Vec<String> {
        self.registry.plugin_notes()
    }

    /// Adds a proxy, in this process (`server` is `None`) or on a remote server.
    pub fn add(&mut self, proxy: Proxy, server: Option<Client>) {
        self.entries.push((proxy, server));
    }

    /// Whether there are no proxies.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where the proxy called `name` lives, for injectors.
    pub fn endpoint(&self, name: &str) -> Option<ProxyEndpoint> {
        self.entries.iter().find(|(p, _)| p.name == name).map(|(_, server)| match server {
            Some(client) => ProxyEndpoint::Remote(client.clone()),
            None => ProxyEndpoint::Local(self.registry.clone()),
        })
    }

    /// Creates every proxy (a remote one is created or replaced through `/populate`).
    pub async fn create(&self) -> Result<(), BoxError> {
        for (proxy, server) in &self.entries {
            let created = match server {
                None => self.registry.create(proxy.clone()).await.map_err(BoxError::from),
                Some(client) => {
                    // `populate` answers with every proxy asked for, or fails naming the missing one.
                    client.populate(std::slice::from_ref(proxy)).await.map_err(BoxError::from).and_then(|v| {
                        v.into_iter().next().ok_or_else(|| BoxError::from("the server's answer lists no proxy"))
                    })
                }
            };
            let created = created.map_err(|e| format!("cannot create proxy `{}`: {e}", proxy.name))?;
            tracing::info!(target: "chaoskit::proxy", name = %created.name, listen = %created.listen, upstream = %created.upstream, "proxy ready");
        }
        Ok(())
    }

    /// Removes every proxy; in-process ones close their connections.
    pub async fn remove(&self) -> Result<(), BoxError> {
        let mut failures = Vec::new();
        for (proxy, server) in self.entries.iter().rev() {
            if let Some(client) = server
                && let Err(e) = client.delete_proxy(&proxy.name).await
            {
                failures.push(format!("cannot delete proxy `{}`: {e}", proxy.name));
            }
        }
        self.registry.shutdown().await;
        if failures.is_empty() { Ok(()) } else { Err(failures.join("; ").into()) }
    }
}

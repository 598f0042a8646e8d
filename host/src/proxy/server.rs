//! The proxy registry: named proxies, their listeners, connections and toxics, in-process.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::chain::ChainSet;
use super::config::{Proxy, ProxyJson, ProxyUpdate};
use super::error::{PopulateError, ProxyError};
use super::filter::{FilterStats, ToxicPlugin, ToxicPlugins};
use super::link::{HeldStats, LinkContext, WakerList, run_connection};
use super::timer::PreciseTimer;
use super::toxic::{Stream, Toxic, ToxicJson, ToxicKind, ToxicUpdate};
use crate::chaos::DecisionLog;

/// Where an empty `listen` binds. Toxiproxy binds all interfaces; we stay on loopback.
const DEFAULT_LISTEN: &str = "127.0.0.1:0";
/// Pending connections a proxy listener queues before the kernel refuses more.
const BACKLOG: i32 = 1024;
/// Most proxies one registry (one API server) runs; more are refused with 409.
pub const MAX_PROXIES: usize = 256;
/// Most toxics on one direction of a proxy; more are refused with 409.
pub const MAX_TOXICS: usize = 32;
/// How long resolving a `listen` host name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The set of running proxies, shared by the HTTP API and in-process callers.
///
/// Cloning gives another handle to the same registry. [`ProxyRegistry::shutdown`] stops every proxy
/// and waits until every listener and connection task has ended; dropping the last handle without
/// it still closes everything, just without waiting.
///
/// Toxic randomness (toxicity draws, jitter, slice cuts) comes from ChaCha streams derived from the
/// registry's seed, the proxy name, the connection's index on that proxy (0, 1, 2, … in accept order)
/// and the toxic's name, so a given seed replays the same draws.
///
/// ```no_run
/// # async fn demo() -> Result<(), chaoskit::proxy::ProxyError> {
/// use chaoskit::proxy::{Proxy, ProxyRegistry, Stream, Toxic, ToxicKind};
/// let registry = ProxyRegistry::builder().seed(42).build();
/// let db = registry.create(Proxy::new("db", "127.0.0.1:0", "127.0.0.1:5432")).await?;
/// println!("connect to {}", db.listen);
/// registry
///     .add_toxic("db", Toxic::new("lag", Stream::Downstream, ToxicKind::Latency { latency: 50, jitter: 5 }))
///     .await?;
/// registry.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ProxyRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    seed: u64,
    decisions: Option<DecisionLog>,
    state: Mutex<State>,
    timer: Arc<PreciseTimer>,
    plugins: Arc<ToxicPlugins>,
    held: Arc<HeldStats>,
}

#[derive(Debug, Default)]
struct State {
    proxies: BTreeMap<String, Entry>,
    shut_down: bool,
}

/// Builds a [`ProxyRegistry`].
#[derive(Clone, Debug, Default)]
pub struct ProxyRegistryBuilder {
    seed: u64,
    decisions: Option<DecisionLog>,
    plugins: ToxicPlugins,
}

impl ProxyRegistryBuilder {
    /// Seed of every toxic's random stream. Default 0; pass a fresh one from the edge (CLI flag,
    /// scenario seed) for varied runs, and the same one to replay them.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Journals the toxicity draws that fire (per connection) in `log`: a run passes its own,
    /// so the report lists them with the iterations' decisions.
    pub fn decisions(mut self, log: DecisionLog) -> Self {
        self.decisions = Some(log);
        self
    }

    /// Adds a custom toxic type (e.g. a Wasm `toxic` plugin, `chaoskit::plugin::WasmToxic`):
    /// toxics whose `type` is its [`type_name`](ToxicPlugin::type_name) run it. A later plugin
    /// with the same type name replaces an earlier one.
    pub fn toxic_plugin(mut self, plugin: Arc<dyn ToxicPlugin>) -> Self {
        self.plugins.add(plugin);
        self
    }

    /// Creates the (empty) registry; nothing can fail yet, as no socket is bound.
    pub fn build(self) -> ProxyRegistry {
        ProxyRegistry {
            inner: Arc::new(Inner {
                seed: self.seed,
                decisions: self.decisions,
                state: Mutex::new(State::default()),
                timer: Arc::default(),
                plugins: Arc::new(self.plugins),
                held: Arc::default(),
            }),
        }
    }
}

impl Default for ProxyRegistry {
    fn default() -> Self {
        Self::builder().build()
    }
}

/// A toxic with the stream spelling the client used, which Toxiproxy echoes back.
#[derive(Clone, Debug)]
pub(crate) struct ToxicView {
    pub(crate) toxic: Toxic,
    pub(crate) label: String,
}

impl Serialize for ToxicView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ToxicJson { toxic: &self.toxic, stream_label: &self.label }.serialize(s)
    }
}

/// A proxy as the API shows it.
#[derive(Clone, Debug)]
pub(crate) struct ProxyView {
    name: String,
    listen: String,
    upstream: String,
    enabled: bool,
    toxics: Vec<ToxicView>,
}

impl Serialize for ProxyView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ProxyJson {
            name: &self.name,
            listen: &self.listen,
            upstream: &self.upstream,
            enabled: self.enabled,
            toxics: self.toxics.iter().map(|t| ToxicJson { toxic: &t.toxic, stream_label: &t.label }).collect(),
        }
        .serialize(s)
    }
}

impl From<ProxyView> for Proxy {
    fn from(v: ProxyView) -> Proxy {
        let mut p = Proxy::new(v.name, v.listen, v.upstream).with_enabled(v.enabled);
        p.toxics = v.toxics.into_iter().map(|t| t.toxic).collect();
        p
    }
}

#[derive(Debug)]
struct Entry {
    name: String,
    listen: String,
    upstream: String,
    enabled: bool,
    /// Both directions in insertion order; each direction's chain is its toxics in this order.
    toxics: Vec<ToxicView>,
    chains: watch::Sender<Arc<ChainSet>>,
    wakers: Arc<WakerList>,
    connections: Arc<AtomicU64>,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Entry {
    fn new(p: &Proxy) -> Entry {
        Entry {
            name: p.name.clone(),
            listen: p.listen.clone(),
            upstream: p.upstream.clone(),
            enabled: false,
            toxics: Vec::new(),
            chains: watch::channel(Arc::new(ChainSet::default())).0,
            wakers: Arc::default(),
            connections: Arc::new(AtomicU64::new(0)),
            running: None,
        }
    }

    fn view(&self) -> ProxyView {
        ProxyView {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.enabled,
            toxics: self.ordered_toxics(),
        }
    }

    /// Upstream toxics first, then downstream, each in chain order.
    fn ordered_toxics(&self) -> Vec<ToxicView> {
        let of = |s: Stream| self.toxics.iter().filter(move |t| t.toxic.stream == s).cloned();
        of(Stream::Upstream).chain(of(Stream::Downstream)).collect()
    }

    fn publish(&self) {
        let of = |s: Stream| -> Arc<[Toxic]> {
            self.toxics.iter().filter(|t| t.toxic.stream == s).map(|t| t.toxic.clone()).collect()
        };
        self.chains
            .send_replace(Arc::new(ChainSet { upstream: of(Stream::Upstream), downstream: of(Stream::Downstream) }));
        self.wakers.wake_all();
    }

    /// Binds `addrs` (the listen address, resolved before the registry was locked) and serves.
    fn start(&mut self, inner: &Inner, addrs: &[SocketAddr]) -> Result<(), ProxyError> {
        if self.running.is_some() {
            self.enabled = true;
            return Ok(());
        }
        let listener = bind(&self.listen, addrs)?;
        if let Ok(addr) = listener.local_addr() {
            self.listen = addr.to_string();
        }
        let cancel = CancellationToken::new();
        let ctx = Arc::new(LinkContext {
            proxy: self.name.clone(),
            upstream: self.upstream.clone(),
            seed: inner.seed,
            decisions: inner.decisions.clone(),
            toxics: self.chains.subscribe(),
            wakers: self.wakers.clone(),
            timer: inner.timer.clone(),
            plugins: inner.plugins.clone(),
            held: inner.held.clone(),
        });
        let task = tokio::spawn(accept_loop(listener, ctx, self.connections.clone(), cancel.clone()));
        self.running = Some(Running { cancel, task: Some(task) });
        self.enabled = true;
        tracing::debug!(target: "chaoskit::proxy", proxy = %self.name, listen = %self.listen, "proxy started");
        Ok(())
    }

    /// Closes the listener and every connection, and waits for their tasks.
    async fn stop(&mut self) {
        self.enabled = false;
        if let Some(mut running) = self.running.take() {
            running.cancel.cancel();
            if let Some(task) = running.task.take() {
                let _ = task.await;
            }
            tracing::debug!(target: "chaoskit::proxy", proxy = %self.name, "proxy stopped");
        }
    }
}

/// A listen address as socket addresses without any lookup (an IP and a port, or empty), if it is one.
fn parse_listen(listen: &str) -> Option<Vec<SocketAddr>> {
    let address = if listen.is_empty() { DEFAULT_LISTEN } else { listen };
    address.parse::<SocketAddr>().ok().map(|a| vec![a])
}

/// Resolves a listen address; host names are looked up here, never under the registry's lock.
async fn resolve(listen: &str) -> Result<Vec<SocketAddr>, String> {
    if let Some(addrs) = parse_listen(listen) {
        return Ok(addrs);
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(listen)).await {
        Err(_) => Err(format!("lookup timed out after {} s", RESOLVE_TIMEOUT.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() { Err("no address found".into()) } else { Ok(addrs) }
        }
    }
}

/// Listen addresses resolved before locking, by the string as given.
#[derive(Default)]
struct Resolved(HashMap<String, Result<Vec<SocketAddr>, String>>);

impl Resolved {
    async fn of<'a>(listens: impl IntoIterator<Item = &'a str> + Send) -> Resolved {
        let mut map = HashMap::new();
        for listen in listens {
            if !map.contains_key(listen) {
                map.insert(listen.to_owned(), resolve(listen).await);
            }
        }
        Resolved(map)
    }

    /// The addresses of `listen`: resolved before the lock, or an address that needs no lookup.
    fn get(&self, listen: &str) -> Result<Vec<SocketAddr>, ProxyError> {
        let address = if listen.is_empty() { DEFAULT_LISTEN } else { listen };
        let invalid = |reason: String| ProxyError::InvalidAddress { address: address.to_owned(), reason };
        match self.0.get(listen) {
            Some(Ok(addrs)) => Ok(addrs.clone()),
            Some(Err(reason)) => Err(invalid(reason.clone())),
            None => parse_listen(listen)
                .ok_or_else(|| invalid("changed while it was being resolved; send the request again".into())),
        }
    }
}

fn bind(listen: &str, addrs: &[SocketAddr]) -> Result<TcpListener, ProxyError> {
    let address = if listen.is_empty() { DEFAULT_LISTEN } else { listen };
    let invalid = |reason: String| ProxyError::InvalidAddress { address: address.to_owned(), reason };
    let mut last = None;
    for &addr in addrs {
        match bind_one(addr) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(source) => ProxyError::Listen { address: address.to_owned(), source },
        None => invalid("no address found".into()),
    })
}

fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(listener: TcpListener, ctx: Arc<LinkContext>, counter: Arc<AtomicU64>, cancel: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let index = counter.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(run_connection(client, ctx.clone(), index, cancel.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(target: "chaoskit::proxy", proxy = %ctx.proxy, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Normalises a listen address for comparison: the empty default, and `host:port` forms that parse.
fn normalise_listen(listen: &str) -> String {
    let l = if listen.is_empty() { DEFAULT_LISTEN } else { listen };
    l.parse::<SocketAddr>().map_or_else(|_| l.to_owned(), |a| a.to_string())
}

impl ProxyRegistry {
    /// A registry with seed 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Configures a registry; see [`ProxyRegistryBuilder`].
    pub fn builder() -> ProxyRegistryBuilder {
        ProxyRegistryBuilder::default()
    }

    /// The seed of the toxics' random streams.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    async fn state(&self) -> Result<tokio::sync::MutexGuard<'_, State>, ProxyError> {
        let state = self.inner.state.lock().await;
        if state.shut_down {
            return Err(ProxyError::ShutDown);
        }
        Ok(state)
    }

    /// Every proxy, by name.
    pub async fn list(&self) -> Result<BTreeMap<String, Proxy>, ProxyError> {
        Ok(self.list_views().await?.into_iter().map(|(k, v)| (k, v.into())).collect())
    }

    pub(crate) async fn list_views(&self) -> Result<BTreeMap<String, ProxyView>, ProxyError> {
        let state = self.state().await?;
        Ok(state.proxies.iter().map(|(k, e)| (k.clone(), e.view())).collect())
    }

    /// One proxy.
    pub async fn get(&self, name: &str) -> Result<Proxy, ProxyError> {
        self.get_view(name).await.map(Into::into)
    }

    pub(crate) async fn get_view(&self, name: &str) -> Result<ProxyView, ProxyError> {
        let state = self.state().await?;
        state.proxies.get(name).map(Entry::view).ok_or(ProxyError::ProxyNotFound)
    }

    /// Creates a proxy and, if `enabled`, binds its listener before returning; the answer's `listen`
    /// is the bound address. An empty listen binds `127.0.0.1:0`. Toxics in `proxy` are ignored.
    pub async fn create(&self, proxy: Proxy) -> Result<Proxy, ProxyError> {
        self.create_view(proxy).await.map(Into::into)
    }

    pub(crate) async fn create_view(&self, proxy: Proxy) -> Result<ProxyView, ProxyError> {
        proxy.check_required()?;
        let resolved = if proxy.enabled { Resolved::of([proxy.listen.as_str()]).await } else { Resolved::default() };
        let mut state = self.state().await?;
        if state.proxies.contains_key(&proxy.name) {
            return Err(ProxyError::ProxyExists);
        }
        if state.proxies.len() >= MAX_PROXIES {
            return Err(ProxyError::TooManyProxies { limit: MAX_PROXIES });
        }
        let entry = self.new_entry(&proxy, &resolved)?;
        let view = entry.view();
        state.proxies.insert(proxy.name.clone(), entry);
        Ok(view)
    }

    fn new_entry(&self, proxy: &Proxy, resolved: &Resolved) -> Result<Entry, ProxyError> {
        let mut entry = Entry::new(proxy);
        if proxy.enabled {
            entry.start(&self.inner, &resolved.get(&proxy.listen)?)?;
        }
        Ok(entry)
    }

    /// Changes a proxy. A new listen or upstream restarts it (closing its connections); enabling
    /// binds the listener, disabling closes the listener and every connection.
    pub async fn update(&self, name: &str, update: ProxyUpdate) -> Result<Proxy, ProxyError> {
        self.update_view(name, update).await.map(Into::into)
    }

    pub(crate) async fn update_view(&self, name: &str, update: ProxyUpdate) -> Result<ProxyView, ProxyError> {
        // Resolve the address it will listen on before taking the lock.
        let current = self.get_view(name).await?;
        let resolved = if update.enabled.unwrap_or(current.enabled) {
            Resolved::of([update.listen.as_deref().unwrap_or(&current.listen)]).await
        } else {
            Resolved::default()
        };
        let mut state = self.state().await?;
        let entry = state.proxies.get_mut(name).ok_or(ProxyError::ProxyNotFound)?;
        let listen = update.listen.unwrap_or_else(|| entry.listen.clone());
        let upstream = update.upstream.unwrap_or_else(|| entry.upstream.clone());
        let enabled = update.enabled.unwrap_or(entry.enabled);
        if normalise_listen(&listen) != normalise_listen(&entry.listen) || upstream != entry.upstream {
            entry.stop().await;
            entry.listen = listen;
            entry.upstream = upstream;
            if enabled {
                entry.start(&self.inner, &resolved.get(&entry.listen)?)?;
            }
        } else if enabled && entry.running.is_none() {
            entry.start(&self.inner, &resolved.get(&entry.listen)?)?;
        } else if !enabled {
            entry.stop().await;
        }
        Ok(entry.view())
    }

    /// Deletes a proxy, closing its listener and connections.
    pub async fn delete(&self, name: &str) -> Result<(), ProxyError> {
        let mut state = self.state().await?;
        let mut entry = state.proxies.remove(name).ok_or(ProxyError::ProxyNotFound)?;
        entry.stop().await;
        Ok(())
    }

    /// Creates or replaces proxies in order, like Toxiproxy's `/populate`: an existing proxy with the
    /// same listen and upstream is left untouched (toxics and state included); one that differs is
    /// replaced. All entries are checked first; on a failure, what was applied before it stays.
    pub async fn populate(&self, proxies: Vec<Proxy>) -> Result<Vec<Proxy>, PopulateError> {
        self.populate_views(proxies)
            .await
            .map(|v| v.into_iter().map(Into::into).collect())
            .map_err(|(error, done)| PopulateError { error, proxies: done.into_iter().map(Into::into).collect() })
    }

    /// Populates from a JSON array of proxy objects (the `/populate` body and `--config` file format).
    pub async fn populate_json(&self, json: &[u8]) -> Result<Vec<Proxy>, PopulateError> {
        let proxies = parse_populate(json).map_err(|error| PopulateError { error, proxies: Vec::new() })?;
        self.populate(proxies).await
    }

    pub(crate) async fn populate_views(
        &self,
        proxies: Vec<Proxy>,
    ) -> Result<Vec<ProxyView>, (ProxyError, Vec<ProxyView>)> {
        for (i, p) in proxies.iter().enumerate() {
            p.check_required().map_err(|e| (at(i, e), Vec::new()))?;
        }
        let listens: Vec<String> = proxies.iter().filter(|p| p.enabled).map(|p| p.listen.clone()).collect();
        let resolved = Resolved::of(listens.iter().map(String::as_str)).await;
        let mut state = self.state().await.map_err(|e| (e, Vec::new()))?;
        let mut done = Vec::with_capacity(proxies.len());
        for (i, p) in proxies.into_iter().enumerate() {
            let existing = state.proxies.get(&p.name);
            if let Some(existing) = existing
                && normalise_listen(&existing.listen) == normalise_listen(&p.listen)
                && existing.upstream == p.upstream
            {
                done.push(existing.view());
                continue;
            }
            if existing.is_none() && state.proxies.len() >= MAX_PROXIES {
                return Err((at(i, ProxyError::TooManyProxies { limit: MAX_PROXIES }), done));
            }
            // The new proxy is bound before the one it replaces goes, so a failure leaves that
            // one serving, connections and toxics included.
            let mut entry = Entry::new(&p);
            if p.enabled {
                let addrs = resolved.get(&p.listen).map_err(|e| (at(i, e), done.clone()))?;
                match entry.start(&self.inner, &addrs) {
                    Ok(()) => {}
                    Err(e) => {
                        let Some(old) = state.proxies.get_mut(&p.name).filter(|old| holds_port(old, &addrs, &e)) else {
                            return Err((at(i, e), done));
                        };
                        // It wants the port of the proxy it replaces: free it and bind again, and
                        // put the old proxy back if that fails too.
                        old.stop().await;
                        if let Err(e) = entry.start(&self.inner, &addrs) {
                            let restored = parse_listen(&old.listen)
                                .ok_or_else(|| ProxyError::InvalidAddress {
                                    address: old.listen.clone(),
                                    reason: "not an IP address and port".into(),
                                })
                                .and_then(|old_addrs| old.start(&self.inner, &old_addrs));
                            if let Err(restore) = restored {
                                tracing::warn!(target: "chaoskit::proxy", proxy = %old.name, error = %restore, "could not restart the proxy a failed populate was replacing; it stays disabled");
                            }
                            return Err((at(i, e), done));
                        }
                    }
                }
            }
            done.push(entry.view());
            if let Some(mut old) = state.proxies.insert(p.name.clone(), entry) {
                old.stop().await;
            }
        }
        Ok(done)
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ProxyError> {
        let stopped: Vec<String> =
            self.list_views().await?.into_values().filter(|v| !v.enabled).map(|v| v.listen).collect();
        let resolved = Resolved::of(stopped.iter().map(String::as_str)).await;
        let mut state = self.state().await?;
        for entry in state.proxies.values_mut() {
            if entry.running.is_none() {
                let addrs = resolved.get(&entry.listen)?;
                entry.start(&self.inner, &addrs)?;
            }
            entry.enabled = true;
            entry.toxics.clear();
            entry.publish();
        }
        Ok(())
    }

    /// Bytes the registry's connections hold now on their toxic paths (read, not yet written).
    pub fn held_bytes(&self) -> u64 {
        self.inner.held.now()
    }

    /// The most bytes one direction of one connection has held at once, since the registry was
    /// built; bounded by [`MAX_HELD_BYTES`](super::MAX_HELD_BYTES) plus the pieces of one chunk.
    pub fn held_bytes_peak(&self) -> u64 {
        self.inner.held.peak()
    }

    /// A proxy's toxics: upstream ones first, then downstream, each in chain order.
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ProxyError> {
        Ok(self.toxic_views(proxy).await?.into_iter().map(|t| t.toxic).collect())
    }

    pub(crate) async fn toxic_views(&self, proxy: &str) -> Result<Vec<ToxicView>, ProxyError> {
        let state = self.state().await?;
        let entry = state.proxies.get(proxy).ok_or(ProxyError::ProxyNotFound)?;
        Ok(entry.ordered_toxics())
    }

    /// One toxic of a proxy.
    pub async fn toxic(&self, proxy: &str, name: &str) -> Result<Toxic, ProxyError> {
        self.toxic_view(proxy, name).await.map(|t| t.toxic)
    }

    pub(crate) async fn toxic_view(&self, proxy: &str, name: &str) -> Result<ToxicView, ProxyError> {
        let state = self.state().await?;
        let entry = state.proxies.get(proxy).ok_or(ProxyError::ProxyNotFound)?;
        entry.toxics.iter().find(|t| t.toxic.name == name).cloned().ok_or(ProxyError::ToxicNotFound)
    }

    /// Appends a toxic to the end of its direction's chain, on new and live connections alike (live
    /// ones apply it from their next chunk). Refuses attributes that would stall or crash.
    pub async fn add_toxic(&self, proxy: &str, toxic: Toxic) -> Result<Toxic, ProxyError> {
        let label = toxic.stream.as_str().to_owned();
        self.add_toxic_view(proxy, toxic, label).await.map(|t| t.toxic)
    }

    pub(crate) async fn add_toxic_view(
        &self,
        proxy: &str,
        toxic: Toxic,
        label: String,
    ) -> Result<ToxicView, ProxyError> {
        let mut state = self.state().await?;
        let entry = state.proxies.get_mut(proxy).ok_or(ProxyError::ProxyNotFound)?;
        self.validate(&toxic)?;
        if entry.toxics.iter().any(|t| t.toxic.name == toxic.name) {
            return Err(ProxyError::ToxicExists);
        }
        if entry.toxics.iter().filter(|t| t.toxic.stream == toxic.stream).count() >= MAX_TOXICS {
            return Err(ProxyError::TooManyToxics { stream: toxic.stream, limit: MAX_TOXICS });
        }
        let view = ToxicView { toxic, label };
        entry.toxics.push(view.clone());
        entry.publish();
        Ok(view)
    }

    /// Changes a toxic's toxicity and/or attributes (merged into the current ones).
    pub async fn update_toxic(&self, proxy: &str, name: &str, update: ToxicUpdate) -> Result<Toxic, ProxyError> {
        self.update_toxic_view(proxy, name, update).await.map(|t| t.toxic)
    }

    pub(crate) async fn update_toxic_view(
        &self,
        proxy: &str,
        name: &str,
        update: ToxicUpdate,
    ) -> Result<ToxicView, ProxyError> {
        let mut state = self.state().await?;
        let entry = state.proxies.get_mut(proxy).ok_or(ProxyError::ProxyNotFound)?;
        let stored = entry.toxics.iter_mut().find(|t| t.toxic.name == name).ok_or(ProxyError::ToxicNotFound)?;
        let toxic = update.apply(&stored.toxic)?;
        self.validate(&toxic)?;
        stored.toxic = toxic;
        let view = stored.clone();
        entry.publish();
        Ok(view)
    }

    /// Checks a toxic: built-in types by their ranges, plugin types by the plugin's `configure`.
    fn validate(&self, toxic: &Toxic) -> Result<(), ProxyError> {
        if let ToxicKind::Other { type_name, attributes } = &toxic.kind
            && let Some(plugin) = self.inner.plugins.get(type_name)
        {
            if !(0.0..=1.0).contains(&toxic.toxicity) {
                return Err(ProxyError::InvalidToxicity(f64::from(toxic.toxicity)));
            }
            let json = serde_json::to_string(attributes).unwrap_or_else(|_| "{}".into());
            return plugin.check(&json).map_err(|message| ProxyError::PluginRefused {
                toxic_type: type_name.clone(),
                message: crate::report::escape::terminal_safe(&message).into_owned(),
            });
        }
        toxic.validate()
    }

    /// Counters of the plugin behind a toxic type (connections, chunks, failures), over every
    /// proxy of this registry; `None` if no plugin implements `type_name`.
    pub fn plugin_stats(&self, type_name: &str) -> Option<FilterStats> {
        self.inner.plugins.get(type_name).map(|p| p.stats())
    }

    /// Report lines of every toxic plugin (failures, limits hit, reloads).
    pub fn plugin_notes(&self) -> Vec<String> {
        self.inner.plugins.iter().flat_map(|p| p.notes()).collect()
    }

    /// Removes a toxic. Removing an active `timeout` closes the affected connections, as in Toxiproxy.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ProxyError> {
        let mut state = self.state().await?;
        let entry = state.proxies.get_mut(proxy).ok_or(ProxyError::ProxyNotFound)?;
        let before = entry.toxics.len();
        entry.toxics.retain(|t| t.toxic.name != name);
        if entry.toxics.len() == before {
            return Err(ProxyError::ToxicNotFound);
        }
        entry.publish();
        Ok(())
    }

    /// Stops every proxy and waits until all their listeners and connections have ended. Later calls
    /// on any handle of this registry fail with [`ProxyError::ShutDown`].
    pub async fn shutdown(&self) {
        let mut state = self.inner.state.lock().await;
        state.shut_down = true;
        for entry in state.proxies.values_mut() {
            entry.stop().await;
        }
        state.proxies.clear();
    }
}

/// Whether binding `addrs` failed because `old` (a running proxy) listens on that port.
fn holds_port(old: &Entry, addrs: &[SocketAddr], error: &ProxyError) -> bool {
    let in_use = matches!(error, ProxyError::Listen { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse);
    let Ok(bound) = old.listen.parse::<SocketAddr>() else { return false };
    in_use
        && old.running.is_some()
        && addrs.iter().any(|a| {
            a.port() == bound.port() && (a.ip() == bound.ip() || a.ip().is_unspecified() || bound.ip().is_unspecified())
        })
}

fn at(i: usize, e: ProxyError) -> ProxyError {
    ProxyError::AtProxy { index: i + 1, source: Box::new(e) }
}

/// Parses a populate body: a JSON array of proxy objects.
pub(crate) fn parse_populate(json: &[u8]) -> Result<Vec<Proxy>, ProxyError> {
    let v = super::json::first_value(json)?;
    let serde_json::Value::Array(items) = v else {
        return Err(ProxyError::BadRequestBody("json: cannot unmarshal into a JSON array of proxies".into()));
    };
    items.iter().map(Proxy::from_json).collect()
}

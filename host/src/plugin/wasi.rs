//! WASI 0.2 for plugins, through wasmtime-wasi: every interface is provided in a safe form by
//! default and gives more only with a [`Grant`].
//!
//! - [`Capabilities`]: one plugin's grants, resolved (directories checked, variables read), and
//!   the counts of what it used or was refused, for the report.
//! - [`link`]: the WASI linker. Randomness and clocks are replaced by deterministic versions
//!   (the plugin's seeded stream, a virtual clock) unless `random:os` / `clocks:wall` is
//!   granted.
//! - [`provision`]: how each interface is provided by default and which grant gives more, for
//!   `plugin inspect` and for refusals at load.
//! - [`wait`]: waits on host I/O end at the call's deadline, like guest code.
//! - [`off_runtime`]: wasmtime-wasi's blocking functions enter a Tokio runtime of their own; a
//!   call into a WASI plugin made from inside a runtime's worker is moved off it first.
//!
//! A Rust plugin that imports only what `std` brings (stdout, stderr, an empty environment)
//! and has no grant beyond `stdio` does not come here: `stdio` links that baseline without
//! wasmtime-wasi, and its calls stay on the caller's thread.

use super::error::PluginError;
use super::http::HttpHooks;
use super::state::{Output, PluginState};
use super::wait::{self, Deadline};
use crate::grant::{Grant, HostPattern};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode as SocketErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sync::filesystem::types as fs;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::p2::{Network, TcpSocket};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The WASI version wasmtime-wasi defines; the deterministic functions replace its own at
/// this version (a component importing an older 0.2 version is linked to it).
pub(crate) const WASI: &str = "0.2.12";

/// Most random bytes one `get-random-bytes` call may ask for.
pub(crate) const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// Most entries (streams, pollables, sockets, files, requests…) one instance's resource
/// table may hold: a backstop behind the per-kind limits, so no resource kind without a limit
/// of its own can be hoarded either.
const MAX_RESOURCES: usize = 10_000;

/// Virtual time between two clock reads in one call (so a loop waiting for time to pass ends).
const VIRTUAL_TICK_NS: u64 = 1_000;
/// Virtual time between the starts of two iterations.
const VIRTUAL_ITERATION_NS: u64 = 1_000_000_000;
/// The virtual wall clock's origin: 2025-01-01T00:00:00Z, in seconds since the Unix epoch.
const VIRTUAL_EPOCH_S: u64 = 1_735_689_600;

/// One plugin's grants, resolved, and what it did with them.
#[derive(Debug, Default)]
pub(crate) struct Capabilities {
    /// Every grant, as given (for the report).
    pub(crate) grants: Vec<Grant>,
    pub(crate) stdio: bool,
    pub(crate) os_random: bool,
    pub(crate) wall_clock: bool,
    /// (host directory, guest path, writable).
    pub(crate) dirs: Vec<(PathBuf, String, bool)>,
    pub(crate) http: Vec<HostPattern>,
    pub(crate) tcp: Vec<HostPattern>,
    /// (name, value), values read when the plugin was loaded.
    pub(crate) env: Vec<(String, String)>,
    /// Outgoing HTTP requests sent, and refused (no matching grant or not plain HTTP).
    pub(crate) http_sent: AtomicU64,
    pub(crate) http_refused: AtomicU64,
    /// Outgoing HTTP requests that ended at a connect or first-byte timeout.
    pub(crate) http_timed_out: AtomicU64,
    /// Waits on I/O (sockets, HTTP bodies) cut at the call's deadline.
    pub(crate) waits_cut: AtomicU64,
    /// Socket uses refused (no matching `tcp:` grant, UDP, listening).
    pub(crate) sockets_refused: AtomicU64,
    /// The first refusal, with the grant that would allow it.
    pub(crate) first_refusal: Mutex<Option<String>>,
    /// Limits on what a grant lets the plugin hold: `max_sockets` and `max_files` (per
    /// instance), `max_requests` (in flight, all instances).
    pub(crate) max_sockets: usize,
    pub(crate) max_files: usize,
    pub(crate) max_requests: usize,
    /// Outgoing HTTP requests in flight (until their connection ends).
    pub(crate) requests_in_flight: AtomicUsize,
    /// Requests for a socket, a file or an HTTP request refused by those limits, and the first.
    pub(crate) limited: AtomicU64,
    pub(crate) first_limit: Mutex<Option<String>>,
}

impl Capabilities {
    /// Resolve `grants` for the plugin at `path`: each directory must exist, each variable
    /// without a value must be set on the host.
    pub(crate) fn new(path: &Path, grants: &[Grant], limits: &super::Limits) -> Result<Self, PluginError> {
        let mut caps = Capabilities {
            grants: grants.to_vec(),
            max_sockets: limits.max_sockets,
            max_files: limits.max_files,
            max_requests: limits.max_requests,
            ..Default::default()
        };
        for grant in grants {
            if let Some(message) = grant.check_host() {
                return Err(PluginError::Grant { path: path.to_owned(), message });
            }
            match grant {
                Grant::Stdio => caps.stdio = true,
                Grant::OsRandom => caps.os_random = true,
                Grant::WallClock => caps.wall_clock = true,
                Grant::Dir { host, guest, write } => caps.dirs.push((host.clone(), guest.clone(), *write)),
                Grant::Http(p) => caps.http.push(p.clone()),
                Grant::Tcp(p) => caps.tcp.push(p.clone()),
                Grant::Env { name, value } => {
                    let value = match value {
                        Some(v) => v.clone(),
                        None => std::env::var(name).unwrap_or_default(),
                    };
                    caps.env.push((name.clone(), value));
                }
            }
        }
        Ok(caps)
    }

    /// Whether the grants need the WASI linker even for a component that imports only the
    /// `std` baseline (e.g. `env:` for `std::env::var`).
    pub(crate) fn need_wasi(&self) -> bool {
        self.grants.iter().any(|g| *g != Grant::Stdio)
    }

    /// Count a refusal and keep the first one's explanation.
    pub(crate) fn refused(&self, plugin: &str, what: String) {
        let mut first = self.first_refusal.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            tracing::warn!(target: "chaoskit::plugin", plugin, "{what}");
            *first = Some(what);
        }
    }

    /// Count a request refused by a limit and keep the first one's explanation (`what` names
    /// the plugin, the limit and its value).
    pub(crate) fn limit_hit(&self, plugin: &str, what: String) {
        self.limited.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_limit.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            tracing::warn!(target: "chaoskit::plugin", plugin, "{what}");
            *first = Some(what);
        }
    }

    /// Whether names may be resolved: only when a `tcp:` grant names a host (`localhost`) or
    /// any host (`*`); IP grants need no lookup.
    fn resolves_names(&self) -> bool {
        self.tcp.iter().any(|p| p.host.as_deref().is_none_or(|h| h.parse::<std::net::IpAddr>().is_err()))
    }

    /// Whether `name` may be resolved: a `tcp:` grant for any host, or for that name.
    fn may_resolve(&self, name: &str) -> bool {
        self.tcp.iter().any(|p| p.host.as_deref().is_none_or(|h| h.eq_ignore_ascii_case(name)))
    }

    pub(crate) fn count_cut_wait(&self) {
        self.waits_cut.fetch_add(1, Ordering::Relaxed);
    }

    /// Report lines: each grant and what was done with it; refusals.
    pub(crate) fn notes(&self, plugin: &str) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.grants.is_empty() {
            let list = self.grants.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", ");
            notes.push(format!("plugin `{plugin}` was granted {list}"));
        }
        let sent = self.http_sent.load(Ordering::Relaxed);
        let timed_out = self.http_timed_out.load(Ordering::Relaxed);
        if sent > 0 {
            notes.push(format!("plugin `{plugin}`: {sent} outgoing HTTP requests sent ({timed_out} timed out)"));
        }
        let cut = self.waits_cut.load(Ordering::Relaxed);
        if cut > 0 {
            notes.push(format!("plugin `{plugin}`: {cut} waits on I/O cut at the call's deadline"));
        }
        let http_refused = self.http_refused.load(Ordering::Relaxed);
        let sockets_refused = self.sockets_refused.load(Ordering::Relaxed);
        if http_refused + sockets_refused > 0 {
            let first = self.first_refusal.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
            notes.push(format!(
                "plugin `{plugin}`: {http_refused} HTTP requests and {sockets_refused} socket uses refused; first: {first}"
            ));
        }
        let limited = self.limited.load(Ordering::Relaxed);
        if limited > 0 {
            let first = self.first_limit.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
            notes.push(format!(
                "plugin `{plugin}`: {limited} sockets, files or HTTP requests refused by limits; first: {first}"
            ));
        }
        notes
    }

    /// Why the run cannot be replayed because of a grant, if it cannot.
    pub(crate) fn replay_hazard(&self, plugin: &str) -> Option<String> {
        let hazards: Vec<String> = self
            .grants
            .iter()
            .filter(|g| g.is_replay_hazard())
            .map(|g| match g {
                Grant::OsRandom => "draws `wasi:random` from the OS (grant `random:os`)".to_string(),
                _ => "reads the host's clocks through `wasi:clocks` (grant `clocks:wall`)".to_string(),
            })
            .collect();
        (!hazards.is_empty())
            .then(|| format!("plugin `{plugin}` {}: this run cannot be replayed from its seed", hazards.join(" and ")))
    }
}

/// How one imported interface is provided when nothing is granted, and which grant gives
/// more (`None`: no grant changes it). `None` overall: the host cannot provide it at all.
pub(crate) fn provision(import: &str) -> Option<(&'static str, Option<&'static str>)> {
    let interface = import.split('@').next().unwrap_or(import);
    Some(match interface {
        "wasi:random/random" | "wasi:random/insecure" | "wasi:random/insecure-seed" => {
            ("virtual: the plugin's seeded stream (replays)", Some("random:os"))
        }
        "wasi:clocks/monotonic-clock" | "wasi:clocks/wall-clock" => {
            ("virtual: derived from the iteration (replays)", Some("clocks:wall"))
        }
        "wasi:filesystem/types" | "wasi:filesystem/preopens" => {
            ("empty: no directories", Some("fs:ro:DIR or fs:rw:DIR"))
        }
        "wasi:sockets/tcp" | "wasi:sockets/tcp-create-socket" => {
            ("no socket is created (access denied)", Some("tcp:HOST:PORT"))
        }
        "wasi:sockets/ip-name-lookup" => ("no lookups (access denied)", Some("tcp:localhost:PORT or tcp:*:PORT")),
        "wasi:sockets/network" | "wasi:sockets/instance-network" => {
            ("provided (addresses only)", Some("tcp:HOST:PORT"))
        }
        "wasi:sockets/udp" | "wasi:sockets/udp-create-socket" => ("no socket is created (access denied)", None),
        "wasi:http/outgoing-handler" => ("denied per call", Some("http:HOST:PORT")),
        "wasi:http/types" => ("provided (requests are sent only through outgoing-handler)", Some("http:HOST:PORT")),
        "wasi:cli/environment" => ("empty: no variables, no arguments", Some("env:NAME")),
        "wasi:cli/stdout" | "wasi:cli/stderr" => ("dropped (the end of stderr explains a trap)", Some("stdio")),
        "wasi:cli/stdin" => ("empty", None),
        "wasi:cli/exit" => ("ends the call as a failure", None),
        "wasi:cli/terminal-input"
        | "wasi:cli/terminal-output"
        | "wasi:cli/terminal-stdin"
        | "wasi:cli/terminal-stdout"
        | "wasi:cli/terminal-stderr" => ("no terminal", None),
        "wasi:io/error" | "wasi:io/poll" | "wasi:io/streams" => ("provided (streams of the interfaces above)", None),
        _ => return None,
    })
}

/// The WASI part of a store's state: wasmtime-wasi's context and resources.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    pub(super) table: ResourceTable,
    http: WasiHttpCtx,
    hooks: HttpHooks,
    pub(super) caps: Arc<Capabilities>,
    /// When the call in progress must end (waits on I/O are cut there).
    pub(super) deadline: Deadline,
    /// Table entries of the TCP sockets and files this instance created (some may since be
    /// dropped: counted live against `max_sockets` / `max_files` by their entry's type).
    sockets: Vec<u32>,
    files: Vec<u32>,
}

impl WasiState {
    /// The context for one instance of a plugin with `caps`: only what is granted.
    pub(crate) fn new(
        plugin: &Arc<str>,
        caps: &Arc<Capabilities>,
        output: &Arc<Mutex<Output>>,
        deadline: Duration,
    ) -> Result<Self, String> {
        let mut b = WasiCtxBuilder::new();
        b.stdout(LogStream { output: Arc::clone(output), stderr: false });
        b.stderr(LogStream { output: Arc::clone(output), stderr: true });
        for (name, value) in &caps.env {
            b.env(name, value);
        }
        for (host, guest, write) in &caps.dirs {
            let perms = if *write { wasmtime_wasi::FsPerms::ReadWrite } else { wasmtime_wasi::FsPerms::ReadOnly };
            b.preopened_dir(host, guest, perms)
                .map_err(|e| format!("cannot open the granted directory `{}`: {e:#}", host.display()))?;
        }
        // No socket at all without a `tcp:` grant (creation is refused before a descriptor is
        // made); with one, each connect is checked against the grants below (and counted when
        // refused), listening never passes. Names resolve only when a grant names one.
        b.allow_tcp(!caps.tcp.is_empty()).allow_udp(false).allow_ip_name_lookup(caps.resolves_names());
        let (check_caps, name) = (Arc::clone(caps), Arc::clone(plugin));
        b.socket_addr_check(move |addr, used| {
            let allowed = match used {
                // Connecting binds implicitly to the wildcard address: the connect is what counts.
                SocketAddrUse::TcpBind => true,
                SocketAddrUse::TcpConnect => check_caps.tcp.iter().any(|p| p.matches_addr(addr)),
                _ => false,
            };
            if !allowed {
                check_caps.sockets_refused.fetch_add(1, Ordering::Relaxed);
                let why = match used {
                    SocketAddrUse::TcpConnect => {
                        format!("a TCP connection to `{addr}` matches no grant (add `tcp:{addr}` to allow it)")
                    }
                    other => {
                        format!("socket use {other:?} at `{addr}` is not allowed (only outgoing TCP can be granted)")
                    }
                };
                check_caps.refused(&name, format!("plugin `{name}`: {why}"));
            }
            let answer: std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + Sync>> =
                Box::pin(async move { allowed });
            answer
        });
        if !caps.os_random {
            // wasmtime-wasi seeds these from the OS; the shadowed functions never read them, but
            // the context must not hold anything unseeded a guest could reach.
            b.insecure_random_seed(0);
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Ok(Self {
            ctx: b.build(),
            table,
            http: WasiHttpCtx::new(),
            hooks: HttpHooks::new(Arc::clone(plugin), Arc::clone(caps), deadline),
            caps: Arc::clone(caps),
            deadline: Deadline::default(),
            sockets: Vec::new(),
            files: Vec::new(),
        })
    }

    /// Start a call of `budget`.
    pub(crate) fn arm(&mut self, budget: Duration) {
        self.deadline.arm(budget);
    }
}

impl PluginState {
    pub(super) fn wasi(&mut self) -> &mut WasiState {
        // A store of the WASI linker always has its state (set in `new_store`); one made
        // without is given a context that grants nothing rather than a panic.
        self.wasi.get_or_insert_with(|| {
            let caps = Arc::new(Capabilities::default());
            let output = Arc::clone(&self.output);
            let plugin = Arc::clone(&self.shared.name);
            Box::new(WasiState::new(&plugin, &caps, &output, Duration::from_millis(1)).unwrap_or_else(|_| WasiState {
                ctx: WasiCtxBuilder::new().build(),
                table: ResourceTable::new(),
                http: WasiHttpCtx::new(),
                hooks: HttpHooks::new(plugin, Arc::clone(&caps), Duration::from_millis(1)),
                caps,
                deadline: Deadline::default(),
                sockets: Vec::new(),
                files: Vec::new(),
            }))
        })
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let w = self.wasi();
        WasiCtxView { ctx: &mut w.ctx, table: &mut w.table }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let w = self.wasi();
        WasiHttpCtxView { ctx: &mut w.http, table: &mut w.table, hooks: &mut w.hooks }
    }
}

/// The virtual clock of one instance: restarted at each call from the iteration, so the
/// same call reads the same times in every run and at any concurrency.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct VirtualClock {
    now: u64,
}

impl VirtualClock {
    /// Restart at the beginning of `iteration` (whole-run calls use the run index, far
    /// from any iteration's).
    pub(crate) fn restart(&mut self, iteration: u64) {
        self.now = iteration.saturating_mul(VIRTUAL_ITERATION_NS);
    }

    /// Read: each read is one tick later than the last.
    fn read(&mut self) -> u64 {
        self.now = self.now.saturating_add(VIRTUAL_TICK_NS);
        self.now
    }

    /// A sleep of `ns` passes at once, in virtual time.
    fn advance(&mut self, ns: u64) {
        self.now = self.now.saturating_add(ns);
    }
}

/// A pollable that is always ready: a virtual sleep is over as soon as it starts.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

fn ready(state: &mut PluginState) -> wasmtime::Result<Resource<DynPollable>> {
    let table = &mut state.wasi().table;
    let ready = table.push(Ready)?;
    wasmtime_wasi::p2::subscribe(table, ready)
}

type Datetime = wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

fn datetime(ns: u64) -> Datetime {
    Datetime { seconds: VIRTUAL_EPOCH_S + ns / 1_000_000_000, nanoseconds: (ns % 1_000_000_000) as u32 }
}

/// Link WASI for a plugin with `caps`: wasmtime-wasi (and wasi-http), then the deterministic
/// randomness and clocks in place of its own unless granted.
pub(crate) fn link(linker: &mut Linker<PluginState>, caps: &Capabilities) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    wait::link(linker)?;
    if !caps.os_random {
        let mut random = linker.instance(&format!("wasi:random/random@{WASI}"))?;
        random.func_wrap("get-random-bytes", |mut s, (len,): (u64,)| Ok((s.data_mut().random_bytes(len)?,)))?;
        random.func_wrap("get-random-u64", |mut s, ()| Ok((s.data_mut().draw(),)))?;
        let mut insecure = linker.instance(&format!("wasi:random/insecure@{WASI}"))?;
        insecure
            .func_wrap("get-insecure-random-bytes", |mut s, (len,): (u64,)| Ok((s.data_mut().random_bytes(len)?,)))?;
        insecure.func_wrap("get-insecure-random-u64", |mut s, ()| Ok((s.data_mut().draw(),)))?;
        let mut seed = linker.instance(&format!("wasi:random/insecure-seed@{WASI}"))?;
        seed.func_wrap("insecure-seed", |mut s, ()| {
            let state = s.data_mut();
            Ok(((state.draw(), state.draw()),))
        })?;
    }
    if !caps.wall_clock {
        let mut mono = linker.instance(&format!("wasi:clocks/monotonic-clock@{WASI}"))?;
        mono.func_wrap("now", |mut s, ()| Ok((s.data_mut().clock.read(),)))?;
        mono.func_wrap("resolution", |_, ()| Ok((VIRTUAL_TICK_NS,)))?;
        mono.func_wrap("subscribe-duration", |mut s, (ns,): (u64,)| {
            s.data_mut().clock.advance(ns);
            Ok((ready(s.data_mut())?,))
        })?;
        mono.func_wrap("subscribe-instant", |mut s, (when,): (u64,)| {
            let state = s.data_mut();
            let now = state.clock.now;
            state.clock.advance(when.saturating_sub(now));
            Ok((ready(state)?,))
        })?;
        let mut wall = linker.instance(&format!("wasi:clocks/wall-clock@{WASI}"))?;
        wall.func_wrap("now", |mut s, ()| Ok((datetime(s.data_mut().clock.read()),)))?;
        wall.func_wrap("resolution", |_, ()| Ok((Datetime { seconds: 0, nanoseconds: VIRTUAL_TICK_NS as u32 },)))?;
    }
    // Sockets, lookups and files through the host's own checks first: the grant, then the
    // per-instance limits; then wasmtime-wasi's implementation.
    let mut create = linker.instance(&format!("wasi:sockets/tcp-create-socket@{WASI}"))?;
    create.func_wrap("create-tcp-socket", |mut s, (family,): (IpAddressFamily,)| {
        Ok((s.data_mut().create_tcp_socket(family)?,))
    })?;
    let mut lookup = linker.instance(&format!("wasi:sockets/ip-name-lookup@{WASI}"))?;
    lookup.func_wrap("resolve-addresses", |mut s, (network, name): (Resource<Network>, String)| {
        Ok((s.data_mut().resolve_addresses(network, name)?,))
    })?;
    let mut files = linker.instance(&format!("wasi:filesystem/types@{WASI}"))?;
    files.func_wrap("[method]descriptor.open-at", |mut s, (dir, path_flags, path, open_flags, flags): OpenAt| {
        Ok((s.data_mut().open_at(dir, path_flags, path, open_flags, flags)?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

type OpenAt = (Resource<fs::Descriptor>, fs::PathFlags, String, fs::OpenFlags, fs::DescriptorFlags);
type ResolveStream = wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::ResolveAddressStream;

/// How many of `reps` are still entries of type `T` in `table` (dropping the rest).
fn live<T: 'static>(table: &ResourceTable, reps: &mut Vec<u32>) -> usize {
    reps.retain(|&rep| table.get(&Resource::<T>::new_borrow(rep)).is_ok());
    reps.len()
}

impl PluginState {
    /// `create-tcp-socket`: refused without a `tcp:` grant (no descriptor is made), and over
    /// `max_sockets` sockets open at once.
    fn create_tcp_socket(
        &mut self,
        family: IpAddressFamily,
    ) -> wasmtime::Result<Result<Resource<TcpSocket>, SocketErrorCode>> {
        let name = Arc::clone(&self.shared.name);
        let w = self.wasi();
        if w.caps.tcp.is_empty() {
            w.caps.sockets_refused.fetch_add(1, Ordering::Relaxed);
            w.caps.refused(
                &name,
                format!(
                    "plugin `{name}`: a TCP socket was refused: no `tcp:` grant (add `tcp:HOST:PORT` to allow one)"
                ),
            );
            return Ok(Err(SocketErrorCode::AccessDenied));
        }
        let open = live::<TcpSocket>(&w.table, &mut w.sockets);
        if open >= w.caps.max_sockets {
            w.caps.limit_hit(
                &name,
                format!(
                    "plugin `{name}` asked for a TCP socket with {open} open, over the limit `max_sockets` = {}",
                    w.caps.max_sockets
                ),
            );
            return Ok(Err(SocketErrorCode::NewSocketLimit));
        }
        let mut view = wasmtime_wasi::sockets::WasiSocketsCtxView { ctx: w.ctx.sockets(), table: &mut w.table };
        use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket::Host as _;
        match view.create_tcp_socket(family) {
            Ok(socket) => {
                w.sockets.push(socket.rep());
                Ok(Ok(socket))
            }
            Err(e) => Ok(Err(e.downcast()?)),
        }
    }

    /// `resolve-addresses`: only the names a `tcp:` grant names (`localhost`), or any with `*`.
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        host: String,
    ) -> wasmtime::Result<Result<Resource<ResolveStream>, SocketErrorCode>> {
        let name = Arc::clone(&self.shared.name);
        let w = self.wasi();
        if !w.caps.may_resolve(&host) {
            w.caps.sockets_refused.fetch_add(1, Ordering::Relaxed);
            let shown = crate::report::escape::terminal_safe(&host).into_owned();
            w.caps.refused(
                &name,
                format!("plugin `{name}`: a lookup of `{shown}` was refused: no `tcp:` grant names it (lookups need `tcp:localhost:PORT` or `tcp:*:PORT`)"),
            );
            return Ok(Err(SocketErrorCode::AccessDenied));
        }
        let mut view = wasmtime_wasi::sockets::WasiSocketsCtxView { ctx: w.ctx.sockets(), table: &mut w.table };
        use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::Host as _;
        match view.resolve_addresses(network, host) {
            Ok(stream) => Ok(Ok(stream)),
            Err(e) => Ok(Err(e.downcast()?)),
        }
    }

    /// `descriptor.open-at`: within `max_files` files open at once (the granted directories
    /// themselves not counted).
    fn open_at(
        &mut self,
        dir: Resource<fs::Descriptor>,
        path_flags: fs::PathFlags,
        path: String,
        open_flags: fs::OpenFlags,
        flags: fs::DescriptorFlags,
    ) -> wasmtime::Result<Result<Resource<fs::Descriptor>, fs::ErrorCode>> {
        let name = Arc::clone(&self.shared.name);
        let w = self.wasi();
        let open = live::<fs::Descriptor>(&w.table, &mut w.files);
        if open >= w.caps.max_files {
            w.caps.limit_hit(
                &name,
                format!(
                    "plugin `{name}` asked to open a file with {open} open, over the limit `max_files` = {}",
                    w.caps.max_files
                ),
            );
            return Ok(Err(fs::ErrorCode::Quota));
        }
        let mut view =
            wasmtime_wasi::filesystem::WasiFilesystemCtxView { ctx: w.ctx.filesystem(), table: &mut w.table };
        use fs::HostDescriptor as _;
        match view.open_at(dir, path_flags, path, open_flags, flags) {
            Ok(file) => {
                w.files.push(file.rep());
                Ok(Ok(file))
            }
            Err(e) => Ok(Err(e.downcast()?.into())),
        }
    }
}

impl PluginState {
    /// `len` bytes from the seeded stream, within [`MAX_RANDOM_BYTES`].
    fn random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        if len > MAX_RANDOM_BYTES {
            wasmtime::bail!(
                "plugin `{}` asked for {len} random bytes in one call, over the limit of {MAX_RANDOM_BYTES}",
                self.shared.name
            );
        }
        let mut bytes = Vec::with_capacity(len as usize);
        while bytes.len() < len as usize {
            let word = self.draw().to_le_bytes();
            let take = (len as usize - bytes.len()).min(8);
            bytes.extend_from_slice(&word[..take]);
        }
        Ok(bytes)
    }
}

/// Guest stdout / stderr through wasmtime-wasi: into the same line logger as the baseline's.
struct LogStream {
    output: Arc<Mutex<Output>>,
    stderr: bool,
}

impl wasmtime_wasi::cli::IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASI 0.3 asks for this form; the host links 0.2.
        Box::new(tokio::io::sink())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LogStream { output: Arc::clone(&self.output), stderr: self.stderr })
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        if bytes.len() > super::state::MAX_WRITE {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "a write of {} bytes is over the {} that `check-write` allowed",
                bytes.len(),
                super::state::MAX_WRITE
            )));
        }
        self.output.lock().unwrap_or_else(|p| p.into_inner()).write(self.stderr, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(super::state::MAX_WRITE)
    }
}

/// Run `f`, a call into a WASI plugin, where wasmtime-wasi may block: directly when the
/// thread is not inside a Tokio runtime; through `block_in_place` on a multi-threaded
/// runtime's worker; on a scoped thread inside a current-thread runtime (where blocking the
/// only worker would stop the runtime the blocking call waits on).
pub(crate) fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => f(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|scope| match scope.spawn(f).join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_the_host_cannot_provide_are_refused_and_the_rest_name_their_grant() {
        for import in
            ["wasi:keyvalue/store@0.2.0-draft", "wasi:http/incoming-handler@0.2.0", "wasi:clocks/timezone@0.2.12"]
        {
            assert!(provision(import).is_none(), "{import} cannot be provided");
        }
        assert_eq!(provision("wasi:random/random@0.2.0").unwrap().1, Some("random:os"));
        assert_eq!(provision("wasi:clocks/wall-clock@0.2.3").unwrap().1, Some("clocks:wall"));
        assert_eq!(provision("wasi:filesystem/preopens@0.2.12").unwrap().0, "empty: no directories");
        assert_eq!(
            provision("wasi:http/outgoing-handler@0.2.12").unwrap(),
            ("denied per call", Some("http:HOST:PORT"))
        );
        assert_eq!(
            provision("wasi:sockets/tcp-create-socket@0.2.0").unwrap().0,
            "no socket is created (access denied)"
        );
    }

    #[test]
    fn the_virtual_clock_restarts_at_the_iteration_and_moves_a_tick_per_read() {
        let mut clock = VirtualClock::default();
        clock.restart(2);
        assert_eq!(clock.read(), 2_000_001_000);
        assert_eq!(clock.read(), 2_000_002_000);
        clock.advance(5_000);
        assert_eq!(clock.read(), 2_000_008_000);
        clock.restart(2);
        assert_eq!(clock.read(), 2_000_001_000, "the same call reads the same times");
        clock.restart(u64::MAX);
        assert_eq!(clock.read(), u64::MAX, "saturates instead of wrapping");
    }

    #[test]
    fn grants_are_resolved_and_replay_hazards_named() {
        let caps = Capabilities::new(
            Path::new("p.wasm"),
            &[Grant::parse("env:CHAOSKIT_X=1").unwrap(), Grant::OsRandom, Grant::WallClock],
            &crate::plugin::Limits::default(),
        )
        .unwrap();
        assert_eq!(caps.env, [("CHAOSKIT_X".to_string(), "1".to_string())]);
        assert!(caps.need_wasi());
        assert_eq!(
            caps.replay_hazard("p").unwrap(),
            "plugin `p` draws `wasi:random` from the OS (grant `random:os`) and reads the host's clocks through `wasi:clocks` (grant `clocks:wall`): this run cannot be replayed from its seed"
        );
        assert!(
            !Capabilities::new(Path::new("p.wasm"), &[Grant::Stdio], &crate::plugin::Limits::default())
                .unwrap()
                .need_wasi()
        );
    }
}

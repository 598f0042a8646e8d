//! The engine, its epoch ticker, the compile cache, and turning a file into a ready version.

use super::bindings::Injector as InjectorWorld;
use super::bindings::toxic::{Toxic as ToxicWorld, ToxicPre};
use super::bindings::v0_1::Injector as V0_1;
use super::bindings::validator::{Validator as ValidatorWorld, ValidatorPre};
use super::error::{FailureKind, PluginError};
use super::injector::ExportsPre;
use super::state::{
    MAX_CORE_INSTANCES_PER_INSTANCE, MAX_MEMORIES_PER_INSTANCE, MAX_TABLES_PER_INSTANCE, PluginState, Shared,
};
use super::wasi::{self, Capabilities, WasiState};
use super::{Compiler, Limits, PluginInfo, Provision, World};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap};

/// Epoch tick: every deadline is a whole number of ticks.
pub(crate) const TICK: Duration = Duration::from_millis(1);
/// Largest memory limit a plugin may ask for (the pooling allocator reserves slots this big).
pub(crate) const MAX_MEMORY: usize = 1 << 30;
/// Component instances the pooling allocator holds: twice the most one plugin may ask for
/// (`limits.instances` is at most 256).
const POOL_INSTANCES: usize = 512;

/// Compiled components kept in memory by hash: enough for every plugin of a scenario plus a
/// few versions each, and bounded so a long run with many hot reloads does not keep every
/// version it ever compiled.
const CACHED_COMPONENTS: usize = 8;

/// The interfaces of our own namespace this host defines, and the functions of each. Any other
/// `chaoskit:` import (another interface or version, or a function this host lacks) is refused
/// at load, naming the import. Kept in step with `wit/plugin.wit` by a test.
/// Contract 0.2.0 added the `toxic` world; 0.1.0's interfaces stay linked for older plugins.
pub(crate) const HOST_INTERFACES: &[(&str, &[&str])] = &[
    ("chaoskit:plugin/host@0.2.0", HOST_FUNCTIONS),
    ("chaoskit:plugin/types@0.2.0", &[]),
    ("chaoskit:plugin/filter-types@0.2.0", &[]),
    ("chaoskit:plugin/host@0.1.0", HOST_FUNCTIONS),
    ("chaoskit:plugin/types@0.1.0", &[]),
];

/// The functions of the `host` interface (the same in every contract version so far).
const HOST_FUNCTIONS: &[&str] = &["random-u64", "now-ns", "log", "counter", "counter-add"];

/// The contract this host is built from, for messages.
pub(crate) const CONTRACT: &str = "chaoskit:plugin@0.2.0";

/// Imports every Rust `wasm32-wasip2` component carries because of `std` (panic output, the
/// environment, exit). A component that imports nothing else (and has no grant beyond `stdio`)
/// is linked without wasmtime-wasi: stdio and an empty environment by `stdio`, the rest trap
/// when called. None of them gives the guest anything from the host.
const STD_BASELINE: &[&str] = &[
    "wasi:cli/environment@",
    "wasi:cli/exit@",
    "wasi:cli/stdin@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/terminal-input@",
    "wasi:cli/terminal-output@",
    "wasi:cli/terminal-stdin@",
    "wasi:cli/terminal-stdout@",
    "wasi:cli/terminal-stderr@",
    "wasi:io/error@",
    "wasi:io/poll@",
    "wasi:io/streams@",
];

/// Shared by a [`PluginHost`](super::PluginHost) and every plugin it loaded: the engine lives
/// (and its ticker ticks) while any of them does.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) pooling: bool,
    pub(crate) compiler: Compiler,
    cache: Mutex<VecDeque<([u8; 32], Component)>>,
    _ticker: Ticker,
}

struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn allocation(pooling: bool) -> &'static str {
    if pooling { "the pooling allocator" } else { "on-demand allocation" }
}

fn config(pooling: bool, compiler: Compiler, cache: Option<&wasmtime::Cache>) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.cache(cache.cloned());
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.parallel_compilation(true);
    config.max_wasm_stack(512 * 1024);
    config.strategy(match compiler {
        Compiler::Winch => wasmtime::Strategy::Winch,
        Compiler::Cranelift => wasmtime::Strategy::Cranelift,
    });
    if pooling {
        // Each component instance may take at most its share of every other pool, and one
        // plugin (at most 256 instances) at most half the instance slots: one plugin cannot
        // drain what another needs to instantiate.
        let share = |per_instance: usize| (POOL_INSTANCES * per_instance) as u32;
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES as u32)
            .max_memories_per_component(MAX_MEMORIES_PER_INSTANCE as u32)
            .max_tables_per_component(MAX_TABLES_PER_INSTANCE as u32)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_INSTANCE as u32)
            .total_core_instances(share(MAX_CORE_INSTANCES_PER_INSTANCE))
            .total_memories(share(MAX_MEMORIES_PER_INSTANCE))
            .total_tables(share(MAX_TABLES_PER_INSTANCE))
            .max_memory_size(MAX_MEMORY);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

impl Runtime {
    pub(crate) fn new(pooling: bool, compiler: Compiler, disk_cache: Option<&Path>) -> Result<Arc<Self>, PluginError> {
        let cache = disk_cache
            .map(|dir| {
                super::cache::prepare(dir).map_err(|why| PluginError::Engine {
                    message: format!("the compile cache `{}` is not trusted: {why}", dir.display()),
                })?;
                let mut config = wasmtime::CacheConfig::new();
                config.with_directory(dir);
                wasmtime::Cache::new(config).map_err(|e| PluginError::Engine {
                    message: format!("cannot use the compile cache directory: {e:#}"),
                })
            })
            .transpose()?;
        let cache = cache.as_ref();
        // What was asked first; then without the pool (its address space may be refused), then
        // Cranelift (Winch may not support this machine). Each fallback is logged.
        let mut attempts = vec![(pooling, compiler)];
        if pooling {
            attempts.push((false, compiler));
        }
        if compiler != Compiler::Cranelift {
            attempts.push((pooling, Compiler::Cranelift));
            if pooling {
                attempts.push((false, Compiler::Cranelift));
            }
        }
        let mut failures = Vec::new();
        let mut engine = None;
        for (pooling, compiler) in attempts {
            match Engine::new(&config(pooling, compiler, cache)) {
                Ok(e) => {
                    engine = Some((e, pooling, compiler));
                    break;
                }
                Err(e) => failures.push(format!("{} with {}: {e:#}", compiler.name(), allocation(pooling))),
            }
        }
        let Some((engine, pooling, compiler)) = engine else {
            return Err(PluginError::Engine { message: failures.join("; ") });
        };
        if !failures.is_empty() {
            tracing::info!(
                target: "chaoskit::plugin",
                "plugins compile with {} and use {}; not available here: {}",
                compiler.name(),
                allocation(pooling),
                failures.join("; ")
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (engine, stop) = (engine.clone(), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("chaoskit-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| PluginError::Engine { message: format!("cannot start the epoch ticker thread: {e}") })?
        };
        Ok(Arc::new(Self {
            engine,
            pooling,
            compiler,
            cache: Mutex::new(VecDeque::new()),
            _ticker: Ticker { stop, thread: Some(thread) },
        }))
    }

    /// Compile `bytes` (or take the cached compilation of the same hash).
    fn compile(&self, path: &Path, bytes: &[u8], hash: [u8; 32]) -> Result<Component, PluginError> {
        if let Some((_, c)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(h, _)| *h == hash) {
            return Ok(c.clone());
        }
        let invalid = |message: String| PluginError::Invalid { path: path.to_owned(), message };
        let component = Component::from_binary(&self.engine, bytes).map_err(|e| {
            // The pooling allocator refuses a component over its per-instance shares here.
            let message = format!("{e:#}");
            invalid(if message.contains("pooling allocator") { per_instance_limit(&message) } else { message })
        })?;
        if let Some(needs) = component.resources_required() {
            let memories = needs.num_memories as usize;
            let tables = needs.num_tables as usize;
            if memories > MAX_MEMORIES_PER_INSTANCE {
                return Err(invalid(per_instance_limit(&format!("it has {memories} memories"))));
            }
            if tables > MAX_TABLES_PER_INSTANCE {
                return Err(invalid(per_instance_limit(&format!("it has {tables} tables"))));
            }
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_COMPONENTS {
            // The oldest compilation goes; a plugin still serving it keeps its own reference.
            cache.pop_front();
        }
        cache.push_back((hash, component.clone()));
        Ok(component)
    }
}

/// `what` a plugin exceeded, with the per-instance limits it must fit.
pub(crate) fn per_instance_limit(what: &str) -> String {
    format!(
        "{what}; a plugin instance may have at most {MAX_MEMORIES_PER_INSTANCE} memories, \
         {MAX_TABLES_PER_INSTANCE} tables and {MAX_CORE_INSTANCES_PER_INSTANCE} core instances \
         (its memories and tables together within its `memory` limit)"
    )
}

/// The bytes of a plugin file, checked to be a component, and their hash.
pub(crate) struct Artifact {
    pub(crate) bytes: Vec<u8>,
    pub(crate) hash: [u8; 32],
}

/// The largest plugin file the host reads (the Python guests are about 19 MB). A path that
/// names something else than a regular file (a FIFO, `/dev/zero`, a directory) or a file
/// over this size is refused before anything is allocated for it.
pub const MAX_PLUGIN_FILE_BYTES: u64 = 256 << 20;

/// Read a plugin file as untrusted input: a regular file of at most
/// [`MAX_PLUGIN_FILE_BYTES`], opened without blocking (a FIFO swapped in after the check
/// cannot hang the reader, e.g. the hot-reload thread and with it the run's exit).
/// What a path is, in words, for a refusal.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() { "a directory" } else { "not a file" }
}

pub(crate) fn read_plugin_file(path: &Path) -> Result<Vec<u8>, PluginError> {
    use std::io::Read;
    let io = |source| PluginError::Io { path: path.to_owned(), source };
    let refuse = |why: String| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(refuse(format!("not a regular file ({}); a plugin must be a .wasm file", file_kind(&meta))));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(refuse(format!("not a regular file ({}); a plugin must be a .wasm file", file_kind(&meta))));
    }
    if meta.len() > MAX_PLUGIN_FILE_BYTES {
        return Err(refuse(format!(
            "{} bytes, over the limit of {MAX_PLUGIN_FILE_BYTES} bytes for a plugin file",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_PLUGIN_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_PLUGIN_FILE_BYTES {
        return Err(refuse(format!(
            "grew over the limit of {MAX_PLUGIN_FILE_BYTES} bytes for a plugin file while read"
        )));
    }
    Ok(bytes)
}

impl Artifact {
    pub(crate) fn read(path: &Path) -> Result<Self, PluginError> {
        let bytes = read_plugin_file(path)?;
        if bytes.len() < 8 && bytes.starts_with(b"\0asm") {
            return Err(PluginError::Invalid {
                path: path.to_owned(),
                message: format!("the file is truncated: {} bytes, shorter than a WebAssembly header", bytes.len()),
            });
        }
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            let head = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
            return Err(PluginError::NotWasm {
                path: path.to_owned(),
                head: if head.is_empty() { "(empty file)".into() } else { head },
            });
        }
        if bytes[4..8] == [1, 0, 0, 0] {
            return Err(PluginError::CoreModule { path: path.to_owned() });
        }
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        Ok(Self { bytes, hash })
    }
}

/// Hex of the first 4 bytes of a hash, as shown in notes and logs.
pub(crate) fn short_hash(hash: &[u8; 32]) -> String {
    hash[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn world_of(exports: &[String]) -> Option<World> {
    let has = |n: &str| exports.iter().any(|e| e == n);
    if has("configure") && has("register-point") && has("decide") {
        Some(World::Injector)
    } else if has("configure") && has("open") && has("filter") && has("close") {
        Some(World::Toxic)
    } else if has("configure") && has("check") && has("finish") && has("observe") {
        Some(World::Validator)
    } else {
        None
    }
}

/// Why an import cannot be provided, for the refusal message.
fn grant_hint(import: &str) -> String {
    if import.starts_with("wasi:") {
        "no grant provides it (this host provides WASI 0.2 `cli`, `clocks`, `filesystem`, `io`, `random`, `sockets` and outgoing `http`, each denied or virtual unless granted); pass what the plugin needs through its JSON configuration".into()
    } else {
        "no grant provides it: the host provides only `chaoskit:plugin/host@0.2.0` (or `@0.1.0`) and WASI 0.2".into()
    }
}

/// Name of the custom section holding the JSON schema of a plugin's configuration (the Rust
/// SDK's `config_schema!`, the JavaScript and Python build scripts' `config.schema.json`).
pub(crate) const CONFIG_SCHEMA_SECTION: &str = "chaoskit:config-schema";

/// Largest configuration schema `inspect` shows, in bytes.
pub(crate) const MAX_CONFIG_SCHEMA: usize = 64 * 1024;

/// The configuration schema a component declares, if any: the first custom section named
/// [`CONFIG_SCHEMA_SECTION`] at any depth (the component itself or a core module inside it).
/// An error says why a declared schema cannot be shown (not UTF-8 JSON, over the size limit).
pub(crate) fn config_schema(bytes: &[u8]) -> Result<Option<String>, String> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("cannot read the component: {e}"))?;
        let wasmparser::Payload::CustomSection(section) = payload else { continue };
        if section.name() != CONFIG_SCHEMA_SECTION {
            continue;
        }
        let data = section.data();
        if data.len() > MAX_CONFIG_SCHEMA {
            return Err(format!(
                "the `{CONFIG_SCHEMA_SECTION}` section has {} bytes, over the {MAX_CONFIG_SCHEMA}-byte limit",
                data.len()
            ));
        }
        let text = std::str::from_utf8(data)
            .map_err(|_| format!("the `{CONFIG_SCHEMA_SECTION}` section is not UTF-8 text"))?;
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("the `{CONFIG_SCHEMA_SECTION}` section is not JSON: {e}"))?;
        return Ok(Some(serde_json::to_string_pretty(&json).unwrap_or_else(|_| text.to_owned())));
    }
    Ok(None)
}

/// A compiled plugin file: its component, hash, world, imports and exports.
pub(crate) struct Compiled {
    pub(crate) component: Component,
    pub(crate) hash: [u8; 32],
    pub(crate) size: u64,
    pub(crate) world: Option<World>,
    pub(crate) imports: Vec<String>,
    /// The functions each imported instance asks for, by import name.
    pub(crate) import_functions: Vec<(String, Vec<String>)>,
    pub(crate) exports: Vec<String>,
    /// Whether it imports WASI beyond the `std` baseline (then it is linked with wasmtime-wasi).
    pub(crate) wasi: bool,
}

impl Compiled {
    pub(crate) fn new(rt: &Runtime, path: &Path) -> Result<Self, PluginError> {
        let artifact = Artifact::read(path)?;
        let component = rt.compile(path, &artifact.bytes, artifact.hash)?;
        let ty = component.component_type();
        let mut imports = Vec::new();
        let mut import_functions = Vec::new();
        for (name, item) in ty.imports(&rt.engine) {
            imports.push(name.to_owned());
            let functions = match item.ty {
                ComponentItem::ComponentInstance(instance) => instance
                    .exports(&rt.engine)
                    .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
                    .map(|(f, _)| f.to_owned())
                    .collect(),
                _ => Vec::new(),
            };
            import_functions.push((name.to_owned(), functions));
        }
        let exports: Vec<String> = ty.exports(&rt.engine).map(|(n, _)| n.to_owned()).collect();
        let mut compiled = Self {
            wasi: false,
            world: world_of(&exports),
            component,
            hash: artifact.hash,
            size: artifact.bytes.len() as u64,
            imports,
            import_functions,
            exports,
        };
        compiled.wasi = compiled.wasi_beyond_baseline().is_some();
        Ok(compiled)
    }

    /// The first WASI import beyond the `std` baseline, if any.
    pub(crate) fn wasi_beyond_baseline(&self) -> Option<&str> {
        self.imports
            .iter()
            .map(String::as_str)
            .find(|i| i.starts_with("wasi:") && !STD_BASELINE.iter().any(|p| i.starts_with(p)))
    }

    pub(crate) fn info(&self, path: &Path) -> PluginInfo {
        PluginInfo {
            path: path.to_owned(),
            world: self.world,
            mismatch: None,
            imports: self.imports.clone(),
            provisions: self.imports.iter().map(|i| provision_of(i)).collect(),
            exports: self.exports.clone(),
            size: self.size,
            sha256: self.hash.iter().map(|b| format!("{b:02x}")).collect(),
            config_schema: None,
        }
    }

    /// Refuse imports the host cannot provide in any form: another contract's functions, or
    /// interfaces outside what [`wasi::provision`] lists.
    fn check_imports(&self, path: &Path) -> Result<(), PluginError> {
        check_own_namespace(&self.import_functions).map_err(|(import, hint)| PluginError::UnknownImport {
            path: path.to_owned(),
            import,
            hint,
        })?;
        match self.imports.iter().find(|i| !i.starts_with("chaoskit:") && wasi::provision(i).is_none()) {
            Some(import) => Err(PluginError::ImportNotGranted {
                path: path.to_owned(),
                import: import.clone(),
                hint: grant_hint(import),
            }),
            None => Ok(()),
        }
    }
}

/// How `import` is provided, for `plugin inspect`.
fn provision_of(import: &str) -> Provision {
    let (default, grant) = if HOST_INTERFACES.iter().any(|(name, _)| *name == import) {
        ("the host interface".to_string(), None)
    } else if import.starts_with("chaoskit:") {
        ("refused at load: this host does not define it".to_string(), None)
    } else {
        match wasi::provision(import) {
            Some((default, grant)) => (default.to_string(), grant.map(str::to_string)),
            None => (format!("refused at load: {}", grant_hint(import)), None),
        }
    };
    Provision { import: import.to_string(), default, grant }
}

/// Check every import of the `chaoskit:` namespace against [`HOST_INTERFACES`]: the interface
/// and version must be one the host defines, and so must each function. Returns the first
/// import at fault (`interface` or `interface#function`) and a hint.
pub(crate) fn check_own_namespace(imports: &[(String, Vec<String>)]) -> Result<(), (String, String)> {
    for (import, functions) in imports.iter().filter(|(i, _)| i.starts_with("chaoskit:")) {
        let Some((_, defined)) = HOST_INTERFACES.iter().find(|(name, _)| name == import) else {
            let known = HOST_INTERFACES.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            return Err((
                import.clone(),
                format!(
                    "this host defines {known} (contract `{CONTRACT}`); rebuild the plugin against the chaoskit-plugin-sdk of this host"
                ),
            ));
        };
        if let Some(unknown) = functions.iter().find(|f| !defined.contains(&f.as_str())) {
            let known = defined.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
            let has = if known.is_empty() { "no functions".to_string() } else { format!("only {known}") };
            return Err((
                format!("{import}#{unknown}"),
                format!(
                    "`{import}` has {has}; the plugin was built against another contract: rebuild it against the chaoskit-plugin-sdk of this host"
                ),
            ));
        }
    }
    Ok(())
}

/// The typed, ready-to-instantiate form of one version of a plugin.
pub(crate) enum Pre {
    Injector(ExportsPre),
    Validator(ValidatorPre<PluginState>),
    Toxic(ToxicPre<PluginState>),
}

/// A linker with the world's imports, 0.1.0's `host` for older plugins, and either WASI
/// (`wasi`: the capabilities granted) or only the `std` baseline.
fn linker_for(
    rt: &Runtime,
    world: World,
    compiled: &Compiled,
    wasi: Option<&Capabilities>,
) -> wasmtime::Result<Linker<PluginState>> {
    let mut linker: Linker<PluginState> = Linker::new(&rt.engine);
    match world {
        World::Injector => InjectorWorld::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?,
        World::Validator => ValidatorWorld::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?,
        World::Toxic => ToxicWorld::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?,
    }
    V0_1::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    match wasi {
        // Every import is either ours or in `wasi::provision` (checked at load); one that the
        // linker still lacks (a newer version of an interface) is refused by `instantiate_pre`.
        Some(caps) => wasi::link(&mut linker, caps)?,
        None => {
            super::stdio::link(&mut linker, &compiled.imports)?;
            linker.define_unknown_imports_as_traps(&compiled.component)?;
        }
    }
    Ok(linker)
}

/// Check `compiled` against the world expected, and link it: with wasmtime-wasi when it
/// imports WASI beyond the `std` baseline or has grants that need it (the `bool`).
pub(crate) fn prepare(
    rt: &Runtime,
    path: &Path,
    compiled: &Compiled,
    expected: Option<World>,
    caps: &Capabilities,
) -> Result<(Pre, bool), PluginError> {
    let world = match (compiled.world, expected) {
        (Some(w), None) => w,
        (Some(w), Some(e)) if w == e => w,
        (found, Some(e)) => {
            return Err(PluginError::WrongWorld {
                path: path.to_owned(),
                expected: e.article(),
                found: match found {
                    Some(w) => w.article().to_owned(),
                    None => describe_exports(&compiled.exports),
                },
            });
        }
        (None, None) => {
            return Err(PluginError::WrongWorld {
                path: path.to_owned(),
                expected: "an injector, a validator or a toxic",
                found: describe_exports(&compiled.exports),
            });
        }
    };
    compiled.check_imports(path)?;
    let with_wasi = compiled.wasi || caps.need_wasi();
    let link = |e: wasmtime::Error| PluginError::Instantiate { path: path.to_owned(), message: format!("{e:#}") };
    let linker = linker_for(rt, world, compiled, with_wasi.then_some(caps)).map_err(link)?;
    let pre = linker.instantiate_pre(&compiled.component).map_err(link)?;
    let pre = match world {
        World::Injector => Pre::Injector(ExportsPre::new(pre).map_err(link)?),
        World::Validator => Pre::Validator(ValidatorPre::new(pre).map_err(link)?),
        World::Toxic => Pre::Toxic(ToxicPre::new(pre).map_err(link)?),
    };
    Ok((pre, with_wasi))
}

/// Whether `compiled`'s exports have the types `world` needs, not only its names (a
/// component can export `decide` with another signature); the linker's own words if not.
pub(crate) fn check_types(rt: &Runtime, compiled: &Compiled, world: World) -> Result<(), String> {
    let err = |e: wasmtime::Error| format!("{e:#}");
    let caps = Capabilities::default();
    let linker = linker_for(rt, world, compiled, compiled.wasi.then_some(&caps)).map_err(err)?;
    let pre = linker.instantiate_pre(&compiled.component).map_err(err)?;
    match world {
        World::Injector => ExportsPre::new(pre).map(drop).map_err(err),
        World::Validator => ValidatorPre::new(pre).map(drop).map_err(err),
        World::Toxic => ToxicPre::new(pre).map(drop).map_err(err),
    }
}

pub(crate) fn describe_exports(exports: &[String]) -> String {
    if exports.is_empty() {
        "a component that exports nothing".into()
    } else {
        format!(
            "a component of another world (it exports {})",
            exports.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
        )
    }
}

/// A new store for one instance of a plugin; with its WASI context when `with_wasi`, whose
/// outgoing requests each get `deadline`.
pub(crate) fn new_store(
    rt: &Runtime,
    shared: &Arc<Shared>,
    limits: &Limits,
    with_wasi: bool,
    deadline: Duration,
) -> Result<Store<PluginState>, FailureKind> {
    let mut state = PluginState::new(Arc::clone(shared), limits.memory);
    if with_wasi {
        let wasi = WasiState::new(&shared.name, &shared.caps, &state.output, deadline)
            .map_err(|message| FailureKind::Instantiate { message })?;
        state.wasi = Some(Box::new(wasi));
    }
    let mut store = Store::new(&rt.engine, state);
    store.limiter(|s| &mut s.limiter);
    Ok(store)
}

/// Deadline in ticks for a budget (at least one tick, plus one for the tick in progress).
pub(crate) fn ticks(budget: Duration) -> u64 {
    (budget.as_nanos() / TICK.as_nanos()).max(1) as u64 + 1
}

/// Arm a call's deadline of `budget`: the epoch interrupt stops guest code, and WASI's waits on
/// host I/O (which the interrupt cannot reach) end at the same instant.
pub(crate) fn arm(store: &mut Store<PluginState>, budget: Duration) {
    store.set_epoch_deadline(ticks(budget));
    if let Some(wasi) = store.data_mut().wasi.as_mut() {
        wasi.arm(budget);
    }
}

/// Explain a failed call: memory refused by the limiter, deadline, stack, or another trap.
pub(crate) fn classify(
    store: &mut Store<PluginState>,
    error: &wasmtime::Error,
    export: &'static str,
    budget: Duration,
    memory: usize,
) -> FailureKind {
    if let Some(hit) = store.data_mut().limiter.hit.take() {
        return FailureKind::MemoryLimit { export, requested: hit.requested, limit: memory };
    }
    if error.downcast_ref::<super::wait::WaitPastDeadline>().is_some() {
        return FailureKind::Deadline { export, budget };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => FailureKind::Deadline { export, budget },
        Some(Trap::StackOverflow) => FailureKind::StackOverflow { export },
        Some(trap) => {
            let mut message = trap.to_string();
            if let Some(stderr) = store.data_mut().take_stderr() {
                message = format!("{message} (guest stderr: {stderr})");
            }
            message.truncate(message.floor_char_boundary(512));
            FailureKind::Trap { export, message }
        }
        None => {
            // A host function's error (e.g. an unlinked WASI import) or an instantiation
            // error: the root cause says what; the outer layers carry the wasm backtrace.
            let root = error.chain().last().map(|e| e.to_string());
            let mut message = root.unwrap_or_else(|| error.to_string());
            if message.starts_with("resource limit exceeded:") {
                // The store's per-instance counts (memories, tables, core instances).
                message = per_instance_limit(&message);
            }
            message.truncate(message.floor_char_boundary(512));
            FailureKind::Trap { export, message }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imports(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter().map(|(i, f)| (i.to_string(), f.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn the_host_interface_list_matches_the_wit_contract() {
        let wit = include_str!("../../../wit/plugin.wit");
        assert!(wit.contains(&format!("package {CONTRACT};")), "the version in HOST_INTERFACES is the WIT's");
        let frozen = include_str!("../../../wit/compat/0.1.0/plugin.wit");
        assert!(frozen.contains("package chaoskit:plugin@0.1.0;"));
        assert!(frozen.contains("random-u64: func() -> u64;\n"), "the frozen contract keeps its host functions");
        let host = wit.split("interface host {").nth(1).and_then(|s| s.split("\n}").next()).expect("host interface");
        let functions: Vec<&str> =
            host.lines().filter_map(|l| l.trim().split_once(": func")).map(|(name, _)| name).collect();
        assert_eq!(functions, HOST_INTERFACES[0].1, "update HOST_INTERFACES with wit/plugin.wit");
    }

    #[test]
    fn own_namespace_imports_are_checked_by_interface_version_and_function() {
        check_own_namespace(&imports(&[
            ("chaoskit:plugin/host@0.1.0", &["log", "counter"]),
            ("chaoskit:plugin/types@0.1.0", &[]),
            ("wasi:cli/stderr@0.2.6", &["get-stderr"]),
        ]))
        .expect("what the host defines");
        let (import, hint) =
            check_own_namespace(&imports(&[("chaoskit:plugin/host@0.1.0", &["log", "steal-secrets"])])).unwrap_err();
        assert_eq!(import, "chaoskit:plugin/host@0.1.0#steal-secrets");
        assert!(hint.contains("has only `random-u64`, `now-ns`, `log`, `counter`, `counter-add`"), "{hint}");
        check_own_namespace(&imports(&[
            ("chaoskit:plugin/host@0.2.0", &["log"]),
            ("chaoskit:plugin/filter-types@0.2.0", &[]),
        ]))
        .expect("the current contract");
        let (import, hint) = check_own_namespace(&imports(&[("chaoskit:plugin/host@0.3.0", &["log"])])).unwrap_err();
        assert_eq!(import, "chaoskit:plugin/host@0.3.0");
        assert!(hint.contains("this host defines `chaoskit:plugin/host@0.2.0`"), "{hint}");
        let (import, _) = check_own_namespace(&imports(&[("chaoskit:plugin/secrets@0.1.0", &[])])).unwrap_err();
        assert_eq!(import, "chaoskit:plugin/secrets@0.1.0");
        let (import, _) = check_own_namespace(&imports(&[("chaoskit:plugin/types@0.1.0", &["sneaky"])])).unwrap_err();
        assert_eq!(import, "chaoskit:plugin/types@0.1.0#sneaky");
    }
}

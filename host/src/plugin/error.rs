//! Errors of the plugin host, and the kinds of failure a running plugin can have.

use std::path::PathBuf;
use std::time::Duration;

/// Why a plugin could not be loaded (or reloaded).
///
/// Every message names the plugin file and, where one is at fault, the limit or import.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The file could not be read.
    #[error("cannot read plugin `{}`: {source}", path.display())]
    Io {
        /// The plugin file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not WebAssembly at all.
    #[error(
        "plugin `{}` is not a WebAssembly component: it starts with bytes {head} instead of `\\0asm`",
        path.display()
    )]
    NotWasm {
        /// The plugin file.
        path: PathBuf,
        /// The first bytes, in hex.
        head: String,
    },
    /// The file is a core WebAssembly module, not a component.
    #[error(
        "plugin `{}` is a core WebAssembly module, not a component; build it with `cargo build --release --target wasm32-wasip2` against chaoskit-plugin-sdk",
        path.display()
    )]
    CoreModule {
        /// The plugin file.
        path: PathBuf,
    },
    /// The component is malformed (for example truncated) or uses unsupported features.
    #[error("plugin `{}` is not a valid component: {message}", path.display())]
    Invalid {
        /// The plugin file.
        path: PathBuf,
        /// What the compiler said.
        message: String,
    },
    /// The component targets another world than the one asked for.
    #[error(
        "plugin `{}` is {found}, but {expected} is required here",
        path.display()
    )]
    WrongWorld {
        /// The plugin file.
        path: PathBuf,
        /// The world needed (`an injector` or `a validator`).
        expected: &'static str,
        /// The world found, or a description of the exports.
        found: String,
    },
    /// The component imports something this plugin is not granted.
    #[error(
        "plugin `{}` imports `{import}`, which is not granted: {hint}",
        path.display()
    )]
    ImportNotGranted {
        /// The plugin file.
        path: PathBuf,
        /// The import at fault, e.g. `wasi:filesystem/types@0.2.6`.
        import: String,
        /// How to grant it, or what to use instead.
        hint: String,
    },
    /// A grant cannot be used on this host: its directory does not exist, or the variable
    /// it passes on is not set.
    #[error("plugin `{}`: grant {message}", path.display())]
    Grant {
        /// The plugin file.
        path: PathBuf,
        /// The grant and what is wrong with it.
        message: String,
    },
    /// The component imports an interface or function of the host's own namespace
    /// (`chaoskit:`) that this host does not define (another contract version, or a doctored
    /// one): refused at load rather than trapping at the first call.
    #[error(
        "plugin `{}` imports `{import}`, which this host does not define: {hint}",
        path.display()
    )]
    UnknownImport {
        /// The plugin file.
        path: PathBuf,
        /// The import at fault: `interface` or `interface#function`.
        import: String,
        /// What the host defines, and what to do.
        hint: String,
    },
    /// The plugin refused its configuration.
    #[error("plugin `{}` refused its configuration: {message}", path.display())]
    Config {
        /// The plugin file.
        path: PathBuf,
        /// The plugin's message.
        message: String,
    },
    /// Instantiating the component failed (for example the instance pool is exhausted).
    #[error("plugin `{}` could not be instantiated: {message}", path.display())]
    Instantiate {
        /// The plugin file.
        path: PathBuf,
        /// What wasmtime said.
        message: String,
    },
    /// The plugin failed (trap, deadline, memory) while being configured.
    #[error("plugin `{}` failed while loading: {kind}", path.display())]
    Failed {
        /// The plugin file.
        path: PathBuf,
        /// How it failed.
        kind: FailureKind,
    },
    /// A limit is out of range.
    #[error("plugin `{}`: invalid limit `{limit}`: {message}", path.display())]
    Limit {
        /// The plugin file.
        path: PathBuf,
        /// The limit's name, e.g. `memory`.
        limit: &'static str,
        /// What would be valid.
        message: String,
    },
    /// The file could not be watched for hot reload.
    #[error("cannot watch plugin `{}` for changes: {message}", path.display())]
    Watch {
        /// The plugin file.
        path: PathBuf,
        /// What the watcher said.
        message: String,
    },
    /// The Wasm engine could not be created.
    #[error("cannot create the Wasm engine: {message}")]
    Engine {
        /// What wasmtime said.
        message: String,
    },
}

/// How a call into a plugin failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The call ran past its deadline (the epoch interrupt fired).
    Deadline {
        /// The export called, e.g. `decide`.
        export: &'static str,
        /// The deadline.
        budget: Duration,
    },
    /// The guest asked for more memory than its limit.
    MemoryLimit {
        /// The export called.
        export: &'static str,
        /// Bytes asked for.
        requested: usize,
        /// Bytes allowed.
        limit: usize,
    },
    /// The guest overflowed its stack.
    StackOverflow {
        /// The export called.
        export: &'static str,
    },
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access, a denied import…).
    Trap {
        /// The export called.
        export: &'static str,
        /// The trap message (and the guest's last stderr line, if any).
        message: String,
    },
    /// The guest returned a message longer than the host accepts.
    ResultTooLarge {
        /// The export called.
        export: &'static str,
        /// Bytes returned.
        bytes: usize,
        /// Bytes allowed.
        limit: usize,
    },
    /// A fresh instance could not be built.
    Instantiate {
        /// What failed.
        message: String,
    },
}

impl FailureKind {
    /// A short name for counting: `deadline`, `memory`, `stack`, `trap`, `result`, `instantiate`.
    pub fn label(&self) -> &'static str {
        match self {
            FailureKind::Deadline { .. } => "deadline",
            FailureKind::MemoryLimit { .. } => "memory",
            FailureKind::StackOverflow { .. } => "stack overflow",
            FailureKind::Trap { .. } => "trap",
            FailureKind::ResultTooLarge { .. } => "oversized result",
            FailureKind::Instantiate { .. } => "instantiation",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::Deadline { export, budget } => {
                write!(f, "ran past its {budget:?} deadline in `{export}`")
            }
            FailureKind::MemoryLimit { export, requested, limit } => {
                write!(f, "exceeded its memory limit in `{export}`: asked for {requested} bytes, {limit} allowed")
            }
            FailureKind::StackOverflow { export } => {
                write!(f, "overflowed its stack in `{export}`")
            }
            FailureKind::Trap { export, message } => write!(f, "trapped in `{export}`: {message}"),
            FailureKind::ResultTooLarge { export, bytes, limit } => {
                write!(
                    f,
                    "returned a {bytes}-byte message from `{export}`, over the limit `max_message` = {limit} bytes"
                )
            }
            FailureKind::Instantiate { message } => {
                write!(f, "could not be instantiated: {message}")
            }
        }
    }
}

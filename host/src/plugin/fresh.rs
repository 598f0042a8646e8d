//! Making a fresh instance ready: a new store, instantiation and `configure`, under the
//! configure deadline. One path for injectors, validators and toxics, so a limit or a failure
//! is reported the same way whichever world the plugin is.

use super::Limits;
use super::bounds::bounded_message;
use super::error::{FailureKind, PluginError};
use super::runtime::{self, Runtime};
use super::state::{PluginState, Shared};
use super::wasi;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Store;

/// Why a fresh instance could not be made ready.
pub(crate) enum BuildError {
    /// The plugin refused its configuration: its message, within `max_message`.
    Config(String),
    /// Instantiation or `configure` failed: trap, deadline, memory.
    Failed(FailureKind),
}

impl BuildError {
    pub(crate) fn into_plugin_error(self, path: &Path) -> PluginError {
        match self {
            BuildError::Config(message) => PluginError::Config { path: path.to_owned(), message },
            BuildError::Failed(FailureKind::Instantiate { message }) => {
                PluginError::Instantiate { path: path.to_owned(), message }
            }
            BuildError::Failed(kind) => PluginError::Failed { path: path.to_owned(), kind },
        }
    }

    pub(crate) fn into_failure(self) -> FailureKind {
        match self {
            BuildError::Config(message) => {
                FailureKind::Instantiate { message: format!("refused its configuration: {message}") }
            }
            BuildError::Failed(kind) => kind,
        }
    }
}

/// A new store (with its WASI context when `with_wasi`; outgoing requests get
/// `call_deadline`), instantiated by `instantiate` and configured by `configure`, both within
/// `limits.configure_deadline`. A trap while instantiating is reported as `Instantiate`.
/// Returns the store, the bindings and what `configure` answered.
pub(crate) fn configured<B: Send, I: Send>(
    rt: &Runtime,
    shared: &Arc<Shared>,
    limits: &Limits,
    with_wasi: bool,
    call_deadline: Duration,
    instantiate: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<B> + Send,
    configure: impl FnOnce(&B, &mut Store<PluginState>) -> wasmtime::Result<Result<I, String>> + Send,
) -> Result<(Store<PluginState>, B, I), BuildError> {
    let mut store = runtime::new_store(rt, shared, limits, with_wasi, call_deadline).map_err(BuildError::Failed)?;
    let budget = limits.configure_deadline;
    runtime::arm(&mut store, budget);
    let ready = move || {
        let bindings = instantiate(&mut store).map_err(|e| {
            BuildError::Failed(match runtime::classify(&mut store, &e, "instantiate", budget, limits.memory) {
                FailureKind::Trap { message, .. } => FailureKind::Instantiate { message },
                other => other,
            })
        })?;
        let info = configure(&bindings, &mut store)
            .map_err(|e| BuildError::Failed(runtime::classify(&mut store, &e, "configure", budget, limits.memory)))?
            .map_err(|m| BuildError::Config(bounded_message(m, limits.max_message, Some(&shared.name))))?;
        Ok((store, bindings, info))
    };
    // Instantiation runs the guest's start code: WASI plugins may block in it.
    if with_wasi { wasi::off_runtime(ready) } else { ready() }
}

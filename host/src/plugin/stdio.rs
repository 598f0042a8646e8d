//! The standard-output part of WASI that every Rust `wasm32-wasip2` component imports.
//!
//! `std` writes panic messages to stderr and `println!` to stdout, so a component built the
//! ordinary way imports `wasi:cli/stdout`, `wasi:cli/stderr` and `wasi:io/streams`. The host
//! links a small implementation of just those functions: output goes nowhere (stderr's last
//! line is kept to explain a trap), or, with [`Grant::Stdio`](super::Grant::Stdio), to the log.
//! The environment is empty, stdin is closed, and there is no terminal. Everything else a
//! component imports is refused at load or, for the rest of the `std` baseline, traps.

use super::state::PluginState;
use wasmtime::component::{ComponentType, Linker, Lower, Resource, ResourceType};

/// `wasi:io/error.error` (never created: writes do not fail).
pub(crate) struct IoError;
/// `wasi:io/streams.output-stream`; rep 1 is stdout, 2 is stderr.
pub(crate) struct OutputStream;
/// `wasi:io/streams.input-stream` (stdin, always closed).
pub(crate) struct InputStream;
/// `wasi:cli/terminal-output.terminal-output` (never created: no terminal).
pub(crate) struct TerminalOutput;
/// `wasi:cli/terminal-input.terminal-input` (never created: no terminal).
pub(crate) struct TerminalInput;

const STDOUT: u32 = 1;
const STDERR: u32 = 2;
const STDIN: u32 = 3;

/// `wasi:io/streams.stream-error`.
#[derive(ComponentType, Lower)]
#[component(variant)]
pub(crate) enum StreamError {
    /// The last operation failed (carries a `wasi:io/error.error`).
    #[component(name = "last-operation-failed")]
    #[allow(dead_code, reason = "part of the WIT type; writes never fail")]
    LastOperationFailed(Resource<IoError>),
    /// The stream is closed.
    #[component(name = "closed")]
    Closed,
}

type Unit = Result<(), StreamError>;

/// Link the stdio functions for the interfaces (at the versions) that `imports` names.
pub(crate) fn link(linker: &mut Linker<PluginState>, imports: &[String]) -> wasmtime::Result<()> {
    for name in imports {
        let interface = name.split('@').next().unwrap_or(name);
        match interface {
            "wasi:io/error" => {
                let mut i = linker.instance(name)?;
                i.resource("error", ResourceType::host::<IoError>(), |_, _| Ok(()))?;
            }
            "wasi:io/streams" => {
                let mut i = linker.instance(name)?;
                i.resource("output-stream", ResourceType::host::<OutputStream>(), |_, _| Ok(()))?;
                i.resource("input-stream", ResourceType::host::<InputStream>(), |_, _| Ok(()))?;
                i.func_wrap("[method]output-stream.check-write", |_, (_,): (Resource<OutputStream>,)| {
                    Ok((Ok::<u64, StreamError>(64 * 1024),))
                })?;
                for write in ["[method]output-stream.write", "[method]output-stream.blocking-write-and-flush"] {
                    i.func_wrap(
                        write,
                        |mut store, (this, bytes): (Resource<OutputStream>, Vec<u8>)| {
                            store.data_mut().write(this.rep() == STDERR, &bytes);
                            Ok((Unit::Ok(()),))
                        },
                    )?;
                }
                for flush in ["[method]output-stream.flush", "[method]output-stream.blocking-flush"] {
                    i.func_wrap(flush, |_, (_,): (Resource<OutputStream>,)| Ok((Unit::Ok(()),)))?;
                }
                for read in ["[method]input-stream.read", "[method]input-stream.blocking-read"] {
                    i.func_wrap(read, |_, (_, _): (Resource<InputStream>, u64)| {
                        Ok((Err::<Vec<u8>, StreamError>(StreamError::Closed),))
                    })?;
                }
            }
            "wasi:cli/stdout" => {
                linker.instance(name)?.func_wrap("get-stdout", |_, ()| {
                    Ok((Resource::<OutputStream>::new_own(STDOUT),))
                })?;
            }
            "wasi:cli/stderr" => {
                linker.instance(name)?.func_wrap("get-stderr", |_, ()| {
                    Ok((Resource::<OutputStream>::new_own(STDERR),))
                })?;
            }
            "wasi:cli/stdin" => {
                linker.instance(name)?.func_wrap("get-stdin", |_, ()| {
                    Ok((Resource::<InputStream>::new_own(STDIN),))
                })?;
            }
            "wasi:cli/terminal-output" => {
                let mut i = linker.instance(name)?;
                i.resource("terminal-output", ResourceType::host::<TerminalOutput>(), |_, _| Ok(()))?;
            }
            "wasi:cli/terminal-input" => {
                let mut i = linker.instance(name)?;
                i.resource("terminal-input", ResourceType::host::<TerminalInput>(), |_, _| Ok(()))?;
            }
            "wasi:cli/terminal-stdout" | "wasi:cli/terminal-stderr" => {
                let func = if interface.ends_with("stdout") {
                    "get-terminal-stdout"
                } else {
                    "get-terminal-stderr"
                };
                linker.instance(name)?.func_wrap(func, |_, ()| {
                    Ok((None::<Resource<TerminalOutput>>,))
                })?;
            }
            "wasi:cli/terminal-stdin" => {
                linker.instance(name)?.func_wrap("get-terminal-stdin", |_, ()| {
                    Ok((None::<Resource<TerminalInput>>,))
                })?;
            }
            "wasi:cli/environment" => {
                let mut i = linker.instance(name)?;
                i.func_wrap("get-environment", |_, ()| Ok((Vec::<(String, String)>::new(),)))?;
                i.func_wrap("get-arguments", |_, ()| Ok((Vec::<String>::new(),)))?;
                i.func_wrap("initial-cwd", |_, ()| Ok((None::<String>,)))?;
            }
            _ => {}
        }
    }
    Ok(())
}

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
/// `wasi:io/poll.pollable` (never created).
pub(crate) struct Pollable;

/// A resource's name and its host type.
type Named = (&'static str, fn() -> ResourceType);

/// The resource types an interface sees (its own and those it `use`s): each must be the same
/// host type in every instance that names it, or instantiation fails on mismatched resources.
fn resources(interface: &str) -> &'static [Named] {
    const ERROR: Named = ("error", ResourceType::host::<IoError>);
    const POLLABLE: Named = ("pollable", ResourceType::host::<Pollable>);
    const OUTPUT: Named = ("output-stream", ResourceType::host::<OutputStream>);
    const INPUT: Named = ("input-stream", ResourceType::host::<InputStream>);
    const TERM_OUT: Named = ("terminal-output", ResourceType::host::<TerminalOutput>);
    const TERM_IN: Named = ("terminal-input", ResourceType::host::<TerminalInput>);
    match interface {
        "wasi:io/error" => &[ERROR],
        "wasi:io/poll" => &[POLLABLE],
        "wasi:io/streams" => &[ERROR, POLLABLE, OUTPUT, INPUT],
        "wasi:cli/stdout" | "wasi:cli/stderr" => &[OUTPUT],
        "wasi:cli/stdin" => &[INPUT],
        "wasi:cli/terminal-output" | "wasi:cli/terminal-stdout" | "wasi:cli/terminal-stderr" => &[TERM_OUT],
        "wasi:cli/terminal-input" | "wasi:cli/terminal-stdin" => &[TERM_IN],
        _ => &[],
    }
}

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
        let mut i = linker.instance(name)?;
        for (resource, ty) in resources(interface) {
            i.resource(resource, ty(), |_, _| Ok(()))?;
        }
        match interface {
            "wasi:io/poll" => {
                // Every stream is always ready: writes never block.
                i.func_wrap("[method]pollable.ready", |_, (_,): (Resource<Pollable>,)| Ok((true,)))?;
                i.func_wrap("[method]pollable.block", |_, (_,): (Resource<Pollable>,)| Ok(()))?;
                i.func_wrap("poll", |_, (list,): (Vec<Resource<Pollable>>,)| {
                    Ok(((0..list.len() as u32).collect::<Vec<u32>>(),))
                })?;
            }
            "wasi:io/streams" => {
                i.func_wrap("[method]output-stream.subscribe", |_, (_,): (Resource<OutputStream>,)| {
                    Ok((Resource::<Pollable>::new_own(0),))
                })?;
                i.func_wrap("[method]input-stream.subscribe", |_, (_,): (Resource<InputStream>,)| {
                    Ok((Resource::<Pollable>::new_own(0),))
                })?;
                i.func_wrap("[method]output-stream.check-write", |_, (_,): (Resource<OutputStream>,)| {
                    Ok((Ok::<u64, StreamError>(super::state::MAX_WRITE as u64),))
                })?;
                for write in ["[method]output-stream.write", "[method]output-stream.blocking-write-and-flush"] {
                    i.func_wrap(write, |mut store, (this, bytes): (Resource<OutputStream>, Vec<u8>)| {
                        store.data_mut().write(this.rep() == STDERR, &bytes);
                        Ok((Unit::Ok(()),))
                    })?;
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
            "wasi:cli/stdout" => i.func_wrap("get-stdout", |_, ()| Ok((Resource::<OutputStream>::new_own(STDOUT),)))?,
            "wasi:cli/stderr" => i.func_wrap("get-stderr", |_, ()| Ok((Resource::<OutputStream>::new_own(STDERR),)))?,
            "wasi:cli/stdin" => i.func_wrap("get-stdin", |_, ()| Ok((Resource::<InputStream>::new_own(STDIN),)))?,
            "wasi:cli/terminal-stdout" => {
                i.func_wrap("get-terminal-stdout", |_, ()| Ok((None::<Resource<TerminalOutput>>,)))?
            }
            "wasi:cli/terminal-stderr" => {
                i.func_wrap("get-terminal-stderr", |_, ()| Ok((None::<Resource<TerminalOutput>>,)))?
            }
            "wasi:cli/terminal-stdin" => {
                i.func_wrap("get-terminal-stdin", |_, ()| Ok((None::<Resource<TerminalInput>>,)))?
            }
            "wasi:cli/environment" => {
                i.func_wrap("get-environment", |_, ()| Ok((Vec::<(String, String)>::new(),)))?;
                i.func_wrap("get-arguments", |_, ()| Ok((Vec::<String>::new(),)))?;
                i.func_wrap("initial-cwd", |_, ()| Ok((None::<String>,)))?;
            }
            _ => {}
        }
    }
    Ok(())
}

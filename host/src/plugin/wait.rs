//! Waits on host I/O, bounded by the call's deadline.
//!
//! The epoch interrupt stops guest code, not a host function: a plugin blocked in
//! `wasi:io/poll` or a `blocking-*` stream call on a granted socket or HTTP body would wait for
//! as long as the peer stalls. Every function of WASI 0.2 that can wait on I/O goes through
//! `poll`, `pollable.block`, the `blocking-*` methods of `wasi:io/streams`, or dropping an
//! output stream (a TCP stream waits for its queued writes). [`link`] replaces wasmtime-wasi's
//! versions of these with ones that wait at most until the instant [`Deadline::arm`] set for
//! the call, then fail it with [`WaitPastDeadline`], which the host reports as the call's
//! deadline.

use super::state::PluginState;
use super::wasi::WASI;
use std::future::Future;
use std::time::{Duration, Instant};
use wasmtime::component::{Linker, Resource, ResourceTable, ResourceType};
use wasmtime_wasi::p2::bindings::io::streams::{self as wit, Host as _, HostInputStream as _, HostOutputStream as _};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, StreamResult};

/// A wait on host I/O that reached the call's deadline.
#[derive(Debug)]
pub(crate) struct WaitPastDeadline {
    /// The WASI function that waited.
    pub(crate) function: &'static str,
}

impl std::fmt::Display for WaitPastDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` was still waiting on I/O at the call's deadline", self.function)
    }
}

impl std::error::Error for WaitPastDeadline {}

/// When the call in progress must end: set by [`super::runtime::arm`] before every call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    ends: Instant,
}

impl Default for Deadline {
    fn default() -> Self {
        // Before the first call is armed, nothing may wait.
        Self { ends: Instant::now() }
    }
}

impl Deadline {
    pub(crate) fn arm(&mut self, budget: Duration) {
        self.ends = Instant::now() + budget;
    }
}

/// Run `wait` in wasmtime-wasi's Tokio context until it is done or `deadline` passes.
fn bounded<F: Future>(deadline: Deadline, function: &'static str, wait: F) -> wasmtime::Result<F::Output> {
    // The timer belongs to the runtime the wait runs in: the caller's, or wasmtime-wasi's own
    // (both have timers enabled: the host's runtimes and wasmtime-wasi's ambient one).
    wasmtime_wasi::runtime::in_tokio(async move {
        tokio::time::timeout_at(tokio::time::Instant::from_std(deadline.ends), wait).await
    })
    .map_err(|_| wasmtime::Error::new(WaitPastDeadline { function }))
}

/// The call's deadline and the instance's resource table.
fn parts(state: &mut PluginState) -> (Deadline, &mut ResourceTable) {
    let wasi = state.wasi();
    (wasi.deadline, &mut wasi.table)
}

/// Bound a stream wait: a stream error is the guest's answer; a cut wait fails the call.
fn stream<T>(
    state: &mut PluginState,
    function: &'static str,
    wait: impl AsyncFnOnce(&mut ResourceTable) -> StreamResult<T>,
) -> wasmtime::Result<Result<T, wit::StreamError>> {
    let (deadline, table) = parts(state);
    let waited = bounded(deadline, function, wait(table));
    let result = cut(state, waited)?;
    let table = &mut state.wasi().table;
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => Ok(Err(table.convert_stream_error(error)?)),
    }
}

/// Replace wasmtime-wasi's waiting functions in `linker` with bounded ones (shadowing must
/// be allowed).
pub(crate) fn link(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    let mut poll = linker.instance(&format!("wasi:io/poll@{WASI}"))?;
    poll.func_wrap("poll", |mut s, (list,): (Vec<Resource<DynPollable>>,)| {
        let state = s.data_mut();
        let (deadline, table) = parts(state);
        let ready = bounded(deadline, "poll", wasmtime_wasi::p2::bindings::io::poll::Host::poll(table, list));
        Ok((cut(state, ready)??,))
    })?;
    poll.func_wrap("[method]pollable.block", |mut s, (pollable,): (Resource<DynPollable>,)| {
        let state = s.data_mut();
        let (deadline, table) = parts(state);
        let done = bounded(
            deadline,
            "pollable.block",
            wasmtime_wasi::p2::bindings::io::poll::HostPollable::block(table, pollable),
        );
        cut(state, done)?
    })?;

    let mut streams = linker.instance(&format!("wasi:io/streams@{WASI}"))?;
    streams.func_wrap(
        "[method]input-stream.blocking-read",
        |mut s, (stream, len): (Resource<DynInputStream>, u64)| {
            Ok((self::stream(s.data_mut(), "input-stream.blocking-read", async move |t| {
                t.blocking_read(stream, len).await
            })?,))
        },
    )?;
    streams.func_wrap(
        "[method]input-stream.blocking-skip",
        |mut s, (stream, len): (Resource<DynInputStream>, u64)| {
            Ok((self::stream(s.data_mut(), "input-stream.blocking-skip", async move |t| {
                t.blocking_skip(stream, len).await
            })?,))
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.blocking-write-and-flush",
        |mut s, (stream, bytes): (Resource<DynOutputStream>, Vec<u8>)| {
            Ok((self::stream(s.data_mut(), "output-stream.blocking-write-and-flush", async move |t| {
                t.blocking_write_and_flush(stream, bytes).await
            })?,))
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |mut s, (stream, len): (Resource<DynOutputStream>, u64)| {
            Ok((self::stream(s.data_mut(), "output-stream.blocking-write-zeroes-and-flush", async move |t| {
                t.blocking_write_zeroes_and_flush(stream, len).await
            })?,))
        },
    )?;
    streams.func_wrap("[method]output-stream.blocking-flush", |mut s, (stream,): (Resource<DynOutputStream>,)| {
        Ok(
            (self::stream(s.data_mut(), "output-stream.blocking-flush", async move |t| {
                t.blocking_flush(stream).await
            })?,),
        )
    })?;
    streams.func_wrap(
        "[method]output-stream.blocking-splice",
        |mut s, (dst, src, len): (Resource<DynOutputStream>, Resource<DynInputStream>, u64)| {
            Ok((self::stream(s.data_mut(), "output-stream.blocking-splice", async move |t| {
                t.blocking_splice(dst, src, len).await
            })?,))
        },
    )?;
    // Dropping a TCP output stream waits for its queued writes to reach the peer.
    streams.resource("output-stream", ResourceType::host::<DynOutputStream>(), |mut s, rep| {
        let state = s.data_mut();
        let (deadline, table) = parts(state);
        let dropped =
            bounded(deadline, "output-stream.drop", wit::HostOutputStream::drop(table, Resource::new_own(rep)));
        cut(state, dropped)?
    })?;
    Ok(())
}

/// Count a cut wait in the plugin's report notes and pass the result on.
fn cut<T>(state: &mut PluginState, result: wasmtime::Result<T>) -> wasmtime::Result<T> {
    if result.is_err() {
        state.wasi().caps.count_cut_wait();
    }
    result
}

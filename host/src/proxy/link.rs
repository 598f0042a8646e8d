//! Moving bytes: one connection, two directions, each a plain copy loop until a toxic appears.
//!
//! Without toxics a direction reads into a per-thread buffer and writes straight on, so an idle
//! connection holds no buffer at all and the hot path has no allocation and no channel; once a read
//! fills the buffer (a bulk transfer) it switches to `splice(2)` on Linux. When its direction gets a
//! toxic, it switches for good to a reader feeding a chain processor. The reader may run ahead of the
//! chain by 1024 chunks when a latency toxic is active (Toxiproxy's latency buffer, so delays
//! pipeline) and by one chunk otherwise, so bandwidth and the others back-pressure the sender.
//! Whatever the chunk count, a direction stops reading while it holds [`MAX_HELD_BYTES`] (a slicer
//! cutting chunks into 1-byte pieces in front of a latency toxic holds far more pieces than chunks).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::ReadHalf;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::chain::{Chain, ChainSet, Item, StreamSeed, Update};
use super::filter::ToxicPlugins;
use super::timer::PreciseTimer;
use super::toxic::Stream;

/// Size of the per-thread copy buffer of the plain path.
const COPY_BUF: usize = 128 * 1024;
/// Largest chunk read on the toxic path, like Toxiproxy's io.Copy buffer.
const CHUNK: usize = 32 * 1024;
/// Chunks queued between the reader and the chain.
const QUEUE: usize = 1024;

/// Most bytes one direction of a connection holds on the toxic path (read and not yet written:
/// queued chunks, pieces waiting for their instant, replies), each piece counted with its
/// bookkeeping ([`PIECE_COST`]). Past it the direction stops reading, so the sender waits in TCP's
/// flow control; it may go over by at most the pieces of one chunk.
pub const MAX_HELD_BYTES: usize = 4 << 20;
/// What a held piece costs besides its bytes: its slot in the queue. Counted so that 1-byte
/// slices are bounded by memory, not by their number.
const PIECE_COST: usize = std::mem::size_of::<Pending>();

thread_local! {
    static COPY: RefCell<Vec<u8>> = RefCell::new(vec![0; COPY_BUF]);
}

/// How a direction, or the whole connection, ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// This direction saw EOF and forwarded it as a half-close; the other direction goes on.
    Eof,
    /// Close the connection (both sockets).
    Close,
    /// Reset both sockets (RST).
    Reset,
}

/// What a connection needs from its proxy.
pub(crate) struct LinkContext {
    pub(crate) proxy: String,
    pub(crate) upstream: String,
    pub(crate) seed: u64,
    /// Where toxicity draws that fire are journaled (a run's in-process proxies).
    pub(crate) decisions: Option<crate::chaos::DecisionLog>,
    pub(crate) toxics: watch::Receiver<Arc<ChainSet>>,
    pub(crate) wakers: Arc<WakerList>,
    /// Wakes latency-held data on time (tokio's timer alone overshoots by up to 1 ms).
    pub(crate) timer: Arc<PreciseTimer>,
    /// Custom toxic types the proxy's toxics may name.
    pub(crate) plugins: Arc<ToxicPlugins>,
    /// The registry's count of held bytes.
    pub(crate) held: Arc<HeldStats>,
}

/// Bytes held on the toxic path over a registry's connections: now (all directions) and the most
/// any one direction held at once.
#[derive(Debug, Default)]
pub(crate) struct HeldStats {
    now: AtomicU64,
    peak: AtomicU64,
}

impl HeldStats {
    pub(crate) fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

/// The held bytes of one direction, shared by its reader (which waits for room) and its
/// processor (which frees room as it writes).
struct Held {
    bytes: AtomicUsize,
    room: Notify,
    stats: Arc<HeldStats>,
}

impl Held {
    fn new(stats: Arc<HeldStats>) -> Held {
        Held { bytes: AtomicUsize::new(0), room: Notify::new(), stats }
    }

    fn add(&self, n: usize) {
        let now = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        self.stats.now.fetch_add(n as u64, Ordering::Relaxed);
        self.stats.peak.fetch_max(now as u64, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::Relaxed);
        self.stats.now.fetch_sub(n as u64, Ordering::Relaxed);
        self.room.notify_one();
    }

    fn has_room(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) < MAX_HELD_BYTES
    }

    /// Waits until the direction holds less than [`MAX_HELD_BYTES`].
    async fn room(&self) {
        loop {
            // `notify_one` keeps a permit when nobody waits, so a release in between is not lost.
            let released = self.room.notified();
            if self.bytes.load(Ordering::Relaxed) < MAX_HELD_BYTES {
                return;
            }
            released.await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.stats.now.fetch_sub(*self.bytes.get_mut() as u64, Ordering::Relaxed);
    }
}

/// What an item counts against [`MAX_HELD_BYTES`].
fn cost(item: &Item) -> usize {
    match item {
        Item::Data(_, data) => data.len() + PIECE_COST,
        _ => PIECE_COST,
    }
}

/// Wakes idle plain-path directions when the toxics change, so a toxic added to a live connection
/// starts at once (a `timeout` starts its clock) instead of at the next chunk. Registering a waker
/// is one atomic swap, cheaper per wait than a `watch::Receiver::changed` future.
#[derive(Debug, Default)]
pub(crate) struct WakerList {
    wakers: Mutex<Vec<Weak<AtomicWaker>>>,
}

impl WakerList {
    fn add(&self) -> Arc<AtomicWaker> {
        let waker = Arc::new(AtomicWaker::new());
        let mut list = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        // Drop the entries of closed connections now and then; amortised O(1) per connection.
        if list.len() >= 64 && list.len().is_power_of_two() {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(Arc::downgrade(&waker));
        waker
    }

    /// Wakes every live registered direction.
    pub(crate) fn wake_all(&self) {
        let mut list = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|w| match w.upgrade() {
            Some(waker) => {
                waker.wake();
                true
            }
            None => false,
        });
    }
}

/// Runs one accepted client connection until it ends or `cancel` fires.
pub(crate) async fn run_connection(client: TcpStream, ctx: Arc<LinkContext>, index: u64, cancel: CancellationToken) {
    let dialled = tokio::select! {
        biased;
        () = cancel.cancelled() => return,
        r = TcpStream::connect(ctx.upstream.as_str()) => r,
    };
    let upstream = match dialled {
        Ok(s) => s,
        Err(e) => {
            // Toxiproxy closes with a FIN, which looks like a served empty reply; a reset is the
            // closest a proxy can get to "connection refused" once the kernel has accepted.
            tracing::debug!(target: "chaoskit::proxy", proxy = %ctx.proxy, error = %e, "upstream dial failed");
            set_reset_on_close(&client);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let mut seed = StreamSeed::new(ctx.seed, &ctx.proxy, index);
    seed.log = ctx.decisions.clone();
    seed.plugins = ctx.plugins.clone();

    let (mut client, mut upstream) = (client, upstream);
    let end = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let (up_replies, down_replies) = Replies::pair();
        let up = pump(client_read, upstream_write.as_ref(), Stream::Upstream, &ctx, seed.clone(), up_replies);
        let down = pump(upstream_read, client_write.as_ref(), Stream::Downstream, &ctx, seed, down_replies);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break End::Close,
                e = &mut up, if !up_done => {
                    up_done = true;
                    if e != End::Eof || down_done { break e; }
                }
                e = &mut down, if !down_done => {
                    down_done = true;
                    if e != End::Eof || up_done { break e; }
                }
            }
        }
    };
    if end == End::Reset {
        set_reset_on_close(&client);
        set_reset_on_close(&upstream);
    }
    // Dropping both sockets closes them.
}

/// `SO_LINGER` 0: the close sends an RST.
fn set_reset_on_close(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

fn shutdown_write(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).shutdown(Shutdown::Write);
}

fn read_error(e: &io::Error) -> End {
    if e.kind() == io::ErrorKind::ConnectionReset { End::Reset } else { End::Close }
}

/// Bytes a plugin toxic sends back the other way: each direction's processor sends to its peer
/// and writes what its peer sends, in order with its own output.
struct Replies {
    to_peer: mpsc::Sender<(Instant, Bytes)>,
    from_peer: mpsc::Receiver<(Instant, Bytes)>,
}

/// Reply chunks queued between the two directions before the sender waits.
const REPLY_QUEUE: usize = 64;

impl Replies {
    fn pair() -> (Replies, Replies) {
        let (up_tx, up_rx) = mpsc::channel(REPLY_QUEUE);
        let (down_tx, down_rx) = mpsc::channel(REPLY_QUEUE);
        (Replies { to_peer: up_tx, from_peer: down_rx }, Replies { to_peer: down_tx, from_peer: up_rx })
    }
}

/// Copies `src` to `dst` through this direction's toxics.
async fn pump(
    mut src: ReadHalf<'_>,
    dst: &TcpStream,
    stream: Stream,
    ctx: &LinkContext,
    seed: StreamSeed,
    replies: Replies,
) -> End {
    let mut toxics = ctx.toxics.clone();
    let plain_path = !toxics.borrow_and_update().needs_chain(stream);
    if plain_path && let Some(end) = plain(&mut src, dst, stream, &mut toxics, &ctx.wakers).await {
        return end;
    }
    toxic(src.as_ref(), dst, stream, toxics, seed, ctx, replies).await
}

enum Step {
    Wrote(usize),
    Changed,
    Partial,
    WouldBlock,
    Eof,
    ReadFailed(End),
    WriteFailed,
}

/// The plain copy loop. Returns `None` when a toxic appeared on this direction.
async fn plain(
    src: &mut ReadHalf<'_>,
    dst: &TcpStream,
    stream: Stream,
    toxics: &mut watch::Receiver<Arc<ChainSet>>,
    wakers: &WakerList,
) -> Option<End> {
    let mut pending: Vec<u8> = Vec::new();
    let waker = wakers.add();
    #[cfg(target_os = "linux")]
    let mut pipe: Option<splice::Pipe> = None;
    loop {
        if toxics.has_changed().unwrap_or(false) && toxics.borrow_and_update().needs_chain(stream) {
            return None;
        }
        let copy = std::future::poll_fn(|cx| {
            // Register before looking, so a change published in between still wakes us.
            waker.register(cx.waker());
            if toxics.has_changed().unwrap_or(false) {
                return Poll::Ready(Step::Changed);
            }
            copy_once(cx, src, dst, &mut pending)
        });
        #[cfg(target_os = "linux")]
        let step = match pipe.as_mut() {
            Some(pipe) => pipe.transfer(src.as_ref(), dst).await,
            None => {
                let step = copy.await;
                if matches!(step, Step::Wrote(COPY_BUF)) {
                    // A full buffer means a bulk transfer: move pages with splice from now on.
                    pipe = splice::Pipe::new().ok();
                }
                step
            }
        };
        #[cfg(not(target_os = "linux"))]
        let step = copy.await;
        match step {
            Step::Wrote(_) | Step::Changed => {}
            Step::Partial => {
                if write_all(dst, &pending).await.is_err() {
                    return Some(End::Close);
                }
                pending = Vec::new();
            }
            Step::WouldBlock => {
                let ready = std::future::poll_fn(|cx| {
                    // Register before looking, so a change published in between still wakes us.
                    waker.register(cx.waker());
                    if toxics.has_changed().unwrap_or(false) {
                        return Poll::Ready(Ok(()));
                    }
                    src.as_ref().poll_read_ready(cx)
                })
                .await;
                if ready.is_err() {
                    return Some(End::Close);
                }
            }
            Step::Eof => {
                shutdown_write(dst);
                return Some(End::Eof);
            }
            Step::ReadFailed(end) => return Some(end),
            Step::WriteFailed => return Some(End::Close),
        }
    }
}

/// One read into the thread's buffer, written on at once; what the destination does not take now
/// goes to `pending`. Reading through `poll_read` lets tokio skip the extra `read` that would only
/// return `EAGAIN` after a short read, and charges tokio's cooperative budget.
fn copy_once(cx: &mut Context<'_>, src: &mut ReadHalf<'_>, dst: &TcpStream, pending: &mut Vec<u8>) -> Poll<Step> {
    COPY.with_borrow_mut(|buf| {
        let mut read = ReadBuf::new(buf);
        match Pin::new(&mut *src).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Step::ReadFailed(read_error(&e))),
            Poll::Ready(Ok(())) => {
                let data = read.filled();
                if data.is_empty() {
                    return Poll::Ready(Step::Eof);
                }
                let mut off = 0;
                while off < data.len() {
                    match dst.try_write(&data[off..]) {
                        Ok(m) => off += m,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            pending.extend_from_slice(&data[off..]);
                            return Poll::Ready(Step::Partial);
                        }
                        Err(_) => return Poll::Ready(Step::WriteFailed),
                    }
                }
                Poll::Ready(Step::Wrote(data.len()))
            }
        }
    })
}

/// Zero-copy forwarding for bulk transfers: socket → pipe → socket with `splice(2)`, so the proxy
/// moves page references instead of copying every byte through user space twice.
#[cfg(target_os = "linux")]
mod splice {
    use std::io;
    use std::os::fd::OwnedFd;

    use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
    use tokio::io::Interest;
    use tokio::net::TcpStream;

    use super::{Step, read_error};

    /// Pipe capacity asked for; the kernel may grant less (`fs.pipe-max-size`).
    const PIPE_SIZE: usize = 512 * 1024;

    pub(super) struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
        size: usize,
    }

    impl Pipe {
        pub(super) fn new() -> io::Result<Pipe> {
            let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
            let size = fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32)).map(|s| s as usize).unwrap_or(64 * 1024);
            Ok(Pipe { read, write, size })
        }

        /// Moves what `src` has now into the pipe, then all of it on to `dst`.
        pub(super) async fn transfer(&mut self, src: &TcpStream, dst: &TcpStream) -> Step {
            let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
            // The pipe is always drained before the next fill, so EAGAIN here means `src` is empty.
            let filled = src.try_io(Interest::READABLE, || {
                splice(src, None, &self.write, None, self.size, flags).map_err(io::Error::from)
            });
            let mut held = match filled {
                Ok(0) => return Step::Eof,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::WouldBlock,
                Err(e) => return Step::ReadFailed(read_error(&e)),
            };
            let moved = held;
            while held > 0 {
                let drained = dst.try_io(Interest::WRITABLE, || {
                    splice(&self.read, None, dst, None, held, flags).map_err(io::Error::from)
                });
                match drained {
                    Ok(n) => held -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if dst.writable().await.is_err() {
                            return Step::WriteFailed;
                        }
                    }
                    Err(_) => return Step::WriteFailed,
                }
            }
            Step::Wrote(moved)
        }
    }
}

async fn write_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match dst.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An output item waiting for its instant.
struct Pending {
    item: Item,
    /// How much of the wait a latency stage added (cut when the latency drops).
    held: Duration,
    /// Whether writing it finishes its input chunk (which gives the reader a permit back).
    last_of_chunk: bool,
    /// What it counts against [`MAX_HELD_BYTES`].
    cost: usize,
}

impl Pending {
    /// Shortens the latency part of the wait to at most `bound`.
    fn cut_to(&mut self, bound: Duration) {
        if let Some(cut) = self.held.checked_sub(bound).filter(|c| !c.is_zero()) {
            self.held = bound;
            self.item.shift_earlier(cut);
        }
    }
}

enum Input {
    Data(Instant, Bytes),
    Eof(Instant),
    Failed(End),
}

/// The toxic path: a reader queues timestamped chunks, the processor runs them through the chain
/// and writes each output item when its time comes.
async fn toxic(
    src: &TcpStream,
    dst: &TcpStream,
    stream: Stream,
    mut toxics: watch::Receiver<Arc<ChainSet>>,
    seed: StreamSeed,
    ctx: &LinkContext,
    replies: Replies,
) -> End {
    let timer = &ctx.timer;
    let budget = Arc::new(Held::new(ctx.held.clone()));
    let reader_held = budget.clone();
    let Replies { to_peer: replies, from_peer: mut replies_in } = replies;
    let (tx, mut rx) = mpsc::channel::<Input>(QUEUE);
    let mut chain = Chain::new(seed);
    let current = toxics.borrow_and_update().get(stream).clone();
    chain.update(&current, Instant::now());
    // How many chunks may be read ahead of the chain: Toxiproxy buffers only in front of latency, so
    // any other toxic (bandwidth, slicer…) back-pressures the sender as it does there.
    let mut window = Window::new(&chain);
    let permits = window.semaphore.clone();
    let reader = async move {
        loop {
            if let Err(e) = src.readable().await {
                let _ = tx.send(Input::Failed(read_error(&e))).await;
                break;
            }
            match permits.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
            reader_held.room().await;
            let mut chunk = Vec::with_capacity(CHUNK);
            match src.try_read_buf(&mut chunk) {
                Ok(0) => {
                    reader_held.add(PIECE_COST);
                    let _ = tx.send(Input::Eof(Instant::now())).await;
                    break;
                }
                Ok(n) => {
                    if n < CHUNK / 8 {
                        chunk.shrink_to_fit();
                    }
                    reader_held.add(n + PIECE_COST);
                    if tx.send(Input::Data(Instant::now(), Bytes::from(chunk))).await.is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => permits.add_permits(1),
                Err(e) => {
                    let _ = tx.send(Input::Failed(read_error(&e))).await;
                    break;
                }
            }
        }
        std::future::pending::<()>().await;
    };
    let processor = async move {
        let mut watching = true;
        // Output items waiting for their instant, in write order.
        let mut pending: VecDeque<Pending> = VecDeque::new();
        loop {
            let deadline = chain.deadline();
            let next = pending.front().map(|p| p.item.at());
            tokio::select! {
                biased;
                r = toxics.changed(), if watching => {
                    if r.is_err() {
                        watching = false;
                        continue;
                    }
                    let current = toxics.borrow_and_update().get(stream).clone();
                    let before: Vec<(String, i64, i64)> =
                        chain.latency_signature().into_iter().map(|(n, l, j)| (n.to_owned(), l, j)).collect();
                    if chain.update(&current, Instant::now()) == Update::Close {
                        return End::Close;
                    }
                    let after = chain.latency_signature();
                    let changed = before.len() != after.len()
                        || before.iter().zip(&after).any(|(b, a)| (b.0.as_str(), b.1, b.2) != *a);
                    if changed {
                        let bound = chain.latency_bound();
                        pending.iter_mut().for_each(|p| p.cut_to(bound));
                    }
                    window.resize(&chain);
                }
                () = sleep_until(deadline), if deadline.is_some() => return End::Close,
                () = timer.sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    let Some(Pending { item, last_of_chunk, cost, .. }) = pending.pop_front() else { continue };
                    budget.sub(cost);
                    match item {
                        Item::Data(_, data) => {
                            if write_all(dst, &data).await.is_err() {
                                return End::Close;
                            }
                        }
                        Item::Eof(_) => {
                            shutdown_write(dst);
                            return End::Eof;
                        }
                        Item::Close(_) => return End::Close,
                        Item::Reset(_) => return End::Reset,
                    }
                    if last_of_chunk {
                        window.release();
                    }
                }
                Some((at, bytes)) = replies_in.recv() => {
                    let item = Item::Data(at, bytes);
                    let cost = cost(&item);
                    budget.add(cost);
                    pending.push_back(Pending { item, held: Duration::ZERO, last_of_chunk: false, cost });
                }
                // Chunks grow into many pieces here: take the next only while there is room (or
                // nothing else is held, so the direction never stalls).
                input = rx.recv(), if pending.is_empty() || budget.has_room() => {
                    let item = match input {
                        Some(Input::Data(at, data)) => Item::Data(at, data),
                        Some(Input::Eof(at)) => Item::Eof(at),
                        Some(Input::Failed(end)) => return end,
                        None => return End::Close,
                    };
                    let input_cost = cost(&item);
                    let (items, scratch) = chain.process_held(item, Instant::now());
                    let held = scratch.held;
                    for reply in scratch.replies {
                        // The other direction writes it in turn with its own bytes; gone if it ended.
                        let _ = replies.send(reply).await;
                    }
                    if items.is_empty() {
                        window.release();
                    }
                    let count = items.len();
                    let output_cost = items.iter().map(cost).sum();
                    // Count the pieces before letting the chunk go, so the count never dips below
                    // what is held.
                    budget.add(output_cost);
                    budget.sub(input_cost);
                    pending.extend(items.into_iter().enumerate().map(|(i, item)| Pending {
                        cost: cost(&item),
                        item,
                        held,
                        last_of_chunk: i + 1 == count,
                    }));
                }
            }
        }
    };
    tokio::select! {
        biased;
        end = processor => end,
        () = reader => unreachable!("the reader parks forever once done"),
    }
}

/// The read-ahead allowance of a toxic direction, in chunks: 1024 with an active latency toxic,
/// else 1. Permits are taken by the reader per chunk and given back once the chunk is written.
struct Window {
    semaphore: Arc<tokio::sync::Semaphore>,
    size: usize,
    /// Permits to swallow on release because the window shrank while they were in use.
    debt: usize,
}

impl Window {
    fn target(chain: &Chain) -> usize {
        if chain.buffers() { QUEUE } else { 1 }
    }

    fn new(chain: &Chain) -> Window {
        let size = Self::target(chain);
        Window { semaphore: Arc::new(tokio::sync::Semaphore::new(size)), size, debt: 0 }
    }

    fn resize(&mut self, chain: &Chain) {
        let target = Self::target(chain);
        if target > self.size {
            let grow = target - self.size;
            let paid = grow.min(self.debt);
            self.debt -= paid;
            self.semaphore.add_permits(grow - paid);
        } else if target < self.size {
            let shrink = self.size - target;
            let forgotten = self.semaphore.forget_permits(shrink);
            self.debt += shrink - forgotten;
        }
        self.size = target;
    }

    fn release(&mut self) {
        if self.debt > 0 {
            self.debt -= 1;
        } else {
            self.semaphore.add_permits(1);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at
        && at > Instant::now()
    {
        tokio::time::sleep_until(at.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::toxic::{Toxic, ToxicKind};

    fn chain(kinds: &[ToxicKind]) -> Chain {
        let toxics: Vec<Toxic> =
            kinds.iter().enumerate().map(|(i, k)| Toxic::new(format!("t{i}"), Stream::Upstream, k.clone())).collect();
        let mut c = Chain::new(StreamSeed::new(0, "p", 0));
        c.update(&toxics, Instant::now());
        c
    }

    #[test]
    fn only_latency_opens_the_read_ahead_window() {
        let bandwidth = chain(&[ToxicKind::Bandwidth { rate: 10 }]);
        let latency = chain(&[ToxicKind::Bandwidth { rate: 10 }, ToxicKind::Latency { latency: 5, jitter: 0 }]);
        let mut w = Window::new(&bandwidth);
        assert_eq!(w.semaphore.available_permits(), 1);
        w.resize(&latency);
        assert_eq!(w.semaphore.available_permits(), QUEUE);
        // Shrinking while chunks are in flight leaves a debt that releases pay off.
        w.semaphore.forget_permits(3);
        w.resize(&bandwidth);
        assert_eq!((w.semaphore.available_permits(), w.debt), (0, 2));
        w.release();
        w.release();
        assert_eq!(w.semaphore.available_permits(), 0);
        w.release();
        assert_eq!(w.semaphore.available_permits(), 1);
    }
}

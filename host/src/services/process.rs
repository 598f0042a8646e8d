//! A process target: started before the run, made ready, stopped after it.
//!
//! The child leads its own process group, so a Ctrl-C in the terminal reaches the host only
//! and the host stops the child and everything it started in order: SIGTERM to the group,
//! then SIGKILL to the group once the stop timeout has passed. No helper binary is run.
//! Its stdout and stderr go to files (the report directory), not to the terminal.
//!
//! If the host itself dies without stopping it (SIGKILL, a crash, the OOM killer), the child
//! dies too: on Linux it is started with a parent-death signal (`PR_SET_PDEATHSIG` = SIGKILL),
//! which the kernel sends when the *thread* that forked it exits, and it keeps across `exec`
//! (so `cargo run`, which execs the program, is covered). Every target is therefore forked
//! by one spawner thread that lives as long as the host, never by a runtime
//! worker that may retire mid-run. The kernel signals the direct child only: after a SIGKILL
//! of the host, processes the target started live on unless the target stops them (or
//! `exec`s its service, so that the service is the direct child). Every path the host
//! controls (end of run, error, panic, Ctrl-C, SIGTERM) stops the whole group. Other
//! platforms have no parent-death signal: there a SIGKILL of the host leaves the target
//! running.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::http::{Body, parse_url, send};
use super::watch::PidCell;
use crate::scenario::BoxError;

/// How to tell the process is ready to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Ready as soon as it started.
    Started,
    /// Ready once this `host:port` accepts a TCP connection.
    Tcp(String),
    /// Ready once this URL answers with a status below 500.
    Http(String),
}

/// Told, while a process target is not ready yet, what the host waits for (`http://…/health`,
/// `TCP 127.0.0.1:8077`) and for how long it has waited; called about every 100 ms, so a
/// front end can show progress instead of looking hung.
#[derive(Clone)]
pub struct ReadinessObserver(pub std::sync::Arc<WaitFn>);

/// What a [`ReadinessObserver`] calls: what is awaited, and for how long so far.
pub type WaitFn = dyn Fn(&str, Duration) + Send + Sync;

impl std::fmt::Debug for ReadinessObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadinessObserver")
    }
}

/// What to start and how.
#[derive(Clone, Debug)]
pub struct ProcessConfig {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Readiness check.
    pub ready: Readiness,
    /// Give up waiting for readiness after this long.
    pub ready_timeout: Duration,
    /// After SIGTERM, wait this long before killing.
    pub stop_timeout: Duration,
    /// Where stdout and stderr go (`<log_prefix>.stdout.log`, `.stderr.log`); discarded when `None`.
    pub log_prefix: Option<PathBuf>,
    /// Progress while waiting for readiness.
    pub on_wait: Option<ReadinessObserver>,
}

/// A process started at setup and stopped at teardown.
pub struct ProcessTarget {
    config: ProcessConfig,
    child: tokio::sync::Mutex<Option<Child>>,
    pid: PidCell,
    cancel: CancellationToken,
}

impl ProcessTarget {
    /// A target for `config`; waiting for readiness stops early when `cancel` fires.
    pub fn new(config: ProcessConfig, cancel: CancellationToken) -> Self {
        ProcessTarget { config, child: tokio::sync::Mutex::new(None), pid: PidCell::default(), cancel }
    }

    /// The pid cell validators read.
    pub fn pid_cell(&self) -> PidCell {
        self.pid.clone()
    }

    fn log(&self, stream: &str) -> Result<Stdio, BoxError> {
        match &self.config.log_prefix {
            Some(prefix) => {
                let path = PathBuf::from(format!("{}.{stream}.log", prefix.display()));
                let file =
                    std::fs::File::create(&path).map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
                Ok(Stdio::from(file))
            }
            None => Ok(Stdio::null()),
        }
    }

    pub(crate) async fn start(&self) -> Result<(), BoxError> {
        let c = &self.config;
        let mut command = Command::new(&c.program);
        command
            .args(&c.args)
            .envs(&c.env)
            .current_dir(&c.cwd)
            .stdin(Stdio::null())
            .stdout(self.log("stdout")?)
            .stderr(self.log("stderr")?)
            .process_group(0)
            .kill_on_drop(true);
        die_with_the_host(&mut command);
        let child = spawn(command).await.map_err(|e| format!("cannot start `{}`: {e}", c.program.display()))?;
        let pid = child.id().unwrap_or(0);
        tracing::info!(target: "chaoskit::services", pid, program = %c.program.display(), "target process started");
        self.pid.set(pid);
        *self.child.lock().await = Some(child);
        if let Err(e) = self.wait_ready().await {
            let _ = self.stop().await;
            return Err(e);
        }
        Ok(())
    }

    async fn wait_ready(&self) -> Result<(), BoxError> {
        let c = &self.config;
        if c.ready == Readiness::Started {
            return Ok(());
        }
        let started = Instant::now();
        let waiting_for = match &c.ready {
            Readiness::Tcp(a) => format!("TCP {a}"),
            Readiness::Http(u) => u.clone(),
            Readiness::Started => String::new(),
        };
        let mut last_told = None::<Instant>;
        loop {
            if let Some(observer) = &c.on_wait
                && last_told.is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
            {
                (observer.0)(&waiting_for, started.elapsed());
                last_told = Some(Instant::now());
            }
            if let Some(status) = self.child.lock().await.as_mut().and_then(|ch| ch.try_wait().ok().flatten()) {
                return Err(
                    format!("target process exited with {status} before it was ready{}", self.log_hint()).into()
                );
            }
            let ready = match &c.ready {
                Readiness::Started => true,
                Readiness::Tcp(addr) => {
                    tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr.as_str()))
                        .await
                        .is_ok_and(|r| r.is_ok())
                }
                Readiness::Http(url) => match parse_url(url) {
                    Ok(u) => send(&u, "GET", &[], None, Duration::from_secs(2), Body::Discard)
                        .await
                        .is_ok_and(|r| r.status < 500),
                    Err(e) => return Err(e.into()),
                },
            };
            if ready {
                tracing::info!(target: "chaoskit::services", after_ms = started.elapsed().as_millis() as u64, "target process ready");
                return Ok(());
            }
            if started.elapsed() >= c.ready_timeout {
                let what = match &c.ready {
                    Readiness::Tcp(a) => format!("accept TCP connections on {a}"),
                    Readiness::Http(u) => format!("answer {u}"),
                    Readiness::Started => String::new(),
                };
                return Err(format!(
                    "target process did not {what} within {}{}",
                    crate::spec::units::format_duration(c.ready_timeout),
                    self.log_hint()
                )
                .into());
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = self.cancel.cancelled() => return Err("interrupted while waiting for the target process to be ready".into()),
            }
        }
    }

    fn log_hint(&self) -> String {
        match &self.config.log_prefix {
            Some(p) => format!(" (its output is in `{}.stderr.log`)", p.display()),
            None => String::new(),
        }
    }

    /// SIGTERM to the process group, wait up to the stop timeout for the target and what it
    /// started to exit, then SIGKILL to the group. Already-exited targets are reaped and what
    /// they left behind in their group is killed.
    pub(crate) async fn stop(&self) -> Result<(), BoxError> {
        let Some(mut child) = self.child.lock().await.take() else {
            return Ok(());
        };
        self.pid.set(0);
        // The target leads its group: the group id is its pid.
        let group = child.id();
        if let Ok(Some(status)) = child.try_wait() {
            tracing::warn!(target: "chaoskit::services", %status, "target process had already exited");
            if let Some(group) = group {
                signal_group(group, Signal::Kill);
            }
            return Err(format!("target process exited during the run with {status}{}", self.log_hint()).into());
        }
        let Some(group) = group else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + self.config.stop_timeout;
        signal_group(group, Signal::Term);
        let status = match tokio::time::timeout_at(deadline, child.wait()).await {
            Ok(Ok(status)) => Some(status),
            Ok(Err(e)) => return Err(format!("waiting for the target process failed: {e}").into()),
            Err(_) => None,
        };
        // What the target started had the same SIGTERM: give it the rest of the timeout.
        while status.is_some() && group_alive(group) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if status.is_none() || group_alive(group) {
            tracing::warn!(target: "chaoskit::services", timeout = %crate::spec::units::format_duration(self.config.stop_timeout), "target process group ignored SIGTERM; killing it");
            signal_group(group, Signal::Kill);
        }
        match status {
            Some(status) => tracing::info!(target: "chaoskit::services", %status, "target process stopped"),
            None => {
                // SIGKILLed with its group just now; the reap is immediate.
                child.kill().await.map_err(|e| format!("cannot kill the target process: {e}"))?;
            }
        }
        Ok(())
    }
}

impl Drop for ProcessTarget {
    /// A target dropped while running (a panic, a setup error path): kill its whole group,
    /// not only the direct child that `kill_on_drop` reaches.
    fn drop(&mut self) {
        if let Some(group) = self.child.get_mut().as_ref().and_then(Child::id) {
            signal_group(group, Signal::Kill);
        }
    }
}

/// The signals the host sends a target's group.
#[derive(Clone, Copy, Debug)]
enum Signal {
    Term,
    Kill,
}

/// Sends `signal` to the process group `group` with `killpg` (no `kill` binary). A group
/// that is already gone is not an error.
#[cfg(unix)]
fn signal_group(group: u32, signal: Signal) {
    use nix::sys::signal::{Signal as Sig, killpg};
    let Ok(raw) = i32::try_from(group) else { return };
    let sig = match signal {
        Signal::Term => Sig::SIGTERM,
        Signal::Kill => Sig::SIGKILL,
    };
    if let Err(e) = killpg(nix::unistd::Pid::from_raw(raw), sig)
        && e != nix::errno::Errno::ESRCH
    {
        tracing::warn!(target: "chaoskit::services", group, error = %e, "cannot signal the target's process group");
    }
}

/// Whether any process of the group `group` is still there (zombies count until reaped).
#[cfg(unix)]
fn group_alive(group: u32) -> bool {
    let Ok(raw) = i32::try_from(group) else { return false };
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(raw), None).is_ok()
}

/// Starts `command` on the spawner thread (see `spawner`) under the caller's runtime, so the
/// child is reaped and awaited by that runtime as if spawned here.
async fn spawn(command: Command) -> std::io::Result<Child> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = SpawnRequest { command, runtime: tokio::runtime::Handle::current(), reply };
    spawner()?.send(request).map_err(|_| std::io::Error::other("the target spawner thread is gone"))?;
    answer.await.map_err(|_| std::io::Error::other("the target spawner thread is gone"))?
}

/// One target to fork, the runtime that will own it, and where to send the child.
struct SpawnRequest {
    command: Command,
    runtime: tokio::runtime::Handle,
    reply: tokio::sync::oneshot::Sender<std::io::Result<Child>>,
}

/// The spawner thread's queue, started on first use. The thread is never joined and never
/// returns (the sender lives in a static), so the parent-death signal of the targets it forks
/// fires only when the host process dies, whichever thread asked for the target.
fn spawner() -> std::io::Result<&'static mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Result<mpsc::Sender<SpawnRequest>, String>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (send, receive) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("chaoskit-spawner".into())
            .spawn(move || {
                for SpawnRequest { mut command, runtime, reply } in receive {
                    let _in_runtime = runtime.enter();
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| send)
            .map_err(|e| e.to_string())
    });
    spawner.as_ref().map_err(|e| std::io::Error::other(format!("cannot start the target spawner thread: {e}")))
}

/// Make the child die with the host (Linux): set its parent-death signal to SIGKILL between
/// `fork` and `exec`. The "parent" the kernel watches is the thread that forked, which is the
/// spawner thread: it lives as long as the host.
#[cfg(target_os = "linux")]
fn die_with_the_host(command: &mut Command) {
    use nix::sys::signal::Signal;
    use nix::unistd::{Pid, getppid};
    let host = Pid::this();
    #[allow(
        unsafe_code,
        reason = "pre_exec is the only way to run code between fork and exec; the closure makes two async-signal-safe system calls (prctl, getppid) and allocates nothing"
    )]
    // SAFETY: the closure runs in the forked child before exec and only calls `prctl` and
    // `getppid`, both async-signal-safe; it touches no lock and no allocator.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            // The host may have died between fork and prctl: then no signal will come.
            if getppid() != host {
                return Err(std::io::Error::other("the host exited while starting the target"));
            }
            Ok(())
        });
    }
}

/// Other platforms have no parent-death signal; see the module docs.
#[cfg(not(target_os = "linux"))]
fn die_with_the_host(_command: &mut Command) {}

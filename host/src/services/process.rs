//! A process target: started before the run, made ready, stopped after it.
//!
//! The child gets its own process group, so a Ctrl-C in the terminal reaches the host only
//! and the host stops the child in order (SIGTERM, then a kill after the stop timeout).
//! Its stdout and stderr go to files (the report directory), not to the terminal.
//!
//! If the host itself dies without stopping it (SIGKILL, a crash, the OOM killer), the child
//! dies too: on Linux it is started with a parent-death signal (`PR_SET_PDEATHSIG` = SIGKILL),
//! which the kernel sends when the host goes away, and it keeps across `exec` (so `cargo run`,
//! which execs the program, is covered). The kernel signals the direct child only: a target
//! that starts processes of its own should stop them when it is killed (or run them in its
//! process group). Other platforms have no such signal: there the host stops the target on
//! every path it controls (end of run, error, panic, Ctrl-C, SIGTERM), but a SIGKILL of the host
//! leaves the target running.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::http::{parse_url, send};
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
        let child = command.spawn().map_err(|e| format!("cannot start `{}`: {e}", c.program.display()))?;
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
                    Ok(u) => send(&u, "GET", &[], None, Duration::from_secs(2)).await.is_ok_and(|r| r.status < 500),
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

    /// SIGTERM, wait up to the stop timeout, then kill. Already-exited processes are reaped.
    pub(crate) async fn stop(&self) -> Result<(), BoxError> {
        let Some(mut child) = self.child.lock().await.take() else {
            return Ok(());
        };
        self.pid.set(0);
        if let Ok(Some(status)) = child.try_wait() {
            tracing::warn!(target: "chaoskit::services", %status, "target process had already exited");
            return Err(format!("target process exited during the run with {status}{}", self.log_hint()).into());
        }
        if let Some(pid) = child.id() {
            // `kill` from the system, so the host needs neither libc nor unsafe code.
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
        }
        match tokio::time::timeout(self.config.stop_timeout, child.wait()).await {
            Ok(Ok(status)) => {
                tracing::info!(target: "chaoskit::services", %status, "target process stopped");
                Ok(())
            }
            Ok(Err(e)) => Err(format!("waiting for the target process failed: {e}").into()),
            Err(_) => {
                tracing::warn!(target: "chaoskit::services", timeout = %crate::spec::units::format_duration(self.config.stop_timeout), "target process ignored SIGTERM; killing it");
                child.kill().await.map_err(|e| format!("cannot kill the target process: {e}"))?;
                Ok(())
            }
        }
    }
}

/// Make the child die with the host (Linux): set its parent-death signal to SIGKILL between
/// `fork` and `exec`. The "parent" the kernel watches is the thread that forked; targets are
/// started from a runtime worker thread, which lives as long as the runtime that runs the
/// scenario, and the target is stopped before `run` returns.
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

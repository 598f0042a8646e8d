//! The steps of scenario files: HTTP requests, TCP exchanges and commands.
//!
//! Each calls the iteration's chaos points first (delay, panic, error, a failpoint named
//! after the step, network for the host and port, cancel), so the built-in injectors act
//! on real traffic without the service knowing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::http::{Body, HttpUrl, MAX_KEPT_BODY_BYTES, send};
use crate::chaos::ChaosContext;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StepFailure(String);

impl From<crate::ChaosError> for StepFailure {
    fn from(e: crate::ChaosError) -> Self {
        StepFailure(e.to_string())
    }
}

/// The chaos points every step passes before it touches the service.
async fn chaos_points(ctx: &ChaosContext, step: &str, host: Option<(&str, u16)>) -> Result<(), StepFailure> {
    ctx.maybe_delay().await;
    ctx.maybe_panic();
    ctx.maybe_error()?;
    ctx.failpoint(step).await?;
    if let Some((host, port)) = host {
        let fault = ctx.maybe_network(host, port).await;
        if fault.drop {
            return Err(StepFailure(format!("chaos: connection to {host}:{port} dropped")));
        }
    }
    if ctx.maybe_cancel().is_cancelled() {
        return Err(StepFailure("chaos: operation cancelled".into()));
    }
    Ok(())
}

fn split_addr(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    Some((host.trim_start_matches('[').trim_end_matches(']'), port.parse().ok()?))
}

/// One HTTP request per iteration.
#[derive(Clone, Debug)]
pub struct HttpCall {
    /// Step name.
    pub name: String,
    /// Method.
    pub method: String,
    /// Where.
    pub url: HttpUrl,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<String>,
    /// Accepted statuses (empty: any 2xx).
    pub expect_status: Vec<u16>,
    /// Text the body must contain.
    pub expect_body: Option<String>,
    /// Whole-request budget.
    pub timeout: Duration,
}

impl HttpCall {
    /// Runs the request; its latency is recorded as the metric `<step>.latency_ms`.
    pub async fn run(&self, ctx: &ChaosContext) -> Result<(), StepFailure> {
        chaos_points(ctx, &self.name, Some((&self.url.host, self.url.port))).await?;
        let started = Instant::now();
        let keep = if self.expect_body.is_some() { Body::Keep(MAX_KEPT_BODY_BYTES) } else { Body::Discard };
        let response = send(&self.url, &self.method, &self.headers, self.body.as_deref(), self.timeout, keep).await;
        ctx.record_metric(&format!("{}.latency_ms", self.name), started.elapsed().as_secs_f64() * 1e3);
        let response = response.map_err(StepFailure)?;
        let expected = if self.expect_status.is_empty() {
            (200..300).contains(&response.status)
        } else {
            self.expect_status.contains(&response.status)
        };
        if !expected {
            let want = if self.expect_status.is_empty() {
                "2xx".to_string()
            } else {
                self.expect_status.iter().map(u16::to_string).collect::<Vec<_>>().join(" or ")
            };
            return Err(StepFailure(format!(
                "{} {} answered {}, expected {want}",
                self.method, self.url.path, response.status
            )));
        }
        if let Some(needle) = &self.expect_body
            && !String::from_utf8_lossy(&response.body).contains(needle.as_str())
        {
            return Err(StepFailure(format!("{} {}: body does not contain {needle:?}", self.method, self.url.path)));
        }
        Ok(())
    }
}

/// One TCP exchange per iteration.
#[derive(Clone, Debug)]
pub struct TcpCall {
    /// Step name.
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Sent after connecting.
    pub send: Option<String>,
    /// The reply must contain this.
    pub expect: Option<String>,
    /// Whole-exchange budget.
    pub timeout: Duration,
}

impl TcpCall {
    /// Connects, sends, and reads until the expected text, EOF or the timeout.
    pub async fn run(&self, ctx: &ChaosContext) -> Result<(), StepFailure> {
        chaos_points(ctx, &self.name, split_addr(&self.address)).await?;
        let started = Instant::now();
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(self.address.as_str())
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", self.address))?;
            if let Some(data) = &self.send {
                stream.write_all(data.as_bytes()).await.map_err(|e| format!("send to {} failed: {e}", self.address))?;
            }
            let Some(expect) = &self.expect else {
                return Ok(());
            };
            // Only the last `expect.len() - 1` bytes can start a match that a read completes:
            // the window stays that short, and each read is searched once.
            let needle = expect.as_bytes();
            let mut window: Vec<u8> = Vec::with_capacity(needle.len() + 4096);
            let mut buf = [0u8; 4096];
            loop {
                let n = stream.read(&mut buf).await.map_err(|e| format!("read from {} failed: {e}", self.address))?;
                window.extend_from_slice(&buf[..n]);
                if needle.is_empty() || window.windows(needle.len()).any(|w| w == needle) {
                    return Ok(());
                }
                if n == 0 {
                    return Err(format!("{} closed the connection before sending {expect:?}", self.address));
                }
                let keep = needle.len() - 1;
                if window.len() > keep {
                    window.drain(..window.len() - keep);
                }
            }
        };
        let result = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no complete exchange with {} within {}",
                self.address,
                crate::spec::units::format_duration(self.timeout)
            )),
        };
        ctx.record_metric(&format!("{}.latency_ms", self.name), started.elapsed().as_secs_f64() * 1e3);
        result.map_err(StepFailure)
    }
}

/// How much of a command step's stderr is kept for its failure message.
const STDERR_TAIL_BYTES: usize = 4096;

/// One command per iteration; exit code 0 is success.
#[derive(Clone, Debug)]
pub struct CommandCall {
    /// Step name.
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Killed after this long.
    pub timeout: Duration,
}

impl CommandCall {
    /// Runs the command to completion (killed if the budget runs out).
    pub async fn run(&self, ctx: &ChaosContext) -> Result<(), StepFailure> {
        chaos_points(ctx, &self.name, None).await?;
        let started = Instant::now();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(&self.env)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StepFailure(format!("cannot start `{}`: {e}", self.program.display())))?;
        let stderr = child.stderr.take();
        let finished = async {
            // stderr is read to the end (the command never blocks on a full pipe) keeping
            // only its last STDERR_TAIL_BYTES: the failure message shows its last line.
            let tail = async {
                let mut tail = Vec::new();
                if let Some(mut pipe) = stderr {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                        tail.extend_from_slice(&buf[..n]);
                        if tail.len() > STDERR_TAIL_BYTES {
                            tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                        }
                    }
                }
                tail
            };
            let (status, stderr) = tokio::join!(child.wait(), tail);
            status.map(|status| std::process::Output { status, stdout: Vec::new(), stderr })
        };
        let output = match tokio::time::timeout(self.timeout, finished).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                return Err(StepFailure(format!("waiting for `{}` failed: {e}", self.program.display())));
            }
            Err(_) => {
                return Err(StepFailure(format!(
                    "`{}` ran past its {} timeout and was killed",
                    self.program.display(),
                    crate::spec::units::format_duration(self.timeout)
                )));
            }
        };
        ctx.record_metric(&format!("{}.latency_ms", self.name), started.elapsed().as_secs_f64() * 1e3);
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr.trim().lines().last().unwrap_or_default().chars().take(200).collect();
        let tail = if tail.is_empty() { String::new() } else { format!(": {tail}") };
        Err(StepFailure(format!("`{}` exited with {}{tail}", self.program.display(), output.status)))
    }
}

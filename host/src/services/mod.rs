//! Services outside this process: the targets, steps and validators behind scenario files.
//!
//! - [`ServiceTarget`]: no target, a running service at an address, or a [`ProcessTarget`]
//!   started before the run and stopped after it (SIGTERM, then kill after a timeout).
//! - [`HttpCall`], [`TcpCall`], [`CommandCall`]: one step each, calling the iteration's chaos
//!   points before touching the service so in-process injectors apply to them.
//! - [`TargetRss`], [`TargetThreads`], [`TargetFds`]: validators watching the target process
//!   through `/proc/<pid>` (Linux).

mod http;
mod process;
mod proxies;
mod steps;
mod watch;

pub use http::{HttpUrl, parse_url};
pub use process::{ProcessConfig, ProcessTarget, Readiness, ReadinessObserver, WaitFn};
pub use proxies::ProxySet;
pub use steps::{CommandCall, HttpCall, StepFailure, TcpCall};
pub use watch::{PidCell, TargetFds, TargetRss, TargetThreads};

use crate::scenario::{BoxError, Target};

/// How long an address target may take to accept the setup check's connection.
const ADDRESS_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The target of a scenario file.
pub struct ServiceTarget {
    name: String,
    kind: TargetKind,
    proxies: Option<ProxySet>,
}

enum TargetKind {
    None,
    Address(String),
    // Boxed: the process variant is large and the others are empty.
    Process(Box<ProcessTarget>),
}

impl ServiceTarget {
    /// No system under test (steps run commands or reach services on their own).
    pub fn none(name: impl Into<String>) -> Self {
        ServiceTarget { name: name.into(), kind: TargetKind::None, proxies: None }
    }

    /// A service that is already running at `address` (`host:port`); nothing is started
    /// or stopped, but setup checks that it accepts a TCP connection.
    pub fn address(name: impl Into<String>, address: impl Into<String>) -> Self {
        ServiceTarget { name: name.into(), kind: TargetKind::Address(address.into()), proxies: None }
    }

    /// A process started at setup and stopped at teardown.
    pub fn process(name: impl Into<String>, process: ProcessTarget) -> Self {
        ServiceTarget { name: name.into(), kind: TargetKind::Process(Box::new(process)), proxies: None }
    }

    /// Chaos proxies created before the target starts and removed after it stopped.
    pub fn with_proxies(mut self, proxies: ProxySet) -> Self {
        self.proxies = Some(proxies).filter(|p| !p.is_empty());
        self
    }

    /// The pid cell of a process target (0 until it runs), for validators.
    pub fn pid_cell(&self) -> Option<PidCell> {
        match &self.kind {
            TargetKind::Process(p) => Some(p.pid_cell()),
            _ => None,
        }
    }
}

impl Target for ServiceTarget {
    fn name(&self) -> &str {
        &self.name
    }

    async fn setup(&self) -> Result<(), BoxError> {
        // The target may connect to its dependencies through the proxies as it starts.
        if let Some(proxies) = &self.proxies
            && let Err(e) = proxies.create().await
        {
            let _ = proxies.remove().await;
            return Err(e);
        }
        let started = self.start_target().await;
        if started.is_err()
            && let Some(proxies) = &self.proxies
        {
            let _ = proxies.remove().await;
        }
        started
    }

    async fn teardown(&self) -> Result<(), BoxError> {
        let stopped = match &self.kind {
            TargetKind::Process(p) => p.stop().await,
            TargetKind::None | TargetKind::Address(_) => Ok(()),
        };
        let removed = match &self.proxies {
            Some(proxies) => proxies.remove().await,
            None => Ok(()),
        };
        stopped.and(removed)
    }
}

impl ServiceTarget {
    async fn start_target(&self) -> Result<(), BoxError> {
        match &self.kind {
            TargetKind::Process(p) => p.start().await,
            // Fail early and clearly rather than with every iteration.
            TargetKind::Address(address) => {
                match tokio::time::timeout(ADDRESS_CHECK, tokio::net::TcpStream::connect(address.as_str())).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("`{address}` is not reachable: {e}").into()),
                    Err(_) => Err(format!("`{address}` did not accept a connection within {ADDRESS_CHECK:?}").into()),
                }
            }
            TargetKind::None => Ok(()),
        }
    }
}
